"""Naive Python-loop convolutions: the test oracles for numpy_nn/ops/conv.py.

Written straight from the formulas, one output element at a time, with padding handled by
an explicit bounds check instead of a padded copy (so the padding arithmetic is checked
independently of ``same_padding``). Slow on purpose; use tiny shapes.
"""
import math

import numpy as np


def _output_size_and_pad_before(n, k, s, d, padding):
    effective = d * (k - 1) + 1
    if padding == "valid":
        return (n - effective) // s + 1, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + effective - n, 0)
    return out, total // 2  # Keras/XLA: the extra pixel of an odd total goes bottom/right


def conv2d_naive(x, kernel, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1, bias=None):
    """y[n,i,j,f] = b[f] + sum_{a,b,c in group(f)} x[n, i*sh + a*dh - top, j*sw + b*dw - left, c] * K[a,b,c',f]."""
    n_batch, height, width, channels = x.shape
    kh, kw, c_per_group, filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    oh, top = _output_size_and_pad_before(height, kh, sh, dh, padding)
    ow, left = _output_size_and_pad_before(width, kw, sw, dw, padding)
    f_per_group = filters // groups
    y = np.zeros((n_batch, oh, ow, filters), dtype=np.float64)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                for f in range(filters):
                    group = f // f_per_group
                    total = 0.0 if bias is None else float(bias[f])
                    for a in range(kh):
                        row = i * sh + a * dh - top
                        if not 0 <= row < height:
                            continue
                        for b in range(kw):
                            col = j * sw + b * dw - left
                            if not 0 <= col < width:
                                continue
                            for c in range(c_per_group):
                                total += x[n, row, col, group * c_per_group + c] * kernel[a, b, c, f]
                    y[n, i, j, f] = total
    return y


def depthwise_conv2d_naive(x, kernel, strides=(1, 1), padding="valid", dilation_rate=(1, 1), bias=None):
    """y[n,i,j,c*dm+m] = b[c*dm+m] + sum_{a,b} x[n, i*sh + a*dh - top, j*sw + b*dw - left, c] * K[a,b,c,m]."""
    n_batch, height, width, channels = x.shape
    kh, kw, _, multiplier = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    oh, top = _output_size_and_pad_before(height, kh, sh, dh, padding)
    ow, left = _output_size_and_pad_before(width, kw, sw, dw, padding)
    y = np.zeros((n_batch, oh, ow, channels * multiplier), dtype=np.float64)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                for c in range(channels):
                    for m in range(multiplier):
                        total = 0.0 if bias is None else float(bias[c * multiplier + m])
                        for a in range(kh):
                            for b in range(kw):
                                row, col = i * sh + a * dh - top, j * sw + b * dw - left
                                if 0 <= row < height and 0 <= col < width:
                                    total += x[n, row, col, c] * kernel[a, b, c, m]
                        y[n, i, j, c * multiplier + m] = total
    return y


def separable_conv2d_naive(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid",
                           dilation_rate=(1, 1), bias=None):
    """Depthwise step, then y[n,i,j,f] = b[f] + sum_k hidden[n,i,j,k] * P[0,0,k,f] written as loops."""
    hidden = depthwise_conv2d_naive(x, depthwise_kernel, strides, padding, dilation_rate)
    n_batch, oh, ow, hidden_channels = hidden.shape
    filters = pointwise_kernel.shape[-1]
    y = np.zeros((n_batch, oh, ow, filters), dtype=np.float64)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                for f in range(filters):
                    total = 0.0 if bias is None else float(bias[f])
                    for k in range(hidden_channels):
                        total += hidden[n, i, j, k] * pointwise_kernel[0, 0, k, f]
                    y[n, i, j, f] = total
    return y


def conv2d_input_grad_naive(x_shape, kernel, grad_output, strides=(1, 1), padding="valid",
                            dilation_rate=(1, 1), groups=1):
    """dx[n,r,q,c] = sum over every (i, j, a, b, f) whose window reads x[n,r,q,c] of G[n,i,j,f] * K[a,b,c',f]."""
    n_batch, height, width, channels = x_shape
    kh, kw, c_per_group, filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    oh, top = _output_size_and_pad_before(height, kh, sh, dh, padding)
    ow, left = _output_size_and_pad_before(width, kw, sw, dw, padding)
    f_per_group = filters // groups
    dx = np.zeros(x_shape, dtype=np.float64)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                for f in range(filters):
                    group = f // f_per_group
                    for a in range(kh):
                        for b in range(kw):
                            row, col = i * sh + a * dh - top, j * sw + b * dw - left
                            if 0 <= row < height and 0 <= col < width:
                                for c in range(c_per_group):
                                    channel = group * c_per_group + c
                                    dx[n, row, col, channel] += grad_output[n, i, j, f] * kernel[a, b, c, f]
    return dx
