"""The explicit sampler and every raw statistic as jit-compiled JAX: a block of networks in, raw statistics out.

:func:`run_block` is the accelerator twin of ``tasks.run_task``: the same
networks (one ``SeedSequence`` child each), the same raw statistics
(``tracer.RAW_DIMS``), drawn and counted on JAX's default device (a GPU when
there is one; the CPU backend works too and is what the tests use). Device and
numpy streams differ, so the two agree in distribution, not draw by draw.
:func:`trace_layers` is the pure tracer, for weights and pre-activations given
from outside, e.g. the numpy sampler's, to check it against ``NetworkTracer``.

Examples
--------
>>> import numpy as np
>>> from ntkpaths import SweepConfig, accel, tasks
>>> cfg = SweepConfig(depth=3, widths=(64,), seed=0, stats=("weights",))
>>> columns = tasks.sweep_inputs(cfg, 64).columns(False)
>>> root = np.random.SeedSequence(cfg.seed)
>>> seeds = [tasks.child_seed(root, tasks.NETWORKS_KEY, 64, 64, net) for net in range(10)]
>>> raw = accel.run_block(cfg, 64, columns, seeds)
>>> raw["weight_num"].shape
(10, 3, 24)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import ConfigError, SweepConfig
from ..jaxsetup import jax, jnp
from . import block, memory, sample, trace
from .block import Plan, check_supported
from .memory import check_memory, free_bytes, pick_batch
from .sample import PRNGS, default_prng
from .trace import Counting

__all__ = [
    # running blocks of networks
    "run_block",
    "trace_layers",
    "describe",
    # memory
    "pick_batch",
    "check_memory",
    "free_bytes",
    # random streams
    "PRNGS",
    "default_prng",
]


def _onehot_dtype(platform: str) -> str:
    """bfloat16 one-hots feed tensor cores; XLA's CPU backend is faster with float32."""
    return "float32" if platform == "cpu" else "bfloat16"


def make_plan(cfg: SweepConfig, width: int, columns: np.ndarray, batch: int, prng: str | None = None) -> Plan:
    """The static description of a block of ``batch`` networks of one cell (see :class:`block.Plan`)."""
    check_supported(cfg)
    prng = prng or default_prng()
    if prng not in PRNGS:
        raise ConfigError(f"unknown prng {prng!r}; choose one of: {', '.join(PRNGS)}")
    n_angles = len(cfg.angles) if "joint" in cfg.stats else 0
    if columns.shape[0] != cfg.inputs.count + (1 + n_angles if n_angles else 0):
        raise ConfigError(f"got {columns.shape[0]} input columns, expected {cfg.inputs.count} inputs"
                          + (f" and {1 + n_angles} pair columns" if n_angles else ""))
    platform = jax.default_backend()
    onehot = _onehot_dtype(platform)
    first_rows, hidden_rows = memory.row_blocks(cfg, width, columns.shape[1], batch,
                                                np.dtype(jnp.dtype(onehot)).itemsize, platform)
    how = Counting(cfg.inputs.count, n_angles, cfg.stats, onehot, first_rows, hidden_rows)
    return Plan(width, columns.shape[1], cfg.depth, columns.shape[0], cfg.network, prng, how)


def run_block(cfg: SweepConfig, width: int, columns: np.ndarray, seeds: Sequence[np.random.SeedSequence], *,
              batch: int | None = None, prng: str | None = None) -> dict[str, np.ndarray]:
    """Raw statistics of a block of explicitly drawn networks, on JAX's default device.

    Parameters
    ----------
    cfg : SweepConfig
        Depth, network family, inputs, statistics. Its ``method`` is "explicit"
        or "auto" (the accelerator always draws every weight); float32 only.
    width : int
        Hidden width of every layer.
    columns : ndarray (column, feature)
        Every input the networks see: the main inputs, then (with "joint") the
        pair base and one column per angle, as ``tasks.Inputs.columns`` gives.
    seeds : sequence of SeedSequence
        One per network (``tasks.child_seed(root, NETWORKS_KEY, input_dim, width, net)``);
        network m's key is ``seeds[m].generate_state(2)``, whatever the batch.
    batch : int, optional
        Networks per compiled call; by default :func:`pick_batch` from free device memory.
    prng : {"threefry", "philox"}, optional
        Counter-based hash of the weights; by default :func:`default_prng` for the device.

    Returns
    -------
    dict
        name -> ndarray (network, ...), dims as ``tracer.RAW_DIMS``, exactly the
        variables ``tasks.run_task`` returns for ``cfg.stats``.
    """
    batch = batch or pick_batch(cfg, width, columns.shape[1])
    batch = max(1, min(int(batch), len(seeds)))
    plan = make_plan(cfg, width, columns, batch, prng)
    counts = block.run_keys(plan, sample.network_keys(seeds), np.asarray(columns, np.float64), batch)
    return trace.finish(counts, np.asarray(columns[: cfg.inputs.count], np.float64), [width] * cfg.depth, plan.how)


