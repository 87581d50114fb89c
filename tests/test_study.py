"""Study files: every shipped study runs at smoke size; bad files get one line naming the key."""
from pathlib import Path

import numpy as np
import pytest

import ntkpaths
from ntkpaths import cli, study, verdict
from ntkpaths.config import ConfigError

STUDIES = sorted(Path(__file__).parent.parent.glob("studies/*.toml"))


def test_studies_are_shipped():
    names = {p.stem for p in STUDIES}
    assert {"theorem1-path-probability", "theorem2-weight-dependence", "theorem3-input-dependence"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_runs_at_smoke_size(path, tmp_path):
    spec = study.load_study(path)
    report = study.run_study(spec, tmp_path, smoke=True, scheduler="synchronous")
    text = report.read_text()
    assert "## Verdicts" in text and ("**agrees**" in text or "**disagrees**" in text)
    for fig in spec.figures:
        assert (tmp_path / "figures" / f"{fig}.png").exists(), fig
        assert f"figures/{fig}.png" in text
    ds = ntkpaths.load(tmp_path / "dataset.zarr")
    if len(spec.families) > 1:
        assert list(ds["family"].values) == list(spec.families)


def _write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


BAD = {
    "unknown top key": ("[sweeep]\ndepth = 3\n", "unknown key sweeep"),
    "unknown sweep key": ("[sweep]\ndpeth = 3\n", "unknown key sweep.dpeth"),
    "unknown family key": ("[families.a]\ninit = 'ntk'\ngian = 2.0\n", "unknown key families.a.gian"),
    "wrong type": ("[sweep]\ndepth = 'eight'\n", "sweep.depth must be an integer"),
    "wrong list type": ("[sweep]\nwidths = [8, 'x']\n", "sweep.widths must be a list of integers"),
    "bool is not int": ("[sweep]\nnets = true\n", "sweep.nets must be an integer"),
    "empty widths": ("[sweep]\nwidths = []\n", "sweep.widths is empty"),
    "empty families": ("families = {}\n", "families is empty"),
    "bad value": ("[sweep]\ndepth = 0\n", "sweep: depth must be an integer >= 1"),
    "bad family value": ("[families.a]\ninit = 'xavier'\n", "families.a: unknown init 'xavier'"),
    "unknown claim": ("[study]\nclaims = ['theorem9']\n", "unknown claim 'theorem9'"),
    "not toml": ("[sweep\n", "not valid TOML"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_study_files_name_the_key(name, tmp_path, capsys):
    text, message = BAD[name]
    path = _write(tmp_path, text)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["study", str(path), "--smoke", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and message in err, err


def test_missing_study_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read study"):
        study.load_study(tmp_path / "nope.toml")


def test_power_law_fit_recovers_exponent():
    rng = np.random.default_rng(0)
    x = 2.0 ** np.arange(4, 15)
    truth = 0.9 * x**-0.5
    se = 0.02 * truth
    y = truth + se * rng.standard_normal(x.size)
    fit = verdict.fit_power_law(x, y, se)
    assert abs(fit.exponent + 0.5) <= 5 * fit.exponent_se
    assert fit.exponent_se < 0.01
    steeper = verdict.fit_power_law(x, 0.9 * x**-0.7, se)
    assert abs(steeper.exponent + 0.5) > 5 * steeper.exponent_se


def test_theorem1_verdict_tells_holding_from_broken():
    """A symmetric family agrees; a constant positive bias is flagged."""
    base = dict(depth=5, widths=(8, 32), nets=400, seed=4, stats=())
    good = ntkpaths.run_sweep(ntkpaths.SweepConfig(**base), scheduler="synchronous")
    bad = ntkpaths.run_sweep(ntkpaths.SweepConfig(**base, network=ntkpaths.NetworkConfig(bias_mean=0.2)),
                             scheduler="synchronous")
    assert verdict.theorem1(good, "he").agrees
    assert not verdict.theorem1(bad, "bias").agrees
