"""Reshaping layers: Flatten, Reshape, Permute, ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D.

No weights. The ops (and their gradients) are in ``numpy_nn/ops/reshaping.py`` and
``numpy_nn/ops/math.py`` (Reshape, Transpose). Image layers take (N, H, W, C) inputs
(``data_format="channels_last"``); channels_first inputs are transposed and back. The 1-D
layers take (N, steps, C); as in Keras, only ZeroPadding1D has a ``data_format``
(Cropping1D and UpSampling1D take channels_last inputs only).
"""
import math

from ..ops import math as M
from ..ops import reshaping as R
from .base import Layer
from .pooling import from_channels_last, layer_tuple, spatial_axes, standardize_data_format, to_channels_last


class Flatten(Layer):
    """(N, d1, ..., dk) -> (N, d1*...*dk) in C order (last axis fastest, i.e. channel fastest).

    channels_first inputs are first moved to channels_last, so the order matches Keras.
    """

    input_min_ndim = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def call(self, inputs, training=None):
        x = inputs
        if self.data_format == "channels_first" and x.ndim > 2:
            x = M.Transpose.apply(x, axes=(0, *range(2, x.ndim), 1))
        return M.Reshape.apply(x, shape=(x.shape[0], math.prod(x.shape[1:])))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """(N, ...) -> (N, *target_shape) in C order; ``target_shape`` excludes the batch axis and may
    hold one -1, inferred from the input size."""

    input_min_ndim = 1  # a batch axis at least

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(f"Reshape '{self.name}': target_shape must be a tuple of ints; "
                             f"received target_shape={target_shape!r}") from None
        if any(d < -1 for d in target_shape) or target_shape.count(-1) > 1:
            raise ValueError(f"Reshape '{self.name}': each entry of target_shape must be a non-negative int, "
                             f"with at most one -1; received target_shape={target_shape}")
        self.target_shape = target_shape

    def _resolve(self, input_shape):
        """The target shape with its -1 filled in (None if the input size is unknown)."""
        if None in input_shape:
            return tuple(None if d == -1 else d for d in self.target_shape)
        size, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(f"Reshape '{self.name}': cannot reshape an input of shape {tuple(input_shape)} "
                                 f"({size} values per sample) to target_shape={self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            raise ValueError(f"Reshape '{self.name}': the total size must be unchanged; input shape "
                             f"{tuple(input_shape)} has {size} values per sample, target_shape="
                             f"{self.target_shape} has {known}")
        return self.target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._resolve(tuple(input_shape[1:])))

    def call(self, inputs, training=None):
        return M.Reshape.apply(inputs, shape=(inputs.shape[0], *self._resolve(inputs.shape[1:])))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of 1..rank-1 (the batch axis stays)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute '{self.name}': dims must be a permutation of 1..{len(self.dims)} "
                             f"(the batch axis 0 is never moved); received dims={dims!r}")
        self.input_ndim = len(self.dims) + 1

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs, training=None):
        return M.Transpose.apply(inputs, axes=(0, *self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


def _two_by_two(layer, value, name):
    """int p -> ((p, p), (p, p)); (a, b) -> ((a, a), (b, b)); ((t, b), (l, r)) as given; all >= 0."""
    if isinstance(value, int):
        value = (value, value)
    if not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be an int, a tuple of 2 ints "
                         f"or a tuple of 2 tuples of 2 ints; received {name}={value!r}")
    return tuple(layer_tuple(layer, v, f"{name}[{i}]", allow_zero=True) for i, v in enumerate(value))


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros: ``padding=((top, bottom), (left, right))`` (or int, (h, w))."""

    input_ndim = 4

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _two_by_two(self, padding, "padding")
        self.data_format = standardize_data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.padding):
            shape[axis] = None if shape[axis] is None else shape[axis] + before + after
        return tuple(shape)

    def call(self, inputs, training=None):
        y = R.ZeroPad2D.apply(to_channels_last(inputs, self.data_format), padding=self.padding)
        return from_channels_last(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping2D(Layer):
    """Removes rows and columns: ``cropping=((top, bottom), (left, right))`` (or int, (h, w))."""

    input_ndim = 4

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _two_by_two(self, cropping, "cropping")
        self.data_format = standardize_data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.cropping):
            if shape[axis] is not None:
                if before + after >= shape[axis]:
                    raise ValueError(f"Cropping2D '{self.name}': Values in `cropping` argument should be smaller "
                                     f"than the corresponding spatial dimension of the input: cropping="
                                     f"{self.cropping} removes every row or column of an input of shape "
                                     f"{tuple(input_shape)} (data_format='{self.data_format}')")
                shape[axis] -= before + after
        return tuple(shape)

    def call(self, inputs, training=None):
        self.compute_output_shape(inputs.shape)
        y = R.Crop2D.apply(to_channels_last(inputs, self.data_format), cropping=self.cropping)
        return from_channels_last(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class UpSampling2D(Layer):
    """Repeats rows ``size[0]`` times and columns ``size[1]`` times ("nearest"), or interpolates
    bilinearly with half-pixel centres ("bilinear", as ``jax.image.resize``)."""

    input_ndim = 4
    _OPS = {"nearest": R.UpSample2DNearest, "bilinear": R.UpSample2DBilinear}

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = layer_tuple(self, size, "size")
        self.data_format = standardize_data_format(self, data_format)
        if not isinstance(interpolation, str) or interpolation.lower() not in self._OPS:
            raise ValueError(f"UpSampling2D '{self.name}': interpolation must be 'nearest' or 'bilinear' "
                             f"(the others Keras offers are not implemented); received "
                             f"interpolation={interpolation!r}")
        self.interpolation = interpolation.lower()

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, factor in zip(spatial_axes(self.data_format), self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * factor
        return tuple(shape)

    def call(self, inputs, training=None):
        op = self._OPS[self.interpolation]
        y = op.apply(to_channels_last(inputs, self.data_format), size=self.size)
        return from_channels_last(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class ZeroPadding1D(Layer):
    """Adds zero steps: ``padding=(before, after)`` (or an int for both) on the steps axis of
    (N, steps, C) (channels_first: (N, C, steps))."""

    input_ndim = 3

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(self, data_format)
        self.padding = layer_tuple(self, padding, "padding", allow_zero=True)

    def compute_output_shape(self, input_shape):
        shape, (axis,) = list(input_shape), spatial_axes(self.data_format, 1)
        shape[axis] = None if shape[axis] is None else shape[axis] + sum(self.padding)
        return tuple(shape)

    def call(self, inputs, training=None):
        y = R.ZeroPad1D.apply(to_channels_last(inputs, self.data_format), padding=self.padding)
        return from_channels_last(y, self.data_format)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping1D(Layer):
    """Removes steps: ``cropping=(before, after)`` (or an int for both) from (N, steps, C)."""

    input_ndim = 3

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = layer_tuple(self, cropping, "cropping", allow_zero=True)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if length is not None:
            if sum(self.cropping) >= length:
                raise ValueError(f"Cropping1D '{self.name}': `cropping` parameter of `Cropping1D` layer must be "
                                 f"smaller than the input length; cropping={self.cropping} removes every step of "
                                 f"an input of shape {tuple(input_shape)}")
            length -= sum(self.cropping)
        return (input_shape[0], length, input_shape[2])

    def call(self, inputs, training=None):
        self.compute_output_shape(inputs.shape)
        return R.Crop1D.apply(inputs, cropping=self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class UpSampling1D(Layer):
    """Repeats each step ``size`` times: (N, steps, C) -> (N, steps * size, C)."""

    input_ndim = 3

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"UpSampling1D '{self.name}': Expected an integer value for `size`; received "
                            f"size={size!r} of type {type(size).__name__}")
        if size <= 0:
            raise ValueError(f"UpSampling1D '{self.name}': Argument `size` should be a positive integer; "
                             f"received size={size}")
        self.size = size

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] * self.size, input_shape[2])

    def call(self, inputs, training=None):
        return R.UpSample1D.apply(inputs, size=self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size}
