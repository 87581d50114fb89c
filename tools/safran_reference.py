#!/usr/bin/env python
"""The published census of Safran, Yehudai & Shamir (COLT 2021), read from its data file.

    PYTHONPATH=. python tools/safran_reference.py "Processed minima.zip"   # the table, k = 6..20
    PYTHONPATH=. python tools/safran_reference.py "Processed minima.zip" --k 6 30     # more teachers
    PYTHONPATH=. python tools/safran_reference.py "Processed minima.zip" --python     # PUBLISHED for reference.py

The zip is the file ``Processed minima.zip`` of https://github.com/ItaySafran/Overparameterization
(added in commit c6b118a0ec9c5e066a8276db57042877a99811dd); this script reads a local copy and never
downloads. For each n = k it prints the runs, the runs that ended at a spurious minimum, and each
spurious family: its multiplicity, block sizes p, the published smallest Hessian eigenvalue, and --
from the point rebuilt out of its compact form -- our closed-form loss, gradient norm and smallest
Hessian eigenvalue (which must match theirs for the rebuilt point to be theirs). ``--compare`` reads a
gaussian-teacher census (``ntkpaths minima`` output) and prints, as markdown, our spurious fractions next to
theirs with 95% Clopper-Pearson intervals and Fisher's exact p, and which of our n = k families have a
published family of the same loss.
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


def _percent(x: int, n: int) -> str:
    from ntkpaths.minima.dataset import clopper_pearson

    lo, hi = clopper_pearson(np.array(x), np.array(n))
    return f"{x}/{n} = {100 * x / n:.1f}% [{100 * float(lo):.1f}, {100 * float(hi):.1f}]"


def _families(fams: list[tuple[int, float]]) -> str:
    """The five largest families as 'runs: loss', and how many more."""
    more = f", +{len(fams) - 5} more" if len(fams) > 5 else ""
    return ", ".join(f"{c}: {loss:.4f}" for c, loss in fams[:5]) + more


def compare(path: Path, census: dict[int, list]) -> int:
    """Markdown: our spurious fractions beside the published ones, and our n = k families beside theirs."""
    import xarray as xr
    from scipy.stats import fisher_exact

    ds = xr.open_zarr(path)
    if "teacher" not in ds.dims:
        print(f"error: {path} is not a gaussian-teacher census", file=sys.stderr)
        return 2
    extras = [int(e) for e in ds.extra.values]
    spurious = ds["count"].sel(outcome_class="spurious_minimum")
    print("| k | " + " | ".join(f"n = k{f' + {e}' if e else ''} (ours)" for e in extras)
          + " | n = k, published | Fisher p (n = k) |")
    print("|---" * (len(extras) + 3) + "|")
    for k in (int(k) for k in ds.teacher.values):
        cells = []
        for e in extras:
            runs = int(ds.n_runs.sel(teacher=k, extra=e))
            cells.append(_percent(int(spurious.sel(teacher=k, extra=e)), runs) if runs else "—")
        theirs, p = "—", "—"
        if k in census and 0 in extras and int(ds.n_runs.sel(teacher=k, extra=0)):
            their_runs, their_x = reference.counts(census[k], k)
            ours, runs = int(spurious.sel(teacher=k, extra=0)), int(ds.n_runs.sel(teacher=k, extra=0))
            theirs = _percent(their_x, their_runs)
            p = f"{fisher_exact([[ours, runs - ours], [their_x, their_runs - their_x]]).pvalue:.2g}"
        print(f"| {k} | " + " | ".join(cells) + f" | {theirs} | {p} |")
    if 0 not in extras:
        return 0
    print()
    print("| k | our families at n = k (runs: loss) | published families (runs of 500: loss) | ours matched |")
    print("|---|---|---|---|")
    for k in (int(k) for k in ds.teacher.values):
        if k not in census or not int(ds.n_runs.sel(teacher=k, extra=0)):
            continue
        cell = ds.sel(teacher=k, extra=0)
        ours = sorted(((int(c), float(l)) for c, l in zip(cell.family_count.values, cell.family_loss.values) if c > 0),
                      reverse=True)
        theirs = sorted(((f.multiplicity, family_check(k, f)[0]) for f in census[k] if not f.is_global(k)),
                        reverse=True)
        matched = sum(c for c, l in ours if any(abs(l - t) <= 1e-7 for _, t in theirs))
        print(f"| {k} | {_families(ours) or '—'} | {_families(theirs) or '—'} | "
              f"{matched} of {sum(c for c, _ in ours)} runs |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="a local copy of 'Processed minima.zip'")
    parser.add_argument("--k", type=int, nargs=2, default=(6, 20), metavar=("FIRST", "LAST"))
    parser.add_argument("--python", action="store_true", help="print the PUBLISHED dict for ntkpaths.minima.reference")
    parser.add_argument("--no-check", action="store_true", help="skip rebuilding each family and computing our loss")
    parser.add_argument("--compare", type=Path, default=None, help="a gaussian-teacher census (.zarr) to set beside")
    args = parser.parse_args(argv)
    if not args.zip.is_file():
        print(f"error: {args.zip} is not a file (give a local copy of 'Processed minima.zip')", file=sys.stderr)
        return 2
    try:
        census = {k: reference.read_published(args.zip, k) for k in range(args.k[0], args.k[1] + 1)}
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: cannot read {args.zip}: {exc}", file=sys.stderr)
        return 2
    if args.compare is not None:
        return compare(args.compare, census)
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
