"""Verdicts on the paper's claims, computed from a dataset at run time.

Each function returns rows of a verdict table: the claim, the conditions,
the measured value with its standard error, the prediction, the test
statistic (a z-score or a fitted exponent) and "agrees" or "disagrees" at
significance ``alpha``. Many cells are tested at once, so thresholds are
Bonferroni-corrected: |z| <= z_crit(alpha / m) over m cells. A row with
nothing to test (no standard error, or a prediction that does not apply) is
"untestable" and says why; a NaN z is never a pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import xarray as xr

from .aggregate import z_scores

ALPHA = 0.01


OUTCOMES = ("agrees", "disagrees", "untestable")


@dataclass(frozen=True)
class Verdict:
    claim: str
    conditions: str
    measured: str
    prediction: str
    statistic: str
    outcome: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")

    @property
    def agrees(self) -> bool:
        return self.outcome == "agrees"

    @property
    def word(self) -> str:
        return self.outcome


def judge(ok: bool) -> str:
    return "agrees" if ok else "disagrees"


def untestable(claim: str, conditions: str, why: str, prediction: str = "") -> Verdict:
    """A row that tested nothing, with the reason in place of a statistic."""
    return Verdict(claim=claim, conditions=conditions, measured="—", prediction=prediction,
                   statistic=f"untestable: {why}", outcome="untestable")


@dataclass(frozen=True)
class PowerLaw:
    """y = a * x^exponent fitted by weighted least squares in log-log space."""

    exponent: float
    exponent_se: float
    chi2_dof: float


def z_critical(alpha: float, m: int) -> float:
    """Two-sided Bonferroni threshold for m simultaneous z-tests."""
    return NormalDist().inv_cdf(1 - alpha / (2 * max(m, 1)))


def fit_power_law(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> PowerLaw | None:
    """Fit log y = c + b log x with weights 1 / (se / y)^2; None with fewer than 3 usable points.

    The exponent's se is scaled up by sqrt(chi2/dof) when the scatter exceeds
    the error bars, so a poor fit cannot look precise.
    """
    ok = np.isfinite(y) & np.isfinite(se) & (y > 0) & (se > 0)
    if ok.sum() < 3:
        return None
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


def theorem1(ds: xr.Dataset, label: str, alpha: float = ALPHA, note: str = "") -> Verdict:
    """P(Z_p = 1) = 2^-H in every cell of ``ds`` that has a standard error."""
    z = z_scores(ds)  # +-inf where every network agreed (se 0) on a value other than 2^-H: a failed cell
    claim = "Theorem 1: P(path active) = 2^-H"
    where = _cells(z, ("input_dim", "width", "depth"))
    tested = z.notnull()
    m, total, run = int(tested.sum()), int(z.size), int(ds.p_active.notnull().sum())
    label = f"{label}; {note}" if note else label
    if m == 0:
        return untestable(claim, f"{label}; {where}", f"no cell has a standard error ({run} of {total} cells run; "
                          "a cell needs at least two networks)", "p / 2^-H = 1")
    crit = z_critical(alpha, m)
    absz = abs(z).where(tested, -1.0)  # untested cells never win the argmax
    worst = {k: int(v) for k, v in absz.argmax(...).items()}
    ratio = ds.p_active / ds.p_theory
    off = {k: int(v) for k, v in abs(ratio - 1).where(tested, -1.0).argmax(...).items()}
    cells = f"{m} cells" if m == total else f"{m} of {total} cells tested, {total - run} not run, {run - m} without a se"
    return Verdict(
        claim=claim,
        conditions=f"{label}; {where} ({cells})",
        measured=f"largest |z| at {_ratio_at(ds, worst)}; largest deviation at {_ratio_at(ds, off)}",
        prediction="p / 2^-H = 1",
        statistic=f"max |z| = {float(absz.max()):.2f} (threshold {crit:.2f})",
        outcome=judge(float(absz.max()) <= crit),
    )


def _ratio_at(ds: xr.Dataset, index: dict) -> str:
    cell = ds.isel(index)
    where = ", ".join(f"{k} {int(cell[k])}" for k in index)
    return f"{where}: p / 2^-H = {float(cell.p_active / cell.p_theory):.4g} ± {float(cell.p_active_se / cell.p_theory):.2g}"


def weight_independence(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Theorem 2 at finite width: E[t_l | Z=1] equals its independence value, at the largest width."""
    cell = ds.isel(width=-1)
    null = cell.weight_slope_independent if "weight_slope_independent" in cell else xr.zeros_like(cell.weight_slope)
    z = (cell.weight_slope - null) / cell.weight_slope_se
    crit = z_critical(alpha, int(np.isfinite(z).sum()))
    rows = []
    for layer in cell["layer"].values:
        c = cell.sel(layer=layer)
        claim = f"Theorem 2: Z_p independent of the layer-{layer} path weight"
        conditions = f"width {int(cell.width)}, depth {int(ds.depth.max())}"
        zl = float(z.sel(layer=layer))
        if not np.isfinite(zl):
            rows.append(untestable(claim, conditions, "no standard error (too few networks with active paths)"))
            continue
        rows.append(Verdict(
            claim=claim, conditions=conditions,
            measured=f"E[t | Z=1] = {float(c.weight_slope):.4g} ± {float(c.weight_slope_se):.2g}",
            prediction=f"{float(null.sel(layer=layer)) + 0.0:.4g} (independence)",
            statistic=f"z = {zl:.1f} (threshold {crit:.2f})",
            outcome=judge(abs(zl) <= crit)))
    return rows


