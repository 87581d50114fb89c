"""The Gaussian teacher-student problem of Safran & Shamir (ICML 2018) in closed form.

Student: n ReLU units with weight vectors w_i (rows of W, (unit, coord)) and
output weights fixed to 1; teacher: k units v_j, orthonormal, in d = k
dimensions (V = I, rows of (teacher, coord)); inputs x ~ N(0, I_d). The
population loss

    F(W) = 1/2 E[(sum_i relu(w_i . x) - sum_j relu(v_j . x))^2]

is a sum of the pair terms g(w, v) = E[relu(w . x) relu(v . x)]
= (|w| |v| sin t + (pi - t) w . v) / (2 pi), t the angle between w and v:
the degree-1 arc-cosine kernel of Cho & Saul (2009), halved (the layer map of
:func:`ntkpaths.theory.arccos_angles` is its normalised form). g(w, w) = |w|^2 / 2.

F is twice continuously differentiable wherever no w_i is 0. Autodiff of
arccos fails where two vectors are parallel (the global minimum), so g carries
its own derivative, grad_w g = (|v| sin t w/|w| + (pi - t) v) / (2 pi), written
with a safe norm so that its derivative -- the Hessian -- is finite there too.
"""
from __future__ import annotations

import math

import numpy as np

from ..jaxsetup import jax, jnp

TWO_PI = 2.0 * math.pi


def _safe_norm(x):
    """|x| with derivative 0 (not NaN) at x = 0."""
    sq = jnp.sum(x * x, axis=-1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _sin_part(w, v):
    """|w| |v| sin t = |w| |v_perp|, v_perp the part of v orthogonal to w (stable near t = 0 and pi)."""
    ww = jnp.sum(w * w, axis=-1)
    coef = jnp.sum(w * v, axis=-1) / jnp.where(ww > 0, ww, 1.0)
    return _safe_norm(w) * _safe_norm(v - coef[..., None] * w)


@jax.custom_jvp
def pair(w, v):
    """g(w, v) = E[relu(w . x) relu(v . x)] for x ~ N(0, I); broadcasts over leading axes."""
    s, p = _sin_part(w, v), jnp.sum(w * v, axis=-1)
    return (s + (math.pi - jnp.arctan2(s, p)) * p) / TWO_PI


def _pair_grad(w, v):
    """grad_w g(w, v) = (s / |w|^2 w + (pi - t) v) / (2 pi); 0 contribution of s at w = 0."""
    s, p = _sin_part(w, v), jnp.sum(w * v, axis=-1)
    ww = jnp.sum(w * w, axis=-1)
    ratio = jnp.where(ww > 0, s / jnp.where(ww > 0, ww, 1.0), 0.0)
    return (ratio[..., None] * w + (math.pi - jnp.arctan2(s, p))[..., None] * v) / TWO_PI


@pair.defjvp
def _pair_jvp(primals, tangents):
    w, v = primals
    dw, dv = tangents
    return pair(w, v), jnp.sum(_pair_grad(w, v) * dw, axis=-1) + jnp.sum(_pair_grad(v, w) * dv, axis=-1)


def _gram(a, b):
    """(rows of a, rows of b) matrix of g."""
    return pair(a[:, None, :], b[None, :, :])


def population_loss(w, v):
    """F(W) for student W (unit, coord) and teacher V (teacher, coord), by the closed form."""
    n = w.shape[0]
    off = 1.0 - jnp.eye(n, dtype=w.dtype)
    ss = jnp.sum(_gram(w, w) * off) + 0.5 * jnp.sum(w * w)
    m = v.shape[0]
    tt = jnp.sum(_gram(v, v) * (1.0 - jnp.eye(m, dtype=v.dtype))) + 0.5 * jnp.sum(v * v)
    return 0.5 * (ss - 2.0 * jnp.sum(_gram(w, v)) + tt)


def _pair_sums(a, b):
    """Sum over all (row of a, row of b) pairs of g, and each row of a's summed gradient sum_b grad_a g(a, b).

    The part of b orthogonal to a is formed as a vector, so sin t stays
    accurate near t = 0 (the global minimum), where 1 - cos^2 t cancels.
    """
    p = a @ b.T
    aa = jnp.sum(a * a, axis=1)
    live = aa > 0
    inv = jnp.where(live, 1.0 / jnp.where(live, aa, 1.0), 0.0)
    perp = b[None, :, :] - (p * inv[:, None])[:, :, None] * a[:, None, :]
    s = jnp.sqrt(aa)[:, None] * jnp.sqrt(jnp.sum(perp * perp, axis=-1))
    angle = math.pi - jnp.arctan2(s, p)
    value = jnp.sum(s + angle * p) / TWO_PI
    grad = (jnp.sum(s, axis=1)[:, None] * inv[:, None] * a + angle @ b) / TWO_PI
    return value, grad


def loss_and_gradient(w, v):
    """F(W) and its gradient (unit, coord) in one pass, without autodiff: the descent's inner loop.

    With the diagonal included, g(w_i, w_i) = |w_i|^2 / 2 is the self term and
    twice its gradient formula, w_i, is the self term's gradient.
    """
    ss, gs = _pair_sums(w, w)
    sv, gv = _pair_sums(w, v)
    tt, _ = _pair_sums(v, v)
    return 0.5 * (ss - 2.0 * sv + tt), gs - gv


def zero_loss(k: int) -> float:
    """F(0): the loss of the degenerate critical point where every student unit is off (or 0).

    F(0) = 1/2 E[(sum_j relu(v_j . x))^2] = 1/2 (k/2 + k (k - 1) / (2 pi)) for orthonormal v_j.
    """
    return 0.5 * (k / 2.0 + k * (k - 1) / TWO_PI)


def monte_carlo_loss(w: np.ndarray, v: np.ndarray, samples: int, *, rng: np.random.Generator) -> tuple[float, float]:
    """F(W) by Monte Carlo over x ~ N(0, I): the estimate and its standard error (for tests)."""
    x = rng.standard_normal((samples, w.shape[1]))
    diff = np.maximum(x @ w.T, 0).sum(1) - np.maximum(x @ v.T, 0).sum(1)
    terms = 0.5 * diff**2
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(samples))


def teacher(k: int) -> np.ndarray:
    """The orthonormal teacher V = I_k (teacher, coord); any orthonormal V gives the same F up to a rotation."""
    return np.eye(k)
