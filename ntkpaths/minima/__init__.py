"""Where full-batch gradient descent ends: a certified census of critical points (Theorem 4).

From random initialisations, runs descend (many at once) until the gradient
vanishes, and each end point is certified a global minimum, a spurious local
minimum, a saddle (a negative Hessian eigenvalue), not converged or diverged.
Spurious minima are grouped into families up to the network's symmetries.
Problems: Safran & Shamir's Gaussian teacher-student problem in closed form
(:mod:`.teacher`) and the deep ntk-parametrised networks of ``ntkpaths train``.

Examples
--------
>>> from ntkpaths.minima import MinimaConfig, run_census
>>> ds = run_census(MinimaConfig(teachers=(6,), extra=(0, 2), runs=20, seed=0))  # doctest: +SKIP
>>> ds.fraction.sel(outcome_class="spurious_minimum")                             # doctest: +SKIP
"""
from .certify import classify, families
from .config import GAUSSIAN_TEACHER, OUTCOMES, MinimaConfig
from .descent import Descent, descend
from .grid import run_census
from .teacher import population_loss, zero_loss

__all__ = [
    # configuration and the census
    "MinimaConfig",
    "run_census",
    "OUTCOMES",
    "GAUSSIAN_TEACHER",
    # pieces
    "descend",
    "Descent",
    "classify",
    "families",
    "population_loss",
    "zero_loss",
]
