"""The verdict vocabulary: limits tested as trends, bounds one-sided, predictions two-sided, and no
committed report comparing a finite-width limit quantity with an exact constant."""
import re
from pathlib import Path

import numpy as np
import pytest

from ntkpaths import verdict

WIDTHS = np.array([64.0, 128, 256, 512, 1024, 2048])
REPORTS = sorted(Path(__file__).parent.parent.glob("data/*/report.md"))


def noisy(values: np.ndarray, rel_se: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of a Monte Carlo estimate: the truth plus Gaussian noise of the stated relative se."""
    se = rel_se * values
    return values + np.random.default_rng(seed).normal(size=values.shape) * se, se


@pytest.mark.parametrize("seed", range(5))
def test_a_quantity_that_vanishes_with_width_agrees_and_one_that_plateaus_disagrees(seed):
    """Synthetic flip fractions: c n^-1/2 vanishes; c (1 + n^-1/2) tends to c > 0. The plateau is far
    from 0 at every width, which the old test (z against 0 per width) also caught; here it fails for
    the right reason: its exponent is not significantly below 0."""
    y, se = noisy(0.5 * WIDTHS ** -0.5, 0.03, seed)
    row = verdict.vanishes("vanishes", "synthetic", WIDTHS, y, se)
    assert row.kind == "limit" and row.outcome == "agrees", row
    y, se = noisy(0.05 * (1 + WIDTHS ** -0.5), 0.03, seed)
    row = verdict.vanishes("plateaus", "synthetic", WIDTHS, y, se)
    assert row.outcome == "disagrees", row
    # the same vanishing quantity can never fail against 0 at one width the old way, nor pass: it is
    # simply not tested that way: no limit row's statistic is a z against a constant
    assert "exponent" in row.statistic and "against 0" not in row.statistic


def test_a_quantity_indistinguishable_from_zero_agrees_without_a_fit():
    se = np.full(len(WIDTHS), 0.01)
    y = np.random.default_rng(1).normal(size=len(WIDTHS)) * se
    row = verdict.vanishes("noise", "synthetic", WIDTHS, np.abs(y) * 0.1, se)
    assert row.outcome == "agrees" and "indistinguishable from 0" in row.measured


def test_a_one_sided_bound_agrees_with_a_faster_decay_and_disagrees_with_a_slower_one():
    faster = verdict.fit_power_law(WIDTHS, *noisy(WIDTHS ** -0.82, 0.02, 3))
    slower = verdict.fit_power_law(WIDTHS, *noisy(WIDTHS ** -0.3, 0.02, 3))
    assert verdict.rate_bound("b", "s", faster, -0.5, "Lee et al. 2019").outcome == "agrees"
    assert verdict.rate_bound("b", "s", slower, -0.5, "Lee et al. 2019").outcome == "disagrees"
    # the same faster decay is a two-sided disagreement with a predicted -1/2: a bound is not a prediction
    assert verdict.rate_prediction("p", "s", faster, -0.5, "a source").outcome == "disagrees"
    assert verdict.rate_prediction("p", "s", faster, -0.82, "a source").outcome == "agrees"


def test_a_deviation_that_shrinks_agrees_and_one_that_stays_disagrees():
    assert verdict.deviation_shrinks("c", "s", -0.3, 0.01, -0.05, 0.01).outcome == "agrees"
    assert verdict.deviation_shrinks("c", "s", -0.3, 0.01, -0.01, 0.01).outcome == "agrees"    # vanished
    assert verdict.deviation_shrinks("c", "s", -0.3, 0.01, -0.29, 0.01).outcome == "disagrees"  # plateau
    assert verdict.deviation_shrinks("c", "s", -0.1, 0.01, -0.3, 0.01).outcome == "disagrees"   # grows


def test_the_weight_exponent_is_compared_with_the_exact_law_over_the_same_widths():
    """Data that follow theory.weight_slope exactly, with small errors: the fitted exponent is about
    -0.505 over 16..1024, so a test against -1/2 would fail once the errors are small enough; the
    prediction row compares with the exact law's own fitted exponent and agrees, and the -1/2 limit
    row sees the local exponent approach -1/2."""
    import xarray as xr

    from ntkpaths import theory

    widths = np.array([16, 32, 64, 128, 256, 512, 1024])
    exact = theory.weight_slope(widths)
    se = 2e-4 * exact
    fit = verdict.fit_power_law(widths.astype(float), exact, se)
    assert fit.exponent < -0.5 - 3 * fit.exponent_se    # the finite-width law is not -1/2 at this precision
    y = exact + np.random.default_rng(4).normal(size=len(widths)) * se
    ds = xr.Dataset({"weight_slope": (("width", "layer"), np.stack([y, y], 1)),
                     "weight_slope_se": (("width", "layer"), np.stack([se, se], 1)),
                     "weight_slope_theory": (("width", "layer"), np.stack([exact, exact], 1))},
                    coords={"width": widths, "layer": [1, 2]})
    rows = verdict.weight_exponent(ds)
    assert [r.kind for r in rows] == ["prediction", "limit"]
    assert all(r.outcome == "agrees" for r in rows), rows
    assert "-0.5 (" not in rows[0].prediction


def test_verdict_rejects_an_unknown_kind_or_outcome():
    with pytest.raises(ValueError):
        verdict.Verdict("c", "w", "m", "p", "s", "agrees", kind="hunch")
    with pytest.raises(ValueError):
        verdict.Verdict("c", "w", "m", "p", "s", "maybe")


# ------------------------------------------------------------ committed reports
# Claims that are limits in width (or input dimension): their quantity is nonzero at every finite size.
LIMIT_WORDS = ("stay fixed", "stays fixed", "-> 0", "-> 1", "-> -1/2", "as a limit", "in the limit",
               "infinite-width")
# the statistics a trend test writes: an exponent's z, a deviation's shrinkage, or (agreeing only) a
# quantity indistinguishable from 0 at every width
TREND = re.compile(r"^z = exponent / se = |z of the shrinkage = |^max y / se = |^untestable")


def _rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| claim |")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def test_every_committed_report_types_its_rows():
    """A report rendered before rows had types would escape the check below."""
    assert REPORTS and all("| claim | type |" in p.read_text() for p in REPORTS)


def violations(text: str) -> list[tuple[str, str]]:
    """(claim, why) for every row of a report's verdict table that breaks the vocabulary's rules."""
    out = []
    for claim, kind, _, measured, prediction, statistic, _ in _rows(text):
        if any(word in claim for word in LIMIT_WORDS) and kind != "limit":
            out.append((claim, f"a limit claim typed {kind}"))
        if kind == "limit":
            if not TREND.search(statistic):
                out.append((claim, f"a limit tested by {statistic!r}, not by a trend"))
            elif not ("exponent" in measured or "deviation" in measured or "indistinguishable" in measured
                      or statistic.startswith("untestable")):
                out.append((claim, "a limit row without its exponent or deviation"))
        elif TREND.search(statistic) and not statistic.startswith("untestable"):
            out.append((claim, f"a trend statistic on a {kind} row"))
        if kind == "bound" and not ("one-sided" in statistic or "outside the bounds" in statistic
                                    or statistic.startswith("untestable")):
            out.append((claim, "a bound tested two-sided"))
        if kind == "prediction" and "(" not in prediction:
            out.append((claim, "a prediction without its source"))
    return out


def test_the_check_catches_the_rows_the_issue_named():
    """The old Theorem-5 rows: a limit tested against 0 at each width, a bound tested two-sided."""
    old = ("| claim | type | conditions | measured ± se | prediction | statistic | verdict |\n|---|---|---|---|---|---|---|\n"
           "| Theorem 5: the empirical NTK stays fixed | prediction | depth 1 | 0.0224 | 0 | z = 32.0..79.9 | **disagrees** |\n"
           "| Theorem 5 as a limit: NTK change -> 0 | limit | depth 1 | 0.0224 | 0 | z = 32.0 (threshold 3.14) | **disagrees** |\n"
           "| NTK change is O(width^-1/2) | bound | depth 1 | exponent -0.82 | -0.5 (Lee) | z = -19.2 (threshold 2.58) | **disagrees** |\n"
           "| Flip fraction shrinks as width^-1/2 | prediction | depth 1 | exponent -0.42 | -0.5 | z = 14.4 | **disagrees** |\n")
    found = [why for _, why in violations(old)]
    assert found == ["a limit claim typed prediction", "a prediction without its source", "a limit tested by 'z = 32.0 (threshold 3.14)', not by a trend",
                     "a bound tested two-sided", "a prediction without its source"]


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.parent.name)
def test_no_committed_report_compares_a_limit_with_an_exact_constant(path):
    """Every row whose claim is a limit is typed limit and tested by a trend (an exponent or a
    shrinking deviation); every prediction names its source; bounds are one-sided."""
    text = path.read_text()
    assert _rows(text)
    assert violations(text) == []
