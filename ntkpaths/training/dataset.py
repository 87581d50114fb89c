"""The training dataset: schema, per-run blocks, run-pooled summaries and power laws.

Dims: ``depth``, ``width``, ``run``, ``step`` (the checkpoint steps) and, per
quantity, ``layer`` (hidden layers 1..depth), ``prefix`` (depth prefixes of
P(path active)) or ``weight_layer`` (1..depth+1, the output layer last). A
run of depth H < max(depths) fills the first H (or H+1) entries and leaves
the rest NaN. Written block by block with :mod:`ntkpaths.store.io`, one run
per block, so an interrupted training sweep resumes where it stopped.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from .. import theory
from ..config import TrainConfig
from ..store.io import (StoreError, _attrs, create_template, done_markers, read_stored, stored_config, version,
                        write_region)
from ..verdict import fit_power_law
from . import critical
from .run import RUN_DIMS, checkpoint_steps

SCHEMA = "ntkpaths.train/1"
CELL = ("depth", "width", "run")
PER_STEP = ("loss", "test_loss", "accuracy", "test_accuracy", "flip_fraction", "p_active", "weight_change",
            "weight_slope", "ntk_change")
PER_RUN = ("diverged", "reached_minimum")
PER_RUN_VALUES = ("critical_lr", "lr", "loss_peak")   # absent from datasets written before they were recorded
FITTED = {"flip_fraction": "layer", "weight_change": "weight_layer", "ntk_change": None}
LONG_NAMES = {
    "loss": "training loss 1/(2N) sum |f - y|^2",
    "test_loss": "test loss",
    "accuracy": "training accuracy",
    "test_accuracy": "test accuracy",
    "flip_fraction": "fraction of (neuron, training input) ReLU states differing from step 0",
    "p_active": "mean over training inputs of the exact active-path fraction F (depth prefix)",
    "weight_change": "|W_l(t) - W_l(0)|_F / |W_l(0)|_F (weight_layer depth+1 is the output layer)",
    "weight_slope": "E[t_l | Z=1], t the weight standardised by its initial std (on the NTK inputs)",
    "ntk_change": "|Theta_t - Theta_0|_F / |Theta_0|_F, empirical NTK on the first ntk_inputs training inputs "
                  "(all of them unless capped)",
    "diverged": "1 if the training loss became NaN or infinite (later checkpoints are NaN)",
    "reached_minimum": "1 if the final training loss is at most loss_tolerance (the targets fit)",
    "critical_lr": "2 / lambda_max(Theta_0 / N), Theta_0 the initial empirical NTK on the run's N NTK inputs",
    "lr": "the learning rate the run used (lr, or lr_relative * critical_lr)",
    "loss_peak": "max over every step t of L_t / L_0 (inf once the loss is not finite)",
}
RUN_VARS = PER_STEP + PER_RUN + PER_RUN_VALUES


def _sizes(cfg: TrainConfig) -> dict[str, int]:
    deepest = max(cfg.depths)
    return {"step": len(checkpoint_steps(cfg.steps, cfg.checkpoints)), "layer": deepest, "prefix": deepest,
            "weight_layer": deepest + 1}


def _coords(cfg: TrainConfig) -> dict:
    deepest = max(cfg.depths)
    return {"depth": ("depth", np.asarray(cfg.depths, dtype=np.int64)),
            "width": ("width", np.asarray(cfg.widths, dtype=np.int64)),
            "run": ("run", np.arange(cfg.runs)),
            "step": ("step", checkpoint_steps(cfg.steps, cfg.checkpoints), {"long_name": "gradient steps"}),
            "layer": ("layer", np.arange(1, deepest + 1)),
            "prefix": ("prefix", np.arange(1, deepest + 1)),
            "weight_layer": ("weight_layer", np.arange(1, deepest + 2))}


def _shape(cfg: TrainConfig, name: str) -> tuple[int, ...]:
    sizes = _sizes(cfg)
    return (len(cfg.depths), len(cfg.widths), cfg.runs) + tuple(sizes[d] for d in RUN_DIMS[name])


def empty(cfg: TrainConfig) -> dict[str, np.ndarray]:
    """NaN-filled per-run arrays, (depth, width, run, ...) for each quantity."""
    return {name: np.full(_shape(cfg, name), np.nan) for name in RUN_VARS}


def padded(cfg: TrainConfig, out: dict) -> dict[str, np.ndarray]:
    """One run's arrays padded with NaN to the deepest run's layers: name -> (step, ...) or ()."""
    block = {}
    for name in RUN_VARS:
        values = np.asarray(out[name], dtype=np.float64)
        block[name] = np.full(_shape(cfg, name)[3:], np.nan)
        block[name][tuple(slice(0, n) for n in values.shape)] = values
    return block


def put_run(raw: dict[str, np.ndarray], cfg: TrainConfig, cell: tuple[int, int, int], block: dict) -> None:
    """Copy one padded run into the in-memory arrays."""
    index = _index(cfg, cell)
    for name, values in block.items():
        raw[name][index] = values


def _index(cfg: TrainConfig, cell: tuple[int, int, int]) -> tuple[int, int, int]:
    depth, width, run = cell
    return cfg.depths.index(depth), cfg.widths.index(width), run


def raw_dataset(cfg: TrainConfig, raw: dict, *, complete: bool = False) -> xr.Dataset:
    """Coords and the per-run arrays, with provenance attrs."""
    data = {name: xr.DataArray(values, dims=CELL + RUN_DIMS[name], attrs={"long_name": LONG_NAMES[name]})
            for name, values in raw.items()}
    ds = xr.Dataset(data, coords=_coords(cfg))
    ds.attrs = provenance(cfg, complete)
    return ds


def provenance(cfg: TrainConfig, complete: bool = False, device: str = "") -> dict:
    return {"schema": SCHEMA, "ntkpaths_version": version(), "config": json.dumps(cfg.to_dict()),
            "seed_entropy": str(cfg.seed), "command": " ".join(sys.argv),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "complete": int(complete), "device": device or _device(cfg)}


def _device(cfg: TrainConfig | None = None) -> str:
    from ..jaxsetup import jax

    dev = jax.devices(cfg.device)[0] if cfg is not None and cfg.device in ("cpu", "gpu") else jax.devices()[0]
    return f"{dev.platform} ({dev.device_kind})"


def config_of(ds: xr.Dataset) -> TrainConfig:
    return TrainConfig.from_dict(json.loads(ds.attrs["config"]))


# ---------------------------------------------------------------- store
def create(path: Path, cfg: TrainConfig, *, overwrite: bool = False) -> None:
    """The template: coords and attrs; every run's values stay unwritten until its block arrives."""
    import dask.array as da

    lazy = {name: da.full(a.shape, np.nan, chunks=(1, 1, 1) + a.shape[3:]) for name, a in empty(cfg).items()}
    create_template(path, raw_dataset(cfg, lazy), overwrite=overwrite)


