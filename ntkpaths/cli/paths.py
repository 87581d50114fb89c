"""``ntkpaths paths``: path statistics of a network someone hands over."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..config import ConfigError
from ..readers.files import what_it_is
from .common import app, console

DATASETS = ("digits",)
UNLIKE_INIT = 2.0  # a layer whose weight std is off He's by more than this factor is flagged


def read_inputs(inputs: str):
    """A .npy/.csv file of inputs, one per row, or a dataset ntkpaths knows by name."""
    import numpy as np

    from ..config import read_inputs as read_file

    if inputs == "digits":
        from sklearn.datasets import load_digits

        return load_digits().data.astype(np.float64)
    path = Path(inputs)
    if path.suffix not in (".npy", ".csv") and not path.exists():
        raise ConfigError(f"--inputs {inputs!r} is neither a .npy/.csv file nor a dataset ntkpaths knows "
                          f"({', '.join(DATASETS)})")
    if path.suffix == ".npy" and path.is_file():
        with open(path, "rb") as f:
            head = f.read(16)
        if not head.startswith(b"\x93NUMPY"):  # numpy would try to unpickle it and advise allow_pickle
            raise ConfigError(f"input file {path} is not a .npy array: it is {what_it_is(head)}; save the inputs "
                              "with np.save, or give a .csv")
    return read_file(inputs)


def _summary(net, stats, title: str) -> dict:
    """The statistics as plain JSON values (NaN as null)."""
    def clean(values):
        return [None if not math.isfinite(v) else float(v) for v in values]

    return {
        "network": title,
        "format": net.source,
        "input_dim": net.input_dim,
        "hidden_widths": list(net.widths),
        "output_dim": net.output_dim,
        "biases": net.has_biases,
        "notes": _flags(net),
        "n_inputs": int(stats.outputs.shape[0]),
        "layer_fraction": clean(stats.layer_fraction.mean(axis=0)),
        "layer_fraction_se": clean(stats.layer_fraction_se),
        "p_active": clean(stats.p_active),
        "p_active_se": clean(stats.p_active_se),
        "p_theory_reference": [0.5 ** (i + 1) for i in range(net.depth)],
        "weight_slope": clean(stats.weight_slope),
        "outputs": [clean(row) for row in stats.outputs],
    }


def _flags(net) -> list[str]:
    """Where the network is unlike a He initialisation, for which 2^-l is the theory."""
    import numpy as np

    flags = []
    if net.has_biases:
        flags.append("biases present: a unit is no longer on with probability 1/2, so 2^-l is shown only as a "
                     "reference, not as the prediction (docs/science.md, section 5.1)")
    for i, w in enumerate(net.weights[:-1]):
        top = float(np.abs(w).max()) or 1.0  # scaled first: a rescaled layer's squares may overflow
        std, mean = float((w / top).std()) * top, float((w / top).mean()) * top
        ratio = std / math.sqrt(2.0 / w.shape[1])
        if not 1 / UNLIKE_INIT <= ratio <= UNLIKE_INIT:
            flags.append(f"layer {i + 1}: weight std is {ratio:.3g} x He's sqrt(2/fan_in), unlike an initialisation")
        elif abs(mean) > 0.2 * std:
            flags.append(f"layer {i + 1}: weight mean is {mean / std:+.2f} std, unlike a zero-mean initialisation")
    return flags + list(net.notes)


def _table(net, stats, title: str) -> Table:
    reference = " (ref.)" if net.has_biases else ""
    table = Table(title=f"{title}: {stats.outputs.shape[0]} inputs\n{net.describe()}",
                  caption="a_l/n_l: units on in layer l; F_l: paths active through layers 1..l (means over inputs)")
    for col in ("l", "n_l", "a_l/n_l ± se", "F_l ± se", f"2^-l{reference}", "E\\[t_l|Z=1]"):
        table.add_column(col, justify="right", no_wrap=True)
    frac, frac_se = stats.layer_fraction.mean(axis=0), stats.layer_fraction_se
    for i, units in enumerate(net.widths):
        table.add_row(str(i + 1), str(units), f"{frac[i]:.4f} ± {frac_se[i]:.1g}",
                      f"{stats.p_active[i]:.5g} ± {stats.p_active_se[i]:.1g}", f"{0.5 ** (i + 1):.5g}",
                      f"{stats.weight_slope[i]:.4f}")
    return table


def _transformed(net, specs: list[str], x):
    from .. import symmetry

    if net.has_biases:
        raise ConfigError("--transform works on bias-free networks; this one has biases")
    weights = list(net.weights)
    for spec in specs:
        weights = symmetry.apply_spec(weights, spec)
    change = symmetry.check_preserved(list(net.weights), weights, x, " then ".join(specs))
    return net.replace(weights=weights, biases=(None,) * len(weights)), change


@app.command("paths")
def paths_command(
    network: Annotated[Path, typer.Argument(help="A ReLU network: .npz (W1..WH, Wout, optional b1..bH, bout), "
                                                 ".safetensors, .pt/.pth (a PyTorch state_dict) or .onnx.")],
    inputs: Annotated[str, typer.Option(help="The inputs: a .npy or .csv file, one input per row, or 'digits' "
                                             "(scikit-learn's 1797 8x8 digits, pixel values 0..16).")],
    layout: Annotated[Optional[str], typer.Option(help="How weight matrices are stored when the shapes fit both "
                                                       "ways: out-in (fan_out, fan_in: PyTorch, ntkpaths) or "
                                                       "in-out (fan_in, fan_out: scikit-learn, Flax).")] = None,
    transform: Annotated[Optional[list[str]], typer.Option(help="Function-preserving transform applied first, in order (repeatable): rescale:LAYER:ALPHA, rescale:LAYER:UNIT:ALPHA, replicate:LAYER:UNIT:K or widen:K; layers 1..H, units from 0.")] = None,
    save: Annotated[Optional[Path], typer.Option(help="Write the (transformed) network to this .npz (W1.., "
                                                      "b1..) or .safetensors (PyTorch's names 0.weight, 0.bias..) "
                                                      "file; no suffix: .npz.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables: per-layer "
                                                         "fractions, F, E\\[t_l | Z=1], the outputs.")] = False,
) -> None:
    """Path statistics of a given network: F per depth prefix, and per layer the active fraction and the mean
    standardised weight of active paths, E(t_l | Z=1); and the network's outputs."""
    try:
        _paths(network, inputs, layout, transform, save, as_json)
    except MemoryError:
        raise ConfigError("out of memory: the network (or its transform) is too large for this machine") from None
    except OSError as exc:  # a folder that vanished, a full disk: this command has nothing to resume
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise ConfigError(f"{where}{exc.strerror or exc}") from None


