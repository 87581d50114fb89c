#!/usr/bin/env python
"""Accelerator benchmark for ntkpaths.accel, every measurement taken in one run on one device.

    python benchmarks/bench_gpu.py              # on a GPU: widths 1024, 4096, 16384; a few minutes
    python benchmarks/bench_gpu.py --quick      # smoke run with small sizes (works on JAX's CPU backend)
    python benchmarks/bench_gpu.py --json out.json

Sections:

1. the device's normal-generation floor: ``jax.random.normal`` with the
   threefry, rbg and unsafe_rbg implementations, and ``torch.randn`` when torch
   is importable (the floor is the fastest of these); ntkpaths.accel's own
   draws (Philox / Threefry words, Box-Muller) for comparison;
2. networks/s of ``accel.run_block`` at each width, depth 8, d = 64, 8 inputs,
   paths only and all statistics, against the floor turned into networks/s
   (normals per network = n d + (H - 1) n^2) and against numpy's ``tasks.run_task``
   on one CPU core; targets: paths >= 50% of the floor, all statistics >= 25%;
3. the two hashes (philox, threefry) side by side at the first width;
4. time to 0.1% relative se of P(path active) at depth 8: (per-network relative
   sd / 0.001)^2 networks at the measured rate, for paths only and the default
   statistics, on the device and with numpy;
5. reproducibility on this device: a block traced with batch 1, 3 and the
   automatic batch must be bit-identical.

Only ratios measured in the same run are comparable. Run by hand, never in CI.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import fmt_rate, table, verdict  # noqa: E402  (same folder, shared table helpers)

import ntkpaths  # noqa: E402
from ntkpaths import accel, tasks  # noqa: E402
from ntkpaths.accel import memory, sample as asample, trace as atrace  # noqa: E402
from ntkpaths.config import STATS, SweepConfig  # noqa: E402
from ntkpaths.jaxsetup import jax, jnp  # noqa: E402

DEPTH, DIM, INPUTS = 8, 64, 8
ALL = ("weights", "inputs", "joint")


@dataclass(frozen=True)
class Budget:
    widths: tuple[int, ...]
    numpy_widths: tuple[int, ...]   # numpy's run_task is timed only where a few networks take seconds
    repeats: int
    min_time: float                 # each timed repeat runs at least this long
    normals: int                    # normals per floor measurement
    precision_nets: int             # networks whose spread gives the time to 0.1%


FULL = Budget((1024, 4096, 16384), (1024, 4096), 5, 1.0, 1 << 28, 4000)
QUICK = Budget((64, 256), (64, 256), 3, 0.2, 1 << 22, 300)


# ---------------------------------------------------------------- timing helpers
def timed(fn) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def per_second(fn, count: int, budget: Budget, repeats: int | None = None) -> list[float]:
    """``count / seconds`` of ``fn()``, once per repeat, after a warm-up call (which compiles);
    each repeat makes enough calls to last ``budget.min_time``."""
    timed(fn)
    calls = max(1, math.ceil(budget.min_time / max(timed(fn), 1e-6)))
    return [calls * count / sum(timed(fn) for _ in range(calls)) for _ in range(repeats or budget.repeats)]


def cfg_for(stats, width: int, seed: int = 0) -> SweepConfig:
    return SweepConfig(depth=DEPTH, widths=(width,), input_dims=(DIM,), stats=stats, seed=seed, method="explicit")


def block_work(stats, width: int, prng: str | None = None, batch: int | None = None, nets: int | None = None):
    """A call tracing ``nets`` networks of one cell on the device (default: one batch); returns (fn, networks, batch).

    Keys come from ``accel.child_keys`` (the SeedSequence children, ~0.2 us each), so host-side seeding
    stays out of the timing as it would with a vectorised caller.
    """
    cfg = cfg_for(stats, width)
    columns = tasks.sweep_inputs(cfg, DIM).columns("joint" in stats)
    batch = batch or memory.pick_batch(cfg, width, DIM)
    nets = nets or batch
    keys = accel.child_keys(np.random.SeedSequence(cfg.seed), (tasks.NETWORKS_KEY, DIM, width), range(nets))
    return (lambda: accel.run_block(cfg, width, columns, keys, batch=batch, prng=prng)), nets, batch


def numpy_work(stats, width: int, nets: int = 1):
    cfg = cfg_for(stats, width)
    columns = tasks.sweep_inputs(cfg, DIM).columns("joint" in stats)
    return lambda: tasks.run_task(cfg, tasks.Task(DIM, width, 0, nets), columns)


def normals_per_network(width: int) -> int:
    return width * DIM + (DEPTH - 1) * width * width


# ---------------------------------------------------------------- 1. floor
def _jax_normal(impl: str, n: int):
    key = jax.random.key(0, impl=impl)
    fn = jax.jit(lambda k: jax.random.normal(k, (n,), jnp.float32))
    return lambda: fn(key)


def _own_draw(prng: str, n: int):
    side = int(math.isqrt(n))
    key = jnp.asarray([1, 2], jnp.uint32)
    fn = jax.jit(lambda k: asample.draw(k, 0, (side, side), "normal", prng))
    return lambda: fn(key)


def _torch_normal(n: int):
    try:
        import torch
    except ImportError:
        return None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = torch.empty(n, device=device)

    def fn():
        out.normal_()
        if device == "cuda":
            torch.cuda.synchronize()
    return fn


def section_floor(budget: Budget) -> dict:
    n = budget.normals
    refs = {f"jax.random.normal {impl}": _jax_normal(impl, n) for impl in ("threefry2x32", "rbg", "unsafe_rbg")}
    torch_fn = _torch_normal(n)
    if torch_fn is not None:
        refs["torch.randn (Philox, Box-Muller)"] = torch_fn
    own = {f"accel draw {p} (all words, Box-Muller)": _own_draw(p, n) for p in asample.PRNGS}
    rates = {name: per_second(fn, n, budget) for name, fn in {**refs, **own}.items()}
    floor_name = max(refs, key=lambda k: statistics.median(rates[k]))
    floor = statistics.median(rates[floor_name])
    rows = [[name, f"{statistics.median(r) / 1e9:.3g}", f"{statistics.median(r) / floor:.2f}",
             "floor" if name == floor_name else ("reference" if name in refs else "ntkpaths.accel")]
            for name, r in rates.items()]
    table("1. Normal-generation floor (float32 normals into device memory)",
          ["generator", "G normals/s", "vs floor", "role"], rows,
          [f"{n:,} normals per call; the floor is the fastest reference generator"
           + ("" if torch_fn else " (torch not importable: no torch row)") + ".",
           "jax.random's rbg/unsafe_rbg are not per-key exact under vmap, so accel cannot use them."])
    return {"rates": rates, "floor": floor, "floor_name": floor_name}


# ---------------------------------------------------------------- 2. throughput
def section_throughput(budget: Budget, floor: float, prng: str | None) -> dict:
    rows, out = [], {}
    for width in budget.widths:
        floor_nets = floor / normals_per_network(width)
        numpy_rate = None
        if width in budget.numpy_widths:
            numpy_rate = statistics.median(per_second(numpy_work((), width), 1, budget, repeats=1))
        for stats, target in (((), 0.5), (ALL, 0.25)):
            fn, nets, batch = block_work(stats, width, prng)
            rates = per_second(fn, nets, budget)
            ratio = statistics.median(rates) / floor_nets
            speedup = f"{statistics.median(rates) / numpy_rate:,.3g}x" if numpy_rate and not stats else ""
            rows.append([width, ", ".join(stats) or "paths", batch, fmt_rate(rates), f"{floor_nets:.3g}",
                         f"{ratio:.0%}", f">={target:.0%} {verdict(ratio >= target)}",
                         f"{numpy_rate:.3g}" if numpy_rate and not stats else "", speedup])
            out[f"{width}/{','.join(stats) or 'paths'}"] = {"rates": rates, "ratio": ratio, "batch": batch}
        out[f"{width}/numpy"] = numpy_rate
    table(f"2. accel.run_block throughput, depth {DEPTH}, d = {DIM}, {INPUTS} inputs",
          ["width", "stats", "batch", "nets/s median (min-max)", "floor nets/s", "of floor", "target",
           "numpy nets/s", "accel/numpy"], rows,
          ["floor nets/s = floor normals/s / (n d + (H - 1) n^2): drawing the weights and nothing else.",
           "numpy = tasks.run_task, explicit, paths only, on one CPU core of this machine.",
           f"hash: {prng or asample.default_prng()}; 'all' = {', '.join(ALL)}."])
    return out


# ---------------------------------------------------------------- 3. hashes
def section_prngs(budget: Budget) -> dict:
    width, rows, out = budget.widths[0], [], {}
    for stats in ((), ALL):
        r = {}
        for prng in asample.PRNGS:
            fn, nets, _ = block_work(stats, width, prng)
            r[prng] = per_second(fn, nets, budget)
        out[", ".join(stats) or "paths"] = r
        rows.append([", ".join(stats) or "paths", *(fmt_rate(r[p]) for p in asample.PRNGS),
                     f"{statistics.median(r['philox']) / statistics.median(r['threefry']):.2f}"])
    table(f"3. Hashes side by side, width {width}", ["stats", *(f"{p} nets/s" for p in asample.PRNGS),
                                                     "philox/threefry"], rows)
    return out


# ---------------------------------------------------------------- 4. time to precision
def rel_sd_per_network(raw: dict) -> float:
    f = raw["active_fraction"][:, :, -1].mean(axis=1)
    return float(f.std(ddof=1) / f.mean())


def section_precision(budget: Budget, prng: str | None, rel: float = 1e-3) -> dict:
    width = 1024 if 1024 in budget.widths else budget.widths[-1]
    rows, out = [], {}
    for name, stats in (("paths", ()), ("default stats", STATS)):
        fn, nets, batch = block_work(stats, width, prng, nets=budget.precision_nets)
        rate = statistics.median(per_second(fn, nets, budget, repeats=1))
        sd = rel_sd_per_network(fn())
        need = (sd / rel) ** 2
        np_rate = statistics.median(per_second(numpy_work(stats, width), 1, budget, repeats=1))
        rows.append([name, f"{sd:.4f}", f"{need:,.0f}", f"{rate:.3g}", f"{need / rate:.3g}",
                     f"{np_rate:.3g}", f"{need / np_rate:,.0f}", f"{rate / np_rate:,.3g}x"])
        out[name] = {"rel_sd": sd, "networks": need, "rate": rate, "seconds": need / rate, "numpy_rate": np_rate}
    table(f"4. Time to {rel:.1%} relative se of P(path active), width {width}, depth {DEPTH} (extrapolated)",
          ["stats", "rel sd/net", "networks", "accel nets/s", "accel s", "numpy nets/s", "numpy s", "speed-up"],
          rows, [f"rel sd/net from {budget.precision_nets} networks on the device; seconds = networks / rate "
                 "(the whole-CLI time, with writing, comes with the integration).",
                 f"default stats = {', '.join(STATS)}; numpy = tasks.run_task on one CPU core."])
    return out


# ---------------------------------------------------------------- 5. reproducibility
def section_repro(budget: Budget, prng: str | None) -> dict:
    width = budget.widths[0]
    cfg = cfg_for(ALL, width)
    columns = tasks.sweep_inputs(cfg, DIM).columns(True)
    root = np.random.SeedSequence(cfg.seed)
    seeds = [tasks.child_seed(root, tasks.NETWORKS_KEY, DIM, width, k) for k in range(7)]
    runs = {b: accel.run_block(cfg, width, columns, seeds, batch=b, prng=prng) for b in (1, 3, None)}
    same = {name: all(np.array_equal(runs[b][name], runs[None][name]) for b in (1, 3)) for name in runs[None]}
    table(f"5. Bit-identical across batch sizes 1, 3 and automatic (width {width}, 7 networks, all statistics)",
          ["variable", "identical"], [[k, "yes" if v else "NO"] for k, v in same.items()])
    return same


# ---------------------------------------------------------------- main
def header(args) -> dict:
    device = jax.devices()[0]
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "device": f"{device.platform} {getattr(device, 'device_kind', '')}".strip(),
            "devices": len(jax.devices()), "jax": jax.__version__, "ntkpaths": ntkpaths.__version__,
            "python": platform.python_version(), "host": platform.processor() or platform.machine(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "free device memory GiB":
            f"{memory.free_bytes() / 2**30:.1f}", "hash": args.prng or asample.default_prng(),
            "one-hot bins": args.onehot or atrace.onehot_dtype(jax.default_backend()),
            "histogram workspace MiB": memory.workspace_bytes(cfg_for(ALL, 1)) >> 20,
            "mode": "quick" if args.quick else "full"}
    print("ntkpaths accelerator benchmark")
    for k, v in info.items():
        print(f"  {k:24s} {v}")
    if jax.default_backend() == "cpu" and not args.quick:
        print("  (no accelerator: JAX runs on the CPU; use --quick for a smoke run)")
    return info


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (also on a CPU)")
    ap.add_argument("--prng", choices=asample.PRNGS, default=None, help="hash of the weights (default: the device's)")
    ap.add_argument("--workspace-mib", type=int, default=None, help="histogram workspace on the device (tuning)")
    ap.add_argument("--onehot", choices=("bfloat16", "int8", "float32"), default=None,
                    help="dtype of the histogram's one-hot bins (tuning; default bfloat16 on accelerators)")
    ap.add_argument("--only", type=lambda s: {int(x) for x in s.split(",")}, default={1, 2, 3, 4, 5})
    ap.add_argument("--json", type=Path, help="also write every measurement to this JSON file")
    args = ap.parse_args(argv)
    if args.workspace_mib:
        memory.WORKSPACE["other"] = memory.WORKSPACE["cpu"] = args.workspace_mib << 20
    if args.onehot:
        atrace.ONEHOT_DTYPES["other"] = atrace.ONEHOT_DTYPES["cpu"] = args.onehot
    budget = QUICK if args.quick else FULL
    started = time.perf_counter()
    results = {"header": header(args), "budget": budget.__dict__}
    floor = section_floor(budget) if 1 in args.only or 2 in args.only else None
    results["floor"] = floor
    if 2 in args.only:
        results["throughput"] = section_throughput(budget, floor["floor"], args.prng)
    if 3 in args.only:
        results["prngs"] = section_prngs(budget)
    if 4 in args.only:
        results["precision"] = section_precision(budget, args.prng)
    if 5 in args.only:
        results["reproducible"] = section_repro(budget, args.prng)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
