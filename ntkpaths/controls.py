"""Per-layer control variates whose conditional means are known exactly. No randomness.

For bias-free weights with i.i.d. N(0, std^2) entries, given the previous
layer's activations h = h_{l-1} (one column per input) the rows of
z_l = W_l h are i.i.d. N(0, std^2 G), G = h^T h. So, for two columns u, v of h
at angle theta, and s_u = std |h_u|, every neuron average below has an exact
conditional mean (docs/science.md, "Variance reduction"):

- fraction of neurons on for both: (pi - theta) / (2 pi);
- fraction on for one input: 1/2 (0 for a zero column);
- mean relu(z_u)^2 / s_u^2: 1/2;
- mean relu(z_u) relu(z_v) / (s_u s_v): (sin theta + (pi - theta) cos theta) / (2 pi);
- the layer's mean t Z over its edges (t the standardised weight, Z = 1 when
  both ends are on): |h_u|_1 / (fan_in |h_u| sqrt(2 pi)), since
  E[t_i 1(z > 0) | h] = h_i / (|h| sqrt(2 pi)).

Each control is the layer's value minus that mean, so it has mean exactly 0
given everything before the layer, whatever it is multiplied by from earlier
layers. :mod:`ntkpaths.reduce` regresses the estimates on them.
"""
from __future__ import annotations

import math

import numpy as np

JOINT_CONTROLS = ("both_on", "base_square", "pair_square", "cross")
SLOPE_CONTROLS = ("edge", "on")
_S2PI = math.sqrt(2 * math.pi)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (a dead column: the control and its mean are both 0)."""
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den > 0)


def arccos_kernel(theta: np.ndarray) -> np.ndarray:
    """E[relu(u) relu(v)] for standard normals u, v at correlation cos(theta)."""
    return (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)


def joint_layer(h: np.ndarray, z: np.ndarray, std: float, base: int) -> tuple[np.ndarray, np.ndarray]:
    """One layer's joint on-fraction and its four controls, for the base column and each pair column after it.

    Parameters
    ----------
    h : ndarray (..., fan_in, column), float64
        The layer's input: previous activations (or the inputs x).
    z : ndarray (..., neuron, column)
        The layer's pre-activations.
    std : float
        The weights' standard deviation (forward scale).
    base : int
        Column of the base input; the pair columns follow it.

    Returns
    -------
    both : ndarray (..., angle)
        Fraction of neurons on for the base and the pair input.
    controls : ndarray (..., angle, 4)
        ``JOINT_CONTROLS``, each with conditional mean 0.
    """
    h, z = h[..., base:], z[..., base:]        # the main inputs' columns play no part
    hb, hc = h[..., 0], h[..., 1:]
    nb = np.linalg.norm(hb, axis=-1)[..., None]
    nc = np.linalg.norm(hc, axis=-2)
    dot = np.einsum("...i,...ia->...a", hb, hc)
    theta = np.arccos(np.clip(_ratio(dot, nb * nc), -1.0, 1.0))
    alive = (nb > 0) & (nc > 0)
    on = z > 0
    both = np.mean(on[..., :1] & on[..., 1:], axis=-2)
    mean_both = np.where(alive, (np.pi - theta) / (2 * np.pi), 0.0)
    r = np.maximum(z, 0).astype(np.float64)
    rb, rc = r[..., 0], r[..., 1:]
    base_sq = _ratio(np.mean(rb * rb, axis=-1)[..., None], (std * nb) ** 2) - 0.5 * (nb > 0)
    pair_sq = _ratio(np.mean(rc * rc, axis=-2), (std * nc) ** 2) - 0.5 * (nc > 0)
    cross = _ratio(np.einsum("...j,...ja->...a", rb, rc) / z.shape[-2], std**2 * nb * nc) - np.where(
        alive, arccos_kernel(theta), 0.0)
    controls = np.stack([both - mean_both, np.broadcast_to(base_sq, pair_sq.shape), pair_sq, cross], axis=-1)
    return both, controls


def slope_layer(h: np.ndarray, z: np.ndarray, tz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One layer's deviations of the on-fraction and of the mean t Z from their conditional means, per input.

    Parameters
    ----------
    h : ndarray (fan_in, input), float64
        The layer's input (previous activations, or x at the first layer).
    z : ndarray (neuron, input)
    tz : ndarray (input,)
        Mean over the layer's edges of t Z (``NetworkTracer.edge_tz``), exact or from tracked edges.

    Returns
    -------
    on, edge : ndarray (input,)
    """
    norm = np.linalg.norm(h, axis=0)
    alive = norm > 0
    on = np.count_nonzero(z > 0, axis=0) / z.shape[0] - 0.5 * alive
    edge = tz - _ratio(np.abs(h).sum(axis=0), h.shape[0] * norm * _S2PI)
    return on, edge
