"""The implicit samplers' scales, checked directly: each layer's pre-activations have the exact
conditional law N(bias_mean + ..., gain^2 / fan_in * h^T h + bias_std^2), with biases and with a
fan-in that differs from the width (where a fan-out scale, or a Gram matrix without its 1/fan_in,
would show)."""
import numpy as np
import pytest

from ntkpaths import sample
from ntkpaths.config import NetworkConfig

BIASED = NetworkConfig(bias_std=0.5, bias_mean=0.2, dtype="float64")
D, WIDTHS = 16, (64, 4096)  # layer 2 is wide, so its empirical covariance is precise


def _inputs():
    return np.random.default_rng(5).normal(size=(3, D))  # (input, feature)


def _covariance_z(z: np.ndarray, h: np.ndarray, fan_in: int, cfg: NetworkConfig) -> np.ndarray:
    """Standardised deviations of the empirical mean and covariance of z (neuron, input) from the
    exact law given the layer's input h (fan_in, input): mean bias_mean, covariance
    gain^2 / fan_in * h^T h + bias_std^2. Each neuron is an independent draw."""
    exact = cfg.gain**2 / fan_in * h.T @ h + cfg.bias_std**2
    n = z.shape[0]
    c = z - z.mean(axis=0)
    cov = c.T @ c / (n - 1)
    # se of a sample covariance of Gaussians: sqrt((S_ii S_jj + S_ij^2) / n)
    se_cov = np.sqrt((np.outer(np.diag(exact), np.diag(exact)) + exact**2) / n)
    z_mean = (z.mean(axis=0) - cfg.bias_mean) / np.sqrt(np.diag(exact) / n)
    return np.concatenate([((cov - exact) / se_cov).ravel(), z_mean])


def test_implicit_layers_have_the_exact_conditional_law_with_biases():
    x = _inputs()
    layers = list(sample.iter_layers_implicit(BIASED, WIDTHS, x, rng=np.random.default_rng(0)))
    h1 = np.maximum(layers[0].z, 0)
    assert np.abs(_covariance_z(layers[1].z, h1, WIDTHS[0], BIASED)).max() < 5


def test_batched_implicit_layers_have_the_exact_conditional_law_with_biases():
    """The batched sampler (what sweeps use for many implicit networks) with biases and fan-in != width."""
    x = _inputs()
    layers = list(sample.iter_layers_implicit_batch(BIASED, WIDTHS, x, rngs=[np.random.default_rng(s) for s in (1, 2)]))
    for m in range(2):
        h1 = np.maximum(layers[0][m], 0)
        assert np.abs(_covariance_z(layers[1][m], h1, WIDTHS[0], BIASED)).max() < 5
    wide_first = list(sample.iter_layers_implicit_batch(BIASED, (4096,), x, rngs=[np.random.default_rng(3)]))
    assert np.abs(_covariance_z(wide_first[0][0], x.T, D, BIASED)).max() < 5


def test_batched_equals_one_at_a_time_with_biases_and_fan_in_not_width():
    x = _inputs()
    cfg = NetworkConfig(bias_std=0.3, bias_mean=0.2, dtype="float64")
    widths = (40, 24, 56)
    batch = list(sample.iter_layers_implicit_batch(cfg, widths, x, rngs=[np.random.default_rng(s) for s in (7, 8)]))
    for m, s in enumerate((7, 8)):
        alone = list(sample.iter_layers_implicit(cfg, widths, x, rng=np.random.default_rng(s)))
        for b, a in zip(batch, alone):
            np.testing.assert_allclose(b[m], a.z, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cfg", [BIASED, NetworkConfig(gain=0.7, weight_mean=0.1, dtype="float64")])
def test_moments_are_the_scaled_gram_matrix(cfg):
    """The conditional moments themselves, against their formula written out: covariance
    std^2 h^T h + bias_std^2 with std = gain / sqrt(fan_in), mean bias_mean + std weight_mean sum_i h_i."""
    h = np.abs(np.random.default_rng(1).normal(size=(2, 24, 3)))  # (network, fan_in, input)
    std = cfg.weight_std(24, 100)
    assert std == pytest.approx(cfg.gain / np.sqrt(24))
    mean, cov = sample._moments(h, std, cfg)
    for m in range(2):
        gram = np.einsum("ia,ib->ab", h[m], h[m])
        np.testing.assert_allclose(cov[m], cfg.gain**2 / 24 * gram + cfg.bias_std**2, rtol=1e-12)
        np.testing.assert_allclose(mean[m], cfg.bias_mean + cfg.gain / np.sqrt(24) * cfg.weight_mean * h[m].sum(0),
                                   rtol=1e-12)
