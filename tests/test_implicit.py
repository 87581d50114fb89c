"""The implicit sampler agrees in distribution with the explicit one, and survives rank loss."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ntkpaths import InputConfig, NetworkConfig, SweepConfig, run_sweep, sample, tasks

N = 3000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """One fixed input set, so that different seeds give independent networks on the same inputs."""
    path = tmp_path_factory.mktemp("inputs") / "x.npy"
    np.save(path, np.random.default_rng(123).uniform(-1, 1, size=(6, 16)))
    return InputConfig.from_file(path)[0]


def per_network(inputs, method, width, depth, seed=0, network=NetworkConfig(), stats_=(), nets=N):
    cfg = SweepConfig(depth=depth, widths=(width,), nets=nets, seed=seed, method=method, stats=stats_,
                      network=network, nets_per_task=nets, inputs=inputs, input_dims=(16,))
    return run_sweep(cfg, scheduler="synchronous")


def two_sample_p(a: np.ndarray, b: np.ndarray, bins: int = 10) -> float:
    """Chi-square homogeneity test on pooled-quantile bins (F is discrete, so no KS)."""
    edges = np.unique(np.quantile(np.concatenate([a, b]), np.linspace(0, 1, bins + 1)))
    idx_a = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, len(edges) - 2)
    idx_b = np.clip(np.searchsorted(edges, b, side="right") - 1, 0, len(edges) - 2)
    table = np.stack([np.bincount(idx_a, minlength=len(edges) - 1), np.bincount(idx_b, minlength=len(edges) - 1)])
    table = table[:, table.sum(axis=0) > 0]
    return stats.chi2_contingency(table).pvalue


def moments_z(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """z-scores of the differences of means and of variances, from each sample's own se."""
    def mean_var(x):
        c = x - x.mean()
        v = c.var(ddof=1)
        return x.mean(), x.std(ddof=1) / np.sqrt(x.size), v, np.sqrt(max(np.mean(c**4) - v**2, 0.0) / x.size)
    ma, sa, va, sva = mean_var(a)
    mb, sb, vb, svb = mean_var(b)
    return (ma - mb) / np.hypot(sa, sb), (va - vb) / np.hypot(sva, svb)


@pytest.mark.parametrize("width,depth", [(4, 3), (16, 4), (64, 3)])
def test_active_fraction_agrees_in_distribution(inputs, width, depth):
    ex = per_network(inputs, "explicit", width, depth, seed=1)["active_fraction"].isel(width=0)
    im = per_network(inputs, "implicit", width, depth, seed=2)["active_fraction"].isel(width=0)
    for h in range(1, depth + 1):
        a = ex.sel(depth=h).mean("input").values
        b = im.sel(depth=h).mean("input").values
        assert two_sample_p(a, b) > 1e-3, (width, h)
        z_mean, z_var = moments_z(a, b)
        assert abs(z_mean) <= 5 and abs(z_var) <= 5, (width, h, z_mean, z_var)


@pytest.mark.parametrize("width,depth", [(8, 3), (40, 3)])
def test_orthogonal_weights_agree_in_distribution(inputs, width, depth):
    """The implicit sampler draws W h for Haar W from the Gram matrix alone (widths below and above
    the input dim 16); the explicit sampler draws the full orthogonal matrix by QR."""
    orth = NetworkConfig(weight_dist="orthogonal")
    ex = per_network(inputs, "explicit", width, depth, seed=11, network=orth, stats_=("joint",), nets=2000)
    im = per_network(inputs, "implicit", width, depth, seed=12, network=orth, stats_=("joint",), nets=2000)
    for h in range(1, depth + 1):
        a = ex["active_fraction"].isel(width=0).sel(depth=h).mean("input").values
        b = im["active_fraction"].isel(width=0).sel(depth=h).mean("input").values
        assert two_sample_p(a, b) > 1e-3, (width, h)
        z_mean, z_var = moments_z(a, b)
        assert abs(z_mean) <= 5 and abs(z_var) <= 5, (width, h, z_mean, z_var)
    z = (ex.joint_active - im.joint_active) / np.hypot(ex.joint_active_se, im.joint_active_se)
    assert float(abs(z).max()) <= 5, z.values


def test_orthogonal_layers_are_not_gaussian_layers():
    """Power: a single input's signs are i.i.d. for both laws, but orthogonal rows make the neurons'
    joint activation on two inputs dependent, which the same moment test tells apart (width 2, d = 2)."""
    def joint(network, seed):
        cfg = SweepConfig(depth=1, widths=(2,), nets=4000, seed=seed, input_dims=(2,), stats=("joint",),
                          angles=(np.pi / 2,), method="implicit", network=network, nets_per_task=4000)
        return run_sweep(cfg, scheduler="synchronous")["joint_fraction"].values.ravel()

    orth, gauss = joint(NetworkConfig(weight_dist="orthogonal"), 15), joint(NetworkConfig(), 16)
    assert abs(moments_z(orth, gauss)[1]) > 5 or two_sample_p(orth, gauss) < 1e-6


