"""Mutation check: inject realistic one-line bugs, one at a time, and see whether the tests catch them.

Each mutant is a small textual patch (an exact anchor and its replacement) to one module. For each,
the package and tests are copied to a temporary folder, the patch is applied there (never to the
working tree), and the test files relevant to that code run with ``-x``. A mutant is *caught* when
pytest reports a failing test, *missed* when every test passes. A patch whose anchor is not found
exactly once stops the run with "patch does not apply": the code moved, and the mutant must be
rewritten, not silently skipped.

Usage::

    python tools/mutate.py                 # every mutant, after a clean baseline run
    python tools/mutate.py --only bonferroni_dropped --no-baseline
    python tools/mutate.py --list

Exit status: 0 when every mutant is caught, 1 when one is missed or errors, 2 when a patch does
not apply or the baseline fails.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    path: str
    anchor: str
    replacement: str
    tests: tuple[str, ...]


MUTANTS = (
    # --- the six the suite let through or caught only narrowly (issue 18, items 27-29 and the three below)
    Mutant("batched_fan_out_scale", "batched implicit sampler scales by fan-out instead of fan-in",
           "ntkpaths/sample.py", "        std = cfg.weight_std(h.shape[1], n)\n",
           "        std = cfg.weight_std(n, h.shape[1])\n", ("tests/test_implicit_scales.py", "tests/test_implicit.py")),
    Mutant("train_seed_without_width", "training run seeds ignore the width",
           "ntkpaths/training/grid.py", "RUNS_KEY, run.depth, run.width, run.run)", "RUNS_KEY, run.depth, run.run)",
           ("tests/test_seed_keys.py", "tests/test_train_grid.py")),
    Mutant("bonferroni_dropped", "Theorem-1 verdict without the Bonferroni correction",
           "ntkpaths/verdict.py", "    crit = z_critical(alpha, m)\n    absz = abs(z)",
           "    crit = z_critical(alpha, 1)\n    absz = abs(z)", ("tests/test_bonferroni.py", "tests/test_study.py")),
    Mutant("delta_se_without_covariance", "delta-method se drops the numerator-denominator covariance",
           "ntkpaths/aggregate.py", "    se = np.abs(est) * influence.std(NET, ddof=1) / np.sqrt(n)\n",
           "    se = np.abs(est) * np.sqrt(sum((x / m).var(NET, ddof=1) for x, m in "
           "zip(nums + dens, m_num + m_den))) / np.sqrt(n)\n",
           ("tests/test_se_replicates.py", "tests/test_aggregate.py")),
    Mutant("gram_without_one_over_fan_in", "implicit sampler's Gram matrix without its 1/fan_in",
           "ntkpaths/sample.py", "    cov = std**2 * np.matmul(np.swapaxes(h, -1, -2), h)\n",
           "    cov = std**2 * h.shape[-2] * np.matmul(np.swapaxes(h, -1, -2), h)\n",
           ("tests/test_implicit_scales.py", "tests/test_implicit.py")),
    Mutant("arccos_theta_for_pi_minus_theta", "arc-cosine recursion uses theta in place of pi - theta",
           "ntkpaths/theory.py", "+ (np.pi - theta) * rho) / np.pi", "+ theta * rho) / np.pi",
           ("tests/test_theory_closed_forms.py", "tests/test_theory.py")),
    # --- the ten the suite caught
    Mutant("se_over_n", "se of p_active normalised by n instead of sqrt(n)",
           "ntkpaths/aggregate.py", '"p_active_se": per_net.std(NET, ddof=1) / np.sqrt(n),',
           '"p_active_se": per_net.std(NET, ddof=1) / n,', ("tests/test_aggregate.py", "tests/test_se_replicates.py")),
    Mutant("layer_fraction_ge", "a unit at exactly 0 counted as on in the layer fraction",
           "ntkpaths/allpaths.py", "    return np.count_nonzero(z > 0, axis=0) / z.shape[0]\n",
           "    return np.count_nonzero(z >= 0, axis=0) / z.shape[0]\n", ("tests/test_allpaths.py", "tests/test_netstats.py")),
    Mutant("depth_prefix_off_by_one", "depth prefixes shifted by one layer",
           "ntkpaths/allpaths.py", "    return np.cumprod(fractions, axis=0)\n",
           "    return np.concatenate([np.ones_like(fractions[:1]), np.cumprod(fractions, axis=0)[:-1]])\n",
           ("tests/test_allpaths.py", "tests/test_training.py")),
    Mutant("gram_scale_missing", "implicit sampler's covariance without std^2",
           "ntkpaths/sample.py", "    cov = std**2 * np.matmul(np.swapaxes(h, -1, -2), h)\n",
           "    cov = np.matmul(np.swapaxes(h, -1, -2), h)\n", ("tests/test_implicit_scales.py", "tests/test_implicit.py")),
    Mutant("joint_theta_for_pi_minus_theta", "joint activation uses theta_l in place of pi - theta_l",
           "ntkpaths/theory.py", "np.cumprod((np.pi - arccos_angles(angle, depth)) / (2 * np.pi), axis=0)",
           "np.cumprod(arccos_angles(angle, depth) / (2 * np.pi), axis=0)",
           ("tests/test_theory.py", "tests/test_theory_closed_forms.py")),
    Mutant("loss_one_over_n", "training loss 1/N instead of 1/(2N)",
           "ntkpaths/training/model.py", "    return 0.5 * jnp.sum((f - y) ** 2) / x.shape[0]\n",
           "    return jnp.sum((f - y) ** 2) / x.shape[0]\n", ("tests/test_training.py",)),
    Mutant("flips_against_previous_checkpoint", "flips counted against the previous checkpoint, not step 0",
           "ntkpaths/training/measure.py",
           '        out["flip_fraction"] = np.array([np.mean((z > 0) != on) for z, on in zip(zs, self.on0)])\n',
           '        out["flip_fraction"] = np.array([np.mean((z > 0) != on) for z, on in zip(zs, self.on0)])\n'
           '        self.on0 = [z > 0 for z in zs]\n', ("tests/test_training.py",)),
    Mutant("sweep_seed_without_width", "sweep network seeds ignore the width",
           "ntkpaths/tasks.py", "child_seed(root, NETWORKS_KEY, task.input_dim, task.width, net)",
           "child_seed(root, NETWORKS_KEY, task.input_dim, net)", ("tests/test_seed_keys.py", "tests/test_sweep.py")),
    Mutant("rescale_multiplies", "rescaling multiplies the next layer instead of dividing it",
           "ntkpaths/symmetry.py", "    out[layer] /= factors[None, :]\n", "    out[layer] *= factors[None, :]\n",
           ("tests/test_symmetry.py",)),
    Mutant("p_theory_off_by_one", "2^-H computed as 2^-(H+1)",
           "ntkpaths/theory.py", "    return np.exp2(-np.asarray(depth, dtype=float))\n",
           "    return np.exp2(-np.asarray(depth, dtype=float) - 1)\n", ("tests/test_theory.py", "tests/test_aggregate.py")),
)


class PatchError(RuntimeError):
    pass


def apply(mutant: Mutant, root: Path) -> None:
    """Patch ``root / mutant.path`` in place; the anchor must occur exactly once."""
    path = root / mutant.path
    text = path.read_text()
    count = text.count(mutant.anchor)
    if count != 1:
        raise PatchError(f"patch does not apply: {mutant.name}: anchor found {count} times in {mutant.path}:\n"
                         f"{mutant.anchor!r}")
    path.write_text(text.replace(mutant.anchor, mutant.replacement))


def _copy(dest: Path) -> None:
    for name in ("ntkpaths", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for extra in ("docs", "studies", "examples"):
        if (ROOT / extra).exists():
            os.symlink(ROOT / extra, dest / extra)


def run_tests(root: Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    """pytest -x on ``tests`` in ``root`` (which shadows any installed ntkpaths): (code, seconds, last line)."""
    start = time.perf_counter()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=root,
                          env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return proc.returncode, time.perf_counter() - start, lines[-1] if lines else proc.stderr.strip()[-200:]


def _imports_copy(root: Path) -> bool:
    out = subprocess.run([sys.executable, "-c", "import ntkpaths; print(ntkpaths.__file__)"], cwd=root,
                         capture_output=True, text=True).stdout
    return out.strip().startswith(str(root))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the clean run of the test files")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--tests", nargs="+", default=None,
                        help="run these test files for every chosen mutant instead of each one's own")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only is None or m.name in args.only]
    if args.tests:
        chosen = [dataclasses.replace(m, tests=tuple(args.tests)) for m in chosen]
    if args.list or not chosen:
        for m in MUTANTS:
            print(f"{m.name:36s} {m.path:28s} {m.what}")
        return 0 if args.list else 2
    with tempfile.TemporaryDirectory(prefix="ntkpaths-mutate-") as tmp:
        clean = Path(tmp) / "clean"
        _copy(clean)
        for m in chosen:  # every anchor is checked before any test runs
            try:
                apply(m, _scratch(clean, Path(tmp) / "check", m))
            except PatchError as exc:
                print(exc, file=sys.stderr)
                return 2
        if not _imports_copy(clean):
            print("the copy's ntkpaths is not the one imported; run from a plain checkout", file=sys.stderr)
            return 2
        if not args.no_baseline:
            files = tuple(sorted({t for m in chosen for t in m.tests}))
            print(f"baseline: {' '.join(files)}", flush=True)
            code, seconds, last = run_tests(clean, files)
            print(f"  {last} ({seconds:.0f} s)", flush=True)
            if code != 0:
                print("the unmutated tests fail; nothing to compare against", file=sys.stderr)
                return 2
        rows = []
        for m in chosen:
            work = Path(tmp) / m.name
            shutil.copytree(clean, work, symlinks=True)
            apply(m, work)
            code, seconds, last = run_tests(work, m.tests)
            verdict = {0: "MISSED", 1: "caught"}.get(code, f"error (pytest exit {code})")
            rows.append((m, verdict, seconds))
            print(f"{m.name:36s} {verdict:8s} {seconds:6.1f} s  {last}", flush=True)
            shutil.rmtree(work)
    _table(rows)
    return 0 if all(v == "caught" for _, v, _ in rows) else 1


def _scratch(clean: Path, scratch: Path, mutant: Mutant) -> Path:
    """A throwaway copy of the one file a mutant patches, to check that its anchor applies."""
    target = scratch / mutant.name / mutant.path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(clean / mutant.path, target)
    return scratch / mutant.name


def _table(rows) -> None:
    print("\n| mutant | what | test files | result | seconds |\n|---|---|---|---|---|")
    for m, verdict, seconds in rows:
        files = ", ".join(Path(t).name for t in m.tests)
        print(f"| `{m.name}` | {m.what} | {files} | {verdict} | {seconds:.0f} |")
    caught = sum(v == "caught" for _, v, _ in rows)
    print(f"\n{caught} of {len(rows)} mutants caught")


if __name__ == "__main__":
    sys.exit(main())
