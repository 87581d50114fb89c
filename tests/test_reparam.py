"""The reparametrisation study: its dataset, its exact laws against simulation, its verdicts, and its command line."""
import json

import numpy as np
import pytest

import ntkpaths
from ntkpaths import cli, pathstats, sample, theory
from ntkpaths.config import ConfigError, NetworkConfig
from ntkpaths.reparam import ReparamConfig, embedding, measure_all, verdicts
from ntkpaths.tasks import child_seed

TINY = dict(depth=2, width=8, n_train=8, steps=300, alphas=(0.5, 2.0, 4.0), ks=(2,), nets=300, probes=10,
            lanczos_steps=20, max_iter=500, seed=3)


@pytest.fixture(scope="module")
def tiny_ds():
    return measure_all(ReparamConfig(**TINY))


def test_dataset_carries_its_provenance(tiny_ds):
    attrs = tiny_ds.attrs
    assert attrs["schema"] == "ntkpaths.reparam/1" and attrs["complete"] == 1
    assert ReparamConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(attrs["config"]).items()}) \
        == ReparamConfig(**TINY)
    assert attrs["seed_entropy"] == "3" and attrs["ntkpaths_version"] and attrs["created"]
    assert list(tiny_ds.alpha.values) == [0.5, 1.0, 2.0, 4.0]   # 1 is always measured
    assert float(tiny_ds.train_loss) < 1e-15


def test_every_verdict_holds_on_a_small_run(tiny_ds):
    rows = verdicts(tiny_ds)
    assert len(rows) >= 4 and all(r.outcome == "agrees" for r in rows), [(r.claim, r.statistic) for r in rows
                                                                          if r.outcome != "agrees"]


def broken(ds, name, change):
    bad = ds.copy(deep=True)
    bad[name] = change(bad[name])
    return {r.claim: r.outcome for r in verdicts(bad)}


def test_verdicts_see_broken_data(tiny_ds):
    """Each group's rows turn to disagrees when the data contradict them."""
    out = broken(tiny_ds, "variant_output_change", lambda v: v + 1e-3)
    assert out["Function unchanged: Berner: dead unit reassigned"] == "disagrees"
    assert broken(tiny_ds, "path_product_change", lambda v: v + 1e-6)[
        "Rescaling keeps every path's activation and path-weight product (Dinh et al.)"] == "disagrees"
    out = broken(tiny_ds, "lambda_top", lambda v: v.where(v.alpha != 4.0, v / 2))
    assert out["Rescaling multiplies sharpness by a factor that grows without bound in alpha (Dinh et al.)"] == "disagrees"
    assert out["Power iteration on Hessian-vector products equals lambda_max(NTK) / N at the zero-loss point"] == "disagrees"
    out = broken(tiny_ds, "spread_fraction", lambda v: v.where(v.embedding != "replicated x2", v * 0.8))
    assert out["F's mean and spread follow the parametrisation: replicated x2"] == "disagrees"   # no longer merged
    out = broken(tiny_ds, "flat_eigenvalues", lambda v: v + 1e-3)
    assert all(o == "disagrees" for c, o in out.items() if "zero-loss minimum" in c or "±sigma" in c)
    exponent = "Sharpness scales as alpha^+2 for large alpha and alpha^-2 for small alpha (Dinh et al.)"
    assert broken(tiny_ds, "lambda_top", lambda v: v.where(v.alpha != 4.0, v * 2))[exponent] == "disagrees"
    assert broken(tiny_ds, "lambda_top", lambda v: v.where(v.alpha != 0.5, v * 0.5))[exponent] == "disagrees"


