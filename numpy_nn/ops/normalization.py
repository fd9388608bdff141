"""Batch normalization (training and inference) and layer normalization, in Keras's conventions.

Notation: ``x`` the input, ``g = dL/dy`` the incoming gradient, ``m`` the number of values each
statistic is taken over, sums and means over those same axes (``keepdims``), channels_last.

Batch normalization normalizes each channel (the ``axis``, default -1) over every *other* axis
(batch and spatial axes); layer normalization normalizes each example over the given ``axes``.
Both compute

    mean = mean(x)                 var = mean((x - mean)**2)        (biased: divide by m)
    x_hat = (x - mean) / sqrt(var + eps)
    y = gamma * x_hat + beta

Textbook vs Keras vs PyTorch: the variance is the *biased* one (divide by m, ``jnp.var``), both
for normalizing and for the moving variance that BatchNormalization keeps; there is no Bessel
correction m/(m-1) anywhere (Ioffe & Szegedy use the unbiased variance for inference; PyTorch
normalizes with the biased one but keeps an unbiased ``running_var``). Keras also evaluates
``y`` in a fixed float32 order, which we copy so that float32 results agree to rounding:

    inv = rsqrt(var + eps) * gamma        y = x * inv + (beta - mean * inv)

The statistics take two passes over the data (mean, then the mean of squared deviations) rather
than one (E[x^2] - E[x]^2): the one-pass formula loses every significant digit when
|mean| >> std in float32. Sums accumulate in float64 (``_sum``): NumPy adds float32 values
along a leading axis (the batch, in channels_last) one row after another, which drifts by
~1e-5 relative over 65,536 values where XLA's reductions stay near 1e-7.

A missing ``gamma`` (``scale=False``) is the constant 1 and a missing ``beta`` (``center=False``)
the constant 0: multiplying by 1 and adding 0 are exact in floating point, so this matches Keras
skipping them bit for bit, and ``needs_input_grad`` skips their gradients.

This is the reference tier (see ``numpy_nn/config.py``); the fast kernels (blocked BLAS column
sums, a backward pass with one temporary) are in ``numpy_nn/ops/kernels/normalization.py``.
"""
import numpy as np

from ..autograd.function import Function


def _broadcast_shape(ndim, axes, shape):
    """[1, ..., n_a, ..., 1]: the sizes of ``axes`` kept, every other axis 1."""
    return [shape[d] if d in axes else 1 for d in range(ndim)]


def _rsqrt(value):
    return 1.0 / np.sqrt(value)


def _sum(a, axes):
    """sum(a) over ``axes`` (keepdims), accumulated in float64, returned in a's dtype."""
    return np.sum(a, axis=axes, keepdims=True, dtype=np.float64).astype(a.dtype)


class BatchNormTrain(Function):
    """Batch normalization with the statistics of this batch (Keras ``training=True``).

    Inputs: x (any rank), gamma (C,), beta (C,) with C = x.shape[axis]. Statistics are taken over
    every axis except ``axis``, m = x.size / C values per channel, biased variance:

        mean_B = mean(x)       var_B = mean((x - mean_B)**2)
        inv = rsqrt(var_B + eps) * gamma
        y = x * inv + (beta - mean_B * inv)         ( = gamma * x_hat + beta )

    Gradients, the textbook chain through x_hat = (x - mean_B) * r, r = 1 / sqrt(var_B + eps)
    (Ioffe & Szegedy 2015, section 3):

        dgamma = sum(g * x_hat)            dbeta = sum(g)
        d_x_hat = g * gamma
        d_var   = sum(d_x_hat * (x - mean_B)) * (-1/2) * r**3
        d_mean  = -sum(d_x_hat) * r + d_var * mean(-2 * (x - mean_B))      (the last term is 0)
        dx      = d_x_hat * r + d_var * 2 * (x - mean_B) / m + d_mean / m

    which is the compact closed form dx = gamma * r / m * (m*g - sum(g) - x_hat * sum(g * x_hat)).

    The moving averages (BatchNormalization, numpy_nn/layers/normalization.py), updated after
    every call that used batch statistics, in place and not on the tape:

        moving_mean     = moving_mean * momentum + mean_B * (1 - momentum)
        moving_variance = moving_variance * momentum + var_B * (1 - momentum)

    with the *biased* var_B, the one the batch was normalized with. Keras: momentum = 0.99 is the
    weight of the *old* value, eps = 1e-3, and batch statistics only when ``training`` is true
    *and* the layer is trainable (a frozen layer uses its moving averages even inside ``fit``).
    PyTorch: ``momentum=0.1`` is the weight of the *new* batch (its 0.1 is Keras's 0.9),
    eps = 1e-5, ``running_var`` takes the unbiased variance (times m / (m - 1)), and only
    ``module.training`` decides. ``stats``: an optional dict that receives the batch ``"mean"``
    and ``"variance"`` (shape (C,)) for the update; use ``batch_norm_train`` rather than passing it.
    """

    def forward(self, x, gamma, beta, axis=-1, epsilon=1e-3, stats=None):
        axis = axis % x.ndim
        self.axes = tuple(d for d in range(x.ndim) if d != axis)
        self.m = x.size // x.shape[axis]
        shape = _broadcast_shape(x.ndim, (axis,), x.shape)
        self.gamma = gamma.reshape(shape)
        mean = self.mean = _sum(x, self.axes) / self.m
        self.centered = x - mean
        variance = self.variance = _sum(np.square(self.centered), self.axes) / self.m
        self.r = _rsqrt(variance + epsilon)
        self.x_hat = self.centered * self.r  # kept for backward (and shown by ``numpy-nn explain``)
        if stats is not None:
            stats["mean"], stats["variance"] = mean.reshape(-1), variance.reshape(-1)
        inv = self.r * self.gamma
        return x * inv + (beta.reshape(shape) - mean * inv)

    def backward(self, g):
        r, m, centered, x_hat = self.r, self.m, self.centered, self.x_hat
        d_x_hat = g * self.gamma
        d_var = _sum(d_x_hat * centered, self.axes) * -0.5 * r**3
        d_mean = -_sum(d_x_hat, self.axes) * r + d_var * _sum(-2.0 * centered, self.axes) / m
        dx = d_x_hat * r + d_var * 2.0 * centered / m + d_mean / m
        dgamma = _sum(g * x_hat, self.axes).reshape(-1)
        dbeta = _sum(g, self.axes).reshape(-1)
        return dx, dgamma, dbeta


