"""Path statistics of a given network against brute force over every path, and weights files."""
import itertools
import math

import numpy as np
import pytest

from ntkpaths import pathstats, sample, allpaths
from ntkpaths.config import ConfigError, NetworkConfig


def brute_force(weights, x, stds):
    """F per prefix and E[t_l | Z=1] by enumerating every path (i0, j1, ..., jH) and input."""
    zs, _ = allpaths.forward(weights, x)
    dims = [x.shape[1]] + [w.shape[0] for w in weights[:-1]]
    depth = len(zs)
    f = np.zeros((len(x), depth))
    num, den = np.zeros(depth), 0.0
    for b, xb in enumerate(x):
        for prefix in range(1, depth + 1):
            on = sum(all(zs[l][p[l + 1], b] > 0 for l in range(prefix)) for p in itertools.product(*map(range, dims[:prefix + 1])))
            f[b, prefix - 1] = on / math.prod(dims[:prefix + 1])
        for p in itertools.product(*map(range, dims)):
            if all(z[j, b] > 0 for z, j in zip(zs, p[1:])):
                den += 1
                num += [weights[l][p[l + 1], p[l]] / stds[l] * (np.sign(xb[p[0]]) if l == 0 else 1) for l in range(depth)]
    return f, num / den


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_path_statistics_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    w = sample.sample_network(NetworkConfig(dtype="float64", n_out=2), 3, [4, 3, 4], rng=rng)
    x = rng.normal(size=(3, 3))
    stats = pathstats.path_statistics(w, x, stds=(0.5, 2.0, 1.0))
    f, slope = brute_force(w, x, (0.5, 2.0, 1.0))
    np.testing.assert_allclose(stats.active_fraction, f, rtol=1e-12)
    np.testing.assert_allclose(stats.weight_slope, slope, rtol=1e-9)
    np.testing.assert_allclose(stats.layer_fraction, np.stack([allpaths.layer_fraction(z) for z in allpaths.forward(w, x)[0]], 1))
    assert pathstats.he_stds(w) == tuple(math.sqrt(2 / n) for n in (3, 4, 3))


def test_paths_and_products():
    w = [np.array([[2.0, 3.0]]), np.array([[5.0], [7.0]])]
    paths = pathstats.all_paths(w)
    np.testing.assert_array_equal(paths, [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1]])
    np.testing.assert_array_equal(pathstats.path_products(w, paths), [10.0, 14.0, 15.0, 21.0])
    with pytest.raises(ConfigError, match="more than 3"):
        pathstats.all_paths(w, limit=3)


def test_no_active_path_gives_nan_slope():
    w = [np.array([[-1.0, -1.0]]), np.array([[1.0]])]
    stats = pathstats.path_statistics(w, np.array([[1.0, 1.0]]))
    assert stats.p_active[0] == 0 and np.isnan(stats.weight_slope).all()


def test_weights_round_trip(tmp_path):
    w = sample.sample_network(NetworkConfig(dtype="float64"), 4, [3, 5], rng=np.random.default_rng(0))
    back = pathstats.read_weights_npz(pathstats.write_weights_npz(tmp_path / "w.npz", w))
    for a, b in zip(w, back):
        np.testing.assert_array_equal(a, b)


GOOD = {"W1": np.ones((3, 2)), "W2": np.ones((4, 3)), "Wout": np.ones((1, 4))}
BAD_FILES = {
    "no Wout": ({"W1": GOOD["W1"]}, "has no array 'Wout'"),
    "no W1": ({"W2": GOOD["W2"], "Wout": GOOD["Wout"]}, "has no array 'W1'"),
    "gap": ({"W1": GOOD["W1"], "W3": GOOD["W2"], "Wout": GOOD["Wout"]}, "has W3 but no W2"),
    "extra": (GOOD | {"c1": np.ones(3)}, "unexpected array 'c1'"),
    "biases": (GOOD | {"b1": np.ones(3)}, "holds a network with biases; read it with ntkpaths.network_from"),
    "one-d": (GOOD | {"W2": np.ones(12)}, "W2 in"),
    "not chaining": (GOOD | {"W2": np.ones((4, 2))}, "W2 takes 2 inputs but W1 has 3 units"),
    "output not chaining": (GOOD | {"Wout": np.ones((1, 3))}, "Wout takes 3 inputs but W2 has 4 units"),
    "nan": (GOOD | {"W1": np.full((3, 2), np.nan)}, "NaN or infinite"),
    "text": (GOOD | {"W1": np.array([["a", "b"]])}, "real numbers"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_weights_files_are_one_line_errors(name, tmp_path):
    arrays, message = BAD_FILES[name]
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(ConfigError) as info:
        pathstats.read_weights_npz(tmp_path / "w.npz")
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for path, message in ((tmp_path / "junk.npz", "is not a .npz archive: it is a text file"), (tmp_path / "none.npz", "not found")):
        with pytest.raises(ConfigError, match=message):
            pathstats.read_weights_npz(path)


def test_inputs_must_match_the_input_dimension():
    with pytest.raises(ConfigError, match="takes 2 features"):
        pathstats.path_statistics([GOOD["W1"], GOOD["W2"], GOOD["Wout"]], np.ones((3, 5)))
