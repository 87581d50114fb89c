"""The ``ntkpaths`` command line: parse, build a config, call the public API."""
from __future__ import annotations

import itertools
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

# Only the light modules at import time: `ntkpaths --help` must not pay for
# xarray, dask, zarr or matplotlib. Commands import what they use.
from .config import INPUT_KINDS, STATS, parse_angles, ConfigError, InputConfig, NetworkConfig, NtkpathsError, SweepConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Monte Carlo tests of ReLU path activation claims in the NTK regime.",
)
console = Console()
err_console = Console(stderr=True)

DEFAULT_WIDTHS = ",".join(str(w) for w in SweepConfig.widths)


def _parse_list(option: str, text: str, kind=int) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        noun = {"int": "integers", "float": "numbers"}.get(kind.__name__, "values")
        raise ConfigError(f"{option} must be comma-separated {noun}, got {text!r}") from None


def _input_config(inputs: str, n_inputs: int, scale: float) -> tuple[InputConfig, int | None]:
    """The input config, and the input dim a file fixes (None for generated inputs)."""
    if inputs in INPUT_KINDS and inputs != "file":
        return InputConfig(kind=inputs, count=n_inputs, scale=scale), None
    if Path(inputs).suffix in (".npy", ".csv") or Path(inputs).exists():
        cfg, x = InputConfig.from_file(inputs)
        return cfg, x.shape[1]
    kinds = ", ".join(k for k in INPUT_KINDS if k != "file")
    raise ConfigError(f"unknown input kind {inputs!r}; choose one of: {kinds}, or give a .npy/.csv file")


def _progress(unit: str = "networks"):
    """A live bar on a terminal; in a log (stderr not a terminal), a plain line now and then."""
    if not err_console.is_terminal:
        return _LogProgress(unit)
    # Transient: the bar leaves the terminal when the work ends, so an error is the only line left
    # on stderr; the summary printed afterwards gives the counts and the time.
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn(unit), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=err_console, transient=True)


class _LogProgress:
    """Progress for logs: 'label: done/total unit (x%), elapsed' at most every EVERY_S seconds."""

    EVERY_S = 30.0

    def __init__(self, unit: str):
        self.unit, self.labels = unit, []
        self.started = self.last = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total=None) -> int:
        self.labels.append(description)
        return len(self.labels) - 1

    def update(self, job: int, completed: int, total=None) -> None:
        now = time.monotonic()
        if now - self.last < self.EVERY_S or not total:
            return
        self.last = now
        err_console.print(f"{self.labels[job]}: {completed}/{total} {self.unit} ({completed / total:.0%}), "
                          f"{now - self.started:.0f} s", markup=False, highlight=False)


CELL_DIMS = ("family", "input_dim", "width")


def _cells(ds) -> list[dict]:
    """Selectors of every sweep cell: width, with family and input_dim when they are dimensions."""
    dims = [d for d in CELL_DIMS if d in ds.dims]
    return [dict(zip(dims, key)) for key in itertools.product(*(ds[d].values for d in dims))]


def _label(sel: dict) -> list[str]:
    return [str(sel[d]) for d in CELL_DIMS if d in sel]


def _summary_table(ds) -> Table:
    from . import aggregate

    z = aggregate.z_scores(ds)
    deepest = int(ds["depth"].max())
    table = Table(title=f"P(path active) at depth {deepest} (every depth: ntkpaths info)")
    keys = [d for d in CELL_DIMS if d in ds.dims]
    for col in (*keys, "networks", "p_active", "se", "2^-H", "max |z|"):
        table.add_column(col, justify="right")
    if "weight_slope" in ds:
        table.add_column("E\\[t|Z] layer 2", justify="right")
    for sel in _cells(ds):
        cell = ds.sel(sel).sel(depth=deepest)
        row = [*_label(sel), str(int(cell.n_networks)), f"{float(cell.p_active):.5g}",
               f"{float(cell.p_active_se):.2g}", f"{float(cell.p_theory):.5g}", f"{float(abs(z.sel(sel)).max()):.2f}"]
        if "weight_slope" in ds and deepest > 1:
            slope = cell.sel(layer=2)
            row.append(f"{float(slope.weight_slope):.4f} ± {float(slope.weight_slope_se):.1g}")
        table.add_row(*row)
    return table


