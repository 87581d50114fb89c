#!/usr/bin/env python
"""Speed benchmarks for ntkpaths, measured side by side in one run.

    .venv/bin/python benchmarks/bench_speed.py            # full run, a few minutes
    .venv/bin/python benchmarks/bench_speed.py --quick    # smoke run, under a minute

Sections (each prints a table of medians over repeats, and ratios):

1. time to 1% relative se of P(path active) at depth 8, width 1024:
   ntkpaths (explicit, implicit) against the naive sampled-path baseline,
   whose time is extrapolated from its measured per-network variance and rate;
2. the explicit sampler against the hardware floor (drawing the same normals);
3. implicit against explicit sampler at widths 256, 1024, 4096;
4. cost of the edge statistics (weights, inputs, joint) with the explicit sampler;
5. peak memory and speed of a width-131072 implicit cell, in a subprocess,
   against the memory guard's estimate ``tasks.peak_bytes``.

Only ratios measured in the same run are comparable: the machine may be shared.
This script is run by hand, never in CI.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import math
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import ntkpaths
from ntkpaths.config import SweepConfig
from ntkpaths.sweep import run_sweep
from ntkpaths.tasks import Task, peak_bytes, run_task, sweep_inputs

HERE = Path(__file__).resolve().parent
NAIVE = HERE / "naive_paths.py"  # the hand-written baseline, kept beside the benchmarks
DEPTH, WIDTH, DIM = 8, 1024, 64
ALL_STATS = ("weights", "inputs", "joint")


@dataclass(frozen=True)
class Budget:
    """How much work each section does; ``--quick`` trades precision for time."""

    repeats: int             # timed repeats of cheap measurements (median reported)
    precision_repeats: int   # seeds of the explicit time-to-precision sweep (~8 s each)
    naive_seconds: float     # how long the naive baseline runs before we extrapolate
    min_time: float          # each timed repeat runs at least this long (like timeit.autorange)
    widths: tuple[int, ...]  # section 3
    big_nets: int            # networks per repeat in the width-131072 subprocess


FULL = Budget(repeats=5, precision_repeats=5, naive_seconds=60.0, min_time=1.0,
              widths=(256, 1024, 4096), big_nets=10)
QUICK = Budget(repeats=3, precision_repeats=1, naive_seconds=8.0, min_time=0.2,
               widths=(256, 1024), big_nets=3)


# ---------------------------------------------------------------- helpers

def table(title: str, headers: list[str], rows: list[list], notes: list[str] = ()) -> None:
    """Print a plain-text table (plain text so the output can be pasted anywhere)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n" + "=" * len(title))
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for r in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def fmt_rate(rates: list[float]) -> str:
    """Median networks/s with the spread over repeats, to show how noisy the machine was."""
    return f"{statistics.median(rates):.3g} ({min(rates):.3g}-{max(rates):.3g})"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def autorange(work, min_time: float) -> int:
    """Smallest count n (networks) such that ``work(n)`` takes >= min_time.

    Like timeit.Timer.autorange: short repeats are dominated by timer and
    per-call overhead. The calibration calls double as warm-up (page faults,
    BLAS initialisation) so the timed repeats see a steady state.
    """
    n = 1
    while True:
        t0 = time.perf_counter()
        work(n)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n
        n = max(n + 1, math.ceil(n * min_time / max(dt, 1e-4) * 1.1))


