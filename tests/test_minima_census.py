"""Census grids: dataset contract, replay, schedulers, resume, the CLI and its errors."""
import numpy as np
import pytest
import xarray as xr

import ntkpaths
from ntkpaths import cli, plot
from ntkpaths.minima import grid
from ntkpaths.minima.config import OUTCOMES, MinimaConfig
from ntkpaths.minima.run import run_block
from conftest import values

TINY = MinimaConfig(teachers=(6,), extra=(0, 1), runs=4, block=2, seed=11, max_steps=20000)
QUICK = ["--teachers", "6", "--extra", "0,1", "--runs", "4", "--block", "2", "--seed", "11", "--max-steps", "20000"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("minima") / "m.zarr"
    return path, grid.run_census(TINY, path, scheduler="synchronous")


def test_dataset_contract(tiny):
    path, ds = tiny
    assert set(ds.outcome.dims) == {"teacher", "extra", "run"}
    assert ds.outcome.attrs["flag_values"] == list(range(5))
    assert ds.outcome.attrs["flag_meanings"] == " ".join(OUTCOMES)
    for name in ("loss", "grad_norm", "hessian_min", "hessian_max", "hessian_residual", "steps", "halvings",
                 "near_kink", "family"):
        assert ds[name].dims == ("teacher", "extra", "run"), name
    np.testing.assert_allclose(ds.fraction.sum("outcome_class"), 1.0)
    assert bool(((ds.fraction_lo <= ds.fraction) & (ds.fraction <= ds.fraction_hi)).all())
    assert int(ds.n_runs.sum()) == 8 and {"grad_tol", "loss_tol", "eig_tol", "seed_entropy", "command",
                                          "ntkpaths_version", "config"} <= set(ds.attrs)
    loaded = ntkpaths.load(path)
    xr.testing.assert_identical(values(loaded), values(ds))
    # every run ended certified: stationary end points above the global loss carry a Hessian
    stationary = (ds.grad_norm <= TINY.grad_tol) & (ds.loss > TINY.loss_tol)
    assert bool(ds.hessian_min.where(stationary).notnull().sum() == stationary.sum())


def test_a_block_replays_alone(tiny):
    _, ds = tiny
    seeds = [grid.run_seed(TINY, (6, 1), r) for r in (2, 3)]
    alone = run_block(TINY, (6, 1), seeds, first_run=2)
    np.testing.assert_array_equal(alone["loss"], ds.loss.sel(teacher=6, extra=1, run=[2, 3]).values)
    np.testing.assert_array_equal(alone["outcome"], ds.outcome.sel(teacher=6, extra=1, run=[2, 3]).values)


def test_local_cluster_is_bit_identical_to_in_process(tiny):
    _, ds = tiny
    other = grid.run_census(TINY, workers=2)
    assert other.attrs["execution"].startswith("local dask cluster")
    xr.testing.assert_identical(values(other), values(ds))


def _same_bytes(a: xr.Dataset, b: xr.Dataset) -> None:
    """Every variable and coordinate of a and b holds the same bytes (NaNs included)."""
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name


# (config, block sizes): XLA rounds a vmapped step differently at other batch sizes (teacher: 16 rows against 7;
# deep: 1 row against 4 or 7), so these blocks would differ if a run's arithmetic depended on its block
BLOCKS = {
    "gaussian-teacher": (dict(teachers=(6,), extra=(0, 1), runs=17, seed=5, max_steps=20000), (4, 7, 16)),
    # max_steps off the chunk grid: every run must stop at its own budget whatever its block
    "digits": (dict(problem="digits", depths=(2,), widths=(4, 16), runs=9, seed=1, max_steps=2500, grad_tol=1e-6,
                    loss_tol=1e-4, n_train=16), (1, 4, 7)),
}


@pytest.mark.parametrize("problem", BLOCKS)
def test_a_run_does_not_depend_on_its_block(problem):
    """The same seed with other --block sizes and (gaussian-teacher; a cluster costs seconds) --block 7 on
    2 workers: bit-identical datasets."""
    base, blocks = BLOCKS[problem]
    runs = {block: grid.run_census(MinimaConfig(block=block, **base), scheduler="synchronous") for block in blocks}
    if problem == "gaussian-teacher":
        runs["workers"] = grid.run_census(MinimaConfig(block=7, **base), workers=2)
        assert runs["workers"].attrs["execution"].startswith("local dask cluster")
    for other in list(runs)[1:]:
        _same_bytes(values(runs[blocks[0]]), values(runs[other]))


def test_resume_after_interruption_gives_the_same_dataset(tiny, tmp_path, monkeypatch):
    _, ds = tiny
    path = tmp_path / "r.zarr"
    real, calls = grid.guarded_block, []

    def stop_after_two(cfg, block):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(block)
        return real(cfg, block)

    monkeypatch.setattr(grid, "guarded_block", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        grid.run_census(TINY, path, scheduler="synchronous")
    monkeypatch.setattr(grid, "guarded_block", real)
    assert len(ntkpaths.store.done_markers(path)) == 2
    with pytest.raises(ntkpaths.store.StoreError, match="unfinished minima"):
        ntkpaths.load(path)
    finished = grid.run_census(TINY, path, scheduler="synchronous", resume=True)
    xr.testing.assert_identical(values(finished), values(ds))


def test_figures_are_drawn(tiny, tmp_path):
    _, ds = tiny
    paths = plot.make_figures(ds, tmp_path)
    assert {p.stem for p in paths} == {"outcomes", "landscape", "families"}


def test_deep_census_runs_and_certifies():
    cfg = MinimaConfig(problem="digits", depths=(1,), widths=(2,), runs=2, block=2, seed=1, max_steps=600,
                       grad_tol=1e-6, loss_tol=1e-4, n_train=16)
    ds = grid.run_census(cfg, scheduler="synchronous")
    assert ds.outcome.dims == ("depth", "width", "run") and int(ds.n_runs.sum()) == 2
    assert bool((ds.degenerate_loss > 0).all()) and bool(ds.near_kink.notnull().all())


def _run_main(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    _, err = capsys.readouterr()
    return exit_info.value.code, err


BAD = {
    "grad tol": (["--grad-tol", "0"], "grad_tol must be > 0"),
    "loss tol": (["--loss-tol", "nan"], "loss_tol must be a finite number"),
    "eig tol": (["--eig-tol", "-1"], "eig_tol must be > 0"),
    "no teachers": (["--teachers", "0"], "teachers must be integers >= 1"),
    "negative extra": (["--extra=-1"], "extra must be integers >= 0"),
    "no steps": (["--max-steps", "0"], "max_steps must be an integer >= 1"),
    "mismatch": (["--problem", "digits"], "--teachers applies only to gaussian-teacher"),
    "deep option": (["--widths", "4"], "--widths applies only to deep problems"),
    "problem": (["--problem", "cifar"], "unknown problem 'cifar'"),
    "relative lr on the teacher": (["--lr-relative", "0.5"], "--lr-relative applies only to deep problems"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_options_give_one_line_and_touch_nothing(name, tiny, capsys):
    path, _ = tiny
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    args, message = BAD[name]
    code, err = _run_main(["minima", *QUICK, *args, "--out", str(path), "--overwrite"], capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and message in err, err
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before


def test_cli_writes_a_census(tmp_path, capsys):
    out = tmp_path / "c.zarr"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["minima", "--teachers", "6", "--runs", "2", "--block", "2", "--seed", "2", "--out", str(out)])
    assert exit_info.value.code == 0
    ds = ntkpaths.load(out)
    assert int(ds.n_runs.sum()) == 2 and "where gradient descent ended" in capsys.readouterr().out
