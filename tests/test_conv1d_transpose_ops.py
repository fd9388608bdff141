"""1-D and transposed convolution ops: naive loop oracles and float64 gradient checks (both tiers).

Oracles: tests/oracles_conv1d_transpose.py (the transposed one is written as XLA defines it:
stride-dilated input, Keras's JAX padding, flipped kernel). Shapes and values are drawn by
Hypothesis; the paddings and ranks are pytest parameters.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.ops.conv import conv1d, depthwise_conv1d, separable_conv1d
from numpy_nn.ops.conv_transpose import conv_transpose
from numpy_nn.ops.geometry import transpose_crop_before, transpose_output_length
from tests.gradcheck_factory import assert_gradients_match
from tests.oracles_conv1d_transpose import conv1d_naive, conv_transpose_naive

pytestmark = pytest.mark.both_tiers


@st.composite
def conv1d_geometry(draw, padding):
    k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    low = d * (k - 1) + 1 if padding == "valid" else 1
    return dict(length=draw(st.integers(low, low + 6)), k=k, stride=s, dilation=d)


@st.composite
def transpose_geometry(draw, rank, padding):
    ks = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    ss = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    ds = tuple(draw(st.integers(1, 2)) if s == 1 else 1 for s in ss)
    ops = None if draw(st.booleans()) else tuple(draw(st.integers(0, s - 1)) for s in ss)
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    # "same" with an even kernel, output_padding 0 and one input position is an empty output: skip it
    if any(transpose_output_length(n, k, s, padding, None if ops is None else op, d) < 1
           for n, k, s, d, op in zip(spatial, ks, ss, ds, ops or (None,) * rank)):
        ops = None
    return dict(spatial=spatial, kernel_size=ks, strides=ss, dilation_rate=ds, output_padding=ops)


def test_transpose_arithmetic_matches_keras_rules():
    """Keras's sizes: valid (n-1)s + max(ke, s) or + op; same n*s or (n-1)s + ke%2 + op."""
    assert transpose_output_length(5, 3, 2, "valid") == 11
    assert transpose_output_length(5, 1, 3, "valid") == 15      # (5-1)*3 + max(ke, s) = 12 + 3
    assert transpose_output_length(5, 3, 2, "valid", 1) == 12
    assert transpose_output_length(5, 3, 2, "same") == 10
    assert transpose_output_length(5, 4, 2, "same", 1) == 9     # (5-1)*2 + 0 + 1
    assert transpose_output_length(5, 3, 1, "same", d=2) == 5
    assert transpose_crop_before(3, 2, "same") == 0             # pad_len 3, left min(2, 2): cut ke-1-left = 0
    assert transpose_crop_before(3, 1, "same") == 1
    assert transpose_crop_before(4, 2, "same") == 1
    assert transpose_crop_before(3, 2, "valid", 1) == 0


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@given(data=st.data(), groups=st.integers(1, 2), cpg=st.integers(1, 2), fpg=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_conv1d_matches_naive_oracle_forward_and_input_gradient(padding, data, groups, cpg, fpg, seed):
    geo = data.draw(conv1d_geometry(padding))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, geo["length"], groups * cpg))
    kernel, bias = rng.standard_normal((geo["k"], cpg, groups * fpg)), rng.standard_normal(groups * fpg)
    params = dict(strides=geo["stride"], padding=padding, dilation_rate=geo["dilation"], groups=groups)
    expected = conv1d_naive(x, kernel, geo["stride"], padding, geo["dilation"], groups, bias)
    np.testing.assert_allclose(conv1d(x, kernel, bias=bias, **params).data, expected, rtol=1e-10, atol=1e-10)
    # the input gradient of y against the oracle's Jacobian, column by column on one element
    x_t = nn.Tensor(x, requires_grad=True)
    upstream = rng.standard_normal(expected.shape)
    dx = nn.grad((conv1d(x_t, kernel, **params) * nn.Tensor(upstream)).sum(), x_t).data
    basis = np.zeros_like(x)
    basis[1, -1, -1] = 1.0
    column = np.sum(conv1d_naive(basis, kernel, geo["stride"], padding, geo["dilation"], groups) * upstream)
    assert dx[1, -1, -1] == pytest.approx(column, abs=1e-10)


