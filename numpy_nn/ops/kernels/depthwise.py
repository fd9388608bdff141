"""Fast tier of DepthwiseConv2D: every kernel tap summed in ONE fused multiply-add pass per tap, in cache.

The op (``numpy_nn.ops.conv.DepthwiseConv2D``, which this kernel must equal; tests/test_kernels_depthwise.py
checks it) is a sum over the kh*kw kernel taps of a shifted input slice times a per-channel weight:

    y[n,i,j,c] = b[c] + sum_{a,b'} xp[n, i*sh + a*dh, j*sw + b'*dw, c] * K[a,b',c]

NumPy has no fused multiply-add ufunc: ``out += window * w`` is two passes over the data
(a multiply into a temporary, an add), and a (C,) weight vector broadcast over (N, H, W, C)
makes every inner loop only C values long. What this module does instead:

* **One ``einsum`` call for all taps.** In channels-last layout the window of tap (a, b') is
  the padded input shifted by a*dh rows and b'*dw columns, so an output row (OW, C) reads one
  contiguous run of OW*C values. All kh*kw windows together are ONE strided view X of shape
  (kh, kw, n, OH, OW*C) (strides: dh rows, dw*C values, a sample, sh rows, 1 value), and
  ``einsum("abnir,abr->nir", X, W)`` with W[a, b', :] = K[a, b', :] tiled OW times sums
  the taps: NumPy's einsum runs ``out[r] += x[r] * w[r]`` as one SIMD pass per tap (no
  temporary, one loop over OW*C values): 0.12 ns per tap and value against 0.22 for
  multiply + add (``python -m benchmarks.depthwise``).
  ``einsum`` without ``optimize`` never calls BLAS, so it may run in pool threads.
* **Chunks of about a megabyte.** The batch (and, for large images, the output rows of one
  sample) goes through in chunks whose padded input block stays under ``BLOCK_BYTES`` (1 MiB):
  the block, the output rows and W stay in the core's L2/L3 through all taps, and the chunks
  are large enough that the per-call costs (einsum set-up, halo rows) stay small and there are
  several chunks for the threads. Each chunk is padded into a per-thread scratch block (zero
  border, one copy of the input); with 'valid' padding at width stride 1 the input slice itself
  is the block (no copy).
* **Width stride > 1** would break the contiguous runs (a column every sw*C values). Each chunk
  is split into its column phases ``xp[:, :, p::sw]`` while it is padded (the same one copy);
  tap (a, b') reads phase (b'*dw) % sw from column (b'*dw) // sw on, so the taps of one phase
  are again one strided view, one ``einsum`` per phase (the later phases added to the first).
* **Both cores**: chunks are handed out to the threads of ``threads.map_chunks``; partial sums
  (dK, db) come back per chunk and are added in chunk order in float64, so the result does not
  depend on the number of threads. Outputs come from ``buffers.empty`` (recycled pages).

Backward, with G = dL/dy in the same (n, OH, OW*C) rows:

    dK[a,b',c] = sum_{n,i,j} xp[n, i*sh + a*dh, j*sw + b'*dw, c] * G[n,i,j,c]
               = (per tap, einsum("nir,nir->r", X[a, b'], G) over the chunks) summed over the OW positions of r
    db[c]      = sum_{n,i,j} G[n,i,j,c]
    dx         (stride 1) a tap sum of the same kind over G zero-padded by the other sides and the
               kernel flipped:  dx[n,y,x,c] = sum_{a,b'} G[n, y + top - a*dh, x + left - b'*dw, c] * K[a,b',c]
               (strides > 1) phase by phase: padded row sh*m + ph of x only receives the taps with
               a*dh = ph (mod sh), from G row m - (a*dh)//sh (columns alike), so each of the sh*sw
               phases of dx is a stride-1 tap sum over G with those taps, flipped.

At stride 1 the backward pass computes dx, dK and db in one pass over each chunk of samples (G is
read from memory once). Partial sums are float32 within a chunk (a few hundred terms at most:
OH*n rows of one OW*C position) and float64 across chunks and over the OW positions.

A depth multiplier dm > 1 is the dm = 1 case on x with each channel repeated dm times
(``np.repeat(x, dm, axis=3)``: channel c*dm + m of the output reads channel c), with the
kernel (kh, kw, C, dm) read as (kh, kw, C*dm); dx then sums the dm copies back.
"""
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...autograd.function import fast_kernel_for
from .. import conv as reference
from ..geometry import WindowGeometry
from .buffers import empty
from . import threads

