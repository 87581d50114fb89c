"""The ``train`` study kind: Theorem 5's claims judged from a training dataset.

Rows, each computed from the data at significance 0.01 (Bonferroni over the
cells a row tests):

(a) activation patterns stay fixed: the final flip fraction of the last
    hidden layer is 0 (z per width), and how fast it shrinks with width
    (fitted exponent against the lazy-training rate -1/2);
(b) P(path active) stays 2^-H after training (z per width and depth);
(c) gradient descent reaches a global minimum from every initialisation
    (the fraction of runs whose final loss is at most ``loss_tolerance``);
(d) the NTK stays fixed: its relative change is 0 (z), and its exponent in
    width against -1/2 (Lee et al., 2019).
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..config import TrainConfig
from ..study import Kind, Study, _INT, _NUM, _STR, _list_of, _int
from ..verdict import ALPHA, Verdict, judge, untestable, z_critical
from ..plot.training import FIGURES
from .grid import preflight, run_training

CLAIMS = ("theorem5",)
SCHEMA = {"depths": _list_of(_int, "integers"), "widths": _list_of(_int, "integers"), "runs": _INT, "steps": _INT,
          "lr": _NUM, "lr_relative": _NUM, "batch_size": _INT, "param": _STR, "data": _STR, "n_train": _INT, "n_test": _INT,
          "checkpoints": _INT, "seed": _INT, "dtype": _STR, "ntk_inputs": _INT, "loss_tolerance": _NUM,
          "device": _STR}
LAZY_RATE = -0.5


def train_config(study: Study, smoke: bool = False) -> TrainConfig:
    table = dict(study.sweep) | (study.smoke if smoke else {})
    for key in ("depths", "widths"):
        if key in table:
            table[key] = tuple(table[key])
    table.setdefault("seed", 0)
    return TrainConfig(**table)


def prepare(study: Study, smoke: bool, scheduler, workers) -> TrainConfig:
    cfg = train_config(study, smoke)
    preflight(cfg, scheduler, workers)
    return cfg


def run(study: Study, smoke: bool, scheduler, workers, progress) -> xr.Dataset:
    tick = (lambda done, total: progress("train", done, total)) if progress else None
    return run_training(train_config(study, smoke), scheduler=scheduler, workers=workers, progress=tick)


def verdicts(ds: xr.Dataset, claims: tuple[str, ...] = CLAIMS, alpha: float = ALPHA) -> list[Verdict]:
    if "theorem5" not in claims:
        return []
    final = ds.isel(step=-1)
    rows = []
    for d in ds["depth"].values:
        rows += [_flips(final.sel(depth=d), int(d), alpha), _flip_rate(ds.sel(depth=d), int(d), alpha)]
    rows.append(_p_active(final, alpha))
    rows.append(_minimum(final, ds, alpha))
    for d in ds["depth"].values:
        rows += [_ntk(final.sel(depth=d), int(d), alpha), _ntk_rate(ds.sel(depth=d), int(d), alpha)]
    return rows


def _steps_note(ds: xr.Dataset) -> str:
    return f"after {int(np.max(ds['step'].values))} steps"


def _flips(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    claim = "Theorem 5: activation patterns stay fixed (no ReLU state flips)"
    where = f"depth {depth}, last hidden layer, {_steps_note(cell)}, widths {_span(cell)}"
    mean, se = cell.flip_fraction_mean.sel(layer=depth), cell.flip_fraction_se.sel(layer=depth)
    z = (mean / se).values
    if not np.isfinite(z).any():
        return untestable(claim, where, "no standard error (fewer than 2 runs that did not diverge)", "0")
    crit = z_critical(alpha, int(np.isfinite(z).sum()))
    measured = ", ".join(f"{int(w)}: {float(m):.3g} ± {float(s):.2g}" for w, m, s in zip(cell.width.values, mean, se))
    return Verdict(claim, where, measured, "0", f"z = {np.nanmin(z):.1f}..{np.nanmax(z):.1f} (threshold {crit:.2f})",
                   judge(np.nanmax(np.abs(z)) <= crit))


def _rate(ds: xr.Dataset, name: str, sel: dict, claim: str, depth: int, alpha: float) -> Verdict:
    where = f"depth {depth}, widths {_span(ds)}"
    b = ds[f"{name}_exponent"].sel(sel) if sel else ds[f"{name}_exponent"]
    se = ds[f"{name}_exponent_se"].sel(sel) if sel else ds[f"{name}_exponent_se"]
    if not np.isfinite(float(b)) or not np.isfinite(float(se)) or float(se) == 0:
        return untestable(claim, where, "no fit (fewer than 3 widths with a positive value and a se)", str(LAZY_RATE))
    z = (float(b) - LAZY_RATE) / float(se)
    crit = z_critical(alpha, 1)
    return Verdict(claim, where, f"exponent {float(b):.3f} ± {float(se):.3f}", f"{LAZY_RATE} (lazy training)",
                   f"z = {z:.2f} (threshold {crit:.2f})", judge(abs(z) <= crit))


def _flip_rate(ds: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return _rate(ds, "flip_fraction", {"layer": depth}, "Flip fraction shrinks as width^-1/2 (last hidden layer)",
                 depth, alpha)


def _ntk_rate(ds: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return _rate(ds, "ntk_change", {}, "NTK change shrinks as width^-1/2 (Lee et al., 2019)", depth, alpha)


def _p_active(final: xr.Dataset, alpha: float) -> Verdict:
    claim = "Theorem 1 after training: P(path active) = 2^-H"
    full = final["depth"].rename("prefix")  # the prefix that spans each run's whole depth
    p, se = final.p_active_mean.sel(prefix=full), final.p_active_se.sel(prefix=full)
    theory = final.p_theory.sel(prefix=full)
    z = (p - theory) / se
    where = f"depths {_span(final, 'depth')}, widths {_span(final)}, {_steps_note(final)}"
    if not np.isfinite(z).any():
        return untestable(claim, where, "no standard error", "p / 2^-H = 1")
    crit = z_critical(alpha, int(np.isfinite(z).sum()))
    worst = {k: int(v) for k, v in abs(z).fillna(-1).argmax(...).items()}
    cell = (p / theory).isel(worst)
    measured = (f"worst at depth {int(cell.depth)}, width {int(cell.width)}: p / 2^-H = {float(cell):.3f} ± "
                f"{float((se / theory).isel(worst)):.2g}")
    return Verdict(claim, where, measured, "p / 2^-H = 1", f"max |z| = {float(abs(z).max()):.1f} (threshold {crit:.2f})",
                   judge(float(abs(z).max()) <= crit))


def _minimum(final: xr.Dataset, ds: xr.Dataset, alpha: float) -> Verdict:
    cfg_tol = float(_tolerance(ds))
    claim = "Theorem 5: gradient descent reaches a global minimum from every initialisation"
    reached = ds.reached_minimum.fillna(0)
    per_width = reached.sum(("depth", "run")), reached.count(("depth", "run"))
    measured = ", ".join(f"{int(w)}: {int(k)}/{int(n)}" for w, k, n in zip(ds.width.values, *per_width))
    where = f"depths {_span(ds, 'depth')}, {_steps_note(ds)}, final loss <= {cfg_tol:g}"
    total, n = int(reached.sum()), int(reached.count())
    diverged = int(ds.diverged.fillna(0).sum())
    note = f"; {diverged} diverged" if diverged else ""
    return Verdict(claim, where, f"runs reaching it, per width: {measured}{note}", "every run",
                   f"{total} of {n} runs", judge(total == n))


def _tolerance(ds: xr.Dataset) -> float:
    return json.loads(ds.attrs["config"])["loss_tolerance"]


def _ntk(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    claim = "Theorem 5: the empirical NTK stays fixed"
    where = f"depth {depth}, {_steps_note(cell)}, widths {_span(cell)}"
    z = (cell.ntk_change_mean / cell.ntk_change_se).values
    if not np.isfinite(z).any():
        return untestable(claim, where, "no standard error", "0")
    crit = z_critical(alpha, int(np.isfinite(z).sum()))
    widest = cell.isel(width=-1)
    measured = f"|ΔΘ|/|Θ| = {float(widest.ntk_change_mean):.3g} ± {float(widest.ntk_change_se):.2g} at width {int(widest.width)}"
    return Verdict(claim, where, measured, "0", f"z = {np.nanmin(z):.1f}..{np.nanmax(z):.1f} (threshold {crit:.2f})",
                   judge(np.nanmax(np.abs(z)) <= crit))


def _span(ds: xr.Dataset, dim: str = "width") -> str:
    values = ds[dim].values
    return f"{int(values.min())}..{int(values.max())}"


KIND = Kind(table="train", schema=SCHEMA, claims=CLAIMS, figures=tuple(FIGURES), prepare=prepare, run=run,
            verdicts=verdicts)
