"""Errors and the one-line validators every config uses."""
from __future__ import annotations

import math

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
