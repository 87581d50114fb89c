"""A block of explicit networks on the accelerator: draw, forward and count, jit-compiled over batches.

One network is a pure function of its key (:func:`_network`), vmapped over a
batch of keys and jit-compiled once per (plan, batch). Layers 2..H share one
compiled body (a ``lax.scan``), so compile time does not grow with depth, and
only one layer's weights exist at a time. Per layer, one matrix product gives
both the pre-activations and, when edge statistics are asked for, e @ on_prev
(the sum of path weights with both ends on), so the weights are read once for
the forward pass; the histograms read them once more, block of rows by block.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import ConfigError, NetworkConfig, SweepConfig
from ..jaxsetup import jax, jnp
from . import memory, sample, trace
from .trace import Counting

lax = jax.lax


@dataclass(frozen=True)
class Plan:
    """Everything static about a block: shapes, the network family, the hash and what to count."""

    width: int
    input_dim: int
    depth: int
    n_columns: int
    network: NetworkConfig
    prng: str
    how: Counting

    def std(self, fan_in: int) -> float:
        return self.network.weight_std(fan_in, self.width)


def check_supported(cfg: SweepConfig) -> None:
    """Refuse, in one line, what the accelerator path does not implement."""
    if cfg.network.dtype != "float32":
        raise ConfigError(f"the accelerator path draws float32 weights only, got dtype {cfg.network.dtype!r}; "
                          "use --dtype float32 or the CPU")
    if cfg.method == "implicit":
        raise ConfigError("the accelerator path draws explicit weights; use --method explicit or auto")


def _matmul(a, b):
    return jnp.matmul(a, b, precision=lax.Precision.HIGHEST)


def _forward(plan: Plan, key, layer, h, extra):
    """Standardised weights e, pre-activations z = std (e @ h) + b, and e @ extra (or None)."""
    fan_in = h.shape[0]
    # The product needs e in memory anyway; the barrier keeps XLA from also fusing the hash into
    # the histogram's one-hot bins, which would recompute it once per bin.
    e = lax.optimization_barrier(sample.standard_weights(key, layer, (plan.width, fan_in), plan.network, plan.prng))
    m = _matmul(e, h if extra is None else jnp.concatenate([h, extra], axis=1))
    z = m[:, : plan.n_columns] * np.float32(plan.std(fan_in))
    if plan.network.has_bias:
        z = z + sample.biases(key, layer, plan.width, plan.network, plan.prng)[:, None]
    return e, z, (None if extra is None else m[:, plan.n_columns:])


def _network(plan: Plan, key, columns, consts, keep: bool = False):
    """Counts of one network (see :mod:`.trace`): ``(first, hidden)`` dicts, hidden stacked over layers 2..H.

    With ``keep``, each dict also holds the layer's standardised weights ``e`` and pre-activations ``z``.
    """
    how = plan.how
    e, z, u = _forward(plan, key, 0, columns.T, consts["sign"] if how.edges else None)
    first = trace.first_counts(e, z, u, consts, how) | ({"e": e, "z": z} if keep else {})

    def step(carry, layer):
        h, on_prev = carry
        extra = on_prev.astype(jnp.float32) if how.hidden_edges else None
        e, z, u = _forward(plan, key, layer, h, extra)
        counts = trace.hidden_counts(e, z, u, on_prev, how) | ({"e": e, "z": z} if keep else {})
        return (jnp.maximum(z, 0), z[:, : how.n_main] > 0), counts

    carry = (jnp.maximum(z, 0), z[:, : how.n_main] > 0)
    return first, lax.scan(step, carry, jnp.arange(1, plan.depth))[1]


@functools.lru_cache(maxsize=64)
def compiled(plan: Plan):
    """The jit-compiled batch function: keys (network, 2) uint32, columns (network, column, feature), consts.

    Columns are passed once per network, so that even the first layer's product is
    a batched one whose every member has the same shape whatever the batch size:
    with shared columns, XLA folds the batch into one larger product, whose
    rounding can depend on its size.
    """
    return jax.jit(jax.vmap(functools.partial(_network, plan), in_axes=(0, 0, None)))


def device_inputs(columns: np.ndarray, n_main: int) -> tuple:
    """Columns (column, feature) and the first-layer constants, as float32 device arrays."""
    consts = trace.first_inputs(np.asarray(columns[:n_main], dtype=np.float64))
    return jnp.asarray(columns, jnp.float32), {k: jnp.asarray(v) for k, v in consts.items()}


def run_keys(plan: Plan, keys: np.ndarray, columns: np.ndarray, batch: int) -> dict:
    """Counts of every network of ``keys`` (network, 2), ``batch`` networks per call.

    The last batch is padded with copies of the first key and cut off again, so
    one compiled shape serves every call and no network sees another.
    """
    fn = compiled(plan)
    cols, consts = device_inputs(columns, plan.how.n_main)
    n = len(keys)
    padded = np.concatenate([keys, np.repeat(keys[:1], -n % batch, axis=0)])
    cols = jnp.broadcast_to(cols, (batch, *cols.shape))
    parts = [fn(jnp.asarray(padded[s:s + batch]), cols, consts) for s in range(0, len(padded), batch)]
    first, hidden = jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a])[:n], *parts)
    return trace.stack_layers(first, hidden, plan.how)


def draw_network(plan: Plan, key: np.ndarray, columns: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (standardised weights, pre-activations) of every layer of one network, as :func:`run_keys` draws them.

    For tests and inspection: the numpy tracer fed with these gives the counts of :func:`run_keys`.
    """
    fn = jax.jit(jax.vmap(functools.partial(_network, plan, keep=True), in_axes=(0, 0, None)))
    cols, consts = device_inputs(columns, plan.how.n_main)
    first, hidden = fn(jnp.asarray(key)[None], cols[None], consts)
    layers = [(first["e"][0], first["z"][0])] + list(zip(hidden["e"][0], hidden["z"][0]))
    return [(np.asarray(e), np.asarray(z)) for e, z in layers]


