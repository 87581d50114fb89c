#!/usr/bin/env python
"""Does the start explain why our n = k spurious fractions are below the published ones?

    PYTHONPATH=. python tools/safran_gaussian_start.py --k 11 16 --runs 500 --seed 99

Runs the gaussian-teacher census at n = k exactly as ``ntkpaths minima`` does (the fused descent, step
5/n, |grad| <= 1e-8, the same certificates) except for the start: W ~ N(0, 1/k), as in Safran, Yehudai &
Shamir's published code, instead of Xavier-uniform (the same variance, a different distribution). Prints
each k's spurious count beside the published one with Fisher's exact p (two-sided). An experiment, not a
census option: it swaps the problem's draw for the length of this process.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import fisher_exact

from ntkpaths import sample
from ntkpaths.minima import problems, reference, run
from ntkpaths.minima import teacher as closed
from ntkpaths.minima.config import MinimaConfig
from ntkpaths.minima.grid import run_seed


def gaussian_draw(k: int, n: int, *, rng: np.random.Generator):
    return sample.sample_gaussian_start(n, k, rng=rng).reshape(-1), closed.teacher(k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[11, 16])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args()
    problems.draw_teacher_run = gaussian_draw  # the one difference from the census (see the docstring)
    print("| k | ours, start N(0, 1/k) | published | Fisher p |")
    print("|---|---|---|---|")
    for k in args.k:
        cfg = MinimaConfig(teachers=(k,), extra=(0,), runs=args.runs, block=args.runs, seed=args.seed)
        started = time.perf_counter()
        out = run.run_block(cfg, (k, 0), [run_seed(cfg, (k, 0), r) for r in range(args.runs)])
        ours = int(np.sum(out["outcome"] == 1))
        theirs, runs = reference.PUBLISHED.get((k, 0), (None, None))
        p = fisher_exact([[ours, args.runs - ours], [theirs, runs - theirs]]).pvalue if theirs is not None else None
        print(f"| {k} | {ours}/{args.runs} = {100 * ours / args.runs:.1f}% | "
              + (f"{theirs}/{runs} = {100 * theirs / runs:.1f}% | {p:.2g} |" if p is not None else "— | — |")
              + f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
