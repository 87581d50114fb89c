"""The sampler draws what the configuration says, and only from its rng."""
import math

import numpy as np
import pytest

from ntkpaths import sample
from ntkpaths.config import InputConfig, NetworkConfig


def _first_layer_weights(cfg, fan_in=50, n=400, seed=0):
    x = np.eye(fan_in)  # z = W e_i reads the weights out column by column
    layer = next(sample.iter_layers(cfg, [n], x, rng=np.random.default_rng(seed)))
    return layer.z


@pytest.mark.parametrize("init,dist", [("he-fan-in", "normal"), ("he-fan-in", "uniform"),
                                       ("he-fan-out", "normal"), ("ntk", "normal")])
def test_effective_weight_variance(init, dist):
    cfg = NetworkConfig(init=init, weight_dist=dist, dtype="float64")
    w = _first_layer_weights(cfg).ravel()
    fan = 400 if init == "he-fan-out" else 50
    truth = 2.0 / fan
    # se of a sample variance: sqrt((m4 - s^4) / N), from the sample itself
    var = w.var()
    se = np.sqrt((np.mean((w - w.mean()) ** 4) - var**2) / w.size)
    assert abs(var - truth) <= 5 * se
    assert abs(w.mean()) <= 5 * w.std() / math.sqrt(w.size)


def test_uniform_weights_are_bounded_and_normal_are_not():
    uni = _first_layer_weights(NetworkConfig(weight_dist="uniform")).ravel()
    bound = math.sqrt(3) * math.sqrt(2.0 / 50)
    assert np.abs(uni).max() <= bound * (1 + 1e-6)
    assert np.abs(uni).max() > 0.99 * bound
    normal = _first_layer_weights(NetworkConfig()).ravel()
    assert np.abs(normal).max() > 1.5 * bound


def test_bias_is_drawn_per_neuron():
    cfg = NetworkConfig(bias_mean=0.5, bias_std=0.1, dtype="float64")
    layer = next(sample.iter_layers(cfg, [2000], np.zeros((3, 4)), rng=np.random.default_rng(1),
                                    keep_weights=True))
    np.testing.assert_array_equal(layer.z[:, 0], layer.bias[:, 0])  # zero input: z is the bias
    assert abs(layer.bias.mean() - 0.5) <= 5 * 0.1 / math.sqrt(2000)


def test_dtype_is_respected():
    for dtype in ("float32", "float64"):
        layers = sample.iter_layers(NetworkConfig(dtype=dtype), [8, 8], np.ones((2, 3)),
                                    rng=np.random.default_rng(0))
        assert all(layer.z.dtype == np.dtype(dtype) for layer in layers)


@pytest.mark.parametrize("kind", ["uniform", "gaussian", "sphere"])
def test_input_kinds(kind):
    cfg = InputConfig(kind=kind, count=500, scale=2.0)
    x = sample.sample_inputs(cfg, 16, rng=np.random.default_rng(0))
    assert x.shape == (500, 16)
    if kind == "uniform":
        assert np.abs(x).max() <= 2.0
    if kind == "sphere":
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 2.0)
    if kind == "gaussian":
        assert abs(x.std() - 2.0) <= 5 * 2.0 / math.sqrt(2 * x.size)


def test_same_generator_state_same_network():
    x = np.ones((2, 5))
    a = [l.z for l in sample.iter_layers(NetworkConfig(), [9, 9], x, rng=np.random.default_rng(4))]
    b = [l.z for l in sample.iter_layers(NetworkConfig(), [9, 9], x, rng=np.random.default_rng(4))]
    for za, zb in zip(a, b):
        np.testing.assert_array_equal(za, zb)


def test_sample_paths_shape_and_range():
    paths = sample.sample_paths([3, 7, 2], 1000, rng=np.random.default_rng(0))
    assert paths.shape == (1000, 3)
    assert (paths.max(axis=0) == [2, 6, 1]).all() and paths.min() == 0
