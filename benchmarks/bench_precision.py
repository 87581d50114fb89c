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
import math
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


def cli_sweep(target: float, stats: str | None, device: str, seed: int, extra: tuple[str, ...] = ()) -> dict:
    import ntkpaths

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "b.zarr"
        args = [*NTKPATHS, "sweep", "--depth", str(DEPTH), "--widths", str(WIDTH), "--rel-se", str(target),
                "--seed", str(seed), "--device", device, "--out", str(out), *extra]
        if stats is not None:
            args += ["--stats", stats]
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        ds = ntkpaths.load(out).isel(width=0).load()
    deep = ds.isel(depth=-1)
    row = {"wall": wall, "nets": int(deep.n_networks), "method": ds.attrs["method"], "ds": ds,
           "p_active_rel_se": float(deep.p_active_se / deep.p_active)}
    if "weight_slope" in ds:
        row["edge_nets"] = int(ds.n_edge_networks)
        row["slope_rel_se"] = float((ds.weight_slope_se / ds.weight_slope).max())
    if "joint_active" in ds:
        row["joint_rel_se"] = float((deep.joint_active_se / deep.joint_active).max())
    # networks each statistic needs to the target at its own per-network spread (explicit ones for the slope)
    need = [row["nets"] * (row["p_active_rel_se"] / target) ** 2]
    if "joint_rel_se" in row:
        need.append(row["nets"] * (row["joint_rel_se"] / target) ** 2)
    row["needed"] = max(need)
    row["to_target"] = wall * max(1.0, row["needed"] / row["nets"])  # the implicit stream dominates the time
    return row


def factors(ds, target: float) -> list[tuple]:
    """Per statistic: variance factor, networks to the target before (plain) and after (reduced)."""
    from ntkpaths import reduce

    def row(label, cell, name, n, controls):
        f = float(cell[f"{name}_variance_factor"])
        plain_sd = float(cell[f"{name}_se"]) / f ** 0.5 * n ** 0.5 / float(cell[name])   # se = plain se * sqrt(f)
        before = (plain_sd / target) ** 2
        return label, f, before, max(reduce.min_networks(controls), before * f)

    deep = ds.isel(depth=-1)
    n, n_e = int(deep.n_networks), int(ds.n_edge_networks)
    rows = [row(f"joint, depth {DEPTH}, angle {a / math.pi:.3g} pi", deep.sel(angle=a), "joint_active", n, 4 * DEPTH)
            for a in deep.angle.values]
    rows += [row(f"E[t_{layer}|Z=1] (explicit networks)", ds.sel(layer=layer), "weight_slope", n_e, 2 * DEPTH)
             for layer in ds.layer.values]
    p_sd = float(deep.p_active_se) * n ** 0.5 / float(deep.p_active)
    rows.append(("P(active), plain (see below)", 1.0, (p_sd / target) ** 2, (p_sd / target) ** 2))
    return rows


def circular_p_active_factor(nets: int = 400) -> float:
    """The variance factor the per-layer on-fraction controls would give P(active): ~0, because the
    reduced estimate is then 2^-H by construction (why ntkpaths keeps P(active) plain)."""
    import numpy as np

    from ntkpaths import reduce
    from ntkpaths.config import SweepConfig
    from ntkpaths.tasks import Task, run_task, sweep_inputs

    cfg = SweepConfig(depth=DEPTH, widths=(WIDTH,), seed=3, stats=(), method="implicit")
    out = run_task(cfg, Task(64, WIDTH, 0, nets), sweep_inputs(cfg, 64).columns(False))
    F = out["active_fraction"]                                      # (network, input, depth): cumulative
    fr = F / np.concatenate([np.ones_like(F[..., :1]), F[..., :-1]], axis=-1)
    prefix = F / fr
    X = ((fr - 0.5) * prefix).sum(axis=1)                           # per layer, summed over inputs
    return reduce.estimate(F[..., -1].mean(axis=1), None, X)["factor"]


