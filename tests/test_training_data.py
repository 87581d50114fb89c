"""Training configs, data sets and the training draws of ``sample``."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ntkpaths import sample
from ntkpaths.config import DIGITS_SIZE, ConfigError, InputConfig, NetworkConfig, TrainConfig
from ntkpaths.allpaths import forward
from ntkpaths.training import checkpoint_steps, draw_data, train_run
from ntkpaths.training.data import TEACHER_DIM, TEACHER_WIDTHS


def test_digits_size_matches_scikit_learn():
    from sklearn.datasets import load_digits

    assert load_digits().data.shape[0] == DIGITS_SIZE


def test_digits_are_centred_on_the_training_mean_and_on_the_sphere():
    """Undo the per-row scaling: the centred training rows must average to zero per feature."""
    cfg = TrainConfig(n_train=200, n_test=100)
    data = draw_data(cfg, rng=np.random.default_rng(0))
    assert data.x_train.shape == (200, 64) and data.x_test.shape == (100, 64)
    assert data.y_train.shape == (200, 10) and data.classification
    np.testing.assert_array_equal(data.y_train.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(data.x_train, axis=1), 8.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(data.x_test, axis=1), 8.0, rtol=1e-12)
    raw = _raw_rows(data.x_train, data.y_train, cfg, seed=0)
    centred = raw - raw.mean(axis=0)
    scale = np.linalg.norm(centred, axis=1, keepdims=True) / 8.0
    np.testing.assert_allclose(data.x_train * scale, centred, atol=1e-9)


def _raw_rows(x, y, cfg, seed):
    """The raw digits the run drew, replayed from the same generator."""
    from sklearn.datasets import load_digits

    train, _ = sample.sample_split(DIGITS_SIZE, [cfg.n_train, cfg.n_test], rng=np.random.default_rng(seed))
    digits = load_digits()
    np.testing.assert_array_equal(y.argmax(axis=1), digits.target[train])
    return digits.data[train]


def test_test_set_is_capped_by_what_is_left():
    data = draw_data(TrainConfig(n_train=1700, n_test=256), rng=np.random.default_rng(1))
    assert len(data.x_test) == DIGITS_SIZE - 1700
    data = draw_data(TrainConfig(n_train=DIGITS_SIZE, n_test=5), rng=np.random.default_rng(1))
    assert data.x_test.shape == (0, 64)


def test_split_is_disjoint_and_covers_the_pool():
    a, b = sample.sample_split(30, [20, 10], rng=np.random.default_rng(2))
    assert len(a) == 20 and len(b) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(30))


def test_teacher_targets_come_from_a_he_relu_network_on_the_normalised_inputs():
    cfg = TrainConfig(data="teacher", n_train=300, n_test=50)
    data = draw_data(cfg, rng=np.random.default_rng(3))
    assert data.x_train.shape == (300, TEACHER_DIM) and data.y_train.shape == (300, 1)
    assert data.x_test.shape == (50, TEACHER_DIM) and not data.classification
    rng = np.random.default_rng(3)
    x = sample.sample_inputs(InputConfig(count=350), TEACHER_DIM, rng=rng)
    teacher = sample.sample_network(NetworkConfig(dtype="float64"), TEACHER_DIM, TEACHER_WIDTHS, rng=rng)
    x_train = x[:300] - x[:300].mean(axis=0)
    x_train *= math.sqrt(TEACHER_DIM) / np.linalg.norm(x_train, axis=1, keepdims=True)
    np.testing.assert_allclose(data.x_train, x_train, rtol=1e-12)
    np.testing.assert_allclose(data.y_train, forward(teacher, x_train)[1], rtol=1e-12)
    assert 0.1 < data.y_train.std() < 10   # O(1) targets


def test_npz_labels_become_one_hot_classes(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 5))
    labels = rng.choice([3, 7, 9], size=40)
    path = tmp_path / "labels.npz"
    np.savez(path, X=x, y=labels)
    cfg = TrainConfig(data=str(path), n_train=30, n_test=20, steps=2, checkpoints=2)
    data = draw_data(cfg, rng=np.random.default_rng(5))
    assert data.classification and data.y_train.shape == (30, 3) and len(data.x_test) == 10
    classes = np.array([3, 7, 9])
    train, _ = sample.sample_split(40, [30, 10], rng=np.random.default_rng(5))
    np.testing.assert_array_equal(classes[data.y_train.argmax(axis=1)], labels[train])
    assert cfg.data_sha256 is not None
    out = train_run(cfg, 1, 8, seed=np.random.SeedSequence(0))
    assert np.all((out["accuracy"] >= 0) & (out["accuracy"] <= 1))


@pytest.mark.parametrize("shape", [(40,), (40, 3)])
def test_npz_float_targets_are_regression(tmp_path, shape):
    rng = np.random.default_rng(6)
    path = tmp_path / "reg.npz"
    np.savez(path, X=rng.normal(size=(40, 5)), y=rng.normal(size=shape))
    cfg = TrainConfig(data=str(path), n_train=32, n_test=8, steps=2, checkpoints=2)
    data = draw_data(cfg, rng=np.random.default_rng(7))
    assert not data.classification and data.y_train.shape == (32, shape[1] if len(shape) > 1 else 1)
    out = train_run(cfg, 1, 8, seed=np.random.SeedSequence(0))
    assert np.isnan(out["accuracy"]).all() and np.isfinite(out["test_loss"]).all()


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


GOOD_X = np.ones((10, 3))
BAD_CONFIGS = {
    "unknown data": lambda p: dict(data="cifar"),
    "missing file": lambda p: dict(data=str(p / "missing.npz")),
    "not an npz": lambda p: dict(data=_garbage(p)),
    "no X": lambda p: dict(data=_npz(p, y=np.zeros(10))),
    "no y": lambda p: dict(data=_npz(p, X=GOOD_X)),
    "1-D X": lambda p: dict(data=_npz(p, X=np.ones(10), y=np.zeros(10))),
    "y rows differ": lambda p: dict(data=_npz(p, X=GOOD_X, y=np.zeros(9))),
    "3-D y": lambda p: dict(data=_npz(p, X=GOOD_X, y=np.zeros((10, 2, 2)))),
    "NaN in X": lambda p: dict(data=_npz(p, X=np.where(np.eye(10, 3) > 0, np.nan, 1.0), y=np.zeros(10))),
    "inf in y": lambda p: dict(data=_npz(p, X=GOOD_X, y=np.full(10, np.inf))),
    "text y": lambda p: dict(data=_npz(p, X=GOOD_X, y=np.array(["a"] * 10))),
    "n_train over npz": lambda p: dict(data=_npz(p, X=GOOD_X, y=np.zeros(10)), n_train=11),
    "n_train over digits": lambda p: dict(n_train=DIGITS_SIZE + 1),
    "lr < 0": lambda p: dict(lr=-0.1),
    "lr nan": lambda p: dict(lr=float("nan")),
    "lr inf": lambda p: dict(lr=float("inf")),
    "steps < 0": lambda p: dict(steps=-1),
    "depth 0": lambda p: dict(depths=(0, 2)),
    "width 0": lambda p: dict(widths=(0,)),
    "no widths": lambda p: dict(widths=()),
    "runs 0": lambda p: dict(runs=0),
    "batch > n_train": lambda p: dict(n_train=16, batch_size=17),
    "batch 0": lambda p: dict(batch_size=0),
    "n_test < 0": lambda p: dict(n_test=-1),
    "one checkpoint": lambda p: dict(checkpoints=1),
    "param": lambda p: dict(param="mup"),
    "dtype": lambda p: dict(dtype="float16"),
    "tolerance": lambda p: dict(loss_tolerance=0.0),
    "seed": lambda p: dict(seed=-3),
}


def _garbage(p):
    path = p / "garbage.npz"
    path.write_bytes(b"not a zip file\n")
    return str(path)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_raises_a_one_line_config_error(tmp_path, case):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**BAD_CONFIGS[case](tmp_path))
    message = str(info.value)
    assert message and "\n" not in message, message


def test_lr_zero_and_zero_steps_are_allowed():
    assert TrainConfig(lr=0.0, steps=0).lr == 0.0


def test_config_round_trips_through_json():
    cfg = TrainConfig(depths=(4, 1), widths=(32, 8), batch_size=16, seed=9, dtype="float64")
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.depths == (1, 4)


@settings(max_examples=200, deadline=None)
@given(steps=st.integers(0, 10**7), count=st.integers(2, 60))
def test_checkpoint_steps_are_unique_sorted_and_keep_both_ends(steps, count):
    s = checkpoint_steps(steps, count)
    assert s[0] == 0 and s[-1] == steps and len(s) <= count
    assert np.all(np.diff(s) > 0)
    big = s[s >= 100]   # rounding to integers moves these by at most 0.5%
    if len(big) >= 3:   # log-spaced: a constant ratio between consecutive checkpoints
        ratios = big[1:] / big[:-1]
        np.testing.assert_allclose(ratios, ratios[0], rtol=0.02)
        assert len(s) >= count - 1 - np.log(100) / np.log(ratios[0])   # merges only below 100


def test_minibatches_are_distinct_uniform_and_do_not_depend_on_the_split():
    n, batch, steps = 20, 5, 4000
    rows = sample.sample_minibatches(n, batch, steps, rng=np.random.default_rng(8))
    assert rows.shape == (steps, batch) and rows.min() >= 0 and rows.max() < n
    assert all(len(set(r)) == batch for r in rows)
    hits = np.stack([(rows == i).any(axis=1) for i in range(n)])   # (index, step), Bernoulli(batch / n)
    se = math.sqrt(batch / n * (1 - batch / n) / steps)
    assert np.abs(hits.mean(axis=1) - batch / n).max() <= 5 * se
    rng = np.random.default_rng(8)
    parts = [sample.sample_minibatches(n, batch, k, rng=rng) for k in (1, 999, 3000)]
    np.testing.assert_array_equal(np.vstack(parts), rows)
