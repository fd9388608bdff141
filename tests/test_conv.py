"""Convolutions: ops vs naive loop oracles, gradient checks (ops and layers), Keras parity, layer API.

Tests marked ``both_tiers`` run with the fast kernels and with the reference tier
(``numpy_nn.config.use_kernels``); the fast kernels are also compared with the reference
directly, path by path, in tests/test_kernels_conv.py.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn import constraints, initializers, regularizers
from numpy_nn.config import set_random_seed
from numpy_nn.ops.conv import Conv2D as Conv2DOp
from numpy_nn.ops.conv import conv2d, depthwise_conv2d, separable_conv2d
from numpy_nn.ops.geometry import output_length, same_padding
from numpy_nn.layers.conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff
from tests.oracles_conv import (conv2d_input_grad_naive, conv2d_naive, depthwise_conv2d_naive,
                                separable_conv2d_naive)

PADDINGS = ["valid", "same"]


@st.composite
def geometries(draw, padding, max_side=7, keras_conv2d=False):
    """A random 2-D convolution geometry with the given padding whose output is not empty (by
    construction: a 'valid' side is at least the kernel's effective size). ``keras_conv2d``: no
    strides > 1 together with dilation > 1, which Keras's Conv2D refuses."""
    kernel_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation_rate = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if keras_conv2d and max(strides) > 1:
        dilation_rate = (1, 1)
    smallest = [d * (k - 1) + 1 if padding == "valid" else 1 for k, d in zip(kernel_size, dilation_rate)]
    height, width = (draw(st.integers(low, max(low, max_side))) for low in smallest)
    return dict(height=height, width=width, kernel_size=kernel_size, strides=strides, dilation_rate=dilation_rate,
                padding=padding)


def _op_params(geo):
    return dict(strides=geo["strides"], padding=geo["padding"], dilation_rate=geo["dilation_rate"])


# -- shapes and padding (numpy_nn/ops/geometry.py, as the conv ops use it) -----------------------------------
def test_same_padding_puts_the_extra_pixel_bottom_right():
    assert same_padding(8, 3, 2) == (0, 1)   # total 1, split 0 before / 1 after (Keras/XLA)
    assert same_padding(8, 2, 1) == (0, 1)
    assert same_padding(8, 4, 1) == (1, 2)
    assert same_padding(7, 3, 1) == (1, 1)
    assert same_padding(5, 3, 1, d=2) == (2, 2)
    assert same_padding(2, 1, 3) == (0, 0)   # the total is clamped at zero


def test_conv_output_length():
    assert output_length(8, 3, 2, "same") == 4
    assert output_length(8, 3, 2, "valid") == 3
    assert output_length(9, 3, 1, "valid", d=3) == 3
    assert output_length(None, 3, 1, "valid") is None
    with pytest.raises(ValueError, match="padding"):
        output_length(8, 3, 1, "full")


# -- ops vs the naive oracles ------------------------------------------------------------------------------
@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", PADDINGS)
@given(data=st.data(), groups=st.integers(1, 3), channels_per_group=st.integers(1, 2),
       filters_per_group=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_conv2d_matches_naive_oracle(padding, data, groups, channels_per_group, filters_per_group, seed):
    geo = data.draw(geometries(padding))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, geo["height"], geo["width"], groups * channels_per_group))
    kernel = rng.standard_normal(geo["kernel_size"] + (channels_per_group, groups * filters_per_group))
    bias = rng.standard_normal(kernel.shape[-1])
    expected = conv2d_naive(x, kernel, groups=groups, bias=bias, **_op_params(geo))
    np.testing.assert_allclose(conv2d(x, kernel, groups=groups, bias=bias, **_op_params(geo)).data, expected,
                               rtol=1e-10, atol=1e-10)
    # input gradient against the naive transposed convolution
    x_t = nn.Tensor(x, requires_grad=True)
    grad_output = rng.standard_normal(expected.shape)
    y = conv2d(x_t, kernel, groups=groups, **_op_params(geo))
    dx = nn.grad(y, x_t, grad_output=grad_output)
    np.testing.assert_allclose(dx.data, conv2d_input_grad_naive(x.shape, kernel, grad_output, groups=groups,
                                                                **_op_params(geo)), rtol=1e-10, atol=1e-10)


