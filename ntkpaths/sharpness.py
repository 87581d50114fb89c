"""Sharpness of the training loss: Hessian-vector products, extreme eigenvalues and the trace.

The loss is the training core's L = 1/(2N) sum_i |f(x_i) - y_i|^2
(:func:`ntkpaths.training.model.loss`), in float64. Sharpness depends on the
parametrisation -- that is Dinh et al.'s point -- so every function says which
one it uses: :func:`hessian` differentiates with respect to the parameters
``weights`` as given, with forward scales ``scales``. With the default scales
of 1.0 the parameters are the effective weights (W_1, ..., W_out), the
parametrisation :mod:`ntkpaths.symmetry` transforms; pass the ntk forward
scales to get the Hessian in the ntk parametrisation instead.

- :func:`top_eigenvalues`: the k eigenvalues of largest magnitude, from
  ARPACK (at a minimum the Hessian is positive semi-definite, up to terms
  proportional to the residuals, so these are the top k).
- :func:`lanczos`: extreme Ritz values of both ends. The bottom of a Hessian at
  a minimum is a cluster at 0 (at least P - N n_out eigenvalues vanish at
  zero loss), where power iteration on lambda_max I - H would converge at a
  rate of about 1 - gap / lambda_max, that is not at all; Lanczos reaches the
  extremes of a Krylov space of the same number of products, and its smallest
  Ritz value is a guaranteed upper bound on the smallest eigenvalue (Cauchy
  interlacing).
- :func:`extreme_eigenvalues`: the smallest and largest eigenvalues with
  their residuals, from ARPACK's implicitly restarted Lanczos
  (``scipy.sparse.linalg.eigsh`` on a ``LinearOperator`` over the jitted
  product), or from the explicit matrix when it is small.
- :func:`hutchinson_trace`: tr H from Rademacher probes, with its standard error.
- :func:`ntk_sharpness`: lambda_max(Theta) / N, which equals lambda_max(H) at a
  zero-loss point, where H = J^T J / N (docs/science.md, section 8).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jax.flatten_util import ravel_pytree

from . import sample
from .jaxsetup import jax, jnp
from .training import model


def _hvp(params, x, y, v, scales):
    """H v for a flat v (parameter,), by forward-over-reverse autodiff of the training loss."""
    _, unravel = ravel_pytree(params)
    tangent = jax.jvp(lambda p: jax.grad(model.loss)(p, x, y, scales), (params,), (unravel(v),))[1]
    return ravel_pytree(tangent)[0]


# jitted once per shape: every network of one architecture (all the alphas of a rescaling) shares them
_HVP = jax.jit(_hvp, static_argnames="scales")
_HMP = jax.jit(jax.vmap(_hvp, in_axes=(None, None, None, 0, None)), static_argnums=4)


@dataclass(frozen=True)
class Hessian:
    """The Hessian of the training loss at given parameters, as an operator on flat vectors (parameter,).

    Attributes
    ----------
    dim : int
        Number of parameters P, flattened layer by layer (W_1 first, each row-major).
    loss : float
        L at these parameters.
    sizes : tuple of int
        Parameters per weight layer, in the flat order.
    """

    dim: int
    loss: float
    sizes: tuple[int, ...]
    params: tuple
    x: object
    y: object
    scales: tuple[float, ...]

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """H v for v (parameter,)."""
        with jax.enable_x64(True):
            return np.array(_HVP(self.params, self.x, self.y, jnp.asarray(v, dtype=jnp.float64), self.scales))

    def matmat(self, vs: np.ndarray) -> np.ndarray:
        """H V for V (parameter, column)."""
        with jax.enable_x64(True):
            return np.array(_HMP(self.params, self.x, self.y, jnp.asarray(vs.T, dtype=jnp.float64), self.scales)).T

    def layer_mask(self, layers: Sequence[int]) -> np.ndarray:
        """1.0 on the parameters of the given weight layers (1-based; H + 1 is W_out), else 0, (parameter,)."""
        ends = np.cumsum((0,) + self.sizes)
        mask = np.zeros(self.dim)
        for layer in layers:
            mask[ends[layer - 1]:ends[layer]] = 1.0
        return mask


def hessian(weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray, scales: Sequence[float] | None = None) -> Hessian:
    """The Hessian of L = 1/(2N) sum |f - y|^2 with respect to ``weights``.

    Parameters
    ----------
    weights : list of ndarray (fan_out, fan_in)
        The parameters; f uses ``scales[l] * weights[l]`` in layer l.
    x : ndarray (sample, feature)
    y : ndarray (sample, output)
    scales : sequence of float, optional
        Forward scales; 1.0 for every layer (effective weights) by default.
    """
    scales = tuple(1.0 for _ in weights) if scales is None else tuple(float(s) for s in scales)
    y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    with jax.enable_x64(True):
        params = tuple(jnp.asarray(w, dtype=jnp.float64) for w in weights)
        xj, yj = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
        loss = float(model.loss(params, xj, yj, scales))
    return Hessian(dim=sum(int(w.size) for w in weights), loss=loss, sizes=tuple(int(w.size) for w in weights),
                   params=params, x=xj, y=yj, scales=scales)


def explicit(hess: Hessian) -> np.ndarray:
    """The whole (parameter, parameter) matrix, from P products: for small networks and tests."""
    return hess.matmat(np.eye(hess.dim))


def restricted(hess: Hessian, basis: np.ndarray) -> np.ndarray:
    """B^T H B for an orthonormal basis B (parameter, direction): the Hessian on a subspace."""
    return basis.T @ hess.matmat(basis)


@dataclass(frozen=True)
class Eigen:
    """Eigenpairs of the largest magnitude.

    Attributes
    ----------
    values : ndarray (eig,)
    vectors : ndarray (parameter, eig), unit columns
    residuals : ndarray (eig,)
        |H v - lambda v| of each pair at the stop.
    iterations : ndarray (eig,)   Hessian-vector products used
    converged : ndarray (eig,) bool
    """

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def top_eigenvalues(hess: Hessian, k: int = 1, *, rng: np.random.Generator, rtol: float = 1e-7,
                    max_iter: int = 5000, mask: np.ndarray | None = None) -> Eigen:
    """The k eigenvalues of largest magnitude, by ARPACK's implicitly restarted Lanczos.

    ``scipy.sparse.linalg.eigsh(which="LM")`` on a ``LinearOperator`` over the
    jitted Hessian-vector product, from a random unit start drawn from ``rng``.
    ARPACK accepts a Ritz pair when its residual |H v - lambda v| is at most
    rtol |lambda|; for the symmetric H an eigenvalue then lies within
    rtol |lambda| of lambda, and the Rayleigh quotient's error is at most
    |r|^2 / gap.

    Parameters
    ----------
    max_iter : int
        ARPACK's limit on restarts; pairs it did not accept have ``converged`` False.
    mask : ndarray (parameter,), optional
        Restrict H to the parameters where the mask is 1 (a block of the
        Hessian, e.g. from :meth:`Hessian.layer_mask`).

    Returns
    -------
    Eigen
        Sorted by decreasing magnitude; ``iterations`` is the number of
        Hessian-vector products ARPACK used (the same for every pair).
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    calls = [0]

    def apply(v):
        calls[0] += 1
        return hess.matvec(v) if mask is None else mask * hess.matvec(mask * v)

    op = LinearOperator((hess.dim, hess.dim), matvec=apply, dtype=np.float64)
    start = sample.sample_direction(hess.dim, rng=rng)
    start = start if mask is None else start * mask
    try:
        values, vectors = eigsh(op, k=k, which="LM", v0=start, tol=rtol, maxiter=max_iter)
        ok = np.ones(len(values), dtype=bool)
    except ArpackNoConvergence as exc:
        values, vectors = exc.eigenvalues, exc.eigenvectors
        ok = np.zeros(len(values), dtype=bool)
    order = np.argsort(-np.abs(values))
    values, vectors = values[order], vectors[:, order]
    residuals = np.array([np.linalg.norm(apply(v) - lam * v) for lam, v in zip(values, vectors.T)])
    return Eigen(values, vectors, residuals, np.full(len(values), calls[0]), ok)


