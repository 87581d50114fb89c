"""Path statistics of a given network on given inputs, and weights files.

Sweeps measure path statistics of sampled networks; this module measures
them for one network someone hands over -- a trained one, a transformed one,
one read from a ``.npz`` file -- through the same code: the exact all-path
fraction F from :func:`ntkpaths.allpaths.forward` and the per-layer fractions,
and E[t_l | Z = 1] from :class:`ntkpaths.netstats.NetworkTracer`.

Examples
--------
>>> from ntkpaths.pathstats import path_statistics, read_weights_npz  # doctest: +SKIP
>>> stats = path_statistics(read_weights_npz("net.npz"), x)            # doctest: +SKIP
>>> stats.p_active                                                     # doctest: +SKIP
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ConfigError
from .config.base import load_npz
from .allpaths import forward, layer_fraction
from .netstats import NetworkTracer


@dataclass(frozen=True)
class PathStats:
    """Path statistics of one network.

    Attributes
    ----------
    active_fraction : ndarray (input, depth)
        F for every depth prefix: the exact fraction of active paths.
    layer_fraction : ndarray (input, layer)
        a_l / n_l, the fraction of units on in each hidden layer.
    weight_slope : ndarray (layer,)
        E[t_l | Z = 1] over every active path of every input, t_l the path's
        layer-l weight divided by that layer's std (times sign x_i0 at layer
        1); NaN when no path is active.
    """

    active_fraction: np.ndarray
    layer_fraction: np.ndarray
    weight_slope: np.ndarray

    @property
    def p_active(self) -> np.ndarray:
        """Mean F over the inputs, (depth,)."""
        return self.active_fraction.mean(axis=0)


def he_stds(weights: Sequence[np.ndarray]) -> tuple[float, ...]:
    """He's std sqrt(2 / fan_in) of every hidden layer's weights."""
    return tuple(math.sqrt(2.0 / w.shape[1]) for w in weights[:-1])


def check_inputs(weights: Sequence[np.ndarray], x: np.ndarray) -> None:
    """Refuse inputs whose feature count is not the network's input dimension."""
    if x.ndim != 2 or x.shape[1] != weights[0].shape[1]:
        raise ConfigError(f"the inputs have shape {x.shape} but the network takes {weights[0].shape[1]} features "
                          "(inputs are rows: (input, feature))")


def path_statistics(weights: Sequence[np.ndarray], x: np.ndarray, stds: Sequence[float] | None = None) -> PathStats:
    """F per depth prefix, per-layer active fractions and E[t_l | Z = 1] of a given network.

    Parameters
    ----------
    weights : [W_1, ..., W_H, W_out], effective weights (fan_out, fan_in), bias-free
    x : ndarray (input, feature)
    stds : sequence of float (layer,), optional
        Standardise layer l's weights by stds[l-1]; He's sqrt(2 / fan_in) by
        default. Positive rescaling changes t_l but not F.
    """
    check_inputs(weights, x)
    stds = he_stds(weights) if stds is None else tuple(stds)
    zs, _ = forward(weights, x)
    tracer = NetworkTracer(x, 0, ("weights",))
    for z, w, std in zip(zs, weights[:-1], stds):
        tracer.add_layer(z, w / std)
    raw = tracer.result()
    deep = raw["active_fraction"][:, -1].sum()
    slope = raw["weight_tz"] / deep if deep > 0 else np.full(len(zs), np.nan)
    fractions = np.stack([layer_fraction(z) for z in zs], axis=1)
    return PathStats(active_fraction=raw["active_fraction"], layer_fraction=fractions, weight_slope=slope)


def activation_masks(weights: Sequence[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Which units are on, per hidden layer: bool (neuron, input). Equal masks mean every path's Z is equal."""
    zs, _ = forward(weights, x)
    return [z > 0 for z in zs]


def path_products(weights: Sequence[np.ndarray], paths: np.ndarray) -> np.ndarray:
    """prod_l W_l[j_l, j_{l-1}] along each path, W_out included.

    Parameters
    ----------
    paths : int ndarray (path, H + 2)
        Input coordinate, one unit per hidden layer, output unit.

    Returns
    -------
    ndarray (path,)
    """
    out = np.ones(len(paths))
    for layer, w in enumerate(weights):
        out *= w[paths[:, layer + 1], paths[:, layer]]
    return out


def all_paths(weights: Sequence[np.ndarray], limit: int = 4_000_000) -> np.ndarray:
    """Every path (input, j_1, ..., j_H, output) as an int array (path, H + 2); refuses more than ``limit``."""
    dims = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    count = math.prod(dims)
    if count > limit:
        raise ConfigError(f"the network has {count} paths, more than {limit}; sample paths instead")
    return np.indices(dims, dtype=np.int64).reshape(len(dims), count).T


_NAME = re.compile(r"^W(?P<layer>[1-9][0-9]*)$")


def read_weights_npz(path: str | Path) -> list[np.ndarray]:
    """Load a bias-free network from a ``.npz`` file with arrays ``W1``..``WH`` and ``Wout``.

    W_l has shape (n_l, n_{l-1}) and Wout (n_out, n_H). Returns them as
    float64, in order; any missing, extra, mis-shaped or non-finite array is a
    one-line :class:`ConfigError`.
    """
    path = Path(path)
    arrays = load_npz(path, "weights")
    names = _layer_names(arrays, path)
    weights = [_check_array(arrays[name], name, path) for name in names]
    for prev, (name, w) in zip(weights, zip(names[1:], weights[1:])):
        if w.shape[1] != prev.shape[0]:
            raise ConfigError(f"{name} in {path} has shape {w.shape} but the layer before has {prev.shape[0]} "
                              f"units: {name} needs {prev.shape[0]} columns (fan_out, fan_in)")
    return weights


def _layer_names(arrays: dict, path: Path) -> list[str]:
    held = ", ".join(sorted(arrays)) or "nothing"
    extra = [k for k in arrays if k != "Wout" and not _NAME.match(k)]
    if extra:
        raise ConfigError(f"unexpected array {extra[0]!r} in {path}; a bias-free network has arrays W1..WH "
                          f"and Wout only (it holds: {held})")
    layers = sorted(int(_NAME.match(k)["layer"]) for k in arrays if k != "Wout")
    for name in ("W1", "Wout"):
        if name not in arrays:
            raise ConfigError(f"weights file {path} has no array {name!r}; it needs W1..WH and Wout (it holds: {held})")
    missing = [i for i in range(1, layers[-1] + 1) if i not in layers]
    if missing:
        raise ConfigError(f"weights file {path} has W{layers[-1]} but no W{missing[0]} (it holds: {held})")
    return [f"W{i}" for i in layers] + ["Wout"]


def _check_array(a: np.ndarray, name: str, path: Path) -> np.ndarray:
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ConfigError(f"{name} in {path} must hold real numbers, got dtype {a.dtype}")
    if a.ndim != 2 or a.size == 0:
        raise ConfigError(f"{name} in {path} must be a non-empty 2-D array (fan_out, fan_in), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{name} in {path} holds NaN or infinite values")
    return a.astype(np.float64)


def write_weights_npz(path: str | Path, weights: Sequence[np.ndarray]) -> Path:
    """Save a network as :func:`read_weights_npz` reads it (arrays W1..WH, Wout)."""
    path = Path(path)
    names = [f"W{i + 1}" for i in range(len(weights) - 1)] + ["Wout"]
    np.savez(path, **dict(zip(names, weights)))
    return path
