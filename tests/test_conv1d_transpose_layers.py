"""Conv1D, SeparableConv1D, DepthwiseConv1D, Conv1DTranspose, Conv2DTranspose and channels_first on
every convolution layer: Keras parity (forward and gradients, random configurations), layer
gradient checks, config round trips, files both ways with Keras, summary / plot_model / compare.

The random configurations come from tests/random_parity.py's convolution stream
(``python -m tests.random_parity --n 300 --suite conv`` is the large sweep; CI runs the first
``CI_CONV_CONFIGS``). Each comparison checks config keys, count_params, compute_output_shape,
forward and the gradients w.r.t. the input and every weight, in both kernel tiers.
"""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from tests import random_parity
from tests.gradcheck_factory import assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff

CI_CONV_CONFIGS = 4
# found by the sweep: 22, a channels_first SeparableConv2D (the fast depthwise kernel needed a C-order input);
# 75, a gradient that is exactly 0 and float32 noise in both (see GRADIENT_ATOL_PER_ELEMENT); 296, a
# channels_first DepthwiseConv2D with one channel (a length-1 axis whose stride is not C order's)
SWEEP_REGRESSIONS = [22, 75, 296]
CONV_STREAM = random_parity.CONV_STREAM


def assert_parity_with_keras(name, config, shapes, seed):
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    rows = random_parity.compare(keras, name, config, shapes, seed, tiers=list(random_parity.TIERS))
    assert rows is not None, f"Keras refuses {name}({config})"


@pytest.mark.keras
@pytest.mark.parametrize("index", list(range(CI_CONV_CONFIGS)) + SWEEP_REGRESSIONS)
def test_random_convolution_configuration_matches_keras(index):
    name, config, shapes = random_parity.draw(0, index, CONV_STREAM)
    assert_parity_with_keras(name, config, shapes, seed=index)


@pytest.mark.keras
@pytest.mark.parametrize("name, config, shape", [
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, data_format="channels_first"),
     (2, 3, 7)),
    ("Conv1D", dict(filters=4, kernel_size=2, strides=3, padding="causal", groups=2), (2, 8, 4)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=(3, 2), strides=(2, 3), padding="same", output_padding=(1, 0),
                             data_format="channels_first"), (2, 2, 3, 4)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=4, dilation_rate=2, padding="same"), (2, 5, 3)),
    ("DepthwiseConv2D", dict(kernel_size=(2, 3), padding="same", data_format="channels_first"), (2, 3, 5, 4)),
], ids=["Conv1D-causal-cf", "Conv1D-causal-strided-groups", "Conv2DTranspose-op-cf", "Conv1DTranspose-dilated",
        "DepthwiseConv2D-cf"])
def test_fixed_convolution_configs_match_keras(name, config, shape):
    assert_parity_with_keras(name, dict(config, activation="tanh"), [shape], seed=11)


@pytest.mark.both_tiers
@pytest.mark.parametrize("make, shape", [
    (lambda: L.Conv1D(3, 3, padding="causal", dilation_rate=2, data_format="channels_first"), (2, 2, 6)),
    (lambda: L.SeparableConv1D(3, 2, strides=2, padding="same", depth_multiplier=2), (2, 5, 2)),
    (lambda: L.DepthwiseConv1D(3, padding="same", data_format="channels_first"), (2, 2, 5)),
    (lambda: L.Conv1DTranspose(2, 3, strides=2, output_padding=1), (2, 3, 2)),
    (lambda: L.Conv2DTranspose(2, (2, 3), strides=(2, 1), padding="same", data_format="channels_first"),
     (2, 2, 3, 3)),
    (lambda: L.Conv2D(2, 2, strides=2, padding="same", data_format="channels_first"), (2, 3, 4, 5)),
], ids=["Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose", "Conv2DTranspose", "Conv2D-cf"])
def test_layer_gradients_float64(make, shape):
    """Finite differences w.r.t. the input and every weight (bias made nonzero so it matters)."""
    with floatx64():
        layer = make()
        x = np.random.default_rng(0).standard_normal(shape)
        layer(x)
        layer.bias.assign(np.linspace(-1, 1, layer.bias.shape[0]))
        assert_layer_gradients_match(layer, x)


