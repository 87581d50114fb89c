import pytest

RUN_ATTRS = ("created", "command", "execution")  # attrs that legitimately differ between identical runs


def values(ds):
    """The dataset, loaded, without the attrs that legitimately differ between runs."""
    ds = ds.load().copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in RUN_ATTRS}
    return ds

from ntkpaths import SweepConfig, run_sweep


@pytest.fixture(scope="session")
def small_sweep():
    """A quick synchronous sweep shared by schema, store and CLI tests."""
    cfg = SweepConfig(depth=3, widths=(4, 16), nets=20, seed=123, nets_per_task=7)
    return run_sweep(cfg, scheduler="synchronous")


def train_to_minimum():
    """A depth-2, width-8 network trained by the training core (float64, ntk parametrisation) to a
    zero-loss minimum on 6 samples in d = 3: (parameters, forward scales, x, y, final loss)."""
    import numpy as np

    from ntkpaths import sample
    from ntkpaths.config import NetworkConfig
    from ntkpaths.jaxsetup import jax, jnp
    from ntkpaths.training import model

    rng = np.random.default_rng(0)
    dims = [3, 8, 8, 1]
    standard = sample.sample_standard_weights(NetworkConfig(dtype="float64"), dims, rng=rng)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    with jax.enable_x64(True):
        par = model.parametrisation("ntk", dims, 1.0)
        params = tuple(jnp.asarray(p) for p in model.initial_params(standard, par, "float64"))
        params = model.descend(params, jnp.asarray(x), jnp.asarray(y), jnp.asarray(1.0), 3000, par.scales)
        loss = float(model.loss(params, jnp.asarray(x), jnp.asarray(y), par.scales))
    return [np.asarray(p) for p in params], par.scales, x, y, loss
