"""The accelerator path (ntkpaths.accel, JAX) against the numpy reference, on JAX's CPU backend.

Four kinds, as everywhere: the JAX tracer gives the numpy tracer's raw
statistics on the same layers (exactly, for counts); the JAX sampler + tracer
agree in distribution with the numpy explicit sampler; a network's results do
not depend on its batch; the memory guard refuses what cannot fit.
"""
import dataclasses

import numpy as np
import pytest
from scipy import stats as st

from ntkpaths import accel, run_sweep, tasks
from ntkpaths.accel import block, memory, sample as asample, trace as atrace
from ntkpaths.config import ConfigError, InputConfig, NetworkConfig, NtkpathsError, SweepConfig
from ntkpaths.jaxsetup import jax, jnp
from ntkpaths.sample import sample_pairs
from ntkpaths.netstats import C_BINS, T_BINS, X_BINS, NetworkTracer, raw_names

ALL = ("weights", "inputs", "joint")
N = 2000  # networks per sampler in the distribution tests


# ------------------------------------------------------------ helpers
def numpy_raw(x, layers, n_angles, stats):
    tracer = NetworkTracer(x, n_angles, stats)
    for t, z in layers:
        tracer.add_layer(z, t)
    return tracer.result()


def forward32(ts, columns, cfg=NetworkConfig()):
    """float32 layers (t, z) of a bias-free network with given standardised weights."""
    h, out = columns.T.astype(np.float32), []
    for t in ts:
        z = (t @ h) * np.float32(cfg.weight_std(t.shape[1], t.shape[0]))
        out.append((t, z))
        h = np.maximum(z, 0)
    return out


def awkward_weights(rng, d, widths, x):
    """float32 weights with many values on numpy's bin edges, one ulp either side, and in the tails."""
    t_edges = atrace.bin_edges(T_BINS)[1:-1]
    special = np.concatenate([t_edges, np.nextafter(t_edges, -np.inf), np.nextafter(t_edges, np.inf),
                              [-3, 3, -7.5, 9.0, 0.0, -0.0, 1e6]]).astype(np.float32)
    ts = []
    for fan_in, n in zip([d, *widths[:-1]], widths):
        t = rng.standard_normal((n, fan_in), dtype=np.float32)
        pick = rng.random(t.shape) < 0.3
        t[pick] = rng.choice(special, size=pick.sum()) * rng.choice([-1, 1], size=pick.sum()).astype(np.float32)
        ts.append(t)
    ratios = np.stack([xb / max(np.linalg.norm(xb), 1e-300) for xb in x]).astype(np.float32)
    c_edges = atrace.bin_edges(C_BINS)[1:-1]
    for j in range(widths[0]):           # first layer: shares c = t * x_i / |x| on the c bin edges
        i, b = rng.integers(d), rng.integers(len(x))
        if ratios[b, i] != 0:
            ts[0][j, i] = np.float32(rng.choice(c_edges) / ratios[b, i])
    return ts


def tiny(seed, d, widths, n_main, n_angles):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n_main, d))
    x[1] = 0.0                                   # a zero input row
    x[2, 0] = 0.0                                # and a zero coordinate
    base = rng.uniform(-1, 1, size=d)
    columns = np.vstack([x, base, sample_pairs(base, np.linspace(0.3, 2.5, n_angles), rng=rng)]) if n_angles else x
    return x, forward32(awkward_weights(rng, d, widths, x), columns)


def abs_tz(x, layers, n_angles, stats):
    """weight_tz with every path weight made positive: the scale of float32 rounding in weight_tz."""
    if "weights" not in stats:
        return None
    return numpy_raw(np.abs(x), [(np.abs(t), z) for t, z in layers], n_angles, stats)["weight_tz"]


def assert_same(got, ref, names, abs_tz=None):
    """Counts-derived values to float64 rounding; weight_tz to float32 accumulation error."""
    assert set(got) == set(ref)
    for name in names:
        if name == "weight_tz":
            assert np.all(np.abs(got[name] - ref[name]) <= 1e-5 * abs_tz + 1e-12), name
        else:
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-12, atol=1e-15, err_msg=name)


