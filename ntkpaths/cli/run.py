"""Commands that run work: sweep, train, study."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from ..config import STATS, InputConfig, NetworkConfig, SweepConfig, parse_angles
from .common import DEFAULT_WIDTHS, _input_config, _parse_list, _print_dashboard, _progress, app, console
from .tables import _cells, _diverged_runs, _summary_table, _rate_table, _train_table, regime_runs


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
    method: Annotated[str, typer.Option(help="auto, explicit (real weight matrices; exact edge sums), implicit (activations from their exact law; one tracked weight per neuron) or hybrid (with --rel-se: explicit networks until E\\[t|Z=1] reaches the target, implicit ones for P(active) and joint). auto: hybrid with --rel-se and weights, explicit for edge statistics without a target, else implicit.")] = "auto",
    rel_se: Annotated[Optional[float], typer.Option(help="Draw networks per cell until every requested statistic's relative se reaches this (replaces --nets).")] = None,
    max_nets: Annotated[int, typer.Option(help="Most networks per cell with --rel-se.")] = SweepConfig.max_nets,
    reduce: Annotated[bool, typer.Option("--reduce/--no-reduce", help="Control variates with exact means for the joint activation and E\\[t|Z=1] (normal, zero-mean, bias-free weights on the CPU); --no-reduce keeps the plain estimators.")] = True,
    seed: Annotated[Optional[int], typer.Option(help="Root seed; default fresh entropy, recorded in the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output .zarr path \\[default: data/sweep-depthDEPTH.zarr].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted sweep in --out (same options).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous' (in-process), 'local' (a local dask cluster) or a dask scheduler address tcp://HOST:PORT; default: in-process for sweeps too small to pay for a local cluster's start-up, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of a local cluster \\[default: the cores]; giving it starts one.")] = None,
    nets_per_task: Annotated[Optional[int], typer.Option(help="Networks per dask task (results do not depend on it) \\[default: 100; 4096 on a GPU].")] = None,
    device: Annotated[str, typer.Option(help="auto (a GPU when JAX sees one), cpu (the numpy reference), gpu, or jax (the accelerator code on JAX's default device).")] = "auto",
) -> None:
    """Sweep widths and depths; write one dataset and print a summary."""
    from ..tasks import find_device

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
        angles=parse_angles(angles), stats=chosen, method=method, rel_se=rel_se, max_nets=max_nets, reduce=reduce,
    )
    from .. import store, sweep as sweep_mod

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
    console.print(_reduction_line(ds), markup=False)
    console.print(f"ran {ds.attrs['execution']}; seed entropy {ds.attrs['seed_entropy']} (replay with --seed)")
    console.print(f"wrote {out}")


def _reduction_line(ds) -> str:
    """What the control variates saved, as the range of variance factors per statistic (or why none)."""
    parts = []
    for name, what in (("joint_active", "joint activation"), ("weight_slope", "E[t|Z=1]")):
        f = ds.get(f"{name}_variance_factor")
        if f is not None and np.isfinite(f.values).any():
            parts.append(f"{what} {float(f.min()):.2g}-{float(f.max()):.2g}")
    if not parts:
        return f"variance reduction: {ds.attrs.get('variance_reduction', 'none')}"
    return ("control variates: variance factors " + ", ".join(parts) +
            " (the reduced estimates need this share of the plain ones' networks for the same se)")


def _results_nbytes(cfg) -> int:
    """Bytes of a training grid's per-run arrays in memory (Python integers: no overflow)."""
    import math

    from ..training import dataset

    return 8 * sum(math.prod(dataset._shape(cfg, name)) for name in dataset.PER_STEP + dataset.PER_RUN)


