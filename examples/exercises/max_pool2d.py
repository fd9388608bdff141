"""Exercise max_pool2d: 2-D max pooling, channels_last.

Forward (what the library computes; Keras's conventions):

    y[n,i,j,c] = max_{a,b} xp[n, i*sh+a, j*sw+b, c]     ('same' pads with -inf)

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx  dx[n, i*sh+a*, j*sw+b*, c] += g[n,i,j,c],  (a*, b*) = the first maximum of window (i, j)

Overlapping windows (strides < pool_size) add their contributions.

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check max_pool2d max_pool2d.py
    # or, in Python:  nn.exercises.check("max_pool2d", backward)
"""
import numpy as np


def backward(x, g, pool_size, strides, padding):
    # Your code here: compute dx, and return them as a tuple.
    raise NotImplementedError("exercise max_pool2d: write the backward pass")
