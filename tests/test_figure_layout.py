"""Every figure kind, drawn at one and at several depths, keeps its text on the canvas and legible.

Checks, after a full draw: the figure's tight bounding box (every title, label and tick label)
lies inside the figure; no two x tick labels of one axes overlap; no legend drawn inside an axes
hides a data point.
"""
import itertools

import matplotlib.collections
import matplotlib.colors
import matplotlib.lines
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ntkpaths import SweepConfig, plot, run_sweep
from ntkpaths.config import NetworkConfig, TrainConfig
from ntkpaths.plot import style, symmetry, training
from ntkpaths.training import grid

SLACK = 0.02  # inches: antialiasing of a glyph's edge


def _sweep(depth: int, input_dims=(4, 8), **network) -> xr.Dataset:
    cfg = SweepConfig(depth=depth, widths=(8, 16, 32), nets=4, seed=1, input_dims=input_dims, angles=(0.5, 2.0),
                      network=NetworkConfig(**network))
    return run_sweep(cfg, scheduler="synchronous")


def _families(one: xr.Dataset) -> xr.Dataset:
    """Two families; the second's values are the first's doubled (figures compute nothing)."""
    other = one.assign(p_active=2 * one.p_active)
    return xr.concat([one, other], dim=pd.Index(["he", "biased"], name="family"), combine_attrs="override",
                     coords="minimal", compat="override")


def _training(depths) -> xr.Dataset:
    cfg = TrainConfig(depths=depths, widths=(8, 16, 32), runs=2, steps=8, n_train=16, n_test=8, checkpoints=3,
                      seed=7, data="teacher")
    return grid.run_training(cfg, scheduler="synchronous")


@pytest.fixture(scope="module", params=["one depth", "several depths"])
def datasets(request):
    one = request.param == "one depth"
    sweep = _sweep(1 if one else 5)
    single = sweep.isel(input_dim=-1)  # what a sweep of one input dim stores: a scalar coordinate
    return {"sweep": sweep, "sweep, one input dim": single, "families": _families(single),
            "training": _training((2,) if one else (1, 3))}


def _text_inside(fig) -> list[str]:
    """Problems: the tight bounding box beyond the figure, overlapping x tick labels, legends on data."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    problems = []
    tight, (w, h) = fig.get_tightbbox(renderer), fig.get_size_inches()
    if tight.x0 < -SLACK or tight.y0 < -SLACK or tight.x1 > w + SLACK or tight.y1 > h + SLACK:
        box = ", ".join(f"{v:.2f}" for v in (tight.x0, tight.y0, tight.x1, tight.y1))
        problems.append(f"text beyond the canvas: tight box ({box}) in on a {w:.2f} x {h:.2f} in figure")
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if _ticks_collide([t for t in ax.get_xticklabels(which="both") if t.get_visible() and t.get_text()], renderer):
            problems.append(f"x tick labels overlap in '{ax.get_title()}'")
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            box = legend.get_window_extent(renderer)
            for line in ax.get_lines():
                xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
                xy = xy[np.isfinite(xy).all(axis=1)]
                if box.count_contains(xy):
                    problems.append(f"the legend of '{ax.get_title()}' covers data")
                    break
    legends = [a.get_legend() for a in fig.axes if a.get_visible() and a.get_legend()] + list(fig.legends)
    heading = fig._suptitle
    for legend in legends:
        box = legend.get_window_extent(renderer)
        if heading is not None and heading.get_text() and box.overlaps(heading.get_window_extent(renderer)):
            problems.append("a legend runs into the figure's title")
        if any(box.overlaps(a.get_window_extent(renderer)) for a in fig.axes
               if a.get_visible() and a is not legend.axes and a.get_label() != "<colorbar>"):
            problems.append("a legend lies on another panel")
    labels = [a.xaxis.label for a in fig.axes if a.get_visible() and a.get_xlabel()]
    if any(a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer))
           for a, b in itertools.combinations(labels, 2)):
        problems.append("x axis labels of neighbouring panels run into each other")
    return problems


def _ticks_collide(labels, renderer) -> bool:
    """Whether two tick labels overlap. Rotated labels are parallel strips: they collide when the
    distance between neighbouring anchors, across the text, is less than the text's height."""
    if len(labels) < 2:
        return False
    angle = np.deg2rad(labels[0].get_rotation() % 180)
    if angle == 0:
        boxes = [t.get_window_extent(renderer) for t in labels]
        return any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    x = np.sort([t.get_window_extent(renderer).x1 for t in labels])
    height = renderer.points_to_pixels(labels[0].get_fontsize())
    return bool(np.min(np.diff(x)) * np.sin(angle) < 0.9 * height)


def _draw_all(ds: xr.Dataset, registry) -> dict[str, list[str]]:
    found = {}
    for name, (draw, usable) in registry.items():
        if usable(ds):
            fig = draw(ds)
            found[name] = _text_inside(fig)
            style.plt.close(fig)
    return found


