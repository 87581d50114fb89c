"""The census dataset: schema, per-block writes, resume, and per-cell outcome fractions.

Dims: the two cell dims (``teacher``, ``extra`` for gaussian-teacher;
``depth``, ``width`` for deep problems), ``run``, ``entry`` (entries of
an end point's symmetry-invariant signature), ``outcome_class`` and
``family``. Per run: ``outcome`` (CF flags), ``loss``, ``grad_norm``,
``hessian_min``, ``hessian_max``, ``hessian_residual``, ``steps``,
``halvings``, ``near_kink``, ``degenerate_loss`` and ``family``. Per cell:
``fraction`` with 95% Clopper-Pearson bounds ``fraction_lo``,
``fraction_hi``, ``count``, ``n_runs``, the families' loss, size and
smallest eigenvalue, and the fraction of runs that ended at the degenerate
all-off critical point. Written block by block with :mod:`ntkpaths.store.io`.
"""
from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from ..store.io import (StoreError, _attrs, create_template, done_markers, read_stored, stored_config, version,
                        write_region)
from . import certify
from .config import OUTCOMES, MinimaConfig, data_changed
from .run import RUN_VARS, SIGNATURE

SCHEMA = "ntkpaths.minima/1"
LEVEL = 0.95  # confidence of the outcome fractions' intervals
LONG_NAMES = {
    "outcome": "where gradient descent ended (certified class)",
    "loss": "loss at the end point",
    "grad_norm": "gradient norm at the end point",
    "hessian_min": "smallest Hessian eigenvalue at a stationary end point above the global loss",
    "hessian_max": "largest Hessian eigenvalue at a stationary end point above the global loss",
    "hessian_residual": "largest |H v - lambda v| of the two extreme eigenpairs",
    "steps": "gradient steps of the last attempt",
    "halvings": "times the step was halved after a blow-up",
    "near_kink": "fraction of pre-activations (deep) or units (gaussian-teacher) at the ReLU kink",
    "degenerate_loss": "loss of the all-units-off critical point of this run's problem",
    "signature": "symmetry-invariant signature of a spurious end point",
    "lr": "step size of the run before any halving",
    "interpolates": "1 when the global minimum is certified 0: the last hidden layer's features at the initial "
                    "point have rank N (deep), or always (gaussian-teacher: F(V) = 0)",
}


def _names(cfg: MinimaConfig) -> tuple[str, str, str]:
    return (*cfg.dims, "run")


def _index(cfg: MinimaConfig, cell: tuple[int, int]) -> tuple[int, int]:
    a, b = cfg.axes
    return a.index(cell[0]), b.index(cell[1])


def _shape(cfg: MinimaConfig) -> tuple[int, int, int]:
    a, b = cfg.axes
    return len(a), len(b), cfg.runs


def empty(cfg: MinimaConfig) -> dict[str, np.ndarray]:
    """NaN-filled per-run arrays: (A, B, run) and signature (A, B, run, signature)."""
    raw = {name: np.full(_shape(cfg), np.nan) for name in RUN_VARS}
    raw["signature"] = np.full(_shape(cfg) + (SIGNATURE,), np.nan)
    return raw


def put_block(raw: dict, cfg: MinimaConfig, cell: tuple[int, int], start: int, block: dict) -> None:
    i, j = _index(cfg, cell)
    for name, values in block.items():
        raw[name][i, j, start:start + len(values)] = values


def _coords(cfg: MinimaConfig) -> dict:
    (a, b), (na, nb) = cfg.axes, cfg.dims
    return {na: (na, np.asarray(a, dtype=np.int64)), nb: (nb, np.asarray(b, dtype=np.int64)),
            "run": ("run", np.arange(cfg.runs)), "outcome_class": ("outcome_class", list(OUTCOMES))}


def raw_dataset(cfg: MinimaConfig, raw: dict, *, complete: bool = False) -> xr.Dataset:
    dims = _names(cfg)
    data = {name: xr.DataArray(values, dims=dims + (("entry",) if name == "signature" else ()),
                               attrs={"long_name": LONG_NAMES[name]}) for name, values in raw.items()}
    data["outcome"].attrs.update(flag_values=list(range(len(OUTCOMES))), flag_meanings=" ".join(OUTCOMES))
    ds = xr.Dataset(data, coords=_coords(cfg))
    ds.attrs = provenance(cfg, complete)
    return ds


def provenance(cfg: MinimaConfig, complete: bool = False) -> dict:
    return {"schema": SCHEMA, "ntkpaths_version": version(), "config": json.dumps(cfg.to_dict()),
            "problem": cfg.problem, "seed_entropy": str(cfg.seed), "command": " ".join(sys.argv),
            "grad_tol": cfg.grad_tol, "loss_tol": cfg.loss_tol, "eig_tol": cfg.eig_tol,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "complete": int(complete)}


def config_of(ds: xr.Dataset) -> MinimaConfig:
    return MinimaConfig.from_dict(json.loads(ds.attrs["config"]))


# ---------------------------------------------------------------- store
def create(path: Path, cfg: MinimaConfig, *, overwrite: bool = False) -> None:
    """The template: coords and attrs; every block stays unwritten until it arrives."""
    import dask.array as da

    lazy = {name: da.full(a.shape, np.nan, chunks=(1, 1, cfg.block) + a.shape[3:]) for name, a in empty(cfg).items()}
    create_template(path, raw_dataset(cfg, lazy), overwrite=overwrite)


