"""Exercise dense: Dense layer: y = x @ kernel + bias.

Forward (what the library computes; Keras's conventions):

    y[n,j] = sum_i x[n,i] kernel[i,j] + bias[j]     x (N, F), kernel (F, U), bias (U,)

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx       dx = g @ kernel.T                  dx[n,i] = sum_j g[n,j] kernel[i,j]
    dkernel  dkernel = x.T @ g                dkernel[i,j] = sum_n x[n,i] g[n,j]
    dbias    dbias = sum over the batch of g    dbias[j] = sum_n g[n,j]

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check dense dense.py
    # or, in Python:  nn.exercises.check("dense", backward)
"""
import numpy as np


def backward(x, kernel, bias, g):
    # Your code here: compute dx, dkernel, dbias and return them as a tuple.
    raise NotImplementedError("exercise dense: write the backward pass")
