"""Naive Python-loop pooling, the test oracle for numpy_nn/ops/pooling.py.

Written straight from the definitions, one output element at a time, with the Keras/XLA
"same" rule recomputed here independently (no import from the code under test).
"""
import math

import numpy as np


def same_pads(n, k, s):
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _layout(shape, pool_size, strides, padding):
    _, height, width, _ = shape
    (kh, kw), (sh, sw) = pool_size, strides
    if padding == "same":
        out = (math.ceil(height / sh), math.ceil(width / sw))
        return out, (same_pads(height, kh, sh)[0], same_pads(width, kw, sw)[0])
    return ((height - kh) // sh + 1, (width - kw) // sw + 1), (0, 0)


def _window(x, n, i, j, c, pool_size, strides, top, left):
    """The real (non-padded) cells of window (i, j), in row-major order, as (row, col, value)."""
    (kh, kw), (sh, sw) = pool_size, strides
    cells = []
    for di in range(kh):
        for dj in range(kw):
            row, col = i * sh + di - top, j * sw + dj - left
            if 0 <= row < x.shape[1] and 0 <= col < x.shape[2]:
                cells.append((row, col, x[n, row, col, c]))
    return cells


def pool_naive(x, pool_size, strides, padding, mode):
    """Forward pooling ("max" or "avg"); padded cells are skipped, as -inf / not counted."""
    (out_h, out_w), (top, left) = _layout(x.shape, pool_size, strides, padding)
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for n in range(x.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(x.shape[3]):
                    values = [v for _, _, v in _window(x, n, i, j, c, pool_size, strides, top, left)]
                    if mode == "max":
                        y[n, i, j, c] = max(values)
                    else:  # "same" counts only the real cells; "valid" windows are all real
                        y[n, i, j, c] = sum(values) / len(values)
    return y


def pool_backward_naive(x, g, pool_size, strides, padding, mode):
    """dL/dx given dL/dy = g: max sends g to the first maximum of its window, avg spreads it."""
    (out_h, out_w), (top, left) = _layout(x.shape, pool_size, strides, padding)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(x.shape[3]):
                    cells = _window(x, n, i, j, c, pool_size, strides, top, left)
                    if mode == "max":
                        best = max(v for _, _, v in cells)
                        row, col, _ = next(cell for cell in cells if cell[2] == best)
                        dx[n, row, col, c] += g[n, i, j, c]
                    else:
                        count = len(cells) if padding == "same" else pool_size[0] * pool_size[1]
                        for row, col, _ in cells:
                            dx[n, row, col, c] += g[n, i, j, c] / count
    return dx
