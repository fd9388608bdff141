"""The fast pooling and normalization kernels (numpy_nn/ops/kernels/) against their references.

Every fast kernel names the reference op it must equal (numpy_nn/ops/pooling.py,
numpy_nn/ops/normalization.py). Each test here forces one code path of a kernel (small chunk and
block sizes through monkeypatch, or shapes that take the path), runs the fast class and its
reference on the same arrays, and compares the forward output and every gradient. Tolerances:

* pooling: bit for bit, float64 and float32 (a maximum is exact and the fast kernels select the
  same tap; average pooling adds the same values in the same order);
* normalization: float64 within 1e-12 relative (max |fast - reference| / max |reference|);
  float32 within 1e-6 relative for y and the statistics, 1e-5 for the gradients (blocked float32
  column sums against the reference's float64 sums, the compact closed-form dx against the
  textbook chain: float32 rounding of different operation orders).
"""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import numpy_nn as nn
from numpy_nn.autograd.function import fast_kernels
from numpy_nn.ops import normalization as norm_ref
from numpy_nn.ops import pooling as pool_ref
from numpy_nn.ops.kernels import normalization as norm_fast
from numpy_nn.ops.kernels import pooling as pool_fast
from numpy_nn.ops.kernels import threads
from tests import oracles_normalization, oracles_pooling

FAST_CLASSES = [pool_fast.MaxPool2D, pool_fast.AvgPool2D, norm_fast.BatchNormTrain, norm_fast.BatchNormInference,
                norm_fast.LayerNorm]


def _run(cls, inputs, params, upstream, needs=None):
    """forward and backward of one Function on plain arrays: (instance, y, grads)."""
    fn = cls()
    fn.needs_input_grad = needs or (True,) * len(inputs)
    y = fn.forward(*inputs, **params)
    return fn, y, fn.backward(upstream)


def _relative(ours, reference):
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    return np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-30)


@pytest.mark.parametrize("fast", FAST_CLASSES, ids=lambda cls: cls.__name__)
def test_kernel_is_registered_for_its_reference_and_the_tier_picks_it(fast):
    reference = fast.reference
    assert fast_kernels()[reference] is fast and issubclass(fast, reference)
    assert f"{reference.__module__}.{reference.__name__}" in fast.__doc__  # names the op it must equal
    with nn.config.use_kernels("fast"):
        assert reference.implementation() is fast
    with nn.config.use_kernels("reference"):
        assert reference.implementation() is reference


# -- MaxPool2D: the tiled kernel with its stored winner, the window views, the NaN fallback -----------------
# (pool_size, strides, padding): tiling windows take the "tiles" kernel unless "same" pads the input
# (sizes not divisible by the pool), which takes the "windows" kernel, as overlapping windows do
MAX_POOL_CONFIGS = [((2, 2), None, "valid"), ((3, 2), None, "valid"), ((1, 3), None, "valid"), ((2, 2), None, "same"),
                    ((3, 3), (2, 2), "same"), ((2, 3), (1, 1), "valid")]


def _expected_path(shape, pool_size, strides, padding):
    tiles = strides is None and (padding == "valid" or all(n % k == 0 for n, k in zip(shape[1:3], pool_size)))
    return "tiles" if tiles else "windows"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pool_size,strides,padding", MAX_POOL_CONFIGS)
@given(st.integers(1, 4), st.integers(3, 8), st.integers(3, 8), st.booleans(), st.integers(0, 2**16))
def test_max_pool_kernel_equals_reference(pool_size, strides, padding, dtype, batch, height, width, ties, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, height, width, 3)
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    params = dict(pool_size=pool_size, strides=strides, padding=padding)
    upstream = rng.standard_normal(pool_ref.MaxPool2D().forward(x, **params).shape).astype(dtype)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool_fast, "POOL_CHUNK_BYTES", 1)  # one sample per chunk
        patch.setattr(threads, "THREADS", 2)  # the chunks split over two threads
        fast, y, (dx,) = _run(pool_fast.MaxPool2D, (x,), params, upstream)
    assert fast.path == _expected_path(shape, pool_size, strides, padding)
    _, y_ref, (dx_ref,) = _run(pool_ref.MaxPool2D, (x,), params, upstream)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)