def rates(work, n: int, repeats: int) -> list[float]:
    """Networks per second of ``work(n)``, once per repeat."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work(n)
        out.append(n / (time.perf_counter() - t0))
    return out


def compare(works: dict, budget: Budget) -> dict[str, list[float]]:
    """Networks per second of each ``work(n)``, with the repeats interleaved.

    Round-robin (A, B, A, B, ...) rather than all of A then all of B: on a
    shared machine the load drifts, and interleaving lets it hit every
    contender alike, so the ratios of medians stay fair.
    """
    counts = {name: autorange(work, budget.min_time) for name, work in works.items()}
    out = {name: [] for name in works}
    for _ in range(budget.repeats):
        for name, work in works.items():
            out[name] += rates(work, counts[name], 1)
    return out


def cfg_for(method: str, width: int, stats: tuple[str, ...] = (), seed: int = 0) -> SweepConfig:
    return SweepConfig(depth=DEPTH, widths=(width,), method=method, stats=stats, seed=seed)


def task_work(cfg: SweepConfig, width: int):
    """``work(n)``: trace n networks of one cell with ``run_task``, the unit a dask worker runs."""
    columns = sweep_inputs(cfg, DIM).columns("joint" in cfg.stats)
    return lambda n: run_task(cfg, Task(DIM, width, 0, n), columns)


def header(args) -> dict:
    """Where and when the numbers were taken: only then can two runs be compared."""
    try:
        rev = subprocess.run(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    blas = [f"{i['internal_api']} {i.get('version')}" for i in threadpool_info() if i["user_api"] == "blas"]
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "processor": platform.processor() or "(empty)",
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "blas": ", ".join(blas) or "unknown",
        "ntkpaths": f"{ntkpaths.__version__} (git {rev})",
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "mode": "quick" if args.quick else "full",
    }
    print("ntkpaths speed benchmark")
    for k, v in info.items():
        print(f"  {k:13s} {v}")
    return info


# ---------------------------------------------------------------- 1. time to precision

def ntk_to_precision(method: str, seed: int, rel_se: float, nets_per_task: int) -> dict:
    """One precision-targeted sweep, in this process (the baseline is single-process too)."""
    computed = {"n": 0}  # networks actually traced, including those past the stopping point

    def progress(done, total):
        computed["n"] = done

    cfg = SweepConfig(depth=DEPTH, widths=(WIDTH,), input_dims=(DIM,), rel_se=rel_se, method=method,
                      stats=(), seed=seed, nets_per_task=nets_per_task)
    t0 = time.perf_counter()
    ds = run_sweep(cfg, scheduler="synchronous", progress=progress)
    wall = time.perf_counter() - t0
    cell = ds.sel(width=WIDTH, depth=DEPTH).squeeze()
    p, se, n = float(cell.p_active), float(cell.p_active_se), int(cell.n_networks)
    return {"seconds": wall, "n_networks": n, "computed": computed["n"], "rel_se": se / p}


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_naive(naive: Path, rel_se: float, seconds: float, pin: bool) -> dict:
    """One run of the naive baseline script; its JSON line."""
    cmd = [sys.executable, str(naive), "--width", str(WIDTH), "--depth", str(DEPTH),
           "--input-dim", str(DIM), "--rel-se", str(rel_se), "--max-seconds", str(seconds)]
    env = {**os.environ, **(ONE_THREAD if pin else {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def naive_to_precision(budget: Budget, rel_se: float, naive: Path) -> dict:
    """Run the naive baseline for a bounded time and extrapolate to ``rel_se``.

    Its se falls as sigma/sqrt(n), sigma = se*sqrt(n) the per-network spread,
    so it needs (sigma/estimate/rel_se)^2 networks at its measured rate.

    It runs with BLAS pinned to one thread, like ntkpaths' run_task: unpinned,
    OpenBLAS spreads each small matrix-vector product over both cores and,
    on a loaded 2-core machine, spends more time waiting than computing
    (2-4x slower), which would flatter ntkpaths. The unpinned, as-shipped
    rate is measured too (shorter run, same per-network variance) and shown.
    """
    out = run_naive(naive, rel_se, budget.naive_seconds, pin=True)
    shipped = run_naive(naive, rel_se, budget.naive_seconds / 4, pin=False)
    rel_per_net = out["se"] * math.sqrt(out["nets"]) / out["estimate"]
    need = (rel_per_net / rel_se) ** 2
    return {**out, "rel_per_net": rel_per_net, "nets_needed": need,
            "seconds_needed": need / out["nets_per_second"],
            "reached": out["se"] / out["estimate"] <= rel_se,
            "unpinned_nets_per_second": shipped["nets_per_second"]}


def naive_rel_sd_theory(paths: int) -> float:
    """Exact per-network relative sd of the naive estimator, to check its extrapolation.

    One network's value is the mean of ``paths`` Bernoulli(F) draws, F the
    exact active fraction for its input: Var = E[F(1-F)]/paths + Var F, with
    E F = 2^-H and Var F = ((1 + 1/n)/4)^H - 4^-H (see README).
    """
    p = 2.0 ** -DEPTH
    var_f = ((1 + 1 / WIDTH) / 4) ** DEPTH - 4.0 ** -DEPTH
    return math.sqrt((p - var_f - p * p) / paths + var_f) / p


def section_precision(budget: Budget, args) -> dict:
    rel = args.rel_se
    res = {}
    for method, reps in (("implicit", budget.repeats), ("explicit", budget.precision_repeats)):
        # Different seeds: the network count needed is itself random, so the median
        # over seeds is the typical time to precision, not one lucky draw.
        res[method] = [ntk_to_precision(method, args.seed + i, rel, args.nets_per_task) for i in range(reps)]
    naive = naive_to_precision(budget, rel, args.naive)
    t_naive = naive["seconds_needed"]
    theory = naive_rel_sd_theory(naive["paths_per_net"])
    t_theory = (theory / rel) ** 2 / naive["nets_per_second"]
    rows, summary = [], {"naive": naive, "naive_theory_seconds": t_theory}
    for method, runs in res.items():
        sec = statistics.median(r["seconds"] for r in runs)
        n = statistics.median(r["n_networks"] for r in runs)
        computed = statistics.median(r["computed"] for r in runs)
        rel_per_net = statistics.median(r["rel_se"] * math.sqrt(r["n_networks"]) for r in runs)
        achieved = max(r["rel_se"] for r in runs)
        ratio = t_naive / sec
        summary[method] = {"runs": runs, "median_seconds": sec, "ratio": ratio}
        rows.append([f"ntkpaths {method}", f"{sec:.3g}", f"{n:g} ({computed:g})", f"{achieved:.4f}",
                     f"{rel_per_net:.3f}", f"{computed / sec:.3g}", f"{ratio:,.0f}x", verdict(ratio >= 1000)])
    rows.append(["naive sampled paths", f"{t_naive:.3g} (extrap.)", f"{naive['nets_needed']:.0f} (ran {naive['nets']})",
                 f"{naive['se'] / naive['estimate']:.4f} (after {naive['seconds']:.0f} s)",
                 f"{naive['rel_per_net']:.3f}", f"{naive['nets_per_second']:.3g}", "1x", ""])
    unpinned = naive["nets_needed"] / naive["unpinned_nets_per_second"]
    rows.append(["naive, BLAS unpinned", f"{unpinned:.3g} (extrap.)", "same", "", "same",
                 f"{naive['unpinned_nets_per_second']:.3g}", f"{unpinned / t_naive:.2f}x", "(not used)"])
    theory_ratios = ", ".join(f"{m} {t_theory / summary[m]['median_seconds']:,.0f}x" for m in res)
    table(f"1. Time to {rel:.0%} relative se of P(path active), depth {DEPTH}, width {WIDTH}, input dim {DIM}",
          ["estimator", "seconds", "networks (traced)", "rel se reached", "rel sd/net", "nets/s",
           "naive/this", "target >=1000x"], rows,
          [f"ntkpaths: run_sweep(..., scheduler='synchronous'), stats=(), nets_per_task={args.nets_per_task}; "
           f"median over {budget.repeats} (implicit) / {budget.precision_repeats} (explicit) seeds; "
           "'networks' is n_networks kept, '(traced)' includes blocks past the stopping point.",
           f"naive time is EXTRAPOLATED, not measured: it ran {naive['seconds']:.0f} s ({naive['nets']} networks) "
           f"and its time to {rel:.0%} is (rel sd/net / {rel})^2 / (nets/s) from that run's per-network "
           "variance and rate" + (" (it did reach the target)" if naive["reached"] else "") + ".",
           f"check: the exact rel sd/net of the naive estimator is {theory:.3f}, which at its measured rate "
           f"gives {t_theory:.3g} s (ratios {theory_ratios}).",
           "the naive baseline runs with OPENBLAS/OMP/MKL_NUM_THREADS=1, as ntkpaths pins BLAS to one thread; "
           "the 'unpinned' row is the script as shipped (ratios use the pinned, faster one).",
           "ratio = (rel sd/net ratio)^2 [variance per network: all paths x 8 inputs vs 1000 sampled paths x 1 input]"
           " x (nets/s ratio) [cost per network]."])
    return summary


# ---------------------------------------------------------------- 2. hardware floor

NORMALS_SHAPES = [(WIDTH, DIM)] + [(WIDTH, WIDTH)] * (DEPTH - 1)  # what one explicit network draws


def draw_work(bitgen, matmul: bool = False):
    """``work(n)``: draw n networks' worth of float32 normals into preallocated arrays.

    ``out=`` skips allocation and page faults, so this is the fastest numpy
    can produce the weights: the floor for any sampler that draws them all.
    With ``matmul`` it also multiplies each matrix by an (fan_in, 8) block on
    one BLAS thread, the other unavoidable cost of the explicit sampler.
    """
    rng = np.random.Generator(bitgen(12345))
    bufs = [np.empty(s, dtype=np.float32) for s in NORMALS_SHAPES]
    hs = [np.ones((s[1], 8), dtype=np.float32) for s in NORMALS_SHAPES]

    def work(n):
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(n):
                for b, h in zip(bufs, hs):
                    rng.standard_normal(dtype=np.float32, out=b)
                    if matmul:
                        b @ h
    return work


def section_floor(budget: Budget) -> dict:
    floors = compare({
        "ntkpaths": task_work(cfg_for("explicit", WIDTH), WIDTH),
        "PCG64 normals (floor)": draw_work(np.random.PCG64),
        "PCG64 normals + sgemm": draw_work(np.random.PCG64, matmul=True),
        "PCG64DXSM normals": draw_work(np.random.PCG64DXSM),
        "SFC64 normals": draw_work(np.random.SFC64),
    }, budget)
    ntk = floors.pop("ntkpaths")
    floor = statistics.median(floors["PCG64 normals (floor)"])
    ratio = floor / statistics.median(ntk)
    rows = [["ntkpaths run_task explicit", fmt_rate(ntk), f"{ratio:.2f}x", verdict(ratio <= 1.3)]]
    rows += [[name, fmt_rate(r), f"{floor / statistics.median(r):.2f}x", ""] for name, r in floors.items()]
    n_normals = sum(a * b for a, b in NORMALS_SHAPES)
    table(f"2. Explicit sampler against the hardware floor, width {WIDTH}, depth {DEPTH}, 8 inputs, stats=()",
          ["what", "nets/s median (min-max)", "time vs floor", "target <=1.3x"], rows,
          [f"floor: default_rng-style Generator(PCG64).standard_normal(dtype=float32, out=preallocated), "
           f"{n_normals:,} normals per network; PCG64 is what default_rng (and the package) uses.",
           "PCG64DXSM/SFC64 rows show what another bit generator would buy (it would change every result).",
           f"median of {budget.repeats} interleaved repeats, each >= {budget.min_time} s."])
    return {"ntkpaths": ntk, **floors, "ratio": ratio}


# ---------------------------------------------------------------- 3. implicit vs explicit

def section_methods(budget: Budget) -> dict:
    rows, out = [], {}
    for width in budget.widths:
        r = compare({m: task_work(cfg_for(m, width), width) for m in ("explicit", "implicit")}, budget)
        speedup = statistics.median(r["implicit"]) / statistics.median(r["explicit"])
        rows.append([width, fmt_rate(r["explicit"]), fmt_rate(r["implicit"]), f"{speedup:,.0f}x"])
        out[width] = {**r, "speedup": speedup}
    table(f"3. Implicit against explicit sampler, depth {DEPTH}, 8 inputs, stats=() (run_task, one process)",
          ["width", "explicit nets/s", "implicit nets/s", "implicit/explicit"], rows,
          ["explicit costs O(n^2) per layer (every weight), implicit O(n B^2) (B = 8 inputs): "
           "the speed-up should grow about linearly with width."])
    return out


# ---------------------------------------------------------------- 4. edge statistics

def section_stats(budget: Budget) -> dict:
    r = compare({"paths": task_work(cfg_for("explicit", WIDTH, ()), WIDTH),
                 "all": task_work(cfg_for("explicit", WIDTH, ALL_STATS), WIDTH)}, budget)
    paths, full = r["paths"], r["all"]
    ratio = statistics.median(paths) / statistics.median(full)
    table(f"4. Edge-statistics overhead, explicit, width {WIDTH}, depth {DEPTH}",
          ["stats", "nets/s median (min-max)", "time vs paths only", "target <=2x"],
          [["() paths only", fmt_rate(paths), "1.00x", ""],
           [", ".join(ALL_STATS), fmt_rate(full), f"{ratio:.2f}x", verdict(ratio <= 2.0)]],
          ["the defaults (weights, inputs, joint) bin every edge of every layer for 8 inputs."])
    return {"paths": paths, "all": full, "ratio": ratio}


# ---------------------------------------------------------------- 5. memory of a huge implicit cell

BIG = 131072


def _proc_status(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (Linux), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_child(stats: tuple[str, ...], nets: int, repeats: int) -> None:
    """Child-process body: trace a width-131072 implicit cell, print peak RSS and speed as JSON.

    A fresh process, so its peak is this cell's alone. Importing xarray and
    dask leaves a high-water mark of its own, so on Linux the mark is reset
    (``echo 5 > /proc/self/clear_refs``) once the inputs are built; then
    VmHWM - VmRSS(before) is the task's own share. Elsewhere ru_maxrss is
    used and the share may read low.
    """
    cfg = SweepConfig(depth=DEPTH, widths=(BIG,), method="implicit", stats=stats, seed=0)
    work = task_work(cfg, BIG)
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base, hwm = _proc_status("VmRSS"), "VmHWM"
    except OSError:
        base, hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, None
    work(1)  # warm-up
    r = rates(work, nets, repeats)
    peak = _proc_status(hwm) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"base": base, "peak": peak, "rates": r, "estimate": peak_bytes(cfg, BIG, DIM),
                      "process_max": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def section_memory(budget: Budget) -> dict:
    rows, out = [], {}
    for stats in ((), ("joint",)):
        cmd = [sys.executable, __file__, "--rss-child", ",".join(stats) or "-",
               "--rss-nets", str(budget.big_nets), "--rss-repeats", str(budget.repeats)]
        res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        mib = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
        rows.append([", ".join(stats) or "() paths only", mib(res["peak"]), mib(res["peak"] - res["base"]),
                     mib(res["estimate"]), f"{res['estimate'] / res['peak']:.2f}", fmt_rate(res["rates"])])
        out[",".join(stats) or "paths"] = res
    table(f"5. Width {BIG} implicit cell (depth {DEPTH}, 8 inputs), one subprocess per row",
          ["stats", "peak RSS MiB", "of which task MiB", "peak_bytes MiB", "estimate/peak", "nets/s median (min-max)"],
          rows,
          ["peak RSS = the child's VmHWM over the task (whole process, mark reset after imports and inputs); "
           "'task' = that peak minus the RSS just before.",
           "peak_bytes is what check_memory compares with free memory: estimate/peak >= 1 means the guard is safe.",
           f"{budget.big_nets} networks per repeat, median of {budget.repeats} repeats."])
    return out


# ---------------------------------------------------------------- profiling

def profile(args) -> None:
    """cProfile the code behind targets 1, 2 and 4; top functions by own time."""
    cases = {
        "implicit time-to-precision sweep": lambda: ntk_to_precision("implicit", args.seed, args.rel_se,
                                                                     args.nets_per_task),
        "explicit time-to-precision sweep": lambda: ntk_to_precision("explicit", args.seed, args.rel_se,
                                                                     args.nets_per_task),
        "explicit run_task, stats=()": lambda: task_work(cfg_for("explicit", WIDTH), WIDTH)(4),
        f"explicit run_task, stats={ALL_STATS}": lambda: task_work(cfg_for("explicit", WIDTH, ALL_STATS), WIDTH)(4),
    }
    for name, fn in cases.items():
        print(f"\nprofile: {name}")
        prof = cProfile.Profile()
        prof.runcall(fn)
        pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(10)


# ---------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode: fewer repeats and widths, under a minute")
    ap.add_argument("--only", type=lambda s: {int(x) for x in s.split(",")}, default={1, 2, 3, 4, 5},
                    help="comma-separated sections to run, e.g. 2,4 (default: all)")
    ap.add_argument("--rel-se", type=float, default=0.01, help="precision target of section 1 (default 0.01)")
    ap.add_argument("--nets-per-task", type=int, default=16,
                    help="block size of the section-1 sweeps; small blocks overshoot the stopping point less")
    ap.add_argument("--seed", type=int, default=0, help="first seed of the section-1 sweeps")
    ap.add_argument("--naive", type=Path, default=NAIVE, help="the naive baseline script")
    ap.add_argument("--json", type=Path, help="also write every measurement to this JSON file")
    ap.add_argument("--profile", action="store_true", help="cProfile the explicit code paths after the tables")
    # Internal: section 5 re-runs this script as a child so its peak RSS is measured alone.
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--rss-nets", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--rss-repeats", type=int, default=3, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.rss_child is not None:
        stats = () if args.rss_child == "-" else tuple(args.rss_child.split(","))
        return rss_child(stats, args.rss_nets, args.rss_repeats)
    budget = QUICK if args.quick else FULL
    started = time.perf_counter()
    results = {"header": header(args), "budget": budget.__dict__}
    sections = {1: ("precision", lambda: section_precision(budget, args)),
                2: ("floor", lambda: section_floor(budget)),
                3: ("methods", lambda: section_methods(budget)),
                4: ("stats", lambda: section_stats(budget)),
                5: ("memory", lambda: section_memory(budget))}
    for key in sorted(args.only):
        name, run = sections[key]
        results[name] = run()
    if args.profile:
        profile(args)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s; "
          f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
