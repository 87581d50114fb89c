"""Shared look of every figure: the Agg backend, width colours, bands and facet grids."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

ERRORBAR_SE = 2.0


def width_colors(widths: np.ndarray) -> dict[int, tuple]:
    palette = sns.color_palette("viridis", n_colors=len(widths))
    return dict(zip((int(w) for w in widths), palette))


def band(ax, x, y, se, color, label=None):
    """A line with a ±2 se band."""
    ax.plot(x, y, color=color, lw=1.5, label=label)
    ax.fill_between(x, y - ERRORBAR_SE * se, y + ERRORBAR_SE * se, color=color, alpha=0.25, lw=0)


def facets(n: int, ncol: int, size: tuple[float, float], xlabel: str, ylabel: str, sharey: bool = True):
    """A grid of n panels (extra panels hidden), labelled on the outer edges."""
    ncol = min(ncol, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(size[0] * ncol, size[1] * nrow), sharex=True, sharey=sharey,
                             constrained_layout=True, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    return fig, axes
