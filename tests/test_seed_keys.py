"""Seed derivations pinned to explicit spawn keys, not to the functions that compute them: every
training run and every sweep network has its own key, and different cells get different streams."""
import itertools

import numpy as np

from ntkpaths import SweepConfig, tasks
from ntkpaths.config import TrainConfig
from ntkpaths.training import dataset, grid, train_run

CFG = TrainConfig(depths=(1, 3), widths=(8, 16), runs=2, steps=6, n_train=16, n_test=8, checkpoints=3, seed=7,
                  data="teacher")


def test_a_training_run_seed_is_its_spawn_key():
    """Run (depth, width, run) draws from SeedSequence(seed, spawn_key=(2, depth, width, run))."""
    for depth, width, run in itertools.product(CFG.depths, CFG.widths, range(CFG.runs)):
        seed = grid.run_seed(CFG, grid.Run(depth, width, run))
        expected = np.random.SeedSequence(7, spawn_key=(2, depth, width, run))
        assert seed.entropy == 7 and seed.spawn_key == expected.spawn_key
        np.testing.assert_array_equal(seed.generate_state(8), expected.generate_state(8))


def test_every_training_run_has_its_own_stream():
    states = {tuple(grid.run_seed(CFG, r).generate_state(4)) for r in grid.make_runs(CFG)}
    assert len(states) == len(CFG.depths) * len(CFG.widths) * CFG.runs


def test_a_guarded_run_trains_from_its_explicit_key():
    """What the grid stores for a run is train_run from the explicit key (an end-to-end pin)."""
    run = grid.Run(3, 16, 1)
    stored = grid.guarded_run(CFG, run)
    alone = dataset.padded(CFG, train_run(CFG, 3, 16, seed=np.random.SeedSequence(7, spawn_key=(2, 3, 16, 1))))
    np.testing.assert_array_equal(stored["loss"], alone["loss"])
    np.testing.assert_array_equal(stored["flip_fraction"], alone["flip_fraction"])


def test_a_sweep_network_seed_is_its_spawn_key():
    """Network ``net`` of (input_dim, width) draws from spawn key (1, input_dim, width, net): a sweep
    network alone, traced from that explicit key, equals the task's value."""
    cfg = tasks.resolve_seed(SweepConfig(depth=2, widths=(8, 16), nets=3, seed=11, stats=(), method="explicit",
                                         device="cpu"))
    columns = tasks.sweep_inputs(cfg, 64).columns(False)
    for width in cfg.widths:
        whole = tasks.run_task(cfg, tasks.Task(64, width, 0, 3), columns)
        for net in range(3):
            rng = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(1, 64, width, net)))
            alone = tasks.trace_network(cfg, width, columns, rng=rng)
            for name, values in alone.items():
                np.testing.assert_array_equal(whole[name][net], values)
