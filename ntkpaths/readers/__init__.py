"""Readers: every way a network reaches ntkpaths becomes one :class:`~ntkpaths.network.Network`.

Files go by their extension (:func:`read_network`); objects in memory by their
type (:func:`network_from`). Each framework is imported only when its kind of
object or file is used, and no file is ever unpickled.

============================  ===========================================  =====================
source                        names                                        needs
============================  ===========================================  =====================
``.npz``                      W1..WH, Wout (+ b1..bH, bout), or arr_0...   numpy
``.safetensors``              PyTorch/Flax/haiku names (readers.names)     ``ntkpaths[safetensors]``
``.pt`` / ``.pth``            a state_dict of nn.Sequential(Linear, ReLU)  ``ntkpaths[torch]``
``.onnx``                     Gemm or MatMul+Add, Relu between             ``ntkpaths[onnx]``
torch ``nn.Sequential``       Linear and ReLU modules                      torch
scikit-learn MLP              MLPRegressor / MLPClassifier, relu           scikit-learn
Flax / haiku params           nested dict of kernel/bias or w/b            (none)
============================  ===========================================  =====================

scikit-learn estimators come in through the API only: the only way to store
one is a pickle, and unpickling a file runs whatever code it holds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..config import ConfigError
from ..network import Network, orient
from .files import read_npz, read_safetensors, read_torch, write_network
from .names import network_from_arrays
from .onnx import read_onnx

__all__ = ["read_network", "network_from", "write_network", "SUFFIXES"]

SUFFIXES = {".npz": read_npz, ".safetensors": read_safetensors, ".pt": read_torch, ".pth": read_torch,
            ".onnx": read_onnx}


def read_network(path: str | Path, *, layout: str | None = None, input_dim: int | None = None) -> Network:
    """Read a network file by its extension (.npz, .safetensors, .pt/.pth, .onnx).

    Parameters
    ----------
    layout : "out-in" or "in-out", optional
        Force how weight matrices are stored, when a square layer leaves both
        orientations possible.
    input_dim : int, optional
        The input features, which fixes the first layer's orientation.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"network file {path} not found")
    if path.is_dir():
        raise ConfigError(f"network file {path} is a folder")
    if path.suffix == ".npy":
        raise ConfigError(f"{path} is a single array, not a network: save every layer in one .npz "
                          "(np.savez(path, W1=..., Wout=..., b1=..., bout=...))")
    reader = SUFFIXES.get(path.suffix)
    if reader is None:
        raise ConfigError(f"cannot read {path} as a network: give a .npz, .safetensors, .pt/.pth or .onnx file")
    return reader(path, layout=layout, input_dim=input_dim)


def network_from(obj, *, layout: str | None = None, input_dim: int | None = None) -> Network:
    """A :class:`Network` from a file path or an object of a framework.

    Parameters
    ----------
    obj : str, Path, Network, torch ``nn.Sequential``, scikit-learn ``MLPRegressor``/``MLPClassifier``,
        a Flax/haiku params dict, or a list [W_1, ..., W_out] of (fan_out, fan_in) arrays (bias-free).

    Examples
    --------
    >>> net = ntkpaths.network_from("model.onnx")            # doctest: +SKIP
    >>> net = ntkpaths.network_from(mlp_regressor)           # doctest: +SKIP
    >>> net = ntkpaths.network_from(flax_variables)          # doctest: +SKIP
    """
    if isinstance(obj, Network):
        return obj
    if isinstance(obj, (str, Path)):
        return read_network(obj, layout=layout, input_dim=input_dim)
    if isinstance(obj, Mapping):
        return network_from_arrays(_flatten(obj), source="params dict", where="the params dict", layout=layout,
                                   input_dim=input_dim)
    kind = type(obj).__module__.split(".")[0]
    if kind == "torch":
        return _from_torch(obj)
    if kind == "sklearn":
        return _from_sklearn(obj)
    if isinstance(obj, Sequence) and all(np.ndim(w) == 2 for w in obj):
        return Network(tuple(obj), None, source="arrays")
    raise ConfigError(f"cannot make a network from a {type(obj).__name__}; give a file path, a torch nn.Sequential, "
                      "a scikit-learn MLP, a Flax/haiku params dict or a list of weight matrices")


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested params (Flax, haiku) as 'a/b/kernel' -> array."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
        else:
            out[name] = np.asarray(value)
    return out


def _from_torch(module) -> Network:
    import torch.nn as nn

    def leaves(m):
        if isinstance(m, nn.Sequential):
            for child in m:
                yield from leaves(child)
        else:
            yield m

    if not isinstance(module, nn.Sequential):
        raise ConfigError(f"ntkpaths reads a torch nn.Sequential of Linear and ReLU, got {type(module).__name__}; "
                          "wrap the layers in nn.Sequential or pass model.state_dict() saved to a .pt file")
    weights, biases, last = [], [], "relu"
    for i, m in enumerate(leaves(module)):
        if isinstance(m, nn.Linear):
            if last == "linear":
                raise ConfigError(f"module {i} (Linear) follows a Linear without a ReLU between")
            weights.append(m.weight.detach().cpu().numpy())
            biases.append(None if m.bias is None else m.bias.detach().cpu().numpy())
            last = "linear"
        elif isinstance(m, nn.ReLU) and last == "linear":
            last = "relu"
        elif isinstance(m, (nn.Identity, nn.Dropout)):  # no-ops at evaluation
            continue
        else:
            raise ConfigError(f"module {i} ({type(m).__name__}) is not part of a ReLU MLP; ntkpaths reads "
                              "nn.Sequential(Linear, ReLU, ..., Linear)")
    if last != "linear":
        raise ConfigError("the nn.Sequential must end in a Linear output layer")
    dtype = str(np.result_type(*weights))
    return Network(tuple(weights), tuple(biases), source="torch nn.Sequential", dtype=dtype)


def _from_sklearn(est) -> Network:
    name = type(est).__name__
    if not hasattr(est, "coefs_"):
        raise ConfigError(f"cannot read a scikit-learn {name}: ntkpaths reads a fitted MLPRegressor or MLPClassifier")
    if est.activation != "relu":
        raise ConfigError(f"the {name} uses activation={est.activation!r}; ntkpaths reads ReLU networks "
                          "(activation='relu')")
    names = [f"coefs_[{i}]" for i in range(len(est.coefs_))]
    weights, _, _ = orient([np.asarray(c) for c in est.coefs_], list(est.intercepts_), names=names, layout="in-out",
                           where=f"the {name}")
    notes = () if est.out_activation_ == "identity" else (
        f"outputs are the output layer's values before scikit-learn's {est.out_activation_}",)
    return Network(tuple(weights), tuple(np.asarray(b) for b in est.intercepts_), source=f"scikit-learn {name}",
                   dtype=str(np.result_type(*est.coefs_)), notes=notes)
