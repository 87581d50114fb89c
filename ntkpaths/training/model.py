"""The trained network in JAX: forward pass, loss, gradient descent, empirical NTK.

A bias-free ReLU network with H hidden layers and a linear output layer.
Parameters are a tuple (W_1, ..., W_H, W_out) with W_l of shape
(n_l, n_{l-1}); inputs are rows, (sample, feature). Each weight layer has a
forward scale s_l, so z_l = s_l h_{l-1} W_l^T and f = s_out h_H W_out^T:

- ``ntk``: N(0, 1) parameters, s_l = sqrt(2 / n_{l-1}) for hidden layers and
  s_out = sqrt(1 / n_H); the learning rate is used as given.
- ``standard``: parameters are He fan-in weights (the same normals times those
  scales) and every s_l = 1. Its NTK grows linearly with the width, so the
  step uses lr / n. This keeps the step stable at every width but is not the
  ntk dynamics: gradient descent on the ntk parameters equals descent on the
  effective weights with per-layer rates lr * s_l^2.

The scales are static arguments of every jitted function.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..jaxsetup import jax, jnp

Params = tuple  # (W_1, ..., W_H, W_out), each (fan_out, fan_in)


@dataclass(frozen=True)
class Parametrisation:
    """How standard normals become parameters, and parameters effective weights.

    Attributes
    ----------
    name : {"ntk", "standard"}
    scales : tuple of float, one per weight layer
        Forward multiplier s_l.
    stds : tuple of float, one per weight layer
        Standard deviation of the initial parameters (t = W / std is standardised).
    lr : float
        The learning rate the step uses.
    """

    name: str
    scales: tuple[float, ...]
    stds: tuple[float, ...]
    lr: float


def parametrisation(name: str, dims: Sequence[int], lr: float) -> Parametrisation:
    """The ``ntk`` or ``standard`` parametrisation of a network with layer sizes ``dims``.

    ``dims`` is [d, n, ..., n, k]; the ``standard`` learning rate is lr / n.
    """
    gains = [2.0] * (len(dims) - 2) + [1.0]
    he = tuple(math.sqrt(g / fan_in) for g, fan_in in zip(gains, dims[:-1]))
    ones = (1.0,) * len(he)
    if name == "ntk":
        return Parametrisation(name, scales=he, stds=ones, lr=lr)
    return Parametrisation(name, scales=ones, stds=he, lr=lr / dims[1])


def initial_params(standard: Sequence[np.ndarray], par: Parametrisation, dtype: str) -> list[np.ndarray]:
    """Parameters from standard normals, one (fan_out, fan_in) array per layer, as numpy."""
    return [(e * std).astype(dtype) for e, std in zip(standard, par.stds)]


def forward(params: Params, x, scales: tuple[float, ...]):
    """Hidden pre-activations and outputs.

    Parameters
    ----------
    params : tuple of (fan_out, fan_in) arrays
    x : array (sample, feature)
    scales : tuple of float

    Returns
    -------
    zs : list of array (sample, neuron), one per hidden layer
    f : array (sample, output)
    """
    h, zs = x, []
    for w, s in zip(params[:-1], scales[:-1]):
        zs.append((h @ w.T) * s)
        h = jax.nn.relu(zs[-1])   # derivative 0 at z = 0, as the mask z > 0
    return zs, (h @ params[-1].T) * scales[-1]


def loss(params: Params, x, y, scales: tuple[float, ...]):
    """L = 1/(2N) sum_i |f(x_i) - y_i|^2 over the N rows of x (sample, feature) and y (sample, output)."""
    _, f = forward(params, x, scales)
    return 0.5 * jnp.sum((f - y) ** 2) / x.shape[0]


gradient = jax.grad(loss)


def step(params: Params, x, y, lr, scales: tuple[float, ...]) -> Params:
    """One gradient step on the samples x, y."""
    return tuple(p - lr * g for p, g in zip(params, gradient(params, x, y, scales)))


@partial(jax.jit, static_argnames="scales", donate_argnums=0)
def descend(params: Params, x, y, lr, count, scales: tuple[float, ...]) -> Params:
    """``count`` full-batch gradient steps (``params`` is donated)."""
    return jax.lax.fori_loop(0, count, lambda _, p: step(p, x, y, lr, scales), params)


@partial(jax.jit, static_argnames="scales", donate_argnums=0)
def descend_minibatch(params: Params, x, y, lr, batches, count, scales: tuple[float, ...]) -> Params:
    """``count`` SGD steps; step i uses the rows ``batches[i]`` (step, batch) of x and y."""
    def body(i, p):
        rows = batches[i]
        return step(p, x[rows], y[rows], lr, scales)

    return jax.lax.fori_loop(0, count, body, params)


def _peak_step(p, peak, x, y, lr, scales):
    """One gradient step, and the running maximum of the loss before it."""
    value, grads = jax.value_and_grad(loss)(p, x, y, scales)
    return tuple(w - lr * g for w, g in zip(p, grads)), jnp.fmax(peak, value)


@partial(jax.jit, static_argnames="scales", donate_argnums=0)
def descend_tracking(params: Params, x, y, lr, count, scales: tuple[float, ...]):
    """:func:`descend` that also returns the largest training loss over the ``count`` steps it takes.

    The loss before each step comes with its gradient, so tracking it is free.
    Returns (params, peak); peak is the largest loss of the parameters each
    step started from (NaN-free: a NaN loss leaves the running maximum as it was).
    """
    start = jnp.asarray(-jnp.inf, dtype=x.dtype)
    return jax.lax.fori_loop(0, count, lambda _, c: _peak_step(*c, x, y, lr, scales), (params, start))


@partial(jax.jit, static_argnames="scales", donate_argnums=0)
def descend_minibatch_tracking(params: Params, x, y, lr, batches, count, scales: tuple[float, ...]):
    """:func:`descend_minibatch` that also returns the largest full training loss over its steps.

    A minibatch loss is not the training loss, so this costs one forward pass
    over every sample per step.
    """
    def body(i, c):
        p, peak = c
        peak = jnp.fmax(peak, loss(p, x, y, scales))
        rows = batches[i]
        return step(p, x[rows], y[rows], lr, scales), peak

    start = jnp.asarray(-jnp.inf, dtype=x.dtype)
    return jax.lax.fori_loop(0, count, body, (params, start))


def ntk_matvec(params: Params, x, scales: tuple[float, ...], v):
    """Theta v = J (J^T v) by one vector-Jacobian and one Jacobian-vector product; v (sample * output,)."""
    f = lambda p: forward(p, x, scales)[1].reshape(-1)   # noqa: E731
    _, pullback = jax.vjp(f, params)
    tangent = pullback(v)[0]
    return jax.jvp(f, (params,), (tangent,))[1]


@partial(jax.jit, static_argnames="scales")
def evaluate(params: Params, x, scales: tuple[float, ...]):
    """Jitted :func:`forward`."""
    return forward(params, x, scales)


@partial(jax.jit, static_argnames="scales")
def ntk(params: Params, x, scales: tuple[float, ...]):
    """Empirical NTK by the layer-wise closed form.

    Theta[(i, a), (j, b)] = sum_l s_l^2 <g_l^a(x_i), g_l^b(x_j)> <h_{l-1}(x_i), h_{l-1}(x_j)>,
    with g_l = df/dz_l the back-propagated signal of layer l; the output layer
    adds s_out^2 delta_ab <h_H(x_i), h_H(x_j)>. It costs a backward pass per
    output unit and never forms the Jacobian.

    Parameters
    ----------
    x : array (sample, feature)

    Returns
    -------
    array (sample * output, sample * output)
        Row i * k + a is output a at sample i.
    """
    zs, _ = forward(params, x, scales)
    hs = [x] + [jax.nn.relu(z) for z in zs]
    m, k = x.shape[0], params[-1].shape[0]
    theta = scales[-1] ** 2 * jnp.kron(hs[-1] @ hs[-1].T, jnp.eye(k, dtype=x.dtype))
    g = scales[-1] * params[-1][None] * (zs[-1] > 0)[:, None, :]   # (sample, output, neuron)
    for layer in reversed(range(len(zs))):
        flat = g.reshape(m * k, -1)
        signal = (flat @ flat.T).reshape(m, k, m, k)
        theta += scales[layer] ** 2 * (signal * (hs[layer] @ hs[layer].T)[:, None, :, None]).reshape(m * k, m * k)
        if layer:
            g = scales[layer] * (g @ params[layer]) * (zs[layer - 1] > 0)[:, None, :]
    return theta


def ntk_autodiff(params: Params, x, scales: tuple[float, ...]):
    """Empirical NTK as J J^T with the Jacobian J from ``jax.jacrev``: the reference for :func:`ntk`.

    Forms J (sample * output, parameter), so use it on small networks only.
    """
    jac = jax.jacrev(lambda p: forward(p, x, scales)[1].reshape(-1))(tuple(params))
    j = jnp.concatenate([a.reshape(a.shape[0], -1) for a in jac], axis=1)
    return j @ j.T
