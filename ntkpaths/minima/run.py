"""One task of a census: a block of runs of one cell, descended together and certified one by one.

A run is a pure function of the config, its cell and its ``SeedSequence``
child: the run builds ``default_rng(child)`` and draws its data (deep
problems) and initial parameters. The block's runs descend as rows of one
vectorised descent, where no row reads another, on one XLA and BLAS thread.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .. import sharpness
from . import certify, problems
from .config import MinimaConfig
from . import teacher as closed
from .descent import CHUNK, descend

# name -> dtype of each per-run value a block returns (the family id is assigned per cell later)
RUN_VARS = {"loss": np.float64, "grad_norm": np.float64, "hessian_min": np.float64, "hessian_max": np.float64,
            "hessian_residual": np.float64, "steps": np.float64, "halvings": np.float64, "near_kink": np.float64,
            "outcome": np.float64, "degenerate_loss": np.float64, "lr": np.float64, "interpolates": np.float64}
SIGNATURE = problems.SIGNATURE
TEACHER_CHUNK = 500  # steps per jitted call of the teacher descent (benchmarks/bench_minima.py)


def run_block(cfg: MinimaConfig, cell: tuple[int, int], seeds: list[np.random.SeedSequence],
              first_run: int = 0, *, baseline: bool = False) -> dict[str, np.ndarray]:
    """Descend and certify the runs ``first_run``, ``first_run + 1``, ... of ``cell`` whose seeds are given.

    ``baseline`` runs the gaussian-teacher census as it was before its fused
    gradient and closed-form Hessian (general V, XLA's arctan2, 2000-step
    chunks, the Hessian by autodiff): the same runs up to rounding, kept for
    ``benchmarks/bench_minima.py`` to compare against.

    Returns
    -------
    dict of str -> ndarray
        ``RUN_VARS`` as (run,) arrays and ``signature`` (run, SIGNATURE).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        rngs = [np.random.default_rng(s) for s in seeds]
        theta0, aux, value_grad, view = _draw(cfg, cell, rngs, baseline)
        rates = (np.full(len(seeds), cfg.step_size(cell)) if cfg.lr_relative is None else
                 cfg.lr_relative * np.array([view.critical_lr(theta0[r], r) for r in range(len(seeds))]))
        chunk = TEACHER_CHUNK if cfg.is_teacher and not baseline else CHUNK
        ends = descend(value_grad, theta0, aux, rates, grad_tol=cfg.grad_tol, max_steps=cfg.max_steps,
                       max_halvings=cfg.max_halvings, loss_tol=cfg.loss_tol, first_run=first_run, chunk=chunk)
        rows = [_certify(cfg, ends, r, view, rngs[r]) | {"lr": rates[r],
                                                           "interpolates": view.interpolates(theta0[r], r)}
                for r in range(len(seeds))]
    out = {name: np.array([row[name] for row in rows], dtype=dtype) for name, dtype in RUN_VARS.items()}
    out["signature"] = np.stack([row["signature"] for row in rows])
    return out


def _draw(cfg: MinimaConfig, cell: tuple[int, int], rngs: list[np.random.Generator], baseline: bool = False):
    """Initial parameters (run, parameter), stacked data, (loss, gradient) of one run, and a reader of end points."""
    if cfg.is_teacher:
        k, n = cell[0], cell[0] + cell[1]
        draws = [problems.draw_teacher_run(k, n, rng=rng) for rng in rngs]
        theta0, view = np.stack([d[0] for d in draws]), _TeacherView(cfg, k, baseline)
        if baseline:
            return theta0, np.stack([d[1] for d in draws]), problems.teacher_value_grad(n, k), view
        # the teacher is V = I (problems.draw_teacher_run); the loop gets F's constant term instead
        return theta0, np.full(len(rngs), 2.0 * closed.zero_loss(k)), problems.teacher_fast_value_grad(n, k), view
    draws = [problems.draw_deep_run(cfg, cell[0], cell[1], rng=rng) for rng in rngs]
    dims = draws[0][2]
    x = np.stack([d[1][0] for d in draws])
    y = np.stack([d[1][1] for d in draws])
    return (np.stack([d[0] for d in draws]), (x, y), problems.deep_value_grad(dims),
            _DeepView(cfg, dims, x, y))


class _TeacherView:
    def __init__(self, cfg: MinimaConfig, k: int, baseline: bool = False):
        self.cfg, self.k = cfg, k
        self._hessian = problems.teacher_hessian_autodiff if baseline else problems.teacher_hessian

    def hessian(self, theta, r):
        return self._hessian(theta, self.k)

    def kink(self, theta, r):
        return problems.teacher_kink(theta, self.k, self.cfg.kink_band)

    def signature(self, theta, r):
        return problems.teacher_signature(theta, self.k)

    def degenerate(self, r):
        return problems.degenerate_loss(self.cfg, (self.k, 0))

    def interpolates(self, theta0, r):
        return 1.0  # W = V is a zero of F


class _DeepView:
    def __init__(self, cfg: MinimaConfig, dims, x, y):
        self.cfg, self.dims, self.x, self.y = cfg, dims, x, y

    def hessian(self, theta, r):
        return problems.deep_hessian(theta, (self.x[r], self.y[r]), self.dims)

    def kink(self, theta, r):
        return problems.deep_kink(theta, (self.x[r], self.y[r]), self.dims, self.cfg.kink_band)

    def signature(self, theta, r):
        return problems.deep_signature(theta, (self.x[r], self.y[r]), self.dims)

    def degenerate(self, r):
        return problems.degenerate_loss(self.cfg, (0, 0), (self.x[r], self.y[r]))

    def critical_lr(self, theta0, r):
        return problems.deep_critical_lr(theta0, (self.x[r], self.y[r]), self.dims)

    def interpolates(self, theta0, r):
        return float(problems.deep_interpolates(theta0, (self.x[r], self.y[r]), self.dims))


def _certify(cfg: MinimaConfig, ends, r: int, view, rng: np.random.Generator) -> dict:
    """One run's certificate: its Hessian's ends (stationary, above the global loss), class, kink fraction."""
    theta, loss, norm, diverged = ends.theta[r], float(ends.loss[r]), float(ends.grad_norm[r]), bool(ends.diverged[r])
    row = {"loss": loss, "grad_norm": norm, "steps": ends.steps[r], "halvings": ends.halvings[r],
           "hessian_min": np.nan, "hessian_max": np.nan, "hessian_residual": np.nan,
           "near_kink": np.nan if diverged else view.kink(theta, r), "degenerate_loss": view.degenerate(r),
           "signature": np.full(SIGNATURE, np.nan)}
    if certify.needs_hessian(loss, norm, diverged, cfg.loss_tol, cfg.grad_tol):
        ext = sharpness.extreme_eigenvalues(view.hessian(theta, r), rng=rng)
        row.update(hessian_min=ext.min, hessian_max=ext.max, hessian_residual=ext.residual)
    row["outcome"] = certify.classify(loss, norm, row["hessian_min"], diverged, loss_tol=cfg.loss_tol,
                                      grad_tol=cfg.grad_tol, eig_tol=cfg.eig_tol)
    if row["outcome"] == certify.SPURIOUS:
        row["signature"] = view.signature(theta, r)
    return row
