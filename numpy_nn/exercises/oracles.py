"""Naive-loop gradients for the exercises: one element at a time, straight from the formulas.

These are the exercises' *oracles*: slow on purpose, independent of the vectorized code in
``numpy_nn/ops`` (padding is a bounds check, not a padded copy; statistics are running sums),
so a learner's vectorized backward is compared with something that shares none of its tricks.
Every function takes float64 arrays and returns a dict ``{term name: gradient}``. Tiny shapes only.
"""
import math

import numpy as np


def _out_and_pad_before(n, k, s, padding):
    """Keras/XLA output length and padding before (the extra pixel of an odd total goes after)."""
    if padding == "valid":
        return (n - k) // s + 1, 0
    out = math.ceil(n / s)
    return out, max((out - 1) * s + k - n, 0) // 2


def dense(x, kernel, bias, g):
    """y[n,j] = sum_i x[n,i] K[i,j] + b[j]."""
    dx, dkernel, dbias = np.zeros_like(x), np.zeros_like(kernel), np.zeros_like(bias)
    for n in range(x.shape[0]):
        for i in range(x.shape[1]):
            for j in range(kernel.shape[1]):
                dx[n, i] += g[n, j] * kernel[i, j]
                dkernel[i, j] += x[n, i] * g[n, j]
    for n in range(x.shape[0]):
        for j in range(kernel.shape[1]):
            dbias[j] += g[n, j]
    return {"dx": dx, "dkernel": dkernel, "dbias": dbias}


def relu(x, g):
    """y = max(x, 0)."""
    dx = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        dx[index] = g[index] if x[index] > 0 else 0.0
    return {"dx": dx}


def softmax_crossentropy(logits, labels, g):
    """L[n] = -sum_k y[n,k] log softmax(z[n])_k."""
    dlogits = np.zeros_like(logits)
    for n in range(logits.shape[0]):
        top = max(logits[n])
        exps = [math.exp(v - top) for v in logits[n]]
        total, label_mass = sum(exps), sum(labels[n])
        for k in range(logits.shape[1]):
            dlogits[n, k] = g[n] * (exps[k] / total * label_mass - labels[n, k])
    return {"dlogits": dlogits}


def _conv_taps(x_shape, kernel_size, strides, padding):
    """Yield (n, i, j, a, b, row, col) for every output pixel and kernel tap that meets the input."""
    batch, height, width = x_shape[:3]
    (kh, kw), (sh, sw) = kernel_size, strides
    oh, top = _out_and_pad_before(height, kh, sh, padding)
    ow, left = _out_and_pad_before(width, kw, sw, padding)
    for n in range(batch):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        row, col = i * sh + a - top, j * sw + b - left
                        if 0 <= row < height and 0 <= col < width:
                            yield n, i, j, a, b, row, col


def conv2d(x, kernel, bias, g, strides, padding):
    """y[n,i,j,f] = b[f] + sum_{a,b,c} x[n, i*sh + a - top, j*sw + b - left, c] K[a,b,c,f]."""
    dx, dkernel = np.zeros_like(x), np.zeros_like(kernel)
    for n, i, j, a, b, row, col in _conv_taps(x.shape, kernel.shape[:2], strides, padding):
        for c in range(kernel.shape[2]):
            for f in range(kernel.shape[3]):
                dx[n, row, col, c] += g[n, i, j, f] * kernel[a, b, c, f]
                dkernel[a, b, c, f] += x[n, row, col, c] * g[n, i, j, f]
    dbias = np.zeros_like(bias)
    for index in np.ndindex(g.shape):
        dbias[index[-1]] += g[index]
    return {"dx": dx, "dkernel": dkernel, "dbias": dbias}


def depthwise_conv2d(x, kernel, bias, g, strides, padding):
    """y[n,i,j,c*dm+m] = b[c*dm+m] + sum_{a,b} x[n, i*sh + a - top, j*sw + b - left, c] K[a,b,c,m]."""
    dx, dkernel = np.zeros_like(x), np.zeros_like(kernel)
    multiplier = kernel.shape[3]
    for n, i, j, a, b, row, col in _conv_taps(x.shape, kernel.shape[:2], strides, padding):
        for c in range(kernel.shape[2]):
            for m in range(multiplier):
                dx[n, row, col, c] += g[n, i, j, c * multiplier + m] * kernel[a, b, c, m]
                dkernel[a, b, c, m] += x[n, row, col, c] * g[n, i, j, c * multiplier + m]
    dbias = np.zeros_like(bias)
    for index in np.ndindex(g.shape):
        dbias[index[-1]] += g[index]
    return {"dx": dx, "dkernel": dkernel, "dbias": dbias}


