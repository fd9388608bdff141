"""Fast ReLU: the numbers of ``numpy_nn/ops/activations.py``, over both cores and with no mask kept.

``ReLU`` here must equal ``numpy_nn.ops.activations.ReLU`` (the reference tier) bit for bit,
forward and gradient; tests/test_kernels_elementwise.py checks it on arrays that take the
threaded path. Speed tricks:

* the forward pass is one ``maximum`` per chunk of rows, split over ``THREADS`` threads for
  large arrays (``threads.map_row_chunks``; NumPy's ufuncs release the GIL);
* no boolean mask is kept: the gradient's [x > 0] is read back from the output as [y > 0]
  (the same set: y = max(x, 0) is positive exactly where x is; a NaN gives NaN, and NaN > 0 is
  False on both sides). The output is on the tape anyway, as the next op's input, so keeping
  it costs no memory where the mask cost a quarter of an activation;
* the backward pass is ``g * (y > 0)`` per chunk, in the same threads.

Other activations have no fast kernel: their reference runs in both tiers.
"""
import numpy as np

from ...autograd.function import fast_kernel_for
from .. import activations as reference
from .buffers import empty, empty_like
from .threads import map_row_chunks


def _rows(a):
    """``a`` as (rows, last axis) for chunking; a 0-d or 1-d array is one row."""
    return a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(1, -1)


@fast_kernel_for(reference.ReLU)
class ReLU(reference.ReLU):
    """Fast tier of ``numpy_nn.ops.activations.ReLU`` (must equal it bit for bit): one threaded pass
    forward and backward, the gradient's mask read from the output (see the module docstring)."""

    def forward(self, x):
        if not x.flags.c_contiguous or x.size == 0:
            return super().forward(x)
        y = empty_like(x)
        x2, y2 = _rows(x), _rows(y)

        def relu(start, stop):
            np.maximum(x2[start:stop], 0, out=y2[start:stop])

        map_row_chunks(relu, x2.shape[0], x2.shape[1] * x.itemsize)
        self.y = y
        return y

    def backward(self, g):
        if not hasattr(self, "y"):
            return super().backward(g)
        y = self.y
        g = np.ascontiguousarray(np.broadcast_to(g, y.shape))
        dtype = np.result_type(g.dtype, np.bool_)
        dx = empty(y.shape, dtype)
        g2, y2, d2 = _rows(g), _rows(y), _rows(dx)

        def relu_grad(start, stop):
            np.multiply(g2[start:stop], y2[start:stop] > 0, out=d2[start:stop])

        map_row_chunks(relu_grad, y2.shape[0], y2.shape[1] * max(y.itemsize, g.itemsize))
        return (dx,)
