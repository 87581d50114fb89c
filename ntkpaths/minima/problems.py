"""The two problems of a census: what a run draws, its loss, and how its end point is read.

A problem gives, for one cell, the initial flat parameters and the data of
each run (drawn from the run's own generator), a JAX loss of one run, the
Hessian's extreme eigenvalues at an end point, the fraction of units or
pre-activations at the ReLU kink, and a signature that is the same for end
points equal up to the network's symmetries (used to group families).
"""
from __future__ import annotations

import functools

import numpy as np
from jax.flatten_util import ravel_pytree

from .. import sample, sharpness
from ..config import NetworkConfig
from ..jaxsetup import jax, jnp
from ..training import critical, model
from ..training.data import draw_data
from . import teacher as closed
from .config import MinimaConfig

SIGNATURE = 64  # length of an end point's symmetry-invariant signature


# ---------------------------------------------------------------- gaussian teacher
@functools.lru_cache(maxsize=None)
def teacher_loss(n: int, k: int):
    """F of one run as a function of its flat W (n * k,) and the teacher V (k, k)."""
    def loss(theta, v):
        return closed.population_loss(theta.reshape(n, k), v)
    return loss


@functools.lru_cache(maxsize=None)
def teacher_value_grad(n: int, k: int):
    """(F, grad F) of one run, flat, from the closed-form gradient (no autodiff in the descent's loop)."""
    def value_grad(theta, v):
        value, grad = closed.loss_and_gradient(theta.reshape(n, k), v)
        return value, grad.reshape(-1)
    return value_grad


@functools.lru_cache(maxsize=None)
def teacher_fast_value_grad(n: int, k: int):
    """(F, grad F) of one run for the teacher V = I, flat, given its constant term (twice F(0)):
    :func:`ntkpaths.minima.teacher.identity_loss_and_gradient`, the descent's inner loop."""
    def value_grad(theta, tt):
        value, grad = closed.identity_loss_and_gradient(theta.reshape(n, k), tt)
        return value, grad.reshape(-1)
    return value_grad


def draw_teacher_run(k: int, n: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Xavier initial W (flattened) and the teacher V = I_k of one run."""
    return sample.sample_xavier_uniform(n, k, rng=rng).reshape(-1), closed.teacher(k)


def teacher_signature(theta: np.ndarray, k: int) -> np.ndarray:
    """Sorted entries of W V^T (V = I): unchanged by permuting student units, and by permuting
    the teacher's units together with the input coordinates (the problem's symmetries)."""
    return _padded(np.sort(theta.reshape(-1, k), axis=None))


def teacher_kink(theta: np.ndarray, k: int, band: float) -> float:
    """Fraction of student units with |w_i| <= band: where F is not differentiable."""
    return float(np.mean(np.linalg.norm(theta.reshape(-1, k), axis=1) <= band))


def teacher_hessian(theta: np.ndarray, k: int) -> np.ndarray:
    """The explicit Hessian of F at flat W, (parameter, parameter), in closed form
    (:func:`ntkpaths.minima.teacher.hessian`; ten times faster than :func:`teacher_hessian_autodiff` at n = 20)."""
    return closed.hessian(np.asarray(theta, dtype=np.float64).reshape(-1, k), closed.teacher(k))


def teacher_hessian_autodiff(theta: np.ndarray, k: int) -> np.ndarray:
    """The explicit Hessian of F at flat W by JAX (forward over reverse through the closed-form loss)."""
    n = theta.size // k
    with jax.enable_x64(True):
        h = _teacher_hessian(n, k)(jnp.asarray(theta, dtype=jnp.float64), jnp.asarray(closed.teacher(k)))
    return np.asarray(h)


@functools.lru_cache(maxsize=None)
def _teacher_hessian(n: int, k: int):
    return jax.jit(jax.hessian(teacher_loss(n, k)))


# ---------------------------------------------------------------- deep ntk networks
@functools.lru_cache(maxsize=None)
def deep_loss(dims: tuple[int, ...]):
    """L = 1/(2N) sum |f - y|^2 of the ntk-parametrised network with layer sizes ``dims``, flat parameters."""
    par = model.parametrisation("ntk", list(dims), 1.0)
    shapes = [(o, i) for i, o in zip(dims[:-1], dims[1:])]
    _, unravel = ravel_pytree(tuple(jnp.zeros(s) for s in shapes))

    def loss(theta, data):
        x, y = data
        return model.loss(unravel(theta), x, y, par.scales)
    return loss


@functools.lru_cache(maxsize=None)
def deep_value_grad(dims: tuple[int, ...]):
    """(L, grad L) of one run by reverse-mode autodiff of :func:`deep_loss`."""
    return jax.value_and_grad(deep_loss(dims))


def deep_dims(data_dim: int, n_out: int, depth: int, width: int) -> tuple[int, ...]:
    return (data_dim, *[width] * depth, n_out)


def draw_deep_run(cfg: MinimaConfig, depth: int, width: int, *, rng: np.random.Generator):
    """A run's training set (as ``ntkpaths train`` draws it) and its initial N(0, 1) ntk parameters."""
    data = draw_data(cfg.train_config(), rng=rng)
    dims = deep_dims(data.dim, data.n_out, depth, width)
    standard = sample.sample_standard_weights(NetworkConfig(dtype="float64"), dims, rng=rng)
    theta = np.concatenate([w.reshape(-1) for w in standard])
    return theta, (data.x_train, data.y_train), dims


