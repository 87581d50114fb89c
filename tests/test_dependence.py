"""Statistical tests of the dependence summaries (Theorems 2, 3 and input pairs).

Every bound comes from the sample's own standard error: an estimate passes
when it lies within Z standard errors of its exact value (plus, where the
prediction is only leading order in 1/width, a stated allowance). Claims are
paired with checks that the same bound rejects a case where the claim is
false, so a bound too loose to ever fail would show up.

Both samplers must reproduce the same laws: ``explicit`` sums exactly over
all edges, ``implicit`` draws activations from their Gram-matrix law and
tracks one weight per neuron (noisier, so it gets more networks).
"""
import numpy as np
import pytest
import xarray as xr

from ntkpaths import SweepConfig, run_sweep
from ntkpaths.config import InputConfig, NetworkConfig

Z = 5.0
METHODS = ("explicit", "implicit")


def sweep(**options) -> xr.Dataset:
    return run_sweep(SweepConfig(**options), scheduler="synchronous")


def within(est, truth, se, allowance=0.0) -> bool:
    """|est - truth| <= Z se + allowance wherever the estimate exists."""
    ok = np.isfinite(se)
    return bool((abs(est - truth) <= Z * se + allowance).where(ok, True).all())


def z_of(est, truth, se) -> np.ndarray:
    """Deviations in standard errors, for failure messages."""
    return ((est - truth) / se).values


