"""Closed-form predictions shared by tests, aggregation and plots."""
from __future__ import annotations

import numpy as np


def p_active(depth: np.ndarray | int) -> np.ndarray:
    """P(Z_p = 1) = 2^-H, Theorem 1 of the paper under test, for H hidden layers.

    It is exact at every width for bias-free networks with weights symmetric
    about zero: given the previous layer (not all zero), each neuron is on with
    probability 1/2 whatever the previous layers did.
    """
    return np.exp2(-np.asarray(depth, dtype=float))


def active_fraction_var(depth: np.ndarray | int, width: np.ndarray | int) -> np.ndarray:
    """Var F_H(x) for one fixed input x != 0, bias-free symmetric weights, all widths n.

    Given the previous layer, the n neurons of a layer are on independently
    with probability 1/2, so a_l ~ Binomial(n, 1/2) i.i.d. across layers and
    F_H = prod a_l / n has E[F^2] = ((1 + 1/n) / 4)^H.
    """
    depth = np.asarray(depth, dtype=float)
    width = np.asarray(width, dtype=float)
    return ((1.0 + 1.0 / width) / 4.0) ** depth - 4.0**-depth
