"""Fused loss ops whose stability needs an explicit backward (Keras formulas, JAX backend).

Each op takes the prediction as its one differentiable input; the target ``y`` is a plain
array parameter (no gradient). ``eps = 1e-7`` (``keras.backend.epsilon()``). Clipping bounds
are Python floats, so a float32 prediction is clipped *in float32*, where 1 - 1e-7 rounds to
0.99999988 (the "binary 15.942" gotcha: -log(1 - 0.99999988) = 15.942, not 16.118).
Per-sample reduction over the last axis (binary's mean) and the batch reduction are done
outside, in ``numpy_nn/losses.py``.

clip'(q) is JAX's slope of clip (``numpy_nn.ops.math.clip_slope``): 1 inside (eps, 1 - eps), 1/2
at a bound (a float32 softmax output can be exactly 1 - eps), 0 outside. NaN in a prediction or
a target gives a NaN loss for its sample, as in Keras (clip keeps NaN).
"""
import numpy as np

from ..autograd.function import Function
from .activations import log_softmax_array, sigmoid_array, softplus_array
from .math import clip_slope

EPSILON = 1e-7


class CategoricalCrossentropy(Function):
    """Per-sample categorical crossentropy along ``axis`` (the class axis is reduced away).

    probabilities (from_logits=False), Keras renormalises then clips:
        S = sum_k p_k,  q = p / S,  c = clip(q, eps, 1 - eps),  L = -sum_k y_k log c_k
        u_k = dL/dq_k = -y_k / c_k * clip'(q_k)
        dL/dp_k = (u_k - sum_j u_j q_j) / S
    logits (from_logits=True):
        L = -sum_k y_k log_softmax(z)_k,     dL/dz_k = softmax(z)_k sum_j y_j - y_k
    """

    def forward(self, prediction, target, from_logits=False, axis=-1):
        self.axis, self.from_logits = axis, bool(from_logits)
        self.target = target
        if self.from_logits:
            log_prob = log_softmax_array(prediction, axis=axis)
            self.prob = np.exp(log_prob)
        else:
            self.total = np.sum(prediction, axis=axis, keepdims=True)
            self.q = prediction / self.total
            self.c = np.clip(self.q, EPSILON, 1.0 - EPSILON)
            self.clip_slope = clip_slope(self.q, EPSILON, 1.0 - EPSILON)
            log_prob = np.log(self.c)
        return -np.sum(target * log_prob, axis=axis)

    def backward(self, g):
        g = np.expand_dims(g, self.axis)
        y = self.target
        if self.from_logits:
            return (g * (self.prob * np.sum(y, axis=self.axis, keepdims=True) - y),)
        u = -y / self.c * self.clip_slope
        return (g * (u - np.sum(u * self.q, axis=self.axis, keepdims=True)) / self.total,)


class BinaryCrossentropy(Function):
    """Elementwise binary crossentropy (before Keras's mean over the last axis).

    probabilities:  c = clip(p, eps, 1 - eps),  L = -(y log c + (1 - y) log(1 - c))
                    dL/dp = (-y / c + (1 - y) / (1 - c)) * clip'(p)
    logits:         L = -y log_sigmoid(z) - (1 - y) log_sigmoid(-z),  dL/dz = sigmoid(z) - y
    """

    def forward(self, prediction, target, from_logits=False):
        self.target, self.from_logits = target, bool(from_logits)
        y = target
        if self.from_logits:
            self.prediction = prediction
            return y * softplus_array(-prediction) + (1 - y) * softplus_array(prediction)
        self.c = np.clip(prediction, EPSILON, 1.0 - EPSILON)
        self.clip_slope = clip_slope(prediction, EPSILON, 1.0 - EPSILON)
        return -(y * np.log(self.c) + (1 - y) * np.log(1 - self.c))

    def backward(self, g):
        y = self.target
        if self.from_logits:
            return (g * (sigmoid_array(self.prediction) - y),)
        return (g * (-y / self.c + (1 - y) / (1 - self.c)) * self.clip_slope,)


class Huber(Function):
    """Elementwise Huber loss of the error e = p - y:
        L = e^2 / 2 (|e| <= delta),   delta |e| - delta^2 / 2 otherwise
        dL/dp = e (|e| <= delta),     delta sign(e) otherwise
    """

    def forward(self, prediction, target, delta=1.0):
        self.delta = float(delta)
        self.error = prediction - target
        self.small = np.abs(self.error) <= self.delta
        return np.where(self.small, 0.5 * self.error ** 2,
                        self.delta * np.abs(self.error) - 0.5 * self.delta ** 2).astype(prediction.dtype, copy=False)

    def backward(self, g):
        return (g * np.where(self.small, self.error, self.delta * np.sign(self.error)),)
