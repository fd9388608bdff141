"""Activation functions: one Function per Keras activation, forward and derivative side by side.

Notation: ``x`` input, ``y`` output, ``g = dL/dy`` the incoming gradient, ``dx = dL/dx``.
Elementwise activations have ``dx = g * y'(x)``; only ``y'(x)`` is written out below.

Kinks follow JAX (the backend Keras runs on here), so a gradient at an exact kink agrees with
``jax.grad`` of the Keras function:

* ``relu``:   y'(0) = 0 (JAX's custom derivative);     ``relu6``: y'(0) = y'(6) = 0;
* ``leaky_relu``: y'(0) = 1 (``where(x >= 0, x, a x)``); ``elu``/``selu``: y'(0) = alpha (the
  ``x <= 0`` branch);
* ``hard_sigmoid`` = relu6(x + 3) / 6, so y'(-3) = y'(3) = 0; ``hard_tanh``: y'(+-1) = 1;
* where Keras calls ``clip`` (``sparse_sigmoid``, ``relu`` with a ``max_value`` other than 6 or a
  threshold), y' at a bound is 1/2: JAX's clip is min(max(x, lo), hi) and splits a tie evenly
  (``numpy_nn.ops.math.clip_slope``).

NaN and +-inf go where Keras sends them. Each forward is written in the form Keras uses:
``max(x, 0)`` and ``clip`` keep NaN (``relu(nan) = nan``), a mask ``where(x > t, x, 0)`` sends it
to its "false" branch (``relu(nan, threshold=1) = 0``, ``hard_shrink(nan) = 0``), as in Keras.
tests/test_nan.py holds the table, forward and gradient, for every op here.

All constants are Python floats so float32 inputs stay float32 (NumPy 2 would promote a
float32 array combined with a float64 *array* or NumPy float64 scalar).
"""
import math

import numpy as np
from scipy import special

from ..autograd.function import Function
from .math import clip_slope, tie_weight, where
from .reshaping import Concatenate

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


# -- plain-array helpers (no tape), shared by ops here and in ops/losses.py ------------------------
def sigmoid_array(x):
    """1 / (1 + e^-x), computed without overflow: e^-|x| is always <= 1."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def softplus_array(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softmax_array(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (subtracting the max avoids overflow;
    ``initial`` lets an empty axis give an empty result instead of an error)."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax_array(x, axis=-1):
    """x - max - log(sum(exp(x - max))) along ``axis``."""
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def constant(values, g):
    """``values`` (a mask or a slope that is locally constant in x) as an array of g's dtype, for
    ``tensor_backward``: multiplying by it records nothing about x, so its second derivative is 0."""
    return np.asarray(values, dtype=g.dtype)


# -- the ReLU family ------------------------------------------------------------------------------
class ReLU(Function):
    """y = max(x, 0);  y' = [x > 0]  (so relu(nan) = nan, its gradient 0, as in Keras)."""

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, g):
        return (g * self.positive,)

    def tensor_backward(self, g, y, x):  # relu'' = 0 (the slope is locally constant), as in JAX
        return (g * constant(x.data > 0, g),)  # (from x: the fast kernel keeps no mask)


class ReLU6(Function):
    """y = min(max(x, 0), 6);  y' = [0 < x < 6]."""

    def forward(self, x):
        self.inside = (x > 0) & (x < 6)
        return np.clip(x, 0, 6).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.inside,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.inside, g),)


class GeneralReLU(Function):
    """Keras's general ``relu(x, negative_slope=a, max_value=m, threshold=t)`` (the ``ReLU`` layer),
    in the order Keras composes it:

        p = where(x > t, x, 0)  if t != 0,   else  max(x, 0)
        p = clip(p, 0, m)                              (only when m is given)
        y = p - a max(t - x, 0)                        (only when a != 0)

    so y = m for x >= m, x for t < x < m, a (x - t) for x <= t (when 0 <= t < m).
    y' = [x > t] clip'(p) + a [x < t],  clip'(p) = [0 < p < m] + 1/2 [p = 0 or p = m]
    (JAX's tie rule, ``clip_slope``), except that with t = 0 and m = 6 Keras calls ``relu6``,
    whose slope at 6 is 0. A NaN input gives NaN when t = 0 or a != 0, and 0 otherwise (the
    mask ``x > t`` is False for NaN), exactly as Keras. (A slope alone, with no m and t = 0, is
    ``LeakyReLU`` in Keras, and in ``numpy_nn.activations.relu``.)
    """

    def forward(self, x, negative_slope=0.0, max_value=None, threshold=0.0):
        a, t = float(negative_slope), float(threshold)
        self.negative_slope, self.above, self.below = a, x > t, x < t
        p = np.where(x > t, x, 0).astype(x.dtype) if t != 0 else np.maximum(x, 0)
        self.clip_slope = 1.0
        if max_value is not None:
            m = float(max_value)
            self.clip_slope = (p < m) if (t == 0 and m == 6) else clip_slope(p, 0.0, m)
            p = np.clip(p, 0.0, m).astype(x.dtype, copy=False)
        return p - a * np.maximum(t - x, 0) if a != 0 else p

    def backward(self, g):
        slope = self.above * self.clip_slope + self.negative_slope * self.below
        return (g * np.asarray(slope, dtype=g.dtype),)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.above * self.clip_slope + self.negative_slope * self.below, g),)


