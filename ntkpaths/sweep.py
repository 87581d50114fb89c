"""dask orchestration of a sweep: the task grid, seeds, gathering and writing.

Cells are (input_dim, width); a task is one block of networks of one cell.
Seeds: one root ``SeedSequence`` per sweep. Every network gets its own child,
addressed by ``(1, input_dim, width, network)``; the inputs of each input dim
get ``(0, input_dim)``. A child is exactly what chained ``spawn`` calls would
give (see :func:`child_seed`), but it is keyed by values, so a cell can be
replayed alone and results do not depend on task size, worker count, scheduler
or completion order.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from . import sample, store
from .config import NtkpathsError, SweepConfig
from .tracer import NetworkTracer, raw_names

INPUTS_KEY = 0
NETWORKS_KEY = 1


@dataclass(frozen=True)
class Task:
    """Networks ``start..stop-1`` of the cell (input_dim, width)."""

    input_dim: int
    width: int
    start: int
    stop: int


@dataclass(frozen=True)
class Inputs:
    """The fixed inputs of one input dim: main inputs and the pair inputs."""

    main: np.ndarray    # (input, feature)
    base: np.ndarray    # (feature,)
    pairs: np.ndarray   # (angle, feature)

    def columns(self, joint: bool) -> np.ndarray:
        """Every input a network sees, main inputs first, (column, feature)."""
        return np.vstack([self.main, self.base[None], self.pairs]) if joint else self.main


def child_seed(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The descendant of ``root`` at spawn key ``key``.

    Equal to ``root.spawn(k0 + 1)[k0].spawn(k1 + 1)[k1]...``, without spawning
    the siblings first.
    """
    return np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key + tuple(int(k) for k in key))


def resolve_seed(cfg: SweepConfig) -> SweepConfig:
    """Fix a missing seed to fresh entropy, so the dataset records how to replay it."""
    if cfg.seed is not None:
        return cfg
    return dataclasses.replace(cfg, seed=int(np.random.SeedSequence().entropy))


def sweep_inputs(cfg: SweepConfig, dim: int) -> Inputs:
    """The inputs shared by every network of input dim ``dim``."""
    rng = np.random.default_rng(child_seed(np.random.SeedSequence(cfg.seed), INPUTS_KEY, dim))
    main = sample.sample_inputs(cfg.inputs, dim, rng=rng)
    if main.shape[1] != dim:
        raise NtkpathsError(f"input file {cfg.inputs.path} has {main.shape[1]} features, expected {dim}")
    pairs = sample.sample_pairs(main[0], cfg.angles, rng=rng)
    return Inputs(main=main, base=main[0], pairs=pairs)


def make_tasks(cfg: SweepConfig) -> list[Task]:
    """The task grid in its fixed order: input dims, widths, then blocks of networks."""
    step = cfg.nets_per_task
    return [Task(d, w, s, min(s + step, cfg.nets))
            for d in cfg.input_dims for w in cfg.widths for s in range(0, cfg.nets, step)]


def trace_network(cfg: SweepConfig, width: int, columns: np.ndarray, n_main: int,
                  *, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw one network and return its raw statistics (``tracer.RAW_DIMS``)."""
    tracer = NetworkTracer(columns[:n_main], len(cfg.angles), cfg.stats)
    layers = sample.iter_layers(cfg.network, [width] * cfg.depth, columns, rng=rng,
                                keep_weights=tracer.needs_weights)
    for layer in layers:
        tracer.add_layer(layer.z, layer.standard)
    return tracer.result()


def run_task(cfg: SweepConfig, task: Task, columns: np.ndarray, n_main: int) -> dict[str, np.ndarray]:
    """Raw statistics of one block of networks: name -> (network, ...)."""
    root = np.random.SeedSequence(cfg.seed)
    per_net = []
    for net in range(task.start, task.stop):
        rng = np.random.default_rng(child_seed(root, NETWORKS_KEY, task.input_dim, task.width, net))
        per_net.append(trace_network(cfg, task.width, columns, n_main, rng=rng))
    return {name: np.stack([r[name] for r in per_net]) for name in per_net[0]}


class TaskError(NtkpathsError):
    """A task raised; the message names the cell and its seed."""


def _guarded(cfg: SweepConfig, task: Task, columns: np.ndarray, n_main: int) -> dict[str, np.ndarray]:
    try:
        return run_task(cfg, task, columns, n_main)
    except Exception as exc:
        raise TaskError(
            f"task input_dim={task.input_dim} width={task.width} networks {task.start}..{task.stop - 1} "
            f"(seed {cfg.seed}) failed: {type(exc).__name__}: {exc}"
        ) from None


def _run_synchronous(cfg, tasks, columns, n_main, on_result):
    for task in tasks:
        on_result(task, _guarded(cfg, task, columns[task.input_dim], n_main))


def _run_distributed(cfg, tasks, columns, n_main, on_result, scheduler, workers):
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address="127.0.0.1:0")
        client = Client(cluster)
    try:
        shipped = {d: client.scatter(c, broadcast=True) for d, c in columns.items()}
        futures = {client.submit(_guarded, cfg, t, shipped[t.input_dim], n_main, pure=False): t for t in tasks}
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(
    cfg: SweepConfig,
    path: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    on_done: Callable[[Task], None] | None = None,
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
        None starts a local dask cluster of ``workers`` processes (default:
        the cores); ``"synchronous"`` runs in this process; anything else is
        the address of an existing dask scheduler, e.g. ``tcp://host:8786``.
    workers : int or None
    overwrite, resume : bool
        Replace an existing store; or finish an interrupted one with the same
        options (its seed is adopted when ``cfg.seed`` is None).
    on_done : callable(Task), optional
        Called as each task finishes (for progress bars).

    Returns
    -------
    xarray.Dataset
        See :mod:`ntkpaths.store` for the schema.
    """
    tasks_of = lambda c: {(t.input_dim, t.width, t.start): t for t in make_tasks(c)}  # noqa: E731
    if path is not None and resume and Path(path).exists():
        cfg, raw, done, complete = store.reopen(Path(path), cfg)
        done = set(tasks_of(cfg)) if complete else done
    else:
        cfg = resolve_seed(cfg)
        raw, done = store.empty_raw(cfg, raw_names(cfg.stats)), set()
    inputs = {d: sweep_inputs(cfg, d) for d in cfg.input_dims}
    if path is not None and not done:
        store.create(Path(path), cfg, inputs, overwrite=overwrite or resume)
    tasks = [t for key, t in tasks_of(cfg).items() if key not in done]
    columns = {d: inp.columns("joint" in cfg.stats) for d, inp in inputs.items()}
    n_main = cfg.inputs.count

    def on_result(task: Task, block: dict[str, np.ndarray]) -> None:
        store.put_block(raw, cfg, task, block)
        if path is not None:
            store.write_block(Path(path), cfg, task, block)
        if on_done is not None:
            on_done(task)

    if scheduler == "synchronous":
        _run_synchronous(cfg, tasks, columns, n_main, on_result)
    else:
        _run_distributed(cfg, tasks, columns, n_main, on_result, scheduler, workers)
    ds = store.build_dataset(cfg, raw, inputs)
    if path is not None:
        store.finalize(Path(path), ds)
    return ds
