"""Full-batch gradient descent to stationarity, many runs at once.

Runs are rows of a flat parameter array (run, parameter); each has its own
data (a pytree with a leading run axis) and step size. Every step updates only
the runs still active, so a run's trajectory depends on nothing but its own
arguments: the rows of a block never interact. A jitted chunk of steps runs
in a ``lax.while_loop`` that ends early once every run has stopped; between
chunks, runs whose loss became non-finite or grew ``BLOWUP``-fold restart
from their initial point with the step halved.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..jaxsetup import jax, jnp

BLOWUP = 1e6     # a loss this many times the initial loss counts as a blow-up
CHUNK = 2000     # steps per jitted call


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


def descend(value_grad, theta0: np.ndarray, aux, lr: float, *, grad_tol: float, max_steps: int,
            max_halvings: int, loss_tol: float = 0.0) -> Descent:
    """Gradient descent from each row of ``theta0`` until |grad| <= grad_tol, loss <= loss_tol or ``max_steps``.

    Parameters
    ----------
    value_grad : callable (theta (parameter,), aux) -> (loss, gradient (parameter,))
        A hashable (module-level or cached) JAX function of one run.
    theta0 : ndarray (run, parameter), float64
    aux : pytree of arrays with a leading run axis (made float64)
    lr : float
        The step size before any halving.
    """
    runs = len(theta0)
    with jax.enable_x64(True):
        start = jnp.asarray(theta0, dtype=jnp.float64)
        aux = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float64), aux)
        first = np.asarray(jax.vmap(value_grad)(start, aux)[0])
        theta, steps = start, jnp.zeros(runs, dtype=jnp.int64)
        halvings = np.zeros(runs, dtype=np.int64)
        done = np.zeros(runs, dtype=bool)
        while True:
            active = ~done & (np.asarray(steps) < max_steps)
            if not active.any():
                break
            limit = int(min(CHUNK, max_steps - np.asarray(steps)[active].min()))
            rates = jnp.asarray(lr * 0.5 ** halvings)
            theta, steps, value, norm, going = _chunk(value_grad, theta, aux, rates, steps, jnp.asarray(active),
                                                      grad_tol, loss_tol, limit)
            value, norm, steps_np = np.asarray(value), np.asarray(norm), np.asarray(steps)
            blown = active & (~np.isfinite(value) | ~np.isfinite(norm) | (value > BLOWUP * np.maximum(first, 1e-300)))
            # the loop's own stopping decision counts: its fused arithmetic may round the last loss differently
            done |= active & ~blown & (~np.asarray(going) | (steps_np >= max_steps))
            if blown.any():
                halvings = halvings + blown
                gave_up = blown & (halvings > max_halvings)
                done |= gave_up
                restart = jnp.asarray(blown & ~gave_up)
                theta = jnp.where(restart[:, None], start, theta)
                steps = jnp.where(restart, 0, steps)
        value, norm = np.asarray(value), np.asarray(norm)
        diverged = halvings > max_halvings
    return Descent(theta=np.asarray(theta), loss=np.where(diverged, np.nan, value),
                   grad_norm=np.where(diverged, np.nan, norm), steps=np.asarray(steps),
                   halvings=np.minimum(halvings, max_halvings + 1), diverged=diverged)
