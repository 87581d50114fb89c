"""Dataset schema, provenance attrs, zarr I/O and :func:`load`.

A sweep dataset has coords ``width``, ``depth`` (hidden layers), ``network``
and ``input`` (plus ``input_dim`` as a dimension when more than one input dim
is swept, else as a scalar coordinate); the raw per-network statistics of
:mod:`ntkpaths.tracer` and the summaries of :mod:`ntkpaths.aggregate`. Attrs
hold the configuration as JSON, the seed's entropy, the package version, the
command line and the creation time.

Writing follows the xarray recipe for distributed stores: a template with
``compute=False`` first, then every finished block into its own ``region=``
(chunks are one block wide, so writes never share a chunk), a marker per
block, and the summaries plus ``complete = 1`` last.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .aggregate import summarise
from .config import NtkpathsError, SweepConfig
from .tracer import C_BINS, RAW_DIMS, T_BINS, X_BINS, raw_names

SCHEMA = "ntkpaths.sweep/2"
REQUIRED_VARS = ("p_active", "p_active_se", "p_theory", "active_fraction_var", "n_networks")
# every kind of dataset ntkpaths writes, with the variables a finished one must hold
SCHEMAS = {
    SCHEMA: REQUIRED_VARS,
    "ntkpaths.train/1": ("loss", "p_active", "p_theory", "flip_fraction", "diverged"),
    "ntkpaths.reparam/1": (),
}
SHARED_DEPTHS_NOTE = (
    "yes: every depth H uses the first H hidden layers of the same sampled networks, "
    "so estimates at different depths are correlated"
)
DONE_DIR = "_done"


@contextlib.contextmanager
def _quiet_markers():
    """zarr warns about the block-marker folder inside an unfinished store; it is ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr hierarchy")
        yield


class StoreError(NtkpathsError):
    """A path that is not (or cannot become) an ntkpaths dataset."""


def _version() -> str:
    from . import __version__

    return __version__


def cell_dims(cfg: SweepConfig) -> tuple[str, ...]:
    """Sweep dimensions: input_dim only when more than one is swept."""
    return ("input_dim", "width") if len(cfg.input_dims) > 1 else ("width",)


def _sizes(cfg: SweepConfig) -> dict[str, int]:
    return {"input": cfg.inputs.count, "depth": cfg.depth, "layer": cfg.depth, "t_bin": T_BINS.count,
            "c_bin": C_BINS.count, "x_bin": X_BINS.count, "angle": len(cfg.angles)}


def empty_raw(cfg: SweepConfig, names: list[str]) -> dict[str, np.ndarray]:
    """NaN-filled raw arrays, (input_dim, width, network, ...) for each name."""
    sizes = _sizes(cfg)
    lead = (len(cfg.input_dims), len(cfg.widths), cfg.network_slots)
    return {n: np.full(lead + tuple(sizes[d] for d in RAW_DIMS[n]), np.nan) for n in names}


def put_block(raw: dict[str, np.ndarray], cfg: SweepConfig, task, block: dict[str, np.ndarray]) -> None:
    """Copy one finished block into the in-memory raw arrays."""
    i, j = cfg.input_dims.index(task.input_dim), cfg.widths.index(task.width)
    for name, values in block.items():
        raw[name][i, j, task.start:task.stop] = values


