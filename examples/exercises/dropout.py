"""Exercise dropout: Inverted dropout (Keras): kept values are divided by the keep probability.

Forward (what the library computes; Keras's conventions):

    y = x * mask / (1 - rate)     mask: booleans, True = kept (drawn with probability 1 - rate)

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx  dx = g * mask / (1 - rate)

The textbook (Srivastava et al.) scales at test time instead; Keras scales while training.

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check dropout dropout.py
    # or, in Python:  nn.exercises.check("dropout", backward)
"""
import numpy as np


def backward(x, mask, rate, g):
    # Your code here: compute dx, and return them as a tuple.
    raise NotImplementedError("exercise dropout: write the backward pass")
