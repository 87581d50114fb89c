"""dask orchestration of training runs: the (depth, width, run) grid, seeds, gathering and writing.

Every run is one task. Its seed is the root ``SeedSequence`` child keyed by
``(RUNS_KEY, depth, width, run)``, so a run can be replayed alone and results
do not depend on the scheduler, the worker count or the order runs finish in.
XLA and BLAS run on one thread inside a task, so the same seed gives
bit-identical datasets in-process, on a local cluster or on a remote one.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .. import execute
from ..config import NtkpathsError, TrainConfig
from ..store import io
from ..tasks import child_seed, find_device
from . import dataset

RUNS_KEY = 2  # seed namespace of training runs (sweeps use 0 for inputs and 1 for networks)
FLOP_RATE = 1.5e11  # float32 FLOP/s of one core in the training step (benchmarks/bench_train.py: 2.1e11)
MEASURE_STEPS = 24  # one checkpoint, NTK on all 256 training inputs: 18-24 full-batch steps at width 1024 (3-4 on 64)
RUN_OVERHEAD_S = 0.3  # Python and measurement overhead; XLA's compilation is left out (every worker pays it)


@dataclass(frozen=True)
class Run:
    depth: int
    width: int
    run: int

    @property
    def cell(self) -> tuple[int, int, int]:
        return self.depth, self.width, self.run


class TrainError(NtkpathsError):
    """A run raised; the message names it and its seed."""


def make_runs(cfg: TrainConfig) -> list[Run]:
    """Every run of the grid in its fixed order: depths, widths, runs."""
    return [Run(d, w, r) for d in cfg.depths for w in cfg.widths for r in range(cfg.runs)]


def run_seed(cfg: TrainConfig, run: Run) -> np.random.SeedSequence:
    return child_seed(np.random.SeedSequence(cfg.seed), RUNS_KEY, run.depth, run.width, run.run)


def guarded_run(cfg: TrainConfig, run: Run) -> dict[str, np.ndarray]:
    """Train one run; its arrays padded to the grid's deepest run. Failures become one line."""
    from .run import train_run

    try:
        return dataset.padded(cfg, train_run(cfg, run.depth, run.width, seed=run_seed(cfg, run),
                                             save_to=weights_path(cfg, run)))
    except NtkpathsError:
        raise
    except Exception as exc:
        raise TrainError(f"run depth={run.depth} width={run.width} run={run.run} (seed {cfg.seed}) failed: "
                         f"{type(exc).__name__}: {exc}") from None


def weights_path(cfg: TrainConfig, run: Run) -> Path | None:
    """Where ``--save-weights`` puts a run's final network (None without it)."""
    if cfg.save_weights is None:
        return None
    suffix = Path(cfg.init_from).suffix if cfg.init_from and Path(cfg.init_from).suffix in (".npz", ".safetensors") \
        else ".safetensors"
    return Path(cfg.save_weights) / f"depth{run.depth}-width{run.width}-run{run.run}{suffix}"


def step_flops(cfg: TrainConfig, depth: int, width: int, dim: int = 64, outputs: int = 10) -> float:
    """FLOPs of one full-batch step: forward and backward, 6 per weight per sample."""
    weights = dim * width + (depth - 1) * width * width + width * outputs
    return 6.0 * cfg.n_train * weights


def work_seconds(cfg: TrainConfig) -> float:
    """Estimated single-core seconds of the whole grid that more workers would share."""
    per_run = {(d, w): (cfg.steps + MEASURE_STEPS * cfg.checkpoints) * step_flops(cfg, d, w) / FLOP_RATE
               for d in cfg.depths for w in cfg.widths}
    return cfg.runs * (sum(per_run.values()) + len(per_run) * RUN_OVERHEAD_S)