def _coords(cfg: SweepConfig) -> dict:
    coords = {
        "input_dim": ("input_dim", np.asarray(cfg.input_dims, dtype=np.int64)),
        "width": ("width", np.asarray(cfg.widths, dtype=np.int64)),
        "network": ("network", np.arange(cfg.network_slots)),
        "input": ("input", np.arange(cfg.inputs.count)),
        "depth": ("depth", np.arange(1, cfg.depth + 1)),
        "layer": ("layer", np.arange(1, cfg.depth + 1)),
        "t_bin": ("t_bin", T_BINS.centers, {"long_name": "standardised path weight t", "edges": T_BINS.edges.tolist()}),
        "c_bin": ("c_bin", C_BINS.centers, {"long_name": "input-weight share c", "edges": C_BINS.edges.tolist()}),
        "x_bin": ("x_bin", X_BINS.centers, {"long_name": "x_i0 sqrt(d) / |x|", "edges": X_BINS.edges.tolist()}),
        "angle": ("angle", np.asarray(cfg.angles), {"units": "rad"}),
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
    data = {name: xr.DataArray(values, dims=lead + RAW_DIMS[name]) for name, values in raw.items()}
    ds = xr.Dataset(data | _inputs_vars(cfg, inputs), coords=_coords(cfg))
    ds["active_fraction"].attrs = {"long_name": "F", "description": "exact fraction of active paths per network and input"}
    return _finish_layout(ds, cfg, complete)


def build_dataset(cfg: SweepConfig, raw: dict, inputs: dict) -> xr.Dataset:
    """The full dataset: raw statistics, inputs and summaries."""
    ds = raw_dataset(cfg, raw, inputs, complete=True)
    return ds.merge(summarise(ds, cfg), compat="override", combine_attrs="override")


def provenance(cfg: SweepConfig, complete: bool = False) -> dict:
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
        "complete": int(complete),
    }


def config_of(ds: xr.Dataset) -> SweepConfig:
    """The SweepConfig a dataset was made with."""
    return SweepConfig.from_dict(json.loads(ds.attrs["config"]))


# ---------------------------------------------------------------- zarr store
def _attrs(path: Path) -> dict:
    try:
        with _quiet_markers():
            return dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:
        return {}


def check_writable(path: Path, overwrite: bool, resume: bool = False) -> None:
    """Refuse early, before any work, to replace an existing output by accident or to write where we cannot."""
    if path.suffix != ".zarr":
        raise StoreError(f"output {path} must end in .zarr")
    probe_folder(path.parent)
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} exists and is not a dataset folder; choose another output")
    if not path.exists() or overwrite:
        return
    attrs = _attrs(path)
    if resume and attrs.get("schema") == SCHEMA:
        return
    if attrs.get("schema") == SCHEMA and not attrs.get("complete"):
        raise StoreError(f"{path} holds an unfinished sweep; pass --resume to finish it or --overwrite to replace it")
    raise StoreError(f"{path} already exists; pass --overwrite to replace it")


def probe_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written there, in one line if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StoreError(f"cannot write to {folder}: {exc.strerror or type(exc).__name__}") from None


_HELD: dict[Path, int] = {}  # locks this process holds, with their nesting depth


