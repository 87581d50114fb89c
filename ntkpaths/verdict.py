"""Verdicts on the paper's claims, computed from a dataset at run time.

Each function returns rows of a verdict table: the claim, the conditions,
the measured value with its standard error, the prediction, the test
statistic (a z-score or a fitted exponent) and "agrees" or "disagrees" at
significance ``alpha``. Many cells are tested at once, so thresholds are
Bonferroni-corrected: |z| <= z_crit(alpha / m) over m cells. A row with
nothing to test (no standard error, or a prediction that does not apply) is
"untestable" and says why; a NaN z is never a pass.

Every row has a type (``KINDS``), which fixes how it may be tested:

- ``limit``: a quantity vanishes (or a ratio tends to 1) as the width grows.
  Tested as a trend in width (the fitted exponent is significantly below 0,
  or the deviation vanishes or shrinks), never against an exact constant at
  one finite width.
- ``bound``: a proved upper bound on a rate, tested one-sided: only a
  significantly slower decay disagrees.
- ``prediction``: an exact value or a predicted rate, tested two-sided, with
  its source named.
- ``identity``: holds by construction (a regression check); reports list
  these apart, under the table, not as verdicts.
- ``description``: a measured value shown for reference; it tests nothing.
- ``budget``: a claim a finite step budget can confirm but not refute
  (reaching a global minimum); its outcome is "not converged" otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import xarray as xr

from .aggregate import z_scores

ALPHA = 0.01


OUTCOMES = ("agrees", "disagrees", "untestable", "not converged", "described")
KINDS = ("limit", "bound", "prediction", "identity", "description", "budget")


@dataclass(frozen=True)
class Verdict:
    claim: str
    conditions: str
    measured: str
    prediction: str
    statistic: str
    outcome: str
    kind: str = "prediction"

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def agrees(self) -> bool:
        return self.outcome == "agrees"

    @property
    def word(self) -> str:
        return "—" if self.outcome == "described" else self.outcome


def judge(ok: bool) -> str:
    return "agrees" if ok else "disagrees"


def untestable(claim: str, conditions: str, why: str, prediction: str = "", kind: str = "prediction") -> Verdict:
    """A row that tested nothing, with the reason in place of a statistic."""
    return Verdict(claim=claim, conditions=conditions, measured="—", prediction=prediction,
                   statistic=f"untestable: {why}", outcome="untestable", kind=kind)


def described(claim: str, conditions: str, measured: str) -> Verdict:
    """A row that shows a value and tests nothing."""
    return Verdict(claim, conditions, measured, "—", "—", "described", kind="description")


@dataclass(frozen=True)
class PowerLaw:
    """y = a * x^exponent fitted by weighted least squares in log-log space."""

    exponent: float
    exponent_se: float
    chi2_dof: float


def z_critical(alpha: float, m: int) -> float:
    """Two-sided Bonferroni threshold for m simultaneous z-tests."""
    return NormalDist().inv_cdf(1 - alpha / (2 * max(m, 1)))


def z_one_sided(alpha: float, m: int = 1) -> float:
    """One-sided Bonferroni threshold for m simultaneous z-tests."""
    return NormalDist().inv_cdf(1 - alpha / max(m, 1))


def _fitted(fit: "PowerLaw") -> str:
    return f"exponent {fit.exponent:.3f} ± {fit.exponent_se:.3f} (chi2/dof {fit.chi2_dof:.2f})"


def vanishes(claim: str, conditions: str, x: np.ndarray, y: np.ndarray, se: np.ndarray, alpha: float = ALPHA,
             variable: str = "width") -> Verdict:
    """A limit claim: y >= 0 vanishes as x grows.

    Agrees when y is indistinguishable from 0 at every x, or when its power-law exponent fitted over the
    larger half of the x values (at least 3) is significantly below 0 (one-sided): the decay must go on
    where x is largest, so a quantity that levels off at a positive value disagrees even if it fell
    at small x. The exponent over every x is shown for reference.

    y, se : (x,) arrays of a nonnegative quantity (a deviation: pass its absolute value) and its se.
    """
    x, y, se = (np.asarray(a, dtype=float) for a in (x, y, se))
    crit = z_one_sided(alpha)
    prediction = f"-> 0 as {variable} grows: exponent over the larger {variable}s < 0"
    ok = np.isfinite(y) & np.isfinite(se)
    if not ok.any():
        return untestable(claim, conditions, "no value with a standard error", prediction, kind="limit")
    last = np.flatnonzero(ok)[-1]
    widest = f"{y[last]:.3g} ± {se[last]:.2g} at {variable} {int(x[last])}"
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(ok, y / se, np.nan)
    if np.nanmax(z0) <= z_critical(alpha, int(ok.sum())):
        return Verdict(claim, conditions, f"indistinguishable from 0 at every {variable}; {widest}", prediction,
                       f"max y / se = {np.nanmax(z0):.2f} (threshold {z_critical(alpha, int(ok.sum())):.2f})",
                       "agrees", kind="limit")
    usable = np.flatnonzero(ok & (y > 0) & (se > 0))
    upper = usable[-max(3, (len(usable) + 1) // 2):]
    fit = fit_power_law(x[upper], y[upper], se[upper]) if len(usable) >= 3 else None
    if fit is None:
        return untestable(claim, conditions, f"fewer than 3 {variable}s with a positive value and a se",
                          prediction, kind="limit")
    full = fit_power_law(x[usable], y[usable], se[usable])
    z = fit.exponent / fit.exponent_se
    span = f"{variable}s {int(x[upper[0]])}..{int(x[upper[-1]])}"
    return Verdict(claim, conditions, f"{_fitted(fit)} over {span} (over all: {full.exponent:.3f} ± "
                   f"{full.exponent_se:.3f}); {widest}", prediction,
                   f"z = exponent / se = {z:.1f} (one-sided, agrees below -{crit:.2f})", judge(z < -crit), kind="limit")


def deviation_shrinks(claim: str, conditions: str, dev_low: float, se_low: float, dev_high: float, se_high: float,
                      alpha: float = ALPHA, low: str = "the narrowest widths", high: str = "the widest widths",
                      prediction: str = "deviation -> 0: vanishes or shrinks") -> Verdict:
    """A limit claim on a signed deviation from its limit: agrees when the deviation at ``high`` is
    indistinguishable from 0, or significantly smaller in size than at ``low`` (one-sided)."""
    crit = z_one_sided(alpha, 2)
    z_high = dev_high / se_high if se_high > 0 else np.inf * np.sign(dev_high)
    z_shrink = (abs(dev_high) - abs(dev_low)) / np.hypot(se_low, se_high)
    measured = f"deviation {dev_low:+.3g} ± {se_low:.2g} at {low}, {dev_high:+.3g} ± {se_high:.2g} at {high}"
    if not (np.isfinite(z_shrink) or np.isfinite(z_high)):
        return untestable(claim, conditions, "no standard error", prediction, kind="limit")
    ok = abs(z_high) <= crit or z_shrink < -crit
    return Verdict(claim, conditions, measured, prediction,
                   f"z at {high} = {z_high:.1f}; z of the shrinkage = {z_shrink:.1f} (one-sided, threshold {crit:.2f})",
                   judge(ok), kind="limit")


def rate_bound(claim: str, conditions: str, fit: "PowerLaw | None", bound: float, source: str,
               alpha: float = ALPHA) -> Verdict:
    """A proved upper bound O(x^bound) on a rate: only an exponent significantly above ``bound`` disagrees."""
    prediction = f"exponent <= {bound:g} ({source})"
    if fit is None or not np.isfinite(fit.exponent_se) or fit.exponent_se <= 0:
        return untestable(claim, conditions, "no fit (fewer than 3 widths with a positive value and a se)",
                          prediction, kind="bound")
    z = (fit.exponent - bound) / fit.exponent_se
    crit = z_one_sided(alpha)
    return Verdict(claim, conditions, _fitted(fit), prediction,
                   f"z = {z:.2f} (one-sided, disagrees above {crit:.2f})", judge(z <= crit), kind="bound")


def rate_prediction(claim: str, conditions: str, fit: "PowerLaw | None", predicted: float, source: str,
                    alpha: float = ALPHA) -> Verdict:
    """A predicted rate: the fitted exponent against ``predicted``, two-sided."""
    prediction = f"exponent {predicted:.4g} ({source})"
    if fit is None or not np.isfinite(fit.exponent_se) or fit.exponent_se <= 0:
        return untestable(claim, conditions, "no fit (fewer than 3 widths with a positive value and a se)",
                          prediction)
    z = (fit.exponent - predicted) / fit.exponent_se
    crit = z_critical(alpha, 1)
    return Verdict(claim, conditions, _fitted(fit), prediction, f"z = {z:.2f} (threshold {crit:.2f})",
                   judge(abs(z) <= crit))


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
        prediction="p / 2^-H = 1 (Theorem 1, exact at every width)",
        statistic=f"max |z| = {float(absz.max()):.2f} (threshold {crit:.2f})",
        outcome=judge(float(absz.max()) <= crit),
    )


def _ratio_at(ds: xr.Dataset, index: dict) -> str:
    cell = ds.isel(index)
    where = ", ".join(f"{k} {int(cell[k])}" for k in index)
    return f"{where}: p / 2^-H = {float(cell.p_active / cell.p_theory):.4g} ± {float(cell.p_active_se / cell.p_theory):.2g}"


def weight_independence(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Theorem 2. Layer 1: E[t_1 | Z=1] against its independence value at the largest width (its exact
    value does not depend on the width, so the claim is exact there). Layers >= 2: the dependence is of
    order width^-1/2, so independence is a limit, tested as a trend in width."""
    cell = ds.isel(width=-1)
    null = cell.weight_slope_independent if "weight_slope_independent" in cell else xr.zeros_like(cell.weight_slope)
    rows = []
    conditions = f"widths {int(ds.width.min())}..{int(ds.width.max())}, depth {int(ds.depth.max())}"
    for layer in cell["layer"].values:
        if layer > 1:
            c = ds.sel(layer=layer)
            rows.append(vanishes(f"Theorem 2 as a limit: Z_p independent of the layer-{layer} path weight "
                                 "(E[t | Z=1] -> 0 with width)", conditions, c.width.values,
                                 c.weight_slope.values, c.weight_slope_se.values, alpha))
            continue
        c = cell.sel(layer=layer)
        claim = f"Theorem 2: Z_p independent of the layer-{layer} path weight"
        where = f"width {int(cell.width)}, depth {int(ds.depth.max())}"
        zl = float((c.weight_slope - null.sel(layer=layer)) / c.weight_slope_se)
        if not np.isfinite(zl):
            rows.append(untestable(claim, where, "no standard error (too few networks with active paths)"))
            continue
        crit = z_critical(alpha, 1)
        rows.append(Verdict(
            claim=claim, conditions=where,
            measured=f"E[t | Z=1] = {float(c.weight_slope):.4g} ± {float(c.weight_slope_se):.2g}",
            prediction=f"{float(null.sel(layer=layer)) + 0.0:.4g} (independence, Theorem 2; the layer-1 term does "
                       "not shrink with width)",
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
        prediction="4 E[S/|h|] / (n sqrt(2 pi)) for layers >= 2; sqrt(2/pi) mean |x|_1/(d |x|) for layer 1 "
                   "(the exact law, theory.weight_slope)",
        statistic=f"max |z| = {np.nanmax(np.abs(z)):.2f} (threshold {crit:.2f})",
        outcome=judge(np.nanmax(np.abs(z)) <= crit))]


