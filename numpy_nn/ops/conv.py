"""Convolutions, the reference tier: Conv2D (with groups), DepthwiseConv2D, the separable conv, and
their 1-D versions Conv1D (with causal padding), DepthwiseConv1D, separable_conv1d.

Conventions (Keras, channels_last): an input ``x`` has shape (N, H, W, C); a Conv2D kernel
``K`` has shape (kh, kw, C/groups, F); a depthwise kernel has shape (kh, kw, C, dm), and the
depthwise output channel of input channel c and multiplier m is c*dm + m. Convolution here
means **cross-correlation** (the kernel is not flipped), as in Keras, PyTorch and every
deep-learning library; the textbook convolution flips K. PyTorch computes the same numbers
with its inputs as (N, C, H, W) and its kernel as (F, C/groups, kh, kw); its depthwise conv is
``groups=C`` with the same output channel order c*dm + m.

Padding and output sizes follow Keras (``numpy_nn/ops/geometry.py``): "valid" adds nothing,
"same" pads so that out = ceil(n / s) and puts the extra pixel of an odd total at the bottom /
right (PyTorch's ``padding="same"``, stride 1 only, does the same). ``xp`` is x zero-padded that way.

Every op is written as a sum over the kernel taps t = (a, b): ``xp[geo.tap(t)]`` is the
(N, OH, OW, C) slice of xp that tap t meets at every output pixel,

    xp[geo.tap((a, b))][n, i, j, c] = xp[n, i*sh + a*dh, j*sw + b*dw, c],

so a convolution is ``sum over t of xp[tap t] @ K[t]`` (a matrix product over channels), and its
input gradient sends ``G @ K[t]^T`` back to the same slice. Nothing here depends on there being
two spatial axes: taps come from ``geo.taps`` and shapes from ``geo.out``. The fast kernels
that compute the same numbers (im2col, chunks, threads) are in ``numpy_nn/ops/kernels/conv.py``.
"""
import numpy as np

from ..autograd.function import Function
from .geometry import WindowGeometry, normalize_padding, normalize_tuple


def _check_shapes(what, x, kernel, expected_channels):
    """x (N, *spatial, C) and kernel (*kernel_size, C_k, F) of matching rank and channels."""
    if x.ndim < 3 or x.ndim != kernel.ndim or x.shape[-1] != expected_channels:
        raise ValueError(f"{what} expects x (N, *spatial, C) and a kernel (*kernel_size, C_in, F) of the same rank, "
                         f"with the input's {x.shape[-1] if x.ndim else '?'} channels matching the kernel; "
                         f"got shapes {x.shape} and {kernel.shape}")


def _pixel_rows(a):
    """(N, *spatial, C) -> (N*prod(spatial), C): one row per pixel, so a sum over pixels is a matrix product."""
    return a.reshape(-1, a.shape[-1])


def _sum_over_pixels(a, channel_axes=1):
    """Sum over the batch and spatial axes (all but the last ``channel_axes``), accumulated in float64
    (float32 sums over many pixels would drift from Keras's), returned in a's dtype."""
    return np.sum(a, axis=tuple(range(a.ndim - channel_axes)), dtype=np.float64).astype(a.dtype)


def block_diagonal(kernel, groups):
    """A grouped kernel (..., C/groups, F) as the full (..., C, F) kernel it stands for.

    Filter block g (F/groups filters) reads only channel block g: the full kernel is zero
    wherever a channel and a filter are in different groups. ``groups=1`` returns ``kernel``.
    """
    if groups == 1:
        return kernel
    c_per_group, filters = kernel.shape[-2:]
    f_per_group = filters // groups
    full = np.zeros(kernel.shape[:-2] + (c_per_group * groups, filters), dtype=kernel.dtype)
    for g in range(groups):
        channels, block = slice(g * c_per_group, (g + 1) * c_per_group), slice(g * f_per_group, (g + 1) * f_per_group)
        full[..., channels, block] = kernel[..., block]
    return full