@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", PADDINGS)
@given(data=st.data(), channels=st.integers(1, 3), multiplier=st.integers(1, 3), filters=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_depthwise_and_separable_match_naive_oracles(padding, data, channels, multiplier, filters, seed):
    geo = data.draw(geometries(padding))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, geo["height"], geo["width"], channels))
    depthwise = rng.standard_normal(geo["kernel_size"] + (channels, multiplier))
    pointwise = rng.standard_normal((1, 1, channels * multiplier, filters))
    bias_dw, bias = rng.standard_normal(channels * multiplier), rng.standard_normal(filters)
    np.testing.assert_allclose(depthwise_conv2d(x, depthwise, bias=bias_dw, **_op_params(geo)).data,
                               depthwise_conv2d_naive(x, depthwise, bias=bias_dw, **_op_params(geo)),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(separable_conv2d(x, depthwise, pointwise, bias=bias, **_op_params(geo)).data,
                               separable_conv2d_naive(x, depthwise, pointwise, bias=bias, **_op_params(geo)),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.both_tiers
def test_depthwise_equals_grouped_conv_with_one_channel_per_group():
    """Keras's identity: depthwise = grouped conv, groups=C, kernel reshaped to (kh, kw, 1, C*dm)."""
    rng = np.random.default_rng(3)
    x, kernel = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 2, 3, 2))
    grouped = conv2d(x, kernel.reshape(3, 2, 1, 6), strides=(2, 1), padding="same", groups=3)
    np.testing.assert_allclose(depthwise_conv2d(x, kernel, strides=(2, 1), padding="same").data, grouped.data,
                               rtol=1e-12, atol=1e-12)


# -- gradient checks (float64, the shared factory) ----------------------------------------------------------
@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", PADDINGS)
@given(data=st.data(), groups=st.integers(1, 2), channels_per_group=st.integers(1, 2),
       filters_per_group=st.integers(1, 2), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_op_gradients(padding, data, groups, channels_per_group, filters_per_group, use_bias,
                             seed):
    geo = data.draw(geometries(padding, max_side=6))
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["height"], geo["width"], groups * channels_per_group)),
                  requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (channels_per_group, groups * filters_per_group)),
                       requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(kernel.shape[-1]), requires_grad=True) if use_bias else None
    params = [x, kernel] + ([bias] if use_bias else [])
    assert_gradients_match(lambda: conv2d(x, kernel, groups=groups, bias=bias, **_op_params(geo)), params,
                           names=["x", "kernel", "bias"][:len(params)])


@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", PADDINGS)
@given(data=st.data(), channels=st.integers(1, 3), multiplier=st.integers(1, 3), use_bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_depthwise_op_gradients(padding, data, channels, multiplier, use_bias, seed):
    geo = data.draw(geometries(padding, max_side=6))
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["height"], geo["width"], channels)), requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (channels, multiplier)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(channels * multiplier), requires_grad=True) if use_bias else None
    params = [x, kernel] + ([bias] if use_bias else [])
    assert_gradients_match(lambda: depthwise_conv2d(x, kernel, bias=bias, **_op_params(geo)), params,
                           names=["x", "kernel", "bias"][:len(params)])


