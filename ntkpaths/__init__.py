"""ntkpaths: Monte Carlo studies of ReLU path activation in the NTK regime.

Load a sweep in a notebook::

    import ntkpaths
    ds = ntkpaths.load("data/sweep-depth8.zarr")
    ds.p_active.sel(width=1024)

or the paths of a network of your own::

    net = ntkpaths.network_from("model.onnx")   # or a torch/scikit-learn/Flax model
    ntkpaths.path_statistics(net, x).p_active
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("ntkpaths")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .config import ConfigError, InputConfig, NetworkConfig, NtkpathsError, SweepConfig

__all__ = [
    # configuration
    "NetworkConfig",
    "InputConfig",
    "SweepConfig",
    # running and storing
    "run_sweep",
    "load",
    "write",
    # your own network
    "Network",
    "network_from",
    "read_network",
    "write_network",
    "path_statistics",
    # errors
    "NtkpathsError",
    "ConfigError",
    "__version__",
]

# Heavy modules (xarray, dask, zarr) load on first use, so the command line starts fast.
_LAZY = {"run_sweep": "sweep", "load": "store", "write": "store", "Network": "network", "network_from": "readers",
         "read_network": "readers", "write_network": "readers", "path_statistics": "pathstats"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
