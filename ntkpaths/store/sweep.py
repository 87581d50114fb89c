"""The sweep dataset: schema, provenance attrs, template, blocks, resume.

A sweep dataset has coords ``width``, ``depth`` (hidden layers), ``network``
and ``input`` (plus ``input_dim`` as a dimension when more than one input dim
is swept, else as a scalar coordinate); the raw per-network statistics of
:mod:`ntkpaths.netstats` and the summaries of :mod:`ntkpaths.aggregate`. Attrs
hold the configuration as JSON, the seed's entropy, the package version, the
command line and the creation time. Written with :mod:`ntkpaths.store.io`.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from ..aggregate import summarise
from ..config import SweepConfig
from ..controls import JOINT_CONTROLS, SLOPE_CONTROLS
from ..netstats import C_BINS, CONTROL_DIMS, RAW_DIMS, T_BINS, X_BINS, raw_names
from .io import (SCHEMAS, StoreError, _attrs, check_results_fit, create_template, done_markers, read_stored, stored_config, version,
                 write_region)

SCHEMA = "ntkpaths.sweep/3"
VAR_DIMS = RAW_DIMS | CONTROL_DIMS
REQUIRED_VARS = SCHEMAS[SCHEMA]
SHARED_DEPTHS_NOTE = (
    "yes: every depth H uses the first H hidden layers of the same sampled networks, "
    "so estimates at different depths are correlated"
)
def cell_dims(cfg: SweepConfig) -> tuple[str, ...]:
    """Sweep dimensions: input_dim only when more than one is swept."""
    return ("input_dim", "width") if len(cfg.input_dims) > 1 else ("width",)


def _sizes(cfg: SweepConfig) -> dict[str, int]:
    return {"input": cfg.inputs.count, "depth": cfg.depth, "layer": cfg.depth, "t_bin": T_BINS.count,
            "c_bin": C_BINS.count, "x_bin": X_BINS.count, "angle": len(cfg.angles),
            "joint_control_kind": len(JOINT_CONTROLS), "slope_control_kind": len(SLOPE_CONTROLS)}


def sweep_raw_names(cfg: SweepConfig) -> list[str]:
    """Raw variables of this sweep: its statistics, and their control variates when it reduces variance."""
    return raw_names(cfg.stats, controls=cfg.reduces)


def empty_raw(cfg: SweepConfig, names: list[str]) -> dict[str, np.ndarray]:
    """NaN-filled raw arrays, (input_dim, width, network, ...) for each name."""
    sizes = _sizes(cfg)
    lead = (len(cfg.input_dims), len(cfg.widths), cfg.network_slots)
    return {n: np.full(lead + tuple(sizes[d] for d in VAR_DIMS[n]), np.nan) for n in names}


def raw_nbytes(cfg: SweepConfig) -> int:
    """Bytes of the in-memory raw arrays of :func:`empty_raw` (Python integers: no overflow)."""
    sizes = _sizes(cfg)
    lead = len(cfg.input_dims) * len(cfg.widths) * cfg.network_slots
    return sum(8 * lead * math.prod(sizes[d] for d in VAR_DIMS[n]) for n in sweep_raw_names(cfg))


def check_raw_memory(cfg: SweepConfig, available: int | None = None) -> None:
    """Refuse, before any work, a sweep whose per-network results cannot be held in memory."""
    option = f"--max-nets {cfg.max_nets}" if cfg.rel_se is not None else f"--nets {cfg.nets}"
    check_results_fit(raw_nbytes(cfg), option, "draw fewer networks", available)


def put_block(raw: dict[str, np.ndarray], cfg: SweepConfig, task, block: dict[str, np.ndarray]) -> None:
    """Copy one finished block into the in-memory raw arrays."""
    i, j = cfg.input_dims.index(task.input_dim), cfg.widths.index(task.width)
    for name, values in block.items():
        raw[name][i, j, task.start:task.stop] = values


# What each raw per-network variable holds (every one is summed over the inputs unless it has an input dim).
RAW_ATTRS = {
    "active_fraction": {"long_name": "F", "description": "exact fraction of active paths per network and input"},
    "weight_num": {"long_name": "active paths per t_l bin",
                   "description": "per network: fraction of all paths whose standardised weight t_l at this layer "
                                  "lies in the bin and that are active, summed over inputs (numerator of "
                                  "weight_dependence)"},
    "weight_den": {"long_name": "paths per t_l bin",
                   "description": "per network: fraction of the layer's edges whose standardised weight t_l lies in "
                                  "the bin, summed over inputs (denominator of weight_dependence)"},
    "weight_tz": {"long_name": "sum of t_l Z over paths",
                  "description": "per network: mean over all paths of t_l times Z (1 when active), summed over "
                                 "inputs (numerator of weight_slope)"},
    "input_num": {"long_name": "active paths per c bin",
                  "description": "per network: fraction of all paths whose input-weight share c lies in the bin "
                                 "and that are active, summed over inputs (numerator of input_dependence)"},
    "input_den": {"long_name": "paths per c bin",
                  "description": "per network: fraction of first-layer edges whose share c lies in the bin, "
                                 "summed over inputs (denominator of input_dependence)"},
    "xvalue_num": {"long_name": "active paths per input-value bin",
                   "description": "per network: fraction of all paths whose input value x_i0 sqrt(d)/|x| lies in "
                                  "the bin and that are active, summed over inputs (numerator of "
                                  "input_value_dependence)"},
    "xvalue_den": {"long_name": "paths per input-value bin",
                   "description": "per network: fraction of input coordinates whose x_i0 sqrt(d)/|x| lies in the "
                                  "bin, summed over inputs (denominator of input_value_dependence)"},
    "joint_fraction": {"long_name": "fraction of paths active for both inputs of a pair",
                       "description": "per network: exact fraction of paths active for the base input and the "
                                      "input at this angle to it"},
    "joint_control": {"long_name": "control variates of joint_fraction, per layer",
                      "description": "per network: layer l's value minus its exact conditional mean given layer "
                                     "l-1 (both_on: fraction on for both inputs; base_square, pair_square, cross: "
                                     "normalised Gram entries), times the joint fractions of layers 1..l-1; "
                                     "mean exactly 0 (ntkpaths.controls)"},
    "slope_control": {"long_name": "control variates of weight_tz, per layer",
                      "description": "per network, summed over inputs: edge: mean t Z over the layer's edges minus "
                                     "its exact conditional mean, times the on-fractions of layers before l-1; on: "
                                     "on-fraction minus 1/2, times those of layers before l; mean exactly 0"},
}


def _coords(cfg: SweepConfig) -> dict:
    coords = {
        "input_dim": ("input_dim", np.asarray(cfg.input_dims, dtype=np.int64), {"long_name": "input dimension d"}),
        "width": ("width", np.asarray(cfg.widths, dtype=np.int64), {"long_name": "hidden width n"}),
        "network": ("network", np.arange(cfg.network_slots), {"long_name": "network index within a cell"}),
        "input": ("input", np.arange(cfg.inputs.count), {"long_name": "input index"}),
        "depth": ("depth", np.arange(1, cfg.depth + 1),
                  {"long_name": "depth H", "description": "paths through the first H hidden layers"}),
        "layer": ("layer", np.arange(1, cfg.depth + 1), {"long_name": "hidden layer l (1-based)"}),
        "t_bin": ("t_bin", T_BINS.centers, {"long_name": "standardised path weight t", "edges": T_BINS.edges.tolist()}),
        "c_bin": ("c_bin", C_BINS.centers, {"long_name": "input-weight share c", "edges": C_BINS.edges.tolist()}),
        "x_bin": ("x_bin", X_BINS.centers, {"long_name": "x_i0 sqrt(d) / |x|", "edges": X_BINS.edges.tolist()}),
        "angle": ("angle", np.asarray(cfg.angles), {"units": "rad"}),
        "joint_control_kind": ("joint_control_kind", np.asarray(JOINT_CONTROLS), {"long_name": "control variate of the joint activation"}),
        "slope_control_kind": ("slope_control_kind", np.asarray(SLOPE_CONTROLS), {"long_name": "control variate of E[t_l | Z=1]"}),
    }
    return coords


def _inputs_vars(cfg: SweepConfig, inputs: dict) -> dict[str, xr.DataArray]:
    """The fixed inputs, padded with NaN to the largest input dim."""
    width = max(cfg.input_dims)

    def pad(a):
        return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])], constant_values=np.nan)

    main = np.stack([pad(inputs[d].main) for d in cfg.input_dims])
    pairs = np.stack([pad(np.vstack([inputs[d].base[None], inputs[d].pairs])) for d in cfg.input_dims])
    return {"inputs": xr.DataArray(main, dims=("input_dim", "input", "feature"), attrs={"long_name": "inputs x"}),
            "pair_inputs": xr.DataArray(pairs, dims=("input_dim", "pair", "feature"),
                                        attrs={"long_name": "pair inputs: base, then one per angle"})}


def _finish_layout(ds: xr.Dataset, cfg: SweepConfig, complete: bool) -> xr.Dataset:
    """Drop unused coords and squeeze a single input dim into a scalar coordinate."""
    used = set(ds.dims)
    ds = ds.drop_vars([c for c in ds.coords if c not in used and ds[c].ndim == 1 and c != "input_dim"])
    if len(cfg.input_dims) == 1:
        ds = ds.squeeze("input_dim")
    ds.attrs = provenance(cfg, complete)
    return ds


def raw_dataset(cfg: SweepConfig, raw: dict, inputs: dict, *, complete: bool = False) -> xr.Dataset:
    """Coords, raw per-network statistics and inputs (no summaries)."""
    lead = ("input_dim", "width", "network")
    data = {name: xr.DataArray(values, dims=lead + VAR_DIMS[name], attrs=RAW_ATTRS[name])
            for name, values in raw.items()}
    ds = xr.Dataset(data | _inputs_vars(cfg, inputs), coords=_coords(cfg))
    return _finish_layout(ds, cfg, complete)


def build_dataset(cfg: SweepConfig, raw: dict, inputs: dict) -> xr.Dataset:
    """The full dataset: raw statistics, inputs and summaries."""
    ds = raw_dataset(cfg, raw, inputs, complete=True)
    return ds.merge(summarise(ds, cfg), compat="override", combine_attrs="override")


def provenance(cfg: SweepConfig, complete: bool = False) -> dict:
    """Attrs that let anyone replay the dataset."""
    return {
        "schema": SCHEMA,
        "ntkpaths_version": version(),
        "config": json.dumps(cfg.to_dict()),
        "seed_entropy": str(cfg.seed),
        "command": " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "depths_share_networks": SHARED_DEPTHS_NOTE,
        "init": cfg.network.init,
        "input_kind": cfg.inputs.kind,
        "complete": bool(complete),
    }


def config_of(ds: xr.Dataset) -> SweepConfig:
    """The SweepConfig a dataset was made with."""
    return SweepConfig.from_dict(json.loads(ds.attrs["config"]))


def create(path: Path, cfg: SweepConfig, inputs: dict, *, overwrite: bool = False) -> None:
    """Write the template: metadata, coords and inputs; raw statistics stay unwritten (NaN)."""
    import dask.array as da  # only here: it pulls in scipy

    chunks = (1, 1, cfg.nets_per_task)
    raw = {name: da.full(a.shape, np.nan, chunks=chunks + a.shape[3:])
           for name, a in empty_raw(cfg, sweep_raw_names(cfg)).items()}
    create_template(path, raw_dataset(cfg, raw, inputs), overwrite=overwrite)


def write_block(path: Path, cfg: SweepConfig, task, block: dict[str, np.ndarray]) -> None:
    """Write one finished block into its region, then mark it done."""
    dims = cell_dims(cfg)
    lead = (1,) * len(dims)
    data = {n: (dims + ("network",) + VAR_DIMS[n], v.reshape(lead + v.shape)) for n, v in block.items()}
    region = {"width": slice(cfg.widths.index(task.width), cfg.widths.index(task.width) + 1),
              "network": slice(task.start, task.stop)}
    if "input_dim" in dims:
        i = cfg.input_dims.index(task.input_dim)
        region["input_dim"] = slice(i, i + 1)
    write_region(path, xr.Dataset(data), region, task.marker)


def resumable_config(path: Path, cfg: SweepConfig) -> SweepConfig:
    """The stored config, if ``cfg`` may resume ``path`` (a missing seed adopts the stored one)."""
    stored = stored_config(path, cfg, SCHEMA, "sweep")
    check_input_file(path, stored)
    return stored


def check_input_file(path: Path, stored: SweepConfig) -> None:
    """Refuse to resume when the input file changed since the store was written."""
    if stored.inputs.kind != "file":
        return
    try:
        now = hashlib.sha256(Path(stored.inputs.path).read_bytes()).hexdigest()
    except OSError as exc:
        raise StoreError(f"cannot read the input file {stored.inputs.path} to resume {path}: "
                         f"{exc.strerror or type(exc).__name__}") from None
    if now != stored.inputs.sha256:
        raise StoreError(f"the input file {stored.inputs.path} changed since {path} was written "
                         "(its sha256 differs); restore it, or use --overwrite")


def reopen(path: Path, cfg: SweepConfig) -> tuple[SweepConfig, dict, set, bool]:
    """Resume: the stored config, the raw values written so far, the done blocks (Tasks), completeness.

    ``cfg`` must equal the stored config, except that a missing seed adopts the stored one.
    """
    stored = resumable_config(path, cfg)
    done = {_task(name, stored) for name in done_markers(path)}
    complete = bool(_attrs(path).get("complete"))
    raw = empty_raw(stored, sweep_raw_names(stored))
    if done or complete:
        _read_raw(path, raw)
    return stored, raw, done, complete


def _task(marker: str, cfg: SweepConfig):
    """The block a done-marker "input_dim-width-start[-kind]" names; it ends at the next multiple
    of nets_per_task (a hybrid cell's first implicit block starts where the explicit ones stop)."""
    from ..tasks import Task

    d, w, start, *kind = marker.split("-")
    start, step = int(start), cfg.nets_per_task
    return Task(int(d), int(w), start, min((start // step + 1) * step, cfg.network_slots), kind[0] if kind else "")


def _read_raw(path: Path, raw: dict) -> None:
    stored = read_stored(path)
    for name, target in raw.items():
        values = stored[name]
        if "input_dim" not in values.dims:
            values = values.expand_dims("input_dim")
        target[...] = values.transpose("input_dim", "width", "network", *VAR_DIMS[name]).values