@pytest.mark.parametrize("layer", [
    L.Conv1D(4, 3, strides=2, padding="causal", groups=2, data_format="channels_first", activation="relu"),
    L.SeparableConv1D(3, 2, dilation_rate=2, depth_multiplier=2, pointwise_regularizer="l2"),
    L.DepthwiseConv1D(3, depth_multiplier=3, use_bias=False),
    L.Conv1DTranspose(3, 2, strides=2, output_padding=1, kernel_constraint="non_neg"),
    L.Conv2DTranspose(3, (3, 2), padding="same", dilation_rate=(2, 1), data_format="channels_first"),
], ids=lambda layer: type(layer).__name__)
def test_get_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.keras
def test_config_keys_and_values_match_keras():
    keras = import_keras()
    cases = [("Conv1D", dict(filters=4, kernel_size=3, padding="causal", data_format="channels_first")),
             ("SeparableConv1D", dict(filters=4, kernel_size=2, depth_multiplier=2)),
             ("DepthwiseConv1D", dict(kernel_size=3, dilation_rate=2)),
             ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=1)),
             ("Conv2DTranspose", dict(filters=2, kernel_size=3, padding="same", data_format="channels_first"))]
    for name, config in cases:
        theirs = getattr(keras.layers, name)(**config).get_config()
        ours = getattr(L, name)(**config).get_config()
        assert set(ours) == set(theirs), (name, set(ours) ^ set(theirs))
        for key in ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "output_padding"):
            if key in theirs:
                theirs_value = tuple(theirs[key]) if isinstance(theirs[key], (list, tuple)) else theirs[key]
                assert ours[key] == theirs_value, (name, key, ours[key], theirs[key])


def conv_model(layers, Input, Model):
    """Every new convolution layer, 1-D and 2-D, both data formats, in one functional model."""
    seq = Input((12, 3), name="sequence")
    h = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(seq)
    h = layers.SeparableConv1D(4, 3, strides=2, padding="same", depth_multiplier=2)(h)
    h = layers.DepthwiseConv1D(2, data_format="channels_first")(h)
    h = layers.Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1)(h)
    image = Input((2, 4, 5), name="image")  # channels_first
    g = layers.Conv2D(3, 2, padding="same", data_format="channels_first")(image)
    g = layers.Conv2DTranspose(2, (3, 2), strides=2, data_format="channels_first", activation="tanh")(g)
    g = layers.SeparableConv2D(2, 2, data_format="channels_first")(g)
    g = layers.DepthwiseConv2D(2, data_format="channels_first")(g)
    return Model([seq, image], [layers.Flatten()(h), layers.Flatten()(g)])


def _inputs():
    rng = np.random.default_rng(1)
    return [rng.standard_normal((2, 12, 3)).astype("float32"), rng.standard_normal((2, 2, 4, 5)).astype("float32")]


def _max_rel(a, b):
    return max(relative_diff(x, y) for x, y in zip(a, b))


@pytest.mark.keras
def test_keras_file_and_weights_files_both_ways(tmp_path):
    keras = import_keras()
    h5py = pytest.importorskip("h5py")
    xs = _inputs()
    theirs = conv_model(keras.layers, keras.Input, keras.Model)
    theirs.save(tmp_path / "keras.keras")
    ours = nn.saving.load_model(tmp_path / "keras.keras")
    expected = theirs.predict(xs, verbose=0)
    assert _max_rel(ours.predict(xs, verbose=0), expected) < 1e-5
    ours.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    assert _max_rel(back.predict(xs, verbose=0), expected) < 1e-5
    # .weights.h5: the same layout, and each side loads the other's file
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "keras.weights.h5")

    def datasets(path):
        found = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: found.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset) else None)
        return found
    assert datasets(tmp_path / "ours.weights.h5") == datasets(tmp_path / "keras.weights.h5")
    fresh_ours, fresh_theirs = conv_model(L, nn.Input, nn.Model), conv_model(keras.layers, keras.Input, keras.Model)
    fresh_ours.load_weights(tmp_path / "keras.weights.h5")
    fresh_theirs.load_weights(tmp_path / "ours.weights.h5")
    assert _max_rel(fresh_ours.predict(xs, verbose=0), expected) < 1e-5
    assert _max_rel(fresh_theirs.predict(xs, verbose=0), expected) < 1e-5


@pytest.mark.keras
def test_summary_compare_and_plot_model_know_the_layers(tmp_path):
    keras = import_keras()
    keras.backend.clear_session()
    L.clear_session()
    theirs = conv_model(keras.layers, keras.Input, keras.Model)
    ours = nn.interop.from_keras(theirs)
    ours_text, keras_text = [], []
    ours.summary(print_fn=ours_text.append)
    theirs.summary(print_fn=lambda line, **kwargs: keras_text.append(line))
    assert "\n".join(ours_text).strip() == "\n".join(keras_text).strip()
    rows = nn.interop.compare(theirs, _inputs(), print_table=False, model=ours)
    assert {row["class"] for row in rows} >= {"Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose",
                                              "Conv2DTranspose", "Conv2D", "SeparableConv2D", "DepthwiseConv2D"}
    assert max(row["max_rel"] for row in rows) < 1e-5
    pytest.importorskip("matplotlib")
    from numpy_nn.models.plot import plot_model
    plot_model(ours, to_file=str(tmp_path / "model.png"))
    assert (tmp_path / "model.png").stat().st_size > 0
