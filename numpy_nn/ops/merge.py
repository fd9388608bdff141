"""Elementwise merges of several tensors: the ops behind the Add, Subtract, Multiply, Average,
Maximum and Minimum layers.

Notation: inputs ``x_1, ..., x_k`` (NumPy broadcasting applies), output ``y``, ``g = dL/dy``.
Gradients are returned at the broadcast shape; the engine sums them back to each input's shape.

Keras folds the inputs pairwise, left to right (``y = ((x_1 + x_2) + x_3) + ...``, the same for
the product, max and min); so do we, so float32 sums round as in Keras. Maximum and minimum fold
the two-input ``numpy_nn.ops.math.Maximum``/``Minimum``, whose tie rule is JAX's: a tie splits the
gradient in halves, so with three equal inputs ``max(max(x_1, x_2), x_3)`` passes 1/4, 1/4, 1/2
of it, as Keras on JAX does. A NaN in any input makes that output NaN (as in Keras).
"""
import functools

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
        y = xs[0].copy()
        for x in xs[1:]:
            y = y + x
        return y

    def backward(self, g):
        return tuple(g if needed else None for needed in self.needs_input_grad)

    def tensor_backward(self, g, y, *xs):
        return tuple(g if needed else None for needed in self.needs_input_grad)


class Average(Function):
    """y = (x_1 + ... + x_k) / k;   dx_i = g / k."""

    def forward(self, *xs):
        self.k = len(xs)
        return AddN().forward(*xs) / self.k

    def backward(self, g):
        share = g / self.k
        return tuple(share if needed else None for needed in self.needs_input_grad)

    def tensor_backward(self, g, y, *xs):
        share = g / float(self.k)
        return tuple(share if needed else None for needed in self.needs_input_grad)


class MultiplyN(Function):
    """y = x_1 * x_2 * ... * x_k;   dx_i = g * prod_{j != i} x_j   (no division, so zeros are exact)."""

    def forward(self, *xs):
        self.xs = xs
        y = xs[0].copy()
        for x in xs[1:]:
            y = y * x
        return y

    def backward(self, g):
        grads = []
        for i, needed in enumerate(self.needs_input_grad):
            others = [x for j, x in enumerate(self.xs) if j != i]
            grads.append(functools.reduce(np.multiply, others, g) if needed else None)
        return tuple(grads)

    def tensor_backward(self, g, y, *xs):
        return tuple(functools.reduce(lambda a, b: a * b, [x for j, x in enumerate(xs) if j != i], g)
                     if needed else None for i, needed in enumerate(self.needs_input_grad))


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
    """max(max(x_1, x_2), x_3) ... folded left with ``ops.math.Maximum`` (ties split, see above)."""
    inputs = _check_inputs(inputs, "maximum_n")
    output = inputs[0]
    for x in inputs[1:]:
        output = M.Maximum.apply(output, x)
    return output


def minimum_n(inputs):
    """min(min(x_1, x_2), x_3) ... folded left with ``ops.math.Minimum`` (ties split, see above)."""
    inputs = _check_inputs(inputs, "minimum_n")
    output = inputs[0]
    for x in inputs[1:]:
        output = M.Minimum.apply(output, x)
    return output