@dataclass(frozen=True)
class Ritz:
    """Ritz values of a Lanczos run.

    Attributes
    ----------
    values : ndarray (ritz,), ascending
    bounds : ndarray (ritz,)
        |beta_m s_m|: each Ritz value lies within its bound of an eigenvalue of H.
    """

    values: np.ndarray
    bounds: np.ndarray


def lanczos(hess: Hessian, steps: int, *, rng: np.random.Generator) -> Ritz:
    """Lanczos with full reorthogonalisation (Gram-Schmidt twice per step), from a random unit start.

    Returns the Ritz values of the ``steps``-dimensional Krylov space (fewer if
    it is invariant). values[0] >= lambda_min and values[-1] <= lambda_max.
    """
    steps = min(steps, hess.dim)
    q = np.zeros((hess.dim, steps))
    alpha, beta = np.zeros(steps), np.zeros(steps)
    q[:, 0] = sample.sample_direction(hess.dim, rng=rng)
    m = steps
    for j in range(steps):
        w = hess.matvec(q[:, j])
        alpha[j] = q[:, j] @ w
        for _ in range(2):
            w -= q[:, : j + 1] @ (q[:, : j + 1].T @ w)
        beta[j] = np.linalg.norm(w)
        if j + 1 == steps or beta[j] <= 1e-12 * max(abs(alpha[: j + 1]).max(), 1e-300):
            m = j + 1
            break
        q[:, j + 1] = w / beta[j]
    t = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    theta, s = np.linalg.eigh(t)
    return Ritz(values=theta, bounds=np.abs(beta[m - 1] * s[-1]))


