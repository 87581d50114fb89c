"""dask orchestration of a sweep: the task grid, gathering and writing.

Cells are (input_dim, width); a task is one block of networks of one cell
(:mod:`ntkpaths.tasks`). Without a precision target every block is submitted
at once. With ``rel_se``, a :class:`Planner` submits blocks as needed and
stops a cell at the first network count n >= MIN_NETS whose prefix reaches
the target, so the result depends on the per-network values only, never on
task size, worker count or completion order.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from . import execute, store
from .config import MIN_NETS, NtkpathsError, SweepConfig
from .tasks import Task, guarded_task, peak_bytes, resolve_seed, sweep_inputs, work_seconds
from .tracer import raw_names

Progress = Callable[[int, int], None]


def make_tasks(cfg: SweepConfig) -> list[Task]:
    """Every block of the grid in its fixed order: input dims, widths, networks."""
    step, slots = cfg.nets_per_task, cfg.network_slots
    return [Task(d, w, s, min(s + step, slots))
            for d in cfg.input_dims for w in cfg.widths for s in range(0, slots, step)]


def stopping_count(values: np.ndarray, target: float) -> int | None:
    """First n >= MIN_NETS with se(values[:n]) / mean(values[:n]) <= target, or None.

    ``values`` are per-network means of F at the largest depth, in network order.
    """
    n = np.arange(1, len(values) + 1)
    s1, s2 = np.cumsum(values), np.cumsum(values**2)
    mean = s1 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - n * mean**2) / (n - 1)
        rel = np.sqrt(np.maximum(var, 0) / n) / mean
    ok = np.flatnonzero((n >= MIN_NETS) & (rel <= target))
    return int(n[ok[0]]) if ok.size else None


class Planner:
    """Which blocks to run next, and where each cell stops.

    Parameters
    ----------
    cfg : SweepConfig
    done : dict
        Blocks already finished (resume), keyed by (input_dim, width, start),
        with the per-network values of their block.
    """

    def __init__(self, cfg: SweepConfig, done: dict[tuple, np.ndarray]):
        self.cfg = cfg
        self.blocks = {cell: [t for t in make_tasks(cfg) if t.cell == cell]
                       for cell in ((d, w) for d in cfg.input_dims for w in cfg.widths)}
        self.values = {cell: np.full(cfg.network_slots, np.nan) for cell in self.blocks}
        self.queued: set[tuple] = set(done)
        self.stop: dict[tuple, int] = {}
        for (d, w, start), vals in done.items():
            self.values[(d, w)][start:start + len(vals)] = vals
        for cell in self.blocks:
            self._update(cell)

    def _key(self, t: Task) -> tuple:
        return (t.input_dim, t.width, t.start)

    def _prefix(self, cell) -> int:
        """Networks 0..k-1 all finished."""
        missing = np.flatnonzero(np.isnan(self.values[cell]))
        return int(missing[0]) if missing.size else self.cfg.network_slots

    def _update(self, cell) -> None:
        if self.cfg.rel_se is None:
            return
        n = stopping_count(self.values[cell][: self._prefix(cell)], self.cfg.rel_se)
        if n is not None:
            self.stop[cell] = n
        elif self._prefix(cell) == self.cfg.network_slots:
            self.stop[cell] = self.cfg.network_slots

    def _wanted_count(self, cell) -> int:
        """Networks this cell should have submitted by now."""
        cfg = self.cfg
        if cfg.rel_se is None:
            return cfg.network_slots
        if cell in self.stop:
            return self.stop[cell]
        k = self._prefix(cell)
        vals = self.values[cell][:k]
        if k < 2 or vals.mean() <= 0:
            return max(MIN_NETS, 2 * k)
        rel = vals.std(ddof=1) / math.sqrt(k) / vals.mean()
        guess = int(k * (rel / cfg.rel_se) ** 2 * 1.1) + cfg.nets_per_task
        return min(cfg.network_slots, max(MIN_NETS, guess, k + cfg.nets_per_task))

    def next_tasks(self) -> list[Task]:
        """Blocks to submit now (each at most once)."""
        out = []
        for cell, blocks in self.blocks.items():
            limit = self._wanted_count(cell)
            for t in blocks:
                if t.start < limit and self._key(t) not in self.queued:
                    self.queued.add(self._key(t))
                    out.append(t)
        return out

    def record(self, task: Task, block: dict[str, np.ndarray]) -> None:
        """Take a finished block."""
        f = block["active_fraction"][:, :, -1].mean(axis=1)
        self.values[task.cell][task.start:task.stop] = f
        self._update(task.cell)

    def wanted(self, task: Task) -> bool:
        """False once the task's cell has stopped before the task's networks."""
        return task.start < self.stop.get(task.cell, self.cfg.network_slots)

    def planned(self) -> int:
        """Networks the plan currently needs in total (for progress bars)."""
        return sum(min(self._wanted_count(c), self.cfg.network_slots) for c in self.blocks)

    def used(self, cell) -> int:
        """Networks kept for a cell."""
        return self.stop.get(cell, self.cfg.network_slots)


def check_memory(cfg: SweepConfig, workers: int, available: int | None = None) -> None:
    """Refuse, before any work, a sweep whose largest cell would not fit in memory."""
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    budget = available / max(workers, 1)
    need, width = max((peak_bytes(cfg, w, d), w) for w in cfg.widths for d in cfg.input_dims)
    if need > budget:
        hint = "--method implicit or smaller widths" if cfg.sampler == "explicit" else "smaller widths"
        raise NtkpathsError(
            f"width {width} needs ~{need / 2**30:.1f} GiB per worker ({cfg.sampler} method) but only "
            f"{budget / 2**30:.1f} GiB are available per worker; use {hint}, or fewer --workers")


def preflight(cfg: SweepConfig, scheduler: str | None, workers: int | None) -> execute.Execution:
    """Checks that need no work (the scheduler's form, memory, input files); returns where to run."""
    execution = execute.choose(scheduler, workers, work_seconds(cfg))
    if execution.scheduler in (None, "synchronous"):
        check_memory(cfg, execution.workers or 1)
    for d in cfg.input_dims:  # bad input files fail here, before any output
        sweep_inputs(cfg if cfg.seed is not None else dataclasses.replace(cfg, seed=0), d)
    return execution


def _start(cfg: SweepConfig, path: Path | None, overwrite: bool, resume: bool):
    """Config, in-memory raw arrays, done blocks and inputs, fresh or from a store to resume."""
    if path is not None and resume and path.exists():
        cfg, raw, done, complete = store.reopen(path, cfg)
        if complete:  # its markers are gone; every block that holds data is done
            done = {(t.input_dim, t.width, t.start) for t in make_tasks(cfg)
                    if not np.isnan(_block_values(raw, cfg, t.input_dim, t.width, t.start)).any()}
    else:
        cfg = resolve_seed(cfg)
        raw, done = store.empty_raw(cfg, raw_names(cfg.stats)), set()
    inputs = {d: sweep_inputs(cfg, d) for d in cfg.input_dims}
    if path is not None and not done:
        store.create(path, cfg, inputs, overwrite=overwrite or resume)
    return cfg, raw, {key: _block_values(raw, cfg, *key) for key in done}, inputs


def _block_values(raw: dict, cfg: SweepConfig, d: int, w: int, start: int) -> np.ndarray:
    """Per-network mean F at the largest depth for one block."""
    stop = min(start + cfg.nets_per_task, cfg.network_slots)
    f = raw["active_fraction"][cfg.input_dims.index(d), cfg.widths.index(w), start:stop, :, -1]
    return f.mean(axis=1)


def run_sweep(
    cfg: SweepConfig,
    path: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
    on_client: Callable | None = None,
) -> xr.Dataset:
    """Run a sweep and return its dataset, writing it to ``path`` as it goes.

    Parameters
    ----------
    cfg : SweepConfig
    path : path or None
        A ``.zarr`` store; finished blocks are written as they arrive, so an
        interrupted sweep can be finished with ``resume=True``. None keeps
        everything in memory.
    scheduler : str or None
        None runs in this process when the sweep is too small for a local
        cluster to pay for its start-up, else on a local dask cluster;
        ``"local"`` always starts a local cluster of ``workers`` processes
        (default: the cores); ``"synchronous"`` runs in this process;
        anything else is the address of an existing dask scheduler, e.g.
        ``tcp://host:8786``. Results are bit-identical whichever is used;
        the dataset's ``execution`` attr says which.
    workers : int or None
        Local cluster size; giving it asks for a local cluster.
    overwrite, resume : bool
        Replace an existing store; or finish an interrupted one with the same
        options (its seed is adopted when ``cfg.seed`` is None).
    progress : callable(done, total), optional
        Networks finished and networks planned so far (the plan can change
        with a precision target).
    on_client : callable(distributed.Client), optional
        Called once the dask client is up (e.g. to print the dashboard link).

    Returns
    -------
    xarray.Dataset
        See :mod:`ntkpaths.store` for the schema.
    """
    path = Path(path) if path is not None else None
    execution = preflight(cfg, scheduler, workers)
    with store.locked(path) if path is not None else contextlib.nullcontext():
        return _run(cfg, path, overwrite, resume, execution, progress, on_client)


def _run(cfg, path, overwrite, resume, execution, progress, on_client) -> xr.Dataset:
    cfg, raw, done, inputs = _start(cfg, path, overwrite, resume)
    planner = Planner(cfg, done)
    columns = {d: inp.columns("joint" in cfg.stats) for d, inp in inputs.items()}
    counter = {"done": sum(len(v) for v in done.values())}
    if progress is not None:
        progress(counter["done"], max(planner.planned(), counter["done"]))

    def on_result(task: Task, block: dict[str, np.ndarray]) -> None:
        store.put_block(raw, cfg, task, block)
        if path is not None:
            store.write_block(path, cfg, task, block)
        planner.record(task, block)
        counter["done"] += task.stop - task.start
        if progress is not None:
            progress(counter["done"], max(planner.planned(), counter["done"]))

    execute.run(planner, lambda t: (guarded_task, (cfg, t, columns[t.input_dim])), on_result, execution,
                describe=lambda t: f"task input_dim={t.input_dim} width={t.width} networks "
                                   f"{t.start}..{t.stop - 1} (seed {cfg.seed})",
                on_client=on_client)
    _drop_surplus(raw, cfg, planner)
    ds = store.build_dataset(cfg, raw, inputs)
    ds.attrs["execution"] = execution.note
    if path is not None:
        store.finalize(path, ds)
    return ds


def _drop_surplus(raw: dict[str, np.ndarray], cfg: SweepConfig, planner: Planner) -> None:
    """Forget networks computed past a cell's stopping point, so they never count."""
    for (d, w) in planner.blocks:
        n = planner.used((d, w))
        for values in raw.values():
            values[cfg.input_dims.index(d), cfg.widths.index(w), n:] = np.nan
