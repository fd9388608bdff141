"""Fast tier of the convolutions: im2col in chunks, blocked kernel gradients (DepthwiseConv2D: depthwise.py).

Each class here subclasses the op of ``numpy_nn/ops/conv.py`` it must equal (same arguments,
same numbers up to float rounding; tests/test_kernels_conv.py checks it) and only changes how
the numbers are computed.

Conv2D, "im2col": the padded input is viewed as a (N, OH, OW, kh, kw, C) array of sliding
windows without copying (``WindowGeometry.windows``), copied once into a contiguous patch
matrix P of shape (N*OH*OW, kh*kw*C), and multiplied with the kernel reshaped to (kh*kw*C, F)
in ONE matrix product (BLAS does the work). P is kept for the kernel gradient, dK = P^T @ dY.
The batch goes through in chunks whose patch matrix stays under ``CHUNK_BYTES`` (16 MiB):
glibc serves blocks above 32 MiB with a fresh ``mmap`` whose pages fault on first write (6 ms
of 20 for a 37.7 MB P, measured; see ``numpy_nn.ops.kernels.buffers``), and smaller products
keep their output in cache. The chunks' P are kept for dK unless all of them together exceed
``PATCH_BUDGET_BYTES``; then they are rebuilt in the backward pass.
"""
import numpy as np

from ...autograd.function import fast_kernel_for
from .. import conv as reference
from ..geometry import WindowGeometry
from . import winograd
from .buffers import empty
from .normalization import column_sums

PATCH_BUDGET_BYTES = 256 * 2**20  # largest patch matrix kept in memory for the backward pass
CHUNK_BYTES = 16 * 2**20  # patch matrix of one chunk of the batch (see the module docstring)
SMALL_GRAM, GRAM_BLOCK = 8192, 4096  # kernel gradients with at most SMALL_GRAM entries: by row blocks


def pad_spatial(x, pad_h, pad_w, value=0):
    """x (N, H, W, C) with ``pad_h = (top, bottom)`` rows and ``pad_w = (left, right)`` columns of ``value`` added.

    Same result as ``np.pad``, written as one copy of x into a new array whose border alone is filled.
    """
    (top, bottom), (left, right) = pad_h, pad_w
    n, h, w, c = x.shape
    xp = empty((n, top + h + bottom, left + w + right, c), x.dtype)  # recycled (buffers.py)
    xp[:, :top] = value
    xp[:, top + h:] = value
    xp[:, top:top + h, :left] = value
    xp[:, top:top + h, left + w:] = value
    xp[:, top:top + h, left:left + w] = x
    return xp


def _pad(geo, x):
    """``geo.pad(x)`` by ``pad_spatial`` (no copy for 'valid')."""
    if all(p == (0, 0) for p in geo.pads):
        return x
    return pad_spatial(x, *geo.pads)


def _padded_shape(geo, n=None):
    return (geo.n if n is None else n,) + geo.padded_spatial + (geo.channels,)


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