def make_plan(cfg: SweepConfig, width: int, columns: np.ndarray, batch: int, prng: str | None = None) -> Plan:
    """The static description of a block of ``batch`` networks of one cell (see :class:`block.Plan`)."""
    check_supported(cfg)
    prng = prng or sample.default_prng()
    if prng not in sample.PRNGS:
        raise ConfigError(f"unknown prng {prng!r}; choose one of: {', '.join(sample.PRNGS)}")
    n_angles = len(cfg.angles) if "joint" in cfg.stats else 0
    if columns.shape[0] != cfg.inputs.count + (1 + n_angles if n_angles else 0):
        raise ConfigError(f"got {columns.shape[0]} input columns, expected {cfg.inputs.count} inputs"
                          + (f" and {1 + n_angles} pair columns" if n_angles else ""))
    platform = jax.default_backend()
    onehot = trace.onehot_dtype(platform)
    first_rows, hidden_rows = memory.row_blocks(cfg, width, columns.shape[1], batch,
                                                np.dtype(jnp.dtype(onehot)).itemsize, platform)
    how = Counting(cfg.inputs.count, n_angles, cfg.stats, onehot, first_rows, hidden_rows)
    trace.check_exact([columns.shape[1], width], max(first_rows, hidden_rows), how)
    return Plan(width, columns.shape[1], cfg.depth, columns.shape[0], cfg.network, prng, how)


def run_block(cfg: SweepConfig, width: int, columns: np.ndarray,
              seeds: Sequence[np.random.SeedSequence] | np.ndarray, *,
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
    seeds : sequence of SeedSequence, or ndarray (network, 2) uint32
        One per network (``tasks.child_seed(root, NETWORKS_KEY, input_dim, width, net)``);
        network m's key is ``seeds[m].generate_state(2)``, whatever the batch. Or
        those keys themselves, which ``sample.child_keys(root, (NETWORKS_KEY,
        input_dim, width), range(start, stop))`` gives ~100x faster.
    batch : int, optional
        Networks per compiled call (one compile per distinct value). By default
        :func:`pick_batch` from free device memory, or the next power of two
        above the number of networks if that is smaller (the rest is padding).
    prng : {"threefry", "philox"}, optional
        Counter-based hash of the weights; by default :func:`default_prng` for the device.

    Returns
    -------
    dict
        name -> ndarray (network, ...), dims as ``netstats.RAW_DIMS``, exactly the
        variables ``tasks.run_task`` returns for ``cfg.stats``.
    """
    if batch is None:  # a power of two at most the block: few compiled shapes, under 2x padding
        batch = min(memory.pick_batch(cfg, width, columns.shape[1]), 1 << (len(seeds) - 1).bit_length())
    else:
        batch = max(1, min(int(batch), len(seeds)))
    plan = make_plan(cfg, width, columns, batch, prng)
    counts = run_keys(plan, sample.network_keys(seeds), np.asarray(columns, np.float64), batch)
    return trace.finish(counts, np.asarray(columns[: cfg.inputs.count], np.float64), [width] * cfg.depth, plan.how)


def describe(prng: str | None = None) -> dict[str, str]:
    """Dataset attrs recording how the accelerator drew and counted (device, hash, sampler)."""
    device = jax.devices()[0]
    return {"accel_device": f"{device.platform}:{getattr(device, 'device_kind', device.platform)}",
            "accel_prng": prng or sample.default_prng(), "accel_sampler": "explicit",
            "accel_normals": "Box-Muller from counter-based hash words"}
