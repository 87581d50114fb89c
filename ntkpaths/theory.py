"""Closed-form predictions shared by tests, aggregation and plots."""
from __future__ import annotations

import math

import numpy as np


def p_active(depth: np.ndarray | int) -> np.ndarray:
    """P(Z_p = 1) = 2^-H, Theorem 1 of the paper under test, for H hidden layers.

    It is exact at every width for bias-free networks with weights symmetric
    about zero: given the previous layer (not all zero), each neuron is on with
    probability 1/2 whatever the previous layers did.
    """
    return np.exp2(-np.asarray(depth, dtype=float))


def active_fraction_var(depth: np.ndarray | int, width: np.ndarray | int) -> np.ndarray:
    """Var F_H(x) for one fixed input x != 0, bias-free symmetric weights, all widths n.

    Given the previous layer, the n neurons of a layer are on independently
    with probability 1/2, so a_l ~ Binomial(n, 1/2) i.i.d. across layers and
    F_H = prod a_l / n has E[F^2] = ((1 + 1/n) / 4)^H.
    """
    depth = np.asarray(depth, dtype=float)
    width = np.asarray(width, dtype=float)
    return ((1.0 + 1.0 / width) / 4.0) ** depth - 4.0**-depth


def active_fraction_moments(depth: int, width: int) -> tuple[float, float]:
    """E[F_H] = 2^-H and E[F_H^2] = ((1 + 1/n) / 4)^H for one input x != 0 (see :func:`active_fraction_var`).

    Replicating every unit k times (Fukumizu et al., 2019) keeps F of every
    network, so an embedded network of width k n keeps these width-n moments.
    """
    return 0.5**depth, ((1.0 + 1.0 / width) / 4.0) ** depth


def replicated_unit_moments(depth: int, width: int, k: int) -> tuple[float, float]:
    """E[F_H], E[F_H^2] after replicating one unit of every hidden layer of width n into k copies.

    The copies are on exactly when their original is, so a_l = A + k Z with
    A ~ Binomial(n - 1, 1/2) and Z ~ Bernoulli(1/2), over N = n + k - 1 units:
    E[a_l / N] = 1/2 still, and E[(a_l / N)^2] = 1/4 + (n - 1 + k^2) / (4 N^2).
    """
    total = width + k - 1
    return 0.5**depth, (0.25 + (width - 1 + k * k) / (4.0 * total**2)) ** depth


def dead_units_moments(depth: int, width: int, added: int) -> tuple[float, float]:
    """E[F_H], E[F_H^2] after adding ``added`` always-off units (zero incoming weights) to every hidden layer.

    Fukumizu et al.'s inactive propagation: a_l is unchanged and n_l grows to
    n + m, so F is multiplied by (n / (n + m))^H in every network.
    """
    shrink = (width / (width + added)) ** depth
    mean, square = active_fraction_moments(depth, width)
    return mean * shrink, square * shrink**2


def inactive_units_moments(depth: int, width: int, added: int) -> tuple[float, float]:
    """E[F_H], E[F_H^2] after adding m units with zero outgoing weights to every hidden layer of width n.

    The new units' incoming weights are symmetric draws from the layer's
    original units only (Fukumizu et al.'s inactive units). Given a previous
    layer with an original unit on, the n + m units of a layer are on
    independently with probability 1/2, so T = a_l ~ Binomial(n + m, 1/2); if
    every original unit was off (probability 2^-n), the layer is all off. With
    O the originals on and A ~ Binomial(m, 1/2) the new ones,

        E[F^q] = E[(T/N)^q 1{O > 0}]^(H-1) E[(T/N)^q],  N = n + m,

    and E[(T/N)^q 1{O > 0}] = E[(T/N)^q] - 2^-n E[(A/N)^q].
    """
    total = width + added
    off = 0.5**width
    mean, square = 0.5, (1.0 + 1.0 / total) / 4.0
    mean_live = mean - off * added / (2.0 * total)
    square_live = square - off * added * (added + 1) / (4.0 * total**2)
    return mean_live ** (depth - 1) * mean, square_live ** (depth - 1) * square


def arccos_angles(angle: float | np.ndarray, depth: int) -> np.ndarray:
    """Angle between the inputs of hidden layers 1..depth at infinite width.

    Layer 1 sees the input angle theta; each ReLU layer maps the correlation
    rho = cos(theta) through the degree-1 arc-cosine kernel (Cho & Saul, 2009),
    rho' = (sqrt(1 - rho^2) + (pi - arccos rho) rho) / pi.

    Returns
    -------
    ndarray (depth, *angle.shape)
    """
    theta = np.asarray(angle, dtype=float)
    out = []
    for _ in range(depth):
        out.append(theta)
        rho = np.cos(theta)
        rho = (np.sqrt(np.clip(1 - rho**2, 0, None)) + (np.pi - theta) * rho) / np.pi
        theta = np.arccos(np.clip(rho, -1.0, 1.0))
    return np.stack(out)