class LeakyReLU(Function):
    """y = x if x >= 0 else a x;  y' = 1 if x >= 0 else a."""

    def forward(self, x, negative_slope=0.2):
        self.slope = float(negative_slope)
        self.nonneg = x >= 0
        return np.where(self.nonneg, x, self.slope * x).astype(x.dtype, copy=False)

    def backward(self, g):
        return (np.where(self.nonneg, g, self.slope * g),)

    def tensor_backward(self, g, y, x):
        return (g * constant(np.where(self.nonneg, 1.0, self.slope), g),)


class ELU(Function):
    """y = x if x > 0 else alpha (e^x - 1);  y' = 1 if x > 0 else alpha e^x  (= y + alpha)."""

    def forward(self, x, alpha=1.0):
        self.alpha = float(alpha)
        self.positive = x > 0
        self.negative_part = self.alpha * np.expm1(np.minimum(x, 0))
        return np.where(self.positive, x, self.negative_part).astype(x.dtype, copy=False)

    def backward(self, g):
        return (np.where(self.positive, g, g * (self.negative_part + self.alpha)),)

    def tensor_backward(self, g, y, x):
        return (where(self.positive, g, g * (y + self.alpha)),)


class SELU(Function):
    """y = scale * elu(x, alpha), alpha = 1.6732632423543772, scale = 1.0507009873554805;
    y' = scale if x > 0 else scale * alpha e^x."""

    def forward(self, x):
        self.positive = x > 0
        self.negative_part = SELU_ALPHA * np.expm1(np.minimum(x, 0))
        return (SELU_SCALE * np.where(self.positive, x, self.negative_part)).astype(x.dtype, copy=False)

    def backward(self, g):
        return (SELU_SCALE * np.where(self.positive, g, g * (self.negative_part + SELU_ALPHA)),)

    def tensor_backward(self, g, y, x):  # y + scale alpha = scale alpha e^x where x <= 0
        return (where(self.positive, SELU_SCALE * g, g * (y + SELU_SCALE * SELU_ALPHA)),)


class CELU(Function):
    """y = max(x, 0) + alpha (e^(min(x, 0)/alpha) - 1);  y' = 1 if x > 0 else e^(x/alpha)."""

    def forward(self, x, alpha=1.0):
        self.alpha = float(alpha)
        self.positive = x > 0
        self.exp_part = np.exp(np.minimum(x, 0) / self.alpha)
        return (np.maximum(x, 0) + self.alpha * (self.exp_part - 1)).astype(x.dtype, copy=False)

    def backward(self, g):
        return (np.where(self.positive, g, g * self.exp_part),)

    def tensor_backward(self, g, y, x):  # y + alpha = alpha e^(x/alpha) where x <= 0
        return (where(self.positive, g, g * (y + self.alpha) / self.alpha),)


# -- sigmoid-like ------------------------------------------------------------------------------------
class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  y' = y (1 - y)."""

    def forward(self, x):
        self.y = sigmoid_array(x)
        return self.y

    def backward(self, g):
        return (g * self.y * (1 - self.y),)

    def tensor_backward(self, g, y, x):
        return (g * y * (1 - y),)


class HardSigmoid(Function):
    """Keras 3 form: y = clip(x/6 + 1/2, 0, 1) = relu6(x + 3) / 6;  y' = [-3 < x < 3] / 6.

    (Keras 2 used 0.2 x + 0.5; that differs by up to 0.083.)
    """

    def forward(self, x):
        self.inside = (x > -3) & (x < 3)
        return (np.clip(x + 3.0, 0, 6) / 6.0).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.inside / 6.0,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.inside / 6.0, g),)