@fast_kernel_for(reference.Conv2D)
class Conv2D(reference.Conv2D):
    """Fast tier of ``numpy_nn.ops.conv.Conv2D`` (it must give the same numbers): im2col by chunks.

    Forward: Y = P @ K_matrix + b, chunk by chunk of the batch (module docstring), written
    into y in place. Backward: dK = P^T @ G per chunk (``_gram``: by row blocks when dK is
    small), db = sum of G, and dx tap by tap: for kernel tap (a, b'), ``G @ K[a,b']^T`` (one
    matmul) is added into the slice of dx that tap touched (at stride 1 straight into dx,
    clipped to it; under "same" padding the centre tap's product is written, not added, so dx
    needs no zero fill); at stride > 1 the product G @ K^T for all taps is done as one matmul
    first ("col2im") into a padded dxp, which measured faster. 2-D only. With Winograd switched
    on (``NUMPY_NN_WINOGRAD``, off by default), 3x3 stride-1 calls go to ``kernels/winograd.py``.
    """
    winograd = None  # a winograd.WinogradConv2D when this call runs by Winograd tiles

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1):
        self.winograd = winograd.plan(x, kernel, bias, strides, padding, dilation_rate, groups)
        if self.winograd is not None:
            self.has_bias = bias is not None
            return self.winograd.forward()
        self.im2col = x.ndim == 4 and kernel.ndim == 4
        if not self.im2col:
            return super().forward(x, kernel, bias, strides, padding, dilation_rate, groups)
        kh, kw, c_per_group, filters = kernel.shape
        if x.shape[3] != c_per_group * groups or filters % groups:
            raise ValueError(f"Conv2D: input has {x.shape[3]} channels and the kernel has shape {kernel.shape} "
                             f"with groups={groups}; expected kernel (kh, kw, {x.shape[3] // max(groups, 1)}, "
                             f"F) with F divisible by {groups}")
        geo = self.geo = WindowGeometry(x.shape, (kh, kw), strides, padding, dilation_rate, what="Conv2D")
        (oh, ow), n = geo.out, geo.n
        self.groups, self.kernel, self.has_bias = groups, kernel, bias is not None
        self.dtype = np.result_type(x.dtype, kernel.dtype)
        xp = self.xp = _pad(geo, x)
        # Kernel as `groups` matrices (kh*kw*C_g, F_g): rows in (a, b', c) order like the patches.
        self.kernel_matrices = self._kernel_matrices(kernel)
        bytes_per_sample = oh * ow * kh * kw * geo.channels * x.dtype.itemsize
        pieces = -(-n * bytes_per_sample // CHUNK_BYTES)  # ceil: the fewest chunks under CHUNK_BYTES
        self.chunk = max(1, -(-n // max(pieces, 1)))  # samples per chunk, balanced (1 for an empty batch)
        keep = n * bytes_per_sample <= PATCH_BUDGET_BYTES
        y = empty((n, oh, ow, filters), self.dtype)  # recycled (buffers.py): no page faults on a fresh array
        kept = []
        for start in range(0, n, self.chunk):
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
        (kh, kw), (oh, ow), c = geo.kernel, geo.out, geo.channels
        windows = geo.windows(xp)  # (N, OH, OW, kh, kw, C)
        rows = windows.shape[0] * oh * ow
        if groups == 1:
            if kh == kw == 1 and geo.strides == (1, 1) and xp.flags.c_contiguous:
                return xp.reshape(1, rows, c)  # a 1x1 conv: the input already is the patch matrix
            patches = empty((1, rows, kh * kw * c), xp.dtype)
            np.copyto(patches.reshape(windows.shape), windows)
            return patches
        split = windows.reshape(windows.shape[:5] + (groups, c // groups))
        return np.ascontiguousarray(split.transpose(5, 0, 1, 2, 3, 4, 6)).reshape(groups, rows, -1)

    def _chunk_starts(self):
        return range(0, self.geo.n, self.chunk)

    def backward(self, grad_output):
        if self.winograd is not None:
            need_b = self.has_bias and self.needs_input_grad[2]
            dx, dkernel, dbias = self.winograd.backward(grad_output, *self.needs_input_grad[:2], need_b)
            return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)
        if not self.im2col:  # the forward pass ran the reference
            return super().backward(grad_output)
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
            dbias = column_sums(np.ascontiguousarray(g).reshape(-1, g.shape[-1]))  # BLAS ones @ G: 0.15 vs 0.85 ms
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
        (oh, ow) = geo.out
        if geo.strides == (1, 1):
            return self._input_grad_stride_one(g)
        # Strides > 1, col2im: dP = G @ K^T for all taps at once, then each tap's columns go back to dxp.
        dxp = empty(_padded_shape(geo), self.dtype)
        dxp.fill(0)
        for start in self._chunk_starts():
            g_rows = self._split_filters(g[start:start + self.chunk])
            dpatches = np.matmul(g_rows, self.kernel_matrices.transpose(0, 2, 1))  # (G, rows, kh*kw*C_g)
            dpatches = dpatches.reshape(groups, -1, oh, ow, kh, kw, c_per_group)
            chunk = dxp[start:start + self.chunk]
            for a in range(kh):
                for b in range(kw):
                    target = chunk[geo.tap((a, b))]
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
        (n, (h, w), c), (oh, ow), (dh, dw) = (geo.n, geo.spatial, geo.channels), geo.out, geo.dilation
        f_per_group = filters // groups
        top, left = geo.pads[0][0], geo.pads[1][0]
        g_rows = g.reshape(-1, filters)  # the whole batch: few, large BLAS calls
        taps = [(a, b) for a in range(kh) for b in range(kw)]
        first = None
        if groups == 1 and (oh, ow) == (h, w) and top % dh == 0 and left % dw == 0 \
                and top // dh < kh and left // dw < kw:
            first = (top // dh, left // dw)
        if first is not None:
            dx = empty((n, h, w, c), self.dtype)  # recycled (buffers.py)
            np.matmul(g_rows, self.kernel[first[0], first[1]].T, out=dx.reshape(-1, c))
            taps.remove(first)
        else:
            dx = empty((n, h, w, c), self.dtype)
            dx.fill(0)
        product = empty((n, oh, ow, c_per_group), self.dtype)
        for a, b in taps:
            row, col = a * dh - top, b * dw - left  # dx row of output row 0, dx column of output column 0
            y0, y1, x0, x1 = max(row, 0), min(h, oh + row), max(col, 0), min(w, ow + col)
            if y0 >= y1 or x0 >= x1:
                continue  # this tap only ever meets padding
            for group in range(groups):
                k_t = np.ascontiguousarray(self.kernel[a, b, :, group * f_per_group:(group + 1) * f_per_group].T)
                np.matmul(g_rows[:, group * f_per_group:(group + 1) * f_per_group], k_t,
                          out=product.reshape(-1, c_per_group))
                dx[:, y0:y1, x0:x1, group * c_per_group:(group + 1) * c_per_group] += \
                    product[:, y0 - row:y1 - row, x0 - col:x1 - col]
        return dx


__all__ = ["Conv2D", "Conv1D", "pad_spatial", "PATCH_BUDGET_BYTES", "CHUNK_BYTES", "GRAM_BLOCK", "SMALL_GRAM"]


@fast_kernel_for(reference.Conv1D)
class Conv1D(reference.Conv1D):
    """Fast tier of ``numpy_nn.ops.conv.Conv1D`` (same numbers): the 2-D im2col kernel above on a
    height-1 image. x (N, L, C) is viewed as (N, 1, L, C) and the kernel (k, C/g, F) as
    (1, k, C/g, F), strides (1, s), dilation (1, d); "causal" pads d*(k - 1) zeros before the
    sequence and runs "valid" (the first d*(k - 1) rows of the padded input gradient are dropped).
    One patch matrix and one BLAS call per chunk instead of k small products per tap: on a busy
    2-core machine each threaded BLAS call can wait for a core, so fewer calls is what counts.
    """

    def forward(self, x, kernel, bias=None, strides=(1,), padding="valid", dilation_rate=(1,), groups=1):
        if x.ndim != 3 or kernel.ndim != 3:
            return super().forward(x, kernel, bias, strides, padding, dilation_rate, groups)
        (k,), (s,), (d,) = kernel.shape[:1], strides, dilation_rate
        self.before = d * (k - 1) if padding == "causal" else 0
        if padding == "causal":
            if self.before:
                x = np.concatenate([np.zeros((x.shape[0], self.before, x.shape[2]), dtype=x.dtype), x], axis=1)
            padding = "valid"
        self.inner = Conv2D()
        y = self.inner.forward(x[:, None], kernel[None], bias, (1, s), padding, (1, d), groups)
        return y[:, 0]

    def backward(self, grad_output):
        if not hasattr(self, "inner"):
            return super().backward(grad_output)
        self.inner.needs_input_grad = self.needs_input_grad
        grads = list(self.inner.backward(grad_output[:, None]))
        if grads[0] is not None:
            grads[0] = grads[0][:, 0, self.before:]
        if grads[1] is not None:
            grads[1] = grads[1][0]
        return tuple(grads)
