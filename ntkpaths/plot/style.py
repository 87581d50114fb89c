"""Shared look of every figure: the Agg backend, width colours, bands, facet grids, titles and legends
that stay on the canvas, theory lines drawn above the data."""
from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.patheffects as path_effects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter  # noqa: E402

ERRORBAR_SE = 2.0
MIN_WIDTH = 6.4  # inches: a figure of one panel still holds its title
THEORY_Z = 5  # theory lines are drawn above every data series
THEORY_STROKE = [path_effects.withStroke(linewidth=3.2, foreground="white")]


def width_colors(widths: np.ndarray) -> dict[int, tuple]:
    palette = sns.color_palette("viridis", n_colors=len(widths))
    return dict(zip((int(w) for w in widths), palette))


def band(ax, x, y, se, color, label=None):
    """A line with a ±2 se band."""
    ax.plot(x, y, color=color, lw=1.5, label=label)
    ax.fill_between(x, y - ERRORBAR_SE * se, y + ERRORBAR_SE * se, color=color, alpha=0.25, lw=0)


def theory_line(ax, x, y, style="k--", label=None, lw=1.4):
    """A theory curve on top of the data, edged in white so that it shows through coloured series."""
    return ax.plot(x, y, style, lw=lw, label=label, zorder=THEORY_Z, path_effects=THEORY_STROKE)


def facets(n: int, ncol: int, size: tuple[float, float], xlabel: str, ylabel: str, sharey: bool = True):
    """A grid of n panels (extra panels hidden), labelled once for the whole figure.

    The figure is at least ``MIN_WIDTH`` wide, so that a single panel keeps its title.
    """
    ncol = min(ncol, n)
    nrow = int(np.ceil(n / ncol))
    width = max(size[0] * ncol, MIN_WIDTH)
    fig, axes = plt.subplots(nrow, ncol, figsize=(width, size[1] * nrow), sharex=True, sharey=sharey,
                             constrained_layout=True, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.supxlabel(xlabel, fontsize="medium")
    fig.supylabel(ylabel, fontsize="medium")
    return fig, axes


def title(fig, text: str, fontsize: float = 14.0):
    """A figure title wrapped to the figure's width."""
    chars = max(20, int(fig.get_figwidth() * 72 / (0.6 * fontsize)))
    return fig.suptitle(textwrap.fill(text, chars), fontsize=fontsize)


def legend_outside(fig, ax, **kwargs):
    """One legend for every panel, from the handles of ``ax``, right of the top-right panel (below the title)."""
    handles, labels = ax.get_legend_handles_labels()
    visible = [a for a in fig.axes if a.get_visible()]
    top_right = max(visible, key=lambda a: (round(a.get_position().y1, 3), a.get_position().x1))
    return legend_beside(top_right, handles=handles, labels=labels, **kwargs)


def legend_beside(ax, **kwargs):
    """A panel's own legend, right of the panel, where it hides no data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def sparse_log_ticks(ax, axis: str = "x"):
    """Label powers of ten on a log axis (and 2 and 5 times them when it spans less than two decades),
    never the minor ticks, so that labels do not run into each other. Call it after plotting."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    subs = (1.0,) if np.log10(hi / lo) >= 2 else (1.0, 2.0, 5.0)
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    target.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    target.set_minor_formatter(NullFormatter())
