"""Networks written by the real libraries give the statistics and outputs of the libraries' own forward passes.

Each source -- a scikit-learn MLP through the API and exported to npz, the same
MLP converted by skl2onnx and run by onnxruntime, Flax ``nn.Dense`` params,
safetensors with PyTorch's layer names -- must give per-layer fractions, F and
outputs equal to the framework's forward pass to floating-point precision.
"""
import warnings

import numpy as np
import pytest

import ntkpaths
from ntkpaths import allpaths
from ntkpaths.config import ConfigError
from ntkpaths.readers import read_network, write_network

sklearn_nn = pytest.importorskip("sklearn.neural_network")


@pytest.fixture(scope="module")
def mlp():
    """A scikit-learn MLPRegressor with biases, trained a little, and inputs for it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are all a test needs
        reg = sklearn_nn.MLPRegressor(hidden_layer_sizes=(16, 12, 8), max_iter=200, random_state=0)
        reg.fit(x, np.stack([x[:, 0] * x[:, 1], np.abs(x[:, 2])], axis=1))
    assert all(np.abs(b).max() > 0.01 for b in reg.intercepts_)  # the biases matter
    return reg, x


def sklearn_hidden(reg, x):
    """Hidden activations from scikit-learn's own forward pass, (input, unit) per layer."""
    acts = [x] + [None] * (reg.n_layers_ - 1)
    return reg._forward_pass(acts)[1:-1]


def assert_matches(stats, hidden_after_relu, outputs, rtol=1e-12):
    """Per-layer fractions and F equal to those of the framework's activations, outputs to rtol."""
    fractions = np.stack([(h > 0).mean(axis=1) for h in hidden_after_relu], axis=1)
    np.testing.assert_array_equal(stats.layer_fraction, fractions)
    np.testing.assert_allclose(stats.active_fraction, np.cumprod(fractions, axis=1), rtol=1e-14)
    np.testing.assert_allclose(stats.outputs, outputs, rtol=rtol, atol=rtol * np.abs(outputs).max())


def test_sklearn_mlp_through_the_api(mlp):
    reg, x = mlp
    net = ntkpaths.network_from(reg)
    assert net.has_biases and net.widths == (16, 12, 8) and net.source == "scikit-learn MLPRegressor"
    assert_matches(ntkpaths.path_statistics(net, x), sklearn_hidden(reg, x), reg.predict(x))


@pytest.mark.parametrize("export", ["positional", "named"])
def test_sklearn_mlp_exported_to_npz(mlp, tmp_path, export):
    """coefs_ are (fan_in, fan_out): the reader finds the orientation from the chain of shapes."""
    reg, x = mlp
    path = tmp_path / "mlp.npz"
    if export == "positional":
        np.savez(path, *reg.coefs_, *reg.intercepts_)
    else:
        tags = ["1", "2", "3", "out"]
        np.savez(path, **{f"W{t}": c for t, c in zip(tags, reg.coefs_)},
                 **{f"b{t}": b for t, b in zip(tags, reg.intercepts_)})
    net = read_network(path)
    assert "stored as (fan_in, fan_out), transposed" in net.notes
    assert_matches(ntkpaths.path_statistics(net, x), sklearn_hidden(reg, x), reg.predict(x))


def test_sklearn_classifier_outputs_are_the_logits():
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x[:400] / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, random_state=0).fit(x, y[:400])
    stats = ntkpaths.path_statistics(ntkpaths.network_from(clf), x)
    logits = stats.outputs - stats.outputs.max(axis=1, keepdims=True)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, clf.predict_proba(x), rtol=1e-10, atol=1e-14)