def diagonal_blocks(full, groups):
    """The inverse of ``block_diagonal``: (..., C, F) -> (..., C/groups, F), the entries a grouped kernel has."""
    if groups == 1:
        return full
    c_per_group, f_per_group = full.shape[-2] // groups, full.shape[-1] // groups
    return np.concatenate([full[..., g * c_per_group:(g + 1) * c_per_group, g * f_per_group:(g + 1) * f_per_group]
                           for g in range(groups)], axis=-1)


class Conv2D(Function):
    """2-D convolution (cross-correlation), channels_last, with groups and an optional fused bias.

    Forward: for each kernel tap t = (a, b), the input slice that tap meets times K[t]
    (a matrix product over channels, (N, OH, OW, C) @ (C, F)), summed over the taps:

        y = b + sum_{a,b} xp[tap(a,b)] @ K[a,b]
        i.e.  y[n,i,j,f] = b[f] + sum_{a,b,c} xp[n, i*sh + a*dh, j*sw + b*dw, c] * K[a,b,c,f]

    With ``groups`` > 1, channels and filters are split into ``groups`` contiguous blocks and
    filter block g reads channel block g only: K[a,b] is the block-diagonal (C, F) matrix
    ``block_diagonal(K, groups)[a, b]`` (the stored kernel keeps only its C/groups x F nonzeros).

    Gradients, with G = dL/dy of shape (N, OH, OW, F):

        dK[a,b] = sum_{n,i,j} xp[tap(a,b)][n,i,j,:]^T G[n,i,j,:]      (C x F; grouped: its diagonal blocks)
                = rows(xp[tap(a,b)])^T @ rows(G)       with one row per output pixel (n, i, j)
        db      = sum_{n,i,j} G[n,i,j,:]
        dxp[tap(a,b)] += G @ K[a,b]^T       for every tap;   dx = dxp without the padding
    """

    op_name = "Conv2D"  # named in error messages

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1):
        _check_shapes(self.op_name, x, kernel, kernel.shape[-2] * groups)
        if kernel.shape[-1] % groups:
            raise ValueError(f"{self.op_name}: {kernel.shape[-1]} filters cannot be split into groups={groups}")
        geo = self.geo = WindowGeometry(x.shape, kernel.shape[:-2], strides, padding, dilation_rate,
                                        what=self.op_name)
        self.xp, self.kernel, self.groups, self.has_bias = geo.pad(x), kernel, groups, bias is not None
        full_kernel = block_diagonal(kernel, groups)  # (kh, kw, C, F)
        y = np.zeros((geo.n,) + geo.out + (kernel.shape[-1],), dtype=np.result_type(x, kernel))
        for t in geo.taps:
            y += self.xp[geo.tap(t)] @ full_kernel[t]
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_output):
        geo, xp, g, groups = self.geo, self.xp, grad_output, self.groups
        full_kernel = block_diagonal(self.kernel, groups)
        dx = dkernel = dbias = None
        if self.needs_input_grad[1]:
            dfull = np.stack([_pixel_rows(xp[geo.tap(t)]).T @ _pixel_rows(g) for t in geo.taps])
            dkernel = diagonal_blocks(dfull.reshape(full_kernel.shape), groups)
        if self.has_bias and self.needs_input_grad[2]:
            dbias = _sum_over_pixels(g)
        if self.needs_input_grad[0]:
            dxp = np.zeros(xp.shape, dtype=g.dtype)
            for t in geo.taps:
                dxp[geo.tap(t)] += g @ full_kernel[t].T
            dx = geo.unpad(dxp)
        return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)


    def tensor_backward(self, g, y, x, kernel, bias=None):
        """The same gradients as operations on the tape (for ``create_graph=True``): the input
        gradient is a transposed convolution of G with K, the kernel gradient a correlation of
        x with G, each a Function whose own gradients are convolutions again (see below)."""
        params = _conv_params(self.params)
        dx = Conv2DInputGradient.apply(g, kernel, x_shape=x.shape, **params) if self.needs_input_grad[0] else None
        dkernel = Conv2DKernelGradient.apply(x, g, kernel_shape=kernel.shape, **params) \
            if self.needs_input_grad[1] else None
        if bias is None:
            return dx, dkernel
        return dx, dkernel, (g.sum(axis=tuple(range(g.ndim - 1))) if self.needs_input_grad[2] else None)