def inference_scale_shift(gamma, beta, mean, variance, epsilon, dtype, shape):
    """Inference batch norm as y = x * inv + shift: returns ``(r, inv, shift)`` in ``dtype``, reshaped to
    ``shape``, with r = rsqrt(variance + eps), inv = r * gamma, shift = beta - mean * inv (Keras's order).

    Shared by ``BatchNormInference`` and the fused inference epilogue (``numpy_nn/layers/fusion.py``),
    so that both compute the same float32 numbers."""
    r = _rsqrt(np.asarray(variance, dtype=dtype).reshape(shape) + epsilon)
    inv = r * np.asarray(gamma).reshape(shape)
    return r, inv, np.asarray(beta).reshape(shape) - np.asarray(mean, dtype=dtype).reshape(shape) * inv


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
        self.x, self.mean = x, np.asarray(mean, dtype=x.dtype).reshape(shape)
        self.r, self.inv, shift = inference_scale_shift(gamma, beta, mean, variance, epsilon, x.dtype, shape)
        return x * self.inv + shift

    def backward(self, g):
        x_hat = (self.x - self.mean) * self.r
        dx = g * self.inv
        dgamma = _sum(g * x_hat, self.axes).reshape(-1)
        dbeta = _sum(g, self.axes).reshape(-1)
        return dx, dgamma, dbeta

    def tensor_backward(self, g, y, x, gamma, beta):  # the same, on the tape (an affine map of x)
        x_hat = (x - self.mean) * self.r
        dx = g * (gamma.reshape(self.r.shape) * self.r)
        return dx, (g * x_hat).sum(axis=self.axes).reshape(-1), g.sum(axis=self.axes).reshape(-1)


class LayerNorm(Function):
    """Layer normalization over ``axes`` (Keras ``ops.layer_normalization``), per example.

    Inputs: x, gamma and beta of shape ``[x.shape[d] for d in sorted(axes)]``; m = the number of
    values in the normalized axes. Biased variance, Keras's op order:

        mean = mean(x)     var = mean((x - mean)**2)         (over ``axes``)
        inv = rsqrt(var + eps) * gamma
        y = x * inv + (beta - mean * inv)

    Gradients, through x_hat = (x - mean) * r, r = rsqrt(var + eps), as for batch norm but with
    the sums over ``axes``; gamma varies inside the normalized group, so d_x_hat carries it:

        d_x_hat = g * gamma
        d_var   = sum(d_x_hat * (x - mean)) * (-1/2) * r**3
        d_mean  = -sum(d_x_hat) * r                      (+ d_var * mean(-2 (x - mean)) = 0)
        dx      = d_x_hat * r + d_var * 2 * (x - mean) / m + d_mean / m
        dgamma  = sum over the *other* axes of g * x_hat
        dbeta   = sum over the other axes of g

    ``rms_scaling=True`` (Keras's deprecated flag, kept for loading old models) skips centering
    the output but not the variance: y = (x * r) * gamma, var the same centered variance, and

        dx = r * d_x_hat + d_var * 2 * (x - mean) / m     with d_var = sum(d_x_hat * x) * (-1/2) * r**3
        dgamma = sum over the other axes of g * x * r;     beta is not used (its gradient is None).
    """

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
        r, m, centered, axes = self.r, self.m, self.centered, self.axes
        x_hat = centered * r
        d_x_hat = g * self.gamma
        if self.rms_scaling:  # y = gamma * x * r: x appears where x_hat was, the mean only through var
            d_var = _sum(d_x_hat * self.x, axes) * -0.5 * r**3
            dx = d_x_hat * r + d_var * 2.0 * centered / m
            dgamma = _sum(g * self.x * r, self.other_axes).reshape(self.gamma_shape)
            return dx, dgamma, None
        d_var = _sum(d_x_hat * centered, axes) * -0.5 * r**3
        d_mean = -_sum(d_x_hat, axes) * r
        dx = d_x_hat * r + d_var * 2.0 * centered / m + d_mean / m
        dgamma = _sum(g * x_hat, self.other_axes).reshape(self.gamma_shape)
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
