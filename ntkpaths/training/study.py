"""The ``train`` study kind: Theorem 5's claims judged from a training dataset.

Rows, each computed from the data at significance 0.01 and typed as in
:mod:`ntkpaths.verdict`:

- the regime the runs were in (a description: lr against the critical rate);
- per depth, the values at the widest width (a description);
- limits, tested as trends in width: the flip fraction of the last hidden
  layer, the NTK's relative change and the last hidden layer's relative
  weight change vanish (exponent significantly below 0), and
  P(path active) / 2^-H - 1 vanishes or shrinks;
- bounds, one-sided: flip fraction and NTK change are O(width^-1/2)
  (Lee et al., 2019);
- a prediction, two-sided: the NTK change scales as 1/width (Dyer &
  Gur-Ari, 2020; Huang & Yau, 2020);
- every run reaches a global minimum: with a ``[train.census]`` table, a
  limit judged from a census of gradient descent run to stationarity
  (:mod:`ntkpaths.minima`): no run may end at a certified spurious local
  minimum, or their fraction falls with width; without one, a budget
  (loss at most ``loss_tolerance`` after the study's steps, else "not
  converged after T steps", never a failure).

The layer-wise exponents are fitted to the run means at the last checkpoint.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..config import ConfigError, TrainConfig
from ..study import Kind, Study, _INT, _NUM, _STR, _list_of, _int
from .critical import REGIMES
from ..verdict import (ALPHA, PowerLaw, Verdict, described, deviation_shrinks, fit_power_law, rate_bound,
                       rate_prediction, untestable, vanishes)
from ..plot.training import FIGURES
from .grid import preflight, run_training

CLAIMS = ("theorem5",)
SCHEMA = {"depths": _list_of(_int, "integers"), "widths": _list_of(_int, "integers"), "runs": _INT, "steps": _INT,
          "lr": _NUM, "lr_relative": _NUM, "batch_size": _INT, "param": _STR, "data": _STR, "n_train": _INT, "n_test": _INT,
          "checkpoints": _INT, "seed": _INT, "dtype": _STR, "ntk_inputs": _INT, "loss_tolerance": _NUM,
          "device": _STR}
# [train.census]: a census of where gradient descent ends (ntkpaths minima) on the deep model
CENSUS_FIELDS = {"problem": _STR, "depths": _list_of(_int, "integers"), "widths": _list_of(_int, "integers"),
                 "runs": _INT, "grad_tol": _NUM, "loss_tol": _NUM, "eig_tol": _NUM, "max_steps": _INT, "lr": _NUM,
                 "lr_relative": _NUM, "max_halvings": _INT, "kink_band": _NUM, "n_train": _INT, "block": _INT,
                 "seed": _INT}
SCHEMA["census"] = ((lambda v: isinstance(v, dict) and all(k in CENSUS_FIELDS for k in v)),
                    f"a table with keys from: {', '.join(CENSUS_FIELDS)}")
CENSUS = "census_"  # prefix of the census's variables and dims in a study dataset
LAZY_RATE = -0.5   # Lee et al.'s bound on how fast the NTK and the pre-activations move
NTK_RATE = -1.0    # the NTK's change over training (Dyer & Gur-Ari 2020; Huang & Yau 2020)


def train_config(study: Study, smoke: bool = False) -> TrainConfig:
    table = dict(study.sweep) | (study.smoke if smoke else {})
    table.pop("census", None)
    for key in ("depths", "widths"):
        if key in table:
            table[key] = tuple(table[key])
    table.setdefault("seed", 0)
    return TrainConfig(**table)


def census_config(study: Study, smoke: bool = False):
    """The study's census (a :class:`ntkpaths.minima.MinimaConfig`), or None without a ``[train.census]`` table.

    Its problem defaults to the training data and its seed to the training seed;
    ``[smoke.census]`` overrides keys for a smoke run.
    """
    from ..minima.config import MinimaConfig

    if "census" not in study.sweep:
        return None
    table = dict(study.sweep["census"]) | (dict(study.smoke.get("census", {})) if smoke else {})
    table.setdefault("problem", study.sweep.get("data", "digits"))
    table.setdefault("seed", study.sweep.get("seed", 0))
    for key in ("depths", "widths"):
        if key in table:
            table[key] = tuple(table[key])
    try:
        return MinimaConfig(**table)
    except ConfigError as exc:
        raise ConfigError(f"train.census: {exc}") from None


def prepare(study: Study, smoke: bool, scheduler, workers) -> TrainConfig:
    from ..minima.grid import preflight as census_preflight

    cfg = train_config(study, smoke)
    census = census_config(study, smoke)
    preflight(cfg, scheduler, workers)
    if census is not None:
        census_preflight(census, scheduler, workers)
    return cfg


def run(study: Study, smoke: bool, scheduler, workers, progress) -> xr.Dataset:
    from ..minima.grid import run_census

    tick = (lambda label: (lambda done, total: progress(label, done, total))) if progress else (lambda label: None)
    ds = run_training(train_config(study, smoke), scheduler=scheduler, workers=workers, progress=tick("train"))
    census = census_config(study, smoke)
    if census is None:
        return ds
    return with_census(ds, run_census(census, scheduler=scheduler, workers=workers, progress=tick("census")))


def with_census(train: xr.Dataset, census: xr.Dataset) -> xr.Dataset:
    """One dataset: the training runs as they are, the census with every name and dim prefixed ``census_``."""
    names = {n: CENSUS + n for n in list(census.data_vars) + list(census.dims)}
    out = train.merge(census.rename(names), combine_attrs="override")
    out.attrs = dict(train.attrs) | {"census_config": census.attrs["config"]}
    return out


def census_part(ds: xr.Dataset) -> xr.Dataset | None:
    """The census of a study dataset as ``ntkpaths minima`` writes it (None without one)."""
    names = [str(n) for n in ds.data_vars if str(n).startswith(CENSUS)]
    if not names:
        return None
    sub = ds[names]
    prefixed = {str(n) for n in list(sub.variables) + list(sub.dims) if str(n).startswith(CENSUS)}
    sub = sub.rename({n: n[len(CENSUS):] for n in prefixed})
    sub.attrs = {"config": ds.attrs["census_config"]}
    return sub


def verdicts(ds: xr.Dataset, claims: tuple[str, ...] = CLAIMS, alpha: float = ALPHA) -> list[Verdict]:
    if "theorem5" not in claims:
        return []
    rows = [_regime_row(ds)]
    for d in ds["depth"].values:
        cell = ds.sel(depth=d)
        rows += [_widest(cell, int(d)), _flip_limit(cell, int(d), alpha), _flip_bound(cell, int(d), alpha),
                 _ntk_limit(cell, int(d), alpha), _ntk_bound(cell, int(d), alpha), _ntk_rate(cell, int(d), alpha),
                 _weight_limit(cell, int(d), alpha), _p_active(cell, int(d), alpha)]
    census = census_part(ds)
    rows.append(_minimum(ds) if census is None else census_minimum(census, alpha))
    return rows


def _steps_note(ds: xr.Dataset) -> str:
    return f"after {int(np.max(ds['step'].values))} steps"


def _final(cell: xr.Dataset, name: str, sel: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widths, run-mean and se of ``name`` at the last checkpoint."""
    last = cell.isel(step=-1)
    mean, se = last[f"{name}_mean"], last[f"{name}_se"]
    if sel:
        mean, se = mean.sel(sel), se.sel(sel)
    return cell.width.values.astype(float), mean.values, se.values


