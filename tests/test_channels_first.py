"""``data_format="channels_first"`` and BatchNormalization(axis=...) against Keras, the default
``image_data_format``, and the new 1-D and channels_first layers in ``.keras`` / ``.weights.h5`` files,
summary() and compare.

Keras parity: forward and input gradient of every 2-D pooling, global pooling, upsampling, padding
and cropping layer on random configurations in both layouts; BatchNormalization on 3-D and 4-D
inputs with axis 1, -1 and 2, in training (outputs, gradients of the input and of gamma and beta,
moving statistics after several steps) and in inference. ``python -m tests.test_channels_first``
prints the worst differences per layer.
"""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from tests.keras_helpers import import_keras, keras_grads
from tests.test_pooling1d import diffs, keras_forward_and_input_grad

pytestmark = pytest.mark.keras


def random_2d_configs(rng, count):
    configs = []
    for index in range(count):
        fmt = ["channels_last", "channels_first"][index % 2]
        pool = tuple(int(v) for v in rng.integers(1, 4, 2))
        strides = tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = ["valid", "same"][rng.integers(2)]
        pairs = tuple(tuple(int(v) for v in rng.integers(0, 3, 2)) for _ in range(2))
        configs += [("MaxPooling2D", dict(pool_size=pool, strides=strides, padding=padding, data_format=fmt)),
                    ("AveragePooling2D", dict(pool_size=pool, strides=strides, padding=padding, data_format=fmt)),
                    ("GlobalAveragePooling2D", dict(data_format=fmt, keepdims=bool(rng.integers(2)))),
                    ("GlobalMaxPooling2D", dict(data_format=fmt, keepdims=bool(rng.integers(2)))),
                    ("UpSampling2D", dict(size=tuple(int(v) for v in rng.integers(1, 4, 2)), data_format=fmt,
                                          interpolation=["nearest", "bilinear"][rng.integers(2)])),
                    ("ZeroPadding2D", dict(padding=pairs, data_format=fmt)),
                    ("Cropping2D", dict(cropping=pairs, data_format=fmt))]
    return configs


