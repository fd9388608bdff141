"""The `numpy-nn` command: summary (no Keras needed), compare (Keras), and clear errors."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers
from numpy_nn.cli import main


@pytest.fixture
def model_file(tmp_path):
    nn.set_random_seed(0)
    inputs = nn.Input((12, 12, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(3, activation="softmax", name="out")(x)
    path = tmp_path / "m.keras"
    nn.Model(inputs, outputs, name="cli_model").save(str(path))
    return path


def test_summary_prints_the_table_without_keras(model_file, capsys):
    assert main(["summary", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "cli_model" in out and "(Conv2D)" in out and "Total params: 143" in out


@pytest.mark.keras
def test_compare_prints_per_layer_differences(model_file, tmp_path, capsys):
    pytest.importorskip("keras")
    x = np.random.default_rng(0).random((2, 12, 12, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    assert main(["compare", str(model_file), "--input", str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    for name in ("conv", "bn", "gap", "out"):
        assert name in out
    assert "worst:" in out


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "missing.keras")]) == 2
    assert "missing.keras" in capsys.readouterr().err


@pytest.fixture
def two_input_file(tmp_path):
    nn.set_random_seed(0)
    image = nn.Input((6, 6, 2), name="image")
    meta = nn.Input((3,), name="meta")
    x = layers.GlobalAveragePooling2D(name="gap")(layers.Conv2D(2, 3, name="conv")(image))
    outputs = layers.Dense(2, name="out")(layers.Concatenate(name="join")([x, meta]))
    path = tmp_path / "two.keras"
    nn.Model([image, meta], outputs, name="two_inputs").save(str(path))
    return path


@pytest.mark.keras
def test_compare_feeds_a_multi_input_model_from_an_npz_keyed_by_input_name(two_input_file, tmp_path, capsys):
    pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", meta=rng.random((3, 3)).astype("float32"),
             image=rng.random((3, 6, 6, 2)).astype("float32"))
    assert main(["compare", str(two_input_file), "--input", str(tmp_path / "x.npz")]) == 0
    out = capsys.readouterr().out
    assert "RANDOM" not in out
    for name in ("conv", "gap", "join", "out"):
        assert name in out
    assert "(3, 2)" in out                      # the batch of 3 from the file, not a random batch of 2


@pytest.mark.keras
def test_compare_says_when_its_input_is_random_and_with_which_seed(two_input_file, capsys):
    pytest.importorskip("keras")
    assert main(["compare", str(two_input_file), "--seed", "5"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "RANDOM" in first and "seed 5" in first and "image (2, 6, 6, 2)" in first and "meta (2, 3)" in first


@pytest.mark.keras
def test_compare_npz_with_wrong_names_lists_the_model_inputs(two_input_file, tmp_path, capsys):
    pytest.importorskip("keras")
    np.savez(tmp_path / "x.npz", image=np.zeros((1, 6, 6, 2), "float32"), metadata=np.zeros((1, 3), "float32"))
    assert main(["compare", str(two_input_file), "--input", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "['image', 'meta']" in err and "missing ['meta']" in err and "unknown ['metadata']" in err


def test_compare_refuses_an_input_file_that_is_neither_npy_nor_npz(model_file, tmp_path, capsys):
    (tmp_path / "x.csv").write_text("1,2,3\n")
    assert main(["compare", str(model_file), "--input", str(tmp_path / "x.csv")]) == 2
    assert ".npz" in capsys.readouterr().err
