"""Monte Carlo estimates against exact values, with bounds from the sample's own se."""
import numpy as np
import pytest

from ntkpaths import SweepConfig, aggregate, run_sweep, theory
from ntkpaths.config import InputConfig, NetworkConfig


@pytest.mark.parametrize("network", [NetworkConfig(), NetworkConfig(init="ntk"),
                                     NetworkConfig(weight_dist="uniform", gain=0.5)])
def test_p_active_matches_two_to_minus_depth(network):
    cfg = SweepConfig(depth=6, widths=(4, 16, 64), nets=600, seed=1, network=network,
                      inputs=InputConfig(count=4), input_dims=(16,))
    ds = run_sweep(cfg, scheduler="synchronous")
    z = aggregate.z_scores(ds)
    assert float(abs(z).max()) <= 5.0, z.values


def test_p_active_test_detects_a_positive_bias():
    """The same bound rejects a family where Theorem 1 is false."""
    cfg = SweepConfig(depth=6, widths=(4, 16, 64), nets=600, seed=1,
                      network=NetworkConfig(bias_mean=0.2), inputs=InputConfig(count=4), input_dims=(16,))
    z = aggregate.z_scores(run_sweep(cfg, scheduler="synchronous"))
    assert float(z.min()) > 5.0, z.values


def test_variance_of_active_fraction_is_a_product_of_binomials():
    """With one input, a_l ~ Binomial(n, 1/2) i.i.d., so Var F is known exactly."""
    cfg = SweepConfig(depth=5, widths=(2, 8, 32), nets=4000, seed=2, inputs=InputConfig(count=1), input_dims=(8,))
    ds = run_sweep(cfg, scheduler="synchronous")
    f = ds["active_fraction"].isel(input=0)
    for w in cfg.widths:
        for h in range(1, cfg.depth + 1):
            sample = f.sel(width=w, depth=h).values
            centred = sample - sample.mean()
            var = centred.var(ddof=1)
            se = np.sqrt((np.mean(centred**4) - var**2) / sample.size)
            truth = theory.active_fraction_var(h, w)
            assert abs(var - truth) <= 5 * se, (w, h, var, truth, se)