def write_block(path: Path, cfg: MinimaConfig, cell: tuple[int, int], start: int, block: dict) -> None:
    """Write one block of runs into its region (one chunk), then mark it done."""
    i, j = _index(cfg, cell)
    dims = _names(cfg)
    stop = start + len(block["loss"])
    data = xr.Dataset({name: (dims + (("entry",) if name == "signature" else ()), v[None, None])
                       for name, v in block.items()})
    region = {dims[0]: slice(i, i + 1), dims[1]: slice(j, j + 1), "run": slice(start, stop)}
    write_region(path, data, region, marker(cell, start))


def marker(cell: tuple[int, int], start: int) -> str:
    return f"{cell[0]}-{cell[1]}-{start}"


def reopen(path: Path, cfg: MinimaConfig) -> tuple[MinimaConfig, dict, set, bool]:
    """Resume: the stored config, the blocks written so far, their markers, completeness."""
    stored = resumable_config(path, cfg)
    done = set(done_markers(path))
    complete = bool(_attrs(path).get("complete"))
    raw = empty(stored)
    if done or complete:
        on_disk = read_stored(path)
        for name in raw:
            dims = _names(stored) + (("entry",) if name == "signature" else ())
            raw[name][...] = on_disk[name].transpose(*dims).values
    return stored, raw, done, complete


def resumable_config(path: Path, cfg: MinimaConfig) -> MinimaConfig:
    """The stored config, if ``cfg`` may resume ``path`` (a missing seed adopts the stored one)."""
    stored = stored_config(path, cfg, SCHEMA, "minima", ignore=("data_sha256",))
    if data_changed(stored):
        raise StoreError(f"the data file {stored.problem} changed since {path} was written; restore it, "
                         "or use --overwrite")
    return stored


# ---------------------------------------------------------------- summaries
def build(cfg: MinimaConfig, raw: dict) -> xr.Dataset:
    """The finished dataset: per-run values, family ids and per-cell summaries."""
    ds = raw_dataset(cfg, raw, complete=True)
    ds["family"] = _families(ds)
    return ds.merge(summarise(ds), combine_attrs="override")


def _families(ds: xr.Dataset) -> xr.DataArray:
    ids = xr.apply_ufunc(lambda o, l, s: certify.families(o, l, s), ds.outcome, ds.loss, ds.signature,
                         input_core_dims=[["run"], ["run"], ["run", "entry"]], output_core_dims=[["run"]],
                         vectorize=True)
    return ids.transpose(*ds.outcome.dims).astype(np.int64).assign_attrs(
        long_name="family of a spurious minimum (equal up to the network's symmetries); -1: none")


def summarise(ds: xr.Dataset) -> xr.Dataset:
    """Outcome counts and fractions with Clopper-Pearson bounds, families, and degenerate end points."""
    codes = xr.DataArray(np.arange(len(OUTCOMES)), dims="outcome_class")
    hits = (ds.outcome == codes).where(ds.outcome.notnull())
    n = ds.outcome.count("run")
    count = hits.sum("run").astype(np.int64)
    lo, hi = clopper_pearson(count.values, np.broadcast_to(n.values[..., None], count.shape))
    out = xr.Dataset({
        "count": count.assign_attrs(long_name="runs ending in each class"),
        "n_runs": n.assign_attrs(long_name="runs in the cell (0: cell skipped)"),
        "fraction": (count / n.where(n > 0)).assign_attrs(long_name="fraction of runs ending in each class"),
        "fraction_lo": (count.dims, lo, {"long_name": f"{LEVEL:.0%} Clopper-Pearson lower bound of fraction"}),
        "fraction_hi": (count.dims, hi, {"long_name": f"{LEVEL:.0%} Clopper-Pearson upper bound of fraction"}),
    }, coords={"outcome_class": list(OUTCOMES)})
    out.update(_family_table(ds))
    degenerate = (abs(ds.loss - ds.degenerate_loss) <= 1e-6 * ds.degenerate_loss).where(ds.loss.notnull())
    out["degenerate_fraction"] = degenerate.mean("run").assign_attrs(
        long_name="fraction of runs ending at the all-units-off critical point's loss")
    return out


def clopper_pearson(k: np.ndarray, n: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial (Clopper-Pearson) bounds of k successes in n trials, NaN where n = 0."""
    from scipy.stats import beta

    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    a = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def _family_table(ds: xr.Dataset) -> dict:
    """Per cell and family: the loss, the number of runs, and the smallest eigenvalue."""
    fam = ds.family.values
    size = max(int(fam.max()) + 1, 1) if fam.size else 1
    shape = fam.shape[:2] + (size,)
    loss, count, hmin = np.full(shape, np.nan), np.zeros(shape, dtype=np.int64), np.full(shape, np.nan)
    for i, j in np.ndindex(*fam.shape[:2]):
        for f in range(size):
            members = fam[i, j] == f
            if members.any():
                count[i, j, f] = members.sum()
                loss[i, j, f] = np.median(ds.loss.values[i, j][members])
                hmin[i, j, f] = np.min(ds.hessian_min.values[i, j][members])
    dims = ds.outcome.dims[:2] + ("family_id",)
    return {"family_loss": (dims, loss, {"long_name": "median loss of the family's runs"}),
            "family_count": (dims, count, {"long_name": "runs ending in the family"}),
            "family_hessian_min": (dims, hmin, {"long_name": "smallest Hessian eigenvalue over the family"})}
