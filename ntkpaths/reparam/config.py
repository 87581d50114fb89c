"""The reparametrisation study's configuration: frozen, validated, JSON-able."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config import ConfigError, TrainConfig

DATA = ("teacher", "digits")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _integer(name: str, value, low: int) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= low,
             f"{name} must be an integer >= {low}, got {value!r}")


def _number(name: str, value) -> None:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
             f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class ReparamConfig:
    """What the reparametrisation study trains, transforms and measures.

    Parameters
    ----------
    depth, width : int
        Hidden layers (>= 2: dead units are planted in layer 2) and width of
        the trained network.
    data : {"teacher", "digits"}
        The training issue's data sets; ``n_train`` samples, no test set.
    n_train, steps, lr : int, int, float
        Full-batch gradient descent in the ntk parametrisation, float64, to
        a zero-loss minimum; ``early_steps`` is an earlier, non-minimal point.
    alphas : tuple of float
        Factors of the layer-1 rescaling (1 is always added).
    ks : tuple of int
        Replication factors.
    added : int
        Inactive units added per hidden layer.
    narrow_width, spread_depth, input_dim, n_inputs, nets : int
        The F-spread comparison: ``nets`` random He networks of this width
        and depth, each seen on the same ``n_inputs`` uniform inputs.
    top_k, rtol, max_iter : int, float, int
        Power iteration: top-k eigenvalues, stop at residual <= rtol |lambda|.
    probes, lanczos_steps : int
        Hutchinson probes per trace; Lanczos steps for the smallest eigenvalues.
    seed : int or None
        Root of the SeedSequence; None draws fresh entropy.
    """

    depth: int = 2
    width: int = 32
    data: str = "teacher"
    n_train: int = 16
    steps: int = 2000
    early_steps: int = 5
    lr: float = 1.0
    alphas: tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    ks: tuple[int, ...] = (2, 3, 4)
    added: int = 4
    narrow_width: int = 4
    spread_depth: int = 3
    input_dim: int = 16
    n_inputs: int = 8
    nets: int = 4000
    top_k: int = 3
    rtol: float = 1e-7
    max_iter: int = 5000
    probes: int = 100
    lanczos_steps: int = 60
    seed: int | None = 0

    def __post_init__(self) -> None:
        _integer("depth", self.depth, 2)
        for name, low in (("width", 2), ("n_train", 1), ("steps", 1), ("early_steps", 0), ("added", 1),
                          ("narrow_width", 1), ("spread_depth", 1), ("input_dim", 1), ("n_inputs", 1),
                          ("nets", 2), ("top_k", 1), ("max_iter", 1), ("probes", 2), ("lanczos_steps", 2)):
            _integer(name, getattr(self, name), low)
        _require(self.early_steps < self.steps, f"early_steps must be < steps, got {self.early_steps}")
        _require(self.data in DATA, f"unknown data {self.data!r}; choose one of: {', '.join(DATA)}")
        for name in ("lr", "rtol"):
            _number(name, getattr(self, name))
        _require(self.lr > 0, f"lr must be > 0, got {self.lr!r}")
        _require(0 < self.rtol < 1, f"rtol must lie in (0, 1), got {self.rtol!r}")
        _require(self.seed is None or (isinstance(self.seed, int) and self.seed >= 0),
                 f"seed must be an integer >= 0, got {self.seed!r}")
        self._check_lists()
        self.train_config()

    def _check_lists(self) -> None:
        _require(len(self.alphas) > 0, "give at least one alpha")
        for a in self.alphas:
            _number("alpha", a)
            _require(a > 0, f"alpha must be > 0, got {a!r}")
        _require(len(self.ks) > 0, "give at least one replication factor k")
        for k in self.ks:
            _integer("k", k, 1)
        object.__setattr__(self, "alphas", tuple(sorted({float(a) for a in self.alphas} | {1.0})))
        object.__setattr__(self, "ks", tuple(sorted(set(self.ks))))

    def train_config(self) -> TrainConfig:
        """The training issue's config of the one trained network (float64, ntk parametrisation)."""
        return TrainConfig(depths=(self.depth,), widths=(self.width,), runs=1, steps=self.steps, lr=self.lr,
                           param="ntk", data=self.data, n_train=self.n_train, n_test=0, dtype="float64",
                           seed=self.seed)

    def to_dict(self) -> dict:
        """Plain, JSON-able form (for dataset attrs)."""
        return dataclasses.asdict(self)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_INT = _int, "an integer"
_NUM = _num, "a number"
# keys of the study's [reparametrisation] and [smoke] tables, with their checks
SCHEMA = {name: (_NUM if field.type in ("float", "float | None") else _INT)
          for name, field in ReparamConfig.__dataclass_fields__.items() if name not in ("data", "alphas", "ks")}
SCHEMA["data"] = (lambda v: isinstance(v, str)), "a string"
SCHEMA["alphas"] = (lambda v: isinstance(v, list) and all(_num(a) for a in v)), "a list of numbers"
SCHEMA["ks"] = (lambda v: isinstance(v, list) and all(_int(k) for k in v)), "a list of integers"