def _fit_of(cell: xr.Dataset, name: str, sel: dict | None = None) -> PowerLaw | None:
    return fit_power_law(*_final(cell, name, sel))


def _where(cell: xr.Dataset, depth: int, extra: str = "") -> str:
    return f"depth {depth}, widths {_span(cell)}, {_steps_note(cell)}" + (f", {extra}" if extra else "")


def _regime_row(ds: xr.Dataset) -> Verdict:
    """Which regime the runs were in: the condition every other row is read under."""
    cfg = json.loads(ds.attrs["config"])
    rate = (f"lr = {cfg['lr_relative']:g} x each run's critical rate" if cfg.get("lr_relative") is not None
            else f"lr = {cfg.get('lr')}")
    claim = "Regime of the runs (critical rate 2/lambda_max(Theta_0/N) per run)"
    if "regime" not in ds:
        return described(claim, rate, "unknown: this dataset predates the critical rate and the loss peak")
    counts = ", ".join(f"{int((ds.regime == code).sum())} {word.replace('_', ' ')}"
                       for code, word in enumerate(REGIMES))
    crit = ds.critical_lr.median(("width", "run"))
    per_depth = ", ".join(f"depth {int(d)}: {float(c):.3g}" for d, c in zip(crit.depth.values, crit.values))
    peak = ds.loss_peak.where(np.isfinite(ds.loss_peak))
    return described(claim, rate, f"{counts}; median critical rate {per_depth}; largest finite L_t/L_0 "
                                  f"{float(peak.max()):.3g}")


