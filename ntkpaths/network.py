"""One ReLU network, whatever it came from: the object every reader returns.

A :class:`Network` holds the weights of each fully connected layer as
(fan_out, fan_in) float64 arrays, hidden layers first and the output layer
last, with an optional bias per layer. Its hidden layers apply ReLU, its
output layer is linear:

    z_l = W_l h_{l-1} + b_l,   h_l = max(z_l, 0),   f(x) = W_out h_H + b_out.

Biases only move the pre-activations: a path is still active when every
hidden unit on it is on (docs/science.md, "Networks with biases").

Readers that do not know which way round their matrices are stored use
:func:`orient`: it tries both layouts and keeps the one whose shapes chain
from the input dimension to the output, with the biases' lengths as a
second witness.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .config import ConfigError

LAYOUTS = ("out-in", "in-out")
_LAYOUT_WORDS = {"out-in": "(fan_out, fan_in)", "in-out": "(fan_in, fan_out)"}


@dataclass(frozen=True)
class Network:
    """A fully connected ReLU network with optional biases.

    Attributes
    ----------
    weights : tuple of ndarray
        W_1..W_H, W_out, each (fan_out, fan_in), float64.
    biases : tuple of (ndarray or None)
        One per layer, (fan_out,) float64, or None for a layer without bias.
    source : str
        Where it came from, in words (format and file or framework).
    dtype : str
        The dtype it was stored in; writers store it back in that dtype, so a
        read-write round trip is bit-identical.
    notes : tuple of str
        Anything a reader had to decide, e.g. a transposed layout.
    """

    weights: tuple
    biases: tuple = None
    source: str = "arrays"
    dtype: str = "float64"
    notes: tuple = field(default=())

    def __post_init__(self):
        weights = tuple(np.asarray(w, dtype=np.float64) for w in self.weights)
        biases = (None,) * len(weights) if self.biases is None else tuple(
            None if b is None else np.asarray(b, dtype=np.float64) for b in self.biases)
        if len(weights) < 2:
            raise ConfigError(f"a network needs at least one hidden layer and an output layer, got {len(weights)} "
                              "weight matrices")
        if len(biases) != len(weights):
            raise ConfigError(f"{len(weights)} weight matrices but {len(biases)} biases")
        for i, w in enumerate(weights):
            name = _layer_word(i, len(weights))
            if w.ndim != 2 or w.size == 0:
                raise ConfigError(f"the weights of {name} must be a non-empty 2-D array, got shape {w.shape}")
            if not np.isfinite(w).all():
                raise ConfigError(f"the weights of {name} hold NaN or infinite values")
            if i and w.shape[1] != weights[i - 1].shape[0]:
                raise ConfigError(f"{name} has fan-in {w.shape[1]} but the layer before has {weights[i - 1].shape[0]} "
                                  "units")
            b = biases[i]
            if b is not None and b.shape != (w.shape[0],):
                raise ConfigError(f"the bias of {name} has shape {b.shape} but the layer has {w.shape[0]} units")
            if b is not None and not np.isfinite(b).all():
                raise ConfigError(f"the bias of {name} holds NaN or infinite values")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def depth(self) -> int:
        """H, the number of hidden layers."""
        return len(self.weights) - 1

    @property
    def widths(self) -> tuple[int, ...]:
        """Units of each hidden layer."""
        return tuple(w.shape[0] for w in self.weights[:-1])

    @property
    def input_dim(self) -> int:
        return self.weights[0].shape[1]

    @property
    def output_dim(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def hidden(self) -> tuple:
        """(W_l, b_l) of the hidden layers."""
        return tuple(zip(self.weights[:-1], self.biases[:-1]))

    @property
    def output(self) -> tuple:
        """(W_out, b_out)."""
        return self.weights[-1], self.biases[-1]

    @property
    def has_biases(self) -> bool:
        return any(b is not None and np.any(b != 0) for b in self.biases)

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Pre-activations of the hidden layers, (neuron, input) each, and the outputs (input, output)."""
        h = np.asarray(x, dtype=np.float64).T
        zs = []
        for w, b in zip(self.weights, self.biases):
            z = w @ h
            if b is not None:
                z += b[:, None]
            zs.append(z)
            h = np.maximum(z, 0)
        return zs[:-1], zs[-1].T

    def describe(self) -> str:
        """One line: format, layers, biases."""
        widths = ", ".join(map(str, self.widths))
        bias = "with biases" if self.has_biases else "no biases"
        return (f"{self.source}: {self.input_dim} inputs, {self.depth} hidden layers ({widths}), "
                f"{self.output_dim} outputs, {bias}")

    def replace(self, weights=None, biases=None, notes=()) -> Network:
        """The same network's description with new arrays."""
        return Network(self.weights if weights is None else tuple(weights),
                       self.biases if biases is None else tuple(biases), self.source, self.dtype, self.notes + notes)


