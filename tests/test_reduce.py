"""Variance reduction: control variates with exact means (ntkpaths.controls, ntkpaths.reduce)."""
import dataclasses

import numpy as np
import pytest

from ntkpaths import SweepConfig, controls, reduce, run_sweep, tasks
from ntkpaths.config import NetworkConfig

CFG = SweepConfig(depth=3, widths=(8, 64), nets=1200, seed=5, method="explicit", input_dims=(16,),
                  angles=(np.pi / 4, np.pi / 2, 3 * np.pi / 4), nets_per_task=400)


@pytest.fixture(scope="module")
def sweep():
    return run_sweep(CFG, scheduler="synchronous")


def _crossfit_by_hand(y, den, X):
    """The reduced ratio estimate by explicit least squares on each fold (a second implementation):
    numerator and denominator corrected by their own regressions fitted on the other fold."""
    fold = np.arange(len(y)) % 2
    corrected = {"num": y.copy(), "den": den.copy()}
    betas = {}
    for k in (0, 1):
        train = fold != k
        A = np.column_stack([np.ones(train.sum()), X[train]])
        for name, v in (("num", y), ("den", den)):
            betas[k, name] = np.linalg.lstsq(A, v[train], rcond=None)[0][1:]
            corrected[name][fold == k] -= X[fold == k] @ betas[k, name]
    R = corrected["num"].sum() / corrected["den"].sum()
    resid = (corrected["num"] - R * corrected["den"]) / corrected["den"].mean()
    psi = (y - y.sum() / den.sum() * den) / den.mean()
    return R, np.sqrt((resid**2).sum() / (len(y) - 1) / len(y)), (resid**2).sum() / (len(y) - 1) / psi.var(ddof=1)


def test_prefix_sums_equal_direct_least_squares():
    rng = np.random.default_rng(1)
    n, p = 700, 6
    X = rng.normal(size=(n, p)) * rng.uniform(0.01, 100, size=p)      # very different scales
    den = 1 + rng.exponential(size=n)
    y = 2 * den + X @ rng.normal(size=p) / 50 + rng.normal(scale=0.3, size=n)
    got = reduce.prefix_estimates(y, den, X, [400, 560, 700])
    for i, m in enumerate([400, 560, 700]):
        est, se, factor = _crossfit_by_hand(y[:m], den[:m], X[:m])
        np.testing.assert_allclose([got["reduced"][i], got["reduced_se"][i], got["factor"][i]], [est, se, factor],
                                   rtol=1e-8)
        np.testing.assert_allclose(got["plain"][i], y[:m].sum() / den[:m].sum(), rtol=1e-12)
    few = reduce.prefix_estimates(y, None, X, [reduce.min_networks(p) - 2])
    assert np.isnan(few["reduced"]).all() and np.isfinite(few["plain"]).all()   # too few networks: plain only


def test_crossfitting_is_unbiased_where_in_sample_fitting_is_not():
    """y = X . b + noise + a term in X_0^2, with E[X] = 0: mean 0. Many controls, few samples:
    cross-fitting stays centred, while fitting beta on the same samples is pulled towards their own
    X (z < -5 here), so this test would catch an estimator that skipped the cross-fitting."""
    rng = np.random.default_rng(2)
    p, n, reps = 12, 100, 3000
    crossfit, in_sample = [], []
    for _ in range(reps):
        X = rng.normal(size=(n, p))
        y = X @ np.full(p, 0.3) + rng.normal(size=n) + 2.0 * (X[:, 0] ** 2 - 1)
        crossfit.append(reduce.estimate(y, None, X)["reduced"])
        beta = np.linalg.lstsq(np.column_stack([np.ones(n), X]), y, rcond=None)[0][1:]
        in_sample.append(y.mean() - X.mean(axis=0) @ beta)
    z = {name: np.mean(e) / (np.std(e, ddof=1) / np.sqrt(reps))
         for name, e in (("crossfit", crossfit), ("in_sample", in_sample))}
    assert abs(z["crossfit"]) <= 5 and abs(z["in_sample"]) > 5, z


def test_controls_have_mean_zero(sweep):
    """Every control of every layer, angle and width averages to 0 within 5 se (1200 networks).
    This is what keeps the reduced estimates unbiased."""
    for name in ("joint_control", "slope_control"):
        c = sweep[name]
        z = c.mean("network") / (c.std("network", ddof=1) / np.sqrt(c.sizes["network"]))
        z = z.where(c.std("network") > 0, 0.0)
        assert float(abs(z).max()) <= 5, (name, z.values)


def test_reduced_slope_matches_the_exact_value(sweep):
    """E[t_l | Z=1] has an exact value at every width: the reduced estimate is within 5 se of it,
    with se below 1%, and needs a fraction of the networks."""
    z = (sweep.weight_slope - sweep.weight_slope_theory) / sweep.weight_slope_se
    assert float(abs(z).max()) <= 5, z.values
    assert float((sweep.weight_slope_se / sweep.weight_slope).max()) < 0.01
    assert float(sweep.weight_slope_variance_factor.max()) < 0.3
    assert "control variates" in sweep.weight_slope.attrs["estimator"]


