"""ntkpaths: Monte Carlo studies of ReLU path activation in the NTK regime.

Load a sweep in a notebook::

    import ntkpaths
    ds = ntkpaths.load("data/sweep-depth8.zarr")
    ds.p_active.sel(width=1024)
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("ntkpaths")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .config import ConfigError, InputConfig, NetworkConfig, NtkpathsError, SweepConfig
from .store import load, write
from .sweep import run_sweep

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
