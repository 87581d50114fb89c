"""The census's mathematics: the closed-form teacher loss, its derivatives, certificates and intervals."""
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from ntkpaths import sharpness
from ntkpaths.jaxsetup import jax, jnp
from ntkpaths.minima import certify, problems, reference, teacher
from ntkpaths.minima.dataset import clopper_pearson
from ntkpaths.minima.descent import descend
from ntkpaths.minima.study import published_row
from ntkpaths.theory import arccos_angles

TOL = dict(loss_tol=1e-8, grad_tol=1e-8, eig_tol=1e-6)


_LOSS = jax.jit(teacher.population_loss)
_GRAD = jax.jit(jax.grad(teacher.population_loss))


def loss_of(w, k):
    with jax.enable_x64(True):
        return float(_LOSS(jnp.asarray(w, dtype=jnp.float64), jnp.asarray(np.eye(k))))


def grad_of(w, k):
    with jax.enable_x64(True):
        return np.asarray(_GRAD(jnp.asarray(w, dtype=jnp.float64), jnp.asarray(np.eye(k))))


def certificate(w, k):
    """Loss, gradient norm, Hessian extremes and class of the teacher problem at W (unit, coord)."""
    theta = np.asarray(w, dtype=float).reshape(-1)
    ext = sharpness.extreme_eigenvalues(problems.teacher_hessian(theta, k), rng=np.random.default_rng(0))
    loss, norm = loss_of(w, k), float(np.linalg.norm(grad_of(w, k)))
    return loss, norm, ext, certify.classify(loss, norm, ext.min, False, **TOL)


@pytest.mark.parametrize("n,k,scale", [(5, 4, 0.5), (3, 6, 1.0), (7, 3, 0.3)])
def test_closed_form_loss_matches_monte_carlo(n, k, scale):
    rng = np.random.default_rng(n * 10 + k)
    w = scale * rng.standard_normal((n, k))
    mc, se = teacher.monte_carlo_loss(w, np.eye(k), 400_000, rng=rng)
    assert abs(loss_of(w, k) - mc) <= 5 * se, (loss_of(w, k), mc, se)


def test_pair_term_is_the_arc_cosine_map_of_theory():
    """g(w, v) / (|w| |v| / 2) is the layer map rho -> rho' of theory.arccos_angles."""
    angles = np.linspace(0.05, 3.1, 9)
    w = np.stack([np.ones_like(angles), np.zeros_like(angles)], axis=1)
    v = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    with jax.enable_x64(True):
        g = np.asarray(teacher.pair(jnp.asarray(w), jnp.asarray(v)))
    np.testing.assert_allclose(g / (0.5 * 2.0), np.cos(arccos_angles(angles, 2)[1]), rtol=1e-12, atol=1e-14)


def test_gradient_and_hessian_match_finite_differences():
    rng = np.random.default_rng(1)
    n, k = 4, 3
    w = rng.standard_normal((n, k))
    g, h, eps = grad_of(w, k).reshape(-1), problems.teacher_hessian(w.reshape(-1), k), 1e-5
    fd_g, fd_h = np.zeros(n * k), np.zeros((n * k, n * k))
    for i in range(n * k):
        e = np.zeros(n * k)
        e[i] = eps
        fd_g[i] = (loss_of((w.reshape(-1) + e).reshape(n, k), k) - loss_of((w.reshape(-1) - e).reshape(n, k), k)) / (2 * eps)
        fd_h[:, i] = (grad_of((w.reshape(-1) + e).reshape(n, k), k) - grad_of((w.reshape(-1) - e).reshape(n, k), k)).reshape(-1) / (2 * eps)
    np.testing.assert_allclose(g, fd_g, atol=1e-8)
    np.testing.assert_allclose(h, fd_h, atol=1e-7)
    np.testing.assert_allclose(h, h.T, atol=1e-14)


def test_at_the_teacher_the_loss_is_zero_and_the_hessian_positive():
    for k in (2, 6):
        loss, norm, ext, outcome = certificate(np.eye(k), k)
        assert abs(loss) < 1e-12 and norm < 1e-12
        assert ext.min > 0.01 and ext.residual < 1e-10 and outcome == certify.GLOBAL
        # a permutation of the teacher is the same global minimum
        assert abs(loss_of(np.eye(k)[::-1], k)) < 1e-12


def test_the_all_off_point_has_the_stated_loss():
    for k in (1, 4, 9):
        assert loss_of(np.zeros((2, k)) + 1e-300, k) == pytest.approx(teacher.zero_loss(k), rel=1e-12)


def test_a_hand_built_saddle_is_classified_saddle():
    """k = n = 2, both units equal to c (1, 1): the point is fixed by swapping the units and by swapping the
    coordinates together with the teacher's units, so the best c is a critical point of F (symmetric
    criticality). Splitting the two units lowers the loss: a saddle."""
    best = brentq(lambda c: grad_of(np.full((2, 2), c), 2).sum(), 0.05, 2.0, xtol=1e-15)
    w = np.full((2, 2), best)
    loss, norm, ext, outcome = certificate(w, 2)
    assert norm < 1e-12 and loss > 0.01
    assert ext.min < -1e-3 and outcome == certify.SADDLE, (ext, loss, norm)


