"""Invariances of path activation (hypothesis)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkpaths import sample, allpaths
from ntkpaths.config import NetworkConfig

networks = st.tuples(
    st.integers(0, 2**32 - 1),                            # seed
    st.integers(1, 4),                                    # input dim
    st.lists(st.integers(1, 5), min_size=1, max_size=3),  # hidden widths
)


def _draw(seed, d, widths):
    rng = np.random.default_rng(seed)
    weights = sample.sample_network(NetworkConfig(n_out=2), d, widths, rng=rng)
    x = rng.uniform(-1, 1, size=(3, d))
    return rng, weights, x


@settings(max_examples=60, deadline=None)
@given(networks)
def test_permuting_hidden_units_changes_nothing(net):
    rng, weights, x = _draw(*net)
    permuted = [w.copy() for w in weights]
    for layer in range(len(weights) - 1):
        perm = rng.permutation(permuted[layer].shape[0])
        permuted[layer] = permuted[layer][perm]
        permuted[layer + 1] = permuted[layer + 1][:, perm]
    zs, y = allpaths.forward(weights, x)
    zs_p, y_p = allpaths.forward(permuted, x)
    np.testing.assert_array_equal(allpaths.active_fraction(zs), allpaths.active_fraction(zs_p))
    np.testing.assert_allclose(y, y_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(allpaths.path_sum(permuted, x), y, rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(networks, st.floats(0.01, 100.0))
def test_positive_rescaling_keeps_activations_and_outputs(net, alpha):
    """Scaling a neuron's incoming weights by alpha and outgoing by 1/alpha (Dinh et al.)."""
    rng, weights, x = _draw(*net)
    layer = int(rng.integers(0, len(weights) - 1))
    unit = int(rng.integers(0, weights[layer].shape[0]))
    scaled = [w.copy() for w in weights]
    scaled[layer][unit] *= alpha
    scaled[layer + 1][:, unit] /= alpha
    zs, y = allpaths.forward(weights, x)
    zs_s, y_s = allpaths.forward(scaled, x)
    assert [allpaths.active_paths(zs, b) for b in range(3)] == [allpaths.active_paths(zs_s, b) for b in range(3)]
    np.testing.assert_allclose(y_s, y, rtol=1e-9, atol=1e-12)