@pytest.mark.parametrize("pool_size,strides,padding", MAX_POOL_CONFIGS)
@given(st.integers(1, 3), st.integers(3, 7), st.integers(3, 7), st.integers(0, 2**16))
@example(batch=2, height=7, width=7, seed=18289)  # float32 overlaps once cancelled to 3e-6 relative vs the loops
def test_max_pool_kernel_hands_nan_windows_to_the_reference(pool_size, strides, padding, batch, height, width, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, height, width, 2)
    x = rng.integers(-1, 2, shape).astype(np.float64)
    x[rng.random(shape) < 0.2] = np.nan
    x.flat[0] = np.nan  # at least one NaN window
    params = dict(pool_size=pool_size, strides=strides, padding=padding)
    upstream = rng.standard_normal(pool_ref.MaxPool2D().forward(x, **params).shape)
    fast, y, (dx,) = _run(pool_fast.MaxPool2D, (x,), params, upstream)
    assert fast.path == "reference"
    _, y_ref, (dx_ref,) = _run(pool_ref.MaxPool2D, (x,), params, upstream)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    oracle = oracles_pooling.pool_backward_naive(x, upstream, pool_size, strides or pool_size, padding, "max")
    np.testing.assert_allclose(dx, oracle, rtol=1e-12, atol=1e-12)  # overlapping windows add in another order


def test_max_pool_tiles_keep_float32_and_ignore_uncovered_cells():
    x = np.arange(2 * 5 * 5 * 2, dtype=np.float32).reshape(2, 5, 5, 2)
    with nn.config.use_kernels("fast"):
        y = pool_ref.max_pool2d(nn.Tensor(x, requires_grad=True), (2, 2))
    assert y._creator.path == "tiles"
    (dx,) = nn.grad(y.sum(), [y._creator.inputs[0]])
    assert y.dtype == dx.dtype == np.float32
    assert dx.data[:, 4].sum() == 0 and dx.data[:, :, 4].sum() == 0  # the 5th row/column is in no window
    assert dx.data.sum() == y.size


# -- AvgPool2D: the broadcast-copy backward of tiling windows -------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pool_size,strides,padding", [((2, 2), None, "valid"), ((2, 3), None, "same"),
                                                       ((3, 3), (2, 2), "same"), ((2, 2), (1, 1), "valid")])
@given(st.integers(1, 3), st.integers(3, 8), st.integers(3, 8), st.integers(0, 2**16))
def test_avg_pool_kernel_equals_reference(pool_size, strides, padding, dtype, batch, height, width, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, height, width, 3)).astype(dtype)
    params = dict(pool_size=pool_size, strides=strides, padding=padding)
    upstream = rng.standard_normal(pool_ref.AvgPool2D().forward(x, **params).shape).astype(dtype)
    _, y_ref, (dx_ref,) = _run(pool_ref.AvgPool2D, (x,), params, upstream)
    _, y, (dx,) = _run(pool_fast.AvgPool2D, (x,), params, upstream)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)


# -- normalization: blocked BLAS column sums, the one-temporary backward ----------------------------------------
@pytest.mark.parametrize("name,n_rows,width,dtype", [
    ("column_sums", 32768 + 100, 16, np.float32),  # blocked BLAS sums (the calling thread)
    ("_chunk_column_sums", 2048 + 3, 64, np.float64),  # NumPy sums of one chunk in cache (the pool threads)
])
def test_column_sums_are_as_accurate_as_float64(name, n_rows, width, dtype):
    """Both column-sum helpers of the batch norm kernel are within float32 rounding of the exact float64
    sums, including a row count that their blocks (or the (rows / k, k * C) view) do not divide, and
    beat NumPy's float32 sum over rows."""
    rng = np.random.default_rng(3)
    rows = (rng.standard_normal((n_rows, width)) * 2 + 3).astype(np.float32)
    exact = rows.astype(np.float64).sum(axis=0)
    ours = getattr(norm_fast, name)(rows)
    assert ours.dtype == dtype
    assert np.abs(ours - exact).max() / np.abs(exact).max() < 2e-7
    naive = np.add.reduce(rows, axis=0)  # what NumPy's float32 sum over rows gives, for scale
    assert np.abs(naive - exact).max() > np.abs(ours - exact).max()


