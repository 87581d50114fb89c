"""Transforms of a bias-free ReLU network's weights that leave its function unchanged.

Weights are effective weights, the list ``[W_1, ..., W_H, W_out]`` with
W_l of shape (n_l, n_{l-1}), and f(x) = W_out relu(... relu(W_1 x)). Hidden
layers are numbered 1..H, as in datasets; units are 0-based row indices.
Every function is pure: it returns a new list and never modifies its input.
Bad arguments raise :class:`ntkpaths.config.ConfigError` with one line.

Which symmetries apply, and from which paper (docs/science.md, section 8):

- :func:`rescale` -- positive rescaling (Dinh et al., 2017). Exact for every
  input; with powers of two it is exact bit for bit.
- :func:`replicate`, :func:`widen` -- unit replication (Fukumizu et al., 2019).
  Exact for every input.
- :func:`add_inactive` -- inactive units (zero outgoing weights) and inactive
  propagation (zero incoming weights: without a bias such a unit is always
  off) from Fukumizu et al.; exact for every input. Units that are merely off
  on the given inputs keep the function on those inputs only.
- :func:`reassign_inactive` -- Berner et al. (2019), dead units: a unit that
  contributes nothing may take any weights that keep it contributing nothing,
  so parameters arbitrarily far apart realise the same function.
- :func:`add_linear_pairs`, :func:`mix_linear_pairs` -- Berner et al.,
  opposite weight vectors: units with incoming w and -w and outgoing v and -v
  realise the linear map h -> v (w . h), since relu(s) - relu(-s) = s. Any
  refactorisation of a sum of such linear maps keeps the function.

Berner et al.'s other degeneracies need biases (a bias absorbing a constant
unit), which these networks do not have. Permuting hidden units is a symmetry
too, but it changes nothing any statistic here can see.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .config import ConfigError
from .allpaths import forward

Weights = list[np.ndarray]


def _check_weights(weights: Sequence[np.ndarray]) -> None:
    if len(weights) < 2:
        raise ConfigError(f"a network needs at least one hidden layer and an output layer, got {len(weights)} arrays")
    for i, (w, nxt) in enumerate(zip(weights[:-1], weights[1:])):
        if nxt.shape[1] != w.shape[0]:
            raise ConfigError(f"weight layer {i + 2} has fan-in {nxt.shape[1]} but layer {i + 1} has {w.shape[0]} units")


def _hidden(weights: Sequence[np.ndarray], layer) -> int:
    _check_weights(weights)
    depth = len(weights) - 1
    if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool) or not 1 <= layer <= depth:
        raise ConfigError(f"layer must be a hidden layer 1..{depth}, got {layer!r}")
    return int(layer)


def _unit(weights: Sequence[np.ndarray], layer: int, unit) -> int:
    n = weights[layer - 1].shape[0]
    if not isinstance(unit, (int, np.integer)) or isinstance(unit, bool) or not 0 <= unit < n:
        raise ConfigError(f"unit {unit!r} is out of range: hidden layer {layer} has {n} units (0..{n - 1})")
    return int(unit)


def _positive(name: str, values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(a).all() and (a > 0).all()):
        raise ConfigError(f"{name} must be finite and > 0, got {values!r}")
    return a


def _copy(weights: Sequence[np.ndarray]) -> Weights:
    return [np.array(w, dtype=np.float64) for w in weights]


def _layer_input(weights: Sequence[np.ndarray], x: np.ndarray, layer: int) -> np.ndarray:
    """h_{layer-1} for the inputs x (input, feature): the rows a unit of ``layer`` sees, (fan_in, input)."""
    if layer == 1:
        return np.asarray(x, dtype=np.float64).T
    zs, _ = forward(weights, x)
    return np.maximum(zs[layer - 2], 0)


# ----------------------------------------------------------------- Dinh et al.
def rescale(weights: Sequence[np.ndarray], layer: int, alpha, unit: int | None = None) -> Weights:
    """Positive rescaling (Dinh et al., 2017, "Sharp minima can generalize for deep nets").

    Multiplies unit j's incoming weights (row j of W_layer) by alpha_j > 0 and
    its outgoing weights (column j of W_{layer+1}) by 1 / alpha_j. Since
    relu(a z) = a relu(z) for a > 0, the unit's output is scaled by alpha_j
    and the next layer sees exactly what it saw before: every activation and
    every path-weight product is unchanged; the Hessian is not.

    Parameters
    ----------
    weights : list of ndarray (fan_out, fan_in)
    layer : int
        Hidden layer 1..H.
    alpha : float or ndarray (neuron,)
        One factor for the whole layer (or for ``unit``), or one per unit.
    unit : int, optional
        Rescale this unit only.
    """
    layer = _hidden(weights, layer)
    n = weights[layer - 1].shape[0]
    factors = np.ones(n)
    if unit is not None:
        factors[_unit(weights, layer, unit)] = _positive("alpha", alpha)
    else:
        a = _positive("alpha", alpha)
        if a.ndim and a.shape != (n,):
            raise ConfigError(f"per-unit alpha must have shape ({n},) for hidden layer {layer}, got {a.shape}")
        factors *= a
    out = _copy(weights)
    out[layer - 1] *= factors[:, None]
    out[layer] /= factors[None, :]
    return out


# ----------------------------------------------------------------- Fukumizu et al.
def replicate(weights: Sequence[np.ndarray], layer: int, unit: int, k: int = 2, shares=None) -> Weights:
    """Unit replication (Fukumizu et al., 2019, "Semi-flat minima and saddle points by embedding
    neural networks to overparameterization").

    Splits ``unit`` into k copies with its incoming weights; the outgoing
    weights v become shares[i] * v, with sum(shares) = 1. A copy is on
    exactly when the original is, so the function is unchanged. The k - 1
    new units are appended after the layer's last unit.

    Parameters
    ----------
    k : int
        Copies, >= 1 (1 changes nothing).
    shares : sequence of float (k,), optional
        Any finite numbers summing to 1 (negative ones too); equal by default.
    """
    layer = _hidden(weights, layer)
    unit = _unit(weights, layer, unit)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    lam = np.full(k, 1.0 / k) if shares is None else np.asarray(shares, dtype=np.float64)
    if lam.shape != (k,) or not np.isfinite(lam).all() or abs(lam.sum() - 1.0) > 1e-12:
        raise ConfigError(f"shares must be {k} finite numbers summing to 1, got {shares!r}")
    out = _copy(weights)
    rows = np.repeat(out[layer - 1][unit:unit + 1], k - 1, axis=0)
    col = out[layer][:, unit:unit + 1]
    out[layer - 1] = np.vstack([out[layer - 1], rows])
    out[layer] = np.hstack([out[layer], col * lam[1:]])
    out[layer][:, unit] *= lam[0]
    return out


def widen(weights: Sequence[np.ndarray], k: int) -> Weights:
    """Replicate every hidden unit of every layer k times with equal shares (Fukumizu et al., 2019).

    The result has widths k n_l and the same function; copies are adjacent
    (unit j becomes units k j .. k j + k - 1). Every unit's on/off state is its
    original's, so F = prod_l a_l / n_l is unchanged for every input and depth.
    """
    _check_weights(weights)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    out = _copy(weights)
    for i in range(len(out)):
        if i < len(out) - 1:
            out[i] = np.repeat(out[i], k, axis=0)
        if i > 0:
            out[i] = np.repeat(out[i], k, axis=1) / k
    return out


def _silent(incoming: np.ndarray, outgoing: np.ndarray, h: np.ndarray | None, layer: int) -> bool:
    """True when a unit contributes nothing: zero outgoing or incoming weights, incoming weights all <= 0
    in a layer >= 2 (its inputs are ReLU outputs, never negative, so it is off for every input), or off
    on every column of h."""
    return (not outgoing.any() or not incoming.any() or (layer >= 2 and bool((incoming <= 0).all()))
            or (h is not None and bool((incoming @ h <= 0).all())))


_SILENT = ("zero outgoing weights, zero incoming weights, incoming weights all <= 0 (hidden layers >= 2), "
           "or (with inputs x) incoming weights that keep it off on every input")


def add_inactive(weights: Sequence[np.ndarray], layer: int, incoming, outgoing=None, x=None) -> Weights:
    """Add units that contribute nothing (Fukumizu et al., 2019: inactive units and inactive propagation).

    Each new unit must have zero outgoing weights (an inactive unit: its
    incoming weights are free), or zero incoming weights (inactive
    propagation: without a bias it is always off, so its outgoing weights are
    free), or, in a hidden layer >= 2, incoming weights all <= 0 (its inputs
    are ReLU outputs, never negative, so it is off for every input), or --
    given inputs ``x`` -- incoming weights that keep it off on every one of
    them; the function is then unchanged on those inputs only.

    Parameters
    ----------
    incoming : ndarray (new_unit, fan_in)
    outgoing : ndarray (fan_out, new_unit), optional
        Zero by default. fan_out is the width of the next layer.
    x : ndarray (input, feature), optional
    """
    layer = _hidden(weights, layer)
    w_in = np.atleast_2d(np.asarray(incoming, dtype=np.float64))
    fan_in, fan_out = weights[layer - 1].shape[1], weights[layer].shape[0]
    w_out = np.zeros((fan_out, w_in.shape[0])) if outgoing is None else np.asarray(outgoing, dtype=np.float64)
    if w_in.ndim != 2 or w_in.shape[1] != fan_in or w_out.shape != (fan_out, w_in.shape[0]):
        raise ConfigError(f"new units of hidden layer {layer} need incoming (units, {fan_in}) and outgoing "
                          f"({fan_out}, units) weights, got {w_in.shape} and {w_out.shape}")
    h = None if x is None else _layer_input(weights, x, layer)
    for c in range(w_in.shape[0]):
        if not _silent(w_in[c], w_out[:, c], h, layer):
            raise ConfigError(f"new unit {c} of hidden layer {layer} would change the function: give it {_SILENT}")
    out = _copy(weights)
    out[layer - 1] = np.vstack([out[layer - 1], w_in])
    out[layer] = np.hstack([out[layer], w_out])
    return out


# ----------------------------------------------------------------- Berner et al.
def reassign_inactive(weights: Sequence[np.ndarray], layer: int, unit: int, incoming=None, outgoing=None,
                      x=None) -> Weights:
    """Give a unit that contributes nothing other weights that contribute nothing (Berner et al., 2019,
    "How degenerate is the parametrization of neural networks with the ReLU activation function?").

    A dead unit (off on every input: zero incoming weights, or in a layer
    >= 2 incoming weights all <= 0, or off on the given inputs) may have
    any outgoing weights and any incoming weights that keep it dead; a unit
    with zero outgoing weights may have any incoming weights. Both the old and
    the new weights must make the unit silent (see :func:`add_inactive`), so
    the function is unchanged -- everywhere, or on the inputs ``x`` when
    deadness is judged on them. The parameters can move arbitrarily far.

    Parameters
    ----------
    incoming : ndarray (fan_in,), optional
        New row of W_layer (unchanged when None).
    outgoing : ndarray (fan_out,), optional
        New column of W_{layer+1} (unchanged when None).
    x : ndarray (input, feature), optional
    """
    layer = _hidden(weights, layer)
    unit = _unit(weights, layer, unit)
    out = _copy(weights)
    old_in, old_out = out[layer - 1][unit].copy(), out[layer][:, unit].copy()
    new_in = old_in if incoming is None else np.asarray(incoming, dtype=np.float64)
    new_out = old_out if outgoing is None else np.asarray(outgoing, dtype=np.float64)
    if new_in.shape != old_in.shape or new_out.shape != old_out.shape:
        raise ConfigError(f"unit {unit} of hidden layer {layer} needs incoming {old_in.shape} and outgoing "
                          f"{old_out.shape} weights, got {new_in.shape} and {new_out.shape}")
    h = None if x is None else _layer_input(weights, x, layer)
    if not _silent(old_in, old_out, h, layer):
        raise ConfigError(f"unit {unit} of hidden layer {layer} contributes to the function; only a unit with "
                          f"{_SILENT} can be reassigned")
    if not _silent(new_in, new_out, h, layer):
        raise ConfigError(f"the new weights of unit {unit} of hidden layer {layer} would change the function: "
                          f"give it {_SILENT}")
    out[layer - 1][unit], out[layer][:, unit] = new_in, new_out
    return out


def add_linear_pairs(weights: Sequence[np.ndarray], layer: int, incoming, outgoing) -> Weights:
    """Add m pairs of opposite units that together realise the zero map (Berner et al., 2019).

    Pair i has incoming weights w_i and -w_i and outgoing weights v_i and -v_i,
    so it realises h -> v_i (w_i . h), and the pairs together h -> V W h,
    which must be zero (for example W = [w1; w2; w1; w2], V = [v1, v2, -v1, -v2]).
    The pairs are appended as units n, n + 1 (pair 0), n + 2, n + 3, ... of the
    layer; :func:`mix_linear_pairs` can then move them.

    Parameters
    ----------
    incoming : ndarray (pair, fan_in)
    outgoing : ndarray (fan_out, pair)
    """
    layer = _hidden(weights, layer)
    w = np.atleast_2d(np.asarray(incoming, dtype=np.float64))
    v = np.asarray(outgoing, dtype=np.float64)
    fan_in, fan_out = weights[layer - 1].shape[1], weights[layer].shape[0]
    if w.shape[1:] != (fan_in,) or v.shape != (fan_out, w.shape[0]):
        raise ConfigError(f"pairs of hidden layer {layer} need incoming (pairs, {fan_in}) and outgoing "
                          f"({fan_out}, pairs) weights, got {w.shape} and {v.shape}")
    scale = np.abs(v).sum(axis=1).max() * np.abs(w).max() if w.size and v.size else 0.0
    if np.abs(v @ w).max(initial=0.0) > 1e-12 * max(scale, 1e-300):
        raise ConfigError("the pairs would add the linear map outgoing @ incoming, which is not zero: "
                          "the function would change")
    rows = np.stack([w, -w], axis=1).reshape(-1, fan_in)
    cols = np.stack([v, -v], axis=2).reshape(fan_out, -1)
    out = _copy(weights)
    out[layer - 1] = np.vstack([out[layer - 1], rows])
    out[layer] = np.hstack([out[layer], cols])
    return out


def mix_linear_pairs(weights: Sequence[np.ndarray], layer: int, pairs: Sequence[tuple[int, int]], mixing) -> Weights:
    """Refactor the linear map of m opposite pairs: V W -> (V A)(A^-1 W) (Berner et al., 2019).

    Pair i = (a_i, b_i) must have W_layer[b_i] = -W_layer[a_i] and
    W_{layer+1}[:, b_i] = -W_{layer+1}[:, a_i]; it realises h -> v_i (w_i . h).
    The pairs realise V W with V = [v_i] (fan_out, m) and W = [w_i] (m, fan_in).
    Any invertible A (m, m) gives the same map with new directions w_i', so the
    function is unchanged for every input while which inputs switch which
    unit on -- and so F -- changes. With A diagonal positive this is
    :func:`rescale`; in general it is a symmetry only ReLU's linear pairs have.
    """
    layer = _hidden(weights, layer)
    idx = [(_unit(weights, layer, a), _unit(weights, layer, b)) for a, b in pairs]
    flat = [u for p in idx for u in p]
    if not idx or len(set(flat)) != len(flat):
        raise ConfigError(f"pairs must be distinct units of hidden layer {layer}, got {list(pairs)!r}")
    a_mix = np.asarray(mixing, dtype=np.float64)
    m = len(idx)
    if a_mix.shape != (m, m) or not np.isfinite(a_mix).all() or np.linalg.cond(a_mix) > 1e12:
        raise ConfigError(f"mixing must be an invertible, well-conditioned ({m}, {m}) matrix")
    out = _copy(weights)
    w_in, w_out = out[layer - 1], out[layer]
    for a, b in idx:
        tol = 1e-12 * max(np.abs(w_in[a]).max(), np.abs(w_out[:, a]).max(), 1e-300)
        if np.abs(w_in[b] + w_in[a]).max() > tol or np.abs(w_out[:, b] + w_out[:, a]).max() > tol:
            raise ConfigError(f"units {a} and {b} of hidden layer {layer} are not an opposite pair "
                              "(incoming w, -w and outgoing v, -v)")
    first = [a for a, _ in idx]
    v_new = w_out[:, first] @ a_mix
    w_new = np.linalg.solve(a_mix, w_in[first])
    for i, (a, b) in enumerate(idx):
        w_in[a], w_in[b] = w_new[i], -w_new[i]
        w_out[:, a], w_out[:, b] = v_new[:, i], -v_new[:, i]
    return out


def parameter_distance(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Euclidean distance between two parametrisations of one architecture (all layers flattened)."""
    return math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b)))


