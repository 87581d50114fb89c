#!/usr/bin/env python
"""The published census of Safran, Yehudai & Shamir (COLT 2021), read from its data file.

    PYTHONPATH=. python tools/safran_reference.py "Processed minima.zip"   # the table, k = 6..20
    python tools/safran_reference.py "Processed minima.zip" --k 6 30     # more teachers
    python tools/safran_reference.py "Processed minima.zip" --python     # PUBLISHED for reference.py

The zip is the file ``Processed minima.zip`` of https://github.com/ItaySafran/Overparameterization
(added in commit c6b118a0ec9c5e066a8276db57042877a99811dd); this script reads a local copy and never
downloads. For each n = k it prints the runs, the runs that ended at a spurious minimum, and each
spurious family: its multiplicity, block sizes p, the published smallest Hessian eigenvalue, and --
from the point rebuilt out of its compact form -- our closed-form loss, gradient norm and smallest
Hessian eigenvalue (which must match theirs for the rebuilt point to be theirs).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ntkpaths.minima import reference


def family_check(k: int, family: reference.Family) -> tuple[float, float, float]:
    """Our loss, gradient norm and smallest Hessian eigenvalue at the rebuilt published point."""
    from ntkpaths.jaxsetup import jax, jnp
    from ntkpaths.minima import problems, teacher

    w = reference.expand(family.vals, family.p)
    with jax.enable_x64(True):
        loss, grad = teacher.loss_and_gradient(jnp.asarray(w), jnp.asarray(teacher.teacher(k)))
    smallest = float(np.linalg.eigvalsh(problems.teacher_hessian(w.reshape(-1), k))[0])
    return float(loss), float(np.linalg.norm(np.asarray(grad))), smallest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="a local copy of 'Processed minima.zip'")
    parser.add_argument("--k", type=int, nargs=2, default=(6, 20), metavar=("FIRST", "LAST"))
    parser.add_argument("--python", action="store_true", help="print the PUBLISHED dict for ntkpaths.minima.reference")
    parser.add_argument("--no-check", action="store_true", help="skip rebuilding each family and computing our loss")
    args = parser.parse_args(argv)
    if not args.zip.is_file():
        print(f"error: {args.zip} is not a file (give a local copy of 'Processed minima.zip')", file=sys.stderr)
        return 2
    try:
        census = {k: reference.read_published(args.zip, k) for k in range(args.k[0], args.k[1] + 1)}
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: cannot read {args.zip}: {exc}", file=sys.stderr)
        return 2
    if args.python:
        print("PUBLISHED: dict[tuple[int, int], tuple[int, int]] = {")
        for k, families in census.items():
            runs, spurious = reference.counts(families, k)
            print(f"    ({k}, 0): ({spurious}, {runs}),")
        print("}")
        return 0
    print("k   runs  spurious  family: multiplicity  p  min_eig (theirs)  | ours: loss  |grad|  min_eig")
    for k, families in census.items():
        runs, spurious = reference.counts(families, k)
        print(f"{k:<3} {runs:>4}  {spurious:>8}  ({100 * spurious / runs:.1f}%)")
        for fam in sorted(families, key=lambda f: -f.multiplicity):
            if fam.is_global(k):
                continue
            ours = "" if args.no_check else "  | {:.6f}  {:.1e}  {:.6f}".format(*family_check(k, fam))
            print(f"{'':17}{fam.multiplicity:>5}  {[int(b) for b in fam.p]}  {fam.min_eig:.6f}{ours}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
