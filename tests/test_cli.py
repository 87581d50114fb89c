"""The command line: happy paths with CliRunner, and every bad input as one line + exit 2."""
import socket
import subprocess
import sys
from pathlib import Path

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


# ------------------------------------------------ every failure: one line, exit 2, data untouched
def _snapshot(path):
    """Every file of a store with its bytes: equal snapshots mean nothing was touched."""
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


MORE_BAD_SWEEPS = {
    "angle pi/0": (["--angles", "pi/0"], "angles must be radians or fractions of pi"),
    "angle 1/0": (["--angles", "1/0"], "angles must be radians or fractions of pi"),
    "angle nan": (["--angles", "nan"], "angles must lie in (0, pi]"),
    "angle 2pi": (["--angles", "2pi"], "angles must lie in (0, pi]"),
    "angle text": (["--angles", "pi/four"], "angles must be radians or fractions of pi"),
    "unknown scheduler": (["--scheduler", "fast"], "unknown scheduler 'fast'"),
    "workers 0": (["--workers", "0"], "workers must be an integer >= 1"),
    "scale nan": (["--input-scale", "nan"], "input scale must be a finite number"),
    "gain negative": (["--gain", "-1"], "gain must be > 0"),
    "rel-se 2": (["--rel-se", "2"], "rel_se must lie in (0, 1)"),
    "dtype": (["--dtype", "float16"], "unknown dtype 'float16'"),
    "weight dist": (["--weight-dist", "cauchy"], "unknown weight distribution 'cauchy'"),
    "weight df": (["--weight-df", "2"], "weight_df must be > 2"),
    "weight density": (["--weight-density", "0"], "weight_density must lie in (0, 1]"),
    "stats": (["--stats", "weights,bogus"], "unknown statistic 'bogus'"),
    "nets per task": (["--nets-per-task", "0"], "nets per task must be"),
    "implicit uniform": (["--method", "implicit", "--weight-dist", "uniform"], "use --method explicit"),
    "joint at d=1": (["--input-dims", "1"], "input pairs need input dim >= 2"),
}


@pytest.mark.parametrize("name", MORE_BAD_SWEEPS)
def test_bad_options_leave_an_existing_store_untouched(name, dataset, capsys):
    """Even with --overwrite, a refused command writes nothing."""
    args, message = MORE_BAD_SWEEPS[name]
    before = _snapshot(dataset)
    code, _, err = run_main(["sweep", *QUICK, *args, "--out", str(dataset), "--overwrite"], capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and message in err, err
    assert _snapshot(dataset) == before


def test_unwritable_outputs_give_one_line(dataset, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = [["sweep", *QUICK, "--out", str(blocker / "x.zarr")],
             ["plot", str(dataset), "--out", str(blocker / "figs")],
             ["report", str(dataset), "--out", str(blocker / "r.md")],
             ["study", str(Path(__file__).parent.parent / "studies/theorem2-weight-dependence.toml"), "--smoke",
              "--scheduler", "synchronous", "--out", str(blocker / "study")]]
    for args in cases:
        code, _, err = run_main(args, capsys)
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1, (args[0], err)
        assert "a-file" in err, err
    assert blocker.read_text() == "not a folder"


def test_unreachable_scheduler_gives_one_line(tmp_path, capsys, monkeypatch):
    from ntkpaths import execute

    monkeypatch.setattr(execute, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "x.zarr"
    code, _, err = run_main(["sweep", *QUICK[:-2], "--scheduler", f"tcp://127.0.0.1:{port}", "--out", str(out)],
                            capsys)
    assert code == 2 and err.count("\n") == 1 and f"cannot reach the dask scheduler at tcp://127.0.0.1:{port}" in err
    assert not out.exists()


def test_resume_refuses_a_changed_input_file(tmp_path, capsys):
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.random.default_rng(0).uniform(-1, 1, size=(3, 5)))
    out = tmp_path / "f.zarr"
    args = ["sweep", *QUICK, "--inputs", str(inputs), "--out", str(out)]
    assert run_main(args, capsys)[0] == 0
    np.save(inputs, np.random.default_rng(1).uniform(-1, 1, size=(3, 5)))   # same shape, new values
    before = _snapshot(out)
    code, _, err = run_main([*args, "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and "changed since" in err and "sha256" in err, err
    assert _snapshot(out) == before


def test_a_second_writer_is_refused(dataset, capsys):
    """While another process holds a store, a sweep into it is refused before touching it."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from ntkpaths import store\nwith store.locked(Path(sys.argv[1])):\n"
                               "    print('held', flush=True); time.sleep(60)", str(dataset)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(dataset)
        code, _, err = run_main(["sweep", *QUICK, "--out", str(dataset), "--overwrite"], capsys)
        assert code == 2 and err.count("\n") == 1 and "is being written by another ntkpaths process (pid" in err, err
        assert _snapshot(dataset) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder died without cleaning up: its lock died with it
    code, _, err = run_main(["sweep", *QUICK, "--out", str(dataset), "--overwrite"], capsys)
    assert code == 0, err
    assert not dataset.with_name(dataset.name + ".lock").exists()


# ------------------------------------------------ first minutes: fast start, small sweeps in-process
def test_cli_imports_no_heavy_library():
    """`ntkpaths --help` loads typer, rich and numpy only; xarray, dask, zarr, plotting and scipy wait."""
    code = ("import sys, ntkpaths.cli; heavy = ('xarray', 'dask', 'zarr', 'matplotlib', 'seaborn', 'scipy', 'jax'); "
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    code = "import sys, ntkpaths.sweep; print(sorted(m for m in ('matplotlib', 'seaborn', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_small_sweeps_run_in_process(tmp_path):
    """Starting a local cluster costs seconds: a 20-network sweep runs in-process and says so."""
    out = tmp_path / "s.zarr"
    result = runner.invoke(cli.app, ["sweep", "--depth", "8", "--widths", "256", "--nets", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert ntkpaths.load(out).attrs["execution"].startswith("in-process")
    assert "ran in-process" in result.output.replace("\n", " ")


def test_no_command_shows_help_and_succeeds(capsys):
    code, out, err = run_main([], capsys)
    assert code == 0 and "Usage" in out and "error" not in err
