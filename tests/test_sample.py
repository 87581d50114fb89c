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
                                       ("he-fan-out", "normal"), ("ntk", "normal"),
                                       ("he-fan-in", "student-t"), ("he-fan-in", "sparse"),
                                       ("he-fan-in", "orthogonal")])
def test_effective_weight_variance(init, dist):
    cfg = NetworkConfig(init=init, weight_dist=dist, dtype="float64")
    w = _first_layer_weights(cfg).ravel()
    fan = 400 if init == "he-fan-out" else 50
    truth = 2.0 / fan
    # se of a sample variance: sqrt((m4 - s^4) / N), from the sample itself
    var = w.var()
    se = np.sqrt((np.mean((w - w.mean()) ** 4) - var**2) / w.size)
    if dist == "orthogonal":   # every column of a Haar frame has norm exactly 1: no sampling error
        np.testing.assert_allclose(var, truth, rtol=1e-2)
    else:
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


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (32, 32)])
def test_orthogonal_weights_are_haar_frames(shape):
    """Orthonormal columns (n >= fan-in) or rows, scaled to unit entry variance; the frame is
    uniform, so E[W] = 0 and the law is invariant under sign flips of rows."""
    cfg = NetworkConfig(weight_dist="orthogonal", dtype="float64")
    e = sample._standard_weights(np.random.default_rng(0), shape, cfg)
    q = e / np.sqrt(max(shape))
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    first = np.stack([sample._standard_weights(np.random.default_rng(s), shape, cfg)[0, 0] for s in range(4000)])
    assert abs(first.mean()) <= 5 * first.std() / np.sqrt(first.size)
    assert abs((first**2).mean() - 1) <= 5 * (first**2).std() / np.sqrt(first.size)


def test_sparse_weights_keep_the_requested_density():
    cfg = NetworkConfig(weight_dist="sparse", weight_density=0.2, dtype="float64")
    e = sample._standard_weights(np.random.default_rng(3), (400, 500), cfg)
    kept = np.count_nonzero(e) / e.size
    assert abs(kept - 0.2) <= 5 * np.sqrt(0.2 * 0.8 / e.size)


def test_student_t_weights_have_heavy_tails():
    """Unit variance, but kurtosis far above the normal's 3 (infinite for 3 degrees of freedom)."""
    cfg = NetworkConfig(weight_dist="student-t", weight_df=3.0, dtype="float64")
    e = sample._standard_weights(np.random.default_rng(4), (1000, 1000), cfg).ravel()
    assert np.mean(e**4) / np.mean(e**2) ** 2 > 10
    assert np.mean(np.abs(e) > 5) > 50 * 5.7e-7    # P(|N(0,1)| > 5) = 5.7e-7
