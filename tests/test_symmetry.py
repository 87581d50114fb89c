"""Function-preserving transforms (hypothesis), on random networks and on a trained one.

References are independent of the code under test: the numpy forward pass,
every path enumerated, and hand-built networks whose units are listed by hand.
"""
import numpy as np
import pytest
from conftest import train_to_minimum
from hypothesis import given, settings
from hypothesis import strategies as st

from ntkpaths import pathstats, sample, symmetry, allpaths
from ntkpaths.config import ConfigError, NetworkConfig

F64 = NetworkConfig(dtype="float64", n_out=2)
networks = st.tuples(
    st.integers(0, 2**32 - 1),                            # seed
    st.integers(1, 4),                                    # input dim
    st.lists(st.integers(1, 5), min_size=1, max_size=3),  # hidden widths
)


def draw(seed, d, widths, inputs=4):
    rng = np.random.default_rng(seed)
    return rng, sample.sample_network(F64, d, widths, rng=rng), rng.uniform(-1, 1, size=(inputs, d))


def assert_same_function(a, b, x):
    fa, fb = allpaths.forward(a, x)[1], allpaths.forward(b, x)[1]
    np.testing.assert_allclose(fb, fa, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(fa).max()))


def transforms(rng, w, x):
    """Every transform of the module with random arguments; the ones judged on the data get x."""
    depth = len(w) - 1
    layer = int(rng.integers(1, depth + 1))
    unit = int(rng.integers(0, w[layer - 1].shape[0]))
    n_prev, n_next = w[layer - 1].shape[1], w[layer].shape[0]
    k = int(rng.integers(1, 5))
    shares = rng.normal(size=k)
    shares[0] += 1 - shares.sum()
    out = {
        "rescale unit": symmetry.rescale(w, layer, float(np.exp(rng.uniform(-5, 5))), unit=unit),
        "rescale layer": symmetry.rescale(w, layer, np.exp(rng.uniform(-5, 5, size=w[layer - 1].shape[0]))),
        "replicate": symmetry.replicate(w, layer, unit, k, shares),
        "widen": symmetry.widen(w, k),
        "zero outgoing": symmetry.add_inactive(w, layer, rng.normal(size=(2, n_prev))),
        "zero incoming": symmetry.add_inactive(w, layer, np.zeros((2, n_prev)), rng.normal(size=(n_next, 2))),
    }
    pairs = symmetry.add_linear_pairs(w, layer, np.vstack([rng.normal(size=(2, n_prev))] * 2),
                                      np.hstack([(v := rng.normal(size=(n_next, 2))), -v]))
    n = w[layer - 1].shape[0]
    out["Berner pairs"] = symmetry.mix_linear_pairs(pairs, layer, [(n + 2 * i, n + 2 * i + 1) for i in range(4)],
                                                    rng.normal(size=(4, 4)) + 3 * np.eye(4))
    if depth >= 2:   # h_1 >= 0, so negative incoming weights keep a layer-2 unit off on every input
        dead = symmetry.add_inactive(w, 2, -np.abs(rng.normal(size=(1, w[1].shape[1]))), rng.normal(size=(w[2].shape[0], 1)), x=x)
        out["off on the data"] = dead
        out["Berner dead"] = symmetry.reassign_inactive(dead, 2, w[1].shape[0], -np.abs(rng.normal(size=w[1].shape[1])),
                                                        rng.normal(size=w[2].shape[0]) * 100, x=x)
    return out


@settings(max_examples=40, deadline=None)
@given(networks)
def test_every_transform_keeps_the_function(net):
    rng, w, x = draw(*net)
    before = [a.copy() for a in w]
    for changed in transforms(rng, w, x).values():
        assert_same_function(w, changed, x)
    for a, b in zip(w, before):   # pure: the input is never modified
        np.testing.assert_array_equal(a, b)


