"""Configuration of networks, inputs and sweeps."""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .base import ConfigError, _choice, _finite, _positive_int, _reason, _require, check_format

INITS = ("he-fan-in", "he-fan-out", "ntk")
WEIGHT_DISTS = ("normal", "uniform", "orthogonal", "student-t", "sparse")
IMPLICIT_DISTS = ("normal", "orthogonal")  # the laws the implicit sampler draws exactly
DTYPES = ("float32", "float64")
INPUT_KINDS = ("uniform", "gaussian", "sphere", "file")
STATS = ("weights", "inputs", "joint")
METHODS = ("auto", "explicit", "implicit", "hybrid")
DEVICES = ("auto", "cpu", "gpu", "jax")
ACCEL_DISTS = ("normal", "uniform")  # the laws the accelerator path draws
# Deepest sweep: beyond it 2^-H, and the variance of F (about 4^-H), leave float64's normal range, so
# estimates, standard errors and z-scores would print as 0, 0 and NaN; ntkpaths does not work in log space.
MAX_DEPTH = int(-np.log2(np.finfo(np.float64).tiny)) // 2
INPUT_RANGE = (1e-30, 1e30)  # largest |x| of an input file: beyond it float32 activations overflow or vanish
MAX_REDUCED_DEPTH = 16  # 4 controls per layer: beyond this the regression needs thousands of networks
MIN_NETS = 100  # fewest networks before a relative-se target may stop a cell: se from fewer is unreliable
DEFAULT_ANGLES = tuple(math.pi * f for f in (1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 7 / 8))


_ANGLE = re.compile(r"^(?P<coef>[0-9]*\.?[0-9]*)\s*\*?\s*pi\s*(?:/\s*(?P<den>[0-9]*\.?[0-9]+))?$")


def parse_angles(text: str) -> tuple[float, ...]:
    """Angles as numbers of radians or fractions of pi such as 'pi/4', '3pi/4' or '0.5*pi'."""
    out = []
    for item in (v.strip() for v in text.split(",") if v.strip()):
        out.append(_parse_angle(item))
    return tuple(out)


def _parse_angle(item: str) -> float:
    bad = ConfigError(f"angles must be radians or fractions of pi like 3pi/4, got {item!r}")
    match = _ANGLE.match(item.lower())
    try:
        if match is None:
            return float(item)
        coef = float(match["coef"]) if match["coef"] else 1.0
        den = float(match["den"]) if match["den"] else 1.0
    except ValueError:
        raise bad from None
    if den == 0:
        raise bad
    return math.pi * coef / den


