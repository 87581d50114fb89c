"""seaborn figures from a sweep Dataset. Figures only; nothing new is estimated."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

from .aggregate import z_scores  # noqa: E402

ERRORBAR_SE = 2.0


def _width_colors(widths: np.ndarray) -> dict[int, tuple]:
    palette = sns.color_palette("viridis", n_colors=len(widths))
    return dict(zip((int(w) for w in widths), palette))


def plot_p_active(ds: xr.Dataset) -> plt.Figure:
    """P(path active) against depth, one line per width, with the 2^-H line.

    Left: the estimate on a log2 axis. Right: the ratio to 2^-H, where
    finite-width deviations would show. Error bars are +-2 se.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    depth = ds["depth"].values
    colors = _width_colors(ds["width"].values)
    for w, color in colors.items():
        cell = ds.sel(width=w)
        p, se = cell["p_active"].values, cell["p_active_se"].values
        ax.errorbar(depth, p, yerr=ERRORBAR_SE * se, color=color, marker="o", ms=3, capsize=2, label=f"{w}")
        ratio, ratio_se = p / ds["p_theory"].values, se / ds["p_theory"].values
        ax_ratio.errorbar(depth, ratio, yerr=ERRORBAR_SE * ratio_se, color=color, marker="o", ms=3, capsize=2)
    ax.plot(depth, ds["p_theory"].values, "k--", lw=1.2, label="$2^{-H}$")
    ax.set_yscale("log", base=2)
    ax.set(xlabel="hidden layers H", ylabel="P(path active)", title="Path activation probability")
    ax_ratio.axhline(1.0, color="k", ls="--", lw=1.2)
    ax_ratio.set(xlabel="hidden layers H", ylabel="P(path active) / $2^{-H}$", title="Ratio to $2^{-H}$ (±2 se)")
    ax.legend(title="width", fontsize="small", ncol=2)
    return fig


def plot_z_heatmap(ds: xr.Dataset) -> plt.Figure:
    """Deviation from 2^-H in standard errors, width x depth."""
    sns.set_theme(style="white", context="notebook")
    z = z_scores(ds).transpose("width", "depth")
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * z.sizes["depth"], 1.2 + 0.5 * z.sizes["width"]),
                           constrained_layout=True)
    lim = max(4.0, float(np.nanmax(np.abs(z.values))))
    sns.heatmap(z.values, ax=ax, cmap="RdBu_r", center=0.0, vmin=-lim, vmax=lim, annot=True, fmt=".1f",
                xticklabels=z["depth"].values, yticklabels=z["width"].values,
                cbar_kws={"label": "(p - $2^{-H}$) / se"})
    ax.set(xlabel="hidden layers H", ylabel="width", title="Deviation from $2^{-H}$ in standard errors")
    return fig


FIGURES = {"p_active": plot_p_active, "z_heatmap": plot_z_heatmap}


def make_figures(ds: xr.Dataset, out_dir: str | Path) -> list[Path]:
    """Write every figure as PNG into ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in FIGURES.items():
        fig = draw(ds)
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=130)
        plt.close(fig)
        paths.append(path)
    return paths
