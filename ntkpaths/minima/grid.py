"""dask orchestration of a census: cells, blocks of runs, seeds, gathering and writing.

Every run's seed is the root ``SeedSequence`` child keyed by
``(RUNS_KEY, a, b, run)`` for cell (a, b), so a run can be replayed alone.
One task is a block of ``cfg.block`` consecutive runs of one cell; it runs on
one XLA and BLAS thread, and a run takes the same row of the same jitted
program whatever block it is in (:mod:`.descent`), so the same seed gives
bit-identical datasets in-process, on a local cluster or on a remote one,
whatever the worker count or the block size.
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
from ..config import NtkpathsError
from ..store import io
from ..tasks import child_seed
from . import dataset
from .config import MinimaConfig

RUNS_KEY = 3  # seed namespace of census runs (sweeps use 0 and 1, training runs 2)
STEP_COST_S = 2e-9  # seconds per (unit pair x coordinate) of one vectorised step (benchmarks/bench_minima.py)
TYPICAL_STEPS = 2000


@dataclass(frozen=True)
class Block:
    a: int
    b: int
    start: int
    stop: int

    @property
    def cell(self) -> tuple[int, int]:
        return self.a, self.b

    @property
    def marker(self) -> str:
        return dataset.marker(self.cell, self.start)


class MinimaError(NtkpathsError):
    """A block raised; the message names it and its seed."""


def make_blocks(cfg: MinimaConfig) -> list[Block]:
    """Every block of the grid in its fixed order: cells, then runs."""
    return [Block(a, b, s, min(s + cfg.block, cfg.runs)) for a, b in cfg.cells() for s in range(0, cfg.runs, cfg.block)]


def run_seed(cfg: MinimaConfig, cell: tuple[int, int], run: int) -> np.random.SeedSequence:
    return child_seed(np.random.SeedSequence(cfg.seed), RUNS_KEY, cell[0], cell[1], run)


def guarded_block(cfg: MinimaConfig, block: Block) -> dict[str, np.ndarray]:
    """Descend and certify one block; failures become one line."""
    from .run import run_block

    try:
        return run_block(cfg, block.cell, [run_seed(cfg, block.cell, r) for r in range(block.start, block.stop)],
                         block.start)
    except NtkpathsError:
        raise
    except Exception as exc:
        names = cfg.dims
        raise MinimaError(f"runs {block.start}..{block.stop - 1} of {names[0]}={block.a} {names[1]}={block.b} "
                          f"(seed {cfg.seed}) failed: {type(exc).__name__}: {exc}") from None


def work_seconds(cfg: MinimaConfig) -> float:
    """A rough single-core estimate of the whole census (decides in-process against a local cluster)."""
    total = 0.0
    for a, b in cfg.cells():
        units, dim = (a + b, a) if cfg.is_teacher else (b, 64)
        total += cfg.runs * TYPICAL_STEPS * STEP_COST_S * units * (units + a) * dim
    return total


def preflight(cfg: MinimaConfig, scheduler: str | None, workers: int | None) -> execute.Execution:
    return execute.choose(scheduler, workers, work_seconds(cfg))


def run_census(
    cfg: MinimaConfig,
    path: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_client: Callable | None = None,
) -> xr.Dataset:
    """Run every block of the census and return the dataset, writing it to ``path`` as blocks finish.

    Parameters are as for :func:`ntkpaths.training.grid.run_training`;
    ``progress(done, total)`` counts runs.
    """
    path = Path(path) if path is not None else None
    execution = preflight(cfg, scheduler, workers)
    with io.locked(path) if path is not None else contextlib.nullcontext():
        cfg, raw, done = _start(cfg, path, overwrite, resume)
        blocks = make_blocks(cfg)

        def keep(block: Block, values: dict) -> None:
            dataset.put_block(raw, cfg, block.cell, block.start, values)
            if path is not None:
                dataset.write_block(path, cfg, block.cell, block.start, values)

        def runs(block: Block) -> int:  # progress counts runs, not blocks
            return block.stop - block.start

        execute.run_all([b for b in blocks if b.marker not in done], sum(runs(b) for b in blocks if b.marker in done),
                        sum(runs(b) for b in blocks), lambda b: (guarded_block, (cfg, b)), keep, execution,
                        size=runs, progress=progress, on_client=on_client,
                        describe=lambda b: f"runs {b.start}..{b.stop - 1} of cell {b.cell} (seed {cfg.seed})")
        ds = dataset.build(cfg, raw)
        ds.attrs["execution"] = execution.note
        if path is not None:
            io.finalize(path, ds)
    return ds


def _start(cfg: MinimaConfig, path: Path | None, overwrite: bool, resume: bool):
    if path is not None and resume and path.exists():
        cfg, raw, done, complete = dataset.reopen(path, cfg)
        if complete:
            done = {b.marker for b in make_blocks(cfg)}
        return cfg, raw, done
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=int(np.random.SeedSequence().entropy))
    if path is not None:
        dataset.create(path, cfg, overwrite=overwrite or resume)
    return cfg, dataset.empty(cfg), set()
