"""seaborn figures from ntkpaths datasets; each kind of dataset has its own registry.

A registry maps a figure name to ``(draw, usable)``: ``draw(ds)`` returns a
matplotlib figure and ``usable(ds)`` says whether the dataset holds what the
figure needs. Figures compute nothing new.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import xarray as xr

from . import minima, sweep, symmetry, training
from .style import plt

Registry = dict[str, tuple[Callable, Callable[[xr.Dataset], bool]]]
REGISTRIES: dict[str, Registry] = {"ntkpaths.sweep": sweep.FIGURES, "ntkpaths.train": training.FIGURES,
                                   "ntkpaths.reparam": symmetry.FIGURES, "ntkpaths.minima": minima.FIGURES}
FIGURES = sweep.FIGURES


def register(schema_prefix: str, registry: Registry) -> None:
    """Add the figures of another kind of dataset (its schema without the version)."""
    REGISTRIES[schema_prefix] = registry


def registry_of(ds: xr.Dataset) -> Registry:
    kind = str(ds.attrs.get("schema", "ntkpaths.sweep/")).split("/")[0]
    return REGISTRIES.get(kind, FIGURES)


def make_figures(ds: xr.Dataset, out_dir: str | Path, names: tuple[str, ...] | list[str] = ()) -> list[Path]:
    """Write figures as PNG into ``out_dir`` (``names``, or every one the data allow); return the paths."""
    registry = registry_of(ds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or registry:
        draw, usable = registry[name]
        if not usable(ds):
            continue
        fig = draw(ds)
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=130)
        plt.close(fig)
        paths.append(path)
    return paths