def test_a_spurious_minimum_at_k_7_is_found_and_certified():
    """Gradient descent from near the k = n = 7 point of Safran, Yehudai & Shamir (a unit with a negative
    diagonal weight), rounded to 2 digits, ends at a stationary point with loss > 0 and a positive Hessian."""
    k = 7
    w = np.full((k, k), -0.04)
    np.fill_diagonal(w, 1.0)
    w[0, :], w[1:, 0] = 0.19, 0.26
    w[0, 0] = -0.63
    ends = descend(problems.teacher_value_grad(k, k), w.reshape(1, -1), np.eye(k)[None], 5.0 / k, grad_tol=1e-10,
                   max_steps=200_000, max_halvings=2)
    end = ends.theta[0].reshape(k, k)
    loss, norm, ext, outcome = certificate(end, k)
    assert norm <= 1e-10 and loss > 1e-3
    assert ext.min > 1e-3 and ext.residual < 1e-10, ext
    assert outcome == certify.SPURIOUS
    assert np.abs(end - w).max() < 0.05  # it stayed in that basin


def test_families_are_equal_up_to_unit_permutations():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 4))
    sigs = np.stack([problems.teacher_signature(w[p].reshape(-1), 4) for p in (rng.permutation(5) for _ in range(3))]
                    + [problems.teacher_signature(w[::-1].reshape(-1) * 1.01, 4)])
    outcome = np.array([certify.SPURIOUS] * 4 + [certify.GLOBAL])
    sigs = np.vstack([sigs, sigs[:1]])
    ids = certify.families(outcome, np.array([0.1, 0.1, 0.1, 0.2, 0.1]), sigs)
    np.testing.assert_array_equal(ids, [0, 0, 0, 1, -1])


def test_classify_follows_the_certificate_order():
    c = dict(**TOL)
    assert certify.classify(np.nan, np.nan, np.nan, True, **c) == certify.DIVERGED
    assert certify.classify(1e-9, 1.0, np.nan, False, **c) == certify.GLOBAL
    assert certify.classify(0.1, 1e-3, np.nan, False, **c) == certify.NOT_CONVERGED
    assert certify.classify(0.1, 1e-9, -1e-7, False, **c) == certify.SPURIOUS
    assert certify.classify(0.1, 1e-9, -1e-3, False, **c) == certify.SADDLE


def test_the_descent_gradient_is_the_autodiff_gradient():
    rng = np.random.default_rng(2)
    for w in (rng.standard_normal((5, 4)), np.eye(4) + 1e-9 * rng.standard_normal((4, 4))):
        with jax.enable_x64(True):
            value, grad = teacher.loss_and_gradient(jnp.asarray(w), jnp.eye(4, dtype=jnp.float64))
        assert float(value) == pytest.approx(loss_of(w, 4), abs=1e-13)
        np.testing.assert_allclose(np.asarray(grad), grad_of(w, 4), atol=1e-13)


def test_descent_halves_the_step_after_a_blow_up():
    k = 3
    w = np.eye(k)[None] * 0.5
    ends = descend(problems.teacher_value_grad(k, k), w.reshape(1, -1), np.eye(k)[None], 50.0, grad_tol=1e-10,
                   max_steps=20_000, max_halvings=10)
    assert ends.halvings[0] >= 3 and not ends.diverged[0] and ends.loss[0] < 1e-12
    gave_up = descend(problems.teacher_value_grad(k, k), w.reshape(1, -1), np.eye(k)[None], 50.0, grad_tol=1e-10,
                      max_steps=1000, max_halvings=1)
    assert gave_up.diverged[0] and np.isnan(gave_up.loss[0])


@pytest.mark.parametrize("p,n", [(0.3, 50), (0.02, 200), (0.9, 20)])
def test_clopper_pearson_intervals_cover(p, n):
    rng = np.random.default_rng(int(p * 100) + n)
    reps = 4000
    k = rng.binomial(n, p, size=reps)
    lo, hi = clopper_pearson(k, np.full(reps, n))
    coverage = np.mean((lo <= p) & (p <= hi))
    assert coverage >= 0.95 - 5 * math.sqrt(0.95 * 0.05 / reps), coverage
    assert np.all(lo <= k / n) and np.all(k / n <= hi)


def test_arpack_agrees_with_the_explicit_spectrum(monkeypatch):
    from ntkpaths import sample
    from ntkpaths.config import NetworkConfig

    rng = np.random.default_rng(4)
    w = sample.sample_network(NetworkConfig(dtype="float64", n_out=2), 3, [6, 6], rng=rng)
    hess = sharpness.hessian(w, rng.normal(size=(7, 3)), rng.normal(size=(7, 2)))
    exact = np.linalg.eigvalsh(sharpness.explicit(hess))
    monkeypatch.setattr(sharpness, "EXPLICIT_MAX", 0)
    ext = sharpness.extreme_eigenvalues(hess, rng=np.random.default_rng(5))
    assert ext.method == "arpack" and ext.residual < 1e-6
    assert ext.min == pytest.approx(exact[0], abs=1e-7) and ext.max == pytest.approx(exact[-1], rel=1e-8)