@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", PADDINGS)
@given(data=st.data(), channels=st.integers(1, 3), multiplier=st.integers(1, 2), filters=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_separable_op_gradients(padding, data, channels, multiplier, filters, seed):
    geo = data.draw(geometries(padding, max_side=5))
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["height"], geo["width"], channels)), requires_grad=True)
    depthwise = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (channels, multiplier)), requires_grad=True)
    pointwise = nn.Tensor(rng.standard_normal((1, 1, channels * multiplier, filters)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(filters), requires_grad=True)
    assert_gradients_match(lambda: separable_conv2d(x, depthwise, pointwise, bias=bias, **_op_params(geo)),
                           [x, depthwise, pointwise, bias], names=["x", "depthwise", "pointwise", "bias"])


@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("kind", ["conv", "grouped_conv", "depthwise", "separable"])
@given(data=st.data(), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_layer_gradients(kind, padding, data, use_bias, seed):
    geo = data.draw(geometries(padding, max_side=6, keras_conv2d=kind in ("conv", "grouped_conv")))
    common = dict(kernel_size=geo["kernel_size"], padding=geo["padding"], dilation_rate=geo["dilation_rate"],
                  strides=geo["strides"], activation="tanh", use_bias=use_bias, bias_initializer="random_normal")
    if kind in ("conv", "grouped_conv"):
        groups = data.draw(st.integers(2, 3)) if kind == "grouped_conv" else 1
        channels = groups * data.draw(st.integers(1, 2))
        make = lambda: Conv2D(groups * data.draw(st.integers(1, 2)), groups=groups, **common)  # noqa: E731
    elif kind == "depthwise":
        channels = data.draw(st.integers(1, 4))
        make = lambda: DepthwiseConv2D(depth_multiplier=data.draw(st.integers(1, 2)), **common)  # noqa: E731
    else:
        channels = data.draw(st.integers(1, 4))
        make = lambda: SeparableConv2D(data.draw(st.integers(1, 3)),  # noqa: E731
                                       depth_multiplier=data.draw(st.integers(1, 2)), **common)
    set_random_seed(seed)
    x = np.random.default_rng(seed).standard_normal((2, geo["height"], geo["width"], channels))
    with floatx64():
        layer = make()
        assert_layer_gradients_match(layer, x)
    assert all(w.dtype == np.float64 for w in layer.weights)


# -- dtypes, skipped gradients, the empty batch ---------------------------------------------------------------
@pytest.mark.both_tiers
def test_float32_in_float32_out():
    rng = np.random.default_rng(0)
    x = nn.Tensor(rng.standard_normal((2, 6, 6, 4)).astype(np.float32), requires_grad=True)
    for fn, kernel_shape in [(conv2d, (3, 3, 4, 5)), (depthwise_conv2d, (3, 3, 4, 1)),
                             (depthwise_conv2d, (3, 3, 4, 2))]:
        kernel = nn.Tensor(rng.standard_normal(kernel_shape).astype(np.float32), requires_grad=True)
        bias = nn.Tensor(np.ones(kernel_shape[2] * kernel_shape[3] if fn is depthwise_conv2d else kernel_shape[3],
                                 dtype=np.float32), requires_grad=True)
        y = fn(x, kernel, strides=2, padding="same", bias=bias)
        assert y.dtype == np.float32
        assert all(g.dtype == np.float32 for g in nn.grad(y.sum(), [x, kernel, bias]))


@pytest.mark.both_tiers
def test_input_gradient_is_skipped_for_a_constant_input():
    """A first layer: x needs no gradient, so backward returns None for it (and computes no dx)."""
    rng = np.random.default_rng(2)
    fn = Conv2DOp.implementation()()
    fn.needs_input_grad = (False, True)
    y = fn.forward(rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3)), padding="same")
    dx, dkernel = fn.backward(np.ones_like(y))
    assert dx is None and dkernel.shape == (3, 3, 2, 3)


@pytest.mark.both_tiers
def test_backward_does_not_modify_grad_output():
    rng = np.random.default_rng(4)
    x = nn.Tensor(rng.standard_normal((2, 5, 5, 2)), requires_grad=True)
    for y in [conv2d(x, rng.standard_normal((2, 2, 2, 3)), strides=2, padding="same", bias=np.ones(3)),
              depthwise_conv2d(x, rng.standard_normal((3, 3, 2, 2)), padding="same", bias=np.ones(4)),
              depthwise_conv2d(x, rng.standard_normal((3, 3, 2, 1)), padding="same", bias=np.ones(2))]:
        upstream = rng.standard_normal(y.shape)
        kept = upstream.copy()
        nn.grad(y, x, grad_output=upstream)
        np.testing.assert_array_equal(upstream, kept)