def default_sweep(reduced: bool, seed: int) -> dict:
    """``ntkpaths sweep --depth 8`` on its defaults (widths 16..1024, 1000 networks each)."""
    import ntkpaths

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "d.zarr"
        args = [*NTKPATHS, "sweep", "--depth", str(DEPTH), "--seed", str(seed), "--out", str(out)]
        if not reduced:
            args.append("--no-reduce")
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        ds = ntkpaths.load(out).load()
    deep = ds.isel(depth=-1)
    return {"wall": wall, "joint": float((deep.joint_active_se / deep.joint_active).max()),
            "slope": float((ds.weight_slope_se / abs(ds.weight_slope)).max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=0.001)
    ap.add_argument("--naive-seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=1, help="whole-CLI runs per configuration (median)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-nets", type=int, default=60_000,
                    help="per cell; enough for the plain joint activation to reach 0.1%% (~42,000 networks)")
    ap.add_argument("--default-sweep", action="store_true", help="also time the default sweep with and without reduction")
    a = ap.parse_args()

    base = naive(a.naive_seconds, a.target)
    print(f"naive baseline: {base['nets']} networks in {a.naive_seconds:.0f} s ({base['rate']:.1f}/s), "
          f"per-network rel sd {base['rel_sd']:.3f} -> {base['needed']:.0f} networks, "
          f"extrapolated {base['seconds']:.0f} s to {a.target:.2%}")
    rows = {}
    cap = ("--max-nets", str(a.max_nets))
    for name, stats, extra in (("paths only", "none", cap), ("default stats, plain", None, ("--no-reduce", *cap)),
                               ("default stats, reduced", None, cap)):
        runs = [cli_sweep(a.target, stats, a.device, seed, extra) for seed in range(1, a.repeats + 1)]
        rows[name] = runs[0] | {"wall": statistics.median(r["wall"] for r in runs),
                                "to_target": statistics.median(r["to_target"] for r in runs)}
    print(f"\nwidth {WIDTH}, depth {DEPTH}, target rel se {a.target:.2%}, device {a.device}, "
          f"{os.cpu_count()} cores, whole CLI (median of {a.repeats})")
    print(f"{'':24s} {'wall s':>8s} {'networks':>9s} {'explicit':>9s} {'p rel se':>9s} {'slope':>8s} "
          f"{'joint':>8s} {'to target s':>12s} {'x naive':>8s}")
    for name, r in rows.items():
        print(f"{name:24s} {r['wall']:8.1f} {r['nets']:9d} {r.get('edge_nets', 0):9d} {r['p_active_rel_se']:9.4%} "
              f"{r.get('slope_rel_se', float('nan')):8.3%} {r.get('joint_rel_se', float('nan')):8.3%} "
              f"{r['to_target']:12.1f} {base['seconds'] / r['to_target']:8.0f}")
    before, after = rows["default stats, plain"], rows["default stats, reduced"]
    print(f"variance reduction: {before['to_target'] / after['to_target']:.1f}x faster to {a.target:.2%} for every "
          f"statistic ('to target' extrapolates a run that --max-nets stopped short by the networks still needed)")

    print(f"\nper statistic, from the reduced run: variance factor and networks to {a.target:.2%}")
    print(f"{'statistic':34s} {'factor':>9s} {'before':>9s} {'after':>9s}")
    for name, f, nb, na in factors(after["ds"], a.target):
        print(f"{name:34s} {f:9.4f} {nb:9.0f} {na:9.0f}")
    print(f"P(active) with its per-layer on-fraction controls: factor {circular_p_active_factor():.1e} "
          "(the estimate becomes 2^-H by construction; not used)")

    if a.default_sweep:
        print("\nntkpaths sweep --depth 8 on its defaults (widths 16..1024, 1000 networks each), same seed")
        print(f"{'':12s} {'wall s':>8s} {'joint rel se (max)':>19s} {'E[t|Z] rel se (max)':>20s}")
        for name, red in (("plain", False), ("reduced", True)):
            r = default_sweep(red, 1)
            print(f"{name:12s} {r['wall']:8.1f} {r['joint']:19.3%} {r['slope']:20.3%}")


if __name__ == "__main__":
    main()
