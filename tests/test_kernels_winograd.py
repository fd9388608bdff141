"""Winograd 3x3 convolutions (numpy_nn/ops/kernels/winograd.py) against the reference Conv2D (numpy_nn/ops/conv.py).

The Winograd path is forced with ``winograd.FORCE_TILE`` (2 or 4) so that tiny shapes take it,
and reached through the fast ``Conv2D`` (numpy_nn/ops/kernels/conv.py), exactly as a layer
reaches it. Each test compares the forward output, dx, dK and db with the reference's.

Tolerances, as max |Winograd - reference| / max(max |reference|, 1): float64 1e-10; float32
4e-6 for F(2x2, 3x3) and 4e-5 for F(4x4, 3x3), whose transforms multiply by up to 8 and 1/24
(docs/performance.md, "Winograd", gives the error measured against float64 at layer sizes).
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpy_nn.ops import conv as reference
from numpy_nn.ops.geometry import output_length
from numpy_nn.ops.kernels import conv as fast
from numpy_nn.ops.kernels import winograd

TOLERANCE = {(np.float64, 2): 1e-10, (np.float64, 4): 1e-10, (np.float32, 2): 4e-6, (np.float32, 4): 4e-5}


def run(cls, x, kernel, bias, padding, upstream):
    fn = cls()
    fn.needs_input_grad = (True,) * (2 if bias is None else 3)
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    y = fn.forward(*inputs, strides=(1, 1), padding=padding)
    return fn, [y] + list(fn.backward(upstream.astype(y.dtype)))


def relative_errors(ours, expected):
    return [float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1.0) for a, b in zip(ours, expected)]


@pytest.mark.parametrize("m", [2, 4])
def test_one_dimensional_transforms_compute_the_correlation(m):
    """A^T [(G g) * (B^T d)] is the 'valid' correlation of a tile d (m + 2) with a filter g (3): m outputs."""
    bt, g_matrix, at = winograd.TILES[m]
    rng = np.random.default_rng(m)
    d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
    expected = np.array([d[i:i + 3] @ g for i in range(m)])
    np.testing.assert_allclose(at @ ((g_matrix @ g) * (bt @ d)), expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("padding", ["same", "valid"])
@given(batch=st.integers(1, 3), height=st.integers(3, 9), width=st.integers(3, 9), channels=st.integers(1, 4),
       filters=st.integers(1, 4), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_winograd_conv2d_equals_reference(padding, m, dtype, batch, height, width, channels, filters, use_bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, height, width, channels)).astype(dtype)
    kernel = rng.standard_normal((3, 3, channels, filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype) if use_bias else None
    out = [output_length(n, 3, 1, padding) for n in (height, width)]
    upstream = rng.standard_normal((batch, *out, filters))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(winograd, "FORCE_TILE", m)
        fn, ours = run(fast.Conv2D, x, kernel, bias, padding, upstream)
    assert fn.winograd is not None and fn.winograd.m == m
    _, expected = run(reference.Conv2D, x, kernel, bias, padding, upstream)
    assert [a.shape for a in ours] == [b.shape for b in expected]
    assert all(a.dtype == dtype for a in ours)
    errors = relative_errors(ours, expected)
    assert max(errors) <= TOLERANCE[(dtype, m)], dict(zip(["y", "dx", "dkernel", "dbias"], errors))


@pytest.mark.parametrize("m", [2, 4])
def test_chunked_batch_and_transformed_input_recomputed_for_the_kernel_gradient(monkeypatch, m):
    """One sample per chunk (CHUNK_BYTES=1), V not kept (KEEP_BYTES=1): dK rebuilds V chunk by chunk."""
    monkeypatch.setattr(winograd, "FORCE_TILE", m)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    monkeypatch.setattr(winograd, "KEEP_BYTES", 1)
    rng = np.random.default_rng(7)
    x, kernel = rng.standard_normal((3, 7, 6, 3)), rng.standard_normal((3, 3, 3, 5))
    bias, upstream = rng.standard_normal(5), rng.standard_normal((3, 7, 6, 5))
    fn, ours = run(fast.Conv2D, x, kernel, bias, "same", upstream)
    assert fn.winograd is not None and len(fn.winograd._chunks(3, (4, 3), 3)) == 3
    _, expected = run(reference.Conv2D, x, kernel, bias, "same", upstream)
    assert max(relative_errors(ours, expected)) <= 1e-10


def test_float32_error_at_layer_size_is_that_of_im2col(monkeypatch):
    """A 16x16x64 -> 128 layer in float32: F(2x2) stays within 4e-6 of the float64 result, like im2col."""
    monkeypatch.setattr(winograd, "FORCE_TILE", None)  # the shape rule
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 16, 64))
    kernel = rng.standard_normal((3, 3, 64, 128)) * np.sqrt(2 / (9 * 64))
    upstream = rng.standard_normal((2, 16, 16, 128))
    _, truth = run(reference.Conv2D, x, kernel, None, "same", upstream)
    fn, ours = run(fast.Conv2D, x.astype(np.float32), kernel.astype(np.float32), None, "same", upstream)
    assert fn.winograd is not None and fn.winograd.m == 2  # the shape rule's choice
    assert max(relative_errors(ours, truth)) <= 4e-6


@pytest.mark.parametrize("case, expected", [
    (dict(x=(2, 8, 8, 32), kernel=(3, 3, 32, 64)), 2),           # chosen by the shape rule
    (dict(x=(2, 8, 8, 3), kernel=(3, 3, 3, 64)), None),           # few input channels: im2col
    (dict(x=(2, 8, 8, 32), kernel=(3, 3, 32, 64), strides=(2, 2)), None),
    (dict(x=(2, 8, 8, 32), kernel=(3, 3, 32, 64), dilation_rate=(2, 2)), None),
    (dict(x=(2, 8, 8, 32), kernel=(3, 3, 16, 64), groups=2), None),
    (dict(x=(2, 8, 8, 32), kernel=(5, 5, 32, 64)), None),
    (dict(x=(0, 8, 8, 32), kernel=(3, 3, 32, 64)), None),          # empty batch
])
def test_shape_rule_takes_winograd_only_for_eligible_shapes(monkeypatch, case, expected):
    monkeypatch.setattr(winograd, "FORCE_TILE", None)  # NUMPY_NN_WINOGRAD=auto
    x, kernel = np.zeros(case["x"], np.float32), np.zeros(case["kernel"], np.float32)
    params = dict(strides=case.get("strides", (1, 1)), padding="same", dilation_rate=case.get("dilation_rate", (1, 1)),
                  groups=case.get("groups", 1))
    fn = fast.Conv2D()
    fn.forward(x, kernel, **params)
    assert (fn.winograd.m if fn.winograd is not None else None) == expected


@pytest.mark.parametrize("value, expected", [(None, 0), ("", 0), ("off", 0), ("auto", None), ("2", 2), (" 4 ", 4)])
def test_environment_setting(value, expected):
    assert winograd.tile_setting(value) == expected


def test_unknown_environment_setting_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="NUMPY_NN_WINOGRAD must be one of .*'auto'.*got '3'"):
        winograd.tile_setting("3")


def test_off_by_default_im2col_runs(monkeypatch):
    monkeypatch.setattr(winograd, "FORCE_TILE", winograd.tile_setting(None))
    fn = fast.Conv2D()
    fn.forward(np.zeros((1, 8, 8, 32), np.float32), np.zeros((3, 3, 32, 64), np.float32), padding="same")
    assert fn.winograd is None and fn.im2col
