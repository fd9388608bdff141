"""Batch normalization (training and inference) and layer normalization, in Keras's conventions.

Notation: ``x`` the input, ``g = dL/dy`` the incoming gradient, ``m`` the number of values each
statistic is taken over, sums and means over those same axes (``keepdims``), channels_last.

Batch normalization normalizes each channel (the ``axis``, default -1) over every *other* axis
(batch and spatial axes); layer normalization normalizes each example over the given ``axes``.
Both compute

    mean = mean(x)                 var = mean((x - mean)**2)        (biased: divide by m)
    x_hat = (x - mean) / sqrt(var + eps)
    y = gamma * x_hat + beta

Textbook vs Keras: the variance is the *biased* one (divide by m, ``jnp.var``), both for
normalizing and for the moving variance that BatchNormalization keeps; there is no Bessel
correction m/(m-1) anywhere (Ioffe & Szegedy use the unbiased variance for inference; Keras
does not). Keras also evaluates ``y`` in a fixed float32 order, which we copy so that float32
results agree to rounding:

    inv = rsqrt(var + eps) * gamma        y = x * inv + (beta - mean * inv)

The statistics take two passes over the data (mean, then the mean of squared deviations) rather
than one (E[x^2] - E[x]^2): the centered values are needed for ``x_hat`` anyway, and the one-pass
formula loses every significant digit when |mean| >> std in float32.

A missing ``gamma`` (``scale=False``) is the constant 1 and a missing ``beta`` (``center=False``)
the constant 0: multiplying by 1 and adding 0 are exact in floating point, so this matches Keras
skipping them bit for bit, and ``needs_input_grad`` skips their gradients.
"""
import numpy as np

from ..autograd.function import Function


def _broadcast_shape(ndim, axes, shape):
    """[1, ..., n_a, ..., 1]: the sizes of ``axes`` kept, every other axis 1."""
    return [shape[d] if d in axes else 1 for d in range(ndim)]


def _rsqrt(value):
    return 1.0 / np.sqrt(value)


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


SUM_BLOCK = 256  # rows per partial sum in _column_sums


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


class BatchNormTrain(Function):
    """Batch normalization with the statistics of this batch (Keras ``training=True``).

    Inputs: x (any rank), gamma (C,), beta (C,) with C = x.shape[axis]. Statistics are taken over
    every axis except ``axis``, m = x.size / C values per channel, biased variance:

        mean_B = mean(x)       var_B = mean((x - mean_B)**2)
        inv = rsqrt(var_B + eps) * gamma
        y = x * inv + (beta - mean_B * inv)         ( = gamma * x_hat + beta )

    Gradients (x_hat = (x - mean_B) / sqrt(var_B + eps)), the compact closed form:

        dx     = gamma / sqrt(var_B + eps) / m * (m * g - sum(g) - x_hat * sum(g * x_hat))
        dgamma = sum(g * x_hat)
        dbeta  = sum(g)

    ``stats``: an optional dict that receives the batch ``"mean"`` and ``"variance"`` (shape (C,))
    for the moving-average update; use ``batch_norm_train`` rather than passing it yourself.
    """

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
        self.inv_std = _rsqrt(variance + epsilon)
        inv = self.inv_std * self.gamma
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
        r, m = self.inv_std, self.m
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


class BatchNormInference(Function):
    """Batch normalization with fixed statistics (Keras ``training=False``: the moving averages).

    Inputs: x, gamma (C,), beta (C,); ``mean`` and ``variance`` (C,) are constants here (the
    moving statistics, which no gradient updates). Keras's float32 op order:

        inv = rsqrt(variance + eps) * gamma
        y = x * inv + (beta - mean * inv)

    Gradients (x_hat = (x - mean) / sqrt(variance + eps), an affine map of x now):

        dx = g * inv        dgamma = sum(g * x_hat)        dbeta = sum(g)

    (sums over every axis except ``axis``).
    """

    def forward(self, x, gamma, beta, mean, variance, axis=-1, epsilon=1e-3):
        axis = axis % x.ndim
        self.axes = tuple(d for d in range(x.ndim) if d != axis)
        shape = _broadcast_shape(x.ndim, (axis,), x.shape)
        mean = np.asarray(mean, dtype=x.dtype).reshape(shape)
        self.inv_std = _rsqrt(np.asarray(variance, dtype=x.dtype).reshape(shape) + epsilon)
        self.inv = self.inv_std * gamma.reshape(shape)
        self.x, self.mean = x, mean
        return x * self.inv + (beta.reshape(shape) - mean * self.inv)

    def backward(self, g):
        need_x, need_gamma, need_beta = self.needs_input_grad
        dx = g * self.inv if need_x else None
        dgamma = None
        if need_gamma:
            x_hat = (self.x - self.mean) * self.inv_std
            dgamma = _sum(g * x_hat, self.axes).reshape(-1)
        dbeta = _sum(g, self.axes).reshape(-1) if need_beta else None
        return dx, dgamma, dbeta


