"""Configuration of training runs (``ntkpaths train``) and the training data files they read."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .base import _choice, _finite, _positive_int, _require, load_npz
from .sweep import DTYPES


PARAMS = ("ntk", "standard")
TRAIN_DEVICES = ("auto", "cpu", "gpu")
TRAIN_DATA = ("digits", "teacher")
DIGITS_SIZE = 1797  # images in scikit-learn's bundled 8x8 digits (a test checks it against load_digits)


def _count(name: str, value: int, low: int) -> None:
    _require(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low,
             f"{name} must be an integer >= {low}, got {value!r}")


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load and check a training set: ``X`` (sample, feature) and ``y`` (sample,) or (sample, output).

    ``X`` comes back as float64. ``y`` keeps an integer dtype when it is 1-D
    integer (class labels); otherwise it comes back as float64 (sample, output).
    """
    path = Path(path)
    arrays = load_npz(path, "data")
    _require("X" in arrays and "y" in arrays,
             f"data file {path} must hold arrays 'X' and 'y'; it holds: {', '.join(sorted(arrays)) or 'nothing'}")
    x, y = arrays["X"], arrays["y"]
    for name, a in (("X", x), ("y", y)):
        _require(np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating),
                 f"{name} in {path} must hold real numbers, got dtype {a.dtype}")
    _require(x.ndim == 2 and x.size > 0, f"X in {path} must be a non-empty 2-D array (sample, feature), got shape {x.shape}")
    _require(y.ndim in (1, 2) and y.shape[0] == x.shape[0] and y.size > 0,
             f"y in {path} must have shape ({x.shape[0]},) or ({x.shape[0]}, output), got {y.shape}")
    _require(bool(np.isfinite(x).all()) and bool(np.isfinite(y).all()), f"data file {path} holds NaN or infinite values")
    labels = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    x = x.astype(np.float64)
    _check_spread(path, x)
    return x, (y if labels else y.reshape(len(y), -1).astype(np.float64))


