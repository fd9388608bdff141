"""The fast DepthwiseConv2D (numpy_nn/ops/kernels/depthwise.py) against its reference (numpy_nn/ops/conv.py).

Each fast path is forced by monkeypatching: whole samples per chunk (stride 1: dx computed in
the same pass as dK and db) and one output row per chunk (``BLOCK_BYTES = 1``: dx in a pass of
its own), both cores (``THREADS = 2``, ``PARALLEL_MIN_BYTES = 0``), every width/height stride
(column phases), dilation, 'same' and 'valid' (no copy of the input), a depth multiplier > 1,
a channels_first input (a transposed, non-contiguous view) and the empty batch. Each test
compares the forward output and every gradient with those of the reference on the same inputs.

Tolerances, as max |fast - reference| / max(max |reference|, 1): float64 1e-12 (the two sum
the same products in a different order); float32 2e-6 (a few float32 roundings, eps = 6e-8,
of sums over up to a few hundred terms).
"""
import numpy as np
import pytest
from hypothesis import assume, example, given, strategies as st

from numpy_nn.autograd.function import fast_kernels
from numpy_nn.ops import conv as reference
from numpy_nn.ops.geometry import output_length
from numpy_nn.ops.kernels import depthwise as fast
from numpy_nn.ops.kernels import threads
from tests.test_kernels_conv import assert_fast_equals_reference, run

# name: monkeypatched module constants
PATHS = {"whole_samples": dict(), "one_row_per_chunk": dict(BLOCK_BYTES=1)}


def test_depthwise_is_registered_as_a_fast_kernel():
    assert fast_kernels()[reference.DepthwiseConv2D] is fast.DepthwiseConv2D
    assert fast.DepthwiseConv2D.reference is reference.DepthwiseConv2D


def run_fast(inputs, params, upstream, threads_count=2, **constants):
    """``run`` on the fast class with module constants patched; returns (fn, outputs, its chunks)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in constants.items():
            patch.setattr(fast, name, value)
        patch.setattr(threads, "THREADS", threads_count)
        patch.setattr(threads, "PARALLEL_MIN_BYTES", 0)  # the chunks shared by the threads, however small
        fn, outputs = run(fast.DepthwiseConv2D, inputs, params, upstream)
        return fn, outputs, fn.taps.chunks()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (1, 2), (2, 1), (1, 3)])
@pytest.mark.parametrize("padding", ["same", "valid"])
@given(batch=st.integers(0, 4), height=st.integers(3, 8), width=st.integers(3, 8), channels=st.integers(1, 4),
       multiplier=st.integers(1, 3), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       use_bias=st.booleans(), seed=st.integers(0, 2**16))
@example(batch=3, height=7, width=8, channels=3, multiplier=2, dilation=(2, 1), use_bias=True, seed=0)
def test_depthwise_fast_path_equals_reference(path, strides, padding, dtype, batch, height, width, channels,
                                              multiplier, dilation, use_bias, seed):
    out = [output_length(n, k, s, padding, d) for n, k, s, d in zip((height, width), (3, 2), strides, dilation)]
    assume(min(out) >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, height, width, channels)).astype(dtype)
    kernel = rng.standard_normal((3, 2, channels, multiplier)).astype(dtype)
    inputs = (x, kernel) + ((rng.standard_normal(channels * multiplier).astype(dtype),) if use_bias else ())
    params = dict(strides=strides, padding=padding, dilation_rate=dilation)
    upstream = rng.standard_normal((batch, *out, channels * multiplier))
    fn, fast_out, chunks = run_fast(inputs, params, upstream, **PATHS[path])
    assert fn.fast
    if path == "one_row_per_chunk":
        assert len(chunks) == batch * out[0]
    else:
        assert len(chunks) == min(batch, 1)
    _, reference_out = run(reference.DepthwiseConv2D, inputs, params, upstream)
    assert_fast_equals_reference(fast_out, reference_out, dtype)


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_depthwise_results_do_not_depend_on_the_thread_count(strides):
    """Chunks are cut by size and partial sums added in chunk order: 1 and 2 threads agree bit for bit."""
    rng = np.random.default_rng(4)
    inputs = tuple(rng.standard_normal(shape).astype(np.float32) for shape in [(5, 9, 7, 3), (3, 3, 3, 1), (3,)])
    params = dict(strides=strides, padding="same", dilation_rate=(1, 1))
    out = [output_length(n, 3, s, "same") for n, s in zip((9, 7), strides)]
    upstream = rng.standard_normal((5, *out, 3))
    one = run_fast(inputs, params, upstream, threads_count=1, BLOCK_BYTES=600)[1]
    two = run_fast(inputs, params, upstream, threads_count=2, BLOCK_BYTES=600)[1]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_depthwise_channels_first_input_view_equals_reference():
    """A channels_first layer hands the op a transposed (non-contiguous) view."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 5)).transpose(0, 2, 3, 1)  # (N, H, W, C) view of an (N, C, H, W) array
    kernel = rng.standard_normal((3, 3, 3, 1))
    params = dict(strides=(1, 1), padding="same", dilation_rate=(1, 1))
    upstream = rng.standard_normal((2, 6, 5, 3))
    _, fast_out, _ = run_fast((x, kernel), params, upstream)
    _, reference_out = run(reference.DepthwiseConv2D, (x, kernel), params, upstream)
    assert_fast_equals_reference(fast_out, reference_out, np.float64)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_depthwise_single_channel_transposed_view_equals_reference(padding):
    """C = 1 from channels_first: NumPy calls the view contiguous, its channel stride is arbitrary (a regression)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 1, 4, 6)).transpose(0, 2, 3, 1)  # strides (96, 24, 4, 96)
    kernel = rng.standard_normal((1, 2, 1, 1))
    params = dict(strides=(1, 1), padding=padding, dilation_rate=(2, 1))
    upstream = rng.standard_normal((2, 4, 6 if padding == "same" else 5, 1))
    _, fast_out, _ = run_fast((x, kernel), params, upstream)
    _, reference_out = run(reference.DepthwiseConv2D, (x, kernel), params, upstream)
    assert_fast_equals_reference(fast_out, reference_out, np.float64)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [(1, 1), (3, 3)])
def test_depthwise_strided_forward_with_one_output_column_equals_reference(kernel_size, channels):
    """Width stride 2 with OW = 1: a column phase one column wide (a regression)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, kernel_size[0], kernel_size[1], channels))
    kernel = rng.standard_normal(kernel_size + (channels, 1))
    params = dict(strides=(1, 2), padding="valid", dilation_rate=(1, 1))
    upstream = rng.standard_normal((2, 1, 1, channels))
    _, fast_out = run(fast.DepthwiseConv2D, (x, kernel), params, upstream)
    _, reference_out = run(reference.DepthwiseConv2D, (x, kernel), params, upstream)
    assert_fast_equals_reference(fast_out, reference_out, np.float64)


