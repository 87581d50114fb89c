"""Verdicts on the paper's claims, computed from a dataset at run time.

Each function returns rows of a verdict table: the claim, the conditions,
the measured value with its standard error, the prediction, the test
statistic (a z-score or a fitted exponent) and "agrees" or "disagrees" at
significance ``alpha``. Many cells are tested at once, so thresholds are
Bonferroni-corrected: |z| <= z_crit(alpha / m) over m cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import xarray as xr

from .aggregate import z_scores

ALPHA = 0.01


@dataclass(frozen=True)
class Verdict:
    claim: str
    conditions: str
    measured: str
    prediction: str
    statistic: str
    agrees: bool

    @property
    def word(self) -> str:
        return "agrees" if self.agrees else "disagrees"


@dataclass(frozen=True)
class PowerLaw:
    """y = a * x^exponent fitted by weighted least squares in log-log space."""

    exponent: float
    exponent_se: float
    chi2_dof: float


def z_critical(alpha: float, m: int) -> float:
    """Two-sided Bonferroni threshold for m simultaneous z-tests."""
    return NormalDist().inv_cdf(1 - alpha / (2 * max(m, 1)))


def fit_power_law(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> PowerLaw:
    """Fit log y = c + b log x with weights 1 / (se / y)^2.

    The exponent's se is scaled up by sqrt(chi2/dof) when the scatter exceeds
    the error bars, so a poor fit cannot look precise.
    """
    ok = np.isfinite(y) & np.isfinite(se) & (y > 0) & (se > 0)
    lx, ly, w = np.log(x[ok]), np.log(y[ok]), (y[ok] / se[ok]) ** 2
    design = np.stack([np.ones_like(lx), lx], axis=1)
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    coef = cov @ design.T @ (w * ly)
    dof = max(len(lx) - 2, 1)
    chi2 = float(np.sum(w * (ly - design @ coef) ** 2)) / dof
    return PowerLaw(float(coef[1]), float(np.sqrt(cov[1, 1] * max(chi2, 1.0))), chi2)


def _cells(da: xr.DataArray, dims: tuple[str, ...]) -> str:
    parts = [f"{d} {da[d].values.min()}..{da[d].values.max()}" for d in dims if d in da.dims]
    return ", ".join(parts)


def theorem1(ds: xr.Dataset, label: str, alpha: float = ALPHA) -> Verdict:
    """P(Z_p = 1) = 2^-H in every cell of ``ds``."""
    z = z_scores(ds)
    m = int(np.isfinite(z).sum())
    crit = z_critical(alpha, m)
    absz = abs(z).fillna(0)
    worst = {k: int(v) for k, v in absz.argmax(...).items()}
    ratio = ds.p_active / ds.p_theory
    off = {k: int(v) for k, v in abs(ratio - 1).fillna(0).argmax(...).items()}
    return Verdict(
        claim="Theorem 1: P(path active) = 2^-H",
        conditions=f"{label}; {_cells(z, ('input_dim', 'width', 'depth'))} ({m} cells)",
        measured=f"largest |z| at {_ratio_at(ds, worst)}; largest deviation at {_ratio_at(ds, off)}",
        prediction="p / 2^-H = 1",
        statistic=f"max |z| = {float(absz.max()):.2f} (threshold {crit:.2f})",
        agrees=bool(float(absz.max()) <= crit),
    )


def _ratio_at(ds: xr.Dataset, index: dict) -> str:
    cell = ds.isel(index)
    where = ", ".join(f"{k} {int(cell[k])}" for k in index)
    return f"{where}: p / 2^-H = {float(cell.p_active / cell.p_theory):.4g} ± {float(cell.p_active_se / cell.p_theory):.2g}"


def weight_independence(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Theorem 2 at finite width: E[t_l | Z=1] = 0 for every layer, at the largest width."""
    cell = ds.isel(width=-1)
    z = cell.weight_slope / cell.weight_slope_se
    crit = z_critical(alpha, cell.sizes["layer"])
    rows = []
    for layer in cell["layer"].values:
        c = cell.sel(layer=layer)
        zl = float(z.sel(layer=layer))
        rows.append(Verdict(
            claim=f"Theorem 2: Z_p independent of the layer-{layer} path weight",
            conditions=f"width {int(cell.width)}, depth {int(ds.depth.max())}",
            measured=f"E[t | Z=1] = {float(c.weight_slope):.4g} ± {float(c.weight_slope_se):.2g}",
            prediction="0",
            statistic=f"z = {zl:.1f} (threshold {crit:.2f})",
            agrees=bool(abs(zl) <= crit)))
    return rows


