#!/usr/bin/env python
"""Census speed: runs to stationarity per second at k = n = 12, before and after the fused descent, and the grid.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_minima.py            # a few minutes
    PYTHONPATH=. .venv/bin/python benchmarks/bench_minima.py --runs 50 --repeats 5 --json minima.json

Times one block of runs of the gaussian-teacher problem (Xavier start, step
5/n, |grad| <= grad_tol) through :func:`ntkpaths.minima.run.run_block`, on
one thread, by two paths in the same process: ``baseline`` (the census as it
was: general teacher V, XLA's arctan2, 2000-step chunks, the Hessian by
autodiff) and ``fused`` (the default: V = I fused into the gradient, a
vectorising arctan2, 500-step chunks, the closed-form Hessian). Each path's
first call pays XLA's compilation; then ``--repeats`` steady calls, of which
the median counts. Both paths must end every run in the same class after the
same number of steps (checked). Then it extrapolates the whole Safran-Shamir
grid (k = 6..20, n = k..k+2, 1000 runs each) from the fused per-step cost,
which scales as n (n + k) k per run, and the mean steps to stationarity
measured here scaled by n / 12 (a rough model, stated as such). ``--check K``
times k = n = K as well and prints the measured time over the model's.
Only numbers from one run are comparable (the machine may be shared).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

from ntkpaths.minima.config import MinimaConfig
from ntkpaths.minima.grid import run_seed
from ntkpaths.minima.run import run_block

PATHS = ("baseline", "fused")


def time_block(k: int, extra: int, runs: int, grad_tol: float, repeats: int) -> dict:
    """Both paths on the same seeds: first call, median steady wall, and whether their runs agree."""
    cfg = MinimaConfig(teachers=(k,), extra=(extra,), runs=runs, block=runs, seed=0, grad_tol=grad_tol)
    seeds = [run_seed(cfg, (k, extra), r) for r in range(runs)]
    result, ends = {"k": k, "n": k + extra, "runs": runs}, {}
    for path in PATHS:
        baseline = path == "baseline"
        started = time.perf_counter()
        ends[path] = run_block(cfg, (k, extra), seeds, baseline=baseline)  # the first call compiles
        first = time.perf_counter() - started
        walls = []
        for _ in range(repeats):
            started = time.perf_counter()
            run_block(cfg, (k, extra), seeds, baseline=baseline)
            walls.append(time.perf_counter() - started)
        out = ends[path]
        result[path] = {"first_call_s": first, "walls_s": walls, "wall_s": statistics.median(walls),
                        "runs_per_s": runs / statistics.median(walls), "mean_steps": float(out["steps"].mean()),
                        "max_steps": int(out["steps"].max()),
                        "outcomes": np.bincount(out["outcome"].astype(int), minlength=5).tolist()}
    a, b = ends["baseline"], ends["fused"]
    result["same_outcomes"] = bool(np.array_equal(a["outcome"], b["outcome"]))
    result["same_steps"] = bool(np.array_equal(a["steps"], b["steps"]))
    result["max_loss_difference"] = float(np.nanmax(np.abs(a["loss"] - b["loss"])))
    result["speedup"] = result["baseline"]["wall_s"] / result["fused"]["wall_s"]
    return result


def predict(measured: dict, k: int, n: int, runs: int) -> float:
    """Steady seconds for ``runs`` runs at (k, n), from the cost per (run x step x n (n + k) k) measured at
    k = n = 12 and mean steps scaled by n / 12."""
    unit = measured["wall_s"] / (measured["runs"] * measured["mean_steps"] * 12 * 24 * 12)
    return runs * measured["mean_steps"] * n / 12 * unit * n * (n + k) * k


def extrapolate(measured: dict, runs: int = 1000) -> float:
    """Seconds for the whole grid's descents (compilation, about first_call_s per cell, comes on top)."""
    return sum(predict(measured, k, n, runs) for k in range(6, 21) for n in (k, k + 1, k + 2))


def report(result: dict) -> None:
    print(f"k = n = {result['k']}, {result['runs']} runs, median of the steady calls:")
    print(f"  {'path':<9} {'wall s':>7} {'runs/s':>7} {'first call s':>12}  steady walls")
    for path in PATHS:
        r = result[path]
        print(f"  {path:<9} {r['wall_s']:>7.2f} {r['runs_per_s']:>7.1f} {r['first_call_s']:>12.1f}  "
              + ", ".join(f"{w:.2f}" for w in r["walls_s"]))
    print(f"  speed-up {result['speedup']:.2f}x; mean {result['fused']['mean_steps']:.0f} steps (max "
          f"{result['fused']['max_steps']}); outcomes {result['fused']['outcomes']} (global, spurious, saddle, not "
          f"converged, diverged); same class and steps in every run: {result['same_outcomes'] and result['same_steps']}"
          f" (largest end-loss difference {result['max_loss_difference']:.1e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grad-tol", type=float, default=MinimaConfig.grad_tol)
    parser.add_argument("--check", type=int, default=None, help="also time k = n = CHECK against the model")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {platform.processor() or platform.machine()}  "
          f"{os.cpu_count()} cores  load {os.getloadavg()[0]:.1f}")
    result = time_block(12, 0, args.runs, args.grad_tol, args.repeats)
    report(result)
    fused = result["fused"] | {"runs": args.runs}
    grid = extrapolate(fused)
    compiling = 45 * fused["first_call_s"]
    print(f"Safran-Shamir grid (k = 6..20, n = k..k+2, 1000 runs each), extrapolated from the fused path: "
          f"{grid / 60:.0f} min of descent on one core plus about {compiling / 60:.0f} min of first calls for 45 "
          f"cells; {(grid + compiling) / 60 / (os.cpu_count() or 1):.0f} min on {os.cpu_count()} cores if they "
          f"split it evenly (target: under 30 min)")
    if args.check:
        other = time_block(args.check, 0, args.runs, args.grad_tol, 1)
        model = predict(fused, args.check, args.check, args.runs)
        report(other)
        print(f"check k = n = {args.check}: fused {other['fused']['wall_s']:.1f} s measured, {model:.1f} s by the "
              f"model (ratio {other['fused']['wall_s'] / model:.2f})")
        result["check"] = other | {"model_s": model}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result | {"grid_s": grid}, fh, indent=1)


if __name__ == "__main__":
    main()
