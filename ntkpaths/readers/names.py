"""Named arrays -> :class:`~ntkpaths.network.Network`: the naming schemes frameworks write.

Every format that stores a network as named arrays (``.npz``, ``.safetensors``,
a PyTorch ``state_dict``, a Flax or haiku params dict) comes through
:func:`network_from_arrays`. It understands

- ntkpaths' own names: ``W1``..``WH``, ``Wout``, optional ``b1``..``bH``, ``bout``;
- module paths ending in a weight leaf (PyTorch ``0.weight``/``0.bias``, Flax
  ``params/Dense_0/kernel``/``bias``, haiku ``linear_1/w``/``b``), ordered by the
  numbers in the module path; one module without a number is the output head
  (``fc1``, ``fc2``, ``out``), or the first layer when the numbered ones extend
  its name (haiku's ``linear``, ``linear_1``);
- positional ``arr_0``, ``arr_1``, ... (``np.savez(*arrays)``): the 2-D arrays are
  the weights in order, the 1-D arrays the biases in order.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..config import ConfigError
from ..network import Network, orient

# weight leaf -> the layout its framework stores (None: no convention)
WEIGHT_LEAVES = {"weight": "out-in", "kernel": "in-out", "w": "in-out"}
BIAS_LEAVES = ("bias", "b")
_NPZ = re.compile(r"^(?P<kind>[Wb])(?P<layer>[1-9][0-9]*|out)$")
_POSITIONAL = re.compile(r"^arr_(?P<index>[0-9]+)$")
_NUMBER = re.compile(r"[0-9]+")


def _held(arrays: Mapping) -> str:
    names = list(arrays)
    return ", ".join(names[:8]) + (f", ... ({len(names)} arrays)" if len(names) > 8 else "") if names else "nothing"


def _real(name: str, a, where: str) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ConfigError(f"{name} in {where} must hold real numbers, got dtype {a.dtype}")
    return a


def network_from_arrays(arrays: Mapping[str, np.ndarray], *, source: str, where: str, layout: str | None = None,
                        input_dim: int | None = None) -> Network:
    """Build a network from named weight and bias arrays (see the module docstring for the names).

    Parameters
    ----------
    arrays : name -> array
    source : the format, in words, for the network's description
    where : the file or object, for messages
    layout, input_dim : see :func:`ntkpaths.network.orient`
    """
    if not arrays:
        raise ConfigError(f"{where} holds no arrays")
    arrays = {k: _real(k, v, where) for k, v in arrays.items()}
    if all(_POSITIONAL.match(k) for k in arrays):
        names, weights, biases, native = _positional(arrays, where)
    else:
        names, weights, biases, native = _modules(arrays, where)
    dtype = np.result_type(*weights, *(b for b in biases if b is not None))
    oriented, _, notes = orient(weights, biases, names=names, layout=layout, native=native, input_dim=input_dim,
                                where=where)
    return Network(tuple(oriented), tuple(biases), source=source, dtype=str(dtype), notes=notes)


def _positional(arrays: dict, where: str):
    ordered = sorted(arrays, key=lambda k: int(_POSITIONAL.match(k)["index"]))
    mats = [k for k in ordered if arrays[k].ndim == 2]
    vecs = [k for k in ordered if arrays[k].ndim == 1]
    odd = [k for k in ordered if arrays[k].ndim not in (1, 2)]
    if odd:
        raise ConfigError(f"{odd[0]} in {where} has shape {arrays[odd[0]].shape}; a network's arrays are 2-D weights "
                          "and 1-D biases")
    if vecs and len(vecs) != len(mats):
        raise ConfigError(f"{where} holds {len(mats)} weight matrices and {len(vecs)} bias vectors; with positional "
                          "arrays give every layer a bias or none (or name them W1..WH, Wout, b1..bH, bout)")
    biases = [arrays[k] for k in vecs] if vecs else [None] * len(mats)
    return mats, [arrays[k] for k in mats], biases, None


def _split(key: str) -> tuple[str, str]:
    for sep in ("/", "."):
        if sep in key:
            module, leaf = key.rsplit(sep, 1)
            return module, leaf
    return "", key


def _modules(arrays: dict, where: str):
    modules: dict[str, dict] = {}
    natives = set()
    npz_style = any(_NPZ.match(k) for k in arrays)
    for key, a in arrays.items():
        match = _NPZ.match(key)
        if match:
            module, kind, native = match["layer"], "weight" if match["kind"] == "W" else "bias", "out-in"
        else:
            module, leaf = _split(key)
            if leaf in WEIGHT_LEAVES and not npz_style:
                kind, native = "weight", WEIGHT_LEAVES[leaf]
            elif leaf in BIAS_LEAVES and not npz_style:
                kind, native = "bias", None
            else:
                hint = ("W1..WH and Wout, optional b1..bH and bout" if npz_style else
                        "weights and biases named like W1/b1, 0.weight/0.bias, Dense_0/kernel/bias or linear/w/b")
                raise ConfigError(f"unexpected array {key!r} in {where}; a ReLU network has {hint} "
                                  f"(it holds: {_held(arrays)})")
        entry = modules.setdefault(module, {})
        if kind in entry:
            raise ConfigError(f"{where} has two {kind}s for layer {module!r}: {entry[kind][0]} and {key}")
        entry[kind] = (key, a)
        if native:
            natives.add(native)
    for module, entry in modules.items():
        if "weight" not in entry:
            raise ConfigError(f"{where} has the bias {entry['bias'][0]} but no weight for that layer "
                              f"(it holds: {_held(arrays)})")
        _, w = entry["weight"]
        if w.ndim != 2:
            raise ConfigError(f"{entry['weight'][0]} in {where} must be a 2-D weight matrix, got shape {w.shape}")
        if "bias" in entry and entry["bias"][1].ndim != 1:
            raise ConfigError(f"{entry['bias'][0]} in {where} must be a 1-D bias, got shape {entry['bias'][1].shape}")
    order = _npz_order(modules, where, arrays) if npz_style else _module_order(modules, where)
    names = [modules[m]["weight"][0] for m in order]
    weights = [modules[m]["weight"][1] for m in order]
    biases = [modules[m]["bias"][1] if "bias" in modules[m] else None for m in order]
    return names, weights, biases, natives.pop() if len(natives) == 1 else None


def _npz_order(modules: dict, where: str, arrays: dict) -> list[str]:
    layers = sorted(int(m) for m in modules if m != "out")
    for name, there in (("W1", 1 in layers), ("Wout", "out" in modules)):
        if not there:
            raise ConfigError(f"{where} has no array {name!r}; it needs W1..WH and Wout (it holds: {_held(arrays)})")
    missing = [i for i in range(1, layers[-1] + 1) if i not in layers]
    if missing:
        raise ConfigError(f"{where} has W{layers[-1]} but no W{missing[0]} (it holds: {_held(arrays)})")
    return [str(i) for i in layers] + ["out"]


def _numbers(module: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _NUMBER.findall(module))


def _module_order(modules: dict, where: str) -> list[str]:
    numbered = sorted((m for m in modules if _numbers(m)), key=_numbers)
    plain = [m for m in modules if not _numbers(m)]
    if len(plain) > 1:
        raise ConfigError(f"cannot tell the order of the layers {', '.join(plain)} in {where}; number them "
                          "(as nn.Sequential, Flax and haiku do)")
    last = [n[-1] for n in map(_numbers, numbered)]
    steps = np.diff(last)
    if len(steps) and (steps.min() <= 0 or len(set(steps.tolist())) > 1):
        step = int(steps[steps > 0].min()) if (steps > 0).any() else 1
        missing = next((v + step for v, nxt in zip(last, last[1:]) if nxt - v != step), None)
        listed = ", ".join(modules[m]["weight"][0] for m in numbered)
        raise ConfigError(f"the layer numbering in {where} has a gap: {listed} (no layer {missing})")
    if not plain:
        return numbered
    if any(m.startswith(plain[0]) for m in numbered):  # haiku: linear, linear_1, linear_2
        return plain + numbered
    return numbered + plain