def test_two_sample_test_has_power(inputs):
    """The same test separates He from a family with a small positive bias."""
    he = per_network(inputs, "implicit", 16, 3, seed=3)["active_fraction"].isel(width=0, depth=-1).mean("input").values
    biased = per_network(inputs, "implicit", 16, 3, seed=4, network=NetworkConfig(bias_mean=0.05))
    b = biased["active_fraction"].isel(width=0, depth=-1).mean("input").values
    assert two_sample_p(he, b) < 1e-6


def test_joint_activation_agrees(inputs):
    ex = per_network(inputs, "explicit", 16, 3, seed=5, stats_=("joint",))
    im = per_network(inputs, "implicit", 16, 3, seed=6, stats_=("joint",))
    z = (ex.joint_active - im.joint_active) / np.hypot(ex.joint_active_se, im.joint_active_se)
    assert float(abs(z).max()) <= 5, z.values


def test_weight_slope_agrees(inputs):
    """Tracked edges (implicit) and all edges (explicit) estimate the same E[t_l | Z=1]."""
    ex = per_network(inputs, "explicit", 32, 3, seed=7, stats_=("weights",))
    im = per_network(inputs, "implicit", 32, 3, seed=8, stats_=("weights",), nets=8000)
    combined = np.hypot(ex.weight_slope_se, im.weight_slope_se)
    assert float((combined / ex.weight_slope).max()) < 0.025   # power: a 12.5% disagreement is > 5 se
    z = (ex.weight_slope - im.weight_slope) / combined
    assert float(abs(z).max()) <= 5, z.values
    # and both see the dependence: it is far from zero at width 32
    assert float((im.weight_slope / im.weight_slope_se).min()) > 5


