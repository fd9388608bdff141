"""Naive loop references for the reshaping ops (test oracles), channels_last (N, H, W, C), one
output pixel at a time, sharing no code with ``numpy_nn/ops/reshaping.py``."""
import math

import numpy as np


def zero_pad2d_naive(x, padding):
    (top, bottom), (left, right) = padding
    n, h, w, c = x.shape
    y = np.zeros((n, h + top + bottom, w + left + right, c))
    for i in range(h):
        for j in range(w):
            y[:, top + i, left + j, :] = x[:, i, j, :]
    return y


def crop2d_naive(x, cropping):
    (top, bottom), (left, right) = cropping
    n, h, w, c = x.shape
    y = np.zeros((n, h - top - bottom, w - left - right, c))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            y[:, i, j, :] = x[:, top + i, left + j, :]
    return y


def upsample_nearest_naive(x, size):
    n, h, w, c = x.shape
    y = np.zeros((n, h * size[0], w * size[1], c))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            y[:, i, j, :] = x[:, i // size[0], j // size[1], :]
    return y


def _source(o, factor, n):
    """Half-pixel centres: output o samples the input at (o + 0.5) / factor - 0.5, clamped;
    returns the two neighbours and the weight of the upper one."""
    s = min(max((o + 0.5) / factor - 0.5, 0.0), n - 1.0)
    low = math.floor(s)
    return low, min(low + 1, n - 1), s - low


def upsample_bilinear_naive(x, size):
    n, h, w, c = x.shape
    y = np.zeros((n, h * size[0], w * size[1], c))
    for i in range(y.shape[1]):
        r0, r1, fr = _source(i, size[0], h)
        for j in range(y.shape[2]):
            c0, c1, fc = _source(j, size[1], w)
            y[:, i, j, :] = ((1 - fr) * (1 - fc) * x[:, r0, c0, :] + (1 - fr) * fc * x[:, r0, c1, :]
                             + fr * (1 - fc) * x[:, r1, c0, :] + fr * fc * x[:, r1, c1, :])
    return y


def concatenate_naive(arrays, axis):
    """Each output entry copied from the input whose block along ``axis`` holds it."""
    axis = axis % arrays[0].ndim
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    y = np.zeros(shape)
    for index in np.ndindex(*shape):
        position = index[axis]
        for a in arrays:
            if position < a.shape[axis]:
                y[index] = a[index[:axis] + (position,) + index[axis + 1:]]
                break
            position -= a.shape[axis]
    return y


def zero_pad1d_naive(x, padding):
    before, after = padding
    n, length, c = x.shape
    y = np.zeros((n, length + before + after, c))
    for t in range(length):
        y[:, before + t, :] = x[:, t, :]
    return y


def crop1d_naive(x, cropping):
    before, after = cropping
    y = np.zeros((x.shape[0], x.shape[1] - before - after, x.shape[2]))
    for t in range(y.shape[1]):
        y[:, t, :] = x[:, before + t, :]
    return y


def upsample1d_naive(x, size):
    y = np.zeros((x.shape[0], x.shape[1] * size, x.shape[2]))
    for t in range(y.shape[1]):
        y[:, t, :] = x[:, t // size, :]
    return y
