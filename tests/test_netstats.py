"""Exact tests of NetworkTracer against brute-force enumeration of every path.

The reference below walks every hidden path (i0, j1, ..., jH) of a tiny
network one at a time, in plain Python, straight from the definitions in
docs/science.md ("Exact all-path estimators"); the tracer instead uses
per-layer factorisations and packed histograms. The two must agree to
rounding on every network. With tracked edges (the implicit sampler's one
weight per neuron) the edge statistics are instead sums over the paths
through tracked edges, and the reference restricts itself the same way.
"""
import itertools
import math

import numpy as np
import pytest

from ntkpaths import SweepConfig, run_sweep, sample
from ntkpaths.config import InputConfig, NetworkConfig
from ntkpaths.tasks import trace_network
from ntkpaths.netstats import C_BINS, T_BINS, X_BINS, NetworkTracer, RAW_DIMS, raw_names

STATS = ("weights", "inputs", "joint")
CFG64 = NetworkConfig(dtype="float64")
RTOL = 1e-12


# ------------------------------------------------------------ the reference
def bin_of(bins, value: float) -> int:
    """The package's binning of one value (the binning itself is tested separately)."""
    return int(bins.index(np.array([value]))[0])


def forward(weights, columns):
    """Hidden pre-activations (neuron, column) of a bias-free network."""
    h, zs = columns.T, []
    for w in weights:
        zs.append(w @ h)
        h = np.maximum(zs[-1], 0)
    return zs


def on(zs, path, col) -> bool:
    """Whether every hidden neuron j1..jh of ``path`` (i0 first) is on for column ``col``."""
    return all(zs[l][j, col] > 0 for l, j in enumerate(path[1:]))


def brute_force(x, ts, zs, n_angles, sources=None):
    """Every raw statistic of ``RAW_DIMS`` by enumerating every path, one at a time.

    x : (input, feature) main inputs; ts : standardised weights per hidden
    layer; zs : pre-activations, columns = main inputs, then base, then one per
    angle. ``sources`` (per layer, the tracked source of each neuron) restricts
    each layer's edge statistics to the paths through tracked edges.
    """
    n_main, d = x.shape
    dims = [d] + [t.shape[0] for t in ts]
    depth = len(ts)
    ref = {"weight_num": np.zeros((depth, T_BINS.count)), "weight_den": np.zeros((depth, T_BINS.count)),
           "weight_tz": np.zeros(depth),
           "input_num": np.zeros(C_BINS.count), "input_den": np.zeros(C_BINS.count),
           "xvalue_num": np.zeros(X_BINS.count), "xvalue_den": np.zeros(X_BINS.count)}
    paths = list(itertools.product(*(range(n) for n in dims)))
    for b, xb in enumerate(x):
        norm = math.sqrt(sum(v * v for v in xb))
        for p in paths:
            i0, z_on = p[0], float(on(zs, p, b))
            share = [edge_share(p, l, sources, dims, len(paths)) for l in range(depth)]
            for l in range(depth):
                t = ts[l][p[l + 1], p[l]] * (np.sign(xb[i0]) if l == 0 else 1.0)
                k = bin_of(T_BINS, t)
                ref["weight_num"][l, k] += z_on * share[l]
                ref["weight_den"][l, k] += share[l]
                ref["weight_tz"][l] += z_on * t * share[l]
            kc = bin_of(C_BINS, ts[0][p[1], i0] * xb[i0] / norm)
            ref["input_num"][kc] += z_on * share[0]
            ref["input_den"][kc] += share[0]
            kx = bin_of(X_BINS, xb[i0] * math.sqrt(d) / norm)
            ref["xvalue_num"][kx] += z_on / len(paths)
            ref["xvalue_den"][kx] += 1 / len(paths)
    ref["active_fraction"] = np.array([[prefix_fraction(zs, dims[: h + 1], [b]) for h in range(1, depth + 1)]
                                       for b in range(n_main)])
    if n_angles:
        base = n_main
        ref["joint_fraction"] = np.array([[prefix_fraction(zs, dims[: h + 1], [base, base + 1 + a])
                                           for h in range(1, depth + 1)] for a in range(n_angles)])
    return ref


