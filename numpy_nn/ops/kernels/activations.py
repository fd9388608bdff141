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

``Sigmoid`` and ``Silu`` (swish; EfficientNet's activation) here run the reference's operations,
in the same order, on chunks of rows that stay in cache (``sigmoid_into``), over both threads:
e = exp(-|x|), t = 1 + e, s = 1/t where x >= 0 and e/t elsewhere (chosen without a branch), then y = x s. Bit for bit the
reference's numbers (``sigmoid_array``), with no activation-sized temporaries: the reference makes
six fresh arrays and as many passes through main memory. Silu keeps s for its gradient.

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


def sigmoid_into(x, s, work):
    """s = sigmoid(x) with the bits of ``sigmoid_array``, into the preallocated ``s``, with one scratch array
    ``work`` of x's shape (chunks of rows: in cache).

    The reference picks 1/t (x >= 0) or e/t (x < 0), t = 1 + e, e = exp(-|x|), with ``np.where``; a
    masked select costs 4 ns per value here (a branch per value), so the numerator is chosen without
    one: n = max(e, [x >= 0]) is 1 where x >= 0 (e <= 1) and e elsewhere (NaN stays NaN), and s = n / t
    is then exactly the reference's 1/t or e/t."""
    np.abs(x, out=s)
    np.negative(s, out=s)
    np.exp(s, out=s)                    # e = exp(-|x|)
    np.add(s, 1.0, out=work)            # t = 1 + e
    np.maximum(s, x >= 0, out=s)        # n = 1 where x >= 0, else e
    np.divide(s, work, out=s)           # s = n / t
    return s


def _elementwise_forward(x, kernel, n_outputs):
    """Run ``kernel(x_rows, *output_rows, scratch_rows)`` over chunks of rows in threads; the outputs and
    the scratch array are recycled arrays of x's shape (``buffers.empty``). Returns the outputs."""
    arrays = [empty_like(x) for _ in range(n_outputs + 1)]
    x2, rows = _rows(x), [_rows(a) for a in arrays]

    def work(start, stop):
        kernel(x2[start:stop], *[r[start:stop] for r in rows])

    map_row_chunks(work, x2.shape[0], x2.shape[1] * x.itemsize)
    return arrays[:n_outputs]


def _fast_path(x):
    return x.flags.c_contiguous and x.size > 0 and x.dtype.kind == "f"


@fast_kernel_for(reference.Sigmoid)
class Sigmoid(reference.Sigmoid):
    """Fast tier of ``numpy_nn.ops.activations.Sigmoid`` (bit for bit): ``sigmoid_into`` by chunks in threads."""

    def forward(self, x):
        if not _fast_path(x):
            return super().forward(x)
        (self.y,) = _elementwise_forward(x, sigmoid_into, 1)
        return self.y


def silu_into(x, y, s, work):
    """y = x * sigmoid(x) (s receives the sigmoid), with the reference's bits; y may be x itself."""
    sigmoid_into(x, s, work)
    np.multiply(x, s, out=y)


@fast_kernel_for(reference.Silu)
class Silu(reference.Silu):
    """Fast tier of ``numpy_nn.ops.activations.Silu`` (swish; bit for bit): y = x s with s by ``sigmoid_into``,
    chunk by chunk in threads; s is kept for the gradient (the reference's own backward)."""

    def forward(self, x):
        if not _fast_path(x):
            return super().forward(x)
        y, self.s = _elementwise_forward(x, silu_into, 2)
        self.x = x
        return y
