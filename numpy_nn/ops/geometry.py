"""Sliding-window geometry, shared by every convolution and pooling op and layer.

One spatial axis of length ``n``, window (kernel) size ``k``, stride ``s``, dilation ``d``; the
window covers ``ke = d*(k - 1) + 1`` input positions (its *effective* size). Keras (and XLA)
define the output length and the padding as:

    valid:   out = floor((n - ke) / s) + 1                 no padding
    same:    out = ceil(n / s)                             pad so that this holds:
             total  = max((out - 1)*s + ke - n, 0)
             before = total // 2,  after = total - before  (an odd total puts the extra
                                                            position after: bottom / right)
    causal:  out = ceil(n / s)                             (1-D only) pad d*(k - 1) before, 0 after:
                                                           output t never sees inputs after t

PyTorch's ``padding="same"`` (stride 1 only) splits the total the same way (extra position after),
so the two libraries agree for every kernel size.

Output position ``o`` along the axis reads the padded input at ``o*s + t*d`` for window tap
``t = 0 .. k-1``. With several spatial axes (channels_last: ``x`` is (N, *spatial, C)) every
axis follows the rule on its own; ``WindowGeometry`` holds them together and gives the two
views every op is written with: ``tap(offsets)`` — the input positions one kernel tap meets,
for all output positions at once — and ``windows(xp)`` — every window as extra axes.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

PADDINGS = ("valid", "same", "causal")


def normalize_tuple(value, n, name, allow_zero=False, owner=None):
    """An int or an n-sequence of ints -> an n-tuple, validated (``kernel_size=3`` -> (3, 3)).

    ``owner`` (e.g. ``"Layer 'conv' (Conv2D)"``) is named in the error when given.
    """
    where = f"{owner}: " if owner else ""
    if isinstance(value, (int, np.integer)):
        values = (int(value),) * n
    else:
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}The `{name}` argument must be an int or a tuple of {n} ints, "
                             f"got {value!r}") from None
        if len(values) != n:
            raise ValueError(f"{where}The `{name}` argument must be a tuple of {n} ints, got {value!r}")
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        raise ValueError(f"{where}The `{name}` argument must be {'non-negative' if allow_zero else 'positive'}; "
                         f"received {name}={value!r}")
    return values


def normalize_padding(padding, allowed=("valid", "same")):
    """"VALID" -> "valid"; anything not in ``allowed`` is refused with the allowed values named."""
    value = str(padding).lower()
    if value not in allowed:
        raise ValueError(f"padding must be one of {list(allowed)}, got {padding!r}")
    return value


def effective_size(k, d=1):
    """Input positions a window of k taps with dilation d spans: d*(k - 1) + 1."""
    return d * (k - 1) + 1


def output_length(n, k, s=1, padding="valid", d=1):
    """Output length of one axis (see the module docstring); ``None`` (unknown) stays ``None``."""
    if n is None:
        return None
    padding = normalize_padding(padding, PADDINGS)
    if padding in ("same", "causal"):
        return -(-n // s)
    return (n - effective_size(k, d)) // s + 1


def padding_amounts(n, k, s=1, padding="valid", d=1):
    """(before, after) positions of padding on one axis for ``padding`` valid, same or causal."""
    padding = normalize_padding(padding, PADDINGS)
    ke = effective_size(k, d)
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return ke - 1, 0
    total = max((output_length(n, k, s, "same") - 1) * s + ke - n, 0)
    return total // 2, total - total // 2


def same_padding(n, k, s=1, d=1):
    """Keras/XLA "same" padding of one axis as (before, after); the extra position goes after."""
    return padding_amounts(n, k, s, "same", d)


def pad(x, pads, value=0):
    """x (N, *spatial, C) with ``pads[i] = (before, after)`` positions of ``value`` added on spatial axis i."""
    if all(p == (0, 0) for p in pads):
        return x
    return np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=value)


class WindowGeometry:
    """The sliding windows of one call: sizes, strides, dilation and padding of every spatial axis.

    ``WindowGeometry(x_shape, kernel_size, strides, padding, dilation_rate, what="Conv2D")`` for a
    channels_last ``x_shape = (N, *spatial, C)``. Attributes: ``spatial`` (input sizes), ``kernel``,
    ``strides``, ``dilation``, ``out`` (output sizes), ``pads`` ((before, after) per axis).
    """

    def __init__(self, x_shape, kernel_size, strides, padding, dilation_rate=1, what="window op"):
        self.n, self.spatial, self.channels = x_shape[0], tuple(x_shape[1:-1]), x_shape[-1]
        rank = len(self.spatial)
        self.kernel = normalize_tuple(kernel_size, rank, "kernel_size")
        self.strides = normalize_tuple(strides, rank, "strides")
        self.dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = normalize_padding(padding, PADDINGS)
        if self.padding == "causal" and rank != 1:
            raise ValueError(f"{what}: padding 'causal' exists only for 1-D inputs, got spatial shape {self.spatial}")
        axes = list(zip(self.spatial, self.kernel, self.strides, self.dilation))
        self.out = tuple(output_length(n, k, s, self.padding, d) for n, k, s, d in axes)
        self.pads = tuple(padding_amounts(n, k, s, self.padding, d) for n, k, s, d in axes)
        if any(o < 1 for o in self.out):
            raise ValueError(f"{what}: output would be empty: input {self.spatial}, window {self.kernel}, "
                             f"strides {self.strides}, dilation {self.dilation}, padding {self.padding!r} "
                             f"give an output of {self.out}")

    @property
    def padded_spatial(self):
        return tuple(n + before + after for n, (before, after) in zip(self.spatial, self.pads))

    @property
    def taps(self):
        """Every kernel tap offset (a, b, ...) in C order: (0, 0), (0, 1), ..."""
        return list(np.ndindex(*self.kernel))

    def pad(self, x, value=0):
        return pad(x, self.pads, value)

    def unpad(self, xp):
        """The part of a padded array that lies over the original input."""
        index = tuple(slice(before, before + n) for n, (before, _) in zip(self.spatial, self.pads))
        return xp[(slice(None),) + index]

    def tap(self, offsets):
        """Index of the padded input that kernel tap ``offsets`` meets at every output position:
        ``xp[geo.tap((a, b))][n, i, j, c] = xp[n, i*sh + a*dh, j*sw + b*dw, c]``."""
        index = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                      for t, d, s, o in zip(offsets, self.dilation, self.strides, self.out))
        return (slice(None),) + index

    def windows(self, xp):
        """Read-only view (N, *out, *kernel, C) of every window:
        ``windows[n, i, j, a, b, c] = xp[n, i*sh + a*dh, j*sw + b*dw, c]``."""
        strides = xp.strides
        spatial = strides[1:-1]
        shape = (xp.shape[0],) + self.out + self.kernel + (xp.shape[-1],)
        view_strides = ((strides[0],) + tuple(st * s for st, s in zip(spatial, self.strides))
                        + tuple(st * d for st, d in zip(spatial, self.dilation)) + (strides[-1],))
        return as_strided(xp, shape, view_strides, writeable=False)


__all__ = ["PADDINGS", "normalize_tuple", "normalize_padding", "effective_size", "output_length",
           "padding_amounts", "same_padding", "pad", "WindowGeometry"]
