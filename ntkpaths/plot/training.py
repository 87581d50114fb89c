"""Figures of a training dataset (Theorem 5). Figures only; nothing new is estimated."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .style import ERRORBAR_SE, band, facets, plt, sns, width_colors

REFERENCE = -0.5  # the n^-1/2 rate of lazy training (Du et al. 2019; Lee et al. 2019)


def _steps(ds: xr.Dataset) -> np.ndarray:
    return ds["step"].values + 1.0  # step 0 on a log axis


def plot_loss(ds: xr.Dataset) -> plt.Figure:
    """Training loss against step, one panel per depth, one line per width (±2 se over runs)."""
    sns.set_theme(style="whitegrid", context="notebook")
    depths = ds["depth"].values
    fig, axes = facets(len(depths), 4, (3.6, 3.0), "step + 1", "training loss")
    colors = width_colors(ds["width"].values)
    for ax, d in zip(axes.flat, depths):
        for w, color in colors.items():
            cell = ds.sel(depth=d, width=w)
            band(ax, _steps(ds), cell.loss_mean.values, cell.loss_se.fillna(0).values, color, str(w))
        ax.set(xscale="log", yscale="log")
        ax.set_title(f"depth {d}{_regimes(ds, d)}", fontsize="small")
    axes.flat[0].legend(title="width", fontsize="x-small")
    fig.suptitle("Gradient descent: training loss (does it reach a global minimum?)")
    return fig


def _regimes(ds: xr.Dataset, depth: int) -> str:
    """How many of a depth's runs were in each regime ("" for datasets without one)."""
    if "regime" not in ds:
        return ""
    codes = ds["regime"].sel(depth=depth).values.ravel()
    words = ("below critical", "catapult", "diverged")
    return ": " + ", ".join(f"{int((codes == c).sum())} {w}" for c, w in enumerate(words) if (codes == c).any())


def _loglog_with_fit(ax, widths, mean, se, exponent, color, label):
    ok = np.isfinite(mean) & (mean > 0)
    ax.errorbar(widths[ok], mean[ok], yerr=ERRORBAR_SE * np.nan_to_num(se[ok]), color=color, marker="o", ms=3,
                capsize=2, lw=0, elinewidth=1, label=label)
    if np.isfinite(exponent) and ok.sum() >= 2:
        x = widths[ok]
        anchor = np.exp(np.mean(np.log(mean[ok]) - exponent * np.log(x)))
        ax.plot(x, anchor * x**exponent, color=color, lw=1)


def _reference(ax, widths, anchor_value):
    x = np.asarray(widths, dtype=float)
    ax.plot(x, anchor_value * (x / x[0]) ** REFERENCE, "k:", lw=1.3, label="$n^{-1/2}$")


def plot_flips(ds: xr.Dataset) -> plt.Figure:
    """Final fraction of flipped ReLU states against width, log-log, per layer, with fits and n^-1/2."""
    sns.set_theme(style="whitegrid", context="notebook")
    depths, widths = ds["depth"].values, ds["width"].values.astype(float)
    fig, axes = facets(len(depths), 4, (3.6, 3.0), "width n", "flipped ReLU states", sharey=False)
    palette = sns.color_palette("rocket", n_colors=ds.sizes["layer"])
    for ax, d in zip(axes.flat, depths):
        final = ds.sel(depth=d).isel(step=-1)
        for color, layer in zip(palette, range(1, d + 1)):
            c = final.sel(layer=layer)
            b = float(ds.flip_fraction_exponent.sel(depth=d, layer=layer))
            _loglog_with_fit(ax, widths, c.flip_fraction_mean.values, c.flip_fraction_se.values, b, color,
                             f"layer {layer}: {b:+.2f}")
        first = final.flip_fraction_mean.sel(layer=1).values
        if np.isfinite(first).any() and first[0] > 0:
            _reference(ax, widths, first[0])
        ax.set(yscale="log", title=f"depth {d}")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize="xx-small")
    fig.suptitle(f"Activation patterns after {int(ds.step[-1])} steps: fitted exponents in width")
    return fig


def plot_p_active(ds: xr.Dataset) -> plt.Figure:
    """P(path active) / 2^-H against step, one panel per depth, one line per width (Theorem 1 during training)."""
    sns.set_theme(style="whitegrid", context="notebook")
    depths = ds["depth"].values
    fig, axes = facets(len(depths), 4, (3.6, 3.0), "step + 1", "P(path active) / $2^{-H}$", sharey=False)
    colors = width_colors(ds["width"].values)
    for ax, d in zip(axes.flat, depths):
        theory = float(ds.p_theory.sel(prefix=d))
        for w, color in colors.items():
            cell = ds.sel(depth=d, width=w, prefix=d)
            band(ax, _steps(ds), cell.p_active_mean.values / theory, cell.p_active_se.fillna(0).values / theory,
                 color, str(w))
        ax.axhline(1.0, color="k", ls="--", lw=1)
        ax.set(xscale="log", title=f"depth {d}")
    axes.flat[0].legend(title="width", fontsize="x-small")
    fig.suptitle("Theorem 1 during training: P(path active) against 2^-H (±2 se)")
    return fig


