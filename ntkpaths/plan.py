"""Which blocks of networks a sweep runs, and where each cell stops.

Without a precision target every block of ``nets`` networks is run. With
``rel_se``, a cell stops at the first network count n >= MIN_NETS at which
every requested statistic's relative standard error over networks 0..n-1 is
at most the target: P(path active) at the largest depth, the joint
activation at the largest depth (every angle) and E[t_l | Z=1] (every
layer). The stopping point depends on the per-network values only, never on
task size, worker count or completion order.

A hybrid cell has two streams. Its first networks are drawn explicitly until
E[t_l | Z=1] reaches the target (count n_e); from n_e on networks are drawn
implicitly, for P(path active) and the joint activation only, until those
reach it over all networks 0..n-1 (count n >= n_e). Explicit values past n_e,
drawn while n_e was not yet known, are discarded.
"""
from __future__ import annotations

import math

import numpy as np

from . import reduce
from .config import MIN_NETS, SweepConfig
from .tasks import Task

EXPLICIT, IMPLICIT = "explicit", "implicit"


# ---------------------------------------------------------------- stopping rules
def mean_rel_se(values: np.ndarray) -> np.ndarray:
    """Relative se of the mean of values[:n] for every prefix n, (n,) or (n, k) -> same shape."""
    n = np.arange(1, len(values) + 1).reshape((-1,) + (1,) * (values.ndim - 1))
    s1, s2 = np.cumsum(values, axis=0), np.cumsum(values**2, axis=0)
    mean = s1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - n * mean**2) / (n - 1)
        return np.sqrt(np.maximum(var, 0) / n) / mean


