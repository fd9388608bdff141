"""Fast MaxPool2D and AvgPool2D: the same numbers as ``numpy_nn/ops/pooling.py``, fewer passes.

``MaxPool2D`` must equal ``numpy_nn.ops.pooling.MaxPool2D`` and ``AvgPool2D`` must equal
``numpy_nn.ops.pooling.AvgPool2D``, bit for bit, forward and gradient (the same selected tap, the
same shares); tests/test_kernels_norm_pool.py checks both on inputs that take every path here.
The global poolings have no fast kernel (their reference is one NumPy reduction).

Speed tricks, MaxPool2D:

* Windows that tile the input (strides == pool size, no padding: the usual 2x2 pool): the
  forward pass is a running maximum over the taps that also records, in one byte per output,
  *which* tap won (the first strict improvement, i.e. the first maximum), and the backward pass
  writes ``g * (winner == tap)`` straight into each tap's slice of dx: no search, no scatter,
  no ``xp`` kept. Both passes run over chunks of the batch (``POOL_CHUNK_BYTES`` of input each,
  so the temporaries stay in cache), split across ``THREADS`` threads (ufuncs release the GIL).
* Other windows: the maximum over a window view (reshaped blocks when the windows tile a padded
  input), and a backward pass that finds the first maximum of every window with one comparison
  against y per tap (``unclaimed`` marks windows whose maximum is not found yet).
* Windows holding a NaN follow XLA's selection rule, not "the first maximum" (see the
  reference): when y has a NaN, both passes fall back to the reference.

AvgPool2D: the reference forward (a sum over taps is as fast as any window view); tiling windows
spread the gradient with one broadcast copy.
"""
import numpy as np

from ...autograd.function import fast_kernel_for
from .. import pooling as reference
from .buffers import empty
from .threads import map_chunks, map_row_chunks

POOL_CHUNK_BYTES = 2**21  # input of one chunk of the batch in the tiled MaxPool2D kernels
MAX_TILE_TAPS = 256  # the winner index of the tiled kernel is one byte


def _tiles(geo):
    """Windows that tile the input: strides == pool size."""
    return geo.kernel == geo.strides


def _unpadded(geo):
    return all(p == (0, 0) for p in geo.pads)


def _blocks(xp, geo):
    """Reshape (N, OH*kh, OW*kw, C) to (N, OH, kh, OW, kw, C): one block per window (tiling windows only)."""
    covered = (slice(None),) + tuple(slice(0, o * k) for o, k in zip(geo.out, geo.kernel))
    shape = (xp.shape[0],) + tuple(d for pair in zip(geo.out, geo.kernel) for d in pair) + (xp.shape[-1],)
    return xp[covered].reshape(shape)


def _block_axes(geo):
    """The window axes (kh, kw, ...) of ``_blocks``'s output."""
    return tuple(2 + 2 * i for i in range(len(geo.kernel)))


def _window_axes(geo):
    """The window axes of ``geo.windows(xp)``, shape (N, *out, *kernel, C)."""
    rank = len(geo.kernel)
    return tuple(range(1 + rank, 1 + 2 * rank))


