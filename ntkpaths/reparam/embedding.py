"""Embeddings into wider networks: what they do to F's spread, and to the Hessian at a minimum.

- :func:`spread`: many random He networks of a narrow width, each embedded by
  replication (every unit k times), inactive propagation and inactive units;
  the exact F of every (network, input) before and after, and the outputs.
- :func:`semiflat`: the trained network with one unit of a hidden layer
  replicated (shares 1/2, 1/2), and the Hessian on the directions the
  embedding adds (Fukumizu et al., 2019). In orthonormal coordinates these are
  the *split* directions (rows j and copy move by +eps/sqrt2, -eps/sqrt2) and
  the *share* directions (their outgoing columns move by -u/sqrt2, +u/sqrt2).
  Along both the outputs do not move to first order (J d = 0) and f is
  piecewise linear, so the only curvature is the residual-weighted cross term:
  the restricted Hessian is [[0, C], [C^T, 0]] with

      C = -(1/N) sum_i 1[z_j(x_i) > 0] delta_i h_i^T,

  delta_i the residual f(x_i) - y_i back-propagated to the next layer's
  pre-activations and h_i the layer's input. Its eigenvalues are +-sigma(C)
  and zeros: zero at a zero-loss minimum (semi-flat), a saddle's negative
  curvature wherever the residuals do not vanish.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .. import sample, sharpness, symmetry, theory
from ..config import InputConfig
from ..tasks import child_seed
from ..allpaths import active_fraction, forward
from .config import ReparamConfig
from .measure import F64, KEYS, Trained, embed_dead, embed_inactive

LINE_POINTS = 41


def embeddings(cfg: ReparamConfig) -> list[str]:
    """Labels of the spread comparison's embeddings, narrow network first."""
    return (["narrow"] + [f"replicated x{k}" for k in cfg.ks] + [f"one unit per layer x{max(cfg.ks)}"]
            + [f"inactive propagation +{cfg.added}", f"inactive units +{cfg.added}"])


def _replicate_first(w: list, k: int) -> list:
    for layer in range(1, len(w)):
        w = symmetry.replicate(w, layer, 0, k)
    return w


def _embed_all(cfg: ReparamConfig, w: list, rng: np.random.Generator) -> list[list]:
    return ([w] + [symmetry.widen(w, k) for k in cfg.ks] + [_replicate_first(w, max(cfg.ks))]
            + [embed_dead(w, cfg.added, rng=rng), embed_inactive(w, cfg.added, rng=rng)])


def spread(cfg: ReparamConfig, root: np.random.SeedSequence, tick=lambda done, total: None) -> xr.Dataset:
    """F of ``nets`` random narrow networks and of their embeddings, on shared inputs.

    Network m draws from its own child (key ``spread``, m), so any network can be replayed alone.
    """
    x = sample.sample_inputs(InputConfig(count=cfg.n_inputs), cfg.input_dim,
                             rng=np.random.default_rng(child_seed(root, KEYS["spread-inputs"])))
    labels = embeddings(cfg)
    fractions = np.empty((len(labels), cfg.nets, cfg.n_inputs, cfg.spread_depth))
    change = np.zeros(len(labels))
    for m in range(cfg.nets):
        rng = np.random.default_rng(child_seed(root, KEYS["spread"], m))
        w = sample.sample_network(F64, cfg.input_dim, [cfg.narrow_width] * cfg.spread_depth, rng=rng)
        _, f0 = forward(w, x)
        for e, embedded in enumerate(_embed_all(cfg, w, rng)):
            zs, f = forward(embedded, x)
            fractions[e, m] = active_fraction(zs).T
            change[e] = max(change[e], np.abs(f - f0).max() / max(np.abs(f0).max(), 1e-300))
        if m % 500 == 499 or m + 1 == cfg.nets:
            tick(m + 1, cfg.nets)
    return _spread_dataset(cfg, labels, fractions, change, x)


