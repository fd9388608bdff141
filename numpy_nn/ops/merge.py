"""Elementwise merges of several tensors: the ops behind Add, Subtract, Multiply, Average,
Maximum and Minimum layers.

Notation: inputs ``x_1, ..., x_k`` (NumPy broadcasting applies), output ``y``, ``g = dL/dy``.
Gradients are returned at the broadcast shape; the engine sums them back to each input's shape.

Ties in Maximum/Minimum follow JAX (so Keras on JAX): ``jnp.maximum(a, b)`` gives each input
half the gradient where ``a == b``. Keras folds the inputs pairwise,
``y = max(max(max(x_1, x_2), x_3), ...)``, so with three equal inputs the gradient splits
1/4, 1/4, 1/2. ``maximum_n``/``minimum_n`` fold the same way to match it exactly.
(``numpy_nn.ops.math.Maximum``, behind ``Tensor.maximum``, gives ties to its first argument.)
"""
import numpy as np

from ..autograd.function import Function
from . import math as M


def _check_inputs(inputs, name):
    inputs = list(inputs)
    if not inputs:
        raise ValueError(f"{name}: expected a non-empty list of tensors, got {inputs!r}")
    return inputs


class AddN(Function):
    """y = x_1 + x_2 + ... + x_k;   dx_i = g."""

    def forward(self, *xs):
        y = xs[0].copy() if len(xs) == 1 else xs[0] + xs[1]
        for x in xs[2:]:
            y = y + x
        return y

    def backward(self, g):
        return tuple(g if needed else None for needed in self.needs_input_grad)


class Average(Function):
    """y = (x_1 + ... + x_k) / k;   dx_i = g / k."""

    def forward(self, *xs):
        self.k = len(xs)
        return AddN().forward(*xs) / self.k

    def backward(self, g):
        share = g / self.k
        return tuple(share if needed else None for needed in self.needs_input_grad)


class MultiplyN(Function):
    """y = x_1 * x_2 * ... * x_k;   dx_i = g * prod_{j != i} x_j.

    The product of the others is prefix_i * suffix_i (products of the inputs before and after
    i), so no division is needed and zeros are handled exactly.
    """

    def forward(self, *xs):
        self.xs = xs
        y = xs[0].copy()
        for x in xs[1:]:
            y = y * x
        return y

    def backward(self, g):
        k = len(self.xs)
        prefix = [None] * k  # prefix[i] = x_1 * ... * x_{i-1}  (None for the empty product)
        for i in range(1, k):
            prefix[i] = self.xs[0] if i == 1 else prefix[i - 1] * self.xs[i - 1]
        grads, suffix = [None] * k, None  # suffix = x_{i+1} * ... * x_k
        for i in reversed(range(k)):
            if self.needs_input_grad[i]:
                grad = g
                for factor in (prefix[i], suffix):
                    if factor is not None:
                        grad = grad * factor
                grads[i] = grad
            suffix = self.xs[i] if suffix is None else suffix * self.xs[i]
        return tuple(grads)


class BalancedMaximum(Function):
    """y = max(x, z) elementwise;   dx = g * w,  dz = g * (1 - w),
    w = 1 where x > z, 1/2 where x == z, 0 where x < z  (JAX's tie rule)."""

    def forward(self, x, z):
        self.w = np.where(x > z, 1.0, np.where(x == z, 0.5, 0.0)).astype(np.result_type(x, z))
        return np.maximum(x, z)

    def backward(self, g):
        dx = g * self.w if self.needs_input_grad[0] else None
        dz = g * (1 - self.w) if self.needs_input_grad[1] else None
        return dx, dz


class BalancedMinimum(Function):
    """y = min(x, z) elementwise;   dx = g * w,  dz = g * (1 - w),
    w = 1 where x < z, 1/2 where x == z, 0 where x > z  (JAX's tie rule)."""

    def forward(self, x, z):
        self.w = np.where(x < z, 1.0, np.where(x == z, 0.5, 0.0)).astype(np.result_type(x, z))
        return np.minimum(x, z)

    def backward(self, g):
        dx = g * self.w if self.needs_input_grad[0] else None
        dz = g * (1 - self.w) if self.needs_input_grad[1] else None
        return dx, dz


def add_n(inputs):
    """Sum of a list of Tensors."""
    return AddN.apply(*_check_inputs(inputs, "add_n"))


def average(inputs):
    """Elementwise mean of a list of Tensors."""
    return Average.apply(*_check_inputs(inputs, "average"))


def multiply_n(inputs):
    """Elementwise product of a list of Tensors."""
    return MultiplyN.apply(*_check_inputs(inputs, "multiply_n"))


def subtract(inputs):
    """inputs[0] - inputs[1] for a list of exactly two Tensors (``numpy_nn.ops.math.Subtract``)."""
    inputs = list(inputs)
    if len(inputs) != 2:
        raise ValueError(f"subtract: expected exactly 2 tensors, got {len(inputs)}")
    return M.Subtract.apply(*inputs)


def maximum_n(inputs):
    """max(max(x_1, x_2), x_3) ... folded left, ties splitting the gradient in halves (see above)."""
    inputs = _check_inputs(inputs, "maximum_n")
    output = inputs[0]
    for x in inputs[1:]:
        output = BalancedMaximum.apply(output, x)
    return output


def minimum_n(inputs):
    """min(min(x_1, x_2), x_3) ... folded left, ties splitting the gradient in halves (see above)."""
    inputs = _check_inputs(inputs, "minimum_n")
    output = inputs[0]
    for x in inputs[1:]:
        output = BalancedMinimum.apply(output, x)
    return output