@fast_kernel_for(reference.MaxPool2D)
class MaxPool2D(reference.MaxPool2D):
    """Fast tier of ``numpy_nn.ops.pooling.MaxPool2D`` (must equal it): see the module docstring."""

    def forward(self, x, pool_size=(2, 2), strides=None, padding="valid"):
        self.geo = geo = reference.pool_geometry(x.shape, pool_size, strides, padding, "MaxPool2D")
        self.shape = x.shape
        if _tiles(geo) and _unpadded(geo) and len(geo.taps) <= MAX_TILE_TAPS:
            self.path = "tiles"
            y = self._forward_tiles(x)
        else:
            self.path = "windows"
            self.xp = geo.pad(x, -np.inf)
            if _tiles(geo):
                y = _blocks(self.xp, geo).max(axis=_block_axes(geo))
            else:
                y = geo.windows(self.xp).max(axis=_window_axes(geo))
            self.y = y
        if y.size and np.isnan(y.max()):  # a NaN window: XLA's NaN selection rule, in the reference
            self.path = "reference"
            self.winner = self.y = None
            return super().forward(x, pool_size, strides, padding)
        return y

    def backward(self, g):
        if self.path == "tiles":
            return (self._backward_tiles(g),)
        if self.path == "windows":
            return (self._backward_windows(g),)
        return super().backward(g)

    def _chunks(self):
        """(start, stop) ranges of the batch with about ``POOL_CHUNK_BYTES`` of input each."""
        n = self.shape[0]
        size = max(1, POOL_CHUNK_BYTES // max(int(np.prod(self.shape[1:])) * 4, 1))
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def _forward_tiles(self, x):
        """Running maximum over the taps; ``winner`` = index of the first maximum's tap (C order)."""
        geo = self.geo
        y = empty((x.shape[0],) + geo.out + (x.shape[-1],), x.dtype)
        winner = empty(y.shape, np.uint8)
        winner[...] = 0

        def pool_chunks(chunks):
            for start, stop in chunks:
                taps = [x[start:stop][geo.tap(t)] for t in geo.taps]
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

        map_chunks(lambda chunk: pool_chunks([chunk]), self._chunks())
        self.winner = winner
        return y

    def _backward_tiles(self, g):
        geo = self.geo
        dtype = np.result_type(g.dtype, np.float32) if g.dtype.kind != "f" else g.dtype
        dx = empty(self.shape, dtype)
        for axis, (o, k) in enumerate(zip(geo.out, geo.kernel), start=1):
            uncovered = (slice(None),) * axis + (slice(o * k, None),)
            dx[uncovered] = 0  # rows and columns that no window covers (odd sizes, "valid")
        taps = geo.taps

        def route_chunks(chunks):
            for start, stop in chunks:
                g_chunk, winner, dx_chunk = g[start:stop], self.winner[start:stop], dx[start:stop]
                won = np.empty(g_chunk.shape, dtype=bool)
                for index, t in enumerate(taps):
                    np.equal(winner, index, out=won)
                    np.multiply(g_chunk, won, out=dx_chunk[geo.tap(t)])

        map_chunks(lambda chunk: route_chunks([chunk]), self._chunks())
        return dx

    def _backward_windows(self, g):
        """The first maximum of each window: the first tap equal to y, tap by tap."""
        geo, xp = self.geo, self.xp
        disjoint = _tiles(geo)  # each input cell is in one window
        dxp = np.zeros(xp.shape, dtype=xp.dtype)
        unclaimed = np.ones(self.y.shape, dtype=bool)  # windows whose first maximum is not found yet
        is_first_max = np.empty(self.y.shape, dtype=bool)
        for t in geo.taps:
            np.equal(xp[geo.tap(t)], self.y, out=is_first_max)
            is_first_max &= unclaimed
            unclaimed ^= is_first_max
            dx_tap = dxp[geo.tap(t)]
            if disjoint:
                np.multiply(g, is_first_max, out=dx_tap)
            else:
                dx_tap += g * is_first_max
        return np.ascontiguousarray(geo.unpad(dxp))


@fast_kernel_for(reference.AvgPool2D)
class AvgPool2D(reference.AvgPool2D):
    """Fast tier of ``numpy_nn.ops.pooling.AvgPool2D`` (must equal it bit for bit): the reference
    forward; when the windows tile the input (strides == pool size) the backward pass writes each
    window's share with one broadcast copy instead of adding it tap by tap."""

    def backward(self, g):
        geo = self.geo
        if not _tiles(geo):
            return super().backward(g)
        n, c = g.shape[0], g.shape[-1]
        share = (g / self.count).reshape((n,) + tuple(d for o in geo.out for d in (o, 1)) + (c,))
        blocks = np.broadcast_to(share, (n,) + tuple(d for pair in zip(geo.out, geo.kernel) for d in pair) + (c,))
        dxp = np.zeros((n,) + geo.padded_spatial + (c,), dtype=g.dtype)
        covered = (slice(None),) + tuple(slice(0, o * k) for o, k in zip(geo.out, geo.kernel))
        dxp[covered] = blocks.reshape((n,) + tuple(o * k for o, k in zip(geo.out, geo.kernel)) + (c,))
        return (np.ascontiguousarray(geo.unpad(dxp)),)


@fast_kernel_for(reference.GlobalAvgPool2D)
class GlobalAvgPool2D(reference.GlobalAvgPool2D):
    """Fast tier of ``numpy_nn.ops.pooling.GlobalAvgPool2D`` (must equal it bit for bit): the
    reference forward (one reduction); the backward pass, a broadcast copy of g / (H*W) over the
    map, written over chunks of the batch in ``THREADS`` threads (channels_last input)."""

    def backward(self, g):
        shape = self.shape
        if getattr(self, "data_format", "channels_last") != "channels_last" or g.size != shape[0] * shape[-1]:
            return super().backward(g)
        n, *spatial, c = shape
        share = g.reshape((n,) + (1,) * len(spatial) + (c,)) / np.prod(spatial)
        dx = empty(shape, share.dtype)
        row_bytes = int(np.prod(shape[1:])) * dx.itemsize

        def spread(start, stop):
            np.copyto(dx[start:stop], share[start:stop])

        map_row_chunks(spread, n, row_bytes)
        return (dx,)
