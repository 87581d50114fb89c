import pytest

from ntkpaths import SweepConfig, run_sweep


@pytest.fixture(scope="session")
def small_sweep():
    """A quick synchronous sweep shared by schema, store and CLI tests."""
    cfg = SweepConfig(depth=3, widths=(4, 16), nets=20, seed=123, nets_per_task=7)
    return run_sweep(cfg, scheduler="synchronous")
