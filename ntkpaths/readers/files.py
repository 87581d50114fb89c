"""Network files: ``.npz``, ``.safetensors``, PyTorch ``.pt``/``.pth`` state_dicts; writers for the first two.

No reader unpickles anything: ``.npz`` is read with ``allow_pickle=False`` and
a ``.pt`` file with torch's ``weights_only`` loader, which only rebuilds
tensors and containers.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..config import ConfigError
from ..network import Network
from .names import network_from_arrays

_ZIP, _NPY = b"PK\x03\x04", b"\x93NUMPY"


def need(module: str, extra: str):
    """Import an optional dependency, or one line naming the pip command."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError:
        raise ConfigError(f"this needs the optional package {module.split('.')[0]!r}: "
                          f"pip install 'ntkpaths[{extra}]'") from None


def _head(path: Path, n: int = 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def what_it_is(head: bytes) -> str:
    """What a file that is not the expected kind looks like, from its first bytes."""
    if head.startswith(_NPY):
        return "a single .npy array"
    if not head:
        return "an empty file"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "a file of another kind"


def read_npz(path: Path, **kw) -> Network:
    """A network from ``.npz`` arrays (names: :mod:`ntkpaths.readers.names`)."""
    head = _head(path)
    if not head.startswith(_ZIP):
        raise ConfigError(f"{path} is not a .npz archive: it is {what_it_is(head)}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read {path}: it is a damaged or truncated .npz archive ({first})") from None
    return network_from_arrays(arrays, source="npz", where=str(path), **kw)


def read_safetensors(path: Path, **kw) -> Network:
    """A network from a ``.safetensors`` file, through the safetensors package's numpy API."""
    st = need("safetensors.numpy", "safetensors")
    try:
        arrays = st.load_file(str(path))
    except Exception as exc:  # the library raises its own SafetensorError for every damage
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot read {path} as safetensors: {first}") from None
    return network_from_arrays(arrays, source="safetensors", where=str(path), **kw)


def read_torch(path: Path, **kw) -> Network:
    """A network from a PyTorch ``state_dict`` file, loaded with ``weights_only=True`` (no arbitrary unpickling)."""
    torch = need("torch", "torch")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read {path} as a PyTorch state_dict: {first}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"{path} does not hold a state_dict of tensors; save it with "
                          "torch.save(model.state_dict(), path)")
    arrays = {k: v.detach().cpu().numpy() for k, v in obj.items()}
    return network_from_arrays(arrays, source="PyTorch state_dict", where=str(path), **kw)


def torch_names(net: Network) -> dict[str, np.ndarray]:
    """The network as an ``nn.Sequential(Linear, ReLU, ..., Linear)`` state_dict names it, in its stored dtype."""
    out = {}
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        out[f"{2 * i}.weight"] = np.ascontiguousarray(w, dtype=net.dtype)
        if b is not None:
            out[f"{2 * i}.bias"] = np.ascontiguousarray(b, dtype=net.dtype)
    return out


def npz_names(net: Network) -> dict[str, np.ndarray]:
    """The network as ``W1``..``WH``, ``Wout`` and its biases ``b1``..``bH``, ``bout``, in its stored dtype."""
    out = {}
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        tag = "out" if i == net.depth else str(i + 1)
        out[f"W{tag}"] = w.astype(net.dtype)
        if b is not None:
            out[f"b{tag}"] = b.astype(net.dtype)
    return out


def write_network(path: str | Path, net: Network) -> Path:
    """Write ``.npz`` (ntkpaths' names) or ``.safetensors`` (PyTorch's names); no suffix means ``.npz``.

    Returns the path written. The file appears whole or not at all.
    """
    path = Path(path)
    if path.suffix == "":
        path = path.with_name(path.name + ".npz")
    if path.suffix not in (".npz", ".safetensors"):
        raise ConfigError(f"cannot write {path}: network files are written as .npz or .safetensors")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder")
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.suffix == ".safetensors":
        st = need("safetensors.numpy", "safetensors")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        if path.suffix == ".npz":
            np.savez(tmp, **npz_names(net))
        else:
            st.save_file(torch_names(net), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