def layer_2d_parity(keras, name, kwargs, rng):
    x = rng.standard_normal((2, int(rng.integers(6, 9)), int(rng.integers(6, 9)), int(rng.integers(1, 4))))
    x[1] = np.maximum(np.round(x[1]), 0)  # ties
    x = x.astype(np.float32)
    if kwargs["data_format"] == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    ours, theirs = getattr(L, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    t = nn.Tensor(x, requires_grad=True)
    y = ours(t)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    gx = nn.grad((y * nn.Tensor(upstream)).sum(), t)
    y_keras, gx_keras = keras_forward_and_input_grad(theirs, x, upstream)
    return diffs(y.data, y_keras) + diffs(gx.data, gx_keras)


BN_CASES = [((4, 3, 5, 6), 1), ((4, 5, 6, 3), -1), ((4, 5, 3, 6), 2), ((6, 3, 7), 1), ((6, 7, 3), -1)]


def batch_norm_parity(keras, shape, axis, rng, steps=2):
    """Worst diffs of BatchNormalization(axis) vs Keras: training outputs and gradients (input,
    gamma, beta) over ``steps`` batches, the moving statistics after them, then inference."""
    kwargs = dict(axis=axis, momentum=0.8, epsilon=1e-3)
    ours, theirs = L.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    theirs.build(shape)
    ours.build(shape)
    channels = shape[axis]
    gamma, beta = rng.uniform(0.5, 1.5, channels), rng.standard_normal(channels)
    weights = [gamma, beta, rng.standard_normal(channels) * 0.1, rng.uniform(0.5, 2, channels)]
    weights = [w.astype(np.float32) for w in weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    worst = {"train": [0.0] * 4, "moving": [0.0] * 2, "infer": [0.0] * 2}
    for _ in range(steps):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        upstream = rng.standard_normal(shape).astype(np.float32)
        gx_keras, (dgamma_keras, dbeta_keras) = keras_grads(theirs, x, upstream, training=True)
        y_keras = np.asarray(theirs(x, training=True))  # eager call: updates the moving statistics
        t = nn.Tensor(x, requires_grad=True)
        y = ours(t, training=True)
        gx, dgamma, dbeta = nn.grad((y * nn.Tensor(upstream)).sum(), [t, ours.gamma, ours.beta])
        row = diffs(y.data, y_keras) + diffs(gx.data, gx_keras)
        row = row[:2] + tuple(max(a, b) for a, b in zip(row[2:], diffs(dgamma.data, dgamma_keras)))
        row = row[:2] + tuple(max(a, b) for a, b in zip(row[2:], diffs(dbeta.data, dbeta_keras)))
        worst["train"] = [max(a, b) for a, b in zip(worst["train"], row)]
    for ours_w, keras_w in zip(ours.get_weights()[2:], theirs.get_weights()[2:]):
        worst["moving"] = [max(a, b) for a, b in zip(worst["moving"], diffs(ours_w, keras_w))]
    x = rng.standard_normal(shape).astype(np.float32)
    worst["infer"] = list(diffs(ours(nn.Tensor(x)).data, np.asarray(theirs(x, training=False))))
    return worst


def parity_table(seed=0, count=6):
    keras = import_keras()
    rng = np.random.default_rng(seed)
    table = {}
    for name, kwargs in random_2d_configs(rng, count):
        key = f"{name} {kwargs['data_format']}"
        table[key] = [max(a, b) for a, b in zip(table.get(key, [0.0] * 4), layer_2d_parity(keras, name, kwargs, rng))]
    for shape, axis in BN_CASES:
        worst = batch_norm_parity(keras, shape, axis, rng, steps=3)
        table[f"BatchNormalization axis={axis} {len(shape)}-D train"] = worst["train"]
        table[f"BatchNormalization axis={axis} {len(shape)}-D moving/infer"] = worst["moving"] + worst["infer"]
    return table


@pytest.mark.both_tiers
def test_channels_first_layers_match_keras_on_random_configurations():
    keras = import_keras()
    rng = np.random.default_rng(0)
    for name, kwargs in random_2d_configs(rng, 1):
        kwargs["data_format"] = "channels_first"
        _, fwd_rel, _, grad_rel = layer_2d_parity(keras, name, kwargs, rng)
        assert fwd_rel <= 1e-6 and grad_rel <= 1e-6, (name, kwargs, fwd_rel, grad_rel)


@pytest.mark.both_tiers
@pytest.mark.parametrize("shape, axis", BN_CASES[:4], ids=[f"{len(s)}d-axis{a}" for s, a in BN_CASES[:4]])
def test_batch_normalization_axes_match_keras_in_training_and_inference(shape, axis):
    keras = import_keras()
    worst = batch_norm_parity(keras, shape, axis, np.random.default_rng(len(shape) * 10 + axis))
    y_rel, grad_rel = worst["train"][1], worst["train"][3]  # grad: the worst of input, gamma and beta
    assert y_rel <= 1e-5 and grad_rel <= 1e-4, worst
    assert worst["moving"][1] <= 1e-6, worst  # moving mean and variance after two training steps
    assert worst["infer"][1] <= 1e-5, worst


def test_image_data_format_is_the_default_data_format():
    keras = import_keras()
    previous, previous_keras = nn.config.image_data_format(), keras.config.image_data_format()
    assert previous == "channels_last"
    try:
        nn.config.set_image_data_format("channels_first")
        keras.config.set_image_data_format("channels_first")
        for name in ("MaxPooling2D", "GlobalMaxPooling1D", "ZeroPadding2D", "UpSampling2D", "Cropping2D",
                     "ZeroPadding1D", "MaxPooling1D", "SpatialDropout2D", "Conv2D", "Conv1D", "DepthwiseConv2D",
                     "SeparableConv2D", "Conv2DTranspose"):
            args = (0.5,) if name == "SpatialDropout2D" else (3,) if name == "DepthwiseConv2D" else \
                (2, 3) if "Conv" in name else ()
            ours, theirs = getattr(L, name)(*args), getattr(keras.layers, name)(*args)
            assert ours.data_format == theirs.data_format == "channels_first", name
        x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
        np.testing.assert_array_equal(L.MaxPooling2D()(nn.Tensor(x)).numpy(), np.asarray(keras.layers.MaxPooling2D()(x)))
        with pytest.raises(ValueError, match="unknown data format 'nchw'"):
            nn.config.set_image_data_format("nchw")
    finally:
        nn.config.set_image_data_format(previous)
        keras.config.set_image_data_format(previous_keras)
    assert L.MaxPooling2D().data_format == "channels_last"


# -- files and tools -----------------------------------------------------------------------------------------
def new_layers_model(layers, Input, Model):
    """Every new 1-D layer and the channels_first 2-D layers, with a BatchNormalization(axis=1)."""
    seq = Input((12, 3), name="seq")
    s = layers.ZeroPadding1D((1, 2))(seq)
    s = layers.Cropping1D((2, 1))(s)
    s = layers.UpSampling1D(2)(s)
    s = layers.MaxPooling1D(3, 2, "same")(s)
    s = layers.AveragePooling1D(2, data_format="channels_first")(s)
    s = layers.BatchNormalization(axis=1)(s)
    a = layers.GlobalAveragePooling1D()(s)
    b = layers.GlobalMaxPooling1D(data_format="channels_first")(s)
    img = Input((2, 8, 6), name="img")
    i = layers.ZeroPadding2D(((1, 0), (0, 1)), data_format="channels_first")(img)
    i = layers.BatchNormalization(axis=1)(i)
    i = layers.Cropping2D(((0, 1), (1, 0)), data_format="channels_first")(i)
    i = layers.UpSampling2D(2, data_format="channels_first", interpolation="bilinear")(i)
    i = layers.MaxPooling2D(3, 2, "same", data_format="channels_first")(i)
    i = layers.AveragePooling2D(2, data_format="channels_first")(i)
    c = layers.GlobalAveragePooling2D(data_format="channels_first")(i)
    d = layers.GlobalMaxPooling2D(data_format="channels_first", keepdims=True)(i)
    d = layers.Flatten()(d)
    out = layers.Dense(2)(layers.Concatenate()([a, b, c, d]))
    return Model([seq, img], out)


def _inputs():
    rng = np.random.default_rng(7)
    return [rng.standard_normal((2, 12, 3)).astype(np.float32), rng.standard_normal((2, 2, 8, 6)).astype(np.float32)]


def _randomize_batch_norm(model):
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            c = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.standard_normal(c), rng.standard_normal(c) * 0.1,
                               rng.uniform(0.5, 2.0, c)])


