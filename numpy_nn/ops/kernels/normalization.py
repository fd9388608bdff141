"""Fast batch and layer normalization: the numbers of ``numpy_nn/ops/normalization.py``, faster.

``BatchNormTrain``, ``BatchNormInference`` and ``LayerNorm`` here must equal the classes of the
same names in ``numpy_nn.ops.normalization`` (the reference tier) to float32 rounding (~1e-6
relative in float32, ~1e-12 in float64); tests/test_kernels_norm_pool.py checks every path.
The formulas are in the reference docstrings, which these classes inherit. Speed tricks:

* ``_sum``: sums over leading axes (batch and spatial, for channels_last batch norm) as BLAS
  column sums of blocks of ``SUM_BLOCK`` rows, added in float64 (``column_sums``): as accurate
  as the reference's float64 accumulation at ~1/12 of its time. Trailing axes (layer norm over
  the last axis) use NumPy's pairwise float32 sum, which is accurate there.
* ``BatchNormTrain.forward`` (channels last) writes the squares of the centered values into the
  output's memory first and keeps x and mean_B, not x - mean_B: one activation-sized array
  written and kept less (forward of 32x32x64, N=32: 1.43 -> 1.14 ms, peak 16.9 -> 8.5 MB;
  docs/performance.md). ``backward`` recomputes x - mean_B chunk by chunk (one cheap in-cache
  pass), sums g * (x - mean_B) chunk by chunk in cache, in the threads (``_chunk_column_sums``:
  no activation-sized temporary), and writes dx per channel as
  ``scale * g + shift + coef * (x - mean_B)``, the compact closed form.
* Per-channel vectors (mean_B, inv, shift, scale, coef) are tiled once per pass (``_Tiled``) to
  about ``TILE_VALUES`` = 8192 values and each chunk of rows is viewed as (rows / k, k * C):
  long inner loops (8192 values measured faster than 2048; docs/performance.md, issue 16).
* Gradients nobody asked for (``needs_input_grad``) are skipped.

Measured and not kept (docs/performance.md): the forward statistics in one sweep over chunks of
rows (each chunk's mean and sum of squared deviations in cache, combined with Chan's parallel
formula), or only the variance's sums taken in the threads, cost more CPU than the BLAS column
sums of whole arrays they replace.
"""
import threading

import numpy as np

from ...autograd.function import fast_kernel_for
from .. import normalization as reference
from ..normalization import _broadcast_shape, _rsqrt
from .buffers import empty_like
from .threads import map_row_chunks

SUM_BLOCK = 256  # rows per partial sum in column_sums
TILE_VALUES = 8192  # a (C,) vector is tiled to about this many values for long inner loops (_Tiled)
REDUCE_VALUES = 8192  # _chunk_column_sums views a chunk as (rows / k, k * C) with k * C about this


def _sum(a, axes):
    """sum(a) over ``axes`` (keepdims), accurate to about float32 rounding, as XLA's reductions are.

    NumPy sums pairwise (accurately) only along trailing contiguous axes. Over leading axes
    (batch, height, width: batch norm in channels_last) it adds one row after another, which in
    float32 drifts by ~1e-5 relative over 65,536 values, where Keras stays near 1e-7 (measured).
    Such sums go through ``column_sums``; any other layout accumulates in float64.
    """
    ndim = a.ndim
    if a.dtype == np.float64 or axes == tuple(range(ndim - len(axes), ndim)):
        return np.sum(a, axis=axes, keepdims=True)
    if axes == tuple(range(len(axes))) and a.flags.c_contiguous:  # fast path: a 2-D view (rows, kept)
        kept = a.shape[len(axes):]
        total = column_sums(a.reshape(-1, int(np.prod(kept))))
        return total.reshape((1,) * len(axes) + kept)
    return np.sum(a, axis=axes, keepdims=True, dtype=np.float64).astype(a.dtype)