def test_identities_are_apart_and_identical_statistics_are_merged(tiny_ds):
    """Rows true by construction are identities; the embeddings that only copy or rescale F (replication,
    inactive propagation) give the narrow row's z-scores and share its row; the semi-flat prediction is
    tested away from zero loss, where the curvature is not zero by construction."""
    rows = {r.claim: r for r in verdicts(tiny_ds)}
    for claim, row in rows.items():
        if claim.startswith("Function unchanged") or "zero-loss" in claim or claim.startswith("Smallest Hessian") \
                or claim.startswith("Rescaling keeps"):
            assert row.kind == "identity", claim
    spread = [c for c in rows if c.startswith("F's mean and spread")]
    merged = [c for c in spread if "replicated x2" in c]
    assert len(merged) == 1 and "narrow = replicated x2" in merged[0] and "inactive propagation" in merged[0]
    assert len(spread) == len(set(tiny_ds.embedding.values)) - 2
    semiflat = [r for c, r in rows.items() if "±sigma(C)" in c]
    assert semiflat and all(r.kind == "prediction" and "non-minimal" in r.conditions for r in semiflat)
    assert all("-0 .. 0" not in r.measured for r in semiflat)
    assert rows["Sharpness scales as alpha^+2 for large alpha and alpha^-2 for small alpha (Dinh et al.)"].kind \
        == "prediction"


def test_a_narrow_network_is_replayed_alone():
    cfg = ReparamConfig(**(TINY | {"nets": 5}))
    root = np.random.SeedSequence(cfg.seed)
    ds = embedding.spread(cfg, root)
    x = ds.spread_inputs.values
    w = sample.sample_network(NetworkConfig(dtype="float64"), cfg.input_dim, [cfg.narrow_width] * cfg.spread_depth,
                              rng=np.random.default_rng(child_seed(root, 4, 3)))
    np.testing.assert_array_equal(ds.spread_fraction.sel(embedding="narrow").isel(network=3),
                                  pathstats.path_statistics(w, x).active_fraction)
    np.testing.assert_array_equal(embedding.spread(cfg, root).spread_fraction, ds.spread_fraction)


def test_embedding_laws_match_simulation():
    """Width 2, so the all-originals-off event (probability 1/4 a layer) matters for inactive units."""
    cfg = ReparamConfig(**(TINY | {"narrow_width": 2, "added": 2, "ks": (3,), "nets": 3000, "spread_depth": 3}))
    ds = embedding.spread(cfg, np.random.SeedSequence(11))
    f = ds.spread_fraction.isel(spread_depth=-1)
    for e in ds.embedding.values:
        for power, exact in ((1, ds.spread_mean_exact), (2, ds.spread_square_exact)):
            per_net = (f.sel(embedding=e) ** power).mean("input")
            se = float(per_net.std(ddof=1)) / np.sqrt(cfg.nets)
            assert abs(float(per_net.mean()) - float(exact.sel(embedding=e))) <= 5 * se, (e, power)
    inactive = float(ds.spread_mean_exact.sel(embedding="inactive units +2"))
    assert inactive < 0.9 * 0.5**3                   # the law is not 2^-H here, and simulation agrees with it
    assert theory.inactive_units_moments(3, 4, 0) == theory.active_fraction_moments(3, 4)
    assert theory.replicated_unit_moments(3, 4, 1) == theory.active_fraction_moments(3, 4)


