"""Ops that move values around without arithmetic (or with fixed weights): padding, cropping,
upsampling, concatenation (channels_last, NHWC).

Notation: ``x`` input, ``y`` output, ``g = dL/dy``. Each of these ops is linear, so its
gradient is its adjoint (transpose): padding <-> cropping, repeat <-> block sum,
concatenate <-> split. Reshape, Flatten and Permute are ``numpy_nn.ops.math.Reshape`` and
``numpy_nn.ops.math.Transpose``.
"""
import numpy as np

from ..autograd.function import Function


class ZeroPad1D(Function):
    """y = x with ``before``/``after`` zero steps added on the time axis of (N, L, C):

        y[n, before + t, c] = x[n, t, c],   0 elsewhere;
        dx = g[:, before:before + L, :]   (the padding's gradient is dropped).
    """

    def forward(self, x, padding=(1, 1)):
        self.before, after = padding
        self.length = x.shape[1]
        return np.pad(x, ((0, 0), (self.before, after), (0, 0)))

    def backward(self, g):
        return (np.ascontiguousarray(g[:, self.before:self.before + self.length, :]),)

    def tensor_backward(self, g, y, x):  # on the tape: the adjoint, a crop
        return (Crop1D.apply(g, cropping=self.params.get("padding", (1, 1))),)


class Crop1D(Function):
    """y = x[:, before:L - after, :];   dx = g zero-padded back to x's shape."""

    def forward(self, x, cropping=(1, 1)):
        before, after = self.cropping = tuple(cropping)
        return x[:, before:x.shape[1] - after, :].copy()

    def backward(self, g):
        return (np.pad(g, ((0, 0), self.cropping, (0, 0))),)

    def tensor_backward(self, g, y, x):  # on the tape: the adjoint, a zero padding
        return (ZeroPad1D.apply(g, padding=self.cropping),)


