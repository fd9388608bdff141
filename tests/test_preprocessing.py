"""Rescaling and Normalization: formulas, adapt(), weights, gradients, configs, Keras parity."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpy_nn.layers.preprocessing import Normalization, Rescaling
from tests.gradcheck_factory import assert_layer_gradients_match
from tests.keras_helpers import import_keras, relative_diff


def _images(seed=0, shape=(6, 4, 5, 3)):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * np.array([1.0, 5.0, 0.2]) + np.array([0.0, 10.0, -3.0])).astype(np.float32)


def test_rescaling_formula_dtype_and_gradient():
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    y = Rescaling(1 / 127.5, offset=-1)(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), x * np.float32(1 / 127.5) + np.float32(-1))
    per_channel = Rescaling(np.array([1.0, 2.0, 3.0]), offset=np.array([0.5, 0.0, -0.5]))(x)
    np.testing.assert_allclose(per_channel.numpy(), x * [1, 2, 3] + [0.5, 0, -0.5])
    assert_layer_gradients_match(Rescaling(np.array([1.0, 2.0, 3.0]), offset=0.5, dtype="float64"), x)


def test_rescaling_config_round_trip_and_errors():
    layer = Rescaling(np.array([1.0, 2.0]), offset=0.5, name="r")
    config = layer.get_config()
    assert config["scale"] == {"class_name": "__numpy__", "config": {"value": [1.0, 2.0], "dtype": "float64"}}
    clone = Rescaling.from_config(config)
    np.testing.assert_array_equal(clone.scale, [1.0, 2.0])
    assert Rescaling(0.5).get_config()["scale"] == 0.5
    with pytest.raises(ValueError, match="scale='a'"):
        Rescaling("a")


@pytest.mark.parametrize("axis", [-1, (1, 2), (1, 3), None, 2])
@given(seed=st.integers(0, 2**16))
def test_adapt_computes_per_position_mean_and_biased_variance(axis, seed):
    x = _images(seed)
    layer = Normalization(axis=axis)
    layer.adapt(x)
    keep = () if axis is None else tuple(sorted(np.atleast_1d(axis) % 4))
    reduce = tuple(d for d in range(4) if d not in keep)
    mean, variance, count = layer.get_weights()
    np.testing.assert_allclose(mean, x.mean(axis=reduce, dtype=np.float64), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(variance, x.var(axis=reduce, dtype=np.float64), rtol=1e-5, atol=1e-6)
    assert count.dtype == np.int32 and count.shape == () and mean.dtype == np.float32
    y = layer(x).numpy()
    np.testing.assert_allclose(y.mean(axis=reduce), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=reduce), 1, atol=1e-3)


def test_adapt_on_batches_equals_adapt_on_the_array():
    x = _images(1, shape=(10, 4, 5, 3))
    whole, batched = Normalization(), Normalization()
    whole.adapt(x)
    batched.adapt([x[:3], x[3:7], x[7:]])
    for a, b in zip(whole.get_weights(), batched.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_constant_mean_and_variance_broadcast_and_invert():
    x = _images(2)
    layer = Normalization(mean=[0.0, 10.0, -3.0], variance=[1.0, 25.0, 0.04])
    y = layer(x).numpy()
    assert layer.get_weights() == []
    std = np.sqrt(np.array([1.0, 25.0, 0.04], np.float32))
    np.testing.assert_allclose(y, (x - np.array([0.0, 10.0, -3.0], np.float32)) / std, rtol=1e-6)
    inverse = Normalization(mean=[0.0, 10.0, -3.0], variance=[1.0, 25.0, 0.04], invert=True)
    np.testing.assert_allclose(inverse(y).numpy(), x, rtol=1e-5, atol=1e-5)
    scalar = Normalization(mean=2.0, variance=4.0)(x).numpy()
    np.testing.assert_allclose(scalar, (x - 2) / 2, rtol=1e-6)
    zero_var = Normalization(mean=0.0, variance=0.0)(np.ones((2, 3), np.float32)).numpy()
    np.testing.assert_allclose(zero_var, 1e7, rtol=1e-6)  # the denominator is max(sqrt(var), 1e-7)


def test_normalization_gradient_and_errors():
    x = _images(3).astype(np.float64)
    layer = Normalization(axis=(1, 3), dtype="float64")
    layer.adapt(x)
    assert_layer_gradients_match(layer, x)
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="same shape"):
        Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match="rank of `mean`"):
        Normalization(mean=[[1.0]], variance=[[1.0]])
    with pytest.raises(ValueError, match="axis=\\(5,\\)"):
        Normalization(axis=5).adapt(x)
    with pytest.raises(ValueError, match="incompatible shape"):
        layer.adapt(np.ones((2, 5, 5, 3)))
    assert layer.get_config()["axis"] == (1, 3) and layer.get_config()["mean"] is None


@pytest.mark.keras
@pytest.mark.both_tiers
def test_rescaling_matches_keras_exactly():
    keras = import_keras()
    x = _images(4) * 40
    for scale, offset in ((1 / 255.0, 0.0), (1 / 127.5, -1.0)):
        ours = Rescaling(scale, offset=offset)(x).numpy()
        np.testing.assert_array_equal(ours, np.asarray(keras.layers.Rescaling(scale, offset=offset)(x)))
    keras_config = keras.layers.Rescaling(np.array([1.0, 2.0, 3.0]), offset=0.5, name="rs").get_config()
    ours_config = Rescaling(np.array([1.0, 2.0, 3.0]), offset=0.5, name="rs").get_config()
    assert ours_config["scale"] == keras_config["scale"] and ours_config["offset"] == keras_config["offset"]


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("axis", [-1, (1, 2), None])
def test_normalization_matches_keras(axis):
    keras = import_keras()
    x = _images(5, shape=(16, 4, 5, 3))
    theirs, ours = keras.layers.Normalization(axis=axis), Normalization(axis=axis)
    theirs.adapt(x)
    ours.adapt(x)
    keras_weights = theirs.get_weights()
    assert [(w.shape, w.dtype) for w in ours.get_weights()] == [(w.shape, w.dtype) for w in keras_weights]
    assert [w.name for w in ours.weights] == ["mean", "variance", "count"]
    for a, b in zip(ours.get_weights(), keras_weights):
        assert relative_diff(a, b) <= 1e-6
    assert relative_diff(ours(x).numpy(), np.asarray(theirs(x))) <= 1e-5
    inverse_ours = Normalization(axis=axis, mean=keras_weights[0], variance=keras_weights[1], invert=True)
    inverse_theirs = keras.layers.Normalization(axis=axis, mean=keras_weights[0], variance=keras_weights[1],
                                                invert=True)
    assert relative_diff(inverse_ours(x).numpy(), np.asarray(inverse_theirs(x))) <= 1e-6
    assert ours.get_config()["axis"] == theirs.get_config()["axis"]
