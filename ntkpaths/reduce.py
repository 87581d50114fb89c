"""Variance-reduced estimates: control variates with exact means, fitted by cross-fitting.

The plain estimate R is a mean of per-network values num_i, or a ratio of
means sum(num) / sum(den). Each network also carries controls X_i
(:mod:`ntkpaths.controls`), whose means are exactly 0. The reduced estimate
corrects the numerator's and the denominator's means,

    N_cv = mean_i (num_i - beta_{k(i)} . X_i),   D_cv likewise,   R_cv = N_cv / D_cv,

with k(i) = i mod 2 the network's fold and beta_k the least-squares
coefficients fitted on the *other* fold only. So beta_k is independent of
the X_i it multiplies, every correction has mean 0, and N_cv and D_cv are
unbiased whatever beta comes out (cross-fitting; a beta fitted on the same
networks would bias them by O(p/n)); R_cv is a ratio of unbiased means, as
the plain R is. Its standard error is that of the mean of the residual
influence values (num_i - beta . X_i - R_cv (den_i - beta' . X_i)) / D_cv;
the ratio of their variance to the plain influence values' is the variance
factor: the share of networks the reduced estimate needs for the same
precision.

A regression on p controls needs networks: below ``min_networks(p)`` the
plain estimate is used. Everything is computed from sums of products over
network prefixes, so a stopping rule can ask for the estimate at every
``GRID``-th network count cheaply, and the result depends on the
per-network values only.
"""
from __future__ import annotations

import numpy as np

from .config import MIN_NETS

FOLDS = 2
GRID = 8             # with controls, a cell may stop only at multiples of this many networks
PER_CONTROL = 8      # networks per control before the regression is used


def min_networks(p: int) -> int:
    """Fewest networks for a reduced estimate with p controls (each fold fits p coefficients on n/2)."""
    return max(MIN_NETS, PER_CONTROL * p)


def prefix_estimates(num: np.ndarray, den: np.ndarray | None, X: np.ndarray, ns) -> dict[str, np.ndarray]:
    """Plain and reduced estimates over networks 0..n-1 for each n in ``ns``.

    Parameters
    ----------
    num : ndarray (network,)
    den : ndarray (network,) or None
        None estimates mean(num); else mean(num) / mean(den).
    X : ndarray (network, control)
        Controls, each with mean exactly 0.
    ns : sequence of int
        Increasing network counts, each at most ``len(num)``.

    Returns
    -------
    dict of ndarray (len(ns),)
        ``plain``, ``plain_se``, ``reduced``, ``reduced_se`` and ``factor``
        (residual variance / plain influence variance). The reduced entries
        are NaN where n < ``min_networks(p)``.
    """
    ns = np.asarray(ns, dtype=np.int64)
    n_all = len(num)
    den = np.ones(n_all) if den is None else den
    p = X.shape[1]
    head = slice(0, min(GRID, n_all))
    shift = np.array([num[head].mean(), den[head].mean()])   # centring keeps the sums' cancellation small
    V = np.column_stack([np.ones(n_all), num - shift[0], den - shift[1], X])
    fold = np.arange(n_all) % FOLDS
    q = V.shape[1]
    sums = np.zeros((len(ns), FOLDS, q, q))
    running = np.zeros((FOLDS, q, q))
    start = 0
    for j, n in enumerate(ns):
        for k in range(FOLDS):
            seg = V[start:n][fold[start:n] == k]
            running[k] += seg.T @ seg
        sums[j] = running
        start = n
    return _estimates(sums, shift, p, ns)