@app.command()
def sweep(
    depth: Annotated[int, typer.Option(help="Largest number of hidden layers; every depth 1..DEPTH is measured.")] = 8,
    widths: Annotated[str, typer.Option(help="Comma-separated hidden widths.")] = DEFAULT_WIDTHS,
    nets: Annotated[int, typer.Option(help="Networks drawn per width.")] = SweepConfig.nets,
    inputs: Annotated[str, typer.Option(help="Input kind (uniform, gaussian, sphere) or a .npy/.csv file, one input per row.")] = "uniform",
    input_dims: Annotated[str, typer.Option(help="Comma-separated input dimensions d, a sweep axis (ignored for a file).")] = "64",
    n_inputs: Annotated[int, typer.Option(help="Inputs per network (ignored for a file).")] = InputConfig.count,
    input_scale: Annotated[float, typer.Option(help="c in [-c, c]^d, the Gaussian std, or the sphere radius.")] = 1.0,
    init: Annotated[str, typer.Option(help="he-fan-in, he-fan-out or ntk.")] = "he-fan-in",
    gain: Annotated[float, typer.Option(help="Weight std is gain / sqrt(fan).")] = NetworkConfig.gain,
    weight_dist: Annotated[str, typer.Option(help="normal, uniform, orthogonal, student-t or sparse (all of the same variance).")] = "normal",
    weight_df: Annotated[float, typer.Option(help="Degrees of freedom of student-t weights (> 2).")] = NetworkConfig.weight_df,
    weight_density: Annotated[float, typer.Option(help="Fraction of non-zero sparse weights.")] = NetworkConfig.weight_density,
    weight_mean: Annotated[float, typer.Option(help="Mean of the weights in units of their std.")] = 0.0,
    bias_std: Annotated[float, typer.Option(help="Std of N(bias_mean, bias_std^2) biases.")] = 0.0,
    bias_mean: Annotated[float, typer.Option(help="Mean of the biases.")] = 0.0,
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    stats: Annotated[str, typer.Option(help="Statistics besides P(active), comma-separated: weights, inputs, joint; 'none' for none.")] = ",".join(STATS),
    angles: Annotated[str, typer.Option(help="Angles of the input pairs for the joint statistic, e.g. pi/16,pi/2 or radians.")] = "pi/16,pi/8,pi/4,pi/2,3pi/4,7pi/8",
    method: Annotated[str, typer.Option(help="auto, explicit (real weight matrices; exact edge sums), implicit (activations from their exact law; one tracked weight per neuron) or hybrid (with --rel-se: explicit networks until E[t|Z=1] reaches the target, implicit ones for P(active) and joint). auto: hybrid with --rel-se and weights, explicit for edge statistics without a target, else implicit.")] = "auto",
    rel_se: Annotated[Optional[float], typer.Option(help="Draw networks per cell until p_active's relative se reaches this (replaces --nets).")] = None,
    max_nets: Annotated[int, typer.Option(help="Most networks per cell with --rel-se.")] = SweepConfig.max_nets,
    seed: Annotated[Optional[int], typer.Option(help="Root seed; default fresh entropy, recorded in the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output .zarr path [default: data/sweep-depthDEPTH.zarr].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted sweep in --out (same options).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous' (in-process), 'local' (a local dask cluster) or a dask scheduler address tcp://HOST:PORT; default: in-process for sweeps too small to pay for a local cluster's start-up, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of a local cluster [default: the cores]; giving it starts one.")] = None,
    nets_per_task: Annotated[Optional[int], typer.Option(help="Networks per dask task (results do not depend on it) [default: 100; 4096 on a GPU].")] = None,
    device: Annotated[str, typer.Option(help="auto (a GPU when JAX sees one), cpu (the numpy reference), gpu, or jax (the accelerator code on JAX's default device).")] = "auto",
) -> None:
    """Sweep widths and depths; write one dataset and print a summary."""
    from .tasks import find_device

    input_cfg, file_dim = _input_config(inputs, n_inputs, input_scale)
    chosen = tuple(s for s in _parse_list("--stats", stats, str) if s != "none")
    device = find_device() if device == "auto" else device
    if nets_per_task is None:
        nets_per_task = 4096 if device == "gpu" else SweepConfig.nets_per_task
    cfg = SweepConfig(
        depth=depth, widths=_parse_list("--widths", widths), nets=nets, seed=seed, nets_per_task=nets_per_task,
        device=device,
        network=NetworkConfig(init=init, gain=gain, weight_dist=weight_dist, bias_std=bias_std,
                              bias_mean=bias_mean, weight_mean=weight_mean, weight_df=weight_df,
                              weight_density=weight_density, dtype=dtype),
        inputs=input_cfg, input_dims=(file_dim,) if file_dim else _parse_list("--input-dims", input_dims),
        angles=parse_angles(angles), stats=chosen, method=method, rel_se=rel_se, max_nets=max_nets,
    )
    from . import store, sweep as sweep_mod

    out = out or Path("data") / f"sweep-depth{depth}.zarr"
    store.check_writable(out, overwrite, resume)
    if resume and out.exists() and not overwrite:
        store.resumable_config(out, cfg)
    sweep_mod.preflight(cfg, scheduler, workers)
    started = time.perf_counter()
    seen: list[int] = []

    def tick(done: int, total: int) -> None:
        seen.append(done)
        bar.update(job, completed=done, total=total)

    with store.locked(out), _progress() as bar:
        job = bar.add_task("sweep", total=None)
        ds = sweep_mod.run_sweep(cfg, out, scheduler=scheduler, workers=workers, overwrite=overwrite,
                                 resume=resume, progress=tick, on_client=_print_dashboard)
    wall = time.perf_counter() - started
    console.print(_summary_table(ds))
    networks, computed = int(ds["n_networks"].isel(depth=0).sum()), seen[-1] - seen[0]
    console.print(f"{len(_cells(ds))} cells, {networks} networks ({ds.attrs['method']} sampler, {ds.attrs['device']}); "
                  f"this run drew {computed} in {wall:.1f} s wall, {computed / wall:.1f} networks/s")
    console.print(f"ran {ds.attrs['execution']}; seed entropy {ds.attrs['seed_entropy']} (replay with --seed)")
    console.print(f"wrote {out}")


