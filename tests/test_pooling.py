"""Pooling ops and layers: naive-loop oracles, gradient checks, Keras parity, NaN, shapes, configs, errors.

Tests marked ``both_tiers`` run with the fast kernels and with the reference tier (the naive-loop
oracles, gradient checks and Keras parity); the fast kernels are also checked against the
reference directly in tests/test_kernels_norm_pool.py.
"""

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


both_tiers = pytest.mark.both_tiers  # run in the fast and in the reference tier (tests/conftest.py)


OPS = {"max": P.MaxPool2D, "avg": P.AvgPool2D}
FUNCTIONS = {"max": P.max_pool2d, "avg": P.avg_pool2d}
LAYERS = {"max": MaxPooling2D, "avg": AveragePooling2D}


@st.composite
def pooling_cases(draw):
    """A fitting (shape, pool_size, strides) with non-square pools and strides (padding: pytest)."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    height, width = draw(st.integers(kh, 7)), draw(st.integers(kw, 7))
    shape = (draw(st.integers(1, 2)), height, width, draw(st.integers(1, 3)))
    return shape, (kh, kw), (sh, sw)


def distinct_values(shape, seed):
    """Values at least 0.01 apart, so no window has a tie (finite differences stay valid)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 0.3


def _forward_backward(mode, x, g_seed, **params):
    """The op of the current tier on plain arrays: (y, dx) for a random upstream gradient."""
    op = OPS[mode].implementation()()
    y = op.forward(x, **params)
    g = np.random.default_rng(g_seed).standard_normal(y.shape)
    return y, g, op.backward(g)[0]


# -- naive-loop oracle ---------------------------------------------------------------------------
@both_tiers
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(pooling_cases(), st.booleans(), st.integers(0, 10**6))
def test_pooling_matches_naive_loops(mode, padding, case, ties, seed):
    shape, pool_size, strides = case
    rng = np.random.default_rng(seed)
    # small integers make ties common, which exercises the first-maximum rule
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    y, g, dx = _forward_backward(mode, x, seed, pool_size=pool_size, strides=strides, padding=padding)
    np.testing.assert_allclose(y, pool_naive(x, pool_size, strides, padding, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, pool_backward_naive(x, g, pool_size, strides, padding, mode), rtol=1e-12, atol=1e-12)


@both_tiers
@pytest.mark.parametrize("padding", ["valid", "same"])
@given(pooling_cases(), st.integers(0, 10**6))
def test_max_pooling_with_nan_matches_naive_loops(padding, case, seed):
    """NaN and -inf cells among ties: the maximum is NaN and the gradient follows XLA's selection."""
    shape, pool_size, strides = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, shape).astype(np.float64)
    x[rng.random(shape) < 0.2] = np.nan
    x[rng.random(shape) < 0.1] = -np.inf
    y, g, dx = _forward_backward("max", x, seed, pool_size=pool_size, strides=strides, padding=padding)
    np.testing.assert_array_equal(y, pool_naive(x, pool_size, strides, padding, "max"))  # NaN where expected
    np.testing.assert_allclose(dx, pool_backward_naive(x, g, pool_size, strides, padding, "max"), rtol=1e-12, atol=0)


@both_tiers
def test_max_pool_gradient_goes_to_first_maximum_of_window():
    x = np.array([[1, 3, 3, 0], [3, 2, 1, 1], [0, 0, 5, 5], [0, 1, 5, 5]], np.float32).reshape(1, 4, 4, 1)
    op = P.MaxPool2D.implementation()()
    op.forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid")
    expected = np.array([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]], np.float32)  # measured with JAX
    np.testing.assert_array_equal(op.backward(np.ones((1, 2, 2, 1), np.float32))[0][0, :, :, 0], expected)


# measured: jax.vjp of keras.layers.MaxPooling2D(2) on one 2x2 window (row-major), upstream 1
NAN_WINDOWS = [([np.nan, 1, 2, 3], [0, 0, 0, 1]), ([1, 2, 3, np.nan], [0, 0, 0, 1]), ([3, np.nan, 1, 5], [0, 0, 0, 1]),
               ([1, np.nan, np.nan, 0], [0, 0, 0, 1]), ([-np.inf, np.nan, -np.inf, -np.inf], [0, 0, 1, 0]),
               ([np.inf, np.nan, 1, 2], [0, 0, 0, 1])]