class SparseSigmoid(Function):
    """y = clip(x + 1, 0, 2) / 2;  y' = clip'(x + 1) / 2 = [-1 < x < 1] / 2, and 1/4 at x = +-1
    (Keras calls ``clip``; JAX splits the tie at a bound, see ``clip_slope``)."""

    def forward(self, x):
        self.slope = clip_slope(x + 1.0, 0.0, 2.0)
        return (0.5 * np.clip(x + 1.0, 0, 2)).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.slope * 0.5,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.slope * 0.5, g),)


class LogSigmoid(Function):
    """y = log(sigmoid(x)) = -softplus(-x);  y' = sigmoid(-x) = 1 - sigmoid(x)."""

    def forward(self, x):
        self.x = x
        return (-softplus_array(-x)).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * sigmoid_array(-self.x),)

    def tensor_backward(self, g, y, x):
        return (g * Sigmoid.apply(-x),)


class Tanh(Function):
    """y = tanh(x);  y' = 1 - y^2."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        return (g * (1 - self.y * self.y),)

    def tensor_backward(self, g, y, x):
        return (g * (1 - y * y),)


class HardTanh(Function):
    """y = -1 (x < -1), x (-1 <= x <= 1), 1 (x > 1);  y' = 0 where x < -1 or x > 1, else 1
    (Keras's ``where(x > 1, 1, where(x < -1, -1, x))``: a NaN input stays NaN and, as in JAX,
    passes its gradient through)."""

    def forward(self, x):
        self.inside = ~((x < -1) | (x > 1))
        return np.clip(x, -1, 1).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.inside,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.inside, g),)


class TanhShrink(Function):
    """y = x - tanh(x);  y' = tanh(x)^2."""

    def forward(self, x):
        self.t = np.tanh(x)
        return x - self.t

    def backward(self, g):
        return (g * self.t * self.t,)

    def tensor_backward(self, g, y, x):
        t = x - y
        return (g * t * t,)


# -- x times a gate ------------------------------------------------------------------------------------
class Silu(Function):
    """swish / silu: y = x s, s = sigmoid(x);  y' = s + x s (1 - s) = s (1 + x (1 - s))."""

    def forward(self, x):
        self.x, self.s = x, sigmoid_array(x)
        return x * self.s

    def backward(self, g):
        return (g * self.s * (1 + self.x * (1 - self.s)),)

    def tensor_backward(self, g, y, x):
        s = Sigmoid.apply(x)
        return (g * s * (1 + x * (1 - s)),)


class HardSilu(Function):
    """hard_swish / hard_silu: y = x h, h = hard_sigmoid(x) = clip(x/6 + 1/2, 0, 1);
    y' = h + x h' = h + (x / 6 where -3 < x < 3, else 0)  (selected, not multiplied by the mask,
    so y'(+inf) = 1 and y'(-inf) = 0 as in JAX, not inf * 0 = nan)."""

    def forward(self, x):
        self.x = x
        self.h = (np.clip(x + 3.0, 0, 6) / 6.0).astype(x.dtype, copy=False)
        return x * self.h

    def backward(self, g):
        inside = (self.x > -3) & (self.x < 3)
        return (g * (self.h + np.where(inside, self.x / 6.0, 0)),)

    def tensor_backward(self, g, y, x):
        inside = (x.data > -3) & (x.data < 3)
        return (g * (HardSigmoid.apply(x) + where(inside, x / 6.0, 0.0)),)


class Gelu(Function):
    """Gaussian error linear unit (``keras.activations.gelu`` defaults to the exact form).

    exact (approximate=False):  y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2
                                y' = Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
    tanh  (approximate=True):   u = sqrt(2/pi) (x + 0.044715 x^3),  t = tanh(u),  y = x (1 + t) / 2
                                y' = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2
    """

    def forward(self, x, approximate=False):
        self.x, self.approximate = x, bool(approximate)
        if self.approximate:
            self.t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x ** 3))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + special.erf(x / _SQRT_2))
        return (x * self.cdf).astype(x.dtype, copy=False)

    def backward(self, g):
        x = self.x
        if self.approximate:
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
            return (g * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * du),)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return (g * (self.cdf + x * pdf),)

    def tensor_backward(self, g, y, x):  # the tanh form only (erf has no op of its own here)
        if not self.approximate:
            return super().tensor_backward(g, y, x)
        t = Tanh.apply(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x ** 3))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
        return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du),)