def write_run(path: Path, cfg: TrainConfig, cell: tuple[int, int, int], block: dict) -> None:
    """Write one padded run into its region (one chunk), then mark it done."""
    i, j, k = _index(cfg, cell)
    data = xr.Dataset({name: (CELL + RUN_DIMS[name], v[None, None, None]) for name, v in block.items()})
    region = {"depth": slice(i, i + 1), "width": slice(j, j + 1), "run": slice(k, k + 1)}
    write_region(path, data, region, "-".join(str(v) for v in cell))


def reopen(path: Path, cfg: TrainConfig) -> tuple[TrainConfig, dict, set, bool]:
    """Resume: the stored config, the runs written so far, the done cells, completeness."""
    stored = resumable_config(path, cfg)
    done = {tuple(int(v) for v in name.split("-")) for name in done_markers(path)}
    complete = bool(_attrs(path).get("complete"))
    raw = empty(stored)
    if done or complete:
        on_disk = read_stored(path)
        for name in raw:
            if name in on_disk:   # a store begun before a variable was recorded leaves it NaN
                raw[name][...] = on_disk[name].transpose(*CELL, *RUN_DIMS[name]).values
    return stored, raw, done, complete


def resumable_config(path: Path, cfg: TrainConfig) -> TrainConfig:
    """The stored config, if ``cfg`` may resume ``path`` (a missing seed adopts the stored one)."""
    stored = stored_config(path, cfg, SCHEMA, "training", ignore=("data_sha256",))
    if stored.data_sha256 is not None:
        now = hashlib.sha256(Path(stored.data).read_bytes()).hexdigest()
        if now != stored.data_sha256:
            raise StoreError(f"the data file {stored.data} changed since {path} was written (its sha256 "
                             "differs); restore it, or use --overwrite")
    return stored