def test_sklearn_mlp_with_another_activation_is_refused(mlp):
    reg, x = mlp
    tanh = sklearn_nn.MLPRegressor(hidden_layer_sizes=(4,), activation="tanh", max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tanh.fit(x, x[:, 0])
    with pytest.raises(ConfigError, match="activation='tanh'; ntkpaths reads ReLU networks"):
        ntkpaths.network_from(tanh)


def onnx_with_hidden_outputs(model):
    """The model, with every Relu's output added to the graph outputs so onnxruntime returns them."""
    import onnx

    relus = [n.output[0] for n in model.graph.node if n.op_type == "Relu"]
    for name in relus:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return model, relus


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_skl2onnx_model_against_onnxruntime(mlp, tmp_path, dtype):
    """skl2onnx writes MatMul + Add + Relu; onnxruntime is the independent forward pass."""
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    reg, x = mlp
    model = to_onnx(reg, x[:1].astype(dtype), target_opset=17)
    path = tmp_path / "mlp.onnx"
    path.write_bytes(model.SerializeToString())
    model, relus = onnx_with_hidden_outputs(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, *hidden = session.run(None, {session.get_inputs()[0].name: x.astype(dtype)})
    net = read_network(path)
    assert net.source == "ONNX" and net.has_biases and net.dtype == dtype
    stats = ntkpaths.path_statistics(net, x)
    y = y.reshape(stats.outputs.shape)  # skl2onnx ends in a Reshape to (-1, 1): same values, in order
    if dtype == "float64":
        assert_matches(stats, hidden, y, rtol=1e-12)
        np.testing.assert_allclose(stats.outputs, reg.predict(x), rtol=1e-12)
    else:  # float32 in onnxruntime against float64 here: outputs to float32 precision
        np.testing.assert_allclose(stats.outputs, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())


def test_flax_dense_params(mlp):
    """A Flax nn.Dense stack's params dict; Flax's own forward pass, in float64, with its pre-activations."""
    pytest.importorskip("flax")
    from ntkpaths.jaxsetup import jax
    import flax.linen as nn
    import jax.numpy as jnp

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, h):
            for width in (16, 12):
                h = nn.relu(nn.Dense(width, param_dtype=jnp.float64, dtype=jnp.float64,
                                     bias_init=nn.initializers.normal(0.3))(h))
            return nn.Dense(3, param_dtype=jnp.float64, dtype=jnp.float64)(h)

    _, x = mlp
    with jax.enable_x64(True):
        model = MLP()
        variables = model.init(jax.random.PRNGKey(0), jnp.asarray(x[:1]))
        y, state = model.apply(variables, jnp.asarray(x), capture_intermediates=True)
        pre = [np.asarray(state["intermediates"][f"Dense_{i}"]["__call__"][0]) for i in range(2)]
    net = ntkpaths.network_from(variables)
    assert net.widths == (16, 12) and net.has_biases and net.source == "params dict"
    assert_matches(ntkpaths.path_statistics(net, x), [np.maximum(p, 0) for p in pre], np.asarray(y))


def test_safetensors_with_pytorch_names(mlp, tmp_path):
    """An nn.Sequential(Linear, ReLU, ...) state_dict's names, written by safetensors' numpy API (no torch)."""
    st = pytest.importorskip("safetensors.numpy")
    reg, x = mlp
    tensors = {}
    for i, (c, b) in enumerate(zip(reg.coefs_, reg.intercepts_)):
        tensors[f"net.{2 * i}.weight"] = np.ascontiguousarray(c.T, dtype=np.float32)
        tensors[f"net.{2 * i}.bias"] = b.astype(np.float32)
    st.save_file(tensors, str(tmp_path / "mlp.safetensors"))
    net = read_network(tmp_path / "mlp.safetensors")
    assert net.notes == () and net.dtype == "float32"
    # The float32 weights define the network: scikit-learn runs the same rounded weights in float64.
    reg32 = sklearn_nn.MLPRegressor(hidden_layer_sizes=(16, 12, 8))
    reg32.__dict__.update(reg.__dict__)
    reg32.coefs_ = [c.astype(np.float32).astype(np.float64) for c in reg.coefs_]
    reg32.intercepts_ = [b.astype(np.float32).astype(np.float64) for b in reg.intercepts_]
    assert_matches(ntkpaths.path_statistics(net, x), sklearn_hidden(reg32, x), reg32.predict(x))


def test_safetensors_round_trip_is_bit_identical(mlp, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    reg, _ = mlp
    tensors = {f"{2 * i}.weight": np.ascontiguousarray(c.T, dtype=np.float32) for i, c in enumerate(reg.coefs_)}
    tensors |= {f"{2 * i}.bias": b.astype(np.float32) for i, b in enumerate(reg.intercepts_)}
    st.save_file(tensors, str(tmp_path / "a.safetensors"))
    written = write_network(tmp_path / "b.safetensors", read_network(tmp_path / "a.safetensors"))
    back = st.load_file(str(written))
    assert back.keys() == tensors.keys()
    for key in tensors:
        assert back[key].dtype == tensors[key].dtype and back[key].tobytes() == tensors[key].tobytes()


def test_haiku_names_and_orders():
    """haiku names its first Linear 'linear' and the next 'linear_1'; Flax Sequential skips the ReLU's index."""
    rng = np.random.default_rng(1)
    w = [rng.normal(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 2))]  # (fan_in, fan_out)
    haiku = {"mlp/~/linear": {"w": w[0], "b": np.ones(5)}, "mlp/~/linear_1": {"w": w[1], "b": np.ones(4)},
             "mlp/~/linear_2": {"w": w[2], "b": np.ones(2)}}
    flax_seq = {"params": {"layers_0": {"kernel": w[0]}, "layers_2": {"kernel": w[1]}, "layers_4": {"kernel": w[2]}}}
    for tree in (haiku, flax_seq):
        net = ntkpaths.network_from(tree)
        for a, b in zip(net.weights, w):
            np.testing.assert_array_equal(a, b.T)


def test_a_bias_free_network_gives_the_same_statistics_as_before():
    """Lists of weights still work, and a Network without biases traces exactly as allpaths.forward."""
    rng = np.random.default_rng(2)
    w = [rng.normal(size=(6, 4)), rng.normal(size=(5, 6)), rng.normal(size=(1, 5))]
    x = rng.normal(size=(20, 4))
    stats = ntkpaths.path_statistics(w, x)
    zs, y = allpaths.forward(w, x)
    np.testing.assert_array_equal(stats.outputs, y)
    np.testing.assert_array_equal(stats.active_fraction, allpaths.active_fraction(zs).T)


def test_a_bias_moves_the_units_and_the_paths_follow():
    """With biases a path is active iff every unit on it is on: F is the product of the layers' fractions."""
    w = [np.array([[1.0], [1.0], [1.0], [1.0]]), np.ones((1, 4))]
    net = ntkpaths.Network(w, [np.array([-1.0, 0.0, 1.0, 2.0]), np.zeros(1)])
    stats = ntkpaths.path_statistics(net, np.array([[0.5], [-1.5], [-3.0]]))
    np.testing.assert_array_equal(stats.layer_fraction[:, 0], [3 / 4, 1 / 4, 0.0])
    np.testing.assert_array_equal(stats.outputs[:, 0], [0.5 + 1.5 + 2.5, 0.5, 0.0])


def test_onnx_gemm_with_transposes_and_scales_against_onnxruntime(tmp_path):
    """Gemm's transB, alpha and beta, as exporters write them, give onnxruntime's outputs and Relu states."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(6)
    w1, b1 = rng.normal(size=(3, 7)), rng.normal(size=7)          # (fan_in, fan_out): transB = 0
    w2, b2 = rng.normal(size=(2, 7)), rng.normal(size=(1, 2))     # (fan_out, fan_in): transB = 1
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["z1"], alpha=2.0, beta=0.5),
             helper.make_node("Relu", ["z1"], ["h1"]),
             helper.make_node("Gemm", ["h1", "w2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, 2]),
                               helper.make_tensor_value_info("h1", TensorProto.DOUBLE, [None, 7])],
                              [numpy_helper.from_array(v, k) for k, v in
                               {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    (tmp_path / "g.onnx").write_bytes(model.SerializeToString())
    x = rng.normal(size=(100, 3))
    y, h1 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert_matches(ntkpaths.path_statistics(read_network(tmp_path / "g.onnx"), x), [h1], y)


def test_skl2onnx_classifier_reads_its_logits(tmp_path):
    """An MLPClassifier's ONNX model ends in Softmax and a label branch: the network's outputs are the logits,
    whose softmax is onnxruntime's probabilities."""
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(x, y)
    model = to_onnx(clf, x[:1], options={"zipmap": False}, target_opset=17)
    (tmp_path / "c.onnx").write_bytes(model.SerializeToString())
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    proba = session.run(["probabilities"], {session.get_inputs()[0].name: x})[0]
    net = read_network(tmp_path / "c.onnx")
    assert net.notes == ("outputs are the logits before the model's Softmax",)
    logits = ntkpaths.path_statistics(net, x).outputs
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), proba, rtol=1e-10, atol=1e-14)