@pytest.mark.both_tiers
@pytest.mark.parametrize("op,kernel_shapes,params,out_shape", [
    (conv2d, [(3, 3, 4, 6)], dict(strides=2, padding="same"), (0, 4, 3, 6)),
    (conv2d, [(3, 2, 2, 6)], dict(groups=2, dilation_rate=(2, 1)), (0, 3, 5, 6)),
    (conv2d, [(1, 1, 4, 5)], dict(), (0, 7, 6, 5)),
    (depthwise_conv2d, [(3, 3, 4, 1)], dict(padding="same"), (0, 7, 6, 4)),
    (depthwise_conv2d, [(3, 3, 4, 2)], dict(strides=(1, 2)), (0, 5, 2, 8)),
    (separable_conv2d, [(3, 3, 4, 2), (1, 1, 8, 3)], dict(padding="same"), (0, 7, 6, 3)),
], ids=["conv_strided", "conv_grouped_dilated", "conv_1x1", "depthwise", "depthwise_dm2", "separable"])
def test_empty_batch_gives_empty_output_and_zero_kernel_gradients(op, kernel_shapes, params,
                                                                  out_shape):
    x = nn.Tensor(np.zeros((0, 7, 6, 4), dtype=np.float32), requires_grad=True)
    kernels = [nn.Tensor(np.ones(shape, dtype=np.float32), requires_grad=True) for shape in kernel_shapes]
    bias = nn.Tensor(np.ones(out_shape[-1], dtype=np.float32), requires_grad=True)
    y = op(x, *kernels, bias=bias, **params)
    assert y.shape == out_shape and y.dtype == np.float32
    dx, *dweights = nn.grad(y.sum(), [x] + kernels + [bias])
    assert dx.shape == x.shape
    for weight, grad in zip(kernels + [bias], dweights):
        assert grad.shape == weight.shape and grad.dtype == np.float32 and not grad.data.any()


# -- layer API: weights, shapes, config, regularizers, errors -------------------------------------------------
def test_weights_names_order_and_shapes():
    x = np.zeros((1, 8, 8, 6), dtype=np.float32)
    conv = Conv2D(4, (3, 2), groups=2)
    conv(x)
    assert [w.name for w in conv.weights] == ["kernel", "bias"]
    assert [w.shape for w in conv.weights] == [(3, 2, 3, 4), (4,)]
    depthwise = DepthwiseConv2D(3, depth_multiplier=2, use_bias=False)
    depthwise(x)
    assert [(w.name, w.shape) for w in depthwise.weights] == [("kernel", (3, 3, 6, 2))]
    separable = SeparableConv2D(5, 3, depth_multiplier=2)
    separable(x)
    assert [(w.name, w.shape) for w in separable.weights] == [
        ("depthwise_kernel", (3, 3, 6, 2)), ("pointwise_kernel", (1, 1, 12, 5)), ("bias", (5,))]
    assert separable.count_params() == 3 * 3 * 6 * 2 + 12 * 5 + 5


def test_each_initializer_reaches_its_weight():
    x = np.zeros((1, 5, 5, 2), dtype=np.float32)
    separable = SeparableConv2D(3, 2, depthwise_initializer="ones", pointwise_initializer="zeros",
                                bias_initializer=initializers.Constant(0.5))
    separable(x)
    depthwise, pointwise, bias = separable.get_weights()
    assert (depthwise == 1).all() and (pointwise == 0).all() and (bias == 0.5).all()
    depthwise_layer = DepthwiseConv2D(2, depthwise_initializer="ones", bias_initializer="ones")
    conv = Conv2D(2, 2, kernel_initializer="ones", bias_initializer="ones")
    for layer in (depthwise_layer, conv):
        layer(x)
        assert all((w == 1).all() for w in layer.get_weights())
    glorot = Conv2D(64, 3)
    glorot(x)
    limit = np.sqrt(6 / (9 * 2 + 9 * 64))  # glorot_uniform: fans include the receptive field
    kernel = glorot.get_weights()[0]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


@pytest.mark.parametrize("layer,input_shape,expected", [
    (Conv2D(4, 3), (None, 8, 8, 3), (None, 6, 6, 4)),
    (Conv2D(4, (3, 2), strides=(2, 3), padding="same"), (None, 9, 10, 3), (None, 5, 4, 4)),
    (DepthwiseConv2D(3, depth_multiplier=3, dilation_rate=2), (2, 9, 9, 2), (2, 5, 5, 6)),
    (SeparableConv2D(7, 2, strides=2), (None, 5, 5, 3), (None, 2, 2, 7)),
    (Conv2D(4, 3, padding="same"), (None, None, None, 3), (None, None, None, 4)),
])
def test_compute_output_shape(layer, input_shape, expected):
    assert layer.compute_output_shape(input_shape) == expected
    x = np.zeros((2,) + tuple(7 if n is None else n for n in input_shape[1:]), dtype=np.float32)
    expected = tuple(7 if n is None else n for n in expected)
    assert layer(x).shape == (2,) + expected[1:]