def joint_active(depth: int, angle: float | np.ndarray) -> np.ndarray:
    """P(path active for both of two inputs at angle theta), depths 1..depth, infinite width.

    A neuron is on for both inputs with probability (pi - theta_l) / (2 pi),
    independently across layers at infinite width. Shape (depth, *angle.shape).
    """
    return np.cumprod((np.pi - arccos_angles(angle, depth)) / (2 * np.pi), axis=0)


def joint_independent(depth: np.ndarray | int) -> np.ndarray:
    """4^-H: the joint probability if the two inputs' activations were independent."""
    return np.exp2(-2.0 * np.asarray(depth, dtype=float))


WEIGHT_SLOPE_COEFFICIENT = 2.0 * np.sqrt(2.0) / np.pi
_TAIL_SDS = 12.0  # binomial mass beyond 12 sd is below 2 exp(-288) (Hoeffding): far below float64 rounding


def weight_slope(fan_in: np.ndarray | int) -> np.ndarray:
    """E[t_l | path active] for a hidden layer l >= 2 of fan-in n, exact at every width.

    Given the previous layer h, z_j / std = t h_j' + r with Var r = |h|^2 - h_j'^2,
    so E[t 1(z_j > 0) | h] = sqrt(2/pi) h_j' / (2 |h|). Every other layer is on
    with probability 1/2 whatever h is, and h is the ReLU of n i.i.d. normals
    times a common scale, so averaging over the path's source j' gives

        E[t_l | Z=1] = 4 E[S / |h|] / (n sqrt(2 pi)),   S = sum_j' h_j',

    with E[S / |h|] from :func:`mean_sum_over_norm`. Leading order:
    (2 sqrt2 / pi) / sqrt(n) (:func:`weight_slope_leading`); zero at infinite width.
    Assumes bias-free, zero-mean Gaussian weights.
    """
    n = np.asarray(fan_in, dtype=float)
    ratio = np.vectorize(mean_sum_over_norm, otypes=[float])(n.astype(np.int64))
    return 4.0 * ratio / (n * np.sqrt(2.0 * np.pi))


def weight_slope_leading(fan_in: np.ndarray | int) -> np.ndarray:
    """Leading order of :func:`weight_slope`: (2 sqrt2 / pi) / sqrt(n)."""
    return WEIGHT_SLOPE_COEFFICIENT / np.sqrt(np.asarray(fan_in, dtype=float))


def mean_sum_over_norm(n: int) -> float:
    """E[S / |h|] for h the ReLU of n i.i.d. standard normals, S = sum h (0 when h = 0).

    Given k positive coordinates (k ~ Binomial(n, 1/2)), they are k i.i.d.
    half-normals and g / |g| is uniform on the sphere, so
    E[S / |h| | k] = k E|u_1| = k Gamma(k/2) / (sqrt(pi) Gamma((k+1)/2)).
    The sum over k keeps every k within 12 sd of n/2 (the rest weighs less
    than 1e-120) and is exact to float64 rounding.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"fan-in must be >= 1, got {n}")
    half_width = _TAIL_SDS * 0.5 * np.sqrt(n)
    k = np.arange(max(1, int(n / 2 - half_width)), min(n, int(np.ceil(n / 2 + half_width))) + 1)
    lgamma = np.frompyfunc(math.lgamma, 1, 1)
    log_pmf = math.lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) - n * math.log(2.0)
    log_abs_u = lgamma(k / 2) - lgamma((k + 1) / 2) - 0.5 * math.log(math.pi)
    return float(np.sum(k * np.exp((log_pmf + log_abs_u).astype(float))))


def first_layer_weight_slope_independent(x: np.ndarray, weight_mean: float) -> np.ndarray:
    """E[t_1 | path active] if activation were independent of the path's weights.

    t_1 = e sign(x_i0) with E[e] = weight_mean, so independence gives
    weight_mean times the mean of sign(x_i0) over inputs and coordinates
    (every input being equally likely to have an active path under
    Theorems 1 and 3). Zero for zero-mean weights.
    """
    x = np.asarray(x, dtype=float)
    return weight_mean * np.nanmean(np.sign(x), axis=(-2, -1))


def first_layer_weight_slope(x: np.ndarray) -> np.ndarray:
    """E[t_1 | path active] for Gaussian first-layer weights, exact at every width.

    z_1j / std = sum_i t_ji x_i, so E[t_1 sign(x_i0) | z_1j > 0] = sqrt(2/pi) |x_i0| / |x|;
    later layers are on with probability 1/2 whatever h_1 is, so averaging over
    i0 and over the inputs gives sqrt(2/pi) * mean_b |x_b|_1 / (d |x_b|).

    Parameters
    ----------
    x : ndarray (..., input, feature); NaN features (padding) are ignored.
    """
    x = np.asarray(x, dtype=float)
    d = np.sum(np.isfinite(x), axis=-1)
    norm = np.sqrt(np.nansum(x**2, axis=-1))
    # a zero input has no active path, so it does not enter E[. | Z=1]
    ratio = np.where(norm > 0, np.nansum(np.abs(x), axis=-1) / (d * np.where(norm > 0, norm, 1.0)), np.nan)
    return np.sqrt(2.0 / np.pi) * np.nanmean(ratio, axis=-1)