class Mish(Function):
    """y = x tanh(softplus(x));  y' = t + x (1 - t^2) sigmoid(x),  t = tanh(softplus(x))."""

    def forward(self, x):
        self.x = x
        self.t = np.tanh(softplus_array(x)).astype(x.dtype, copy=False)
        return x * self.t

    def backward(self, g):
        return (g * (self.t + self.x * (1 - self.t * self.t) * sigmoid_array(self.x)),)

    def tensor_backward(self, g, y, x):
        t = Tanh.apply(Softplus.apply(x))
        return (g * (t + x * (1 - t * t) * Sigmoid.apply(x)),)


class GLU(Function):
    """Gated linear unit: split x in halves a, b along ``axis``;  y = a sigmoid(b);
    da = g sigmoid(b),  db = g a sigmoid(b) (1 - sigmoid(b))."""

    def forward(self, x, axis=-1):
        if x.shape[axis] % 2:
            raise ValueError(f"glu: the size of axis {axis} must be even, received shape {x.shape}")
        self.axis = axis
        self.a, b = np.split(x, 2, axis=axis)
        self.s = sigmoid_array(b)
        return self.a * self.s

    def backward(self, g):
        da = g * self.s
        db = g * self.a * self.s * (1 - self.s)
        return (np.concatenate([da, db], axis=self.axis),)

    def tensor_backward(self, g, y, x):
        axis = self.axis % x.ndim
        half = x.shape[axis] // 2
        a = x[(slice(None),) * axis + (slice(0, half),)]
        s = Sigmoid.apply(x[(slice(None),) * axis + (slice(half, None),)])
        return (Concatenate.apply(g * s, g * a * s * (1 - s), axis=axis),)


# -- smooth ReLU-likes and others -------------------------------------------------------------------------
class Softplus(Function):
    """y = log(1 + e^x), computed stably as max(x, 0) + log1p(e^-|x|);  y' = sigmoid(x)."""

    def forward(self, x):
        self.x = x
        return softplus_array(x).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * sigmoid_array(self.x),)

    def tensor_backward(self, g, y, x):
        return (g * Sigmoid.apply(x),)


class SparsePlus(Function):
    """y = 0 (x <= -1), (x + 1)^2 / 4 (-1 < x < 1), x (x >= 1);
    y' = 0, (x + 1) / 2, 1 on the same pieces."""

    def forward(self, x):
        self.x = x
        return np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4.0)).astype(x.dtype, copy=False)

    def backward(self, g):
        x = self.x
        return (g * np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2.0)).astype(g.dtype, copy=False),)

    def tensor_backward(self, g, y, x):
        return (where(x.data >= 1, g, g * constant(x.data > -1, g) * (x + 1) / 2.0),)


class Squareplus(Function):
    """y = (x + sqrt(x^2 + b)) / 2;  y' = (1 + x / sqrt(x^2 + b)) / 2."""

    def forward(self, x, b=4):
        self.x = x
        self.root = np.sqrt(x * x + float(b))
        return (x + self.root) / 2.0

    def backward(self, g):
        return (g * 0.5 * (1 + self.x / self.root),)

    def tensor_backward(self, g, y, x):
        return (g * 0.5 * (1 + x / (x * x + float(self.params.get("b", 4))).sqrt()),)


class Softsign(Function):
    """y = x / (1 + |x|);  y' = 1 / (1 + |x|)^2."""

    def forward(self, x):
        self.denominator = 1 + np.abs(x)
        return x / self.denominator

    def backward(self, g):
        return (g / (self.denominator * self.denominator),)

    def tensor_backward(self, g, y, x):
        d = 1 + x.abs()
        return (g / (d * d),)


class Exponential(Function):
    """y = e^x;  y' = y."""

    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, g):
        return (g * self.y,)

    def tensor_backward(self, g, y, x):
        return (g * y,)


class HardShrink(Function):
    """y = x if |x| > threshold else 0;  y' = [|x| > threshold]."""

    def forward(self, x, threshold=0.5):
        self.outside = np.abs(x) > float(threshold)
        return np.where(self.outside, x, 0).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.outside,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.outside, g),)


class SoftShrink(Function):
    """y = x - threshold (x > threshold), x + threshold (x < -threshold), 0 otherwise;
    y' = [|x| > threshold]."""

    def forward(self, x, threshold=0.5):
        threshold = float(threshold)
        self.outside = np.abs(x) > threshold
        return np.where(x > threshold, x - threshold,
                        np.where(x < -threshold, x + threshold, 0)).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.outside,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.outside, g),)