def test_constraints_are_kept_on_the_variables():
    layer = SeparableConv2D(2, 3, depthwise_constraint="non_neg", pointwise_constraint=constraints.MaxNorm(3.0))
    layer(np.zeros((1, 5, 5, 2), dtype=np.float32))
    depthwise, pointwise, bias = layer.weights
    assert isinstance(depthwise.constraint, constraints.NonNeg)
    assert pointwise.constraint.max_value == 3.0 and bias.constraint is None
    assert layer.get_config()["pointwise_constraint"]["config"]["max_value"] == 3.0


def test_regularizers_become_losses():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    layer = SeparableConv2D(2, 3, depthwise_regularizer="l2", pointwise_regularizer=regularizers.L1(0.5),
                            bias_regularizer="l1", activity_regularizer=regularizers.L2(0.1),
                            bias_initializer="ones")
    y = layer(x)
    depthwise, pointwise, bias = layer.get_weights()
    expected = [0.01 * np.sum(depthwise ** 2), 0.5 * np.sum(np.abs(pointwise)), 0.01 * np.sum(np.abs(bias)),
                0.1 * np.sum(y.data.astype(np.float64) ** 2) / 2]
    np.testing.assert_allclose([float(loss.data) for loss in layer.losses], expected, rtol=1e-5)
    conv = Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(l1=0.1, l2=0.2))
    conv(x)
    kernel = conv.get_weights()[0]
    np.testing.assert_allclose(float(conv.losses[0].data), 0.1 * np.abs(kernel).sum() + 0.2 * (kernel ** 2).sum(),
                               rtol=1e-5)


@pytest.mark.parametrize("layer", [
    Conv2D(6, (3, 2), strides=(1, 2), padding="SAME", groups=3, activation="relu", use_bias=False,
           kernel_regularizer="l2", name="c"),
    DepthwiseConv2D((2, 3), depth_multiplier=2, dilation_rate=(2, 1), activation="tanh",
                    depthwise_initializer="he_normal", depthwise_constraint="non_neg", bias_constraint="max_norm"),
    SeparableConv2D(4, 3, padding="same", depth_multiplier=2, pointwise_initializer="zeros",
                    activity_regularizer="l1"),
])
def test_get_config_round_trip(layer):
    config = layer.get_config()
    assert config["padding"] in ("valid", "same") and config["data_format"] == "channels_last"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    layer(x)
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(x).data, clone(x).data)


@pytest.mark.parametrize("make,match", [
    (lambda: Conv2D(0, 3), r"filters=0"),
    (lambda: Conv2D(2.5, 3), r"filters=2.5"),
    (lambda: Conv2D(4, 3, groups=3), r"groups=3, filters=4"),
    (lambda: Conv2D(4, 3, groups=0), r"groups=0"),
    (lambda: Conv2D(4, 3, strides=2, dilation_rate=2), r"strides=\(2, 2\) and dilation_rate=\(2, 2\)"),
    (lambda: Conv2D(4, 3, padding="full"), r"padding='full'"),
    (lambda: Conv2D(4, 3, data_format="channels_middle"), r"data_format='channels_middle'"),
    (lambda: Conv2D(4, (3, 0)), r"kernel_size"),
    (lambda: Conv2D(4, 3, strides=0), r"strides"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), r"depth_multiplier=0"),
    (lambda: SeparableConv2D(-1, 3), r"filters=-1"),
    (lambda: SeparableConv2D(2, (1, 2, 3)), r"kernel_size"),
])
def test_invalid_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_errors_at_build_and_call_name_the_layer():
    with pytest.raises(ValueError, match=r"'grouped'.*groups=2, but the input has 3 channels"):
        Conv2D(4, 3, groups=2, name="grouped")(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"'tiny'.*zero or negative"):
        Conv2D(4, 5, name="tiny")(np.zeros((1, 3, 3, 1)))
    layer = DepthwiseConv2D(3, name="dw")
    layer(np.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"'dw'.*expected axis -1 of the input to have value 2.*\(1, 5, 5, 3\)"):
        layer(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"'dw'.*expected ndim=4, found ndim=3"):
        layer(np.zeros((5, 5, 2)))