class UpSample1D(Function):
    """Repeats each step ``size`` times on the time axis of (N, L, C):

        y[n, t*size + a, c] = x[n, t, c]   (0 <= a < size);
        dx[n, t, c] = sum_a g[n, t*size + a, c].
    """

    def forward(self, x, size=2):
        self.size = int(size)
        return np.repeat(x, self.size, axis=1)

    def backward(self, g):
        n, length, c = g.shape
        return (g.reshape(n, length // self.size, self.size, c).sum(axis=2),)

    def tensor_backward(self, g, y, x):
        n, length, c = g.shape
        return (g.reshape(n, length // self.size, self.size, c).sum(axis=2),)


class ZeroPad2D(Function):
    """y = x with ``top``/``bottom`` rows and ``left``/``right`` columns of zeros added:

        y[n, top + h, left + w, c] = x[n, h, w, c],   0 elsewhere;
        dx = g[:, top:top + H, left:left + W, :]   (the border's gradient is dropped).
    """

    def forward(self, x, padding=((1, 1), (1, 1))):
        (self.top, bottom), (self.left, right) = padding
        self.height, self.width = x.shape[1], x.shape[2]
        return np.pad(x, ((0, 0), (self.top, bottom), (self.left, right), (0, 0)))

    def backward(self, g):
        rows = slice(self.top, self.top + self.height)
        cols = slice(self.left, self.left + self.width)
        return (np.ascontiguousarray(g[:, rows, cols, :]),)

    def tensor_backward(self, g, y, x):  # on the tape: the adjoint, a crop
        (top, bottom), (left, right) = self.params.get("padding", ((1, 1), (1, 1)))
        return (Crop2D.apply(g, cropping=((top, bottom), (left, right))),)


class Crop2D(Function):
    """y = x[:, top:H - bottom, left:W - right, :];   dx = g zero-padded back to x's shape."""

    def forward(self, x, cropping=((0, 0), (0, 0))):
        (top, bottom), (left, right) = cropping
        self.shape, self.padding = x.shape, ((top, bottom), (left, right))
        return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right, :].copy()

    def backward(self, g):
        return (np.pad(g, ((0, 0), self.padding[0], self.padding[1], (0, 0))),)

    def tensor_backward(self, g, y, x):  # on the tape: the adjoint, a zero padding
        return (ZeroPad2D.apply(g, padding=self.padding),)


class UpSample2DNearest(Function):
    """Nearest-neighbour upsampling by integer factors (sh, sw): each pixel becomes a block,

        y[n, h*sh + a, w*sw + b, c] = x[n, h, w, c]   (0 <= a < sh, 0 <= b < sw);
        dx[n, h, w, c] = sum_{a, b} g[n, h*sh + a, w*sw + b, c]   (the sum over each block).
    """

    def forward(self, x, size=(2, 2)):
        self.size = tuple(size)
        return np.repeat(np.repeat(x, self.size[0], axis=1), self.size[1], axis=2)

    def backward(self, g):
        (sh, sw), (n, height, width, c) = self.size, g.shape
        blocks = g.reshape(n, height // sh, sh, width // sw, sw, c)
        return (blocks.sum(axis=(2, 4)),)

    def tensor_backward(self, g, y, x):
        (sh, sw), (n, height, width, c) = self.size, g.shape
        return (g.reshape(n, height // sh, sh, width // sw, sw, c).sum(axis=(2, 4)),)


def linear_resize_matrix(n, factor, dtype=np.float64):
    """The (n*factor, n) matrix of 1-D linear interpolation with half-pixel centres.

    Output o samples the input at s = (o + 0.5) / factor - 0.5, clamped to [0, n - 1]
    (what ``jax.image.resize(method="linear")`` gives when upsampling); the weights are
    1 - frac on floor(s) and frac on floor(s) + 1.
    """
    out = n * factor
    source = np.clip((np.arange(out) + 0.5) / factor - 0.5, 0, n - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = source - low
    matrix = np.zeros((out, n))
    np.add.at(matrix, (np.arange(out), low), 1 - frac)
    np.add.at(matrix, (np.arange(out), high), frac)
    return matrix.astype(dtype)


class UpSample2DBilinear(Function):
    """Bilinear upsampling by integer factors, separable: with the 1-D interpolation matrices
    A_h (H*sh, H) and A_w (W*sw, W) of ``linear_resize_matrix``,

        y[n, :, :, c] = A_h  x[n, :, :, c]  A_w^T,
        dx[n, :, :, c] = A_h^T  g[n, :, :, c]  A_w     (the adjoint).
    """

    def forward(self, x, size=(2, 2)):
        self.rows = linear_resize_matrix(x.shape[1], size[0], x.dtype)
        self.cols = linear_resize_matrix(x.shape[2], size[1], x.dtype)
        return np.einsum("oh,nhwc,pw->nopc", self.rows, x, self.cols, optimize=True)

    def backward(self, g):
        return (np.einsum("oh,nopc,pw->nhwc", self.rows, g, self.cols, optimize=True),)

    def tensor_backward(self, g, y, x):  # A_h^T g A_w per (n, c), as matrix products on the tape
        planes = g.transpose(0, 3, 1, 2)                                  # (N, C, H*sh, W*sw)
        return ((self.rows.T @ planes @ self.cols).transpose(0, 2, 3, 1),)


class Concatenate(Function):
    """y = concatenate([x_1, ..., x_k], axis);   dx_i = the slice of g that x_i occupies."""

    def forward(self, *xs, axis=-1):
        self.axis = axis
        self.boundaries = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(self, g):
        pieces = np.split(g, self.boundaries, axis=self.axis)
        return tuple(np.ascontiguousarray(p) if needed else None
                     for p, needed in zip(pieces, self.needs_input_grad))

    def tensor_backward(self, g, y, *xs):
        axis, start, grads = self.axis % g.ndim, 0, []
        for x, needed in zip(xs, self.needs_input_grad):
            index = (slice(None),) * axis + (slice(start, start + x.shape[axis]),)
            grads.append(g[index] if needed else None)
            start += x.shape[axis]
        return tuple(grads)


def concatenate(tensors, axis=-1):
    """Differentiable ``np.concatenate`` of a list of Tensors."""
    return Concatenate.apply(*tensors, axis=axis)
