"""Dropout, SpatialDropout2D, GaussianNoise: mask statistics, broadcasting, seeding, gradients, Keras rules.

Dropout has no fast kernel (its reference runs in both tiers); the gradient checks and the Keras
rules are still marked ``both_tiers`` so that a fast kernel added later is covered.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn import config
from numpy_nn.layers.dropout import Dropout, GaussianNoise, SpatialDropout2D
from numpy_nn.ops.dropout import Dropout as DropoutOp
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match
from tests.keras_helpers import import_keras

RATES = [0.1, 0.25, 0.5, 0.8]


both_tiers = pytest.mark.both_tiers  # run in the fast and in the reference tier (tests/conftest.py)


def _kept_fraction_is_plausible(mask, keep_prob):
    """The kept fraction lies within 5 binomial standard deviations of keep_prob."""
    n = mask.size
    sd = np.sqrt(keep_prob * (1 - keep_prob) / n)
    assert abs(mask.mean() - keep_prob) <= 5 * sd + 1e-12, (mask.mean(), keep_prob, n)


@pytest.mark.parametrize("rate", RATES)
@given(st.integers(0, 2**16))
def test_values_are_zero_or_scaled_and_keep_rate_matches(rate, seed):
    x = np.random.default_rng(seed).uniform(0.5, 2.0, (50, 40)).astype(np.float32)
    y = DropoutOp.apply(nn.Tensor(x), rate=rate, rng=np.random.default_rng(seed)).numpy()
    assert y.dtype == np.float32
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * (np.float32(1) / np.float32(1 - rate)))  # as XLA does
    _kept_fraction_is_plausible(kept, 1 - rate)


@pytest.mark.parametrize("rate", RATES)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.data())
def test_noise_shape_broadcasts_the_mask(rate, shape, data):
    shape = tuple(shape)
    noise_shape = tuple(data.draw(st.sampled_from([None, 1])) for _ in shape)
    x = np.ones(shape)
    y = DropoutOp.apply(nn.Tensor(x), rate=rate, noise_shape=noise_shape, rng=np.random.default_rng(0)).numpy()
    for axis, entry in enumerate(noise_shape):
        if entry == 1:  # the mask is constant along a broadcast axis
            first = np.take(y, [0], axis=axis)
            np.testing.assert_array_equal(y, np.broadcast_to(first, shape))


def test_noise_shape_none_row_dropping_and_errors():
    y = DropoutOp.apply(nn.Tensor(np.ones((400, 6))), rate=0.5, noise_shape=(None, 1),
                        rng=np.random.default_rng(1)).numpy()
    rows = y[:, 0] != 0
    np.testing.assert_array_equal(y, np.where(rows[:, None], 2.0, 0.0) * np.ones((1, 6)))
    _kept_fraction_is_plausible(rows, 0.5)
    with pytest.raises(ValueError, match=r"noise_shape \(None, 3\).*\(4, 6\)"):
        DropoutOp.apply(nn.Tensor(np.ones((4, 6))), rate=0.5, noise_shape=(None, 3))
    with pytest.raises(ValueError, match="one entry per input axis"):
        DropoutOp.apply(nn.Tensor(np.ones((4, 6))), rate=0.5, noise_shape=(None,))


def test_rate_one_gives_zeros_and_zero_gradient():
    x = nn.Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    y = DropoutOp.apply(x, rate=1.0)
    np.testing.assert_array_equal(y.numpy(), 0)
    np.testing.assert_array_equal(nn.grad(y.sum(), x).numpy(), 0)


@both_tiers
@pytest.mark.parametrize("rate", RATES)
@given(st.integers(0, 2**16))
def test_gradient_is_mask_over_keep_prob(rate, seed):
    x = nn.Tensor(np.random.default_rng(seed).uniform(1, 2, (20, 7)), requires_grad=True)
    y = DropoutOp.apply(x, rate=rate, rng=np.random.default_rng(seed))
    grad = nn.grad(y.sum(), x).numpy()
    mask = y.numpy() != 0
    np.testing.assert_allclose(grad, mask / (1 - rate), rtol=1e-15)
    # the factory: with the same seed on every call, the mask is fixed and dropout is linear in x
    assert_gradients_match(lambda: DropoutOp.apply(x, rate=rate, rng=np.random.default_rng(seed)), [x], names=["x"])


def test_seeded_layers_are_reproducible_and_unseeded_follow_set_random_seed():
    x = np.ones((30, 30), np.float32)
    a, b = Dropout(0.5, seed=7), Dropout(0.5, seed=7)
    first_a, first_b = a(x, training=True).numpy(), b(x, training=True).numpy()
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(first_a, a(x, training=True).numpy())  # the stream moves on
    config.set_random_seed(3)
    u = Dropout(0.5)(x, training=True).numpy()
    config.set_random_seed(3)
    np.testing.assert_array_equal(u, Dropout(0.5)(x, training=True).numpy())


def test_inference_is_the_exact_identity():
    x = nn.Tensor(np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32))
    for layer in (Dropout(0.5), SpatialDropout2D(0.5), GaussianNoise(0.5)):
        shaped = x if layer.input_ndim is None else nn.Tensor(np.ones((2, 3, 3, 4), np.float32))
        for training in (None, False):
            assert layer(shaped, training=training) is shaped
    assert Dropout(0.0)(x, training=True) is x


@pytest.mark.parametrize("rate", RATES)
@given(st.integers(0, 2**16))
def test_dropout_layer_gradients(rate, seed):
    x = np.random.default_rng(seed).standard_normal((5, 6))
    layer = Dropout(rate, noise_shape=(None, 1), seed=seed, dtype="float64")
    # reseed before every call so the finite differences see the same mask
    forward = layer.call

    def call_with_fixed_mask(inputs, training=None):
        layer._rng = np.random.default_rng(seed)
        return forward(inputs, training=training)

    layer.call = call_with_fixed_mask
    assert_layer_gradients_match(layer, x, training=True)


def test_spatial_dropout_drops_whole_feature_maps():
    x = np.ones((64, 5, 5, 8), np.float32)
    y = SpatialDropout2D(0.25, seed=0)(x, training=True).numpy()
    per_map = y[:, :1, :1, :]
    np.testing.assert_array_equal(y, np.broadcast_to(per_map, y.shape))
    _kept_fraction_is_plausible(per_map != 0, 0.75)
    assert set(np.unique(y)) <= {0.0, np.float32(1) / np.float32(0.75)}
    first = SpatialDropout2D(0.5, data_format="channels_first", seed=0)(x, training=True).numpy()
    np.testing.assert_array_equal(first, np.broadcast_to(first[:, :, :1, :1], x.shape))
    with pytest.raises(ValueError, match="ndim=4"):
        SpatialDropout2D(0.5)(np.ones((2, 3), np.float32), training=True)


def test_gaussian_noise_adds_noise_with_unit_gradient():
    x = nn.Tensor(np.zeros((200, 50), np.float32), requires_grad=True)
    y = GaussianNoise(0.3, seed=0)(x, training=True)
    assert y.dtype == np.float32 and abs(float(y.numpy().std()) - 0.3) < 0.01
    np.testing.assert_array_equal(nn.grad(y.sum(), x).numpy(), 1)


def test_argument_validation_quotes_the_value():
    for bad in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="rate="):
            Dropout(bad)
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape="abc")
    with pytest.raises(ValueError, match="index 1"):
        Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ValueError, match="stddev=2"):
        GaussianNoise(2)
    with pytest.raises(ValueError, match="data_format='nhwc'"):
        SpatialDropout2D(0.5, data_format="NHWC")


def test_configs_round_trip():
    d = Dropout(0.3, noise_shape=[None, 1], seed=4, name="d")
    config_ = d.get_config()
    assert config_["noise_shape"] == (None, 1) and config_["rate"] == 0.3 and config_["seed"] == 4
    assert Dropout.from_config(config_).get_config() == config_
    s = SpatialDropout2D(0.3, name="s")
    assert SpatialDropout2D.from_config(s.get_config()).get_config() == s.get_config()
    assert Dropout(0.5).get_weights() == [] and Dropout(0.5).compute_output_shape((None, 3)) == (None, 3)


@pytest.mark.keras
@both_tiers
def test_matches_keras_rules():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    rate = 0.25
    x = np.random.default_rng(0).uniform(0.5, 2.0, (64, 32)).astype(np.float32)
    theirs, ours = keras.layers.Dropout(rate), Dropout(rate, seed=0)
    np.testing.assert_array_equal(np.asarray(theirs(x, training=False)), x)
    np.testing.assert_array_equal(ours(x, training=False).numpy(), x)
    y_keras, y_ours = np.asarray(theirs(x, training=True)), ours(x, training=True).numpy()
    for y in (y_keras, y_ours):  # the same rule: zeros, or x * float32(1 / (1 - rate)) bit for bit
        kept = y != 0
        np.testing.assert_array_equal(y[kept], x[kept] * (np.float32(1) / np.float32(1 - rate)))
        _kept_fraction_is_plausible(kept, 1 - rate)
    rows = np.asarray(keras.layers.Dropout(0.5, noise_shape=(None, 1))(x, training=True))
    ours_rows = Dropout(0.5, noise_shape=(None, 1), seed=1)(x, training=True).numpy()
    for y in (rows, ours_rows):
        np.testing.assert_array_equal((y != 0).all(axis=1), (y != 0).any(axis=1))
    np.testing.assert_array_equal(np.asarray(keras.layers.Dropout(1.0)(x, training=True)),
                                  Dropout(1.0)(x, training=True).numpy())
    spatial = keras.layers.SpatialDropout2D(0.3, name="sd")
    assert SpatialDropout2D(0.3, name="sd").get_config() == spatial.get_config()
    keras_config = keras.layers.Dropout(0.3, noise_shape=[None, 1], seed=2, name="dd").get_config()
    ours_config = Dropout(0.3, noise_shape=[None, 1], seed=2, name="dd").get_config()
    for key in ("rate", "seed", "noise_shape", "name", "trainable"):
        assert ours_config[key] == keras_config[key]
