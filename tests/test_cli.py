"""The command line: happy paths with CliRunner, and every bad input as one line + exit 2."""
import numpy as np
import pytest
from typer.testing import CliRunner

import ntkpaths
from ntkpaths import cli, plot

runner = CliRunner()
QUICK = ["--depth", "3", "--widths", "4,8", "--nets", "6", "--seed", "1", "--scheduler", "synchronous"]


def run_main(args, capsys):
    """Run the console entry point; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "s.zarr"
    result = runner.invoke(cli.app, ["sweep", *QUICK, "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_sweep_writes_dataset_and_prints_summary(dataset):
    ds = ntkpaths.load(dataset)
    assert list(ds["width"].values) == [4, 8] and ds.sizes["depth"] == 3
    assert ds.attrs["seed_entropy"] == "1" and ds.attrs["complete"] == 1
    assert int(ds.n_networks.min()) == 6


def test_sweep_prints_path_and_table(tmp_path):
    out = tmp_path / "t.zarr"
    result = runner.invoke(cli.app, ["sweep", *QUICK, "--out", str(out)])
    assert result.exit_code == 0
    assert str(out) in result.output.replace("\n", "")
    assert "2^-H" in result.output


def test_info_prints_every_cell(dataset):
    result = runner.invoke(cli.app, ["info", str(dataset)])
    assert result.exit_code == 0
    rows = [line for line in result.output.splitlines() if line.count("│") >= 7]
    assert len(rows) == 2 * 3


def test_plot_writes_pngs(dataset, tmp_path):
    result = runner.invoke(cli.app, ["plot", str(dataset), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    single_family = set(plot.FIGURES) - {"families", "input_strength"}
    assert pngs == sorted(f"{name}.png" for name in single_family)
    assert all((tmp_path / "figs" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


@pytest.mark.parametrize("command", ["sweep", "plot", "info"])
def test_help_explains_options(command):
    result = runner.invoke(cli.app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output and "--" in result.output


def _bad_file(tmp_path, kind):
    if kind == "missing":
        return tmp_path / "missing.npy"
    path = tmp_path / {"garbage": "g.npy", "empty": "e.csv", "one-d": "v.npy", "three-d": "t.npy",
                       "text": "t.csv"}[kind]
    if kind == "garbage":
        path.write_bytes(b"not a numpy file")
    elif kind == "empty":
        path.write_text("")
    elif kind == "one-d":
        np.save(path, np.ones(5))
    elif kind == "three-d":
        np.save(path, np.ones((2, 3, 4)))
    else:
        path.write_text("1,2\na,b\n")
    return path


BAD_SWEEPS = {
    "depth 0": (["--depth", "0"], "depth must be"),
    "nets 0": (["--nets", "0"], "nets must be"),
    "width 0": (["--widths", "0,16"], "width must be"),
    "width text": (["--widths", "16,x"], "comma-separated integers"),
    "unknown init": (["--init", "xavier"], "unknown init 'xavier'"),
    "unknown input kind": (["--inputs", "cauchy"], "unknown input kind 'cauchy'"),
    "non-integer depth": (["--depth", "two"], "--depth"),
    "unknown option": (["--bogus"], "--bogus"),
}


@pytest.mark.parametrize("name", BAD_SWEEPS)
def test_bad_sweep_options_give_one_line(name, tmp_path, capsys):
    args, message = BAD_SWEEPS[name]
    code, _, err = run_main(["sweep", "--out", str(tmp_path / "x.zarr"), *args], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error:") and message in err, err
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.parametrize("kind,message", [("missing", "cannot read"), ("garbage", "cannot read"),
                                          ("empty", "empty"), ("one-d", "2-D"), ("three-d", "2-D"),
                                          ("text", "cannot read")])
def test_bad_input_files_give_one_line(kind, message, tmp_path, capsys):
    path = _bad_file(tmp_path, kind)
    code, _, err = run_main(["sweep", *QUICK, "--inputs", str(path), "--out", str(tmp_path / "x.zarr")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_good_input_file_is_used(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, size=(3, 5))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    out = tmp_path / "f.zarr"
    result = runner.invoke(cli.app, ["sweep", *QUICK, "--inputs", str(tmp_path / "x.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = ntkpaths.load(out)
    np.testing.assert_allclose(ds["inputs"].values, x)
    assert ds.attrs["input_kind"] == "file"


def test_existing_output_is_refused_and_kept(dataset, capsys):
    before = ntkpaths.load(dataset)["active_fraction"].values.copy()
    code, _, err = run_main(["sweep", *QUICK, "--nets", "2", "--out", str(dataset)], capsys)
    assert code == 2 and "already exists" in err and err.count("\n") == 1
    np.testing.assert_array_equal(ntkpaths.load(dataset)["active_fraction"].values, before)


@pytest.mark.parametrize("command", ["plot", "info"])
def test_foreign_paths_are_refused(command, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hi")
    for path in (tmp_path / "missing.zarr", tmp_path / "notes.txt", tmp_path):
        code, _, err = run_main([command, str(path)], capsys)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err


def test_zero_input_row(tmp_path, capsys):
    """A zero input is legal (none of its paths is ever active) but cannot anchor input pairs."""
    path = tmp_path / "x.csv"
    path.write_text("0,0,0\n1,2,3\n")
    out = tmp_path / "z.zarr"
    code, _, err = run_main(["sweep", *QUICK, "--inputs", str(path), "--out", str(out)], capsys)
    assert code == 2 and "first input is zero" in err and err.count("\n") == 1
    code, _, _ = run_main(["sweep", *QUICK, "--inputs", str(path), "--stats", "weights,inputs", "--out", str(out)], capsys)
    assert code == 0
    ds = ntkpaths.load(out)
    assert float(ds.active_fraction.isel(input=0).max()) == 0.0
    assert np.isfinite(ds.weight_slope).all() and np.isfinite(ds.p_active).all()
