"""Training and test sets of one run: drawing, labels and input normalisation.

Every run draws its own disjoint training and test subsets (or, for the
teacher task, its own inputs and teacher network) from its generator. Inputs
are centred per feature with the training mean, then each input is scaled to
norm sqrt(d), so hidden pre-activations are O(1) at every width.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .. import sample
from ..config import InputConfig, NetworkConfig, TrainConfig, read_npz
from ..allpaths import forward

TEACHER_DIM = 64             # input dimension of the teacher task
TEACHER_WIDTHS = (64, 64)    # hidden widths of the teacher network (one output)


@dataclass(frozen=True)
class TrainData:
    """The samples of one run, inputs normalised.

    Attributes
    ----------
    x_train : ndarray (sample, feature)
    y_train : ndarray (sample, output)
        One-hot rows for classification data.
    x_test : ndarray (test_sample, feature)
    y_test : ndarray (test_sample, output)
    classification : bool
        Targets are one-hot classes (accuracy is measured).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classification: bool

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_out(self) -> int:
        return self.y_train.shape[1]


def draw_data(cfg: TrainConfig, *, rng: np.random.Generator) -> TrainData:
    """The training and test sets of one run of ``cfg``."""
    if cfg.data == "teacher":
        return _draw_teacher(cfg.n_train, cfg.n_test, rng=rng)
    x, y, classification = load_pool(cfg.data)
    n_test = min(cfg.n_test, len(x) - cfg.n_train)
    train, test = sample.sample_split(len(x), [cfg.n_train, n_test], rng=rng)
    x_train, x_test = normalise(x[train], x[test])
    return TrainData(x_train, y[train], x_test, y[test], classification)


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data.astype(np.float64), bunch.target
    x.setflags(write=False)   # cached and shared by every run
    y.setflags(write=False)
    return x, y


def load_pool(data: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Every sample of a named or .npz data set.

    Returns
    -------
    x : ndarray (sample, feature), float64
    y : ndarray (sample, output), float64; one-hot for class labels
    classification : bool
    """
    x, y = _digits() if data == "digits" else read_npz(data)
    if y.ndim == 1:
        return x, one_hot(y), True
    return x, y, False


def one_hot(labels: np.ndarray) -> np.ndarray:
    """(sample,) labels -> (sample, class) one-hot float64, classes the sorted distinct labels."""
    classes, index = np.unique(labels, return_inverse=True)
    out = np.zeros((len(labels), len(classes)))
    out[np.arange(len(labels)), index] = 1.0
    return out


def normalise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre every feature on the training mean, then scale each input to norm sqrt(d).

    A zero row (after centring) stays zero. Both arrays are (sample, feature).
    """
    mean = x_train.mean(axis=0)
    return _to_sphere(x_train - mean), _to_sphere(x_test - mean)


def _to_sphere(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x * (math.sqrt(x.shape[1]) / np.where(norm > 0, norm, 1.0))


def _draw_teacher(n_train: int, n_test: int, *, rng: np.random.Generator) -> TrainData:
    """Uniform inputs as sweeps draw them; targets from a random bias-free He ReLU network.

    The teacher sees the normalised inputs, as the student does, so its
    outputs are O(1); train and test inputs come from the same draw.
    """
    x = sample.sample_inputs(InputConfig(count=n_train + n_test), TEACHER_DIM, rng=rng)
    teacher = sample.sample_network(NetworkConfig(dtype="float64"), TEACHER_DIM, TEACHER_WIDTHS, rng=rng)
    x_train, x_test = normalise(x[:n_train], x[n_train:])
    return TrainData(x_train, forward(teacher, x_train)[1], x_test, forward(teacher, x_test)[1], False)
