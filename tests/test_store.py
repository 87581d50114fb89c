"""The dataset schema users rely on, and safe writes and loads."""
import json

import numpy as np
import pytest
import xarray as xr

import ntkpaths
from ntkpaths import store


def test_schema(small_sweep):
    ds = small_sweep
    assert set(ds["p_active"].dims) == {"width", "depth"}
    for var in ("p_active", "p_active_se", "active_fraction_var", "n_networks"):
        assert ds[var].dims == ("width", "depth"), var
    assert ds["p_theory"].dims == ("depth",)
    assert list(ds["depth"].values) == [1, 2, 3]
    assert list(ds["width"].values) == [4, 16]
    assert (ds["n_networks"] == 20).all()
    np.testing.assert_array_equal(ds["p_theory"], [0.5, 0.25, 0.125])
    for key in ("config", "seed_entropy", "ntkpaths_version", "command", "created", "depths_share_networks"):
        assert key in ds.attrs, key
    assert json.loads(ds.attrs["config"])["seed"] == 123


def test_summaries_are_computed_from_raw(small_sweep):
    ds = small_sweep
    per_net = ds["active_fraction"].mean("input")
    np.testing.assert_allclose(ds["p_active"], per_net.mean("network"))
    np.testing.assert_allclose(ds["p_active_se"], per_net.std("network", ddof=1) / np.sqrt(20))
    flat = ds["active_fraction"].sel(width=16, depth=2).values.ravel()
    assert float(ds["active_fraction_var"].sel(width=16, depth=2)) == pytest.approx(flat.var(ddof=1))


def test_round_trip_with_xarray_and_load(small_sweep, tmp_path):
    path = ntkpaths.write(small_sweep, tmp_path / "s.zarr")
    xr.testing.assert_identical(xr.open_dataset(path).load(), small_sweep)
    xr.testing.assert_identical(ntkpaths.load(path).load(), small_sweep)
    assert store.config_of(ntkpaths.load(path)).seed == 123


def test_write_refuses_existing_and_keeps_it(small_sweep, tmp_path):
    path = ntkpaths.write(small_sweep, tmp_path / "s.zarr")
    with pytest.raises(store.StoreError, match="already exists"):
        ntkpaths.write(small_sweep.isel(width=[0]), path)
    assert ntkpaths.load(path).sizes["width"] == 2
    ntkpaths.write(small_sweep.isel(width=[0]), path, overwrite=True)
    assert ntkpaths.load(path).sizes["width"] == 1


def test_load_refuses_foreign_paths(tmp_path):
    with pytest.raises(store.StoreError, match="does not exist"):
        ntkpaths.load(tmp_path / "missing.zarr")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(store.StoreError, match="not a readable dataset"):
        ntkpaths.load(text)
    foreign = tmp_path / "foreign.zarr"
    xr.Dataset({"a": ("x", [1, 2])}).to_zarr(foreign, zarr_format=2)
    with pytest.raises(store.StoreError, match="not an ntkpaths dataset"):
        ntkpaths.load(foreign)