@pytest.mark.parametrize("cls", [fast.DepthwiseConv2D, reference.DepthwiseConv2D], ids=["fast", "reference"])
def test_depthwise_float32_gradients_are_accurate_on_a_large_batch(cls):
    """Kernel and bias gradients summed over 16*16*16 pixels in float32 stay within 1e-6 of float64."""
    rng = np.random.default_rng(2)
    x, kernel, bias = rng.standard_normal((16, 16, 16, 8)), rng.standard_normal((3, 3, 8, 1)), rng.standard_normal(8)
    upstream = rng.standard_normal((16, 16, 16, 8)) + 3.0  # a nonzero mean: sums that grow with the pixel count
    params = dict(strides=(1, 1), padding="same", dilation_rate=(1, 1))
    _, exact = run(cls, (x, kernel, bias), params, upstream)
    _, ours = run(cls, tuple(a.astype(np.float32) for a in (x, kernel, bias)), params, upstream.astype(np.float32))
    for name, a, b in zip(["y", "dx", "dkernel", "dbias"], ours, exact):
        assert a.dtype == np.float32
        assert np.abs(a - b).max() / np.abs(b).max() < 1e-6, name


def test_depthwise_fused_backward_takes_one_parallel_pass(monkeypatch):
    """Stride 1 with whole samples per chunk: dx, dK and db come from one pass over the chunks."""
    calls, original = [], fast._map

    def counting_map(work, chunks, nbytes):
        calls.append(chunks)
        return original(work, chunks, nbytes)

    monkeypatch.setattr(fast, "_map", counting_map)
    rng = np.random.default_rng(7)
    fn = fast.DepthwiseConv2D()
    fn.needs_input_grad = (True, True, True)
    y = fn.forward(rng.standard_normal((3, 5, 5, 2)), rng.standard_normal((3, 3, 2, 1)), rng.standard_normal(2),
                   padding="same")
    calls.clear()
    fn.backward(np.ones_like(y))
    assert len(calls) == 1
