"""Configuration of a census of gradient-descent end points (``ntkpaths minima``)."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import ConfigError, TrainConfig
from ..config.base import _finite, _positive_int, _require

GAUSSIAN_TEACHER = "gaussian-teacher"
DEEP_DATA = ("digits", "teacher")
OUTCOMES = ("global_minimum", "spurious_minimum", "saddle", "not_converged", "diverged")
TEACHER_LR = 5.0  # step size 5 / n (Safran, Yehudai & Shamir's 5 / k at n = k)
DEEP_LR = 1.0     # the ntk-parametrised step of ``ntkpaths train``


def _ints(name: str, values, low: int) -> tuple[int, ...]:
    _require(values is not None and len(values) > 0, f"give at least one of {name}")
    for v in values:
        _require(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low,
                 f"{name} must be integers >= {low}, got {v!r}")
    _require(len(set(values)) == len(values), f"{name} repeat: {list(values)}")
    return tuple(sorted(int(v) for v in values))


def _positive(name: str, value) -> None:
    _finite(name, value)
    _require(value > 0, f"{name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class MinimaConfig:
    """Where full-batch gradient descent ends, run by run, on one problem.

    Parameters
    ----------
    problem : str
        ``gaussian-teacher`` (Safran & Shamir's two-layer teacher-student
        problem, closed-form population loss) or the data of a deep bias-free
        ReLU network in the ntk parametrisation: ``digits``, ``teacher`` or a
        ``.npz`` path (as ``ntkpaths train``).
    teachers, extra : tuple of int
        gaussian-teacher only: teacher units k (d = k) and extra student units
        n - k; every (k, extra) pair is a cell.
    max_units : int or None
        gaussian-teacher only: cells with n = k + extra above this are skipped (NaN).
    depths, widths : tuple of int
        Deep problems only: hidden layers and hidden width of every cell.
    runs : int
        Independent initialisations per cell.
    grad_tol : float
        A run stops (stationary) when the gradient norm is at most this.
    loss_tol : float
        An end point with loss at most this is a global minimum (the minimum is 0).
    eig_tol : float
        A stationary end point is a minimum when its smallest Hessian
        eigenvalue is at least -eig_tol, else a saddle.
    max_steps : int
        Step budget of one attempt; a run that uses it up is ``not_converged``.
    lr : float or None
        Step size; None is 5 / n for gaussian-teacher and 1.0 for deep problems.
    lr_relative : float or None
        Deep problems only, instead of ``lr``: each run's step is this multiple
        of its own critical rate 2 / lambda_max(Theta_0 / N) (Theta_0 the
        empirical NTK at its initial point on its training set), as
        ``ntkpaths train --lr-relative``.
    max_halvings : int
        A run whose loss becomes non-finite or grows 1e6-fold restarts from its
        initial point with half the step, at most this many times (then ``diverged``).
    kink_band : float
        An end point's pre-activation is near the ReLU kink when |z| is at most
        this (deep problems, relative to the rms pre-activation of its layer);
        a student unit is at the kink when |w_i| is at most this (gaussian-teacher).
    n_train : int
        Deep problems: training samples per run.
    block : int
        Runs per task (one vectorised descent). Results do not depend on it, nor on the scheduler or worker count.
    seed : int or None
    """

    problem: str = GAUSSIAN_TEACHER
    teachers: tuple[int, ...] | None = None
    extra: tuple[int, ...] | None = None
    max_units: int | None = None
    depths: tuple[int, ...] | None = None
    widths: tuple[int, ...] | None = None
    runs: int = 100
    grad_tol: float = 1e-8
    loss_tol: float = 1e-8
    eig_tol: float = 1e-6
    max_steps: int = 200_000
    lr: float | None = None
    lr_relative: float | None = None
    max_halvings: int = 8
    kink_band: float = 1e-6
    n_train: int = 32
    block: int = 50
    seed: int | None = None
    data_sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        teacher = self.problem == GAUSSIAN_TEACHER
        if not teacher:
            _require(self.problem in DEEP_DATA or (isinstance(self.problem, str) and self.problem.endswith(".npz")),
                     f"unknown problem {self.problem!r}; choose gaussian-teacher, digits, teacher or a .npz file")
        own, other = (("teachers", "extra", "max_units"), ("depths", "widths")) if teacher else \
            (("depths", "widths"), ("teachers", "extra", "max_units"))
        for name in other:
            _require(getattr(self, name) is None, f"--{name.replace('_', '-')} applies only to "
                     f"{'deep problems' if teacher else 'gaussian-teacher'}, not to --problem {self.problem}")
        if teacher:
            object.__setattr__(self, "teachers", _ints("teachers", self.teachers or (6,), 1))
            object.__setattr__(self, "extra", _ints("extra", self.extra if self.extra is not None else (0,), 0))
            if self.max_units is not None:
                _positive_int("max_units", self.max_units)
                _require(any(k + e <= self.max_units for k in self.teachers for e in self.extra),
                         f"max_units = {self.max_units} leaves no cell")
        else:
            object.__setattr__(self, "depths", _ints("depths", self.depths or (1,), 1))
            object.__setattr__(self, "widths", _ints("widths", self.widths or (16, 64), 1))
            self._check_data()
        self._check_numbers()

    def _check_numbers(self) -> None:
        for name in ("runs", "max_steps", "n_train", "block"):
            _positive_int(name, getattr(self, name))
        for name in ("grad_tol", "loss_tol", "eig_tol", "kink_band"):
            _positive(name, getattr(self, name))
        if self.lr is not None:
            _positive("lr", self.lr)
        if self.lr_relative is not None:
            _positive("lr_relative", self.lr_relative)
            _require(not self.is_teacher, "--lr-relative applies only to deep problems, not to --problem "
                     f"{self.problem}")
            _require(self.lr is None, "give --lr or --lr-relative, not both")
        _require(isinstance(self.max_halvings, (int, np.integer)) and self.max_halvings >= 0,
                 f"max_halvings must be an integer >= 0, got {self.max_halvings!r}")
        _require(self.seed is None or (isinstance(self.seed, int) and self.seed >= 0),
                 f"seed must be an integer >= 0, got {self.seed!r}")

    def _check_data(self) -> None:
        train = self.train_config()
        if train.data_sha256 is not None:
            object.__setattr__(self, "data_sha256", train.data_sha256)

    # ------------------------------------------------------------ the grid
    @property
    def is_teacher(self) -> bool:
        return self.problem == GAUSSIAN_TEACHER

    @property
    def dims(self) -> tuple[str, str]:
        """Names of the two cell dimensions."""
        return ("teacher", "extra") if self.is_teacher else ("depth", "width")

    @property
    def axes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.teachers, self.extra) if self.is_teacher else (self.depths, self.widths)

    def cells(self) -> list[tuple[int, int]]:
        """Every cell run, in the grid's fixed order (skipped cells left out)."""
        a, b = self.axes
        return [(x, y) for x in a for y in b if self.wanted(x, y)]

    def wanted(self, a: int, b: int) -> bool:
        return not (self.is_teacher and self.max_units is not None and a + b > self.max_units)

    def step_size(self, cell: tuple[int, int]) -> float:
        """The step of every run of ``cell`` (a run's own multiple of its critical rate with ``lr_relative``)."""
        if self.lr is not None:
            return float(self.lr)
        return TEACHER_LR / (cell[0] + cell[1]) if self.is_teacher else DEEP_LR

    def train_config(self) -> TrainConfig:
        """The ``ntkpaths train`` config whose data and model a deep census uses (float64, full batch)."""
        try:
            return TrainConfig(depths=self.depths, widths=self.widths, runs=self.runs, data=self.problem,
                               n_train=self.n_train, n_test=0, dtype="float64", param="ntk", lr=DEEP_LR,
                               device="cpu")
        except ConfigError:
            raise
        except Exception as exc:  # pragma: no cover - defensive
            raise ConfigError(f"bad deep problem {self.problem!r}: {exc}") from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MinimaConfig":
        d = dict(d)
        for key in ("teachers", "extra", "depths", "widths"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def data_changed(cfg: MinimaConfig) -> bool:
    """Whether a deep problem's .npz file differs from the one the config was made with."""
    if cfg.data_sha256 is None:
        return False
    return hashlib.sha256(Path(cfg.problem).read_bytes()).hexdigest() != cfg.data_sha256


__all__ = ["MinimaConfig", "OUTCOMES", "GAUSSIAN_TEACHER"]
