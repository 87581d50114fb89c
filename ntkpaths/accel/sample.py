"""Counter-based random draws on the accelerator: every weight is a pure function of its position.

Each network has its own 64-bit key, taken from its own ``SeedSequence`` child
(the same children ``tasks.run_task`` uses), so a network can be replayed alone
and its draws do not depend on which other networks share a batch. Within a
network, the weight at (row, column) of layer l comes from a counter-based hash
of (key, stream, row, column), with stream 2l for weights and 2l + 1 for biases:
drawing a block of rows gives exactly the rows of the whole matrix.

Two hashes are offered, both using every output word (``jax.random.normal``
XORs the words of a hash into one, wasting half of threefry's and three
quarters of philox's work):

- ``"philox"`` (the default): Philox-4x32-10 (Salmon et al. 2011, the generator
  of cuRAND and PyTorch), 4 words per hash, two multiplies per round: the fewest
  integer operations per word. The same integers on every device.
- ``"threefry"``: Threefry-2x32 (20 rounds), JAX's own hash
  (``jax.extend.random.threefry2x32_p``); 2 words per hash.

JAX's ``rbg`` and ``unsafe_rbg`` are not offered: under ``vmap`` their bits come
from the first key of the batch only, so a network's weights would depend on
its batch. Normals use Box-Muller (tails reach 6.8 sd); uniform weights use 24
bits, like numpy's float32 ``random``. The CPU (numpy PCG64) and these streams
differ; both are exact in distribution.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..config import NetworkConfig
from ..jaxsetup import jax, jnp

import jax.extend.random as jer  # noqa: E402  (a submodule; jaxsetup has started the backend)

lax = jax.lax
PRNGS = ("threefry", "philox")
_WORDS = {"threefry": 2, "philox": 4}
_PHILOX_M = (np.uint32(0xD2511F53), np.uint32(0xCD9E8D57))
_PHILOX_W = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
_TWO_PI_2_24 = np.float32(2 * math.pi / 2**24)
_SQRT3 = math.sqrt(3.0)


def default_prng(platform: str | None = None) -> str:
    """Philox on every device: fewest integer operations per word, and on XLA's CPU backend
    it compiles in a tenth of a second against 1.7 s for JAX's threefry primitive (measured)."""
    return "philox"


def network_keys(seeds: Sequence[np.random.SeedSequence] | np.ndarray) -> np.ndarray:
    """One 64-bit key per network, ``seeds[m].generate_state(2)``: ndarray (network, 2) uint32.

    An array is taken as keys already (e.g. from :func:`child_keys`).
    """
    if isinstance(seeds, np.ndarray):
        return np.asarray(seeds, dtype=np.uint32).reshape(len(seeds), 2)
    return np.stack([s.generate_state(2, dtype=np.uint32) for s in seeds]).reshape(len(seeds), 2)


# numpy's SeedSequence (NEP 19; its output is stable across numpy versions), vectorised over children
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL, _MASK = 0xCA01F9DD, 0x4973F715, 4, 0xFFFFFFFF


def _int_words(value: int) -> list[int]:
    """An int as little-endian uint32 words, as SeedSequence coerces it."""
    out = [value & _MASK]
    while value > _MASK:
        value >>= 32
        out.append(value & _MASK)
    return out


class _HashMix:
    """SeedSequence's hashmix: the constant advances with every call, whatever the values."""

    def __init__(self):
        self.const = _INIT_A

    def __call__(self, v):
        v = v ^ np.uint32(self.const)
        self.const = (self.const * _MULT_A) & _MASK
        v = v * np.uint32(self.const)
        return v ^ (v >> np.uint32(16))


def _mix(x, y):
    r = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return r ^ (r >> np.uint32(16))


def child_keys(root: np.random.SeedSequence, prefix: Sequence[int], networks) -> np.ndarray:
    """Keys of the children ``root`` -> ``(*prefix, net)`` for every ``net``, at once: (network, 2) uint32.

    Equal to ``network_keys([tasks.child_seed(root, *prefix, net) for net in networks])``
    (numpy's SeedSequence mixing, vectorised over ``net``; a test checks it
    against numpy), in a fraction of a microsecond per network instead of ~25.
    """
    if not isinstance(root.entropy, int):
        raise TypeError("child_keys needs a SeedSequence with integer entropy")
    nets = np.asarray(networks, dtype=np.int64).ravel()
    if nets.size and (nets.min() < 0 or nets.max() > _MASK):
        raise ValueError("network indices must lie in [0, 2^32)")
    run = _int_words(root.entropy)
    fixed = run + [0] * (_POOL - len(run)) + [w for k in (*root.spawn_key, *prefix) for w in _int_words(int(k))]
    entropy = [np.full(nets.shape, w, np.uint32) for w in fixed] + [nets.astype(np.uint32)]
    hashmix = _HashMix()
    pool = [hashmix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for word in entropy[_POOL:]:
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], hashmix(word))
    const, out = _INIT_B, []
    for i in range(2):
        v = pool[i] ^ np.uint32(const)
        const = (const * _MULT_B) & _MASK
        v = v * np.uint32(const)
        out.append(v ^ (v >> np.uint32(16)))
    return np.stack(out, axis=-1)


