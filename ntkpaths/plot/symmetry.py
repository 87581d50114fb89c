"""Figures of a reparametrisation dataset, one per verdict group. Figures only; nothing new is estimated
beyond the means and standard errors the verdicts quote."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .style import ERRORBAR_SE, plt, sns

FLOOR = 1e-18  # where an exact zero is drawn on a log axis


def plot_invariance(ds: xr.Dataset) -> plt.Figure:
    """Per transform of the trained network: max |Δf| / max |f| (log), F at the deepest layer and E[t_1 | Z=1]."""
    sns.set_theme(style="whitegrid", context="notebook")
    names = [str(v) for v in ds.variant.values]
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.32 * len(names) + 2.2), sharey=True, constrained_layout=True)
    rel = np.maximum(ds.variant_output_change.values / float(ds.output_scale), FLOOR)
    colors = ["0.6" if n in ("initial", "trained") else sns.color_palette()[0] for n in names]
    axes[0].barh(y, rel, color=colors, left=FLOOR)
    axes[0].set_xscale("log")
    axes[0].axvline(1e-10, color="k", ls="--", lw=1, label="tolerance")
    axes[0].set(xlabel="max |Δf| / max |f|  (0 drawn at 1e-18)", title="the function")
    deep = ds.variant_p_active.isel(depth=-1).values
    axes[1].barh(y, deep, color=colors)
    axes[1].axvline(float(ds.variant_p_active.sel(variant="trained").isel(depth=-1)), color="k", ls="--", lw=1)
    axes[1].set(xlabel=f"F at depth {int(ds.depth[-1])} (mean over training inputs)", title="active-path fraction")
    axes[2].barh(y, ds.variant_weight_slope.sel(layer=1).values, color=colors)
    axes[2].set_xscale("symlog", linthresh=1e-2)
    axes[2].set(xlabel="E[t_1 | Z=1], He std of the new fan-in", title="layer-1 weight statistic")
    axes[0].set_yticks(y, names, fontsize="small")
    axes[0].invert_yaxis()
    axes[0].legend(fontsize="small")
    fig.suptitle("Function-preserving transforms of the trained network: the function stays, F and t move")
    return fig


def plot_sharpness(ds: xr.Dataset) -> plt.Figure:
    """Top Hessian eigenvalues and trace against the rescaling factor alpha, with the exact bounds."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(14, 4.5), constrained_layout=True, width_ratios=(1.4, 1))
    alpha = ds.alpha.values
    grid = np.geomspace(alpha.min(), alpha.max(), 200)
    for e in ds.eig.values:
        ax.plot(alpha, ds.lambda_top.sel(eig=e), marker="o", ms=4, label=f"power iteration, eigenvalue {e}")
    ax.plot(alpha, ds.lambda_ntk, "kx", ms=8, label=r"$\lambda_{max}(\Theta)/N$")
    lam1 = float(ds.lambda_top.sel(alpha=1.0, eig=1))
    ax.plot(grid, grid**2 * float(ds.lambda_block_out), "k--", lw=1, label=r"$\alpha^2 \lambda_{max}(H_{22})$")
    ax.plot(grid, grid**-2.0 * float(ds.lambda_block_in), "k:", lw=1, label=r"$\alpha^{-2} \lambda_{max}(H_{11})$")
    ax.plot(grid, np.maximum(grid**2, grid**-2.0) * lam1, color="0.6", lw=1,
            label=r"$\max(\alpha^2, \alpha^{-2}) \lambda_{max}(1)$")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha$ ($W_1 \alpha$, $W_2 / \alpha$)", ylabel="Hessian eigenvalue",
           title="Sharpness of one function under rescaling")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    tr, se = ds.trace.values, ds.trace_se.values
    ax_t.errorbar(alpha, tr, yerr=ERRORBAR_SE * se, marker="o", ms=4, capsize=2, label="Hutchinson (±2 se)")
    ax_t.set(xscale="log", yscale="log", xlabel=r"$\alpha$", ylabel="tr H", title="Trace of the Hessian")
    ax_t.legend(fontsize="small")
    fig.suptitle(f"Same function, loss {float(ds.train_loss):.1g}: sharpness grows as $\\alpha^{{\\pm 2}}$ (Dinh et al.)")
    return fig


