"""The fast-kernel variants of the conv, normalization and pooling ops, checked against the naive oracles.

Each variant is a code path the ordinary tests may not reach on their small shapes: a batch
split into several chunks, kernel gradients by row blocks, BLAS column sums over many rows in
float32, the 2x2 max-pool with its stored winner. Each test forces the path (small chunk sizes
through monkeypatch, or shapes big enough) and compares with tests/oracles_*.py.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.ops.kernels import buffers as _buffers
from numpy_nn.ops import conv as conv_ops
from numpy_nn.ops import normalization as norm_ops
from numpy_nn.ops import pooling as pool_ops
from tests import oracles_conv, oracles_normalization, oracles_pooling
from tests.oracles_conv import conv2d_input_grad_naive, conv2d_naive, depthwise_conv2d_naive


def _grads(fn_class, inputs, params, upstream):
    """forward and backward of one Function on plain arrays, every input needing its gradient."""
    fn = fn_class()
    fn.needs_input_grad = (True,) * len(inputs)
    y = fn.forward(*inputs, **params)
    return y, fn.backward(upstream)


# -- Conv2D: several patch chunks, kernel gradient by row blocks ------------------------------------------------
@given(st.integers(1, 4), st.sampled_from([1, 2]), st.sampled_from(["same", "valid"]), st.integers(0, 2**16))
def test_conv2d_chunks_and_row_block_gram_match_oracle(batch, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x, kernel, bias = rng.standard_normal((batch, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(4)
    params = dict(strides=(stride, stride), padding=padding)
    y = conv2d_naive(x, kernel, (stride, stride), padding, bias=bias)
    upstream = rng.standard_normal(y.shape)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_ops, "CHUNK_BYTES", 1)  # one sample per chunk
        patch.setattr(conv_ops, "GRAM_BLOCK", 8)  # dK from blocks of 8 rows, plus a remainder
        fn = conv_ops.Conv2D()
        fn.needs_input_grad = (True, True, True)
        ours = fn.forward(x, kernel, bias, **params)
        assert len(fn.patches) == batch  # one kept patch matrix per chunk
        dx, dkernel, dbias = fn.backward(upstream)
    np.testing.assert_allclose(ours, y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, conv2d_input_grad_naive(x.shape, kernel, upstream, (stride, stride), padding),
                               rtol=1e-10, atol=1e-10)
    # dK[a, b, c, f] = sum over output pixels of x-window * G: the oracle's conv of x with G, by loops
    expected_dk = np.zeros_like(kernel)
    for f in range(kernel.shape[3]):
        for a in range(kernel.shape[0]):
            for b in range(kernel.shape[1]):
                for c in range(kernel.shape[2]):
                    unit = np.zeros_like(kernel)
                    unit[a, b, c, f] = 1.0
                    expected_dk[a, b, c, f] = np.sum(conv2d_naive(x, unit, (stride, stride), padding) * upstream)
    np.testing.assert_allclose(dkernel, expected_dk, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dbias, upstream.sum(axis=(0, 1, 2)), rtol=1e-10, atol=1e-10)


def test_gram_by_row_blocks_equals_one_product():
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal((1, 3 * 4096 + 77, 27)), rng.standard_normal((1, 3 * 4096 + 77, 32))
    np.testing.assert_allclose(conv_ops._gram(p, g)[0], p[0].T @ g[0], rtol=1e-10, atol=1e-9)


def test_pad_spatial_equals_np_pad():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for pads in [((0, 1), (1, 0)), ((2, 1), (0, 0)), ((1, 1), (1, 1))]:
        expected = np.pad(x, ((0, 0),) + pads + ((0, 0),), constant_values=-np.inf)
        np.testing.assert_array_equal(conv_ops.pad_spatial(x, *pads, value=-np.inf), expected)


# -- DepthwiseConv2D, dm = 1: chunked, tap by tap ------------------------------------------------------------------
@given(st.integers(1, 5), st.sampled_from([(1, 1), (2, 2), (1, 2), (2, 1)]), st.sampled_from([(1, 1), (2, 1)]),
       st.sampled_from(["same", "valid"]), st.integers(0, 2**16))
def test_depthwise_chunked_matches_oracle(batch, strides, dilation, padding, seed):
    rng = np.random.default_rng(seed)
    x, kernel, bias = rng.standard_normal((batch, 7, 8, 3)), rng.standard_normal((3, 2, 3, 1)), rng.standard_normal(3)
    params = dict(strides=strides, padding=padding, dilation_rate=dilation)
    expected = depthwise_conv2d_naive(x, kernel, strides, padding, dilation, bias=bias)
    upstream = rng.standard_normal(expected.shape)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_ops, "DEPTHWISE_CHUNK_BYTES", 1)  # one sample per chunk
        y, (dx, dkernel, dbias) = _grads(conv_ops.DepthwiseConv2D, (x, kernel, bias), params, upstream)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    # the input and kernel gradients are those of a grouped conv with one channel per group (the oracle's)
    grouped = kernel.reshape(kernel.shape[0], kernel.shape[1], 1, 3)
    np.testing.assert_allclose(dx, conv2d_input_grad_naive(x.shape, grouped, upstream, strides, padding, dilation,
                                                           groups=3), rtol=1e-10, atol=1e-10)
    expected_dk = np.zeros_like(kernel)
    for index in np.ndindex(*kernel.shape):
        unit = np.zeros_like(kernel)
        unit[index] = 1.0
        expected_dk[index] = np.sum(depthwise_conv2d_naive(x, unit, strides, padding, dilation) * upstream)
    np.testing.assert_allclose(dkernel, expected_dk, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dbias, upstream.sum(axis=(0, 1, 2)), rtol=1e-10, atol=1e-10)


def test_depthwise_float32_gradients_are_accurate_on_a_large_batch():
    """The chunked kernel gradient (BLAS column sums per chunk, float64 across chunks) vs float64."""
    rng = np.random.default_rng(2)
    x, kernel = rng.standard_normal((16, 16, 16, 8)), rng.standard_normal((3, 3, 8, 1))
    upstream = rng.standard_normal((16, 16, 16, 8))
    params = dict(strides=(1, 1), padding="same", dilation_rate=(1, 1))
    _, exact = _grads(conv_ops.DepthwiseConv2D, (x, kernel), params, upstream)
    y32, ours = _grads(conv_ops.DepthwiseConv2D, (x.astype(np.float32), kernel.astype(np.float32)), params,
                       upstream.astype(np.float32))
    assert y32.dtype == ours[0].dtype == ours[1].dtype == np.float32
    for a, b in zip(ours, exact):
        assert np.abs(a - b).max() / np.abs(b).max() < 1e-6


# -- the allocator switch ----------------------------------------------------------------------------------------------
def test_tune_allocator_reports_whether_it_applied():
    applied = _buffers.tune_allocator()
    assert isinstance(applied, bool)
    assert _buffers.allocator_tuned() == applied
    assert _buffers.tune_allocator(keep_freed_memory=False) == applied  # back to glibc's defaults
    assert not _buffers.allocator_tuned()


_ = oracles_conv  # the oracle modules are the references of this file
