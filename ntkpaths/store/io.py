"""zarr I/O shared by every kind of dataset: writers' locks, templates, region writes, load.

Writing follows the xarray recipe for distributed stores: a template with
``compute=False`` first, then every finished block into its own ``region=``
(chunks are one block wide, so writes never share a chunk), a marker per
block in ``_done/``, and the summaries plus ``complete = 1`` last. Only one
process writes a store at a time (:func:`locked`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path

import xarray as xr
import zarr

from ..config import NtkpathsError

# every kind of dataset ntkpaths writes, with the variables a finished one must hold
SCHEMAS = {
    "ntkpaths.sweep/3": ("p_active", "p_active_se", "p_theory", "active_fraction_var", "n_networks"),
    "ntkpaths.sweep/2": ("p_active", "p_active_se", "p_theory", "active_fraction_var", "n_networks"),
    "ntkpaths.train/1": ("loss", "p_active", "p_theory", "flip_fraction", "diverged"),
    "ntkpaths.reparam/1": (),
    "ntkpaths.minima/1": ("outcome", "fraction", "fraction_lo", "fraction_hi"),
}
COMMANDS = {"ntkpaths.sweep/3": "sweep", "ntkpaths.sweep/2": "sweep", "ntkpaths.train/1": "train", "ntkpaths.minima/1": "minima"}  # the command that resumes each
DONE_DIR = "_done"


@contextlib.contextmanager
def _quiet_markers():
    """zarr warns about the block-marker folder inside an unfinished store; it is ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr hierarchy")
        yield


class StoreError(NtkpathsError):
    """A path that is not (or cannot become) an ntkpaths dataset."""


def version() -> str:
    from .. import __version__

    return __version__


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
    check_output_folder(path.parent)
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} exists and is not a dataset folder; choose another output")
    _check_unlocked(path)
    if not path.exists() or overwrite:
        return
    schema = _attrs(path).get("schema")
    if resume and schema in COMMANDS:
        return
    if schema in COMMANDS and not _attrs(path).get("complete"):
        raise StoreError(f"{path} holds an unfinished {COMMANDS[schema]}; pass --resume to finish it "
                         "or --overwrite to replace it")
    raise StoreError(f"{path} already exists; pass --overwrite to replace it")


def probe_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written there, in one line if not."""
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise StoreError(f"cannot write to {folder}: {blocker} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StoreError(f"cannot write to {folder}: {exc.strerror or type(exc).__name__}") from None


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a zarr store (or would be taken for one: a name ending in .zarr)."""
    return path.suffix == ".zarr" or any((path / marker).exists() for marker in (".zgroup", "zarr.json"))


def check_output_folder(folder: Path) -> None:
    """Refuse a folder for figures or reports that is, or lies inside, a dataset; else probe it."""
    for where in (folder, *folder.resolve().parents):
        if is_dataset(where):
            raise StoreError(f"{folder} is {'' if where == folder.resolve() else 'inside '}a dataset "
                             f"({where.name}); choose another folder")
    probe_folder(folder)


def check_results_fit(need: int, option: str, advice: str, available: int | None = None) -> None:
    """Refuse, before any work, results of ``need`` bytes that cannot be held in memory, naming the option."""
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    if need > available:
        raise StoreError(f"{option}: the results would need ~{need / 2**30:.3g} GiB of memory, but "
                         f"{available / 2**30:.1f} GiB are available; {advice}")


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


def _held_elsewhere(lock_path: Path, path: Path) -> StoreError:
    return StoreError(f"{path} is being written by another ntkpaths process ({_holder(lock_path)}); "
                      "wait for it, or choose another output")


def _check_unlocked(path: Path) -> None:
    """Refuse a store another process is writing, before anything else is said about it."""
    lock_path = path.with_name(path.name + ".lock")
    if path.resolve() in _HELD or not lock_path.exists():
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _held_elsewhere(lock_path, path) from None
    finally:
        os.close(fd)


def _acquire(lock_path: Path, path: Path) -> int:
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _held_elsewhere(lock_path, path) from None
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