# -- parity with live Keras (JAX backend) -----------------------------------------------------------------------
CONV_CONFIGS = [
    dict(filters=5, kernel_size=3),
    dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same", activation="relu"),
    dict(filters=6, kernel_size=(2, 4), strides=(3, 2), padding="same", use_bias=False),
    dict(filters=4, kernel_size=3, dilation_rate=(2, 1), padding="same", activation="tanh"),
    dict(filters=6, kernel_size=(1, 3), groups=3, padding="same", activation="swish"),
    dict(filters=4, kernel_size=2, strides=2, groups=2, activation="sigmoid"),
    dict(filters=3, kernel_size=1),
]
DEPTHWISE_CONFIGS = [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2), strides=(2, 1), padding="same", depth_multiplier=2, activation="relu"),
    dict(kernel_size=(2, 3), dilation_rate=(1, 2), padding="same", depth_multiplier=3, use_bias=False),
    dict(kernel_size=4, strides=2, dilation_rate=2, padding="same", activation="gelu"),
]
SEPARABLE_CONFIGS = [
    dict(filters=4, kernel_size=3),
    dict(filters=5, kernel_size=(3, 2), strides=(1, 2), padding="same", depth_multiplier=2, activation="tanh"),
    dict(filters=3, kernel_size=(2, 2), dilation_rate=2, depth_multiplier=3, use_bias=False),
    dict(filters=2, kernel_size=3, strides=2, padding="same", activation="relu"),
]
_PARITY = [("Conv2D", Conv2D, c) for c in CONV_CONFIGS] + \
          [("DepthwiseConv2D", DepthwiseConv2D, c) for c in DEPTHWISE_CONFIGS] + \
          [("SeparableConv2D", SeparableConv2D, c) for c in SEPARABLE_CONFIGS]


# Keras's random initializers compile a JAX program per shape (seconds each): build the Keras
# layers with zeros and copy our randomly initialised weights into them instead.
_ZERO_INIT = {"Conv2D": dict(kernel_initializer="zeros"), "DepthwiseConv2D": dict(depthwise_initializer="zeros"),
              "SeparableConv2D": dict(depthwise_initializer="zeros", pointwise_initializer="zeros")}


def _keras_output_and_grads(layer, x, upstream):
    """Keras output and the gradients of sum(upstream * output) w.r.t. x and each trainable weight.

    Like ``keras_helpers.keras_grads``, but one jitted ``jax.value_and_grad`` (a single XLA
    compile per config instead of one per op, which keeps these tests fast).
    """
    import jax
    import jax.numpy as jnp

    def loss(x_, trainable):
        out, _ = layer.stateless_call(trainable, [v.value for v in layer.non_trainable_variables], x_)
        return jnp.sum(out * upstream), out

    (_, out), (dx, dweights) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        jnp.asarray(x), [v.value for v in layer.trainable_variables])
    return np.asarray(out), np.asarray(dx), [np.asarray(g) for g in dweights]


_KERAS_RESULTS = {}  # parity case -> (weights, Keras output and gradients): computed once, checked in both tiers