class DepthwiseConv2D(Function):
    """Depthwise 2-D convolution: input channel c is convolved with its own dm filters.

    Forward, with a kernel K of shape (kh, kw, C, dm), for each tap the input slice times the
    per-channel weights (a broadcast product, no sum over channels), output channel c*dm + m:

        y[n,i,j,c,m] = b[c,m] + sum_{a,b} xp[tap(a,b)][n,i,j,c] * K[a,b,c,m],   y as (N, OH, OW, C*dm)

    Gradients, with G = dL/dy viewed as (N, OH, OW, C, dm):

        dK[a,b,c,m]    = sum_{n,i,j} xp[tap(a,b)][n,i,j,c] * G[n,i,j,c,m]
        db[c,m]        = sum_{n,i,j} G[n,i,j,c,m]
        dxp[tap(a,b)] += sum_m G[..., c, m] * K[a,b,c,m]      for every tap;   dx = dxp without the padding

    It is the grouped Conv2D with groups = C and the kernel reshaped to (kh, kw, 1, C*dm).
    """

    op_name = "DepthwiseConv2D"  # named in error messages

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1)):
        _check_shapes(self.op_name, x, kernel, kernel.shape[-2])
        geo = self.geo = WindowGeometry(x.shape, kernel.shape[:-2], strides, padding, dilation_rate,
                                        what=self.op_name)
        self.xp, self.kernel, self.has_bias = geo.pad(x), kernel, bias is not None
        channels, multiplier = kernel.shape[-2:]
        y = np.zeros((geo.n,) + geo.out + (channels, multiplier), dtype=np.result_type(x, kernel))
        for t in geo.taps:
            y += self.xp[geo.tap(t)][..., None] * kernel[t]
        y = y.reshape(y.shape[:-2] + (channels * multiplier,))  # channel c*dm + m
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_output):
        geo, xp, kernel = self.geo, self.xp, self.kernel
        g = grad_output.reshape(grad_output.shape[:-1] + kernel.shape[-2:])  # (N, OH, OW, C, dm)
        dx = dkernel = dbias = None
        if self.needs_input_grad[1]:
            dkernel = np.stack([_sum_over_pixels(xp[geo.tap(t)][..., None] * g, channel_axes=2)
                                for t in geo.taps]).reshape(kernel.shape)
        if self.has_bias and self.needs_input_grad[2]:
            dbias = _sum_over_pixels(grad_output)
        if self.needs_input_grad[0]:
            dxp = np.zeros(xp.shape, dtype=g.dtype)
            for t in geo.taps:
                dxp[geo.tap(t)] += np.sum(g * kernel[t], axis=-1)
            dx = geo.unpad(dxp)
        return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)

    def tensor_backward(self, g, y, x, kernel, bias=None):
        """On the tape as the grouped Conv2D it is (groups = C, kernel as (kh, kw, 1, C*dm))."""
        channels = kernel.shape[-2]
        params = dict(self.params, groups=channels)
        grouped = kernel.reshape(kernel.shape[:-2] + (1, channels * kernel.shape[-1]))
        dx = Conv2DInputGradient.apply(g, grouped, x_shape=x.shape, **params) if self.needs_input_grad[0] else None
        dkernel = None
        if self.needs_input_grad[1]:
            dkernel = Conv2DKernelGradient.apply(x, g, kernel_shape=grouped.shape, **params).reshape(kernel.shape)
        if bias is None:
            return dx, dkernel
        return dx, dkernel, (g.sum(axis=tuple(range(g.ndim - 1))) if self.needs_input_grad[2] else None)


