"""Frozen, validated configuration for networks, inputs, sweeps and training runs.

Every config validates itself in ``__post_init__`` and raises
:class:`ConfigError` with a one-line message, so the CLI can show it as is.
Configs serialise to plain JSON-able dicts for dataset attrs.
"""
from .base import ConfigError, NtkpathsError
from .sweep import (ACCEL_DISTS, DEFAULT_ANGLES, DEVICES, DTYPES, IMPLICIT_DISTS, INITS, INPUT_KINDS, METHODS,
                    MIN_NETS, STATS, WEIGHT_DISTS, InputConfig, NetworkConfig, SweepConfig, parse_angles, read_inputs)
from .train import DIGITS_SIZE, PARAMS, TRAIN_DATA, TrainConfig, read_npz

__all__ = [
    # errors
    "NtkpathsError", "ConfigError",
    # networks, inputs, sweeps
    "NetworkConfig", "InputConfig", "SweepConfig", "parse_angles", "read_inputs",
    "INITS", "WEIGHT_DISTS", "IMPLICIT_DISTS", "ACCEL_DISTS", "DTYPES", "INPUT_KINDS", "STATS", "METHODS",
    "DEVICES", "MIN_NETS", "DEFAULT_ANGLES",
    # training
    "TrainConfig", "read_npz", "PARAMS", "TRAIN_DATA", "DIGITS_SIZE",
]
