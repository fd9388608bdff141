"""Transposed convolutions, the reference tier: Conv1DTranspose and Conv2DTranspose as one N-D op.

Conventions (Keras, channels_last): x has shape (N, *spatial, C); the kernel has Keras's
transposed layout (*kernel_size, F, C): **filters before input channels**, the layout of the
forward convolution whose input gradient this op is. A transposed convolution scatters every
input position into the output: input position i, kernel tap a lands on output position
i*s + a*d - P (stride s, dilation d, P positions cut at the start), so the output is about
s times longer than the input ("upsampling by a learned kernel").

Output sizes and the cut P follow Keras on JAX exactly (``numpy_nn/ops/geometry.py``,
``transpose_output_length`` / ``transpose_crop_before``, facts in docs/keras-conventions.md):

    valid: out = (n - 1)*s + ke + op   (op defaults to max(ke, s) - ke),   P = 0
    same:  out = n*s (op None) or (n - 1)*s + ke % 2 + op,                 P = ke - 1 - left

with ke = d*(k - 1) + 1. PyTorch's ``ConvTranspose2d`` computes the same sums with its kernel
as (C, F, kh, kw) and the cut given as ``padding``; Keras's "same" is not always expressible there.
"""
import numpy as np

from ..autograd.function import Function
from .conv import _pixel_rows, _sum_over_pixels
from .geometry import TransposedWindowGeometry, normalize_padding, normalize_tuple


class ConvTranspose(Function):
    """Transposed convolution (1-D or 2-D), channels_last, with an optional fused bias.

    Forward: every tap t = (a, b) of the kernel K (*k, F, C) sends x @ K[t]^T to the positions
    of a zero buffer ``full`` it meets from each input position (``geo.tap(t)``: i*s + a*d per
    axis), and the output is the buffer without its first P positions (``geo.crop()``):

        full[tap(a,b)] += x @ K[a,b]^T                         (N, H, W, C) @ (C, F), every tap
        y = full[crop] + b
        i.e.  y[n,o,p,f] = b[f] + sum over (i,j,a,b,c) with i*sh + a*dh - Ph = o, j*sw + b*dw - Pw = p
                                  of x[n,i,j,c] * K[a,b,f,c]

    Gradients, with G = dL/dy (N, OH, OW, F) put back into a zero buffer: dfull[crop] = G,

        dx       = sum_{a,b} dfull[tap(a,b)] @ K[a,b]          (a forward convolution of dfull)
        dK[a,b]  = rows(dfull[tap(a,b)])^T @ rows(x)            (F x C)
        db       = sum_{n,o,p} G[n,o,p,:]
    """

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", output_padding=None,
                dilation_rate=(1, 1)):
        if x.ndim < 3 or kernel.ndim != x.ndim or kernel.shape[-1] != x.shape[-1]:
            raise ValueError(f"ConvTranspose expects x (N, *spatial, C) and a kernel (*kernel_size, F, C) of the same "
                             f"rank with the same C; got shapes {x.shape} and {kernel.shape}")
        geo = self.geo = TransposedWindowGeometry(x.shape, kernel.shape[:-2], strides, padding, output_padding,
                                                  dilation_rate, what="ConvTranspose")
        self.x, self.kernel, self.has_bias = x, kernel, bias is not None
        full = np.zeros((geo.n,) + geo.full + (kernel.shape[-2],), dtype=np.result_type(x, kernel))
        for t in geo.taps:
            full[geo.tap(t)] += x @ kernel[t].T
        y = np.ascontiguousarray(full[geo.crop()])
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_output):
        geo, x, kernel, g = self.geo, self.x, self.kernel, grad_output
        dfull = np.zeros((geo.n,) + geo.full + (kernel.shape[-2],), dtype=g.dtype)
        dfull[geo.crop()] = g
        dx = dkernel = dbias = None
        if self.needs_input_grad[0]:
            dx = np.zeros(x.shape, dtype=g.dtype)
            for t in geo.taps:
                dx += dfull[geo.tap(t)] @ kernel[t]
        if self.needs_input_grad[1]:
            dkernel = np.stack([_pixel_rows(dfull[geo.tap(t)]).T @ _pixel_rows(x) for t in geo.taps])
            dkernel = dkernel.reshape(kernel.shape).astype(g.dtype, copy=False)
        if self.has_bias and self.needs_input_grad[2]:
            dbias = _sum_over_pixels(g)
        return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None, dilation_rate=1, bias=None):
    """Differentiable transposed convolution, 1-D or 2-D (rank from x).

    x (N, *spatial, C), kernel (*kernel_size, F, C) -> (N, *out, F); ``strides``,
    ``output_padding`` and ``dilation_rate`` are ints or tuples; ``padding`` "valid" or "same";
    ``bias`` (F,) is optional and fused into the op.
    """
    rank = len(x.shape) - 2
    params = dict(strides=normalize_tuple(strides, rank, "strides"), padding=normalize_padding(padding),
                  output_padding=None if output_padding is None else normalize_tuple(
                      output_padding, rank, "output_padding", allow_zero=True),
                  dilation_rate=normalize_tuple(dilation_rate, rank, "dilation_rate"))
    if bias is None:
        return ConvTranspose.apply(x, kernel, **params)
    return ConvTranspose.apply(x, kernel, bias, **params)


__all__ = ["ConvTranspose", "conv_transpose"]
