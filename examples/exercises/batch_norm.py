"""Exercise batch_norm: Batch normalization in training mode (statistics over every axis but the last).

Forward (what the library computes; Keras's conventions):

    mean = mean(x), var = mean((x - mean)^2) (biased), r = 1 / sqrt(var + epsilon), x_hat = (x -
    mean) r, y = gamma x_hat + beta;  means and sums over every axis but the last, m values each

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx      dx = d_x_hat * r + d_var * 2 (x - mean) / m + d_mean / m,  with d_x_hat = g * gamma,
            d_var = sum(d_x_hat (x - mean)) * (-1/2) r^3, d_mean = -sum(d_x_hat) r;  = gamma r / m
            (m g - sum(g) - x_hat sum(g x_hat))
    dgamma  dgamma = sum(g * x_hat)      (summed over every axis but the last)
    dbeta   dbeta = sum(g)

mean and var depend on x: forgetting the d_var or d_mean path is the classic mistake.

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check batch_norm batch_norm.py
    # or, in Python:  nn.exercises.check("batch_norm", backward)
"""
import numpy as np


def backward(x, gamma, beta, g, epsilon):
    # Your code here: compute dx, dgamma, dbeta and return them as a tuple.
    raise NotImplementedError("exercise batch_norm: write the backward pass")