def _check_spread(path: Path, x: np.ndarray) -> None:
    """Refuse inputs that centring and scaling to norm sqrt(d) would turn into zeros or NaN."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        norms = np.linalg.norm(x - x.mean(axis=0), axis=1)
    biggest = float(np.abs(x).max())
    _require(bool(np.isfinite(norms).all()),
             f"X in {path} is too large to normalise (max |X| = {biggest:.3g}: its centred norms overflow); rescale it")
    _require(bool((norms > 0).any()),
             f"X in {path} has no spread: centring on the mean leaves every input zero "
             f"({'every sample is the same' if np.ptp(x, axis=0).max() == 0 else 'its spread underflows; rescale it'})")


def check_targets(path: str | Path, y: np.ndarray, dtype: str) -> None:
    """Refuse regression targets whose squared error overflows ``dtype`` from the first step."""
    if y.ndim != 2 or not y.size:
        return
    biggest = float(np.abs(y).max())
    limit = float(np.sqrt(np.finfo(dtype).max / y.shape[1]))
    wider = " or use --dtype float64" if dtype == "float32" and biggest < np.sqrt(np.finfo("float64").max) / 1e3 else ""
    _require(biggest < limit, f"y in {path} overflows {dtype} in the squared loss (max |y| = {biggest:.3g}); "
                              f"rescale the targets{wider}")


@dataclass(frozen=True)
class TrainConfig:
    """Gradient-descent runs of bias-free deep ReLU networks (the paper's Theorem 5).

    Parameters
    ----------
    depths, widths : tuple of int
        Numbers of hidden layers H and hidden widths n (every hidden layer of a
        network has width n); every (depth, width) pair is a cell.
    runs : int
        Independent runs (data subset, initial network, minibatches) per cell.
    steps : int
        Gradient steps per run; 0 measures the initial network only.
    lr : float or None
        Learning rate, >= 0; None (with no ``lr_relative``) is 1. With
        ``param="ntk"`` it is used as is and does not depend on the width; with
        ``param="standard"`` the step uses lr / n. lr = 0 is the control run:
        every checkpoint equals step 0.
    lr_relative : float or None
        Exclusive with ``lr``: each run uses lr = lr_relative * its own
        critical rate 2 / lambda_max(Theta_0 / N), Theta_0 its initial empirical
        NTK on its ``ntk_inputs`` training samples (N of them). Below 1 the
        loss falls monotonically in the linearised (lazy) dynamics; above 1
        the top mode first grows (catapult) or the run diverges.
    batch_size : int or None
        None is full-batch gradient descent; an integer draws that many
        distinct training samples per step (SGD).
    param : {"ntk", "standard"}
        ``ntk``: N(0, 1) parameters scaled by sqrt(2 / n_{l-1}) (hidden) and
        sqrt(1 / n_H) (output) in the forward pass. ``standard``: the same
        standard normals times those scales are the parameters (He fan-in),
        with no scale in the forward pass. Both start from the same function.
    data : str
        "digits" (scikit-learn's 8x8 digits, 10 classes), "teacher" (uniform
        inputs in d = 64 labelled by a random He ReLU network with one output,
        regression) or a path to a .npz file with arrays ``X`` (sample,
        feature) and ``y``: 1-D integer ``y`` are class labels (one-hot targets,
        accuracy is measured), float ``y`` of shape (sample,) or (sample,
        output) are regression targets.
    n_train, n_test : int
        Samples drawn per run, disjoint, without replacement. ``n_test`` is
        capped by what the data set has left after the training samples.
    checkpoints : int
        Most checkpoints per run (log-spaced, always step 0 and the last).
    seed : int or None
        Root of the SeedSequence; None draws fresh entropy.
    dtype : {"float32", "float64"}
    ntk_inputs : int or None
        The empirical NTK (its change, and the critical rate) and E[t | Z = 1]
        are measured on the first ``min(ntk_inputs, n_train)`` training samples
        of each run; None (the default) uses all of them. A cap makes the
        critical rate an estimate from a subset.
    loss_tolerance : float
        A run has reached a global minimum when its final training loss is at
        most this (the targets can be fitted exactly, so the minimum is 0).
    device : {"auto", "cpu", "gpu"}
        Where JAX trains: ``auto`` is a GPU when JAX sees one. Runs are
        bit-identical across schedulers on the CPU; on a GPU they agree in
        distribution.
    init_from : str or None
        A bias-free network file (.npz, .safetensors, .pt, .onnx) every run
        starts from instead of a random draw; the grid is its depth and width.
    save_weights : str or None
        A folder for each run's final network, ``depthD-widthW-runR`` plus the
        init file's suffix (.npz or .safetensors; .safetensors otherwise), in
        the init file's dtype (else the training dtype).
    """

    depths: tuple[int, ...] = (1, 2, 4)
    widths: tuple[int, ...] = (64, 256, 1024)
    runs: int = 8
    steps: int = 1000
    lr: float | None = None
    lr_relative: float | None = None
    batch_size: int | None = None
    param: str = "ntk"
    data: str = "digits"
    n_train: int = 256
    n_test: int = 256
    checkpoints: int = 20
    seed: int | None = None
    dtype: str = "float32"
    ntk_inputs: int | None = None
    loss_tolerance: float = 1e-3
    device: str = "cpu"
    init_from: str | None = None
    save_weights: str | None = None
    data_sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("depths", "widths"):
            values = getattr(self, name)
            _require(len(values) > 0, f"give at least one of {name}")
            for v in values:
                _positive_int(name[:-1], v)
            _require(len(set(values)) == len(values), f"{name} repeat: {list(values)}")
            object.__setattr__(self, name, tuple(sorted(int(v) for v in values)))
        self._check_numbers()
        _choice("param", self.param, PARAMS)
        _choice("dtype", self.dtype, DTYPES)
        _choice("device", self.device, TRAIN_DEVICES)
        _require(self.seed is None or (isinstance(self.seed, int) and self.seed >= 0),
                 f"seed must be an integer >= 0, got {self.seed!r}")
        if self.init_from is not None:
            self._check_init()
        pool = self._check_data()
        _require(pool is None or self.n_train <= pool,
                 f"n_train = {self.n_train} exceeds the {pool} samples in {self.data}")

    def _check_numbers(self) -> None:
        _positive_int("runs", self.runs)
        _count("steps", self.steps, 0)
        _require(self.lr is None or self.lr_relative is None,
                 f"give lr or lr_relative, not both (got lr = {self.lr!r}, lr_relative = {self.lr_relative!r})")
        if self.lr_relative is not None:
            _finite("lr_relative", self.lr_relative)
            _require(self.lr_relative >= 0, f"lr_relative must be >= 0, got {self.lr_relative!r}")
        else:
            object.__setattr__(self, "lr", 1.0 if self.lr is None else self.lr)
            _finite("lr", self.lr)
            _require(self.lr >= 0, f"lr must be >= 0, got {self.lr!r}")
        _positive_int("n_train", self.n_train)
        _count("n_test", self.n_test, 0)
        _count("checkpoints", self.checkpoints, 2)
        if self.ntk_inputs is not None:
            _positive_int("ntk_inputs", self.ntk_inputs)
        _finite("loss_tolerance", self.loss_tolerance)
        _require(self.loss_tolerance > 0, f"loss_tolerance must be > 0, got {self.loss_tolerance!r}")
        if self.batch_size is not None:
            _positive_int("batch_size", self.batch_size)
            _require(self.batch_size <= self.n_train,
                     f"batch_size = {self.batch_size} exceeds n_train = {self.n_train}")

    def _check_init(self) -> None:
        """A network to start from must be bias-free, and the grid its one depth and width."""
        from ..readers import read_network

        net = read_network(self.init_from)
        _require(not net.has_biases, f"--init-from {self.init_from} has biases; training runs bias-free networks")
        _require(len(set(net.widths)) == 1, f"--init-from {self.init_from} has hidden widths {list(net.widths)}; "
                 "training runs networks whose hidden layers have one width")
        _require(self.depths == (net.depth,) and self.widths == (net.widths[0],),
                 f"--init-from {self.init_from} has depth {net.depth} and width {net.widths[0]}: give "
                 f"--depths {net.depth} --widths {net.widths[0]}")

    def _check_data(self) -> int | None:
        """Check the data source; return how many samples it holds (None: unlimited)."""
        if self.data == "digits":
            return DIGITS_SIZE
        if self.data == "teacher":
            return None
        _require(isinstance(self.data, str) and self.data.endswith(".npz"),
                 f"unknown data {self.data!r}; choose one of: {', '.join(TRAIN_DATA)}, or a path to a .npz file")
        x, y = read_npz(self.data)
        check_targets(self.data, y, self.dtype)
        object.__setattr__(self, "data_sha256", hashlib.sha256(Path(self.data).read_bytes()).hexdigest())
        return x.shape[0]

    def to_dict(self) -> dict:
        """Plain, JSON-able form (for dataset attrs)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        for key in ("depths", "widths"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)