@app.command()
def train(
    depths: Annotated[str, typer.Option(help="Comma-separated numbers of hidden layers.")] = "1,2,4",
    widths: Annotated[str, typer.Option(help="Comma-separated hidden widths.")] = "64,256,1024",
    runs: Annotated[int, typer.Option(help="Independent runs (data subset, initial network) per (depth, width).")] = 8,
    steps: Annotated[int, typer.Option(help="Gradient steps per run (0 measures the initial networks only).")] = 1000,
    lr: Annotated[float, typer.Option(help="Learning rate (>= 0; 0 is a control run). With --param standard the step uses lr / width.")] = 1.0,
    batch_size: Annotated[Optional[int], typer.Option(help="Minibatch size for SGD [default: full-batch gradient descent].")] = None,
    param: Annotated[str, typer.Option(help="ntk (N(0,1) parameters, forward scales sqrt(2/fan_in); lr independent of width) or standard (He weights).")] = "ntk",
    data: Annotated[str, typer.Option(help="digits (scikit-learn's 8x8 digits, bundled), teacher (a random ReLU network labels uniform inputs) or a .npz file with arrays X and y.")] = "digits",
    n_train: Annotated[int, typer.Option(help="Training samples drawn per run.")] = 256,
    n_test: Annotated[int, typer.Option(help="Test samples drawn per run (capped by what the data have left).")] = 256,
    checkpoints: Annotated[int, typer.Option(help="Log-spaced checkpoints per run, step 0 and the last included.")] = 20,
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    loss_tolerance: Annotated[float, typer.Option(help="A run whose final training loss is at most this reached a global minimum.")] = 1e-3,
    seed: Annotated[Optional[int], typer.Option(help="Root seed; default fresh entropy, recorded in the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output .zarr path [default: data/train-depthD.zarr, D the largest depth].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted training sweep in --out (same options).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous', 'local' or a dask scheduler address; default: in-process when small, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of a local cluster [default: the cores].")] = None,
    device: Annotated[str, typer.Option(help="auto (a GPU when JAX sees one), cpu or gpu.")] = "auto",
) -> None:
    """Train one network per (depth, width, run) and measure how far its paths move (Theorem 5)."""
    from .config import TrainConfig
    from .tasks import find_device

    cfg = TrainConfig(depths=_parse_list("--depths", depths), widths=_parse_list("--widths", widths), runs=runs,
                      steps=steps, lr=lr, batch_size=batch_size, param=param, data=data, n_train=n_train,
                      n_test=n_test, checkpoints=checkpoints, dtype=dtype, loss_tolerance=loss_tolerance, seed=seed,
                      device=find_device() if device == "auto" else device)
    from . import store
    from .training import dataset, grid

    out = out or Path("data") / f"train-depth{max(cfg.depths)}.zarr"
    store.check_writable(out, overwrite, resume)
    if resume and out.exists() and not overwrite:
        dataset.resumable_config(out, cfg)
    grid.preflight(cfg, scheduler, workers)
    started = time.perf_counter()
    with store.locked(out), _progress("runs") as bar:
        job = bar.add_task("train", total=None)
        ds = grid.run_training(cfg, out, scheduler=scheduler, workers=workers, overwrite=overwrite, resume=resume,
                               progress=lambda done, total: bar.update(job, completed=done, total=total),
                               on_client=_print_dashboard)
    console.print(_train_table(ds))
    diverged = _diverged_runs(ds)
    if diverged:
        console.print(f"{len(diverged)} run(s) diverged (loss NaN or infinite; learning rate too large?): "
                      + "; ".join(diverged), markup=False)
    console.print(f"{ds.sizes['depth'] * ds.sizes['width'] * ds.sizes['run']} runs in "
                  f"{time.perf_counter() - started:.1f} s wall, ran {ds.attrs['execution']} on {ds.attrs['device']}; "
                  f"seed entropy {ds.attrs['seed_entropy']} (replay with --seed)", markup=False)
    console.print(f"wrote {out}")


