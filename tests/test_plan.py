"""Stopping rules and the hybrid sampler: each statistic from the sampler that reaches its precision soonest."""
import dataclasses

import numpy as np
import pytest
import xarray as xr

from ntkpaths import SweepConfig, run_sweep, sweep, tasks
from ntkpaths.config import MIN_NETS, ConfigError, InputConfig
from ntkpaths.plan import first_reached, mean_rel_se, ratio_rel_se
from conftest import values

TARGET = 0.015
HYBRID = SweepConfig(depth=3, widths=(16, 128), seed=8, rel_se=TARGET, max_nets=4000, nets_per_task=40,
                     input_dims=(16,), inputs=InputConfig(count=4), angles=(np.pi / 4, np.pi / 2))


def test_prefix_rules_equal_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.exponential(size=(300, 2))
    num, den = rng.normal(1, 0.3, size=(300, 3)), rng.exponential(size=300) + 1
    for n in (2, 57, 300):
        direct = x[:n].std(axis=0, ddof=1) / np.sqrt(n) / x[:n].mean(axis=0)
        np.testing.assert_allclose(mean_rel_se(x)[n - 1], direct, rtol=1e-10)
        r = num[:n].sum(0) / den[:n].sum()
        infl = num[:n] / num[:n].mean(0) - den[:n, None] / den[:n].mean()
        np.testing.assert_allclose(ratio_rel_se(num, den)[n - 1], infl.std(0, ddof=1) / np.sqrt(n), rtol=1e-9)
        assert np.all(np.isfinite(r))
    late = np.r_[np.ones(MIN_NETS + 3), 0.001, 0.001]
    assert first_reached([late], 0.01) == MIN_NETS + 4
    assert first_reached([late, np.ones_like(late)], 0.01) is None            # every rule must hold
    assert first_reached([np.column_stack([late, np.ones_like(late)])], 0.01) is None  # every column too
    assert first_reached([np.full(MIN_NETS - 1, 0.001)], 0.01) is None         # never below MIN_NETS


@pytest.fixture(scope="module")
def hybrid():
    return run_sweep(HYBRID, scheduler="synchronous")


def test_auto_is_hybrid_with_edge_statistics_and_a_target(hybrid):
    assert HYBRID.sampler == "hybrid" and hybrid.attrs["method"] == "hybrid"
    assert "exact sums over explicit networks" in hybrid.attrs["method_reason"]
    assert dataclasses.replace(HYBRID, rel_se=None).sampler == "explicit"
    assert dataclasses.replace(HYBRID, stats=("joint",)).sampler == "implicit"
    with pytest.raises(ConfigError, match="hybrid method needs --rel-se"):
        dataclasses.replace(HYBRID, method="hybrid", rel_se=None)


def test_every_statistic_reaches_the_target(hybrid):
    deep = hybrid.isel(depth=-1)
    assert float((deep.p_active_se / deep.p_active).max()) <= TARGET
    assert float((deep.joint_active_se / deep.joint_active).max()) <= TARGET
    assert float((hybrid.weight_slope_se / hybrid.weight_slope).max()) <= TARGET


def test_edge_statistics_come_from_a_prefix_of_explicit_networks(hybrid):
    """Networks 0..n_e-1 are explicit (every statistic); n_e..n-1 implicit (paths and joint only).
    Both replay alone, block by block, bit for bit."""
    columns = tasks.sweep_inputs(HYBRID, 16).columns(True)
    counts = [(int(hybrid.sel(width=w).n_networks.isel(depth=0)), int(hybrid.sel(width=w).n_edge_networks))
              for w in HYBRID.widths]
    assert any(n_e < n for n, n_e in counts), counts   # somewhere the implicit stream carried P(active) further
    for w, (n, n_e) in zip(HYBRID.widths, counts):
        cell = hybrid.sel(width=w)
        assert MIN_NETS <= n_e <= n, (w, n_e, n)
        tz = cell.weight_tz.isel(layer=0).values
        assert np.isfinite(tz[:n_e]).all() and np.isnan(tz[n_e:]).all()
        assert np.isfinite(cell.active_fraction.values[:n]).all() and np.isnan(cell.active_fraction.values[n:]).all()
        explicit = tasks.run_task(HYBRID, tasks.Task(16, w, 0, n_e, "explicit"), columns)
        np.testing.assert_array_equal(explicit["weight_tz"], cell.weight_tz.values[:n_e])
        np.testing.assert_array_equal(explicit["active_fraction"], cell.active_fraction.values[:n_e])
        if n > n_e:
            implicit = tasks.run_task(HYBRID, tasks.Task(16, w, n_e, n, "implicit"), columns)
            np.testing.assert_array_equal(implicit["active_fraction"], cell.active_fraction.values[n_e:n])
            np.testing.assert_array_equal(implicit["joint_fraction"], cell.joint_fraction.values[n_e:n])
            np.testing.assert_array_equal(implicit["joint_control"], cell.joint_control.values[n_e:n])


def test_hybrid_estimates_match_exactvalues(hybrid):
    z_p = (hybrid.p_active - hybrid.p_theory) / hybrid.p_active_se
    z_w = (hybrid.weight_slope - hybrid.weight_slope_theory) / hybrid.weight_slope_se
    assert float(abs(z_p).max()) <= 5 and float(abs(z_w).max()) <= 5, (z_p.values, z_w.values)


def test_hybrid_does_not_depend_on_task_size_or_scheduler(hybrid):
    other = run_sweep(dataclasses.replace(HYBRID, nets_per_task=7), scheduler="synchronous")
    other.attrs["config"] = hybrid.attrs["config"]
    xr.testing.assert_identical(values(other), values(hybrid))
    cluster = run_sweep(HYBRID, workers=2)
    xr.testing.assert_identical(values(cluster), values(hybrid))


def test_hybrid_resumes_to_the_same_dataset(hybrid, tmp_path, monkeypatch):
    path = tmp_path / "h.zarr"
    real, seen = sweep.guarded_task, []

    def interrupt(cfg, task, columns):
        if len(seen) == 9:
            raise KeyboardInterrupt
        seen.append(task)
        return real(cfg, task, columns)

    monkeypatch.setattr(sweep, "guarded_task", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(HYBRID, path, scheduler="synchronous")
    monkeypatch.setattr(sweep, "guarded_task", real)
    resumed = run_sweep(HYBRID, path, scheduler="synchronous", resume=True)
    xr.testing.assert_identical(values(resumed), values(hybrid))
