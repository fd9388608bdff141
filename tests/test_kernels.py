"""The fast-kernel variants of the normalization and pooling ops, checked against the naive oracles.

(The convolution kernels are checked against their references in tests/test_kernels_conv.py.)

Each variant is a code path the ordinary tests may not reach on their small shapes: a batch
split into several chunks, BLAS column sums over many rows in
float32, the 2x2 max-pool with its stored winner. Each test forces the path (small chunk sizes
through monkeypatch, or shapes big enough) and compares with tests/oracles_*.py.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.ops.kernels import buffers as _buffers
from numpy_nn.ops import normalization as norm_ops
from numpy_nn.ops import pooling as pool_ops
from tests import oracles_normalization, oracles_pooling


# -- batch norm: BLAS column sums, the one-temporary backward ---------------------------------------------------------
def test_column_sums_are_as_accurate_as_float64():
    rng = np.random.default_rng(3)
    rows = (rng.standard_normal((32768 + 100, 16)) * 2 + 3).astype(np.float32)
    exact = rows.astype(np.float64).sum(axis=0)
    ours = norm_ops._column_sums(rows)
    assert ours.dtype == np.float32
    assert np.abs(ours - exact).max() / np.abs(exact).max() < 2e-7
    naive = np.add.reduce(rows, axis=0)  # what NumPy's float32 sum over rows gives, for scale
    assert np.abs(naive - exact).max() > np.abs(ours - exact).max()


@pytest.mark.parametrize("shape", [(4, 16, 16, 8), (3, 7, 5, 6), (300, 3)])
def test_batch_norm_float32_large_batch_matches_float64_oracle(shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 3 + 5
    gamma, beta, upstream = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1]), rng.standard_normal(shape)
    y_ref, mean_ref, var_ref = oracles_normalization.batch_norm_train(x, gamma, beta)
    dx_ref, dgamma_ref, dbeta_ref = oracles_normalization.batch_norm_train_backward(x, gamma, upstream)
    stats = {}
    fn = norm_ops.BatchNormTrain()
    fn.needs_input_grad = (True, True, True)
    f32 = [a.astype(np.float32) for a in (x, gamma, beta, upstream)]
    y = fn.forward(*f32[:3], axis=-1, epsilon=1e-3, stats=stats)
    dx, dgamma, dbeta = fn.backward(f32[3])
    rel = lambda a, b: np.abs(a - b).max() / np.abs(b).max()  # noqa: E731
    assert y.dtype == dx.dtype == np.float32
    assert rel(y, y_ref) < 1e-6 and rel(stats["mean"], mean_ref) < 1e-6 and rel(stats["variance"], var_ref) < 1e-6
    assert rel(dx, dx_ref) < 2e-5 and rel(dgamma, dgamma_ref) < 1e-5 and rel(dbeta, dbeta_ref) < 1e-6


# -- MaxPool2D: the tiling fast path with its stored winner -------------------------------------------------------
@given(st.integers(1, 3), st.integers(2, 7), st.integers(2, 7), st.sampled_from([(2, 2), (3, 3), (2, 3), (1, 2)]),
       st.booleans(), st.integers(0, 2**16))
def test_max_pool_tiles_match_oracle(batch, height, width, pool_size, ties, seed):
    rng = np.random.default_rng(seed)
    shape = (batch, height, width, 3)
    if height < pool_size[0] or width < pool_size[1]:
        return
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    fn = pool_ops.MaxPool2D()
    fn.needs_input_grad = (True,)
    y = fn.forward(x, pool_size=pool_size, strides=None, padding="valid")
    assert fn.winner is not None  # the fast path ran
    upstream = rng.standard_normal(y.shape)
    (dx,) = fn.backward(upstream)
    np.testing.assert_array_equal(y, oracles_pooling.pool_naive(x, pool_size, pool_size, "valid", "max"))
    np.testing.assert_array_equal(dx, oracles_pooling.pool_backward_naive(x, upstream, pool_size, pool_size,
                                                                          "valid", "max"))


def test_max_pool_tiles_keep_float32_and_ignore_uncovered_cells():
    x = np.arange(2 * 5 * 5 * 2, dtype=np.float32).reshape(2, 5, 5, 2)
    y = pool_ops.max_pool2d(nn.Tensor(x, requires_grad=True), (2, 2))
    (dx,) = nn.grad(y.sum(), [y._creator.inputs[0]])
    assert y.dtype == dx.dtype == np.float32
    assert dx.data[:, 4].sum() == 0 and dx.data[:, :, 4].sum() == 0  # the 5th row/column is in no window
    assert dx.data.sum() == y.size


# -- the allocator switch ----------------------------------------------------------------------------------------------
def test_tune_allocator_reports_whether_it_applied():
    applied = _buffers.tune_allocator()
    assert isinstance(applied, bool)
    assert _buffers.allocator_tuned() == applied
    assert _buffers.tune_allocator(keep_freed_memory=False) == applied  # back to glibc's defaults
    assert not _buffers.allocator_tuned()

