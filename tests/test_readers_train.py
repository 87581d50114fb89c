"""`train --init-from` starts from a user's network and `--save-weights` gives it back: 0 steps round-trip bit for bit."""
import numpy as np
import pytest

from ntkpaths import cli
from ntkpaths.readers import read_network

st = pytest.importorskip("safetensors.numpy")


def run_main(args, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture()
def init(tmp_path):
    """A bias-free float32 network for the digits (64 inputs, 10 outputs) with PyTorch's layer names."""
    rng = np.random.default_rng(0)
    tensors = {"0.weight": rng.normal(size=(16, 64)) * np.sqrt(2 / 64), "2.weight": rng.normal(size=(16, 16)) / 3,
               "4.weight": rng.normal(size=(10, 16)) / 4}
    tensors = {k: v.astype(np.float32) for k, v in tensors.items()}
    st.save_file(tensors, str(tmp_path / "init.safetensors"))
    return tmp_path / "init.safetensors", tensors


def train(tmp_path, capsys, init_path, *extra):
    code, out, err = run_main(["train", "--init-from", str(init_path), "--save-weights", str(tmp_path / "w"),
                               "--runs", "1", "--seed", "3", "--n-train", "32", "--n-test", "16",
                               "--scheduler", "synchronous", "--out", str(tmp_path / "t.zarr"), "--overwrite",
                               *extra], capsys)
    assert code == 0, err
    return st.load_file(str(tmp_path / "w" / "depth2-width16-run0.safetensors"))


@pytest.mark.parametrize("options", [["--dtype", "float64"], ["--param", "standard"]])
def test_zero_steps_give_the_file_back_bit_for_bit(init, tmp_path, capsys, options):
    """Parameters that hold the file's float32 weights exactly (float64 training, or He-scaled parameters)."""
    path, tensors = init
    back = train(tmp_path, capsys, path, "--steps", "0", *options)
    assert back.keys() == tensors.keys()
    for key, value in tensors.items():
        assert back[key].dtype == np.float32 and back[key].tobytes() == value.tobytes(), key


def test_training_moves_the_saved_weights(init, tmp_path, capsys):
    path, tensors = init
    back = train(tmp_path, capsys, path, "--steps", "5", "--lr", "0.5")
    assert all(np.abs(back[k] - tensors[k]).max() > 0 for k in tensors)
    assert read_network(tmp_path / "w" / "depth2-width16-run0.safetensors").widths == (16, 16)


def test_a_network_that_does_not_fit_the_data_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "narrow.npz", W1=rng.normal(size=(8, 5)), Wout=rng.normal(size=(10, 8)))
    np.savez(tmp_path / "biased.npz", W1=rng.normal(size=(8, 64)), b1=np.ones(8), Wout=rng.normal(size=(10, 8)))
    for name, message in (("narrow.npz", "has layer sizes [5, 8, 10] but the data need [64, 8, 10]"),
                          ("biased.npz", "has biases; training runs bias-free networks")):
        code, _, err = run_main(["train", "--init-from", str(tmp_path / name), "--runs", "1", "--steps", "0",
                                 "--scheduler", "synchronous", "--out", str(tmp_path / "t.zarr"), "--overwrite"],
                                capsys)
        assert code == 2 and err.count("\n") == 1 and message in err, err
