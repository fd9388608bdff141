"""NaN in the data is reported, not hidden: layers keep it, and fit reports ``loss: nan`` like Keras.

Keras's yardstick (measured with keras 3 on JAX): ``relu(nan) == nan``; a model fed one NaN cell
prints ``loss: nan`` and History holds nan; no warning is issued (``TerminateOnNaN`` stops
training when asked). docs/errors.md ("Non-finite losses") states the same rule.
"""
import warnings

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import callbacks, layers

RELU_LAYERS = {
    "ReLU": lambda: layers.ReLU(),
    "Activation_relu": lambda: layers.Activation("relu"),
    "Dense_relu": lambda: layers.Dense(3, activation="relu", kernel_initializer="ones"),
}


def _with_nan():
    x = np.array([[-1.0, 2.0, 0.5], [np.nan, -3.0, 4.0]], dtype="float32")
    return x


@pytest.mark.parametrize("name", sorted(RELU_LAYERS))
def test_relu_keeps_nan_and_still_zeroes_negatives(name):
    out = np.asarray(RELU_LAYERS[name]()(_with_nan()).data)
    if name == "Dense_relu":  # NaN in one input feature reaches every unit of that sample
        assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()
    else:
        assert np.isnan(out[1, 0])
        np.testing.assert_array_equal(np.isnan(out), np.isnan(_with_nan()))
        np.testing.assert_array_equal(out[0], [0.0, 2.0, 0.5])
        assert out[1, 1] == 0.0 and out[1, 2] == 4.0


@pytest.mark.keras
@pytest.mark.parametrize("name", ["ReLU", "Activation_relu"])
def test_relu_nan_matches_keras(name):
    keras = pytest.importorskip("keras")
    theirs = np.asarray(keras.layers.ReLU()(_with_nan()) if name == "ReLU"
                        else keras.layers.Activation("relu")(_with_nan()))
    ours = np.asarray(RELU_LAYERS[name]()(_with_nan()).data)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.nan_to_num(ours, nan=-7.0), np.nan_to_num(theirs, nan=-7.0))


def _classifier():
    nn.set_random_seed(0)
    model = nn.Sequential([nn.Input((5,)), layers.Dense(8, activation="relu"), layers.ReLU(),
                           layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=48):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 5)).astype("float32"), rng.integers(0, 3, n)


def test_fit_on_data_with_one_nan_reports_a_nan_loss(capsys):
    x, y = _data()
    x[3, 2] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _classifier().fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=2)
    assert np.isnan(history.history["loss"]).all(), history.history
    out = capsys.readouterr().out
    assert out.count("loss: nan") == 2, out          # one line per epoch with verbose=2
    assert not [w for w in caught if "loss" in str(w.message)], "Keras does not warn about a NaN loss"


def test_fit_on_all_nan_inputs_reports_nan_not_a_finite_loss():
    x, y = _data()
    history = _classifier().fit(np.full_like(x, np.nan), y, batch_size=16, epochs=1, verbose=0)
    assert np.isnan(history.history["loss"][0])      # not ln 3 = 1.0986 (NaN zeroed by relu)


def test_terminate_on_nan_stops_at_the_first_nan_batch():
    x, y = _data()
    x[20, 0] = np.nan                                # second batch of 16
    history = _classifier().fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                                callbacks=[callbacks.TerminateOnNaN()])
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])


def test_clean_data_gives_a_finite_loss():
    x, y = _data()
    history = _classifier().fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
