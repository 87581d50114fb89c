"""What one run records at each checkpoint, measured against its step-0 state.

Path statistics go through the same code as sweeps: the exact all-path
fraction F from :func:`ntkpaths.allpaths.active_fraction`, and E[t_l | Z = 1]
from :class:`ntkpaths.netstats.NetworkTracer`'s raw ``weight_tz`` divided by the
summed deep active fraction, the ratio :func:`ntkpaths.aggregate.summarise_weights`
pools over networks, here for one network.
"""
from __future__ import annotations

import numpy as np

from ..jaxsetup import jnp
from ..allpaths import active_fraction
from ..netstats import NetworkTracer
from . import model
from .data import TrainData


class Probe:
    """Measures a run's parameters at a checkpoint, against the initial ones.

    Parameters
    ----------
    params0 : list of ndarray (fan_out, fan_in)
        The initial parameters (numpy); kept as the reference.
    data : TrainData
    par : model.Parametrisation
    subset : int or None
        The empirical NTK and E[t | Z = 1] use the first ``subset`` training
        samples, None all of them (loss, flips and P(path active) always use
        all of them). Measured at
        width 1024, depth 4, float32, one core: the tracer's edge histograms
        take 0.29 s over 256 samples (11 training steps at N = 256) and 0.07 s
        over 64; a whole checkpoint costs 0.17 s over a 64-sample subset (about
        4 training steps) and 0.92 s over all 256 samples (about 24 steps; 18
        at depth 8).
    """

    def __init__(self, params0: list[np.ndarray], data: TrainData, par: model.Parametrisation, subset: int):
        self.par = par
        self.data = data
        dtype = params0[0].dtype
        self.x_train = jnp.asarray(data.x_train, dtype=dtype)
        self.x_test = jnp.asarray(data.x_test, dtype=dtype)
        self.subset = len(data.x_train) if subset is None else min(subset, len(data.x_train))
        self.params0 = [np.array(p, dtype=np.float64) for p in params0]
        self.norms0 = [np.linalg.norm(p) for p in self.params0]
        zs, _ = model.evaluate(tuple(params0), self.x_train, par.scales)
        self.on0 = [np.asarray(z) > 0 for z in zs]
        self.ntk0 = self._ntk(params0)

    def _ntk(self, params) -> np.ndarray:
        return np.asarray(model.ntk(tuple(params), self.x_train[: self.subset], self.par.scales), dtype=np.float64)

    def measure(self, params) -> dict[str, np.ndarray] | None:
        """Every per-checkpoint value (see ``run.RUN_DIMS``), or None when the loss is not finite.

        Runs with huge (finite) weights give inf or NaN norms and NTKs quietly.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return self._measure(params)

    def _measure(self, params) -> dict[str, np.ndarray] | None:
        zs, f = model.evaluate(tuple(params), self.x_train, self.par.scales)
        out = self._fit(np.asarray(f, dtype=np.float64), self.data.y_train)
        if not np.isfinite(out["loss"]):
            return None
        zs = [np.asarray(z) for z in zs]
        weights = [np.asarray(p) for p in params]
        wide = [w.astype(np.float64) for w in weights]   # float32 sums of squares overflow for huge weights
        test = self._test(params)
        out.update(test_loss=test["loss"], test_accuracy=test["accuracy"])
        out["flip_fraction"] = np.array([np.mean((z > 0) != on) for z, on in zip(zs, self.on0)])
        out["p_active"] = active_fraction(z.T for z in zs).mean(axis=1)
        out["weight_change"] = np.array([np.linalg.norm(w - w0) / n0 for w, w0, n0 in zip(wide, self.params0, self.norms0)])
        out["weight_slope"] = self._weight_slope(zs, weights)
        out["ntk_change"] = np.linalg.norm(self._ntk(params) - self.ntk0) / np.linalg.norm(self.ntk0)
        return out

    def _fit(self, f: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Loss 1/(2N) sum |f - y|^2 and, for classification, accuracy; f, y: (sample, output)."""
        if len(y) == 0:
            return {"loss": np.float64(np.nan), "accuracy": np.float64(np.nan)}
        loss = 0.5 * np.sum((f - y) ** 2) / len(y)
        acc = np.mean(f.argmax(axis=1) == y.argmax(axis=1)) if self.data.classification else np.nan
        return {"loss": np.float64(loss), "accuracy": np.float64(acc)}

    def _test(self, params) -> dict[str, np.ndarray]:
        if len(self.data.x_test) == 0:
            return self._fit(np.zeros((0, 0)), self.data.y_test)
        _, f = model.evaluate(tuple(params), self.x_test, self.par.scales)
        return self._fit(np.asarray(f, dtype=np.float64), self.data.y_test)

    def _weight_slope(self, zs: list[np.ndarray], weights: list[np.ndarray]) -> np.ndarray:
        """E[t_l | Z = 1] per hidden layer over all paths and the subset's samples.

        t is the weight standardised by its initial std (the parameter itself
        in the ntk parametrisation); t_1 carries the sign of the path's input
        coordinate, as in sweeps.
        """
        m = self.subset
        tracer = NetworkTracer(self.data.x_train[:m], 0, ("weights",))
        for z, w, std in zip(zs, weights, self.par.stds):
            tracer.add_layer(np.ascontiguousarray(z[:m].T), w / w.dtype.type(std))
        raw = tracer.result()
        deep = raw["active_fraction"][:, -1].sum()
        return raw["weight_tz"] / deep if deep > 0 else np.full(len(zs), np.nan)
