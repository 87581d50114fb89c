"""`ntkpaths paths` on networks of every format: --json, --inputs digits, and every bad file as one line, exit 2."""
import json
import warnings

import numpy as np
import pytest

from ntkpaths import cli
from ntkpaths.readers import read_network

sklearn_nn = pytest.importorskip("sklearn.neural_network")


def run_main(args, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def one_line(code, err, message):
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and message in err, err
    assert "--resume" not in err and "--workers" not in err and "--method" not in err, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A biased scikit-learn MLP as ONNX (skl2onnx) and safetensors, inputs as .npy."""
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx

    tmp = tmp_path_factory.mktemp("nets")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = sklearn_nn.MLPRegressor(hidden_layer_sizes=(8, 6), max_iter=100, random_state=0).fit(x, x[:, 0])
    (tmp / "mlp.onnx").write_bytes(to_onnx(reg, x[:1], target_opset=17).SerializeToString())
    np.save(tmp / "x.npy", x)
    return reg, x, tmp


def test_json_gives_fractions_f_slope_and_the_outputs(files, capsys):
    reg, x, tmp = files
    code, out, err = run_main(["paths", str(tmp / "mlp.onnx"), "--inputs", str(tmp / "x.npy"), "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    acts = reg._forward_pass([x] + [None] * (reg.n_layers_ - 1))  # scikit-learn's own forward pass
    fractions = np.stack([(h > 0).mean(axis=1) for h in acts[1:-1]], axis=1)
    assert got["n_inputs"] == 50 and got["biases"] is True and got["format"] == "ONNX"
    np.testing.assert_allclose(got["layer_fraction"], fractions.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(got["p_active"], np.cumprod(fractions, axis=1).mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(np.array(got["outputs"])[:, 0], reg.predict(x), rtol=1e-12)
    assert len(got["weight_slope"]) == 2 and len(got["p_active_se"]) == 2


def test_table_says_where_the_network_came_from_and_flags_biases(files, capsys):
    _, _, tmp = files
    code, out, err = run_main(["paths", str(tmp / "mlp.onnx"), "--inputs", str(tmp / "x.npy")], capsys)
    assert code == 0, err
    assert "ONNX: 4 inputs, 2 hidden layers (8, 6), 1 outputs, with biases" in " ".join(out.split())
    assert "2^-l (ref.)" in out and "shown only as a reference" in " ".join(out.split())
    assert "outputs of the first 3 inputs" in out


def test_inputs_digits(tmp_path, capsys):
    """`ntkpaths paths model.onnx --inputs digits` works with nothing else."""
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = sklearn_nn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(x, y)
    (tmp_path / "m.onnx").write_bytes(to_onnx(reg, x[:1], target_opset=17).SerializeToString())
    code, out, err = run_main(["paths", str(tmp_path / "m.onnx"), "--inputs", "digits", "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    assert got["n_inputs"] == 1797
    np.testing.assert_allclose(np.array(got["outputs"])[:, 0], reg.predict(x), rtol=1e-12)


def test_save_writes_before_printing_and_names_the_real_file(files, tmp_path, capsys):
    _, _, tmp = files
    code, out, err = run_main(["paths", str(tmp / "mlp.onnx"), "--inputs", str(tmp / "x.npy"),
                               "--save", str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert (tmp_path / "o.npz").exists() and f"wrote {tmp_path / 'o.npz'}" in out
    back = read_network(tmp_path / "o.npz")
    for a, b in zip(back.weights, read_network(tmp / "mlp.onnx").weights):
        np.testing.assert_array_equal(a, b)
    code, out, err = run_main(["paths", str(tmp / "mlp.onnx"), "--inputs", str(tmp / "x.npy"),
                               "--save", str(tmp_path / "none" / "o.npz")], capsys)
    one_line(code, err, "folder")
    assert out == ""  # no table before a failed save


def onnx_model(tmp_path, nodes, inits, output=None):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    output = output or nodes[-1].output[0]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 2])],
                              [helper.make_tensor_value_info(output, TensorProto.DOUBLE, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def bad_files(tmp_path):
    """name -> (path, message) for files `paths` must refuse in one line."""
    pytest.importorskip("onnx")
    st = pytest.importorskip("safetensors.numpy")
    from onnx import helper

    w1, b1, w2 = np.ones((2, 3)), np.zeros(3), np.ones((3, 1))
    cases = {}
    sigmoid = [helper.make_node("MatMul", ["x", "w1"], ["a"]), helper.make_node("Add", ["a", "b1"], ["z"]),
               helper.make_node("Sigmoid", ["z"], ["h"], name="act"), helper.make_node("MatMul", ["h", "w2"], ["y"])]
    cases["onnx sigmoid"] = (onnx_model(tmp_path, sigmoid, {"w1": w1, "b1": b1, "w2": w2}),
                             "node 2 'act' (Sigmoid) is not part of a ReLU MLP")
    skip = [helper.make_node("MatMul", ["x", "w1"], ["a"]), helper.make_node("Relu", ["a"], ["h"]),
            helper.make_node("MatMul", ["h", "w2"], ["y"]), helper.make_node("Add", ["y", "a"], ["out"])]
    (tmp_path / "skip").mkdir()
    cases["onnx skip connection"] = (onnx_model(tmp_path / "skip", skip, {"w1": w1, "w2": np.ones((3, 3))}),
                                     "node 3 (Add) takes the computed tensor 'a' where a constant weight belongs")
    late = [helper.make_node("MatMul", ["x", "w1"], ["a"]), helper.make_node("Relu", ["a"], ["h"]),
            helper.make_node("MatMul", ["h", "w2"], ["b"]), helper.make_node("Sigmoid", ["b"], ["s"]),
            helper.make_node("MatMul", ["s", "w3"], ["y"], name="more")]
    (tmp_path / "late").mkdir()
    cases["onnx sigmoid after two layers"] = (
        onnx_model(tmp_path / "late", late, {"w1": w1, "w2": np.ones((3, 3)), "w3": w2}),
        "node 4 'more' (MatMul) follows the classifier's output function")
    (tmp_path / "hidden").mkdir()
    cases["onnx output is a hidden layer"] = (
        onnx_model(tmp_path / "hidden", late[:3], {"w1": w1, "w2": np.ones((3, 3))}, output="h"),
        "its outputs (h) are not the last layer's 'b'")
    gap = {"0.weight": np.ones((3, 2)), "2.weight": np.ones((3, 3)), "6.weight": np.ones((1, 3))}
    st.save_file(gap, str(tmp_path / "gap.safetensors"))
    cases["state_dict gap"] = (tmp_path / "gap.safetensors", "has a gap: 0.weight, 2.weight, 6.weight (no layer 4)")
    np.savez(tmp_path / "bias.npz", W1=np.ones((3, 2)), b1=np.ones(4), Wout=np.ones((1, 3)))
    cases["bias length"] = (tmp_path / "bias.npz", "the bias of W1 has shape (4,) but the layer has 3 units")
    (tmp_path / "notes.txt").write_text("hello")
    cases["none of these"] = (tmp_path / "notes.txt", "give a .npz, .safetensors, .pt/.pth or .onnx file")
    (tmp_path / "text.npz").write_text("W1,W2\n1,2\n")
    cases["text as npz"] = (tmp_path / "text.npz", "is not a .npz archive: it is a text file")
    np.save(tmp_path / "w.npy", np.ones((3, 2)))
    cases["npy as network"] = (tmp_path / "w.npy", "is a single array, not a network")
    np.savez(tmp_path / "full.npz", W1=np.ones((300, 2)), Wout=np.ones((1, 300)))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "full.npz").read_bytes()[:3000])
    cases["truncated npz"] = (tmp_path / "cut.npz", "damaged or truncated .npz archive")
    (tmp_path / "junk.onnx").write_bytes(b"\xff\x00garbage" * 10)
    cases["junk onnx"] = (tmp_path / "junk.onnx", "cannot read")
    (tmp_path / "junk.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    cases["junk safetensors"] = (tmp_path / "junk.safetensors", "cannot read")
    cases["missing"] = (tmp_path / "nothing.npz", "not found")
    return cases


BAD = ["onnx sigmoid", "onnx skip connection", "onnx sigmoid after two layers", "onnx output is a hidden layer", "state_dict gap", "bias length", "none of these", "text as npz",
       "npy as network", "truncated npz", "junk onnx", "junk safetensors", "missing"]


@pytest.mark.parametrize("name", BAD)
def test_bad_network_files_are_one_line(name, tmp_path, capsys):
    path, message = bad_files(tmp_path)[name]
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    code, _, err = run_main(["paths", str(path), "--inputs", str(tmp_path / "x.npy")], capsys)
    one_line(code, err, message)


@pytest.fixture()
def plain(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", W1=rng.normal(size=(6, 4)), W2=rng.normal(size=(6, 6)) * 1e-20,
             Wout=rng.normal(size=(1, 6)))
    np.save(tmp_path / "x.npy", rng.normal(size=(10, 4)))
    return tmp_path / "w.npz", tmp_path / "x.npy"


@pytest.mark.parametrize("spec,message", [
    ("rescale:1:1e308", "makes weights of layer 1 infinite or NaN"),
    # W1 becomes subnormal (few significant bits) while W2 stays finite: f changes beyond rounding
    ("rescale:1:1e-318", "changed the outputs by up to"),
])
def test_transforms_that_do_not_preserve_f_are_errors(plain, capsys, spec, message):
    weights, inputs = plain
    code, out, err = run_main(["paths", str(weights), "--inputs", str(inputs), "--transform", spec], capsys)
    one_line(code, err, message)
    assert out == ""


def test_exact_transforms_still_pass(plain, capsys):
    weights, inputs = plain
    code, out, err = run_main(["paths", str(weights), "--inputs", str(inputs), "--transform", "rescale:1:1e-300",
                               "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["transformed"]["max_abs_output_change"] <= 1e-9 * 1e-20


def test_transforms_of_biased_networks_are_refused(files, capsys):
    _, _, tmp = files
    code, _, err = run_main(["paths", str(tmp / "mlp.onnx"), "--inputs", str(tmp / "x.npy"), "--transform",
                             "widen:2"], capsys)
    one_line(code, err, "--transform works on bias-free networks")


def test_out_of_memory_and_os_errors_give_no_foreign_advice(plain, capsys, monkeypatch, tmp_path):
    from ntkpaths import readers, symmetry

    weights, inputs = plain

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(symmetry, "apply_spec", no_memory)
    code, _, err = run_main(["paths", str(weights), "--inputs", str(inputs), "--transform", "widen:1000000"], capsys)
    one_line(code, err, "out of memory")

    def full_disk(path, net):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(readers, "write_network", full_disk)
    code, out, err = run_main(["paths", str(weights), "--inputs", str(inputs), "--save", str(tmp_path / "o.npz")],
                              capsys)
    one_line(code, err, "No space left on device")
    assert out == ""


def test_layout_overrides_an_ambiguous_square_chain(tmp_path, capsys):
    rng = np.random.default_rng(4)
    w1, w2, wout = rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    np.savez(tmp_path / "sq.npz", W1=w1, W2=w2, Wout=wout)
    np.save(tmp_path / "x.npy", rng.normal(size=(5, 4)))
    assert any("fit either layout" in n for n in read_network(tmp_path / "sq.npz").notes)
    as_stored = read_network(tmp_path / "sq.npz", layout="in-out")
    np.testing.assert_array_equal(as_stored.weights[0], w1.T)
    code, out, err = run_main(["paths", str(tmp_path / "sq.npz"), "--inputs", str(tmp_path / "x.npy"),
                               "--layout", "in-out", "--json"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(json.loads(out)["outputs"], as_stored.forward(np.load(tmp_path / "x.npy"))[1])
    code, _, err = run_main(["paths", str(tmp_path / "sq.npz"), "--inputs", str(tmp_path / "x.npy"),
                             "--layout", "sideways"], capsys)
    one_line(code, err, "layout must be one of out-in, in-out")


def test_a_missing_extra_names_the_pip_command(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # an import of torch now fails, installed or not
    (tmp_path / "m.pt").write_bytes(b"PK\x03\x04")
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    code, _, err = run_main(["paths", str(tmp_path / "m.pt"), "--inputs", str(tmp_path / "x.npy")], capsys)
    one_line(code, err, "pip install 'ntkpaths[torch]'")


def test_inputs_that_are_text_named_npy_say_so(plain, tmp_path, capsys):
    weights, _ = plain
    (tmp_path / "t.npy").write_text("1,2,3,4\n")
    code, _, err = run_main(["paths", str(weights), "--inputs", str(tmp_path / "t.npy")], capsys)
    one_line(code, err, "is not a .npy array: it is a text file")
    assert "allow_pickle" not in err


def test_weights_unlike_an_initialisation_are_flagged(tmp_path, capsys):
    rng = np.random.default_rng(5)
    w1 = rng.normal(size=(32, 4)) * 10
    np.savez(tmp_path / "w.npz", W1=w1, W2=rng.normal(size=(32, 32)) * np.sqrt(2 / 32), Wout=rng.normal(size=(1, 32)))
    np.save(tmp_path / "x.npy", rng.normal(size=(10, 4)))
    code, out, err = run_main(["paths", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npy"), "--json"],
                              capsys)
    assert code == 0, err
    notes = json.loads(out)["notes"]
    ratio = w1.std() / np.sqrt(2 / 4)
    assert notes == [f"layer 1: weight std is {ratio:.3g} x He's sqrt(2/fan_in), unlike an initialisation"]