def test_files_round_trip_with_keras_and_tools_know_the_layers(tmp_path):
    keras = import_keras()
    keras.backend.clear_session()
    L.clear_session()
    theirs = new_layers_model(keras.layers, keras.Input, keras.Model)
    _randomize_batch_norm(theirs)
    x = _inputs()
    expected = np.asarray(theirs.predict(x, verbose=0))
    theirs.save(tmp_path / "keras.keras")
    ours = nn.saving.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)), expected, rtol=1e-5, atol=1e-6)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    twin = new_layers_model(L, nn.Input, nn.Model)
    twin.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(twin.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    twin.save_weights(tmp_path / "ours.weights.h5")
    fresh = new_layers_model(keras.layers, keras.Input, keras.Model)
    fresh.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh.predict(x, verbose=0)), expected, rtol=1e-5, atol=1e-6)

    ours_text, keras_text = [], []
    ours.summary(print_fn=ours_text.append)
    theirs.summary(print_fn=lambda line, **kwargs: keras_text.append(line))
    assert "\n".join(ours_text).strip() == "\n".join(keras_text).strip()
    rows = nn.interop.compare(theirs, x, print_table=False, model=ours)
    assert {"MaxPooling1D", "GlobalAveragePooling1D", "UpSampling1D", "Cropping1D", "ZeroPadding1D",
            "GlobalMaxPooling1D", "AveragePooling1D", "BatchNormalization"} <= {row["class"] for row in rows}
    assert max(row["max_rel"] for row in rows) < 1e-5


if __name__ == "__main__":
    print(f"{'layer':44s} {'fwd max abs':>12s} {'fwd max rel':>12s} {'grad max abs':>12s} {'grad max rel':>12s}")
    print("(BatchNormalization moving/infer rows: moving abs, moving rel, inference abs, inference rel)")
    for tier in ("fast", "reference"):
        with nn.config.use_kernels(tier):
            for layer, row in sorted(parity_table(seed=0, count=6).items()):
                print(f"{layer + ' [' + tier + ']':44s} " + " ".join(f"{v:12.2e}" for v in row))
