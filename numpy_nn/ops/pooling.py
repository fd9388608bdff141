"""Pooling: max and average over 2-D windows, and their global versions (channels_last).

Notation: input ``x`` of shape (N, H, W, C), window (kh, kw), strides (sh, sw), output ``y`` of
shape (N, OH, OW, C), ``g = dL/dy``. ``xp`` is ``x`` after padding (for ``"same"``).

Output size per spatial axis (n input, k window, s stride), as in Keras/XLA:

    valid:  out = floor((n - k) / s) + 1
    same:   out = ceil(n / s),   total = max((out - 1) * s + k - n, 0),
            before = total // 2,  after = total - before     (extra pixel bottom/right)

Window (i, j) covers ``xp[n, i*sh : i*sh + kh, j*sw : j*sw + kw, c]``. Every kernel below works
tap by tap: for a window offset (di, dj) the values ``xp[:, i*sh + di, j*sw + dj, :]`` for all
(i, j) form one strided slice ("tap") of shape (N, OH, OW, C). The backward passes add ``g``
into those slices, one tap at a time, so no scatter (``np.add.at``) is needed.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..autograd.function import Function
from .kernels.threads import in_parallel  # (moves to ops/kernels/pooling.py with the fast kernels)

POOL_CHUNK_BYTES = 2**21  # input of one chunk of the batch in the tiled MaxPool2D kernels


# -- output size and "same" padding (the Keras/XLA rule) -----------------------------------------
def _output_length(n, k, s, padding):
    """Pooled length of an axis of length n: ceil(n/s) for "same", floor((n-k)/s)+1 for "valid"."""
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1


def _same_padding(n, k, s):
    """(before, after) for "same": total = max((out-1)*s + k - n, 0), the odd pixel goes after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    before = total // 2
    return before, total - before


def _geometry(shape, pool_size, strides, padding):
    """Output size (OH, OW) and padding ((top, bottom), (left, right)) for an NHWC shape."""
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    (kh, kw), (sh, sw) = pool_size, strides
    _, height, width, _ = shape
    out_h, out_w = _output_length(height, kh, sh, padding), _output_length(width, kw, sw, padding)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"pooling window {pool_size} with strides {strides} and padding '{padding}' "
                         f"does not fit an input of spatial size {(height, width)}")
    if padding == "same":
        pads = (_same_padding(height, kh, sh), _same_padding(width, kw, sw))
    else:
        pads = ((0, 0), (0, 0))
    return (out_h, out_w), pads


def _pad(x, pads, value):
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _tap(array, di, dj, strides, out_size):
    """The view ``array[:, i*sh + di, j*sw + dj, :]`` over all output positions (i, j)."""
    (sh, sw), (out_h, out_w) = strides, out_size
    return array[:, di:di + sh * (out_h - 1) + 1:sh, dj:dj + sw * (out_w - 1) + 1:sw, :]


def _is_tiling(pool_size, strides):
    """Windows that tile the input (strides == pool size) allow a plain reshape."""
    return tuple(pool_size) == tuple(strides)


def _blocks(xp, pool_size, out_size):
    """Reshape (N, OH*kh, OW*kw, C) to (N, OH, kh, OW, kw, C): one block per window."""
    (kh, kw), (out_h, out_w) = pool_size, out_size
    n, _, _, c = xp.shape
    return xp[:, :out_h * kh, :out_w * kw, :].reshape(n, out_h, kh, out_w, kw, c)


def _windows(xp, pool_size, strides, out_size):
    """A (N, OH, OW, C, kh, kw) view of every window (no copy)."""
    (sh, sw), (out_h, out_w) = strides, out_size
    view = sliding_window_view(xp, tuple(pool_size), axis=(1, 2))
    return view[:, ::sh, ::sw][:, :out_h, :out_w]


def _crop_padding(dxp, pads, shape):
    """The gradient of the unpadded input: the padded gradient without its border."""
    if pads == ((0, 0), (0, 0)):
        return dxp
    (top, _), (left, _) = pads
    return np.ascontiguousarray(dxp[:, top:top + shape[1], left:left + shape[2], :])


