"""The ``ntkpaths`` command line: parse, build a config, call the public API."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from . import aggregate, plot, store, sweep as sweep_mod
from .config import INPUT_KINDS, ConfigError, InputConfig, NetworkConfig, NtkpathsError, SweepConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Monte Carlo tests of ReLU path activation claims in the NTK regime.",
)
console = Console()
err_console = Console(stderr=True)

DEFAULT_WIDTHS = ",".join(str(w) for w in SweepConfig.widths)


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise ConfigError(f"--widths must be comma-separated integers, got {text!r}") from None


def _input_config(inputs: str, input_dim: int, n_inputs: int, scale: float) -> InputConfig:
    if inputs in INPUT_KINDS and inputs != "file":
        return InputConfig(kind=inputs, dim=input_dim, count=n_inputs, scale=scale)
    if Path(inputs).suffix in (".npy", ".csv") or Path(inputs).exists():
        return InputConfig.from_file(inputs)[0]
    kinds = ", ".join(k for k in INPUT_KINDS if k != "file")
    raise ConfigError(f"unknown input kind {inputs!r}; choose one of: {kinds}, or give a .npy/.csv file")


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("networks"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=err_console, transient=False)


def _summary_table(ds) -> Table:
    z = aggregate.z_scores(ds)
    deepest = int(ds["depth"].max())
    table = Table(title=f"P(path active) at depth {deepest} (all depths: ntkpaths info)")
    for col in ("width", "networks", "estimate ± se", "2^-H", "ratio", "max |z| over depths"):
        table.add_column(col, justify="right")
    for w in ds["width"].values:
        cell = ds.sel(width=w, depth=deepest)
        p, se, th = float(cell.p_active), float(cell.p_active_se), float(cell.p_theory)
        table.add_row(str(w), str(int(cell.n_networks)), f"{p:.5g} ± {se:.2g}", f"{th:.5g}",
                      f"{p / th:.4f}", f"{float(abs(z.sel(width=w)).max()):.2f}")
    return table


@app.command()
def sweep(
    depth: Annotated[int, typer.Option(help="Largest number of hidden layers; every depth 1..DEPTH is measured.")] = 8,
    widths: Annotated[str, typer.Option(help="Comma-separated hidden widths.")] = DEFAULT_WIDTHS,
    nets: Annotated[int, typer.Option(help="Networks drawn per width.")] = SweepConfig.nets,
    inputs: Annotated[str, typer.Option(help="Input kind (uniform, gaussian, sphere) or a .npy/.csv file, one input per row.")] = "uniform",
    input_dim: Annotated[int, typer.Option(help="Input dimension d (ignored for a file).")] = InputConfig.dim,
    n_inputs: Annotated[int, typer.Option(help="Inputs per network (ignored for a file).")] = InputConfig.count,
    input_scale: Annotated[float, typer.Option(help="c in [-c, c]^d, the Gaussian std, or the sphere radius.")] = 1.0,
    init: Annotated[str, typer.Option(help="he-fan-in, he-fan-out or ntk.")] = "he-fan-in",
    gain: Annotated[float, typer.Option(help="Weight std is gain / sqrt(fan).")] = NetworkConfig.gain,
    weight_dist: Annotated[str, typer.Option(help="normal or uniform (same variance).")] = "normal",
    bias_std: Annotated[float, typer.Option(help="Std of N(bias_mean, bias_std^2) biases.")] = 0.0,
    bias_mean: Annotated[float, typer.Option(help="Mean of the biases.")] = 0.0,
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    seed: Annotated[Optional[int], typer.Option(help="Root seed; default fresh entropy, recorded in the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output .zarr path [default: data/sweep-depthDEPTH.zarr].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous', or a dask scheduler address tcp://HOST:PORT; default a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of the local cluster [default: the cores].")] = None,
    nets_per_task: Annotated[int, typer.Option(help="Networks per dask task (results do not depend on it).")] = SweepConfig.nets_per_task,
) -> None:
    """Sweep widths and depths; write one dataset and print a summary."""
    cfg = SweepConfig(
        depth=depth, widths=_parse_widths(widths), nets=nets, seed=seed, nets_per_task=nets_per_task,
        network=NetworkConfig(init=init, gain=gain, weight_dist=weight_dist, bias_std=bias_std,
                              bias_mean=bias_mean, dtype=dtype),
        inputs=_input_config(inputs, input_dim, n_inputs, input_scale),
    )
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers}")
    out = out or Path("data") / f"sweep-depth{depth}.zarr"
    store.check_writable(out, overwrite)
    with _progress() as bar:
        total = len(cfg.widths) * cfg.nets
        job = bar.add_task("sweep", total=total)
        ds = sweep_mod.run_sweep(cfg, scheduler=scheduler, workers=workers,
                                 on_done=lambda t: bar.advance(job, t.stop - t.start))
    path = store.write(ds, out, overwrite=overwrite)
    console.print(_summary_table(ds))
    console.print(f"seed entropy {ds.attrs['seed_entropy']} (replay with --seed)")
    console.print(f"wrote {path}")


@app.command("plot")
def plot_command(
    path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for the PNGs [default: PATH without .zarr, plus -figures].")] = None,
) -> None:
    """Write the figures of a sweep dataset as PNG files."""
    ds = store.load(path)
    out = out or path.with_name(path.stem + "-figures")
    for fig_path in plot.make_figures(ds, out):
        console.print(f"wrote {fig_path}")


@app.command()
def info(path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")]) -> None:
    """Print every cell: estimate, se, theory and z-score."""
    ds = store.load(path)
    z = aggregate.z_scores(ds)
    table = Table(title=f"{path}  ({ds.attrs['init']}, inputs {ds.attrs['input_kind']}, seed {ds.attrs['seed_entropy']})")
    for col in ("width", "depth", "networks", "p_active", "se", "2^-H", "z"):
        table.add_column(col, justify="right")
    for w in ds["width"].values:
        for d in ds["depth"].values:
            cell = ds.sel(width=w, depth=d)
            table.add_row(str(w), str(d), str(int(cell.n_networks)), f"{float(cell.p_active):.6g}",
                          f"{float(cell.p_active_se):.2g}", f"{float(cell.p_theory):.6g}",
                          f"{float(z.sel(width=w, depth=d)):+.2f}")
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, prog_name="ntkpaths", standalone_mode=False)
    except (NtkpathsError, typer.TyperException) as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted", markup=False)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
