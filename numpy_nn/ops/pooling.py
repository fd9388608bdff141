"""Pooling: max and average over sliding windows, and their global versions (channels_last).

One code path for every rank: the ops below are written with 2-D names and formulas, and
``max_pool1d`` / ``avg_pool1d`` run the same ops on (N, L, C) inputs (one spatial axis, taps
t = 0 .. k-1, ``y[n,i,c] = max_t xp[n, i*s + t, c]``); the global poolings reduce every axis
between the batch and the channels, so they serve (N, L, C) too. channels_first layers move the
channels last before calling these ops (numpy_nn/layers/pooling.py).

Notation: input ``x`` of shape (N, H, W, C), window (kh, kw), strides (sh, sw) (default: the
window), output ``y`` of shape (N, OH, OW, C), ``g = dL/dy``. ``xp`` is ``x`` after padding.

Output size and padding per spatial axis follow Keras/XLA (``numpy_nn/ops/geometry.py``):

    valid:  out = floor((n - k) / s) + 1
    same:   out = ceil(n / s),   total = max((out - 1) * s + k - n, 0),
            before = total // 2,  after = total - before     (extra pixel bottom/right)

Window (i, j) covers ``xp[n, i*sh + a, j*sw + b, c]`` for the taps 0 <= a < kh, 0 <= b < kw.
The ops below work tap by tap: for one tap (a, b), ``xp[geo.tap((a, b))]`` is the strided slice
``xp[:, i*sh + a, j*sw + b, :]`` over all outputs (i, j), of shape (N, OH, OW, C). A backward
pass adds its share of ``g`` into those slices, one tap at a time. Nothing here is specific to
two spatial axes: the same code pools 1-D inputs (N, L, C) with ``geo.taps`` = (0,), (1,), ...

This is the reference tier (see ``numpy_nn/config.py``); the fast kernels of this family
(threads, chunks of the batch, the stored winner of a 2x2 max pool) are in
``numpy_nn/ops/kernels/pooling.py`` and are tested to give the same numbers.
"""
import functools

import numpy as np

from ..autograd.function import Function
from .geometry import WindowGeometry
from .math import BroadcastTo


def pool_geometry(x_shape, pool_size, strides, padding, what):
    """The windows of one pooling call; ``strides=None`` means the pool size (Keras's default)."""
    strides = pool_size if strides is None else strides
    if padding not in ("valid", "same"):
        raise ValueError(f"{what}: padding must be 'valid' or 'same', got {padding!r}")
    return WindowGeometry(x_shape, pool_size, strides, padding, what=what)


class MaxPool2D(Function):
    """y[n,i,j,c] = max_{a, b} xp[n, i*sh + a, j*sw + b, c]     ("same" pads with -inf).

    A NaN in a window makes its maximum NaN (as XLA's ``max`` and ``np.maximum`` do).

    Gradient: each output sends its gradient to one input of its window, the *selected* one,

        dx[n, i*sh + a*, j*sw + b*, c] += g[n,i,j,c],     (a*, b*) = selected tap of window (i, j)

    chosen as XLA's ``select_and_scatter`` (the gradient of ``reduce_window`` max in JAX, hence
    Keras) chooses it: scan the taps in row-major order (a, b) = (0, 0), (0, 1), ...; start with
    the first; a tap replaces the selection unless ``selected >= tap``. Without NaN that is the
    *first* maximum of the window: ties (a window of ReLU zeros) go to the earliest tap.
    Comparisons with NaN are false, so a NaN is selected when met and replaced by the next tap,
    which is then kept as long as it is >= the taps after it (padded -inf cells take part).
    PyTorch's max_pool2d also routes to one maximum per window, but picks a NaN itself.
    Overlapping windows (stride < pool size) add their contributions.
    """

    def forward(self, x, pool_size=(2, 2), strides=None, padding="valid"):
        self.geo = geo = pool_geometry(x.shape, pool_size, strides, padding, "MaxPool2D")
        self.xp = xp = geo.pad(x, -np.inf)
        start = np.full((x.shape[0],) + geo.out + (x.shape[-1],), -np.inf, dtype=x.dtype)
        return functools.reduce(np.maximum, (xp[geo.tap(t)] for t in geo.taps), start)

    def selected_taps(self):
        """winner[n,i,j,c] = the index (in ``geo.taps``) of the tap selected in window (i, j)."""
        geo, xp = self.geo, self.xp
        first, *later = geo.taps
        selected = xp[geo.tap(first)]
        winner = np.zeros(selected.shape, dtype=np.intp)
        for index, t in enumerate(later, start=1):
            tap = xp[geo.tap(t)]
            replace = ~(selected >= tap)  # NaN on either side compares False: replace
            selected = np.where(replace, tap, selected)
            winner = np.where(replace, index, winner)
        return winner

    def backward(self, g):
        geo, xp, winner = self.geo, self.xp, self.selected_taps()
        dxp = np.zeros(xp.shape, dtype=xp.dtype)
        for index, t in enumerate(geo.taps):
            dxp[geo.tap(t)] += g * (winner == index)
        return (geo.unpad(dxp),)

    def tensor_backward(self, g, y, x):  # the selection is locally constant: second derivative 0
        return (MaxPool2DGradient.apply(g, x, **self.params),)