@dataclass(frozen=True)
class NetworkConfig:
    """How one bias-free (by default) fully connected ReLU network is drawn.

    Parameters
    ----------
    init : {"he-fan-in", "he-fan-out", "ntk"}
        ``he-fan-in`` draws W_l ~ N(0, gain^2 / n_{l-1}); ``he-fan-out`` uses
        gain^2 / n_l; ``ntk`` draws N(0, 1) and scales by gain / sqrt(n_{l-1})
        in the forward pass.
    gain : float
        sqrt(2) is He's choice.
    weight_dist : {"normal", "uniform", "orthogonal", "student-t", "sparse"}
        Every distribution is scaled to the same variance as the normal
        weights. ``orthogonal`` draws a Haar (semi-)orthogonal matrix per
        layer (Saxe et al., 2014); ``student-t`` has ``weight_df`` degrees of
        freedom (heavy tails); ``sparse`` keeps each weight with probability
        ``weight_density`` and is zero otherwise (Martens, 2010).
    bias_std, bias_mean : float
        Biases b_l ~ N(bias_mean, bias_std^2); both 0 means no bias.
    weight_mean : float
        Mean of the weights in units of their std (0 for every standard init).
    weight_df : float
        Degrees of freedom of ``student-t`` weights (> 2, so the variance exists).
    weight_density : float
        Fraction of non-zero ``sparse`` weights, in (0, 1].
    dtype : {"float32", "float64"}
    n_out : int
        Width of the linear output layer (it never changes which paths are active).
    """

    init: str = "he-fan-in"
    gain: float = math.sqrt(2.0)
    weight_dist: str = "normal"
    bias_std: float = 0.0
    bias_mean: float = 0.0
    weight_mean: float = 0.0
    weight_df: float = 3.0
    weight_density: float = 0.1
    dtype: str = "float32"
    n_out: int = 1

    def __post_init__(self) -> None:
        _choice("init", self.init, INITS)
        _choice("weight distribution", self.weight_dist, WEIGHT_DISTS)
        _choice("dtype", self.dtype, DTYPES)
        for name in ("gain", "bias_std", "bias_mean", "weight_mean", "weight_df", "weight_density"):
            _finite(name, getattr(self, name))
        _require(self.gain > 0, f"gain must be > 0, got {self.gain!r}")
        _require(self.weight_df > 2, f"weight_df must be > 2 (finite variance), got {self.weight_df!r}")
        _require(0 < self.weight_density <= 1, f"weight_density must lie in (0, 1], got {self.weight_density!r}")
        _require(self.bias_std >= 0, f"bias_std must be >= 0, got {self.bias_std!r}")
        _positive_int("n_out", self.n_out)

    @property
    def has_bias(self) -> bool:
        return self.bias_std > 0 or self.bias_mean != 0

    @property
    def gaussian_theory_note(self) -> str | None:
        """Why the Gaussian closed forms (weight slope, arc-cosine joint) do not apply, or None."""
        why = []
        if self.weight_dist != "normal":
            why.append(f"{self.weight_dist} weights")
        if self.has_bias:
            why.append("biases")
        if self.weight_mean:
            why.append("a non-zero weight mean")
        if not why:
            return None
        return ("NaN: the prediction assumes bias-free, zero-mean Gaussian weights; "
                f"this network has {' and '.join(why)}")

    def law_key(self) -> tuple:
        """Equal keys mean identical activation patterns in law.

        Without biases, a positive factor per layer (init, gain, the ntk
        forward scale) changes no activation, so only the weights' shape of
        law matters. With biases, what matters is the bias in units of the
        weight scale, which fan-out init changes at the first layer.
        """
        shape = (self.weight_dist, self.weight_mean,
                 self.weight_df if self.weight_dist == "student-t" else None,
                 self.weight_density if self.weight_dist == "sparse" else None)
        if not self.has_bias:
            return shape
        fan = "fan-out" if self.init == "he-fan-out" else "fan-in"
        return (*shape, fan, self.bias_mean / self.gain, self.bias_std / self.gain)

    def weight_std(self, fan_in: int, fan_out: int) -> float:
        """Standard deviation of the effective weights of one layer."""
        fan = fan_out if self.init == "he-fan-out" else fan_in
        return self.gain / math.sqrt(fan)


