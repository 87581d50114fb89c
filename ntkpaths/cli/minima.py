"""The ``minima`` command: a certified census of where gradient descent ends."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import _parse_list, _print_dashboard, _progress, app, console


def _ints(option: str, text: Optional[str]) -> Optional[tuple]:
    return None if text is None else _parse_list(option, text)


@app.command()
def minima(
    problem: Annotated[str, typer.Option(help="gaussian-teacher (Safran & Shamir's closed-form teacher-student loss), or the data of a deep ntk network: digits, teacher or a .npz file.")] = "gaussian-teacher",
    teachers: Annotated[Optional[str], typer.Option(help="gaussian-teacher: comma-separated teacher units k (d = k) \\[default: 6].")] = None,
    extra: Annotated[Optional[str], typer.Option(help="gaussian-teacher: comma-separated extra student units n - k \\[default: 0].")] = None,
    max_units: Annotated[Optional[int], typer.Option(help="gaussian-teacher: skip cells with n = k + extra above this.")] = None,
    depths: Annotated[Optional[str], typer.Option(help="Deep problems: comma-separated numbers of hidden layers \\[default: 1].")] = None,
    widths: Annotated[Optional[str], typer.Option(help="Deep problems: comma-separated hidden widths \\[default: 16,64].")] = None,
    runs: Annotated[int, typer.Option(help="Initialisations per cell.")] = 100,
    grad_tol: Annotated[float, typer.Option(help="A run is stationary when its gradient norm is at most this.")] = 1e-8,
    loss_tol: Annotated[float, typer.Option(help="An end point with loss at most this is a global minimum.")] = 1e-8,
    eig_tol: Annotated[float, typer.Option(help="A stationary end point is a minimum when its smallest Hessian eigenvalue is >= -EIG_TOL.")] = 1e-6,
    max_steps: Annotated[int, typer.Option(help="Step budget of a run (then not_converged).")] = 200_000,
    lr: Annotated[Optional[float], typer.Option(help="Step size \\[default: 5/n for gaussian-teacher, 1.0 for deep problems].")] = None,
    lr_relative: Annotated[Optional[float], typer.Option(help="Deep problems, instead of --lr: each run's step is this multiple of its own critical rate 2/lambda_max(Theta_0/N).")] = None,
    max_halvings: Annotated[int, typer.Option(help="Restarts with half the step after a blow-up before a run counts as diverged.")] = 8,
    kink_band: Annotated[float, typer.Option(help="|z| (relative to the layer's rms) or |w_i| at most this counts as at the ReLU kink.")] = 1e-6,
    n_train: Annotated[int, typer.Option(help="Deep problems: training samples per run.")] = 32,
    block: Annotated[int, typer.Option(help="Runs per task, descended together (results do not depend on it).")] = 50,
    seed: Annotated[Optional[int], typer.Option(help="Root seed; default fresh entropy, recorded in the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output .zarr path \\[default: data/minima-PROBLEM.zarr].")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted census in --out (same options).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="'synchronous', 'local' or a dask scheduler address; default: in-process when small, else a local cluster.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of a local cluster \\[default: the cores].")] = None,
) -> None:
    """Descend from random initialisations to stationarity and certify every end point (Theorem 4)."""
    from ..minima.config import MinimaConfig

    cfg = MinimaConfig(problem=problem, teachers=_ints("--teachers", teachers), extra=_ints("--extra", extra),
                       max_units=max_units, depths=_ints("--depths", depths), widths=_ints("--widths", widths),
                       runs=runs, grad_tol=grad_tol, loss_tol=loss_tol, eig_tol=eig_tol, max_steps=max_steps, lr=lr,
                       lr_relative=lr_relative,
                       max_halvings=max_halvings, kink_band=kink_band, n_train=n_train, block=block, seed=seed)
    from .. import store
    from ..minima import dataset, grid

    out = out or Path("data") / f"minima-{Path(problem).stem}.zarr"
    store.check_writable(out, overwrite, resume)
    if resume and out.exists() and not overwrite:
        dataset.resumable_config(out, cfg)
    grid.preflight(cfg, scheduler, workers)
    started = time.perf_counter()
    with store.locked(out), _progress("runs") as bar:
        job = bar.add_task("minima", total=None)
        ds = grid.run_census(cfg, out, scheduler=scheduler, workers=workers, overwrite=overwrite, resume=resume,
                             progress=lambda done, total: bar.update(job, completed=done, total=total),
                             on_client=_print_dashboard)
    console.print(_table(ds))
    console.print(f"{int(ds.n_runs.sum())} runs in {time.perf_counter() - started:.1f} s wall, ran "
                  f"{ds.attrs['execution']}; seed entropy {ds.attrs['seed_entropy']} (replay with --seed)", markup=False)
    console.print(f"wrote {out}")


HEADERS = {"teacher": "k", "global_minimum": "global\nmin", "spurious_minimum": "spuri-\nous min",
           "not_converged": "not con-\nverged", "diverged": "diverged", "families": "fami-\nlies"}


def _table(ds):
    """Outcome percentages per cell, each with its 95% Clopper-Pearson interval on the line below."""
    from rich import box
    from rich.table import Table

    from .tables import _columns

    a, b = ds.outcome.dims[:2]
    names = (a, b, "runs", *ds.outcome_class.values, "families")
    # percentages, intervals on their own line and a light frame: a narrow console must never cut a number
    table = _columns(Table(title="where gradient descent ended (% of runs, 95% interval below)", box=box.SIMPLE_HEAD,
                           pad_edge=False, padding=(0, 1)), [HEADERS.get(str(n), str(n)) for n in names])
    for i in ds[a].values:
        for j in ds[b].values:
            cell = ds.sel({a: i, b: j})
            if int(cell.n_runs) == 0:
                continue
            cols = [_percent(cell, c) for c in ds.outcome_class.values]
            table.add_row(str(i), str(j), str(int(cell.n_runs)), *cols, str(int((cell.family_count > 0).sum())))
    return table


def _percent(cell, outcome: str) -> str:
    f, lo, hi = (100 * float(cell[v].sel(outcome_class=outcome)) for v in ("fraction", "fraction_lo", "fraction_hi"))
    return f"{f:.1f}\n{lo:.0f}–{hi:.0f}"
