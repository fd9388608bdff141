"""Elementwise arithmetic, matrix product, reductions and shape ops — the ops behind Tensor's methods.

Notation: ``x, y`` inputs, ``z`` output, ``g = dL/dz`` the incoming gradient. Gradients are
returned at the broadcast shape; the engine sums them back to each input's shape.

Kinks follow JAX, the backend Keras runs on here, so ``keras.ops`` on the same values gives the
same gradient: a tie of ``maximum``/``minimum`` splits the gradient in halves, ``clip`` is
min(max(x, low), high) and so passes half the gradient at a bound, ``|x|'(0) = 1``.
NaN propagates as in NumPy and JAX: max, min, clip and the reductions keep it (tests/test_nan.py).
"""
import numpy as np

from ..autograd.function import Function, unbroadcast
from ..autograd.tensor import OPERATORS


class Add(Function):
    """z = x + y;  dx = g,  dy = g."""

    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return g, g

    def tensor_backward(self, g, z, x, y):
        return g, g


class Subtract(Function):
    """z = x - y;  dx = g,  dy = -g."""

    def forward(self, x, y):
        return x - y

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)

    def tensor_backward(self, g, z, x, y):
        return g, -g


class Multiply(Function):
    """z = x * y;  dx = g * y,  dy = g * x."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        dx = g * self.y if self.needs_input_grad[0] else None
        dy = g * self.x if self.needs_input_grad[1] else None
        return dx, dy

    def tensor_backward(self, g, z, x, y):
        return g * y, g * x


class Divide(Function):
    """z = x / y;  dx = g / y,  dy = -g * x / y**2 = -g * z / y."""

    def forward(self, x, y):
        self.y = y
        self.z = x / y
        return self.z

    def backward(self, g):
        dx = g / self.y if self.needs_input_grad[0] else None
        dy = -g * self.z / self.y if self.needs_input_grad[1] else None
        return dx, dy

    def tensor_backward(self, g, z, x, y):
        return g / y, -g * z / y


class Power(Function):
    """z = x ** y;  dx = g * y * x**(y-1),  dy = g * z * log(x)  (log 0 read as 0, as in JAX, so
    0 ** y has dy = 0; a negative x gives nan, as in JAX)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        self.z = np.power(x, y)
        return self.z

    def backward(self, g):
        dx = g * self.y * np.power(self.x, self.y - 1) if self.needs_input_grad[0] else None
        dy = None
        if self.needs_input_grad[1]:
            with np.errstate(invalid="ignore"):
                dy = g * self.z * np.log(np.where(self.x == 0, 1, self.x))
        return dx, dy

    def tensor_backward(self, g, z, x, y):
        dx = g * y * x ** (y - 1) if self.needs_input_grad[0] else None
        dy = g * z * where(x.data == 0, 1.0, x).log() if self.needs_input_grad[1] else None
        return dx, dy


class Negative(Function):
    """z = -x;  dx = -g."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)

    def tensor_backward(self, g, z, x):
        return (-g,)


class MatMul(Function):
    """Z = X @ W (NumPy matmul rules, batched over leading axes; 1-D operands are not supported).

    dX = G @ W^T,   dW = X^T @ G   (transposing the last two axes; batch axes are summed by the
    engine when W was broadcast).
    """

    def forward(self, x, w):
        if x.ndim < 2 or w.ndim < 2:
            raise ValueError(f"MatMul: both operands need at least 2 dimensions, got shapes {x.shape} and {w.shape}")
        self.x, self.w = x, w
        return np.matmul(x, w)

    def backward(self, g):
        dx = np.matmul(g, np.swapaxes(self.w, -1, -2)) if self.needs_input_grad[0] else None
        dw = None
        if self.needs_input_grad[1]:
            if self.w.ndim == 2 and self.x.ndim > 2:  # Dense on a 3-D input: fold the leading axes
                dw = self.x.reshape(-1, self.x.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                dw = np.matmul(np.swapaxes(self.x, -1, -2), g)
        return dx, dw

    def tensor_backward(self, g, z, x, w):
        dx = g @ swap_last_axes(w) if self.needs_input_grad[0] else None
        dw = None
        if self.needs_input_grad[1]:
            if w.ndim == 2 and x.ndim > 2:
                dw = x.reshape(-1, x.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                dw = swap_last_axes(x) @ g
        return dx, dw


def _expand(g, shape, axis, keepdims):
    """Broadcast a reduced gradient back over the reduced axes."""
    if axis is not None and not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        axes = tuple(a % len(shape) for a in axes)
        for a in sorted(axes):
            g = np.expand_dims(g, a)
    elif axis is None and not keepdims:
        g = np.reshape(g, (1,) * len(shape))
    return np.broadcast_to(g, shape)


def _kept_shape(shape, axis, keepdims):
    """The shape of a reduction's result with the reduced axes kept as size 1."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if np.isscalar(axis) else axis)}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def swap_last_axes(t):
    """A Tensor with its last two axes swapped (the matrix transpose of a batch of matrices)."""
    axes = list(range(t.ndim))
    axes[-2:] = axes[-1], axes[-2]
    return t.transpose(tuple(axes))


