"""Naive Python-loop oracles for the 1-D and the transposed convolutions (numpy_nn/ops/conv.py,
numpy_nn/ops/conv_transpose.py).

The 1-D convolution is written one output element at a time with an explicit bounds check
(padding before: 0 valid, d*(k-1) causal, Keras's split for same). The transposed convolution
is written the way XLA defines it (``jax.lax.conv_transpose``), independently of the scatter
form the op uses: insert s - 1 zeros between the input positions, pad (left, right) with Keras's
JAX padding arguments, then correlate with the spatially flipped kernel, stride 1, dilation d.
Slow on purpose; tiny shapes only.
"""
import itertools
import math

import numpy as np


def _pad_before_1d(n, k, s, d, padding):
    effective = d * (k - 1) + 1
    if padding == "valid":
        return (n - effective) // s + 1, 0
    out = math.ceil(n / s)
    if padding == "causal":
        return out, effective - 1
    return out, max((out - 1) * s + effective - n, 0) // 2


def conv1d_naive(x, kernel, stride=1, padding="valid", dilation=1, groups=1, bias=None):
    """y[n,i,f] = b[f] + sum_{a, c in group(f)} x[n, i*s + a*d - before, c] * K[a,c',f] (zero outside x)."""
    n_batch, length, _ = x.shape
    k, c_per_group, filters = kernel.shape
    out, before = _pad_before_1d(length, k, stride, dilation, padding)
    f_per_group = filters // groups
    y = np.zeros((n_batch, out, filters))
    for n, i, f in itertools.product(range(n_batch), range(out), range(filters)):
        group = f // f_per_group
        total = 0.0 if bias is None else float(bias[f])
        for a in range(k):
            pos = i * stride + a * dilation - before
            if 0 <= pos < length:
                for c in range(c_per_group):
                    total += x[n, pos, group * c_per_group + c] * kernel[a, c, f]
        y[n, i, f] = total
    return y


def _jax_padding(k, s, d, padding, output_padding):
    """Keras's (left, right) padding of the stride-dilated input, for jax.lax.conv_transpose."""
    ke = (k - 1) * d + 1
    if padding == "valid":
        op = max(ke, s) - ke if output_padding is None else output_padding
        return ke - 1, ke - 1 + op
    pad_len = s + ke - 2 if output_padding is None else ke + ke % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, ke - 1)
    return left, pad_len - left


def conv_transpose_naive(x, kernel, strides, padding="valid", output_padding=None, dilation=None, bias=None):
    """x (N, *spatial, C), kernel (*k, F, C): dilate x by the strides, pad, correlate with the flipped kernel."""
    rank = x.ndim - 2
    dilation = dilation or (1,) * rank
    output_padding = output_padding or (None,) * rank
    n_batch, spatial, channels = x.shape[0], x.shape[1:-1], x.shape[-1]
    ksize, filters = kernel.shape[:rank], kernel.shape[-2]
    pads = [_jax_padding(k, s, d, padding, op) for k, s, d, op in zip(ksize, strides, dilation, output_padding)]
    dilated_shape = [(n - 1) * s + 1 + lo + hi for n, s, (lo, hi) in zip(spatial, strides, pads)]
    z = np.zeros([n_batch] + dilated_shape + [channels])
    for index in itertools.product(*(range(n) for n in spatial)):
        target = tuple(i * s + lo for i, s, (lo, _) in zip(index, strides, pads))
        z[(slice(None),) + target] = x[(slice(None),) + index]
    out = [m - ((k - 1) * d + 1) + 1 for m, k, d in zip(dilated_shape, ksize, dilation)]
    y = np.zeros([n_batch] + out + [filters])
    for n, o in itertools.product(range(n_batch), itertools.product(*(range(m) for m in out))):
        for f in range(filters):
            total = 0.0 if bias is None else float(bias[f])
            for taps in itertools.product(*(range(k) for k in ksize)):
                pos = tuple(p + t * d for p, t, d in zip(o, taps, dilation))
                flipped = tuple(k - 1 - t for k, t in zip(ksize, taps))
                total += float(np.dot(z[(n,) + pos], kernel[flipped + (f,)]))
            y[(n,) + o + (f,)] = total
    return y
