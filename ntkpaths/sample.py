"""Random draws: inputs, networks (streamed layer by layer), paths, training subsets and minibatches, and probes.

This is the only module that draws random numbers. Every function takes a
keyword-only ``rng: numpy.random.Generator``; none touches global state.
Activations are stored as (neuron, input) arrays, so a layer is z = W h.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .config import IMPLICIT_DISTS, ConfigError, InputConfig, NetworkConfig, read_inputs

_SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class Layer:
    """One sampled hidden layer.

    Attributes
    ----------
    z : ndarray (neuron, input)
        Pre-activations of the layer for every input.
    standard : ndarray (neuron, fan_in) or None
        Standardised weights t = W / std(W) (unit variance about ``weight_mean``),
        only when the caller asked for them.
    std : float
        The weights' standard deviation, so W = std * standard. For the ``ntk``
        init, ``standard`` are the parameters and ``std`` the forward scale.
    bias : ndarray (neuron, 1) or None
    tracked : Tracked or None
        From the implicit sampler: one explicitly drawn incoming weight per neuron.
    """

    z: np.ndarray
    standard: np.ndarray | None = None
    std: float = 1.0
    bias: np.ndarray | None = None
    tracked: "Tracked | None" = None

    @property
    def weight(self) -> np.ndarray:
        """Effective weights W, (neuron, fan_in)."""
        return self.standard * self.standard.dtype.type(self.std)


@dataclass(frozen=True)
class Tracked:
    """One tracked incoming edge per neuron j of a layer: (src[j] -> j) with weight t[j] (standardised)."""

    src: np.ndarray  # (neuron,) int
    t: np.ndarray    # (neuron,)


def sample_inputs(cfg: InputConfig, dim: int, *, rng: np.random.Generator) -> np.ndarray:
    """Draw (or read) the inputs, shape (input, feature), float64."""
    shape = (cfg.count, dim)
    if cfg.kind == "file":
        return read_inputs(cfg.path)
    if cfg.kind == "uniform":
        return rng.uniform(-cfg.scale, cfg.scale, size=shape)
    x = rng.standard_normal(shape)
    if cfg.kind == "sphere":
        x *= cfg.scale / np.linalg.norm(x, axis=1, keepdims=True)
    else:
        x *= cfg.scale
    return x


def sample_pairs(base: np.ndarray, angles: Sequence[float], *, rng: np.random.Generator) -> np.ndarray:
    """Inputs of the same norm as ``base`` at each angle from it, in one random plane.

    Returns ndarray (angle, feature): cos(theta) base + sin(theta) |base| u,
    with u a random unit vector orthogonal to ``base``.
    """
    u = rng.standard_normal(base.shape)
    if not np.any(base):
        return np.zeros((len(angles), base.size))  # no angle to a zero input; unused unless asked for
    if base.size > 1:
        u -= (u @ base) / (base @ base) * base
    u /= np.linalg.norm(u)
    theta = np.asarray(angles, dtype=float)[:, None]
    return np.cos(theta) * base + np.sin(theta) * np.linalg.norm(base) * u


def _standard_weights(rng: np.random.Generator, shape: tuple[int, int], cfg: NetworkConfig) -> np.ndarray:
    """Unit-variance weights about ``cfg.weight_mean``, in the configured distribution."""
    dtype = np.dtype(cfg.dtype)
    e = _DRAW[cfg.weight_dist](rng, shape, cfg, dtype)
    if cfg.weight_mean:
        e += dtype.type(cfg.weight_mean)
    return e


def _normal(rng, shape, cfg, dtype):
    return rng.standard_normal(shape, dtype=dtype)


def _uniform(rng, shape, cfg, dtype):
    e = rng.random(shape, dtype=dtype)
    e *= dtype.type(2 * _SQRT3)
    e -= dtype.type(_SQRT3)
    return e


def _student_t(rng, shape, cfg, dtype):
    """z / sqrt(chi2_df / df), scaled to unit variance: z sqrt((df - 2) / (2 g)) with g ~ Gamma(df/2).

    Drawn from the float32 normal and gamma samplers (numpy's standard_t is float64 only, 5x slower).
    """
    g = rng.standard_gamma(cfg.weight_df / 2, size=shape, dtype=dtype)
    e = rng.standard_normal(shape, dtype=dtype)
    e *= np.sqrt(dtype.type((cfg.weight_df - 2) / 2) / g)
    return e


def _sparse(rng, shape, cfg, dtype):
    keep = rng.random(shape, dtype=np.float32) < np.float32(cfg.weight_density)
    e = rng.standard_normal(shape, dtype=dtype)
    e *= keep
    e *= dtype.type(1 / math.sqrt(cfg.weight_density))
    return e


def _orthogonal(rng, shape, cfg, dtype):
    """A Haar (semi-)orthogonal matrix scaled to unit-variance entries (each row or column has norm sqrt(max))."""
    n, m = shape
    q = _frame(rng, max(n, m), min(n, m))
    q = q if n >= m else q.T
    return (q * math.sqrt(max(n, m))).astype(dtype)


def _frame(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A uniformly random (rows, cols) matrix with orthonormal columns (Haar on the Stiefel manifold).

    QR of a Gaussian matrix, with the signs of R's diagonal moved into Q
    (Mezzadri, 2007), so the law does not depend on LAPACK's sign convention.
    """
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.where(np.diagonal(r) < 0, -1.0, 1.0)


_DRAW = {"normal": _normal, "uniform": _uniform, "student-t": _student_t, "sparse": _sparse,
         "orthogonal": _orthogonal}


def iter_layers(
    cfg: NetworkConfig,
    widths: Sequence[int],
    x: np.ndarray,
    *,
    rng: np.random.Generator,
    keep_weights: bool = False,
) -> Iterator[Layer]:
    """Draw a network layer by layer and push the inputs through it.

    Only one weight matrix exists at a time unless ``keep_weights`` is set.

    Parameters
    ----------
    cfg : NetworkConfig
    widths : sequence of int
        Hidden widths n_1..n_H.
    x : ndarray (input, feature)
    rng : numpy.random.Generator
    keep_weights : bool
        Attach each layer's standardised weights to the yielded :class:`Layer`.

    Yields
    ------
    Layer
        One per hidden layer, in order.
    """
    dtype = np.dtype(cfg.dtype)
    h = np.ascontiguousarray(x.T, dtype=dtype)
    for n in widths:
        fan_in = h.shape[0]
        std = cfg.weight_std(fan_in, n)
        e = _standard_weights(rng, (n, fan_in), cfg)
        z = e @ h
        z *= dtype.type(std)
        bias = None
        if cfg.has_bias:
            bias = (cfg.bias_mean + cfg.bias_std * rng.standard_normal((n, 1))).astype(dtype)
            z += bias
        yield Layer(z=z, standard=e if keep_weights else None, std=std, bias=bias)
        h = np.maximum(z, 0, out=h if h.shape == z.shape else None)


def _moments(h: np.ndarray, std: float, cfg: NetworkConfig, bias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean (..., input) and covariance (..., input, input) of a neuron's pre-activations.

    h is (..., fan_in, input); leading axes stack independent networks.
    ``bias=False`` leaves the random biases' variance out of the covariance.
    """
    cov = std**2 * np.matmul(np.swapaxes(h, -1, -2), h)
    mean = cfg.bias_mean + std * cfg.weight_mean * h.sum(axis=-2)
    if cfg.bias_std and bias:
        cov += cfg.bias_std**2
    return mean, cov


def _factor(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvectors u and square-root eigenvalues of PSD matrices (..., B, B), zero where rank is lost.

    cov = R R^T with R = u * root_lam, robust to duplicate inputs and dead units.
    """
    lam, u = np.linalg.eigh(cov)
    keep = lam > np.maximum(lam.max(axis=-1, keepdims=True), 0.0) * 1e-10
    return u, np.sqrt(np.where(keep, lam, 0.0))


def tracked_sources(n: int, fan_in: int, *, rng: np.random.Generator) -> np.ndarray:
    """Source of each neuron's tracked incoming edge, (neuron,) ints in [0, fan_in).

    Every source is tracked exactly n / fan_in times in expectation:
    floor(n / fan_in) full passes over the fan-in, plus a uniform draw
    without replacement for the remainder. The average over tracked edges is
    then an unbiased estimate of the average over all n * fan_in edges,
    whatever n and fan_in (neurons are exchangeable, so which neuron tracks
    which source does not matter). Nothing is drawn when fan_in divides n.
    """
    full, rest = divmod(n, fan_in)
    extra = np.sort(rng.choice(fan_in, size=rest, replace=False)) if rest else np.empty(0, dtype=np.int64)
    return np.concatenate([np.tile(np.arange(fan_in), full), extra]).astype(np.int64)


def _track(rng, h_src, eps, u, root_lam, std, cfg) -> np.ndarray:
    """Standardised weights e_j,src(j), drawn from their law given the row's draw eps_j.

    With z_j - m = R eps_j and R = u diag(root_lam), Cov(e_js, eps_jk) = std (u_k . h_s) / root_lam_k
    =: c_k, so e_js | eps_j ~ N(mu + c . eps_j, 1 - |c|^2). Conditioning on eps (not on z and a
    pseudo-inverse) keeps float32 rounding of z out of near-singular directions.
    """
    kept = root_lam > 0
    c = np.zeros_like(h_src)
    c[:, kept] = std * (h_src @ u[:, kept]) / root_lam[kept]
    loc = cfg.weight_mean + np.einsum("jk,jk->j", c, eps.astype(np.float64))
    var = np.clip(1.0 - np.einsum("jk,jk->j", c, c), 0.0, None)
    return loc + np.sqrt(var) * rng.standard_normal(len(loc))


def iter_layers_implicit(
    cfg: NetworkConfig,
    widths: Sequence[int],
    x: np.ndarray,
    *,
    rng: np.random.Generator,
    track: bool = False,
) -> Iterator[Layer]:
    """Draw the layers' activations directly from their exact conditional law.

    Normal weights: given h_{l-1} for B inputs, the rows of
    z_l = W_l h_{l-1} + b_l are i.i.d. N(m, C) with C = std^2 G + bias_std^2
    and G = h^T h the Gram matrix. Orthogonal weights: W h is a uniformly
    rotated copy of h, drawn from G alone (:func:`_orthogonal_layer`). No
    weight matrix exists: O(n B^2) time and O(n B) memory per layer.
    Rank-deficient G (duplicate inputs, dead layers) is handled through an
    eigendecomposition.

    Parameters
    ----------
    track : bool
        Normal weights only: also draw, for every neuron j, the weight of one
        incoming edge (sources from :func:`tracked_sources`) from its law
        given z_j, exact in distribution; attached as :class:`Tracked`.
    """
    if cfg.weight_dist not in IMPLICIT_DISTS or (track and cfg.weight_dist != "normal"):
        raise ConfigError(f"the implicit sampler cannot draw {cfg.weight_dist} weights"
                          f"{' with tracked edges' if track else ''}; use the explicit method")
    dtype = np.dtype(cfg.dtype)
    h = np.asarray(x.T, dtype=np.float64)
    for n in widths:
        fan_in = h.shape[0]
        std = cfg.weight_std(fan_in, n)
        if cfg.weight_dist == "orthogonal":
            layer = Layer(z=_orthogonal_layer(rng, h, n, std, cfg).astype(dtype), std=std)
        else:
            layer = _gaussian_layer(rng, h, n, std, cfg, track)
        yield layer
        h = np.maximum(layer.z, 0).astype(np.float64)


def _gaussian_layer(rng, h: np.ndarray, n: int, std: float, cfg: NetworkConfig, track: bool) -> Layer:
    dtype = np.dtype(cfg.dtype)
    mean, cov = _moments(h, std, cfg)
    u, root_lam = _factor(cov)
    eps = rng.standard_normal((n, h.shape[1]), dtype=dtype)
    z = eps @ (u * root_lam).T.astype(dtype)
    z += mean.astype(dtype)
    tracked = None
    if track:
        src = tracked_sources(n, h.shape[0], rng=rng)
        tracked = Tracked(src=src, t=_track(rng, h[src], eps, u, root_lam, std, cfg))
    return Layer(z=z, std=std, tracked=tracked)


def _orthogonal_layer(rng, h: np.ndarray, n: int, std: float, cfg: NetworkConfig) -> np.ndarray:
    """z = W h + b for W = std sqrt(M) Q, Q Haar (semi-)orthogonal (n, fan_in), M = max(n, fan_in).

    Write G = h^T h = R^T R with R = diag(root_lam) u^T over the kept
    eigen-directions, so h = V R with V orthonormal. Q V is a uniform frame
    (first n rows of one when n < fan_in), so Q h = (U R)[:n] with U a
    uniform (M, rank) frame: exact in law, O(M B^2) instead of O(n fan_in^2).
    Returns float64 (neuron, input).
    """
    mean, cov = _moments(h, std, cfg, bias=False)
    u, root_lam = _factor(cov)
    kept = root_lam > 0
    big = max(n, h.shape[0])
    frame = _frame(rng, big, int(kept.sum()))[:n]
    z = math.sqrt(big) * frame @ (u[:, kept] * root_lam[kept]).T + mean
    if cfg.bias_std:
        z += cfg.bias_std * rng.standard_normal((n, 1))
    return z


def iter_layers_implicit_batch(
    cfg: NetworkConfig,
    widths: Sequence[int],
    x: np.ndarray,
    *,
    rngs: Sequence[np.random.Generator],
) -> Iterator[np.ndarray]:
    """:func:`iter_layers_implicit` for many networks at once, without tracked weights.

    Network m draws from ``rngs[m]`` alone; the Gram matrices, eigendecompositions
    and products are stacked, so Python overhead is paid once per layer, not per network.

    Yields
    ------
    ndarray (network, neuron, input)
        Pre-activations of each hidden layer.
    """
    if cfg.weight_dist != "normal":
        raise ConfigError("the implicit sampler needs normal weights; use the explicit method")
    dtype = np.dtype(cfg.dtype)
    h = np.broadcast_to(np.asarray(x.T, dtype=np.float64), (len(rngs), *x.T.shape))
    for n in widths:
        std = cfg.weight_std(h.shape[1], n)
        mean, cov = _moments(h, std, cfg)
        u, root_lam = _factor(cov)
        root = u * root_lam[:, None, :]
        eps = np.stack([rng.standard_normal((n, h.shape[2]), dtype=dtype) for rng in rngs])
        z = np.matmul(eps, root.transpose(0, 2, 1).astype(dtype))
        z += mean[:, None, :].astype(dtype)
        yield z
        h = np.maximum(z, 0).astype(np.float64)


def sample_network(
    cfg: NetworkConfig, input_dim: int, widths: Sequence[int], *, rng: np.random.Generator
) -> list[np.ndarray]:
    """Draw every weight matrix of a small network as effective weights.

    Returns the list [W_1, ..., W_H, W_out], W_l of shape (n_l, n_{l-1}),
    with the ``ntk`` forward scale folded in. Meant for tests and small
    networks; sweeps stream layers with :func:`iter_layers` instead.
    Biases are not supported here (the path-sum form has none).
    """
    dims = [input_dim, *widths, cfg.n_out]
    standard = sample_standard_weights(cfg, dims, rng=rng)
    return [t.astype(np.float64) * cfg.weight_std(fan_in, fan_out)
            for t, fan_in, fan_out in zip(standard, dims[:-1], dims[1:])]


def sample_standard_weights(cfg: NetworkConfig, dims: Sequence[int], *, rng: np.random.Generator) -> list[np.ndarray]:
    """Draw the standardised weights (unit variance) of every layer of a network.

    Parameters
    ----------
    cfg : NetworkConfig
        Only ``weight_dist``, ``weight_mean`` and ``dtype`` matter.
    dims : sequence of int
        Layer sizes [d, n_1, ..., n_H, n_out].

    Returns
    -------
    list of ndarray (fan_out, fan_in)
        One per weight layer, in order; the same numbers :func:`sample_network`
        scales into effective weights.
    """
    return [_standard_weights(rng, (fan_out, fan_in), cfg) for fan_in, fan_out in zip(dims[:-1], dims[1:])]


def sample_split(pool: int, sizes: Sequence[int], *, rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint random subsets of ``range(pool)``, drawn without replacement.

    Returns one int ndarray (sample,) per entry of ``sizes``; sum(sizes) <= pool.
    """
    chosen = rng.choice(pool, size=sum(sizes), replace=False)
    return np.split(chosen, np.cumsum(sizes)[:-1])


def sample_minibatches(n: int, batch: int, steps: int, *, rng: np.random.Generator) -> np.ndarray:
    """Minibatch indices for SGD: each step draws ``batch`` distinct samples of ``range(n)``.

    Steps are independent. The draws of consecutive calls concatenate to those of
    one call for all their steps, so a run's minibatches do not depend on how its
    steps are split between checkpoints.

    Returns
    -------
    int ndarray (step, batch)
    """
    return np.argsort(rng.random((steps, n)), axis=1)[:, :batch]


def sample_xavier_uniform(n: int, d: int, *, rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform weights U[-b, b], b = sqrt(6 / (d + n)), shape (unit, coord): the
    student initialisation of the teacher-student census (:mod:`ntkpaths.minima`)."""
    bound = math.sqrt(6.0 / (d + n))
    return rng.uniform(-bound, bound, size=(n, d))


def sample_rademacher(shape: int | tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
    """Independent signs, +1 or -1 with probability 1/2 each, as float64 (Hutchinson's trace probes)."""
    return rng.integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0


def sample_direction(dim: int, *, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random unit vector (dim,), float64 (start vectors of power iteration and Lanczos)."""
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def sample_paths(widths: Sequence[int], count: int, *, rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` paths uniformly: one neuron index per hidden layer, (path, layer)."""
    return np.stack([rng.integers(0, n, size=count) for n in widths], axis=1)


def sample_gaussian_start(n: int, d: int, *, rng: np.random.Generator) -> np.ndarray:
    """W ~ N(0, 1/d), shape (unit, coord): the start that Safran, Yehudai & Shamir's published code draws
    (its comment calls it Xavier); used by ``tools/safran_gaussian_start.py`` to test that difference."""
    return rng.standard_normal((n, d)) / math.sqrt(d)