# ------------------------------------------------------------ exact: same layers, same statistics
def test_bins_are_numpys_bins_for_every_float32():
    """Thresholds found from Bins.index decide every value as numpy does: on edges, an ulp off, tails."""
    rng = np.random.default_rng(0)
    for bins in (T_BINS, C_BINS, X_BINS):
        e = atrace.bin_edges(bins)[1:-1]
        near = [np.nextafter(e, np.inf), np.nextafter(np.nextafter(e, -np.inf), -np.inf)]
        v = np.concatenate([e, np.nextafter(e, -np.inf), *near, rng.normal(0, 3, 5000), [0.0, -0.0, 1e30, -1e30]])
        v = v.astype(np.float32)
        hot = np.asarray(atrace.onehot(jnp.asarray(v)[None], bins, jnp.float32))[0]   # (bin, value)
        assert (hot.sum(axis=0) == 1).all()
        np.testing.assert_array_equal(hot.argmax(axis=0), bins.index(v))


@pytest.mark.parametrize("rows", [None, 3])
@pytest.mark.parametrize("onehot", ["float32", "bfloat16", "int8"])
def test_trace_layers_equals_numpy_tracer(rows, onehot):
    """Widths not multiples of d, 11 inputs, a zero input, values on bin edges; row blocks of 3 rows."""
    x, layers = tiny(1, 5, [7, 10, 8], n_main=11, n_angles=2)   # no width a multiple of the 3-row block
    got = accel.trace_layers(x, [z for _, z in layers], [t for t, _ in layers], 2, ALL, onehot=onehot, rows=rows)
    ref = numpy_raw(x, layers, 2, ALL)
    assert_same(got, ref, raw_names(ALL), abs_tz(x, layers, 2, ALL))


@pytest.mark.parametrize("stats", [(), ("weights",), ("inputs",), ("joint",)])
def test_each_statistic_group_alone(stats):
    n_angles = 3 if "joint" in stats else 0
    x, layers = tiny(2, 4, [6, 6], n_main=3, n_angles=n_angles)
    got = accel.trace_layers(x, [z for _, z in layers], [t for t, _ in layers], n_angles, stats)
    ref = numpy_raw(x, layers, n_angles, stats)
    assert_same(got, ref, raw_names(stats), abs_tz(x, layers, n_angles, stats))


def test_depth_one_and_a_wider_network():
    for d, widths, n_main in ((3, [5], 3), (16, [40, 33, 40], 9)):
        x, layers = tiny(3, d, widths, n_main=n_main, n_angles=1)
        got = accel.trace_layers(x, [z for _, z in layers], [t for t, _ in layers], 1, ALL)
        assert_same(got, numpy_raw(x, layers, 1, ALL), raw_names(ALL), abs_tz(x, layers, 1, ALL))


# ------------------------------------------------------------ the pipeline: draws, forward, wiring
FAMILIES = [NetworkConfig(init="ntk"),
            NetworkConfig(init="he-fan-out", weight_dist="uniform", gain=0.7, bias_std=0.3, bias_mean=0.1,
                          weight_mean=0.2)]


def cell(stats, width=12, depth=3, count=9, dim=10, network=NetworkConfig(), nets=7, seed=5):
    cfg = SweepConfig(depth=depth, widths=(width,), seed=seed, stats=stats, method="explicit", network=network,
                      inputs=InputConfig(count=count), input_dims=(dim,))
    columns = tasks.sweep_inputs(dataclasses.replace(cfg, seed=0), dim).columns("joint" in stats)  # fixed inputs
    root = np.random.SeedSequence(seed)
    seeds = [tasks.child_seed(root, tasks.NETWORKS_KEY, dim, width, k) for k in range(nets)]
    return cfg, columns, seeds