def weight_exponent(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Dependence strength E[t_l | Z=1] ~ width^b, layers >= 2: b against the exact law's exponent fitted
    over the same widths (a prediction), and -1/2 as the limit of the local exponent (the deviation of the
    widest half's exponent from -1/2 vanishes or is smaller than the narrowest half's)."""
    rows = []
    conditions = f"widths {int(ds.width.min())}..{int(ds.width.max())}"
    for layer in ds["layer"].values[1:]:
        c = ds.sel(layer=layer)
        claim = f"Layer-{layer} dependence E[t | Z=1] ~ width^b with the exact law's exponent over these widths"
        limit = f"Theorem 2 in the limit: the layer-{layer} exponent -> -1/2"
        if not np.isfinite(c.weight_slope_theory).any():
            why = "the exact law is derived for bias-free zero-mean Gaussian weights only"
            rows += [untestable(claim, conditions, why), untestable(limit, conditions, why, kind="limit")]
            continue
        x, y, se = c.width.values.astype(float), c.weight_slope.values, c.weight_slope_se.values
        fit = fit_power_law(x, y, se)
        exact = fit_power_law(x, c.weight_slope_theory.values, se)  # the same weights: the same widths count
        predicted = np.nan if exact is None else exact.exponent
        rows.append(rate_prediction(claim, conditions, fit, predicted,
                                    "theory.weight_slope fitted with the same weights", alpha))
        rows.append(_exponent_limit(limit, x, y, se, -0.5, alpha))
    return rows


def _exponent_limit(claim: str, x: np.ndarray, y: np.ndarray, se: np.ndarray, limit: float,
                    alpha: float) -> Verdict:
    """The local exponent tends to ``limit``: fits over the narrower and the wider half of the widths."""
    ok = np.flatnonzero(np.isfinite(y) & np.isfinite(se) & (y > 0) & (se > 0))
    conditions = f"widths {int(x.min())}..{int(x.max())}, halves of {len(ok)} widths"
    if len(ok) < 6:
        return untestable(claim, conditions, "fewer than 6 usable widths (3 per half)", f"exponent -> {limit:g}",
                          kind="limit")
    half = (len(ok) + 1) // 2
    low, high = ok[:half], ok[-half:]
    fits = [fit_power_law(x[i], y[i], se[i]) for i in (low, high)]
    return deviation_shrinks(claim, conditions, fits[0].exponent - limit, fits[0].exponent_se,
                             fits[1].exponent - limit, fits[1].exponent_se, alpha,
                             low=f"widths {int(x[low[0]])}..{int(x[low[-1]])}",
                             high=f"widths {int(x[high[0]])}..{int(x[high[-1]])}",
                             prediction=f"fitted exponent - ({limit:g}) -> 0: vanishes or shrinks")


def input_exponent(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Theorem 3, input term: independence as a limit in the input dimension d (E[t_1 | Z=1] -> 0 as d
    grows), and the exact value at every d (a prediction)."""
    rows = []
    for w in ds["width"].values:
        c = ds.sel(width=w, layer=1)
        claim = ("Theorem 3 as a limit: Z_p independent of the path's input term x_i0 W_1[j1, i0] "
                 "(E[t_1 | Z=1] -> 0 as d grows)")
        where = f"width {int(w)}, input dims {int(c.input_dim.min())}..{int(c.input_dim.max())}"
        null = c.weight_slope_independent if "weight_slope_independent" in c else xr.zeros_like(c.weight_slope)
        rows.append(vanishes(claim, where, c.input_dim.values, (c.weight_slope - null).values,
                             c.weight_slope_se.values, alpha, variable="input dim"))
        rows.append(_input_law(c, int(w), alpha))
    return rows


def _input_law(c: xr.Dataset, width: int, alpha: float) -> Verdict:
    claim = "Input-term dependence is sqrt(2/pi) mean |x|_1/(d |x|) at every d"
    conditions = f"width {width}, input dims {int(c.input_dim.min())}..{int(c.input_dim.max())}"
    prediction = "the exact value at each d (theory.first_layer_weight_slope)"
    z = ((c.weight_slope - c.weight_slope_theory) / c.weight_slope_se).values
    if not np.isfinite(z).any():
        why = c.weight_slope_theory.attrs.get("validity", "no standard error")
        return untestable(claim, conditions, why if not np.isfinite(c.weight_slope_theory).any() else "no standard error",
                          prediction)
    crit = z_critical(alpha, int(np.isfinite(z).sum()))
    x, se = c.input_dim.values.astype(float), c.weight_slope_se.values
    fit = fit_power_law(x, c.weight_slope.values, se)
    exact = fit_power_law(x, c.weight_slope_theory.values, se)
    fitted = "exponent: too few dims" if fit is None else f"{_fitted(fit)}"
    if fit is not None and exact is not None:
        fitted += f"; the exact law's exponent over these dims {exact.exponent:.3f}"
    return Verdict(
        claim=claim, conditions=conditions, measured=fitted, prediction=prediction,
        statistic=f"max |z| vs exact = {np.nanmax(np.abs(z)):.2f} (threshold {crit:.2f})",
        outcome=judge(np.nanmax(np.abs(z)) <= crit))


def joint_activation(ds: xr.Dataset, alpha: float = ALPHA) -> list[Verdict]:
    """Input pairs at the largest depth: independence (4^-H, the paper's claim) at the largest width, and
    the infinite-width arc-cosine law as a limit: the deviation vanishes at the widest width or shrinks
    from the narrowest one, at the worst angle."""
    deep = ds.isel(depth=-1)
    if "input_dim" in deep.dims:
        deep = deep.isel(input_dim=-1)
    cell = deep.isel(width=-1)
    crit = z_critical(alpha, cell.sizes["angle"])
    z_indep = (cell.joint_active - cell.joint_independent) / cell.joint_active_se
    angles = (f"angles {len(cell.angle)} from {float(cell.angle.min()) / np.pi:.3g}pi to "
              f"{float(cell.angle.max()) / np.pi:.3g}pi")
    conditions = f"width {int(cell.width)}, depth {int(cell.depth)}, {angles}"
    independence = "Theorem 3: activation of a path independent of the input (joint = 4^-H)"
    arccos = "The arc-cosine law of the joint activation, as the infinite-width limit"
    arc_where = f"widths {int(deep.width.min())}..{int(deep.width.max())}, depth {int(cell.depth)}, {angles}"
    if not np.isfinite(z_indep).any():
        return [untestable(independence, conditions, "no standard error"),
                untestable(arccos, arc_where, "no standard error", kind="limit")]
    excess = cell.joint_active / cell.joint_independent
    rows = [Verdict(claim=independence, conditions=conditions,
                    measured=f"joint / 4^-H from {float(excess.min()):.3g} to {float(excess.max()):.3g}",
                    prediction="joint / 4^-H = 1 (Theorem 3)",
                    statistic=f"max |z| = {float(abs(z_indep).max()):.1f} (threshold {crit:.2f})",
                    outcome=judge(float(abs(z_indep).max()) <= crit))]
    if not np.isfinite(cell.joint_theory).any():
        why = cell.joint_theory.attrs.get("validity", "no prediction")
        return rows + [untestable(arccos, arc_where, why, "deviation -> 0", kind="limit")]
    if deep.sizes["width"] < 2:
        return rows + [untestable(arccos, arc_where, "one width: no trend to test", "deviation -> 0", kind="limit")]
    dev = deep.joint_active / deep.joint_theory - 1
    dev_se = deep.joint_active_se / deep.joint_theory
    worst = int(abs(dev / dev_se).isel(width=-1).fillna(-1).argmax("angle"))
    lo, hi = dev.isel(angle=worst, width=0), dev.isel(angle=worst, width=-1)
    slo, shi = dev_se.isel(angle=worst, width=0), dev_se.isel(angle=worst, width=-1)
    return rows + [deviation_shrinks(
        arccos, f"{arc_where}; worst angle at the widest width, {float(cell.angle[worst]) / np.pi:.3g}pi",
        float(lo), float(slo), float(hi), float(shi), alpha / cell.sizes["angle"],
        low=f"width {int(deep.width[0])}", high=f"width {int(deep.width[-1])}",
        prediction="joint / theory - 1 -> 0: vanishes or shrinks (Cho & Saul 2009 arc-cosine kernel)")]