def column_sums(rows):
    """Column sums of a C-contiguous (R, K) array, in its dtype, as accurate as a float64 sum.

    Blocks of ``SUM_BLOCK`` rows are summed by BLAS, ``ones(1, SUM_BLOCK) @ block`` for all
    blocks in one batched matmul (fast, and exact up to ~SUM_BLOCK roundings), and the R/SUM_BLOCK
    partial sums are added in float64. Measured on 32768 x 64 float32 values: 4e-8 relative
    error (float64 accumulation: 4e-8, NumPy's float32 sum: 9e-6) at 1/12 of the float64 time.
    """
    n_rows, width = rows.shape
    blocks = n_rows // SUM_BLOCK
    total = np.zeros(width, dtype=np.float64)
    if blocks:
        ones = np.ones((1, SUM_BLOCK), dtype=rows.dtype)
        partial = np.matmul(ones, rows[:blocks * SUM_BLOCK].reshape(blocks, SUM_BLOCK, width))
        total += partial.reshape(blocks, width).sum(axis=0, dtype=np.float64)
    if n_rows > blocks * SUM_BLOCK:
        total += np.ones(n_rows - blocks * SUM_BLOCK, dtype=rows.dtype) @ rows[blocks * SUM_BLOCK:]
    return total.astype(rows.dtype)


def _normalize_backward(d_x_hat, x_hat, inv_std, axes, m):
    """dL/dx of x_hat = (x - mean(x)) * rsqrt(var(x) + eps), statistics over ``axes`` (m values each).

    dx = inv_std / m * (m * d_x_hat - sum(d_x_hat) - x_hat * sum(d_x_hat * x_hat))

    (the mean and variance depend on every x in their group; these two sums are their share).
    """
    sum_d = _sum(d_x_hat, axes)
    sum_d_x_hat = _sum(d_x_hat * x_hat, axes)
    return (inv_std / m) * (m * d_x_hat - sum_d - x_hat * sum_d_x_hat)


def _rows_layout(x, axis):
    """True when x is C-contiguous with the channels last: then it is a 2-D (rows, C) array and the
    elementwise passes run over chunks of rows, in threads (``map_row_chunks``)."""
    return axis == x.ndim - 1 and x.flags.c_contiguous and x.ndim >= 2 and x.size > 0


