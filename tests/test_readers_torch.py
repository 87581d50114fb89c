"""PyTorch networks: a state_dict file, an nn.Sequential in memory, and torch.onnx.export.

Opt-in: torch is not in the ``test`` extra (it pulls gigabytes), so these
tests are skipped unless it is installed (pip install 'ntkpaths[torch]').
"""
import numpy as np
import pytest

import ntkpaths
from ntkpaths.config import ConfigError
from ntkpaths.readers import read_network

torch = pytest.importorskip("torch", reason="torch is optional and not in the test extra; "
                                           "pip install 'ntkpaths[torch]' to run the PyTorch reader tests")
nn = torch.nn


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 2)).double().eval()
    x = np.random.default_rng(0).normal(size=(200, 5))
    return net, x


def torch_forward(net, x):
    """PyTorch's own forward pass, module by module: the hidden activations after each ReLU, and the outputs."""
    h, hidden = torch.from_numpy(x), []
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, nn.ReLU):
                hidden.append(h.numpy())
    return hidden, h.numpy()


def assert_matches(stats, hidden, outputs):
    fractions = np.stack([(h > 0).mean(axis=1) for h in hidden], axis=1)
    np.testing.assert_array_equal(stats.layer_fraction, fractions)
    np.testing.assert_allclose(stats.active_fraction, np.cumprod(fractions, axis=1), rtol=1e-14)
    np.testing.assert_allclose(stats.outputs, outputs, rtol=1e-12, atol=1e-13)


def test_state_dict_file(model, tmp_path):
    net, x = model
    torch.save(net.state_dict(), tmp_path / "m.pt")
    read = read_network(tmp_path / "m.pt")
    assert read.source == "PyTorch state_dict" and read.has_biases and read.notes == ()
    assert_matches(ntkpaths.path_statistics(read, x), *torch_forward(net, x))


def test_module_in_memory(model):
    net, x = model
    assert_matches(ntkpaths.path_statistics(ntkpaths.network_from(net), x), *torch_forward(net, x))


def test_torch_onnx_export(model, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript")
    net, x = model
    torch.onnx.export(net, (torch.from_numpy(x[:1]),), str(tmp_path / "m.onnx"), input_names=["x"])
    read = read_network(tmp_path / "m.onnx")
    assert read.source == "ONNX" and read.widths == (16, 12)
    assert_matches(ntkpaths.path_statistics(read, x), *torch_forward(net, x))


def test_a_pickled_module_is_not_unpickled(model, tmp_path):
    net, _ = model
    torch.save(net, tmp_path / "whole.pt")
    with pytest.raises(ConfigError, match="cannot read .* as a PyTorch state_dict"):
        read_network(tmp_path / "whole.pt")


def test_other_modules_are_refused():
    with pytest.raises(ConfigError, match=r"module 1 \(Tanh\) is not part of a ReLU MLP"):
        ntkpaths.network_from(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)))
