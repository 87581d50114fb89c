#!/usr/bin/env python
"""Census speed: runs to stationarity per second at k = n = 12, and the Safran-Shamir grid extrapolated.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_minima.py            # a few minutes
    PYTHONPATH=. .venv/bin/python benchmarks/bench_minima.py --runs 50 --json minima.json

Times one block of runs of the gaussian-teacher problem (Xavier start, step
5/n, |grad| <= grad_tol) through :func:`ntkpaths.minima.run.run_block`, on
one thread, twice: the first call pays XLA's compilation, the second is the
steady rate. Then it extrapolates the whole Safran-Shamir grid (k = 6..20,
n = k..k+2, 1000 runs each) from the per-step cost, which scales as
n (n + k) k per run, and the mean steps to stationarity measured here scaled
by n / 12 (more units, more steps; a rough model, stated as such).
``--check K`` times k = n = K as well and prints the measured time over the
model's (at K = 20: 1.25 on 2026-12-03, so the grid figure is an underestimate).
Only numbers from one run are comparable (the machine may be shared).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time

import numpy as np

from ntkpaths.minima.config import MinimaConfig
from ntkpaths.minima.grid import run_seed
from ntkpaths.minima.run import run_block


def time_block(k: int, extra: int, runs: int, grad_tol: float) -> dict:
    cfg = MinimaConfig(teachers=(k,), extra=(extra,), runs=runs, block=runs, seed=0, grad_tol=grad_tol)
    seeds = [run_seed(cfg, (k, extra), r) for r in range(runs)]
    started = time.perf_counter()
    run_block(cfg, (k, extra), seeds)  # the first call compiles this block's shapes
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    out = run_block(cfg, (k, extra), seeds)
    wall = time.perf_counter() - started
    counts = np.bincount(out["outcome"].astype(int), minlength=5)
    return {"k": k, "n": k + extra, "runs": runs, "wall_s": wall, "first_call_s": compile_s,
            "runs_per_s": runs / wall, "mean_steps": float(out["steps"].mean()),
            "max_steps": int(out["steps"].max()), "outcomes": counts.tolist()}


def predict(measured: dict, k: int, n: int, runs: int) -> float:
    """Steady seconds for ``runs`` runs at (k, n), from the cost per (run x step x n (n + k) k) measured at
    k = n = 12 and mean steps scaled by n / 12."""
    unit = measured["wall_s"] / (measured["runs"] * measured["mean_steps"] * 12 * 24 * 12)
    return runs * measured["mean_steps"] * n / 12 * unit * n * (n + k) * k


def extrapolate(measured: dict, runs: int = 1000) -> float:
    """Seconds for the whole grid's descents (compilation, about first_call_s per cell, comes on top)."""
    return sum(predict(measured, k, n, runs) for k in range(6, 21) for n in (k, k + 1, k + 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--grad-tol", type=float, default=MinimaConfig.grad_tol)
    parser.add_argument("--check", type=int, default=None, help="also time k = n = CHECK against the model")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    result = time_block(12, 0, args.runs, args.grad_tol)
    grid = extrapolate(result)
    compiling = 45 * result["first_call_s"]
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {platform.processor() or platform.machine()}  "
          f"{os.cpu_count()} cores  load {os.getloadavg()[0]:.1f}")
    print(f"k = n = 12, {result['runs']} runs: {result['wall_s']:.1f} s wall (first call, compiling: {result['first_call_s']:.1f} s), "
          f"{result['runs_per_s']:.2f} runs/s, mean {result['mean_steps']:.0f} steps (max {result['max_steps']}); "
          f"outcomes {result['outcomes']} (global, spurious, saddle, not converged, diverged)")
    print(f"Safran-Shamir grid (k = 6..20, n = k..k+2, 1000 runs each), extrapolated: {grid / 60:.0f} min of descent "
          f"on one core plus about {compiling / 60:.0f} min compiling 45 cells; {(grid + compiling) / 60 / (os.cpu_count() or 1):.0f} "
          f"min on {os.cpu_count()} cores if they split it evenly (target: under 30 min)")
    if args.check:
        other = time_block(args.check, 0, args.runs, args.grad_tol)
        model = predict(result, args.check, args.check, args.runs)
        print(f"check k = n = {args.check}: {other['wall_s']:.1f} s measured, {model:.1f} s by the model "
              f"(ratio {other['wall_s'] / model:.2f}), mean {other['mean_steps']:.0f} steps")
        result["check"] = other | {"model_s": model}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result | {"grid_s": grid}, fh, indent=1)


if __name__ == "__main__":
    main()
