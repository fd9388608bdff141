"""Naive Python-loop references for batch and layer normalization (test oracles, float64).

Deliberately slow and literal: one group of values at a time, sums written as loops, and the
backward pass of batch norm in the paper's step-by-step form (Ioffe & Szegedy 2015, section 3:
d x_hat, d var, d mean, then dx), not the compact closed form the fast op uses.
"""
import itertools

import numpy as np


def _groups(shape, group_axes):
    """For every index of the axes *not* in ``group_axes``: the list of full indices in that group."""
    ndim = len(shape)
    outer_axes = [d for d in range(ndim) if d not in group_axes]
    for outer in itertools.product(*(range(shape[d]) for d in outer_axes)):
        members = []
        for inner in itertools.product(*(range(shape[d]) for d in group_axes)):
            index = [0] * ndim
            for d, i in zip(outer_axes, outer):
                index[d] = i
            for d, i in zip(group_axes, inner):
                index[d] = i
            members.append(tuple(index))
        yield outer, members


def _moments(values):
    m = len(values)
    total = 0.0
    for v in values:
        total += v
    mean = total / m
    squares = 0.0
    for v in values:
        squares += (v - mean) ** 2
    return mean, squares / m  # biased variance, as Keras


def batch_norm_train(x, gamma, beta, axis=-1, epsilon=1e-3):
    """(y, mean, var): per channel c along ``axis``, statistics over every other axis."""
    x = np.asarray(x, dtype=np.float64)
    axis %= x.ndim
    y = np.zeros_like(x)
    channels = x.shape[axis]
    means, variances = np.zeros(channels), np.zeros(channels)
    other = [d for d in range(x.ndim) if d != axis]
    for (c,), members in _groups(x.shape, other):
        mean, var = _moments([x[i] for i in members])
        means[c], variances[c] = mean, var
        for i in members:
            y[i] = gamma[c] * (x[i] - mean) / np.sqrt(var + epsilon) + beta[c]
    return y, means, variances


def batch_norm_inference(x, gamma, beta, mean, variance, axis=-1, epsilon=1e-3):
    x = np.asarray(x, dtype=np.float64)
    axis %= x.ndim
    y = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        c = index[axis]
        y[index] = gamma[c] * (x[index] - mean[c]) / np.sqrt(variance[c] + epsilon) + beta[c]
    return y


def batch_norm_train_backward(x, gamma, g, axis=-1, epsilon=1e-3):
    """(dx, dgamma, dbeta) by the paper's chain rule, one channel at a time."""
    x, g = np.asarray(x, dtype=np.float64), np.asarray(g, dtype=np.float64)
    axis %= x.ndim
    dx = np.zeros_like(x)
    channels = x.shape[axis]
    dgamma, dbeta = np.zeros(channels), np.zeros(channels)
    other = [d for d in range(x.ndim) if d != axis]
    for (c,), members in _groups(x.shape, other):
        m = len(members)
        mean, var = _moments([x[i] for i in members])
        std = np.sqrt(var + epsilon)
        d_x_hat = {i: g[i] * gamma[c] for i in members}
        d_var = 0.0
        for i in members:
            d_var += d_x_hat[i] * (x[i] - mean) * -0.5 * std ** -3
        d_mean = 0.0
        for i in members:
            d_mean += -d_x_hat[i] / std
        for i in members:
            dx[i] = d_x_hat[i] / std + d_var * 2 * (x[i] - mean) / m + d_mean / m
            dgamma[c] += g[i] * (x[i] - mean) / std
            dbeta[c] += g[i]
    return dx, dgamma, dbeta


def layer_norm(x, gamma, beta, axes, epsilon=1e-3):
    """Per example (every index of the non-normalized axes), statistics over ``axes``.

    gamma/beta have shape [x.shape[d] for d in sorted(axes)] and are indexed by the position
    inside the normalized axes.
    """
    x = np.asarray(x, dtype=np.float64)
    axes = sorted(a % x.ndim for a in axes)
    y = np.zeros_like(x)
    for _, members in _groups(x.shape, axes):
        mean, var = _moments([x[i] for i in members])
        for i in members:
            inner = tuple(i[d] for d in axes)
            y[i] = gamma[inner] * (x[i] - mean) / np.sqrt(var + epsilon) + beta[inner]
    return y
