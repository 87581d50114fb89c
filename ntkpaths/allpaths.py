"""Path statistics from sampled activations. Pure functions, no randomness.

In a fully connected network the active paths for one input are the
Cartesian product of the active neurons of each hidden layer, so the
fraction of active paths over *all* d * n_1 * ... * n_H * n_out paths is

    F_H(x) = prod_{l <= H} a_l(x) / n_l,

with a_l(x) the number of neurons on in layer l (see docs/science.md). One forward
pass gives F for every depth prefix 1..H at once.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np


def layer_fraction(z: np.ndarray) -> np.ndarray:
    """Fraction of neurons on, a_l / n_l, per input. z: (neuron, input) -> (input,)."""
    return np.count_nonzero(z > 0, axis=0) / z.shape[0]


def active_fraction(zs: Iterable[np.ndarray]) -> np.ndarray:
    """Exact fraction of active paths for every depth prefix.

    Parameters
    ----------
    zs : iterable of ndarray (neuron, input)
        Pre-activations of hidden layers 1..H, in order; consumed lazily, so a
        generator of layers keeps memory to one layer.

    Returns
    -------
    ndarray (depth, input)
        Entry [H-1, b] is F_H(x_b) = prod_{l<=H} a_l(x_b) / n_l.
    """
    fractions = np.stack([layer_fraction(z) for z in zs])
    return np.cumprod(fractions, axis=0)


def sampled_path_fraction(masks: Sequence[np.ndarray], paths: np.ndarray) -> np.ndarray:
    """Fraction of the given paths that are active, for every depth prefix.

    Parameters
    ----------
    masks : sequence of bool ndarray (neuron, input)
        Which neurons are on, per hidden layer.
    paths : int ndarray (path, layer)
        Neuron index of each path in each hidden layer.

    Returns
    -------
    ndarray (depth, input)
        For uniformly drawn paths, the count at depth H is Binomial(K, F_H).
    """
    on = np.ones((paths.shape[0], masks[0].shape[1]), dtype=bool)
    out = []
    for layer, mask in enumerate(masks):
        on &= mask[paths[:, layer]]
        out.append(on.mean(axis=0))
    return np.stack(out)


def forward(weights: Sequence[np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Bias-free forward pass with given weights.

    Parameters
    ----------
    weights : [W_1, ..., W_H, W_out], W_l of shape (n_l, n_{l-1})
    x : ndarray (input, feature)

    Returns
    -------
    zs : list of ndarray (neuron, input), the hidden pre-activations
    y : ndarray (input, output)
    """
    h = x.T
    zs = []
    for w in weights[:-1]:
        zs.append(w @ h)
        h = np.maximum(zs[-1], 0)
    return zs, (weights[-1] @ h).T


def path_sum(weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Output rebuilt as an explicit sum over every path (Kawaguchi, 2016).

    y_k(x) = sum_p x_{i0} Z_p(x) prod_l W_l[j_l, j_{l-1}] W_out[k, j_H].
    Enumerates all d * n_1 * ... * n_H * n_out paths, so use it only on small
    bias-free networks; it is the reference the tracer is tested against.

    Returns
    -------
    ndarray (input, output)
    """
    zs, _ = forward(weights, x)
    dims = [w.shape[1] for w in weights] + [weights[-1].shape[0]]
    y = np.zeros((x.shape[0], dims[-1]))
    for b in range(x.shape[0]):
        for path in itertools.product(*(range(n) for n in dims)):
            hidden = path[1:-1]
            if all(z[j, b] > 0 for z, j in zip(zs, hidden)):
                term = x[b, path[0]]
                for w, (src, dst) in zip(weights, zip(path[:-1], path[1:])):
                    term *= w[dst, src]
                y[b, path[-1]] += term
    return y


def active_paths(zs: Sequence[np.ndarray], b: int) -> list[tuple[int, ...]]:
    """Hidden-neuron tuples (j_1, ..., j_H) of every path active for input b."""
    on = [np.flatnonzero(z[:, b] > 0) for z in zs]
    return [tuple(int(j) for j in p) for p in itertools.product(*on)]
