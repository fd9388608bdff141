"""Winograd convolutions F(m x m, 3 x 3): 3x3, stride 1, dilation 1, groups 1 (fast tier of Conv2D). Opt-in.

The reference is ``numpy_nn.ops.conv.Conv2D``; ``numpy_nn.ops.kernels.conv.Conv2D`` hands a
call here when ``choose_tile`` picks a tile size, and tests/test_kernels_winograd.py checks
forward, input gradient and kernel gradient against the reference. It is OFF by default:
``NUMPY_NN_WINOGRAD=auto`` (read at import) chooses F(2x2, 3x3) by shape (input channels and
filters >= 32), ``=2`` or ``=4`` forces that tile for every eligible call. On one core it
takes 15-35% less CPU time than im2col at the benchmark's shapes, but with two BLAS threads
on a busy machine its many small matrix products (alpha^2 per chunk of the batch) lost badly
to im2col's few large ones (docs/performance.md, "Winograd").

One output tile of m x m pixels (all channels) depends on an input tile of alpha x alpha
pixels, alpha = m + 2; tiles start every m pixels, so neighbouring input tiles overlap by 2.
Winograd's minimal filtering algorithm (Lavin & Gray, 2015) computes the tile as

    Y_tile = A^T [ U  (.)  V ] A,      U = G K G^T  (alpha x alpha, per channel pair c, f)
                                       V = B^T D B  (alpha x alpha, per tile and channel c)

where D is the input tile, (.) multiplies position by position and sums over the input
channels. For each of the alpha^2 positions (xi, nu) that sum is one matrix product over all
tiles P at once: M[xi,nu] = V[xi,nu] (P x C) @ U[xi,nu] (C x F). That is alpha^2 / m^2 products
per output pixel instead of 9: 4 for F(2x2, 3x3) (2.25x fewer), 2.25 for F(4x4, 3x3) (4x fewer).
The transforms (multiplications by the small matrices B^T, G, A^T) are additions of shifted
slices of whole arrays, coefficient by coefficient.

Gradients, with dL/dY = Gr (zero beyond the output on the tile grid):
- kernel: Y_tile is linear in U, so dU[xi,nu] = V[xi,nu]^T @ (A Gr_tile A^T)[xi,nu] summed over
  tiles (one matrix product, C x P @ P x F), and dK = G^T dU G;
- input: at stride 1, dx is the "valid" correlation of Gr, zero-padded by 2 - pad on each side,
  with the kernel flipped in both spatial axes and transposed to (3, 3, F, C): the same Winograd
  forward pass.

Rounding: the transforms add and subtract inputs of different sizes, so the float32 error is
larger than the direct sum's, and grows with m (F(4x4) multiplies by 4, 5 and 1/24 in its
transforms). tests/test_kernels_winograd.py bounds it; docs/performance.md ("Winograd") states it.
"""
import os

import numpy as np

from ..geometry import WindowGeometry

F2_BT = np.array([[1, 0, -1, 0],
                  [0, 1, 1, 0],
                  [0, -1, 1, 0],
                  [0, 1, 0, -1]], dtype=np.float64)
F2_G = np.array([[1, 0, 0],
                 [0.5, 0.5, 0.5],
                 [0.5, -0.5, 0.5],
                 [0, 0, 1]], dtype=np.float64)
F2_AT = np.array([[1, 1, 1, 0],
                  [0, 1, -1, -1]], dtype=np.float64)

# F(4, 3) with the interpolation points 0, 1, -1, 2, -2 and infinity.
F4_BT = np.array([[4, 0, -5, 0, 1, 0],
                  [0, -4, -4, 1, 1, 0],
                  [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0],
                  [0, 2, -1, -2, 1, 0],
                  [0, 4, 0, -5, 0, 1]], dtype=np.float64)
F4_G = np.array([[1 / 4, 0, 0],
                 [-1 / 6, -1 / 6, -1 / 6],
                 [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6],
                 [1 / 24, -1 / 12, 1 / 6],
                 [0, 0, 1]], dtype=np.float64)
