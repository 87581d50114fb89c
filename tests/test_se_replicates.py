"""Standard errors against the spread of their estimates over replicate seeds.

Each replicate is an independent sweep (its own seed). For every statistic the reported se must
match the standard deviation of the estimate across replicates: the pooled ratio
sum(var over replicates) / sum(mean se^2) is 1 up to the sampling error of a variance from R
replicates. The bound, |log ratio| < 5 sqrt(2 / (R - 1)), treats all cells of a statistic as one
(they are correlated), so it cannot fail by chance; a se that leaves out the covariance of a ratio's
numerator and denominator gives ratios 0.17-0.35 here (caught), one normalised by n instead of
sqrt(n) ratios in the hundreds.
"""
import numpy as np
import pytest
import xarray as xr

from ntkpaths import SweepConfig, run_sweep

R = 32
BOUND = 5 * np.sqrt(2 / (R - 1))  # 1.27 in log: the ratio lies in [0.28, 3.6]


@pytest.fixture(scope="module")
def replicates():
    return [run_sweep(SweepConfig(depth=3, widths=(8,), nets=60, seed=100 + r, input_dims=(4,),
                                  stats=("weights", "inputs", "joint"), angles=(1.0,), method="explicit"),
                      scheduler="synchronous") for r in range(R)]


@pytest.mark.parametrize("name", ["p_active", "weight_dependence", "weight_slope", "input_dependence",
                                  "joint_active"])
def test_se_matches_the_spread_over_replicate_seeds(replicates, name):
    est = xr.concat([d[name] for d in replicates], "replicate")
    se = xr.concat([d[f"{name}_se"] for d in replicates], "replicate")
    spread, reported = est.var("replicate", ddof=1), (se**2).mean("replicate")
    ok = np.isfinite(spread) & np.isfinite(reported) & (reported > 0)
    assert int(ok.sum()) >= 1
    ratio = float(spread.where(ok).sum() / reported.where(ok).sum())
    assert abs(np.log(ratio)) < BOUND, f"{name}: var over replicates / mean se^2 = {ratio:.3f}"
