#!/usr/bin/env python3
"""Whole-CLI time to a relative standard error, against the naive baseline, side by side in one run.

At width 1024, depth 8, d = 64, 8 inputs (the default sweep's widest cell):

1. the naive baseline (``naive_paths.py``: explicit weights, 1000 sampled paths
   per network, BLAS on one thread) runs for ``--naive-seconds``; its time to
   the target is extrapolated from its measured per-network spread and rate;
2. ``ntkpaths sweep --rel-se TARGET --stats none`` (paths only), whole CLI,
   wall time from process start to exit;
3. ``ntkpaths sweep --rel-se TARGET`` with the default statistics (every
   statistic to the target: the hybrid sampler on a CPU), whole CLI;
4. the explicit sampler alone for every statistic, extrapolated from its
   per-network rate and the network count step 3 needed for P(active).

Prints a table and the ratios. Medians over ``--repeats``. Run it on a quiet
machine: ratios from one run are comparable, absolute times are not.

    python benchmarks/bench_precision.py                       # target 0.1%, about 10-15 minutes on 2 cores
    python benchmarks/bench_precision.py --target 0.01 --naive-seconds 20   # a quick look
    python benchmarks/bench_precision.py --device gpu          # the same commands on an accelerator
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NTKPATHS = [sys.executable, "-m", "ntkpaths.cli"]
WIDTH, DEPTH = 1024, 8


def naive(seconds: float, target: float) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(HERE / "naive_paths.py"), "--width", str(WIDTH), "--depth", str(DEPTH),
                          "--nets", "10000000", "--max-seconds", str(seconds), "--seed", "1"],
                         capture_output=True, text=True, check=True, env=env).stdout
    r = json.loads(out)
    rel_sd = r["se"] * r["nets"] ** 0.5 / r["estimate"]
    needed = (rel_sd / target) ** 2
    return {"nets": r["nets"], "rate": r["nets_per_second"], "rel_sd": rel_sd, "needed": needed,
            "seconds": needed / r["nets_per_second"]}


def cli_sweep(target: float, stats: str | None, device: str, seed: int) -> dict:
    import ntkpaths

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "b.zarr"
        args = [*NTKPATHS, "sweep", "--depth", str(DEPTH), "--widths", str(WIDTH), "--rel-se", str(target),
                "--seed", str(seed), "--device", device, "--out", str(out)]
        if stats is not None:
            args += ["--stats", stats]
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        ds = ntkpaths.load(out).isel(width=0).load()
    deep = ds.isel(depth=-1)
    row = {"wall": wall, "nets": int(deep.n_networks), "method": ds.attrs["method"],
           "p_active_rel_se": float(deep.p_active_se / deep.p_active)}
    if "weight_slope" in ds:
        row["edge_nets"] = int(ds.n_edge_networks)
        row["slope_rel_se"] = float((ds.weight_slope_se / ds.weight_slope).max())
    if "joint_active" in ds:
        row["joint_rel_se"] = float((deep.joint_active_se / deep.joint_active).max())
    return row


def explicit_rate(repeats: int) -> float:
    """Networks/s of the explicit sampler with every statistic, one core (the hybrid's edge stream)."""
    import numpy as np

    from ntkpaths.config import SweepConfig
    from ntkpaths.tasks import Task, run_task, sweep_inputs

    cfg = SweepConfig(depth=DEPTH, widths=(WIDTH,), nets=5, seed=0, method="explicit")
    columns = sweep_inputs(cfg, 64).columns(True)
    run_task(cfg, Task(64, WIDTH, 0, 1), columns)
    times = []
    for r in range(repeats):
        started = time.perf_counter()
        run_task(cfg, Task(64, WIDTH, 10 * r, 10 * r + 5), columns)
        times.append((time.perf_counter() - started) / 5)
    return 1.0 / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=0.001)
    ap.add_argument("--naive-seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=1, help="whole-CLI runs per configuration (median)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()

    base = naive(a.naive_seconds, a.target)
    print(f"naive baseline: {base['nets']} networks in {a.naive_seconds:.0f} s ({base['rate']:.1f}/s), "
          f"per-network rel sd {base['rel_sd']:.3f} -> {base['needed']:.0f} networks, "
          f"extrapolated {base['seconds']:.0f} s to {a.target:.2%}")
    rows = {}
    for name, stats in (("paths only", "none"), ("default statistics", None)):
        runs = [cli_sweep(a.target, stats, a.device, seed) for seed in range(1, a.repeats + 1)]
        rows[name] = runs[0] | {"wall": statistics.median(r["wall"] for r in runs)}
    rate = explicit_rate(3)
    needed = rows["default statistics"]["nets"]
    print(f"\nwidth {WIDTH}, depth {DEPTH}, target rel se {a.target:.2%}, device {a.device}, "
          f"{os.cpu_count()} cores, whole CLI (median of {a.repeats})")
    print(f"{'':22s} {'wall s':>9s} {'networks':>9s} {'edge nets':>9s} {'p rel se':>9s} {'slope':>8s} "
          f"{'joint':>8s} {'x naive':>9s}")
    for name, r in rows.items():
        print(f"{name:22s} {r['wall']:9.1f} {r['nets']:9d} {r.get('edge_nets', 0):9d} {r['p_active_rel_se']:9.4%} "
              f"{r.get('slope_rel_se', float('nan')):8.3%} {r.get('joint_rel_se', float('nan')):8.3%} "
              f"{base['seconds'] / r['wall']:9.0f}")
    alone = needed / rate
    print(f"{'explicit alone (est.)':22s} {alone:9.1f} {needed:9d} {needed:9d} {'':>9s} {'':>8s} {'':>8s} "
          f"{base['seconds'] / alone:9.0f}   ({rate:.1f} networks/s on one core, every statistic)")


if __name__ == "__main__":
    main()
