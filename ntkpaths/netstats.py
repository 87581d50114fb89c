"""Per-network path statistics, accumulated layer by layer. No randomness.

For one network and each input, every statistic here is an exact sum over
*all* paths through the ``depth_max`` hidden layers, normalised by the number
of paths (docs/science.md, "Exact all-path estimators"). A path through
the edge (j_{l-1} -> j_l) is active exactly when both ends are on and every
other hidden layer is on at the path's neuron, so

    (1/#paths) sum_{p: t_l(p) in bin} Z_p = q_l(bin) * prod_{m not in {l-1, l}} a_m / n_m,

with q_l(bin) the fraction of layer-l edges that lie in the bin and have both
ends on. The per-network sums are pooled over networks as ratio estimators by
:mod:`ntkpaths.aggregate`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from . import controls as ctl
from .allpaths import layer_fraction


@dataclass(frozen=True)
class Bins:
    """``count`` equal bins over [lo, hi]; values outside fall in the end bins."""

    lo: float
    hi: float
    count: int

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.count + 1)

    @property
    def centers(self) -> np.ndarray:
        e = self.edges
        return (e[:-1] + e[1:]) / 2

    def index(self, values: np.ndarray, dtype=np.intp) -> np.ndarray:
        """Bin of each value (tails clipped into the end bins)."""
        per_unit = np.float32(self.count / (self.hi - self.lo))
        scaled = np.multiply(values, per_unit, dtype=np.float32)
        scaled -= np.float32(self.lo) * per_unit
        np.clip(scaled, 0, self.count - 0.5, out=scaled)
        return scaled.astype(dtype)


T_BINS = Bins(-3.0, 3.0, 24)   # standardised path weight t_l
C_BINS = Bins(-1.0, 1.0, 40)   # input-weight share c
X_BINS = Bins(-3.0, 3.0, 24)   # standardised input value x_i0 * sqrt(d) / |x|

# Per-network raw statistics: name -> dims after (network,). Summed over inputs.
RAW_DIMS = {
    "active_fraction": ("input", "depth"),
    "weight_num": ("layer", "t_bin"),
    "weight_den": ("layer", "t_bin"),
    "weight_tz": ("layer",),
    "input_num": ("c_bin",),
    "input_den": ("c_bin",),
    "xvalue_num": ("x_bin",),
    "xvalue_den": ("x_bin",),
    "joint_fraction": ("angle", "depth"),
}
# Control variates (ntkpaths.controls) of the joint activation and of weight_tz: name -> dims after (network,).
CONTROL_DIMS = {
    "joint_control": ("angle", "layer", "joint_control_kind"),
    "slope_control": ("layer", "slope_control_kind"),
}
STAT_GROUPS = {
    "paths": ("active_fraction",),
    "weights": ("weight_num", "weight_den", "weight_tz"),
    "inputs": ("input_num", "input_den", "xvalue_num", "xvalue_den"),
    "joint": ("joint_fraction",),
}
CONTROLS = {"joint": "joint_control", "weights": "slope_control"}  # recorded only when a sweep reduces variance
NEEDS_WEIGHTS = ("weights", "inputs")
_PACK = 8  # inputs packed per byte in the dense edge histogram
_BITS = (np.arange(256)[:, None] >> np.arange(_PACK)[None, :]) & 1  # (pattern, input) bit table


def raw_names(stats: tuple[str, ...], controls: bool = False) -> list[str]:
    """Raw variables produced for the chosen statistic groups (``paths`` always), with their control
    variates (:mod:`ntkpaths.controls`) when ``controls``."""
    names = [name for group in ("paths", *stats) for name in STAT_GROUPS[group]]
    return names + [CONTROLS[g] for g in stats if g in CONTROLS and controls]


def _dense_edge_counts(t: np.ndarray, on_dst: np.ndarray, on_src: np.ndarray, bins: Bins) -> tuple[np.ndarray, np.ndarray]:
    """Edges per bin, and edges per bin with both ends on, for every input.

    Packs the on/off pattern of up to eight inputs into the low byte of a
    uint16 code whose high byte is the bin, so one ``bincount`` over the
    n_dst * n_src edges serves all eight inputs.

    Returns
    -------
    both : ndarray (bin, input)
    every : ndarray (bin,)
    """
    binned = bins.index(t, dtype=np.uint16)
    binned <<= 8
    code = np.empty_like(binned)
    n_in = on_dst.shape[1]
    both = np.empty((bins.count, n_in))
    every = None
    for start in range(0, n_in, _PACK):
        stop = min(start + _PACK, n_in)
        pd = np.packbits(on_dst[:, start:stop], axis=1, bitorder="little")[:, 0]
        ps = np.packbits(on_src[:, start:stop], axis=1, bitorder="little")[:, 0]
        np.bitwise_or(binned, np.bitwise_and.outer(pd, ps), out=code)
        counts = np.bincount(code.ravel(), minlength=bins.count * 256).reshape(bins.count, 256)
        both[:, start:stop] = counts @ _BITS[:, : stop - start]
        every = counts.sum(axis=1) if every is None else every
    return both, every.astype(float)


def _norm(x: np.ndarray) -> np.ndarray:
    """|x| per input, with 1 for a zero input (its shares c and u are then 0, not 0/0)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(norm > 0, norm, 1.0)