@both_tiers
@pytest.mark.parametrize("window,expected", NAN_WINDOWS)
def test_max_pool_keeps_nan_and_routes_its_gradient_as_jax(window, expected):
    x = nn.Tensor(np.array(window, np.float32).reshape(1, 2, 2, 1), requires_grad=True)
    y = P.max_pool2d(x, (2, 2))
    assert np.isnan(y.numpy()).all()
    np.testing.assert_array_equal(nn.grad(y.sum(), x).numpy().ravel(), expected)


@both_tiers
def test_global_max_pool_with_nan_gives_nan_gradient_to_the_whole_map():
    x = nn.Tensor(np.array([[1.0, 0.0], [np.nan, 4.0], [2.0, 4.0]]).reshape(1, 3, 1, 2), requires_grad=True)
    y = P.GlobalMaxPool2D.apply(x)
    np.testing.assert_array_equal(y.numpy(), [[np.nan, 4.0]])
    grad = nn.grad(y.sum(), x).numpy()[0, :, 0]
    assert np.isnan(grad[:, 0]).all()  # as jnp.max: 0/0 shares when no cell equals the NaN maximum
    np.testing.assert_array_equal(grad[:, 1], [0, 0.5, 0.5])


def test_same_average_counts_only_real_cells():
    x = np.ones((1, 3, 3, 1))
    y = P.AvgPool2D().forward(x, pool_size=(2, 2), strides=(2, 2), padding="same")
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))  # padded zeros are not averaged in


@both_tiers
@pytest.mark.parametrize("layer", [MaxPooling2D(2, padding="same"), AveragePooling2D(3, 2), GlobalMaxPooling2D(),
                                   GlobalAveragePooling2D(keepdims=True)], ids=lambda layer: type(layer).__name__)
def test_pooling_layers_on_an_empty_batch(layer):
    x = nn.Tensor(np.zeros((0, 5, 6, 3), np.float32), requires_grad=True)
    y = layer(x)
    assert y.shape == layer.compute_output_shape((0, 5, 6, 3)) and y.dtype == np.float32
    assert nn.grad(y.sum(), x).shape == (0, 5, 6, 3)


# -- gradient checks -------------------------------------------------------------------------------
@both_tiers
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(pooling_cases(), st.integers(0, 10**6))
def test_pooling_op_gradients(mode, padding, case, seed):
    shape, pool_size, strides = case
    x = nn.Tensor(distinct_values(shape, seed), requires_grad=True)
    assert_gradients_match(lambda: FUNCTIONS[mode](x, pool_size, strides, padding), [x])


@both_tiers
@pytest.mark.parametrize("keepdims", [False, True])
@given(st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)), st.integers(0, 10**6))
def test_global_pooling_op_gradients(keepdims, shape, seed):
    x = nn.Tensor(distinct_values(shape, seed), requires_grad=True)
    assert_gradients_match(lambda: P.GlobalAvgPool2D.apply(x, keepdims=keepdims), [x])
    assert_gradients_match(lambda: P.GlobalMaxPool2D.apply(x, keepdims=keepdims), [x])


def test_global_max_ties_share_the_gradient():
    x = nn.Tensor(np.array([1.0, 5.0, 5.0, 5.0, 0.0, 5.0]).reshape(1, 2, 3, 1), requires_grad=True)
    P.GlobalMaxPool2D.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.ravel(), [0, 0.25, 0.25, 0.25, 0, 0.25])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(pooling_cases(), st.integers(0, 10**6))