@pytest.mark.parametrize("network", FAMILIES)
def test_run_block_traces_its_own_draw(network, monkeypatch):
    """The numpy tracer on the pipeline's own layers gives the pipeline's statistics; and those layers are
    z = std (t @ h) + b with the right fan-in for every init, one bias per neuron."""
    cfg, columns, seeds = cell(ALL, network=network)
    monkeypatch.setitem(memory.WORKSPACE, "cpu", 24_000)      # histograms in blocks of 1 and 5 rows
    assert 12 % accel.make_plan(cfg, 12, columns, 3).how.hidden_rows != 0      # a shifted last block
    raw = accel.run_block(cfg, 12, columns, seeds, batch=3)
    plan = accel.make_plan(cfg, 12, columns, 1)
    layers = block.draw_network(plan, asample.network_keys(seeds[4:5])[0], columns)
    ref = numpy_raw(columns[:9], layers, len(cfg.angles), ALL)
    scale = abs_tz(columns[:9], layers, len(cfg.angles), ALL)
    assert_same({k: v[4] for k, v in raw.items()}, ref, raw_names(ALL), scale)
    key, h = jnp.asarray(asample.network_keys(seeds[4:5])[0]), columns.T
    for layer, (t, z) in enumerate(layers):
        # layer l draws stream 2l (to an ulp: XLA fuses the transcendental functions differently outside the block)
        np.testing.assert_allclose(t, asample.standard_weights(key, layer, t.shape, network, plan.prng),
                                   rtol=1e-5, atol=1e-6)
        b = asample.biases(key, layer, 12, network, plan.prng) if network.has_bias else 0.0
        linear = network.weight_std(t.shape[1], t.shape[0]) * (t.astype(float) @ h)
        np.testing.assert_allclose(z - linear, np.broadcast_to(np.asarray(b)[:, None] if network.has_bias else 0.0,
                                                               z.shape), atol=1e-5 * np.abs(z).max())
        h = np.maximum(z, 0)
    streams = [asample.draw(key, s, (3, 4), "normal", plan.prng) for s in range(2 * cfg.depth)]
    assert len({np.asarray(v).tobytes() for v in streams}) == len(streams)   # weights 2l, biases 2l + 1