def _weights(theta: np.ndarray, dims: tuple[int, ...]) -> list[np.ndarray]:
    out, at = [], 0
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        out.append(theta[at:at + fan_in * fan_out].reshape(fan_out, fan_in))
        at += fan_in * fan_out
    return out


def deep_signature(theta: np.ndarray, data, dims: tuple[int, ...]) -> np.ndarray:
    """The network's outputs on its first training samples: unchanged by permuting hidden units
    and by positive rescaling between layers."""
    x, _ = data
    par = model.parametrisation("ntk", list(dims), 1.0)
    with jax.enable_x64(True):
        _, f = model.evaluate(tuple(jnp.asarray(w) for w in _weights(theta, dims)), jnp.asarray(x), par.scales)
    return _padded(np.asarray(f).reshape(-1))


def deep_kink(theta: np.ndarray, data, dims: tuple[int, ...], band: float) -> float:
    """Fraction of hidden pre-activations (unit, sample) with |z| <= band times the layer's rms."""
    x, _ = data
    par = model.parametrisation("ntk", list(dims), 1.0)
    with jax.enable_x64(True):
        zs, _ = model.evaluate(tuple(jnp.asarray(w) for w in _weights(theta, dims)), jnp.asarray(x), par.scales)
    near = [np.abs(np.asarray(z)) <= band * max(float(np.sqrt(np.mean(np.asarray(z) ** 2))), 1e-300) for z in zs]
    return float(np.mean(np.concatenate([n.reshape(-1) for n in near])))


def deep_hessian(theta: np.ndarray, data, dims: tuple[int, ...]) -> sharpness.Hessian:
    """The Hessian of the training loss with respect to the ntk parameters (:mod:`ntkpaths.sharpness`)."""
    x, y = data
    par = model.parametrisation("ntk", list(dims), 1.0)
    return sharpness.hessian(_weights(theta, dims), x, y, scales=par.scales)


def deep_critical_lr(theta: np.ndarray, data, dims: tuple[int, ...]) -> float:
    """2 / lambda_max(Theta / N) of the run at ``theta`` on its training set (as ``ntkpaths train``)."""
    x, _ = data
    par = model.parametrisation("ntk", list(dims), 1.0)
    with jax.enable_x64(True):
        weights = tuple(jnp.asarray(w) for w in _weights(theta, dims))
        return critical.critical_lr(weights, jnp.asarray(x, dtype=jnp.float64), par.scales, 1.0)


def deep_interpolates(theta: np.ndarray, data, dims: tuple[int, ...]) -> bool:
    """Whether the last hidden layer's features on the N training inputs have rank N at ``theta``.

    Then the output layer alone can fit any targets, so the global minimum of
    the run's loss is 0; and at a stationary point with such features the loss
    is 0 (the output layer's gradient vanishes only at its least-squares fit).
    """
    x, _ = data
    par = model.parametrisation("ntk", list(dims), 1.0)
    with jax.enable_x64(True):
        zs, _ = model.evaluate(tuple(jnp.asarray(w) for w in _weights(theta, dims)), jnp.asarray(x), par.scales)
    return bool(np.linalg.matrix_rank(np.maximum(np.asarray(zs[-1]), 0.0)) == len(x))


def _padded(values: np.ndarray) -> np.ndarray:
    out = np.full(SIGNATURE, np.nan)
    out[:min(SIGNATURE, values.size)] = values[:SIGNATURE]
    return out


def degenerate_loss(cfg: MinimaConfig, cell: tuple[int, int], data=None) -> float:
    """Loss of the critical point with every unit of a layer off: F(0) for the teacher problem,
    1/(2N) sum |y|^2 (the network outputs 0) for a deep one."""
    if cfg.is_teacher:
        return closed.zero_loss(cell[0])
    _, y = data
    return 0.5 * float(np.sum(np.asarray(y) ** 2)) / len(y)