@dataclass(frozen=True)
class InputConfig:
    """The fixed set of inputs every network is evaluated on (their dimension is swept).

    Parameters
    ----------
    kind : {"uniform", "gaussian", "sphere", "file"}
        ``uniform`` draws from [-scale, scale]^dim (the paper's bounded inputs),
        ``gaussian`` from N(0, scale^2 I), ``sphere`` from the sphere of radius
        ``scale``; ``file`` reads ``path`` (.npy or .csv, one input per row).
    count : int
        Number of inputs B (taken from the file for ``file``).
    scale : float
    path : str or None
    """

    kind: str = "uniform"
    count: int = 8
    scale: float = 1.0
    path: str | None = None
    sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _choice("input kind", self.kind, INPUT_KINDS)
        _positive_int("inputs per network", self.count)
        _finite("input scale", self.scale)
        _require(self.scale > 0, f"input scale must be > 0, got {self.scale!r}")
        _require((self.kind == "file") == (self.path is not None),
                 "an input file is given exactly when the input kind is 'file'")

    @classmethod
    def from_file(cls, path: str | Path) -> tuple["InputConfig", np.ndarray]:
        """Read and check an input file; return its config and the inputs (B, d)."""
        x = read_inputs(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        cfg = cls(kind="file", count=x.shape[0], path=str(path), sha256=digest)
        return cfg, x


def read_inputs(path: str | Path) -> np.ndarray:
    """Load inputs from ``.npy`` or ``.csv``, one input per row, as float64 (B, d)."""
    path = Path(path)
    _require(path.suffix in (".npy", ".csv"), f"input file {path} must end in .npy or .csv")
    try:
        if path.suffix == ".npy":
            check_format(path, "input", ".npy")
            x = np.load(path, allow_pickle=False)
        elif path.stat().st_size == 0:
            raise ConfigError(f"input file {path} is empty")
        else:
            x = np.loadtxt(path, delimiter=",", ndmin=2)
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"cannot read input file {path}: {_reason(exc)}") from None
    _require(x.size > 0, f"input file {path} is empty")
    _require(x.ndim == 2, f"input file {path} must hold a 2-D array (inputs, features), got shape {x.shape}")
    _require(np.issubdtype(x.dtype, np.number), f"input file {path} must hold numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    _require(bool(np.isfinite(x).all()), f"input file {path} holds NaN or infinite values")
    biggest = float(np.abs(x).max())
    _require(biggest == 0 or INPUT_RANGE[0] <= biggest <= INPUT_RANGE[1],
             f"input file {path} holds values of size {biggest:.3g}, which overflow or vanish in the "
             "activations (float32 by default); rescale the inputs (a bias-free network's activation "
             "pattern does not depend on their scale)")
    return x


@dataclass(frozen=True)
class SweepConfig:
    """A sweep over hidden widths, with every depth 1..depth from shared networks.

    Parameters
    ----------
    depth : int
        Largest number of hidden layers H_max; depth H uses the first H layers.
    widths : tuple of int
        Hidden widths (all hidden layers of a network share one width).
    nets : int
        Networks drawn per width.
    seed : int or None
        Root of the SeedSequence; None draws fresh entropy (recorded in attrs).
    nets_per_task : int
        Networks per dask task. Results do not depend on it.
    network, inputs : NetworkConfig, InputConfig
    input_dims : tuple of int
        Input dimensions d, a sweep axis.
    angles : tuple of float
        Angles (radians) of the input pairs for the joint activation.
    stats : tuple of str
        Statistics beyond P(path active): "weights" (Theorem 2), "inputs"
        (Theorem 3, input-weight product) and "joint" (input pairs).
    method : {"auto", "explicit", "implicit", "hybrid"}
        ``explicit`` draws every weight matrix (edge statistics are exact sums
        over all edges); ``implicit`` draws activations from their exact
        conditional law (normal or orthogonal weights) and, for normal
        weights, tracks one weight per neuron. ``hybrid`` (with ``rel_se``
        and the "weights" statistic) draws a cell's first networks explicitly
        until E[t_l | Z=1] reaches the target at every layer, and the rest
        implicitly, for P(path active) and the joint activation only, until
        those reach it: each statistic from the sampler that reaches its
        precision soonest (implicit edge statistics cost ~1000x the networks
        of exact sums; implicit networks cost 12-300x less). ``auto`` is
        hybrid when that applies, explicit when edge statistics are asked for
        without a target or the implicit sampler cannot draw the weights'
        law, and implicit otherwise.
    device : {"auto", "cpu", "gpu", "jax"}
        ``cpu`` is the numpy reference; ``gpu`` draws and counts explicit
        networks as jit-compiled JAX on an accelerator (``ntkpaths.accel``);
        ``jax`` is the same code on whatever JAX's default device is (the CPU
        backend on a machine without one; for tests). ``auto`` is ``gpu``
        when JAX sees an accelerator, else ``cpu``. CPU and accelerator
        streams differ, so they agree in distribution, not draw by draw.
    rel_se : float or None
        If set, each cell draws networks until the relative standard error of
        p_active at the largest depth falls to ``rel_se`` (at least ``MIN_NETS``
        networks, at most ``max_nets``); ``nets`` is then unused.
    max_nets : int
    reduce : bool
        Reduce the variance of the joint activation and of E[t_l | Z=1] with
        control variates whose means are exact (:mod:`ntkpaths.reduce`),
        where they apply (:attr:`reduction_note`).
    """

    depth: int = 8
    widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    nets: int = 1000
    seed: int | None = None
    nets_per_task: int = 100
    network: NetworkConfig = NetworkConfig()
    inputs: InputConfig = InputConfig()
    input_dims: tuple[int, ...] = (64,)
    angles: tuple[float, ...] = DEFAULT_ANGLES
    stats: tuple[str, ...] = STATS
    method: str = "auto"
    rel_se: float | None = None
    max_nets: int = 10_000
    device: str = "cpu"
    reduce: bool = True

    def __post_init__(self) -> None:
        _positive_int("depth", self.depth)
        _require(self.depth <= MAX_DEPTH, f"depth {self.depth} is too deep: beyond depth {MAX_DEPTH}, 2^-H and the "
                                          "variance of F (~4^-H) underflow float64 (ntkpaths does not compute in "
                                          "log space)")
        _require(len(self.input_dims) > 0, "give at least one input dim")
        for d in self.input_dims:
            _positive_int("input dim", d)
        _require(len(set(self.input_dims)) == len(self.input_dims), f"input dims repeat: {list(self.input_dims)}")
        _require(self.inputs.kind != "file" or len(self.input_dims) == 1,
                 "an input file fixes the input dim; give no other input dims")
        for a in self.angles:
            _require(isinstance(a, (int, float)) and 0 < a <= math.pi, f"angles must lie in (0, pi], got {a!r}")
        for stat in self.stats:
            _choice("statistic", stat, STATS)
        _require("joint" not in self.stats or len(self.angles) > 0, "the joint statistic needs at least one angle")
        _require("joint" not in self.stats or min(self.input_dims) >= 2,
                 "input pairs need input dim >= 2 (at d = 1 every input lies at angle 0 or pi to another); "
                 "drop 'joint' from --stats")
        _choice("method", self.method, METHODS)
        dist = self.network.weight_dist
        _require(self.method != "implicit" or dist in IMPLICIT_DISTS,
                 f"the implicit method needs normal or orthogonal weights; use --method explicit for {dist} weights")
        _require(self.method != "implicit" or dist == "normal" or not any(s in self.stats for s in ("weights", "inputs")),
                 f"the implicit method tracks edge weights only for normal weights; use --method explicit "
                 f"for edge statistics of {dist} weights")
        _require(self.method != "hybrid" or (self.rel_se is not None and "weights" in self.stats and dist == "normal"),
                 "the hybrid method needs --rel-se, the 'weights' statistic and normal weights")
        self._check_device()
        _require(self.rel_se is None or (isinstance(self.rel_se, (int, float)) and 0 < self.rel_se < 1),
                 f"rel_se must lie in (0, 1), got {self.rel_se!r}")
        _positive_int("max nets", self.max_nets)
        _require(isinstance(self.reduce, bool), f"reduce must be true or false, got {self.reduce!r}")
        _require(self.rel_se is None or self.max_nets >= MIN_NETS, f"max nets must be >= {MIN_NETS} with a rel-se target")
        object.__setattr__(self, "input_dims", tuple(sorted(int(d) for d in self.input_dims)))
        object.__setattr__(self, "angles", tuple(float(a) for a in self.angles))
        object.__setattr__(self, "stats", tuple(s for s in STATS if s in self.stats))
        _require(len(self.widths) > 0, "give at least one width")
        for w in self.widths:
            _positive_int("width", w)
        _require(len(set(self.widths)) == len(self.widths), f"widths repeat: {list(self.widths)}")
        _positive_int("nets", self.nets)
        _positive_int("nets per task", self.nets_per_task)
        _require(self.seed is None or (isinstance(self.seed, int) and self.seed >= 0),
                 f"seed must be an integer >= 0, got {self.seed!r}")
        object.__setattr__(self, "widths", tuple(sorted(int(w) for w in self.widths)))

    def _check_device(self) -> None:
        _choice("device", self.device, DEVICES)
        if self.device in ("cpu", "auto"):
            return
        net = self.network
        _require(net.dtype == "float32", "the accelerator path draws float32 weights only; use --dtype float32 "
                                         "or --device cpu")
        _require(net.weight_dist in ACCEL_DISTS, f"the accelerator path draws normal or uniform weights; use "
                                                 f"--device cpu for {net.weight_dist} weights")
        _require(self.method in ("auto", "explicit"), f"the accelerator path draws explicit weights; use "
                                                      f"--device cpu for the {self.method} method")

    @property
    def sampler(self) -> str:
        """The method actually used: ``auto`` resolved (always explicit on an accelerator)."""
        if self.device in ("gpu", "jax"):
            return "explicit"
        if self.method != "auto":
            return self.method
        edges = any(s in self.stats for s in ("weights", "inputs"))
        if "weights" in self.stats and self.rel_se is not None and self.network.weight_dist == "normal":
            return "hybrid"
        return "explicit" if edges or self.network.weight_dist not in IMPLICIT_DISTS else "implicit"

    @property
    def sampler_reason(self) -> str:
        """Why :attr:`sampler` is what it is, in one sentence (recorded in the dataset's attrs)."""
        if self.device in ("gpu", "jax"):
            return "explicit on the accelerator: every weight drawn and counted on the device"
        if self.method != "auto":
            return f"{self.method}, as asked"
        return {"hybrid": "hybrid: E[t_l|Z=1] from exact sums over explicit networks (tracked edges need ~1000x "
                          "the networks for the same se), P(path active) and joint activation from implicit "
                          "networks (the same law, 12-300x cheaper each)",
                "implicit": "implicit: no edge statistics, and the implicit sampler draws the same activations "
                            "without weight matrices",
                "explicit": "explicit: edge statistics as exact sums over every edge, or weights the implicit "
                            "sampler cannot draw"}[self.sampler]

    @property
    def reduction_note(self) -> str | None:
        """Why the variance-reduced estimators do not apply to this sweep, or None when they do."""
        if not self.reduce:
            return "plain estimators, as asked (--no-reduce)"
        if self.device in ("gpu", "jax"):
            return "plain estimators: the accelerator path records no control variates"
        if self.network.gaussian_theory_note is not None:
            return ("plain estimators: the controls' exact means assume bias-free, zero-mean Gaussian weights; "
                    + self.network.gaussian_theory_note.split("; ", 1)[1])
        if self.depth > MAX_REDUCED_DEPTH:
            return f"plain estimators: beyond depth {MAX_REDUCED_DEPTH} the regression would need too many networks"
        return None

    @property
    def reduces(self) -> bool:
        """Whether tasks record control variates (the joint or weights statistic, and they apply)."""
        return self.reduction_note is None and any(s in self.stats for s in ("joint", "weights"))

    @property
    def network_slots(self) -> int:
        """Length of the network dimension: ``nets``, or ``max_nets`` with a rel-se target."""
        return self.nets if self.rel_se is None else self.max_nets

    def to_dict(self) -> dict:
        """Plain, JSON-able form (for dataset attrs)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SweepConfig":
        d = dict(d)
        d["network"] = NetworkConfig(**d.get("network", {}))
        d["inputs"] = InputConfig(**d.get("inputs", {}))
        for key in ("widths", "input_dims", "angles", "stats"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)
