"""Sharpness estimators against an explicitly formed Hessian and against the NTK Gram identity at zero loss."""
import numpy as np
import pytest
from conftest import train_to_minimum
from jax.flatten_util import ravel_pytree

from ntkpaths import sample, sharpness, symmetry
from ntkpaths.config import NetworkConfig
from ntkpaths.jaxsetup import jax, jnp
from ntkpaths.training import model

F64 = NetworkConfig(dtype="float64", n_out=2)


def reference_hessian(weights, x, y, scales):
    """jax.hessian of the loss on the flattened parameters: independent of the HVP path."""
    with jax.enable_x64(True):
        flat, unravel = ravel_pytree(tuple(jnp.asarray(w) for w in weights))
        h = jax.jit(jax.hessian(lambda v: model.loss(unravel(v), jnp.asarray(x), jnp.asarray(y), scales)))(flat)
    return np.asarray(h)


@pytest.fixture(scope="module")
def tiny():
    """A depth-2 network with 36 parameters at a random (non-critical) point."""
    rng = np.random.default_rng(0)
    w = sample.sample_network(F64, 3, [4, 4], rng=rng)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    return w, x, y, reference_hessian(w, x, y, (1.0, 1.0, 1.0))


def test_products_equal_the_explicit_hessian(tiny):
    w, x, y, exact = tiny
    hess = sharpness.hessian(w, x, y)
    np.testing.assert_allclose(sharpness.explicit(hess), exact, rtol=1e-12, atol=1e-12)
    v = np.random.default_rng(1).normal(size=hess.dim)
    np.testing.assert_allclose(hess.matvec(v), exact @ v, rtol=1e-12, atol=1e-12)


def test_power_iteration_finds_the_top_eigenvalues(tiny):
    w, x, y, exact = tiny
    lam = np.linalg.eigvalsh(exact)
    by_size = lam[np.argsort(-np.abs(lam))]
    top = sharpness.top_eigenvalues(sharpness.hessian(w, x, y), 3, rng=np.random.default_rng(2), rtol=1e-8)
    assert top.converged.all()
    np.testing.assert_allclose(top.values, by_size[:3], rtol=1e-4)
    np.testing.assert_allclose(abs(top.values - by_size[:3]) / abs(by_size[:3]), 0, atol=1e-10)
    for value, vector in zip(top.values, top.vectors.T):
        np.testing.assert_allclose(exact @ vector, value * vector, atol=1e-6 * abs(value))


def test_a_block_of_the_hessian(tiny):
    w, x, y, exact = tiny
    hess = sharpness.hessian(w, x, y)
    block = slice(12, 28)   # W_2, 4 x 4
    assert hess.layer_mask([2]).nonzero()[0].tolist() == list(range(12, 28))
    lam = np.linalg.eigvalsh(exact[block, block])
    top = sharpness.top_eigenvalues(hess, 1, rng=np.random.default_rng(3), mask=hess.layer_mask([2]), rtol=1e-9)
    np.testing.assert_allclose(top.values[0], lam[np.argmax(abs(lam))], rtol=1e-6)


def test_lanczos_brackets_the_spectrum(tiny):
    w, x, y, exact = tiny
    lam = np.linalg.eigvalsh(exact)
    ritz = sharpness.lanczos(sharpness.hessian(w, x, y), 12, rng=np.random.default_rng(4))
    assert ritz.values[0] >= lam[0] - 1e-12 and ritz.values[-1] <= lam[-1] + 1e-12
    for theta, bound in zip(ritz.values, ritz.bounds):   # every Ritz value lies within its bound of an eigenvalue
        assert np.abs(lam - theta).min() <= bound + 1e-10
    full = sharpness.lanczos(sharpness.hessian(w, x, y), 36, rng=np.random.default_rng(4))
    np.testing.assert_allclose(full.values[[0, -1]], lam[[0, -1]], rtol=1e-8)


def test_hutchinson_trace_within_its_standard_error(tiny):
    w, x, y, exact = tiny
    probes = 4000
    est, se = sharpness.hutchinson_trace(sharpness.hessian(w, x, y), probes, rng=np.random.default_rng(5))
    off = exact - np.diag(np.diag(exact))
    se_exact = np.sqrt(2 * np.sum(off**2) / probes)   # Var z^T H z = 2 sum_{i != j} H_ij^2 for Rademacher z
    assert abs(est - np.trace(exact)) <= 5 * se
    assert 0.8 < se / se_exact < 1.2


def test_rescaling_transforms_the_hessian_as_dinh_et_al_say(tiny):
    """L(T theta) = L(theta) gives H(T theta) = T^-1 H(theta) T^-1, T = alpha on W_1, 1/alpha on W_2."""
    w, x, y, exact = tiny
    alpha = 3.0
    scaled = symmetry.rescale(w, 1, alpha)
    t_inv = np.concatenate([np.full(12, 1 / alpha), np.full(16, alpha), np.ones(8)])
    moved = sharpness.explicit(sharpness.hessian(scaled, x, y))
    np.testing.assert_allclose(moved, t_inv[:, None] * exact * t_inv[None, :], rtol=1e-9, atol=1e-11)


@pytest.fixture(scope="module")
def minimum():
    """A depth-2 network trained by the training core to loss ~1e-32 on 6 samples (ntk parametrisation)."""
    params, scales, x, y, _ = train_to_minimum()
    return params, scales, x, y


@pytest.mark.parametrize("parametrisation", ["effective", "ntk"])
def test_top_eigenvalue_is_the_ntk_gram_top_over_n_at_zero_loss(minimum, parametrisation):
    params, scales, x, y = minimum
    if parametrisation == "effective":
        params, scales = [p * s for p, s in zip(params, scales)], None
    hess = sharpness.hessian(params, x, y, scales)
    assert hess.loss < 1e-20
    top = sharpness.top_eigenvalues(hess, 1, rng=np.random.default_rng(6), rtol=1e-9)
    np.testing.assert_allclose(top.values[0], sharpness.ntk_sharpness(params, x, scales), rtol=1e-8)
    rank = np.linalg.matrix_rank(sharpness.explicit(hess), tol=1e-9 * top.values[0])
    assert rank <= len(x) * y.shape[1]                      # H = J^T J / N has rank <= N n_out
    ritz = sharpness.lanczos(hess, 40, rng=np.random.default_rng(7))
    assert abs(ritz.values[0]) <= 1e-9 * top.values[0]      # zero eigenvalues: P > N n_out


def test_probes_are_signs():
    z = sample.sample_rademacher((1000, 3), rng=np.random.default_rng(0))
    assert set(np.unique(z)) == {-1.0, 1.0} and abs(z.mean()) < 0.1
    np.testing.assert_array_equal(z, sample.sample_rademacher((1000, 3), rng=np.random.default_rng(0)))
    v = sample.sample_direction(7, rng=np.random.default_rng(0))
    assert v.shape == (7,) and abs(np.linalg.norm(v) - 1) < 1e-15
