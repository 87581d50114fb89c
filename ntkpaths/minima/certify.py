"""Certificates: what kind of point a run ended at, and which end points are one minimum.

Classes (the ``outcome`` codes, in order of ``OUTCOMES``):

0 ``global_minimum``   loss <= loss_tol (the problem's minimum is 0);
1 ``spurious_minimum`` stationary (|grad| <= grad_tol), loss > loss_tol and the
                       smallest Hessian eigenvalue >= -eig_tol;
2 ``saddle``           stationary with an eigenvalue below -eig_tol;
3 ``not_converged``    the step budget ran out first;
4 ``diverged``         the loss blew up after every halving of the step.

An eigenvalue decides only beyond its solver residual: a stationary point
whose smallest eigenvalue lies within the residual of -eig_tol is called by
its value, and the residual is stored beside it for the reader to judge.
"""
from __future__ import annotations

import numpy as np

from .config import OUTCOMES

GLOBAL, SPURIOUS, SADDLE, NOT_CONVERGED, DIVERGED = range(len(OUTCOMES))
NO_FAMILY = -1
FAMILY_LOSS_RTOL = 1e-6     # end points of one family agree in loss to this relative tolerance
FAMILY_SIGNATURE_ATOL = 1e-4  # ... and in every entry of their signature to this


def needs_hessian(loss: float, grad_norm: float, diverged: bool, loss_tol: float, grad_tol: float) -> bool:
    """Only stationary end points above the global loss are classified by their Hessian."""
    return not diverged and np.isfinite(loss) and loss > loss_tol and grad_norm <= grad_tol


def classify(loss: float, grad_norm: float, hessian_min: float, diverged: bool, *, loss_tol: float,
             grad_tol: float, eig_tol: float) -> int:
    """The outcome code of one end point."""
    if diverged:
        return DIVERGED
    if loss <= loss_tol:
        return GLOBAL
    if not grad_norm <= grad_tol:
        return NOT_CONVERGED
    return SPURIOUS if hessian_min >= -eig_tol else SADDLE


def families(outcome: np.ndarray, loss: np.ndarray, signature: np.ndarray) -> np.ndarray:
    """Family ids (run,) of the spurious minima of one cell, -1 for every other run.

    Two end points are one family when their losses agree to FAMILY_LOSS_RTOL
    and their symmetry-invariant signatures (signature, (run, entry)) to
    FAMILY_SIGNATURE_ATOL. Ids number families in order of their first run,
    so they depend only on the runs, never on the order tasks finished in.
    """
    ids = np.full(len(outcome), NO_FAMILY, dtype=np.int64)
    heads: list[int] = []
    for r in np.flatnonzero(outcome == SPURIOUS):
        for fam, h in enumerate(heads):
            if _same(loss[r], loss[h], signature[r], signature[h]):
                ids[r] = fam
                break
        else:
            ids[r] = len(heads)
            heads.append(r)
    return ids


def _same(a: float, b: float, sa: np.ndarray, sb: np.ndarray) -> bool:
    if abs(a - b) > FAMILY_LOSS_RTOL * max(abs(a), abs(b)):
        return False
    ok = np.isfinite(sa) & np.isfinite(sb)
    return bool(np.all(np.isfinite(sa) == np.isfinite(sb)) and np.all(np.abs(sa[ok] - sb[ok]) <= FAMILY_SIGNATURE_ATOL))