class Threshold(Function):
    """y = x if x > threshold else default_value;  y' = [x > threshold]."""

    def forward(self, x, threshold=0.0, default_value=0.0):
        self.above = x > float(threshold)
        return np.where(self.above, x, float(default_value)).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.above,)

    def tensor_backward(self, g, y, x):
        return (g * constant(self.above, g),)


# -- along an axis ---------------------------------------------------------------------------------------
class Softmax(Function):
    """y_i = e^(x_i - max x) / sum_j e^(x_j - max x) along ``axis`` (Keras default axis=-1);
    dx_i = y_i (g_i - sum_j g_j y_j)."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.y = softmax_array(x, axis=axis)
        return self.y

    def backward(self, g):
        return (self.y * (g - np.sum(g * self.y, axis=self.axis, keepdims=True)),)

    def tensor_backward(self, g, y, x):
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """y_i = x_i - max x - log sum_j e^(x_j - max x) along ``axis``;
    dx_i = g_i - softmax(x)_i sum_j g_j."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.y = log_softmax_array(x, axis=axis)
        return self.y

    def backward(self, g):
        return (g - np.exp(self.y) * np.sum(g, axis=self.axis, keepdims=True),)

    def tensor_backward(self, g, y, x):
        return (g - y.exp() * g.sum(axis=self.axis, keepdims=True),)


class Sparsemax(Function):
    """Keras's sparsemax along ``axis``: y = max(x - tau, 0).

    Sort z = x descending, C_j = z_1 + ... + z_j, support S = {j : z_j - (C_j - 1) / j > 0},
    k = |S|. Keras (all backends, 3.15) then takes tau = (sum_{j in S} C_j - 1) / k. That is
    *not* the textbook simplex projection, tau = (C_k - 1) / k, unless k = 1 (the outputs need
    not sum to 1); we follow Keras, as everywhere, and say so here.
    Gradient (k locally constant): with a = [x - tau > 0] + 1/2 [x = tau] (JAX's tie rule for the
    max) and r_n the 1-based rank of x_n in z,
        dtau/dx_n = w_n = (k - r_n + 1) / k  if r_n <= k, else 0
        dx_n = a_n g_n - w_n sum_m a_m g_m
    """

    def forward(self, x, axis=-1):
        self.axis = axis
        x_last = np.moveaxis(x, axis, -1)
        order = np.argsort(-x_last, axis=-1, kind="stable")
        z = np.take_along_axis(x_last, order, axis=-1)
        cumulative = np.cumsum(z, axis=-1)
        rank = np.arange(1, x_last.shape[-1] + 1, dtype=x.dtype)
        support = z - (cumulative - 1) / rank > 0
        k = np.sum(support, axis=-1, keepdims=True)
        tau = (np.sum(np.where(support, cumulative, 0), axis=-1, keepdims=True) - 1) / k
        y_last = np.maximum(x_last - tau, 0).astype(x.dtype, copy=False)
        ranks = np.argsort(order, axis=-1) + 1  # rank of each x_n in the descending sort
        self.w = np.where(ranks <= k, (k - ranks + 1) / k, 0).astype(x.dtype, copy=False)
        self.active = tie_weight(x_last - tau, 0.0).astype(x.dtype)
        return np.moveaxis(y_last, -1, axis)

    def backward(self, g):
        g_last = np.moveaxis(g, self.axis, -1) * self.active
        dx = g_last - self.w * np.sum(g_last, axis=-1, keepdims=True)
        return (np.moveaxis(dx, -1, self.axis),)


class PReLU(Function):
    """Parametric ReLU (the ``PReLU`` layer): y = x if x > 0 else alpha x, alpha broadcast
    against x (shared axes have size 1). Keras computes relu(x) - alpha relu(-x), so at x = 0
    both gradients are 0, as here:
    dx = g ([x > 0] + alpha [x < 0]),   dalpha = g min(x, 0)  (summed over broadcast axes by the engine).
    """

    def forward(self, x, alpha):
        self.x, self.alpha = x, alpha
        return np.where(x > 0, x, alpha * x).astype(x.dtype, copy=False)

    def backward(self, g):
        x = self.x
        dx = g * ((x > 0) + self.alpha * (x < 0)) if self.needs_input_grad[0] else None
        dalpha = g * np.minimum(x, 0) if self.needs_input_grad[1] else None
        return dx, dalpha

    def tensor_backward(self, g, y, x, alpha):  # piecewise linear in x, linear in alpha
        dx = where(x.data > 0, g, g * alpha) * constant(x.data != 0, g) if self.needs_input_grad[0] else None
        dalpha = g * x.minimum(0.0) if self.needs_input_grad[1] else None
        return dx, dalpha
