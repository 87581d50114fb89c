"""Precision targets (--rel-se) and the memory guard."""
import dataclasses

import numpy as np
import pytest

from ntkpaths import SweepConfig, cli, run_sweep, sweep
from ntkpaths.config import MIN_NETS, ConfigError, NtkpathsError
from conftest import values

GiB = 2**30


@pytest.fixture(scope="module")
def targeted():
    cfg = SweepConfig(depth=4, widths=(8, 256), seed=3, rel_se=0.02, max_nets=3000, nets_per_task=16, stats=())
    return cfg, run_sweep(cfg, scheduler="synchronous")


def test_rel_se_target_is_reached_and_recorded(targeted):
    cfg, ds = targeted
    deep = ds.isel(depth=-1)
    rel = deep.p_active_se / deep.p_active
    assert float(rel.max()) <= 0.02
    n = deep.n_networks.values
    assert (n >= MIN_NETS).all() and (n < cfg.max_nets).all()
    assert n[0] > n[1]  # narrow networks fluctuate more, so need more
    # exactly the first prefix that reaches the target is kept
    for i, w in enumerate(cfg.widths):
        f = ds.active_fraction.sel(width=w).isel(depth=-1).mean("input").values
        kept = f[~np.isnan(f)]
        assert len(kept) == n[i] == sweep.stopping_count(kept, cfg.rel_se)


def test_rel_se_result_does_not_depend_on_task_size(targeted):
    cfg, ds = targeted
    other = run_sweep(dataclasses.replace(cfg, nets_per_task=100), scheduler="synchronous")
    other.attrs["config"] = ds.attrs["config"]
    import xarray as xr
    xr.testing.assert_identical(values(ds), values(other))


def test_max_nets_caps_a_target_out_of_reach():
    cfg = SweepConfig(depth=3, widths=(8,), seed=1, rel_se=1e-4, max_nets=MIN_NETS + 20, nets_per_task=16, stats=())
    ds = run_sweep(cfg, scheduler="synchronous")
    assert int(ds.n_networks.max()) == MIN_NETS + 20


def test_stopping_count_uses_the_first_qualifying_prefix():
    values = np.r_[np.full(MIN_NETS + 5, 1.0), 5.0]
    assert sweep.stopping_count(values, 0.01) == MIN_NETS   # constant values: se 0 from the start
    assert sweep.stopping_count(np.full(MIN_NETS - 1, 1.0), 0.01) is None  # too few networks
    noisy = np.random.default_rng(0).exponential(size=5000)   # rel sd 1: 1% needs ~10^4
    assert sweep.stopping_count(noisy, 0.01) is None and sweep.stopping_count(noisy, 0.05) > 300


def test_memory_guard_refuses_wide_explicit_cells():
    cfg = SweepConfig(depth=8, widths=(131072,), method="explicit", stats=())
    with pytest.raises(NtkpathsError, match="--method implicit"):
        sweep.check_memory(cfg, workers=2, available=24 * GiB)
    sweep.check_memory(dataclasses.replace(cfg, method="implicit"), workers=2, available=24 * GiB)


def test_memory_guard_from_the_cli(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sweep", "--widths", "1048576", "--method", "explicit", "--stats", "none",
                  "--out", str(tmp_path / "x.zarr")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "GiB" in err and err.count("\n") == 1
    assert not (tmp_path / "x.zarr").exists()


def test_bad_targets_are_refused():
    with pytest.raises(ConfigError, match="rel_se"):
        SweepConfig(rel_se=1.5)
    with pytest.raises(ConfigError, match="max nets"):
        SweepConfig(rel_se=0.1, max_nets=MIN_NETS - 1)


def test_precision_target_keeps_every_estimate_of_the_networks_it_used():
    """A rel-se cell holds unused network slots; every summary must equal a fixed-size run
    over exactly the networks it kept."""
    cfg = SweepConfig(depth=3, widths=(32,), seed=5, rel_se=0.05, max_nets=2000, nets_per_task=16,
                      stats=("weights", "inputs", "joint"), method="explicit")
    targeted = run_sweep(cfg, scheduler="synchronous")
    n = int(targeted.n_networks.max())
    assert MIN_NETS <= n < cfg.max_nets
    fixed = run_sweep(dataclasses.replace(cfg, rel_se=None, nets=n), scheduler="synchronous")
    for name in ("p_active", "p_active_se", "weight_slope", "weight_slope_se", "weight_dependence",
                 "input_dependence", "input_value_dependence", "joint_active", "joint_active_se"):
        np.testing.assert_allclose(targeted[name].values, fixed[name].values, rtol=1e-12, err_msg=name)
