"""Every Python block of the README runs, in order, against small datasets made where its paths point.

A path like ``data/sweep-depth8.zarr`` in a block becomes a small sweep (a path naming ``train``, a
small training grid) in a temporary folder, with the widths and depth the blocks select, so the
snippets run as a reader would paste them.
"""
import importlib.util
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ntkpaths import SweepConfig, run_sweep  # noqa: E402

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)
CODE = "\n".join(BLOCKS)


def _selected(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    found = sorted({int(v) for v in re.findall(rf"\b{name}=(\d+)", CODE)})
    return tuple(found) or default


def _make(path: Path) -> None:
    """A small dataset of the kind the README's path names, holding every width and depth its blocks select."""
    path.parent.mkdir(parents=True, exist_ok=True)
    depths, widths = _selected("depth", (3,)), _selected("width", (16, 64))
    if "train" in path.name:
        from ntkpaths.config import TrainConfig
        from ntkpaths.training import grid

        cfg = TrainConfig(depths=depths, widths=widths, runs=2, steps=6, n_train=16, n_test=8, checkpoints=3, seed=0,
                          data="teacher")
        grid.run_training(cfg, path, scheduler="synchronous")
        return
    depth = max(max(depths), max(_selected("layer", (1,))))
    cfg = SweepConfig(depth=depth, widths=widths, nets=3, seed=0, method="implicit",
                      stats=("weights", "inputs", "joint"))
    run_sweep(cfg, path, scheduler="synchronous")


def _missing(block: str) -> list[str]:
    """Top-level modules a block imports that are not installed."""
    names = re.findall(r"^\s*(?:import|from)\s+(\w+)", block, flags=re.M)
    return [n for n in names if importlib.util.find_spec(n) is None]


def test_only_optional_frameworks_are_skipped():
    assert {n for b in BLOCKS for n in _missing(b)} <= {"torch"}


def test_the_readme_has_python_blocks():
    assert BLOCKS and "ntkpaths.load" in CODE


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    for name in sorted(set(re.findall(r"[\"']([\w./-]+\.zarr)[\"']", CODE))):
        _make(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    try:
        for i, block in enumerate(BLOCKS, 1):
            if _missing(block):  # an optional framework (torch) that the test extra leaves out
                continue
            exec(compile(block, f"README.md, python block {i}", "exec"), namespace)
    finally:
        plt.close("all")