class BroadcastTo(Function):
    """z = x broadcast to ``shape`` (NumPy rules);  dx = g summed over the broadcast axes (``unbroadcast``).

    The two are adjoint: BroadcastTo's gradient is a sum, Sum's gradient is a BroadcastTo.
    """

    def forward(self, x, shape):
        self.shape = x.shape
        return np.array(np.broadcast_to(x, shape))

    def backward(self, g):
        return (unbroadcast(g, self.shape),)

    def tensor_backward(self, g, z, x):
        return (unbroadcast(g, x.shape),)


class Sum(Function):
    """z = sum(x, axis);  dx = g broadcast back over the summed axes."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdims))

    def backward(self, g):
        return (np.array(_expand(g, self.shape, self.axis, self.keepdims)),)

    def tensor_backward(self, g, z, x):
        return (BroadcastTo.apply(g.reshape(_kept_shape(self.shape, self.axis, self.keepdims)), shape=self.shape),)


class Mean(Function):
    """z = sum(x, axis) / n  (n = number of elements reduced);  dx = g / n broadcast back."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        z = np.asarray(np.mean(x, axis=axis, keepdims=keepdims))
        self.count = x.size // max(z.size, 1) if x.size else 1
        return z.astype(x.dtype, copy=False)

    def backward(self, g):
        return (np.array(_expand(g, self.shape, self.axis, self.keepdims)) / self.count,)

    def tensor_backward(self, g, z, x):
        kept = g.reshape(_kept_shape(self.shape, self.axis, self.keepdims))
        return (BroadcastTo.apply(kept, shape=self.shape) / float(self.count),)


class Max(Function):
    """z = max(x, axis);  dx = g * [x == z] / (number of ties), so tied maxima share the gradient
    (as in JAX; a NaN among the x makes z and every dx of that reduction NaN, as in JAX)."""

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.z = np.asarray(np.max(x, axis=axis, keepdims=keepdims))
        return self.z

    def backward(self, g):
        z = _expand(self.z, self.x.shape, self.axis, self.keepdims)
        mask = (self.x == z).astype(self.x.dtype)
        ties = _expand(np.sum(mask, axis=self.axis, keepdims=self.keepdims), self.x.shape, self.axis, self.keepdims)
        with np.errstate(invalid="ignore", divide="ignore"):  # a NaN maximum: 0 / 0 = nan, as in JAX
            return (_expand(g, self.x.shape, self.axis, self.keepdims) * mask / ties,)

    def tensor_backward(self, g, z, x):  # the shares mask / ties are locally constant: max'' = 0
        share = self.backward(np.ones(z.shape, dtype=x.dtype))[0]
        return (BroadcastTo.apply(g.reshape(_kept_shape(x.shape, self.axis, self.keepdims)), shape=x.shape) * share,)


class Reshape(Function):
    """z = reshape(x, shape) (C order);  dx = reshape(g, x.shape)."""

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)

    def tensor_backward(self, g, z, x):
        return (g.reshape(x.shape),)


class Transpose(Function):
    """z = transpose(x, axes);  dx = transpose(g, argsort(axes))."""

    def forward(self, x, axes=None):
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, g):
        return (np.transpose(g, None if self.axes is None else np.argsort(self.axes)),)

    def tensor_backward(self, g, z, x):
        return (g.transpose() if self.axes is None else g.transpose(tuple(int(a) for a in np.argsort(self.axes))),)


class GetItem(Function):
    """z = x[index];  dx = zeros like x with g scattered back at index (summing repeated indices)."""

    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return np.array(x[index])

    def backward(self, g):
        dx = np.zeros(self.shape, dtype=self.dtype)
        np.add.at(dx, self.index, g)
        return (dx,)

    def tensor_backward(self, g, z, x):
        return (ScatterAdd.apply(g, index=self.index, shape=self.shape),)


class ScatterAdd(Function):
    """z = zeros(shape) with x added at ``index`` (repeated indices add up);  dx = g[index].

    The adjoint of GetItem (its gradient), and the other way round.
    """

    def forward(self, x, index, shape):
        self.index = index
        z = np.zeros(shape, dtype=x.dtype)
        np.add.at(z, index, x)
        return z

    def backward(self, g):
        return (np.array(g[self.index]),)

    def tensor_backward(self, g, z, x):
        return (g[self.index],)


class Exp(Function):
    """z = exp(x);  dx = g * z."""

    def forward(self, x):
        self.z = np.exp(x)
        return self.z

    def backward(self, g):
        return (g * self.z,)

    def tensor_backward(self, g, z, x):
        return (g * z,)


