"""Figures of a sweep dataset (Theorems 1-3). Figures only; nothing new is estimated."""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..aggregate import z_scores
from .style import (ERRORBAR_SE, MIN_WIDTH, THEORY_Z, band as _band, facets as _facets, legend_beside, legend_outside,
                    plt, sns, theory_line, title, width_colors as _width_colors)


def plot_p_active(ds: xr.Dataset) -> plt.Figure:
    """P(path active) / 2^-H, against depth (one line per width) and against width (one line per depth).

    P(path active) itself spans 2^-1..2^-H and would hide every width under one line; the ratio
    shows the finite-width deviations, and the right panel the trend in width that the
    infinite-width claim is about. Error bars are +-2 se.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    ds, note = _one_input_dim(ds)
    fig, (ax, ax_w) = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    ratio, ratio_se = ds["p_active"] / ds["p_theory"], ds["p_active_se"] / ds["p_theory"]
    depth, widths = ds["depth"].values, ds["width"].values
    for w, color in _width_colors(widths).items():
        ax.errorbar(depth, ratio.sel(width=w).values, yerr=ERRORBAR_SE * ratio_se.sel(width=w).values, color=color,
                    marker="o", ms=3, capsize=2, label=f"{w}")
    for d, color in zip(depth, sns.color_palette("rocket", n_colors=len(depth))):
        ax_w.errorbar(widths, ratio.sel(depth=d).values, yerr=ERRORBAR_SE * ratio_se.sel(depth=d).values, color=color,
                      marker="o", ms=3, capsize=2, label=f"H = {d}")
    ax_w.set_xscale("log", base=2)
    for a in (ax, ax_w):
        a.axhline(1.0, color="k", ls="--", lw=1.2, zorder=THEORY_Z)
    ax.set(xlabel="hidden layers H", ylabel="P(path active) / $2^{-H}$", title=f"Ratio to $2^{{-H}}$ by depth ({note})")
    ax_w.set(xlabel="width n", ylabel="P(path active) / $2^{-H}$", title="... and by width: the trend in n")
    legend_beside(ax, title="width", fontsize="x-small", ncol=1 + len(widths) // 9)
    legend_beside(ax_w, title="depth", fontsize="x-small", ncol=1 + len(depth) // 9)
    title(fig, "Theorem 1: P(path active) against $2^{-H}$ (±2 se)")
    return fig


def plot_z_heatmap(ds: xr.Dataset) -> plt.Figure:
    """Deviation from 2^-H in standard errors, width x depth."""
    sns.set_theme(style="white", context="notebook")
    z = z_scores(ds)
    if "input_dim" in z.dims:
        z = z.stack(cell=("input_dim", "width")).transpose("cell", "depth")
        rows, ylabel = [f"{d} / {w}" for d, w in z["cell"].values], "input dim / width"
    else:
        z = z.transpose("width", "depth")
        rows, ylabel = z["width"].values, "width"
    fig, ax = plt.subplots(figsize=(max(MIN_WIDTH, 2.5 + 0.75 * z.sizes["depth"]), 1.2 + 0.5 * len(rows)),
                           constrained_layout=True)
    lim = max(4.0, float(np.nanmax(np.abs(z.values))))
    sns.heatmap(z.values, ax=ax, cmap="RdBu_r", center=0.0, vmin=-lim, vmax=lim, annot=True, fmt=".1f",
                xticklabels=z["depth"].values, yticklabels=rows, cbar_kws={"label": "(p - $2^{-H}$) / se"})
    ax.set(xlabel="hidden layers H", ylabel=ylabel, title="Deviation from $2^{-H}$ in standard errors")
    return fig


def _one_input_dim(ds: xr.Dataset) -> tuple[xr.Dataset, str]:
    """The slice at the largest input dim, and a note for titles."""
    if "input_dim" in ds.dims:
        ds = ds.isel(input_dim=-1)
    return ds, f"d = {int(ds['input_dim'])}"


def plot_weight_dependence(ds: xr.Dataset) -> plt.Figure:
    """P(Z=1 | t_l) / P(Z=1) against the standardised path weight t, one panel per layer."""
    sns.set_theme(style="whitegrid", context="notebook")
    ds, note = _one_input_dim(ds)
    layers = ds["layer"].values
    fig, axes = _facets(len(layers), 4, (3.3, 2.8), "t = W / std(W)  (layer 1: times sign x)", "P(Z=1 | t) / P(Z=1)")
    colors = _width_colors(ds["width"].values)
    t = ds["t_bin"].values
    for ax, layer in zip(axes.flat, layers):
        for w, color in colors.items():
            cell = ds.sel(width=w, layer=layer)
            _band(ax, t, cell["weight_dependence"].values, cell["weight_dependence_se"].values, color, str(w))
        ax.axhline(1.0, color="k", ls="--", lw=1, zorder=THEORY_Z)
        ax.set_title(f"layer {layer}", fontsize="medium")
    legend_outside(fig, axes.flat[0], title="width", fontsize="x-small")
    title(fig, f"Theorem 2: dependence of path activation on the path's weight (±2 se, {note})")
    return fig


def plot_dependence_strength(ds: xr.Dataset) -> plt.Figure:
    """E[t_l | Z=1] (the slope of the weight dependence) against width, log-log, with theory."""
    sns.set_theme(style="whitegrid", context="notebook")
    ds, note = _one_input_dim(ds)
    fig, ax = plt.subplots(figsize=(9.0, 4.8), constrained_layout=True)
    widths = ds["width"].values
    palette = sns.color_palette("rocket", n_colors=ds.sizes["layer"])
    for color, layer in zip(palette, ds["layer"].values):
        cell = ds.sel(layer=layer)
        ax.errorbar(widths, cell["weight_slope"].values, yerr=ERRORBAR_SE * cell["weight_slope_se"].values,
                    color=color, marker="o", ms=4, capsize=2, lw=0, elinewidth=1, label=f"layer {layer}")
    theory_line(ax, widths, ds["weight_slope_theory"].sel(layer=ds["layer"].values[-1]).values, "k--",
                label=r"exact, layers $\geq 2$ ($\approx (2\sqrt{2}/\pi)\,n^{-1/2}$)")
    theory_line(ax, widths, ds["weight_slope_theory"].sel(layer=1).values, "k:", label="exact, layer 1")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel="width n", ylabel="E[t | path active] = slope of P(Z|t)/P(Z)",
           title=f"Dependence strength shrinks as width$^{{-1/2}}$ ({note})")
    legend_beside(ax, fontsize="small", ncol=1 + ds.sizes["layer"] // 12)
    return fig


def plot_input_dependence(ds: xr.Dataset) -> plt.Figure:
    """P(Z=1 | c) / P(Z=1) against the input-weight share c, per input dim (largest width)."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (ax, ax_x) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    cell = ds.isel(width=-1)
    dims = cell["input_dim"].values if "input_dim" in cell.dims else [int(cell["input_dim"])]
    palette = sns.color_palette("mako", n_colors=len(dims))
    for color, d in zip(palette, dims):
        one = cell.sel(input_dim=d) if "input_dim" in cell.dims else cell
        dep, se = one["input_dependence"].values, one["input_dependence_se"].values
        seen = np.isfinite(dep) & (se > 0)
        _band(ax, one["c_bin"].values[seen], dep[seen], se[seen], color, f"d = {d}")
        _band(ax_x, one["x_bin"].values, one["input_value_dependence"].values,
              one["input_value_dependence_se"].values, color, f"d = {d}")
    for a in (ax, ax_x):
        a.axhline(1.0, color="k", ls="--", lw=1, zorder=THEORY_Z)
        a.set_ylabel("P(Z=1 | bin) / P(Z=1)")
    ax.set(xlabel="c = x_i0 W_1[j1, i0] / (std(W_1) |x|)", title=f"Theorem 3: input-weight share (width {int(cell.width)})")
    ax_x.set(xlabel="x_i0 sqrt(d) / |x|", title="Input value alone (exactly flat per network)")
    ax.legend(fontsize="small")
    return fig


