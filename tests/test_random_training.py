"""Regression cases found by randomized differential testing of models, fit and saving vs Keras.

Each test is one configuration a random search (random architectures, compile settings and fit
arguments, run through numpy_nn and Keras side by side) showed to disagree with Keras.
"""
import os

import numpy as np
import pytest

pytest.importorskip("h5py")

from numpy_nn import losses, optimizers  # noqa: E402
from numpy_nn.layers.core import Activation, Dense  # noqa: E402
from numpy_nn.layers.input_layer import Input  # noqa: E402
from numpy_nn.layers.merge import Concatenate  # noqa: E402
from numpy_nn.models.functional import Model  # noqa: E402
from numpy_nn.saving import load_model  # noqa: E402
from tests.keras_helpers import import_keras, relative_diff  # noqa: E402

pytestmark = pytest.mark.keras


def _nested_functional(Input_, Dense_, Activation_, Concatenate_, Model_):
    """A Functional model used twice inside another one; one of its calls is also an output."""
    inner_in = Input_((5,), name="inner_in")
    inner = Model_(inner_in, Dense_(4, activation="tanh", name="inner_dense")(inner_in), name="inner")
    x = Input_((5,), name="outer_in")
    first, second = inner(x), inner(Dense_(5, name="pre")(x))
    h = Activation_("relu", name="act")(Concatenate_(name="cat")([first, second, Dense_(3, name="skip")(x)]))
    return Model_(x, [Dense_(2, name="head")(h), second], name="outer")


def _predictions(model, x):
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def test_nested_functional_model_round_trips_both_ways(tmp_path):
    """Bug: a Functional model called inside another was written as call 1 in inbound_nodes (Keras
    counts its own node only in input_layers/output_layers) and read back as 'no call yet'."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    k = keras.layers
    theirs = _nested_functional(keras.Input, k.Dense, k.Activation, k.Concatenate, keras.Model)
    ours = _nested_functional(Input, Dense, Activation, Concatenate, Model)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).standard_normal((7, 5)).astype("float32")
    expected = _predictions(theirs, x)
    for a, b in zip(_predictions(ours, x), expected):
        assert relative_diff(a, b) <= 1e-5

    path = os.path.join(tmp_path, "theirs.keras")
    theirs.save(path)
    for a, b in zip(_predictions(load_model(path), x), expected):  # Keras file -> numpy_nn
        assert relative_diff(a, b) <= 1e-5

    path = os.path.join(tmp_path, "ours.keras")
    ours.save(path)
    for a, b in zip(_predictions(keras.saving.load_model(path), x), expected):  # numpy_nn file -> Keras
        assert relative_diff(a, b) <= 1e-5
    for a, b in zip(_predictions(load_model(path), x), expected):  # and back into numpy_nn
        assert relative_diff(a, b) <= 1e-5


def test_keras_sparse_crossentropy_compile_config_is_restored(tmp_path):
    """Bug: Keras saves SparseCategoricalCrossentropy with ignore_class=None; numpy_nn refused the
    keyword, so a loaded model silently came back uncompiled."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    theirs = keras.Model(inputs, keras.layers.Dense(3, name="logits")(inputs))
    theirs.compile(keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    x = np.random.default_rng(2).standard_normal((10, 4)).astype("float32")
    y = np.random.default_rng(3).integers(0, 3, 10)
    theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    path = os.path.join(tmp_path, "sparse.keras")
    theirs.save(path)
    ours = load_model(path)
    logs = ours.evaluate(x, y, verbose=0, return_dict=True)
    expected = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == set(expected)
    for key in expected:
        assert relative_diff(logs[key], expected[key]) <= 1e-5
    assert losses.SparseCategoricalCrossentropy(ignore_class=None).get_config()["from_logits"] is False
    assert losses.SparseCategoricalCrossentropy(ignore_class=3).get_config()["ignore_class"] == 3
    assert isinstance(ours.optimizer, optimizers.Adam)


def test_bce_string_alias_trains_like_keras():
    """Bug: compile(loss="bce") (a Keras alias of binary_crossentropy) was an unknown loss."""
    keras = import_keras()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,), name="x")
    theirs = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="p")(inputs))
    x_in = Input((3,), name="x")
    ours = Model(x_in, Dense(1, activation="sigmoid", name="p")(x_in))
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(4).standard_normal((11, 3)).astype("float32")
    y = (np.random.default_rng(5).random((11, 1)) > 0.5).astype("float32")
    theirs.compile("sgd", loss="bce")
    ours.compile("sgd", loss="BCE")
    expected = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    got = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert relative_diff(got, expected) <= 1e-4