def weight_exponent(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Dependence strength E[t_l | Z=1] ~ width^b: b against the predicted -1/2 (layers >= 2)."""
    crit = z_critical(alpha, ds.sizes["layer"] - 1)
    rows = []
    for layer in ds["layer"].values[1:]:
        c = ds.sel(layer=layer)
        fit = fit_power_law(c.width.values.astype(float), c.weight_slope.values, c.weight_slope_se.values)
        z = (fit.exponent + 0.5) / fit.exponent_se
        rows.append(Verdict(
            claim=f"Theorem 2 in the limit: layer-{layer} dependence vanishes as width^-1/2",
            conditions=f"widths {int(ds.width.min())}..{int(ds.width.max())}",
            measured=f"exponent {fit.exponent:.3f} ± {fit.exponent_se:.3f} (chi2/dof {fit.chi2_dof:.2f})",
            prediction="-0.5",
            statistic=f"z = {z:.2f} (threshold {crit:.2f})",
            agrees=bool(abs(z) <= crit)))
    return rows


def input_exponent(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Theorem 3, input term: E[t_1 | Z=1] = 0 (the claim), and its exact value ~ d^-1/2 (our prediction)."""
    rows = []
    for w in ds["width"].values:
        c = ds.sel(width=w, layer=1)
        crit = z_critical(alpha, c.sizes["input_dim"])
        big = c.isel(input_dim=-1)
        z_zero = float(big.weight_slope / big.weight_slope_se)
        conditions = f"width {int(w)}, input dims {int(c.input_dim.min())}..{int(c.input_dim.max())}"
        rows.append(Verdict(
            claim="Theorem 3: Z_p independent of the path's input term x_i0 W_1[j1, i0]",
            conditions=f"width {int(w)}, input dim {int(big.input_dim)}",
            measured=f"E[t_1 | Z=1] = {float(big.weight_slope):.4f} ± {float(big.weight_slope_se):.2g}",
            prediction="0", statistic=f"z = {z_zero:.1f} (threshold {z_critical(alpha, 1):.2f})",
            agrees=bool(abs(z_zero) <= z_critical(alpha, 1))))
        fit = fit_power_law(c.input_dim.values.astype(float), c.weight_slope.values, c.weight_slope_se.values)
        z_fit = (fit.exponent + 0.5) / fit.exponent_se
        z = ((c.weight_slope - c.weight_slope_theory) / c.weight_slope_se).values
        rows.append(Verdict(
            claim="Input-term dependence is sqrt(2/pi) mean |x|_1/(d |x|), shrinking as d^-1/2",
            conditions=conditions,
            measured=f"exponent {fit.exponent:.3f} ± {fit.exponent_se:.3f} (chi2/dof {fit.chi2_dof:.2f})",
            prediction="exact value at each d; exponent -0.5 for large d",
            statistic=f"max |z| vs exact = {np.nanmax(np.abs(z)):.2f} (threshold {crit:.2f}); exponent z = {z_fit:.2f}",
            agrees=bool(np.nanmax(np.abs(z)) <= crit)))
    return rows


def joint_activation(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Input pairs at the largest width and depth: arc-cosine theory vs independence (4^-H)."""
    cell = ds.isel(width=-1, depth=-1)
    if "input_dim" in cell.dims:
        cell = cell.isel(input_dim=-1)
    crit = z_critical(alpha, cell.sizes["angle"])
    ratio = cell.joint_active / cell.joint_theory
    z_theory = (cell.joint_active - cell.joint_theory) / cell.joint_active_se
    z_indep = (cell.joint_active - cell.joint_independent) / cell.joint_active_se
    conditions = f"width {int(cell.width)}, depth {int(cell.depth)}, angles {len(cell.angle)} from {float(cell.angle.min()) / np.pi:.3g}pi to {float(cell.angle.max()) / np.pi:.3g}pi"
    worst = int(abs(z_theory).argmax("angle"))
    return [
        Verdict(claim="Theorem 3: activation of a path independent of the input (joint = 4^-H)",
                conditions=conditions,
                measured=f"joint / 4^-H from {float((cell.joint_active / cell.joint_independent).min()):.3g} to "
                         f"{float((cell.joint_active / cell.joint_independent).max()):.3g}",
                prediction="joint / 4^-H = 1", statistic=f"max |z| = {float(abs(z_indep).max()):.1f} (threshold {crit:.2f})",
                agrees=bool(float(abs(z_indep).max()) <= crit)),
        Verdict(claim="Infinite-width arc-cosine prediction of the joint activation",
                conditions=conditions,
                measured=f"joint / theory = {float(ratio[worst]):.4f} ± {float(cell.joint_active_se[worst] / cell.joint_theory[worst]):.4f} "
                         f"(worst angle {float(cell.angle[worst]) / np.pi:.3g}pi)",
                prediction="joint / theory = 1", statistic=f"max |z| = {float(abs(z_theory).max()):.2f} (threshold {crit:.2f})",
                agrees=bool(float(abs(z_theory).max()) <= crit)),
    ]
