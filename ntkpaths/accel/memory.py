"""Device memory for a block of explicit networks: bytes per network, free memory, batch and row blocks.

Like ``sweep.check_memory`` and ``tasks.peak_bytes`` on the CPU: refuse, in
one line and before any work, a width that would not fit even one network at
a time, and otherwise pick how many networks to run per compiled call.

The batch is the smaller of what fits in free memory and what gives each
call enough work (``TARGET_EDGES`` weights per layer) to hide per-call
overhead. When memory is plentiful it depends only on the configuration, so
the same configuration runs the same compiled shapes.
"""
from __future__ import annotations

import math

import numpy as np

from ..config import NtkpathsError, SweepConfig
from ..jaxsetup import jax
from ..netstats import C_BINS, T_BINS

SAFETY = 0.8                  # of free memory we plan to use
OVERHEAD = 64 << 20           # compiled program, inputs, outputs, allocator slack
WORKSPACE = {"cpu": 64 << 20, "other": 1 << 30}         # one-hot histogram blocks, shared by the batch
TARGET_EDGES = {"cpu": 1 << 21, "other": 1 << 27}       # weights per layer per call
MAX_BATCH = 4096


def _kind(platform: str | None) -> str:
    return "cpu" if (platform or jax.default_backend()) == "cpu" else "other"


def free_bytes(device=None) -> int:
    """Free memory of the device: its allocator's limit minus what is in use, or available host RAM on a CPU."""
    device = device or jax.devices()[0]
    try:
        stats = device.memory_stats()
    except Exception:  # backends without memory statistics
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    import psutil

    return int(psutil.virtual_memory().available)


def _columns(cfg: SweepConfig) -> int:
    return cfg.inputs.count + (1 + len(cfg.angles) if "joint" in cfg.stats else 0)


def bytes_per_network(cfg: SweepConfig, width: int, input_dim: int) -> int:
    """Peak bytes one network of a batch adds: its largest weight matrix twice (the draw and one
    temporary) and a few (neuron, column) float32 arrays; the histogram workspace is separate."""
    fan_in = max(width, input_dim) if cfg.depth > 1 else input_dim
    return 2 * 4 * width * fan_in + 16 * 4 * width * (_columns(cfg) + cfg.inputs.count)


def workspace_bytes(cfg: SweepConfig, platform: str | None = None) -> int:
    edges = any(s in cfg.stats for s in ("weights", "inputs"))
    return WORKSPACE[_kind(platform)] if edges else 0


def pick_batch(cfg: SweepConfig, width: int, input_dim: int, *, free: int | None = None,
               platform: str | None = None) -> int:
    """Networks per compiled call for one cell; raises a one-line :class:`NtkpathsError` if one does not fit."""
    free = free_bytes() if free is None else free
    per = bytes_per_network(cfg, width, input_dim)
    fit = int((SAFETY * free - OVERHEAD - workspace_bytes(cfg, platform)) // per)
    if fit < 1:
        need = (per + OVERHEAD + workspace_bytes(cfg, platform)) / SAFETY
        where = "host" if _kind(platform) == "cpu" else "device"
        raise NtkpathsError(
            f"width {width} needs ~{need / 2**30:.1f} GiB of {where} memory for one network but only "
            f"{free / 2**30:.1f} GiB are free; use smaller widths, or the implicit method on the CPU")
    fan_in = max(width, input_dim) if cfg.depth > 1 else input_dim
    want = math.ceil(TARGET_EDGES[_kind(platform)] / (width * fan_in))
    return int(np.clip(want, 1, min(fit, MAX_BATCH)))


def check_memory(cfg: SweepConfig, *, free: int | None = None, platform: str | None = None) -> None:
    """Refuse, before any work, a sweep whose widest cell would not fit one network on the device."""
    free = free_bytes() if free is None else free
    for width in cfg.widths:
        for dim in cfg.input_dims:
            pick_batch(cfg, width, dim, free=free, platform=platform)


def row_blocks(cfg: SweepConfig, width: int, input_dim: int, batch: int, onehot_bytes: int,
               platform: str | None = None) -> tuple[int, int]:
    """Rows per histogram block (first layer, hidden layers), so one block of the batch fits the workspace.

    Only speed and memory depend on them: the counts are exact integers.
    """
    budget = max(workspace_bytes(cfg, platform), 1) / batch
    first = T_BINS.count * 2 * input_dim * (onehot_bytes + 1) + cfg.inputs.count * input_dim * C_BINS.count * 2
    hidden = T_BINS.count * width * (onehot_bytes + 1)
    return tuple(int(np.clip(budget // per_row, 1, width)) for per_row in (first, hidden))
