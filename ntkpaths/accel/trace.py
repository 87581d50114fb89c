"""Raw path statistics on the accelerator: exact integer counts per layer, normalised on the host.

The device computes, per network and hidden layer l, only integers (and one
float32 sum per input), then :func:`finish` turns them into exactly the raw
statistics of :class:`ntkpaths.netstats.NetworkTracer` (``netstats.RAW_DIMS``), in
float64 on the host. The counts, per input b (on = z > 0 for main input b):

- ``active[l, b]``: neurons on, a_l(x_b); ``joint[l, a]``: neurons on for both
  the pair base and the pair at angle a;
- ``t_both[l, k, b]``: edges (j' -> j) with t_jj' in bin k and both ends on;
  ``t_every[l, k, b]``: edges with t_jj' in bin k;
- ``tz[l, b]``: sum of t_jj' over edges with both ends on (float32);
- ``c_both``, ``c_every``: the same for the first layer's input-weight share c.

A histogram is a contraction of one-hot bins, not a scatter (the edge
factorisation is ``ntkpaths.netstats``'s)::

    t_both[k, b] = sum_j on[j, b] sum_j' onehot_k(t_jj') on_prev[j', b]

The inner sum is a ``dot_general`` of 0/1 values (exact in bfloat16) with
float32 accumulation: every partial sum is an integer below the fan-in < 2^24,
so it is exact. The outer sum is in int32, per block of rows (:func:`by_rows`,
which bounds the one-hot workspace); blocks are summed in int64 on the host.
Bins are decided by comparisons with float32 thresholds found from
:meth:`Bins.index` itself (:func:`bin_edges`), so every finite float32 lands in
numpy's bin, whatever fused multiply-adds the compiler emits.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import ConfigError
from ..jaxsetup import jax, jnp
from ..netstats import C_BINS, T_BINS, X_BINS, Bins, _norm, raw_names

lax = jax.lax


@dataclass(frozen=True)
class Counting:
    """What one network's layers are counted for (a static jit argument).

    Attributes
    ----------
    n_main, n_angles : int
        Main inputs B (the first columns), and pair angles A (after the pair base).
    stats : tuple of str
        Statistic groups beyond ``paths``.
    onehot : str
        dtype of the one-hot bins: "bfloat16" for tensor cores, "float32" on a CPU,
        or "int8" (int32 sums; half the bytes of bfloat16 where XLA writes the bins out).
    first_rows, hidden_rows : int
        Rows per block of the first-layer and hidden-layer histograms.
    """

    n_main: int
    n_angles: int
    stats: tuple[str, ...]
    onehot: str = "float32"
    first_rows: int = 1 << 30
    hidden_rows: int = 1 << 30

    @property
    def joint(self) -> bool:
        return "joint" in self.stats

    @property
    def edges(self) -> bool:
        """First-layer edge histograms (both "weights" and "inputs" need them)."""
        return "weights" in self.stats or "inputs" in self.stats

    @property
    def hidden_edges(self) -> bool:
        return "weights" in self.stats


# ------------------------------------------------------------ bins as float32 thresholds
def _ordered(f) -> int:
    """float32 -> int, monotone (so bisection over floats is bisection over ints)."""
    i = int(np.array(f, np.float32).view(np.int32))
    return i if i >= 0 else -(i & 0x7FFFFFFF)


def _unordered(i: int) -> np.float32:
    f = np.array(abs(i), np.int32).view(np.float32)[()]
    return -f if i < 0 else f


@functools.lru_cache(maxsize=None)
def bin_edges(bins: Bins) -> np.ndarray:
    """Thresholds (bin + 1,) float32: finite float32 v has ``bins.index(v) == k`` iff edges[k] <= v < edges[k+1].

    Found by bisection on ``bins.index`` (monotone in v), so they are numpy's
    own bin boundaries, rounding included; the ends are -inf and +inf.
    """
    edges = [np.float32(-np.inf)]
    for k in range(1, bins.count):
        below, above = _ordered(np.float32(-3e38)), _ordered(np.float32(3e38))
        while above - below > 1:
            mid = (below + above) // 2
            if bins.index(np.array([_unordered(mid)], np.float32))[0] >= k:
                above = mid
            else:
                below = mid
        edges.append(_unordered(above))
    return np.array(edges + [np.float32(np.inf)], np.float32)


def onehot(v, bins: Bins, dtype):
    """One-hot bins of the last axis: (..., n) -> (..., bin, n) in ``dtype``."""
    edges = bin_edges(bins)
    lo, hi = jnp.asarray(edges[:-1])[:, None], jnp.asarray(edges[1:])[:, None]
    v = v[..., None, :]
    return ((v >= lo) & (v < hi)).astype(dtype)


def by_rows(fn, rows: int, block: int, *arrays):
    """``fn(*row_blocks, valid)`` over blocks of ``block`` rows, outputs stacked (block_index, ...).

    The last block is shifted back to end at ``rows``; the rows it repeats are
    marked invalid, so ``fn`` must count only valid rows.
    """
    if block >= rows:
        return jax.tree.map(lambda a: a[None], fn(*arrays, jnp.ones(rows, bool)))
    count = -(-rows // block)

    def body(_, c):
        start = jnp.minimum(c * block, rows - block)
        parts = [lax.dynamic_slice_in_dim(a, start, block, axis=0) for a in arrays]
        return None, fn(*parts, start + jnp.arange(block) >= c * block)

    return lax.scan(body, None, jnp.arange(count))[1]


def tree_sum(x):
    """Sum over axis 0 in a fixed pairwise order, by elementwise adds only: (row, ...) -> (...).

    A float ``reduce`` is vectorised by the compiler in an order that can change
    with the batch size (seen on XLA's CPU backend at width 64, batch 8), which
    would make a network's float sums depend on its batch.
    """
    size = 1 << (x.shape[0] - 1).bit_length()
    if size > x.shape[0]:
        x = jnp.concatenate([x, jnp.zeros((size - x.shape[0], *x.shape[1:]), x.dtype)])
    while x.shape[0] > 1:
        x = x[: x.shape[0] // 2] + x[x.shape[0] // 2:]
    return x[0]


def _masked_rows(counts, mask):
    """sum_r mask[r, b] counts[r, k, b] in int32: (row, bin, input), (row, input) -> (bin, input)."""
    return jnp.sum(jnp.where(mask[:, None, :], counts.astype(jnp.int32), 0), axis=0)


# ------------------------------------------------------------ per-layer counts (one network)
ONEHOT_DTYPES = {"cpu": "float32", "other": "bfloat16"}  # a benchmark may try "int8"


def onehot_dtype(platform: str) -> str:
    """bfloat16 one-hots feed tensor cores; XLA's CPU backend is faster with float32."""
    return ONEHOT_DTYPES["cpu" if platform == "cpu" else "other"]


def check_exact(fan_ins, block_rows: int, how: Counting) -> None:
    """Refuse shapes whose counts could round: a one-hot contraction sums at most fan_in ones in
    float32 (exact below 2^24), and a block of rows sums at most rows * fan_in in int32."""
    for fan_in in fan_ins:
        if how.edges and (fan_in >= 1 << 24 or block_rows * fan_in >= 1 << 31):
            raise ConfigError(f"a fan-in of {fan_in} with {block_rows}-row blocks could overflow exact "
                              "float32/int32 edge counts")



def activity(z, how: Counting) -> dict:
    """Neurons on per main input, and for both inputs of each pair: z (neuron, column)."""
    on = z > 0
    out = {"active": jnp.sum(on[:, : how.n_main], axis=0, dtype=jnp.int32)}
    if how.joint:
        both = on[:, how.n_main + 1:] & on[:, how.n_main: how.n_main + 1]
        out["joint"] = jnp.sum(both, axis=0, dtype=jnp.int32)
    return out


def _contract(hot, src):
    """sum_j' hot[r, k, j'] src[j', b] of 0/1 values: float32 sums (exact below 2^24), int32 for int8."""
    acc = jnp.int32 if jnp.issubdtype(hot.dtype, jnp.integer) else jnp.float32
    return lax.dot_general(hot, src.astype(hot.dtype), (((2,), (0,)), ((), ())), preferred_element_type=acc)


def _hidden_block(src, dtype, e, on, valid):
    """(bin, input + 1) counts of a block of rows: both ends on, and (last column) every edge."""
    s = _contract(onehot(e, T_BINS, dtype), src)                    # (row, bin, input + 1)
    mask = jnp.concatenate([on & valid[:, None], valid[:, None]], axis=1)
    return _masked_rows(s, mask)


def hidden_counts(e, z, u, on_prev, how: Counting) -> dict:
    """Counts of hidden layer l >= 2.

    Parameters
    ----------
    e : (neuron, fan_in) float32, standardised weights t
    z : (neuron, column) float32, pre-activations
    u : (neuron, input) float32, e @ on_prev (the caller may fuse it with z)
    on_prev : (fan_in, input) bool, previous layer on for the main inputs
    """
    out = activity(z, how)
    if not how.hidden_edges:
        return out
    on = z[:, : how.n_main] > 0
    dtype = jnp.dtype(how.onehot)
    src = jnp.concatenate([on_prev, jnp.ones((on_prev.shape[0], 1), bool)], axis=1).astype(dtype)
    counts = by_rows(functools.partial(_hidden_block, src, dtype), e.shape[0], how.hidden_rows, e, on)
    out["t_both"], out["t_every"] = counts[..., :-1], counts[..., -1]
    out["tz"] = tree_sum(jnp.where(on, u, 0))
    return out


def first_inputs(x: np.ndarray) -> dict:
    """Host-side constants of the first layer's edge statistics, from the main inputs x (input, feature).

    ``t = e * sign(x_i0)`` and ``c = e * float32(x_i0 / |x|)``, exactly as the numpy tracer forms them.
    """
    sign = np.sign(x)
    return {"signs": np.concatenate([(sign > 0).T, (sign < 0).T]).astype(np.float32),   # (2 feature, input)
            "zeros": (sign == 0).sum(axis=1).astype(np.int32),                          # (input,)
            "ratios": np.stack([(xb / _norm(xb)).astype(np.float32) for xb in x]),       # (input, feature)
            "sign": sign.T.astype(np.float32)}                                           # (feature, input)


def _first_block(signs, zeros, ratios, dtype, e, on, valid):
    """Both/every counts of t (bin, input) and c (c_bin, input) for a block of first-layer rows."""
    oh = jnp.concatenate([onehot(e, T_BINS, dtype), onehot(-e, T_BINS, dtype)], axis=-1)  # (row, bin, 2 feature)
    s = _contract(oh, signs)
    zero_bin = jnp.asarray(T_BINS.index(np.zeros(1))[0] == np.arange(T_BINS.count), jnp.int32)
    s = s.astype(jnp.int32) + zero_bin[:, None] * zeros[None, :]     # coordinates with x_i0 = 0 have t = 0
    q = jnp.sum(onehot(e[:, None, :] * ratios[None], C_BINS, bool), axis=-1, dtype=jnp.int32)  # (row, input, c_bin)
    q = jnp.swapaxes(q, 1, 2)
    on_valid, every = on & valid[:, None], jnp.broadcast_to(valid[:, None], on.shape)
    return {"t_both": _masked_rows(s, on_valid), "t_every": _masked_rows(s, every),
            "c_both": _masked_rows(q, on_valid), "c_every": _masked_rows(q, every)}


def first_counts(e, z, u, consts: dict, how: Counting) -> dict:
    """Counts of the first hidden layer; ``u`` = e @ sign(x).T (neuron, input), ``consts`` from :func:`first_inputs`."""
    out = activity(z, how)
    if not how.edges:
        return out
    on = z[:, : how.n_main] > 0
    fn = functools.partial(_first_block, consts["signs"], consts["zeros"], consts["ratios"], jnp.dtype(how.onehot))
    out.update(by_rows(fn, e.shape[0], how.first_rows, e, on))
    out["tz"] = tree_sum(jnp.where(on, u, 0))
    return out


# ------------------------------------------------------------ host: counts -> raw statistics
def stack_layers(first: dict, hidden: dict, how: Counting) -> dict:
    """Device counts of a block of networks -> (network, layer, ...) arrays, row blocks summed in int64.

    ``first`` holds (network, ...) arrays of the first layer, ``hidden``
    (network, layer - 1, ...) arrays of the others, from a scan over layers
    (empty for depth 1).
    """
    first = {k: np.asarray(v) for k, v in first.items()}
    hidden = {k: np.asarray(v) for k, v in hidden.items()}

    def cat(a, b):
        return a[:, None] if b is None else np.concatenate([a[:, None], b], axis=1)

    out = {"active": cat(first["active"], hidden.get("active"))}
    if how.joint:
        out["joint"] = cat(first["joint"], hidden.get("joint"))
    if how.edges:
        out.update({k: first[k].sum(axis=1, dtype=np.int64) for k in ("t_both", "t_every", "c_both", "c_every")})
    if how.hidden_edges and "t_both" in hidden:
        every = hidden["t_every"].sum(axis=2, dtype=np.int64)[..., None]            # (network, layer, bin, 1)
        hidden["t_both"] = hidden["t_both"].sum(axis=2, dtype=np.int64)
        hidden["t_every"] = np.broadcast_to(every, every.shape[:-1] + (how.n_main,))
    if how.hidden_edges:
        out["tz"] = first["tz"]
        for name in ("t_both", "t_every", "tz"):
            out[name] = cat(out[name], hidden.get(name))
    return out


def _others(fr: np.ndarray) -> np.ndarray:
    """Per layer l, the product of a_m / n_m over layers m not touching l's edges: (network, layer, input)."""
    depth = fr.shape[1]
    skips = [(0,)] + [(i - 1, i) for i in range(1, depth)]
    return np.stack([np.prod(fr[:, [m for m in range(depth) if m not in s]], axis=1) for s in skips], axis=1)


def _xvalue_share(x: np.ndarray) -> np.ndarray:
    """Share of each input's coordinates per x bin, (x_bin, input), as the numpy tracer forms it."""
    u = x * (math.sqrt(x.shape[1]) / _norm(x))
    return np.stack([np.bincount(X_BINS.index(ub), minlength=X_BINS.count) for ub in u]).T / u.shape[1]


def finish(counts: dict, x: np.ndarray, widths, how: Counting) -> dict[str, np.ndarray]:
    """Raw statistics (name -> (network, ...), dims of ``netstats.RAW_DIMS``) from stacked counts.

    ``widths`` are the hidden widths n_1..n_H. The same float64 normalisation as
    ``NetworkTracer.result``: fractions of neurons and of edges, times the
    other layers' active fractions, summed over inputs.
    """
    n = np.asarray(widths, dtype=np.int64)
    fr = counts["active"] / n[:, None]                                   # (network, layer, input)
    out = {"active_fraction": np.cumprod(fr, axis=1).transpose(0, 2, 1)}
    if how.joint:
        out["joint_fraction"] = np.cumprod(counts["joint"] / n[:, None], axis=1).transpose(0, 2, 1)
    if how.edges:
        others = _others(fr)
        n_edges = (n * np.concatenate([[x.shape[1]], n[:-1]])).astype(float)[:, None]   # (layer, 1)
        if how.hidden_edges:
            out["weight_num"] = (counts["t_both"] / n_edges[..., None] * others[:, :, None, :]).sum(axis=-1)
            out["weight_den"] = (counts["t_every"] / n_edges[..., None]).sum(axis=-1)
            out["weight_tz"] = (counts["tz"].astype(np.float64) / n_edges * others).sum(axis=-1)
        out["input_num"] = (counts["c_both"] / n_edges[0] * others[:, None, 0, :]).sum(axis=-1)
        out["input_den"] = (counts["c_every"] / n_edges[0]).sum(axis=-1)
        share = _xvalue_share(x)
        out["xvalue_num"] = (np.prod(fr, axis=1)[:, None, :] * share).sum(axis=-1)   # not @: BLAS rounds by block size
        out["xvalue_den"] = np.repeat(share.sum(axis=1)[None], fr.shape[0], axis=0)
    return {name: out[name] for name in raw_names(how.stats)}


# ------------------------------------------------------------ the pure tracer
@jax.jit
def _matmul(a, b):
    return jnp.matmul(a, b, precision=lax.Precision.HIGHEST)


_first_counts = jax.jit(first_counts, static_argnames="how")
_hidden_counts = jax.jit(hidden_counts, static_argnames="how")


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
        name -> ndarray, dims as ``netstats.RAW_DIMS`` without ``network``.
    """
    stats = tuple(s for s in ("weights", "inputs", "joint") if s in stats)
    how = Counting(len(x), n_angles, stats, onehot or onehot_dtype(jax.default_backend()),
                   rows or 1 << 30, rows or 1 << 30)
    check_exact([x.shape[1]] + [z.shape[0] for z in zs[:-1]], rows or max(z.shape[0] for z in zs), how)
    x = np.asarray(x, np.float64)
    consts = {k: jnp.asarray(v) for k, v in first_inputs(x).items()}
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
    counts = stack_layers(jax.tree.map(lambda a: np.asarray(a)[None], first), stacked, how)
    return {k: v[0] for k, v in finish(counts, x, [z.shape[0] for z in zs], how).items()}
