"""Convolutions: ops vs naive loop oracles, gradient checks (ops and layers), Keras parity, layer API."""

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import numpy_nn as nn
from numpy_nn import constraints, initializers, regularizers
from numpy_nn.config import set_random_seed
from numpy_nn.ops import conv as conv_ops
from numpy_nn.ops.conv import conv2d, conv_output_length, depthwise_conv2d, same_padding, separable_conv2d
from numpy_nn.layers.conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff
from tests.oracles_conv import (conv2d_input_grad_naive, conv2d_naive, depthwise_conv2d_naive,
                                separable_conv2d_naive)




@st.composite
def geometries(draw, max_side=7):
    """A random 2-D convolution geometry whose output is not empty."""
    geo = dict(
        height=draw(st.integers(1, max_side)), width=draw(st.integers(1, max_side)),
        kernel_size=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dilation_rate=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        padding=draw(st.sampled_from(["valid", "same"])),
    )
    for axis, n in enumerate((geo["height"], geo["width"])):
        out = conv_output_length(n, geo["kernel_size"][axis], geo["strides"][axis], geo["padding"],
                                 geo["dilation_rate"][axis])
        assume(out >= 1)
    return geo


def _op_params(geo):
    return dict(strides=geo["strides"], padding=geo["padding"], dilation_rate=geo["dilation_rate"])


# -- shapes and padding ------------------------------------------------------------------------------------
def test_same_padding_puts_the_extra_pixel_bottom_right():
    assert same_padding(8, 3, 2) == (0, 1)   # KERAS_FACTS: total 1, split 0/1
    assert same_padding(8, 2, 1) == (0, 1)
    assert same_padding(8, 4, 1) == (1, 2)
    assert same_padding(7, 3, 1) == (1, 1)
    assert same_padding(5, 3, 1, dilation=2) == (2, 2)
    assert same_padding(2, 1, 3) == (0, 0)   # the total is clamped at zero


def test_conv_output_length():
    assert conv_output_length(8, 3, 2, "same") == 4
    assert conv_output_length(8, 3, 2, "valid") == 3
    assert conv_output_length(9, 3, 1, "valid", dilation=3) == 3
    assert conv_output_length(None, 3, 1, "valid") is None
    with pytest.raises(ValueError, match="padding"):
        conv_output_length(8, 3, 1, "full")


# -- ops vs the naive oracles ------------------------------------------------------------------------------
@given(geometries(), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2**16))
def test_conv2d_matches_naive_oracle(geo, groups, channels_per_group, filters_per_group, seed):
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


@given(geometries(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16))
def test_depthwise_and_separable_match_naive_oracles(geo, channels, multiplier, filters, seed):
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


def test_depthwise_equals_grouped_conv_with_one_channel_per_group():
    """Keras's identity: depthwise = grouped conv, groups=C, kernel reshaped to (kh, kw, 1, C*dm)."""
    rng = np.random.default_rng(3)
    x, kernel = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 2, 3, 2))
    grouped = conv2d(x, kernel.reshape(3, 2, 1, 6), strides=(2, 1), padding="same", groups=3)
    np.testing.assert_allclose(depthwise_conv2d(x, kernel, strides=(2, 1), padding="same").data, grouped.data,
                               rtol=1e-12, atol=1e-12)


# -- gradient checks (float64, the shared factory) ----------------------------------------------------------
@given(geometries(max_side=6), st.integers(1, 2), st.integers(1, 2), st.integers(1, 2), st.booleans(),
       st.integers(0, 2**16))
def test_conv2d_op_gradients(geo, groups, channels_per_group, filters_per_group, use_bias, seed):
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["height"], geo["width"], groups * channels_per_group)),
                  requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (channels_per_group, groups * filters_per_group)),
                       requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(kernel.shape[-1]), requires_grad=True) if use_bias else None
    params = [x, kernel] + ([bias] if use_bias else [])
    assert_gradients_match(lambda: conv2d(x, kernel, groups=groups, bias=bias, **_op_params(geo)), params,
                    names=["x", "kernel", "bias"][:len(params)])


@given(geometries(max_side=6), st.integers(1, 3), st.integers(1, 3), st.booleans(), st.integers(0, 2**16))
def test_depthwise_op_gradients(geo, channels, multiplier, use_bias, seed):
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["height"], geo["width"], channels)), requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (channels, multiplier)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(channels * multiplier), requires_grad=True) if use_bias else None
    params = [x, kernel] + ([bias] if use_bias else [])
    assert_gradients_match(lambda: depthwise_conv2d(x, kernel, bias=bias, **_op_params(geo)), params,
                    names=["x", "kernel", "bias"][:len(params)])


