"""ONNX models of ReLU MLPs, through the ``onnx`` package (protobuf only: nothing is executed).

Accepted graphs are the ones exporters write for an MLP: each layer a ``Gemm``
(any ``transB``, ``alpha``, ``beta``) or a ``MatMul`` followed by an ``Add`` of
a constant, with one ``Relu`` between layers. ``Cast`` and ``Identity`` pass
through; ``Reshape``, ``Flatten``, ``Squeeze`` and ``Unsqueeze`` may follow the
output layer (scikit-learn's converter reshapes the output). A classifier's
``Softmax``, ``LogSoftmax`` or ``Sigmoid`` may follow the output layer, with
whatever computes labels from it; the network's outputs are then the logits
before it. Anything else --
another activation, a skip connection, a convolution -- is refused by naming
the first node that does not fit. The operators fix each matrix's orientation,
so ``--layout`` plays no part.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import ConfigError
from ..network import Network, orient
from .files import need

_PASS = ("Identity", "Cast")
_TAIL = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
_HEAD = ("Softmax", "LogSoftmax", "Sigmoid")  # a classifier's output function, after the output layer only
_LABELS = ("Identity", "Cast", "ArgMax", "ArrayFeatureExtractor", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
           "ZipMap", "Binarizer", "Concat", "Sub", "Greater", "Where")  # what converters compute labels with
_ACCEPTED = "Gemm, or MatMul + Add, with Relu between layers"


def _node_word(i: int, node) -> str:
    name = f" {node.name!r}" if node.name else ""
    return f"node {i}{name} ({node.op_type})"


def read_onnx(path: Path, input_dim: int | None = None, layout: str | None = None) -> Network:
    """A network from an ``.onnx`` file; see the module docstring for the graphs accepted."""
    onnx = need("onnx", "onnx")
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))  # weights stored beside it (torch.onnx writes .onnx.data) load too
    except Exception as exc:  # protobuf's DecodeError and friends
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read {path} as an ONNX model: {first}") from None
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or not graph.node:
        raise ConfigError(f"{path} is not an MLP: it needs exactly one non-constant input and some nodes, "
                          f"it has inputs {inputs} and {len(graph.node)} nodes")
    where = str(path)
    current = inputs[0]
    weights, biases, names, dtypes = [], [], [], set()
    head, notes = set(), []
    state = "input"  # input -> linear -> (add) -> relu -> linear ... -> tail

    def refuse(i, node, why):
        raise ConfigError(f"unsupported ONNX graph in {path}: {_node_word(i, node)} {why}; ntkpaths reads "
                          f"MLPs made of {_ACCEPTED}")

    def const(i, node, name):
        if name not in consts:
            refuse(i, node, f"takes the computed tensor {name!r} where a constant weight belongs")
        dtypes.add(str(consts[name].dtype))
        return consts[name].astype(np.float64)

    for i, node in enumerate(graph.node):
        op, ins = node.op_type, list(node.input)
        if op == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" not in attr:
                refuse(i, node, "is a constant of a kind ntkpaths does not read")
            consts[node.output[0]] = numpy_helper.to_array(attr["value"].t)
            continue
        if state == "head":  # a classifier's head: probabilities and labels, computed from the logits only
            if op not in _LABELS:
                refuse(i, node, "follows the classifier's output function: only label look-ups may come after it")
            if any(t and t not in head and t not in consts for t in ins):
                refuse(i, node, "mixes the classifier's head with the network")
            head.update(node.output)
            continue
        if op in _HEAD and state in ("linear", "matmul", "tail") and len(weights) >= 2 and current in ins:
            state, head = "head", set(node.output)
            notes.append(f"outputs are the logits before the model's {op}")
            continue
        if current not in ins:
            refuse(i, node, "branches off the MLP's chain (a skip connection or a second path)")
        if op in _PASS and state != "tail":
            current = node.output[0]
            continue
        if state == "tail" and op not in _TAIL + _PASS:
            refuse(i, node, "follows the output layer")
        if op in _TAIL:
            if state not in ("linear", "matmul", "tail") or len(weights) < 2:
                refuse(i, node, "changes the shape inside the network")
            state, current = "tail", node.output[0]
            continue
        if op == "Gemm":
            if state not in ("input", "relu"):
                refuse(i, node, "follows a linear layer without a Relu between")
            attr = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attr.get("transA", 0) or ins[0] != current:
                refuse(i, node, "multiplies from the other side (transA)")
            b = const(i, node, ins[1]) * attr.get("alpha", 1.0)
            if b.ndim != 2:
                refuse(i, node, f"has a weight of shape {b.shape}, not a matrix")
            weights.append(b if attr.get("transB", 0) else b.T)
            bias = const(i, node, ins[2]) * attr.get("beta", 1.0) if len(ins) > 2 and ins[2] else None
            biases.append(None if bias is None else _as_bias(bias, weights[-1].shape[0]))
            names.append(f"{_node_word(i, node)} weight")
            state = "linear"
        elif op == "MatMul":
            if state not in ("input", "relu"):
                refuse(i, node, "follows a linear layer without a Relu between")
            if ins[0] != current:
                refuse(i, node, "multiplies from the other side")
            w = const(i, node, ins[1])
            if w.ndim != 2:
                refuse(i, node, f"has a weight of shape {w.shape}, not a matrix")
            weights.append(w.T)
            biases.append(None)
            names.append(f"{_node_word(i, node)} weight")
            state = "matmul"
        elif op == "Add":
            if state != "matmul":
                refuse(i, node, "adds where no MatMul's bias belongs")
            other = ins[1] if ins[0] == current else ins[0]
            bias = const(i, node, other)
            biases[-1] = _as_bias(bias, weights[-1].shape[0])
            state = "linear"
        elif op == "Relu":
            if state not in ("linear", "matmul"):
                refuse(i, node, "is not between two linear layers")
            state = "relu"
        else:
            refuse(i, node, "is not part of a ReLU MLP")
        current = node.output[0]
    outputs = {o.name for o in graph.output}
    if not ({current} | head) & outputs:
        raise ConfigError(f"unsupported ONNX graph in {path}: its outputs ({', '.join(sorted(outputs))}) are not "
                          f"the last layer's {current!r}")
    if state == "relu":
        raise ConfigError(f"unsupported ONNX graph in {path}: it ends in a Relu; ntkpaths reads MLPs whose output "
                          "layer is linear")
    if len(weights) < 2:
        raise ConfigError(f"{path} has {len(weights)} linear layer; a network needs a hidden layer and an output layer")
    dtype = str(np.result_type(*dtypes))
    oriented, _, oriented_notes = orient(weights, biases, names=names, layout="out-in", input_dim=input_dim,
                                         where=where)
    return Network(tuple(oriented), tuple(biases), source="ONNX", dtype=dtype, notes=oriented_notes + tuple(notes))


def _as_bias(bias: np.ndarray, units: int) -> np.ndarray:
    """A broadcast bias ((units,), (1, units) or a scalar) as (units,); any other shape is left for the check."""
    if bias.size == units:
        return bias.reshape(units)
    if bias.size == 1:
        return np.full(units, float(bias.reshape(())))
    return bias