def peak_bytes(cfg: TrainConfig) -> int:
    """Peak memory (RSS) of the process training the largest run, a slight overestimate.

    Calibrated against peak RSS measured with ``resource.getrusage`` (one
    run in-process, digits, 3 steps): 0.39, 0.45, 0.63 and 1.20 GiB at
    depth 2, widths 256, 1024, 2048 and 4096 (float32), 0.75 GiB at depth 3,
    width 2048, and 0.66 GiB at depth 2, width 2048 in float64. Per weight
    that is ~40 bytes of float64 numpy copies (the initial draw and its
    standard-parametrisation twin) plus ~2 copies in the training dtype; the
    rest is the interpreter with JAX and XLA (~0.4 GiB) and activations.
    The estimate lies 10-25% above every measured peak.
    """
    item = np.dtype(cfg.dtype).itemsize
    d, w = max(cfg.depths), max(cfg.widths)
    weights = 64 * w + (d - 1) * w * w + 10 * w
    return int((48 + 2 * item) * weights + 4 * cfg.n_train * w * d * 8 + (448 << 20))


def preflight(cfg: TrainConfig, scheduler: str | None, workers: int | None) -> execute.Execution:
    """Checks that need no work: where to run, and whether the largest run fits in memory."""
    if cfg.device == "gpu":
        from ..jaxsetup import accelerator

        if accelerator() is None:
            raise NtkpathsError("--device gpu: JAX sees no accelerator; install jax[cuda13] on a machine with an "
                                "NVIDIA GPU, or use --device cpu")
        if scheduler is None and workers is None:
            scheduler = "synchronous"  # one process drives the device
    execution = execute.choose(scheduler, workers, work_seconds(cfg))
    if execution.scheduler in (None, "synchronous"):
        import psutil

        budget = psutil.virtual_memory().available / (execution.workers or 1)
        if peak_bytes(cfg) > budget:
            raise NtkpathsError(f"the largest run (width {max(cfg.widths)}, depth {max(cfg.depths)}) needs "
                                f"~{peak_bytes(cfg) / 2**30:.1f} GiB per worker but only {budget / 2**30:.1f} GiB "
                                "are available; use smaller widths or fewer --workers")
    return execution


def run_training(
    cfg: TrainConfig,
    path: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_client: Callable | None = None,
) -> xr.Dataset:
    """Train every run of the grid and return the dataset, writing it to ``path`` as runs finish.

    Parameters are as for :func:`ntkpaths.run_sweep`: ``scheduler`` None runs
    in-process when the grid is too small to pay for a local cluster's
    start-up, ``"local"`` forces one, ``"synchronous"`` runs in-process, an
    address uses an existing dask cluster; ``resume`` finishes an interrupted
    store written with the same options. ``progress(done, total)`` counts runs.
    """
    path = Path(path) if path is not None else None
    execution = preflight(cfg, scheduler, workers)
    with io.locked(path) if path is not None else contextlib.nullcontext():
        cfg, raw, done = _start(cfg, path, overwrite, resume)
        runs = make_runs(cfg)

        def keep(run: Run, block: dict) -> None:
            dataset.put_run(raw, cfg, run.cell, block)
            if path is not None:
                dataset.write_run(path, cfg, run.cell, block)

        execute.run_all([r for r in runs if r.cell not in done], len(done), len(runs),
                        lambda r: (guarded_run, (cfg, r)), keep, execution, progress=progress, on_client=on_client,
                        describe=lambda r: f"run depth={r.depth} width={r.width} run={r.run} (seed {cfg.seed})")
        ds = dataset.build(cfg, raw)
        ds.attrs["execution"] = execution.note
        if path is not None:
            io.finalize(path, ds)
    return ds


def _start(cfg: TrainConfig, path: Path | None, overwrite: bool, resume: bool):
    if path is not None and resume and path.exists():
        cfg, raw, done, complete = dataset.reopen(path, cfg)
        if complete:
            done = {r.cell for r in make_runs(cfg) if not np.isnan(raw["diverged"][dataset._index(cfg, r.cell)])}
        return cfg, raw, done
    if cfg.device == "auto":
        cfg = dataclasses.replace(cfg, device=find_device())
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=int(np.random.SeedSequence().entropy))
    if path is not None:
        dataset.create(path, cfg, overwrite=overwrite or resume)
    return cfg, dataset.empty(cfg), set()
