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