def test_pooling_layer_gradients(mode, padding, data_format, case, seed):
    shape, pool_size, strides = case
    with floatx64():
        layer = LAYERS[mode](pool_size, strides=strides, padding=padding, data_format=data_format)
        x = distinct_values(shape, seed)
        if data_format == "channels_first":
            x = np.transpose(x, (0, 3, 1, 2))
        assert_layer_gradients_match(layer, x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls", [GlobalAveragePooling2D, GlobalMaxPooling2D])
@given(st.integers(0, 10**6))
def test_global_pooling_layer_gradients(cls, keepdims, data_format, seed):
    with floatx64():
        assert_layer_gradients_match(cls(data_format=data_format, keepdims=keepdims), distinct_values((2, 3, 4, 2), seed))


# -- Keras parity ------------------------------------------------------------------------------------
POOL_CONFIGS = [((2, 2), None, "valid"), ((3, 2), None, "same"), ((3, 2), (2, 1), "same"), ((3, 3), (2, 2), "same"),
                ((2, 3), (1, 2), "valid"), ((3, 1), (1, 1), "same")]


def keras_forward_and_input_grad(theirs, x, upstream):
    """Keras's y and gradient of sum(upstream * y) w.r.t. x, from ``jax.vjp``.

    These layers have no weights and their ``call`` takes no ``training`` argument, so
    ``keras_helpers.keras_grads``, which passes one to ``stateless_call``, does not apply.
    """
    import jax
    y_keras, pullback = jax.vjp(theirs, jax.numpy.asarray(x))
    (gx_keras,) = pullback(jax.numpy.asarray(upstream))
    return np.asarray(y_keras), np.asarray(gx_keras)


def parity(ours, theirs, x, seed=0):
    """Forward and input-gradient relative diffs of our layer vs a Keras layer on x (float32)."""
    upstream = np.random.default_rng(seed).standard_normal(ours.compute_output_shape(x.shape)).astype(np.float32)
    y_keras, gx_keras = keras_forward_and_input_grad(theirs, x, upstream)
    t = nn.Tensor(x, requires_grad=True)
    y = ours(t)
    gx = nn.grad((y * nn.Tensor(upstream)).sum(), t)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    return relative_diff(y.data, y_keras), relative_diff(gx.data, gx_keras)


@pytest.mark.keras
@both_tiers
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_parity_with_keras(mode):
    keras = import_keras()
    rng = np.random.default_rng(1)
    smooth = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    tied = np.maximum(np.round(smooth), 0)  # ReLU-like zeros: many ties
    x = np.concatenate([smooth, tied]).astype(np.float32)
    keras_cls = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    for pool_size, strides, padding in POOL_CONFIGS:
        ours, theirs = LAYERS[mode](pool_size, strides, padding), keras_cls(pool_size, strides, padding)
        forward, backward = parity(ours, theirs, x)
        assert forward <= 1e-5 and backward <= 1e-4, (pool_size, strides, padding, forward, backward)


@pytest.mark.keras
@both_tiers
@pytest.mark.parametrize("pool_size,strides,padding", POOL_CONFIGS)
def test_max_pooling_with_nan_matches_keras(pool_size, strides, padding):
    keras = import_keras()
    rng = np.random.default_rng(5)
    x = np.maximum(np.round(rng.standard_normal((2, 7, 8, 3))), 0).astype(np.float32)  # ties too
    x[rng.random(x.shape) < 0.1] = np.nan
    upstream = rng.standard_normal(MaxPooling2D(pool_size, strides, padding).compute_output_shape(x.shape))
    upstream = upstream.astype(np.float32)
    y_keras, gx_keras = keras_forward_and_input_grad(keras.layers.MaxPooling2D(pool_size, strides, padding), x, upstream)
    t = nn.Tensor(x, requires_grad=True)
    y = MaxPooling2D(pool_size, strides, padding)(t)
    assert np.isnan(y_keras).any()
    np.testing.assert_array_equal(y.numpy(), y_keras)  # NaN in the same places, the same maxima elsewhere
    # the same selected cells; where overlapping windows add two gradients, float32 rounding may differ
    np.testing.assert_allclose(nn.grad((y * nn.Tensor(upstream)).sum(), t).numpy(), gx_keras, rtol=1e-6, atol=0)


@pytest.mark.keras
@both_tiers
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
@both_tiers
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
    x[1, 2, 3, 0] = np.nan  # one NaN: y and the whole map's gradient become NaN in both
    upstream = np.ones((x.shape[0], x.shape[-1]), np.float32).reshape(pairs[1][0].compute_output_shape(x.shape))
    y_keras, gx_keras = keras_forward_and_input_grad(pairs[1][1], x, upstream)
    t = nn.Tensor(x, requires_grad=True)
    y = pairs[1][0](t)
    np.testing.assert_array_equal(y.numpy(), y_keras)
    np.testing.assert_array_equal(nn.grad((y * nn.Tensor(upstream)).sum(), t).numpy(), gx_keras)


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
    with pytest.raises(ValueError, match="MaxPool2D: output would be empty"):
        P.max_pool2d(nn.Tensor(np.zeros((1, 2, 2, 1))), (3, 3))