def stored_config(path: Path, cfg, schema: str, what: str, ignore: tuple[str, ...] = ()):
    """The config a store was written with, if ``cfg`` may resume it (a missing seed adopts the
    stored one); otherwise a one-line StoreError naming the options that differ."""
    attrs = _attrs(path)
    if attrs.get("schema") != schema:
        older = attrs.get("schema") in COMMANDS and COMMANDS[attrs["schema"]] == what
        raise StoreError(f"{path} was written by an older ntkpaths ({attrs['schema']}); rerun it with --overwrite"
                         if older else f"{path} is not an ntkpaths {what} store; cannot resume it")
    stored = type(cfg).from_dict(json.loads(attrs["config"]))
    mine = cfg if cfg.seed is not None else dataclasses.replace(cfg, seed=stored.seed)
    if mine != stored:
        diff = [k for k, v in stored.to_dict().items() if v != mine.to_dict()[k] and k not in ignore]
        raise StoreError(f"{path} was written with different options ({', '.join(diff)}); "
                         "rerun with the same options, or use --overwrite")
    return stored


def create_template(path: Path, template: xr.Dataset, *, overwrite: bool = False) -> None:
    """Write a template (dask-backed variables stay unwritten) and an empty marker folder."""
    check_writable(path, overwrite)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    template.to_zarr(path, mode="w", compute=False, zarr_format=2, consolidated=True)
    (path / DONE_DIR).mkdir()


def write_region(path: Path, data: xr.Dataset, region: dict[str, slice], marker: str) -> None:
    """Write one finished block into its region of the template, then mark it done."""
    with _quiet_markers():
        data.to_zarr(path, region=region, zarr_format=2)
    (path / DONE_DIR / marker).touch()


def done_markers(path: Path) -> list[str]:
    """Names of the blocks written so far (empty once the store is complete)."""
    folder = path / DONE_DIR
    return sorted(m.name for m in folder.glob("*")) if folder.exists() else []


def read_stored(path: Path) -> xr.Dataset:
    """A store as written so far (lazy), including unfinished ones."""
    with _quiet_markers():
        return xr.open_zarr(path, consolidated=False)


def finalize(path: Path, ds: xr.Dataset) -> None:
    """Write the final values (summaries, and raw with any surplus networks blanked) and mark complete."""
    ds.attrs["command"] = _command_history(path, ds.attrs.get("command", ""))
    shutil.rmtree(path / DONE_DIR, ignore_errors=True)
    data = ds.drop_vars([v for v in ("inputs", "pair_inputs") if v in ds] + list(ds.coords))
    data.to_zarr(path, mode="a", zarr_format=2, consolidated=False)
    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update({"complete": True})
    zarr.consolidate_metadata(str(path))


def _command_history(path: Path, command: str) -> str:
    """Every command that wrote the store, oldest first, one per line (a resume adds its own)."""
    history = [line for line in str(_attrs(path).get("command", "")).splitlines() if line]
    if command and (not history or history[-1] != command):
        history.append(command)
    return "\n".join(history)


def load(path: str | Path, *, lazy: bool = False) -> xr.Dataset:
    """Open a finished ntkpaths dataset, checking that it is one.

    Parameters
    ----------
    path : str or Path
        A ``.zarr`` store written by ntkpaths (or a netCDF copy of one).
    lazy : bool
        False (the default) reads every variable into memory as numpy
        arrays, as ``xarray.open_dataset`` does for a netCDF file, so
        ``.item()``, ``.values`` and numpy functions work at once. True keeps
        them as lazy dask arrays (for stores larger than memory); call
        ``.compute()`` or ``.load()`` on what you need.

    Examples
    --------
    >>> ds = ntkpaths.load("data/sweep-depth8.zarr")  # doctest: +SKIP
    >>> ds.p_active.sel(width=1024, depth=8).item()     # doctest: +SKIP
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
        command = COMMANDS.get(schema, "study")
        raise StoreError(f"{path} holds an unfinished {command}; finish it with 'ntkpaths {command} ... --resume'")
    return ds if lazy else ds.load()


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