def edge_share(p, l, sources, dims, n_paths) -> float:
    """Weight of path p in layer l's edge statistics: 1/#paths, or 1/#(paths through
    tracked layer-l edges) if its layer-l edge is the tracked one, else 0."""
    if sources is None:
        return 1 / n_paths
    return dims[l] / n_paths if p[l] == sources[l][p[l + 1]] else 0.0


def prefix_fraction(zs, dims, cols) -> float:
    """Fraction of the paths through the first len(dims)-1 hidden layers on for all ``cols``."""
    paths = list(itertools.product(*(range(n) for n in dims)))
    return sum(all(on(zs, p, c) for c in cols) for p in paths) / len(paths)


# ------------------------------------------------------------ tiny networks
def tiny_network(seed: int, d: int, widths: list[int], n_main: int, n_angles: int):
    """Inputs (main, then base and rotated pair columns), standardised weights and z."""
    rng = np.random.default_rng(seed)
    weights = sample.sample_network(CFG64, d, widths, rng=rng)[:-1]   # W_out never matters
    dims = [d, *widths]
    ts = [w / CFG64.weight_std(fi, fo) for w, fi, fo in zip(weights, dims[:-1], dims[1:])]
    x = rng.uniform(-1, 1, size=(n_main, d))
    base = rng.uniform(-1, 1, size=d)          # not a main input, so a mix-up of columns shows
    pairs = sample.sample_pairs(base, np.linspace(0.3, 2.5, n_angles), rng=rng)
    columns = np.vstack([x, base, pairs]) if n_angles else x
    return x, ts, forward(weights, columns), n_angles


def traced(x, ts, zs, n_angles, stats=STATS):
    tracer = NetworkTracer(x, n_angles, stats)
    for z, t in zip(zs, ts):
        tracer.add_layer(z, t)
    return tracer.result()


def assert_matches(got: dict, ref: dict, names) -> None:
    for name in names:
        np.testing.assert_allclose(got[name], ref[name], rtol=RTOL, atol=1e-15, err_msg=name)


# ------------------------------------------------------------ tests
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("d, widths", [(3, [3, 4, 2]), (3, [4, 2, 5]), (2, [5]), (4, [2, 3, 2, 3])])
def test_tracer_equals_brute_force(seed, d, widths):
    net = tiny_network(seed, d, widths, n_main=3, n_angles=2)
    got = traced(*net)
    assert set(got) == set(RAW_DIMS)
    assert_matches(got, brute_force(*net), RAW_DIMS)


@pytest.mark.parametrize("seed", range(3))
def test_tracked_edges_equal_brute_force_over_paths_through_them(seed):
    """Implicit sampler: one tracked incoming edge per neuron; edge statistics average
    over the paths through tracked edges, everything else is unchanged."""
    x, ts, zs, n_angles = tiny_network(seed, 3, [3, 4, 2], n_main=9, n_angles=2)
    rng = np.random.default_rng(seed)
    sources = [rng.integers(0, t.shape[1], size=t.shape[0]) for t in ts]
    tracer = NetworkTracer(x, n_angles, STATS)
    for z, t, src in zip(zs, ts, sources):
        tracer.add_layer(z, None, sample.Tracked(src=src, t=t[np.arange(len(src)), src]))
    assert_matches(tracer.result(), brute_force(x, ts, zs, n_angles, sources), RAW_DIMS)


@pytest.mark.parametrize("n_main", [8, 9, 11, 17])
def test_more_inputs_than_one_packed_byte(n_main):
    """The dense histogram packs 8 inputs per byte; inputs past the first byte must count too."""
    net = tiny_network(10 + n_main, 3, [3, 4, 2], n_main=n_main, n_angles=1)
    assert_matches(traced(*net), brute_force(*net), RAW_DIMS)


@pytest.mark.parametrize("stats", [(), ("weights",), ("inputs",), ("joint",)])
def test_each_statistic_group_alone(stats):
    """Asking for fewer groups yields exactly their variables, still equal to the reference."""
    net = tiny_network(3, 3, [3, 4, 2], n_main=4, n_angles=2 if "joint" in stats else 0)
    got = traced(*net, stats=stats)
    assert set(got) == set(raw_names(stats))
    assert_matches(got, brute_force(*net), raw_names(stats))


