import numpy as np


def backward(x, gamma, beta, g, epsilon):
    axes = tuple(range(x.ndim - 1))
    m = x.size // x.shape[-1]
    mean = x.mean(axis=axes)
    centered = x - mean
    var = (centered ** 2).mean(axis=axes)
    r = 1.0 / np.sqrt(var + epsilon)
    x_hat = centered * r
    d_x_hat = g * gamma
    d_var = np.sum(d_x_hat * centered, axis=axes) * -0.5 * r ** 3
    d_mean = -np.sum(d_x_hat, axis=axes) * r
    dx = d_x_hat * r + d_var * 2.0 * centered / m + d_mean / m
    return dx, np.sum(g * x_hat, axis=axes), np.sum(g, axis=axes)
