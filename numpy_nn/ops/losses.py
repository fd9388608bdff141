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
from .activations import Sigmoid, Softmax, log_softmax_array, sigmoid_array, softplus_array
from .math import clip_slope, where

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

    def tensor_backward(self, g, loss, p):  # the same formulas on the tape (create_graph=True)
        g, y = g.reshape(_kept(g.shape, self.axis)), self.target
        if self.from_logits:
            return (g * (Softmax.apply(p, axis=self.axis) * np.sum(y, axis=self.axis, keepdims=True) - y),)
        total = p.sum(axis=self.axis, keepdims=True)
        q = p / total
        u = -y / q.clip(EPSILON, 1.0 - EPSILON) * self.clip_slope
        return (g * (u - (u * q).sum(axis=self.axis, keepdims=True)) / total,)


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

    def tensor_backward(self, g, loss, p):
        y = self.target
        if self.from_logits:
            return (g * (Sigmoid.apply(p) - y),)
        c = p.clip(EPSILON, 1.0 - EPSILON)
        return (g * (-y / c + (1 - y) / (1 - c)) * self.clip_slope,)


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

    def tensor_backward(self, g, loss, p):
        return (g * where(self.small, p - self.params["target"], self.delta * np.sign(self.error)),)


def _kept(shape, axis):
    """``shape`` with a size-1 axis inserted at ``axis`` (where a reduction removed it)."""
    shape = list(shape)
    shape.insert(axis % (len(shape) + 1) if axis >= 0 else len(shape) + 1 + axis, 1)
    return tuple(shape)


class CTC(Function):
    """Connectionist temporal classification (Graves et al. 2006), Keras's form (``ops.ctc_loss``).

    Inputs: logits z (N, T, C); ``labels`` (N, S) integers and ``label_length`` (N,) are
    parameters. With p = softmax(z) over classes and, per sample, the first L = label_length labels
    l_1..l_L, the lattice has 2L + 1 states: even states "blank (class ``mask_index``) after n
    labels", odd states "label n". At each frame a path stays, moves one state on, or jumps over a
    blank state to the next label when the two labels differ. Forward variables (log space):

        alpha_0 = [log p_0(blank), log p_0(l_1), -inf, ...]
        alpha_t(s) = log p_t(sym s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1),
                                                 alpha_{t-1}(s-2) if s is label n and l_n != l_{n-1})
        loss = -log P,   log P = logsumexp(alpha_{T-1}(2L), alpha_{T-1}(2L-1))

    Gradient, from the backward variables beta (the same recursion run from the end, emissions
    excluded at t) and the occupancy gamma_t(s) = exp(alpha_t(s) + beta_t(s) - log P):

        dloss/dz_{t,k} = p_{t,k} - sum over states s with sym(s) = k of gamma_t(s)

    (a label equal to ``mask_index`` inside the first L labels is an ordinary label emitting that
    class, as in Keras). Returns the per-sample loss (N,).
    """

    def forward(self, logits, labels, label_length, mask_index=0):
        log_probs = log_softmax_array(logits, axis=-1)
        batch, frames, _ = logits.shape
        labels = np.asarray(labels, dtype=np.int64)
        label_length = np.asarray(label_length, dtype=np.int64)
        states = 2 * labels.shape[1] + 1
        symbols = np.full((batch, states), mask_index, dtype=np.int64)
        symbols[:, 1::2] = labels
        skip = np.zeros((batch, states), dtype=bool)           # label n may follow label n-1 directly
        skip[:, 3::2] = labels[:, 1:] != labels[:, :-1]
        emissions = np.take_along_axis(log_probs, np.broadcast_to(symbols[:, None, :], (batch, frames, states)),
                                       axis=2)                 # (N, T, states): log p_t(sym s)
        alpha = np.full((batch, frames, states), -np.inf, dtype=logits.dtype)
        alpha[:, 0, :2] = emissions[:, 0, :2]
        for t in range(1, frames):
            alpha[:, t] = emissions[:, t] + self._arrive(alpha[:, t - 1], skip)
        last = np.stack([2 * label_length, np.maximum(2 * label_length - 1, 0)], axis=1)
        ends = np.take_along_axis(alpha[:, -1], last, axis=1)
        ends[label_length == 0, 1] = -np.inf                   # an empty label ends in the first blank only
        self.log_p = np.logaddexp(ends[:, 0], ends[:, 1])
        self.alpha, self.emissions, self.skip, self.last = alpha, emissions, skip, last
        self.symbols, self.probs, self.label_length = symbols, np.exp(log_probs), label_length
        return -self.log_p

    @staticmethod
    def _arrive(previous, skip):
        """logsumexp over the states a path can come from: s, s - 1, s - 2 (allowed skips)."""
        total = previous.copy()
        total[:, 1:] = np.logaddexp(total[:, 1:], previous[:, :-1])
        total[:, 2:] = np.where(skip[:, 2:], np.logaddexp(total[:, 2:], previous[:, :-2]), total[:, 2:])
        return total

    def backward(self, g):
        batch, frames, states = self.alpha.shape
        beta = np.full_like(self.alpha, -np.inf)
        rows = np.arange(batch)
        beta[rows, -1, self.last[:, 0]] = 0.0
        beta[rows[self.label_length > 0], -1, self.last[self.label_length > 0, 1]] = 0.0
        for t in range(frames - 2, -1, -1):
            ahead = self.emissions[:, t + 1] + beta[:, t + 1]  # leave s towards s, s + 1, s + 2
            total = ahead.copy()
            total[:, :-1] = np.logaddexp(total[:, :-1], ahead[:, 1:])
            total[:, :-2] = np.where(self.skip[:, 2:], np.logaddexp(total[:, :-2], ahead[:, 2:]), total[:, :-2])
            beta[:, t] = total
        occupancy = np.exp(self.alpha + beta - self.log_p[:, None, None])   # (N, T, states)
        expected = np.zeros_like(self.probs)                   # sum of occupancies per class: scatter-add
        shape = occupancy.shape
        np.add.at(expected, (np.broadcast_to(rows[:, None, None], shape),
                             np.broadcast_to(np.arange(frames)[None, :, None], shape),
                             np.broadcast_to(self.symbols[:, None, :], shape)), occupancy)
        return (g[:, None, None] * (self.probs - expected),)
