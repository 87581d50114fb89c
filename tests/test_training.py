"""Training runs: gradients, the empirical NTK, checkpoint measurements and their statistics.

The references here are independent of the code under test: central finite
differences, autodiff, numpy forward passes of the same weights, brute-force
enumeration of every path, hand-computed gradient steps, and 2^-depth.
"""
import itertools
import math

import numpy as np
import pytest

from ntkpaths import sample, theory, allpaths
from ntkpaths.config import NetworkConfig, TrainConfig
from ntkpaths.jaxsetup import jax, jnp
from ntkpaths.training import RUN_DIMS, TrainData, draw_data, train, train_run
from ntkpaths.training import model

F64 = NetworkConfig(dtype="float64")
PER_STEP = [name for name, dims in RUN_DIMS.items() if dims and dims[0] == "step" and name != "step"]


def tiny(seed: int, dims: list[int], n: int):
    """Standard normals of a network with layer sizes ``dims``, inputs (n, d) and targets (n, k)."""
    rng = np.random.default_rng(seed)
    standard = sample.sample_standard_weights(F64, dims, rng=rng)
    return standard, rng.normal(size=(n, dims[0])), rng.normal(size=(n, dims[-1]))


def central_differences(fn, params: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """d fn / d params by central differences, fn: params -> array (out,); one (out, *shape) per layer."""
    out = []
    for layer, p in enumerate(params):
        cols = []
        for idx in np.ndindex(p.shape):
            shifted = []
            for sign in (1, -1):
                q = [a.copy() for a in params]
                q[layer][idx] += sign * eps
                shifted.append(np.asarray(fn(tuple(q)), dtype=np.float64))
            cols.append((shifted[0] - shifted[1]) / (2 * eps))
        out.append(np.stack(cols, axis=-1).reshape(-1, *p.shape))
    return out


# ------------------------------------------------------------ the model
@pytest.mark.parametrize("param", ["ntk", "standard"])
def test_gradient_matches_central_differences(param):
    dims = [3, 4, 4, 2]
    standard, x, y = tiny(0, dims, 5)
    with jax.enable_x64(True):
        par = model.parametrisation(param, dims, 1.0)
        params = model.initial_params(standard, par, "float64")
        loss = jax.jit(model.loss, static_argnames="scales")
        fd = central_differences(lambda p: loss(p, x, y, par.scales)[None], params)
        grad = model.gradient(tuple(params), x, y, par.scales)
    for g, ref in zip(grad, fd):
        np.testing.assert_allclose(np.asarray(g), ref[0], rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("param", ["ntk", "standard"])
@pytest.mark.parametrize("depth", [1, 3])
def test_ntk_closed_form_equals_autodiff_and_finite_differences(param, depth):
    dims = [3, *[4] * depth, 2]
    standard, x, _ = tiny(depth, dims, 4)
    with jax.enable_x64(True):
        par = model.parametrisation(param, dims, 1.0)
        params = model.initial_params(standard, par, "float64")
        theta = np.asarray(model.ntk(tuple(params), x, par.scales))
        auto = np.asarray(model.ntk_autodiff(params, x, par.scales))
        out = jax.jit(lambda p: model.forward(p, x, par.scales)[1].reshape(-1))
        jac = np.concatenate([j.reshape(j.shape[0], -1) for j in central_differences(out, params)], axis=1)
    assert theta.shape == (4 * 2, 4 * 2)
    np.testing.assert_allclose(theta, auto, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(theta, jac @ jac.T, rtol=1e-6, atol=1e-9)


def test_parametrisations_share_the_initial_function():
    """Common random numbers: the same normals give the same step-0 network either way."""
    outs = [train_run(TrainConfig(steps=0, n_train=32, n_test=8, param=p, dtype="float64"), 2, 16,
                      seed=np.random.SeedSequence(5)) for p in ("ntk", "standard")]
    for name in ("loss", "test_loss", "p_active", "weight_slope"):
        np.testing.assert_allclose(outs[0][name], outs[1][name], rtol=1e-12, err_msg=name)


# ------------------------------------------------------------ runs, exactly
# Hand-computed single steps of a depth-1, width-4 network on x1 = (1, 0), x2 = (0, 1), targets 0.
# The same normals W1 = [[1, 2], [-1, 1], [-2, -1], [-1, -2]], W_out = (2, 2, 2, 2) give, in both
# parametrisations, z(x1) = (1, -1, -2, -1), z(x2) = (2, 1, -1, -2) and f = (1, 3), since
# sqrt(2/d) = 1 and the output scale sqrt(1/4) = 1/2 meets the 2s. dL/dz_j(x_i) = (r_i / N) 1[on]
# = (0.5, 0, 0, 0) and (1.5, 1.5, 0, 0), so W1 rows 0 and 1 lose lr_eff * (0.5, 1.5) and
# lr_eff * (0, 1.5). With lr_eff = 1, z'(x2) = (0.5, -0.5, -1, -2): neuron 1 turns off for x2
# alone, 1 of 8 (neuron, input) pairs; h'(x1) = h'(x2) = (0.5, 0, 0, 0).
#   ntk, lr = 1: the output parameters lose (1/2)(0.5 h(x1) + 1.5 h(x2)) = (1.75, 0.75, 0, 0),
#     f' = (1/2)(0.25 * 0.5) = 1/16 for both inputs.
#   standard, lr = 4 (the step uses lr / width = 1): W_out = (1, 1, 1, 1) loses (3.5, 1.5, 0, 0),
#     f' = -2.5 * 0.5 = -1.25 for both inputs.
HAND = {"ntk": (1.0, 1 / 16, math.sqrt(1.75**2 + 0.75**2) / 4),
        "standard": (4.0, -1.25, math.sqrt(3.5**2 + 1.5**2) / 2)}


@pytest.mark.parametrize("param", sorted(HAND))
def test_one_step_flips_the_neuron_computed_by_hand(param):
    lr, f_after, out_change = HAND[param]
    w1 = np.array([[1.0, 2.0], [-1.0, 1.0], [-2.0, -1.0], [-1.0, -2.0]])
    data = TrainData(np.eye(2), np.zeros((2, 1)), np.zeros((0, 2)), np.zeros((0, 1)), classification=False)
    cfg = TrainConfig(steps=1, lr=lr, param=param, checkpoints=2, n_train=2, ntk_inputs=2, dtype="float64")
    out = train([w1, np.full((1, 4), 2.0)], data, cfg, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out["step"], [0, 1])
    np.testing.assert_array_equal(out["flip_fraction"], [[0.0], [1 / 8]])
    np.testing.assert_array_equal(out["p_active"], [[(1 / 4 + 2 / 4) / 2], [1 / 4]])
    np.testing.assert_allclose(out["loss"], [(1 + 9) / 4, f_after**2 / 2], rtol=1e-15)
    np.testing.assert_allclose(out["weight_change"][1], [math.sqrt(4.75 / 17), out_change], rtol=1e-15)
    assert np.isnan(out["test_loss"]).all() and np.isnan(out["accuracy"]).all()


def test_lr_zero_keeps_every_checkpoint_at_step_zero():
    """The control run; its step 0 is the numpy forward pass of the same draw."""
    cfg = TrainConfig(lr=0.0, steps=40, checkpoints=6, n_train=48, n_test=16, ntk_inputs=16, dtype="float64")
    seed = np.random.SeedSequence(11)
    out = train_run(cfg, 3, 32, seed=seed)
    assert len(out["step"]) == 6 and not out["diverged"]
    for name in PER_STEP:
        np.testing.assert_array_equal(out[name], np.broadcast_to(out[name][:1], out[name].shape), err_msg=name)
    assert not out["flip_fraction"].any() and not out["weight_change"].any() and not out["ntk_change"].any()
    rng = np.random.default_rng(seed)
    data = draw_data(cfg, rng=rng)
    he = sample.sample_network(NetworkConfig(dtype="float64", n_out=10), 64, [32] * 3, rng=rng)
    zs, f = allpaths.forward(he, data.x_train)   # He fan-in: the ntk effective weights, except W_out's sqrt(2)
    np.testing.assert_array_equal(out["p_active"][0], allpaths.active_fraction(zs).mean(axis=1))
    loss = 0.5 * np.sum((f / math.sqrt(2) - data.y_train) ** 2) / len(f)
    np.testing.assert_allclose(out["loss"][0], loss, rtol=1e-12)


def brute_force_slope(x: np.ndarray, zs: list[np.ndarray], ts: list[np.ndarray]) -> np.ndarray:
    """E[t_l | Z = 1] by enumerating every path (i0, j1, ..., jH) and input; t_1 carries sign(x_i0)."""
    num, den = np.zeros(len(ts)), 0.0
    dims = [x.shape[1]] + [t.shape[0] for t in ts]
    for b, xb in enumerate(x):
        for p in itertools.product(*(range(n) for n in dims)):
            if all(z[j, b] > 0 for z, j in zip(zs, p[1:])):
                den += 1
                num += [t[p[l + 1], p[l]] * (np.sign(xb[p[0]]) if l == 0 else 1) for l, t in enumerate(ts)]
    return num / den


@pytest.mark.parametrize("param", ["ntk", "standard"])
def test_measurements_equal_independent_numpy_of_the_trained_weights(param):
    """Replay the run's draws and steps, then measure in numpy, path by path."""
    cfg = TrainConfig(data="teacher", steps=10, checkpoints=2, n_train=6, n_test=4, ntk_inputs=4,
                      lr=1.0, param=param, dtype="float64")
    seed = np.random.SeedSequence(21)
    out = train_run(cfg, 2, 3, seed=seed)
    rng = np.random.default_rng(seed)
    data = draw_data(cfg, rng=rng)
    dims = [64, 3, 3, 1]
    standard = sample.sample_standard_weights(F64, dims, rng=rng)
    with jax.enable_x64(True):
        par = model.parametrisation(param, dims, cfg.lr)
        p0 = model.initial_params(standard, par, "float64")
        p10 = [np.asarray(p) for p in model.descend(tuple(map(jnp.asarray, p0)), data.x_train, data.y_train,
                                                    par.lr, 10, par.scales)]
        ntks = [np.asarray(model.ntk_autodiff(p, data.x_train[:4], par.scales)) for p in (p0, p10)]
    he = [math.sqrt(g / fi) for g, fi in zip([2, 2, 1], dims)]
    eff = [[p * (h if param == "ntk" else 1.0) for p, h in zip(ps, he)] for ps in (p0, p10)]
    (zs0, _), (zs10, f10) = allpaths.forward(eff[0], data.x_train), allpaths.forward(eff[1], data.x_train)
    np.testing.assert_allclose(out["loss"][1], 0.5 * np.sum((f10 - data.y_train) ** 2) / 6, rtol=1e-12)
    np.testing.assert_array_equal(out["flip_fraction"][1], [np.mean((a > 0) != (b > 0)) for a, b in zip(zs0, zs10)])
    change = [np.linalg.norm(b - a) / np.linalg.norm(a) for a, b in zip(p0, p10)]
    np.testing.assert_allclose(out["weight_change"][1], change, rtol=1e-10)
    np.testing.assert_allclose(out["ntk_change"][1], np.linalg.norm(ntks[1] - ntks[0]) / np.linalg.norm(ntks[0]), rtol=1e-9)
    ts = [w / (h if param == "standard" else 1.0) for w, h in zip(p10[:-1], he)]
    slope = brute_force_slope(data.x_train[:4], [z[:, :4] for z in zs10], ts)
    np.testing.assert_allclose(out["weight_slope"][1], slope, rtol=1e-10)
    assert out["flip_fraction"][1].any() and out["weight_change"][1].all()   # the replay compared a change


# ------------------------------------------------------------ runs, statistically
RUNS, DEPTH, WIDTH = 200, 4, 16


@pytest.fixture(scope="module")
def initial_runs():
    """Step-0 measurements of many independent runs, with each run's training inputs."""
    cfg = TrainConfig(steps=0, n_train=32, n_test=0, ntk_inputs=32)
    children = np.random.SeedSequence(2024).spawn(RUNS)
    outs = [train_run(cfg, DEPTH, WIDTH, seed=child) for child in children]
    inputs = [draw_data(cfg, rng=np.random.default_rng(child)).x_train for child in children]
    return {name: np.stack([o[name][0] for o in outs]) for name in ("p_active", "weight_slope")}, inputs


def test_initial_p_active_is_two_to_minus_depth(initial_runs):
    p = initial_runs[0]["p_active"]                          # (run, prefix)
    se = p.std(axis=0, ddof=1) / math.sqrt(RUNS)
    truth = theory.p_active(np.arange(1, DEPTH + 1))
    assert np.all(np.abs(p.mean(axis=0) - truth) <= 5 * se), (p.mean(axis=0), truth, se)
    assert np.all(se < 0.1 * truth)   # the bound is tight enough to see a 50% error at every depth


def test_initial_first_layer_slope_matches_its_exact_value(initial_runs):
    """E[t_1 | Z = 1] = sqrt(2/pi) mean |x|_1 / (d |x|) for Gaussian weights, at every width.

    Pooled over runs as a ratio estimator: numerator E[t_1 Z] summed over inputs, denominator the summed F.
    """
    values, inputs = initial_runs
    deep = values["p_active"][:, -1]
    num, den = values["weight_slope"][:, 0] * deep, deep
    est = num.mean() / den.mean()
    influence = num / num.mean() - den / den.mean()
    se = abs(est) * influence.std(ddof=1) / math.sqrt(RUNS)
    truth = np.mean([theory.first_layer_weight_slope(x) for x in inputs])
    assert abs(est - truth) <= 5 * se, (est, truth, se)
    assert se < 0.2 * truth


def test_gradient_descent_fits_digits():
    cfg = TrainConfig(steps=300, checkpoints=8, n_train=64, n_test=64)
    out = train_run(cfg, 2, 128, seed=np.random.SeedSequence(3))
    assert not out["diverged"]
    assert out["loss"][-1] < 0.05 * out["loss"][0]
    assert out["test_loss"][-1] < out["test_loss"][0] and out["accuracy"][-1] > 0.9
    assert bool(out["reached_minimum"]) == (out["loss"][-1] <= cfg.loss_tolerance)
    assert np.all(out["flip_fraction"][1:] > 0) and np.all(np.diff(out["weight_change"], axis=0) >= 0)


def test_a_huge_learning_rate_diverges_without_raising():
    """float32 overflows within two steps: the run is marked, its later checkpoints are NaN."""
    cfg = TrainConfig(lr=1e10, steps=50, checkpoints=6, n_train=32, n_test=8)
    out = train_run(cfg, 2, 16, seed=np.random.SeedSequence(4))
    assert out["diverged"] and not out["reached_minimum"]
    bad = np.flatnonzero(~np.isfinite(out["loss"]))
    assert bad.size and bad[0] > 0 and np.isfinite(out["loss"][0])
    for name in PER_STEP:
        assert np.isnan(out[name][bad[0]:]).all(), name
        assert np.isfinite(out[name][: bad[0]]).all(), name


def test_a_learning_rate_that_kills_every_relu_is_not_divergence():
    """In float64 the same rate switches every unit of the last hidden layer off: no path is active,
    f = 0 with zero gradient, and the loss stays at (1/2) mean |y|^2 = 1/2 for one-hot targets,
    a finite critical point."""
    cfg = TrainConfig(lr=1e10, steps=50, checkpoints=6, n_train=32, n_test=8, dtype="float64")
    out = train_run(cfg, 2, 16, seed=np.random.SeedSequence(4))
    assert not out["diverged"] and np.isfinite(out["loss"]).all()
    assert out["p_active"][-1, -1] == 0 and out["loss"][-1] == 0.5


# ------------------------------------------------------------ reproducibility
def test_same_seed_gives_identical_arrays_whatever_the_checkpoints():
    """SGD over more steps than one jitted chunk; the last checkpoint must not depend on the others."""
    cfg = TrainConfig(steps=300, checkpoints=5, batch_size=8, n_train=24, n_test=8, ntk_inputs=8)
    runs = [train_run(cfg, 2, 16, seed=np.random.SeedSequence(9)) for _ in range(2)]
    for name in RUN_DIMS:
        np.testing.assert_array_equal(runs[0][name], runs[1][name], err_msg=name)
    fewer = train_run(TrainConfig(**{**cfg.to_dict(), "checkpoints": 2}), 2, 16, seed=np.random.SeedSequence(9))
    for name in PER_STEP:
        np.testing.assert_array_equal(fewer[name][-1], runs[0][name][-1], err_msg=name)
    other = train_run(cfg, 2, 16, seed=np.random.SeedSequence(10))
    assert not np.array_equal(other["loss"], runs[0]["loss"])


def test_a_minibatch_of_every_sample_is_full_batch_descent():
    """SGD with batch_size = n_train sums the same rows in another order: equal to rounding."""
    base = dict(steps=30, checkpoints=4, n_train=16, n_test=8, ntk_inputs=8, dtype="float64")
    full = train_run(TrainConfig(**base), 2, 16, seed=np.random.SeedSequence(12))
    sgd = train_run(TrainConfig(**base, batch_size=16), 2, 16, seed=np.random.SeedSequence(12))
    for name in PER_STEP:
        np.testing.assert_allclose(sgd[name], full[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert full["loss"][-1] < full["loss"][0]


# ------------------------------------------------------------ critical rate and regime
@pytest.mark.parametrize("param", ["ntk", "standard"])
def test_critical_lr_is_two_over_the_top_eigenvalue_of_explicit_j_jt_over_n(param):
    """Against J J^T / N with J from autodiff and numpy's dense eigensolver; the dense and the
    matrix-free (Lanczos on NTK-vector products) paths both, past the dense eigensolver's limit."""
    from ntkpaths.training import critical

    dims = [5, 40, 40, 7]
    n = 48   # 48 * 7 = 336 rows > EIGH_LIMIT: the Lanczos paths run
    standard, x, _ = tiny(21, dims, n)
    with jax.enable_x64(True):
        par = model.parametrisation(param, dims, 1.0)
        params = tuple(jnp.asarray(p) for p in model.initial_params(standard, par, "float64"))
        j_jt = np.asarray(model.ntk_autodiff(params, x, par.scales))
        truth = 2.0 / (np.linalg.eigvalsh(j_jt / n)[-1] * par.lr)
        dense = critical.critical_lr(params, jnp.asarray(x), par.scales, par.lr)
        free = 2.0 * n / critical.top_eigenvalue_matrix_free(params, jnp.asarray(x), par.scales) / par.lr
    assert len(j_jt) > critical.EIGH_LIMIT
    np.testing.assert_allclose(dense, truth, rtol=1e-9)
    np.testing.assert_allclose(free, truth, rtol=1e-7)
    if param == "standard":   # the standard step uses lr / width: its critical rate is width times larger
        assert truth > 10 * 2.0 / np.linalg.eigvalsh(j_jt / n)[-1]


def test_a_run_records_its_critical_rate_and_uses_the_relative_rate():
    cfg = TrainConfig(steps=5, checkpoints=3, n_train=16, n_test=4, lr_relative=0.3, dtype="float64", data="teacher")
    out = train_run(cfg, 2, 32, seed=np.random.SeedSequence(2))
    data_rng = np.random.default_rng(np.random.SeedSequence(2))
    data = draw_data(cfg, rng=data_rng)
    standard = sample.sample_standard_weights(F64, [data.dim, 32, 32, data.n_out], rng=data_rng)
    with jax.enable_x64(True):
        par = model.parametrisation("ntk", [data.dim, 32, 32, 1], 1.0)
        theta = np.asarray(model.ntk_autodiff(tuple(map(jnp.asarray, standard)), jnp.asarray(data.x_train), par.scales))
    np.testing.assert_allclose(out["critical_lr"], 2.0 / np.linalg.eigvalsh(theta / 16)[-1], rtol=1e-9)
    assert out["lr"] == pytest.approx(0.3 * out["critical_lr"], rel=1e-12)
    fixed = train_run(TrainConfig(**{**cfg.to_dict(), "lr_relative": None, "lr": 0.7}), 2, 32,
                      seed=np.random.SeedSequence(2))
    assert fixed["lr"] == 0.7 and fixed["critical_lr"] == out["critical_lr"]


def test_half_the_critical_rate_gives_a_monotone_loss():
    """Every step is a checkpoint, so a rise anywhere would show; the regime is below critical."""
    from ntkpaths.training import critical

    cfg = TrainConfig(steps=60, checkpoints=600, n_train=32, n_test=8, lr_relative=0.5)
    out = train_run(cfg, 2, 128, seed=np.random.SeedSequence(1))
    np.testing.assert_array_equal(out["step"], np.arange(61))
    assert np.all(np.diff(out["loss"]) < 0), out["loss"]
    assert out["loss_peak"] <= 1 + critical.SPIKE
    final = out["loss"][-1] / out["loss"][0]
    assert critical.regime(out["diverged"], out["loss_peak"], final, out["lr"], out["critical_lr"]) == 0


def test_two_and_a_half_times_the_critical_rate_is_a_catapult():
    """The loss spikes above its start, then falls below it; loss_peak sees the spike between
    checkpoints: it equals the peak of the same run measured at every step."""
    from ntkpaths.training import critical

    base = dict(steps=60, n_train=32, n_test=8, lr_relative=2.5)
    every = train_run(TrainConfig(**base, checkpoints=600), 2, 128, seed=np.random.SeedSequence(1))
    sparse = train_run(TrainConfig(**base, checkpoints=2), 2, 128, seed=np.random.SeedSequence(1))
    np.testing.assert_array_equal(every["step"], np.arange(61))
    assert every["loss"].max() > 2 * every["loss"][0] and every["loss"][-1] < 0.01 * every["loss"][0]
    assert sparse["loss_peak"] == pytest.approx(every["loss"].max() / every["loss"][0], rel=1e-5)
    assert sparse["loss"].max() == sparse["loss"][0]   # the checkpoints alone miss the spike
    final = sparse["loss"][-1] / sparse["loss"][0]
    assert critical.regime(sparse["diverged"], sparse["loss_peak"], final, sparse["lr"], sparse["critical_lr"]) == 1


def test_regime_codes():
    from ntkpaths.training import critical

    #                      diverged  peak    final  lr   critical
    cases = {0: (0, 1.0, 0.1, 0.5, 1.0), 1: (0, 3.0, 0.1, 2.0, 1.0)}
    cases |= {"rate only": (0, 1.0, 0.1, 2.0, 1.0), "spike only": (0, 1.5, 0.1, 0.9, 1.0),
              "nan": (1, np.inf, np.nan, 2.0, 1.0), "stuck above": (0, 5.0, 2.0, 3.0, 1.0)}
    want = {0: 0, 1: 1, "rate only": 1, "spike only": 1, "nan": 2, "stuck above": 2}
    for name, args in cases.items():
        assert critical.regime(*args) == want[name], name
    assert critical.regime(0, np.nan, 0.1, 0.5, 1.0) == -1   # a dataset without loss_peak: unknown