def _layer_word(i: int, n: int) -> str:
    return "the output layer" if i == n - 1 else f"hidden layer {i + 1}"


def _chain_break(weights: Sequence[np.ndarray], input_dim: int | None, names: Sequence[str]) -> str | None:
    """Why (fan_out, fan_in) matrices do not chain, or None when they do."""
    if input_dim is not None and weights[0].shape[1] != input_dim:
        return f"{names[0]} takes {weights[0].shape[1]} inputs but the inputs have {input_dim} features"
    for i in range(1, len(weights)):
        if weights[i].shape[1] != weights[i - 1].shape[0]:
            return (f"{names[i]} takes {weights[i].shape[1]} inputs but {names[i - 1]} has "
                    f"{weights[i - 1].shape[0]} units")
    return None


def orient(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray | None], *, names: Sequence[str],
           layout: str | None = None, native: str | None = None, input_dim: int | None = None,
           where: str = "the network") -> tuple[list[np.ndarray], str, tuple[str, ...]]:
    """Weights as (fan_out, fan_in), the layout they were stored in, and a note when it was not obvious.

    Parameters
    ----------
    weights : 2-D arrays in layer order, each stored either way round
    biases : the layers' biases (None where a layer has none); their lengths are fan_out
    names : the arrays' names, for messages
    layout : "out-in" or "in-out" to force one (the command line's ``--layout``)
    native : the layout the format stores, used when the shapes fit both
    input_dim : the number of input features, when known; it fixes the first layer
    """
    if layout is not None and layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    for name, w in zip(names, weights):
        if w.ndim != 2:
            raise ConfigError(f"{name} in {where} must be a 2-D weight matrix, got shape {w.shape}")
    candidates = (layout,) if layout else LAYOUTS
    fits, reasons = [], {}
    for cand in candidates:
        ws = [w if cand == "out-in" else w.T for w in weights]
        reason = _chain_break(ws, input_dim, names)
        if reason is None:
            for name, w, b in zip(names, ws, biases):
                if b is not None and b.shape != (w.shape[0],):
                    reason = f"the bias of {name} has shape {b.shape} but the layer has {w.shape[0]} units"
                    break
        if reason is None:
            fits.append(cand)
        reasons[cand] = reason
    if not fits:
        shapes = ", ".join(f"{n} {tuple(w.shape)}" for n, w in zip(names, weights))
        told = [f"as {_LAYOUT_WORDS[c]}: {reasons[c]}" for c in candidates]
        raise ConfigError(f"the layers of {where} do not fit together ({shapes}); " + "; ".join(told))
    chosen = fits[0] if len(fits) == 1 else (native or "out-in")
    notes = []
    if len(fits) == 2 and layout is None:
        notes.append(f"the shapes fit either layout; read as {_LAYOUT_WORDS[chosen]} (--layout to change)")
    elif chosen != (native or "out-in") and layout is None:
        notes.append(f"stored as {_LAYOUT_WORDS[chosen]}, transposed")
    return [w if chosen == "out-in" else w.T for w in weights], chosen, tuple(notes)