def max_pool2d(x, g, pool_size, strides, padding):
    """Each window sends its gradient to its first maximum (row-major scan; padding never wins)."""
    batch, height, width, channels = x.shape
    (kh, kw), (sh, sw) = pool_size, strides
    oh, top = _out_and_pad_before(height, kh, sh, padding)
    ow, left = _out_and_pad_before(width, kw, sw, padding)
    dx = np.zeros_like(x)
    for n in range(batch):
        for i in range(oh):
            for j in range(ow):
                for c in range(channels):
                    best = None
                    for a in range(kh):
                        for b in range(kw):
                            row, col = i * sh + a - top, j * sw + b - left
                            if 0 <= row < height and 0 <= col < width and (best is None or x[n, row, col, c] > best[0]):
                                best = (x[n, row, col, c], row, col)
                    dx[n, best[1], best[2], c] += g[n, i, j, c]
    return {"dx": dx}


def batch_norm(x, gamma, beta, g, epsilon):
    """Per channel c, over the m values x_k of that channel (every axis but the last):

        dx_k = gamma * r / m * (m g_k - sum_l g_l - x_hat_k sum_l g_l x_hat_l),   r = 1 / sqrt(var + eps)

    (the closed form, not the textbook chain the reference code follows)."""
    rows, grads = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    m = rows.shape[0]
    dx = np.zeros_like(rows)
    dgamma, dbeta = np.zeros_like(gamma), np.zeros_like(beta)
    for c in range(rows.shape[1]):
        mean = sum(rows[k, c] for k in range(m)) / m
        var = sum((rows[k, c] - mean) ** 2 for k in range(m)) / m
        r = 1.0 / math.sqrt(var + epsilon)
        x_hat = [(rows[k, c] - mean) * r for k in range(m)]
        sum_g = sum(grads[k, c] for k in range(m))
        sum_g_x_hat = sum(grads[k, c] * x_hat[k] for k in range(m))
        for k in range(m):
            dx[k, c] = gamma[c] * r / m * (m * grads[k, c] - sum_g - x_hat[k] * sum_g_x_hat)
        dgamma[c], dbeta[c] = sum_g_x_hat, sum_g
    return {"dx": dx.reshape(x.shape), "dgamma": dgamma, "dbeta": dbeta}


def dropout(x, mask, rate, g):
    """y = x * mask / (1 - rate)."""
    dx = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        dx[index] = g[index] / (1.0 - rate) if mask[index] else 0.0
    return {"dx": dx}


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def lstm_cell(x, h, c, kernel, recurrent_kernel, bias, dh_next, dc_next):
    """One LSTM step, Keras gates i, f, c, o; every product written as a loop."""
    batch, features = x.shape
    units = h.shape[1]
    grads = {name: np.zeros_like(value) for name, value in
             (("dx", x), ("dh", h), ("dc", c), ("dkernel", kernel), ("drecurrent_kernel", recurrent_kernel),
              ("dbias", bias))}
    for n in range(batch):
        z = [bias[k] + sum(x[n, f] * kernel[f, k] for f in range(features))
             + sum(h[n, u] * recurrent_kernel[u, k] for u in range(units)) for k in range(4 * units)]
        dz = [0.0] * (4 * units)
        for u in range(units):
            i, f, o = _sigmoid(z[u]), _sigmoid(z[units + u]), _sigmoid(z[3 * units + u])
            c_bar = math.tanh(z[2 * units + u])
            c_new = f * c[n, u] + i * c_bar
            dc_total = dc_next[n, u] + dh_next[n, u] * o * (1.0 - math.tanh(c_new) ** 2)
            dz[u] = dc_total * c_bar * i * (1.0 - i)
            dz[units + u] = dc_total * c[n, u] * f * (1.0 - f)
            dz[2 * units + u] = dc_total * i * (1.0 - c_bar ** 2)
            dz[3 * units + u] = dh_next[n, u] * math.tanh(c_new) * o * (1.0 - o)
            grads["dc"][n, u] = dc_total * f
        for k in range(4 * units):
            grads["dbias"][k] += dz[k]
            for f in range(features):
                grads["dx"][n, f] += dz[k] * kernel[f, k]
                grads["dkernel"][f, k] += x[n, f] * dz[k]
            for u in range(units):
                grads["dh"][n, u] += dz[k] * recurrent_kernel[u, k]
                grads["drecurrent_kernel"][u, k] += h[n, u] * dz[k]
    return grads