def plot_joint(ds: xr.Dataset) -> plt.Figure:
    """Joint activation of a path for two inputs at angle theta, against depth."""
    sns.set_theme(style="whitegrid", context="notebook")
    ds, note = _one_input_dim(ds)
    angles = ds["angle"].values
    fig, axes = _facets(len(angles), 3, (3.8, 3.0), "hidden layers H", "P(path active for both inputs)")
    depth = ds["depth"].values
    colors = _width_colors(ds["width"].values)
    for ax, angle in zip(axes.flat, angles):
        for w, color in colors.items():
            cell = ds.sel(width=w, angle=angle)
            ax.errorbar(depth, cell["joint_active"].values, yerr=ERRORBAR_SE * cell["joint_active_se"].values,
                        color=color, marker="o", ms=3, lw=0, elinewidth=1, capsize=1.5, label=f"width {w}")
        theory_line(ax, depth, ds["joint_theory"].sel(angle=angle).values, "k--", label="arc-cosine (n → ∞)")
        theory_line(ax, depth, ds["joint_independent"].values, "k:", label="$4^{-H}$ (independent)", lw=1.3)
        ax.set_yscale("log", base=2)
        _positive_floor(ax, cell_values=ds["joint_active"].sel(angle=angle).values,
                        lines=(ds["joint_theory"].sel(angle=angle).values, ds["joint_independent"].values))
        ax.set_title(f"θ = {angle / np.pi:.3g}π", fontsize="medium")
    legend_outside(fig, axes.flat[0], fontsize="x-small")
    title(fig, f"Joint activation of two inputs at angle θ ({note})")
    return fig