@given(geometries(max_side=5), st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(0, 2**16))
def test_separable_op_gradients(geo, channels, multiplier, filters, seed):
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["height"], geo["width"], channels)), requires_grad=True)
    depthwise = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (channels, multiplier)), requires_grad=True)
    pointwise = nn.Tensor(rng.standard_normal((1, 1, channels * multiplier, filters)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(filters), requires_grad=True)
    assert_gradients_match(lambda: separable_conv2d(x, depthwise, pointwise, bias=bias, **_op_params(geo)),
                    [x, depthwise, pointwise, bias], names=["x", "depthwise", "pointwise", "bias"])


@given(geometries(max_side=6), st.data())
def test_layer_gradients(geo, data):
    kind = data.draw(st.sampled_from(["conv", "depthwise", "separable"]))
    channels = data.draw(st.integers(1, 4))
    common = dict(kernel_size=geo["kernel_size"], padding=geo["padding"], dilation_rate=geo["dilation_rate"],
                  strides=geo["strides"], activation=data.draw(st.sampled_from([None, "tanh", "sigmoid"])),
                  use_bias=data.draw(st.booleans()), bias_initializer="random_normal")
    if kind == "conv":
        assume(max(geo["strides"]) == 1 or max(geo["dilation_rate"]) == 1)  # Keras forbids both
        groups = data.draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
        make = lambda: Conv2D(groups * data.draw(st.integers(1, 2)), groups=groups, **common)  # noqa: E731
    elif kind == "depthwise":
        make = lambda: DepthwiseConv2D(depth_multiplier=data.draw(st.integers(1, 2)), **common)  # noqa: E731
    else:
        make = lambda: SeparableConv2D(data.draw(st.integers(1, 3)),  # noqa: E731
                                       depth_multiplier=data.draw(st.integers(1, 2)), **common)
    seed = data.draw(st.integers(0, 2**16))
    set_random_seed(seed)
    x = np.random.default_rng(seed).standard_normal((2, geo["height"], geo["width"], channels))
    with floatx64():
        layer = make()
        assert_layer_gradients_match(layer, x)
    assert all(w.dtype == np.float64 for w in layer.weights)


# -- speed-related behaviour: float32, chunking, skipped input gradients --------------------------------------
def test_float32_in_float32_out():
    rng = np.random.default_rng(0)
    x = nn.Tensor(rng.standard_normal((2, 6, 6, 4)).astype(np.float32), requires_grad=True)
    for fn, kernel_shape in [(conv2d, (3, 3, 4, 5)), (depthwise_conv2d, (3, 3, 4, 2))]:
        kernel = nn.Tensor(rng.standard_normal(kernel_shape).astype(np.float32), requires_grad=True)
        y = fn(x, kernel, strides=2, padding="same")
        assert y.dtype == np.float32
        gx, gk = nn.grad(y.sum(), [x, kernel])
        assert gx.dtype == np.float32 and gk.dtype == np.float32


@pytest.mark.parametrize("groups,strides", [(1, 1), (2, 2), (1, (2, 1))])
def test_chunked_batch_equals_one_pass(monkeypatch, groups, strides):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 7, 6, 4))
    kernel = rng.standard_normal((3, 2, 4 // groups, 4))
    upstream = rng.standard_normal((5,) + tuple(conv_output_length(n, k, s, "same") for n, k, s in
                                                zip((7, 6), (3, 2), np.broadcast_to(strides, 2))) + (4,))

    def run(chunked):
        x_t, k_t = nn.Tensor(x, requires_grad=True), nn.Tensor(kernel, requires_grad=True)
        y = conv2d(x_t, k_t, strides=strides, padding="same", groups=groups)
        assert (y._creator.patches is None) == chunked  # chunked: patches are rebuilt in backward
        return [y.data] + [g.data for g in nn.grad(y, [x_t, k_t], grad_output=upstream)]

    whole = run(chunked=False)
    monkeypatch.setattr(conv_ops, "PATCH_BUDGET_BYTES", 1)  # one sample per chunk
    chunked = run(chunked=True)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_input_gradient_is_skipped_for_a_constant_input(monkeypatch):
    """A first layer: x needs no gradient, so the transposed convolution never runs."""
    rng = np.random.default_rng(2)
    kernel = nn.Tensor(rng.standard_normal((3, 3, 2, 3)), requires_grad=True)
    monkeypatch.setattr(conv_ops.Conv2D, "_input_grad", lambda self, g: pytest.fail("dx was computed"))
    y = conv2d(rng.standard_normal((2, 5, 5, 2)), kernel, padding="same")
    (gk,) = nn.grad(y.sum(), [kernel])
    assert gk.shape == kernel.shape


def test_backward_does_not_modify_grad_output():
    rng = np.random.default_rng(4)
    x = nn.Tensor(rng.standard_normal((2, 5, 5, 2)), requires_grad=True)
    for y in [conv2d(x, rng.standard_normal((2, 2, 2, 3)), strides=2, padding="same", bias=np.ones(3)),
              depthwise_conv2d(x, rng.standard_normal((3, 3, 2, 2)), padding="same", bias=np.ones(4))]:
        upstream = rng.standard_normal(y.shape)
        kept = upstream.copy()
        nn.grad(y, x, grad_output=upstream)
        np.testing.assert_array_equal(upstream, kept)


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
    (lambda: Conv2D(4, 3, data_format="channels_first"), r"channels_first"),
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


@pytest.mark.keras
@pytest.mark.parametrize("class_name,ours_class,config", _PARITY,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(_PARITY)])
def test_keras_parity(class_name, ours_class, config):
    keras = import_keras()
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9, 8, 6)).astype(np.float32)
    ours = ours_class(**config, bias_initializer="random_normal")
    y_first = ours(x)
    theirs = getattr(keras.layers, class_name)(**config, **_ZERO_INIT[class_name])
    theirs.build(x.shape)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    theirs.set_weights(ours.get_weights())
    assert ours.count_params() == theirs.count_params()
    assert ours.compute_output_shape((None, 9, 8, 6)) == tuple(theirs.compute_output_shape((None, 9, 8, 6)))

    upstream = rng.standard_normal(y_first.shape).astype(np.float32)
    expected, their_dx, their_dw = _keras_output_and_grads(theirs, x, upstream)
    x_t = nn.Tensor(x, requires_grad=True)
    y = ours(x_t)
    assert y.dtype == np.float32
    assert relative_diff(y.data, expected) <= 1e-5
    our_grads = nn.grad((y * nn.Tensor(upstream)).sum(), [x_t] + ours.trainable_weights)
    for ours_g, theirs_g in zip(our_grads, [their_dx] + their_dw):
        assert ours_g.dtype == np.float32
        assert relative_diff(ours_g.data, theirs_g) <= 1e-4


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
