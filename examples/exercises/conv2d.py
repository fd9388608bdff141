"""Exercise conv2d: 2-D convolution (cross-correlation), channels_last, Keras's 'same'/'valid' padding.

Forward (what the library computes; Keras's conventions):

    y[n,i,j,f] = bias[f] + sum_{a,b,c} xp[n, i*sh+a, j*sw+b, c] kernel[a,b,c,f]     x (N, H, W, C),
    kernel (kh, kw, C, F); xp = x zero-padded ('same': out = ceil(n / s), the odd pixel at the
    bottom/right)

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx       dxp[n, i*sh+a, j*sw+b, c] += sum_f g[n,i,j,f] kernel[a,b,c,f];  dx = dxp without the
             padding
    dkernel  dkernel[a,b,c,f] = sum_{n,i,j} xp[n, i*sh+a, j*sw+b, c] g[n,i,j,f]
    dbias    dbias[f] = sum_{n,i,j} g[n,i,j,f]

strides is a pair (sh, sw); padding is 'valid' or 'same'.

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check conv2d conv2d.py
    # or, in Python:  nn.exercises.check("conv2d", backward)
"""
import numpy as np


def backward(x, kernel, bias, g, strides, padding):
    # Your code here: compute dx, dkernel, dbias and return them as a tuple.
    raise NotImplementedError("exercise conv2d: write the backward pass")