BLOCK_BYTES = 2**20  # padded input block of one chunk (its size measured in docs/performance.md)
_scratch_arrays = threading.local()  # per-thread scratch blocks, reused from chunk to chunk


def _scratch(slot, shape, dtype):
    """A per-thread array of ``shape`` for ``slot`` (contents arbitrary), reused by later chunks."""
    arrays = _scratch_arrays.__dict__.setdefault("arrays", {})
    size = int(np.prod(shape))
    flat = arrays.get((slot, dtype))
    if flat is None or flat.size < size:
        flat = arrays[(slot, dtype)] = np.empty(size, dtype)
    return flat[:size].reshape(shape)


def _map(work, chunks, nbytes):
    """``[work(chunk) for chunk in chunks]`` on both cores (``threads.map_chunks``), in the calling
    thread alone when the arrays are under ``threads.PARALLEL_MIN_BYTES`` (a hand-off costs more)."""
    if nbytes < threads.PARALLEL_MIN_BYTES:
        return [work(chunk) for chunk in chunks]
    return threads.map_chunks(work, chunks)


def _rows(array, n, rows):
    """(n, rows, W, C) as (n, rows, W*C), always a view (raises rather than copy)."""
    return np.reshape(array, (n, rows, -1), copy=False)


class TapSum:
    """One depthwise correlation of fixed geometry, run chunk by chunk (the module docstring's method):

        out[n,i,j,c] = sum_{a,b'} src_pad[n, i*sh + a*dh, j*sw + b'*dw, c] * K[a,b',c]

    src (N, H, W, C), zero-padded by ``pads = ((top, bottom), (left, right))``; out (N, OH, OW, C).
    The taps are grouped by column phase p = (b'*dw) % sw: a group is (p, first column, column
    step, block width, its b' indices, its weights tiled to (kh, taps, OW*C)).
    """

    def __init__(self, src_shape, kernel, pads, strides, dilation, out_hw, dtype):
        self.n, self.h, self.w, self.c = src_shape
        self.kh, self.kw = kernel.shape[:2]
        self.pads, self.strides, self.dilation, self.out = pads, strides, dilation, tuple(out_hw)
        self.dtype = np.dtype(dtype)
        (sh, sw), (dh, dw), ow = strides, dilation, self.out[1]
        self.groups = []
        for p in range(sw):
            taps = [b for b in range(self.kw) if (b * dw) % sw == p]
            if taps:
                cols = [(b * dw) // sw for b in taps]  # an arithmetic progression
                step = cols[1] - cols[0] if len(cols) > 1 else 1
                weights = np.tile(kernel[:, taps].astype(self.dtype, copy=False), (1, 1, ow))
                self.groups.append((p, cols[0], step, cols[-1] + ow, taps, weights))
        # 'valid' at width stride 1: the slice of src is its own block (no copy)
        self.copy_free = sw == 1 and all(p == (0, 0) for p in pads)

    def block_rows(self, rows):
        """Padded input rows that ``rows`` output rows read."""
        return (rows - 1) * self.strides[0] + (self.kh - 1) * self.dilation[0] + 1

    def chunks(self):
        """(s0, s1, i0, i1): samples s0:s1, output rows i0:i1; blocks under ``BLOCK_BYTES``."""
        oh, itemsize = self.out[0], self.dtype.itemsize
        row_bytes = sum(width for *_, width, _, _ in self.groups) * self.c * itemsize
        per_sample = self.block_rows(oh) * row_bytes
        if self.n == 0:
            return []
        if per_sample <= BLOCK_BYTES:  # whole samples, as many as fit, the chunks balanced
            size = max(1, BLOCK_BYTES // max(per_sample, 1))
            size = -(-self.n // max(1, -(-self.n // size)))
            return [(s, min(s + size, self.n), 0, oh) for s in range(0, self.n, size)]
        rows = max(1, BLOCK_BYTES // (self.strides[0] * row_bytes))  # else rows of one sample
        rows = -(-oh // -(-oh // rows))
        return [(s, s + 1, i, min(i + rows, oh)) for s in range(self.n) for i in range(0, oh, rows)]

    def block(self, src, chunk, group):
        """The zero-padded rows of src that output rows i0:i1 read, column phase p only: (n, R, width, C)."""
        s0, s1, i0, i1 = chunk
        p, _, _, width, _, _ = group
        (sh, sw), ((top, _), (left, _)) = self.strides, self.pads
        r0, rows = i0 * sh, self.block_rows(i1 - i0)  # first padded row, block rows
        if self.copy_free:
            return src[s0:s1, r0:r0 + rows]
        block = _scratch(("block", p), (s1 - s0, rows, width, self.c), self.dtype)
        r_lo, r_hi = max(0, top - r0), min(rows, self.h + top - r0)  # block rows inside src
        q_lo = min(width, max(0, -(-(left - p) // sw)))  # block columns inside src
        q_hi = max(q_lo, min(width, -(-(self.w + left - p) // sw)))
        r_hi = max(r_lo, r_hi)
        block[:, :r_lo] = 0
        block[:, r_hi:] = 0
        block[:, r_lo:r_hi, :q_lo] = 0
        block[:, r_lo:r_hi, q_hi:] = 0
        if q_hi > q_lo:
            c0 = p + q_lo * sw - left
            block[:, r_lo:r_hi, q_lo:q_hi] = src[s0:s1, r0 + r_lo - top:r0 + r_hi - top,
                                                 c0:c0 + (q_hi - q_lo - 1) * sw + 1:sw]
        return block

    def windows(self, block, group, rows):
        """Every tap of ``group`` as one read-only view (kh, taps, n, rows, OW*C) of ``block``."""
        _, col0, step, _, taps, _ = group
        (sh, _), (dh, _), ow = self.strides, self.dilation, self.out[1]
        s_n, s_row, s_col, s_c = block.strides
        item = block.itemsize  # a row's (width, C) values must be one run (strides of length-1 axes do not count)
        assert (self.c == 1 or s_c == item) and (block.shape[2] == 1 or s_col == self.c * item)
        shape = (self.kh, len(taps), block.shape[0], rows, ow * self.c)
        return as_strided(block[:, :, col0:], shape, (dh * s_row, step * self.c * item, s_n, sh * s_row, item),
                          writeable=False)

    def run(self, src, out, chunk, bias_row=None):
        """out[chunk] = the tap sum over src (+ bias_row, the bias tiled OW times)."""
        s0, s1, i0, i1 = chunk
        self.sum_into(src, chunk, _rows(out[s0:s1, i0:i1], s1 - s0, i1 - i0), bias_row)

    def sum_into(self, src, chunk, target, bias_row=None):
        """target (n, rows, OW*C) = the tap sum of ``chunk`` over src (+ bias_row)."""
        rows = chunk[3] - chunk[2]
        for index, group in enumerate(self.groups):
            view = self.windows(self.block(src, chunk, group), group, rows)
            if index == 0:
                np.einsum("abnir,abr->nir", view, group[-1], out=target)
            else:
                partial = _scratch("partial", target.shape, self.dtype)
                np.einsum("abnir,abr->nir", view, group[-1], out=partial)
                np.add(target, partial, out=target)
        if bias_row is not None:
            np.add(target, bias_row, out=target)

    def kernel_gradient(self, src, g, chunk):
        """This chunk's sum over (n, i) of window * G, shape (kh, kw, OW*C), float64."""
        s0, s1, i0, i1 = chunk
        g_rows = _rows(g[s0:s1, i0:i1], s1 - s0, i1 - i0)
        total = np.empty((self.kh, self.kw, g_rows.shape[-1]), dtype=np.float64)
        for group in self.groups:
            view = self.windows(self.block(src, chunk, group), group, i1 - i0)
            for a in range(self.kh):  # one einsum per tap: faster than one for all taps (0.12 vs 0.17 ns a term)
                for t, b in enumerate(group[4]):
                    total[a, b] = np.einsum("nir,nir->r", view[a, t], g_rows)
        return total


@fast_kernel_for(reference.DepthwiseConv2D)
class DepthwiseConv2D(reference.DepthwiseConv2D):
    """Fast tier of ``numpy_nn.ops.conv.DepthwiseConv2D`` (same numbers): taps summed by one strided
    ``einsum`` per column phase over chunks in cache, on both cores (module docstring). Inputs of
    other ranks run the reference."""

    def forward(self, x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1)):
        self.fast = x.ndim == 4 and kernel.ndim == 4
        if not self.fast:
            return super().forward(x, kernel, bias, strides, padding, dilation_rate)
        kh, kw, channels, multiplier = kernel.shape
        if x.shape[3] != channels:
            raise ValueError(f"DepthwiseConv2D expects x (N, H, W, C) and a kernel (kh, kw, C, dm) with the same C; "
                             f"got shapes {x.shape} and {kernel.shape}")
        geo = self.geo = WindowGeometry(x.shape, (kh, kw), strides, padding, dilation_rate, what="DepthwiseConv2D")
        self.dtype = dtype = np.result_type(x.dtype, kernel.dtype)
        self.kernel_shape, self.has_bias = kernel.shape, bias is not None
        x = np.ascontiguousarray(x, dtype=dtype)  # a channels_first input arrives transposed
        if multiplier > 1:
            x = np.repeat(x, multiplier, axis=3)  # channel c*dm + m holds x[..., c]
        self.x, self.kernel = x, kernel.reshape(kh, kw, channels * multiplier).astype(dtype, copy=False)
        self.taps = TapSum(x.shape, self.kernel, geo.pads, geo.strides, geo.dilation, geo.out, dtype)
        y = empty((geo.n,) + geo.out + (x.shape[3],), dtype)
        bias_row = None if bias is None else np.tile(bias.astype(dtype, copy=False), geo.out[1])
        _map(lambda chunk: self.taps.run(x, y, chunk, bias_row), self.taps.chunks(), x.nbytes + y.nbytes)
        return y

    def backward(self, grad_output):
        if not self.fast:
            return super().backward(grad_output)
        geo, taps = self.geo, self.taps
        g = np.ascontiguousarray(grad_output, dtype=self.dtype)
        need_x, need_k = self.needs_input_grad[0], self.needs_input_grad[1]
        need_b = self.has_bias and self.needs_input_grad[2]
        dx = empty(self.x.shape, self.dtype) if need_x else None
        flipped = self._input_grad_taps(g) if need_x and geo.strides == (1, 1) else None
        chunks = taps.chunks()
        # dx in the same pass as dK and db when both cut the batch alike (G is then read from memory once)
        fused = flipped is not None and [c[:2] for c in chunks] == [c[:2] for c in flipped.chunks()] and \
            all(c[2] == 0 for c in chunks + flipped.chunks())

        def sums(chunk):  # this chunk's dx (if fused), dK and db partial sums
            s0, s1, i0, i1 = chunk
            if fused:
                flipped.run(g, dx, (s0, s1, 0, geo.spatial[0]))
            db = np.einsum("nir->r", _rows(g[s0:s1, i0:i1], s1 - s0, i1 - i0)) if need_b else None  # (OW*C,)
            return taps.kernel_gradient(self.x, g, chunk) if need_k else None, db

        shares = _map(sums, chunks, self.x.nbytes + g.nbytes) if need_k or need_b or fused else []
        dkernel = dbias = None
        ow, c = geo.out[1], self.x.shape[3]
        if need_k:
            total = np.zeros((taps.kh, taps.kw, ow * c))
            for dk, _ in shares:  # in chunk order: no dependence on the thread count
                total += dk
            dkernel = total.reshape(taps.kh, taps.kw, ow, c).sum(axis=2).astype(self.dtype).reshape(self.kernel_shape)
        if need_b:
            dbias = np.zeros(ow * c)
            for _, db in shares:
                dbias += db
            dbias = dbias.reshape(ow, c).sum(axis=0).astype(self.dtype)
        if need_x and not fused:
            if flipped is not None:
                _map(lambda chunk: flipped.run(g, dx, chunk), flipped.chunks(), g.nbytes + dx.nbytes)
            else:
                self._phase_input_grad(g, dx)
        if need_x and self.kernel_shape[3] > 1:  # sum the dm copies of each channel
            dx = dx.reshape(dx.shape[:3] + self.kernel_shape[2:]).sum(axis=4)
        return (dx, dkernel, dbias) if self.has_bias else (dx, dkernel)

    def _input_grad_taps(self, g):
        """At stride 1, dx as a TapSum over G: G padded by the other sides, the kernel flipped."""
        geo = self.geo
        (kh, kw), (dh, dw), (h, w), (oh, ow) = geo.kernel, geo.dilation, geo.spatial, geo.out
        top, left = (kh - 1) * dh - geo.pads[0][0], (kw - 1) * dw - geo.pads[1][0]
        pads = ((top, h + (kh - 1) * dh - top - oh), (left, w + (kw - 1) * dw - left - ow))
        return TapSum(g.shape, self.kernel[::-1, ::-1], pads, (1, 1), geo.dilation, (h, w), self.dtype)

    def _phase_input_grad(self, g, dx):
        """Strides > 1: dx phase by phase. Padded row u = sh*m + ph of dxp only receives the taps a
        with a*dh = ph (mod sh), from G row m - (a*dh)//sh (columns alike), so each of the sh*sw
        phases of dx is a stride-1 TapSum over G with those taps flipped (pads may be negative:
        rows of G that phase never reads), written into dx[:, y0::sh, x0::sw]. A phase no tap
        reaches is zero."""
        geo = self.geo
        work = []
        for ph, pw in np.ndindex(*geo.strides):
            axes = [self._phase_axis(phase, k, d, s, pads[0], size, out)
                    for phase, k, d, s, pads, size, out in zip((ph, pw), geo.kernel, geo.dilation, geo.strides,
                                                                geo.pads, geo.spatial, geo.out)]
            if any(axis is None for axis in axes):
                continue  # this phase has no dx positions
            (rows_a, y0, m_h, step_h, pads_h), (cols_b, x0, m_w, step_w, pads_w) = axes
            target = dx[:, y0::geo.strides[0], x0::geo.strides[1]]
            if not rows_a or not cols_b:
                target[...] = 0
                continue
            kernel = self.kernel[np.array(rows_a)[::-1]][:, np.array(cols_b)[::-1]]
            plan = TapSum(g.shape, kernel, (pads_h, pads_w), (1, 1), (step_h, step_w), (m_h, m_w), self.dtype)
            work += [(plan, target, chunk) for chunk in plan.chunks()]

        def phase_chunk(item):
            plan, target, (s0, s1, i0, i1) = item
            rows = _scratch("phase", (s1 - s0, i1 - i0, plan.out[1], plan.c), self.dtype)
            plan.sum_into(g, (s0, s1, i0, i1), _rows(rows, s1 - s0, i1 - i0))
            target[s0:s1, i0:i1] = rows

        _map(phase_chunk, work, g.nbytes + dx.nbytes)

    @staticmethod
    def _phase_axis(phase, k, d, s, before, size, out):
        """One axis of a dx phase: (taps, first dx index, length, tap step, TapSum pads) or None if empty."""
        taps = [a for a in range(k) if (a * d) % s == phase]
        m_lo, m_hi = -(-(before - phase) // s), -(-(before + size - phase) // s)  # dxp index s*m + phase in x
        if m_hi <= m_lo:
            return None
        first = s * m_lo + phase - before
        if not taps:
            return taps, first, m_hi - m_lo, 1, (0, 0)
        offsets = [(a * d) // s for a in taps]  # G index m - offset: an arithmetic progression
        step = offsets[1] - offsets[0] if len(offsets) > 1 else 1
        top = offsets[-1] - m_lo
        return taps, first, m_hi - m_lo, step, (top, (m_hi - m_lo - 1) + offsets[-1] - offsets[0] + 1 - top - out)


__all__ = ["DepthwiseConv2D", "TapSum", "BLOCK_BYTES"]