class _Tiled:
    """A (C,) vector for long inner loops over a (rows, C) chunk: broadcast as it is, NumPy loops C
    values at a time; ``split`` views the chunk as (rows / k, k * C) and pairs it with the vector
    tiled k times (about ``TILE_VALUES`` values, tiled once per pass, not per chunk). A chunk whose
    row count k does not divide stays (rows, C) with the plain vector."""

    def __init__(self, vector):
        self.k = max(1, TILE_VALUES // max(vector.size, 1))
        self.vector, self.tiled = vector, np.tile(vector, self.k)

    def wide(self, rows):
        """The (rows, C) chunk viewed as (rows / k, k * C), or as it is."""
        return rows if len(rows) % self.k else rows.reshape(-1, self.tiled.size)

    def split(self, rows):
        """(the chunk's wide view, the vector that broadcasts over it)."""
        return self.wide(rows), (self.vector if len(rows) % self.k else self.tiled)


def _chunk_column_sums(rows):
    """float64 column sums of a (rows, C) chunk in cache, without BLAS (it runs in the pool threads).

    NumPy adds rows one after another along a leading axis (see ``_sum``), C values at a time: the
    chunk is viewed as (rows / k, k * C) with k * C about ``REDUCE_VALUES``, summed over its (about
    16) rows in the chunk's dtype, and the k partial rows are added in float64.
    """
    n_rows, width = rows.shape
    k = max(1, REDUCE_VALUES // max(width, 1))
    head = n_rows - n_rows % k
    total = np.zeros(width, dtype=np.float64)
    if head:
        partial = np.add.reduce(rows[:head].reshape(-1, k * width), axis=0)
        total += partial.reshape(k, width).sum(axis=0, dtype=np.float64)
    if head < n_rows:
        total += rows[head:].sum(axis=0, dtype=np.float64)
    return total


_local = threading.local()


def _scratch(shape, dtype):
    """A scratch array of one chunk for the calling thread: one buffer per thread, reused (no malloc,
    no page faults); its contents are arbitrary and valid until the thread's next call."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = _local.buffer = np.empty(nbytes, dtype=np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


@fast_kernel_for(reference.BatchNormTrain)
class BatchNormTrain(reference.BatchNormTrain):
    """Fast tier of ``numpy_nn.ops.normalization.BatchNormTrain`` (must equal it to rounding):
    blocked BLAS column sums (in the calling thread: BLAS has its own threads), the elementwise
    passes over chunks of rows split over ``THREADS`` threads (channels-last input), the squares
    written into y's memory, x and mean_B kept instead of x - mean_B (channels last; recomputed
    in cache by backward), sum(g * (x - mean_B)) summed chunk by chunk in the threads, the
    compact closed-form dx with one output and per-thread scratch arrays.
    Variance: two passes (mean first, then the mean of the centered squares), never
    E[x^2] - E[x]^2, so a large mean (x = 1000 + noise) costs no digits (tested).

    ``relu=True`` is the fused ``BatchNormReLUTrain`` below (never passed to this class by the tape)."""

    relu = False

    def forward(self, x, gamma, beta, axis=-1, epsilon=1e-3, stats=None):
        axis = axis % x.ndim
        self.axes = tuple(d for d in range(x.ndim) if d != axis)
        self.m = x.size // x.shape[axis]
        shape = _broadcast_shape(x.ndim, (axis,), x.shape)
        self.gamma = gamma.reshape(shape)
        self.rows = _rows_layout(x, axis)
        if self.rows:
            y, mean, variance = self._forward_rows(x, gamma, beta, epsilon)
        else:
            y, mean, variance = self._forward_any(x, beta.reshape(shape), epsilon)
        if stats is not None:
            stats["mean"], stats["variance"] = mean.reshape(-1), variance.reshape(-1)
        if self.relu:
            self.y = y
        return y

    def _forward_any(self, x, beta, epsilon):
        mean = _sum(x, self.axes) / self.m
        self.centered = x - mean
        y = np.square(self.centered)  # y's memory holds the squares first
        variance = _sum(y, self.axes) / self.m
        self.r = _rsqrt(variance + epsilon)
        inv = self.r * self.gamma
        np.multiply(x, inv, out=y)
        y += beta - mean * inv  # y = x * inv + (beta - mean * inv)
        if self.relu:
            np.maximum(y, 0, out=y)
        return y, mean, variance

    def _forward_rows(self, x, gamma, beta, epsilon):
        c = x.shape[-1]
        x2 = x.reshape(-1, c)
        n_rows, row_bytes = x2.shape[0], c * x.itemsize
        mean = column_sums(x2) / self.m
        y = empty_like(x)  # a recycled array (buffers.py): no page faults
        y2 = y.reshape(-1, c)

        mean_t = _Tiled(mean)

        def center_and_square(start, stop):  # y's memory holds the squares first; x - mean_B is not kept
            x_view, mean_v = mean_t.split(x2[start:stop])
            y_view = mean_t.wide(y2[start:stop])
            np.subtract(x_view, mean_v, out=y_view)
            np.square(y_view, out=y_view)

        map_row_chunks(center_and_square, n_rows, row_bytes)
        variance = column_sums(y2) / self.m
        self.x, self.mean = x, mean  # backward recomputes x - mean_B chunk by chunk, in cache
        self.r = _rsqrt(variance + epsilon).reshape(self.gamma.shape)
        inv = (self.r * self.gamma).reshape(-1)
        inv_t, shift_t = _Tiled(inv), _Tiled(beta - mean * inv)
        relu = self.relu

        def affine(start, stop):  # y = x * inv + (beta - mean * inv), then max(y, 0) when fused
            (x_view, inv_v), (y_view, shift_v) = inv_t.split(x2[start:stop]), shift_t.split(y2[start:stop])
            np.multiply(x_view, inv_v, out=y_view)
            y_view += shift_v
            if relu:
                np.maximum(y_view, 0, out=y_view)

        map_row_chunks(affine, n_rows, row_bytes)
        return y, mean, variance

    def backward(self, g):
        """dx written per channel as  scale * g + shift + coef * (x - mean_B)  (one output, one temporary):

        scale = gamma * r,  shift = -scale * sum(g) / m,  coef = -scale * r * sum(g * x_hat) / m,
        with r = 1 / sqrt(var_B + eps) and sum(g * x_hat) = r * sum(g * (x - mean_B)).
        Fused with ReLU, g is first replaced by g * [y > 0] (ReLU's gradient, y its output).
        """
        if self.rows and g.flags.c_contiguous and g.shape == self.x.shape:
            return self._backward_rows(g)
        if self.rows:  # the rows forward keeps x and mean_B, not x - mean_B
            self.centered = self.x - self.mean.reshape(self.gamma.shape)
        if self.relu:
            g = g * (self.y > 0)
        need_x, need_gamma, need_beta = self.needs_input_grad
        r, m = self.r, self.m
        sum_g = _sum(g, self.axes)
        work = g * self.centered
        sum_g_x_hat = _sum(work, self.axes) * r
        dx = None
        if need_x:
            scale = self.gamma * r
            dx = np.multiply(self.centered, -scale * r * sum_g_x_hat / m)
            dx += np.multiply(g, scale, out=work)
            dx += -scale * sum_g / m
        dgamma = sum_g_x_hat.reshape(-1) if need_gamma else None
        dbeta = sum_g.reshape(-1) if need_beta else None
        return dx, dgamma, dbeta

    def _backward_rows(self, g):
        """Two threaded passes over chunks of rows, x - mean_B recomputed in cache (not kept by forward).

        Pass 1: g * (x - mean_B) in a scratch array of the chunk (in cache), its column sums taken
        there (``_chunk_column_sums``, added in float64 in chunk order): no activation-sized
        temporary. Plain, x - mean_B goes into dx's memory for pass 2 and sum(g) is a BLAS column
        sum before the pass (the g just written by the op above is still in cache); fused with ReLU,
        dx's memory receives g * [y > 0] (g from then on), summed by BLAS after the pass.
        Pass 2: dx = (x - mean_B) * coef + g * scale + shift, g * scale in the scratch array.
        """
        need_x, need_gamma, need_beta = self.needs_input_grad
        r, m, c = self.r.reshape(-1), self.m, g.shape[-1]
        n_rows, row_bytes = g.size // c, c * g.itemsize
        x2, relu, dtype = self.x.reshape(-1, c), self.relu, g.dtype
        dx = empty_like(g)  # a recycled array (buffers.py)
        d2, g_in = dx.reshape(-1, c), g.reshape(-1, c)
        g2 = d2 if relu else g_in  # fused: dx's memory holds g * [y > 0] until pass 2 reads it
        y2 = self.y.reshape(-1, c) if relu else None
        mean_t = _Tiled(self.mean)
        sum_g = None if relu else column_sums(g2)

        def center_and_product(start, stop):  # the column sums of g * (x - mean_B) over the chunk
            product = _scratch((stop - start, c), dtype)
            centered = product if relu else d2[start:stop]  # plain: x - mean_B kept for pass 2
            if relu:
                np.multiply(g_in[start:stop], y2[start:stop] > 0, out=g2[start:stop])
            x_view, mean_v = mean_t.split(x2[start:stop])
            np.subtract(x_view, mean_v, out=mean_t.wide(centered))
            np.multiply(centered, g2[start:stop], out=product)
            return _chunk_column_sums(product)

        parts = map_row_chunks(center_and_product, n_rows, row_bytes)
        sum_g = column_sums(g2) if relu else sum_g
        sum_g_x_hat = np.sum(parts, axis=0).astype(dtype) * r
        if need_x:
            scale = self.gamma.reshape(-1) * r
            coef, shift = -scale * r * sum_g_x_hat / m, -scale * sum_g / m
            coef_t, scale_t, shift_t = _Tiled(coef), _Tiled(scale), _Tiled(shift)

            def closed_form(start, stop):  # dx = (x - mean_B) * coef + g * scale + shift
                (g_view, scale_v), (d_view, coef_v) = scale_t.split(g2[start:stop]), coef_t.split(d2[start:stop])
                w_view, shift_v = shift_t.split(_scratch((stop - start, c), dtype))
                np.multiply(g_view, scale_v, out=w_view)
                if relu:  # x - mean_B again, into dx's memory once the masked g is read
                    x_view, mean_v = mean_t.split(x2[start:stop])
                    np.subtract(x_view, mean_v, out=d_view)
                d_view *= coef_v
                d_view += w_view
                d_view += shift_v

            map_row_chunks(closed_form, n_rows, row_bytes)
        else:
            dx = None
        dgamma = sum_g_x_hat if need_gamma else None
        dbeta = sum_g if need_beta else None
        return dx, dgamma, dbeta


class BatchNormReLUTrain(BatchNormTrain):
    """Fused fast path: relu(BatchNormTrain(x, gamma, beta)) in one op (fast tier only).

    Must equal ``numpy_nn.ops.activations.ReLU`` applied to ``numpy_nn.ops.normalization.
    BatchNormTrain`` (the reference composition) to float32 rounding, forward and gradients;
    tests/test_kernels_elementwise.py checks it. The maximum is taken in y's memory while the
    chunk is in cache, ReLU's gradient [y > 0] is read from the output (no mask kept, no second
    activation-sized output), and the masked g goes straight into dx's memory. Used by
    ``batch_norm_relu_train`` when a model knows that a BatchNormalization's output feeds only a
    ReLU (``numpy_nn.layers.normalization.fuse_batch_norm_relu``).
    """

    relu = True


def batch_norm_relu_train(x, gamma, beta, axis=-1, epsilon=1e-3):
    """relu(batch norm with batch statistics), fused. Returns ``(y, batch_mean, batch_variance)``."""
    channels = (x.shape[axis],)
    gamma = reference._affine_or_constant(gamma, 1, channels, x.dtype)
    beta = reference._affine_or_constant(beta, 0, channels, x.dtype)
    stats = {}
    y = BatchNormReLUTrain.apply(x, gamma, beta, axis=axis, epsilon=epsilon, stats=stats)
    return y, stats["mean"], stats["variance"]


@fast_kernel_for(reference.BatchNormInference)
class BatchNormInference(reference.BatchNormInference):
    """Fast tier of ``numpy_nn.ops.normalization.BatchNormInference`` (must equal it to rounding):
    the reference forward; blocked column sums for dgamma and dbeta, skipped when not needed."""

    def backward(self, g):
        need_x, need_gamma, need_beta = self.needs_input_grad
        dx = g * self.inv if need_x else None
        dgamma = None
        if need_gamma:
            x_hat = (self.x - self.mean) * self.r
            dgamma = _sum(g * x_hat, self.axes).reshape(-1)
        dbeta = _sum(g, self.axes).reshape(-1) if need_beta else None
        return dx, dgamma, dbeta


@fast_kernel_for(reference.LayerNorm)
class LayerNorm(reference.LayerNorm):
    """Fast tier of ``numpy_nn.ops.normalization.LayerNorm`` (must equal it to rounding): float32
    pairwise sums over trailing axes (column sums otherwise), the compact closed-form dx."""

    def forward(self, x, gamma, beta, axes=(-1,), epsilon=1e-3, rms_scaling=False):
        self.axes = tuple(sorted(d % x.ndim for d in axes))
        self.other_axes = tuple(d for d in range(x.ndim) if d not in self.axes)
        self.m = int(np.prod([x.shape[d] for d in self.axes]))
        shape = _broadcast_shape(x.ndim, self.axes, x.shape)
        self.gamma_shape, self.gamma, self.rms_scaling = gamma.shape, gamma.reshape(shape), rms_scaling
        mean = _sum(x, self.axes) / self.m
        self.x, self.centered = x, x - mean
        variance = _sum(np.square(self.centered), self.axes) / self.m
        self.r = _rsqrt(variance + epsilon)
        if rms_scaling:
            return (x * self.r) * self.gamma
        inv = self.r * self.gamma
        return x * inv + (beta.reshape(shape) - mean * inv)

    def backward(self, g):
        need_x, need_gamma, need_beta = self.needs_input_grad
        r = self.r
        x_hat = self.centered * r
        dx = dgamma = dbeta = None
        if need_x:
            d_x_hat = g * self.gamma
            if self.rms_scaling:
                sum_d_x = _sum(d_x_hat * self.x, self.axes)
                dx = r * d_x_hat - np.square(r) * x_hat / self.m * sum_d_x
            else:
                dx = _normalize_backward(d_x_hat, x_hat, r, self.axes, self.m)
        if need_gamma:
            scaled = self.x * r if self.rms_scaling else x_hat
            dgamma = _sum(g * scaled, self.other_axes).reshape(self.gamma_shape)
        if need_beta and not self.rms_scaling:
            dbeta = _sum(g, self.other_axes).reshape(self.gamma_shape)
        return dx, dgamma, dbeta