def ratio_rel_se(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Relative se of sum(num[:n]) / sum(den[:n]) for every prefix n (delta method, as
    :func:`ntkpaths.aggregate.ratio_of_means`); num (n, k), den (n,) -> (n, k)."""
    n = np.arange(1, len(num) + 1)[:, None]
    den = den[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mt, mf = np.cumsum(num, 0) / n, np.cumsum(den, 0) / n
        vt = (np.cumsum(num**2, 0) - n * mt**2) / (n - 1)
        vf = (np.cumsum(den**2, 0) - n * mf**2) / (n - 1)
        cov = (np.cumsum(num * den, 0) - n * mt * mf) / (n - 1)
        var = vt / mt**2 + vf / mf**2 - 2 * cov / (mt * mf)
        return np.sqrt(np.maximum(var, 0) / n)


def first_reached(rel: list[np.ndarray], target: float, start: int = MIN_NETS) -> int | None:
    """First n >= start at which every relative se in ``rel`` (prefix arrays) is at most ``target``."""
    if not rel:
        return None
    ok = np.ones(len(rel[0]), dtype=bool)
    for r in rel:
        ok &= np.all((r <= target) & np.isfinite(r), axis=tuple(range(1, r.ndim)))
    n = np.arange(1, len(ok) + 1)
    hits = np.flatnonzero(ok & (n >= start))
    return int(n[hits[0]]) if hits.size else None


def stopping_count(values: np.ndarray, target: float) -> int | None:
    """First n >= MIN_NETS with se(values[:n]) / mean(values[:n]) <= target, or None."""
    return first_reached([mean_rel_se(values)], target)


def block_values(block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-network values the stopping rules read, from a block's raw statistics."""
    deep = block["active_fraction"][:, :, -1]
    out = {"p": deep.mean(axis=1), "f": deep.sum(axis=1)}
    if "joint_fraction" in block:
        out["joint"] = block["joint_fraction"][:, :, -1]
    if "weight_tz" in block:
        out["tz"] = block["weight_tz"]
    if "joint_control" in block:   # (network, angle, layer * control): the deepest depth uses every layer
        out["jc"] = block["joint_control"].reshape(*block["joint_control"].shape[:2], -1)
    if "slope_control" in block:
        out["sc"] = block["slope_control"].reshape(len(block["slope_control"]), -1)
    return out


class ReducedRelSe:
    """Relative se of a statistic over every prefix of networks, reduced where controls apply.

    With controls, values exist only at multiples of ``reduce.GRID`` (NaN elsewhere), so a
    cell stops only there; below ``reduce.min_networks`` they are the plain estimate's.
    Results are kept, and only new grid points are computed as networks arrive.
    """

    def __init__(self):
        self.done: dict[tuple, np.ndarray] = {}

    def get(self, key, num: np.ndarray, den: np.ndarray | None, X: np.ndarray) -> np.ndarray:
        k = len(num)
        old = self.done.get(key, np.empty(0))[:k]
        grid = np.arange(reduce.GRID, k + 1, reduce.GRID)
        new = grid[grid > len(old)]
        rel = np.full(k, np.nan)
        rel[: len(old)] = old
        if new.size:
            r = reduce.prefix_estimates(num, den, X, new)
            with np.errstate(invalid="ignore", divide="ignore"):
                rel[new - 1] = np.where(np.isfinite(r["reduced"]), r["reduced_se"] / np.abs(r["reduced"]),
                                        r["plain_se"] / np.abs(r["plain"]))
        self.done[key] = rel
        return rel


# ---------------------------------------------------------------- the planner
class Planner:
    """Which blocks to run next, and where each cell stops.

    Parameters
    ----------
    cfg : SweepConfig
    done : dict
        Blocks already finished (resume): Task -> :func:`block_values` of its block.
    """

    def __init__(self, cfg: SweepConfig, done: dict[Task, dict[str, np.ndarray]]):
        self.cfg = cfg
        self.hybrid = cfg.sampler == "hybrid"
        # controls stop a cell only on the reduce.GRID; a depth-1 joint activation stays plain
        self.reduced = cfg.reduces and (cfg.depth >= 2 or "weights" in cfg.stats)
        self.rel_cache = ReducedRelSe()
        cells = [(d, w) for d in cfg.input_dims for w in cfg.widths]
        self.values = {cell: self._empty() for cell in cells}
        self.edges: dict[tuple, int] = {}   # hybrid: n_e, where the explicit stream stops
        self.stop: dict[tuple, int] = {}
        self.queued: set[Task] = set(done)
        # explicit blocks first: they fix n_e, which discards explicit networks past it; only then the
        # implicit blocks, which replace those networks
        for implicit in (False, True):
            for task in [t for t in done if (t.kind == IMPLICIT) == implicit]:
                self._take(task, done[task])
            for cell in cells:
                self._update(cell)

    def _empty(self) -> dict[str, np.ndarray]:
        slots, cfg = self.cfg.network_slots, self.cfg
        out = {"p": np.full(slots, np.nan), "f": np.full(slots, np.nan)}
        if "joint" in cfg.stats:
            out["joint"] = np.full((slots, len(cfg.angles)), np.nan)
        if "weights" in cfg.stats:
            out["tz"] = np.full((slots, cfg.depth), np.nan)
        if self.reduced and "joint" in cfg.stats:
            out["jc"] = np.full((slots, len(cfg.angles), 4 * cfg.depth), np.nan)
        if self.reduced and "weights" in cfg.stats:
            out["sc"] = np.full((slots, 2 * cfg.depth), np.nan)
        return out

    # ---- which blocks exist
    def blocks(self, cell) -> list[Task]:
        """The cell's blocks on its current plan (hybrid: explicit up to n_e, implicit after it)."""
        d, w = cell
        step, slots = self.cfg.nets_per_task, self.cfg.network_slots
        if not self.hybrid:
            return [Task(d, w, s, min(s + step, slots)) for s in range(0, slots, step)]
        n_e = self.edges.get(cell)
        explicit = [Task(d, w, s, min(s + step, slots), EXPLICIT) for s in range(0, n_e or slots, step)]
        if n_e is None:
            return explicit
        starts = [n_e] + list(range((n_e // step + 1) * step, slots, step))
        return explicit + [Task(d, w, s, min((s // step + 1) * step, slots), IMPLICIT) for s in starts if s < slots]

    @property
    def cells(self) -> list[tuple]:
        return list(self.values)

    # ---- taking results
    def record(self, task: Task, block: dict[str, np.ndarray]) -> None:
        """Take a finished block."""
        self._take(task, block_values(block))
        self._update(task.cell)

    def _take(self, task: Task, values: dict[str, np.ndarray]) -> None:
        cell, vals = task.cell, self.values[task.cell]
        stop = task.stop
        if task.kind == EXPLICIT and cell in self.edges:
            stop = min(stop, self.edges[cell])  # networks past n_e are the implicit stream's
        keep = slice(0, max(stop - task.start, 0))
        for name, v in values.items():
            if name in vals:
                vals[name][task.start:stop] = v[keep]

    def _prefix(self, cell, name: str = "p") -> int:
        """Networks 0..k-1 all finished (for ``name``)."""
        v = self.values[cell][name]
        missing = np.flatnonzero(np.isnan(v.reshape(len(v), -1)).any(axis=1))
        return int(missing[0]) if missing.size else self.cfg.network_slots

    def _update(self, cell) -> None:
        cfg, vals = self.cfg, self.values[cell]
        if cfg.rel_se is None:
            return
        if self.hybrid and cell not in self.edges:
            k = self._prefix(cell, "tz")
            n_e = first_reached(self._slope_rel(cell, k), cfg.rel_se)
            if n_e is None and k < cfg.network_slots:
                return
            self.edges[cell] = n_e or cfg.network_slots
            for name in ("p", "f", "joint", "jc"):  # explicit networks past n_e do not count
                if name in vals:
                    vals[name][self.edges[cell]:] = np.nan
        k = self._prefix(cell)
        n = first_reached(self._paths_rel(cell, k), cfg.rel_se, max(MIN_NETS, self.edges.get(cell, 0)))
        if n is not None:
            self.stop[cell] = n
        elif k == cfg.network_slots:
            self.stop[cell] = cfg.network_slots

    def _paths_rel(self, cell, k: int) -> list[np.ndarray]:
        vals = self.values[cell]
        rel = [self._on_grid(mean_rel_se(vals["p"][:k]))]
        if "jc" in vals and self.cfg.depth >= 2:
            rel.append(np.stack([self.rel_cache.get((cell, "joint", a), vals["joint"][:k, a], None, vals["jc"][:k, a])
                                 for a in range(vals["joint"].shape[1])], axis=1))
        elif "joint" in vals:
            rel.append(self._on_grid(mean_rel_se(vals["joint"][:k])))
        if "tz" in vals and not self.hybrid:
            rel.extend(self._slope_rel(cell, k))
        return rel

    def _slope_rel(self, cell, k: int) -> list[np.ndarray]:
        vals = self.values[cell]
        if "sc" not in vals:
            return [self._on_grid(ratio_rel_se(vals["tz"][:k], vals["f"][:k]))]
        return [np.stack([self.rel_cache.get((cell, "slope", l), vals["tz"][:k, l], vals["f"][:k], vals["sc"][:k])
                          for l in range(vals["tz"].shape[1])], axis=1)]

    def _on_grid(self, rel: np.ndarray) -> np.ndarray:
        """With controls a cell stops only at multiples of reduce.GRID: NaN elsewhere."""
        if not self.reduced:
            return rel
        out = np.full_like(rel, np.nan)
        out[reduce.GRID - 1::reduce.GRID] = rel[reduce.GRID - 1::reduce.GRID]
        return out

    # ---- what to run next
    def _guess(self, rel: list[np.ndarray], k: int) -> int:
        """Networks needed, from the relative se reached by the first k (with 10% to spare)."""
        last = [r[np.flatnonzero(np.isfinite(r.reshape(len(r), -1)).any(axis=1))[-1]] for r in rel
                if k >= 2 and np.isfinite(r).any()]
        worst = max((float(np.nanmax(r)) for r in last), default=math.inf)
        if not math.isfinite(worst):
            return max(MIN_NETS, 2 * k)
        return int(k * (worst / self.cfg.rel_se) ** 2 * 1.1) + self.cfg.nets_per_task

    def _wanted_count(self, cell) -> int:
        """Networks this cell should have submitted by now."""
        cfg = self.cfg
        if cfg.rel_se is None:
            return cfg.network_slots
        if cell in self.stop:
            return self.stop[cell]
        vals = self.values[cell]
        if self.hybrid and cell not in self.edges:
            k = self._prefix(cell, "tz")
            floor = reduce.min_networks(vals["sc"].shape[1]) if "sc" in vals else 0
            # below the regression's minimum only the plain se is known, which overstates the need
            guess = floor if k < floor else self._guess(self._slope_rel(cell, k), k)
        else:
            k = self._prefix(cell)
            floor = reduce.min_networks(vals["jc"].shape[2]) if "jc" in vals and self.cfg.depth >= 2 else 0
            guess = self._guess(self._paths_rel(cell, k), k)
            if k < floor:   # P(active) stays plain: its guess still counts
                guess = max(floor, self._guess([self._on_grid(mean_rel_se(vals["p"][:k]))], k))
        return min(cfg.network_slots, max(MIN_NETS, guess, k + cfg.nets_per_task))

    def next_tasks(self) -> list[Task]:
        """Blocks to submit now (each at most once)."""
        out = []
        for cell in self.cells:
            limit = self._wanted_count(cell)
            for t in self.blocks(cell):
                if t.start < limit and t not in self.queued:
                    self.queued.add(t)
                    out.append(t)
        return out

    def wanted(self, task: Task) -> bool:
        """False once the task's networks are past where its stream stops."""
        if task.kind == EXPLICIT and task.cell in self.edges:
            return task.start < self.edges[task.cell]
        return task.start < self.stop.get(task.cell, self.cfg.network_slots)

    def planned(self) -> int:
        """Networks the plan currently needs in total (for progress bars)."""
        return sum(min(self._wanted_count(c), self.cfg.network_slots) for c in self.cells)

    def used(self, cell) -> int:
        """Networks kept for a cell."""
        return self.stop.get(cell, self.cfg.network_slots)

    def used_edges(self, cell) -> int:
        """Networks whose edge statistics are kept (hybrid: n_e; else every network used)."""
        return min(self.edges.get(cell, self.cfg.network_slots), self.used(cell))