def describe(prng: str | None = None) -> dict[str, str]:
    """Dataset attrs recording how the accelerator drew and counted (device, hash, sampler)."""
    device = jax.devices()[0]
    return {"accel_device": f"{device.platform}:{getattr(device, 'device_kind', device.platform)}",
            "accel_prng": prng or default_prng(), "accel_sampler": "explicit",
            "accel_normals": "Box-Muller from counter-based hash words"}


@jax.jit
def _matmul(a, b):
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


_first_counts = jax.jit(trace.first_counts, static_argnames="how")
_hidden_counts = jax.jit(trace.hidden_counts, static_argnames="how")


def trace_layers(x: np.ndarray, zs: Sequence[np.ndarray], standards: Sequence[np.ndarray] | None = None,
                 n_angles: int = 0, stats: tuple[str, ...] = (), *, onehot: str | None = None,
                 rows: int | None = None) -> dict[str, np.ndarray]:
    """Raw statistics of one network from given layers, on the device: ``NetworkTracer``'s twin.

    Parameters
    ----------
    x : ndarray (input, feature)
        The main inputs (columns ``0..B-1`` of every z).
    zs : sequence of ndarray (neuron, column)
        Pre-activations of hidden layers 1..H (main inputs, then pair base and pairs).
    standards : sequence of ndarray (neuron, fan_in), optional
        Standardised weights t of every layer (float32); needed for "weights" and "inputs".
    n_angles : int
    stats : tuple of str
        Statistic groups beyond ``paths``.
    onehot : str, optional
        dtype of the one-hot bins (default: the device's).
    rows : int, optional
        Rows per histogram block (default: whole layers).

    Returns
    -------
    dict
        name -> ndarray, dims as ``tracer.RAW_DIMS`` without ``network``.
    """
    stats = tuple(s for s in ("weights", "inputs", "joint") if s in stats)
    how = Counting(len(x), n_angles, stats, onehot or _onehot_dtype(jax.default_backend()),
                   rows or 1 << 30, rows or 1 << 30)
    x = np.asarray(x, np.float64)
    consts = {k: jnp.asarray(v) for k, v in trace.first_inputs(x).items()}
    es = [None] * len(zs) if standards is None else [jnp.asarray(e, jnp.float32) for e in standards]
    z = jnp.asarray(zs[0], jnp.float32)
    u = _matmul(es[0], consts["sign"]) if how.edges else None
    first = _first_counts(es[0], z, u, consts, how=how)
    hidden = []
    for e, z_prev, z in zip(es[1:], zs[:-1], zs[1:]):
        on_prev = jnp.asarray(z_prev)[:, : len(x)] > 0
        u = _matmul(e, on_prev.astype(jnp.float32)) if how.hidden_edges else None
        counts = _hidden_counts(e, jnp.asarray(z, jnp.float32), u, on_prev, how=how)
        hidden.append({k: np.asarray(v).sum(axis=0, keepdims=True, dtype=np.int64) if k.startswith("t_")
                       else np.asarray(v) for k, v in counts.items()})   # row blocks differ between widths
    stacked = jax.tree.map(lambda *a: np.stack([np.asarray(v) for v in a])[None], *hidden) if hidden else {}
    counts = trace.stack_layers(jax.tree.map(lambda a: np.asarray(a)[None], first), stacked, how)
    return {k: v[0] for k, v in trace.finish(counts, x, [z.shape[0] for z in zs], how).items()}