# ------------------------------------------------------- Theorem 3: x_i0 alone
def input_sweep(method, network=NetworkConfig()):
    return sweep(depth=3, widths=(4, 16), nets=300, seed=11, input_dims=(3, 32), stats=("inputs",),
                 inputs=InputConfig(count=8), network=network, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_input_value_dependence_is_flat(method):
    """Z_p never looks at x_i0, and E F(x) = 2^-H for every input, so every bin is 1."""
    ds = input_sweep(method)
    est, se = ds["input_value_dependence"], ds["input_value_dependence_se"]
    assert int(np.isfinite(se).sum()) >= 40          # many (dim, width, bin) cells are tested
    assert within(est, 1.0, se), z_of(est, 1.0, se)


@pytest.mark.parametrize("method", METHODS)
def test_input_value_flatness_check_rejects_biased_weights(method):
    """With weights of mean > 0, inputs with large positive coordinates are on more often."""
    ds = input_sweep(method, NetworkConfig(weight_mean=0.3))
    assert not within(ds["input_value_dependence"], 1.0, ds["input_value_dependence_se"])


# ------------------------------------------------------- joint activation
def joint_sweep(method, **options):
    return sweep(input_dims=(16,), stats=("joint",), inputs=InputConfig(count=2), method=method, **options)


@pytest.fixture(scope="module", params=METHODS)
def joint(request):
    """Width 8, far from the infinite-width theory with enough networks to see it, and width 512."""
    return {"narrow": joint_sweep(request.param, depth=4, widths=(8,), nets=3000, seed=21).isel(width=0),
            "wide": joint_sweep(request.param, depth=4, widths=(512,), nets=200, seed=22).isel(width=0)}


def test_joint_active_matches_arccos_theory_at_large_width(joint):
    """Each layer's angle map is off by O(1/n) at width n, so we allow depth/n relative.

    (Measured: the relative bias at depth 4 is about 3/n from width 32 on.)
    """
    wide = joint["wide"]
    allowance = wide["depth"] / wide["width"] * wide["joint_theory"]
    est, truth, se = wide["joint_active"], wide["joint_theory"], wide["joint_active_se"]
    assert within(est, truth, se, allowance), z_of(est, truth, se)


def test_joint_active_moves_towards_theory_as_width_grows(joint):
    """Width 8 is significantly off the theory (the test has power), and width 512 is closer."""
    narrow, wide = joint["narrow"], joint["wide"]
    off8 = abs(narrow["joint_active"] - narrow["joint_theory"])
    off512 = abs(wide["joint_active"] - wide["joint_theory"])
    significant = off8 > Z * narrow["joint_active_se"]
    deepest = narrow["depth"].max()
    assert int(significant.sel(depth=deepest).sum()) >= 2, (off8 / narrow["joint_active_se"]).values
    assert bool((off512 < off8).where(significant, True).all())


@pytest.mark.parametrize("which", ["narrow", "wide"])
def test_joint_active_is_far_from_independence_at_small_angles(joint, which):
    """Nearby inputs switch the same neurons on: P(both) >> 4^-H at every depth."""
    ds = joint[which]
    small = ds.sel(angle=ds["angle"][ds["angle"] <= np.pi / 8])
    excess = small["joint_active"] - small["joint_independent"]
    assert small.sizes["angle"] == 2
    assert bool((excess > Z * small["joint_active_se"]).all()), (excess / small["joint_active_se"]).values


def pair_angles(ds) -> np.ndarray:
    """Actual angle between the base input and each rotated copy (pair 0 is the base)."""
    p = ds["pair_inputs"].values
    cos = p[1:] @ p[0] / (np.linalg.norm(p[1:], axis=1) * np.linalg.norm(p[0]))
    return np.arccos(np.clip(cos, -1, 1))


@pytest.mark.parametrize("method", METHODS)
def test_joint_active_at_depth_one_is_exact_at_every_width(method):
    """A Gaussian neuron is on for both inputs with probability (pi - theta) / (2 pi), exactly."""
    ds = joint_sweep(method, depth=1, widths=(1, 2, 5, 64), nets=2000, seed=23)
    np.testing.assert_allclose(pair_angles(ds), ds["angle"], rtol=1e-12)
    truth = xr.DataArray((np.pi - pair_angles(ds)) / (2 * np.pi), dims="angle")
    first = ds.sel(depth=1)
    assert within(first["joint_active"], truth, first["joint_active_se"]), \
        z_of(first["joint_active"], truth, first["joint_active_se"])


# ------------------------------------------------------- Theorem 2: path weights
@pytest.fixture(scope="module", params=[("explicit", 1000), ("implicit", 10000)], ids=lambda p: p[0])
def weights(request):
    """Widths 4 and 24 are not multiples of the input dim 16 (layer-1 tracking must not care)."""
    method, nets = request.param
    return sweep(depth=3, widths=(4, 24, 256), nets=nets, seed=31, input_dims=(16,), stats=("weights",),
                 inputs=InputConfig(count=4), method=method, nets_per_task=nets)


def test_weight_slope_is_precise_enough_to_catch_a_small_bias(weights):
    """Every E[t_l | Z=1] has se below 3% of its value, so a 15% bias would show as > 5 se."""
    rel = (weights["weight_slope_se"] / weights["weight_slope_theory"]).values
    assert (rel < 0.03).all(), rel


def test_weight_slope_matches_exact_theory_at_every_width(weights):
    """Layers >= 2: E[t_l | Z=1] = 4 E[S/|h|] / (n sqrt(2 pi)) exactly, with h the ReLU of n
    standard normals and S = sum h; no allowance, down to width 4 (where the leading order
    (2 sqrt2 / pi) / sqrt(n) is 7% low)."""
    hidden = weights.sel(layer=weights["layer"] >= 2)
    est, theory, se = hidden["weight_slope"], hidden["weight_slope_theory"], hidden["weight_slope_se"]
    assert bool(np.isfinite(theory).all())
    assert within(est, theory, se), z_of(est, theory, se)


def test_weight_slope_of_layer_one_is_exact_at_every_width(weights):
    """Layer 1 sees the fixed inputs through Gaussian weights, so its prediction has no 1/n terms."""
    first = weights.sel(layer=1)
    est, theory, se = first["weight_slope"], first["weight_slope_theory"], first["weight_slope_se"]
    assert within(est, theory, se), z_of(est, theory, se)


def test_weight_slope_is_significantly_positive_at_small_width(weights):
    """At width 24 an active path's weights are biased upwards: Theorem 2 fails there."""
    hidden = weights.sel(layer=weights["layer"] >= 2, width=24)
    est, se = hidden["weight_slope"], hidden["weight_slope_se"]
    assert bool((est > Z * se).all()), z_of(est, 0.0, se)


def test_weight_dependence_is_not_flat_at_small_width(weights):
    """P(Z=1 | t) / P(Z=1) rises with t: each bin at +t beats its mirror bin at -t.

    The two estimates share networks, so the se of their difference is at most
    se+ + se- (Cauchy-Schwarz), whatever their correlation.
    """
    dep = weights.sel(width=24, layer=weights["layer"] >= 2)
    t = dep["t_bin"].values
    upper = np.flatnonzero((t > 1) & (t < 2))
    lower = [int(np.argmin(abs(t + t[k]))) for k in upper]     # mirror bins
    est, se = dep["weight_dependence"], dep["weight_dependence_se"]
    rise = est.isel(t_bin=upper).values - est.isel(t_bin=lower).values
    bound = Z * (se.isel(t_bin=upper).values + se.isel(t_bin=lower).values)
    assert len(upper) == 4 and (rise > bound).all(), rise / bound