def _others(fractions: np.ndarray, skip: tuple[int, ...]) -> np.ndarray:
    """prod over hidden layers not in ``skip`` of a_m / n_m, per input."""
    keep = [m for m in range(fractions.shape[0]) if m not in skip]
    return np.prod(fractions[keep], axis=0)


class NetworkTracer:
    """Accumulates one network's raw statistics as its layers stream past.

    Parameters
    ----------
    x : ndarray (input, feature)
        The main inputs (columns ``0..B-1`` of every layer's z).
    n_pairs : int
        Columns after the main inputs: a base input, then one rotated copy per
        angle, for the joint activation of input pairs.
    stats : tuple of str
        Statistic groups beyond ``paths``: any of "weights", "inputs", "joint".
    columns : ndarray (column, feature), optional
        Every input column (main inputs, base, pairs). Given, the tracer also
        records the control variates of :mod:`ntkpaths.controls` (normal,
        zero-mean, bias-free weights only), and ``add_layer`` needs ``std``.
    """

    def __init__(self, x: np.ndarray, n_angles: int, stats: tuple[str, ...], columns: np.ndarray | None = None):
        self.x = x
        self.n_main = x.shape[0]
        self.n_angles = n_angles
        self.stats = stats
        self.fractions: list[np.ndarray] = []
        self.joint: list[np.ndarray] = []
        self.edge_both: list[np.ndarray] = []   # per layer (bin, input)
        self.edge_every: list[np.ndarray] = []  # per layer (bin, input)
        self.edge_tz: list[np.ndarray] = []     # per layer (input,)
        self.input_both = self.input_every = None
        self.prev_on: np.ndarray | None = None
        self.controls = columns is not None
        self.prev_h = None if columns is None else np.asarray(columns, dtype=np.float64).T
        self.joint_prefix = np.ones(n_angles)
        self.joint_controls: list[np.ndarray] = []   # per layer (angle, control)
        self.slope_devs: list[tuple] = []            # per layer (on, edge) deviations, each (input,)

    @property
    def needs_weights(self) -> bool:
        return any(s in self.stats for s in NEEDS_WEIGHTS)

    def add_layer(self, z: np.ndarray, standard: np.ndarray | None = None, tracked=None, std: float | None = None) -> None:
        """Take the next hidden layer.

        Parameters
        ----------
        z : ndarray (neuron, column)
        standard : ndarray (neuron, fan_in), optional
            Every standardised weight: edge statistics are exact sums.
        tracked : sample.Tracked, optional
            One standardised weight per neuron (implicit sampler): edge
            statistics are unbiased averages over these edges instead.
        """
        on = z > 0
        main = on[:, : self.n_main]
        self.fractions.append(layer_fraction(z[:, : self.n_main]))
        if "joint" in self.stats:
            base = on[:, self.n_main: self.n_main + 1]
            both = on[:, self.n_main + 1:] & base
            self.joint.append(both.mean(axis=0))
        if self.needs_weights and tracked is not None:
            src, t = tracked.src, tracked.t
            if self.prev_on is None:
                self._input_edges(t[:, None], main, src)
            else:
                self._hidden_tracked(src, t, main)
        elif self.needs_weights and standard is not None:
            if self.prev_on is None:
                self._input_edges(standard, main, None)
            else:
                self._hidden_layer(standard, main)
        if self.controls:
            self._add_controls(z, std)
        self.prev_on = main

    def _add_controls(self, z: np.ndarray, std: float) -> None:
        h = self.prev_h
        if "joint" in self.stats:
            both, c = ctl.joint_layer(h, z, std, self.n_main)
            self.joint_controls.append(c * self.joint_prefix[:, None])
            self.joint_prefix = self.joint_prefix * both
        if "weights" in self.stats and self.edge_tz:
            self.slope_devs.append(ctl.slope_layer(h[:, : self.n_main], z[:, : self.n_main], self.edge_tz[-1]))
        self.prev_h = np.maximum(z, 0).astype(np.float64)

    def _hidden_tracked(self, src: np.ndarray, t: np.ndarray, on: np.ndarray) -> None:
        both = (on & self.prev_on[src]).astype(float)            # (edge, input)
        idx = T_BINS.index(t)
        onehot = np.zeros((T_BINS.count, len(t)))
        onehot[idx, np.arange(len(t))] = 1.0
        self.edge_both.append(onehot @ both / len(t))
        self.edge_every.append(np.repeat(onehot.sum(axis=1)[:, None] / len(t), self.n_main, axis=1))
        self.edge_tz.append((t[:, None] * both).sum(axis=0) / len(t))

    def _hidden_layer(self, t: np.ndarray, on: np.ndarray) -> None:
        n_edges = t.size
        both, every = _dense_edge_counts(t, on, self.prev_on, T_BINS)
        self.edge_both.append(both / n_edges)
        self.edge_every.append(np.repeat(every[:, None] / n_edges, self.n_main, axis=1))
        on_f = on.astype(t.dtype)
        tz = np.einsum("jb,jb->b", on_f, t @ self.prev_on.astype(t.dtype), dtype=np.float64)
        self.edge_tz.append(tz / n_edges)

    def _input_edges(self, e: np.ndarray, on: np.ndarray, src: np.ndarray | None) -> None:
        """First layer: t_1 = e * sign(x_i0), c = e * x_i0 / |x|.

        ``e`` is (neuron, feature) for every edge (i0 -> j1), or (neuron, 1)
        with ``src`` giving each neuron's tracked input coordinate.
        """
        n_edges = e.size
        K, C = T_BINS.count, C_BINS.count
        both, every = np.empty((K, self.n_main)), np.empty((K, self.n_main))
        cboth, cevery = np.empty((C, self.n_main)), np.empty((C, self.n_main))
        tz = np.empty(self.n_main)
        for b, xb in enumerate(self.x):
            xs = xb[None, :] if src is None else xb[src][:, None]
            t = e * np.sign(xs).astype(e.dtype)
            c = e * (xs / _norm(xb)).astype(e.dtype)
            weights = np.broadcast_to(on[:, b : b + 1], e.shape).ravel().astype(float)
            both[:, b], every[:, b] = self._hist(t, T_BINS, weights)
            cboth[:, b], cevery[:, b] = self._hist(c, C_BINS, weights)
            tz[b] = t.sum(axis=1, dtype=np.float64)[on[:, b]].sum()
        self.edge_both.append(both / n_edges)
        self.edge_every.append(every / n_edges)
        self.edge_tz.append(tz / n_edges)
        self.input_both, self.input_every = cboth / n_edges, cevery / n_edges

    @staticmethod
    def _hist(values: np.ndarray, bins: Bins, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = bins.index(values).ravel()
        return (np.bincount(idx, weights=weights, minlength=bins.count),
                np.bincount(idx, minlength=bins.count).astype(float))

    def result(self) -> dict[str, np.ndarray]:
        """Raw statistics of this network (see ``RAW_DIMS``), summed over inputs."""
        fr = np.stack(self.fractions)                     # (layer, input)
        out = {"active_fraction": np.cumprod(fr, axis=0).T}
        if "joint" in self.stats:
            out["joint_fraction"] = np.cumprod(np.stack(self.joint), axis=0).T
        if self.needs_weights and self.edge_both:
            self._edge_results(fr, out)
        if self.controls and "joint" in self.stats:
            out["joint_control"] = np.stack(self.joint_controls, axis=1)
        if self.controls and "weights" in self.stats and self.slope_devs:
            out["slope_control"] = slope_controls(fr, self.slope_devs)
        return out

    def _edge_results(self, fr: np.ndarray, out: dict) -> None:
        skips = [(0,)] + [(i - 1, i) for i in range(1, fr.shape[0])]
        others = np.stack([_others(fr, s) for s in skips])    # (layer, input)
        if "weights" in self.stats:
            out["weight_num"] = np.stack([(q * o).sum(axis=1) for q, o in zip(self.edge_both, others)])
            out["weight_den"] = np.stack([d.sum(axis=1) for d in self.edge_every])
            out["weight_tz"] = np.array([(tz * o).sum() for tz, o in zip(self.edge_tz, others)])
        if "inputs" in self.stats:
            out["input_num"] = (self.input_both * others[0]).sum(axis=1)
            out["input_den"] = self.input_every.sum(axis=1)
            u = self.x * (math.sqrt(self.x.shape[1]) / _norm(self.x))
            share = np.stack([np.bincount(X_BINS.index(ub), minlength=X_BINS.count) for ub in u]).T / u.shape[1]
            f_deep = np.prod(fr, axis=0)
            out["xvalue_num"] = share @ f_deep
            out["xvalue_den"] = share.sum(axis=1)


def slope_controls(fr: np.ndarray, devs: list[tuple]) -> np.ndarray:
    """Controls of the weight slope, (layer, control): per layer l, summed over inputs,

    - edge: (mean t Z - its conditional mean) * prod_{m < l-1} a_m / n_m,
    - on: (a_l / n_l - 1/2) * prod_{m < l} a_m / n_m,

    each multiplied only by earlier layers, so its mean stays exactly 0.
    """
    prefix = np.cumprod(np.vstack([np.ones((1, fr.shape[1])), fr]), axis=0)   # prefix[l] = prod_{m < l}
    out = np.empty((len(devs), 2))
    for l, (on, edge) in enumerate(devs):
        out[l] = ((edge * prefix[max(l - 1, 0)]).sum(), (on * prefix[l]).sum())
    return out


def trace_batch(zs, n_main: int, stats: tuple[str, ...], columns: np.ndarray | None = None,
                stds=None) -> dict[str, np.ndarray]:
    """Raw ``active_fraction`` (and ``joint_fraction``) of many networks at once.

    Parameters
    ----------
    zs : iterable of ndarray (network, neuron, column)
        Hidden layers in order; columns as for :class:`NetworkTracer`.
    n_main : int
    stats : tuple of str
        Only "joint" is honoured: edge statistics need :class:`NetworkTracer`.
    columns, stds : optional
        Every input column (column, feature) and each layer's weight std:
        given, the joint activation's controls are recorded too.
    """
    fractions, joint, controls = [], [], []
    h = None if columns is None else np.asarray(columns, dtype=np.float64).T[None]
    prefix = 1.0
    for z, std in zip(zs, stds if stds is not None else itertools.repeat(None)):
        on = z > 0
        fractions.append(np.count_nonzero(on[:, :, :n_main], axis=1) / z.shape[1])
        if "joint" in stats:
            joint.append((on[:, :, n_main + 1:] & on[:, :, n_main: n_main + 1]).mean(axis=1))
            if h is not None:
                both, c = ctl.joint_layer(h, z, std, n_main)
                controls.append(c * np.asarray(prefix)[..., None])
                prefix = prefix * both
                h = np.maximum(z, 0).astype(np.float64)
    out = {"active_fraction": np.cumprod(np.stack(fractions, axis=2), axis=2)}
    if "joint" in stats:
        out["joint_fraction"] = np.cumprod(np.stack(joint, axis=2), axis=2)
        if controls:
            out["joint_control"] = np.stack(controls, axis=2)
    return out