def _spread_dataset(cfg, labels, fractions, change, x) -> xr.Dataset:
    h, n = cfg.spread_depth, cfg.narrow_width
    k = max(cfg.ks)
    exact = ([theory.active_fraction_moments(h, n)] * (1 + len(cfg.ks)) + [theory.replicated_unit_moments(h, n, k)]
             + [theory.dead_units_moments(h, n, cfg.added), theory.inactive_units_moments(h, n, cfg.added)])
    fresh = [n] + [k_ * n for k_ in cfg.ks] + [n + k - 1] + [n + cfg.added] * 2
    fresh_moments = [theory.active_fraction_moments(h, width) for width in fresh]
    emb = ("embedding",)
    return xr.Dataset({
        "spread_fraction": (("embedding", "network", "input", "spread_depth"), fractions),
        "spread_output_change": (emb, change),
        "spread_width": (emb, np.array(fresh)),
        "spread_mean_exact": (emb, np.array([e[0] for e in exact])),
        "spread_square_exact": (emb, np.array([e[1] for e in exact])),
        "spread_mean_fresh": (emb, np.array([e[0] for e in fresh_moments])),
        "spread_square_fresh": (emb, np.array([e[1] for e in fresh_moments])),
        "spread_inputs": (("input", "feature"), x),
    }, coords={"embedding": labels, "spread_depth": np.arange(1, h + 1)})


# ------------------------------------------------------------ semi-flat minima
def _busiest(weights: list, x: np.ndarray, layer: int) -> int:
    """The unit of ``layer`` that is on for the most inputs (the first such)."""
    zs, _ = forward(weights, x)
    return int(np.argmax((zs[layer - 1] > 0).sum(axis=1)))


def _offsets(weights: list) -> np.ndarray:
    return np.cumsum([0] + [w.size for w in weights])


def embedding_basis(wide: list, layer: int, unit: int, copy: int) -> np.ndarray:
    """Orthonormal split and share directions of a replicated unit, (parameter, direction).

    Split: W_layer[unit] += eps / sqrt2, W_layer[copy] -= eps / sqrt2, eps over the fan-in.
    Share: W_{layer+1}[:, unit] -= u / sqrt2, W_{layer+1}[:, copy] += u / sqrt2, u over the fan-out.
    """
    off = _offsets(wide)
    fan_in, fan_out = wide[layer - 1].shape[1], wide[layer].shape[0]
    basis = np.zeros((off[-1], fan_in + fan_out))
    s = 1 / np.sqrt(2)
    for i in range(fan_in):
        basis[off[layer - 1] + unit * fan_in + i, i] = s
        basis[off[layer - 1] + copy * fan_in + i, i] = -s
    cols = wide[layer].shape[1]
    for r in range(fan_out):
        basis[off[layer] + r * cols + unit, fan_in + r] = -s
        basis[off[layer] + r * cols + copy, fan_in + r] = s
    return basis


def cross_moment(wide: list, x: np.ndarray, y: np.ndarray, layer: int, unit: int) -> np.ndarray:
    """C = -(1/N) sum_i 1[z_unit(x_i) > 0] delta_i h_i^T, (fan_out, fan_in): see the module docstring."""
    zs, f = forward(wide, x)
    delta = (f - y).T                                    # (output, sample)
    for l in range(len(wide) - 1, layer, -1):            # back to the pre-activations of layer + 1
        delta = (wide[l].T @ delta) * (zs[l - 1] > 0)
    h = x.T if layer == 1 else np.maximum(zs[layer - 2], 0)
    on = zs[layer - 1][unit] > 0
    return -(delta * on) @ h.T / len(x)


def predicted_eigenvalues(c: np.ndarray) -> np.ndarray:
    """Eigenvalues of [[0, C], [C^T, 0]]: +-sigma(C) and zeros, ascending."""
    sigma = np.linalg.svd(c, compute_uv=False)
    zeros = np.zeros(sum(c.shape) - 2 * len(sigma))
    return np.sort(np.concatenate([-sigma, zeros, sigma]))


def _restricted_row(weights: list, x, y, layer: int, unit: int) -> tuple[np.ndarray, np.ndarray]:
    """Measured and predicted eigenvalues of the Hessian on the embedding's directions, and lambda_max there."""
    wide = symmetry.replicate(weights, layer, unit, 2)
    basis = embedding_basis(wide, layer, unit, wide[layer - 1].shape[0] - 1)
    hess = sharpness.hessian(wide, x, y)
    r = sharpness.restricted(hess, basis)
    measured = np.linalg.eigvalsh((r + r.T) / 2)
    return measured, predicted_eigenvalues(cross_moment(wide, x, y, layer, unit))


