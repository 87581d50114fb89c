"""A newcomer's first hour: data safety, one-line errors and advice that fits the command."""
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import ntkpaths
from ntkpaths import cli, study

ROOT = Path(__file__).parent.parent
runner = CliRunner()
QUICK = ["--depth", "2", "--widths", "4", "--nets", "4", "--seed", "1", "--scheduler", "synchronous"]


def run_main(args, capsys):
    """Run the console entry point; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def one_line_error(code, err, *fragments):
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("newcomer") / "s.zarr"
    result = runner.invoke(cli.app, ["sweep", *QUICK, "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


# --- data safety -------------------------------------------------------------------------------

THEOREM1 = ROOT / "studies/theorem1-path-probability.toml"


def test_a_smoke_run_has_its_own_default_folder():
    spec = study.load_study(THEOREM1)
    assert study.default_folder(spec) == Path("data/theorem1-path-probability")
    assert study.default_folder(spec, smoke=True) == Path("data/theorem1-path-probability-smoke")


def test_a_smoke_run_never_replaces_full_results(tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "report.md").write_text("# Is P(path active) = 2^-H?\n")
    code, _, err = run_main(["study", str(THEOREM1), "--smoke", "--scheduler", "synchronous",
                             "--out", str(full)], capsys)
    one_line_error(code, err, "full results")
    assert (full / "report.md").read_text() == "# Is P(path active) = 2^-H?\n"
    assert sorted(p.name for p in full.iterdir()) == ["report.md"]


def test_a_smoke_report_says_it_is_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main(["study", str(THEOREM1), "--smoke", "--scheduler", "synchronous"], capsys)
    assert code == 0
    folder = tmp_path / "data/theorem1-path-probability-smoke"
    text = (folder / "report.md").read_text()
    assert text.startswith("# SMOKE RUN") and "not the study's results" in text
    assert ntkpaths.load(folder / "dataset.zarr").attrs["smoke"] == 1
    assert not (tmp_path / "data/theorem1-path-probability").exists()
    # a second smoke run may replace the first
    code, _, _ = run_main(["study", str(THEOREM1), "--smoke", "--scheduler", "synchronous"], capsys)
    assert code == 0


@pytest.mark.parametrize("where", ["dataset", "inside"])
def test_figures_never_go_into_a_dataset(dataset, tmp_path, capsys, where):
    other = tmp_path / "other.zarr"
    assert runner.invoke(cli.app, ["sweep", *QUICK, "--out", str(other)]).exit_code == 0
    before = sorted(p.relative_to(other) for p in other.rglob("*"))
    target = other if where == "dataset" else other / "figs"
    for args in (["plot", str(dataset), "--out", str(target)],
                 ["report", str(dataset), "--out", str(target / "r.md")],
                 ["sweep", *QUICK, "--out", str(target / "x.zarr")]):
        code, _, err = run_main(args, capsys)
        one_line_error(code, err, "a dataset", "choose another")
    assert sorted(p.relative_to(other) for p in other.rglob("*")) == before


def test_default_outputs_are_ignored_by_git(tmp_path):
    """Datasets, their locks and figure folders written anywhere in the repository stay out of git."""
    paths = ["x.zarr/.zgroup", "x.zarr.lock", "x-figures/p_active.png", "x-report.md",
             "x-report-figures/p_active.png", "data/theorem1-path-probability-smoke/report.md",
             "sub/y.zarr/.zattrs"]
    done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", *paths],
                          capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(paths), done.stdout
    kept = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index",
                           "data/theorem1-path-probability/report.md", "README.md"], capture_output=True, text=True)
    assert kept.stdout == ""


def test_an_output_below_a_file_names_the_file(dataset, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for args in (["sweep", *QUICK, "--out", str(blocker / "sub/x.zarr")],
                 ["plot", str(dataset), "--out", str(blocker / "figs")]):
        code, _, err = run_main(args, capsys)
        one_line_error(code, err, f"{blocker} is a file, not a folder")
        assert "File exists" not in err


# --- tracebacks and advice ---------------------------------------------------------------------

@pytest.mark.parametrize("nets", ["99999999999999999999", "999999999999"])
def test_absurd_network_counts_get_one_line(tmp_path, capsys, nets):
    out = tmp_path / "x.zarr"
    code, _, err = run_main(["sweep", "--depth", "2", "--widths", "16", "--nets", nets, "--scheduler",
                             "synchronous", "--out", str(out)], capsys)
    one_line_error(code, err, f"--nets {nets}", "fewer networks")
    assert not out.exists()


def test_out_of_memory_advice_fits_the_command(dataset, tmp_path, capsys, monkeypatch):
    from ntkpaths import plot, sweep

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sweep, "run_sweep", no_memory)
    code, _, err = run_main(["sweep", *QUICK, "--method", "implicit", "--out", str(tmp_path / "a.zarr")], capsys)
    one_line_error(code, err, "out of memory", "fewer --nets")
    assert "--method implicit" not in err and "widths" in err
    monkeypatch.setattr(plot, "make_figures", no_memory)
    code, _, err = run_main(["plot", str(dataset), "--out", str(tmp_path / "f")], capsys)
    one_line_error(code, err, "out of memory")
    assert "--" not in err


def test_advice_to_resume_only_where_the_command_has_it(dataset, tmp_path, capsys, monkeypatch):
    from ntkpaths import plot

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "f" / "p.png"))

    monkeypatch.setattr(plot, "make_figures", disk_full)
    code, _, err = run_main(["plot", str(dataset), "--out", str(tmp_path / "f")], capsys)
    one_line_error(code, err, "No space left on device")
    assert "--resume" not in err
    code, _, err = run_main(["report", str(dataset), "--out", str(tmp_path / "r.md")], capsys)
    one_line_error(code, err, "No space left on device")
    assert "--resume" not in err


def test_a_store_another_process_writes_is_named_as_such(dataset, capsys):
    import fcntl
    import os

    lock = dataset.with_name(dataset.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)   # another writer (a separate open file holds its own flock)
        for extra in ([], ["--resume"], ["--overwrite"]):
            code, _, err = run_main(["sweep", *QUICK, "--out", str(dataset), *extra], capsys)
            one_line_error(code, err, "being written by another ntkpaths process")
            assert "--resume" not in err and "--overwrite" not in err
    finally:
        os.close(fd)
        os.unlink(lock)
    assert ntkpaths.load(dataset).attrs["complete"]


# --- files that are not what their name says ---------------------------------------------------

def _npz_files(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, X=np.random.default_rng(0).normal(size=(300, 4)), y=np.arange(300) % 3)
    data = good.read_bytes()
    files = {"truncated": (data[: len(data) // 2], "truncated or damaged"),
             "text": (b"X,y\n1,2\n", "it is text, not a .npz file"),
             "npy": (None, "a single .npy array, not a .npz archive"),
             "empty": (b"", "it is empty")}
    out = {}
    for name, (content, message) in files.items():
        path = tmp_path / f"{name}.npz"
        if content is None:
            with open(path, "wb") as f:
                np.save(f, np.ones((3, 3)))
        else:
            path.write_bytes(content)
        out[name] = (path, message)
    return out


def test_bad_npz_files_say_what_is_wrong(tmp_path):
    from ntkpaths.config import ConfigError
    from ntkpaths.config.base import load_npz

    for name, (path, message) in _npz_files(tmp_path).items():
        with pytest.raises(ConfigError) as info:
            load_npz(path, "data")
        text = str(info.value)
        assert message in text and "allow_pickle" not in text and "\n" not in text, (name, text)


def test_train_refuses_bad_npz_data_in_one_line(tmp_path, capsys):
    for name, (path, message) in _npz_files(tmp_path).items():
        code, _, err = run_main(["train", "--data", str(path), "--depths", "1", "--widths", "4", "--runs", "1",
                                 "--steps", "1", "--n-train", "8", "--out", str(tmp_path / "t.zarr")], capsys)
        one_line_error(code, err, message)
        assert not (tmp_path / "t.zarr").exists()


def test_bad_npy_inputs_say_what_is_wrong(tmp_path, capsys):
    text = tmp_path / "text.npy"
    text.write_text("1,2,3\n4,5,6\n")
    zipped = tmp_path / "zipped.npy"
    with open(zipped, "wb") as f:
        np.savez(f, x=np.ones((2, 3)))
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    cases = {text: "it is text, not a .npy file", zipped: "a .npz archive, not a .npy array",
             objects: "Python objects"}
    for path, message in cases.items():
        code, _, err = run_main(["sweep", *QUICK, "--inputs", str(path), "--out", str(tmp_path / "x.zarr")], capsys)
        one_line_error(code, err, message)
        assert "allow_pickle" not in err


# --- training data that would train on nothing -------------------------------------------------

TRAIN = ["train", "--depths", "1", "--widths", "4", "--runs", "1", "--steps", "2", "--n-train", "16",
         "--n-test", "8", "--scheduler", "synchronous", "--seed", "0"]


@pytest.mark.parametrize("case", ["huge", "tiny", "constant", "targets"])
def test_train_refuses_data_that_normalise_to_nothing(tmp_path, capsys, case):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    x, message = {"huge": (x * 1e300, "too large to normalise"), "tiny": (x * 1e-320, "spread underflows"),
                  "constant": (np.ones_like(x), "every sample is the same"),
                  "targets": (x, "overflows float32 in the squared loss")}[case]
    if case == "targets":
        y = y * 1e30
    np.savez(tmp_path / "d.npz", X=x, y=y)
    out = tmp_path / "t.zarr"
    code, _, err = run_main([*TRAIN, "--data", str(tmp_path / "d.npz"), "--out", str(out)], capsys)
    one_line_error(code, err, message)
    assert not out.exists()


# --- numbers ntkpaths cannot represent or should not guess -------------------------------------

def test_depths_whose_probabilities_underflow_are_refused(tmp_path, capsys):
    from ntkpaths.config import SweepConfig
    from ntkpaths.config.sweep import MAX_DEPTH

    assert 4.0 ** -MAX_DEPTH >= np.finfo(np.float64).tiny > 4.0 ** -(MAX_DEPTH + 1)
    SweepConfig(depth=MAX_DEPTH, widths=(4,), nets=1)
    code, _, err = run_main(["sweep", "--depth", "100000", "--widths", "16", "--nets", "1", "--stats", "none",
                             "--out", str(tmp_path / "x.zarr")], capsys)
    one_line_error(code, err, "depth 100000 is too deep", "underflow")


@pytest.mark.parametrize("args", [["--widths", "１６,３２"], ["--depth", "２"], ["--nets=４"],
                                  ["--input-dims", "٦٤"], ["--input-scale", "１.5"]])
def test_digits_other_than_ascii_are_refused(tmp_path, capsys, args):
    code, _, err = run_main(["sweep", *QUICK, *args, "--out", str(tmp_path / "x.zarr")], capsys)
    one_line_error(code, err, "digits 0-9")
    assert not (tmp_path / "x.zarr").exists()


# --- progress ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,unit", [("reparametrisation", "stages"), ("theorem5-training", "runs"),
                                       ("theorem1-path-probability", "networks")])
def test_study_progress_names_what_it_counts(tmp_path, capsys, monkeypatch, name, unit):
    from ntkpaths.cli import common

    def fake_run(spec, out, *, progress, **kwargs):
        progress("stage", 4, 5)
        return out / "report.md"

    monkeypatch.setattr(study, "prepare", lambda *args: None)
    monkeypatch.setattr(study, "run_study", fake_run)
    monkeypatch.setattr(common._LogProgress, "EVERY_S", -1.0)
    code, _, err = run_main(["study", str(ROOT / f"studies/{name}.toml"), "--out", str(tmp_path / "o")], capsys)
    assert code == 0 and f"stage: 4/5 {unit} (80%)" in err, err


def test_terminal_bars_name_their_own_unit():
    from ntkpaths.cli import common

    bar = common._UnitProgress("networks")
    assert bar.tasks == [] and bar.add_task("a", total=3) == 0 and bar.add_task("b", total=5, unit="stages") == 1
    assert [t.fields["unit"] for t in bar.tasks] == ["networks", "stages"]


# --- symmetries --------------------------------------------------------------------------------

def test_a_unit_with_non_positive_weights_beyond_layer_one_is_dead_without_inputs():
    from ntkpaths import symmetry
    from ntkpaths.allpaths import forward
    from ntkpaths.config import ConfigError

    rng = np.random.default_rng(3)
    w = [rng.normal(size=(5, 3)), rng.normal(size=(4, 5)), rng.normal(size=(1, 4))]
    w[1][2] = -np.abs(w[1][2])                      # unit 2 of layer 2: off for every input
    x = rng.normal(size=(200, 3))
    moved = symmetry.reassign_inactive(w, 2, 2, incoming=-np.arange(1.0, 6.0), outgoing=np.array([7.0]))
    added = symmetry.add_inactive(w, 2, -np.ones((2, 5)), outgoing=rng.normal(size=(1, 2)))
    for changed in (moved, added):
        np.testing.assert_array_equal(forward(changed, x)[1], forward(w, x)[1])
    # in layer 1 the inputs may be negative, so non-positive weights prove nothing
    with pytest.raises(ConfigError, match="would change the function"):
        symmetry.add_inactive(w, 1, -np.ones((1, 3)), outgoing=np.ones((4, 1)))
    # and a unit with one positive incoming weight is not dead in general
    with pytest.raises(ConfigError, match="would change the function"):
        symmetry.add_inactive(w, 2, np.array([[1.0, -1, -1, -1, -1]]), outgoing=np.ones((1, 1)))


# --- resume keeps the history ------------------------------------------------------------------

def _interrupt_after(module, name, n, monkeypatch):
    real, calls = getattr(module, name), []

    def stop(*args):
        if len(calls) == n:
            raise KeyboardInterrupt
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, name, stop)
    return real


def test_resume_keeps_every_command_and_says_what_it_reused(tmp_path, capsys, monkeypatch):
    import sys

    from ntkpaths import sweep
    from ntkpaths.training import grid

    out = tmp_path / "s.zarr"
    first = ["sweep", *QUICK, "--widths", "4,8", "--nets-per-task", "2", "--out", str(out)]
    real = _interrupt_after(sweep, "guarded_task", 1, monkeypatch)
    monkeypatch.setattr(sys, "argv", ["ntkpaths", *first])
    assert run_main(first, capsys)[0] == 130
    monkeypatch.setattr(sweep, "guarded_task", real)
    monkeypatch.setattr(sys, "argv", ["ntkpaths", *first, "--resume"])
    assert run_main([*first, "--resume"], capsys)[0] == 0
    assert ntkpaths.load(out).attrs["command"].splitlines() == [" ".join(["ntkpaths", *first]),
                                                                " ".join(["ntkpaths", *first, "--resume"])]

    out = tmp_path / "t.zarr"
    first = [*TRAIN, "--data", "teacher", "--widths", "4,8", "--out", str(out)]
    real = _interrupt_after(grid, "guarded_run", 1, monkeypatch)
    monkeypatch.setattr(sys, "argv", ["ntkpaths", *first])
    assert run_main(first, capsys)[0] == 130
    monkeypatch.setattr(grid, "guarded_run", real)
    monkeypatch.setattr(sys, "argv", ["ntkpaths", *first, "--resume"])
    code, printed, _ = run_main([*first, "--resume"], capsys)
    assert code == 0 and "resumed: 1 run(s) reused" in printed and "1 trained now" in printed, printed
    assert len(ntkpaths.load(out).attrs["command"].splitlines()) == 2


# --- help ---------------------------------------------------------------------------------------

def _commands():
    import typer.main

    return typer.main.get_command(cli.app).commands


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_shows_every_bracketed_text(name):
    """rich reads '[default: ...]' as markup and drops it unless the help text escapes it."""
    import re

    result = runner.invoke(cli.app, [name, "--help"], terminal_width=100)
    assert result.exit_code == 0
    shown = " ".join(result.output.replace("│", " ").split())
    for param in _commands()[name].params:
        text = (getattr(param, "help", None) or "").replace("\\[", "[")
        for bracketed in re.findall(r"\[[^\]]*\]", text):
            assert " ".join(bracketed.split()) in shown, (param.name, bracketed)
    expected = {"sweep": "[default: 8]", "study": "[default: data/NAME, or data/NAME-smoke with --smoke]",
                "plot": "[default: PATH without .zarr, plus -figures]"}
    assert expected.get(name, "") in shown


# --- tables at 80 columns -----------------------------------------------------------------------

def _cell_texts(table):
    return [str(cell) for column in table.columns for cell in column._cells]


def _assert_nothing_cut(table):
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(width=80, file=buffer).print(table)
    shown = buffer.getvalue()
    assert "…" not in shown, shown
    for text in _cell_texts(table):
        for token in text.split():
            assert token in shown, (token, shown)
    return shown


def test_tables_never_cut_numbers_at_80_columns(tmp_path):
    from ntkpaths.cli import tables

    out = tmp_path / "wide.zarr"
    result = runner.invoke(cli.app, ["sweep", "--depth", "8", "--widths", "4,64", "--nets", "3", "--input-dims",
                                     "8,64", "--seed", "0", "--scheduler", "synchronous", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = ntkpaths.load(out)
    shown = _assert_nothing_cut(tables._summary_table(ds))
    assert "p_active" in shown and "2^-H" in shown                 # headers whole too
    info = runner.invoke(cli.app, ["info", str(out)], terminal_width=80)
    assert info.exit_code == 0 and "…" not in info.output

    train = tmp_path / "t.zarr"
    code = runner.invoke(cli.app, [*TRAIN, "--data", "teacher", "--depths", "1,2", "--widths", "4,64",
                                   "--out", str(train)]).exit_code
    assert code == 0
    shown = _assert_nothing_cut(tables._train_table(ntkpaths.load(train)))
    assert "change" in shown and "2^-H" in shown
    shown = _assert_nothing_cut(tables._rate_table(ntkpaths.load(train)))
    assert "critical" in shown and "regime" in shown

    from ntkpaths.cli import minima

    census = tmp_path / "m.zarr"
    code = runner.invoke(cli.app, ["minima", "--teachers", "3", "--extra", "0,1", "--runs", "4", "--seed", "0",
                                   "--scheduler", "synchronous", "--out", str(census)]).exit_code
    assert code == 0
    shown = _assert_nothing_cut(minima._table(ntkpaths.load(census)))
    assert "spuri-" in shown and "verged" in shown and "40–100" in shown


# --- loading results ----------------------------------------------------------------------------

def test_load_gives_numpy_and_described_variables(dataset, tmp_path):
    ds = ntkpaths.load(dataset)
    assert isinstance(ds.p_active.data, np.ndarray) and isinstance(ds.active_fraction.data, np.ndarray)
    assert ds.p_active.sel(width=4, depth=2).item() == pytest.approx(float(ds.p_active.values[0, 1]))
    assert ds.attrs["complete"] is True
    lazy = ntkpaths.load(dataset, lazy=True)
    assert not isinstance(lazy.p_active.data, np.ndarray)
    full = tmp_path / "all.zarr"
    assert runner.invoke(cli.app, ["sweep", *QUICK, "--method", "explicit", "--out", str(full)]).exit_code == 0
    ds = ntkpaths.load(full)
    raw = ["weight_num", "weight_den", "weight_tz", "input_num", "input_den", "xvalue_num", "xvalue_den",
           "joint_fraction", "active_fraction"]
    for name in [*raw, "width", "depth", "layer", "network", "input"]:
        assert ds[name].attrs.get("long_name"), name
    for name in raw:
        assert ds[name].attrs.get("description"), name


# --- memory pre-check of training ---------------------------------------------------------------

PEAK_SCRIPT = """
import sys
from ntkpaths.config import TrainConfig
from ntkpaths.training import grid
cfg = TrainConfig(depths=(2,), widths=(1536,), runs=1, steps=1, checkpoints=2, n_train=64, n_test=16,
                  data="digits", seed=0)
