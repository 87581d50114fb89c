"""Full-batch gradient descent to stationarity, many runs at once.

Runs are rows of a flat parameter array (run, parameter); each has its own
data (a pytree with a leading run axis) and step size. Every step updates only
the runs still active, so a run's trajectory depends on nothing but its own
arguments: the rows of a block never interact. A jitted chunk of steps runs
in a ``lax.while_loop`` that ends early once every run has stopped. Between
chunks, the runs still descending are gathered into a smaller array (so a
block's slowest runs do not drag the finished ones along), and runs whose
loss became non-finite or grew ``BLOWUP``-fold restart from their initial
point with the step halved.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..jaxsetup import jax, jnp

BLOWUP = 1e6     # a loss this many times the initial loss counts as a blow-up
CHUNK = 2000     # steps per jitted call (default)


@dataclass(frozen=True)
class Descent:
    """End points of a block of runs, all arrays (run, ...).

    Attributes
    ----------
    theta : ndarray (run, parameter)
    loss, grad_norm : ndarray (run,)
    steps : ndarray (run,)   steps of the last attempt
    halvings : ndarray (run,)
    diverged : ndarray (run,) bool   blew up more than ``max_halvings`` times
    """

    theta: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    halvings: np.ndarray
    diverged: np.ndarray


@partial(jax.jit, static_argnums=0)
def _chunk(value_grad, theta, aux, lr, steps, active, grad_tol, loss_tol, limit):
    """Up to ``limit`` steps for the active runs; a run stops at |grad| <= grad_tol, at loss <= loss_tol
    (a global minimum: nothing lower to find) or at a non-finite loss."""
    value_grad = jax.vmap(value_grad)

    def cond(state):
        i, _, _, active = state
        return (i < limit) & jnp.any(active)

    def body(state):
        i, theta, steps, active = state
        value, grad = value_grad(theta, aux)
        norm = jnp.sqrt(jnp.sum(grad * grad, axis=1))
        active = active & (norm > grad_tol) & (value > loss_tol) & jnp.isfinite(value)
        theta = jnp.where(active[:, None], theta - lr[:, None] * grad, theta)
        return i + 1, theta, steps + active, active

    _, theta, steps, active = jax.lax.while_loop(cond, body, (0, theta, steps, active))
    value, grad = value_grad(theta, aux)
    return theta, steps, value, jnp.sqrt(jnp.sum(grad * grad, axis=1)), active


@partial(jax.jit, static_argnums=0)
def _values(value_grad, theta, aux):
    """The loss of every run, in one compiled call (op by op, each operation would compile on its own)."""
    return jax.vmap(value_grad)(theta, aux)[0]


def _gather(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows still descending, padded to a power of two (few compiled shapes), and the mask of real ones.

    A block's slowest runs then step alone instead of dragging every finished
    row through the loop. Which rows share a call depends only on the runs'
    own progress, so the same block always computes the same way.
    """
    live = np.flatnonzero(active)
    size = min(1 << int(np.ceil(np.log2(len(live)))), len(active))
    rows = np.concatenate([live, np.full(size - len(live), live[0])])
    return rows, np.arange(size) < len(live)


def descend(value_grad, theta0: np.ndarray, aux, lr: float, *, grad_tol: float, max_steps: int,
            max_halvings: int, loss_tol: float = 0.0, chunk: int = CHUNK) -> Descent:
    """Gradient descent from each row of ``theta0`` until |grad| <= grad_tol, loss <= loss_tol or ``max_steps``.

    Parameters
    ----------
    value_grad : callable (theta (parameter,), aux) -> (loss, gradient (parameter,))
        A hashable (module-level or cached) JAX function of one run.
    theta0 : ndarray (run, parameter), float64
    aux : pytree of arrays with a leading run axis (made float64)
    lr : float
        The step size before any halving.
    chunk : int
        Steps per jitted call; between calls the runs still descending are
        regathered (fewer wasted steps on finished rows, more Python round trips).
    """
    runs = len(theta0)
    with jax.enable_x64(True):
        start = np.asarray(theta0, dtype=np.float64)
        aux = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float64), aux)
        first = np.asarray(_values(value_grad, jnp.asarray(start), aux))
        theta, steps = start.copy(), np.zeros(runs, dtype=np.int64)
        value, norm = np.full(runs, np.nan), np.full(runs, np.nan)
        halvings = np.zeros(runs, dtype=np.int64)
        done = np.zeros(runs, dtype=bool)
        while True:
            active = ~done & (steps < max_steps)
            if not active.any():
                break
            rows, mask = _gather(active)
            limit = int(min(chunk, max_steps - steps[active].min()))
            out = _chunk(value_grad, jnp.asarray(theta[rows]), jax.tree_util.tree_map(lambda a: a[rows], aux),
                         jnp.asarray(lr * 0.5 ** halvings[rows]), jnp.asarray(steps[rows]), jnp.asarray(mask),
                         grad_tol, loss_tol, limit)
            live = rows[mask]
            theta[live], steps[live], value[live], norm[live], going = (np.asarray(o)[mask] for o in out)
            blown = np.zeros(runs, dtype=bool)
            blown[live] = ~np.isfinite(value[live]) | ~np.isfinite(norm[live]) | (value[live] > BLOWUP * np.maximum(first[live], 1e-300))
            # the loop's own stopping decision counts: its fused arithmetic may round the last loss differently
            done[live] |= ~blown[live] & (~going | (steps[live] >= max_steps))
            if blown.any():
                halvings += blown
                gave_up = blown & (halvings > max_halvings)
                done |= gave_up
                restart = blown & ~gave_up
                theta[restart], steps[restart] = start[restart], 0
        diverged = halvings > max_halvings
    return Descent(theta=np.asarray(theta), loss=np.where(diverged, np.nan, value),
                   grad_norm=np.where(diverged, np.nan, norm), steps=np.asarray(steps),
                   halvings=np.minimum(halvings, max_halvings + 1), diverged=diverged)