def semiflat(cfg: ReparamConfig, trained: Trained, root: np.random.SeedSequence) -> xr.Dataset:
    """Restricted Hessian spectra at the minimum and at the early point, per replicated layer;
    lambda_max and Lanczos's smallest Ritz values of the narrow and embedded minima; loss along lines."""
    x, y = trained.x, trained.y
    rng = np.random.default_rng(child_seed(root, KEYS["semiflat"]))
    size = max(w.shape[1] for w in trained.weights[:-1]) + max(w.shape[0] for w in trained.weights[1:])
    shape = (cfg.depth, 2, size)
    measured, predicted = np.full(shape, np.nan), np.full(shape, np.nan)
    for layer in range(1, cfg.depth + 1):
        unit = _busiest(trained.weights, x, layer)
        for p, point in enumerate((trained.weights, trained.early)):
            m, pred = _restricted_row(point, x, y, layer, unit)
            measured[layer - 1, p, : len(m)], predicted[layer - 1, p, : len(pred)] = m, pred
    ds = xr.Dataset({"flat_eigenvalues": (("flat_layer", "point", "flat_eig"), measured),
                     "flat_predicted": (("flat_layer", "point", "flat_eig"), predicted)},
                    coords={"flat_layer": np.arange(1, cfg.depth + 1), "point": ["minimum", "early"]})
    return ds.merge(_spectra(cfg, trained, rng))


def _spectra(cfg: ReparamConfig, trained: Trained, rng: np.random.Generator) -> xr.Dataset:
    """Narrow vs embedded (last hidden layer's busiest unit replicated) minimum: top and bottom of the spectrum."""
    x, y, layer = trained.x, trained.y, cfg.depth
    unit = _busiest(trained.weights, x, layer)
    wide = symmetry.replicate(trained.weights, layer, unit, 2)
    top, ritz, bounds, losses = [], [], [], []
    for w in (trained.weights, wide):
        hess = sharpness.hessian(w, x, y)
        top.append(sharpness.top_eigenvalues(hess, 1, rng=rng, rtol=cfg.rtol, max_iter=cfg.max_iter).values[0])
        run = sharpness.lanczos(hess, cfg.lanczos_steps, rng=rng)
        ritz.append(run.values[:3]), bounds.append(run.bounds[:3]), losses.append(hess.loss)
    lines = _lines(cfg, wide, x, y, layer, unit, rng)
    return xr.Dataset({
        "spectrum_lambda_max": ("minimum", np.array(top)),
        "spectrum_ritz_smallest": (("minimum", "ritz"), np.array(ritz)),
        "spectrum_ritz_bound": (("minimum", "ritz"), np.array(bounds)),
        "spectrum_loss": ("minimum", np.array(losses)),
        "line_loss": (("line", "line_step"), lines),
    }, coords={"minimum": ["narrow", "embedded"], "line": ["share", "split", "top eigenvector"],
               "line_step": np.linspace(-1.0, 1.0, LINE_POINTS)})


def _lines(cfg, wide, x, y, layer, unit, rng) -> np.ndarray:
    """Training loss along a unit share direction, a unit split direction and the top eigenvector."""
    basis = embedding_basis(wide, layer, unit, wide[layer - 1].shape[0] - 1)
    fan_in = wide[layer - 1].shape[1]
    split = basis[:, :fan_in] @ sample.sample_direction(fan_in, rng=rng)
    share = basis[:, fan_in:] @ sample.sample_direction(basis.shape[1] - fan_in, rng=rng)
    hess = sharpness.hessian(wide, x, y)
    top = sharpness.top_eigenvalues(hess, 1, rng=rng, rtol=cfg.rtol, max_iter=cfg.max_iter).vectors[:, 0]
    flat = np.concatenate([w.ravel() for w in wide])
    off = _offsets(wide)
    steps = np.linspace(-1.0, 1.0, LINE_POINTS)
    out = np.empty((3, LINE_POINTS))
    for i, d in enumerate((share, split, top)):
        for j, s in enumerate(steps):
            moved = flat + s * d
            w = [moved[a:b].reshape(v.shape) for a, b, v in zip(off[:-1], off[1:], wide)]
            out[i, j] = 0.5 * np.sum((forward(w, x)[1] - y) ** 2) / len(x)
    return out
