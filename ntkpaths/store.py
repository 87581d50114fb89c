"""Dataset schema, provenance attrs, zarr I/O and :func:`load`.

A sweep dataset has coords ``width``, ``depth`` (hidden layers), ``network``
and ``input``; the raw per-network sample ``active_fraction`` and the
summaries of :mod:`ntkpaths.aggregate`. Its attrs hold the configuration as
JSON, the seed's entropy, the package version, the command line and the
creation time.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from .aggregate import summarise_active_fraction
from .config import NtkpathsError, SweepConfig

SCHEMA = "ntkpaths.sweep/1"
REQUIRED_VARS = ("p_active", "p_active_se", "p_theory", "active_fraction_var", "n_networks")
SHARED_DEPTHS_NOTE = (
    "yes: every depth H uses the first H hidden layers of the same sampled networks, "
    "so estimates at different depths are correlated"
)


class StoreError(NtkpathsError):
    """A path that is not (or cannot become) an ntkpaths dataset."""


def _version() -> str:
    from . import __version__

    return __version__


def build_dataset(cfg: SweepConfig, active_fraction: np.ndarray, inputs: np.ndarray) -> xr.Dataset:
    """Assemble the sweep dataset.

    Parameters
    ----------
    cfg : SweepConfig
        With its seed resolved to an integer.
    active_fraction : ndarray (width, network, input, depth)
    inputs : ndarray (input, feature)
    """
    coords = {
        "width": ("width", np.asarray(cfg.widths, dtype=np.int64)),
        "network": ("network", np.arange(active_fraction.shape[1])),
        "input": ("input", np.arange(inputs.shape[0])),
        "depth": ("depth", np.arange(1, cfg.depth + 1)),
    }
    raw = xr.DataArray(active_fraction, dims=("width", "network", "input", "depth"), coords=coords)
    raw.attrs = {"long_name": "F", "description": "exact fraction of active paths per network and input"}
    ds = summarise_active_fraction(raw)
    ds["active_fraction"] = raw
    ds["inputs"] = xr.DataArray(inputs, dims=("input", "feature"), attrs={"long_name": "inputs x"})
    ds.attrs = provenance(cfg)
    return ds


def provenance(cfg: SweepConfig) -> dict:
    """Attrs that let anyone replay the dataset."""
    return {
        "schema": SCHEMA,
        "ntkpaths_version": _version(),
        "config": json.dumps(cfg.to_dict()),
        "seed_entropy": str(cfg.seed),
        "command": " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "depths_share_networks": SHARED_DEPTHS_NOTE,
        "init": cfg.network.init,
        "input_kind": cfg.inputs.kind,
    }


def config_of(ds: xr.Dataset) -> SweepConfig:
    """The SweepConfig a dataset was made with."""
    return SweepConfig.from_dict(json.loads(ds.attrs["config"]))


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse early, before any work, to replace an existing output by accident."""
    if path.suffix != ".zarr":
        raise StoreError(f"output {path} must end in .zarr")
    if path.exists() and not overwrite:
        raise StoreError(f"{path} already exists; pass --overwrite to replace it")


def write(ds: xr.Dataset, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``ds`` to a zarr store atomically: a failed write leaves no store.

    The old store, if any, is replaced only after the new one is complete.
    """
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    ds.to_zarr(partial, mode="w", consolidated=True, zarr_format=2)
    if path.exists():
        shutil.rmtree(path)
    partial.rename(path)
    return path


def load(path: str | Path) -> xr.Dataset:
    """Open an ntkpaths dataset, checking that it is one.

    Examples
    --------
    >>> ds = ntkpaths.load("data/sweep-depth8.zarr")  # doctest: +SKIP
    >>> ds.p_active.sel(width=1024)                     # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path} does not exist")
    try:
        ds = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    except Exception as exc:  # any backend failure means "not a dataset we can read"
        raise StoreError(f"{path} is not a readable dataset ({type(exc).__name__})") from None
    if ds.attrs.get("schema") != SCHEMA or any(v not in ds for v in REQUIRED_VARS):
        raise StoreError(f"{path} is not an ntkpaths sweep dataset")
    return ds
