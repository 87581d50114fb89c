"""Commands that look at datasets and networks: plot, info, report, paths."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .common import app, console
from .tables import CELL_DIMS, _cells, _label, _rate_table, _train_table, _verdict_table, regime_runs


@app.command("plot")
def plot_command(
    path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for the PNGs [default: PATH without .zarr, plus -figures].")] = None,
) -> None:
    """Write the figures of any ntkpaths dataset (sweep, training, reparametrisation) as PNG files."""
    from .. import plot, store

    ds = store.load(path)
    out = out or path.with_name(path.stem + "-figures")
    for fig_path in plot.make_figures(ds, out):
        console.print(f"wrote {fig_path}")


@app.command()
def info(path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")]) -> None:
    """Print every cell: estimate, se, theory and z-score (for a training dataset: its summary table)."""
    from .. import aggregate, store

    ds = store.load(path)
    if ds.attrs["schema"].startswith("ntkpaths.train"):
        console.print(_train_table(ds))
        console.print(_rate_table(ds))
        for line in regime_runs(ds):
            console.print(line, markup=False)
        return
    if not ds.attrs["schema"].startswith("ntkpaths.sweep"):
        console.print(_verdict_table(ds))
        return
    z = aggregate.z_scores(ds)
    table = Table(title=f"{path}  ({ds.attrs['init']}, inputs {ds.attrs['input_kind']}, seed {ds.attrs['seed_entropy']})")
    keys = [d for d in CELL_DIMS if d in ds.dims]
    for col in (*keys, "depth", "networks", "p_active", "se", "2^-H", "z"):
        table.add_column(col, justify="right")
    for sel in _cells(ds):
        for d in ds["depth"].values:
            cell = ds.sel(sel).sel(depth=d)
            table.add_row(*_label(sel), str(d), str(int(cell.n_networks)), f"{float(cell.p_active):.6g}",
                          f"{float(cell.p_active_se):.2g}", f"{float(cell.p_theory):.6g}",
                          f"{float(z.sel(sel).sel(depth=d)):+.2f}")
    console.print(table)


@app.command("report")
def report_command(
    path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep' or 'ntkpaths study'.")],
    out: Annotated[Optional[Path], typer.Option(help="Markdown file [default: next to PATH, PATH stem + -report.md].")] = None,
    figures: Annotated[bool, typer.Option(help="Also draw the figures and embed them.")] = True,
) -> None:
    """Write a markdown report: configuration, a verdict table per claim, figures."""
    from .. import plot, report, store, study as study_mod

    ds = store.load(path)
    out = out or path.with_name(path.stem + "-report.md")
    store.probe_folder(out.parent)
    kind = study_mod.kind_of_dataset(ds)
    rows = kind.verdicts(ds, kind.claims)
    figs = plot.make_figures(ds, out.with_name(out.stem + "-figures")) if figures else []
    report.write_report(ds, out, title=f"ntkpaths report: {path.name}", figures=figs, rows=rows)
    console.print(_verdict_table(ds, rows))
    console.print(f"wrote {out}")


@app.command("paths")
def paths_command(
    weights: Annotated[Path, typer.Argument(help="A .npz file with arrays W1..WH (fan_out, fan_in) and Wout: a bias-free ReLU network.")],
    inputs: Annotated[Path, typer.Option(help="The inputs, .npy or .csv, one input per row.")],
    transform: Annotated[Optional[list[str]], typer.Option(help="Function-preserving transform applied first, in order (repeatable): rescale:LAYER:ALPHA, rescale:LAYER:UNIT:ALPHA, replicate:LAYER:UNIT:K or widen:K; layers 1..H, units from 0.")] = None,
    save: Annotated[Optional[Path], typer.Option(help="Write the transformed weights to this .npz file.")] = None,
) -> None:
    """Path statistics of a given network: F per depth prefix, and per layer the active fraction and the mean
    standardised weight of active paths, E(t_l | Z=1)."""
    import numpy as np

    from .. import pathstats, symmetry
    from ..allpaths import forward
    from ..config import read_inputs

    original = pathstats.read_weights_npz(weights)
    x = read_inputs(inputs)
    pathstats.check_inputs(original, x)
    networks = {str(weights): original}
    if transform:
        changed = original
        for spec in transform:
            changed = symmetry.apply_spec(changed, spec)
        networks[" then ".join(transform)] = changed
    for title, w in networks.items():
        stats = pathstats.path_statistics(w, x)
        table = Table(title=f"{title}: {x.shape[0]} inputs")
        for col in ("layer", "units", "active fraction a_l/n_l", "F (layers <= l)", "2^-l", "E\\[t_l | Z=1]"):
            table.add_column(col, justify="right")
        for i, units in enumerate(a.shape[0] for a in w[:-1]):
            table.add_row(str(i + 1), str(units), f"{stats.layer_fraction[:, i].mean():.4f}", f"{stats.p_active[i]:.5g}",
                          f"{0.5 ** (i + 1):.5g}", f"{stats.weight_slope[i]:.4f}")
        console.print(table)
    if transform:
        change = np.abs(forward(changed, x)[1] - forward(original, x)[1]).max()
        console.print(f"outputs: max |Δf| = {change:.3g} over the inputs (E[t_l | Z=1] uses He's std sqrt(2/fan_in))",
                      markup=False)
    if save:
        console.print(f"wrote {pathstats.write_weights_npz(save, networks[list(networks)[-1]])}")
