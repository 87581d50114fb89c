"""Path statistics of a given network on given inputs, and weights files.

Sweeps measure path statistics of sampled networks; this module measures
them for one network someone hands over -- a trained one, a transformed one,
one read from a file or taken from a framework (:mod:`ntkpaths.readers`),
with or without biases -- through the same code as the sweeps: the exact
all-path fraction F and E[t_l | Z = 1] from
:class:`ntkpaths.netstats.NetworkTracer`, fed the pre-activations of
:meth:`ntkpaths.network.Network.forward`.

Examples
--------
>>> from ntkpaths import network_from, path_statistics  # doctest: +SKIP
>>> stats = path_statistics(network_from("net.onnx"), x)  # doctest: +SKIP
>>> stats.p_active                                       # doctest: +SKIP
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ConfigError
from .allpaths import layer_fraction
from .network import Network
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
    outputs : ndarray (input, output)
        The network's outputs, biases included.
    """

    active_fraction: np.ndarray
    layer_fraction: np.ndarray
    weight_slope: np.ndarray
    outputs: np.ndarray

    @property
    def p_active(self) -> np.ndarray:
        """Mean F over the inputs, (depth,)."""
        return self.active_fraction.mean(axis=0)

    @property
    def p_active_se(self) -> np.ndarray:
        """Standard error of :attr:`p_active` as an estimate over the inputs' distribution, (depth,)."""
        return _se(self.active_fraction)

    @property
    def layer_fraction_se(self) -> np.ndarray:
        """Standard error of the mean of :attr:`layer_fraction` over the inputs, (layer,)."""
        return _se(self.layer_fraction)


def _se(values: np.ndarray) -> np.ndarray:
    n = values.shape[0]
    return values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(values.shape[1], np.nan)


def _weights(net) -> list[np.ndarray]:
    return list(net.weights) if isinstance(net, Network) else list(net)


def he_stds(weights) -> tuple[float, ...]:
    """He's std sqrt(2 / fan_in) of every hidden layer's weights (a :class:`Network` or [W_1, ..., W_out])."""
    return tuple(math.sqrt(2.0 / w.shape[1]) for w in _weights(weights)[:-1])


def check_inputs(weights, x: np.ndarray) -> None:
    """Refuse inputs whose feature count is not the network's input dimension."""
    first = _weights(weights)[0]
    if x.ndim != 2 or x.shape[1] != first.shape[1]:
        raise ConfigError(f"the inputs have shape {x.shape} but the network takes {first.shape[1]} features "
                          "(inputs are rows: (input, feature))")


def path_statistics(net, x: np.ndarray, stds: Sequence[float] | None = None) -> PathStats:
    """F per depth prefix, per-layer active fractions, E[t_l | Z = 1] and the outputs of a given network.

    Parameters
    ----------
    net : Network, or anything :func:`ntkpaths.network_from` takes (a file, a framework's model,
        [W_1, ..., W_H, W_out] as (fan_out, fan_in) bias-free weights)
    x : ndarray (input, feature)
    stds : sequence of float (layer,), optional
        Standardise layer l's weights by stds[l-1]; He's sqrt(2 / fan_in) by
        default. Positive rescaling changes t_l but not F.

    Notes
    -----
    With biases a path is still active when every hidden unit on it is on;
    the biases only decide which units are on (docs/science.md).
    """
    if not isinstance(net, Network):
        from .readers import network_from

        net = network_from(net)
    x = np.asarray(x, dtype=np.float64)
    check_inputs(net, x)
    stds = he_stds(net) if stds is None else tuple(stds)
    zs, y = net.forward(x)
    tracer = NetworkTracer(x, 0, ("weights",))
    with np.errstate(over="ignore"):  # t beyond float32's range falls in the end bin, as any t past the bins
        for z, w, std in zip(zs, net.weights[:-1], stds):
            tracer.add_layer(z, w / std)
    raw = tracer.result()
    deep = raw["active_fraction"][:, -1].sum()
    slope = raw["weight_tz"] / deep if deep > 0 else np.full(len(zs), np.nan)
    fractions = np.stack([layer_fraction(z) for z in zs], axis=1)
    return PathStats(active_fraction=raw["active_fraction"], layer_fraction=fractions, weight_slope=slope, outputs=y)


def activation_masks(weights, x: np.ndarray) -> list[np.ndarray]:
    """Which units are on, per hidden layer: bool (neuron, input). Equal masks mean every path's Z is equal."""
    net = weights if isinstance(weights, Network) else Network(tuple(weights))
    zs, _ = net.forward(x)
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


def read_weights_npz(path: str | Path) -> list[np.ndarray]:
    """Load a bias-free network from a ``.npz`` file with arrays ``W1``..``WH`` and ``Wout``, as a list.

    W_l has shape (n_l, n_{l-1}) and Wout (n_out, n_H); they come back as
    float64, in order. A network with biases, or any missing, extra,
    mis-shaped or non-finite array, is a one-line :class:`ConfigError`; read
    networks with biases with :func:`ntkpaths.network_from`.
    """
    from .readers import read_network

    net = read_network(path)
    if net.has_biases:
        raise ConfigError(f"{path} holds a network with biases; read it with ntkpaths.network_from")
    return list(net.weights)


def write_weights_npz(path: str | Path, weights) -> Path:
    """Save a network (a :class:`Network` or [W_1, ..., W_out]) as arrays W1..WH, Wout (+ biases); returns the path.

    A name without a suffix gets ``.npz``, as numpy gives it.
    """
    from .readers import network_from, write_network

    return write_network(path, network_from(weights))