grid.run_training(cfg, scheduler="synchronous")
# VmHWM, not getrusage: ru_maxrss survives exec, so it would start at the (large) pytest parent's RSS
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(hwm * 1024, grid.peak_bytes(cfg))
"""


def test_training_memory_estimate_covers_the_measured_peak():
    """A run whose estimate fits must not be killed: the estimate covers the real peak RSS, and is not so
    loose that it refuses runs that fit (24 bytes per weight, the old budget, lies 30% below this peak)."""
    import sys

    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    measured, estimate = (int(v) for v in done.stdout.split()[-2:])
    assert measured <= estimate <= 1.4 * measured, (measured / 2**30, estimate / 2**30)


def test_a_lost_task_in_a_study_gives_no_resume_advice(tmp_path, capsys, monkeypatch):
    from ntkpaths.config import NtkpathsError

    def lost(*args, **kwargs):
        raise NtkpathsError("the cluster lost task width=8: KilledWorker; finished work is kept: rerun with --resume")

    monkeypatch.setattr(study, "run_study", lost)
    code, _, err = run_main(["study", str(THEOREM1), "--smoke", "--out", str(tmp_path / "o")], capsys)
    one_line_error(code, err, "the cluster lost task width=8: KilledWorker")
    assert "--resume" not in err and "kept" not in err


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_input_files_whose_activations_overflow_or_vanish_are_refused(tmp_path, capsys, scale):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).normal(size=(4, 8)) * scale)
    code, _, err = run_main(["sweep", *QUICK, "--inputs", str(path), "--out", str(tmp_path / "x.zarr")], capsys)
    one_line_error(code, err, "overflow or vanish", "rescale the inputs")
    assert not (tmp_path / "x.zarr").exists()


def test_absurd_run_counts_get_one_line(tmp_path, capsys):
    out = tmp_path / "t.zarr"
    code, _, err = run_main([*TRAIN, "--data", "teacher", "--runs", "99999999999999999999", "--out", str(out)], capsys)
    one_line_error(code, err, "--runs 99999999999999999999", "GiB")
    assert not out.exists()
