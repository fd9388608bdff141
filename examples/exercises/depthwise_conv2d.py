"""Exercise depthwise_conv2d: Depthwise 2-D convolution: each input channel c convolved with its own dm filters.

Forward (what the library computes; Keras's conventions):

    y[n,i,j,c*dm+m] = bias[c*dm+m] + sum_{a,b} xp[n, i*sh+a, j*sw+b, c] kernel[a,b,c,m]     kernel
    (kh, kw, C, dm), output channels C*dm

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx       dxp[n, i*sh+a, j*sw+b, c] += sum_m g[n,i,j,c*dm+m] kernel[a,b,c,m];  dx = dxp without
             the padding
    dkernel  dkernel[a,b,c,m] = sum_{n,i,j} xp[n, i*sh+a, j*sw+b, c] g[n,i,j,c*dm+m]
    dbias    dbias[k] = sum_{n,i,j} g[n,i,j,k]

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check depthwise_conv2d depthwise_conv2d.py
    # or, in Python:  nn.exercises.check("depthwise_conv2d", backward)
"""
import numpy as np


def backward(x, kernel, bias, g, strides, padding):
    # Your code here: compute dx, dkernel, dbias and return them as a tuple.
    raise NotImplementedError("exercise depthwise_conv2d: write the backward pass")