F4_AT = np.array([[1, 1, 1, 1, 1, 0],
                  [0, 1, -1, 2, -2, 0],
                  [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], dtype=np.float64)

TILES = {2: (F2_BT, F2_G, F2_AT), 4: (F4_BT, F4_G, F4_AT)}
CHUNK_BYTES = 2 * 2**20  # transformed input V of one chunk of the batch (stays in cache; 1-2 MiB measured best)
KEEP_BYTES = 256 * 2**20  # the forward pass's V is kept for the kernel gradient up to this size
MIN_CHANNELS = 32  # the shape rule: Winograd when input channels and filters are both at least this
SETTINGS = {"0": 0, "off": 0, "auto": None, "2": 2, "4": 4}


def tile_setting(value):
    """``NUMPY_NN_WINOGRAD`` -> ``FORCE_TILE``: "0"/"off"/unset 0 (im2col), "auto" None (by shape), "2"/"4" that tile."""
    key = (value or "0").strip().lower()
    if key not in SETTINGS:
        raise ValueError(f"NUMPY_NN_WINOGRAD must be one of {sorted(SETTINGS)}, got {value!r}")
    return SETTINGS[key]


# Off by default: on this 2-core machine it lost to im2col in wall time (docs/performance.md, "Winograd").
# Tests set FORCE_TILE directly: 2 or 4 forces that tile on every eligible call, None lets choose_tile decide.
FORCE_TILE = tile_setting(os.environ.get("NUMPY_NN_WINOGRAD"))


def eligible(x, kernel, strides, dilation_rate, groups):
    """True for what this module computes: 2-D, 3x3 kernel, stride 1, dilation 1, groups 1."""
    return (x.ndim == 4 and kernel.ndim == 4 and kernel.shape[:2] == (3, 3) and tuple(strides) == (1, 1)
            and tuple(dilation_rate) == (1, 1) and groups == 1 and x.shape[0] > 0)


def choose_tile(out_hw, channels, filters):
    """The tile size m for this shape, or None for im2col: ``FORCE_TILE`` if set (0: None), else the
    shape rule (F(2x2, 3x3) when C and F >= ``MIN_CHANNELS``), measured in docs/performance.md ("Winograd")."""
    if FORCE_TILE is not None:
        return FORCE_TILE or None
    if channels >= MIN_CHANNELS and filters >= MIN_CHANNELS and min(out_hw) >= 4:
        return 2
    return None


def plan(x, kernel, bias, strides, padding, dilation_rate, groups):
    """A ``WinogradConv2D`` for this call when it is eligible and ``choose_tile`` picks a tile, else None."""
    if not eligible(x, kernel, strides, dilation_rate, groups) or x.shape[3] != kernel.shape[2]:
        return None
    geo = WindowGeometry(x.shape, (3, 3), (1, 1), padding, (1, 1), what="Conv2D")
    tile = choose_tile(geo.out, x.shape[3], kernel.shape[3])
    return WinogradConv2D(tile, x, kernel, bias, geo.pads) if tile else None


def _combine(matrix, sources, targets, work=None):
    """targets[k] = sum_j matrix[k, j] * sources[j] for every row k, skipping zero coefficients.

    ``sources`` and ``targets`` are sequences of equally shaped arrays (views are fine);
    coefficients +-1 are additions and subtractions, others go through ``work``.
    """
    for row, target in zip(matrix, targets):
        terms = [(c, source) for c, source in zip(row, sources) if c != 0]
        first = True
        if len(terms) >= 2 and terms[0][0] == 1 and abs(terms[1][0]) == 1:  # a +- b in one pass
            (_, a), (c, b) = terms[:2]
            (np.add if c == 1 else np.subtract)(a, b, out=target)
            first, terms = False, terms[2:]
        elif len(terms) >= 2 and terms[0][0] == -1 and terms[1][0] == 1:  # -a + b = b - a
            np.subtract(terms[1][1], terms[0][1], out=target)
            first, terms = False, terms[2:]
        for c, source in terms:
            if first:
                if c == 1:
                    np.copyto(target, source)
                elif c == -1:
                    np.negative(source, out=target)
                else:
                    np.multiply(source, c, out=target)
                first = False
            elif c == 1:
                np.add(target, source, out=target)
            elif c == -1:
                np.subtract(target, source, out=target)
            else:
                if work is None or work.shape != target.shape:
                    work = np.empty(target.shape, dtype=target.dtype)
                target += np.multiply(source, c, out=work)
        if first:
            target[...] = 0


def _on_grid(x, top, left, rows, cols):
    """x (n, H, W, C) placed at row ``top``, column ``left`` of a zero (n, rows, cols, C) array (cropped to it)."""
    n, h, w, c = x.shape
    if top == 0 and left == 0 and (h, w) == (rows, cols):
        return x
    grid = np.zeros((n, rows, cols, c), dtype=x.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(rows, top + h), min(cols, left + w)
    grid[:, y0:y1, x0:x1] = x[:, y0 - top:y1 - top, x0 - left:x1 - left]
    return grid


def transform_kernel(m, kernel):
    """U = G K G^T for every channel pair: (3, 3, C, F) -> (alpha^2, C, F), computed in float64."""
    _, g, _ = TILES[m]
    u = np.einsum("xa,abcf,yb->xycf", g, kernel.astype(np.float64), g)
    return u.reshape(-1, *kernel.shape[2:]).astype(kernel.dtype)


def transform_input(m, grid, tiles_hw):
    """V = B^T D B for every tile D of ``grid`` (n, th*m + 2, tw*m + 2, C): (alpha^2, n*th*tw, C)."""
    bt, _, _ = TILES[m]
    alpha = m + 2
    (th, tw), (n, _, width, c) = tiles_hw, grid.shape
    rows = np.empty((alpha, n, th, width, c), dtype=grid.dtype)
    _combine(bt, [grid[:, a:a + m * th:m] for a in range(alpha)], rows)  # along the tile rows
    v = np.empty((alpha, alpha, n, th, tw, c), dtype=grid.dtype)
    for xi in range(alpha):  # then along the tile columns
        _combine(bt, [rows[xi][:, :, b:b + m * tw:m] for b in range(alpha)], v[xi])
    return v.reshape(alpha * alpha, n * th * tw, c)


def transform_output(m, products, n, tiles_hw, out):
    """Y = A^T M A for every tile, written into ``out`` (n, th*m, tw*m, F)."""
    _, _, at = TILES[m]
    alpha, (th, tw), f = m + 2, tiles_hw, products.shape[-1]
    products = products.reshape(alpha, alpha, n, th, tw, f)
    columns = np.empty((alpha, m, n, th, tw, f), dtype=products.dtype)
    for xi in range(alpha):
        _combine(at, products[xi], columns[xi])
    tiles = out.reshape(n, th, m, tw, m, f)
    for s in range(m):
        _combine(at, columns[:, s], [tiles[:, :, r, :, s] for r in range(m)])


def transform_grad(m, g, tiles_hw):
    """A Gr A^T for every m x m tile of Gr (n, th*m, tw*m, F): (alpha^2, n*th*tw, F)."""
    _, _, at = TILES[m]
    alpha, (th, tw), (n, _, _, f) = m + 2, tiles_hw, g.shape
    tiles = g.reshape(n, th, m, tw, m, f)
    rows = np.empty((alpha, n, th, tw, m, f), dtype=g.dtype)
    _combine(at.T, [tiles[:, :, r] for r in range(m)], rows)
    gt = np.empty((alpha, alpha, n, th, tw, f), dtype=g.dtype)
    for xi in range(alpha):
        _combine(at.T, [rows[xi][:, :, :, s] for s in range(m)], gt[xi])
    return gt.reshape(alpha * alpha, n * th * tw, f)


class WinogradConv2D:
    """One call of a 3x3 stride-1 convolution by Winograd tiles, forward and backward.

    ``WinogradConv2D(m, x, kernel, bias, pads)`` with pads = ((top, bottom), (left, right)) of
    the convolution computes y in ``forward()``; ``backward(g, need_x, need_k, need_b)`` returns
    (dx, dK, db). The batch goes through in chunks whose transformed input stays under
    ``CHUNK_BYTES``; those V are kept for dK (up to ``KEEP_BYTES``, else recomputed).
    """

    def __init__(self, m, x, kernel, bias, pads):
        self.m, self.x, self.kernel, self.bias = m, x, kernel, bias
        self.top, self.left = pads[0][0], pads[1][0]
        n, h, w, _ = x.shape
        self.out_hw = (h + sum(pads[0]) - 2, w + sum(pads[1]) - 2)
        self.dtype = np.result_type(x.dtype, kernel.dtype)
        self.kept = None

    def _chunks(self, n, tiles_hw, channels):
        alpha = self.m + 2
        per_sample = alpha * alpha * tiles_hw[0] * tiles_hw[1] * max(channels, 1) * self.dtype.itemsize
        size = max(1, CHUNK_BYTES // per_sample)
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def _correlate(self, x, u, top, left, out_hw, bias=None, keep=None):
        """The 'valid' 3x3 correlation of x placed at (top, left) on the tile grid, by chunks."""
        m = self.m
        (oh, ow), n, f = out_hw, x.shape[0], u.shape[-1]
        tiles_hw = (-(-oh // m), -(-ow // m))
        on_grid = tiles_hw[0] * m == oh and tiles_hw[1] * m == ow
        y = np.empty((n, oh, ow, f), dtype=self.dtype)
        for start, stop in self._chunks(n, tiles_hw, x.shape[3]):
            grid = _on_grid(x[start:stop], top, left, tiles_hw[0] * m + 2, tiles_hw[1] * m + 2)
            v = transform_input(m, grid.astype(self.dtype, copy=False), tiles_hw)
            products = np.matmul(v, u)  # M[xi,nu] = V[xi,nu] @ U[xi,nu]
            target = y[start:stop] if on_grid else np.empty((stop - start, tiles_hw[0] * m, tiles_hw[1] * m, f),
                                                              dtype=self.dtype)
            transform_output(m, products, stop - start, tiles_hw, target)
            if not on_grid:
                y[start:stop] = target[:, :oh, :ow]
            if keep is not None:
                keep.append(v)
        if bias is not None:
            y += bias
        return y

    def forward(self):
        n, c, f = self.x.shape[0], self.x.shape[3], self.kernel.shape[3]
        m, (oh, ow) = self.m, self.out_hw
        tiles = -(-oh // m) * -(-ow // m)
        keep = [] if n * tiles * (m + 2) ** 2 * c * self.dtype.itemsize <= KEEP_BYTES else None
        u = transform_kernel(m, self.kernel.astype(self.dtype, copy=False))
        y = self._correlate(self.x, u, self.top, self.left, self.out_hw, self.bias, keep)
        self.kept = keep
        return y

    def backward(self, g, need_x=True, need_k=True, need_b=True):
        dx = dk = db = None
        if need_b and self.bias is not None:
            db = np.sum(g, axis=(0, 1, 2), dtype=np.float64).astype(self.dtype)
        if need_k:
            dk = self._kernel_grad(g)
        if need_x:  # valid correlation of Gr padded by 2 - pad with the flipped, transposed kernel
            flipped = np.ascontiguousarray(self.kernel[::-1, ::-1].transpose(0, 1, 3, 2)).astype(self.dtype, copy=False)
            u = transform_kernel(self.m, flipped)
            dx = self._correlate(g, u, 2 - self.top, 2 - self.left, self.x.shape[1:3])
        self.kept = None
        return dx, dk, db

    def _kernel_grad(self, g):
        m, (oh, ow) = self.m, self.out_hw
        n, c, f = self.x.shape[0], self.x.shape[3], self.kernel.shape[3]
        tiles_hw = (-(-oh // m), -(-ow // m))
        du = np.zeros(((m + 2) ** 2, c, f), dtype=self.dtype)
        for index, (start, stop) in enumerate(self._chunks(n, tiles_hw, c)):
            if self.kept is not None:
                v = self.kept[index]
            else:
                grid = _on_grid(self.x[start:stop], self.top, self.left, tiles_hw[0] * m + 2, tiles_hw[1] * m + 2)
                v = transform_input(m, grid.astype(self.dtype, copy=False), tiles_hw)
            g_grid = _on_grid(g[start:stop], 0, 0, tiles_hw[0] * m, tiles_hw[1] * m)
            du += np.matmul(v.transpose(0, 2, 1), transform_grad(m, g_grid.astype(self.dtype, copy=False), tiles_hw))
        _, gm, _ = TILES[m]
        alpha = m + 2
        dk = np.einsum("xa,xycf,yb->abcf", gm, du.reshape(alpha, alpha, c, f).astype(np.float64), gm)
        return dk.astype(self.dtype)


__all__ = ["WinogradConv2D", "eligible", "choose_tile", "plan", "tile_setting", "MIN_CHANNELS", "transform_kernel", "transform_input",
           "transform_output", "transform_grad", "TILES", "CHUNK_BYTES", "KEEP_BYTES", "FORCE_TILE"]
