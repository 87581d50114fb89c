"""Seeds, task grid and reproducibility of sweeps."""
import dataclasses

import numpy as np
import pytest
import xarray as xr

from ntkpaths import SweepConfig, run_sweep, sweep, tasks
from conftest import values


def test_child_seed_equals_spawn_chain():
    root = np.random.SeedSequence(2024)
    via_spawn = root.spawn(2)[1].spawn(65)[64].spawn(4)[3]
    direct = tasks.child_seed(np.random.SeedSequence(2024), 1, 64, 3)
    assert direct.spawn_key == via_spawn.spawn_key
    np.testing.assert_array_equal(direct.generate_state(8), via_spawn.generate_state(8))


def test_task_grid_covers_every_network_once():
    cfg = SweepConfig(depth=2, widths=(8, 4), nets=10, nets_per_task=3, seed=0)
    tasks = sweep.make_tasks(cfg)
    for w in (4, 8):
        covered = [n for t in tasks if t.width == w for n in range(t.start, t.stop)]
        assert covered == list(range(10))


def test_missing_seed_is_recorded_and_replays():
    cfg = SweepConfig(depth=2, widths=(8,), nets=4)
    ds = run_sweep(cfg, scheduler="synchronous")
    entropy = int(ds.attrs["seed_entropy"])
    replay = run_sweep(dataclasses.replace(cfg, seed=entropy), scheduler="synchronous")
    xr.testing.assert_identical(ds["active_fraction"], replay["active_fraction"])


def test_results_do_not_depend_on_task_size():
    base = SweepConfig(depth=4, widths=(8, 32), nets=12, seed=5)
    a = run_sweep(dataclasses.replace(base, nets_per_task=1), scheduler="synchronous")
    b = run_sweep(dataclasses.replace(base, nets_per_task=12), scheduler="synchronous")
    b.attrs["config"] = a.attrs["config"]
    xr.testing.assert_identical(values(a), values(b))


def test_a_cell_replays_alone():
    full = run_sweep(SweepConfig(depth=3, widths=(8, 16, 32), nets=5, seed=9), scheduler="synchronous")
    alone = run_sweep(SweepConfig(depth=3, widths=(16,), nets=5, seed=9), scheduler="synchronous")
    xr.testing.assert_identical(full["active_fraction"].sel(width=[16]), alone["active_fraction"])


def test_local_cluster_matches_synchronous():
    cfg = SweepConfig(depth=3, widths=(8, 16), nets=10, seed=77, nets_per_task=3)
    a = run_sweep(cfg, scheduler="synchronous")
    b = run_sweep(cfg, workers=2)
    xr.testing.assert_identical(values(a), values(b))


def test_failing_task_names_cell_and_seed(monkeypatch):
    def boom(*args, **kwargs):
        raise FloatingPointError("overflow")

    monkeypatch.setattr(tasks, "run_task", boom)
    with pytest.raises(tasks.TaskError, match=r"width=8 networks 0\.\.1 \(seed 3\).*overflow"):
        run_sweep(SweepConfig(depth=2, widths=(8,), nets=2, seed=3), scheduler="synchronous")
