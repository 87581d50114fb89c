"""Full-batch gradient descent to stationarity, many runs at once.

Runs are rows of a flat parameter array (run, parameter); each has its own
data (a pytree with a leading run axis) and step size. Every step updates only
the runs still active, so a run's trajectory depends on nothing but its own
arguments: the rows of a block never interact. A jitted chunk of steps runs
in a ``lax.while_loop`` that ends early once every run has stopped. Between
chunks, the runs still descending are gathered into groups of ``ROWS`` rows
(so a block's slowest runs do not drag the finished ones along), and runs
whose loss became non-finite or grew ``BLOWUP``-fold restart from their
initial point with the step halved.

A run's result does not depend on the block it is in. XLA's CPU kernels
round differently for different batch sizes (a vmapped loss over 16 rows
is not bit-identical to the same row's loss over 8) and for different rows
of one batch (where a row's numbers start decides how vector loads split
them). So every jitted call has exactly ``ROWS`` rows, and run j of a cell
always sits in row j % ROWS, the other rows masked copies: a run is computed
by the same program in the same place whatever block it is in (checked by
tests/test_minima_census.py). Each run stops at its own ``max_steps`` and
meets the blow-up check every ``CHUNK`` of its own steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..jaxsetup import jax, jnp

BLOWUP = 1e6     # a loss this many times the initial loss counts as a blow-up
CHUNK = 2000     # steps per jitted call (default)
ROWS = 8         # runs per jitted call, always (a fixed shape: see the module docstring)


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
def _chunk(value_grad, theta, aux, lr, steps, active, grad_tol, loss_tol, limit, max_steps):
    """Up to ``limit`` steps for the active runs; a run stops at |grad| <= grad_tol, at loss <= loss_tol
    (a global minimum: nothing lower to find), at a non-finite loss or after ``max_steps`` steps."""
    value_grad = jax.vmap(value_grad)

    def cond(state):
        i, _, _, active = state
        return (i < limit) & jnp.any(active)

    def body(state):
        i, theta, steps, active = state
        value, grad = value_grad(theta, aux)
        norm = jnp.sqrt(jnp.sum(grad * grad, axis=1))
        active = active & (norm > grad_tol) & (value > loss_tol) & jnp.isfinite(value) & (steps < max_steps)
        theta = jnp.where(active[:, None], theta - lr[:, None] * grad, theta)
        return i + 1, theta, steps + active, active

    _, theta, steps, active = jax.lax.while_loop(cond, body, (0, theta, steps, active))
    value, grad = value_grad(theta, aux)
    return theta, steps, value, jnp.sqrt(jnp.sum(grad * grad, axis=1)), active


def _groups(active: np.ndarray, first_run: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The groups of ``ROWS`` rows that hold a run still descending, each with its mask of those runs.

    Run ``first_run + i`` (row i) always sits in row ``(first_run + i) % ROWS``
    of its group, whichever block it is in; the other rows are masked copies.
    A block's finished groups are not called again, so its slowest runs do
    not drag every finished row through the loop.
    """
    slot = first_run + np.arange(len(active))
    out = []
    for group in np.unique(slot[active] // ROWS):
        rows = np.full(ROWS, np.flatnonzero(slot // ROWS == group)[0])
        mask = np.zeros(ROWS, dtype=bool)
        mine = np.flatnonzero((slot // ROWS == group) & active)
        rows[slot[mine] % ROWS], mask[slot[mine] % ROWS] = mine, True
        out.append((rows, mask))
    return out


def descend(value_grad, theta0: np.ndarray, aux, lr, *, grad_tol: float, max_steps: int,
            max_halvings: int, loss_tol: float = 0.0, first_run: int = 0, chunk: int = CHUNK) -> Descent:
    """Gradient descent from each row of ``theta0`` until |grad| <= grad_tol, loss <= loss_tol or ``max_steps``.

    Parameters
    ----------
    value_grad : callable (theta (parameter,), aux) -> (loss, gradient (parameter,))
        A hashable (module-level or cached) JAX function of one run.
    theta0 : ndarray (run, parameter), float64
    aux : pytree of arrays with a leading run axis (made float64)
    lr : float or ndarray (run,)
        The step size before any halving (one for all runs, or each run's own).
    first_run : int
        The index of row 0 among all runs of its cell: fixes each run's row in the jitted calls.
    chunk : int
        Steps per jitted call: between calls the runs still descending are regrouped
        (fewer wasted steps on finished rows, more Python round trips). A property of
        the problem, never of the block, so results stay independent of the blocks.
    """
    runs = len(theta0)
    rates = np.broadcast_to(np.asarray(lr, dtype=np.float64), (runs,))
    with jax.enable_x64(True):
        start = np.asarray(theta0, dtype=np.float64)
        aux = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float64), aux)
        theta, steps = start.copy(), np.zeros(runs, dtype=np.int64)
        value, norm = np.full(runs, np.nan), np.full(runs, np.nan)
        halvings = np.zeros(runs, dtype=np.int64)

        def advance(active: np.ndarray, limit: int) -> np.ndarray:
            """``limit`` steps for the active rows, group by group; the rows still going."""
            going = np.zeros(runs, dtype=bool)
            for rows, mask in _groups(active, first_run):
                out = _chunk(value_grad, jnp.asarray(theta[rows]), jax.tree_util.tree_map(lambda a: a[rows], aux),
                             jnp.asarray(rates[rows] * 0.5 ** halvings[rows]), jnp.asarray(steps[rows]),
                             jnp.asarray(mask), grad_tol, loss_tol, limit, max_steps)
                live = rows[mask]
                theta[live], steps[live], value[live], norm[live], going[live] = (np.asarray(o)[mask] for o in out)
            return going

        advance(np.ones(runs, dtype=bool), 0)  # the initial losses, by the same program as every later one
        first = value.copy()
        done = np.zeros(runs, dtype=bool)
        while True:
            active = ~done & (steps < max_steps)
            if not active.any():
                break
            going = advance(active, chunk)
            blown = np.zeros(runs, dtype=bool)
            blown[active] = (~np.isfinite(value[active]) | ~np.isfinite(norm[active])
                             | (value[active] > BLOWUP * np.maximum(first[active], 1e-300)))
            # the loop's own stopping decision counts: its fused arithmetic may round the last loss differently
            done[active] |= ~blown[active] & (~going[active] | (steps[active] >= max_steps))
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
