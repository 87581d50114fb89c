"""Published reference values the census is compared with, with their sources.

n = k (k = 6..30): the census of Safran, Yehudai & Shamir (COLT 2021, "The
effects of mild over-parameterization on the optimization landscape of
shallow ReLU neural networks", arXiv:2006.01005), published as data with
their code: repository https://github.com/ItaySafran/Overparameterization,
file ``Processed minima.zip`` (added in commit
c6b118a0ec9c5e066a8276db57042877a99811dd; protocol in its README). Protocol:
for each n = k, 500 runs of gradient descent on the same population loss,
each from an independent Gaussian start W ~ N(0, 1/k), fixed step 5/k,
until |grad| <= 1e-12; every point found is stored once per family (up to
permutations of neurons and coordinates) with its multiplicity, a compact
form (vals, p) and its Hessian's smallest eigenvalue. ``PUBLISHED`` holds,
per cell, the runs that ended at a spurious minimum (every point other than
the global minimum, p == [k]) and the runs; ``tools/safran_reference.py``
regenerates it from the zip. These are their measurements, to be compared
with ours by a two-sample test (both are binomial counts), not expected
values of ours.

n = k + 1 and k + 2: Safran & Shamir (ICML 2018, "Spurious local minima are
common in two-layer ReLU neural networks", arXiv:1712.08968) tabulate those
cells in their experiments section; this package could not retrieve that
table from a source it can cite, so those cells are absent rather than typed
from memory.

Our descent differs from theirs in two ways: the stopping rule (|grad| <=
grad_tol, 1e-8 by default, and loss <= loss_tol), and the start: their code
(``local_minima.py``) draws W ~ N(0, 1/k), which its comment calls Xavier,
where ntkpaths draws Xavier-uniform U[-b, b], b = sqrt(6 / (d + n)): the same
variance at n = k, a different distribution. The step (5/n, their 5/k at
n = k) and the arithmetic (float64) are theirs. Our n = k fractions are lower
than theirs from k = 9 on (README), with the same families of minima; from
their Gaussian start (``tools/safran_gaussian_start.py``) they agree.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CITATION = ("I. Safran, G. Yehudai and O. Shamir, The effects of mild over-parameterization on the "
            "optimization landscape of shallow ReLU neural networks, COLT 2021, arXiv:2006.01005; data: "
            "github.com/ItaySafran/Overparameterization, 'Processed minima.zip' (commit c6b118a)")
SOURCE = "(Safran, Yehudai & Shamir 2021, published data)"
PROTOCOL_CITATION = ("I. Safran, G. Yehudai and O. Shamir, COLT 2021 (code README: 500 runs per k, Xavier "
                     "initialisation, step size 5/k, |grad| <= 1e-12)")
ICML_CITATION = ("I. Safran and O. Shamir, Spurious local minima are common in two-layer ReLU neural networks, "
                 "ICML 2018, PMLR 80:4433-4441, arXiv:1712.08968 (n = k + 1, k + 2: not available here)")

# (k, n - k) -> (runs ending at a spurious minimum, runs), from tools/safran_reference.py --k 6 30 --python
PUBLISHED: dict[tuple[int, int], tuple[int, int]] = {
    (6, 0): (0, 500),
    (7, 0): (27, 500),
    (8, 0): (57, 500),
    (9, 0): (111, 500),
    (10, 0): (160, 500),
    (11, 0): (237, 500),
    (12, 0): (269, 500),
    (13, 0): (335, 500),
    (14, 0): (352, 500),
    (15, 0): (390, 500),
    (16, 0): (436, 500),
    (17, 0): (451, 500),
    (18, 0): (448, 500),
    (19, 0): (472, 500),
    (20, 0): (471, 500),
    (21, 0): (483, 500),
    (22, 0): (488, 500),
    (23, 0): (493, 500),
    (24, 0): (493, 500),
    (25, 0): (493, 500),
    (26, 0): (497, 500),
    (27, 0): (498, 500),
    (28, 0): (498, 500),
    (29, 0): (499, 500),
    (30, 0): (498, 500),
}

# One published spurious minimum, k = n = 7 (the file's 'Processed minima k=7.p', second entry; 27 of 500
# runs): compact form and its Hessian's smallest eigenvalue as published.
K7_SPURIOUS = {"vals": [[-0.6327039049, 0.2616910758, 0.0], [0.1859910463, 0.9969227988, -0.0350801559]],
               "p": [1, 6], "min_eig": 0.014059013182513933}


@dataclass(frozen=True)
class Family:
    """One published point: how many of the runs found it, its compact form, its smallest Hessian eigenvalue."""

    multiplicity: int
    vals: np.ndarray
    p: np.ndarray
    min_eig: float

    def is_global(self, k: int) -> bool:
        return list(np.atleast_1d(self.p)) == [k]


def expand(vals, p) -> np.ndarray:
    """The student W (unit, coord) of a compact published point.

    Their matrix M has blocks of sizes p along both axes: M[i, i] = vals[b, b]
    on the diagonal of block b, vals[b, -1] elsewhere in block (b, b), and
    vals[b, c] in block (b, c). Their rows are coordinates: W = M^T (checked:
    our gradient there is their published gradient norm, ~1e-10, and our
    Hessian's smallest eigenvalue is their ``min_eig``).
    """
    vals, p = np.atleast_2d(np.asarray(vals, dtype=np.float64)), np.asarray(p, dtype=int)
    block = np.repeat(np.arange(len(p)), p)
    m = np.where(block[:, None] == block[None, :], vals[block, -1][:, None], vals[block[:, None], block[None, :]])
    np.fill_diagonal(m, vals[block, block])
    return m.T.copy()


class _Minimum:
    """Stands in for the authors' ``Minimum`` class: keeps the pickled attributes, runs none of their code."""

    def __setstate__(self, state):
        self.__dict__.update(state)


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {("numpy", "dtype"), ("numpy", "ndarray"),
                *((m, f) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for f in ("_reconstruct", "scalar"))}

    def find_class(self, module, name):
        if name == "Minimum":
            return _Minimum
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the published file")
        return super().find_class(module, name)


def read_published(path: str | Path, k: int) -> list[Family]:
    """The families of ``Processed minima k=K.p`` inside the zip at ``path`` (a local copy)."""
    with zipfile.ZipFile(path) as z:
        raw = z.read(f"Processed minima k={k}.p")
    return [Family(int(m.multiplicity), np.asarray(m.vals), np.atleast_1d(np.asarray(m.p)), float(m.min_eig))
            for m in _Unpickler(io.BytesIO(raw)).load()]


def counts(families: list[Family], k: int) -> tuple[int, int]:
    """(runs, runs ending anywhere but the global minimum) of one published cell."""
    runs = sum(f.multiplicity for f in families)
    return runs, runs - sum(f.multiplicity for f in families if f.is_global(k))