def gather_selected(pool, h):
    """h (of x's shape) read at the selected tap of every window of a ``MaxPool2D`` call -> (N, OH, OW, C)."""
    geo, winner = pool.geo, pool.selected_taps()
    hp = geo.pad(h)
    return sum(np.where(winner == index, hp[geo.tap(t)], 0) for index, t in enumerate(geo.taps))


class MaxPool2DGradient(Function):
    """MaxPool2D's input gradient as an op (for ``create_graph=True``): z = G scattered to the
    selected taps of x's windows (``MaxPool2D.backward``). Linear in G, the selection fixed:

        dG = H gathered at the selected taps (``MaxPool2DSelect``),  no gradient for x
        (the selection is piecewise constant in x).
    """

    def forward(self, g, x, pool_size=(2, 2), strides=None, padding="valid"):
        self.pool = MaxPool2D()
        self.pool.forward(x, pool_size, strides, padding)
        return self.pool.backward(g)[0]

    def backward(self, h):
        return gather_selected(self.pool, h), None

    def tensor_backward(self, h, z, g, x):
        return MaxPool2DSelect.apply(h, x, **self.params), None


class MaxPool2DSelect(Function):
    """z = H (of x's shape) gathered at the selected tap of each window of x (``gather_selected``);
    linear in H, its gradient scatters back: dH = MaxPool2DGradient(G, x); none for x."""

    def forward(self, h, x, pool_size=(2, 2), strides=None, padding="valid"):
        self.pool = MaxPool2D()
        self.pool.forward(x, pool_size, strides, padding)
        return gather_selected(self.pool, h)

    def backward(self, g):
        return self.pool.backward(g)[0], None

    def tensor_backward(self, g, z, h, x):
        return MaxPool2DGradient.apply(g, x, **self.params), None


class AvgPool2D(Function):
    """y[n,i,j,c] = (1 / count[i,j]) * sum_{a, b} xp[n, i*sh + a, j*sw + b, c]   ("same" pads with 0).

    count[i,j] = the number of *real* (non-padded) cells in window (i, j): kh*kw for "valid",
    fewer at the borders for "same". Keras divides by that count too (its JAX backend pools a
    map of ones the same way); PyTorch's avg_pool2d counts the padding unless
    ``count_include_pad=False``.

    Gradient: every cell of window (i, j) receives an equal share,

        dx[n, i*sh + a, j*sw + b, c] += g[n,i,j,c] / count[i,j].
    """

    def forward(self, x, pool_size, strides=None, padding="valid"):
        self.geo = geo = pool_geometry(x.shape, pool_size, strides, padding, "AvgPool2D")
        xp, ones = geo.pad(x, 0), geo.pad(np.ones((1,) + geo.spatial + (1,), dtype=x.dtype), 0)
        self.count = sum(ones[geo.tap(t)] for t in geo.taps)
        total = sum(xp[geo.tap(t)] for t in geo.taps)
        return total / self.count

    def backward(self, g):
        geo = self.geo
        share = g / self.count
        dxp = np.zeros((g.shape[0],) + geo.padded_spatial + (g.shape[-1],), dtype=g.dtype)
        for t in geo.taps:
            dxp[geo.tap(t)] += share
        return (geo.unpad(dxp),)

    def tensor_backward(self, g, y, x):
        return (AvgPool2DGradient.apply(g, x_shape=x.shape, **self.params),)


class AvgPool2DGradient(Function):
    """AvgPool2D's input gradient as an op (for ``create_graph=True``): every cell of window (i, j)
    receives g[n,i,j,c] / count[i,j]. It is linear, and its adjoint is the average pool itself:

        dG = AvgPool2D(H)      (H = dL/dz, of x's shape)
    """

    def forward(self, g, x_shape, pool_size, strides=None, padding="valid"):
        self.pool = AvgPool2D()  # its backward needs the windows and counts only: set up on an empty batch
        self.pool.forward(np.zeros((0,) + tuple(x_shape[1:]), dtype=g.dtype), pool_size, strides, padding)
        return self.pool.backward(g)[0]

    def backward(self, h):
        return (AvgPool2D().forward(h, **self.params_without_shape()),)

    def tensor_backward(self, h, z, g):
        return (AvgPool2D.apply(h, **self.params_without_shape()),)

    def params_without_shape(self):
        return {k: v for k, v in self.params.items() if k != "x_shape"}


