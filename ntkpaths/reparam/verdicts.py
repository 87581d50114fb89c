"""Verdict rows of the reparametrisation study, computed from its dataset.

Rows that hold by construction (every transform keeps the function, rescaling
keeps every path, lambda_max(H) = lambda_max(Theta)/N at zero loss, the
split directions are flat at a zero-loss minimum, the Hessian's zero
eigenvalues forced by rank) are typed ``identity``: reports list them under
the table as regression checks. The verdicts proper: the rescaling bounds on
sharpness (a bound), the +-2 sharpness exponent (a prediction), the spread of
F (exact laws; rows whose statistics are identical are merged) and the
curvature +-sigma(C) of the split directions away from zero loss, where it is
not zero by construction (a prediction, Fukumizu et al.).

Float identities are judged at ``FLOAT_TOL`` relative to the quantity's
scale; statistical rows with z-scores from the networks' own standard errors,
Bonferroni-corrected over the spread rows at significance ``ALPHA``.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

import dataclasses

from ..verdict import ALPHA, Verdict, judge, untestable, z_critical
from .measure import FLOAT_TOL

CLAIMS = ("function", "rescaling", "spread", "semiflat")
BOUND_TOL = 1e-5   # relative slack on the rescaling bounds: 100 x the default power-iteration rtol
FLAT_TOL = 1e-6    # "flat": curvature below a millionth of lambda_max


def verdicts(ds: xr.Dataset, claims: tuple[str, ...] = CLAIMS) -> list[Verdict]:
    """Every row for the chosen claims, in the order of ``CLAIMS``."""
    makers = {"function": function_rows, "rescaling": rescaling_rows, "spread": spread_rows,
              "semiflat": semiflat_rows}
    return [row for claim in CLAIMS if claim in claims for row in makers[claim](ds)]


def _identity(row: Verdict) -> Verdict:
    return dataclasses.replace(row, kind="identity")


def _g(v: float) -> str:
    return f"{v:.3g}"


# ------------------------------------------------------------ every transform keeps the function
def function_rows(ds: xr.Dataset) -> list[Verdict]:
    """One row per transform of the trained network (the rescalings of layer 1 as one row), one for the embeddings."""
    names = [str(v) for v in ds["variant"].values[2:]]       # after "initial" and "trained"
    groups = {"rescale layer 1, alpha in {" + ", ".join(n.split("= ")[1] for n in names if n.startswith("rescale layer"))
              + "}": [n for n in names if n.startswith("rescale layer")]}
    groups.update({n: [n] for n in names if not n.startswith("rescale layer")})
    rows = [_function_row(ds, label, members) for label, members in groups.items() if members]
    worst = float(ds.spread_output_change.max())
    rows.append(Verdict(kind="identity",
        claim="Function unchanged: every embedding of the random narrow networks",
        conditions=f"{ds.sizes['network']} He networks, {', '.join(ds.embedding.values[1:])}",
        measured=f"largest max |Δf| / max |f| = {worst:.2g}", prediction="0 (float rounding)",
        statistic=f"{worst:.2g} (tolerance {FLOAT_TOL:g})", outcome=judge(worst <= FLOAT_TOL)))
    return rows


def _function_row(ds: xr.Dataset, label: str, members: list[str]) -> Verdict:
    v = ds.sel(variant=members)
    change = float(v.variant_output_change.max())
    rel = change / float(ds.output_scale)
    moved = float(v.variant_parameter_distance.max())
    widths = "x".join(str(int(u)) for u in v.variant_units.isel(variant=-1).values)
    n = json.loads(ds.attrs["config"])["n_train"]
    return Verdict(
        claim=f"Function unchanged: {label}", conditions=f"trained network, hidden widths {widths}, {n} training inputs",
        measured=f"max |Δf| = {change:.2g}" + (f"; parameters moved up to {moved:.3g}" if np.isfinite(moved) else ""),
        prediction="0 (float rounding)", statistic=f"max |Δf| / max |f| = {rel:.2g} (tolerance {FLOAT_TOL:g})",
        outcome=judge(rel <= FLOAT_TOL), kind="identity")


# ------------------------------------------------------------ rescaling
def rescaling_rows(ds: xr.Dataset) -> list[Verdict]:
    return [_identity(_paths_row(ds)), _law_row(ds), _exponent_row(ds), _identity(_ntk_row(ds))]


def _paths_row(ds: xr.Dataset) -> Verdict:
    changes = int(ds.activation_changes.sum())
    product = float(ds.path_product_change.max())
    f_change = float(abs(ds.rescaled_p_active - ds.rescaled_p_active.sel(alpha=1.0)).max())
    slope = ds.rescaled_weight_slope.sel(layer=1)
    alphas = ds.alpha.values
    return Verdict(
        claim="Rescaling keeps every path's activation and path-weight product (Dinh et al.)",
        conditions=f"trained network, W_1 x alpha and W_2 / alpha, alpha {_g(alphas.min())}..{_g(alphas.max())}, "
                   f"{int(ds.paths_compared)} paths",
        measured=f"{changes} unit states changed; max relative path-product change {product:.2g}; max |ΔF| "
                 f"{f_change:.2g}; yet E[t_1 | Z=1] runs from {float(slope.min()):.3g} to {float(slope.max()):.3g}",
        prediction="0 state changes, products and F equal up to rounding",
        statistic=f"product change {product:.2g} (tolerance {FLOAT_TOL:g})",
        outcome=judge(changes == 0 and product <= FLOAT_TOL and f_change <= FLOAT_TOL))


def _slope(lam: np.ndarray, alphas: np.ndarray, end: slice) -> float:
    a, b = alphas[end], lam[end]
    return float(np.log(b[1] / b[0]) / np.log(a[1] / a[0])) if len(a) == 2 else float("nan")


def _law_row(ds: xr.Dataset) -> Verdict:
    alphas = ds.alpha.values
    lam = ds.lambda_top.sel(eig=1).values
    lam1 = float(ds.lambda_top.sel(alpha=1.0, eig=1))
    low = np.maximum(alphas**2 * float(ds.lambda_block_out), alphas**-2.0 * float(ds.lambda_block_in))
    high = np.maximum(alphas**2, alphas**-2.0) * lam1
    broken = int(((lam < low * (1 - BOUND_TOL)) | (lam > high * (1 + BOUND_TOL))).sum())
    top, bottom = _slope(lam, alphas, slice(-2, None)), _slope(lam, alphas, slice(0, 2))
    ratio = lam[-1] / (alphas[-1] ** 2 * float(ds.lambda_block_out))
    trace = ds.trace.values / float(ds.trace.sel(alpha=1.0))
    claim = "Rescaling multiplies sharpness by a factor that grows without bound in alpha (Dinh et al.)"
    conditions = (f"trained network at loss {float(ds.train_loss):.2g}, effective-weight parametrisation, "
                  f"alpha {_g(alphas.min())}..{_g(alphas.max())}")
    if alphas.max() <= 1 or float(ds.lambda_block_out) <= 0:
        return untestable(claim, conditions, "no alpha > 1, or a W_2 block without curvature")
    return Verdict(
        claim=claim, conditions=conditions,
        measured=f"lambda_max x{lam[-1] / lam1:.4g} at alpha {_g(alphas[-1])}, x{lam[0] / lam1:.4g} at "
                 f"{_g(alphas[0])} (lambda_max(1) = {lam1:.4g}); local exponent {top:.3f} at the top, {bottom:.3f} "
                 f"at the bottom; lambda_max / (alpha^2 lambda_max(H_22)) = {ratio:.4f} at the top; Hutchinson "
                 f"trace x{trace[-1]:.4g} ± {float(ds.trace_se[-1] / ds.trace.sel(alpha=1.0)):.2g}",
        prediction="max(alpha^2 lambda(H_22), alpha^-2 lambda(H_11)) <= lambda_max(alpha) <= max(alpha^2, "
                   "alpha^-2) lambda_max(1): exponent -> +2 and -2",
        statistic=f"{broken} of {len(alphas)} alphas outside the bounds (slack {BOUND_TOL:g})",
        outcome=judge(broken == 0), kind="bound")


def _exponent_row(ds: xr.Dataset) -> Verdict:
    """The local exponent d log lambda_max / d log alpha at both ends of the alpha grid: +2 and -2.

    With r(alpha) = lambda_max(alpha) / (alpha^2 lambda_max(H_22)) >= 1 falling to 1 as alpha grows, the
    local exponent over [a, b] is 2 + log(r_b / r_a) / log(b / a), so it lies in
    [2 - log(r_a) / log(b / a), 2] up to the solver's precision; likewise -2 at small alpha with H_11.
    A sharpness that grows faster than alpha^2, or a ratio that rises, lands outside.
    """
    alphas = ds.alpha.values
    lam = ds.lambda_top.sel(eig=1).values
    claim = "Sharpness scales as alpha^+2 for large alpha and alpha^-2 for small alpha (Dinh et al.)"
    conditions = f"local exponents over the two largest and the two smallest alphas, {_g(alphas.min())}..{_g(alphas.max())}"
    blocks = {"top": float(ds.lambda_block_out), "bottom": float(ds.lambda_block_in)}
    if len(alphas) < 4 or alphas.max() <= 1 or alphas.min() >= 1 or min(blocks.values()) <= 0:
        return untestable(claim, conditions, "fewer than two alphas on each side of 1, or a block without curvature")
    parts, ok, intervals = [], True, []
    for end, sign, sl in (("top", 2.0, slice(-2, None)), ("bottom", -2.0, slice(0, 2))):
        a, b = alphas[sl]
        la, lb = lam[sl]
        exponent = np.log(lb / la) / np.log(b / a)
        span = abs(np.log(b / a))
        r_outer = (la if end == "top" else lb) / ((a if end == "top" else b) ** sign * blocks[end])
        slack = 2 * BOUND_TOL / span
        low, high = (sign - np.log(r_outer) / span - slack, sign + slack) if end == "top" else \
            (sign - slack, sign + np.log(r_outer) / span + slack)
        ok &= bool(low <= exponent <= high)
        parts.append(f"{exponent:.5f} at the {end}")
        intervals.append(f"[{low:.5f}, {high:.5f}]")
    return Verdict(claim, conditions, "local exponent " + ", ".join(parts),
                   "+2 and -2 up to the approach of lambda_max / (alpha^±2 lambda(block)) to 1: intervals "
                   + " and ".join(intervals) + " (Dinh et al. 2017)",
                   f"inside both intervals: {'yes' if ok else 'no'} (solver slack {BOUND_TOL:g})", judge(ok))


def _ntk_row(ds: xr.Dataset) -> Verdict:
    lam = ds.lambda_top.sel(eig=1)
    rel = float(abs(lam / ds.lambda_ntk - 1).max())
    converged = bool(ds.lambda_converged.all())
    its = ds.lambda_iterations.sel(eig=1)
    return Verdict(
        claim="Power iteration on Hessian-vector products equals lambda_max(NTK) / N at the zero-loss point",
        conditions=f"every alpha, training loss {float(ds.train_loss):.2g}, top {ds.sizes['eig']} eigenvalues "
                   f"{'all converged' if converged else 'NOT all converged'}",
        measured=f"max relative difference {rel:.2g}; {int(its.min())}-{int(its.max())} iterations for lambda_max",
        prediction="H = J^T J / N, so lambda_max(H) = lambda_max(Theta) / N",
        statistic=f"{rel:.2g} (tolerance {1e-6:g})", outcome=judge(rel <= 1e-6 and converged))


# ------------------------------------------------------------ the spread of F
def _moments(ds: xr.Dataset, e: str) -> dict:
    f = ds.spread_fraction.sel(embedding=e).isel(spread_depth=-1).values    # (network, input)
    v, u = f.mean(axis=1), (f**2).mean(axis=1)
    m = len(v)
    mean, square = v.mean(), u.mean()
    exact = ds.sel(embedding=e)
    var_exact = float(exact.spread_square_exact - exact.spread_mean_exact**2)
    var_fresh = float(exact.spread_square_fresh - exact.spread_mean_fresh**2)
    var, var_se = square - mean**2, (u - 2 * mean * v).std(ddof=1) / np.sqrt(m)
    mean_se = v.std(ddof=1) / np.sqrt(m)
    return {"mean": mean, "mean_se": mean_se, "var": var, "var_se": var_se, "var_exact": var_exact,
            "var_fresh": var_fresh, "z_mean": (mean - float(exact.spread_mean_exact)) / mean_se,
            "z_var": (var - var_exact) / var_se, "z_var_fresh": (var - var_fresh) / var_se,
            "z_half": (mean - 0.5 ** ds.sizes["spread_depth"]) / mean_se, "width": int(exact.spread_width)}


def spread_rows(ds: xr.Dataset) -> list[Verdict]:
    labels = list(ds.embedding.values)
    stats = {e: _moments(ds, e) for e in labels}
    crit = z_critical(ALPHA, 2 * len(labels))
    depth, cfg = ds.sizes["spread_depth"], json.loads(ds.attrs["config"])
    where = f"{ds.sizes['network']} He networks of width {cfg['narrow_width']}, depth {depth}, {ds.sizes['input']} inputs"
    rows = [_spread_row(members, stats, crit, where, _same_f(ds, members[0])) for members in _same_statistics(stats)]
    return rows + [_parametrisation_row(ds, stats, crit, where)]


def _same_statistics(stats: dict) -> list[list[str]]:
    """Embeddings grouped by identical z-scores (to 9 digits): the same sample seen twice is one test.

    Replication leaves F unchanged and inactive propagation multiplies it by a constant, so their rows
    repeat the narrow row's statistics exactly.
    """
    groups: dict[tuple, list[str]] = {}
    for e, s in stats.items():
        groups.setdefault((f"{s['z_mean']:.9g}", f"{s['z_var']:.9g}"), []).append(e)
    return list(groups.values())


def _same_f(ds: xr.Dataset, e: str) -> float:
    """max |F_embedded - F_narrow| over networks, inputs and depths."""
    return float(abs(ds.spread_fraction.sel(embedding=e) - ds.spread_fraction.sel(embedding="narrow")).max())


def _spread_row(members: list[str], stats: dict, crit: float, where: str, diff: float) -> Verdict:
    e = members[0]
    s = stats[e]
    law = "the narrow law" if e == "narrow" or e.startswith("replicated") else "its exact law"
    also = "".join(f"; {m}: E F = {stats[m]['mean']:.5g}, Var F = {stats[m]['var']:.4g} = "
                   f"{stats[m]['var'] / stats[m]['var_fresh']:.3f} x a fresh width-{stats[m]['width']} network's"
                   for m in members[1:])
    same = f" ({len(members)} embeddings with identical z-scores: one test)" if len(members) > 1 else ""
    return Verdict(
        claim=f"F's mean and spread follow the parametrisation: {' = '.join(members)}{same}", conditions=where,
        measured=f"{e}: E F = {s['mean']:.5g} ± {s['mean_se']:.2g}; Var F = {s['var']:.4g} ± {s['var_se']:.2g} "
                 f"= {s['var'] / s['var_fresh']:.3f} x a fresh width-{s['width']} network's "
                 f"(z = {s['z_var_fresh']:.1f}); max |F - F_narrow| = {diff:.2g}{also}",
        prediction=f"{law}: E F = {s['mean'] - s['z_mean'] * s['mean_se']:.5g}, Var F = {s['var_exact']:.4g} "
                   "(the exact laws of ntkpaths.theory, docs/science.md section 8)",
        statistic=f"z = {s['z_mean']:.2f} (mean), {s['z_var']:.2f} (Var) (threshold {crit:.2f})",
        outcome=judge(abs(s["z_mean"]) <= crit and abs(s["z_var"]) <= crit))


def _parametrisation_row(ds: xr.Dataset, stats: dict, crit: float, where: str) -> Verdict:
    """The same function, three different F statistics, each detected beyond the threshold."""
    labels = list(stats)
    widened = [e for e in labels if e.startswith("replicated")]
    dead = next(e for e in labels if e.startswith("inactive propagation"))
    one = next(e for e in labels if e.startswith("one unit"))
    changed = float((abs(ds.spread_fraction.sel(embedding=one) - ds.spread_fraction.sel(embedding="narrow"))
                     > 1e-12).mean())
    z_wide = min(abs(stats[e]["z_var_fresh"]) for e in widened)
    z_dead = abs(stats[dead]["z_half"])
    ratios = ", ".join(f"{stats[e]['var'] / stats[e]['var_fresh']:.3f}" for e in widened)
    return Verdict(
        claim="P(path active) and its spread are properties of the parametrisation, not of the function",
        conditions=f"{where}; every embedding leaves the outputs unchanged",
        measured=f"{dead}: E F / 2^-H = {stats[dead]['mean'] * 2 ** ds.sizes['spread_depth']:.4f} (z = {z_dead:.1f}); "
                 f"replicated: Var F = {ratios} "
                 f"x the fresh-width law (smallest |z| {z_wide:.1f}); {one}: F changed for {changed:.1%} of "
                 "(network, input, depth)",
        prediction="functions equal, statistics different (Fukumizu et al. 2019, Berner et al. 2019: the "
                   "embeddings keep the function)",
        statistic=f"smallest |z| of a difference {min(z_wide, z_dead):.1f} (threshold {crit:.2f})",
        outcome=judge(min(z_wide, z_dead) > crit and changed > 0))


# ------------------------------------------------------------ semi-flat minima
def semiflat_rows(ds: xr.Dataset) -> list[Verdict]:
    scale = float(ds.spectrum_lambda_max.sel(minimum="embedded"))
    rows = []
    for layer in ds.flat_layer.values:
        for point in ("early", "minimum"):   # at the minimum C = 0: flat by construction
            row = _flat_row(ds.sel(flat_layer=layer, point=point), int(layer), point, scale)
            rows.append(row if point == "early" else _identity(row))
    return rows + [_identity(_spectrum_row(ds, scale))]


def _flat_row(c: xr.Dataset, layer: int, point: str, scale: float) -> Verdict:
    measured = c.flat_eigenvalues.dropna("flat_eig").values
    predicted = c.flat_predicted.dropna("flat_eig").values
    gap = float(np.abs(measured - predicted).max())
    negative = int((measured < -FLOAT_TOL * scale).sum())
    where = "the zero-loss minimum" if point == "minimum" else "an early, non-minimal point of the same run"
    claim = (f"Replication at a zero-loss minimum adds zero or negative curvature only (Fukumizu et al.): layer {layer}"
             if point == "minimum" else f"Semi-flat directions of a replicated unit curve as ±sigma(C), C the "
                                        f"residual cross moment (Fukumizu et al.), away from zero loss: layer {layer}")
    ok = gap <= FLOAT_TOL * scale and (point == "early" or np.abs(measured).max() <= FLAT_TOL * scale)
    return Verdict(
        claim=claim, conditions=f"busiest unit of hidden layer {layer} split in two (shares 1/2), {len(measured)} "
                                f"directions, at {where}",
        measured=f"eigenvalues {measured.min():.3g} .. {measured.max():.3g} ({negative} below -{FLOAT_TOL:g} "
                 f"lambda_max); lambda_max = {scale:.4g}",
        prediction=f"±sigma(C), C the residual cross moment: {predicted.min():.3g} .. {predicted.max():.3g}"
                   + (f"; |lambda| <= {FLAT_TOL:g} lambda_max" if point == "minimum" else ""),
        statistic=f"max |measured - predicted| = {gap:.2g} (tolerance {FLOAT_TOL:g} lambda_max)"
                  + (f"; max |lambda| / lambda_max = {np.abs(measured).max() / scale:.2g}" if point == "minimum" else ""),
        outcome=judge(ok))


def _spectrum_row(ds: xr.Dataset, scale: float) -> Verdict:
    ritz = ds.spectrum_ritz_smallest.isel(ritz=0)
    bound = ds.spectrum_ritz_bound.isel(ritz=0)
    lam = ds.spectrum_lambda_max
    line = ds.line_loss - ds.line_loss.sel(line_step=0.0, method="nearest")
    parts = [f"{n}: {float(ritz.sel(minimum=n)):.2g} (± {float(bound.sel(minimum=n)):.1g}), lambda_max "
             f"{float(lam.sel(minimum=n)):.4g}" for n in ("narrow", "embedded")]
    smallest = float(ritz.min())
    return Verdict(
        claim="Smallest Hessian eigenvalues found at the narrow and the embedded minimum (Lanczos)",
        conditions=f"{ds.sizes['ritz']} smallest Ritz values kept, loss {float(ds.spectrum_loss.max()):.2g}",
        measured="; ".join(parts) + f"; loss along a share direction moves {float(abs(line.sel(line='share')).max()):.2g}"
                 f" over |step| <= 1, along the top eigenvector {float(line.sel(line='top eigenvector').max()):.3g}",
        prediction="H = J^T J / N >= 0 at zero loss, with at least P - N n_out zero eigenvalues",
        statistic=f"smallest Ritz value / lambda_max = {smallest / scale:.2g} (zero within {FLAT_TOL:g})",
        outcome=judge(abs(smallest) <= FLAT_TOL * scale))