BAD_CONFIGS = {
    "alpha 0": ({"alphas": (0.0, 2.0)}, "alpha must be > 0"),
    "alpha negative": ({"alphas": (-1.0,)}, "alpha must be > 0"),
    "k 0": ({"ks": (0,)}, "k must be an integer >= 1"),
    "depth 1": ({"depth": 1}, "depth must be an integer >= 2"),
    "data": ({"data": "mnist"}, "unknown data 'mnist'"),
    "early": ({"early_steps": 300}, "early_steps must be < steps"),
    "rtol": ({"rtol": 2.0}, "rtol must lie in (0, 1)"),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_bad_configs_are_one_line_errors(name):
    change, message = BAD_CONFIGS[name]
    with pytest.raises(ConfigError) as info:
        ReparamConfig(**(TINY | change))
    assert message in str(info.value) and "\n" not in str(info.value)


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


STUDY = '[study]\nkind = "reparametrisation"\n[reparametrisation]\n'


@pytest.mark.parametrize("table,extra,message", [
    ("alphas = [0.0, 2.0]", [], "reparametrisation: alpha must be > 0"),
    ("ks = [0]", [], "reparametrisation: k must be an integer >= 1"),
    ("alpha = 2.0", [], "unknown key reparametrisation.alpha"),
    ("nets = 'many'", [], "reparametrisation.nets must be an integer"),
    ("nets = 10", ["--scheduler", "local"], "runs in-process"),
])
def test_bad_study_files_give_one_line(tmp_path, capsys, table, extra, message):
    path = tmp_path / "s.toml"
    path.write_text(STUDY + table + "\n")
    code, _, err = run_main(["study", str(path), "--out", str(tmp_path / "out"), *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out" / "dataset.zarr").exists()


# ------------------------------------------------------------ ntkpaths paths
@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    w = sample.sample_network(NetworkConfig(dtype="float64"), 5, [6, 6], rng=rng)
    np.save(tmp_path / "x.npy", rng.normal(size=(4, 5)))
    return w, pathstats.write_weights_npz(tmp_path / "w.npz", w), tmp_path / "x.npy"


def test_paths_prints_the_statistics_of_a_given_network(files, capsys, tmp_path):
    w, weights, inputs = files
    code, out, err = run_main(["paths", str(weights), "--inputs", str(inputs), "--transform", "rescale:1:3",
                               "--transform", "replicate:2:0:2", "--save", str(tmp_path / "t.npz")], capsys)
    assert code == 0, err
    stats = pathstats.path_statistics(w, np.load(inputs))
    assert f"{stats.p_active[1]:.5g}" in out and "rescale:1:3 then replicate:2:0:2" in out and "max |Δf|" in out
    assert pathstats.read_weights_npz(tmp_path / "t.npz")[1].shape == (7, 6)


@pytest.mark.parametrize("args,message", [
    (["--transform", "rescale:1:0"], "alpha must be finite and > 0"),
    (["--transform", "rescale:1:-2"], "alpha must be finite and > 0"),
    (["--transform", "rescale:1:6:2"], "unit 6 is out of range: hidden layer 1 has 6 units (0..5)"),
    (["--transform", "replicate:3:0:2"], "layer must be a hidden layer 1..2"),
    (["--transform", "replicate:1:0:0"], "k must be an integer >= 1"),
    (["--transform", "twist:1"], "unknown transform 'twist:1'"),
])
def test_bad_transforms_give_one_line(files, capsys, args, message):
    _, weights, inputs = files
    code, _, err = run_main(["paths", str(weights), "--inputs", str(inputs), *args], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and message in err, err


@pytest.mark.parametrize("arrays,message", [
    ({"W1": np.ones((6, 5)), "W2": np.ones((6, 6))}, "has no array 'Wout'"),
    ({"W1": np.ones((6, 5)), "W2": np.ones((6, 4)), "Wout": np.ones((1, 6))}, "W2 takes 4 inputs but W1 has 6 units"),
    ({"W1": np.ones(5), "Wout": np.ones((1, 6))}, "must be a 2-D weight matrix"),
    ({"W1": np.ones((6, 3)), "Wout": np.ones((1, 6))}, "W1 takes 3 inputs but the inputs have 5 features"),
])
def test_bad_weights_files_give_one_line(files, capsys, tmp_path, arrays, message):
    _, _, inputs = files
    np.savez(tmp_path / "bad.npz", **arrays)
    code, _, err = run_main(["paths", str(tmp_path / "bad.npz"), "--inputs", str(inputs)], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_the_reparametrisation_dataset_loads(tiny_ds, tmp_path):
    ntkpaths.write(tiny_ds, tmp_path / "r.zarr")
    back = ntkpaths.load(tmp_path / "r.zarr")
    assert [r.outcome for r in verdicts(back)] == [r.outcome for r in verdicts(tiny_ds)]


def test_info_and_report_judge_a_reparametrisation_dataset(tiny_ds, tmp_path, capsys):
    """Before: both commands assumed a sweep and died with a KeyError traceback."""
    path = ntkpaths.write(tiny_ds, tmp_path / "r.zarr")
    code, out, err = run_main(["info", str(path)], capsys)
    assert code == 0 and "verdicts" in out and "agrees" in out, err
    code, out, err = run_main(["report", str(path), "--out", str(tmp_path / "r.md"), "--no-figures"], capsys)
    assert code == 0, err
    text = (tmp_path / "r.md").read_text()
    rows = verdicts(tiny_ds)
    assert text.count("**agrees**") == sum(r.kind != "identity" for r in rows)
    assert text.count("- **holds**") == sum(r.kind == "identity" for r in rows)
