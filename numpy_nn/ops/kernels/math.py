"""Fast ``Add`` (bias adds, residual adds): the numbers of ``numpy_nn/ops/math.py``, over both cores.

``Add`` here must equal ``numpy_nn.ops.math.Add`` bit for bit (one ``np.add`` per element either
way); tests/test_kernels_elementwise.py checks it. For outputs of at least
``threads.PARALLEL_MIN_BYTES`` the sum is written over chunks of the leading axis in ``THREADS``
threads (``threads.map_row_chunks``): a bias (C,) or (1, C) is added to every chunk, an operand
with the full leading axis is sliced with the output. Its gradient (g to both inputs, summed
over broadcast axes by the engine) is the reference's.
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


@fast_kernel_for(reference.Add)
class Add(reference.Add):
    """Fast tier of ``numpy_nn.ops.math.Add`` (must equal it bit for bit): large sums written over
    chunks of the leading axis in threads; everything else is the reference."""

    def forward(self, x, y):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            return super().forward(x, y)
        shape = np.broadcast_shapes(x.shape, y.shape)
        dtype = np.result_type(x, y)
        if len(shape) < 2 or np.prod(shape) * dtype.itemsize < threads.PARALLEL_MIN_BYTES or threads.THREADS < 2:
            return super().forward(x, y)
        out = empty(shape, dtype)
        x_rows, y_rows = _chunkable(x, shape), _chunkable(y, shape)

        def add(start, stop):
            np.add(x_rows(start, stop), y_rows(start, stop), out=out[start:stop])

        threads.map_row_chunks(add, shape[0], int(np.prod(shape[1:])) * dtype.itemsize)
        return out
