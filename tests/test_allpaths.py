"""Exact tests of the path tracer on hand-built and small sampled networks."""
import itertools

import numpy as np
import pytest

from ntkpaths import allpaths, sample
from ntkpaths.config import NetworkConfig

# x = (1, -1, 2); integer weights chosen so every neuron's sign is known by hand.
X = np.array([[1.0, -1.0, 2.0]])
W1 = np.array([[1, 0, 0],     # z =  1  on
               [0, 1, 0],     # z = -1  off
               [1, 1, 0],     # z =  0  off (ReLU is on only for z > 0)
               [0, 0, 1]],    # z =  2  on
              dtype=float)
W2 = np.array([[1, 0, 0, -1],   # 1 - 2 = -1  off
               [1, 5, 5, 0],    # 1            on
               [0, 0, 0, 1]],   # 2            on
              dtype=float)
WOUT = np.array([[2, 3, -1]], dtype=float)


def test_hand_built_active_neurons_and_paths():
    zs, y = allpaths.forward([W1, W2, WOUT], X)
    assert [list(np.flatnonzero(z[:, 0] > 0)) for z in zs] == [[0, 3], [1, 2]]
    assert allpaths.active_paths(zs, 0) == [(0, 1), (0, 2), (3, 1), (3, 2)]
    # F_1 = 2/4, F_2 = 2/4 * 2/3
    np.testing.assert_array_equal(allpaths.active_fraction(zs)[:, 0], [0.5, 1.0 / 3.0])
    # y = 3 * h2[1] - h2[2] = 3 * 1 - 2
    np.testing.assert_array_equal(y, [[1.0]])


def test_hand_built_path_sum_lists_the_same_paths():
    # Only the four active hidden paths contribute; summing them by hand:
    # (0,1): x0*W1[0,0]*W2[1,0]*Wout[0,1] = 1*1*1*3 = 3 ; (0,2): W2[2,0] = 0
    # (3,1): x2*W1[3,2]*W2[1,3]*3 = 0 ;                  (3,2): 2*1*1*(-1) = -2
    np.testing.assert_array_equal(allpaths.path_sum([W1, W2, WOUT], X), [[1.0]])


def test_dead_layer_kills_every_deeper_path():
    w2_dead = -np.abs(W2)
    zs, _ = allpaths.forward([W1, w2_dead, WOUT], X)
    np.testing.assert_array_equal(allpaths.active_fraction(zs)[:, 0], [0.5, 0.0])
    assert allpaths.active_paths(zs, 0) == []


@pytest.mark.parametrize("seed", range(5))
def test_path_sum_equals_forward_pass(seed):
    rng = np.random.default_rng(seed)
    cfg = NetworkConfig(n_out=2)
    weights = sample.sample_network(cfg, 3, [4, 3, 5], rng=rng)
    x = rng.uniform(-1, 1, size=(4, 3))
    _, y = allpaths.forward(weights, x)
    np.testing.assert_allclose(allpaths.path_sum(weights, x), y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_active_fraction_counts_every_path(seed):
    rng = np.random.default_rng(seed)
    weights = sample.sample_network(NetworkConfig(), 3, [5, 4, 6], rng=rng)
    x = rng.standard_normal((3, 3))
    zs, _ = allpaths.forward(weights, x)
    fractions = allpaths.active_fraction(zs)
    for b in range(x.shape[0]):
        for depth in range(1, len(zs) + 1):
            all_paths = itertools.product(*(range(z.shape[0]) for z in zs[:depth]))
            active = sum(all(z[j, b] > 0 for z, j in zip(zs, p)) for p in all_paths)
            total = np.prod([z.shape[0] for z in zs[:depth]])
            assert fractions[depth - 1, b] == pytest.approx(active / total, rel=1e-12)


def test_streamed_layers_match_forward_with_kept_weights():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(5, 6))
    cfg = NetworkConfig(dtype="float64")
    layers = list(sample.iter_layers(cfg, [7, 7, 3], x, rng=rng, keep_weights=True))
    zs, _ = allpaths.forward([layer.weight for layer in layers] + [np.ones((1, 3))], x)
    for layer, z in zip(layers, zs):
        np.testing.assert_allclose(layer.z, z, rtol=1e-12)


def test_sampled_paths_agree_with_exact_fraction():
    """The sampled count at depth H is Binomial(K, F_H) exactly; check within 5 sd."""
    rng = np.random.default_rng(11)
    widths, k = [64] * 6, 200_000
    x = rng.uniform(-1, 1, size=(4, 32))
    zs = [layer.z for layer in sample.iter_layers(NetworkConfig(), widths, x, rng=rng)]
    exact = allpaths.active_fraction(zs)
    paths = sample.sample_paths(widths, k, rng=rng)
    sampled = allpaths.sampled_path_fraction([z > 0 for z in zs], paths)
    sd = np.sqrt(exact * (1 - exact) / k)
    assert np.all(np.abs(sampled - exact) <= 5 * sd + 1e-12), np.abs(sampled - exact) / sd
    # The check has power: the next-layer fraction is off by far more than 5 sd.
    assert np.any(np.abs(sampled[1:] - exact[:-1]) > 5 * sd[1:])
