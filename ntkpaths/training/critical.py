"""The critical learning rate 2 / lambda_max(Theta_0 / N) of a run, and its regime.

Full-batch gradient descent on L = 1/(2N) sum |f - y|^2 moves the training
outputs, to first order, by f <- f - lr (Theta / N)(f - y). The linearised
dynamics contract every eigenmode when lr < 2 / lambda_max(Theta / N) and
blow the top one up beyond it: either the network escapes to a flatter region
with a loss spike on the way (the catapult of Lewkowycz et al., 2020) or it
diverges.
"""
from __future__ import annotations

import numpy as np

from ..jaxsetup import jax, jnp
from . import model

DENSE_LIMIT = 8192   # rows of Theta (sample * output) up to which the Gram is formed; beyond, Lanczos on Theta v
EIGH_LIMIT = 256     # rows up to which a dense eigensolver is cheaper than Lanczos
REGIMES = ("below_critical", "catapult", "diverged")
REGIME_ATTRS = {"flag_values": [0, 1, 2], "flag_meanings": " ".join(REGIMES),
                "long_name": "regime: lr at most critical with no loss rise (0), loss rise or lr above critical "
                             "and the run recovers (1), loss non-finite or not back below its start (2)"}
SPIKE = 1e-4   # loss_peak above 1 + SPIKE counts as a rise (float32 round-off stays far below)


def top_eigenvalue(theta: np.ndarray) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite matrix (Lanczos beyond EIGH_LIMIT rows)."""
    theta = np.asarray(theta, dtype=np.float64)
    if len(theta) <= EIGH_LIMIT:
        return float(np.linalg.eigvalsh(theta)[-1])
    from scipy.sparse.linalg import eigsh

    # a fixed start keeps runs bit-identical; the top mode of an NTK is close to the constant one
    return float(eigsh(theta, k=1, which="LA", v0=np.ones(len(theta)), tol=1e-10, return_eigenvectors=False)[0])


def top_eigenvalue_matrix_free(params, x, scales: tuple[float, ...]) -> float:
    """Largest eigenvalue of the empirical NTK on x by Lanczos on NTK-vector products (no Gram formed)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    rows = x.shape[0] * params[-1].shape[0]
    product = jax.jit(model.ntk_matvec, static_argnames="scales")

    def matvec(v):
        out = product(tuple(params), x, scales, jnp.asarray(np.ravel(v), dtype=x.dtype))
        return np.asarray(out, dtype=np.float64)

    op = LinearOperator((rows, rows), matvec=matvec, dtype=np.float64)
    return float(eigsh(op, k=1, which="LA", v0=np.ones(rows), tol=1e-8, return_eigenvectors=False)[0])


def critical_lr(params, x, scales: tuple[float, ...], step_per_lr: float, gram: np.ndarray | None = None) -> float:
    """2 / lambda_max(Theta_0 / N) in units of the configured learning rate.

    Parameters
    ----------
    params : tuple of (fan_out, fan_in) arrays
    x : array (sample, feature)
        The N inputs Theta_0 is measured on.
    scales : tuple of float
    step_per_lr : float
        The step's rate per unit of configured rate (1 in the ntk
        parametrisation, 1 / width in the standard one).
    gram : ndarray (N * output, N * output), optional
        Theta_0 when the caller has it; otherwise formed up to ``DENSE_LIMIT``
        rows and replaced by Lanczos on NTK-vector products beyond.
    """
    n = x.shape[0]
    rows = n * params[-1].shape[0]
    if gram is None and rows <= DENSE_LIMIT:
        gram = np.asarray(model.ntk(tuple(params), x, scales), dtype=np.float64)
    top = top_eigenvalue(gram) if gram is not None else top_eigenvalue_matrix_free(params, x, scales)
    return 2.0 * n / top / step_per_lr


def regime(diverged, loss_peak, final_ratio, lr, critical) -> np.ndarray:
    """Each run's regime code (see ``REGIMES``) from its per-run values; -1 where they are missing.

    Diverged: the loss became non-finite, or it ended above where it started.
    Catapult: otherwise, the loss rose above its start at some step, or lr
    exceeded the critical rate. Below critical: neither.
    """
    diverged, loss_peak, final_ratio, lr, critical = map(np.asarray, (diverged, loss_peak, final_ratio, lr, critical))
    known = np.isfinite(loss_peak) & np.isfinite(critical) & np.isfinite(diverged)
    with np.errstate(invalid="ignore"):
        bad = (diverged == 1) | ~np.isfinite(final_ratio) | (final_ratio > 1)
        spike = (loss_peak > 1 + SPIKE) | (lr > critical)
    code = np.where(bad, 2, np.where(spike, 1, 0))
    return np.where(known | (diverged == 1), code, -1).astype(np.int8)
