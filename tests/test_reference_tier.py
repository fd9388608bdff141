"""The whole library in the reference tier: fit, predict, Grad-CAM and saving, against Keras and the fast tier.

Every test runs inside ``nn.config.use_kernels("reference")`` with every fast kernel booby-trapped
(its ``forward`` and ``backward`` raise), so a test passes only if the reference code did all the
work. The model has every op family with a fast kernel (Conv2D, DepthwiseConv2D, SeparableConv2D,
BatchNormalization, MaxPooling2D) plus ReLU, global pooling and Dense. Tolerances: against Keras,
fit histories and weights 2e-3 relative, predictions 1e-5; against the fast tier, float32
rounding (1e-5 for one pass; 1e-4 after a fit, where rounding differences compound over steps).
"""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.autograd.function import fast_kernels
from tests.keras_helpers import import_keras, relative_diff

pytestmark = pytest.mark.keras


def build(L, Input, Model):
    x = Input((8, 8, 3), name="image")
    h = L.Conv2D(6, 3, padding="same", use_bias=False, name="conv")(x)  # a bias before BN gets no gradient
    h = L.BatchNormalization(name="bn")(h)
    h = L.ReLU(name="relu")(h)
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu", name="depthwise")(h)
    h = L.SeparableConv2D(8, 3, strides=2, padding="same", activation="relu", name="separable")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    return Model(x, L.Dense(3, activation="softmax", name="probs")(h), name="tiers")


def ours():
    return build(nn.layers, nn.Input, nn.Model)


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8, 8, 3)).astype("float32"), rng.integers(0, 3, n)


@pytest.fixture
def reference_only(monkeypatch):
    """The reference tier, with every fast kernel made to raise if it runs while the tier is "reference"."""
    def trap(method):
        def trapped(self, *args, **kwargs):
            if nn.config.kernels() == "reference":
                raise AssertionError(f"the fast kernel {type(self).__name__} ran in the reference tier")
            return method(self, *args, **kwargs)
        return trapped
    kernels = fast_kernels()
    assert kernels, "no fast kernels registered: nothing to tell the tiers apart"
    for kernel in kernels.values():
        monkeypatch.setattr(kernel, "forward", trap(kernel.forward))
        monkeypatch.setattr(kernel, "backward", trap(kernel.backward))
    with nn.config.use_kernels("reference"):
        assert nn.config.kernels() == "reference"
        yield
    assert nn.config.kernels() == "fast"


def keras_model(keras):
    keras.utils.set_random_seed(0)
    model = build(keras.layers, keras.Input, keras.Model)
    rng = np.random.default_rng(1)
    bn = model.get_layer("bn")
    gamma, beta, _, _ = bn.get_weights()
    bn.set_weights([gamma, beta, rng.normal(0, 0.3, 6).astype("float32"), rng.uniform(0.5, 2, 6).astype("float32")])
    return model


def copy_of(keras_model_):
    model = ours()
    model.set_weights(keras_model_.get_weights())
    return model


def test_fit_matches_keras_history_and_weights(reference_only):
    keras = import_keras()
    theirs = keras_model(keras)
    mine = copy_of(theirs)
    x, y = data()
    for model, optimizers in ((theirs, keras.optimizers), (mine, nn.optimizers)):
        model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, validation_data=data(8, 1), verbose=0)
    history = mine.fit(x, y, batch_size=8, epochs=2, shuffle=False, validation_data=data(8, 1), verbose=0)
    assert list(history.history) == list(expected.history)
    for key in expected.history:
        assert relative_diff(history.history[key], expected.history[key]) <= 2e-3, key
    for a, b, variable in zip(mine.get_weights(), theirs.get_weights(), mine.weights):
        assert relative_diff(a, b) <= 2e-3, variable.path   # BN moving statistics included


def test_fit_gives_the_fast_tier_numbers(monkeypatch):
    keras = import_keras()
    start = keras_model(keras)
    x, y = data()
    results = {}
    for tier in ("fast", "reference"):
        with nn.config.use_kernels(tier):
            model = copy_of(start)
            model.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
            results[tier] = (model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"],
                             model.get_weights())
    assert relative_diff(results["reference"][0], results["fast"][0]) <= 1e-4
    for a, b in zip(results["reference"][1], results["fast"][1]):
        assert relative_diff(a, b) <= 1e-4


def test_predict_matches_keras_and_the_fast_tier(reference_only):
    keras = import_keras()
    theirs = keras_model(keras)
    mine = copy_of(theirs)
    x, _ = data(10, 2)
    reference = mine.predict(x, verbose=0)
    assert relative_diff(reference, theirs.predict(x, verbose=0)) <= 1e-5
    with nn.config.use_kernels("fast"):
        fast = mine.predict(x, verbose=0)
    assert relative_diff(reference, fast) <= 1e-5


def test_grad_cam_is_the_fast_tier_heatmap(reference_only):
    keras = import_keras()
    mine = copy_of(keras_model(keras))
    x, _ = data(3, 3)
    reference = nn.viz.grad_cam(mine, x, layer_name="depthwise", class_index=1)
    with nn.config.use_kernels("fast"):
        fast = nn.viz.grad_cam(mine, x, layer_name="depthwise", class_index=1)
    assert reference.shape == (3, 4, 4) and float(reference.max()) == pytest.approx(1.0)
    np.testing.assert_allclose(reference, fast, atol=1e-5)


def test_save_and_load_round_trip(reference_only, tmp_path):
    keras = import_keras()
    theirs = keras_model(keras)
    mine = copy_of(theirs)
    mine.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = data(8, 4)
    mine.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # optimizer state to save too
    path = tmp_path / "tiers.keras"
    mine.save(path)
    loaded = nn.saving.load_model(path)
    expected = mine.predict(x, verbose=0)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    assert relative_diff(keras.saving.load_model(path).predict(x, verbose=0), expected) <= 1e-5
    for a, b in zip(loaded.optimizer.variables, mine.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