def _estimates(sums: np.ndarray, shift: np.ndarray, p: int, ns: np.ndarray) -> dict[str, np.ndarray]:
    total = sums.sum(axis=1)                                   # (n, q, q)
    n = total[:, 0, 0]
    s_num, s_den = total[:, 0, 1] + n * shift[0], total[:, 0, 2] + n * shift[1]
    R = s_num / s_den
    dbar = s_den / n
    # psi = a . v, with v = (1, num - c1, den - c2, X)
    a = np.zeros((len(ns), total.shape[1]))
    a[:, 0] = (shift[0] - R * shift[1]) / dbar
    a[:, 1] = 1 / dbar
    a[:, 2] = -R / dbar
    var_psi = _quad(total, a) / n - (_lin(total, a) / n) ** 2
    var_psi *= n / (n - 1)
    out = {"plain": R, "plain_se": np.sqrt(np.maximum(var_psi, 0) / n)}
    ok = n >= min_networks(p)
    for name in ("reduced", "reduced_se", "factor"):
        out[name] = np.full(len(ns), np.nan)
    if not ok.any():
        return out
    # Numerator and denominator are each corrected by their own cross-fitted regression, and the
    # ratio taken of the corrected means: linearising around the plain ratio instead leaves a
    # second-order error that matters when the plain estimate is much noisier than the reduced one.
    q = total.shape[1]
    unit = np.zeros((2, int(ok.sum()), q))
    unit[0, :, 1] = unit[1, :, 2] = 1.0
    coef = {}                                  # (fold, part) -> beta (n, p)
    corrected = np.zeros((2, int(ok.sum())))   # sums of num - c1 and den - c2 after correction
    for k in range(FOLDS):
        train = total[ok] - sums[ok, k]        # every other fold
        for part in (0, 1):
            coef[k, part] = _coefficients(train, unit[part])
            corrected[part] += _lin(sums[ok, k], unit[part]) - np.einsum("np,np->n", sums[ok, k][:, 0, 3:], coef[k, part])
    m = n[ok]
    s_num_cv, s_den_cv = corrected[0] + m * shift[0], corrected[1] + m * shift[1]
    R_cv = s_num_cv / s_den_cv
    resid_sq = np.zeros(len(m))
    for k in range(FOLDS):
        # r_i = (num_i - beta_num . X_i - R_cv (den_i - beta_den . X_i)) / dbar_cv, as b . v_i
        b = np.zeros((len(m), q))
        b[:, 0] = shift[0] - R_cv * shift[1]
        b[:, 1] = 1.0
        b[:, 2] = -R_cv
        b[:, 3:] = -(coef[k, 0] - R_cv[:, None] * coef[k, 1])
        resid_sq += _quad(sums[ok, k], b / (s_den_cv / m)[:, None])
    var_r = resid_sq / (m - 1)                 # the residuals sum to 0 at R_cv
    out["reduced"][ok] = R_cv
    out["reduced_se"][ok] = np.sqrt(np.maximum(var_r, 0) / m)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["factor"][ok] = var_r / var_psi[ok]
    return out


def _lin(S: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum_i a . v_i from S = sum_i v_i v_i^T (its first row holds sum_i v_i)."""
    return np.einsum("nq,nq->n", S[:, 0, :], a)


def _quad(S: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum_i (a . v_i)^2."""
    return np.einsum("nq,nqr,nr->n", a, S, a)


def _coefficients(S: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (with intercept) of a . v on the controls, from the fold's sums S.

    Solved on the controls' correlation matrix with a pseudo-inverse, so controls of very
    different scales, constant ones and collinear ones are all handled.
    """
    m = S[:, 0, 0][:, None]
    mean_x = S[:, 0, 3:] / m
    cov_x = S[:, 3:, 3:] / m[..., None] - mean_x[:, :, None] * mean_x[:, None, :]
    mean_y = _lin(S, a)[:, None] / m
    cov_xy = np.einsum("npq,nq->np", S[:, 3:, :], a) / m - mean_x * mean_y
    sd = np.sqrt(np.maximum(np.diagonal(cov_x, axis1=1, axis2=2), 0))
    sd = np.where(sd > 0, sd, 1.0)
    corr = cov_x / (sd[:, :, None] * sd[:, None, :])
    return np.einsum("npq,nq->np", np.linalg.pinv(corr, rcond=1e-10, hermitian=True), cov_xy / sd) / sd


def estimate(num: np.ndarray, den: np.ndarray | None, X: np.ndarray) -> dict[str, float]:
    """:func:`prefix_estimates` over all given networks (no NaN rows)."""
    return {k: float(v[0]) for k, v in prefix_estimates(num, den, X, [len(num)]).items()}
