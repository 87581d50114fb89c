"""Figures of a census of gradient-descent end points (Theorem 4). Figures only; nothing new is estimated."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .style import facets, plt, sns

OUTCOME_COLORS = {"global_minimum": "#4c9a2a", "spurious_minimum": "#c0392b", "saddle": "#e67e22",
                  "not_converged": "#7f8c8d", "diverged": "#2c3e50"}


def _parts(ds: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    from ..minima.study import part

    out = []
    for name in ("teacher", "deep"):
        sub = part(ds, name)
        if sub is not None:
            out.append((name, sub))
    return out


def _axis(sub: xr.Dataset) -> tuple[str, str, str]:
    """(stratum dim, axis dim, x label) of a census."""
    return ("teacher", "extra", "n / k") if "teacher" in sub.dims else ("depth", "width", "width")


def plot_outcomes(ds: xr.Dataset) -> plt.Figure:
    """Stacked outcome fractions against n/k (teacher) or width (deep), one panel per k or depth,
    with 95% Clopper-Pearson intervals on the spurious fraction."""
    sns.set_theme(style="whitegrid", context="notebook")
    panels = [(name, sub, s) for name, sub in _parts(ds) for s in sub[_axis(sub)[0]].values]
    ncol = min(4, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.9 * nrow), sharey=True, constrained_layout=True,
                             squeeze=False)  # each panel has its own x ticks (n / k or width)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (name, sub, s) in zip(axes.flat, panels):
        stratum, axis, label = _axis(sub)
        cell = sub.sel({stratum: s})
        ran = cell.n_runs.values > 0
        x = (cell[axis].values + s) / s if axis == "extra" else cell[axis].values.astype(float)
        x, frac = x[ran], cell.fraction.values[ran]
        bottom = np.zeros(len(x))
        pos = np.arange(len(x))
        for i, outcome in enumerate(cell.outcome_class.values):
            ax.bar(pos, frac[:, i], bottom=bottom, color=OUTCOME_COLORS[str(outcome)], label=str(outcome).replace("_", " "))
            bottom += np.nan_to_num(frac[:, i])
        spur = list(cell.outcome_class.values).index("spurious_minimum")
        lo, hi = cell.fraction_lo.values[ran, spur], cell.fraction_hi.values[ran, spur]
        top = frac[:, 0] + frac[:, spur]
        ax.errorbar(pos, top, yerr=[frac[:, spur] - lo, hi - frac[:, spur]], fmt="none", color="black", capsize=2, lw=1)
        ax.set_xticks(pos, [f"{v:.3g}" for v in x])
        ax.set(title=f"{'k' if stratum == 'teacher' else stratum} = {int(s)}", xlabel=label, ylim=(0, 1.02),
               ylabel="fraction of runs" if ax in axes[:, 0] else "")
    axes.flat[0].legend(fontsize="x-small", loc="lower left")
    fig.suptitle("Where gradient descent ends (bars: spurious fraction's 95% interval)")
    return fig


def plot_landscape(ds: xr.Dataset) -> plt.Figure:
    """End-point loss against the smallest Hessian eigenvalue at stationary end points above the global loss."""
    sns.set_theme(style="whitegrid", context="notebook")
    parts = _parts(ds)
    fig, axes = facets(len(parts), 2, (4.4, 3.4), "smallest Hessian eigenvalue", "end-point loss", sharey=False)
    for ax, (name, sub) in zip(axes.flat, parts):
        for code, outcome in enumerate(sub.outcome_class.values):
            chosen = (sub.outcome == code) & sub.hessian_min.notnull()
            if int(chosen.sum()) == 0:
                continue
            ax.scatter(sub.hessian_min.where(chosen).values.ravel(), sub.loss.where(chosen).values.ravel(), s=10,
                       color=OUTCOME_COLORS[str(outcome)], label=str(outcome).replace("_", " "), alpha=0.7)
        if int(sub.hessian_min.notnull().sum()):
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no stationary end point\nabove the global loss", ha="center", va="center",
                    transform=ax.transAxes)
        ax.axvline(0, color="black", lw=0.8)
        ax.set(title="gaussian teacher" if name == "teacher" else f"deep ({sub.attrs.get('problem', '')})")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    fig.suptitle("Certificates: a minimum has no negative eigenvalue, a saddle has one")
    return fig


def plot_families(ds: xr.Dataset) -> plt.Figure:
    """Loss of each family of spurious minima against k, sized by the runs it holds (teacher census)."""
    sns.set_theme(style="whitegrid", context="notebook")
    sub = dict(_parts(ds)).get("teacher")
    fig, ax = plt.subplots(figsize=(5.2, 3.6), constrained_layout=True)
    if sub is not None:
        colors = sns.color_palette("viridis", n_colors=sub.sizes["extra"])
        for e, color in zip(sub.extra.values, colors):
            loss, count = sub.family_loss.sel(extra=e), sub.family_count.sel(extra=e)
            k = (sub.teacher * xr.ones_like(loss)).values.ravel()
            ok = count.values.ravel() > 0
            if not ok.any():
                continue
            ax.scatter(k[ok] + 0.08 * int(e), loss.values.ravel()[ok], s=8 + 4 * count.values.ravel()[ok],
                       color=color, alpha=0.7, label=f"n = k + {int(e)}")
        ax.set(xlabel="teacher units k", ylabel="family loss")
        if ax.get_legend_handles_labels()[0]:
            ax.set_yscale("log")
            ax.legend(fontsize="x-small")
        else:
            ax.text(0.5, 0.5, "no spurious minimum", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Families of spurious minima (marker area: runs)")
    return fig


def _teacher(ds: xr.Dataset) -> bool:
    return "teacher" in ds.dims


def _always(ds: xr.Dataset) -> bool:
    return True


FIGURES = {
    "outcomes": (plot_outcomes, _always),
    "landscape": (plot_landscape, _always),
    "families": (plot_families, _teacher),
}