class Conv2DInputGradient(Function):
    """The input gradient of Conv2D as an op of its own (a *transposed convolution*), so that
    ``create_graph=True`` can differentiate it: with Conv2D's geometry for an input of ``x_shape``,

        z = unpad(dxp),   dxp[tap(a,b)] += G @ K[a,b]^T   for every tap   (G: (N, OH, OW, F))

    It is linear in G and in K, with gradients (H = dL/dz, of x's shape)

        dG = conv2d(H, K)                            (Conv2D's forward: the adjoint of the scatter)
        dK = Conv2DKernelGradient(H, G)              (Conv2D's kernel gradient with H as the input)
    """

    def forward(self, g, kernel, x_shape, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1):
        geo = WindowGeometry(x_shape, kernel.shape[:-2], strides, padding, dilation_rate, what="Conv2D")
        full_kernel = block_diagonal(kernel, groups)
        dxp = np.zeros((geo.n,) + geo.padded_spatial + (full_kernel.shape[-2],), dtype=np.result_type(g, kernel))
        for t in geo.taps:
            dxp[geo.tap(t)] += g @ full_kernel[t].T
        return geo.unpad(dxp)

    def backward(self, h):
        (g, kernel), p = self.inputs, self.params
        dg = Conv2D().forward(h, kernel.data, **_conv_params(p)) if self.needs_input_grad[0] else None
        dk = Conv2DKernelGradient().forward(h, g.data, kernel.shape, **_conv_params(p)) \
            if self.needs_input_grad[1] else None
        return dg, dk

    def tensor_backward(self, h, z, g, kernel):
        p = _conv_params(self.params)
        dg = Conv2D.apply(h, kernel, **p) if self.needs_input_grad[0] else None
        dk = Conv2DKernelGradient.apply(h, g, kernel_shape=kernel.shape, **p) if self.needs_input_grad[1] else None
        return dg, dk


class Conv2DKernelGradient(Function):
    """The kernel gradient of Conv2D as an op of its own (for ``create_graph=True``):

        z[a,b] = rows(xp[tap(a,b)])^T @ rows(G)      (C x F; grouped: its diagonal blocks, ``kernel_shape``)

    It is linear in x and in G, with gradients (H = dL/dz, of the kernel's shape)

        dx = Conv2DInputGradient(G, H)               (the scatter of G @ H[a,b]^T)
        dG = conv2d(x, H)                            (Conv2D's forward with H as the kernel)
    """

    def forward(self, x, g, kernel_shape, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1):
        geo = WindowGeometry(x.shape, kernel_shape[:-2], strides, padding, dilation_rate, what="Conv2D")
        xp = geo.pad(x)
        dfull = np.stack([_pixel_rows(xp[geo.tap(t)]).T @ _pixel_rows(g) for t in geo.taps])
        return diagonal_blocks(dfull.reshape(tuple(kernel_shape[:-2]) + (x.shape[-1], g.shape[-1])), groups)

    def backward(self, h):
        (x, g), p = self.inputs, _conv_params(self.params)
        dx = Conv2DInputGradient().forward(g.data, h, x.shape, **p) if self.needs_input_grad[0] else None
        dg = Conv2D().forward(x.data, h, **p) if self.needs_input_grad[1] else None
        return dx, dg

    def tensor_backward(self, h, z, x, g):
        p = _conv_params(self.params)
        dx = Conv2DInputGradient.apply(g, h, x_shape=x.shape, **p) if self.needs_input_grad[0] else None
        dg = Conv2D.apply(x, h, **p) if self.needs_input_grad[1] else None
        return dx, dg


