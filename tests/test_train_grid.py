"""Training grids: dataset schema, reproducibility across schedulers, resume, the CLI and its errors."""
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import ntkpaths
from ntkpaths import cli
from ntkpaths.config import TrainConfig
from ntkpaths.training import checkpoint_steps, dataset, grid
from conftest import values

runner = CliRunner()
TINY = TrainConfig(depths=(1, 3), widths=(8, 16, 32), runs=2, steps=12, n_train=24, n_test=8, checkpoints=4,
                   seed=7, data="teacher")
QUICK = ["--depths", "1,3", "--widths", "8,16,32", "--runs", "2", "--steps", "12", "--n-train", "24", "--n-test", "8",
         "--checkpoints", "4", "--seed", "7", "--data", "teacher"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "t.zarr"
    return path, grid.run_training(TINY, path, scheduler="synchronous")


def test_schema_and_padding(tiny):
    path, ds = tiny
    assert dict(ds.sizes) == {"depth": 2, "width": 3, "run": 2, "step": 4, "layer": 3, "prefix": 3, "weight_layer": 4}
    np.testing.assert_array_equal(ds.step, checkpoint_steps(12, 4))
    assert ds.loss.dims == ("depth", "width", "run", "step")
    assert ds.flip_fraction.dims == ("depth", "width", "run", "step", "layer")
    shallow = ds.sel(depth=1)
    assert bool(shallow.flip_fraction.sel(layer=[2, 3]).isnull().all())       # depth 1 has one hidden layer
    assert bool(shallow.weight_change.sel(weight_layer=[3, 4]).isnull().all())  # ... and its output is layer 2
    assert bool(shallow.weight_change.sel(weight_layer=[1, 2]).notnull().all())
    np.testing.assert_array_equal(ds.p_theory, [0.5, 0.25, 0.125])
    assert (ds.flip_fraction.isel(step=0).fillna(0) == 0).all()                   # step 0 is the reference
    np.testing.assert_allclose(ds.loss_mean, ds.loss.mean("run"))
    np.testing.assert_allclose(ds.loss_se, ds.loss.std("run", ddof=1) / np.sqrt(2))
    for name in ("flip_fraction_exponent", "weight_change_exponent", "ntk_change_exponent"):
        assert name in ds and f"{name}_se" in ds
    loaded = ntkpaths.load(path)
    assert loaded.attrs["schema"] == dataset.SCHEMA and loaded.attrs["seed_entropy"] == "7"
    xr.testing.assert_identical(values(loaded), values(ds))


def test_exponents_are_fits_of_the_final_means(tiny):
    _, ds = tiny
    from ntkpaths.verdict import fit_power_law

    final = ds.isel(step=-1).sel(depth=3)
    fit = fit_power_law(ds.width.values.astype(float), final.ntk_change_mean.values, final.ntk_change_se.values)
    assert float(ds.ntk_change_exponent.sel(depth=3)) == pytest.approx(fit.exponent)


def test_a_run_replays_alone(tiny):
    _, ds = tiny
    from ntkpaths.training import train_run

    run = grid.Run(3, 16, 1)
    alone = dataset.padded(TINY, train_run(TINY, 3, 16, seed=grid.run_seed(TINY, run)))
    np.testing.assert_array_equal(alone["loss"], ds.loss.sel(depth=3, width=16, run=1).values)
    np.testing.assert_array_equal(alone["flip_fraction"], ds.flip_fraction.sel(depth=3, width=16, run=1).values)


def test_local_cluster_is_bit_identical_to_in_process(tiny):
    _, ds = tiny
    other = grid.run_training(TINY, workers=2)
    assert other.attrs["execution"].startswith("local dask cluster")
    xr.testing.assert_identical(values(other), values(ds))


def test_resume_after_interruption_gives_the_same_dataset(tiny, tmp_path, monkeypatch):
    _, ds = tiny
    path = tmp_path / "r.zarr"
    real, calls = grid.guarded_run, []

    def stop_after_four(cfg, run):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(run)
        return real(cfg, run)

    monkeypatch.setattr(grid, "guarded_run", stop_after_four)
    with pytest.raises(KeyboardInterrupt):
        grid.run_training(TINY, path, scheduler="synchronous")
    monkeypatch.setattr(grid, "guarded_run", real)
    assert len(ntkpaths.store.done_markers(path)) == 4
    with pytest.raises(ntkpaths.store.StoreError, match="unfinished train"):
        ntkpaths.load(path)
    finished = grid.run_training(TINY, path, scheduler="synchronous", resume=True)
    xr.testing.assert_identical(values(finished), values(ds))
    xr.testing.assert_identical(values(ntkpaths.load(path)), values(ds))


def test_per_run_rates_and_the_regime_follow_the_dataset_contract(tiny):
    _, ds = tiny
    for name in ("critical_lr", "lr", "loss_peak"):
        assert ds[name].dims == ("depth", "width", "run") and ds[name].dtype == np.float64, name
    assert bool((ds.critical_lr > 0).all()) and bool((ds.lr == 1.0).all()) and bool((ds.loss_peak >= 1).all())
    assert ds.regime.dims == ("depth", "width", "run") and ds.regime.dtype == np.int8
    assert list(ds.regime.attrs["flag_values"]) == [0, 1, 2]
    assert ds.regime.attrs["flag_meanings"] == "below_critical catapult diverged"
    assert set(np.unique(ds.regime.values)) <= {0, 1, 2}
    above = (ds.lr > ds.critical_lr) | (ds.loss_peak > 1 + 1e-4)
    np.testing.assert_array_equal(ds.regime.values == 0, ~above.values)   # no run diverged at lr 1 here


def test_a_dataset_without_rates_still_loads_reports_and_judges(tiny, tmp_path):
    """Datasets written before the critical rate was recorded: the regime is unknown, nothing breaks."""
    from ntkpaths.cli.tables import _rate_table
    from ntkpaths.training import study as train_study

    _, ds = tiny
    old = ds.drop_vars([v for v in ds.data_vars if v.startswith(("critical_lr", "lr", "loss_peak", "regime"))
                        or v in ("below_critical_runs", "catapult_runs", "diverged_runs")])
    path = ntkpaths.write(old, tmp_path / "old.zarr")
    result = runner.invoke(cli.app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    rows = train_study.verdicts(ntkpaths.load(path).load())
    assert rows[0].kind == "description" and "unknown" in rows[0].measured
    columns = {c.header: c._cells for c in _rate_table(old).columns}
    assert set(columns["critical\nlr"]) == {"—"} and set(columns["regime"]) == {"unknown"}
    columns = {c.header: c._cells for c in _rate_table(ds).columns}
    assert "—" not in columns["critical\nlr"] and all("below" in c or "catapult" in c for c in columns["regime"])


def test_lr_relative_runs_every_network_at_its_own_multiple(tmp_path):
    out = tmp_path / "rel.zarr"
    result = runner.invoke(cli.app, ["train", *QUICK, "--lr-relative", "0.5", "--ntk-inputs", "16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = ntkpaths.load(out)
    np.testing.assert_allclose(ds.lr, 0.5 * ds.critical_lr, rtol=1e-12)
    assert ds.critical_lr.std() > 0 and bool((ds.regime == 0).all())
    assert "ntk_inputs" in ds.attrs["config"] and '"ntk_inputs": 16' in ds.attrs["config"]


def test_cli_trains_plots_and_reports(tmp_path):
    out = tmp_path / "c.zarr"
    result = runner.invoke(cli.app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "in-process" in result.output
    result = runner.invoke(cli.app, ["plot", str(out), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    from ntkpaths.plot import training

    assert sorted(p.stem for p in (tmp_path / "figs").glob("*.png")) == sorted(training.FIGURES)
    result = runner.invoke(cli.app, ["info", str(out)])
    assert result.exit_code == 0 and "reached" in result.output, result.output
    result = runner.invoke(cli.app, ["report", str(out), "--out", str(tmp_path / "r.md"), "--no-figures"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text()
    assert "gradient descent reaches a global minimum" in text and "Theorem 1 after training" in text
    assert "| limit |" in text and "| bound |" in text and "| budget |" in text and "Regime of the runs" in text


def test_diverged_runs_are_recorded_and_reported(tmp_path):
    out = tmp_path / "d.zarr"
    result = runner.invoke(cli.app, ["train", *QUICK, "--lr", "1e7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = ntkpaths.load(out)
    assert int(ds.diverged.sum()) >= 1
    one_line = [line for line in result.output.splitlines() if "diverged" in line]
    assert len(one_line) >= 1 and "learning rate too large" in result.output
    gone = ds.loss.where(ds.diverged == 1)
    assert bool(gone.isel(step=-1).isnull().all())


def _run_main(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    _, err = capsys.readouterr()
    return exit_info.value.code, err


def _npz(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    x = np.ones((5, 3))
    arrays = {"no-y": {"X": x}, "wrong-rows": {"X": x, "y": np.ones(4)}, "nan": {"X": x * np.nan, "y": np.ones(5)},
              "one-d-x": {"X": np.ones(5), "y": np.ones(5)}}[kind]
    np.savez(path, **arrays)
    return path


BAD = {
    "unknown data": (["--data", "mnist"], "unknown data 'mnist'"),
    "missing npz": (["--data", "nope.npz"], "data file nope.npz not found"),
    "lr negative": (["--lr", "-1"], "lr must be >= 0"),
    "lr nan": (["--lr", "nan"], "lr must be a finite number"),
    "lr inf": (["--lr", "inf"], "lr must be a finite number"),
    "negative steps": (["--steps", "-1"], "steps must be an integer >= 0"),
    "width 0": (["--widths", "0,8"], "width must be an integer >= 1"),
    "width text": (["--widths", "8,x"], "comma-separated integers"),
    "depth 0": (["--depths", "0"], "depth must be an integer >= 1"),
    "no depths": (["--depths", ","], "give at least one of depths"),
    "param": (["--param", "mup"], "unknown param 'mup'"),
    "batch": (["--batch-size", "100"], "batch_size = 100 exceeds n_train = 24"),
    "scheduler": (["--scheduler", "fast"], "unknown scheduler 'fast'"),
    "lr and lr-relative": (["--lr", "1", "--lr-relative", "0.5"], "give lr or lr_relative, not both"),
    "lr-relative negative": (["--lr-relative", "-0.5"], "lr_relative must be >= 0"),
    "ntk-inputs 0": (["--ntk-inputs", "0"], "ntk_inputs must be an integer >= 1"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_train_options_give_one_line_and_touch_nothing(name, tiny, capsys):
    path, _ = tiny
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    args, message = BAD[name]
    code, err = _run_main(["train", *QUICK, *args, "--out", str(path), "--overwrite"], capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and message in err, err
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("kind,message", [("no-y", "must hold arrays 'X' and 'y'"), ("wrong-rows", "y in"),
                                          ("nan", "NaN or infinite"), ("one-d-x", "must be a non-empty 2-D array")])
def test_malformed_npz_gives_one_line(kind, message, tmp_path, capsys):
    code, err = _run_main(["train", *QUICK, "--data", str(_npz(tmp_path, kind)), "--out", str(tmp_path / "x.zarr")],
                          capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x.zarr").exists()


def test_resume_refuses_other_options(tiny, capsys):
    path, _ = tiny
    code, err = _run_main(["train", *QUICK, "--steps", "13", "--out", str(path), "--resume"], capsys)
    assert code == 2 and "different options (steps)" in err, err


def test_train_device(tmp_path, capsys):
    """--device cpu trains on the CPU and says so; --device gpu without an accelerator is one line."""
    from ntkpaths.jaxsetup import accelerator

    out = tmp_path / "cpu.zarr"
    code, err = _run_main(["train", *QUICK, "--device", "cpu", "--out", str(out)], capsys)
    assert code == 0, err
    ds = ntkpaths.load(out)
    assert ds.attrs["device"].startswith("cpu") and dataset.config_of(ds).device == "cpu"
    if accelerator() is None:
        code, err = _run_main(["train", *QUICK, "--device", "gpu", "--out", str(tmp_path / "g.zarr")], capsys)
        assert code == 2 and err.count("\n") == 1 and "JAX sees no accelerator" in err
    code, err = _run_main(["train", *QUICK, "--device", "tpu", "--out", str(tmp_path / "t.zarr")], capsys)
    assert code == 2 and "unknown device 'tpu'" in err
