"""Study files: every shipped study runs at smoke size; bad files get one line naming the key."""
from pathlib import Path

import numpy as np
import pytest

import ntkpaths
from ntkpaths import cli, report, study, verdict
from ntkpaths.config import ConfigError

STUDIES = sorted(Path(__file__).parent.parent.glob("studies/*.toml"))


def test_studies_are_shipped():
    names = {p.stem for p in STUDIES}
    assert {"theorem1-path-probability", "theorem2-weight-dependence", "theorem3-input-dependence"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_runs_at_smoke_size(path, tmp_path):
    spec = study.load_study(path)
    path_ = study.run_study(spec, tmp_path, smoke=True, scheduler="synchronous")
    text = path_.read_text()
    ds = ntkpaths.load(tmp_path / "dataset.zarr")
    rows = study.kind_of(spec.kind).verdicts(ds, spec.claims)
    assert rows and all(r.kind in verdict.KINDS for r in rows)
    shown = [r for r in rows if r.kind != "identity"]
    table = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| claim |")]
    assert len(table) == len(shown) >= 1          # one line per verdict computed from the data
    for row, line in zip(shown, table):
        assert row.claim.replace("|", "\\|") in line and f"| {row.kind} |" in line
        assert (f"**{row.outcome}**" in line) if row.outcome != "described" else line.endswith("| — |")
    identities = [r for r in rows if r.kind == "identity"]
    assert ("### Identities checked" in text) == bool(identities)
    for row in identities:   # listed under the table, not in it
        assert f"{row.claim} (" in text.split("### Identities checked")[1]
    if "theorem1" in spec.claims:
        assert sum("Theorem 1" in r.claim for r in rows) == len(spec.families)
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
    assert verdict.theorem1(good, "he").outcome == "agrees"
    assert verdict.theorem1(bad, "bias").outcome == "disagrees"


def test_a_row_that_tests_nothing_is_untestable():
    """One network per cell gives no standard error: before, the row read "agrees" with
    "max |z| = 0.00 (0 cells)"."""
    one = ntkpaths.run_sweep(ntkpaths.SweepConfig(depth=3, widths=(8, 16), nets=1, seed=4, stats=()),
                             scheduler="synchronous")
    row = verdict.theorem1(one, "he")
    assert row.outcome == "untestable" and not row.agrees
    assert "untestable: no cell has a standard error" in row.statistic
    text = report.render(one, title="t")
    assert "**untestable**" in text and "**agrees**" not in text


def test_rows_without_a_prediction_are_untestable():
    """Uniform weights: the exact slope and the arc-cosine law do not apply, so those rows test nothing."""
    ds = ntkpaths.run_sweep(ntkpaths.SweepConfig(depth=3, widths=(8, 16, 32), nets=50, seed=5,
                                                 network=ntkpaths.NetworkConfig(weight_dist="uniform")),
                            scheduler="synchronous")
    rows = {r.claim: r for r in report.verdicts(ds)}
    untested = [r for r in rows.values() if r.outcome == "untestable"]
    assert {r.claim for r in untested} >= {"Dependence strength E[t_l | Z=1] equals its exact finite-width value",
                                           "The arc-cosine law of the joint activation, as the infinite-width limit"}
    assert all("uniform weights" in r.statistic or "Gaussian" in r.statistic for r in untested)
    assert rows["Theorem 1: P(path active) = 2^-H"].outcome in ("agrees", "disagrees")


def test_families_identical_in_law_are_named(tmp_path):
    """He fan-in, the NTK parametrisation and gain 4 are one law without biases (and one sample on one
    seed); a bias breaks the scale invariance, so the biased families differ."""
    spec = study.Study(path=tmp_path / "s.toml", name="twins", title="twins", question="", claims=("theorem1",),
                       figures=(), sweep={"depth": 2, "widths": [8], "nets": 5, "stats": []},
                       families={"he": {}, "ntk": {"init": "ntk"}, "gain4": {"gain": 4.0},
                                 "uniform": {"weight_dist": "uniform"}, "bias": {"bias_std": 0.5},
                                 "bias-gain4": {"bias_std": 0.5, "gain": 4.0}})
    text = study.run_study(spec, tmp_path, scheduler="synchronous").read_text()
    ds = ntkpaths.load(tmp_path / "dataset.zarr")
    assert report.same_law_as(ds) == {"ntk": ("he", True), "gain4": ("he", True)}
    assert "## Families identical in law" in text and "- **ntk** = **he** (same sample)" in text
    rows = {r.conditions.split(";")[0]: r for r in report.verdicts(ds)}
    assert "identical in law to he" in rows["gain4"].conditions and "identical" not in rows["uniform"].conditions
    np.testing.assert_array_equal(ds.active_fraction.sel(family="he"), ds.active_fraction.sel(family="gain4"))


def test_shipped_theorem1_study_spends_its_time_on_new_laws():
    spec = study.load_study(Path(__file__).parent.parent / "studies/theorem1-path-probability.toml")
    keys = [cfg.network.law_key() for cfg in study.sweep_configs(spec).values()]
    assert len(set(keys)) == len(keys)