# ---------------------------------------------------------------- the fast path and the published reference
def test_the_fused_gradient_is_the_reference_gradient():
    """identity_loss_and_gradient (the descent's loop) against loss_and_gradient (V = I), to rounding:
    random students wider than the teacher, one with a unit at 0, and near the global minimum."""
    rng = np.random.default_rng(5)
    zero = rng.standard_normal((6, 4))
    zero[2] = 0.0
    ref, fast = jax.jit(teacher.loss_and_gradient), jax.jit(teacher.identity_loss_and_gradient)
    for w in (rng.standard_normal((6, 4)), zero, np.eye(4) + 1e-9 * rng.standard_normal((4, 4))):
        k = w.shape[1]
        with jax.enable_x64(True):
            want = ref(jnp.asarray(w), jnp.eye(k, dtype=jnp.float64))
            got = fast(jnp.asarray(w), 2 * teacher.zero_loss(k))
        assert float(got[0]) == pytest.approx(float(want[0]), abs=1e-13)
        np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]), atol=1e-13)


def test_the_fast_angle_is_arctan2_to_a_few_ulp():
    rng = np.random.default_rng(6)
    s = np.abs(rng.standard_normal(200_000)) * 10.0 ** rng.uniform(-12, 3, 200_000)
    p = rng.standard_normal(200_000) * 10.0 ** rng.uniform(-12, 3, 200_000)
    s[:50], p[25:75] = 0.0, 0.0  # both zero at 25..49: the angle is 0, as arctan2 says
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(teacher.angle)(s, p))
    want = np.arctan2(s, p)
    assert np.all(np.abs(got - want) <= 4 * np.spacing(np.maximum(np.abs(want), np.finfo(float).tiny)))
    assert np.all(got[25:50] == 0.0)


def test_the_closed_form_hessian_is_the_autodiff_hessian():
    rng = np.random.default_rng(7)
    split = np.vstack([np.eye(5), 0.4 * np.eye(5)[:2]])
    split[:2] *= 0.6  # two teacher units shared by two parallel student units each: t = 0 between students
    for w in (rng.standard_normal((7, 5)), split, np.eye(5),
              reference.expand(reference.K7_SPURIOUS["vals"], reference.K7_SPURIOUS["p"])):
        k = w.shape[1]
        got, want = problems.teacher_hessian(w.reshape(-1), k), problems.teacher_hessian_autodiff(w.reshape(-1), k)
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_a_published_spurious_minimum_is_certified_spurious():
    """Safran, Yehudai & Shamir's k = n = 7 point (published to 10 digits): stationary to the rounding of its
    digits, loss > 0, our smallest Hessian eigenvalue is their published one, and the class is spurious."""
    k = 7
    w = reference.expand(reference.K7_SPURIOUS["vals"], reference.K7_SPURIOUS["p"])
    loss, norm, ext, outcome = certificate(w, k)
    assert norm < 1e-9 and loss > 0.02
    assert ext.min == pytest.approx(reference.K7_SPURIOUS["min_eig"], abs=1e-8)
    assert outcome == certify.SPURIOUS


def test_the_published_row_can_fail():
    """The same proportion agrees, a clearly different one disagrees (Fisher's exact test at the row's level)."""
    same = published_row(8, 8, 114, 1000, 57, 500, threshold=0.01)
    close = published_row(8, 8, 130, 1000, 57, 500, threshold=0.01)
    far = published_row(8, 8, 200, 1000, 57, 500, threshold=0.01)
    empty = published_row(6, 6, 40, 1000, 0, 500, threshold=0.01)
    assert same.outcome == "agrees" and close.outcome == "agrees" and same.kind == "prediction"
    assert far.outcome == "disagrees" and empty.outcome == "disagrees"
    assert "Safran, Yehudai & Shamir" in far.prediction and "57/500" in far.prediction


def test_the_published_table_is_read_from_the_counts():
    """PUBLISHED is counts of runs, n = k only, 500 runs each, and the k = 7 point's family is among them."""
    assert all(extra == 0 and runs == 500 and 0 <= x <= runs for (_, extra), (x, runs) in reference.PUBLISHED.items())
    assert reference.PUBLISHED[(7, 0)] == (27, 500) and reference.PUBLISHED[(6, 0)] == (0, 500)


def test_the_explicit_spectrum_survives_a_lapack_failure(monkeypatch):
    """numpy's eigh (divide and conquer) failed to converge on a valid 361-parameter teacher Hessian in the
    k = 19 census; the relatively robust solver then gives the same extremes."""
    h = problems.teacher_hessian(np.random.default_rng(8).standard_normal(20), 4)
    want = sharpness.extreme_eigenvalues(h, rng=np.random.default_rng(0))

    def fails(_):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")
    monkeypatch.setattr(np.linalg, "eigh", fails)
    got = sharpness.extreme_eigenvalues(h, rng=np.random.default_rng(0))
    assert got.min == pytest.approx(want.min, abs=1e-12) and got.max == pytest.approx(want.max, abs=1e-12)
    assert got.residual < 1e-10
