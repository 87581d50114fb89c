"""Errors and the one-line validators every config uses."""
from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np


class NtkpathsError(Exception):
    """An error the user can fix; its message is one line, shown without a traceback."""


class ConfigError(NtkpathsError, ValueError):
    """A configuration or input that ntkpaths refuses."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    _require(value in options, f"unknown {name} {value!r}; choose one of: {', '.join(options)}")


def _positive_int(name: str, value: int) -> None:
    _require(isinstance(value, (int, np.integer)) and value >= 1, f"{name} must be an integer >= 1, got {value!r}")


def _finite(name: str, value: float) -> None:
    _require(isinstance(value, (int, float)) and math.isfinite(value), f"{name} must be a finite number, got {value!r}")


NPY_MAGIC = b"\x93NUMPY"   # how numpy's .npy format begins
ZIP_MAGIC = b"PK\x03\x04"   # how a .npz (a zip of .npy files) begins


def check_format(path: Path, what: str, expected: str) -> None:
    """Refuse a file that is not in numpy's ``expected`` format (".npy" or ".npz"), saying what it is."""
    with open(path, "rb") as f:
        head = f.read(8)
    save = "numpy.save" if expected == ".npy" else "numpy.savez"
    if expected == ".npz" and head.startswith(NPY_MAGIC):
        reason = "it is a single .npy array, not a .npz archive"
    elif expected == ".npy" and head.startswith(ZIP_MAGIC):
        reason = "it is a .npz archive, not a .npy array"
    elif not head.startswith(NPY_MAGIC if expected == ".npy" else ZIP_MAGIC):
        kind = "empty" if not head else "text" if _is_text(head) else "in another format"
        reason = f"it is {kind}, not a {expected} file"
    else:
        return
    raise ConfigError(f"cannot read {what} file {path}: {reason}; write it with {save}")


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _reason(exc: BaseException) -> str:
    """numpy's reason in one line; its advice about allow_pickle names an option ntkpaths does not have."""
    if "allow_pickle" in str(exc):
        return "it holds Python objects, not arrays of numbers"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file (no pickles), or a one-line ConfigError naming ``what`` it is."""
    path = Path(path)
    _require(path.is_file(), f"{what} file {path} not found")
    try:
        check_format(path, what, ".npz")
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        damaged = isinstance(exc, (zipfile.BadZipFile, EOFError, zlib.error))
        raise ConfigError(f"cannot read {what} file {path}: "
                          f"{'truncated or damaged' if damaged else _reason(exc)}") from None