@pytest.mark.parametrize("op", [norm_ref.BatchNormTrain, norm_fast.BatchNormTrain], ids=["reference", "fast"])
@pytest.mark.parametrize("shape", [(4, 16, 16, 8), (3, 7, 5, 6), (300, 3)])
def test_batch_norm_float32_large_batch_matches_float64_oracle(op, shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 3 + 5
    gamma, beta, upstream = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1]), rng.standard_normal(shape)
    y_ref, mean_ref, var_ref = oracles_normalization.batch_norm_train(x, gamma, beta)
    dx_ref, dgamma_ref, dbeta_ref = oracles_normalization.batch_norm_train_backward(x, gamma, upstream)
    stats = {}
    f32 = [a.astype(np.float32) for a in (x, gamma, beta, upstream)]
    _, y, (dx, dgamma, dbeta) = _run(op, f32[:3], dict(axis=-1, epsilon=1e-3, stats=stats), f32[3])
    assert y.dtype == dx.dtype == np.float32
    assert _relative(y, y_ref) < 1e-6
    assert _relative(stats["mean"], mean_ref) < 1e-6 and _relative(stats["variance"], var_ref) < 1e-6
    assert _relative(dx, dx_ref) < 2e-5 and _relative(dgamma, dgamma_ref) < 1e-5 and _relative(dbeta, dbeta_ref) < 1e-6