class MaxPool2D(Function):
    """y[n,i,j,c] = max_{0<=di<kh, 0<=dj<kw} xp[n, i*sh + di, j*sw + dj, c]   ("same" pads with -inf).

    Gradient: each output routes its gradient to one input, the *first* maximum of its window
    in row-major (di, dj) order (what XLA's select_and_scatter does for JAX/Keras):

        dx[n, i*sh + di*, j*sw + dj*, c] += g[n,i,j,c],   (di*, dj*) = first argmax of window (i, j)

    Ties are common (a window of ReLU zeros), so the choice matters for parity with Keras.
    Overlapping windows (stride < pool size) add their contributions.

    Speed: the forward pass is a running maximum over the kh*kw taps. When the windows tile the
    input (strides == pool size, no padding: the usual 2x2 pool) it also records, in one byte
    per output, *which* tap won (the first strict improvement), and the backward pass writes
    ``g * (winner == tap)`` straight into each tap's slice of dx: no search, no scatter. Both
    passes run over chunks of the batch, split across two threads (ufuncs release the GIL).
    """

    def forward(self, x, pool_size=(2, 2), strides=None, padding="valid"):
        strides = tuple(pool_size) if strides is None else tuple(strides)
        self.shape, self.pool_size, self.strides = x.shape, tuple(pool_size), strides
        self.out_size, self.pads = _geometry(x.shape, self.pool_size, strides, padding)
        kh, kw = self.pool_size
        self.winner = None
        if _is_tiling(self.pool_size, strides) and self.pads == ((0, 0), (0, 0)) and kh * kw <= 256:
            return self._forward_tiles(x)
        self.xp = _pad(x, self.pads, -np.inf)
        if _is_tiling(self.pool_size, strides):
            self.y = _blocks(self.xp, self.pool_size, self.out_size).max(axis=(2, 4))
        else:
            self.y = _windows(self.xp, self.pool_size, strides, self.out_size).max(axis=(-2, -1))
        return self.y

    def _chunks(self):
        """(start, stop) ranges of the batch with about ``POOL_CHUNK_BYTES`` of input each."""
        n, height, width, channels = self.shape
        size = max(1, POOL_CHUNK_BYTES // max(height * width * channels * 4, 1))
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def _forward_tiles(self, x):
        """Running maximum over the taps; ``winner`` = index di*kw + dj of the first maximum."""
        kh, kw = self.pool_size
        out_h, out_w = self.out_size
        y = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
        winner = np.zeros(y.shape, dtype=np.uint8)

        def pool_chunks(chunks):
            for start, stop in chunks:
                taps = [_tap(x[start:stop], di, dj, self.strides, self.out_size) for di in range(kh) for dj in range(kw)]
                y_chunk, winner_chunk = y[start:stop], winner[start:stop]
                np.copyto(y_chunk, taps[0])
                better = np.empty(y_chunk.shape, dtype=bool)
                claim = np.empty(y_chunk.shape, dtype=np.uint8)
                for index, tap in enumerate(taps[1:], start=1):
                    np.greater(tap, y_chunk, out=better)  # strictly greater: on a tie the earlier tap keeps the gradient
                    np.maximum(y_chunk, tap, out=y_chunk)
                    # winner = index where better: indices only grow, so a maximum does it (a masked copy is 15x slower)
                    np.multiply(better, np.uint8(index), out=claim)
                    np.maximum(winner_chunk, claim, out=winner_chunk)

        in_parallel(pool_chunks, self._chunks())
        self.winner = winner
        return y

    def backward(self, g):
        if self.winner is not None:
            return (self._backward_tiles(g),)
        kh, kw = self.pool_size
        disjoint = _is_tiling(self.pool_size, self.strides)  # each input cell is in one window
        dxp = np.zeros(self.xp.shape, dtype=self.xp.dtype)
        unclaimed = np.ones(self.y.shape, dtype=bool)  # windows whose first maximum is not found yet
        is_first_max = np.empty(self.y.shape, dtype=bool)
        for di in range(kh):
            for dj in range(kw):
                np.equal(_tap(self.xp, di, dj, self.strides, self.out_size), self.y, out=is_first_max)
                is_first_max &= unclaimed
                unclaimed ^= is_first_max
                dx_tap = _tap(dxp, di, dj, self.strides, self.out_size)
                if disjoint:
                    np.multiply(g, is_first_max, out=dx_tap)
                else:
                    dx_tap += g * is_first_max
        return (_crop_padding(dxp, self.pads, self.shape),)

    def _backward_tiles(self, g):
        kh, kw = self.pool_size
        out_h, out_w = self.out_size
        dtype = np.result_type(g.dtype, np.float32) if g.dtype.kind != "f" else g.dtype
        dx = np.empty(self.shape, dtype=dtype)
        dx[:, out_h * kh:] = 0  # rows and columns that no window covers (odd sizes, "valid")
        dx[:, :out_h * kh, out_w * kw:] = 0
        taps = [(di, dj) for di in range(kh) for dj in range(kw)]

        def route_chunks(chunks):
            for start, stop in chunks:
                g_chunk, winner, dx_chunk = g[start:stop], self.winner[start:stop], dx[start:stop]
                won = np.empty(g_chunk.shape, dtype=bool)
                for di, dj in taps:
                    np.equal(winner, di * kw + dj, out=won)
                    np.multiply(g_chunk, won, out=_tap(dx_chunk, di, dj, self.strides, self.out_size))

        in_parallel(route_chunks, self._chunks())
        return dx

def _valid_counts(n, k, s, out, before):
    """How many real (non-padded) rows each window covers along one axis."""
    starts = np.arange(out) * s - before
    return np.minimum(starts + k, n) - np.maximum(starts, 0)


class AvgPool2D(Function):
    """y[n,i,j,c] = (1 / count[i,j]) * sum_{di,dj} xp[n, i*sh + di, j*sw + dj, c]   ("same" pads with 0).

    count[i,j] = kh*kw for "valid"; for "same" it is the number of *real* (non-padded) elements
    in the window, count_h[i] * count_w[j], as Keras divides by a pooled map of ones:

        count_h[i] = min(i*sh - top + kh, H) - max(i*sh - top, 0)

    Gradient: every element of window (i, j) receives an equal share,

        dx[n, i*sh + di, j*sw + dj, c] += g[n,i,j,c] / count[i,j].
    """

    def forward(self, x, pool_size, strides=None, padding="valid"):
        strides = tuple(pool_size) if strides is None else tuple(strides)
        self.shape, self.pool_size, self.strides = x.shape, tuple(pool_size), strides
        self.out_size, self.pads = _geometry(x.shape, self.pool_size, strides, padding)
        (kh, kw), (sh, sw), (out_h, out_w) = self.pool_size, strides, self.out_size
        count_h = _valid_counts(x.shape[1], kh, sh, out_h, self.pads[0][0])
        count_w = _valid_counts(x.shape[2], kw, sw, out_w, self.pads[1][0])
        self.count = (count_h[:, None] * count_w[None, :]).astype(x.dtype)[None, :, :, None]
        xp = _pad(x, self.pads, 0)
        if _is_tiling(self.pool_size, strides):
            total = _blocks(xp, self.pool_size, self.out_size).sum(axis=(2, 4))
        else:
            total = _windows(xp, self.pool_size, strides, self.out_size).sum(axis=(-2, -1))
        self.padded_shape = xp.shape
        return total / self.count

    def backward(self, g):
        share = g / self.count
        kh, kw = self.pool_size
        if _is_tiling(self.pool_size, self.strides):  # disjoint windows: repeat the share
            n, out_h, out_w, c = g.shape
            dxp = np.zeros(self.padded_shape, dtype=g.dtype)
            block = np.broadcast_to(share[:, :, None, :, None, :], (n, out_h, kh, out_w, kw, c))
            dxp[:, :out_h * kh, :out_w * kw, :] = block.reshape(n, out_h * kh, out_w * kw, c)
        else:
            dxp = np.zeros(self.padded_shape, dtype=g.dtype)
            for di in range(kh):
                for dj in range(kw):
                    _tap(dxp, di, dj, self.strides, self.out_size)[...] += share
        return (_crop_padding(dxp, self.pads, self.shape),)


class GlobalAvgPool2D(Function):
    """y[n,c] = (1 / (H*W)) * sum_{h,w} x[n,h,w,c]   (shape (N,1,1,C) with keepdims);

    dx[n,h,w,c] = g[n,c] / (H*W).
    """

    def forward(self, x, keepdims=False):
        self.shape = x.shape
        return x.mean(axis=(1, 2), keepdims=keepdims, dtype=x.dtype)

    def backward(self, g):
        n, height, width, c = self.shape
        g = g.reshape(n, 1, 1, c)
        return (np.broadcast_to(g / (height * width), self.shape).copy(),)


class GlobalMaxPool2D(Function):
    """y[n,c] = max_{h,w} x[n,h,w,c]   (shape (N,1,1,C) with keepdims);

    dx[n,h,w,c] = g[n,c] * [x[n,h,w,c] == y[n,c]] / (number of maxima of x[n,:,:,c]).
    Tied maxima share the gradient equally, as ``jnp.max``'s gradient does (Keras's
    GlobalMaxPooling2D is ``ops.max``), unlike MaxPool2D, which picks the first maximum.
    """

    def forward(self, x, keepdims=False):
        self.x = x
        self.y = x.max(axis=(1, 2), keepdims=True)
        return self.y if keepdims else self.y.reshape(x.shape[0], x.shape[3])

    def backward(self, g):
        n, _, _, c = self.x.shape
        is_max = self.x == self.y
        ties = is_max.sum(axis=(1, 2), keepdims=True).astype(self.x.dtype)
        return (np.where(is_max, g.reshape(n, 1, 1, c) / ties, 0).astype(self.x.dtype, copy=False),)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling of an NHWC Tensor (see ``MaxPool2D``)."""
    return MaxPool2D.apply(x, pool_size=tuple(pool_size), strides=strides, padding=padding)


def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """Average pooling of an NHWC Tensor (see ``AvgPool2D``)."""
    return AvgPool2D.apply(x, pool_size=tuple(pool_size), strides=strides, padding=padding)