def weight_exact(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """E[t_l | Z=1] against its exact finite-width value, every width and layer."""
    claim = "Dependence strength E[t_l | Z=1] equals its exact finite-width value"
    conditions = f"widths {int(ds.width.min())}..{int(ds.width.max())}, layers 1..{int(ds.layer.max())}"
    theory = ds.weight_slope_theory
    if not np.isfinite(theory).any():
        return [untestable(claim, conditions, theory.attrs.get("validity", "no prediction"))]
    z = ((ds.weight_slope - theory) / ds.weight_slope_se).values
    m = int(np.isfinite(z).sum())
    if m == 0:
        return [untestable(claim, conditions, "no standard error")]
    crit = z_critical(alpha, m)
    worst = np.unravel_index(np.nanargmax(np.abs(z)), z.shape)
    cell = ds.weight_slope.isel(dict(zip(ds.weight_slope.dims, worst)))
    ratio = float(cell / theory.isel(dict(zip(theory.dims, worst))))
    return [Verdict(
        claim=claim, conditions=f"{conditions} ({m} cells)",
        measured=f"worst at width {int(cell.width)}, layer {int(cell.layer)}: measured / exact = {ratio:.4f}",
        prediction="4 E[S/|h|] / (n sqrt(2 pi)) for layers >= 2; sqrt(2/pi) mean |x|_1/(d |x|) for layer 1",
        statistic=f"max |z| = {np.nanmax(np.abs(z)):.2f} (threshold {crit:.2f})",
        outcome=judge(np.nanmax(np.abs(z)) <= crit))]


def weight_exponent(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Dependence strength E[t_l | Z=1] ~ width^b: b against the predicted -1/2 (layers >= 2)."""
    crit = z_critical(alpha, ds.sizes["layer"] - 1)
    rows = []
    for layer in ds["layer"].values[1:]:
        c = ds.sel(layer=layer)
        claim = f"Theorem 2 in the limit: layer-{layer} dependence vanishes as width^-1/2"
        conditions = f"widths {int(ds.width.min())}..{int(ds.width.max())}"
        if not np.isfinite(c.weight_slope_theory).any():
            rows.append(untestable(claim, conditions, "the -1/2 law is derived for bias-free zero-mean Gaussian "
                                   "weights only", "-0.5"))
            continue
        fit = fit_power_law(c.width.values.astype(float), c.weight_slope.values, c.weight_slope_se.values)
        if fit is None:
            rows.append(untestable(claim, conditions, "fewer than 3 widths with a positive estimate and a se", "-0.5"))
            continue
        z = (fit.exponent + 0.5) / fit.exponent_se
        rows.append(Verdict(
            claim=claim, conditions=conditions,
            measured=f"exponent {fit.exponent:.3f} ± {fit.exponent_se:.3f} (chi2/dof {fit.chi2_dof:.2f})",
            prediction="-0.5",
            statistic=f"z = {z:.2f} (threshold {crit:.2f})",
            outcome=judge(abs(z) <= crit)))
    return rows


def input_exponent(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Theorem 3, input term: E[t_1 | Z=1] = its independence value (the claim), and its exact value ~ d^-1/2."""
    rows = []
    for w in ds["width"].values:
        c = ds.sel(width=w, layer=1)
        big = c.isel(input_dim=-1)
        null = float(big.weight_slope_independent) + 0.0 if "weight_slope_independent" in big else 0.0
        z_zero = float((big.weight_slope - null) / big.weight_slope_se)
        claim = "Theorem 3: Z_p independent of the path's input term x_i0 W_1[j1, i0]"
        where = f"width {int(w)}, input dim {int(big.input_dim)}"
        if np.isfinite(z_zero):
            rows.append(Verdict(
                claim=claim, conditions=where,
                measured=f"E[t_1 | Z=1] = {float(big.weight_slope):.4f} ± {float(big.weight_slope_se):.2g}",
                prediction=f"{null:.4g} (independence)",
                statistic=f"z = {z_zero:.1f} (threshold {z_critical(alpha, 1):.2f})",
                outcome=judge(abs(z_zero) <= z_critical(alpha, 1))))
        else:
            rows.append(untestable(claim, where, "no standard error"))
        rows.append(_input_law(c, int(w), alpha))
    return rows


def _input_law(c: xr.Dataset, width: int, alpha: float) -> Verdict:
    claim = "Input-term dependence is sqrt(2/pi) mean |x|_1/(d |x|), shrinking as d^-1/2"
    conditions = f"width {width}, input dims {int(c.input_dim.min())}..{int(c.input_dim.max())}"
    prediction = "exact value at each d; exponent -0.5 for large d"
    z = ((c.weight_slope - c.weight_slope_theory) / c.weight_slope_se).values
    if not np.isfinite(z).any():
        why = c.weight_slope_theory.attrs.get("validity", "no standard error")
        return untestable(claim, conditions, why if not np.isfinite(c.weight_slope_theory).any() else "no standard error",
                          prediction)
    crit = z_critical(alpha, int(np.isfinite(z).sum()))
    fit = fit_power_law(c.input_dim.values.astype(float), c.weight_slope.values, c.weight_slope_se.values)
    fitted = "exponent: too few dims" if fit is None else \
        f"exponent {fit.exponent:.3f} ± {fit.exponent_se:.3f} (chi2/dof {fit.chi2_dof:.2f})"
    z_fit = "" if fit is None else f"; exponent z = {(fit.exponent + 0.5) / fit.exponent_se:.2f}"
    return Verdict(
        claim=claim, conditions=conditions, measured=fitted, prediction=prediction,
        statistic=f"max |z| vs exact = {np.nanmax(np.abs(z)):.2f} (threshold {crit:.2f}){z_fit}",
        outcome=judge(np.nanmax(np.abs(z)) <= crit))


def joint_activation(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Input pairs at the largest width and depth: arc-cosine theory vs independence (4^-H)."""
    cell = ds.isel(width=-1, depth=-1)
    if "input_dim" in cell.dims:
        cell = cell.isel(input_dim=-1)
    crit = z_critical(alpha, cell.sizes["angle"])
    z_theory = (cell.joint_active - cell.joint_theory) / cell.joint_active_se
    z_indep = (cell.joint_active - cell.joint_independent) / cell.joint_active_se
    conditions = (f"width {int(cell.width)}, depth {int(cell.depth)}, angles {len(cell.angle)} from "
                  f"{float(cell.angle.min()) / np.pi:.3g}pi to {float(cell.angle.max()) / np.pi:.3g}pi")
    independence = "Theorem 3: activation of a path independent of the input (joint = 4^-H)"
    arccos = "Infinite-width arc-cosine prediction of the joint activation"
    if not np.isfinite(z_indep).any():
        return [untestable(independence, conditions, "no standard error"),
                untestable(arccos, conditions, "no standard error")]
    excess = cell.joint_active / cell.joint_independent
    rows = [Verdict(claim=independence, conditions=conditions,
                    measured=f"joint / 4^-H from {float(excess.min()):.3g} to {float(excess.max()):.3g}",
                    prediction="joint / 4^-H = 1",
                    statistic=f"max |z| = {float(abs(z_indep).max()):.1f} (threshold {crit:.2f})",
                    outcome=judge(float(abs(z_indep).max()) <= crit))]
    if not np.isfinite(z_theory).any():
        why = cell.joint_theory.attrs.get("validity", "no prediction")
        return rows + [untestable(arccos, conditions, why, "joint / theory = 1")]
    worst = int(abs(z_theory).fillna(-1).argmax("angle"))
    ratio = cell.joint_active / cell.joint_theory
    rows.append(Verdict(
        claim=arccos, conditions=conditions,
        measured=f"joint / theory = {float(ratio[worst]):.4f} ± "
                 f"{float(cell.joint_active_se[worst] / cell.joint_theory[worst]):.4f} "
                 f"(worst angle {float(cell.angle[worst]) / np.pi:.3g}pi)",
        prediction="joint / theory = 1", statistic=f"max |z| = {float(abs(z_theory).max()):.2f} (threshold {crit:.2f})",
        outcome=judge(float(abs(z_theory).max()) <= crit)))
    return rows
