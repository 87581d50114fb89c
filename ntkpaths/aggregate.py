"""Pool per-network exact path statistics into estimates with standard errors.

Per network and input every statistic is an exact sum over all paths; the
Monte Carlo error comes only from sampling networks. Conditional rates are
ratio estimators (sum of numerators over sum of denominators, pooled over
networks); their standard errors come from per-network values by
linearisation (the delta method), since networks are i.i.d. while the inputs
of one network are not.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from . import reduce, theory
from .config import NetworkConfig

NET = "network"


def ratio_of_means(nums: list[xr.DataArray], dens: list[xr.DataArray], scale: float = 1.0) -> tuple[xr.DataArray, xr.DataArray]:
    """R = scale * prod_i mean(num_i) / prod_j mean(den_j), with its standard error.

    Each term is a per-network value (dim ``network``; NaN = not sampled). The
    se is the standard error of the mean of the influence values
    R * (sum_i num_i / mean(num_i) - sum_j den_j / mean(den_j)).
    """
    n = nums[0].count(NET)
    m_num = [x.mean(NET) for x in nums]
    m_den = [x.mean(NET) for x in dens]
    est = scale * _prod(m_num) / _prod(m_den)
    influence = sum(x / m for x, m in zip(nums, m_num)) - sum(x / m for x, m in zip(dens, m_den))
    se = np.abs(est) * influence.std(NET, ddof=1) / np.sqrt(n)
    return est, se


def _prod(terms: list[xr.DataArray]) -> xr.DataArray:
    out = terms[0]
    for t in terms[1:]:
        out = out * t
    return out


def _with(ds: xr.Dataset, name: str, est, se, **attrs) -> None:
    ds[name] = est
    ds[f"{name}_se"] = se
    ds[name].attrs = attrs
    ds[f"{name}_se"].attrs = {"long_name": f"standard error of {name}"}


def summarise_active_fraction(raw: xr.Dataset) -> xr.Dataset:
    """p_active, its se, Var F, n_networks over (width, depth) and p_theory(depth)."""
    f = raw["active_fraction"]
    per_net = f.mean("input")
    n = per_net.count(NET)
    pairs = f.stack(pair=(NET, "input"))
    ds = xr.Dataset({"p_active": per_net.mean(NET),
                     "p_active_se": per_net.std(NET, ddof=1) / np.sqrt(n),
                     "active_fraction_var": pairs.var("pair", ddof=1),
                     "n_networks": n.astype(np.int64),
                     "p_theory": ("depth", theory.p_active(f["depth"].values))})
    ds["p_active"].attrs = {"long_name": "P(path active)", "description": "mean of F over networks and inputs",
                            "estimator": P_ACTIVE_PLAIN}
    ds["p_active_se"].attrs = {"long_name": "standard error of p_active", "description": "from per-network means of F"}
    ds["active_fraction_var"].attrs = {"long_name": "Var F", "description": "over all sampled (network, input) pairs"}
    ds["n_networks"].attrs = {"long_name": "networks sampled"}
    ds["p_theory"].attrs = {"long_name": "2^-depth", "description": "Theorem 1 of the paper under test"}
    return ds


def summarise_weights(raw: xr.Dataset, network: NetworkConfig) -> xr.Dataset:
    """Theorem 2: P(Z_p = 1 | t_l in bin) / P(Z_p = 1) and E[t_l | Z_p = 1], paths through all layers."""
    ds = xr.Dataset()
    _conditional(ds, raw, "weight_dependence", "weight", long_name="P(Z=1 | t_l in bin) / P(Z=1)",
                 description="1 everywhere means independence of the path's weight at that layer")
    den = _deep_sum(raw, raw["weight_tz"])
    est, se = ratio_of_means([raw["weight_tz"]], [den])
    _with(ds, "weight_slope", est, se, long_name="E[t_l | Z=1]",
          description="least-squares slope of weight_dependence against standardised t; "
                      "weight_slope_independent means independence")
    if "slope_control" in raw:
        controls = raw["slope_control"].stack(control=("layer", "slope_control_kind"))
        _reduce_into(ds, "weight_slope", raw["weight_tz"], den.broadcast_like(raw["weight_tz"]),
                     controls.drop_vars(["control", "layer", "slope_control_kind"]), SLOPE_REDUCTION)
    ds["n_edge_networks"] = raw["weight_tz"].isel(layer=0).count(NET).astype(np.int64)
    ds["n_edge_networks"].attrs = {"long_name": "networks with edge statistics",
                                   "description": "all networks, except in a hybrid sweep (its explicit ones)"}
    hidden = xr.apply_ufunc(theory.weight_slope, raw["width"])
    first = xr.apply_ufunc(theory.first_layer_weight_slope, raw["inputs"], input_core_dims=[["input", "feature"]])
    ds["weight_slope_theory"] = _only_if_gaussian(xr.where(raw["layer"] > 1, hidden, first).transpose(..., "layer"),
                                                  network)
    ds["weight_slope_theory"].attrs |= {
        "long_name": "exact E[t_l | Z=1] for bias-free zero-mean Gaussian weights",
        "description": "layer 1: sqrt(2/pi) mean |x|_1 / (d |x|); layers >= 2: 4 E[S/|h|] / (n sqrt(2 pi)) "
                       "(theory.weight_slope), ~ (2 sqrt2 / pi) / sqrt(width); both exact at every width"}
    first_null = xr.apply_ufunc(theory.first_layer_weight_slope_independent, raw["inputs"],
                                kwargs={"weight_mean": network.weight_mean}, input_core_dims=[["input", "feature"]])
    ds["weight_slope_independent"] = xr.where(raw["layer"] > 1, network.weight_mean, first_null)
    ds["weight_slope_independent"].attrs = {
        "long_name": "E[t_l | Z=1] if Z were independent of the path's weights",
        "description": "the weights' mean in std units (times the mean sign of x at layer 1); 0 for zero-mean weights"}
    return ds


def _only_if_gaussian(prediction: xr.DataArray, network: NetworkConfig) -> xr.DataArray:
    """The prediction, or NaN with the reason in its attrs when the network breaks its assumptions."""
    note = network.gaussian_theory_note
    out = prediction if note is None else xr.full_like(prediction, np.nan, dtype=float)
    out.attrs = {"validity": note or "bias-free, zero-mean Gaussian weights: applies"}
    return out


def summarise_inputs(raw: xr.Dataset) -> xr.Dataset:
    """Theorem 3: dependence on the path's input-weight share c and on x_i0 alone."""
    ds = xr.Dataset()
    _conditional(ds, raw, "input_dependence", "input", long_name="P(Z=1 | c in bin) / P(Z=1)",
                 description="c = x_i0 W_1[j1, i0] / (std(W_1) |x|)")
    _conditional(ds, raw, "input_value_dependence", "xvalue", long_name="P(Z=1 | x_i0 sqrt(d)/|x| in bin) / P(Z=1)")
    return ds


