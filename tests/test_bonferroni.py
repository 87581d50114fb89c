"""The Theorem-1 verdict's threshold is Bonferroni-corrected over the cells it tests: checked on the
threshold itself and on hand-built datasets whose max |z| lies between the uncorrected and the
corrected threshold."""
import numpy as np
import pytest
import xarray as xr
from scipy.stats import norm

from ntkpaths import verdict

WIDTHS, DEPTHS = (16, 32, 64, 128), (1, 2, 3, 4, 5)
M = len(WIDTHS) * len(DEPTHS)


@pytest.mark.parametrize("m", [1, 2, 20, 1000])
def test_threshold_is_the_two_sided_bonferroni_quantile(m):
    assert verdict.z_critical(0.01, m) == pytest.approx(norm.isf(0.01 / (2 * m)), rel=1e-9)


def _dataset(worst_z: float) -> xr.Dataset:
    """20 cells, every |z| 0.5 except one at ``worst_z``, p_active_se 1e-3."""
    theory = 0.5 ** np.array(DEPTHS, dtype=float)
    z = np.full((len(WIDTHS), len(DEPTHS)), 0.5)
    z[1::2] *= -1
    z[2, 3] = worst_z
    se = np.full_like(z, 1e-3)
    return xr.Dataset({"p_active": (("width", "depth"), theory + z * se), "p_active_se": (("width", "depth"), se),
                       "p_theory": ("depth", theory)}, coords={"width": list(WIDTHS), "depth": list(DEPTHS)})


def test_a_z_between_the_uncorrected_and_corrected_thresholds_agrees():
    uncorrected, corrected = norm.isf(0.01 / 2), norm.isf(0.01 / (2 * M))
    between = (uncorrected + corrected) / 2  # 3.03, between 2.58 and 3.48
    row = verdict.theorem1(_dataset(between), "hand-built", alpha=0.01)
    assert row.outcome == "agrees", row.statistic
    assert f"threshold {corrected:.2f}" in row.statistic


def test_a_z_beyond_the_corrected_threshold_disagrees():
    row = verdict.theorem1(_dataset(-(norm.isf(0.01 / (2 * M)) + 0.1)), "hand-built", alpha=0.01)
    assert row.outcome == "disagrees", row.statistic


def test_untested_cells_do_not_count_towards_the_correction():
    ds = _dataset(3.2)
    ds["p_active_se"][:2] = np.nan  # 10 cells without a se
    row = verdict.theorem1(ds, "hand-built", alpha=0.01)
    assert f"threshold {norm.isf(0.01 / 20):.2f}" in row.statistic