def test_tracked_weights_follow_their_law_when_the_gram_matrix_is_singular():
    """A duplicate and a zero input make G singular. The tracked weight t of neuron j (source s) must
    still be N(0, 1) with Cov(t, z_jb) = std x_bs for every input b: 0 for the zero input, equal
    for the duplicates. Checked over 200,000 neurons with 5-se bounds from the sample."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3, 5))
    x = np.vstack([x, x[:1], np.zeros((1, 5))])
    ts, covs = [], []
    for _ in range(50):
        layer = next(sample.iter_layers_implicit(NetworkConfig(dtype="float64"), [4000], x, rng=rng, track=True))
        assert np.isfinite(layer.z).all()
        np.testing.assert_allclose(layer.z[:, 0], layer.z[:, 3], rtol=1e-9, atol=1e-12)  # duplicates coincide
        assert (layer.z[:, 4] == 0).all()                              # a zero input stays dead
        src, t = layer.tracked.src, layer.tracked.t
        ts.append(t)
        covs.append(t[:, None] * layer.z - layer.std * x.T[src])      # mean 0 if the law is right
    t, dev = np.concatenate(ts), np.concatenate(covs)
    se = t.std(ddof=1) / np.sqrt(t.size)
    assert abs(t.mean()) <= 5 * se
    c = t - t.mean()
    assert abs(c.var() - 1) <= 5 * np.sqrt((np.mean(c**4) - c.var() ** 2) / t.size)
    z = dev[:, :4].mean(axis=0) / (dev[:, :4].std(axis=0, ddof=1) / np.sqrt(len(dev)))
    assert (np.abs(z) <= 5).all(), z
    assert (dev[:, 4] == 0).all()   # zero input: t z = 0 exactly


def test_a_dead_layer_stays_dead_and_its_weights_keep_their_prior():
    """With every neuron off, later layers are exactly zero, and a tracked weight into a dead
    layer is just its prior N(weight_mean, 1)."""
    x = np.zeros((2, 3))
    for mean in (0.0, 0.5):
        cfg = NetworkConfig(dtype="float64", weight_mean=mean)
        layers = list(sample.iter_layers_implicit(cfg, [5000] * 4, x, rng=np.random.default_rng(1), track=True))
        assert all((layer.z == 0).all() for layer in layers)
        t = np.concatenate([layer.tracked.t for layer in layers])
        assert abs(t.mean() - mean) <= 5 / np.sqrt(t.size)
        assert abs(t.var() - 1) <= 5 * np.sqrt(2 / t.size)


@pytest.mark.parametrize("dist", ["uniform", "student-t", "sparse"])
def test_implicit_refuses_laws_it_cannot_draw(dist):
    with pytest.raises(Exception, match=f"normal or orthogonal weights; use --method explicit for {dist}"):
        SweepConfig(method="implicit", network=NetworkConfig(weight_dist=dist))
    with pytest.raises(Exception, match="tracks edge weights only for normal"):
        SweepConfig(method="implicit", stats=("weights",), network=NetworkConfig(weight_dist="orthogonal"))


def test_tracked_weights_stay_exact_when_inputs_nearly_coincide():
    """Pair inputs converge with depth (and the pair base duplicates input 0), so the Gram
    matrix is nearly singular; tracked weights must still follow their exact law."""
    cfg = SweepConfig(depth=8, widths=(256, 1024), nets=300, seed=0, method="implicit", stats=("weights", "joint"),
                      nets_per_task=300)
    ds = run_sweep(cfg, scheduler="synchronous")
    z = (ds.weight_slope - ds.weight_slope_theory) / ds.weight_slope_se
    assert float(abs(z).max()) <= 5, z.values


@pytest.mark.parametrize("stats_", [(), ("joint",)])
def test_batched_networks_equal_one_at_a_time(stats_):
    """Stacking networks changes speed only: every value is bit-identical, whatever the block."""
    cfg = tasks.resolve_seed(SweepConfig(depth=5, widths=(16,), nets=40, seed=3, method="implicit", stats=stats_))
    assert tasks.batched(cfg, 16)
    columns = tasks.sweep_inputs(cfg, 64).columns("joint" in stats_)
    whole = tasks.run_task(cfg, tasks.Task(64, 16, 0, 40), columns)
    root = np.random.SeedSequence(cfg.seed)
    for net in (0, 17, 39):
        rng = np.random.default_rng(tasks.child_seed(root, tasks.NETWORKS_KEY, 64, 16, net))
        alone = tasks.trace_network(cfg, 16, columns, rng=rng)
        for name, values in alone.items():
            np.testing.assert_array_equal(whole[name][net], values)
    pieces = [tasks.run_task(cfg, tasks.Task(64, 16, s, min(s + 7, 40)), columns) for s in range(0, 40, 7)]
    for name in whole:
        np.testing.assert_array_equal(np.concatenate([p[name] for p in pieces]), whole[name])


# ------------------------------------------------ tracked sources at any width
def test_tracked_sources_cover_the_fan_in_evenly():
    """Every source is tracked n / fan_in times in expectation, also when fan_in does not divide n."""
    rng = np.random.default_rng(0)
    for n, fan_in in [(40, 16), (8, 16), (48, 16), (5, 7)]:
        draws = np.stack([np.bincount(sample.tracked_sources(n, fan_in, rng=rng), minlength=fan_in)
                          for _ in range(4000)])
        assert (draws.sum(axis=1) == n).all()
        assert draws.min() >= n // fan_in and draws.max() <= n // fan_in + 1   # balanced in every draw
        se = draws.std(axis=0, ddof=1) / np.sqrt(len(draws))
        mean = draws.mean(axis=0)
        exact = np.isclose(se, 0)
        assert np.allclose(mean[exact], n / fan_in)
        assert (abs(mean[~exact] - n / fan_in) <= 5 * se[~exact]).all(), (n, fan_in, mean)


@pytest.fixture(scope="module")
def structured():
    """Image-like inputs: four bright coordinates, twelve nearly blank ones (like border pixels)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(4, 16)) * np.r_[np.ones(4), np.full(12, 0.02)]
    path = Path(tempfile.mkdtemp()) / "structured.npy"
    np.save(path, x)
    return InputConfig.from_file(path)[0]


@pytest.mark.parametrize("width", [8, 24, 40])
def test_layer_one_edge_statistics_at_widths_not_multiples_of_d(structured, width):
    """Tracking source j mod d (the old rule) gave width 8 only the bright coordinates: E[t_1|Z=1]
    came out ~3x too large; widths 24 and 40 counted them twice. Now layer 1 matches its exact
    value, and the explicit sampler's exact sums, bin by bin."""
    common = dict(depth=2, widths=(width,), input_dims=(16,), inputs=structured, stats=("weights", "inputs"))
    im = run_sweep(SweepConfig(**common, nets=8000, seed=41, method="implicit", nets_per_task=8000),
                   scheduler="synchronous").isel(width=0)
    ex = run_sweep(SweepConfig(**common, nets=1500, seed=42, method="explicit", nets_per_task=1500),
                   scheduler="synchronous").isel(width=0)
    first = im.sel(layer=1)
    assert float(first.weight_slope_se / first.weight_slope) < 0.03   # power: a 15% bias is > 5 se
    z = float((first.weight_slope - first.weight_slope_theory) / first.weight_slope_se)
    assert abs(z) <= 5, z
    for name in ("weight_dependence", "input_dependence"):
        a, b = im[name], ex[name]
        if name == "weight_dependence":
            a, b = a.sel(layer=1), b.sel(layer=1)
        se = np.hypot(im[f"{name}_se"].sel(layer=1) if name == "weight_dependence" else im[f"{name}_se"],
                      ex[f"{name}_se"].sel(layer=1) if name == "weight_dependence" else ex[f"{name}_se"])
        zb = ((a - b) / se).values
        tested = np.isfinite(zb)
        assert tested.sum() >= 10 and np.abs(zb[tested]).max() <= 5, (name, zb)
