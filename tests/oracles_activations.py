"""Naive one-element-at-a-time references for the activation and loss ops (test oracles).

Written with ``math`` on Python floats, looping over every element, so they share no code
with the vectorized ops in ``numpy_nn/ops``.
"""
import math

import numpy as np

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


SCALAR = {
    "relu": lambda v: max(v, 0.0),
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "leaky_relu": lambda v: v if v >= 0 else 0.2 * v,
    "elu": lambda v: v if v > 0 else math.exp(v) - 1.0,
    "selu": lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * (math.exp(v) - 1.0)),
    "celu": lambda v: v if v > 0 else math.exp(v) - 1.0,
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda v: min(max(v / 6.0 + 0.5, 0.0), 1.0),
    "sparse_sigmoid": lambda v: min(max((v + 1.0) / 2.0, 0.0), 1.0),
    "log_sigmoid": lambda v: -_softplus(-v),
    "tanh": math.tanh,
    "hard_tanh": lambda v: min(max(v, -1.0), 1.0),
    "tanh_shrink": lambda v: v - math.tanh(v),
    "silu": lambda v: v * _sigmoid(v),
    "hard_silu": lambda v: v * min(max(v / 6.0 + 0.5, 0.0), 1.0),
    "gelu": lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))),
    "mish": lambda v: v * math.tanh(_softplus(v)),
    "softplus": _softplus,
    "sparse_plus": lambda v: 0.0 if v <= -1 else (v if v >= 1 else (v + 1.0) ** 2 / 4.0),
    "squareplus": lambda v: (v + math.sqrt(v * v + 4.0)) / 2.0,
    "softsign": lambda v: v / (1.0 + abs(v)),
    "exponential": math.exp,
    "hard_shrink": lambda v: v if abs(v) > 0.5 else 0.0,
    "soft_shrink": lambda v: v - 0.5 if v > 0.5 else (v + 0.5 if v < -0.5 else 0.0),
    "linear": lambda v: v,
}


def gelu_tanh(v):
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))


def general_relu(v, negative_slope, max_value, threshold):
    """Keras's relu(x, negative_slope, max_value, threshold) for 0 <= threshold < max_value, by cases:
    max_value above it, x above the threshold, negative_slope * (x - threshold) below."""
    if max_value is not None and v >= max_value:
        return float(max_value)
    if v > threshold:
        return v
    return negative_slope * (v - threshold)


def elementwise(name, x):
    fn = SCALAR[name]
    out = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        out[index] = fn(float(x[index]))
    return out


def softmax_rows(x):
    """Softmax of every row of a 2-D array, one row at a time."""
    out = np.empty(x.shape)
    for i in range(x.shape[0]):
        top = max(x[i])
        exps = [math.exp(v - top) for v in x[i]]
        out[i] = [e / sum(exps) for e in exps]
    return out


def sparsemax_rows(x):
    """Keras's sparsemax of every row, one row at a time: sort descending, running sums C_j,
    support S = {j : z_j > (C_j - 1) / j}, tau = (sum of C_j over S - 1) / |S|, y = max(x - tau, 0)."""
    out = np.empty(x.shape)
    for i in range(x.shape[0]):
        z = sorted((float(v) for v in x[i]), reverse=True)
        running, support_sums, k = 0.0, 0.0, 0
        for j, value in enumerate(z, start=1):
            running += value
            if value > (running - 1.0) / j:
                support_sums += running
                k += 1
        tau = (support_sums - 1.0) / k
        out[i] = [max(float(v) - tau, 0.0) for v in x[i]]
    return out


def log_softmax_rows(x):
    out = np.empty(x.shape)
    for i in range(x.shape[0]):
        top = max(x[i])
        log_total = math.log(sum(math.exp(v - top) for v in x[i]))
        out[i] = [v - top - log_total for v in x[i]]
    return out


def categorical_crossentropy_rows(y, p, from_logits=False, eps=1e-7):
    out = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        if from_logits:
            log_prob = log_softmax_rows(p[i:i + 1])[0]
        else:
            total = sum(p[i])
            log_prob = [math.log(min(max(v / total, eps), 1 - eps)) for v in p[i]]
        out[i] = -sum(t * lp for t, lp in zip(y[i], log_prob))
    return out


def binary_crossentropy_elements(y, p, from_logits=False, eps=1e-7):
    """Elementwise binary crossentropy (before the mean over the last axis), one element at a time."""
    out = np.empty(p.shape)
    for index in np.ndindex(*p.shape):
        t, v = float(y[index]), float(p[index])
        if from_logits:  # -t log sigmoid(v) - (1 - t) log sigmoid(-v)
            out[index] = t * _softplus(-v) + (1 - t) * _softplus(v)
        else:
            c = min(max(v, eps), 1 - eps)
            out[index] = -(t * math.log(c) + (1 - t) * math.log(1 - c))
    return out


def huber_elements(y, p, delta):
    """Elementwise Huber loss of e = p - y: e^2 / 2 if |e| <= delta, else delta |e| - delta^2 / 2."""
    out = np.empty(p.shape)
    for index in np.ndindex(*p.shape):
        e = float(p[index]) - float(y[index])
        out[index] = 0.5 * e * e if abs(e) <= delta else delta * abs(e) - 0.5 * delta * delta
    return out


def binary_crossentropy_rows(y, p, eps=1e-7):
    out = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        terms = []
        for t, v in zip(y[i], p[i]):
            c = min(max(v, eps), 1 - eps)
            terms.append(-(t * math.log(c) + (1 - t) * math.log(1 - c)))
        out[i] = sum(terms) / len(terms)
    return out