def _conv_params(params):
    """The geometry keywords of a Conv2D call (strides, padding, dilation_rate, groups), nothing else."""
    return {k: v for k, v in params.items() if k in ("strides", "padding", "dilation_rate", "groups")}


class Conv1D(Conv2D):
    """1-D convolution (cross-correlation), channels_last: x (N, L, C), kernel (k, C/groups, F).

    The same tap formula as Conv2D with one spatial axis (its forward and backward are written
    for any number of spatial axes; they run unchanged here), plus the causal padding:

        y[n,i,f] = b[f] + sum_{a,c} xp[n, i*s + a*d, c] * K[a,c,f]
                 = b + sum_a xp[tap(a)] @ K[a]                  xp[tap(a)] = xp[:, a*d : a*d + s*(OL-1) + 1 : s]

    padding "valid" (xp = x), "same" (Keras's split, the extra position after) or "causal":
    d*(k - 1) zeros before and none after, so y[n, i] reads x[n, j] for j <= i*s only and
    OL = ceil(L / s). Groups as in Conv2D (block-diagonal K). Gradients, G = dL/dy (N, OL, F):

        dK[a]          = rows(xp[tap(a)])^T @ rows(G)          (C x F; grouped: its diagonal blocks)
        db             = sum_{n,i} G[n,i,:]
        dxp[tap(a)]   += G @ K[a]^T;   dx = dxp without the padding
    """

    op_name = "Conv1D"

    def forward(self, x, kernel, bias=None, strides=(1,), padding="valid", dilation_rate=(1,), groups=1):
        if x.ndim != 3:
            raise ValueError(f"Conv1D expects x of shape (N, L, C); got shape {x.shape}")
        return super().forward(x, kernel, bias, strides, padding, dilation_rate, groups)

    def backward(self, grad_output):
        return super().backward(grad_output)


class DepthwiseConv1D(DepthwiseConv2D):
    """Depthwise 1-D convolution: x (N, L, C), kernel (k, C, dm) -> (N, OL, C*dm), channel c*dm + m.

    DepthwiseConv2D's tap formula with one spatial axis (padding valid or same):

        y[n,i,c*dm + m] = b[c*dm + m] + sum_a xp[n, i*s + a*d, c] * K[a,c,m]
        dK[a,c,m]       = sum_{n,i} xp[tap(a)][n,i,c] * G[n,i,c,m]        (G viewed as (N, OL, C, dm))
        db[c*dm + m]    = sum_{n,i} G[n,i,c*dm + m]
        dxp[tap(a)]    += sum_m G[..., c, m] * K[a,c,m];   dx = dxp without the padding
    """

    op_name = "DepthwiseConv1D"

    def forward(self, x, kernel, bias=None, strides=(1,), padding="valid", dilation_rate=(1,)):
        if x.ndim != 3:
            raise ValueError(f"DepthwiseConv1D expects x of shape (N, L, C); got shape {x.shape}")
        return super().forward(x, kernel, bias, strides, padding, dilation_rate)

    def backward(self, grad_output):
        return super().backward(grad_output)


# -- functional API ---------------------------------------------------------------------------------------
def _params(strides, padding, dilation_rate, rank=2, paddings=("valid", "same")):
    return dict(strides=normalize_tuple(strides, rank, "strides"), padding=normalize_padding(padding, paddings),
                dilation_rate=normalize_tuple(dilation_rate, rank, "dilation_rate"))


def conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1, bias=None):
    """Differentiable 2-D convolution. x (N, H, W, C), kernel (kh, kw, C/groups, F) -> (N, OH, OW, F).

    ``strides`` and ``dilation_rate`` are ints or pairs; ``padding`` is "valid" or "same"
    (Keras's split); ``bias`` (F,) is optional and fused into the op.
    """
    params = dict(_params(strides, padding, dilation_rate), groups=int(groups))
    if bias is None:
        return Conv2D.apply(x, kernel, **params)
    return Conv2D.apply(x, kernel, bias, **params)