@contextlib.contextmanager
def locked(path: Path):
    """Hold the writer's lock of the store at ``path``; refuse in one line if another process holds it.

    The lock is an ``flock`` on ``PATH.lock`` beside the store, so the
    operating system releases it when its holder dies, however it dies.
    Nested use in one process is allowed (the CLI takes the lock before its
    progress bar starts, then the sweep takes it again).
    """
    key = path.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    lock_path = path.with_name(path.name + ".lock")
    probe_folder(lock_path.parent)
    fd = _acquire(lock_path, path)
    _HELD[key] = 1
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def _acquire(lock_path: Path, path: Path) -> int:
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"{path} is being written by another ntkpaths process ({_holder(lock_path)}); "
                             "wait for it, or choose another output") from None
        try:
            if os.fstat(fd).st_ino == os.stat(lock_path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed the file as we took it: try again on the new one


def _holder(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def create(path: Path, cfg: SweepConfig, inputs: dict, *, overwrite: bool = False) -> None:
    """Write the template: metadata, coords and inputs; raw statistics stay unwritten (NaN)."""
    import dask.array as da  # only here: it pulls in scipy

    check_writable(path, overwrite)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = (1, 1, cfg.nets_per_task)
    raw = {name: da.full(a.shape, np.nan, chunks=chunks + a.shape[3:])
           for name, a in empty_raw(cfg, raw_names(cfg.stats)).items()}
    raw_dataset(cfg, raw, inputs).to_zarr(path, mode="w", compute=False, zarr_format=2, consolidated=True)
    (path / DONE_DIR).mkdir()


def write_block(path: Path, cfg: SweepConfig, task, block: dict[str, np.ndarray]) -> None:
    """Write one finished block into its region, then mark it done."""
    dims = cell_dims(cfg)
    lead = (1,) * len(dims)
    data = {n: (dims + ("network",) + RAW_DIMS[n], v.reshape(lead + v.shape)) for n, v in block.items()}
    region = {"width": slice(cfg.widths.index(task.width), cfg.widths.index(task.width) + 1),
              "network": slice(task.start, task.stop)}
    if "input_dim" in dims:
        i = cfg.input_dims.index(task.input_dim)
        region["input_dim"] = slice(i, i + 1)
    with _quiet_markers():
        xr.Dataset(data).to_zarr(path, region=region, zarr_format=2)
    (path / DONE_DIR / f"{task.input_dim}-{task.width}-{task.start}").touch()


def finalize(path: Path, ds: xr.Dataset) -> None:
    """Write the final values (summaries, and raw with any surplus networks blanked) and mark complete."""
    shutil.rmtree(path / DONE_DIR, ignore_errors=True)
    data = ds.drop_vars(["inputs", "pair_inputs", *ds.coords])
    data.to_zarr(path, mode="a", zarr_format=2, consolidated=False)
    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update({"complete": 1})
    zarr.consolidate_metadata(str(path))


def resumable_config(path: Path, cfg: SweepConfig) -> SweepConfig:
    """The stored config, if ``cfg`` may resume ``path`` (a missing seed adopts the stored one)."""
    attrs = _attrs(path)
    if attrs.get("schema") != SCHEMA:
        raise StoreError(f"{path} is not an ntkpaths sweep store; cannot resume it")
    stored = SweepConfig.from_dict(json.loads(attrs["config"]))
    mine = cfg if cfg.seed is not None else dataclasses.replace(cfg, seed=stored.seed)
    if mine != stored:
        diff = [k for k, v in stored.to_dict().items() if v != mine.to_dict()[k]]
        raise StoreError(f"{path} was written with different options ({', '.join(diff)}); "
                         "rerun with the same options, or use --overwrite")
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
    """Resume: the stored config, the raw values written so far, the done blocks, completeness.

    ``cfg`` must equal the stored config, except that a missing seed adopts the stored one.
    """
    stored = resumable_config(path, cfg)
    attrs = _attrs(path)
    marks = (path / DONE_DIR).glob("*") if (path / DONE_DIR).exists() else []
    done = {tuple(int(v) for v in m.name.split("-")) for m in marks}
    complete = bool(attrs.get("complete"))
    raw = empty_raw(stored, raw_names(stored.stats))
    if done or complete:
        _read_raw(path, raw)
    return stored, raw, done, complete


def _read_raw(path: Path, raw: dict) -> None:
    with _quiet_markers():
        stored = xr.open_zarr(path, consolidated=False)
    for name, target in raw.items():
        values = stored[name]
        if "input_dim" not in values.dims:
            values = values.expand_dims("input_dim")
        target[...] = values.transpose("input_dim", "width", "network", *RAW_DIMS[name]).values


def load(path: str | Path) -> xr.Dataset:
    """Open a finished ntkpaths dataset, checking that it is one.

    Examples
    --------
    >>> ds = ntkpaths.load("data/sweep-depth8.zarr")  # doctest: +SKIP
    >>> ds.p_active.sel(width=1024)                     # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path} does not exist")
    try:
        with _quiet_markers():
            ds = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    except Exception as exc:  # any backend failure means "not a dataset we can read"
        raise StoreError(f"{path} is not a readable dataset ({type(exc).__name__})") from None
    schema = ds.attrs.get("schema")
    if schema not in SCHEMAS:
        raise StoreError(f"{path} is not an ntkpaths dataset")
    if not ds.attrs.get("complete") or any(v not in ds for v in SCHEMAS[schema]):
        command = "train" if schema.startswith("ntkpaths.train") else "sweep"
        raise StoreError(f"{path} holds an unfinished {command}; finish it with 'ntkpaths {command} ... --resume'")
    return ds


def write(ds: xr.Dataset, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write an in-memory dataset to a zarr store in one go (atomically)."""
    path = Path(path)
    check_writable(path, overwrite)
    with locked(path):
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        ds.to_zarr(partial, mode="w", consolidated=True, zarr_format=2)
        if path.exists():
            shutil.rmtree(path)
        partial.rename(path)
    return path