SPECS = ("rescale:LAYER:ALPHA", "rescale:LAYER:UNIT:ALPHA", "replicate:LAYER:UNIT:K", "widen:K")


def apply_spec(weights: Sequence[np.ndarray], spec: str) -> Weights:
    """Apply a transform written as text, one of ``SPECS`` (the command line's ``--transform``).

    Examples
    --------
    >>> apply_spec(weights, "rescale:1:2.5")       # doctest: +SKIP
    >>> apply_spec(weights, "replicate:2:0:3")     # doctest: +SKIP
    """
    name, *args = spec.strip().split(":")
    shapes = {("rescale", 2): (int, float), ("rescale", 3): (int, int, float), ("replicate", 3): (int, int, int),
              ("widen", 1): (int,)}
    kinds = shapes.get((name, len(args)))
    if kinds is None:
        raise ConfigError(f"unknown transform {spec!r}; write one of: {', '.join(SPECS)}")
    try:
        values = [kind(a) for kind, a in zip(kinds, args)]
    except ValueError:
        raise ConfigError(f"cannot read transform {spec!r}; write one of: {', '.join(SPECS)}") from None
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # checked below, in one line
        out = _apply(weights, name, values)
    for i, w in enumerate(out):
        if not np.isfinite(w).all():
            raise ConfigError(f"transform {spec!r} makes weights of layer {i + 1} infinite or NaN in {w.dtype}; "
                              "choose a factor whose result stays in range")
    return out