def rescaled_paths_agree(w, x, layer, unit, alpha):
    """Every path's activation and weight product survive rescaling. Multiplying by alpha > 0 keeps
    every sign exactly in exact arithmetic; in floating point a pre-activation within rounding of 0
    (a trained network has some) may land on either side, so those units are left out, and for
    alpha a power of two (exact in floating point) nothing is."""
    scaled = symmetry.rescale(w, layer, alpha, unit=unit)
    zs, zs_s = allpaths.forward(w, x)[0], allpaths.forward(scaled, x)[0]
    exact = float(np.log2(alpha)).is_integer()
    for z, z_s in zip(zs, zs_s):
        clear = np.ones(z.shape, bool) if exact else np.abs(z) > 1e-9 * np.abs(z).max()
        np.testing.assert_array_equal((z > 0)[clear], (z_s > 0)[clear])
    if exact:
        for b in range(len(x)):
            assert allpaths.active_paths(zs, b) == allpaths.active_paths(zs_s, b)
    paths = pathstats.all_paths(w)
    np.testing.assert_allclose(pathstats.path_products(scaled, paths), pathstats.path_products(w, paths), rtol=1e-12)
    if exact:
        np.testing.assert_array_equal(pathstats.path_statistics(scaled, x).active_fraction,
                                      pathstats.path_statistics(w, x).active_fraction)


@settings(max_examples=40, deadline=None)
@given(networks, st.floats(1e-3, 1e3) | st.integers(-10, 10).map(lambda k: 2.0**k), st.booleans())
def test_rescaling_keeps_every_path_activation_and_product(net, alpha, one_unit):
    rng, w, x = draw(*net)
    layer = int(rng.integers(1, len(w)))
    rescaled_paths_agree(w, x, layer, int(rng.integers(0, w[layer - 1].shape[0])) if one_unit else None, alpha)


@pytest.fixture(scope="module")
def trained():
    """A depth-2, width-8 network trained by the training core to a zero-loss minimum on 6 inputs in d = 3."""
    params, scales, x, _, loss = train_to_minimum()
    return [p * s for p, s in zip(params, scales)], x, loss


ALPHAS = st.one_of(st.floats(1e-3, 1e3), st.integers(-10, 10).map(lambda k: 2.0**k))


@settings(max_examples=25, deadline=None)
@given(ALPHAS, st.integers(1, 2), st.integers(0, 7), st.booleans(), st.integers(0, 2**32 - 1))
def test_rescaling_a_trained_network_keeps_its_paths(trained, alpha, layer, unit, one_unit, seed):
    w, x_train, loss = trained
    assert loss < 1e-20
    x = np.vstack([x_train, np.random.default_rng(seed).normal(size=(3, 3))])
    rescaled_paths_agree(w, x, layer, unit if one_unit else None, alpha)
    for changed in transforms(np.random.default_rng(seed), w, x).values():
        assert_same_function(w, changed, x)


# ------------------------------------------------------------ exact, by hand
W1 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
WOUT = np.array([[1.0, 2.0, 3.0]])
X = np.array([[1.0, 2.0], [-1.0, 1.0]])


def test_replicate_appends_copies_with_their_shares():
    w = symmetry.replicate([W1, WOUT], 1, 1, 3, (0.5, 0.25, 0.25))
    np.testing.assert_array_equal(w[0], np.vstack([W1, [[0.0, 1.0], [0.0, 1.0]]]))
    np.testing.assert_array_equal(w[1], [[1.0, 1.0, 3.0, 0.5, 0.5]])
    # unit 1 is on for both inputs, unit 0 for the first, unit 2 for neither: a = (2, 1) of 3 -> (4, 3) of 5
    np.testing.assert_array_equal(pathstats.path_statistics(w, X).layer_fraction[:, 0], [4 / 5, 3 / 5])


def test_inactive_propagation_scales_f_and_zero_outgoing_units_may_be_on():
    dead = symmetry.add_inactive([W1, WOUT], 1, np.zeros((1, 2)), [[7.0]])
    on = symmetry.add_inactive([W1, WOUT], 1, [[1.0, 1.0]])
    f = pathstats.path_statistics([W1, WOUT], X).active_fraction[:, 0]
    np.testing.assert_array_equal(pathstats.path_statistics(dead, X).active_fraction[:, 0], f * 3 / 4)
    np.testing.assert_array_equal(pathstats.path_statistics(on, X).active_fraction[:, 0], [3 / 4, 1 / 4])


