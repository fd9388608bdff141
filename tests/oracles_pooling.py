"""Naive Python-loop pooling, the test oracle for numpy_nn/ops/pooling.py.

Written straight from the definitions, one output element at a time, with the Keras/XLA
"same" rule recomputed here independently (no import from the code under test). Max pooling
follows JAX/Keras, measured with ``jax.vjp`` of ``keras.layers.MaxPooling2D``: the maximum
propagates NaN, and the gradient goes to the tap XLA's select_and_scatter selects (scan the
window row by row, a cell replaces the selection unless selection >= cell; padded cells are
-inf and take part).
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
    """Every cell of window (i, j) in row-major order, as (row, col, value, real); padded cells
    (real False) have the value -inf."""
    (kh, kw), (sh, sw) = pool_size, strides
    cells = []
    for di in range(kh):
        for dj in range(kw):
            row, col = i * sh + di - top, j * sw + dj - left
            real = 0 <= row < x.shape[1] and 0 <= col < x.shape[2]
            cells.append((row, col, x[n, row, col, c] if real else -math.inf, real))
    return cells


def _nan_max(values):
    """max with NaN propagation (Python's max() ignores a NaN unless it comes first)."""
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def _selected(cells):
    """XLA's select_and_scatter with ``>=``: a cell replaces the selection unless selection >= cell."""
    selected = cells[0]
    for cell in cells[1:]:
        if not selected[2] >= cell[2]:
            selected = cell
    return selected


def pool_naive(x, pool_size, strides, padding, mode):
    """Forward pooling ("max" or "avg"); padded cells are -inf for max and not counted for avg."""
    (out_h, out_w), (top, left) = _layout(x.shape, pool_size, strides, padding)
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for n in range(x.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(x.shape[3]):
                    cells = _window(x, n, i, j, c, pool_size, strides, top, left)
                    if mode == "max":
                        y[n, i, j, c] = _nan_max([v for _, _, v, _ in cells])
                    else:  # "same" counts only the real cells; "valid" windows are all real
                        values = [v for _, _, v, real in cells if real]
                        y[n, i, j, c] = sum(values) / len(values)
    return y


def pool_backward_naive(x, g, pool_size, strides, padding, mode):
    """dL/dx given dL/dy = g: max sends g to the selected cell of its window, avg spreads it."""
    (out_h, out_w), (top, left) = _layout(x.shape, pool_size, strides, padding)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(x.shape[3]):
                    cells = _window(x, n, i, j, c, pool_size, strides, top, left)
                    if mode == "max":
                        row, col, _, real = _selected(cells)
                        if real:
                            dx[n, row, col, c] += g[n, i, j, c]
                    else:
                        real_cells = [(row, col) for row, col, _, real in cells if real]
                        for row, col in real_cells:
                            dx[n, row, col, c] += g[n, i, j, c] / len(real_cells)
    return dx


def _window1d(x, n, i, c, k, s, before):
    """Every step of window i in order, as (step, value, real); padded steps are -inf, not real."""
    cells = []
    for t in range(k):
        step = i * s + t - before
        real = 0 <= step < x.shape[1]
        cells.append((step, x[n, step, c] if real else -math.inf, real))
    return cells


def _layout1d(length, k, s, padding):
    if padding == "same":
        return math.ceil(length / s), same_pads(length, k, s)[0]
    return (length - k) // s + 1, 0


def pool1d_naive(x, k, s, padding, mode):
    """1-D pooling of (N, L, C), one output step at a time (the 2-D rules on one axis)."""
    out, before = _layout1d(x.shape[1], k, s, padding)
    y = np.zeros((x.shape[0], out, x.shape[2]))
    for n in range(x.shape[0]):
        for i in range(out):
            for c in range(x.shape[2]):
                cells = _window1d(x, n, i, c, k, s, before)
                if mode == "max":
                    y[n, i, c] = _nan_max([v for _, v, _ in cells])
                else:
                    values = [v for _, v, real in cells if real]
                    y[n, i, c] = sum(values) / len(values)
    return y


def pool1d_backward_naive(x, g, k, s, padding, mode):
    """dL/dx of 1-D pooling: max sends g to the selected step (XLA's rule), avg spreads it."""
    out, before = _layout1d(x.shape[1], k, s, padding)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for i in range(out):
            for c in range(x.shape[2]):
                cells = _window1d(x, n, i, c, k, s, before)
                if mode == "max":
                    selected = cells[0]
                    for cell in cells[1:]:
                        if not selected[1] >= cell[1]:
                            selected = cell
                    if selected[2]:
                        dx[n, selected[0], c] += g[n, i, c]
                else:
                    real = [step for step, _, is_real in cells if is_real]
                    for step in real:
                        dx[n, step, c] += g[n, i, c] / len(real)
    return dx


def masked_global_avg_pool1d_naive(x, mask):
    """Keras's masked mean over the steps of (N, T, C): the mean of the unmasked steps (NaN if none)."""
    y = np.zeros((x.shape[0], x.shape[2]))
    for n in range(x.shape[0]):
        for c in range(x.shape[2]):
            kept = [x[n, t, c] for t in range(x.shape[1]) if mask[n, t]]
            y[n, c] = sum(kept) / len(kept) if kept else math.nan
    return y
