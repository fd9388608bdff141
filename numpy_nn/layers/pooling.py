"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D.

The formulas are in ``numpy_nn/ops/pooling.py``, the output sizes and the "same" padding rule
in ``numpy_nn/ops/geometry.py``. These layers have no weights. Inputs are (N, H, W, C) or
(N, steps, C) (``data_format="channels_last"``, the default; ``data_format=None`` means
``numpy_nn.config.image_data_format()``, channels_last unless set, as in Keras);
``"channels_first"`` inputs (N, C, H, W) / (N, C, steps) are transposed to channels_last and back.
"""
from .. import config
from ..ops import math as M
from ..ops import pooling as P
from ..ops.geometry import output_length
from .base import Layer, normalize_tuple

_DATA_FORMATS = ("channels_last", "channels_first")


def standardize_data_format(layer, data_format):
    """None -> ``config.image_data_format()`` ("channels_last" unless set); anything else is checked."""
    value = config.image_data_format() if data_format is None else str(data_format).lower()
    if value not in _DATA_FORMATS:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': data_format must be one of "
                         f"{_DATA_FORMATS}; received data_format={data_format!r}")
    return value


def layer_tuple(layer, value, name, allow_zero=False, n=2):
    """``normalize_tuple`` with the layer named in the error."""
    try:
        return normalize_tuple(value, n, name, allow_zero=allow_zero)
    except ValueError as error:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {error}") from None


def to_channels_last(x, data_format):
    """(N, C, *spatial) -> (N, *spatial, C) for channels_first; channels_last x unchanged."""
    return x if data_format == "channels_last" else M.Transpose.apply(x, axes=(0, *range(2, x.ndim), 1))


def from_channels_last(y, data_format):
    """(N, *spatial, C) -> (N, C, *spatial) for channels_first; the inverse of ``to_channels_last``."""
    return y if data_format == "channels_last" else M.Transpose.apply(y, axes=(0, y.ndim - 1, *range(1, y.ndim - 1)))


def spatial_axes(data_format, rank=2):
    """The axes of the ``rank`` spatial dimensions, batch axis included in the count."""
    return tuple(range(1, rank + 1)) if data_format == "channels_last" else tuple(range(2, rank + 2))


class _Pooling(Layer):
    """Shared lifecycle of Max/AveragePooling1D/2D (they differ in the op and the rank)."""

    rank = 2
    input_ndim = 4
    _pool = None  # the op function, set by subclasses

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = layer_tuple(self, pool_size, "pool_size", n=self.rank)
        self.strides = self.pool_size if strides is None else layer_tuple(self, strides, "strides", n=self.rank)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__} '{self.name}': padding must be 'valid' or 'same'; "
                             f"received padding={padding!r}")
        self.padding = padding.lower()
        self.data_format = standardize_data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        output_shape = list(input_shape)
        for axis, k, s in zip(spatial_axes(self.data_format, self.rank), self.pool_size, self.strides):
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


class MaxPooling2D(_Pooling):
    """Max over each (pool_size) window, moved by ``strides`` (default: pool_size).

    Gradient: to the first maximum of each window (see ``numpy_nn.ops.pooling.MaxPool2D``, also
    for windows holding a NaN, whose maximum is NaN).
    """

    _pool = staticmethod(P.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over each window; with padding="same" the padded cells are not counted.

    ``pool_size`` has no default, as in Keras 3 (``AveragePooling2D()`` raises TypeError).
    """

    _pool = staticmethod(P.avg_pool2d)

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of (N, steps, C), moved by ``strides`` (default:
    pool_size); channels_first inputs are (N, C, steps). The gradient goes to the first maximum
    of each window, as in MaxPooling2D (``numpy_nn.ops.pooling.max_pool1d``)."""

    rank, input_ndim = 1, 3
    _pool = staticmethod(P.max_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps; with padding="same" the padded steps are not
    counted (``numpy_nn.ops.pooling.avg_pool1d``). ``pool_size`` has no default, as in Keras 3."""

    rank, input_ndim = 1, 3
    _pool = staticmethod(P.avg_pool1d)

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling(Layer):
    input_ndim = 4
    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(self, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        batch, ones = input_shape[0], (1,) * (self.input_ndim - 2)
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (batch, channels)
        return (batch, *ones, channels) if self.data_format == "channels_last" else (batch, channels, *ones)

    def call(self, inputs, training=None):
        x = to_channels_last(inputs, self.data_format)
        y = self._op.apply(x, keepdims=self.keepdims)
        return from_channels_last(y, self.data_format) if self.keepdims else y

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over the spatial axes: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims."""

    _op = P.GlobalAvgPool2D


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over the spatial axes: (N, H, W, C) -> (N, C); tied maxima share the gradient."""

    _op = P.GlobalMaxPool2D


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps: (N, steps, C) -> (N, C), or (N, 1, C) with keepdims (channels_first:
    (N, C, steps) -> (N, C) or (N, C, 1)).

    With a mask (N, steps) (from Embedding(mask_zero=True) or Masking, or ``mask=``) the mean
    covers the unmasked steps only, as in Keras: sum(m x) / sum(m) (a fully masked sequence
    gives NaN, as in Keras); ``numpy_nn.ops.pooling.MaskedGlobalAvgPool1D``. The output has no mask.
    """

    input_ndim = 3
    _op = P.GlobalAvgPool2D

    def __call__(self, inputs, *args, **kwargs):
        """``layer(x, mask)`` as in Keras, whose ``call(inputs, mask=None)`` takes the mask second."""
        if len(args) > 1 or (args and "mask" in kwargs):
            raise TypeError(f"GlobalAveragePooling1D '{self.name}': takes (inputs, mask=None); received "
                            f"{1 + len(args)} positional arguments and keywords {sorted(kwargs)}")
        if args:
            kwargs["mask"] = args[0]
        return super().__call__(inputs, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if mask is None:
            return super().call(inputs)
        mask_shape, expected = tuple(getattr(mask, "shape", ())), (inputs.shape[0], inputs.shape[self._steps_axis])
        if mask_shape != expected:
            raise ValueError(f"GlobalAveragePooling1D '{self.name}': the mask must have shape (batch, steps) = "
                             f"{expected} for an input of shape {tuple(inputs.shape)} "
                             f"(data_format='{self.data_format}'); received a mask of shape {mask_shape}")
        x = to_channels_last(inputs, self.data_format)
        y = P.MaskedGlobalAvgPool1D.apply(x, mask=getattr(mask, "data", mask), keepdims=self.keepdims)
        return from_channels_last(y, self.data_format) if self.keepdims else y

    @property
    def _steps_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps: (N, steps, C) -> (N, C), or (N, 1, C) with keepdims; tied maxima share
    the gradient. As in Keras, it does not support masking: masked steps take part in the
    maximum and a mask on the input is dropped (with a warning)."""

    input_ndim = 3
    _op = P.GlobalMaxPool2D


# Keras's aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