@pytest.mark.parametrize("prng", asample.PRNGS)
@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_draws_have_the_right_law(prng, dist):
    """One million draws: KS test against N(0,1) or U(-sqrt3, sqrt3), and moments within 5 se."""
    keys = jnp.asarray(asample.network_keys([np.random.SeedSequence(9, spawn_key=(k,)) for k in range(4)]))
    e = np.asarray(jax.jit(jax.vmap(lambda k: asample.draw(k, 3, (500, 501), dist, prng)))(keys)).ravel()
    law = st.norm() if dist == "normal" else st.uniform(-np.sqrt(3), 2 * np.sqrt(3))
    assert st.kstest(e, law.cdf).pvalue > 1e-3
    assert np.unique(e).size > 0.95 * e.size       # no repeated rows, columns or networks
    for power, truth in ((1, 0.0), (2, 1.0), (4, law.moment(4))):
        se = np.sqrt(law.moment(2 * power) - truth**2) / np.sqrt(e.size)
        assert abs(np.mean(e**power) - truth) <= 5 * se, (power, np.mean(e**power), truth)
    words = 4 if prng == "philox" else 2        # one hash gives columns c, c + q, c + 2q, ... (q = ceil(501 / words))
    q = -(-501 // words)
    planes = [e.reshape(4, 500, 501)[:, :, a * q: a * q + 501 - (words - 1) * q].ravel() for a in range(words)]
    for a in range(words):
        for b in range(a + 1, words):
            for f in (lambda v: v, np.square):      # squares: Box-Muller pairs share a radius if done wrong
                r = np.corrcoef(f(planes[a]), f(planes[b]))[0, 1]
                assert abs(r) * np.sqrt(planes[a].size) <= 5, (a, b, r)


def test_draws_are_a_function_of_position_only():
    """A block of rows is the same rows of the whole matrix, and a batch changes no member."""
    keys = jnp.asarray(asample.network_keys([np.random.SeedSequence(k) for k in range(3)]))
    for prng in asample.PRNGS:
        whole = jax.vmap(lambda k: asample.draw(k, 2, (9, 7), "normal", prng))(keys)
        for m in range(3):
            np.testing.assert_array_equal(asample.draw(keys[m], 2, (9, 7), "normal", prng), whole[m])
        other = asample.draw(keys[0], 3, (9, 7), "normal", prng)
        assert not np.array_equal(other, whole[0])   # streams differ


@pytest.mark.parametrize("entropy", [0, 7, 2**40 + 3, 2**127 + 12345])
def test_child_keys_are_the_seed_sequence_children(entropy):
    """Vectorised key derivation equals generate_state(2) of tasks.child_seed, network by network."""
    root = np.random.SeedSequence(entropy)
    nets = [0, 1, 2, 99, 4095, 2**32 - 1]
    ref = asample.network_keys([tasks.child_seed(root, tasks.NETWORKS_KEY, 64, 1024, k) for k in nets])
    np.testing.assert_array_equal(accel.child_keys(root, (tasks.NETWORKS_KEY, 64, 1024), nets), ref)
    child = tasks.child_seed(root, 3)             # a root that is itself a child: its spawn key leads
    ref = asample.network_keys([tasks.child_seed(child, 5, k) for k in nets])
    np.testing.assert_array_equal(accel.child_keys(child, (5,), nets), ref)


def test_philox_known_answers():
    """Random123's known-answer vectors for Philox-4x32-10, and JAX's own philox4x32 bits."""
    zero, ones = jnp.uint32(0), jnp.uint32(0xFFFFFFFF)
    assert [int(w) for w in asample.philox4x32(zero, zero, zero, zero, zero, zero)] == \
        [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert [int(w) for w in asample.philox4x32(ones, ones, ones, ones, ones, ones)] == \
        [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    key = jax.random.wrap_key_data(np.array([123, 456], np.uint32), impl="philox4x32")
    i = jnp.arange(1000, dtype=jnp.uint32)
    w = asample.philox4x32(jnp.uint32(123), jnp.uint32(456), jnp.zeros_like(i), i, jnp.zeros_like(i), jnp.zeros_like(i))
    np.testing.assert_array_equal(w[0] ^ w[1] ^ w[2] ^ w[3], jax.random.bits(key, (1000,)))


def test_same_seed_same_results_whatever_the_batch():
    """Batch sizes 1, 3 and all: bit-identical; one network replayed alone: bit-identical."""
    cfg, columns, seeds = cell(ALL, width=64)
    runs = {b: accel.run_block(cfg, 64, columns, seeds, batch=b) for b in (1, 3, len(seeds), None)}  # None: 8
    alone = accel.run_block(cfg, 64, columns, asample.network_keys(seeds[5:6]), batch=1)   # keys work too
    for name, values in runs[len(seeds)].items():
        np.testing.assert_array_equal(runs[1][name], values, err_msg=name)
        np.testing.assert_array_equal(runs[3][name], values, err_msg=name)
        np.testing.assert_array_equal(runs[None][name], values, err_msg=name)
        np.testing.assert_array_equal(alone[name][0], values[5], err_msg=name)
    assert not np.array_equal(values[0], values[1])


# ------------------------------------------------------------ in distribution, against numpy
def two_sample_p(a, b, bins=10):
    """Chi-square homogeneity test on pooled-quantile bins (F is discrete, so no KS)."""
    edges = np.unique(np.quantile(np.concatenate([a, b]), np.linspace(0, 1, bins + 1)))
    table = np.stack([np.bincount(np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2),
                                  minlength=len(edges) - 1) for s in (a, b)])
    return st.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue


def moments_z(a, b):
    """z-scores of the differences of means and of variances, from each sample's own se."""
    def mean_var(s):
        c = s - s.mean()
        v = c.var(ddof=1)
        return s.mean(), s.std(ddof=1) / np.sqrt(s.size), v, np.sqrt((np.mean(c**4) - v**2) / s.size)
    ma, sa, va, sva = mean_var(a)
    mb, sb, vb, svb = mean_var(b)
    return (ma - mb) / np.hypot(sa, sb), (va - vb) / np.hypot(sva, svb)


def sampled(stats, width, depth, network=NetworkConfig(), seed=0, nets=N, on="accel"):
    """Raw statistics of ``nets`` networks of one cell, from the accelerator path or numpy's ``run_task``."""
    cfg, columns, seeds = cell(stats, width=width, depth=depth, count=6, dim=16, network=network, nets=nets,
                               seed=seed)
    if on == "numpy":
        return tasks.run_task(cfg, tasks.Task(16, width, 0, nets), columns)
    return accel.run_block(cfg, width, columns, seeds)


def both_samplers(stats, width, depth, seed=0, nets=N):
    return (sampled(stats, width, depth, seed=seed, nets=nets, on="numpy"),
            sampled(stats, width, depth, seed=seed + 100, nets=nets))


@pytest.mark.parametrize("width,depth", [(16, 4), (33, 3), (64, 2)])
def test_active_fraction_agrees_with_numpy(width, depth):
    ref, got = both_samplers((), width, depth, seed=width)
    for h in range(depth):
        a, b = ref["active_fraction"][:, :, h].mean(axis=1), got["active_fraction"][:, :, h].mean(axis=1)
        assert two_sample_p(a, b) > 1e-3, (width, h)
        z_mean, z_var = moments_z(a, b)
        assert abs(z_mean) <= 5 and abs(z_var) <= 5, (width, h, z_mean, z_var)
        se = b.std(ddof=1) / np.sqrt(b.size)
        assert abs(b.mean() - 2.0 ** -(h + 1)) <= 5 * se, (width, h)   # Theorem 1 holds for He, no bias


def test_the_two_sample_test_has_power():
    """The same test separates numpy's He networks from accelerator networks with a small positive bias."""
    he = sampled((), 16, 3, seed=1, on="numpy")["active_fraction"][:, :, -1].mean(axis=1)
    biased = sampled((), 16, 3, network=NetworkConfig(bias_mean=0.05), seed=2)
    assert two_sample_p(he, biased["active_fraction"][:, :, -1].mean(axis=1)) < 1e-6


def ratio(num, den):
    """Ratio of means over networks and its delta-method se (as aggregate.ratio_of_means)."""
    r = num.mean(axis=0) / den.mean(axis=0)
    influence = num / num.mean(axis=0) - den / den.mean(axis=0)
    return r, np.abs(r) * influence.std(axis=0, ddof=1) / np.sqrt(len(num))


def test_edge_and_joint_statistics_agree_with_numpy():
    """E[t_l | Z=1] per layer, P(Z=1 | c bin) and the joint activation, within 5 combined se."""
    ref, got = both_samplers(ALL, 24, 3, seed=4, nets=1500)
    for raw in (ref, got):
        raw["deep"] = raw["active_fraction"][:, :, -1].sum(axis=1)
    pairs = [(r["weight_tz"], np.repeat(r["deep"][:, None], 3, axis=1)) for r in (ref, got)]
    pairs += [(r["input_num"], r["input_den"] * r["deep"][:, None]) for r in (ref, got)]
    for (num_a, den_a), (num_b, den_b) in zip(pairs[0::2], pairs[1::2]):
        keep = den_a.mean(axis=0) > 0.01
        (ra, sa), (rb, sb) = ratio(num_a[:, keep], den_a[:, keep]), ratio(num_b[:, keep], den_b[:, keep])
        assert np.all(np.abs(ra - rb) <= 5 * np.hypot(sa, sb)), (ra, rb)
    slope, se = ratio(got["weight_tz"], np.repeat(got["deep"][:, None], 3, axis=1))
    assert slope.min() / se.max() > 5                    # the dependence is there, and seen at this width
    ja, jb = ref["joint_fraction"], got["joint_fraction"]
    se = np.hypot(ja.std(axis=0, ddof=1), jb.std(axis=0, ddof=1)) / np.sqrt(len(ja))
    assert np.all(np.abs(ja.mean(axis=0) - jb.mean(axis=0)) <= 5 * se)


# ------------------------------------------------------------ refusals and memory
def test_unsupported_configurations_are_refused_in_one_line():
    cfg, columns, seeds = cell(())
    for bad, match in [(SweepConfig(network=NetworkConfig(dtype="float64")), "float32"),
                       (SweepConfig(method="implicit"), "explicit")]:
        with pytest.raises(ConfigError, match=match) as err:
            accel.run_block(bad, 12, columns, seeds)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="prng"):
        accel.run_block(cfg, 12, columns, seeds, prng="rbg")
    with pytest.raises(ConfigError, match="columns"):
        accel.run_block(cfg, 12, columns[:3], seeds)


def test_memory_guard_refuses_an_impossible_width_in_one_line():
    cfg = SweepConfig(depth=8, widths=(64, 1_000_000), stats=ALL)
    with pytest.raises(NtkpathsError, match="width 1000000") as err:
        memory.check_memory(cfg, free=16 << 30)
    assert "\n" not in str(err.value)
    memory.check_memory(SweepConfig(depth=8, widths=(64, 1024), stats=ALL), free=16 << 30)


@pytest.mark.parametrize("free", [200 << 20, 2 << 30])
def test_memory_guard_picks_a_batch_that_fits(free):
    """The batch fits the budget, and XLA's own buffer plan for it stays within the estimate."""
    cfg, columns, seeds = cell(ALL, width=512, depth=2, nets=1)
    batch = memory.pick_batch(cfg, 512, 10, free=free)
    per = memory.bytes_per_network(cfg, 512, 10)
    budget = batch * per + memory.OVERHEAD + memory.workspace_bytes(cfg)
    assert 1 <= batch and budget <= memory.SAFETY * free
    plan = accel.make_plan(cfg, 512, columns, batch)
    cols, consts = block.device_inputs(columns, 9)
    keys = jnp.zeros((batch, 2), jnp.uint32)
    used = block.compiled(plan).lower(keys, jnp.broadcast_to(cols, (batch, *cols.shape)), consts).compile()
    analysis = used.memory_analysis()
    assert analysis.temp_size_in_bytes + analysis.output_size_in_bytes <= budget


def test_counts_that_could_round_are_refused():
    """Float32 sums of one-hot products are exact only below 2^24 terms; int32 block sums below 2^31."""
    how = atrace.Counting(8, 0, ("weights",))
    atrace.check_exact([1 << 20], 1000, how)
    for fan_in, rows in (((1 << 24), 1), ((1 << 20), 1 << 11)):
        with pytest.raises(ConfigError, match="exact"):
            atrace.check_exact([fan_in], rows, how)
    atrace.check_exact([1 << 24], 1, atrace.Counting(8, 0, ()))   # no edge counts, nothing to round


# ------------------------------------------------ the accelerator path inside sweeps (--device)
def test_device_refuses_what_the_accelerator_cannot_draw():
    from ntkpaths.config import ConfigError

    for network, message in [(NetworkConfig(weight_dist="sparse"), "normal or uniform weights"),
                             (NetworkConfig(weight_dist="orthogonal"), "normal or uniform weights"),
                             (NetworkConfig(dtype="float64"), "float32 weights only")]:
        with pytest.raises(ConfigError, match=message):
            SweepConfig(device="gpu", network=network)
    with pytest.raises(ConfigError, match="explicit weights"):
        SweepConfig(device="jax", method="implicit")
    assert SweepConfig(device="jax", stats=()).sampler == "explicit"


def test_gpu_without_an_accelerator_is_one_line(tmp_path, capsys):
    from ntkpaths import cli
    from ntkpaths.jaxsetup import accelerator

    if accelerator() is not None:
        pytest.skip("this machine has an accelerator")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sweep", "--depth", "2", "--widths", "8", "--nets", "4", "--device", "gpu",
                  "--out", str(tmp_path / "g.zarr")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "JAX sees no accelerator" in err
    assert not (tmp_path / "g.zarr").exists()


def test_sweep_on_the_jax_device_records_it_and_matches_theory():
    """--device jax runs every block through accel.run_block; P(active) is 2^-H within 5 se, the
    weight slope its exact value, and task size changes nothing on one device."""
    cfg = SweepConfig(depth=3, widths=(16, 48), nets=400, seed=4, device="jax", stats=("weights", "joint"),
                      nets_per_task=400, input_dims=(16,))
    ds = run_sweep(cfg, scheduler="synchronous")
    assert ds.attrs["device"] == "jax" and ds.attrs["method"] == "explicit" and "accel_prng" in ds.attrs
    z_p = (ds.p_active - ds.p_theory) / ds.p_active_se
    z_w = (ds.weight_slope - ds.weight_slope_theory) / ds.weight_slope_se
    assert float(abs(z_p).max()) <= 5 and float(abs(z_w).max()) <= 5, (z_p.values, z_w.values)
    other = run_sweep(dataclasses.replace(cfg, nets_per_task=150), scheduler="synchronous")
    np.testing.assert_array_equal(other.active_fraction.values, ds.active_fraction.values)
    np.testing.assert_array_equal(other.weight_tz.values, ds.weight_tz.values)
