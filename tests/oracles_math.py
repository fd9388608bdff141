"""Naive loop references for the matrix product (test oracle): Python sums over the shared index,
one output entry at a time, sharing no code with ``numpy_nn/ops/math.py``."""
import numpy as np


def matmul_naive(x, w):
    """Z[..., i, j] = sum_k X[..., i, k] W[..., k, j], the batch axes broadcast as in np.matmul."""
    batch = np.broadcast_shapes(x.shape[:-2], w.shape[:-2])
    x, w = np.broadcast_to(x, batch + x.shape[-2:]), np.broadcast_to(w, batch + w.shape[-2:])
    rows, inner, cols = x.shape[-2], x.shape[-1], w.shape[-1]
    z = np.zeros(batch + (rows, cols))
    for b in np.ndindex(*batch):
        for i in range(rows):
            for j in range(cols):
                z[b + (i, j)] = sum(float(x[b + (i, k)]) * float(w[b + (k, j)]) for k in range(inner))
    return z