def depthwise_conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1, bias=None):
    """Differentiable depthwise convolution. x (N, H, W, C), kernel (kh, kw, C, dm) -> (N, OH, OW, C*dm)."""
    params = _params(strides, padding, dilation_rate)
    if bias is None:
        return DepthwiseConv2D.apply(x, kernel, **params)
    return DepthwiseConv2D.apply(x, kernel, bias, **params)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", dilation_rate=1,
                     bias=None):
    """Depthwise conv (strides, padding, dilation) then a 1x1 pointwise conv, no bias in between.

    x (N, H, W, C), depthwise_kernel (kh, kw, C, dm), pointwise_kernel (1, 1, C*dm, F) -> (N, OH, OW, F):

        hidden[n,i,j,c*dm + m] = sum_{a,b} xp[n, i*sh + a*dh, j*sw + b*dw, c] * D[a,b,c,m]
        y[n,i,j,f]             = b[f] + sum_k hidden[n,i,j,k] * P[0,0,k,f]        (k = c*dm + m)

    Both steps are recorded on the tape, so the gradients are those of the two ops chained
    (G = dL/dy):

        db = sum_{n,i,j} G[n,i,j,:];   dP[0,0] = rows(hidden)^T @ rows(G);   dhidden = G @ P[0,0]^T
        dD, dx = DepthwiseConv2D's gradients with dhidden as its upstream gradient.
    """
    hidden = depthwise_conv2d(x, depthwise_kernel, strides, padding, dilation_rate)
    return conv2d(hidden, pointwise_kernel, bias=bias)


__all__ = ["Conv2D", "DepthwiseConv2D", "Conv2DInputGradient", "Conv2DKernelGradient", "conv2d", "depthwise_conv2d",
           "separable_conv2d", "block_diagonal", "diagonal_blocks"]

def conv1d(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1, bias=None):
    """Differentiable 1-D convolution. x (N, L, C), kernel (k, C/groups, F) -> (N, OL, F).

    ``padding`` is "valid", "same" or "causal" (see ``Conv1D``); ``bias`` (F,) is optional.
    """
    params = dict(_params(strides, padding, dilation_rate, 1, ("valid", "same", "causal")), groups=int(groups))
    if bias is None:
        return Conv1D.apply(x, kernel, **params)
    return Conv1D.apply(x, kernel, bias, **params)


def depthwise_conv1d(x, kernel, strides=1, padding="valid", dilation_rate=1, bias=None):
    """Differentiable depthwise 1-D convolution. x (N, L, C), kernel (k, C, dm) -> (N, OL, C*dm)."""
    params = _params(strides, padding, dilation_rate, 1)
    if bias is None:
        return DepthwiseConv1D.apply(x, kernel, **params)
    return DepthwiseConv1D.apply(x, kernel, bias, **params)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", dilation_rate=1,
                     bias=None):
    """Depthwise 1-D conv then a pointwise (kernel size 1) conv, as ``separable_conv2d`` on one axis.

    x (N, L, C), depthwise_kernel (k, C, dm), pointwise_kernel (1, C*dm, F) -> (N, OL, F):

        hidden[n,i,c*dm + m] = sum_a xp[n, i*s + a*d, c] * D[a,c,m]
        y[n,i,f]             = b[f] + sum_k hidden[n,i,k] * P[0,k,f]
    """
    hidden = depthwise_conv1d(x, depthwise_kernel, strides, padding, dilation_rate)
    return conv1d(hidden, pointwise_kernel, bias=bias)


__all__ = ["Conv2D", "DepthwiseConv2D", "Conv1D", "DepthwiseConv1D", "conv2d", "depthwise_conv2d",
           "separable_conv2d", "conv1d", "depthwise_conv1d", "separable_conv1d", "block_diagonal",
           "diagonal_blocks"]