class Log(Function):
    """z = log(x);  dx = g / x."""

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return (g / self.x,)

    def tensor_backward(self, g, z, x):
        return (g / x,)


class Sqrt(Function):
    """z = sqrt(x);  dx = g / (2 z)."""

    def forward(self, x):
        self.z = np.sqrt(x)
        return self.z

    def backward(self, g):
        return (g / (2 * self.z),)

    def tensor_backward(self, g, z, x):
        return (g / (2 * z),)


class Abs(Function):
    """z = |x|;  dx = g * s,  s = 1 if x >= 0 else -1  (JAX's slope at 0 is +1, not 0)."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return (np.where(self.x >= 0, g, -g),)

    def tensor_backward(self, g, z, x):  # the sign is locally constant: |x|'' = 0
        return (g * np.where(x.data >= 0, 1, -1).astype(x.dtype),)


def tie_weight(x, y):
    """[x > y] + 1/2 [x == y]: the share of the gradient of max(x, y) that goes to x (JAX's rule;
    0 where either is NaN, as in JAX)."""
    return (x > y) + 0.5 * (x == y)


def clip_slope(x, low, high):
    """d clip(x, low, high) / dx as JAX computes it for min(max(x, low), high):
    1 strictly inside, 1/2 at a bound (a tie of max or min), 0 outside and at NaN."""
    slope = tie_weight(x, low) * tie_weight(high, x)
    return slope.astype(np.result_type(x.dtype, np.float16), copy=False)  # float32 stays float32


class Clip(Function):
    """z = min(max(x, low), high);  dx = g * clip'(x),  clip'(x) = 1 for low < x < high, 1/2 at
    x = low or x = high, 0 outside (``clip_slope``)."""

    def forward(self, x, low, high):
        self.slope = clip_slope(x, low, high)
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.slope,)

    def tensor_backward(self, g, z, x):
        return (g * self.slope,)


class Maximum(Function):
    """z = max(x, y) elementwise;  dx = g * w(x, y),  dy = g * w(y, x),  w(x, y) = [x > y] + 1/2 [x == y]
    (a tie splits the gradient, as in JAX; where x or y is NaN, z is NaN and both gradients are 0)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, y)

    def backward(self, g):
        dx = g * tie_weight(self.x, self.y).astype(g.dtype) if self.needs_input_grad[0] else None
        dy = g * tie_weight(self.y, self.x).astype(g.dtype) if self.needs_input_grad[1] else None
        return dx, dy

    def tensor_backward(self, g, z, x, y):
        return g * tie_weight(x.data, y.data).astype(g.dtype), g * tie_weight(y.data, x.data).astype(g.dtype)


class Minimum(Function):
    """z = min(x, y) elementwise;  dx = g * w(y, x),  dy = g * w(x, y)  (Maximum's rule, mirrored:
    x gets the gradient where x < y, half of it where x == y)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.minimum(x, y)

    def backward(self, g):
        dx = g * tie_weight(self.y, self.x).astype(g.dtype) if self.needs_input_grad[0] else None
        dy = g * tie_weight(self.x, self.y).astype(g.dtype) if self.needs_input_grad[1] else None
        return dx, dy

    def tensor_backward(self, g, z, x, y):
        return g * tie_weight(y.data, x.data).astype(g.dtype), g * tie_weight(x.data, y.data).astype(g.dtype)


class Where(Function):
    """z = where(condition, x, y);  dx = g * condition,  dy = g * (1 - condition)."""

    def forward(self, x, y, condition):
        self.condition = np.asarray(condition, dtype=bool)
        return np.where(self.condition, x, y)

    def backward(self, g):
        return g * self.condition, g * ~self.condition

    def tensor_backward(self, g, z, x, y):
        return g * self.condition, g * ~self.condition


class Cast(Function):
    """z = x converted to ``dtype``;  dx = g converted back to x's dtype."""

    def forward(self, x, dtype):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)

    def tensor_backward(self, g, z, x):
        return (g.astype(self.dtype),)


def where(condition, x, y):
    """Differentiable ``np.where(condition, x, y)``; condition is a boolean array (no gradient)."""
    return Where.apply(x, y, condition=np.asarray(condition.data if hasattr(condition, "data") else condition))


def maximum(x, y):
    return Maximum.apply(x, y)


def minimum(x, y):
    return Minimum.apply(x, y)


# Tensor's operators and methods (x + y, x.sum(), x[i], ...) run these Functions: the tape
# (numpy_nn/autograd) imports no op family, so this module registers them by name on import.
OPERATORS.update({cls.__name__: cls for cls in (
    Add, Subtract, Multiply, Divide, Power, Negative, MatMul, Sum, Mean, Max, Reshape, Transpose, GetItem,
    Exp, Log, Sqrt, Abs, Clip, Maximum, Minimum, Cast, BroadcastTo, ScatterAdd)})
