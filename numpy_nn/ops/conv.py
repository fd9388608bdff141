"""2-D convolutions: Conv2D (with groups), DepthwiseConv2D, and their composition, the separable conv.

Conventions (Keras, channels_last): an input ``x`` has shape (N, H, W, C); a Conv2D kernel
``K`` has shape (kh, kw, C/groups, F); a depthwise kernel has shape (kh, kw, C, dm).
Convolution here means **cross-correlation** (the kernel is not flipped), as in every
deep-learning library.

Output size of one spatial axis of length n, kernel size k, stride s, dilation d, with the
effective kernel size ke = d*(k-1) + 1:

    valid:  out = floor((n - ke) / s) + 1          (no padding)
    same:   out = ceil(n / s)                      (pad so that this holds)

"same" padding is TensorFlow/XLA's split, which Keras uses:

    total  = max((out - 1)*s + ke - n, 0)
    before = total // 2          (top / left)
    after  = total - before      (bottom / right: an odd total puts the extra pixel here)

Speed: the convolution forward pass is "im2col" — the padded input is viewed as a
(N, OH, OW, kh, kw, C) array of sliding windows without copying (``as_strided``), copied once
into a contiguous patch matrix P of shape (N*OH*OW, kh*kw*C), and multiplied with the kernel
reshaped to (kh*kw*C, F) in ONE matrix product (BLAS does the work). P is kept for the kernel
gradient, dK = P^T @ dY. The input gradient scatters back through the same windows (see
``Conv2D.backward``). The batch goes through in chunks whose patch matrix stays under
``CHUNK_BYTES`` (16 MiB): glibc serves blocks above 32 MiB with a fresh ``mmap`` whose pages
fault on first write (6 ms of 20 for a 37.7 MB P, measured; see ``numpy_nn.ops.kernels.buffers``), and
smaller products keep their output in cache. The chunks' P are kept for dK unless all of them
together exceed ``PATCH_BUDGET_BYTES``; then they are rebuilt in the backward pass.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.function import Function
from .kernels.threads import in_parallel  # (moves to ops/kernels/conv.py with the fast kernels)

PATCH_BUDGET_BYTES = 256 * 2**20  # largest patch matrix kept in memory for the backward pass
CHUNK_BYTES = 16 * 2**20  # patch matrix of one chunk of the batch (see "Speed" above)
SMALL_GRAM, GRAM_BLOCK = 8192, 4096  # kernel gradients with at most SMALL_GRAM entries: by row blocks
DEPTHWISE_CHUNK_BYTES = 2**20  # padded input of one chunk of the batch in DepthwiseConv2D (fits in cache)


# -- shapes and padding (shared with pooling) --------------------------------------------------------
def conv_output_length(n, k, s, padding, dilation=1):
    """Length of one output axis: valid -> floor((n - ke)/s) + 1, same -> ceil(n/s); None stays None."""
    if n is None:
        return None
    effective = dilation * (k - 1) + 1
    if padding == "same":
        return (n + s - 1) // s
    if padding == "valid":
        return (n - effective) // s + 1
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def same_padding(n, k, s, dilation=1):
    """Keras/XLA "same" padding of one axis as (before, after); the extra pixel goes after."""
    effective = dilation * (k - 1) + 1
    total = max((conv_output_length(n, k, s, "same") - 1) * s + effective - n, 0)
    return total // 2, total - total // 2


def pad_spatial(x, pad_h, pad_w, value=0):
    """x (N, H, W, C) with ``pad_h = (top, bottom)`` rows and ``pad_w = (left, right)`` columns of ``value`` added.

    Same result as ``np.pad``, written as one copy of x into a new array whose border alone is filled.
    """
    (top, bottom), (left, right) = pad_h, pad_w
    n, h, w, c = x.shape
    xp = np.empty((n, top + h + bottom, left + w + right, c), dtype=x.dtype)
    xp[:, :top] = value
    xp[:, top + h:] = value
    xp[:, top:top + h, :left] = value
    xp[:, top:top + h, left + w:] = value
    xp[:, top:top + h, left:left + w] = x
    return xp


def _pair(value, name):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


class _Geometry:
    """Everything about the sliding windows of one call: sizes, padding, strides, dilation."""

    def __init__(self, x_shape, kernel_size, strides, padding, dilation_rate):
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.n, self.h, self.w, self.c = x_shape
        self.kh, self.kw = kernel_size
        self.sh, self.sw = _pair(strides, "strides")
        self.dh, self.dw = _pair(dilation_rate, "dilation_rate")
        self.oh = conv_output_length(self.h, self.kh, self.sh, padding, self.dh)
        self.ow = conv_output_length(self.w, self.kw, self.sw, padding, self.dw)
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"convolution output would be empty: input {x_shape[1:3]}, kernel "
                             f"{kernel_size}, strides {(self.sh, self.sw)}, dilation {(self.dh, self.dw)}, "
                             f"padding {padding!r} give an output of {(self.oh, self.ow)}")
        if padding == "same":
            self.pad_h = same_padding(self.h, self.kh, self.sh, self.dh)
            self.pad_w = same_padding(self.w, self.kw, self.sw, self.dw)
        else:
            self.pad_h = self.pad_w = (0, 0)

    @property
    def padded_shape(self):
        return (self.n, self.h + sum(self.pad_h), self.w + sum(self.pad_w), self.c)

    def pad(self, x):
        """Zero-pad the spatial axes once (no copy for 'valid')."""
        if self.pad_h == (0, 0) and self.pad_w == (0, 0):
            return x
        return pad_spatial(x, self.pad_h, self.pad_w)

    def unpad(self, xp):
        """The part of a padded-shape array that lies over the original input."""
        top, left = self.pad_h[0], self.pad_w[0]
        return xp[:, top:top + self.h, left:left + self.w, :]

    def tap(self, i, j):
        """Index of the (OH, OW) input pixels that kernel tap (i, j) meets: xp[tap] has shape (N, OH, OW, C)."""
        top, left = i * self.dh, j * self.dw
        return (slice(None), slice(top, top + self.sh * (self.oh - 1) + 1, self.sh),
                slice(left, left + self.sw * (self.ow - 1) + 1, self.sw))

    def windows(self, xp):
        """Read-only (N, OH, OW, kh, kw, C) view: windows[n,i,j,a,b,c] = xp[n, i*sh + a*dh, j*sw + b*dw, c]."""
        sn, sh, sw, sc = xp.strides
        shape = (xp.shape[0], self.oh, self.ow, self.kh, self.kw, xp.shape[3])
        return as_strided(xp, shape, (sn, sh * self.sh, sw * self.sw, sh * self.dh, sw * self.dw, sc),
                          writeable=False)


def _gram(p, g):
    """P^T @ G for stacks of tall matrices P (G, rows, k) and G (G, rows, f): the kernel gradient.

    When the result is small (k*f <= ``SMALL_GRAM``: a first layer's 27 x 32, a 1x1 conv's C x F)
    and the matrices are tall, the rows are cut into blocks of ``GRAM_BLOCK`` and the partial
    products summed: one long threaded BLAS call with a tiny output spent most of its time
    with its two threads waiting for each other (measured 17 ms vs 1.6 ms for 65536 x 27 by
    65536 x 32 on a busy 2-core machine; equal on one thread).
    """
    groups, rows, k = p.shape
    f = g.shape[2]
    blocks = rows // GRAM_BLOCK
    if groups > 1 or k * f > SMALL_GRAM or blocks < 2:
        return np.matmul(p.transpose(0, 2, 1), g)
    cut = blocks * GRAM_BLOCK
    p_blocks = p[0, :cut].reshape(blocks, GRAM_BLOCK, k).transpose(0, 2, 1)
    total = np.matmul(p_blocks, g[0, :cut].reshape(blocks, GRAM_BLOCK, f)).sum(axis=0)
    if cut < rows:
        total += p[0, cut:].T @ g[0, cut:]
    return total[None]


# -- Conv2D ---------------------------------------------------------------------------------------------
class Conv2D(Function):
    """2-D convolution (cross-correlation), channels_last, with optional fused bias and groups.

    Forward, for output pixel (n, i, j) and filter f in group g (filters and input channels are
    split into ``groups`` contiguous blocks of F/groups and C/groups; C_g is block g of channels):

        y[n,i,j,f] = b[f] + sum_{a, b', c in C_g} xp[n, i*sh + a*dh, j*sw + b'*dw, c] * K[a, b', c - g*C/groups, f]

    where xp is x zero-padded as described in the module docstring. In matrix form, with the
    patch matrix P (rows = output pixels, columns = (a, b', c)) and K reshaped to (kh*kw*C, F):

        Y = P @ K + b

    Gradients, with G = dL/dY:

        dK = P^T @ G                      (kernel: correlate input patches with G)
        db = sum_{n,i,j} G[n,i,j,:]
        dx = the transposed convolution of G with K:
             dxp[n, i*sh + a*dh, j*sw + b'*dw, c] += sum_f G[n,i,j,f] * K[a,b',c,f]
             then the padding is cropped away (dx = dxp without its border).

    dx is computed tap by tap: for kernel tap (a, b'), ``G @ K[a,b']^T`` (one matmul) is added
    into the slice of dx that tap touched (at stride 1 straight into dx, clipped to it; under
    "same" padding the centre tap's product is written, not added, so dx needs no zero fill);
    at stride > 1 the product G @ K^T for all taps is done as one matmul first ("col2im") into
    a padded dxp, which measured faster.
    """

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1):
        kh, kw, c_per_group, filters = kernel.shape
        if x.ndim != 4 or kernel.ndim != 4:
            raise ValueError(f"Conv2D expects x of rank 4 (N, H, W, C) and a kernel of rank 4 "
                             f"(kh, kw, C/groups, F); got shapes {x.shape} and {kernel.shape}")
        if x.shape[3] != c_per_group * groups or filters % groups:
            raise ValueError(f"Conv2D: input has {x.shape[3]} channels and the kernel has shape {kernel.shape} "
                             f"with groups={groups}; expected kernel (kh, kw, {x.shape[3] // max(groups, 1)}, "
                             f"F) with F divisible by {groups}")
        geo = self.geo = _Geometry(x.shape, (kh, kw), strides, padding, dilation_rate)
        self.groups, self.kernel, self.has_bias = groups, kernel, bias is not None
        self.dtype = np.result_type(x.dtype, kernel.dtype)
        xp = self.xp = geo.pad(x)
        # Kernel as `groups` matrices (kh*kw*C_g, F_g): rows in (a, b', c) order like the patches.
        self.kernel_matrices = self._kernel_matrices(kernel)
        bytes_per_sample = geo.oh * geo.ow * kh * kw * geo.c * x.dtype.itemsize
        pieces = -(-geo.n * bytes_per_sample // CHUNK_BYTES)  # ceil: the fewest chunks under CHUNK_BYTES
        self.chunk = -(-geo.n // max(pieces, 1))  # samples per chunk, balanced
        keep = geo.n * bytes_per_sample <= PATCH_BUDGET_BYTES
        y = np.empty((geo.n, geo.oh, geo.ow, filters), dtype=self.dtype)
        kept = []
        for start in range(0, geo.n, self.chunk):
            patches = self._patches(xp[start:start + self.chunk])
            y_rows = y[start:start + self.chunk].reshape(-1, filters)  # a view: y is C-contiguous
            if self.groups == 1:
                np.matmul(patches[0], self.kernel_matrices[0], out=y_rows)  # Y = P @ K, written in place
            else:
                y_rows[...] = np.matmul(patches, self.kernel_matrices).transpose(1, 0, 2).reshape(len(y_rows), -1)
            if bias is not None:
                y_rows += bias  # while this chunk of y is still in cache
            if keep:
                kept.append(patches)
        self.patches = kept if keep else None  # P, chunk by chunk, for dK (None: rebuilt in backward)
        return y

    def _kernel_matrices(self, kernel):
        kh, kw, c_per_group, filters = kernel.shape
        f_per_group = filters // self.groups
        # (kh, kw, C_g, G, F_g) -> (G, kh*kw*C_g, F_g)
        split = kernel.reshape(kh, kw, c_per_group, self.groups, f_per_group)
        return split.transpose(3, 0, 1, 2, 4).reshape(self.groups, kh * kw * c_per_group, f_per_group)

    def _patches(self, xp):
        """Patch matrices of shape (G, rows, kh*kw*C_g), one contiguous copy of the window view."""
        geo, groups = self.geo, self.groups
        windows = geo.windows(xp)  # (N, OH, OW, kh, kw, C)
        rows = windows.shape[0] * geo.oh * geo.ow
        if groups == 1:
            if geo.kh == geo.kw == 1 and geo.sh == geo.sw == 1 and xp.flags.c_contiguous:
                return xp.reshape(1, rows, geo.c)  # a 1x1 conv: the input already is the patch matrix
            patches = np.empty((1, rows, geo.kh * geo.kw * geo.c), dtype=xp.dtype)
            np.copyto(patches.reshape(windows.shape), windows)
            return patches
        split = windows.reshape(windows.shape[:5] + (groups, geo.c // groups))
        return np.ascontiguousarray(split.transpose(5, 0, 1, 2, 3, 4, 6)).reshape(groups, rows, -1)

    def _chunk_starts(self):
        return range(0, self.geo.n, self.chunk)

    def backward(self, grad_output):
        groups = self.groups
        g = grad_output
        dkernel = dbias = dx = None
        if self.needs_input_grad[1]:
            dkernel = np.zeros(self.kernel_matrices.shape, dtype=self.dtype)
            for index, start in enumerate(self._chunk_starts()):
                patches = self.patches[index] if self.patches is not None else self._patches(
                    self.xp[start:start + self.chunk])
                g_rows = self._split_filters(g[start:start + self.chunk])
                dkernel += _gram(patches, g_rows)  # dK = P^T @ G, per group
            kh, kw, c_per_group, filters = self.kernel.shape
            dkernel = dkernel.reshape(groups, kh, kw, c_per_group, filters // groups).transpose(1, 2, 3, 0, 4)
            dkernel = dkernel.reshape(self.kernel.shape)
        if self.has_bias and self.needs_input_grad[2]:
            dbias = g.sum(axis=(0, 1, 2))
        if self.needs_input_grad[0]:
            dx = self._input_grad(g)
        self.patches = None  # free the memory once the tape has been used
        return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)

    def _split_filters(self, g):
        """G of shape (n, OH, OW, F) as (G, rows, F_g)."""
        rows = g.reshape(-1, g.shape[-1])
        if self.groups == 1:
            return rows[None]
        return rows.reshape(rows.shape[0], self.groups, -1).transpose(1, 0, 2)

    def _input_grad(self, g):
        geo, groups = self.geo, self.groups
        kh, kw, c_per_group, filters = self.kernel.shape
        if geo.sh == geo.sw == 1:
            return self._input_grad_stride_one(g)
        # Strides > 1, col2im: dP = G @ K^T for all taps at once, then each tap's columns go back to dxp.
        dxp = np.zeros(geo.padded_shape, dtype=self.dtype)
        for start in self._chunk_starts():
            g_rows = self._split_filters(g[start:start + self.chunk])
            dpatches = np.matmul(g_rows, self.kernel_matrices.transpose(0, 2, 1))  # (G, rows, kh*kw*C_g)
            dpatches = dpatches.reshape(groups, -1, geo.oh, geo.ow, kh, kw, c_per_group)
            chunk = dxp[start:start + self.chunk]
            for a in range(kh):
                for b in range(kw):
                    target = chunk[geo.tap(a, b)]
                    for group in range(groups):
                        target[..., group * c_per_group:(group + 1) * c_per_group] += dpatches[group, :, :, :, a, b]
        return geo.unpad(dxp)

    def _input_grad_stride_one(self, g):
        """Transposed convolution at stride 1, one matmul per tap, straight into dx (no padded buffer).

        Tap (a, b') sends G[n,i,j] @ K[a,b']^T to dx[n, i + a*dh - top, j + b'*dw - left]; the
        rows and columns that land in the padding are clipped away. Under "same" padding one tap
        (a*dh = top, b'*dw = left) covers dx exactly: its product is written into dx directly
        (no zero fill) and the other taps add into clipped slices.
        """
        geo, groups = self.geo, self.groups
        kh, kw, c_per_group, filters = self.kernel.shape
        f_per_group = filters // groups
        top, left = geo.pad_h[0], geo.pad_w[0]
        g_rows = g.reshape(-1, filters)  # the whole batch: few, large BLAS calls
        taps = [(a, b) for a in range(kh) for b in range(kw)]
        first = None
        if groups == 1 and (geo.oh, geo.ow) == (geo.h, geo.w) and top % geo.dh == 0 and left % geo.dw == 0 \
                and top // geo.dh < kh and left // geo.dw < kw:
            first = (top // geo.dh, left // geo.dw)
        if first is not None:
            dx = np.empty((geo.n, geo.h, geo.w, geo.c), dtype=self.dtype)
            np.matmul(g_rows, self.kernel[first[0], first[1]].T, out=dx.reshape(-1, geo.c))
            taps.remove(first)
        else:
            dx = np.zeros((geo.n, geo.h, geo.w, geo.c), dtype=self.dtype)
        product = np.empty((geo.n, geo.oh, geo.ow, c_per_group), dtype=self.dtype)
        for a, b in taps:
            row, col = a * geo.dh - top, b * geo.dw - left  # dx row of output row 0, dx column of output column 0
            y0, y1, x0, x1 = max(row, 0), min(geo.h, geo.oh + row), max(col, 0), min(geo.w, geo.ow + col)
            if y0 >= y1 or x0 >= x1:
                continue  # this tap only ever meets padding
            for group in range(groups):
                k_t = np.ascontiguousarray(self.kernel[a, b, :, group * f_per_group:(group + 1) * f_per_group].T)
                np.matmul(g_rows[:, group * f_per_group:(group + 1) * f_per_group], k_t,
                          out=product.reshape(-1, c_per_group))
                dx[:, y0:y1, x0:x1, group * c_per_group:(group + 1) * c_per_group] += \
                    product[:, y0 - row:y1 - row, x0 - col:x1 - col]
        return dx


# -- DepthwiseConv2D ------------------------------------------------------------------------------------
class DepthwiseConv2D(Function):
    """Depthwise 2-D convolution: each input channel is convolved with its own dm filters.

    Forward, with a kernel K of shape (kh, kw, C, dm) and output channel index c*dm + m:

        y[n,i,j,c*dm + m] = b[c*dm + m] + sum_{a,b'} xp[n, i*sh + a*dh, j*sw + b'*dw, c] * K[a,b',c,m]

    Gradients, with G = dL/dy viewed as (N, OH, OW, C, dm):

        dK[a,b',c,m] = sum_{n,i,j} xp[n, i*sh + a*dh, j*sw + b'*dw, c] * G[n,i,j,c,m]
        db[c*dm + m] = sum_{n,i,j} G[n,i,j,c,m]
        dxp[n, i*sh + a*dh, j*sw + b'*dw, c] += sum_m G[n,i,j,c,m] * K[a,b',c,m]   (then crop the padding)

    Vectorized over everything except the kh*kw kernel taps (and the dm multipliers, usually 1):
    for each tap, one broadcast multiply-add over a whole (n, OH, OW, C) block of the batch.

    Speed (dm = 1, the common case): the batch goes through in chunks of a few samples
    (``DEPTHWISE_CHUNK_BYTES``), so that the padded input, the output and one temporary stay in
    the CPU cache through all kh*kw taps; padding is done per chunk. At width stride 1 a tap's
    view has one contiguous run per output row, (OW, C) -> OW*C values, and the per-channel
    weights are tiled OW times to match, so every NumPy inner loop runs over OW*C values
    instead of C (broadcasting a (C,) vector makes NumPy loop over C at a time, ~2x slower).
    The chunks are split across two threads (``in_parallel``). In the backward pass dK[a, b'] is
    one fused ``einsum`` per tap, db is summed per chunk without BLAS, and at stride 1 dx is
    computed like a forward pass, from G zero-padded by kh-1 rows and kw-1 columns (fewer where
    the padding of x makes them unnecessary) and the flipped kernel:

        dx[n,y,x,c] = sum_{a,b'} G[n, y + top - a*dh, x + left - b'*dw, c] * K[a,b',c]   (G = 0 outside)
    """

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1)):
        kh, kw, channels, multiplier = kernel.shape
        if x.ndim != 4 or kernel.ndim != 4 or x.shape[3] != channels:
            raise ValueError(f"DepthwiseConv2D expects x (N, H, W, C) and a kernel (kh, kw, C, dm) with the same C; "
                             f"got shapes {x.shape} and {kernel.shape}")
        geo = self.geo = _Geometry(x.shape, (kh, kw), strides, padding, dilation_rate)
        self.kernel, self.has_bias = kernel, bias is not None
        self.dtype = np.result_type(x.dtype, kernel.dtype)
        if multiplier == 1:
            self.x, self.xp = x, None
            return self._forward_chunked(x, kernel, bias)
        xp = self.xp = geo.pad(x)
        # Accumulate each multiplier m in its own contiguous (N, OH, OW, C) slab: one broadcast
        # multiply-add per (tap, m) over the whole tensor, no loop over channels or pixels.
        y = np.zeros((multiplier, geo.n, geo.oh, geo.ow, channels), dtype=self.dtype)
        for a in range(kh):
            for b in range(kw):
                window = xp[geo.tap(a, b)]  # (N, OH, OW, C), a strided view
                for m in range(multiplier):
                    y[m] += window * kernel[a, b, :, m]
        y = np.moveaxis(y, 0, -1) if multiplier > 1 else y[0][..., None]
        y = y.reshape(geo.n, geo.oh, geo.ow, channels * multiplier)  # channel index c*dm + m
        if bias is not None:
            y += bias
        return y

    # -- dm = 1: chunks of the batch, tap by tap -------------------------------------------------------
    def _chunks(self):
        geo = self.geo
        padded = geo.padded_shape
        per_sample = padded[1] * padded[2] * padded[3] * self.dtype.itemsize
        size = max(1, DEPTHWISE_CHUNK_BYTES // max(per_sample, 1))
        return [(start, min(start + size, geo.n)) for start in range(0, geo.n, size)]

    def _tap_weights(self, kernel):
        """Per tap (a, b') the weights K[a, b', :, 0], tiled OW times when taps are row-contiguous."""
        geo = self.geo
        reps = geo.ow if geo.sw == 1 else 1
        return [np.tile(kernel[a, b, :, 0].astype(self.dtype, copy=False), reps)
                for a in range(geo.kh) for b in range(geo.kw)]

    def _rows(self, view):
        """A (n, OH, OW, C) tap view as (n, OH, OW*C) when width stride is 1 (no copy), else as is."""
        n, oh, ow, c = view.shape
        if self.geo.sw != 1:
            return view
        assert view.strides[3] == view.itemsize and view.strides[2] == c * view.itemsize
        return view.reshape(n, oh, ow * c)

    def _taps(self):
        return [(a, b) for a in range(self.geo.kh) for b in range(self.geo.kw)]

    def _forward_chunked(self, x, kernel, bias):
        geo = self.geo
        y = np.empty((geo.n, geo.oh, geo.ow, geo.c), dtype=self.dtype)
        weights = self._tap_weights(kernel)
        bias_row = None if bias is None else np.tile(bias.astype(self.dtype, copy=False), geo.ow if geo.sw == 1 else 1)

        def forward_chunks(chunks):  # y[chunk] = sum over taps of window * K[a, b'] (+ b)
            for start, stop in chunks:
                xp = geo.pad(x[start:stop])
                out = self._rows(y[start:stop])
                work = np.empty(out.shape, dtype=self.dtype)
                for t, (a, b) in enumerate(self._taps()):
                    window = self._rows(xp[geo.tap(a, b)])
                    if t == 0:
                        np.multiply(window, weights[0], out=out)
                    else:
                        out += np.multiply(window, weights[t], out=work)
                if bias_row is not None:
                    out += bias_row

        in_parallel(forward_chunks, self._chunks())
        return y

    def _backward_chunked(self, g):
        geo, kernel = self.geo, self.kernel
        need_x, need_k = self.needs_input_grad[0], self.needs_input_grad[1]
        need_b = self.has_bias and self.needs_input_grad[2]
        g = np.ascontiguousarray(g)
        dx = np.empty(self.x.shape, dtype=self.dtype) if need_x else None
        stride_one = geo.sh == geo.sw == 1
        if need_x and stride_one:  # dx as a correlation of padded G with the flipped kernel (see below)
            g_pads, g_origin = self._input_grad_geometry()
            weights = [np.tile(kernel[a, b, :, 0].astype(self.dtype, copy=False), geo.w) for a, b in self._taps()]
        elif need_x:
            weights = self._tap_weights(kernel)

        def backward_chunks(chunks):  # fills dx[chunks]; returns this share's dK and db (float64) or None
            dkernel = np.zeros((geo.kh * geo.kw, geo.c), dtype=np.float64) if need_k else None
            dbias = np.zeros(geo.c, dtype=np.float64) if need_b else None
            for start, stop in chunks:
                g_chunk = self._rows(g[start:stop])
                if need_b:  # db = sum of G over pixels (no BLAS call: its spinning threads would take a core)
                    rows = g_chunk.reshape(-1, g_chunk.shape[-1])
                    dbias += np.einsum("pr->r", rows).reshape(-1, geo.c).sum(axis=0)
                if need_k:
                    xp = geo.pad(self.x[start:stop])
                    for t, (a, b) in enumerate(self._taps()):
                        # dK[a, b'] = sum over pixels of window * G: one fused einsum, then a sum over OW
                        window = self._rows(xp[geo.tap(a, b)])
                        if window.ndim == 3:  # (n, OH, OW*C)
                            dkernel[t] += np.einsum("nir,nir->r", window, g_chunk).reshape(-1, geo.c).sum(axis=0)
                        else:
                            dkernel[t] += np.einsum("nijc,nijc->c", window, g_chunk)
                if need_x and stride_one:
                    self._input_grad_chunk(g[start:stop], dx[start:stop], weights, g_pads, g_origin)
                elif need_x:  # strides > 1: dxp[tap] += G * K[a, b'], then crop the padding
                    work = np.empty(g_chunk.shape, dtype=self.dtype)
                    dxp = np.zeros((stop - start,) + geo.padded_shape[1:], dtype=self.dtype)
                    for t, (a, b) in enumerate(self._taps()):
                        self._rows(dxp[geo.tap(a, b)])[...] += np.multiply(g_chunk, weights[t], out=work)
                    dx[start:stop] = geo.unpad(dxp)
            return dkernel, dbias

        shares = in_parallel(backward_chunks, self._chunks())
        dkernel = sum(k for k, _ in shares).astype(self.dtype).reshape(kernel.shape) if need_k else None
        dbias = sum(b for _, b in shares).astype(self.dtype) if need_b else None
        return dx, dkernel, dbias

    def _input_grad_geometry(self):
        """At stride 1, dx[n,y,x,c] = sum_{a,b'} G[n, y + top - a*dh, x + left - b'*dw, c] * K[a,b',c]
        with G zero outside its (OH, OW) extent. G is padded by ``g_pads`` so every such index
        exists; tap (a, b') then reads padded G from row ``row0 - a*dh``, column ``col0 - b'*dw``.
        """
        geo = self.geo
        top, left = geo.pad_h[0], geo.pad_w[0]
        before_h, before_w = max(0, (geo.kh - 1) * geo.dh - top), max(0, (geo.kw - 1) * geo.dw - left)
        after_h, after_w = max(0, geo.h + top - geo.oh), max(0, geo.w + left - geo.ow)
        return ((before_h, after_h), (before_w, after_w)), (top + before_h, left + before_w)

    def _input_grad_chunk(self, g, dx, weights, g_pads, origin):
        """dx (a chunk) = sum over taps of a shifted window of padded G times K[a, b']: a forward pass."""
        geo = self.geo
        gp = pad_spatial(g, *g_pads)
        out = self._rows(dx)
        work = np.empty(out.shape, dtype=self.dtype)
        for t, (a, b) in enumerate(self._taps()):
            row, col = origin[0] - a * geo.dh, origin[1] - b * geo.dw
            window = self._rows(gp[:, row:row + geo.h, col:col + geo.w, :])
            if t == 0:
                np.multiply(window, weights[0], out=out)
            else:
                out += np.multiply(window, weights[t], out=work)

    def backward(self, grad_output):
        geo, kernel = self.geo, self.kernel
        kh, kw, channels, multiplier = kernel.shape
        dbias = None
        if self.has_bias and self.needs_input_grad[2] and multiplier > 1:
            g_rows = grad_output.reshape(-1, grad_output.shape[-1])
            dbias = np.ones(len(g_rows), dtype=self.dtype) @ g_rows  # sum over (N, OH, OW), by BLAS
        if multiplier == 1:
            dx, dkernel, dbias = self._backward_chunked(grad_output)
            return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)
        # G as dm contiguous slabs g[m] of shape (N, OH, OW, C), matching the forward pass.
        g = np.moveaxis(grad_output.reshape(geo.n, geo.oh, geo.ow, channels, multiplier), -1, 0)
        if multiplier > 1:
            g = np.ascontiguousarray(g)
        dkernel = dx = None
        if self.needs_input_grad[1]:
            dkernel = np.empty(kernel.shape, dtype=self.dtype)
            for a in range(kh):
                for b in range(kw):
                    window = self.xp[geo.tap(a, b)]
                    for m in range(multiplier):
                        dkernel[a, b, :, m] = np.einsum("nijc,nijc->c", window, g[m])
        if self.needs_input_grad[0]:
            dxp = np.zeros(geo.padded_shape, dtype=self.dtype)
            for a in range(kh):
                for b in range(kw):
                    target = dxp[geo.tap(a, b)]
                    for m in range(multiplier):
                        target += g[m] * kernel[a, b, :, m]
            dx = geo.unpad(dxp)
        return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)


# -- functional API ---------------------------------------------------------------------------------------
def conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1, bias=None):
    """Differentiable 2-D convolution. x (N, H, W, C), kernel (kh, kw, C/groups, F) -> (N, OH, OW, F).

    ``strides`` and ``dilation_rate`` are ints or pairs; ``padding`` is "valid" or "same"
    (Keras's split); ``bias`` (F,) is optional and fused into the op.
    """
    params = dict(strides=_pair(strides, "strides"), padding=str(padding).lower(),
                  dilation_rate=_pair(dilation_rate, "dilation_rate"), groups=int(groups))
    if bias is None:
        return Conv2D.apply(x, kernel, **params)
    return Conv2D.apply(x, kernel, bias, **params)


def depthwise_conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1, bias=None):
    """Differentiable depthwise convolution. x (N, H, W, C), kernel (kh, kw, C, dm) -> (N, OH, OW, C*dm)."""
    params = dict(strides=_pair(strides, "strides"), padding=str(padding).lower(),
                  dilation_rate=_pair(dilation_rate, "dilation_rate"))
    if bias is None:
        return DepthwiseConv2D.apply(x, kernel, **params)
    return DepthwiseConv2D.apply(x, kernel, bias, **params)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", dilation_rate=1,
                     bias=None):
    """Depthwise conv (strides, padding, dilation) then a 1x1 pointwise conv, no bias in between.

    x (N, H, W, C), depthwise_kernel (kh, kw, C, dm), pointwise_kernel (1, 1, C*dm, F) -> (N, OH, OW, F):

        y = conv2d(depthwise_conv2d(x, depthwise_kernel), pointwise_kernel) + b

    Both steps are recorded on the tape, so the gradients are those of the two ops chained.
    """
    hidden = depthwise_conv2d(x, depthwise_kernel, strides, padding, dilation_rate)
    return conv2d(hidden, pointwise_kernel, bias=bias)


__all__ = ["Conv2D", "DepthwiseConv2D", "conv2d", "depthwise_conv2d", "separable_conv2d",
           "conv_output_length", "same_padding", "PATCH_BUDGET_BYTES"]
