"""The ``minima`` study kind: Theorem 4 and Safran & Shamir's fractions judged from a census.

The ``[minima]`` table configures the gaussian-teacher census; an optional
``[minima.deep]`` table adds a census of deep ntk networks, stored in the
same dataset with every name prefixed ``deep_``. Rows, at significance 0.01:

(a) limit: no spurious local minima in the NTK regime -- the spurious
    fraction falls as the network widens (a one-sided Cochran-Armitage trend
    test in log width, stratified by k or by depth), with the Clopper-Pearson
    upper bound at the widest cell;
(b) prediction: the published census of Safran, Yehudai & Shamir (2021) at
    n = k, cell by cell (two-sided Fisher exact tests of our count against
    theirs, both binomial samples), untestable where no published cell ran;
(c) every stationary end point that is not a global minimum is a saddle
    (Kawaguchi's corollary): one certified spurious minimum refutes it, judged
    at the widest cell of each k or depth (the claim is about the NTK regime);
    the count in the other over-parametrised cells is reported beside it.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..study import Kind, Study, _INT, _NUM, _STR, _list_of, _int
from ..verdict import ALPHA, Verdict, judge, untestable, z_critical
from . import reference
from .config import MinimaConfig
from .grid import preflight, run_census

CLAIMS = ("theorem4",)
FIGURES = ("outcomes", "landscape", "families")
_FIELDS = {"problem": _STR, "teachers": _list_of(_int, "integers"), "extra": _list_of(_int, "integers"),
           "max_units": _INT, "depths": _list_of(_int, "integers"), "widths": _list_of(_int, "integers"),
           "runs": _INT, "grad_tol": _NUM, "loss_tol": _NUM, "eig_tol": _NUM, "max_steps": _INT, "lr": _NUM,
           "max_halvings": _INT, "kink_band": _NUM, "n_train": _INT, "block": _INT, "seed": _INT}
SCHEMA = _FIELDS | {"deep": ((lambda v: isinstance(v, dict) and all(k in _FIELDS for k in v)),
                             f"a table with keys from: {', '.join(_FIELDS)}")}
PREFIX = "deep_"


def configs(study: Study, smoke: bool = False) -> tuple[MinimaConfig, MinimaConfig | None]:
    """The teacher census and the optional deep census of a study."""
    table = dict(study.sweep)
    over = dict(study.smoke) if smoke else {}
    deep = dict(table.pop("deep", {})) | dict(over.pop("deep", {}))
    table |= over
    teacher = _config(table)
    return teacher, (_config({"seed": teacher.seed} | deep) if deep else None)


def _config(table: dict) -> MinimaConfig:
    table = dict(table)
    for key in ("teachers", "extra", "depths", "widths"):
        if key in table:
            table[key] = tuple(table[key])
    table.setdefault("seed", 0)
    return MinimaConfig(**table)


def prepare(study: Study, smoke: bool, scheduler, workers):
    parts = configs(study, smoke)
    for cfg in parts:
        if cfg is not None:
            preflight(cfg, scheduler, workers)
    return parts


def run(study: Study, smoke: bool, scheduler, workers, progress) -> xr.Dataset:
    teacher, deep = configs(study, smoke)
    tick = (lambda label: (lambda done, total: progress(label, done, total))) if progress else (lambda label: None)
    ds = run_census(teacher, scheduler=scheduler, workers=workers, progress=tick("gaussian-teacher"))
    if deep is not None:
        ds = combine(ds, run_census(deep, scheduler=scheduler, workers=workers, progress=tick(deep.problem)))
    return ds


def combine(teacher: xr.Dataset, deep: xr.Dataset) -> xr.Dataset:
    """One dataset: the teacher census as it is, the deep census with names prefixed ``deep_``."""
    renamed = deep.rename({name: PREFIX + name for name in deep.data_vars} | {"run": "deep_run",
                                                                             "family_id": "deep_family_id"})
    out = teacher.merge(renamed.drop_vars("outcome_class"), combine_attrs="override")
    out.attrs["deep_config"] = deep.attrs["config"]
    return out


def part(ds: xr.Dataset, which: str) -> xr.Dataset | None:
    """The teacher or the deep census of a study dataset (or of a plain census), None if absent."""
    if which == "deep":
        names = [n for n in ds.data_vars if n.startswith(PREFIX)]
        if not names:
            return ds if "depth" in ds.dims and "teacher" not in ds.dims else None
        sub = ds[names].rename({n: n[len(PREFIX):] for n in names} | {"deep_run": "run", "deep_family_id": "family_id"})
        sub.attrs = dict(ds.attrs) | {"config": ds.attrs["deep_config"],
                                      "problem": json.loads(ds.attrs["deep_config"])["problem"]}
        return sub
    if "teacher" not in ds.dims:
        return None
    return ds[[n for n in ds.data_vars if not n.startswith(PREFIX)]]


# ---------------------------------------------------------------- verdicts
def verdicts(ds: xr.Dataset, claims: tuple[str, ...] = CLAIMS, alpha: float = ALPHA) -> list[Verdict]:
    if "theorem4" not in claims:
        return []
    teacher, deep = part(ds, "teacher"), part(ds, "deep")
    rows = []
    if teacher is not None:
        rows += [_limit(teacher, "teacher", "extra", alpha), *_published(teacher, alpha), _saddles(teacher, alpha)]
    if deep is not None:
        rows += [_limit(deep, "depth", "width", alpha), _saddles(deep, alpha)]
    return rows


def _spurious(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    return ds["count"].sel(outcome_class="spurious_minimum"), ds["n_runs"]


def _limit(ds: xr.Dataset, stratum: str, axis: str, alpha: float) -> Verdict:
    """Cochran-Armitage trend of the spurious fraction in log width, stratified; one-sided (falls)."""
    claim = "Theorem 4 (limit): no spurious local minima in the NTK regime -- the spurious fraction falls with width"
    hits, n = _spurious(ds)
    width = _width(ds, stratum, axis)
    where = f"{stratum} {_span(ds[stratum])}, {'n = k + extra' if axis == 'extra' else 'width'} {_span(width)}"
    num = var = 0.0
    for s in ds[stratum].values:
        x, m, t = hits.sel({stratum: s}).values, n.sel({stratum: s}).values, np.log(width.sel({stratum: s}).values)
        ok = m > 0
        x, m, t = x[ok], m[ok], t[ok]
        if ok.sum() < 2 or m.sum() == 0:
            continue
        p = x.sum() / m.sum()
        num += np.sum(t * (x - m * p))
        var += p * (1 - p) * (np.sum(m * t**2) - np.sum(m * t) ** 2 / m.sum())
    widest = _widest(ds, stratum, axis)
    if hits.sum() == 0:
        return Verdict(claim, where, f"indistinguishable from 0: no spurious minimum in {int(n.sum())} runs; {widest}",
                       "fraction -> 0", "z of the shrinkage = — (0 at every width)", "agrees", kind="limit")
    if var <= 0:
        return untestable(claim, where, "fewer than two widths in every stratum", "fraction falls", kind="limit")
    z = num / np.sqrt(var)
    crit = z_critical(2 * alpha, 1)  # one-sided at alpha
    return Verdict(claim, where, f"spurious fraction, its deviation from 0: {widest}", "fraction falls with width",
                   f"z of the shrinkage = {z:.2f} (stratified Cochran-Armitage trend in log width, one-sided, "
                   f"agrees at or below -{crit:.2f})", judge(z <= -crit), kind="limit")


def _width(ds: xr.Dataset, stratum: str, axis: str) -> xr.DataArray:
    return (ds[stratum] + ds[axis]) if axis == "extra" else ds[axis] * xr.ones_like(ds[stratum])


def _widest(ds: xr.Dataset, stratum: str, axis: str) -> str:
    parts = []
    frac, hi = ds.fraction.sel(outcome_class="spurious_minimum"), ds.fraction_hi.sel(outcome_class="spurious_minimum")
    for s in ds[stratum].values:
        ran = ds.n_runs.sel({stratum: s}) > 0
        if not ran.any():
            continue
        last = ds[axis].values[np.flatnonzero(ran.values)[-1]]
        cell = {stratum: s, axis: last}
        size = int(s + last) if axis == "extra" else int(last)
        first = ds[axis].values[np.flatnonzero(ran.values)[0]]
        parts.append(f"{stratum} {int(s)}: {float(frac.sel({stratum: s, axis: first})):.3f} at "
                     f"{'n' if axis == 'extra' else 'width'} {int(s + first) if axis == 'extra' else int(first)} -> "
                     f"{float(frac.sel(cell)):.3f} (95% upper {float(hi.sel(cell)):.3f}) at {size}")
    return "; ".join(parts)


KAWAGUCHI = "0 spurious minima (Kawaguchi 2016, under assumptions A1p-m and A5u-m)"
PUBLISHED_CLAIM = "Safran, Yehudai & Shamir (2021): fraction of runs ending at a spurious minimum"


def _published(ds: xr.Dataset, alpha: float) -> list[Verdict]:
    """Cell by cell against the published census (:mod:`ntkpaths.minima.reference`), Bonferroni over the cells run."""
    where = f"n = k; k {_span(ds.teacher)}"
    cells = [c for c in sorted(reference.PUBLISHED) if c[0] in ds.teacher and c[1] in ds.extra
             and int(ds.n_runs.sel(teacher=c[0], extra=c[1])) > 0]
    if not cells:
        return [untestable(PUBLISHED_CLAIM, where, "no published cell was run (published: n = k, k 6..30; "
                           "n = k + 1, k + 2 of Safran & Shamir 2018 are not available here)",
                           f"published fraction, cell by cell {reference.SOURCE}")]
    hits = _spurious(ds)[0]
    return [published_row(k, k + extra, int(hits.sel(teacher=k, extra=extra)),
                          int(ds.n_runs.sel(teacher=k, extra=extra)), *reference.PUBLISHED[(k, extra)],
                          alpha / len(cells)) for k, extra in cells]


def published_row(k: int, n: int, ours: int, runs: int, theirs: int, their_runs: int, threshold: float) -> Verdict:
    """Our spurious count against the published one: two binomial samples, Fisher's exact test, two-sided.

    Agrees when p >= ``threshold`` (the row's significance level, Bonferroni-corrected by the caller).
    """
    from scipy.stats import fisher_exact

    from .dataset import clopper_pearson

    p = fisher_exact([[ours, runs - ours], [theirs, their_runs - theirs]], alternative="two-sided").pvalue
    (lo, hi), (rlo, rhi) = (clopper_pearson(np.array(x), np.array(m)) for x, m in ((ours, runs), (theirs, their_runs)))
    return Verdict(PUBLISHED_CLAIM, f"k = {k}, n = {n}",
                   f"{ours}/{runs} = {100 * ours / runs:.1f}% [{100 * float(lo):.1f}, {100 * float(hi):.1f}]",
                   f"{theirs}/{their_runs} = {100 * theirs / their_runs:.1f}% [{100 * float(rlo):.1f}, "
                   f"{100 * float(rhi):.1f}] {reference.SOURCE}",
                   f"Fisher exact p = {p:.3g} (two-sided, two binomial samples; agrees at p >= {threshold:.2g})",
                   judge(p >= threshold), kind="prediction")


def _saddles(ds: xr.Dataset, alpha: float) -> Verdict:
    """Judged at the widest cell of each stratum (the claim is about the NTK regime); the other
    over-parametrised cells are reported beside it."""
    claim = "Kawaguchi's corollary (Theorem 4): every stationary end point that is not a global minimum is a saddle"
    cfg = MinimaConfig.from_dict(json.loads(ds.attrs["config"]))
    widest, over = _widest_cells(ds, cfg), _overparametrised(ds, cfg)
    spurious, saddle = (int(ds["count"].sel(outcome_class=c).where(widest).sum()) for c in ("spurious_minimum", "saddle"))
    elsewhere = int(ds["count"].sel(outcome_class="spurious_minimum").where(over & ~widest).sum())
    size = "n" if cfg.is_teacher else "width"
    where = f"the widest {size} of each {'k' if cfg.is_teacher else 'depth'}"
    context = (f"; elsewhere in over-parametrised cells ({'n > k' if cfg.is_teacher else 'parameters >= targets'}):"
               f" {elsewhere} spurious")
    if spurious + saddle == 0:
        return untestable(claim, where, "no stationary end point above the global loss" + context, KAWAGUCHI)
    worst = float(ds.hessian_min.where((ds.outcome == 1) & widest).max()) if spurious else float("nan")
    measured = (f"{spurious} spurious minima, {saddle} saddles" + (f"; largest smallest eigenvalue {worst:.3g}" if spurious
                else "") + context)
    return Verdict(claim, where, measured, KAWAGUCHI, f"{spurious} certified counter-examples",
                   judge(spurious == 0))


def _widest_cells(ds: xr.Dataset, cfg: MinimaConfig) -> xr.DataArray:
    stratum, axis = cfg.dims
    ran = ds.n_runs > 0
    last = ran[axis].where(ran).max(axis)
    return ran & (ds[axis] == last)


def _overparametrised(ds: xr.Dataset, cfg: MinimaConfig) -> xr.DataArray:
    if cfg.is_teacher:
        return ds.extra > 0
    outputs = 10 if cfg.problem == "digits" else 1
    params = 64 * ds.width + (ds.depth - 1) * ds.width**2 + ds.width * outputs
    return params >= cfg.n_train * outputs


def _span(values) -> str:
    v = np.asarray(values)
    return f"{int(v.min())}..{int(v.max())}"


KIND = Kind(table="minima", schema=SCHEMA, claims=CLAIMS, figures=FIGURES, prepare=prepare, run=run,
            verdicts=verdicts)
