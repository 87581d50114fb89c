"""Errors and the one-line validators every config uses."""
from __future__ import annotations

import math
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


def load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file (no pickles), or a one-line ConfigError naming ``what`` it is."""
    path = Path(path)
    _require(path.is_file(), f"{what} file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read {what} file {path}: {first}") from None
