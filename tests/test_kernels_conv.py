"""The fast convolution kernels (numpy_nn/ops/kernels/conv.py) against their references (numpy_nn/ops/conv.py).

Each fast path is forced by its shape and by monkeypatching the chunk sizes small: a batch in
several im2col chunks, kernel gradients by row blocks, patches rebuilt in the backward pass,
the stride-1 input gradient written straight into dx (with and without its "centre tap"),
col2im at stride > 1, grouped and 1x1 convolutions, and the empty batch (DepthwiseConv2D:
tests/test_kernels_depthwise.py). Each test compares the forward output and
every gradient of the fast class with those of its reference class on the same inputs.

Tolerances, as max |fast - reference| / max(max |reference|, 1): float64 1e-12 (the two sum
the same products in a different order); float32 2e-6 (a few float32 roundings, eps = 6e-8,
of sums over up to a few hundred terms).
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from numpy_nn.autograd.function import fast_kernels
from numpy_nn.ops import conv as reference
from numpy_nn.ops.geometry import output_length
from numpy_nn.ops.kernels import conv as fast

TOLERANCE = {np.float64: 1e-12, np.float32: 2e-6}


def run(cls, inputs, params, upstream):
    """Forward and backward of one Function class on plain arrays, every input needing its gradient."""
    fn = cls()
    fn.needs_input_grad = (True,) * len(inputs)
    y = fn.forward(*inputs, **params)
    return fn, [y] + list(fn.backward(upstream.astype(y.dtype)))


def assert_fast_equals_reference(fast_out, reference_out, dtype):
    names = ["y", "dx", "dkernel", "dbias"]
    for name, ours, expected in zip(names, fast_out, reference_out):
        assert ours.shape == expected.shape and ours.dtype == expected.dtype == dtype, name
        scale = max(float(np.abs(expected).max()) if expected.size else 0.0, 1.0)
        error = float(np.abs(ours - expected).max()) if expected.size else 0.0
        assert error <= TOLERANCE[dtype] * scale, f"{name}: max |fast - reference| = {error:.3g} (scale {scale:.3g})"


def test_conv2d_is_registered_as_a_fast_kernel():
    registered = fast_kernels()
    assert registered[reference.Conv2D] is fast.Conv2D and fast.Conv2D.reference is reference.Conv2D


# -- Conv2D: one case per fast path ------------------------------------------------------------------------
# name: (kernel (kh, kw), strides, padding, dilation, groups, monkeypatched module constants)
CONV_PATHS = {
    "chunks_and_row_block_gram": ((3, 2), (1, 1), "same", (1, 1), 1, dict(CHUNK_BYTES=1, GRAM_BLOCK=8)),
    "patches_rebuilt_in_backward": ((3, 3), (1, 1), "valid", (1, 1), 1, dict(PATCH_BUDGET_BYTES=1)),
    "stride_one_dx_centre_tap_written": ((3, 3), (1, 1), "same", (1, 1), 1, {}),
    "stride_one_dx_dilated": ((2, 3), (1, 1), "same", (2, 1), 1, {}),
    "stride_one_dx_grouped": ((3, 2), (1, 1), "same", (1, 1), 2, dict(CHUNK_BYTES=1)),
    "col2im_stride_two": ((3, 3), (2, 2), "same", (1, 1), 1, dict(CHUNK_BYTES=1)),
    "col2im_grouped_uneven_strides": ((2, 3), (2, 1), "valid", (1, 1), 2, {}),
    "one_by_one_input_is_the_patch_matrix": ((1, 1), (1, 1), "valid", (1, 1), 1, {}),
    "one_by_one_strided": ((1, 1), (2, 2), "same", (1, 1), 1, {}),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("path", sorted(CONV_PATHS))
@given(batch=st.integers(0, 3), height=st.integers(3, 8), width=st.integers(3, 8),
       channels_per_group=st.integers(1, 3), filters_per_group=st.integers(1, 3), use_bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv2d_fast_path_equals_reference(path, dtype, batch, height, width, channels_per_group,
                                           filters_per_group, use_bias, seed):
    kernel_size, strides, padding, dilation, groups, patches = CONV_PATHS[path]
    out = [output_length(n, k, s, padding, d) for n, k, s, d in zip((height, width), kernel_size, strides, dilation)]
    assume(min(out) >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, height, width, groups * channels_per_group)).astype(dtype)
    kernel = rng.standard_normal(kernel_size + (channels_per_group, groups * filters_per_group)).astype(dtype)
    inputs = (x, kernel) + ((rng.standard_normal(kernel.shape[-1]).astype(dtype),) if use_bias else ())
    params = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    upstream = rng.standard_normal((batch, *out, kernel.shape[-1]))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in patches.items():
            patch.setattr(fast, name, value)
        fn, fast_out = run(fast.Conv2D, inputs, params, upstream)
    if path == "chunks_and_row_block_gram":
        assert fn.chunk == 1  # one sample per chunk
    if path == "patches_rebuilt_in_backward":
        assert fn.patches is None
    _, reference_out = run(reference.Conv2D, inputs, params, upstream)
    assert_fast_equals_reference(fast_out, reference_out, dtype)


def test_chunked_patches_are_kept_per_chunk(monkeypatch):
    rng = np.random.default_rng(1)
    monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
    fn = fast.Conv2D()
    fn.forward(rng.standard_normal((5, 6, 6, 2)), rng.standard_normal((3, 3, 2, 4)), padding="same")
    assert len(fn.patches) == 5 and all(p.shape == (1, 36, 18) for p in fn.patches)


def test_gram_by_row_blocks_equals_one_product():
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal((1, 3 * 4096 + 77, 27)), rng.standard_normal((1, 3 * 4096 + 77, 32))
    np.testing.assert_allclose(fast._gram(p, g)[0], p[0].T @ g[0], rtol=1e-10, atol=1e-9)


def test_pad_spatial_equals_np_pad():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for pads in [((0, 1), (1, 0)), ((2, 1), (0, 0)), ((1, 1), (1, 1))]:
        expected = np.pad(x, ((0, 0),) + pads + ((0, 0),), constant_values=-np.inf)
        np.testing.assert_array_equal(fast.pad_spatial(x, *pads, value=-np.inf), expected)


def test_fast_conv2d_skips_the_input_gradient_for_a_constant_input(monkeypatch):
    """A first layer: x needs no gradient, so the transposed convolution never runs."""
    rng = np.random.default_rng(2)
    monkeypatch.setattr(fast.Conv2D, "_input_grad", lambda self, g: pytest.fail("dx was computed"))
    fn = fast.Conv2D()
    fn.needs_input_grad = (False, True)
    y = fn.forward(rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3)), padding="same")
    dx, dkernel = fn.backward(np.ones_like(y))
    assert dx is None and dkernel.shape == (3, 3, 2, 3)
