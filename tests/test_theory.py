import numpy as np
import pytest

from ntkpaths import theory


def test_p_active_is_two_to_minus_depth():
    np.testing.assert_array_equal(theory.p_active([1, 2, 8]), [0.5, 0.25, 1 / 256])


def test_active_fraction_var_one_layer_is_binomial():
    # a ~ Binomial(n, 1/2): Var(a / n) = 1 / (4 n)
    for n in (1, 4, 1000):
        assert np.isclose(theory.active_fraction_var(1, n), 1 / (4 * n))


def test_active_fraction_var_vanishes_at_infinite_width():
    assert theory.active_fraction_var(8, 1e12) < 1e-15


def test_mean_sum_over_norm_small_widths_by_hand():
    # n = 1: S/|h| = 1 when the one unit is on (prob 1/2). n = 2: k = 1 gives 1 (prob 1/2);
    # k = 2 gives E[(|g1| + |g2|) / |g|] = 2 E|cos U| = 4 / pi (prob 1/4).
    assert theory.mean_sum_over_norm(1) == pytest.approx(0.5, rel=1e-14)
    assert theory.mean_sum_over_norm(2) == pytest.approx(0.5 + 1 / np.pi, rel=1e-14)


@pytest.mark.parametrize("n", [3, 16, 100])
def test_mean_sum_over_norm_against_monte_carlo(n):
    h = np.maximum(np.random.default_rng(n).standard_normal((200_000, n)), 0)
    norm = np.linalg.norm(h, axis=1)
    ratio = np.divide(h.sum(axis=1), norm, out=np.zeros(len(h)), where=norm > 0)
    se = ratio.std(ddof=1) / np.sqrt(len(ratio))
    assert abs(ratio.mean() - theory.mean_sum_over_norm(n)) <= 5 * se
    assert se < 1e-3 * ratio.mean()   # power: a 0.5% error would be > 5 se


def test_weight_slope_exact_approaches_leading_order():
    n = np.array([1, 4, 64, 1024, 2**20])
    exact, leading = theory.weight_slope(n), theory.weight_slope_leading(n)
    assert exact[0] == pytest.approx(np.sqrt(2 / np.pi))   # one neuron: E[t | t > 0]
    # next order: (1 + 3 / (8 n)) (delta method on S / |h|)
    np.testing.assert_allclose((exact / leading - 1)[2:] * n[2:], 3 / 8, rtol=0.05)
