"""One task of a sweep: seeds, the fixed inputs, and tracing a block of networks.

Seeds: one root ``SeedSequence`` per sweep. Every network gets its own child,
addressed by ``(1, input_dim, width, network)``; the inputs of each input dim
get ``(0, input_dim)``. A child is exactly what chained ``spawn`` calls would
give (see :func:`child_seed`), but it is keyed by values, so a cell can be
replayed alone and results do not depend on task size, worker count, scheduler
or completion order.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from . import sample
from .config import MIN_NETS, NtkpathsError, SweepConfig
from .netstats import NEEDS_WEIGHTS, NetworkTracer, trace_batch

INPUTS_KEY = 0
NETWORKS_KEY = 1


@dataclass(frozen=True)
class Task:
    """Networks ``start..stop-1`` of the cell (input_dim, width), drawn by sampler ``kind``.

    ``kind`` is "explicit" or "implicit"; empty means the sweep's own sampler. A hybrid
    sweep draws a cell's first networks explicitly and the rest implicitly.
    """

    input_dim: int
    width: int
    start: int
    stop: int
    kind: str = ""

    @property
    def cell(self) -> tuple[int, int]:
        return self.input_dim, self.width

    @property
    def marker(self) -> str:
        """Name of the block's done-marker in a store."""
        return f"{self.input_dim}-{self.width}-{self.start}" + (f"-{self.kind}" if self.kind else "")


@dataclass(frozen=True)
class Inputs:
    """The fixed inputs of one input dim: main inputs and the pair inputs."""

    main: np.ndarray    # (input, feature)
    base: np.ndarray    # (feature,)
    pairs: np.ndarray   # (angle, feature)

    def columns(self, joint: bool) -> np.ndarray:
        """Every input a network sees, main inputs first, (column, feature)."""
        return np.vstack([self.main, self.base[None], self.pairs]) if joint else self.main


class TaskError(NtkpathsError):
    """A task raised; the message names the cell and its seed."""