def philox4x32(k0, k1, x0, x1, x2, x3) -> tuple:
    """The Philox-4x32-10 bijection of counter (x0..x3) under key (k0, k1); uint32 arrays broadcast."""
    for r in range(10):
        if r:
            k0, k1 = k0 + _PHILOX_W[0], k1 + _PHILOX_W[1]
        lo0, hi0 = lax.mul(_PHILOX_M[0], x0), lax.mulhi(_PHILOX_M[0], x0)
        lo1, hi1 = lax.mul(_PHILOX_M[1], x2), lax.mulhi(_PHILOX_M[1], x2)
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


def threefry2x32(k0, k1, x0, x1) -> tuple:
    """The Threefry-2x32 hash of counter (x0, x1) under key (k0, k1), through JAX's primitive."""
    args = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.uint32) for a in (k0, k1, x0, x1)))
    return tuple(jer.threefry2x32_p.bind(*args))


def _words(key, stream, rows: int, hashes: int, prng: str) -> tuple:
    """Random words, one (row, hash) plane per output word of the hash."""
    row = lax.broadcasted_iota(jnp.uint32, (rows, hashes), 0)
    col = lax.broadcasted_iota(jnp.uint32, (rows, hashes), 1)
    stream = jnp.asarray(stream, jnp.uint32)
    if prng == "philox":
        return philox4x32(key[0], key[1], col, row, stream, jnp.uint32(0))
    k0, k1 = threefry2x32(key[0], key[1], stream, jnp.uint32(0))  # one derived key per stream
    return threefry2x32(k0, k1, row, col)


def _box_muller(a, b) -> tuple:
    """Two independent N(0, 1) float32 from two words; u1 in (0, 1] keeps the log finite."""
    u1 = (a.astype(jnp.float32) + np.float32(0.5)) * np.float32(2.0**-32)
    r = jnp.sqrt(np.float32(-2.0) * jnp.log(u1))
    theta = (b >> 8).astype(jnp.float32) * _TWO_PI_2_24
    return r * jnp.cos(theta), r * jnp.sin(theta)


def _uniform(a):
    """Uniform on [-sqrt3, sqrt3) (unit variance) from the top 24 bits of a word."""
    u = (a >> 8).astype(jnp.float32) * np.float32(2.0**-24)
    return u * np.float32(2 * _SQRT3) - np.float32(_SQRT3)


def _planes(words: tuple, dist: str) -> list:
    if dist == "uniform":
        return [_uniform(w) for w in words]
    pairs = [_box_muller(words[i], words[i + 1]) for i in range(0, len(words), 2)]
    return [p for pair in pairs for p in pair]


def draw(key, stream, shape: tuple[int, int], dist: str, prng: str):
    """Unit-variance, zero-mean values of shape (row, column), float32.

    Column c of row r comes from hash (r, c mod q), output word c // q, with
    q = ceil(columns / words per hash): a pure function of (key, stream, r, c).
    """
    rows, cols = shape
    hashes = -(-cols // _WORDS[prng])
    planes = _planes(_words(key, stream, rows, hashes, prng), dist)
    return jnp.concatenate(planes, axis=1)[:, :cols]


def standard_weights(key, layer, shape: tuple[int, int], cfg: NetworkConfig, prng: str):
    """Standardised weights t = W / std(W) of hidden layer ``layer`` (0-based), (neuron, fan_in) float32."""
    e = draw(key, 2 * layer, shape, cfg.weight_dist, prng)
    return e + np.float32(cfg.weight_mean) if cfg.weight_mean else e


def biases(key, layer, width: int, cfg: NetworkConfig, prng: str):
    """Biases b ~ N(bias_mean, bias_std^2) of hidden layer ``layer``, (neuron,) float32."""
    g = draw(key, 2 * layer + 1, (1, width), "normal", prng)[0]
    return np.float32(cfg.bias_mean) + np.float32(cfg.bias_std) * g