def _spread_stats(ds: xr.Dataset) -> dict[str, np.ndarray]:
    f = ds.spread_fraction.isel(spread_depth=-1)
    v, u = f.mean("input"), (f**2).mean("input")
    m = ds.sizes["network"]
    mean = v.mean("network")
    var = u.mean("network") - mean**2
    return {"mean": mean.values, "mean_se": (v.std("network", ddof=1) / np.sqrt(m)).values, "var": var.values,
            "var_se": ((u - 2 * mean * v).std("network", ddof=1) / np.sqrt(m)).values}


def plot_spread(ds: xr.Dataset) -> plt.Figure:
    """E F and Var F at the deepest layer per embedding, against each embedding's exact law and a fresh network's."""
    sns.set_theme(style="whitegrid", context="notebook")
    s = _spread_stats(ds)
    labels = [str(e) for e in ds.embedding.values]
    x = np.arange(len(labels))
    depth = ds.sizes["spread_depth"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    exact = {"mean": ds.spread_mean_exact.values, "var": (ds.spread_square_exact - ds.spread_mean_exact**2).values}
    fresh = {"mean": ds.spread_mean_fresh.values, "var": (ds.spread_square_fresh - ds.spread_mean_fresh**2).values}
    for ax, key, title in ((axes[0], "mean", f"E F = P(path active), depth {depth}"), (axes[1], "var", f"Var F, depth {depth}")):
        ax.errorbar(x, s[key], yerr=ERRORBAR_SE * s[f"{key}_se"], fmt="o", ms=6, capsize=3, label="measured (±2 se)")
        ax.plot(x, exact[key], "kx", ms=10, mew=2, label="exact law of the embedding")
        ax.plot(x, fresh[key], "s", mfc="none", color="C3", ms=9, label="fresh network of the same width")
        ax.set_yscale("log")
        ax.set_xticks(x, labels, rotation=25, ha="right", fontsize="small")
        ax.set_title(title)
    axes[0].axhline(0.5**depth, color="0.5", ls="--", lw=1, label="$2^{-H}$")
    axes[0].legend(fontsize="x-small")
    fig.suptitle(f"{ds.sizes['network']} random networks, each embedded without changing its function")
    return fig


def plot_semiflat(ds: xr.Dataset) -> plt.Figure:
    """Hessian eigenvalues on the replication's directions (minimum and early point) and the loss along lines."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (ax, ax_l) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for i, layer in enumerate(ds.flat_layer.values):
        for point, marker in (("minimum", "o"), ("early", "^")):
            c = ds.sel(flat_layer=layer, point=point)
            m = c.flat_eigenvalues.dropna("flat_eig").values
            ax.plot(np.arange(len(m)), m, marker, color=f"C{i}", ms=4, mfc="none" if point == "early" else None,
                    label=f"layer {layer}, {point}")
            ax.plot(np.arange(len(m)), c.flat_predicted.dropna("flat_eig").values, "-", color=f"C{i}", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-12)
    ax.set_yticks([-1.0, -1e-4, -1e-8, -1e-12, 0.0, 1e-12, 1e-8, 1e-4, 1.0])
    ax.set(xlabel="eigenvalue index (ascending)", ylabel="eigenvalue of H on the added directions",
           title=r"Replication's directions: measured (markers), $\pm\sigma(C)$ (lines)")
    ax.legend(fontsize="x-small")
    rise = ds.line_loss - ds.line_loss.sel(line_step=0.0, method="nearest")
    for i, line in enumerate(ds.line.values):
        ax_l.plot(ds.line_step, np.maximum(rise.sel(line=line), FLOOR), color=f"C{i}", lw=2.5 - 0.7 * i,
                  label=str(line))
    ax_l.set(yscale="log", xlabel="step along a unit direction", ylabel="L - L(minimum)  (0 drawn at 1e-18)",
             title="Loss along lines through the embedded minimum")
    ax_l.legend(fontsize="small")
    fig.suptitle("Embedding a zero-loss minimum by replication (Fukumizu et al.)")
    return fig


def _needs(*variables: str):
    return lambda ds: all(v in ds for v in variables)


# name: (draw, usable)
FIGURES = {
    "invariance": (plot_invariance, _needs("variant_output_change")),
    "sharpness": (plot_sharpness, _needs("lambda_top", "trace")),
    "spread": (plot_spread, _needs("spread_fraction")),
    "semiflat": (plot_semiflat, _needs("flat_eigenvalues", "line_loss")),
}