def _deep_sum(raw: xr.Dataset, present: xr.DataArray | None = None) -> xr.DataArray:
    """Per network: F at the largest depth, summed over inputs (NaN for networks not drawn).

    ``present`` (dims ``network`` and more) restricts it to the networks that have that
    statistic: a hybrid sweep's implicit networks have P(active) but no edge statistics.
    """
    deep = raw["active_fraction"].isel(depth=-1).sum("input", min_count=1)
    if present is None:
        return deep
    return deep.where(present.notnull().any([d for d in present.dims if d not in ("network", "input_dim", "width")]))


def _conditional(ds: xr.Dataset, raw: xr.Dataset, name: str, prefix: str, **attrs) -> None:
    """P(Z=1 | bin) / P(Z=1) from the raw ``{prefix}_num`` and ``{prefix}_den`` sums."""
    num = raw[f"{prefix}_num"]
    est, se = ratio_of_means([num], [raw[f"{prefix}_den"], _deep_sum(raw, num)], scale=raw.sizes["input"])
    _with(ds, name, est, se, **attrs)


JOINT_REDUCTION = ("control variates, cross-fitted (2 folds by network parity): per layer up to the depth, the "
                   "fraction of neurons on for both inputs minus (pi - theta)/(2 pi), and the normalised Gram "
                   "entries minus their arc-cosine means (exact given the previous layer), each times the running "
                   "product of earlier layers; depth 1 stays plain (its control's mean is the exact depth-1 value)")
SLOPE_REDUCTION = ("control variates, cross-fitted (2 folds by network parity): per layer, the mean t Z over the "
                   "layer's edges minus its exact conditional mean |h|_1 / (fan_in |h| sqrt(2 pi)), and the "
                   "on-fraction minus 1/2, each times the product of earlier layers' on-fractions")
P_ACTIVE_PLAIN = ("plain: the only controls with exact means (each layer's on-fraction, mean 1/2) make the estimate "
                  "2^-H by construction (variance factor below 1e-16), so Theorem 1 would be assumed, not measured")