def plot_changes(ds: xr.Dataset) -> plt.Figure:
    """Relative weight change (deepest depth, per weight layer) and NTK change (per depth) against width."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (ax_w, ax_k) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    widths = ds["width"].values.astype(float)
    deepest = int(ds["depth"].max())
    final = ds.sel(depth=deepest).isel(step=-1)
    palette = sns.color_palette("rocket", n_colors=deepest + 1)
    for color, layer in zip(palette, range(1, deepest + 2)):
        c = final.sel(weight_layer=layer)
        b = float(ds.weight_change_exponent.sel(depth=deepest, weight_layer=layer))
        name = "output" if layer == deepest + 1 else f"layer {layer}"
        _loglog_with_fit(ax_w, widths, c.weight_change_mean.values, c.weight_change_se.values, b, color,
                         f"{name}: {b:+.2f}")
    depth_colors = sns.color_palette("mako", n_colors=ds.sizes["depth"])
    for color, d in zip(depth_colors, ds["depth"].values):
        c = ds.sel(depth=d).isel(step=-1)
        b = float(ds.ntk_change_exponent.sel(depth=d))
        _loglog_with_fit(ax_k, widths, c.ntk_change_mean.values, c.ntk_change_se.values, b, color,
                         f"depth {d}: {b:+.2f}")
    for ax, first in ((ax_w, final.weight_change_mean.sel(weight_layer=1).values),
                      (ax_k, ds.ntk_change_mean.isel(depth=0, step=-1).values)):
        if np.isfinite(first[0]) and first[0] > 0:
            _reference(ax, widths, first[0])
        ax.set(yscale="log", xlabel="width n")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize="x-small")
    ax_w.set(ylabel="|W(t) - W(0)| / |W(0)|", title=f"Weight change, depth {deepest}")
    ax_k.set(ylabel="|Θ_t - Θ_0| / |Θ_0|", title="Empirical NTK change")
    return fig


def plot_depth_over_width(ds: xr.Dataset) -> plt.Figure:
    """Final flip fraction (last hidden layer), weight change (layer 1) and NTK change against depth / width."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.0), constrained_layout=True)
    final = ds.isel(step=-1)
    colors = sns.color_palette("mako", n_colors=ds.sizes["depth"])
    for color, d in zip(colors, ds["depth"].values):
        x = d / ds["width"].values
        c = final.sel(depth=d)
        for ax, (mean, se) in zip(axes, ((c.flip_fraction_mean.sel(layer=d), c.flip_fraction_se.sel(layer=d)),
                                         (c.weight_change_mean.sel(weight_layer=1), c.weight_change_se.sel(weight_layer=1)),
                                         (c.ntk_change_mean, c.ntk_change_se))):
            ax.errorbar(x, mean.values, yerr=ERRORBAR_SE * np.nan_to_num(se.values), color=color, marker="o", ms=3,
                        capsize=2, lw=1, label=f"depth {d}")
    for ax, title in zip(axes, ("flips, last hidden layer", "weight change, layer 1", "NTK change")):
        ax.set(xscale="log", yscale="log", xlabel="depth / width", title=title)
    axes[0].legend(fontsize="x-small")
    fig.suptitle("Lazy training needs depth / width -> 0 (Hanin & Nica, 2019)")
    return fig


def plot_weight_slope(ds: xr.Dataset) -> plt.Figure:
    """E[t_l | Z=1] at step 0 and after training against width (Theorem 2 during training), deepest depth."""
    sns.set_theme(style="whitegrid", context="notebook")
    deepest = int(ds["depth"].max())
    cell = ds.sel(depth=deepest)
    fig, axes = facets(deepest, 4, (3.6, 3.0), "width n", "E[t_l | path active]", sharey=False)
    widths = ds["width"].values
    for ax, layer in zip(axes.flat, range(1, deepest + 1)):
        for which, style in ((0, "--"), (-1, "-")):
            c = cell.isel(step=which).sel(layer=layer)
            ax.errorbar(widths, c.weight_slope_mean.values, yerr=ERRORBAR_SE * np.nan_to_num(c.weight_slope_se.values),
                        ls=style, marker="o", ms=3, capsize=2, label=f"step {int(cell.step[which])}")
        ax.set_xscale("log", base=2)
        ax.set_title(f"layer {layer}")
    axes.flat[0].legend(fontsize="x-small")
    fig.suptitle(f"Theorem 2 during training: dependence on the path's weight (depth {deepest}, ±2 se)")
    return fig


def _always(ds: xr.Dataset) -> bool:
    return True


def _several_widths(ds: xr.Dataset) -> bool:
    return ds.sizes["width"] >= 2


FIGURES = {
    "loss": (plot_loss, _always),
    "flips": (plot_flips, _several_widths),
    "p_active": (plot_p_active, _always),
    "changes": (plot_changes, _several_widths),
    "depth_over_width": (plot_depth_over_width, _several_widths),
    "weight_slope": (plot_weight_slope, _always),
}