def child_seed(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The descendant of ``root`` at spawn key ``key``.

    Equal to ``root.spawn(k0 + 1)[k0].spawn(k1 + 1)[k1]...``, without spawning
    the siblings first.
    """
    return np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key + tuple(int(k) for k in key))


def resolve_seed(cfg: SweepConfig) -> SweepConfig:
    """Fix a missing seed to fresh entropy and an automatic device to the one found, so the
    dataset records how to replay it."""
    if cfg.device == "auto":
        cfg = dataclasses.replace(cfg, device=find_device())
    if cfg.seed is not None:
        return cfg
    return dataclasses.replace(cfg, seed=int(np.random.SeedSequence().entropy))


def find_device() -> str:
    """"gpu" when JAX sees an accelerator, else "cpu"; JAX is imported only when a GPU
    or TPU plugin is installed, so CPU-only machines do not pay for it."""
    from importlib.metadata import distributions

    plugins = ("jax-cuda", "jax_cuda", "jax-rocm", "jax_rocm", "libtpu")
    if not any(d.metadata["Name"] and d.metadata["Name"].lower().startswith(plugins) for d in distributions()):
        return "cpu"
    from .jaxsetup import accelerator

    return "gpu" if accelerator() else "cpu"


def sweep_inputs(cfg: SweepConfig, dim: int) -> Inputs:
    """The inputs shared by every network of input dim ``dim``."""
    rng = np.random.default_rng(child_seed(np.random.SeedSequence(cfg.seed), INPUTS_KEY, dim))
    main = sample.sample_inputs(cfg.inputs, dim, rng=rng)
    if main.shape[1] != dim:
        raise NtkpathsError(f"input file {cfg.inputs.path} has {main.shape[1]} features, expected {dim}")
    if "joint" in cfg.stats and not np.any(main[0]):
        raise NtkpathsError("the first input is zero, so input pairs at an angle to it are undefined; "
                            "drop 'joint' from --stats or reorder the inputs")
    pairs = sample.sample_pairs(main[0], cfg.angles, rng=rng)
    return Inputs(main=main, base=main[0], pairs=pairs)


def task_config(cfg: SweepConfig, kind: str) -> SweepConfig:
    """The config one block runs under: a hybrid sweep's implicit blocks skip edge statistics."""
    if not kind:
        return cfg
    stats = cfg.stats if kind == "explicit" else tuple(s for s in cfg.stats if s not in NEEDS_WEIGHTS)
    return dataclasses.replace(cfg, method=kind, stats=stats)


def trace_network(cfg: SweepConfig, width: int, columns: np.ndarray, *, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw one network and return its raw statistics (``netstats.RAW_DIMS``)."""
    tracer = NetworkTracer(columns[: cfg.inputs.count], len(cfg.angles), cfg.stats,
                           columns=columns if cfg.reduces else None)
    widths = [width] * cfg.depth
    if cfg.sampler == "implicit":
        layers = sample.iter_layers_implicit(cfg.network, widths, columns, rng=rng, track=tracer.needs_weights)
    else:
        layers = sample.iter_layers(cfg.network, widths, columns, rng=rng, keep_weights=tracer.needs_weights)
    for layer in layers:
        tracer.add_layer(layer.z, layer.standard, layer.tracked, std=layer.std)
    return tracer.result()


def run_task(cfg: SweepConfig, task: Task, columns: np.ndarray) -> dict[str, np.ndarray]:
    """Raw statistics of one block of networks: name -> (network, ...).

    BLAS runs single-threaded: a multithreaded dot product sums in an order
    that depends on the thread count, and results must be bit-identical
    whatever the scheduler (dask workers already run BLAS on one thread).
    """
    # A fresh copy: arrays dask ships can be unaligned, and numpy's unaligned
    # loops round differently from the aligned ones.
    columns = np.array(columns, dtype=np.float64, order="C")
    cfg = task_config(cfg, task.kind)
    root = np.random.SeedSequence(cfg.seed)
    if cfg.device in ("gpu", "jax"):
        from . import accel

        keys = accel.child_keys(root, (NETWORKS_KEY, task.input_dim, task.width), range(task.start, task.stop))
        return accel.run_block(cfg, task.width, columns, keys)
    rngs = [np.random.default_rng(child_seed(root, NETWORKS_KEY, task.input_dim, task.width, net))
            for net in range(task.start, task.stop)]
    with threadpool_limits(limits=1, user_api="blas"):
        if batched(cfg, task.width):
            return _run_batched(cfg, task.width, columns, rngs)
        per_net = [trace_network(cfg, task.width, columns, rng=rng) for rng in rngs]
    return {name: np.stack([r[name] for r in per_net]) for name in per_net[0]}


BATCH_BYTES = 64 << 20  # activations held per stacked batch
BATCH_MAX_WIDTH = 1024  # measured: 2.9x faster at width 16, 2x at 256, even at 1024, slower above


def batched(cfg: SweepConfig, width: int) -> bool:
    """Implicit sampling without edge statistics runs many narrow networks per stacked call.

    Batched and per-network results are bit-identical, so this only changes speed.
    """
    edges = any(s in cfg.stats for s in NEEDS_WEIGHTS)
    normal = cfg.network.weight_dist == "normal"
    return cfg.sampler == "implicit" and normal and not edges and width <= BATCH_MAX_WIDTH


def _run_batched(cfg: SweepConfig, width: int, columns: np.ndarray, rngs: list) -> dict[str, np.ndarray]:
    """Stacked implicit draws, in batches that keep (network, neuron, column) under BATCH_BYTES.

    Each network still draws from its own generator, and every stacked operation
    treats networks independently, so results do not depend on the batch size.
    """
    size = max(1, BATCH_BYTES // (8 * 4 * width * columns.shape[0]))
    widths = [width] * cfg.depth
    stds = [cfg.network.weight_std(fan_in, n) for fan_in, n in zip([columns.shape[1], *widths[:-1]], widths)]
    parts = []
    for start in range(0, len(rngs), size):
        zs = sample.iter_layers_implicit_batch(cfg.network, widths, columns, rngs=rngs[start:start + size])
        parts.append(trace_batch(zs, cfg.inputs.count, cfg.stats, *((columns, stds) if cfg.reduces else ())))
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


# Single-core costs measured by benchmarks/bench_speed.py (depth 8, 8 inputs); only used to
# decide whether a sweep is worth a local cluster, so they need to be right within ~2x.
EXPLICIT_S_PER_WEIGHT = 9e-9   # draw one float32 normal and use it in z = W h
EDGE_STATS_FACTOR = 1.5        # edge histograms on top of the draw
IMPLICIT_S_PER_NEURON = 2e-7   # one neuron of one layer, 8 inputs
NETWORK_OVERHEAD_S = 3e-4


def network_seconds(cfg: SweepConfig, width: int, input_dim: int) -> float:
    """Estimated single-core seconds to trace one network of this cell."""
    if cfg.sampler in ("implicit", "hybrid"):  # a hybrid cell's networks are mostly implicit
        per_layer = IMPLICIT_S_PER_NEURON * width * max(1.0, cfg.inputs.count / 8) ** 2
        return NETWORK_OVERHEAD_S + cfg.depth * per_layer
    edges = EDGE_STATS_FACTOR if any(s in cfg.stats for s in NEEDS_WEIGHTS) else 1.0
    weights = width * input_dim + (cfg.depth - 1) * width * width
    return NETWORK_OVERHEAD_S + edges * EXPLICIT_S_PER_WEIGHT * weights


def expected_networks(cfg: SweepConfig, width: int) -> int:
    """Networks a cell will draw: ``nets``, or, with a precision target, the count the exact
    single-input variance of F predicts (Var F / F^2 = (1 + 1/n)^H - 1), within [MIN_NETS, max_nets]."""
    if cfg.rel_se is None:
        return cfg.nets
    rel_var = (1.0 + 1.0 / width) ** cfg.depth - 1.0
    return int(min(cfg.max_nets, max(MIN_NETS, rel_var / cfg.rel_se**2)))


SLOPE_REL_SD = 0.05  # per-network relative sd of E[t_l|Z=1] from exact sums, widths 16-1024 (measured)


def work_seconds(cfg: SweepConfig) -> float:
    """Estimated single-core seconds of a whole sweep (a hybrid cell adds its explicit networks)."""
    total = sum(expected_networks(cfg, w) * network_seconds(cfg, w, d) for d in cfg.input_dims for w in cfg.widths)
    if cfg.sampler == "hybrid":
        explicit = task_config(cfg, "explicit")
        n_e = max(MIN_NETS, (SLOPE_REL_SD / cfg.rel_se) ** 2)
        total += sum(n_e * network_seconds(explicit, w, d) for d in cfg.input_dims for w in cfg.widths)
    return total


def guarded_task(cfg: SweepConfig, task: Task, columns: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`run_task`, with any failure turned into a one-line :class:`TaskError`."""
    try:
        return run_task(cfg, task, columns)
    except Exception as exc:
        raise TaskError(
            f"task input_dim={task.input_dim} width={task.width} networks {task.start}..{task.stop - 1} "
            f"(seed {cfg.seed}) failed: {type(exc).__name__}: {exc}"
        ) from None


def peak_bytes(cfg: SweepConfig, width: int, input_dim: int) -> int:
    """Estimated peak memory of one task tracing a network of this cell.

    Explicit: one float32/64 weight matrix, and with edge statistics its
    binned copies (float32 scale, two uint16 codes, the int64 bincount input,
    a uint8 pattern). Implicit: a few (neuron, column) arrays.
    """
    columns = cfg.inputs.count + (1 + len(cfg.angles) if "joint" in cfg.stats else 0)
    fan_in = max(width, input_dim)
    if cfg.sampler == "implicit":
        return 16 * width * columns * 8 + (64 << 20)
    item = np.dtype(cfg.network.dtype).itemsize
    per_edge = item + (4 + 2 + 2 + 8 + 1 if "weights" in cfg.stats else 0)
    return width * fan_in * per_edge + 8 * width * columns * 8 + (64 << 20)
