"""The trained network, its function-preserving transforms, and what rescaling does to sharpness.

Every measurement is returned as a small :class:`xarray.Dataset` that the
study merges. Sharpness is computed in the effective-weight parametrisation
(forward scales 1.0): the parametrisation :mod:`ntkpaths.symmetry` acts on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .. import pathstats, sample, sharpness, symmetry
from ..config import NetworkConfig
from ..jaxsetup import jax, jnp
from ..tasks import child_seed
from ..allpaths import forward
from ..training import draw_data, model
from .config import ReparamConfig

F64 = NetworkConfig(dtype="float64")
KEYS = {"train": 0, "transforms": 1, "rescaling": 2, "spread-inputs": 3, "spread": 4, "semiflat": 5}
RESCALED_LAYER = 1       # W_1 * alpha, W_2 / alpha
PATH_LIMIT = 4_000_000   # every path up to this many, else a uniform sample of SAMPLED_PATHS
SAMPLED_PATHS = 200_000
FLOAT_TOL = 1e-10        # "unchanged": max |delta f| <= FLOAT_TOL * max |f|, and the like


@dataclass(frozen=True)
class Trained:
    """The trained network in effective weights, its data, and an earlier point of the same run.

    Attributes
    ----------
    weights, early : list of ndarray (fan_out, fan_in)
        At the end of training, and after ``early_steps``.
    x : ndarray (sample, feature)
    y : ndarray (sample, output)
    initial : list of ndarray
        The network before training.
    """

    weights: list
    early: list
    initial: list
    x: np.ndarray
    y: np.ndarray


def train_network(cfg: ReparamConfig, seed: np.random.SeedSequence) -> Trained:
    """Draw data and a network as a training run does, then descend in float64 with the training core."""
    rng = np.random.default_rng(seed)
    data = draw_data(cfg.train_config(), rng=rng)
    dims = [data.dim, *[cfg.width] * cfg.depth, data.n_out]
    standard = sample.sample_standard_weights(F64, dims, rng=rng)
    with jax.enable_x64(True):
        par = model.parametrisation("ntk", dims, cfg.lr)
        p0 = model.initial_params(standard, par, "float64")
        x, y, lr = jnp.asarray(data.x_train), jnp.asarray(data.y_train), jnp.asarray(par.lr)
        early = model.descend(tuple(jnp.asarray(p) for p in p0), x, y, lr, cfg.early_steps, par.scales)
        early = [np.asarray(p) for p in early]
        final = model.descend(tuple(jnp.asarray(p) for p in early), x, y, lr, cfg.steps - cfg.early_steps, par.scales)

    def effective(params):
        return [np.asarray(p, dtype=np.float64) * s for p, s in zip(params, par.scales)]

    return Trained(effective(final), effective(early), effective(p0), data.x_train, data.y_train)


# ------------------------------------------------------------ embeddings with drawn weights
def embed_inactive(weights: list, added: int, *, rng: np.random.Generator) -> list:
    """Add ``added`` units with zero outgoing weights to every hidden layer (Fukumizu's inactive units).

    Their incoming weights are He draws from the layer's original units only
    (zero from the units added to the layer before), the case
    :func:`ntkpaths.theory.inactive_units_moments` describes.
    """
    out = weights
    for layer in range(1, len(weights)):
        fan_in = weights[layer - 1].shape[1]
        he = sample.sample_network(F64, fan_in, [added], rng=rng)[0]
        incoming = np.hstack([he, np.zeros((added, out[layer - 1].shape[1] - fan_in))])
        out = symmetry.add_inactive(out, layer, incoming)
    return out


def embed_dead(weights: list, added: int, *, rng: np.random.Generator) -> list:
    """Add ``added`` always-off units (zero incoming weights, drawn outgoing ones) to every hidden layer
    (Fukumizu's inactive propagation)."""
    out = weights
    for layer in range(1, len(weights)):
        fan_out = out[layer].shape[0]
        outgoing = sample.sample_standard_weights(F64, [added, fan_out], rng=rng)[0]
        out = symmetry.add_inactive(out, layer, np.zeros((added, out[layer - 1].shape[1])), outgoing)
    return out


def _off_on_data(weights: list, x: np.ndarray, added: int, rng: np.random.Generator) -> list:
    """Units of layer 2 with negative incoming weights (off for every input, since h_1 >= 0) and drawn
    outgoing weights; checked on the data by :func:`ntkpaths.symmetry.add_inactive`."""
    n1, fan_out = weights[1].shape[1], weights[2].shape[0]
    incoming = -np.abs(sample.sample_network(F64, n1, [added], rng=rng)[0])
    outgoing = sample.sample_standard_weights(F64, [added, fan_out], rng=rng)[0]
    return symmetry.add_inactive(weights, 2, incoming, outgoing, x=x)


def _berner_dead(weights: list, x: np.ndarray, added: int, rng: np.random.Generator) -> list:
    """Plant dead units in layer 2, then give the first one new incoming and outgoing weights."""
    planted = _off_on_data(weights, x, added, rng)
    unit = weights[1].shape[0]
    incoming = -10.0 * np.abs(sample.sample_network(F64, planted[1].shape[1], [1], rng=rng)[0][0])
    outgoing = 10.0 * sample.sample_standard_weights(F64, [1, planted[2].shape[0]], rng=rng)[0][:, 0]
    return symmetry.reassign_inactive(planted, 2, unit, incoming, outgoing, x=x)


def _berner_pairs(weights: list, rng: np.random.Generator) -> list:
    """Add two pairs of opposite pairs realising w1 v1 + w2 v2 - w1 v1 - w2 v2 = 0 in layer 1, then mix them."""
    n, d, fan_out = weights[0].shape[0], weights[0].shape[1], weights[1].shape[0]
    w = sample.sample_network(F64, d, [2], rng=rng)[0]
    v = sample.sample_standard_weights(F64, [2, fan_out], rng=rng)[0]
    paired = symmetry.add_linear_pairs(weights, 1, np.vstack([w, w]), np.hstack([v, -v]))
    mixing = sample.sample_standard_weights(F64, [4, 4], rng=rng)[0]
    return symmetry.mix_linear_pairs(paired, 1, [(n + 2 * i, n + 2 * i + 1) for i in range(4)], mixing)


def _transforms(cfg: ReparamConfig, trained: Trained, rng: np.random.Generator) -> dict[str, list]:
    """Every transform of the study, applied to the trained network (names are the dataset's labels)."""
    w, x = trained.weights, trained.x
    out = {f"rescale layer 1, alpha = {a:g}": symmetry.rescale(w, RESCALED_LAYER, a) for a in cfg.alphas if a != 1}
    per_unit = w
    for layer in range(1, cfg.depth + 1):
        per_unit = symmetry.rescale(per_unit, layer, np.logspace(-2, 2, w[layer - 1].shape[0]))
    out["rescale every unit, alpha = 10^-2..10^2"] = per_unit
    out.update({f"replicate every unit x{k}": symmetry.widen(w, k) for k in cfg.ks})
    out["replicate one unit, shares 0.7, 1.5, -1.2"] = symmetry.replicate(w, 1, 0, 3, (0.7, 1.5, -1.2))
    out[f"inactive units +{cfg.added}/layer"] = embed_inactive(w, cfg.added, rng=rng)
    out[f"inactive propagation +{cfg.added}/layer"] = embed_dead(w, cfg.added, rng=rng)
    out[f"units off on the data +{cfg.added} (layer 2)"] = _off_on_data(w, x, cfg.added, rng)
    out["Berner: dead unit reassigned"] = _berner_dead(w, x, cfg.added, rng)
    out["Berner: opposite pairs mixed"] = _berner_pairs(w, rng)
    return out


def invariance(cfg: ReparamConfig, trained: Trained, root: np.random.SeedSequence) -> xr.Dataset:
    """Outputs, F and E[t_l | Z=1] of the trained network before and after every transform."""
    rng = np.random.default_rng(child_seed(root, KEYS["transforms"]))
    variants = {"initial": trained.initial, "trained": trained.weights} | _transforms(cfg, trained, rng)
    _, f0 = forward(trained.weights, trained.x)
    rows = [_variant_row(w, trained, f0) for w in variants.values()]
    dims = {"output_change": (), "parameter_distance": (), "units": ("layer",),
            "p_active": ("depth",), "weight_slope": ("layer",)}
    data = {f"variant_{name}": (("variant", *d), np.stack([r[name] for r in rows])) for name, d in dims.items()}
    coords = {"variant": list(variants), "depth": np.arange(1, cfg.depth + 1), "layer": np.arange(1, cfg.depth + 1)}
    ds = xr.Dataset(data, coords=coords)
    ds["output_scale"] = float(np.abs(f0).max())
    return ds


def _variant_row(w: list, trained: Trained, f0: np.ndarray) -> dict:
    _, f = forward(w, trained.x)
    stats = pathstats.path_statistics(w, trained.x)
    same = all(a.shape == b.shape for a, b in zip(w, trained.weights))
    return {"output_change": np.abs(f - f0).max(),
            "parameter_distance": symmetry.parameter_distance(w, trained.weights) if same else np.nan,
            "units": np.array([a.shape[0] for a in w[:-1]]), "p_active": stats.p_active,
            "weight_slope": stats.weight_slope}


# ------------------------------------------------------------ rescaling: paths and sharpness
def _paths(weights: list, rng: np.random.Generator) -> np.ndarray:
    dims = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    if np.prod(dims, dtype=float) <= PATH_LIMIT:
        return pathstats.all_paths(weights, PATH_LIMIT)
    return sample.sample_paths(dims, SAMPLED_PATHS, rng=rng)


def rescaling(cfg: ReparamConfig, trained: Trained, root: np.random.SeedSequence,
              tick=lambda: None) -> xr.Dataset:
    """Per alpha: activation changes, path-product changes, path statistics, and sharpness of the layer-1 rescaling."""
    w, x, y = trained.weights, trained.x, trained.y
    paths = _paths(w, np.random.default_rng(child_seed(root, KEYS["rescaling"], 0)))
    masks, products = pathstats.activation_masks(w, x), pathstats.path_products(w, paths)
    stds = pathstats.he_stds(w)
    rows = []
    for i, alpha in enumerate(cfg.alphas):
        scaled = symmetry.rescale(w, RESCALED_LAYER, alpha)
        rng = np.random.default_rng(child_seed(root, KEYS["rescaling"], i + 1))
        row = _sharpness_row(cfg, scaled, x, y, rng)
        changed = sum(int((a != b).sum()) for a, b in zip(masks, pathstats.activation_masks(scaled, x)))
        moved = pathstats.path_products(scaled, paths)
        nonzero = products != 0
        stats = pathstats.path_statistics(scaled, x, stds)
        row.update(activation_changes=changed, path_product_change=np.abs(moved[nonzero] / products[nonzero] - 1).max(),
                   p_active=stats.p_active, weight_slope=stats.weight_slope)
        rows.append(row)
        tick()
    return _rescaling_dataset(cfg, rows, len(paths), _blocks(cfg, w, x, y, root))


def _sharpness_row(cfg: ReparamConfig, weights: list, x, y, rng: np.random.Generator) -> dict:
    hess = sharpness.hessian(weights, x, y)
    top = sharpness.top_eigenvalues(hess, cfg.top_k, rng=rng, rtol=cfg.rtol, max_iter=cfg.max_iter)
    trace, trace_se = sharpness.hutchinson_trace(hess, cfg.probes, rng=rng)
    return {"lambda_top": top.values, "lambda_residual": top.residuals, "lambda_iterations": top.iterations,
            "lambda_converged": top.converged, "lambda_ntk": sharpness.ntk_sharpness(weights, x),
            "trace": trace, "trace_se": trace_se, "loss": hess.loss}


def _blocks(cfg: ReparamConfig, w: list, x, y, root) -> dict:
    """lambda_max of the Hessian's diagonal blocks of W_1 and W_2 at alpha = 1 (the rescaling law's constants)."""
    hess = sharpness.hessian(w, x, y)
    rng = np.random.default_rng(child_seed(root, KEYS["rescaling"], len(cfg.alphas) + 1))
    out = {}
    for name, layer in (("lambda_block_in", RESCALED_LAYER), ("lambda_block_out", RESCALED_LAYER + 1)):
        eig = sharpness.top_eigenvalues(hess, 1, rng=rng, rtol=cfg.rtol, max_iter=cfg.max_iter,
                                        mask=hess.layer_mask([layer]))
        out[name] = float(eig.values[0])
    return out


def _rescaling_dataset(cfg: ReparamConfig, rows: list[dict], n_paths: int, blocks: dict) -> xr.Dataset:
    dims = {"lambda_top": ("eig",), "lambda_residual": ("eig",), "lambda_iterations": ("eig",),
            "lambda_converged": ("eig",), "p_active": ("depth",), "weight_slope": ("layer",)}
    data = {f"rescaled_{n}" if n in ("p_active", "weight_slope", "loss") else n:
            (("alpha", *dims.get(n, ())), np.stack([np.asarray(r[n]) for r in rows])) for n in rows[0]}
    ds = xr.Dataset(data, coords={"alpha": np.asarray(cfg.alphas), "eig": np.arange(1, cfg.top_k + 1),
                                  "depth": np.arange(1, cfg.depth + 1), "layer": np.arange(1, cfg.depth + 1)})
    for name, value in blocks.items():
        ds[name] = value
    ds["paths_compared"] = n_paths
    return ds
