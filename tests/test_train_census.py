"""The Theorem-5 studies' "reaches a global minimum" row, judged from a census of gradient descent to stationarity."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ntkpaths import cli, study
from ntkpaths.minima import certify, dataset
from ntkpaths.minima.config import MinimaConfig
from ntkpaths.training import study as train_study

ROOT = Path(__file__).parent.parent
WIDTHS = (64, 128, 256)
RUNS = 40


def _census(spurious: dict[int, int], *, outcome: int = certify.GLOBAL) -> xr.Dataset:
    """A census of 2 depths x 3 widths x RUNS runs: ``spurious[width]`` runs of every depth end at a spurious
    minimum, the rest at ``outcome``."""
    cfg = MinimaConfig(problem="digits", depths=(1, 2), widths=WIDTHS, runs=RUNS, seed=0, n_train=32,
                       lr_relative=0.5, grad_tol=1e-8, loss_tol=1e-6)
    raw = dataset.empty(cfg)
    stationary = outcome in (certify.GLOBAL, certify.SADDLE)
    raw.update(outcome=np.full_like(raw["outcome"], outcome), loss=np.full_like(raw["loss"], 1e-7),
               grad_norm=np.full_like(raw["loss"], 1e-9 if stationary else 1e-3), steps=np.full_like(raw["loss"], 500),
               halvings=np.zeros_like(raw["loss"]), near_kink=np.zeros_like(raw["loss"]),
               degenerate_loss=np.full_like(raw["loss"], 0.45), lr=np.full_like(raw["loss"], 1.0),
               interpolates=np.ones_like(raw["loss"]))
    for j, width in enumerate(WIDTHS):
        hits = slice(0, spurious.get(width, 0))
        raw["outcome"][:, j, hits] = certify.SPURIOUS
        raw["loss"][:, j, hits], raw["grad_norm"][:, j, hits], raw["hessian_min"][:, j, hits] = 0.1, 1e-9, 1e-3
        raw["signature"][:, j, hits] = 0.5
    return dataset.build(cfg, raw)


def test_the_row_agrees_when_every_run_ends_at_a_global_minimum():
    row = train_study.census_minimum(_census({}))
    assert row.kind == "limit" and row.outcome == "agrees", row
    assert "64: 40/40 [0.91, 1.00]" in row.measured and "0 spurious minimum" in row.measured
    assert "global minimum is 0 in 240 of 240 runs" in row.conditions


def test_the_row_disagrees_when_spurious_minima_persist_with_width():
    row = train_study.census_minimum(_census({64: 10, 128: 10, 256: 10}))
    assert row.outcome == "disagrees", row
    assert "64: 30/40" in row.measured and "60 spurious minimum" in row.measured


def test_the_row_agrees_when_spurious_minima_vanish_with_width():
    row = train_study.census_minimum(_census({64: 20, 128: 8, 256: 0}))
    assert row.outcome == "agrees" and "z of the shrinkage" in row.statistic, row


def test_the_row_is_untestable_when_no_run_finishes():
    row = train_study.census_minimum(_census({}, outcome=certify.NOT_CONVERGED))
    assert row.outcome == "untestable" and "no run reached a stationary point" in row.statistic


def test_a_study_dataset_carries_the_census_and_its_row_replaces_the_budget(tmp_path):
    census = _census({64: 10, 128: 10, 256: 10})
    train = xr.Dataset({"loss_mean": (("depth", "width", "run"), np.zeros((1, 2, 3)))},
                       coords={"depth": [3], "width": [8, 16], "run": [0, 1, 2]}, attrs={"config": "{}"})
    both = train_study.with_census(train, census)
    assert both.sizes["depth"] == 1 and both.sizes["census_depth"] == 2   # the two grids stay apart
    back = train_study.census_part(both)
    xr.testing.assert_identical(back.drop_attrs(), census.drop_attrs())
    assert train_study.census_part(train) is None
    assert train_study.census_minimum(back).outcome == "disagrees"


@pytest.mark.parametrize("name,relative", [("theorem5-training", 0.5), ("theorem5-catapult", 1.5)])
def test_the_theorem5_studies_configure_their_census(name, relative):
    spec = study.load_study(ROOT / "studies" / f"{name}.toml")
    cfg = train_study.census_config(spec)
    assert cfg.problem == "digits" and cfg.lr_relative == relative and cfg.seed == 5
    assert set(cfg.depths) <= set(train_study.train_config(spec).depths)
    assert set(cfg.widths) <= set(train_study.train_config(spec).widths)
    smoke = train_study.census_config(spec, smoke=True)
    assert smoke.runs * len(smoke.depths) * len(smoke.widths) <= 4 and smoke.lr_relative == relative


def test_the_census_data_can_interpolate():
    """The global minimum is 0 in the study's census: a run's last hidden layer has rank N at its start."""
    from ntkpaths.minima import grid, problems

    cfg = train_study.census_config(study.load_study(ROOT / "studies" / "theorem5-training.toml"))
    for depth in cfg.depths:
        rng = np.random.default_rng(grid.run_seed(cfg, (depth, min(cfg.widths)), 0))
        theta, data, dims = problems.draw_deep_run(cfg, depth, min(cfg.widths), rng=rng)
        assert problems.deep_interpolates(theta, data, dims), depth
    # a layer narrower than N cannot
    theta, data, dims = problems.draw_deep_run(cfg, 1, 16, rng=np.random.default_rng(0))
    assert not problems.deep_interpolates(theta, data, dims)


BAD = {
    "unknown census key": ("[train.census]\nwidht = [4]\n", "train.census must be a table with keys from"),
    "bad census value": ("[train.census]\nlr = 1.0\nlr_relative = 0.5\n", "train.census: give --lr or --lr-relative"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_census_tables_give_one_line(name, tmp_path, capsys):
    text, message = BAD[name]
    path = tmp_path / "s.toml"
    path.write_text('[study]\nkind = "train"\n[train]\ndepths = [1]\nwidths = [8]\n' + text)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["study", str(path), "--smoke", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()