def test_mixing_opposite_pairs_moves_the_activation_pattern():
    """Pairs (w, -w) realise v (w . x); after mixing, units point elsewhere and other inputs switch them on."""
    w = symmetry.add_linear_pairs([W1, WOUT], 1, [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
                                  [[1.0, 1.0, -1.0, -1.0]])
    mixed = symmetry.mix_linear_pairs(w, 1, [(3, 4), (5, 6), (7, 8), (9, 10)], np.diag([1.0, 1.0, 1.0, 1.0]) + np.eye(4, k=1))
    assert_same_function([W1, WOUT], mixed, X)
    grid = np.random.default_rng(0).normal(size=(20, 2))
    masks = [pathstats.activation_masks(a, grid)[0][3:] for a in (w, mixed)]
    assert not np.array_equal(*masks)


# ------------------------------------------------------------ refusals
BAD = {
    "alpha 0": (lambda: symmetry.rescale([W1, WOUT], 1, 0.0), "alpha must be finite and > 0"),
    "alpha negative": (lambda: symmetry.rescale([W1, WOUT], 1, -2.0, unit=0), "alpha must be finite and > 0"),
    "alpha nan": (lambda: symmetry.rescale([W1, WOUT], 1, np.nan), "alpha must be finite and > 0"),
    "alpha shape": (lambda: symmetry.rescale([W1, WOUT], 1, np.ones(2)), "per-unit alpha must have shape (3,)"),
    "unit out of range": (lambda: symmetry.rescale([W1, WOUT], 1, 2.0, unit=3), "unit 3 is out of range"),
    "negative unit": (lambda: symmetry.replicate([W1, WOUT], 1, -1), "unit -1 is out of range"),
    "layer 0": (lambda: symmetry.rescale([W1, WOUT], 0, 2.0), "layer must be a hidden layer 1..1"),
    "output layer": (lambda: symmetry.replicate([W1, WOUT], 2, 0), "layer must be a hidden layer 1..1"),
    "k 0": (lambda: symmetry.replicate([W1, WOUT], 1, 0, 0), "k must be an integer >= 1"),
    "widen 0": (lambda: symmetry.widen([W1, WOUT], 0), "k must be an integer >= 1"),
    "shares": (lambda: symmetry.replicate([W1, WOUT], 1, 0, 2, (0.5, 0.6)), "summing to 1"),
    "live unit": (lambda: symmetry.add_inactive([W1, WOUT], 1, [[1.0, 1.0]], [[1.0]]), "would change the function"),
    "on for an input": (lambda: symmetry.add_inactive([W1, WOUT], 1, [[-1.0, 1.0]], [[1.0]], x=X),
                        "would change the function"),
    "wrong shape": (lambda: symmetry.add_inactive([W1, WOUT], 1, [[1.0, 1.0, 1.0]]), "need incoming (units, 2)"),
    "reassign live": (lambda: symmetry.reassign_inactive([W1, WOUT], 1, 0, outgoing=[0.0]), "contributes to the function"),
    "reassign to live": (lambda: symmetry.reassign_inactive([W1, WOUT], 1, 2, incoming=[1.0, 1.0], x=X),
                         "would change the function"),
    "not a pair": (lambda: symmetry.mix_linear_pairs([W1, WOUT], 1, [(0, 1)], [[2.0]]), "not an opposite pair"),
    "repeated unit": (lambda: symmetry.mix_linear_pairs([W1, WOUT], 1, [(0, 1), (1, 2)], np.ones((2, 2))),
                 "must be distinct units"),
    "pairs not zero": (lambda: symmetry.add_linear_pairs([W1, WOUT], 1, [[1.0, 0.0]], [[1.0]]), "not zero"),
    "spec": (lambda: symmetry.apply_spec([W1, WOUT], "shear:1:2"), "unknown transform 'shear:1:2'"),
    "spec number": (lambda: symmetry.apply_spec([W1, WOUT], "rescale:1:two"), "cannot read transform"),
    "unchained": (lambda: symmetry.widen([W1, WOUT[:, :2]], 2), "fan-in 2 but layer 1 has 3 units"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_arguments_are_one_line_config_errors(name):
    make, message = BAD[name]
    with pytest.raises(ConfigError) as info:
        make()
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_singular_mixing_matrix_is_refused():
    w = symmetry.add_linear_pairs([W1, WOUT], 1, [[1.0, 0.0], [1.0, 0.0]], [[1.0, -1.0]])
    with pytest.raises(ConfigError, match="invertible"):
        symmetry.mix_linear_pairs(w, 1, [(3, 4), (5, 6)], np.ones((2, 2)))


def test_specs_apply_the_named_transform():
    w = [W1, WOUT]
    for spec, direct in (("rescale:1:2.5", symmetry.rescale(w, 1, 2.5)),
                         ("rescale:1:0:0.5", symmetry.rescale(w, 1, 0.5, unit=0)),
                         ("replicate:1:2:3", symmetry.replicate(w, 1, 2, 3)), ("widen:2", symmetry.widen(w, 2))):
        for a, b in zip(symmetry.apply_spec(w, spec), direct):
            np.testing.assert_array_equal(a, b)