@app.command()
def train(
    depths: Annotated[str, typer.Option(help="Comma-separated numbers of hidden layers.")] = "1,2,4",
    widths: Annotated[str, typer.Option(help="Comma-separated hidden widths.")] = "64,256,1024",
    runs: Annotated[int, typer.Option(help="Independent runs (data subset, initial network) per (depth, width).")] = 8,
    steps: Annotated[int, typer.Option(help="Gradient steps per run (0 measures the initial networks only).")] = 1000,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (>= 0; 0 is a control run) \\[default: 1]. With --param standard the step uses lr / width. Exclusive with --lr-relative.")] = None,
    lr_relative: Annotated[Optional[float], typer.Option(help="Learning rate in units of each run's critical rate 2/lambda_max(Theta_0/N), Theta_0 its initial empirical NTK on its NTK inputs: below 1 the lazy regime, above 1 a catapult or divergence. Exclusive with --lr.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Minibatch size for SGD \\[default: full-batch gradient descent].")] = None,
    param: Annotated[str, typer.Option(help="ntk (N(0,1) parameters, forward scales sqrt(2/fan_in); lr independent of width) or standard (He weights).")] = "ntk",
    data: Annotated[str, typer.Option(help="digits (scikit-learn's 8x8 digits, bundled), teacher (a random ReLU network labels uniform inputs) or a .npz file with arrays X and y.")] = "digits",
    n_train: Annotated[int, typer.Option(help="Training samples drawn per run.")] = 256,
    n_test: Annotated[int, typer.Option(help="Test samples drawn per run (capped by what the data have left).")] = 256,
    checkpoints: Annotated[int, typer.Option(help="Log-spaced checkpoints per run, step 0 and the last included.")] = 20,
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    loss_tolerance: Annotated[float, typer.Option(help="A run whose final training loss is at most this fits its targets.")] = 1e-3,
    ntk_inputs: Annotated[Optional[int], typer.Option(help="Training samples the empirical NTK (its change, the critical rate) and E\\[t|Z] are measured on \\[default: all of them]; a cap saves time and memory (the NTK has (samples x outputs)^2 entries).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Root seed; default fresh entropy, recorded in the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output .zarr path \\[default: data/train-depthD.zarr, D the largest depth].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted training sweep in --out (same options).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous', 'local' or a dask scheduler address; default: in-process when small, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of a local cluster \\[default: the cores].")] = None,
    device: Annotated[str, typer.Option(help="auto (a GPU when JAX sees one), cpu or gpu.")] = "auto",
    init_from: Annotated[Optional[Path], typer.Option(help="Start every run from this bias-free network (.npz, .safetensors, .pt, .onnx) instead of a random draw; depth and width come from it.")] = None,
    save_weights: Annotated[Optional[Path], typer.Option(help="Folder for each run's final network (depthD-widthW-runR.safetensors, or .npz after an .npz --init-from).")] = None,
) -> None:
    """Train one network per (depth, width, run) and measure how far its paths move (Theorem 5)."""
    from ..config import TrainConfig
    from ..tasks import find_device

    if init_from is not None and (depths, widths) == ("1,2,4", "64,256,1024"):  # the grid comes from the file
        from ..readers import read_network

        net = read_network(init_from)
        depths, widths = str(net.depth), ",".join(map(str, sorted(set(net.widths))))
    cfg = TrainConfig(depths=_parse_list("--depths", depths), widths=_parse_list("--widths", widths), runs=runs,
                      steps=steps, lr=lr, lr_relative=lr_relative, batch_size=batch_size, param=param, data=data,
                      n_train=n_train, n_test=n_test, checkpoints=checkpoints, dtype=dtype,
                      loss_tolerance=loss_tolerance, ntk_inputs=ntk_inputs, seed=seed,
                      device=find_device() if device == "auto" else device,
                      init_from=None if init_from is None else str(init_from.resolve()),
                      save_weights=None if save_weights is None else str(save_weights.resolve()))
    if save_weights is not None:
        save_weights.mkdir(parents=True, exist_ok=True)
    from .. import store
    from ..training import dataset, grid

    out = out or Path("data") / f"train-depth{max(cfg.depths)}.zarr"
    store.check_results_fit(_results_nbytes(cfg), f"--runs {cfg.runs}", "use fewer runs or checkpoints")
    store.check_writable(out, overwrite, resume)
    if resume and out.exists() and not overwrite:
        dataset.resumable_config(out, cfg)
    grid.preflight(cfg, scheduler, workers)
    started = time.perf_counter()
    seen: list[int] = []

    def tick(done: int, total: int) -> None:
        seen.append(done)
        bar.update(job, completed=done, total=total)

    with store.locked(out), _progress("runs") as bar:
        job = bar.add_task("train", total=None)
        ds = grid.run_training(cfg, out, scheduler=scheduler, workers=workers, overwrite=overwrite, resume=resume,
                               progress=tick, on_client=_print_dashboard)
    console.print(_train_table(ds))
    console.print(_rate_table(ds))
    for line in regime_runs(ds):
        console.print(line, markup=False)
    diverged = _diverged_runs(ds)
    if diverged:
        console.print(f"{len(diverged)} run(s) diverged (loss NaN or infinite; learning rate too large?): "
                      + "; ".join(diverged), markup=False)
    if seen and seen[0]:
        console.print(f"resumed: {seen[0]} run(s) reused from {out}, {seen[-1] - seen[0]} trained now",
                      markup=False, soft_wrap=True)
    console.print(f"{ds.sizes['depth'] * ds.sizes['width'] * ds.sizes['run']} runs in "
                  f"{time.perf_counter() - started:.1f} s wall, ran {ds.attrs['execution']} on {ds.attrs['device']}; "
                  f"seed entropy {ds.attrs['seed_entropy']} (replay with --seed)", markup=False)
    console.print(f"wrote {out}")


STUDY_UNITS = {"sweep": "networks", "train": "runs", "reparametrisation": "stages"}  # what a study's bar counts


@app.command()
def study(
    path: Annotated[Path, typer.Argument(help="A study file, e.g. studies/theorem1-path-probability.toml.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder \\[default: data/NAME, or data/NAME-smoke with --smoke].")] = None,
    smoke: Annotated[bool, typer.Option(help="Run the study's tiny \\[smoke] size (checks the pipeline).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous', 'local' or a dask scheduler address; default: in-process when small, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of the local cluster \\[default: the cores].")] = None,
    reuse: Annotated[bool, typer.Option(help="Redraw figures and report from the study's existing dataset; run nothing.")] = False,
) -> None:
    """Run a declarative study (a sweep per family, a training grid or the reparametrisation study), its figures, and a markdown report with verdicts."""
    from .. import study as study_mod

    from .. import store

    spec = study_mod.load_study(path)
    study_mod.prepare(spec, smoke, scheduler, workers)  # refuse a bad study before any work
    out = out or study_mod.default_folder(spec, smoke)
    store.check_output_folder(out)
    if not reuse:
        study_mod.check_output(out, smoke)
    started = time.perf_counter()
    with _progress() as bar:
        jobs: dict = {}

        def tick(family: str, done: int, total: int) -> None:
            if family not in jobs:
                jobs[family] = bar.add_task(family, total=total, unit=STUDY_UNITS.get(spec.kind, "steps"))
            bar.update(jobs[family], completed=done, total=total)

        report_path = study_mod.run_study(spec, out, smoke=smoke, scheduler=scheduler, workers=workers,
                                          progress=tick, reuse=reuse)
    console.print(f"{spec.name}: {time.perf_counter() - started:.1f} s wall")
    console.print(f"wrote {report_path}")