# ---------------------------------------------------------------- summaries
def summarise(ds: xr.Dataset) -> xr.Dataset:
    """Run-pooled means and standard errors, outcome fractions, 2^-prefix, and power laws in width."""
    with np.errstate(invalid="ignore", over="ignore"):  # runs that blew up hold inf before they turn NaN
        return _summarise(ds)


def _summarise(ds: xr.Dataset) -> xr.Dataset:
    out = xr.Dataset({"p_theory": ("prefix", theory.p_active(ds["prefix"].values),
                                   {"long_name": "2^-prefix (Theorem 1)"})})
    for name in PER_STEP:
        mean, se = _pooled(ds[name])
        out[f"{name}_mean"], out[f"{name}_se"] = mean, se
        out[f"{name}_mean"].attrs = {"long_name": f"mean over runs of {name}"}
        out[f"{name}_se"].attrs = {"long_name": f"standard error over runs of {name}"}
    for name in PER_RUN_VALUES:
        if name in ds:
            finite = ds[name].where(np.isfinite(ds[name]))
            out[f"{name}_mean"], out[f"{name}_se"] = _pooled(finite)
            out[f"{name}_mean"].attrs = {"long_name": f"mean over runs of {name} (finite values)"}
    if "regime" in ds:
        for code, meaning in enumerate(critical.REGIMES):
            out[f"{meaning}_runs"] = (ds["regime"] == code).sum("run").astype(np.int64)
            out[f"{meaning}_runs"].attrs = {"long_name": f"runs in the {meaning.replace('_', ' ')} regime"}
    for name in PER_RUN:
        p, se = _fraction(ds[name])
        out[f"{name}_fraction"], out[f"{name}_fraction_se"] = p, se
        out[f"{name}_fraction"].attrs = {"long_name": f"fraction of runs: {LONG_NAMES[name]}"}
    out["n_runs"] = ds["loss"].isel(step=-1).notnull().sum("run").astype(np.int64)
    out["n_runs"].attrs = {"long_name": "runs that did not diverge"}
    for name, dim in FITTED.items():
        out.update(_exponents(out, name, dim))
    return out


def _pooled(values: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    n = values.count("run")
    return values.mean("run"), (values.std("run", ddof=1) / np.sqrt(n)).where(n >= 2)


def _fraction(flags: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    n = flags.count("run")
    p = flags.mean("run")
    return p, np.sqrt(p * (1 - p) / n).where(n >= 2)


def _exponents(summary: xr.Dataset, name: str, dim: str | None) -> dict[str, xr.DataArray]:
    """Fitted exponent b of mean(final value) ~ width^b, per depth (and layer), with its se."""
    final = summary[f"{name}_mean"].isel(step=-1)
    final_se = summary[f"{name}_se"].isel(step=-1)
    widths = summary["width"].values.astype(float)
    b = xr.apply_ufunc(lambda y, s: _fit(widths, y, s), final, final_se, input_core_dims=[["width"], ["width"]],
                       output_core_dims=[["fit"]], vectorize=True).assign_coords(fit=["exponent", "se"])
    attrs = {"long_name": f"exponent b of {name} ~ width^b at the last step (weighted log-log fit)"}
    return {f"{name}_exponent": b.sel(fit="exponent", drop=True).assign_attrs(attrs),
            f"{name}_exponent_se": b.sel(fit="se", drop=True).assign_attrs(
                {"long_name": f"standard error of {name}_exponent (inflated by sqrt(chi2/dof))"})}


def _fit(widths: np.ndarray, y: np.ndarray, se: np.ndarray) -> np.ndarray:
    fit = fit_power_law(widths, y, se)
    return np.array([np.nan, np.nan]) if fit is None else np.array([fit.exponent, fit.exponent_se])


def build(cfg: TrainConfig, raw: dict, device: str = "") -> xr.Dataset:
    """The finished dataset: per-run values, each run's regime, and their summaries."""
    ds = raw_dataset(cfg, raw, complete=True)
    ds.attrs["device"] = device or _device(cfg)
    ds["regime"] = regimes(ds)
    return ds.merge(summarise(ds), combine_attrs="override")


def regimes(ds: xr.Dataset) -> xr.DataArray:
    """Each run's regime code (int8; see ``critical.REGIMES``) from its per-run values."""
    loss = ds["loss"]
    final_ratio = loss.isel(step=-1) / loss.isel(step=0)
    code = critical.regime(ds["diverged"], ds["loss_peak"], final_ratio, ds["lr"], ds["critical_lr"])
    return xr.DataArray(code, dims=CELL, attrs=dict(critical.REGIME_ATTRS))