def _apply(weights: Sequence[np.ndarray], name: str, values: list) -> Weights:
    if name == "rescale":
        return rescale(weights, values[0], values[-1], unit=values[1] if len(values) == 3 else None)
    if name == "replicate":
        return replicate(weights, *values)
    return widen(weights, values[0])


PRESERVED_RTOL = 1e-9  # of the largest possible |output|: rounding errors in float64 are ~1e-16 of it


def check_preserved(before: Sequence[np.ndarray], after: Sequence[np.ndarray], x: np.ndarray, what: str) -> float:
    """max |Δf| over the inputs between two networks; refuse it when it is not zero to rounding.

    The scale of rounding errors is the output of the absolute network
    |W_out| ... |W_1| |x|, which bounds every path's contribution; a
    function-preserving transform must keep |Δf| within ``PRESERVED_RTOL`` of it.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        change = float(np.abs(forward(after, x)[1] - forward(before, x)[1]).max())
        h = np.abs(x).T
        for w in before:
            h = np.abs(w) @ h
    scale = float(h.max())
    if not np.isfinite(change) or change > PRESERVED_RTOL * scale:
        raise ConfigError(f"{what} changed the outputs by up to {change:.3g} (its paths contribute up to {scale:.3g}); "
                          "a function-preserving transform must keep them to rounding: its factors left "
                          "float64's range or precision")
    return change
