"""Run the reparametrisation study: check the job, measure, assemble one dataset.

The study runs in-process (a few minutes on one core); JAX runs on one XLA
thread and BLAS on one thread, so a seed gives the same numbers every time.
Seeds: one root ``SeedSequence``; every part and every random network has its
own child keyed by value (:data:`ntkpaths.reparam.measure.KEYS`).
"""
from __future__ import annotations

import datetime as _dt
import json
import sys

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..config import ConfigError
from ..tasks import child_seed
from ..allpaths import forward
from . import embedding, measure
from .config import ReparamConfig

SCHEMA = "ntkpaths.reparam/1"
STAGES = 5  # train, transforms, rescaling, spread, semi-flat
IN_PROCESS = (None, "synchronous")


def config_of(table: dict, smoke_table: dict, smoke: bool) -> ReparamConfig:
    """The study's config from its ``[reparametrisation]`` table, with ``[smoke]`` over it when asked."""
    values = dict(table) | (smoke_table if smoke else {})
    for key in ("alphas", "ks"):
        if key in values:
            values[key] = tuple(values[key])
    return ReparamConfig(**values)


def prepare(study, smoke: bool = False, scheduler: str | None = None, workers: int | None = None) -> ReparamConfig:
    """Check the whole job before any work; one-line errors name the table."""
    if scheduler not in IN_PROCESS or workers is not None:
        raise ConfigError("the reparametrisation study runs in-process; drop --scheduler and --workers")
    where = "smoke and reparametrisation" if smoke else "reparametrisation"
    try:
        return config_of(study.sweep, study.smoke, smoke)
    except ConfigError as exc:
        raise ConfigError(f"{study.path}: {where}: {exc}") from None


def run(study, smoke: bool = False, scheduler: str | None = None, workers: int | None = None,
        progress=None) -> xr.Dataset:
    """Every measurement of the study as one dataset (schema ``ntkpaths.reparam/1``)."""
    cfg = prepare(study, smoke, scheduler, workers)
    return measure_all(cfg, progress)


def measure_all(cfg: ReparamConfig, progress=None) -> xr.Dataset:
    """Train, transform, rescale, embed; ``progress(label, done, total)`` after each stage."""
    root = np.random.SeedSequence(cfg.seed)
    done = [0]

    def stage():
        done[0] += 1
        if progress:
            progress("reparametrisation", done[0], STAGES)

    with threadpool_limits(limits=1, user_api="blas"):
        trained = measure.train_network(cfg, child_seed(root, measure.KEYS["train"]))
        stage()
        parts = [measure.invariance(cfg, trained, root)]
        stage()
        parts.append(measure.rescaling(cfg, trained, root))
        stage()
        parts.append(embedding.spread(cfg, root))
        stage()
        parts.append(embedding.semiflat(cfg, trained, root))
        stage()
    ds = xr.merge(parts, compat="equals", join="exact")
    ds["train_loss"] = float(0.5 * np.sum((forward(trained.weights, trained.x)[1] - trained.y) ** 2)
                             / len(trained.x))
    ds.attrs = provenance(cfg, root)
    return ds


def provenance(cfg: ReparamConfig, root: np.random.SeedSequence) -> dict:
    """The attrs every ntkpaths dataset carries."""
    from .. import __version__

    return {"schema": SCHEMA, "complete": 1, "config": json.dumps(cfg.to_dict()),
            "seed_entropy": str(root.entropy), "ntkpaths_version": __version__, "command": " ".join(sys.argv),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "sharpness_parametrisation": "effective weights (forward scales 1.0)",
            "rescaled_layer": measure.RESCALED_LAYER}