@pytest.mark.parametrize("padding", ["valid", "same"])
@given(data=st.data(), channels=st.integers(1, 3), multiplier=st.integers(1, 2), filters=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_depthwise_and_separable_conv1d_match_grouped_oracle(padding, data, channels, multiplier, filters, seed):
    """Depthwise = the grouped oracle with groups = C and the kernel as (k, 1, C*dm); separable adds a 1x1 conv."""
    geo = data.draw(conv1d_geometry(padding))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, geo["length"], channels))
    depthwise = rng.standard_normal((geo["k"], channels, multiplier))
    pointwise, bias = rng.standard_normal((1, channels * multiplier, filters)), rng.standard_normal(filters)
    hidden = conv1d_naive(x, depthwise.reshape(geo["k"], 1, channels * multiplier), geo["stride"], padding,
                          geo["dilation"], groups=channels)
    params = dict(strides=geo["stride"], padding=padding, dilation_rate=geo["dilation"])
    np.testing.assert_allclose(depthwise_conv1d(x, depthwise, **params).data, hidden, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(separable_conv1d(x, depthwise, pointwise, bias=bias, **params).data,
                               conv1d_naive(hidden, pointwise, bias=bias), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
@given(data=st.data(), channels=st.integers(1, 2), filters=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_conv_transpose_matches_xla_style_oracle(rank, padding, data, channels, filters, seed):
    geo = data.draw(transpose_geometry(rank, padding))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2,) + geo["spatial"] + (channels,))
    kernel, bias = rng.standard_normal(geo["kernel_size"] + (filters, channels)), rng.standard_normal(filters)
    expected = conv_transpose_naive(x, kernel, geo["strides"], padding, geo["output_padding"], geo["dilation_rate"],
                                    bias)
    ours = conv_transpose(x, kernel, geo["strides"], padding, geo["output_padding"], geo["dilation_rate"], bias)
    np.testing.assert_allclose(ours.data, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@given(data=st.data(), groups=st.integers(1, 2), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv1d_op_gradients(padding, data, groups, use_bias, seed):
    geo = data.draw(conv1d_geometry(padding))
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["length"], 2 * groups)), requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal((geo["k"], 2, 2 * groups)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(2 * groups), requires_grad=True) if use_bias else None
    params = [x, kernel] + ([bias] if use_bias else [])
    assert_gradients_match(lambda: conv1d(x, kernel, geo["stride"], padding, geo["dilation"], groups, bias=bias),
                           params, names=["x", "kernel", "bias"][:len(params)])


@pytest.mark.parametrize("padding", ["valid", "same"])
@given(data=st.data(), multiplier=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_depthwise_conv1d_op_gradients(padding, data, multiplier, seed):
    geo = data.draw(conv1d_geometry(padding))
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2, geo["length"], 3)), requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal((geo["k"], 3, multiplier)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(3 * multiplier), requires_grad=True)
    assert_gradients_match(lambda: depthwise_conv1d(x, kernel, geo["stride"], padding, geo["dilation"], bias=bias),
                           [x, kernel, bias], names=["x", "kernel", "bias"])


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
@given(data=st.data(), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_transpose_op_gradients(rank, padding, data, use_bias, seed):
    geo = data.draw(transpose_geometry(rank, padding))
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((2,) + geo["spatial"] + (2,)), requires_grad=True)
    kernel = nn.Tensor(rng.standard_normal(geo["kernel_size"] + (3, 2)), requires_grad=True)
    bias = nn.Tensor(rng.standard_normal(3), requires_grad=True) if use_bias else None
    params = [x, kernel] + ([bias] if use_bias else [])
    assert_gradients_match(lambda: conv_transpose(x, kernel, geo["strides"], padding, geo["output_padding"],
                                                  geo["dilation_rate"], bias=bias),
                           params, names=["x", "kernel", "bias"][:len(params)])


def test_empty_batch_conv_transpose_gives_empty_output_and_zero_kernel_gradient():
    x = nn.Tensor(np.zeros((0, 3, 2)), requires_grad=True)
    kernel = nn.Tensor(np.ones((3, 4, 2)), requires_grad=True)
    y = conv_transpose(x, kernel, 2, "same")
    assert y.shape == (0, 6, 4)
    dx, dk = nn.grad(y.sum(), [x, kernel])
    assert dx.shape == (0, 3, 2) and not np.any(dk.data)


def test_conv_transpose_refuses_mismatched_channels_and_empty_outputs():
    with pytest.raises(ValueError, match=r"\(1, 3, 2\) and \(3, 4, 5\)"):
        conv_transpose(np.zeros((1, 3, 2)), np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="output would be empty"):
        conv_transpose(np.zeros((1, 1, 2)), np.zeros((2, 4, 2)), 1, "same", output_padding=0)