def _spatial_axes(x):
    return tuple(range(1, x.ndim - 1))


class GlobalAvgPool2D(Function):
    """y[n,c] = (1 / (H*W)) * sum_{h,w} x[n,h,w,c]   (shape (N,1,1,C) with keepdims);

    dx[n,h,w,c] = g[n,c] / (H*W).
    """

    def forward(self, x, keepdims=False):
        self.shape = x.shape
        return x.mean(axis=_spatial_axes(x), keepdims=keepdims, dtype=x.dtype)

    def backward(self, g):
        n, *spatial, c = self.shape
        g = g.reshape((n,) + (1,) * len(spatial) + (c,))
        return (np.broadcast_to(g / np.prod(spatial), self.shape).copy(),)

    def tensor_backward(self, g, y, x):
        n, *spatial, c = x.shape
        kept = g.reshape((n,) + (1,) * len(spatial) + (c,))
        return (BroadcastTo.apply(kept, shape=x.shape) / float(np.prod(spatial)),)


class GlobalMaxPool2D(Function):
    """y[n,c] = max_{h,w} x[n,h,w,c]   (shape (N,1,1,C) with keepdims);

    dx[n,h,w,c] = g[n,c] / count[n,c] * [x[n,h,w,c] == y[n,c]],   count = number of maxima.

    Tied maxima share the gradient equally, as ``jnp.max``'s gradient does (Keras's
    GlobalMaxPooling2D is ``ops.max``), unlike MaxPool2D, which picks one. If the map holds a
    NaN, y is NaN, no cell equals it, count = 0 and the gradient is NaN everywhere in that
    map (g / 0 times 0), as in JAX.
    """

    def forward(self, x, keepdims=False):
        self.x = x
        self.y = x.max(axis=_spatial_axes(x), keepdims=True)
        return self.y if keepdims else self.y.reshape(x.shape[0], x.shape[-1])

    def backward(self, g):
        is_max = self.x == self.y
        count = is_max.sum(axis=_spatial_axes(self.x), keepdims=True).astype(self.x.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):  # count = 0 only beside a NaN maximum
            share = g.reshape(self.y.shape) / count
            return ((share * is_max).astype(self.x.dtype, copy=False),)

    def tensor_backward(self, g, y, x):  # the shares is_max / count are locally constant
        share = self.backward(np.ones(g.shape, dtype=x.dtype))[0]
        return (g.reshape(self.y.shape) * share,)


class MaskedGlobalAvgPool1D(Function):
    """Keras's masked GlobalAveragePooling1D on (N, T, C) with a mask m (N, T) of 0/1:

        y[n,c] = sum_t m[n,t] x[n,t,c] / sum_t m[n,t]      (shape (N,1,C) with keepdims);
        dx[n,t,c] = m[n,t] g[n,c] / sum_t m[n,t].

    Masked steps neither count nor receive gradient. A sequence whose every step is masked
    divides 0 by 0: y is NaN there (as in Keras) and its gradient is 0 (JAX differentiates
    ``where(m, x, 0)``, which sends nothing to masked steps).
    """

    def forward(self, x, mask=None, keepdims=False):
        self.m = np.asarray(mask, dtype=bool)[:, :, None].astype(x.dtype)  # (N, T, 1)
        self.count = self.m.sum(axis=1, keepdims=True)  # (N, 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(self.m > 0, x, 0).sum(axis=1, keepdims=True) / self.count
        return y if keepdims else y[:, 0, :]

    def backward(self, g):
        g = g.reshape(g.shape[0], 1, g.shape[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            share = g / self.count
        return (np.where(self.m > 0, share, 0).astype(g.dtype, copy=False),)

    def tensor_backward(self, g, y, x):  # linear: the same shares on the tape
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(self.m > 0, 1 / self.count, 0).astype(x.dtype)
        return (g.reshape(g.shape[0], 1, g.shape[-1]) * share,)


def max_pool1d(x, pool_size=(2,), strides=None, padding="valid"):
    """Max pooling of an (N, L, C) Tensor: ``MaxPool2D`` with one spatial axis."""
    return MaxPool2D.apply(x, pool_size=tuple(pool_size), strides=strides, padding=padding)


def avg_pool1d(x, pool_size, strides=None, padding="valid"):
    """Average pooling of an (N, L, C) Tensor: ``AvgPool2D`` with one spatial axis."""
    return AvgPool2D.apply(x, pool_size=tuple(pool_size), strides=strides, padding=padding)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling of an NHWC Tensor (see ``MaxPool2D``)."""
    return MaxPool2D.apply(x, pool_size=tuple(pool_size), strides=strides, padding=padding)


def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """Average pooling of an NHWC Tensor (see ``AvgPool2D``)."""
    return AvgPool2D.apply(x, pool_size=tuple(pool_size), strides=strides, padding=padding)
