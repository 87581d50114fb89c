"""dask orchestration of a sweep: the task grid, seeds, gathering.

Seeds: one root ``SeedSequence`` per sweep. Every network gets its own child,
addressed by ``(1, width, network_index)``; the inputs get ``(0,)``. A child is
exactly what ``root.spawn`` chains would give (see :func:`child_seed`), but it
is keyed by the width's value, so a cell can be replayed alone and results do
not depend on task size, worker count or completion order.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import sample, store, trace
from .config import NtkpathsError, SweepConfig

INPUTS_KEY = 0
NETWORKS_KEY = 1


@dataclass(frozen=True)
class Task:
    """Networks ``start..stop-1`` of one width."""

    width: int
    start: int
    stop: int


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


def sweep_inputs(cfg: SweepConfig) -> np.ndarray:
    """The fixed inputs shared by every network of the sweep, (input, feature)."""
    rng = np.random.default_rng(child_seed(np.random.SeedSequence(cfg.seed), INPUTS_KEY))
    return sample.sample_inputs(cfg.inputs, rng=rng)


def make_tasks(cfg: SweepConfig) -> list[Task]:
    """The task grid in its fixed order: widths, then blocks of networks."""
    step = cfg.nets_per_task
    return [Task(w, s, min(s + step, cfg.nets)) for w in cfg.widths for s in range(0, cfg.nets, step)]


def run_task(cfg: SweepConfig, task: Task, x: np.ndarray) -> np.ndarray:
    """Exact active fractions for one block of networks, (network, input, depth)."""
    root = np.random.SeedSequence(cfg.seed)
    widths = [task.width] * cfg.depth
    out = np.empty((task.stop - task.start, x.shape[0], cfg.depth))
    for i, net in enumerate(range(task.start, task.stop)):
        rng = np.random.default_rng(child_seed(root, NETWORKS_KEY, task.width, net))
        layers = sample.iter_layers(cfg.network, widths, x, rng=rng)
        out[i] = trace.active_fraction(layer.z for layer in layers).T
    return out


class TaskError(NtkpathsError):
    """A task raised; the message names the cell and its seed."""


def _guarded(cfg: SweepConfig, task: Task, x: np.ndarray) -> np.ndarray:
    try:
        return run_task(cfg, task, x)
    except Exception as exc:
        raise TaskError(
            f"task width={task.width} networks {task.start}..{task.stop - 1} (seed {cfg.seed}) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _run_synchronous(cfg, tasks, x, on_done):
    results = {}
    for task in tasks:
        results[task] = _guarded(cfg, task, x)
        on_done(task)
    return results


def _run_distributed(cfg, tasks, x, on_done, scheduler, workers):
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address="127.0.0.1:0")
        client = Client(cluster)
    try:
        x_future = client.scatter(x, broadcast=True)
        futures = {client.submit(_guarded, cfg, t, x_future, pure=False): t for t in tasks}
        results = {}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            on_done(futures[fut])
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(
    cfg: SweepConfig,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[Task], None] | None = None,
) -> xr.Dataset:
    """Run a sweep and return its dataset.

    Parameters
    ----------
    cfg : SweepConfig
    scheduler : str or None
        None starts a local dask cluster of ``workers`` processes (default:
        the cores); ``"synchronous"`` runs in this process; anything else is
        the address of an existing dask scheduler, e.g. ``tcp://host:8786``.
    workers : int or None
    on_done : callable(Task), optional
        Called as each task finishes (for progress bars).

    Returns
    -------
    xarray.Dataset
        See :mod:`ntkpaths.store` for the schema.
    """
    cfg = resolve_seed(cfg)
    x = sweep_inputs(cfg)
    tasks = make_tasks(cfg)
    on_done = on_done or (lambda task: None)
    if scheduler == "synchronous":
        results = _run_synchronous(cfg, tasks, x, on_done)
    else:
        results = _run_distributed(cfg, tasks, x, on_done, scheduler, workers)
    raw = np.full((len(cfg.widths), cfg.nets, x.shape[0], cfg.depth), np.nan)
    for task, block in results.items():
        raw[cfg.widths.index(task.width), task.start:task.stop] = block
    return store.build_dataset(cfg, raw, x)
