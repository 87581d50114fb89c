"""One training run: draw data and an initial network, descend, measure at checkpoints.

A run is a pure function of its config, its (depth, width) cell and its
``SeedSequence`` child: the caller spawns the child, the run builds
``default_rng(child)`` and draws, in order, its data, its initial standard
normals and its minibatches. XLA runs on one CPU thread and BLAS is limited to
one thread, so the same seed gives bit-identical results.
"""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
from threadpoolctl import threadpool_limits

from .. import sample
from ..config import NetworkConfig, TrainConfig
from ..jaxsetup import jax, jnp
from . import critical, model
from .data import TrainData, draw_data
from .measure import Probe

# name -> dims of each array a run returns; "step" is the checkpoint axis. Hidden
# "layer" and "prefix" run over 1..depth, "weight_layer" over 1..depth+1 (output last).
RUN_DIMS = {
    "step": ("step",),
    "loss": ("step",),
    "test_loss": ("step",),
    "accuracy": ("step",),
    "test_accuracy": ("step",),
    "flip_fraction": ("step", "layer"),
    "p_active": ("step", "prefix"),
    "weight_change": ("step", "weight_layer"),
    "weight_slope": ("step", "layer"),
    "ntk_change": ("step",),
    "diverged": (),
    "reached_minimum": (),
    "critical_lr": (),
    "lr": (),
    "loss_peak": (),
}
CHUNK = 256  # SGD steps per jitted call (minibatch indices are drawn per call)


def checkpoint_steps(steps: int, count: int) -> np.ndarray:
    """At most ``count`` log-spaced steps in 0..steps, always with 0 and ``steps``.

    Returns unique sorted ints (checkpoint,); ``steps = 0`` gives [0].
    """
    if count < 2:
        raise ValueError(f"count must be >= 2 (step 0 and the last), got {count}")
    if steps == 0:
        return np.zeros(1, dtype=np.int64)
    logs = np.rint(np.geomspace(1, steps, count - 1)).astype(np.int64)
    logs[-1] = steps
    return np.unique(np.concatenate([[0], logs]))


def train_run(cfg: TrainConfig, depth: int, width: int, *, seed: np.random.SeedSequence,
              save_to=None) -> dict[str, np.ndarray]:
    """Train one network of ``depth`` hidden layers of ``width`` and measure it at every checkpoint.

    Parameters
    ----------
    cfg : TrainConfig
    depth, width : int
    seed : numpy.random.SeedSequence
        This run's child of the study's root sequence.

    Returns
    -------
    dict of str -> ndarray
        Named and shaped as ``RUN_DIMS``. A run whose training loss becomes NaN
        or infinite has ``diverged`` True and NaN at that checkpoint and after.
        ``critical_lr`` is 2 / lambda_max(Theta_0 / N) on the NTK inputs,
        ``lr`` the rate the run used (both in units of the configured rate),
        ``loss_peak`` the largest L_t / L_0 over every step taken.
    """
    rng = np.random.default_rng(seed)
    data = draw_data(cfg, rng=rng)
    dims = [data.dim, *[width] * depth, data.n_out]
    standard = sample.sample_standard_weights(NetworkConfig(dtype="float64"), dims, rng=rng)
    if cfg.init_from is not None:
        standard = _standard_from(cfg, dims)
    return train(standard, data, cfg, rng=rng, save_to=save_to)


def _standard_from(cfg: TrainConfig, dims: list[int]) -> list[np.ndarray]:
    """The standard normals whose parameters are the init file's weights (the random draw is still made,
    so a run's minibatches are those of the same seed without --init-from)."""
    from ..config import ConfigError
    from ..readers import read_network

    net = read_network(cfg.init_from)
    have = [net.input_dim, *net.widths, net.output_dim]
    if have != dims:
        raise ConfigError(f"--init-from {cfg.init_from} has layer sizes {have} but the data need {dims}")
    par = model.parametrisation(cfg.param, dims, cfg.lr)
    return [w / (scale * std) for w, scale, std in zip(net.weights, par.scales, par.stds)]


def _save(path, params, scales, cfg: TrainConfig) -> None:
    """Write a run's final effective weights, in the init file's dtype (so 0 steps give back that file's arrays)."""
    from pathlib import Path

    from ..network import Network
    from ..readers import read_network, write_network

    dtype = read_network(cfg.init_from).dtype if cfg.init_from else cfg.dtype
    weights = [np.asarray(p, dtype=np.float64) * s for p, s in zip(params, scales)]
    write_network(Path(path), Network(tuple(weights), None, source="ntkpaths train", dtype=dtype))