def _widest(cell: xr.Dataset, depth: int) -> Verdict:
    last = cell.isel(step=-1, width=-1)
    parts = [f"flips {_pm(last.flip_fraction_mean.sel(layer=depth), last.flip_fraction_se.sel(layer=depth))}",
             f"|ΔΘ|/|Θ| {_pm(last.ntk_change_mean, last.ntk_change_se)}",
             f"|ΔW_{depth}|/|W_{depth}| {_pm(last.weight_change_mean.sel(weight_layer=depth), last.weight_change_se.sel(weight_layer=depth))}",
             f"loss {_pm(last.loss_mean, last.loss_se)}"]
    return described(f"Depth {depth} at the widest width", f"width {int(last.width)}, {_steps_note(cell)}",
                     "; ".join(parts))


def _pm(value, se) -> str:
    return f"{float(value):.3g} ± {float(se):.2g}"


def _flip_limit(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return vanishes("Theorem 5 as a limit: the fraction of flipped ReLU states -> 0 with width (last hidden layer)",
                    _where(cell, depth), *_final(cell, "flip_fraction", {"layer": depth}), alpha)


def _flip_bound(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return rate_bound("Flip fraction is O(width^-1/2) (last hidden layer)", _where(cell, depth),
                      _fit_of(cell, "flip_fraction", {"layer": depth}), LAZY_RATE,
                      "Du et al. 2019; pre-activations move O(width^-1/2), Lee et al. 2019", alpha)


def _ntk_limit(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return vanishes("Theorem 5 as a limit: the empirical NTK's relative change -> 0 with width",
                    _where(cell, depth), *_final(cell, "ntk_change"), alpha)


def _ntk_bound(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return rate_bound("NTK change is O(width^-1/2)", _where(cell, depth), _fit_of(cell, "ntk_change"), LAZY_RATE,
                      "Lee et al. 2019, Theorem 2.1", alpha)


def _ntk_rate(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return rate_prediction("NTK change scales as 1/width", _where(cell, depth), _fit_of(cell, "ntk_change"),
                           NTK_RATE, "Dyer & Gur-Ari 2020; Huang & Yau 2020", alpha)


def _weight_limit(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    return vanishes(f"Theorem 5 as a limit: the relative weight change of layer {depth} -> 0 with width",
                    _where(cell, depth), *_final(cell, "weight_change", {"weight_layer": depth}), alpha)


def _p_active(cell: xr.Dataset, depth: int, alpha: float) -> Verdict:
    """P(path active) / 2^-H - 1 after training, over the run's whole depth: vanishes or shrinks with width."""
    claim = "Theorem 1 after training, as a limit: P(path active) / 2^-H -> 1 with width"
    last = cell.isel(step=-1)
    ratio = (last.p_active_mean / last.p_theory).sel(prefix=depth).values - 1
    se = (last.p_active_se / last.p_theory).sel(prefix=depth).values
    ok = np.flatnonzero(np.isfinite(ratio) & np.isfinite(se))
    if len(ok) < 2:
        return untestable(claim, _where(cell, depth), "fewer than 2 widths with a standard error", kind="limit")
    lo, hi = ok[0], ok[-1]
    widths = cell.width.values
    return deviation_shrinks(claim, _where(cell, depth), ratio[lo], se[lo], ratio[hi], se[hi], alpha,
                             low=f"width {int(widths[lo])}", high=f"width {int(widths[hi])}")


def _minimum(ds: xr.Dataset) -> Verdict:
    """Reaching a global minimum: a step budget can confirm it, not refute it."""
    tol = float(_tolerance(ds))
    claim = "Theorem 5: gradient descent reaches a global minimum from every initialisation"
    reached = ds.reached_minimum.fillna(0)
    per_width = reached.sum(("depth", "run")), reached.count(("depth", "run"))
    measured = ", ".join(f"{int(w)}: {int(k)}/{int(n)}" for w, k, n in zip(ds.width.values, *per_width))
    steps = int(np.max(ds["step"].values))
    where = f"depths {_span(ds, 'depth')}, {_steps_note(ds)}, final loss <= {tol:g}"
    total, n = int(reached.sum()), int(reached.count())
    diverged = int(ds.diverged.fillna(0).sum())
    note = f"; {diverged} diverged" if diverged else ""
    outcome = "agrees" if total == n else "not converged"
    return Verdict(claim, where, f"runs at loss <= {tol:g}, per width: {measured}{note}",
                   "every run (a finite budget cannot refute it: a run still descending has not failed)",
                   f"{total} of {n} runs" + ("" if total == n else f"; not converged after {steps} steps"),
                   outcome, kind="budget")


def census_minimum(census: xr.Dataset, alpha: float = ALPHA) -> Verdict:
    """Reaching a global minimum, judged from a census to stationarity: a limit.

    A run that ends at a certified spurious local minimum never reaches a
    global one, however long it descends. The row agrees when no run ends at
    one, or when their fraction falls with width (a one-sided Cochran-Armitage
    trend in log width, stratified by depth, as the Theorem-4 study); it
    disagrees when spurious minima persist as the network widens. Saddles,
    unconverged and diverged runs are counted beside it: they refute nothing.
    With no run at a stationary point or a global minimum it is untestable.
    """
    from ..minima.study import _limit

    cfg = json.loads(census.attrs["config"])
    claim = "Theorem 5: gradient descent reaches a global minimum from every initialisation"
    rate = (f"lr = {cfg['lr_relative']:g} x each run's critical rate" if cfg.get("lr_relative") is not None
            else f"lr = {cfg['lr'] if cfg.get('lr') is not None else 1.0:g}")
    interpolates = census.interpolates.where(census.outcome.notnull())
    where = (f"census to stationarity on {cfg['n_train']} {cfg['problem']} samples, {rate}, depths "
             f"{_span(census, 'depth')}, widths {_span(census)}, {cfg['runs']} runs per cell; global: loss <= "
             f"{cfg['loss_tol']:g}, stationary: |grad| <= {cfg['grad_tol']:g}; the global minimum is 0 in "
             f"{int(interpolates.sum())} of {int(interpolates.count())} runs (last hidden layer of rank N at the "
             "start)")
    count = census["count"]
    counts = {c: int(count.sel(outcome_class=c).sum()) for c in census.outcome_class.values}
    resolved = counts["global_minimum"] + counts["spurious_minimum"] + counts["saddle"]
    prediction = "no run ends at a spurious local minimum, or their fraction -> 0 with width"
    if resolved == 0:
        return untestable(claim, where, f"no run reached a stationary point or the global loss within "
                          f"{cfg['max_steps']} steps", prediction, kind="limit")
    trend = _limit(census, "depth", "width", alpha)
    ran = census.n_runs > 0
    cells = "; ".join(f"depth {int(d)}: " + ", ".join(_global_share(census.sel(depth=d, width=w))
                                                      for w in census.width.values if ran.sel(depth=d, width=w))
                      for d in census.depth.values)
    others = ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in counts.items() if c != "global_minimum")
    measured = (f"runs at a global minimum per width (95% Clopper-Pearson): {cells}; elsewhere: {others}; "
                f"{trend.measured}")
    return Verdict(claim, where, measured, prediction, trend.statistic, trend.outcome, kind="limit")


def _global_share(cell: xr.Dataset) -> str:
    """``width: k/n [lo, hi]``: runs of a census cell at a global minimum, with the 95% Clopper-Pearson interval."""
    at = {"outcome_class": "global_minimum"}
    return (f"{int(cell.width)}: {int(cell['count'].sel(at))}/{int(cell.n_runs)} "
            f"[{float(cell.fraction_lo.sel(at)):.2f}, {float(cell.fraction_hi.sel(at)):.2f}]")


def _tolerance(ds: xr.Dataset) -> float:
    return json.loads(ds.attrs["config"])["loss_tolerance"]


def _span(ds: xr.Dataset, dim: str = "width") -> str:
    values = ds[dim].values
    return f"{int(values.min())}..{int(values.max())}"


KIND = Kind(table="train", schema=SCHEMA, claims=CLAIMS, figures=tuple(FIGURES), prepare=prepare, run=run,
            verdicts=verdicts)
