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