def test_bins_clip_tails_and_put_edges_in_the_upper_bin():
    """Independent float64 reference: floor((v - lo) / step), tails clipped to the end bins."""
    step = (T_BINS.hi - T_BINS.lo) / T_BINS.count
    inside = T_BINS.edges[:-1]                       # exact edges are representable: k * 0.25
    np.testing.assert_array_equal(T_BINS.index(inside), np.arange(T_BINS.count))
    np.testing.assert_array_equal(T_BINS.index(inside + step / 2), np.arange(T_BINS.count))
    tails = np.array([-1e6, -3.0 - 1e-9, -3.0, 3.0, 3.0 + 1e-9, 7.5, 1e6])
    np.testing.assert_array_equal(T_BINS.index(tails), [0, 0, 0, 23, 23, 23, 23])
    np.testing.assert_array_equal(C_BINS.index(np.array([-2.0, -1.0, 0.0, 1.0, 2.0])), [0, 0, 20, 39, 39])


def test_hand_made_weights_on_edges_and_outside_the_range():
    """Standardised weights at a bin edge and beyond +-3 are clipped into the end bins."""
    x = np.array([[0.5, -2.0], [-1.0, 0.25]])
    t1 = np.array([[3.0, -3.0], [1.0, 0.25], [-4.5, 1.0]])   # neuron 1 has z = 0 (off) for input 0
    t2 = np.array([[-3.0, 5.0, 0.25], [3.0, -0.5, -9.0]])
    ts = [t1, t2]
    zs = forward([t1, t2], x)   # std only rescales z, which leaves every sign unchanged
    got, ref = traced(x, ts, zs, 0, stats=("weights", "inputs")), brute_force(x, ts, zs, 0)
    assert_matches(got, ref, raw_names(("weights", "inputs")))
    # layer 2 by hand: -3 and -9 fall in bin 0, 3 and 5 in bin 23, 0.25 (an edge) in bin 13
    per_edge = len(x) / t2.size
    np.testing.assert_allclose(got["weight_den"][1, [0, 10, 13, 23]], [2 * per_edge, per_edge, per_edge, 2 * per_edge])
    np.testing.assert_allclose(got["weight_den"].sum(axis=1), len(x))


@pytest.mark.parametrize("seed", range(3))
def test_trace_network_equals_brute_force_of_the_same_draw(seed):
    """The sweep's per-network entry point: replay the draw and enumerate its paths."""
    cfg = SweepConfig(depth=3, widths=(3,), nets=1, network=CFG64, angles=(0.4, 1.9), input_dims=(3,),
                      inputs=InputConfig(count=3), method="explicit")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(3, 3))
    base = rng.uniform(-1, 1, size=3)
    columns = np.vstack([x, base, sample.sample_pairs(base, cfg.angles, rng=rng)])
    got = trace_network(cfg, 3, columns, rng=np.random.default_rng(100 + seed))
    layers = list(sample.iter_layers(CFG64, [3] * 3, columns, rng=np.random.default_rng(100 + seed),
                                     keep_weights=True))
    zs = forward([layer.weight for layer in layers], columns)
    ref = brute_force(x, [layer.standard for layer in layers], zs, len(cfg.angles))
    assert_matches(got, ref, RAW_DIMS)


@pytest.fixture(scope="module")
def sweep():
    # explicit: every edge is summed, so the identity below is exact (tracked edges meet it only on average)
    cfg = SweepConfig(depth=3, widths=(2, 5, 16), nets=6, seed=7, nets_per_task=4, input_dims=(3, 10),
                      angles=(0.5, 2.0), inputs=InputConfig(count=11), method="explicit")
    return run_sweep(cfg, scheduler="synchronous")


@pytest.mark.parametrize("num, den, dim", [("weight_num", "weight_den", "t_bin"),
                                           ("input_num", "input_den", "c_bin"),
                                           ("xvalue_num", "xvalue_den", "x_bin")])
def test_marginalising_over_the_bin_recovers_p_active(sweep, num, den, dim):
    """Summed over bins, each conditional histogram is the deep active fraction, per network."""
    f_deep = sweep["active_fraction"].isel(depth=-1).sum("input")   # (.., network)
    total, mass = sweep[num].sum(dim), sweep[den].sum(dim)            # (.., network[, layer])
    assert float(f_deep.max()) > 0
    assert float(abs(total - f_deep).max()) <= RTOL * float(f_deep.max())
    assert float(abs(mass - sweep.sizes["input"]).max()) <= RTOL * sweep.sizes["input"]
