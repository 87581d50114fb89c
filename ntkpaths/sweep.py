"""dask orchestration of a sweep: the task grid, gathering and writing.

Cells are (input_dim, width); a task is one block of networks of one cell
(:mod:`ntkpaths.tasks`). Without a precision target every block is submitted
at once. With ``rel_se``, a :class:`ntkpaths.plan.Planner` submits blocks as
needed and stops each cell (each stream of a hybrid cell) where its
statistics reach the target, so the result depends on the per-network values
only, never on task size, worker count or completion order. Where tasks run
is :mod:`ntkpaths.execute`'s business.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from . import execute, store
from .config import NtkpathsError, SweepConfig
from .plan import EXPLICIT, IMPLICIT, Planner, block_values, stopping_count  # noqa: F401 (re-exported)
from .tasks import Task, find_device, guarded_task, peak_bytes, resolve_seed, sweep_inputs, work_seconds
from .netstats import CONTROLS, NEEDS_WEIGHTS, STAT_GROUPS

EDGE_NAMES = {name for group in NEEDS_WEIGHTS for name in STAT_GROUPS[group]} | {CONTROLS["weights"]}

Progress = Callable[[int, int], None]


def make_tasks(cfg: SweepConfig) -> list[Task]:
    """Every block of the grid in its fixed order: input dims, widths, networks."""
    step, slots = cfg.nets_per_task, cfg.network_slots
    return [Task(d, w, s, min(s + step, slots))
            for d in cfg.input_dims for w in cfg.widths for s in range(0, slots, step)]


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
    if cfg.device == "auto":
        cfg = dataclasses.replace(cfg, device=find_device())
    on_device = cfg.device in ("gpu", "jax")
    if on_device and scheduler is None and workers is None:
        scheduler = "synchronous"  # one process drives the device; dask workers would split it
    store.check_raw_memory(cfg)  # the driver holds every network's results
    execution = execute.choose(scheduler, workers, work_seconds(cfg))
    if on_device:
        check_device(cfg)
    elif execution.scheduler in (None, "synchronous"):
        check_memory(cfg, execution.workers or 1)
    for d in cfg.input_dims:  # bad input files fail here, before any output
        sweep_inputs(cfg if cfg.seed is not None else dataclasses.replace(cfg, seed=0), d)
    return execution


def check_device(cfg: SweepConfig) -> None:
    """An accelerator is there when asked for, and the largest cell fits in its memory."""
    from .jaxsetup import accelerator

    if cfg.device == "gpu" and accelerator() is None:
        raise NtkpathsError("--device gpu: JAX sees no accelerator; install jax[cuda13] on a machine with an "
                            "NVIDIA GPU, or use --device cpu")
    from .accel import check_memory as check_device_memory

    check_device_memory(cfg)


def _start(cfg: SweepConfig, path: Path | None, overwrite: bool, resume: bool):
    """Config, in-memory raw arrays, done blocks (Task -> their stopping-rule values) and inputs,
    fresh or from a store to resume."""
    if path is not None and resume and path.exists():
        cfg, raw, done, complete = store.reopen(path, cfg)
        if complete:  # its markers are gone; every block that holds data is done
            done = _finished_blocks(raw, cfg)
    else:
        cfg = resolve_seed(cfg)
        raw, done = store.empty_raw(cfg, store.sweep_raw_names(cfg)), set()
    inputs = {d: sweep_inputs(cfg, d) for d in cfg.input_dims}
    if path is not None and not done:
        store.create(path, cfg, inputs, overwrite=overwrite or resume)
    return cfg, raw, {task: _block_values(raw, cfg, task) for task in done}, inputs


def _block_values(raw: dict, cfg: SweepConfig, task: Task) -> dict[str, np.ndarray]:
    """The stopping-rule values of one finished block, read back from the raw arrays."""
    i, j = cfg.input_dims.index(task.input_dim), cfg.widths.index(task.width)
    block = {name: values[i, j, task.start:task.stop] for name, values in raw.items()}
    if task.kind == IMPLICIT:
        block.pop("weight_tz", None)
        block.pop(CONTROLS["weights"], None)
    return block_values(block)


def _finished_blocks(raw: dict, cfg: SweepConfig) -> set[Task]:
    """Blocks of a complete store: explicit up to each cell's last edge value, implicit after it."""
    done = set()
    for t in make_tasks(cfg):
        i, j = cfg.input_dims.index(t.input_dim), cfg.widths.index(t.width)
        have = ~np.isnan(raw["active_fraction"][i, j, t.start:t.stop, 0, 0])
        if cfg.sampler != "hybrid":
            if have.all():
                done.add(t)
            continue
        edges = ~np.isnan(raw["weight_tz"][i, j, :, 0])
        n_e = int(np.flatnonzero(~edges)[0]) if (~edges).any() else cfg.network_slots
        if t.start < n_e:
            done.add(dataclasses.replace(t, stop=min(t.stop, n_e), kind=EXPLICIT))
        if t.stop > n_e and have[max(n_e - t.start, 0):].all():
            done.add(dataclasses.replace(t, start=max(t.start, n_e), kind=IMPLICIT))
    return done


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
    counter = {"done": sum(t.stop - t.start for t in done)}
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
    ds.attrs |= {"method": cfg.sampler, "method_reason": cfg.sampler_reason, "device": cfg.device,
                 "variance_reduction": cfg.reduction_note or "control variates with exact means for joint_active and "
                                                             "weight_slope (their estimator attrs and "
                                                             "*_variance_factor); p_active plain (its attrs say why)"}
    if cfg.device in ("gpu", "jax"):
        from .accel import describe

        ds.attrs |= describe()
    if path is not None:
        store.finalize(path, ds)
    return ds


def _drop_surplus(raw: dict[str, np.ndarray], cfg: SweepConfig, planner: Planner) -> None:
    """Forget networks computed past where each cell's streams stop, so they never count."""
    edge_names = [n for n in raw if n in EDGE_NAMES]
    for (d, w) in planner.cells:
        i, j = cfg.input_dims.index(d), cfg.widths.index(w)
        for name, values in raw.items():
            values[i, j, planner.used_edges((d, w)) if name in edge_names else planner.used((d, w)):] = np.nan