def _reduce_into(ds: xr.Dataset, name: str, num: xr.DataArray, den: xr.DataArray | None, controls: xr.DataArray,
                 how: str) -> None:
    """Replace ``name`` and its se by the control-variate estimate where the networks allow one.

    ``num`` (and ``den``) have dim ``network`` and the statistic's dims; ``controls`` has
    ``network``, ``control`` and any of the statistic's dims it varies with. Networks with a
    NaN ``num`` were not drawn for this statistic. Adds ``{name}_variance_factor``.
    """
    stat_dims = [d for d in num.dims if d != NET]
    num = num.transpose(*stat_dims, NET)
    den = None if den is None else den.transpose(*stat_dims, NET)
    controls = controls.broadcast_like(num.isel({NET: 0}, drop=True)).transpose(*stat_dims, NET, "control")
    est, se = ds[name].transpose(*stat_dims).copy(), ds[f"{name}_se"].transpose(*stat_dims).copy()
    factor = xr.full_like(est, np.nan, dtype=float)
    for idx in np.ndindex(*num.shape[:-1]):
        y = num.values[idx]
        used = ~np.isnan(y)
        X = controls.values[idx][used]
        keep = ~np.isnan(X).all(axis=0)       # a statistic at depth d uses layers 1..d only
        X = X[:, keep]
        if X.shape[1] == 0 or np.isnan(X).any() or used.sum() < reduce.min_networks(X.shape[1]):
            continue
        r = reduce.estimate(y[used], None if den is None else den.values[idx][used], X)
        est.values[idx], se.values[idx], factor.values[idx] = r["reduced"], r["reduced_se"], r["factor"]
    applied = bool(np.isfinite(factor.values).any())
    ds[name], ds[f"{name}_se"] = est.transpose(*ds[name].dims), se.transpose(*ds[name].dims)
    ds[name].attrs = dict(est.attrs, estimator=how + "; plain where the variance factor is NaN (too few networks "
                                                     "for the regression)" if applied else
                          "plain: too few networks for the regression")
    ds[f"{name}_se"].attrs = {"long_name": f"standard error of {name}"}
    ds[f"{name}_variance_factor"] = factor.transpose(*ds[name].dims)
    ds[f"{name}_variance_factor"].attrs = {
        "long_name": f"variance factor of {name}",
        "description": "per-network variance of the reduced estimate over that of the plain one (measured on the "
                       "same networks): the share of networks it needs for the same se; NaN where plain"}


def summarise_joint(raw: xr.Dataset, network: NetworkConfig) -> xr.Dataset:
    """Joint activation of a path for two inputs at angle theta, against theory."""
    j = raw["joint_fraction"]
    ds = xr.Dataset()
    _with(ds, "joint_active", j.mean(NET), j.std(NET, ddof=1) / np.sqrt(j.count(NET)),
          long_name="P(path active for both inputs)")
    if "joint_control" in raw:
        c = raw["joint_control"]
        # depth d uses the controls of layers 1..d: NaN-out the deeper ones. Depth 1 stays plain: its one
        # control's mean is the exact depth-1 value, which the reduced estimate would equal by construction.
        depth = xr.DataArray(raw["depth"].values, dims="depth", coords={"depth": raw["depth"]})
        layer_used = (c["layer"] <= depth) & (depth >= 2)
        c = c.where(layer_used).stack(control=("layer", "joint_control_kind"))
        _reduce_into(ds, "joint_active", j, None, c.drop_vars(["control", "layer", "joint_control_kind"]), JOINT_REDUCTION)
    depth, angle = raw["depth"].values, raw["angle"].values
    arccos = xr.DataArray(theory.joint_active(int(depth.max()), angle)[depth - 1], dims=("depth", "angle"))
    ds["joint_theory"] = _only_if_gaussian(arccos, network)
    ds["joint_theory"].attrs["long_name"] = "infinite-width arc-cosine prediction"
    ds["joint_independent"] = ("depth", theory.joint_independent(depth))
    ds["joint_independent"].attrs = {"long_name": "4^-depth (independent activations)"}
    return ds


def summarise(raw: xr.Dataset, cfg) -> xr.Dataset:
    """Every summary the configured statistics allow."""
    parts = [summarise_active_fraction(raw)]
    if "weights" in cfg.stats:
        parts.append(summarise_weights(raw, cfg.network))
    if "inputs" in cfg.stats:
        parts.append(summarise_inputs(raw))
    if "joint" in cfg.stats:
        parts.append(summarise_joint(raw, cfg.network))
    return xr.merge(parts, combine_attrs="drop_conflicts")


def z_scores(ds: xr.Dataset) -> xr.DataArray:
    """Deviation of p_active from 2^-depth in standard errors."""
    z = (ds["p_active"] - ds["p_theory"]) / ds["p_active_se"]
    z.attrs = {"long_name": "(p_active - 2^-depth) / se"}
    return z
