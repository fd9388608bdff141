"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D.

The formulas are in ``numpy_nn/ops/pooling.py``, the output sizes and the "same" padding rule
in ``numpy_nn/ops/geometry.py``. These layers have no weights. Inputs are (N, H, W, C)
(``data_format="channels_last"``, the default); ``"channels_first"`` inputs (N, C, H, W) are
transposed to channels_last and back.
"""
from ..ops import math as M
from ..ops import pooling as P
from ..ops.geometry import output_length
from .base import Layer, normalize_tuple

_DATA_FORMATS = ("channels_last", "channels_first")


def standardize_data_format(layer, data_format):
    """None -> "channels_last" (Keras's default image_data_format); anything else is checked."""
    value = "channels_last" if data_format is None else str(data_format).lower()
    if value not in _DATA_FORMATS:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': data_format must be one of "
                         f"{_DATA_FORMATS}; received data_format={data_format!r}")
    return value


def layer_tuple(layer, value, name, allow_zero=False):
    """``normalize_tuple`` with the layer named in the error."""
    try:
        return normalize_tuple(value, 2, name, allow_zero=allow_zero)
    except ValueError as error:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {error}") from None


def to_channels_last(x, data_format):
    return x if data_format == "channels_last" else M.Transpose.apply(x, axes=(0, 2, 3, 1))


def from_channels_last(y, data_format):
    return y if data_format == "channels_last" else M.Transpose.apply(y, axes=(0, 3, 1, 2))


def spatial_axes(data_format):
    return (1, 2) if data_format == "channels_last" else (2, 3)


class _Pooling2D(Layer):
    """Shared lifecycle of MaxPooling2D and AveragePooling2D (they differ only in the op)."""

    input_ndim = 4
    _pool = None  # the op function, set by subclasses

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = layer_tuple(self, pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else layer_tuple(self, strides, "strides")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__} '{self.name}': padding must be 'valid' or 'same'; "
                             f"received padding={padding!r}")
        self.padding = padding.lower()
        self.data_format = standardize_data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        output_shape = list(input_shape)
        for axis, k, s in zip(spatial_axes(self.data_format), self.pool_size, self.strides):
            out = output_length(input_shape[axis], k, s, self.padding)
            if out is None:
                continue
            if out <= 0:
                raise ValueError(f"{type(self).__name__} '{self.name}': the output size would be zero or "
                                 f"negative. Received input shape {tuple(input_shape)}, pool_size="
                                 f"{self.pool_size}, strides={self.strides}, padding='{self.padding}'")
            output_shape[axis] = out
        return tuple(output_shape)

    def call(self, inputs, training=None):
        self.compute_output_shape(inputs.shape)  # a clear error if the window does not fit
        x = to_channels_last(inputs, self.data_format)
        y = self._pool(x, pool_size=self.pool_size, strides=self.strides, padding=self.padding)
        return from_channels_last(y, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding, "strides": self.strides,
                       "data_format": self.data_format})
        return config


class MaxPooling2D(_Pooling2D):
    """Max over each (pool_size) window, moved by ``strides`` (default: pool_size).

    Gradient: to the first maximum of each window (see ``numpy_nn.ops.pooling.MaxPool2D``, also
    for windows holding a NaN, whose maximum is NaN).
    """

    _pool = staticmethod(P.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling2D):
    """Mean over each window; with padding="same" the padded cells are not counted.

    ``pool_size`` has no default, as in Keras 3 (``AveragePooling2D()`` raises TypeError).
    """

    _pool = staticmethod(P.avg_pool2d)

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling2D(Layer):
    input_ndim = 4
    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(self, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        channels = input_shape[3] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (batch, channels)
        return (batch, 1, 1, channels) if self.data_format == "channels_last" else (batch, channels, 1, 1)

    def call(self, inputs, training=None):
        x = to_channels_last(inputs, self.data_format)
        y = self._op.apply(x, keepdims=self.keepdims)
        return from_channels_last(y, self.data_format) if self.keepdims else y

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over the spatial axes: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims."""

    _op = P.GlobalAvgPool2D


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Max over the spatial axes: (N, H, W, C) -> (N, C); tied maxima share the gradient."""

    _op = P.GlobalMaxPool2D


# Keras's aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
