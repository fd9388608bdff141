"""What a Keras user types first works: nn.models.load_model, nn.function, and a missing Keras
that names the extra to install."""
import sys

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers

EXTRA = 'pip install -e ".[keras]"'


def _two_input_model():
    nn.set_random_seed(0)
    image = nn.Input((6, 6, 1), name="image")
    meta = nn.Input((3,), name="meta")
    x = layers.GlobalAveragePooling2D(name="gap")(layers.Conv2D(2, 3, activation="relu", name="conv")(image))
    x = layers.Concatenate(name="join")([x, meta])
    return nn.Model([image, meta], layers.Dense(2, activation="softmax", name="out")(x), name="two_inputs")


def test_models_load_model_reads_a_keras_file_like_saving_load_model(tmp_path):
    pytest.importorskip("h5py")
    model = _two_input_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = str(tmp_path / "m.keras")
    nn.models.save_model(model, path)
    loaded = nn.models.load_model(path)
    x = [np.random.default_rng(1).random((4, 6, 6, 1)).astype("float32"), np.ones((4, 3), "float32")]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    uncompiled = nn.models.load_model(path, compile=False)
    assert not uncompiled.compiled
    assert nn.models.load_model.__doc__ and "saving.load_model" in nn.models.load_model.__doc__


def test_function_reads_an_inner_layer_as_arrays():
    model = _two_input_model()
    fn = nn.function(model.inputs, [model.get_layer("gap").output, model.output])
    x = [np.random.default_rng(2).random((3, 6, 6, 1)).astype("float32"), np.zeros((3, 3), "float32")]
    pooled, probabilities = fn(x)
    assert isinstance(pooled, np.ndarray) and pooled.shape == (3, 2)
    np.testing.assert_allclose(probabilities, model.predict(x, verbose=0), rtol=1e-6)
    conv = model.get_layer("conv")(x[0]).data
    np.testing.assert_allclose(pooled, conv.mean(axis=(1, 2)), rtol=1e-5)


@pytest.fixture
def no_keras(monkeypatch):
    """Simulate an environment without Keras: ``import keras`` raises ModuleNotFoundError."""
    for name in [n for n in sys.modules if n == "keras" or n.startswith("keras.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "keras", None)


def test_from_keras_without_keras_names_the_extra(no_keras):
    with pytest.raises(ImportError, match="keras extra") as info:
        nn.interop.from_keras(object())
    assert EXTRA in str(info.value) and "from_keras" in str(info.value)


def test_compare_without_keras_names_the_extra(no_keras):
    with pytest.raises(ImportError) as info:
        nn.interop.compare(object(), np.zeros((1, 3)), model=_two_input_model())
    assert EXTRA in str(info.value) and "numpy_nn[keras]" in str(info.value)


def test_cli_compare_without_keras_is_a_clear_error(no_keras, tmp_path, capsys):
    pytest.importorskip("h5py")
    path = tmp_path / "m.keras"
    _two_input_model().save(str(path))
    from numpy_nn.cli import main
    assert main(["compare", str(path)]) == 2
    assert EXTRA in capsys.readouterr().err