def _positive_floor(ax, cell_values: np.ndarray, lines=()) -> None:
    """On a log axis, start at half the smallest positive value drawn, so that an error bar
    reaching below zero (few networks) does not stretch the axis over hundreds of decades."""
    values = np.concatenate([np.ravel(cell_values)] + [np.ravel(v) for v in lines])
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size:
        ax.set_ylim(bottom=0.5 * positive.min())


def plot_families(ds: xr.Dataset) -> plt.Figure:
    """P(path active) / 2^-H against depth, one panel per family, one line per width."""
    sns.set_theme(style="whitegrid", context="notebook")
    families = ds["family"].values
    fig, axes = _facets(len(families), 3, (4.0, 3.0), "hidden layers H", "P(active) / $2^{-H}$", sharey=False)
    colors = _width_colors(ds["width"].values)
    depth = ds["depth"].values
    for ax, fam in zip(axes.flat, families):
        one, _ = _one_input_dim(ds.sel(family=fam))
        for w, color in colors.items():
            cell = one.sel(width=w)
            ratio, se = cell.p_active / cell.p_theory, cell.p_active_se / cell.p_theory
            ax.errorbar(depth, ratio.values, yerr=ERRORBAR_SE * se.values, color=color, marker="o", ms=2.5,
                        lw=1, capsize=1.5, label=str(w))
        ax.axhline(1.0, color="k", ls="--", lw=1.2, zorder=THEORY_Z)
        ratios = (one.p_active / one.p_theory).values
        if np.nanmax(ratios) > 2 or np.nanmin(ratios) < 0.5:  # log only where the family is far off
            ax.set_yscale("log", base=2)
        ax.set_title(str(fam), fontsize="medium")
    legend_outside(fig, axes.flat[0], title="width", fontsize="x-small")
    title(fig, "Theorem 1 across initialisations (±2 se)")
    return fig


def plot_input_strength(ds: xr.Dataset) -> plt.Figure:
    """E[t_1 | Z=1], the first-layer (input-term) dependence, against input dim, with its exact value."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    dims = ds["input_dim"].values
    colors = _width_colors(ds["width"].values)
    for w, color in colors.items():
        cell = ds.sel(width=w, layer=1)
        ax.errorbar(dims, cell.weight_slope.values, yerr=ERRORBAR_SE * cell.weight_slope_se.values,
                    color=color, marker="o", ms=3, capsize=2, label=f"width {w}")
    exact = ds["weight_slope_theory"].isel(width=0).sel(layer=1)
    theory_line(ax, dims, exact.values, "k--", label=r"exact: $\sqrt{2/\pi}\,|x|_1/(d|x|)$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel="input dim d", ylabel="E[t_1 | path active]",
           title="Input-term dependence shrinks as $d^{-1/2}$")
    legend_beside(ax, fontsize="small")
    return fig


def _needs(variables: tuple[str, ...], dims: tuple[str, ...] = (), families: bool = False):
    """A figure is drawn when the dataset has its variables and dimensions; only ``families``
    draws datasets with a family dimension (the others draw one family)."""
    def usable(ds: xr.Dataset) -> bool:
        return (all(v in ds for v in variables) and all(d in ds.dims for d in dims)
                and (families or "family" not in ds.dims))
    return usable


# name: (draw, usable)
FIGURES = {
    "p_active": (plot_p_active, _needs(("p_active",))),
    "z_heatmap": (plot_z_heatmap, _needs(("p_active",))),
    "weight_dependence": (plot_weight_dependence, _needs(("weight_dependence",))),
    "dependence_strength": (plot_dependence_strength, _needs(("weight_slope",))),
    "input_dependence": (plot_input_dependence, _needs(("input_dependence",))),
    "joint_active": (plot_joint, _needs(("joint_active",))),
    "families": (plot_families, _needs(("p_active",), ("family",), families=True)),
    "input_strength": (plot_input_strength, _needs(("weight_slope",), ("input_dim",))),
}
