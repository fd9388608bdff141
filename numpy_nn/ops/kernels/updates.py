"""Optimizer updates over both cores: the same elementwise formula, applied to chunks in threads.

An optimizer's update (``numpy_nn/optimizers.py``, the formula a learner reads) is a handful of
elementwise passes over a variable and its slots. For a large variable (a 4096 x 1024 Dense
kernel: 16 MB, and 3 such arrays for Adam) those passes are memory-bound, and splitting them
over rows in ``THREADS`` threads (``threads.map_row_chunks``) uses both cores. Each chunk runs
the very same float32 operations in the same order as the formula on the whole array, so the
result is equal bit for bit (tests/test_kernels_elementwise.py checks it). Only in the fast tier
and only for arrays of at least ``threads.PARALLEL_MIN_BYTES`` (``parallel_update_applies``).
"""
import numpy as np

from ... import config
from . import threads


def parallel_update_applies(array):
    """True in the fast tier for a C-contiguous array big enough to gain from threads."""
    return (config.kernels() == "fast" and threads.THREADS > 1 and array.flags.c_contiguous
            and array.nbytes >= threads.PARALLEL_MIN_BYTES)


def _flat_rows(array):
    """A C-contiguous array as (rows, 1024) (or one row when its size is not a multiple of 1024)."""
    width = 1024 if array.size % 1024 == 0 else array.size
    return array.reshape(-1, width)


def adam_update(w, m, v, gradient, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, v_hat=None):
    """In place, chunk by chunk (the formula of ``numpy_nn.optimizers.Adam.update_step``):

        m += (g - m) * (1 - beta_1);   v += (g^2 - v) * (1 - beta_2);   v_hat = max(v_hat, v) (amsgrad)
        w -= (m * alpha) / (sqrt(v or v_hat) + eps)
    """
    arrays = [w, m, v, np.ascontiguousarray(gradient, dtype=w.dtype)] + ([v_hat] if v_hat is not None else [])
    rows = [_flat_rows(a) for a in arrays]
    dtype = w.dtype

    def update(start, stop):
        w_c, m_c, v_c, g_c = (r[start:stop] for r in rows[:4])
        m_c += np.asarray((g_c - m_c) * one_minus_beta_1, dtype=dtype)
        v_c += np.asarray((np.square(g_c) - v_c) * one_minus_beta_2, dtype=dtype)
        if v_hat is not None:
            h_c = rows[4][start:stop]
            h_c[...] = np.maximum(h_c, v_c)
            v_c = h_c
        w_c -= np.asarray((m_c * alpha) / (np.sqrt(v_c) + epsilon), dtype=dtype)

    threads.map_row_chunks(update, rows[0].shape[0], rows[0].shape[1] * w.itemsize)