EXPLICIT_MAX = 800  # below this many parameters the explicit Hessian and LAPACK are cheaper than ARPACK


@dataclass(frozen=True)
class Extremes:
    """The two ends of a symmetric spectrum.

    Attributes
    ----------
    min, max : float
        Smallest and largest eigenvalue.
    residual : float
        The larger of |H v - lambda v| over the two unit eigenvectors: each
        value lies within its residual of an eigenvalue of H.
    method : str
        "explicit" (LAPACK on the whole matrix) or "arpack".
    """

    min: float
    max: float
    residual: float
    method: str


def extreme_eigenvalues(hess: "Hessian | np.ndarray", *, rng: np.random.Generator, tol: float = 1e-10,
                        max_iter: int | None = None) -> Extremes:
    """The smallest and largest eigenvalues of a Hessian and the residual of their eigenvectors.

    Parameters
    ----------
    hess : Hessian or ndarray (parameter, parameter)
        An operator (its jitted product is used) or an explicit symmetric matrix.
    rng : numpy.random.Generator
        Draws ARPACK's start vector, so the result is reproducible.
    tol : float
        ARPACK's relative tolerance on each Ritz value.

    Notes
    -----
    An operator of at most ``EXPLICIT_MAX`` parameters is formed explicitly
    (``P`` products) and diagonalised by LAPACK. Otherwise ARPACK runs twice,
    for the algebraically smallest and largest eigenvalue ('SA', 'LA'); it
    restarts implicitly, so it reaches the bottom of a spectrum whose lowest
    eigenvalues cluster, where power iteration would stall.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    matrix = hess if isinstance(hess, np.ndarray) else (explicit(hess) if hess.dim <= EXPLICIT_MAX else None)
    if matrix is not None:
        matrix = 0.5 * (matrix + matrix.T)
        try:
            values, vectors = np.linalg.eigh(matrix)
        except np.linalg.LinAlgError:  # LAPACK's divide and conquer can fail to converge on a valid matrix
            import scipy.linalg

            values, vectors = scipy.linalg.eigh(matrix, driver="evr")
        ends = vectors[:, [0, -1]]
        residual = np.linalg.norm(matrix @ ends - ends * values[[0, -1]], axis=0).max()
        return Extremes(float(values[0]), float(values[-1]), float(residual), "explicit")
    op = LinearOperator((hess.dim, hess.dim), matvec=hess.matvec, dtype=np.float64)
    start = sample.sample_direction(hess.dim, rng=rng)
    ends, residuals = [], []
    for which in ("SA", "LA"):
        value, vector = eigsh(op, k=1, which=which, v0=start, tol=tol, maxiter=max_iter)
        ends.append(float(value[0]))
        residuals.append(float(np.linalg.norm(hess.matvec(vector[:, 0]) - value[0] * vector[:, 0])))
    return Extremes(ends[0], ends[1], max(residuals), "arpack")


def hutchinson_trace(hess: Hessian, probes: int, *, rng: np.random.Generator) -> tuple[float, float]:
    """tr H as the mean of z^T H z over Rademacher probes z (Hutchinson, 1989), and its standard error.

    Returns
    -------
    estimate, se : float
        se is the probes' standard deviation over sqrt(probes).
    """
    z = sample.sample_rademacher((hess.dim, probes), rng=rng)
    quad = np.einsum("pi,pi->i", z, hess.matmat(z))
    return float(quad.mean()), float(quad.std(ddof=1) / np.sqrt(probes)) if probes > 1 else float("nan")


def ntk_sharpness(weights: Sequence[np.ndarray], x: np.ndarray, scales: Sequence[float] | None = None) -> float:
    """lambda_max(Theta) / N, Theta the empirical NTK Gram matrix (N n_out, N n_out) in the same parametrisation.

    At a zero-loss point this is lambda_max of the loss Hessian (H = J^T J / N there).
    """
    scales = tuple(1.0 for _ in weights) if scales is None else tuple(float(s) for s in scales)
    with jax.enable_x64(True):
        params = tuple(jnp.asarray(w, dtype=jnp.float64) for w in weights)
        theta = np.asarray(model.ntk(params, jnp.asarray(x, dtype=jnp.float64), scales))
    return float(np.linalg.eigvalsh(theta)[-1] / len(x))