@pytest.mark.parametrize("kind", ["sweep", "sweep, one input dim", "families", "training"])
def test_text_stays_on_the_canvas_and_legible(datasets, kind):
    ds = datasets[kind]
    registry = training.FIGURES if kind == "training" else plot.FIGURES
    found = _draw_all(ds, registry)
    assert found, f"no figure drawn for {kind}"
    bad = {name: p for name, p in found.items() if p}
    assert not bad, bad


@pytest.mark.slow  # training and measuring the reparametrisation dataset takes ~6 s
def test_reparametrisation_figures_keep_text_on_the_canvas():
    from ntkpaths.reparam import ReparamConfig, measure_all

    ds = measure_all(ReparamConfig(depth=2, width=8, n_train=8, steps=100, alphas=(0.5, 2.0), ks=(2,), nets=20,
                                   probes=5, lanczos_steps=10, max_iter=50, seed=3))
    found = _draw_all(ds, symmetry.FIGURES)
    assert set(found) == set(symmetry.FIGURES)
    bad = {name: p for name, p in found.items() if p}
    assert not bad, bad


def test_the_checks_see_a_cut_title_and_overlapping_ticks():
    """The checker itself: a title wider than its figure and crowded tick labels are reported."""
    fig, ax = style.plt.subplots(figsize=(2, 2))
    ax.set_title("a title far too long for a figure two inches wide, cut on both sides")
    ax.set_xticks(range(10), [f"label {i:04d}" for i in range(10)])
    ax.plot(range(10), range(10), label="data")
    ax.legend(loc="center")
    problems = " ".join(_text_inside(fig))
    style.plt.close(fig)
    assert "beyond the canvas" in problems and "overlap" in problems and "covers data" in problems


THEORY_LABELS = ("exact", "arc-cosine", "$4^{-H}$")


@pytest.mark.parametrize("name", ["dependence_strength", "joint_active"])
def test_theory_lines_are_drawn_above_the_data_and_stand_apart(datasets, name):
    draw, _ = plot.FIGURES[name]
    fig = draw(datasets["sweep, one input dim"])
    for ax in (a for a in fig.axes if a.get_visible()):
        theory = [ln for ln in ax.get_lines() if ln.get_label().startswith(THEORY_LABELS)]
        data = [a for a in ax.get_children() if a not in theory and hasattr(a, "get_zorder")
                and isinstance(a, (matplotlib.lines.Line2D, matplotlib.collections.Collection))]
        assert theory and data
        assert min(ln.get_zorder() for ln in theory) > max(a.get_zorder() for a in data), ax.get_title()
        for ln in theory:
            assert max(matplotlib.colors.to_rgb(ln.get_color())) < 0.25 and ln.get_linestyle() in ("--", ":")
    style.plt.close(fig)


def test_every_panel_of_p_active_keeps_its_lines_apart():
    """No panel draws its series on top of one another (as P(path active) on a log axis over depth did,
    within 0.012 of the panel's height at 200 networks per width)."""
    draw, _ = plot.FIGURES["p_active"]
    fig = draw(run_sweep(SweepConfig(depth=6, widths=(8, 32, 128), nets=200, seed=2, stats=()), scheduler="synchronous"))
    fig.canvas.draw()
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        if len(lines) < 2:
            continue
        to_axes = ax.transData + ax.transAxes.inverted()
        y = np.array([to_axes.transform(np.column_stack(ln.get_data()).astype(float))[:, 1] for ln in lines])
        spread = np.nanmax(y.max(axis=0) - y.min(axis=0))
        assert spread > 0.03, f"'{ax.get_title()}': every series within {spread:.3f} of the panel's height"
    style.plt.close(fig)


def test_training_panels_count_runs_per_regime_when_the_dataset_has_them(datasets):
    ds = datasets["training"].drop_vars("regime", errors="ignore")  # as an older dataset, without one
    codes = np.zeros((ds.sizes["depth"], ds.sizes["width"], ds.sizes["run"]), dtype=np.int8)
    codes[:, -1, 0], codes[:, 0, -1] = 1, 2
    flagged = ds.assign(regime=(("depth", "width", "run"), codes,
                                {"flag_values": [0, 1, 2], "flag_meanings": "below_critical catapult diverged"}))
    n = ds.sizes["width"] * ds.sizes["run"]
    for name in ("loss", "p_active", "flips"):
        draw, _ = training.FIGURES[name]
        plain, marked = draw(ds), draw(flagged)
        titles = [ax.get_title() for ax in marked.axes if ax.get_visible() and ax.get_title()]
        assert titles and all(f"{n - 2} below critical, 1 catapult, 1 diverged" in t for t in titles), titles
        assert all("runs" not in ax.get_title() for ax in plain.axes)
        assert not _text_inside(marked)
        style.plt.close(plain)
        style.plt.close(marked)
