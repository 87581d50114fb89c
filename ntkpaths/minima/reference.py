"""Published reference values the census is compared with, with their sources.

Safran & Shamir (2018), "Spurious local minima are common in two-layer ReLU
neural networks", ICML, PMLR 80:4433-4441 (arXiv:1712.08968), report in their
experiments section the percentage of gradient-descent runs (Xavier
initialisation) that converged to a spurious local minimum for n = k,
k = 6..20, and for n = k + 1, k + 2. This package could not retrieve that
table from a source it can cite, so ``PUBLISHED`` is empty and the study's
cell-by-cell comparison reports itself untestable instead of comparing with
numbers typed from memory. Add a cell as ``(k, n - k): (percent, runs)``
with its source to enable the comparison.

The descent follows the protocol that Safran, Yehudai & Shamir (COLT 2021,
"The effects of mild over-parameterization on the optimization landscape of
shallow ReLU neural networks") publish with their code: a standard Xavier
initialisation, a fixed step size 5/k (here 5/n, equal at n = k) and
gradient descent until |grad| <= 1e-12 (here ``grad_tol``).
"""
from __future__ import annotations

CITATION = ("I. Safran and O. Shamir, Spurious local minima are common in two-layer ReLU neural networks, "
            "ICML 2018, PMLR 80:4433-4441, arXiv:1712.08968")
PROTOCOL_CITATION = ("I. Safran, G. Yehudai and O. Shamir, The effects of mild over-parameterization on the "
                     "optimization landscape of shallow ReLU neural networks, COLT 2021 (code README: Xavier "
                     "initialisation, step size 5/k, |grad| <= 1e-12)")

# (k, extra) -> (percent of runs ending at a spurious minimum, runs per cell); empty: not retrieved (see above)
PUBLISHED: dict[tuple[int, int], tuple[float, int]] = {}
