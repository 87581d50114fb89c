"""Pool per-network exact path statistics into estimates with standard errors.

Per network and input the path fractions are exact sums over all paths; the
Monte Carlo error comes only from sampling networks. Standard errors are
therefore computed from per-network values (the networks are i.i.d.; the
inputs of one network are not independent of each other).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from . import theory


def summarise_active_fraction(active_fraction: xr.DataArray) -> xr.Dataset:
    """Estimates of P(path active) from F per (network, input).

    Parameters
    ----------
    active_fraction : DataArray (width, network, input, depth)
        Exact active-path fraction F_H(x) per sampled network and input; NaN
        where a network index was not sampled for that width.

    Returns
    -------
    Dataset with ``p_active``, ``p_active_se``, ``active_fraction_var``,
    ``n_networks`` over (width, depth) and ``p_theory`` over (depth).
    """
    per_net = active_fraction.mean("input")
    n = per_net.count("network")
    pairs = active_fraction.stack(pair=("network", "input"))
    ds = xr.Dataset(
        {
            "p_active": per_net.mean("network"),
            "p_active_se": per_net.std("network", ddof=1) / np.sqrt(n),
            "active_fraction_var": pairs.var("pair", ddof=1),
            "n_networks": n.astype(np.int64),
            "p_theory": ("depth", theory.p_active(active_fraction["depth"].values)),
        }
    )
    ds["p_active"].attrs = {"long_name": "P(path active)", "description": "mean of F over networks and inputs"}
    ds["p_active_se"].attrs = {"long_name": "standard error of p_active", "description": "from per-network means of F"}
    ds["active_fraction_var"].attrs = {"long_name": "Var F", "description": "over all sampled (network, input) pairs"}
    ds["n_networks"].attrs = {"long_name": "networks sampled"}
    ds["p_theory"].attrs = {"long_name": "2^-depth", "description": "Theorem 1 of the paper under test"}
    return ds


def z_scores(ds: xr.Dataset) -> xr.DataArray:
    """Deviation of p_active from 2^-depth in standard errors."""
    z = (ds["p_active"] - ds["p_theory"]) / ds["p_active_se"]
    z.attrs = {"long_name": "(p_active - 2^-depth) / se"}
    return z
