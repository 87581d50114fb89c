import numpy as np

from ntkpaths import theory


def test_p_active_is_two_to_minus_depth():
    np.testing.assert_array_equal(theory.p_active([1, 2, 8]), [0.5, 0.25, 1 / 256])


def test_active_fraction_var_one_layer_is_binomial():
    # a ~ Binomial(n, 1/2): Var(a / n) = 1 / (4 n)
    for n in (1, 4, 1000):
        assert np.isclose(theory.active_fraction_var(1, n), 1 / (4 * n))


def test_active_fraction_var_vanishes_at_infinite_width():
    assert theory.active_fraction_var(8, 1e12) < 1e-15
