"""Commands that look at datasets: plot, info, report."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .common import app, console
from .tables import CELL_DIMS, HEADERS, _cells, _columns, _label, _rate_table, _train_table, _verdict_table, regime_runs


@app.command("plot")
def plot_command(
    path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for the PNGs \\[default: PATH without .zarr, plus -figures].")] = None,
) -> None:
    """Write the figures of any ntkpaths dataset (sweep, training, reparametrisation) as PNG files."""
    from .. import plot, store

    ds = store.load(path)
    out = out or path.with_name(path.stem + "-figures")
    store.check_output_folder(out)
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
    _columns(table, (*(HEADERS.get(d, d) for d in CELL_DIMS if d in ds.dims), "depth", "nets", "p_active", "se",
                     "2^-H", "z"))
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
    out: Annotated[Optional[Path], typer.Option(help="Markdown file \\[default: next to PATH, PATH stem + -report.md].")] = None,
    figures: Annotated[bool, typer.Option(help="Also draw the figures and embed them.")] = True,
) -> None:
    """Write a markdown report: configuration, a verdict table per claim, figures."""
    from .. import plot, report, store, study as study_mod

    ds = store.load(path)
    out = out or path.with_name(path.stem + "-report.md")
    store.check_output_folder(out.parent)
    if figures:
        store.check_output_folder(out.with_name(out.stem + "-figures"))
    kind = study_mod.kind_of_dataset(ds)
    rows = kind.verdicts(ds, kind.claims)
    figs = plot.make_figures(ds, out.with_name(out.stem + "-figures")) if figures else []
    report.write_report(ds, out, title=f"ntkpaths report: {path.name}", figures=figs, rows=rows)
    console.print(_verdict_table(ds, rows))
    console.print(f"wrote {out}")
