"""ntkpaths: Monte Carlo studies of ReLU path activation in the NTK regime.

Load a sweep in a notebook::

    import ntkpaths
    ds = ntkpaths.load("data/sweep-depth8.zarr")
    ds.p_active.sel(width=1024)
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
    # errors
    "NtkpathsError",
    "ConfigError",
    "__version__",
]

# Heavy modules (xarray, dask, zarr) load on first use, so the command line starts fast.
_LAZY = {"run_sweep": "sweep", "load": "store", "write": "store"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