@pytest.mark.parametrize("op", [norm_ref.BatchNormTrain, norm_fast.BatchNormTrain], ids=["reference", "fast"])
def test_batch_norm_float32_large_mean_keeps_the_variance_accurate(op, monkeypatch):
    """x = 1000 + N(0, 1) in float32: E[x^2] - E[x]^2 in float32 would lose every digit of the variance
    (asserted below); both tiers center first and stay at float32 rounding of a float64 oracle. Chunks
    of 16 rows in two threads force the fast kernel's threaded passes and its chunk sums."""
    monkeypatch.setattr(threads, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(threads, "ROW_CHUNK_BYTES", 16 * 16 * 4)
    monkeypatch.setattr(norm_fast, "REDUCE_VALUES", 64)  # the chunk sums' (rows / 4, 4 * C) views
    rng = np.random.default_rng(5)
    shape = (64, 8, 8, 16)
    arrays = [(1000 + rng.standard_normal(shape)).astype(np.float32), rng.standard_normal(16).astype(np.float32),
              rng.standard_normal(16).astype(np.float32), rng.standard_normal(shape).astype(np.float32)]
    x, gamma, beta, upstream = (a.astype(np.float64) for a in arrays)  # the oracle sees the same float32 values
    y_ref, mean_ref, var_ref = oracles_normalization.batch_norm_train(x, gamma, beta)
    dx_ref, dgamma_ref, dbeta_ref = oracles_normalization.batch_norm_train_backward(x, gamma, upstream)
    stats = {}
    _, y, (dx, dgamma, dbeta) = _run(op, arrays[:3], dict(axis=-1, epsilon=1e-3, stats=stats), arrays[3])
    rows = arrays[0].reshape(-1, 16)
    naive = np.mean(np.square(rows), axis=0) - np.square(np.mean(rows, axis=0))
    assert _relative(naive, var_ref) > 0.1  # the formula this test rules out
    assert _relative(stats["mean"], mean_ref) < 2e-7 and _relative(stats["variance"], var_ref) < 2e-7
    assert _relative(y, y_ref) < 1e-4  # y = x * inv + shift: float32 rounding of x * inv at |x| = 1000
    assert _relative(dx, dx_ref) < 2e-6 and _relative(dgamma, dgamma_ref) < 1e-4 and _relative(dbeta, dbeta_ref) < 1e-6


# (shape, axis) of batch norm; the comment names the _sum path of the fast kernel it takes
BATCH_NORM_CASES = [((40, 6), -1),  # leading axes, contiguous: BLAS column sums, 40 rows = blocks of 16 + remainder
                    ((5, 4, 3, 6), 3),  # the same over three leading axes
                    ((5, 6, 4), 1),  # statistics over axes (0, 2): the float64 fallback
                    ((3, 4, 7), 0)]  # statistics over trailing axes: NumPy's pairwise sum
NEEDS = [(True, True, True), (True, False, False), (False, True, True)]


@pytest.mark.parametrize("needs", NEEDS, ids=["all", "x", "gamma_beta"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,axis", BATCH_NORM_CASES)
@given(st.integers(0, 2**16))
def test_batch_norm_train_kernel_equals_reference(shape, axis, dtype, needs, seed):
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    arrays = [(rng.standard_normal(shape) * 2 + 3).astype(dtype), rng.standard_normal(channels).astype(dtype),
              rng.standard_normal(channels).astype(dtype)]
    upstream = rng.standard_normal(shape).astype(dtype)
    fast_stats, reference_stats = {}, {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(norm_fast, "SUM_BLOCK", 16)
        _, y, grads = _run(norm_fast.BatchNormTrain, arrays, dict(axis=axis, stats=fast_stats), upstream, needs)
    _, y_ref, grads_ref = _run(norm_ref.BatchNormTrain, arrays, dict(axis=axis, stats=reference_stats), upstream)
    forward_tol, grad_tol = (1e-12, 1e-12) if dtype == np.float64 else (1e-6, 1e-5)
    assert y.dtype == dtype and _relative(y, y_ref) <= forward_tol
    for key in ("mean", "variance"):
        assert _relative(fast_stats[key], reference_stats[key]) <= forward_tol
    for need, grad, grad_ref in zip(needs, grads, grads_ref):
        assert (grad is None) != need  # a gradient exactly when asked for
        assert not need or (grad.dtype == dtype and _relative(grad, grad_ref) <= grad_tol)


@pytest.mark.parametrize("needs", NEEDS, ids=["all", "x", "gamma_beta"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,axis", BATCH_NORM_CASES)
@given(st.integers(0, 2**16))
def test_batch_norm_inference_kernel_equals_reference(shape, axis, dtype, needs, seed):
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    arrays = [(rng.standard_normal(shape) * 2 + 3).astype(dtype), rng.standard_normal(channels).astype(dtype),
              rng.standard_normal(channels).astype(dtype)]
    params = dict(mean=rng.standard_normal(channels), variance=rng.uniform(0.2, 3, channels), axis=axis)
    upstream = rng.standard_normal(shape).astype(dtype)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(norm_fast, "SUM_BLOCK", 16)
        _, y, grads = _run(norm_fast.BatchNormInference, arrays, params, upstream, needs)
    _, y_ref, grads_ref = _run(norm_ref.BatchNormInference, arrays, params, upstream)
    np.testing.assert_array_equal(y, y_ref)  # the same forward code
    grad_tol = 1e-12 if dtype == np.float64 else 1e-5
    for need, grad, grad_ref in zip(needs, grads, grads_ref):
        assert (grad is None) != need
        assert not need or (grad.dtype == dtype and _relative(grad, grad_ref) <= grad_tol)


# (shape, axes): the last axis (pairwise float32 sums), two trailing axes, axes that are not trailing
LAYER_NORM_CASES = [((6, 5, 8), [-1]), ((3, 4, 5), [1, 2]), ((4, 5, 3), [1]), ((40, 3, 2), [1, 2])]


@pytest.mark.parametrize("rms_scaling", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,axes", LAYER_NORM_CASES)
@given(st.integers(0, 2**16))
def test_layer_norm_kernel_equals_reference(shape, axes, dtype, rms_scaling, seed):
    rng = np.random.default_rng(seed)
    normalized = tuple(shape[a] for a in sorted(a % len(shape) for a in axes))
    arrays = [(rng.standard_normal(shape) * 2 + 3).astype(dtype), rng.standard_normal(normalized).astype(dtype),
              rng.standard_normal(normalized).astype(dtype)]
    params = dict(axes=tuple(axes), rms_scaling=rms_scaling)
    upstream = rng.standard_normal(shape).astype(dtype)
    needs = (True, True, not rms_scaling)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(norm_fast, "SUM_BLOCK", 16)
        _, y, grads = _run(norm_fast.LayerNorm, arrays, params, upstream, needs)
    _, y_ref, grads_ref = _run(norm_ref.LayerNorm, arrays, params, upstream, needs)
    forward_tol, grad_tol = (1e-12, 1e-12) if dtype == np.float64 else (1e-6, 1e-5)
    assert y.dtype == dtype and _relative(y, y_ref) <= forward_tol
    for need, grad, grad_ref in zip(needs, grads, grads_ref):
        assert (grad is None) == (grad_ref is None) == (not need)
        assert not need or (grad.dtype == dtype and _relative(grad, grad_ref) <= grad_tol)
