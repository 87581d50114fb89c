"""Gradient-descent runs of deep ReLU networks: do path activations stay put? (Theorem 5)

One run trains one bias-free ReLU network (JAX, one CPU thread) and measures
it at log-spaced checkpoints: loss and accuracy, the fraction of ReLU states
flipped since initialisation, P(path active), E[t_l | Z = 1], the relative
change of every weight matrix and of the empirical NTK. Orchestration and
storage build on :func:`train_run` and ``RUN_DIMS``.

Examples
--------
>>> import numpy as np
>>> from ntkpaths.config import TrainConfig
>>> from ntkpaths.training import train_run
>>> cfg = TrainConfig(steps=100, n_train=64, n_test=64)
>>> out = train_run(cfg, depth=2, width=128, seed=np.random.SeedSequence(0))  # doctest: +SKIP
>>> out["loss"][-1] < out["loss"][0]  # doctest: +SKIP
True
"""
from .data import TrainData, draw_data, load_pool, normalise
from .run import RUN_DIMS, checkpoint_steps, train, train_run

__all__ = [
    # one run
    "train_run",
    "train",
    "RUN_DIMS",
    "checkpoint_steps",
    # data
    "TrainData",
    "draw_data",
    "load_pool",
    "normalise",
]
