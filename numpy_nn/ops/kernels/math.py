"""Fast ``Add``, ``Multiply`` and ``Sum``: the numbers of ``numpy_nn/ops/math.py``, over both cores.

``Add``, ``Multiply`` and ``Sum`` here must equal ``numpy_nn.ops.math.Add``, ``numpy_nn.ops.math.Multiply``
and ``numpy_nn.ops.math.Sum`` bit for bit (one ``np.add`` / ``np.multiply`` per element either way);
tests/test_kernels_elementwise.py checks them. For outputs of at least
``threads.PARALLEL_MIN_BYTES`` the result is written over chunks of the leading axis in
``THREADS`` threads (``threads.map_row_chunks``) into a recycled array (``buffers.empty``: no
page faults): a bias (C,) or (1, C) is used by every chunk, an operand with the full leading
axis is sliced with the output. Add's gradient (g to both inputs, summed over broadcast axes by
the engine) is the reference's; Multiply's products g * y and g * x are written the same way.
Sum's gradient is a read-only broadcast view of g (nothing of x's size is written), and Multiply
reads a gradient that is one value broadcast as that one value.
"""
import numpy as np

from ...autograd.function import fast_kernel_for
from .. import math as reference
from . import threads
from .buffers import empty


def _chunkable(operand, shape):
    """The operand's part of rows [start:stop) of the output: sliced if it has the leading axis, else whole."""
    if operand.ndim == len(shape) and operand.shape[0] == shape[0] and shape[0] != 1:
        return lambda start, stop: operand[start:stop]
    return lambda start, stop: operand


def _compact(operand):
    """A broadcast of a single value (every stride 0, e.g. Sum's gradient) as a (1, ..., 1) array."""
    if isinstance(operand, np.ndarray) and operand.ndim and operand.size and not any(operand.strides):
        return operand.reshape(-1)[:1].reshape((1,) * operand.ndim)
    return operand


def _threaded(ufunc, x, y):
    """``ufunc(x, y)`` written over chunks of rows in threads into a recycled array, or None when the
    operands are not arrays, the output is small or there is one thread (the caller computes it)."""
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        return None
    x, y = _compact(x), _compact(y)
    shape = np.broadcast_shapes(x.shape, y.shape)
    dtype = np.result_type(x, y)
    if len(shape) < 2 or np.prod(shape) * dtype.itemsize < threads.PARALLEL_MIN_BYTES or threads.THREADS < 2:
        return None
    out = empty(shape, dtype)
    x_rows, y_rows = _chunkable(x, shape), _chunkable(y, shape)

    def apply(start, stop):
        ufunc(x_rows(start, stop), y_rows(start, stop), out=out[start:stop])

    threads.map_row_chunks(apply, shape[0], int(np.prod(shape[1:])) * dtype.itemsize)
    return out


@fast_kernel_for(reference.Add)
class Add(reference.Add):
    """Fast tier of ``numpy_nn.ops.math.Add`` (must equal it bit for bit): large sums written over
    chunks of the leading axis in threads; everything else is the reference."""

    def forward(self, x, y):
        out = _threaded(np.add, x, y)
        return super().forward(x, y) if out is None else out


@fast_kernel_for(reference.Multiply)
class Multiply(reference.Multiply):
    """Fast tier of ``numpy_nn.ops.math.Multiply`` (must equal it bit for bit): large products, forward
    and both gradients, written over chunks of the leading axis in threads into recycled arrays; a
    gradient that is one value broadcast (``Sum``'s) is read as that value."""

    def forward(self, x, y):
        self.x, self.y = x, y
        out = _threaded(np.multiply, x, y)
        return x * y if out is None else out

    def backward(self, g):
        dx = dy = None
        if self.needs_input_grad[0]:
            dx = _threaded(np.multiply, g, self.y)
            dx = g * self.y if dx is None else dx
        if self.needs_input_grad[1]:
            dy = _threaded(np.multiply, g, self.x)
            dy = g * self.x if dy is None else dy
        return dx, dy


@fast_kernel_for(reference.Sum)
class Sum(reference.Sum):
    """Fast tier of ``numpy_nn.ops.math.Sum`` (must equal it bit for bit): the reference forward; the
    gradient is g broadcast back as a read-only view, not copied into an array of x's size
    (``Multiply`` reads such a gradient as one value)."""

    def backward(self, g):
        return (reference._expand(g, self.shape, self.axis, self.keepdims),)
