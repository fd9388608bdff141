"""Elementwise arithmetic, matrix product, reductions and shape ops — the ops behind Tensor's methods.

Notation: ``x, y`` inputs, ``z`` output, ``g = dL/dz`` the incoming gradient. Gradients are
returned at the broadcast shape; the engine sums them back to each input's shape.
"""
import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import OPERATORS


class Add(Function):
    """z = x + y;  dx = g,  dy = g."""

    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return g, g


class Subtract(Function):
    """z = x - y;  dx = g,  dy = -g."""

    def forward(self, x, y):
        return x - y

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Multiply(Function):
    """z = x * y;  dx = g * y,  dy = g * x."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        dx = g * self.y if self.needs_input_grad[0] else None
        dy = g * self.x if self.needs_input_grad[1] else None
        return dx, dy


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


class Power(Function):
    """z = x ** y;  dx = g * y * x**(y-1),  dy = g * z * log(x)  (x > 0 where dy is needed)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        self.z = np.power(x, y)
        return self.z

    def backward(self, g):
        dx = g * self.y * np.power(self.x, self.y - 1) if self.needs_input_grad[0] else None
        dy = None
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                dy = g * self.z * np.where(self.x > 0, np.log(np.where(self.x > 0, self.x, 1)), 0)
        return dx, dy


class Negative(Function):
    """z = -x;  dx = -g."""

    def forward(self, x):
        return -x

    def backward(self, g):
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


class Sum(Function):
    """z = sum(x, axis);  dx = g broadcast back over the summed axes."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdims))

    def backward(self, g):
        return (np.array(_expand(g, self.shape, self.axis, self.keepdims)),)


class Mean(Function):
    """z = sum(x, axis) / n  (n = number of elements reduced);  dx = g / n broadcast back."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        z = np.asarray(np.mean(x, axis=axis, keepdims=keepdims))
        self.count = x.size // max(z.size, 1) if x.size else 1
        return z.astype(x.dtype, copy=False)

    def backward(self, g):
        return (np.array(_expand(g, self.shape, self.axis, self.keepdims)) / self.count,)


class Max(Function):
    """z = max(x, axis);  dx = g * [x == z] / (number of ties), so tied maxima share the gradient."""

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.z = np.asarray(np.max(x, axis=axis, keepdims=keepdims))
        return self.z

    def backward(self, g):
        z = _expand(self.z, self.x.shape, self.axis, self.keepdims)
        mask = (self.x == z).astype(self.x.dtype)
        ties = _expand(np.sum(mask, axis=self.axis, keepdims=self.keepdims), self.x.shape, self.axis, self.keepdims)
        return (_expand(g, self.x.shape, self.axis, self.keepdims) * mask / ties,)


class Reshape(Function):
    """z = reshape(x, shape) (C order);  dx = reshape(g, x.shape)."""

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    """z = transpose(x, axes);  dx = transpose(g, argsort(axes))."""

    def forward(self, x, axes=None):
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, g):
        return (np.transpose(g, None if self.axes is None else np.argsort(self.axes)),)


class GetItem(Function):
    """z = x[index];  dx = zeros like x with g scattered back at index (summing repeated indices)."""

    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return np.array(x[index])

    def backward(self, g):
        dx = np.zeros(self.shape, dtype=self.dtype)
        np.add.at(dx, self.index, g)
        return (dx,)


class Exp(Function):
    """z = exp(x);  dx = g * z."""

    def forward(self, x):
        self.z = np.exp(x)
        return self.z

    def backward(self, g):
        return (g * self.z,)


class Log(Function):
    """z = log(x);  dx = g / x."""

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return (g / self.x,)


class Sqrt(Function):
    """z = sqrt(x);  dx = g / (2 z)."""

    def forward(self, x):
        self.z = np.sqrt(x)
        return self.z

    def backward(self, g):
        return (g / (2 * self.z),)


class Abs(Function):
    """z = |x|;  dx = g * sign(x)  (0 at x = 0)."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return (g * np.sign(self.x),)


class Clip(Function):
    """z = min(max(x, low), high);  dx = g where low <= x <= high, else 0."""

    def forward(self, x, low, high):
        self.mask = (x >= low) & (x <= high)
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    def backward(self, g):
        return (g * self.mask,)


class Maximum(Function):
    """z = max(x, y) elementwise;  dx = g * [x >= y],  dy = g * [x < y]  (ties go to x)."""

    def forward(self, x, y):
        self.x_wins = x >= y
        return np.maximum(x, y)

    def backward(self, g):
        return g * self.x_wins, g * ~self.x_wins


class Minimum(Function):
    """z = min(x, y) elementwise;  dx = g * [x <= y],  dy = g * [x > y]  (ties go to x)."""

    def forward(self, x, y):
        self.x_wins = x <= y
        return np.minimum(x, y)

    def backward(self, g):
        return g * self.x_wins, g * ~self.x_wins


class Where(Function):
    """z = where(condition, x, y);  dx = g * condition,  dy = g * (1 - condition)."""

    def forward(self, x, y, condition):
        self.condition = np.asarray(condition, dtype=bool)
        return np.where(self.condition, x, y)

    def backward(self, g):
        return g * self.condition, g * ~self.condition


class Cast(Function):
    """z = x converted to ``dtype``;  dx = g converted back to x's dtype."""

    def forward(self, x, dtype):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
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
    Exp, Log, Sqrt, Abs, Clip, Maximum, Minimum, Cast)})