def _paths(network, inputs, layout, transform, save, as_json) -> None:
    from .. import pathstats
    from ..readers import read_network, write_network

    x = read_inputs(inputs)
    net = read_network(network, layout=layout, input_dim=x.shape[1])
    pathstats.check_inputs(net, x)
    runs = [(str(network), net)]
    change = None
    if transform:
        changed, change = _transformed(net, transform, x)
        runs.append((" then ".join(transform), changed))
    results = [(title, n, pathstats.path_statistics(n, x)) for title, n in runs]
    written = write_network(save, runs[-1][1]) if save else None  # before any output: a failed save prints nothing
    if as_json:
        out = _summary(*results[0][1:], results[0][0])
        if transform:
            out["transformed"] = _summary(*results[1][1:], results[1][0]) | {"max_abs_output_change": change}
        if written:
            out["saved"] = str(written)
        typer.echo(json.dumps(out))
        return
    for title, n, stats in results:
        console.print(_table(n, stats, title))
        for flag in _flags(n):
            console.print(f"note: {flag}", markup=False, highlight=False)
        shown = min(3, stats.outputs.shape[0])
        rows = "; ".join(" ".join(f"{v:.5g}" for v in row) for row in stats.outputs[:shown])
        console.print(f"outputs of the first {shown} inputs: {rows} (every input: --json)", markup=False,
                      highlight=False)
    if transform:
        console.print(f"outputs: max |Δf| = {change:.3g} over the inputs (E[t_l | Z=1] uses He's std sqrt(2/fan_in))",
                      markup=False)
    if written:
        console.print(f"wrote {written}", markup=False, highlight=False)