def _verdict_table(ds, rows=None) -> Table:
    """The dataset's verdict rows, computed by its study kind."""
    if rows is None:
        from . import study as study_mod

        kind = study_mod.kind_of_dataset(ds)
        rows = kind.verdicts(ds, kind.claims)
    table = Table(title="verdicts")
    for col in ("claim", "measured ± se", "statistic", "verdict"):
        table.add_column(col)
    for row in rows:
        table.add_row(row.claim, row.measured, row.statistic, row.word)
    return table


def _train_table(ds) -> Table:
    table = Table(title=f"After {int(ds.step[-1])} steps (mean ± se over runs; every checkpoint: the dataset)")
    for col in ("depth", "width", "runs", "loss", "reached", "flips (last layer)", "p_active / 2^-H", "NTK change"):
        table.add_column(col, justify="right")
    for d in ds["depth"].values:
        for w in ds["width"].values:
            cell = ds.sel(depth=d, width=w).isel(step=-1)
            ratio = cell.p_active_mean.sel(prefix=d) / cell.p_theory.sel(prefix=d)
            ratio_se = cell.p_active_se.sel(prefix=d) / cell.p_theory.sel(prefix=d)
            table.add_row(str(d), str(w), str(int(cell.n_runs)), _pm(cell.loss_mean, cell.loss_se),
                          f"{float(cell.reached_minimum_fraction):.0%}",
                          _pm(cell.flip_fraction_mean.sel(layer=d), cell.flip_fraction_se.sel(layer=d)),
                          _pm(ratio, ratio_se), _pm(cell.ntk_change_mean, cell.ntk_change_se))
    return table


def _pm(value, se) -> str:
    value, se = float(value), float(se)
    return f"{value:.3g}" if not se == se else f"{value:.3g} ± {se:.2g}"


def _diverged_runs(ds) -> list[str]:
    flags = ds["diverged"].stack(cell=("depth", "width", "run"))
    return [f"depth {d} width {w} run {r}" for (d, w, r), v in zip(flags["cell"].values, flags.values) if v == 1]