def _joint_depth2_reference(cfg, width, angle, n=200_000, seed=0):
    """P(path active for both inputs) at depth 2, from layer-1 draws alone: the layer-2 joint
    fraction is replaced by its exact conditional mean (pi - theta_1) / (2 pi)."""
    inputs = tasks.sweep_inputs(cfg, cfg.input_dims[0])
    cols = inputs.columns(True)
    a = list(cfg.angles).index(angle)
    x = cols[[cfg.inputs.count, cfg.inputs.count + 1 + a]].T                  # (feature, 2)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n // 5_000):
        z = rng.standard_normal((5_000, width, x.shape[0])) @ x               # (draw, neuron, 2)
        h = np.maximum(z, 0)
        both = np.mean((z[..., 0] > 0) & (z[..., 1] > 0), axis=1)
        nb, nc = np.linalg.norm(h[..., 0], axis=1), np.linalg.norm(h[..., 1], axis=1)
        cos = np.divide((h[..., 0] * h[..., 1]).sum(1), nb * nc, out=np.ones_like(nb), where=nb * nc > 0)
        m2 = np.where(nb * nc > 0, (np.pi - np.arccos(np.clip(cos, -1, 1))) / (2 * np.pi), 0.0)
        out.append(both * m2)
    v = np.concatenate(out)
    return v.mean(), v.std(ddof=1) / np.sqrt(len(v))


@pytest.mark.parametrize("width", [8, 64])
def test_reduced_joint_activation_matches_a_separate_computation(sweep, width):
    """At depth 2 the joint activation is E[b_1 (pi - theta_1) / (2 pi)] over layer 1 alone: an
    independent computation (200k or 60k draws). The reduced sweep estimate agrees within 5 combined se."""
    for angle in CFG.angles:
        ref, ref_se = _joint_depth2_reference(CFG, width, angle, n=200_000 if width < 64 else 60_000)
        cell = sweep.sel(width=width, depth=2, angle=angle)
        assert float(cell.joint_active_se / cell.joint_active) < 0.01
        z = (float(cell.joint_active) - ref) / np.hypot(float(cell.joint_active_se), ref_se)
        assert abs(z) <= 5, (width, angle, z)


def test_depth_one_joint_and_p_active_stay_plain(sweep):
    """Where the only exact-mean control's mean is the answer itself, no reduction is made."""
    assert np.isnan(sweep.joint_active_variance_factor.sel(depth=1)).all()
    assert np.isfinite(sweep.joint_active_variance_factor.sel(depth=[2, 3])).all()
    assert "by construction" in sweep.p_active.attrs["estimator"]


def test_a_wrong_control_mean_is_caught(monkeypatch):
    """Shift the edge control's conditional mean by 1%: the reduced slope leaves the exact value."""
    real = controls.slope_layer

    def shifted(h, z, tz):
        on, edge = real(h, z, tz)
        return on, edge - 0.01 * (tz - edge)       # tz - edge is the conditional mean
    monkeypatch.setattr(controls, "slope_layer", shifted)
    cfg = dataclasses.replace(CFG, widths=(64,), nets=800, stats=("weights",))
    ds = run_sweep(cfg, scheduler="synchronous").isel(width=0)
    z = (ds.weight_slope - ds.weight_slope_theory) / ds.weight_slope_se
    assert float(abs(z).max()) > 5, z.values


def test_a_wrong_joint_mean_is_caught(monkeypatch):
    """Shift (pi - theta)/(2 pi) by 1% of itself: the reduced depth-2 joint activation leaves the
    separate computation of the test above."""
    real = controls.joint_layer

    def shifted(h, z, std, base):
        both, c = real(h, z, std, base)
        c = c.copy()
        c[..., 0] -= 0.01 * (both - c[..., 0])     # both - control is the conditional mean
        return both, c
    monkeypatch.setattr(controls, "joint_layer", shifted)
    cfg = dataclasses.replace(CFG, widths=(8,), stats=("joint",), method="implicit")
    cell = run_sweep(cfg, scheduler="synchronous").sel(width=8, depth=2, angle=np.pi / 2)
    ref, ref_se = _joint_depth2_reference(CFG, 8, np.pi / 2)
    z = (float(cell.joint_active) - ref) / np.hypot(float(cell.joint_active_se), ref_se)
    assert abs(z) > 5, z


@pytest.mark.parametrize("network, why", [(NetworkConfig(bias_std=0.1), "biases"),
                                          (NetworkConfig(weight_mean=0.2), "non-zero weight mean"),
                                          (NetworkConfig(weight_dist="uniform"), "uniform weights")])
def test_laws_without_exact_means_fall_back_to_plain(network, why):
    cfg = dataclasses.replace(CFG, widths=(8,), nets=200, network=network)
    ds = run_sweep(cfg, scheduler="synchronous")
    assert "joint_control" not in ds and "joint_active_variance_factor" not in ds
    assert why in ds.attrs["variance_reduction"] and ds.attrs["variance_reduction"].startswith("plain")


def test_no_reduce_gives_the_plain_estimates(sweep):
    plain = run_sweep(dataclasses.replace(CFG, reduce=False), scheduler="synchronous")
    assert "joint_control" not in plain
    j = sweep.joint_fraction
    np.testing.assert_array_equal(plain.joint_fraction.values, j.values)      # the same networks
    np.testing.assert_allclose(plain.joint_active, j.mean("network"), rtol=1e-12)
    # the reduced se is smaller wherever a reduction was made
    made = np.isfinite(sweep.joint_active_variance_factor)
    assert bool((sweep.joint_active_se < plain.joint_active_se).where(made, True).all())


@pytest.mark.parametrize("extra, expected", [((), "control variates: variance factors joint activation"),
                                             (("--no-reduce",), "plain estimators, as asked (--no-reduce)")])
def test_sweep_summary_says_what_the_reduction_saved(tmp_path, extra, expected):
    from typer.testing import CliRunner

    from ntkpaths import cli

    args = ["sweep", "--depth", "3", "--widths", "16", "--nets", "200", "--seed", "2", "--scheduler", "synchronous",
            "--out", str(tmp_path / "s.zarr"), *extra]
    result = CliRunner().invoke(cli.app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert expected in result.output
