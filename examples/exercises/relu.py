"""Exercise relu: ReLU activation: y = max(x, 0).

Forward (what the library computes; Keras's conventions):

    y = max(x, 0), elementwise

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx  dx = g * [x > 0]      (the gradient at x = 0 is 0, as in Keras)

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check relu relu.py
    # or, in Python:  nn.exercises.check("relu", backward)
"""
import numpy as np


def backward(x, g):
    # Your code here: compute dx, and return them as a tuple.
    raise NotImplementedError("exercise relu: write the backward pass")
