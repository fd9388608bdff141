"""The allocator switch of the fast tier (numpy_nn/ops/kernels/buffers.py).

The fast kernels themselves are checked against their references family by family:
tests/test_kernels_conv.py (convolutions) and tests/test_kernels_norm_pool.py (normalization
and pooling).
"""
from numpy_nn.ops.kernels import buffers as _buffers


def test_tune_allocator_reports_whether_it_applied():
    applied = _buffers.tune_allocator()
    assert isinstance(applied, bool)
    assert _buffers.allocator_tuned() == applied
    assert _buffers.tune_allocator(keep_freed_memory=False) == applied  # back to glibc's defaults
    assert not _buffers.allocator_tuned()
