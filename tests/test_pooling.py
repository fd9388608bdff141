"""Pooling ops and layers: naive-loop oracles, gradient checks, Keras parity, shapes, configs, errors."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.layers.pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                                     GlobalMaxPool2D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from numpy_nn.ops import pooling as P
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff
from tests.oracles_pooling import pool_backward_naive, pool_naive




@st.composite
def pooling_cases(draw):
    """A fitting (shape, pool_size, strides, padding) with non-square pools and strides."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    height, width = draw(st.integers(kh, 7)), draw(st.integers(kw, 7))
    shape = (draw(st.integers(1, 2)), height, width, draw(st.integers(1, 3)))
    return shape, (kh, kw), (sh, sw), padding


def distinct_values(shape, seed):
    """Values at least 0.01 apart, so no window has a tie (finite differences stay valid)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 0.3


# -- naive-loop oracle ---------------------------------------------------------------------------
@given(pooling_cases(), st.sampled_from(["max", "avg"]), st.booleans(), st.integers(0, 10**6))
def test_pooling_matches_naive_loops(case, mode, ties, seed):
    shape, pool_size, strides, padding = case
    rng = np.random.default_rng(seed)
    # small integers make ties common, which exercises the first-maximum rule
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    op = P.MaxPool2D() if mode == "max" else P.AvgPool2D()
    y = op.forward(x, pool_size=pool_size, strides=strides, padding=padding)
    np.testing.assert_allclose(y, pool_naive(x, pool_size, strides, padding, mode), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(op.backward(g)[0], pool_backward_naive(x, g, pool_size, strides, padding, mode),
                               rtol=1e-12, atol=1e-12)


def test_same_average_counts_only_real_cells():
    x = np.ones((1, 3, 3, 1))
    y = P.AvgPool2D().forward(x, pool_size=(2, 2), strides=(2, 2), padding="same")
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))  # padded zeros are not averaged in


def test_max_pool_gradient_goes_to_first_maximum_of_window():
    x = np.array([[1, 3, 3, 0], [3, 2, 1, 1], [0, 0, 5, 5], [0, 1, 5, 5]], np.float32).reshape(1, 4, 4, 1)
    op = P.MaxPool2D()
    op.forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid")
    expected = np.array([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]], np.float32)  # measured with JAX
    np.testing.assert_array_equal(op.backward(np.ones((1, 2, 2, 1), np.float32))[0][0, :, :, 0], expected)


# -- gradient checks -------------------------------------------------------------------------------
@given(pooling_cases(), st.sampled_from(["max", "avg"]), st.integers(0, 10**6))
def test_pooling_op_gradients(case, mode, seed):
    shape, pool_size, strides, padding = case
    fn = P.max_pool2d if mode == "max" else P.avg_pool2d
    x = nn.Tensor(distinct_values(shape, seed), requires_grad=True)
    assert_gradients_match(lambda: fn(x, pool_size, strides, padding), [x])


@given(st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
       st.booleans(), st.integers(0, 10**6))
def test_global_pooling_op_gradients(shape, keepdims, seed):
    x = nn.Tensor(distinct_values(shape, seed), requires_grad=True)
    assert_gradients_match(lambda: P.GlobalAvgPool2D.apply(x, keepdims=keepdims), [x])
    assert_gradients_match(lambda: P.GlobalMaxPool2D.apply(x, keepdims=keepdims), [x])


def test_global_max_ties_share_the_gradient():
    x = nn.Tensor(np.array([1.0, 5.0, 5.0, 5.0, 0.0, 5.0]).reshape(1, 2, 3, 1), requires_grad=True)
    P.GlobalMaxPool2D.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.ravel(), [0, 0.25, 0.25, 0.25, 0, 0.25])


@given(pooling_cases(), st.sampled_from(["max", "avg"]), st.sampled_from(["channels_last", "channels_first"]),
       st.integers(0, 10**6))
def test_pooling_layer_gradients(case, mode, data_format, seed):
    shape, pool_size, strides, padding = case
    cls = MaxPooling2D if mode == "max" else AveragePooling2D
    with floatx64():
        layer = cls(pool_size, strides=strides, padding=padding, data_format=data_format)
        x = distinct_values(shape, seed)
        if data_format == "channels_first":
            x = np.transpose(x, (0, 3, 1, 2))
        assert_layer_gradients_match(layer, x)


@given(st.sampled_from([GlobalAveragePooling2D, GlobalMaxPooling2D]), st.booleans(),
       st.sampled_from(["channels_last", "channels_first"]), st.integers(0, 10**6))
def test_global_pooling_layer_gradients(cls, keepdims, data_format, seed):
    with floatx64():
        assert_layer_gradients_match(cls(data_format=data_format, keepdims=keepdims), distinct_values((2, 3, 4, 2), seed))


# -- Keras parity ------------------------------------------------------------------------------------
POOL_CONFIGS = [((2, 2), None, "valid"), ((3, 2), None, "same"), ((3, 2), (2, 1), "same"), ((3, 3), (2, 2), "same"),
                ((2, 3), (1, 2), "valid"), ((3, 1), (1, 1), "same")]


def parity(ours, theirs, x, seed=0):
    """Forward and input-gradient relative diffs of our layer vs a Keras layer on x (float32).

    Keras's gradient of sum(upstream * layer(x)) comes from ``jax.vjp`` (these layers have no
    weights and their ``call`` takes no ``training`` argument, so ``keras_helpers.keras_grads``,
    which passes one to ``stateless_call``, does not apply).
    """
    import jax
    y_keras, pullback = jax.vjp(theirs, jax.numpy.asarray(x))
    upstream = np.random.default_rng(seed).standard_normal(y_keras.shape).astype(np.float32)
    (gx_keras,) = pullback(jax.numpy.asarray(upstream))
    t = nn.Tensor(x, requires_grad=True)
    y = ours(t)
    gx = nn.grad((y * nn.Tensor(upstream)).sum(), t)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    return relative_diff(y.data, np.asarray(y_keras)), relative_diff(gx.data, np.asarray(gx_keras))


@pytest.mark.keras
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_parity_with_keras(mode):
    keras = import_keras()
    rng = np.random.default_rng(1)
    smooth = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    tied = np.maximum(np.round(smooth), 0)  # ReLU-like zeros: many ties
    x = np.concatenate([smooth, tied]).astype(np.float32)
    ours_cls = MaxPooling2D if mode == "max" else AveragePooling2D
    keras_cls = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    for pool_size, strides, padding in POOL_CONFIGS:
        ours, theirs = ours_cls(pool_size, strides, padding), keras_cls(pool_size, strides, padding)
        forward, backward = parity(ours, theirs, x)
        assert forward <= 1e-5 and backward <= 1e-4, (pool_size, strides, padding, forward, backward)


@pytest.mark.keras
def test_pooling_parity_channels_first():
    keras = import_keras()
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6)).astype(np.float32)
    for ours, theirs in [(MaxPooling2D(3, 2, "same", data_format="channels_first"),
                          keras.layers.MaxPooling2D(3, 2, "same", data_format="channels_first")),
                         (AveragePooling2D(3, 2, "same", data_format="channels_first"),
                          keras.layers.AveragePooling2D(3, 2, "same", data_format="channels_first"))]:
        forward, backward = parity(ours, theirs, x)
        assert forward <= 1e-5 and backward <= 1e-4


@pytest.mark.keras
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_parity_with_keras(keepdims):
    keras = import_keras()
    smooth = np.random.default_rng(3).standard_normal((2, 5, 4, 3))
    x = np.concatenate([smooth, np.maximum(np.round(smooth), 0)]).astype(np.float32)
    pairs = [(GlobalAveragePooling2D(keepdims=keepdims), keras.layers.GlobalAveragePooling2D(keepdims=keepdims)),
             (GlobalMaxPooling2D(keepdims=keepdims), keras.layers.GlobalMaxPooling2D(keepdims=keepdims))]
    for ours, theirs in pairs:
        forward, backward = parity(ours, theirs, x)
        assert forward <= 1e-5 and backward <= 1e-4


@pytest.mark.keras
def test_output_shapes_and_configs_match_keras():
    keras = import_keras()
    shapes = [(None, 7, 8, 3), (4, 9, 5, 2), (None, None, 6, 1)]
    for pool_size, strides, padding in POOL_CONFIGS:
        for ours, theirs in [(MaxPooling2D(pool_size, strides, padding),
                              keras.layers.MaxPooling2D(pool_size, strides, padding)),
                             (AveragePooling2D(pool_size, strides, padding),
                              keras.layers.AveragePooling2D(pool_size, strides, padding))]:
            for shape in shapes:
                assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
            ours_config, keras_config = ours.get_config(), theirs.get_config()
            assert set(ours_config) == set(keras_config)
            for key in ("pool_size", "strides", "padding", "data_format"):
                assert ours_config[key] == keras_config[key], key
    for keepdims in (False, True):
        for data_format in ("channels_last", "channels_first"):
            for ours, theirs in [(GlobalAveragePooling2D(data_format, keepdims),
                                  keras.layers.GlobalAveragePooling2D(data_format, keepdims)),
                                 (GlobalMaxPooling2D(data_format, keepdims),
                                  keras.layers.GlobalMaxPooling2D(data_format, keepdims))]:
                assert ours.compute_output_shape((None, 5, 6, 3)) == tuple(theirs.compute_output_shape((None, 5, 6, 3)))
                assert ours.get_config().keys() == theirs.get_config().keys()
                assert ours.get_config()["keepdims"] == keepdims


# -- configuration, names and errors ---------------------------------------------------------------------------
def test_defaults_aliases_and_round_trip():
    layer = MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    assert layer.data_format == "channels_last" and layer.get_weights() == []
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D
    assert GlobalAvgPool2D is GlobalAveragePooling2D and GlobalMaxPool2D is GlobalMaxPooling2D
    rebuilt = AveragePooling2D.from_config(AveragePooling2D((3, 2), strides=1, padding="same", name="p").get_config())
    assert (rebuilt.pool_size, rebuilt.strides, rebuilt.padding, rebuilt.name) == ((3, 2), (1, 1), "same", "p")
    assert MaxPooling2D(3).strides == (3, 3)


def test_argument_and_shape_errors_name_the_layer():
    with pytest.raises(TypeError):
        AveragePooling2D()  # no default pool_size, as in Keras 3
    with pytest.raises(ValueError, match="'p1'.*padding='full'"):
        MaxPooling2D(padding="full", name="p1")
    with pytest.raises(ValueError, match="'p2'.*pool_size"):
        MaxPooling2D(pool_size=(0, 2), name="p2")
    with pytest.raises(ValueError, match="'p3'.*strides"):
        AveragePooling2D(2, strides=(1, 2, 3), name="p3")
    with pytest.raises(ValueError, match="'p4'.*data_format"):
        GlobalMaxPooling2D(data_format="NHWC", name="p4")
    with pytest.raises(ValueError, match=r"'p5'.*zero or negative.*\(2, 3, 3, 1\)"):
        MaxPooling2D(4, name="p5")(np.zeros((2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="'p6'.*expected ndim=4"):
        MaxPooling2D(name="p6")(np.zeros((2, 3, 3), np.float32))