def _keras_results(case, class_name, config, weights, x, upstream):
    if case not in _KERAS_RESULTS:
        keras = import_keras()
        theirs = getattr(keras.layers, class_name)(**config, **_ZERO_INIT[class_name])
        theirs.build(x.shape)
        theirs.set_weights(weights)
        info = dict(names=[w.name for w in theirs.weights], shapes=[tuple(w.shape) for w in theirs.weights],
                    count=theirs.count_params(), output_shape=tuple(theirs.compute_output_shape((None,) + x.shape[1:])))
        _KERAS_RESULTS[case] = ([w.copy() for w in weights], info, _keras_output_and_grads(theirs, x, upstream))
    kept_weights, info, results = _KERAS_RESULTS[case]
    assert all(np.array_equal(a, b) for a, b in zip(kept_weights, weights))
    return info, results


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("case", range(len(_PARITY)), ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(_PARITY)])
def test_keras_parity(case):
    class_name, ours_class, config = _PARITY[case]
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9, 8, 6)).astype(np.float32)
    ours = ours_class(**config, bias_initializer="random_normal")
    y_first = ours(x)
    upstream = rng.standard_normal(y_first.shape).astype(np.float32)
    info, (expected, their_dx, their_dw) = _keras_results(case, class_name, config, ours.get_weights(), x, upstream)
    assert [w.name for w in ours.weights] == info["names"]
    assert [tuple(w.shape) for w in ours.weights] == info["shapes"]
    assert ours.count_params() == info["count"]
    assert ours.compute_output_shape((None, 9, 8, 6)) == info["output_shape"]

    x_t = nn.Tensor(x, requires_grad=True)
    y = ours(x_t)
    assert y.dtype == np.float32
    assert relative_diff(y.data, expected) <= 1e-5
    our_grads = nn.grad((y * nn.Tensor(upstream)).sum(), [x_t] + ours.trainable_weights)
    for ours_g, theirs_g in zip(our_grads, [their_dx] + their_dw):
        assert ours_g.dtype == np.float32
        assert relative_diff(ours_g.data, theirs_g) <= 1e-4


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("class_name,ours_class,config", [
    ("Conv2D", Conv2D, dict(filters=4, kernel_size=3, strides=2, padding="same")),
    ("Conv2D", Conv2D, dict(filters=6, kernel_size=(3, 2), groups=3, activation="relu")),
    ("DepthwiseConv2D", DepthwiseConv2D, dict(kernel_size=3, padding="same")),
    ("DepthwiseConv2D", DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2)),
    ("SeparableConv2D", SeparableConv2D, dict(filters=5, kernel_size=3, padding="same", depth_multiplier=2)),
], ids=["Conv2D", "Conv2D-groups", "DepthwiseConv2D", "DepthwiseConv2D-dm2", "SeparableConv2D"])
def test_empty_batch_matches_keras(class_name, ours_class, config):
    """A batch of zero samples: an empty output of Keras's shape, forward and backward (zero weight gradients)."""
    keras = import_keras()
    x = np.zeros((0, 9, 8, 6), dtype=np.float32)
    ours = ours_class(**config, bias_initializer="ones")
    ours.build(x.shape)
    theirs = getattr(keras.layers, class_name)(**config, **_ZERO_INIT[class_name])
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    expected = np.asarray(theirs(x))
    x_t = nn.Tensor(x, requires_grad=True)
    y = ours(x_t)
    assert y.shape == expected.shape and y.shape[0] == 0 and y.dtype == np.float32
    upstream = np.ones(expected.shape, dtype=np.float32)
    _, their_dx, their_dw = _keras_output_and_grads(theirs, x, upstream)
    our_grads = nn.grad((y * nn.Tensor(upstream)).sum(), [x_t] + ours.trainable_weights)
    for ours_g, theirs_g in zip(our_grads, [their_dx] + their_dw):
        assert ours_g.shape == theirs_g.shape and ours_g.dtype == np.float32
        np.testing.assert_array_equal(ours_g.data, theirs_g)


@pytest.mark.keras
def test_keras_get_config_keys_and_values():
    keras = import_keras()
    cases = [("Conv2D", Conv2D, dict(filters=6, kernel_size=(3, 2), strides=2, padding="Same", groups=2,
                                     activation="relu", kernel_regularizer="l2")),
             ("DepthwiseConv2D", DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2, dilation_rate=2)),
             ("SeparableConv2D", SeparableConv2D, dict(filters=4, kernel_size=2, activation="tanh",
                                                       depthwise_initializer="he_uniform"))]
    for class_name, ours_class, config in cases:
        theirs = getattr(keras.layers, class_name)(**config).get_config()
        ours = ours_class(**config).get_config()
        assert set(ours) == set(theirs), (class_name, set(ours) ^ set(theirs))
        for key, value in theirs.items():
            if key in ("name", "dtype"):
                continue
            if isinstance(value, dict):  # initializer / regularizer: compare the class and its arguments
                assert ours[key]["class_name"] == value["class_name"], key
                continue
            assert ours[key] == value, (class_name, key, ours[key], value)