def train(standard: list[np.ndarray], data: TrainData, cfg: TrainConfig, *, rng: np.random.Generator,
          save_to=None) -> dict[str, np.ndarray]:
    """:func:`train_run` from given initial standard normals and data.

    Parameters
    ----------
    standard : list of ndarray (fan_out, fan_in)
        Standard normals of each weight layer; the parametrisation scales them.
        Hand-built networks enter here.
    data : TrainData
    cfg : TrainConfig
        Its ``steps``, ``lr`` or ``lr_relative``, ``batch_size``, ``param``,
        ``dtype``, ``checkpoints``, ``ntk_inputs`` and ``loss_tolerance`` are used.
    rng : numpy.random.Generator
        Draws the minibatches (unused for full-batch descent).
    save_to : path or None
        Write the final network there (:func:`ntkpaths.readers.write_network`).
    """
    dims = [standard[0].shape[1], *(e.shape[0] for e in standard)]
    with _precision(cfg.dtype), _on(cfg.device), threadpool_limits(limits=1, user_api="blas"):
        unit = model.parametrisation(cfg.param, dims, 1.0)
        params0 = model.initial_params(standard, unit, cfg.dtype)
        probe = Probe(params0, data, unit, cfg.ntk_inputs)
        crit = critical.critical_lr(params0, probe.x_train[: probe.subset], unit.scales, unit.lr, gram=probe.ntk0)
        lr = cfg.lr if cfg.lr_relative is None else cfg.lr_relative * crit
        probe.par = dataclasses.replace(unit, lr=unit.lr * lr)
        steps = checkpoint_steps(cfg.steps, cfg.checkpoints)
        rows, peak, final = _descend(tuple(jnp.asarray(p) for p in params0), probe, steps, cfg, rng)
        if save_to is not None:
            _save(save_to, final, unit.scales, cfg)
    out = _collect(rows, len(dims) - 2, cfg.loss_tolerance)
    out["step"] = steps
    out["critical_lr"], out["lr"] = np.float64(crit), np.float64(lr)
    out["loss_peak"] = np.float64(peak / rows[0]["loss"]) if rows[0]["loss"] > 0 else np.float64(np.nan)
    return out


def _on(device: str):
    """Run JAX on the CPU or the GPU; ``auto`` keeps JAX's default device."""
    if device == "auto":
        return contextlib.nullcontext()
    return jax.default_device(jax.devices(device)[0])


def _precision(dtype: str):
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def _descend(params, probe: Probe, steps: np.ndarray, cfg: TrainConfig, rng: np.random.Generator):
    """Train to each checkpoint in ``steps``; one measurement each, None from divergence on.

    Also returns the largest training loss over every step and checkpoint (inf once the run
    diverged), and the last parameters.
    """
    rows, done, peak = [], 0, -np.inf
    x, y = probe.x_train, jnp.asarray(probe.data.y_train, dtype=probe.x_train.dtype)
    for target in steps:
        if rows and rows[-1] is None:
            rows.append(None)
            continue
        params, between = _advance(params, x, y, int(target - done), probe.par, cfg.batch_size, rng)
        done = target
        rows.append(probe.measure(params))
        peak = np.inf if rows[-1] is None else max(peak, between, float(rows[-1]["loss"]))
    return rows, peak, params


def _advance(params, x, y, count: int, par: model.Parametrisation, batch: int | None, rng: np.random.Generator):
    """``count`` steps of full-batch descent, or of SGD with minibatches of ``batch``; and the largest loss
    of the parameters those steps started from (-inf for no step)."""
    lr = jnp.asarray(par.lr, dtype=x.dtype)
    if count == 0:
        return params, -np.inf
    if batch is None:
        params, peak = model.descend_tracking(params, x, y, lr, count, par.scales)
        return params, _finite_or_inf(peak)
    top = -np.inf
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        batches = np.zeros((CHUNK, batch), dtype=np.int32)
        batches[:n] = sample.sample_minibatches(x.shape[0], batch, n, rng=rng)
        params, peak = model.descend_minibatch_tracking(params, x, y, lr, batches, n, par.scales)
        top = max(top, _finite_or_inf(peak))
    return params, top


def _finite_or_inf(peak) -> float:
    """A loss maximum as a float; a NaN (every step's loss was NaN) counts as unbounded."""
    value = float(peak)
    return np.inf if np.isnan(value) else value


def _collect(rows: list[dict | None], depth: int, tolerance: float) -> dict[str, np.ndarray]:
    """Stack per-checkpoint rows into ``RUN_DIMS`` arrays, NaN for rows after divergence."""
    shapes = {"flip_fraction": depth, "p_active": depth, "weight_slope": depth, "weight_change": depth + 1}
    names = [n for n in RUN_DIMS if RUN_DIMS[n] and n != "step"]
    nan = {n: np.full(shapes.get(n, ()), np.nan) for n in names}
    out = {n: np.stack([np.asarray((r or nan)[n], dtype=np.float64) for r in rows]) for n in names}
    out["diverged"] = np.bool_(rows[-1] is None)
    out["reached_minimum"] = np.bool_(rows[-1] is not None and rows[-1]["loss"] <= tolerance)
    return out