def _print_dashboard(client) -> None:
    if "dashboard" in client.scheduler_info().get("services", {}):
        err_console.print(f"dask dashboard: {client.dashboard_link}")


@app.command("plot")
def plot_command(
    path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for the PNGs [default: PATH without .zarr, plus -figures].")] = None,
) -> None:
    """Write the figures of a sweep dataset as PNG files."""
    from . import plot, store

    ds = store.load(path)
    out = out or path.with_name(path.stem + "-figures")
    for fig_path in plot.make_figures(ds, out):
        console.print(f"wrote {fig_path}")


@app.command()
def info(path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep'.")]) -> None:
    """Print every cell: estimate, se, theory and z-score (for a training dataset: its summary table)."""
    from . import aggregate, store

    ds = store.load(path)
    if ds.attrs["schema"].startswith("ntkpaths.train"):
        console.print(_train_table(ds))
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


@app.command()
def study(
    path: Annotated[Path, typer.Argument(help="A study file, e.g. studies/theorem1-path-probability.toml.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder [default: data/NAME].")] = None,
    smoke: Annotated[bool, typer.Option(help="Run the study's tiny [smoke] size (checks the pipeline).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous', 'local' or a dask scheduler address; default: in-process when small, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of the local cluster [default: the cores].")] = None,
    reuse: Annotated[bool, typer.Option(help="Redraw figures and report from the study's existing dataset; run nothing.")] = False,
) -> None:
    """Run a declarative study: its sweep per family, figures, and a markdown report with verdicts."""
    from . import study as study_mod

    from . import store

    spec = study_mod.load_study(path)
    study_mod.prepare(spec, smoke, scheduler, workers)  # refuse a bad study before any work
    out = out or Path("data") / spec.name
    store.probe_folder(out)
    started = time.perf_counter()
    with _progress() as bar:
        jobs: dict = {}

        def tick(family: str, done: int, total: int) -> None:
            if family not in jobs:
                jobs[family] = bar.add_task(family, total=total)
            bar.update(jobs[family], completed=done, total=total)

        report_path = study_mod.run_study(spec, out, smoke=smoke, scheduler=scheduler, workers=workers,
                                          progress=tick, reuse=reuse)
    console.print(f"{spec.name}: {time.perf_counter() - started:.1f} s wall")
    console.print(f"wrote {report_path}")


@app.command("report")
def report_command(
    path: Annotated[Path, typer.Argument(help="A dataset written by 'ntkpaths sweep' or 'ntkpaths study'.")],
    out: Annotated[Optional[Path], typer.Option(help="Markdown file [default: next to PATH, PATH stem + -report.md].")] = None,
    figures: Annotated[bool, typer.Option(help="Also draw the figures and embed them.")] = True,
) -> None:
    """Write a markdown report: configuration, a verdict table per claim, figures."""
    from . import plot, report, store, study as study_mod

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

    from . import pathstats, symmetry
    from .config import read_inputs
    from .allpaths import forward

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


def _fail(message: str) -> None:
    """One line on stderr, exit code 2."""
    err_console.print(f"error: {' '.join(message.split())}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _terminate(signum, frame):
    raise KeyboardInterrupt  # so that clusters close and the store stays resumable


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    # A shell starts background jobs with SIGINT ignored, and Python keeps that; an explicit
    # SIGINT (kill -INT) must still stop a sweep resumably.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rv = app(args=argv, prog_name="ntkpaths", standalone_mode=False)
    except (NtkpathsError, typer.TyperException) as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(message)
    except OSError as exc:  # the environment: a full disk, a vanished folder, a lost connection
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _fail(f"{where}{exc.strerror or _first_line(exc)} (finished work is kept; rerun with --resume "
              "where the command has it)")
    except MemoryError:
        _fail("out of memory; use smaller widths, fewer --workers, or --method implicit")
    except (KeyboardInterrupt, typer.Abort):
        rv = 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    if rv == 130:
        err_console.print("interrupted; finished blocks are kept: rerun the same command with --resume", markup=False)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
