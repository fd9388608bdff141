"""The jet colormap and the small image operations the figures need, in NumPy alone.

``jet(values)`` reproduces matplotlib's ``"jet"`` (a 256-entry lookup table built from the same
piecewise-linear control points), so no matplotlib global state is involved. ``resize``
is bilinear interpolation with half-pixel centres (the convention of PIL, OpenCV and
``jax.image.resize`` when enlarging); ``gaussian_blur`` is a separable blur with reflected
borders.
"""
import numpy as np

# (position, value) control points of matplotlib's jet, one list per RGB channel
_JET_POINTS = {
    "red": [(0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)],
    "green": [(0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)],
    "blue": [(0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)],
}


def jet_table(n=256):
    """The (n, 3) float RGB lookup table of the jet colormap (entry i is jet(i / (n - 1)))."""
    position = np.linspace(0.0, 1.0, n)
    channels = []
    for name in ("red", "green", "blue"):
        xs, ys = zip(*_JET_POINTS[name])
        channels.append(np.interp(position, xs, ys))
    return np.stack(channels, axis=-1)


_JET = jet_table()


def jet(values):
    """RGB colours (..., 3) in [0, 1] for ``values`` in [0, 1] (clipped), via the 256-entry table.

    Like keras.io's Grad-CAM, a value v picks table entry ``uint8(255 * v)``.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    index = (255 * np.clip(values, 0.0, 1.0)).astype(np.uint8)
    return _JET[index]


def resize(image, size):
    """Bilinear resize of (H, W) or (H, W, C) to ``size`` = (new_H, new_W), half-pixel centres.

    Output pixel i samples the input at position (i + 0.5) * H / new_H - 0.5, clamped to the
    image, and interpolates linearly between the two nearest input pixels on each axis.
    """
    image = np.asarray(image, dtype=np.float64)
    new_h, new_w = int(size[0]), int(size[1])
    rows = _interpolation_matrix(image.shape[0], new_h)
    cols = _interpolation_matrix(image.shape[1], new_w)
    return np.einsum("ih,hw...,jw->ij...", rows, image, cols)


def _interpolation_matrix(old, new):
    """(new, old) matrix M with resized = M @ original along one axis (bilinear weights)."""
    position = (np.arange(new) + 0.5) * old / new - 0.5
    position = np.clip(position, 0, old - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, old - 1)
    frac = position - low
    matrix = np.zeros((new, old))
    matrix[np.arange(new), low] += 1 - frac
    matrix[np.arange(new), high] += frac
    return matrix


def gaussian_blur(image, sigma):
    """Blur (H, W, ...) with a Gaussian of standard deviation ``sigma`` pixels (reflected borders)."""
    image = np.asarray(image)
    if sigma <= 0:
        return image.copy()
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = image.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        out = sum(w * np.take(padded, np.arange(k, k + out.shape[axis]), axis=axis)
                  for k, w in enumerate(kernel))
    return out.astype(image.dtype if np.issubdtype(image.dtype, np.floating) else np.float64)
