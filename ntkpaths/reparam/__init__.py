"""The reparametrisation study: what path statistics and sharpness see when the function does not change.

One trained network (the training core, float64, to a zero-loss minimum) is
transformed by every function-preserving symmetry of :mod:`ntkpaths.symmetry`;
random narrow networks are embedded into wider ones; the study measures F,
E[t_l | Z=1], path-weight products and the Hessian's spectrum before and
after, and judges four claims (:data:`CLAIMS`). Run it with
``ntkpaths study studies/reparametrisation.toml``.
"""
from .. import study as _study
from .config import SCHEMA as TABLE_SCHEMA, ReparamConfig
from .run import SCHEMA, measure_all, prepare, run
from .verdicts import CLAIMS, verdicts

FIGURES = ("invariance", "sharpness", "spread", "semiflat")

__all__ = ["ReparamConfig", "measure_all", "prepare", "run", "verdicts", "CLAIMS", "FIGURES", "SCHEMA", "KIND"]

KIND = _study.Kind(table="reparametrisation", schema=TABLE_SCHEMA, claims=CLAIMS, figures=FIGURES,
                   prepare=prepare, run=run, verdicts=verdicts)
