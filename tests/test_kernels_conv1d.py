"""The fast Conv1D (numpy_nn/ops/kernels/conv.py: the 2-D im2col kernel on a height-1 image) against
its reference (numpy_nn/ops/conv.py Conv1D), forward and every gradient, on every padding
(causal included: padded before, then "valid"), strides, dilation, groups, channels_first-style
non-contiguous inputs, chunked patches, and a constant input (no input gradient).

Tolerances as in tests/test_kernels_conv.py: max |fast - reference| / max(max |reference|, 1)
<= 1e-12 in float64, 2e-6 in float32.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpy_nn.autograd.function import fast_kernels
from numpy_nn.ops import conv as reference
from numpy_nn.ops.kernels import conv as fast
from tests.test_kernels_conv import assert_fast_equals_reference, run


def test_conv1d_is_registered_as_a_fast_kernel():
    assert fast_kernels()[reference.Conv1D] is fast.Conv1D and fast.Conv1D.reference is reference.Conv1D


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunked", [False, True], ids=["one_chunk", "chunks"])
@given(k=st.integers(1, 4), stride=st.integers(1, 3), dilation=st.integers(1, 2), groups=st.integers(1, 2),
       batch=st.integers(1, 3), extra=st.integers(0, 6), transposed=st.booleans(), seed=st.integers(0, 2**16))
def test_fast_conv1d_equals_reference(padding, dtype, chunked, k, stride, dilation, groups, batch, extra,
                                      transposed, seed):
    rng = np.random.default_rng(seed)
    length = (dilation * (k - 1) + 1 if padding == "valid" else 1) + extra
    channels = 2 * groups
    x = rng.standard_normal((batch, channels, length) if transposed else (batch, length, channels)).astype(dtype)
    x = x.transpose(0, 2, 1) if transposed else x  # a non-contiguous view, as channels_first layers pass
    kernel = rng.standard_normal((k, 2, 3 * groups)).astype(dtype)
    bias = rng.standard_normal(3 * groups).astype(dtype)
    params = dict(strides=(stride,), padding=padding, dilation_rate=(dilation,), groups=groups)
    original = fast.CHUNK_BYTES
    fast.CHUNK_BYTES = 1 if chunked else original
    try:
        probe = reference.Conv1D().forward(x, kernel, bias, **params)
        upstream = rng.standard_normal(probe.shape)
        _, expected = run(reference.Conv1D, (x, kernel, bias), params, upstream)
        _, ours = run(fast.Conv1D, (x, kernel, bias), params, upstream)
    finally:
        fast.CHUNK_BYTES = original
    assert_fast_equals_reference(ours, expected, dtype)


def test_fast_conv1d_skips_the_input_gradient_for_a_constant_input():
    fn = fast.Conv1D()
    x, kernel = np.ones((2, 7, 3)), np.ones((3, 3, 4))
    y = fn.forward(x, kernel, padding="causal", dilation_rate=(2,))
    fn.needs_input_grad = (False, True)
    dx, dkernel = fn.backward(np.ones_like(y))
    assert dx is None and dkernel.shape == kernel.shape
