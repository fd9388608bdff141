"""Fast batch and layer normalization: the numbers of ``numpy_nn/ops/normalization.py``, faster.

``BatchNormTrain``, ``BatchNormInference`` and ``LayerNorm`` here must equal the classes of the
same names in ``numpy_nn.ops.normalization`` (the reference tier) to float32 rounding (~1e-6
relative in float32, ~1e-12 in float64); tests/test_kernels_norm_pool.py checks every path.
The formulas are in the reference docstrings, which these classes inherit. Speed tricks:

* ``_sum``: sums over leading axes (batch and spatial, for channels_last batch norm) as BLAS
  column sums of blocks of ``SUM_BLOCK`` rows, added in float64 (``_column_sums``): as accurate
  as the reference's float64 accumulation at ~1/12 of its time. Trailing axes (layer norm over
  the last axis) use NumPy's pairwise float32 sum, which is accurate there.
* ``BatchNormTrain.forward`` writes the squares of the centered values into the output's memory
  first (one allocation less); ``backward`` writes dx per channel as ``scale * g + shift +
  coef * (x - mean_B)``, the compact closed form, with one output and one temporary.
* Gradients nobody asked for (``needs_input_grad``) are skipped.
"""
import numpy as np

from ...autograd.function import fast_kernel_for
from .. import normalization as reference
from ..normalization import _broadcast_shape, _rsqrt

SUM_BLOCK = 256  # rows per partial sum in _column_sums


def _sum(a, axes):
    """sum(a) over ``axes`` (keepdims), accurate to about float32 rounding, as XLA's reductions are.

    NumPy sums pairwise (accurately) only along trailing contiguous axes. Over leading axes
    (batch, height, width: batch norm in channels_last) it adds one row after another, which in
    float32 drifts by ~1e-5 relative over 65,536 values, where Keras stays near 1e-7 (measured).
    Such sums go through ``_column_sums``; any other layout accumulates in float64.
    """
    ndim = a.ndim
    if a.dtype == np.float64 or axes == tuple(range(ndim - len(axes), ndim)):
        return np.sum(a, axis=axes, keepdims=True)
    if axes == tuple(range(len(axes))) and a.flags.c_contiguous:  # fast path: a 2-D view (rows, kept)
        kept = a.shape[len(axes):]
        total = _column_sums(a.reshape(-1, int(np.prod(kept))))
        return total.reshape((1,) * len(axes) + kept)
    return np.sum(a, axis=axes, keepdims=True, dtype=np.float64).astype(a.dtype)


def _column_sums(rows):
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


@fast_kernel_for(reference.BatchNormTrain)
class BatchNormTrain(reference.BatchNormTrain):
    """Fast tier of ``numpy_nn.ops.normalization.BatchNormTrain`` (must equal it to rounding):
    blocked BLAS column sums, the squares written into y's memory, the compact closed-form dx."""

    def forward(self, x, gamma, beta, axis=-1, epsilon=1e-3, stats=None):
        axis = axis % x.ndim
        self.axes = tuple(d for d in range(x.ndim) if d != axis)
        self.m = x.size // x.shape[axis]
        shape = _broadcast_shape(x.ndim, (axis,), x.shape)
        self.gamma = gamma.reshape(shape)
        mean = _sum(x, self.axes) / self.m
        self.centered = x - mean
        y = np.square(self.centered)  # y's memory holds the squares first
        variance = _sum(y, self.axes) / self.m
        self.r = _rsqrt(variance + epsilon)
        inv = self.r * self.gamma
        if stats is not None:
            stats["mean"], stats["variance"] = mean.reshape(-1), variance.reshape(-1)
        np.multiply(x, inv, out=y)
        y += beta.reshape(shape) - mean * inv  # y = x * inv + (beta - mean * inv)
        return y

    def backward(self, g):
        """dx written per channel as  scale * g + shift + coef * (x - mean_B)  (one output, one temporary):

        scale = gamma * r,  shift = -scale * sum(g) / m,  coef = -scale * r * sum(g * x_hat) / m,
        with r = 1 / sqrt(var_B + eps) and sum(g * x_hat) = r * sum(g * (x - mean_B)).
        """
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