class LayerNorm(Function):
    """Layer normalization over ``axes`` (Keras ``ops.layer_normalization``), per example.

    Inputs: x, gamma and beta of shape ``[x.shape[d] for d in sorted(axes)]``; m = the number of
    values in the normalized axes. Biased variance, Keras's op order:

        mean = mean(x)     var = mean((x - mean)**2)         (over ``axes``)
        inv = rsqrt(var + eps) * gamma
        y = x * inv + (beta - mean * inv)

    Gradients (x_hat = (x - mean) * r, r = rsqrt(var + eps); gamma varies inside the normalized
    group, so it cannot be pulled out of the sums as in batch norm):

        d_x_hat = g * gamma
        dx      = r / m * (m * d_x_hat - sum(d_x_hat) - x_hat * sum(d_x_hat * x_hat))
        dgamma  = sum over the *other* axes of g * x_hat
        dbeta   = sum over the other axes of g

    ``rms_scaling=True`` (Keras's deprecated flag, kept for loading old models) skips centering:
    y = (x * r) * gamma with the same (centered) variance, and then

        dx = r * d_x_hat - r**2 * x_hat / m * sum(d_x_hat * x)        dgamma = sum(g * x * r)

    and beta is not used (its gradient is None).
    """

    def forward(self, x, gamma, beta, axes=(-1,), epsilon=1e-3, rms_scaling=False):
        self.axes = tuple(sorted(d % x.ndim for d in axes))
        self.other_axes = tuple(d for d in range(x.ndim) if d not in self.axes)
        self.m = int(np.prod([x.shape[d] for d in self.axes]))
        shape = _broadcast_shape(x.ndim, self.axes, x.shape)
        self.gamma_shape = gamma.shape
        self.gamma = gamma.reshape(shape)
        self.rms_scaling = rms_scaling
        mean = _sum(x, self.axes) / self.m
        self.centered = x - mean
        variance = _sum(np.square(self.centered), self.axes) / self.m
        self.inv_std = _rsqrt(variance + epsilon)
        if rms_scaling:
            self.x = x
            return (x * self.inv_std) * self.gamma
        inv = self.inv_std * self.gamma
        return x * inv + (beta.reshape(shape) - mean * inv)

    def backward(self, g):
        need_x, need_gamma, need_beta = self.needs_input_grad
        r = self.inv_std
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


# -- entry points that fill in a missing gamma / beta -------------------------------------------------

def _affine_or_constant(param, value, shape, dtype):
    """``param`` itself, or the constant ``value`` (1 for gamma, 0 for beta) when it is absent."""
    return param if param is not None else np.full(shape, value, dtype=dtype)


def batch_norm_train(x, gamma=None, beta=None, axis=-1, epsilon=1e-3):
    """Training-mode batch norm. Returns ``(y, batch_mean, batch_variance)``; only y is on the tape.

    The batch statistics (shape (C,), biased variance) feed the moving-average update.
    """
    channels = (x.shape[axis],)
    gamma = _affine_or_constant(gamma, 1, channels, x.dtype)
    beta = _affine_or_constant(beta, 0, channels, x.dtype)
    stats = {}
    y = BatchNormTrain.apply(x, gamma, beta, axis=axis, epsilon=epsilon, stats=stats)
    return y, stats["mean"], stats["variance"]


def batch_norm_inference(x, gamma, beta, mean, variance, axis=-1, epsilon=1e-3):
    """Inference-mode batch norm with the given (moving) ``mean`` and ``variance``, shape (C,)."""
    channels = (x.shape[axis],)
    gamma = _affine_or_constant(gamma, 1, channels, x.dtype)
    beta = _affine_or_constant(beta, 0, channels, x.dtype)
    return BatchNormInference.apply(x, gamma, beta, mean=np.asarray(mean), variance=np.asarray(variance),
                                    axis=axis, epsilon=epsilon)


def layer_norm(x, gamma=None, beta=None, axes=(-1,), epsilon=1e-3, rms_scaling=False):
    """Layer normalization over ``axes``; gamma/beta have the normalized axes' sizes."""
    ndim = len(x.shape)
    shape = tuple(x.shape[d % ndim] for d in sorted(d % ndim for d in axes))
    gamma = _affine_or_constant(gamma, 1, shape, x.dtype)
    beta = _affine_or_constant(beta, 0, shape, x.dtype)
    return LayerNorm.apply(x, gamma, beta, axes=tuple(axes), epsilon=epsilon, rms_scaling=rms_scaling)
