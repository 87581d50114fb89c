"""Long statistical checks, opt-in with `pytest -m slow` (`make test-slow`)."""
import numpy as np
import pytest

from ntkpaths import SweepConfig, aggregate, run_sweep, verdict

pytestmark = pytest.mark.slow


def test_theorem1_and_weight_exponent_at_scale():
    """A default-sized explicit sweep: every cell within 5 se of 2^-H, and the weight dependence
    of every hidden layer falling as width^(-1/2) within its fitted se."""
    cfg = SweepConfig(depth=8, widths=(16, 32, 64, 128, 256, 512), nets=2000, seed=11, method="explicit",
                      stats=("weights",))
    ds = run_sweep(cfg, workers=2)
    assert float(abs(aggregate.z_scores(ds)).max()) <= 5
    for row in verdict.weight_exponent(ds):
        assert row.agrees, row


def test_implicit_and_explicit_agree_at_larger_widths():
    """Means and variances of the per-network active fraction at widths 256 and 1024."""
    common = dict(depth=6, widths=(256, 1024), nets=1500, stats=())
    ex = run_sweep(SweepConfig(**common, seed=21, method="explicit"), workers=2)
    im = run_sweep(SweepConfig(**common, seed=22, method="implicit"), workers=2)
    for w in common["widths"]:
        a = ex.active_fraction.sel(width=w, input=0).values
        b = im.active_fraction.sel(width=w, input=0).values
        z = (a.mean(axis=0) - b.mean(axis=0)) / np.hypot(a.std(axis=0, ddof=1), b.std(axis=0, ddof=1)) * np.sqrt(len(a))
        assert np.abs(z).max() <= 5, (w, z)
