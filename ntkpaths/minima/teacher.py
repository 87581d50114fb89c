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


def _pair_sums(a, b, arctan2=jnp.arctan2):
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
    rest = math.pi - arctan2(s, p)
    value = jnp.sum(s + rest * p) / TWO_PI
    grad = (jnp.sum(s, axis=1)[:, None] * inv[:, None] * a + rest @ b) / TWO_PI
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



# Cephes' atan: a rational approximation on [0, 0.66] after range reduction (Moshier, Cephes Math Library)
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)
_MOREBITS = 6.123233995736765886130e-17  # pi/4 - its float64 value


def angle(s, p):
    """arctan2(s, p) for s >= 0: the angle t in [0, pi] between two vectors (t = 0 where both are 0).

    Within 2 ulp of ``jnp.arctan2`` and several times faster on CPU, where
    XLA evaluates float64 arctan2 one element at a time; this is plain
    arithmetic that vectorises.
    """
    ap = jnp.abs(p)
    hi, lo = jnp.maximum(s, ap), jnp.minimum(s, ap)
    a = lo / jnp.where(hi > 0, hi, 1.0)           # in [0, 1]
    big = a > 0.66
    x = jnp.where(big, (a - 1.0) / (a + 1.0), a)  # |x| <= 0.66
    z = x * x
    num = (((_ATAN_P[0] * z + _ATAN_P[1]) * z + _ATAN_P[2]) * z + _ATAN_P[3]) * z + _ATAN_P[4]
    den = ((((z + _ATAN_Q[0]) * z + _ATAN_Q[1]) * z + _ATAN_Q[2]) * z + _ATAN_Q[3]) * z + _ATAN_Q[4]
    r = x * (z * num / den) + x
    r = jnp.where(big, (math.pi / 4 + 0.5 * _MOREBITS) + r, r)  # atan(a)
    r = jnp.where(s > ap, (math.pi / 2 + _MOREBITS) - r, r)     # atan(s / |p|)
    return jnp.where(p < 0, (math.pi + 2.0 * _MOREBITS) - r, r)


def _identity_sums(w):
    """:func:`_pair_sums` (w, V) for the teacher V = I, where w_i . v_j = w_ij.

    |w_i| |v_j| sin t is the norm of w_i with coordinate j removed: a sum of
    squares, exact near t = 0 (where 1 - cos^2 t cancels).
    """
    k = w.shape[1]
    sq = w * w
    aa = jnp.sum(sq, axis=1)
    live = aa > 0
    inv = jnp.where(live, 1.0 / jnp.where(live, aa, 1.0), 0.0)
    s = jnp.sqrt(sq @ (1.0 - jnp.eye(k, dtype=w.dtype)))
    rest = math.pi - angle(s, w)
    value = jnp.sum(s + rest * w) / TWO_PI
    grad = (jnp.sum(s, axis=1)[:, None] * inv[:, None] * w + rest) / TWO_PI
    return value, grad


def identity_loss_and_gradient(w, tt):
    """:func:`loss_and_gradient` (w, I) in fewer operations: the descent's inner loop.

    The same F and gradient up to rounding (a few ulp): the teacher's own
    term ``tt`` (twice :func:`zero_loss`) is a constant passed in, the
    student-teacher terms use V = I, and every angle comes from :func:`angle`.
    """
    ss, gs = _pair_sums(w, w, arctan2=angle)
    sv, gv = _identity_sums(w)
    return 0.5 * (ss - 2.0 * sv + tt), gs - gv



def _unit_pairs(a: np.ndarray, b: np.ndarray):
    """For every (row of a, row of b): |a|, |b|, the unit rows, u = P_a b^ (the part of b^ orthogonal to
    a^, formed as a vector: accurate near t = 0), sin t = |u| and t. Zero rows give zero unit vectors."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ah = a / np.where(na > 0, na, 1.0)[:, None]
    bh = b / np.where(nb > 0, nb, 1.0)[:, None]
    c = ah @ bh.T
    u = bh[None, :, :] - c[:, :, None] * ah[:, None, :]
    s = np.linalg.norm(u, axis=2)
    return na, nb, ah, u, s, np.arctan2(s, c)


def _self_blocks(a: np.ndarray, b: np.ndarray, skip_diagonal: bool = False) -> np.ndarray:
    """sum over rows b of d^2 g(a, b) / da^2, per row of a (row, coord, coord):
    |b| sin t / (2 pi |a|) (I - a^ a^T + n n^T), n = P_a b^ / sin t (that term 0 where sin t = 0)."""
    na, nb, ah, u, s, _ = _unit_pairs(a, b)
    if skip_diagonal:
        s = np.where(np.eye(len(a), dtype=bool), 0.0, s)
    coef = nb[None, :] / (TWO_PI * np.where(na > 0, na, np.inf)[:, None])
    flat = (coef * s).sum(axis=1)[:, None, None] * (np.eye(a.shape[1]) - ah[:, :, None] * ah[:, None, :])
    over = np.where(s > 0, coef / np.where(s > 0, s, 1.0), 0.0)
    return flat + np.einsum("ab,abi,abj->aij", over, u, u)


def hessian(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The Hessian of F at student W (unit, coord) for teacher V in closed form, (unit * coord, unit * coord).

    Differentiating grad_w g(w, v) = (|v| sin t w^ + (pi - t) v) / (2 pi):
    d^2 g / dw^2 as in :func:`_self_blocks`, and d^2 g / dw dv =
    ((pi - t) I + w^ n^T + v^ m^T) / (2 pi), n = P_w v^ / sin t, m = P_v w^ / sin t
    (the last two terms vanish as sin t -> 0). F's block (i, i) is I / 2 (from
    g(w_i, w_i) = |w_i|^2 / 2) plus the self blocks of the other student units
    minus the teacher's; block (i, l), i != l, is d^2 g(w_i, w_l) / dw dv.
    F has no second derivative where some w_i is 0 (the kink); there the
    terms of that unit's angles are taken as 0.
    """
    w, v = np.asarray(w, dtype=np.float64), np.asarray(v, dtype=np.float64)
    n, d = w.shape
    _, _, wh, u, s, t = _unit_pairs(w, w)
    inv = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0.0)
    n_dir = u * inv[:, :, None]                        # n_il = P_i w^_l / sin t
    m_dir = np.transpose(u, (1, 0, 2)) * inv[:, :, None]  # m_il = P_l w^_i / sin t
    cross = wh[:, None, :, None] * n_dir[:, :, None, :] + wh[None, :, :, None] * m_dir[:, :, None, :]
    h = ((np.pi - t)[:, :, None, None] * np.eye(d) + cross) / TWO_PI
    h[np.arange(n), np.arange(n)] = 0.5 * np.eye(d) + _self_blocks(w, w, skip_diagonal=True) - _self_blocks(w, v)
    return h.transpose(0, 2, 1, 3).reshape(n * d, n * d)
