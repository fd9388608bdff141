"""Exercise softmax_crossentropy: Softmax followed by categorical crossentropy, per sample (from_logits=True).

Forward (what the library computes; Keras's conventions):

    L[n] = -sum_k labels[n,k] log softmax(logits[n])_k     logits (N, K), labels (N, K), L (N,)

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dlogits  dlogits[n,k] = g[n] * (softmax(logits[n])_k * sum_j labels[n,j] - labels[n,k])

g has one entry per sample (the loss is per sample, before the batch mean).

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check softmax_crossentropy softmax_crossentropy.py
    # or, in Python:  nn.exercises.check("softmax_crossentropy", backward)
"""
import numpy as np


def backward(logits, labels, g):
    # Your code here: compute dlogits, and return them as a tuple.
    raise NotImplementedError("exercise softmax_crossentropy: write the backward pass")
