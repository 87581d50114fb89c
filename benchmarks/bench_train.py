#!/usr/bin/env python
"""Training speed against the floor set by the single-thread matmul rate.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_train.py            # about a minute
    PYTHONPATH=. .venv/bin/python benchmarks/bench_train.py --quick    # smoke run
    PYTHONPATH=. .venv/bin/python benchmarks/bench_train.py --width 512 --depth 2 --json train.json

One full-batch gradient step of a bias-free ReLU network (N inputs, d = 64,
k = 10 outputs, as on the digits) is a chain of matmuls: per layer the forward
product, the weight gradient, and (above the first layer) the back-propagated
signal. The script times each of those matmuls alone in JAX, with the step's
shapes and transposes, on XLA's one CPU thread; their summed time is the floor
of one step. It then times the jitted multi-step segment that runs use
(``training.model.descend``), and one checkpoint measurement
(``training.measure.Probe.measure``) in units of training steps.
Target: steps/s within 2x of the floor (ratio <= 2).

Medians over repeats; only numbers from one run are comparable (the machine may be shared).
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
from threadpoolctl import threadpool_limits

from ntkpaths import sample
from ntkpaths.config import NetworkConfig, TrainConfig
from ntkpaths.jaxsetup import jax, jnp
from ntkpaths.training import draw_data, model
from ntkpaths.training.measure import Probe

DIM, OUT = 64, 10


def median_time(fn, repeats: int, inner: int) -> float:
    """Median over ``repeats`` of the seconds per call of ``inner`` back-to-back calls."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner - 1):
            fn()
        jax.block_until_ready(fn())
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def step_matmuls(n: int, dims: list[int]) -> list[tuple[str, tuple, tuple, str]]:
    """(name, lhs shape, rhs shape, einsum) of every matmul in one step, as the step forms them."""
    out = []
    for layer, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
        out.append((f"forward {layer}", (n, fan_in), (fan_out, fan_in), "bi,oi->bo"))
        out.append((f"weight grad {layer}", (n, fan_out), (n, fan_in), "bo,bi->oi"))
        if layer > 1:
            out.append((f"backprop {layer}", (n, fan_out), (fan_out, fan_in), "bo,oi->bi"))
    return out


def floor(n: int, dims: list[int], repeats: int) -> tuple[float, float, list[dict]]:
    """Summed seconds of the step's matmuls, their FLOPs, and per-matmul rows."""
    rng = np.random.default_rng(0)
    rows = []
    for name, a_shape, b_shape, spec in step_matmuls(n, dims):
        a = jnp.asarray(rng.standard_normal(a_shape, dtype=np.float32))
        b = jnp.asarray(rng.standard_normal(b_shape, dtype=np.float32))
        fn = jax.jit(lambda a, b, spec=spec: jnp.einsum(spec, a, b))
        inputs = spec.split("->")[0].split(",")
        sizes = {c: size for names, shape in zip(inputs, (a_shape, b_shape)) for c, size in zip(names, shape)}
        flops = 2.0 * np.prod(list(sizes.values()))
        seconds = median_time(lambda: fn(a, b), repeats, inner=20)
        rows.append({"matmul": name, "flops": flops, "seconds": seconds, "gflops_per_s": flops / seconds / 1e9})
    return sum(r["seconds"] for r in rows), sum(r["flops"] for r in rows), rows


def training_rate(n: int, depth: int, width: int, repeats: int, inner: int) -> tuple[float, float]:
    """Seconds per full-batch step of ``descend``, and seconds per checkpoint measurement."""
    cfg = TrainConfig(n_train=n, n_test=n)
    rng = np.random.default_rng(1)
    data = draw_data(cfg, rng=rng)
    dims = [DIM, *[width] * depth, OUT]
    standard = sample.sample_standard_weights(NetworkConfig(dtype="float64"), dims, rng=rng)
    par = model.parametrisation("ntk", dims, 0.1)
    params0 = model.initial_params(standard, par, "float32")
    probe = Probe(params0, data, par, cfg.ntk_inputs)
    x, y = probe.x_train, jnp.asarray(data.y_train, dtype=jnp.float32)
    lr = jnp.float32(par.lr)
    state = {"p": tuple(jnp.asarray(p) for p in params0)}

    def run():
        state["p"] = model.descend(state["p"], x, y, lr, inner, par.scales)
        return state["p"]

    per_step = median_time(run, repeats, inner=1) / inner
    per_measure = median_time(lambda: probe.measure(state["p"]), max(3, repeats // 2), inner=1)
    return per_step, per_measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--n", type=int, default=256, help="training inputs N (full batch)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    repeats, inner = (3, 5) if args.quick else (9, 20)
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {platform.processor() or platform.machine()}  "
          f"cores {os.cpu_count()}  jax {jax.__version__}  load {os.getloadavg()[0]:.2f}")
    dims = [DIM, *[args.width] * args.depth, OUT]
    with threadpool_limits(limits=1, user_api="blas"):
        floor_s, flops, rows = floor(args.n, dims, repeats)
        step_s, measure_s = training_rate(args.n, args.depth, args.width, repeats, inner)
    for r in rows:
        print(f"  {r['matmul']:<16} {r['flops'] / 1e6:9.1f} MFLOP  {r['seconds'] * 1e3:8.3f} ms  {r['gflops_per_s']:7.1f} GFLOP/s")
    result = {"width": args.width, "depth": args.depth, "n": args.n, "step_gflop": flops / 1e9,
              "matmul_gflops_per_s": flops / floor_s / 1e9, "floor_steps_per_s": 1 / floor_s,
              "steps_per_s": 1 / step_s, "ratio": step_s / floor_s, "measure_in_steps": measure_s / step_s}
    print(f"width {args.width}, depth {args.depth}, N {args.n}: {result['step_gflop']:.2f} GFLOP per step")
    print(f"  matmul rate (float32, one thread, step shapes)  {result['matmul_gflops_per_s']:8.1f} GFLOP/s")
    print(f"  floor                                           {result['floor_steps_per_s']:8.2f} steps/s")
    print(f"  measured (descend, median of {repeats} x {inner} steps) {result['steps_per_s']:8.2f} steps/s")
    print(f"  ratio floor / measured                          {result['ratio']:8.2f}   (target <= 2)")
    print(f"  one checkpoint measurement                      {result['measure_in_steps']:8.2f} training steps")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({**result, "matmuls": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
