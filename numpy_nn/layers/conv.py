"""Convolution layers: Conv2D, DepthwiseConv2D, SeparableConv2D (Keras ``layers/convolutional``).

    Conv2D:           y = activation(conv2d(x, kernel) + bias)          kernel (kh, kw, C/groups, filters)
    DepthwiseConv2D:  y = activation(depthwise(x, kernel) + bias)       kernel (kh, kw, C, dm), bias (C*dm,)
    SeparableConv2D:  y = activation(conv1x1(depthwise(x, depthwise_kernel), pointwise_kernel) + bias)
                      depthwise_kernel (kh, kw, C, dm), pointwise_kernel (1, 1, C*dm, filters)

The formulas and gradients are in ``numpy_nn/ops/conv.py``. ``_BaseConv`` is written for any
rank: the 1-D layers (``layers/conv1d.py``) and the transposed ones (``layers/conv_transpose.py``)
reuse it. ``data_format="channels_first"`` (inputs (N, C, *spatial), as in Keras) keeps the
weights' layout: the input is transposed to channels_last, convolved (bias included) and the
result transposed back, which is what Keras's channels_first means numerically.
"""
import numpy as np

from .. import activations, config, constraints, initializers, regularizers
from ..ops import math as M
from ..ops.conv import conv2d, depthwise_conv2d, separable_conv2d
from ..ops.geometry import output_length
from .base import Layer, normalize_tuple


DATA_FORMATS = ("channels_last", "channels_first")


def _positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def to_channels_last(x, data_format):
    """(N, C, *spatial) -> (N, *spatial, C) for channels_first (a Transpose on the tape); else x."""
    if data_format == "channels_last":
        return x
    return M.Transpose.apply(x, axes=(0,) + tuple(range(2, len(x.shape))) + (1,))


def from_channels_last(y, data_format):
    """(N, *spatial, C) -> (N, C, *spatial) for channels_first; else y."""
    if data_format == "channels_last":
        return y
    return M.Transpose.apply(y, axes=(0, len(y.shape) - 1) + tuple(range(1, len(y.shape) - 1)))


class _BaseConv(Layer):
    """What the convolution layers share: argument checks, data_format, bias, activation, shapes, config."""

    rank = 2
    input_ndim = 4
    paddings = ("valid", "same")

    def __init__(self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                 bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.strides = self._tuple(strides, "strides")
        self.dilation_rate = self._tuple(dilation_rate, "dilation_rate")
        if not isinstance(padding, str) or padding.lower() not in self.paddings:
            allowed = ", ".join(f"'{p}'" for p in self.paddings[:-1]) + f" or '{self.paddings[-1]}'"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the `padding` argument must be "
                             f"{allowed} (case-insensitive). Received: padding={padding!r}")
        self.padding = padding.lower()
        # None: nn.config.image_data_format() ("channels_last" unless set), as Keras's default
        data_format = config.image_data_format() if data_format is None else str(data_format).lower()
        if data_format not in DATA_FORMATS:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the `data_format` argument must be "
                             f"'channels_last' or 'channels_first'. Received: data_format={data_format!r}")
        self.data_format = data_format
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        self._activity_losses = []

    def _tuple(self, value, name, allow_zero=False):
        try:
            return normalize_tuple(value, self.rank, name, allow_zero=allow_zero)
        except ValueError as error:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): {error}") from None

    def _check_positive(self, value, name):
        if not _positive_int(value):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): Invalid value for argument `{name}`. "
                             f"Expected a strictly positive value. Received {name}={value!r}.")
        return int(value)

    def _spatial_shape(self, input_shape):
        return tuple(input_shape[1:-1]) if self.data_format == "channels_last" else tuple(input_shape[2:])

    def _axis_output(self, n, k, s, d, i):
        """Output length of spatial axis i (the forward convolutions; transposed layers override it)."""
        return output_length(n, k, s, self.padding, d)

    def _spatial_output(self, input_shape):
        """Output spatial sizes for an input shape; raises if the output would be empty."""
        sizes = tuple(self._axis_output(n, k, s, d, i) for i, (n, k, s, d) in enumerate(
            zip(self._spatial_shape(input_shape), self.kernel_size, self.strides, self.dilation_rate)))
        if any(size is not None and size < 1 for size in sizes):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): Computed output size would be zero "
                             f"or negative. Received input shape={tuple(input_shape)}, kernel_size={self.kernel_size}, "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}, padding='{self.padding}'")
        return sizes

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _input_channels(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the channel axis of the input must be "
                             f"known; received input_shape={tuple(input_shape)} (data_format='{self.data_format}')")
        return int(channels)

    def _check_call_input(self, inputs, channels):
        axis = self._channel_axis()
        if inputs.shape[axis] != channels:
            raise ValueError(f"Input 0 of layer '{self.name}' ({type(self).__name__}) is incompatible with the layer: "
                             f"expected axis {axis} of the input to have value {channels}, but received input with "
                             f"shape {tuple(inputs.shape)} (data_format='{self.data_format}')")
        self._spatial_output(tuple(inputs.shape))  # a built layer fed a smaller input

    def _add_bias(self, size):
        self.bias = (self.add_weight("bias", (size,), self.bias_initializer, regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint) if self.use_bias else None)

    def _finish(self, outputs):
        """Back to the data format, activation(outputs), and Keras's activity penalty: regularizer / batch size."""
        outputs = self.activation(from_channels_last(outputs, self.data_format))
        if self.activity_regularizer is not None:
            self._activity_losses = [self.activity_regularizer(outputs) / float(max(outputs.shape[0], 1))]
        return outputs

    @property
    def losses(self):
        return super().losses + list(self._activity_losses)

    def _output_channels(self, input_shape):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _output_channels() (abstract in the base class)")

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        spatial, channels = self._spatial_output(input_shape), self._output_channels(input_shape)
        if self.data_format == "channels_first":
            return (input_shape[0], channels) + spatial
        return (input_shape[0],) + spatial + (channels,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        })
        return config


class Conv2D(_BaseConv):
    """2-D convolution layer: ``activation(conv2d(inputs, kernel) + bias)``, kernel (kh, kw, C/groups, filters)."""

    _conv = staticmethod(conv2d)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = self._check_positive(filters, "filters")
        if not _positive_int(groups):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): The number of groups must be a positive "
                             f"integer. Received: groups={groups!r}.")
        self.groups = int(groups)
        if self.filters % self.groups:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): The number of filters must be evenly "
                             f"divisible by the number of groups. Received: groups={groups}, filters={filters}.")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): `strides > 1` not supported in "
                             f"conjunction with `dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): The number of input channels must be "
                             f"evenly divisible by the number of groups. Received groups={self.groups}, but the input has {channels} "
                             f"channels (full input shape is {tuple(input_shape)})")
        self._spatial_output(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs, training=None):
        return self._finish(self.pre_activation(inputs))

    def pre_activation(self, inputs, kernel=None, bias=None):
        """conv(inputs) + bias, channels_last, before the activation (what ``call`` finishes); ``kernel`` and
        ``bias`` replace the layer's own for this call (the inference fusion folds a batch norm into them)."""
        self._check_call_input(inputs, self.kernel.shape[-2] * self.groups)
        return self._conv(to_channels_last(inputs, self.data_format), self.kernel if kernel is None else kernel,
                          self.strides, self.padding, self.dilation_rate, self.groups,
                          bias=self.bias if bias is None else bias)

    def _output_channels(self, input_shape):
        return self.filters

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "groups": self.groups,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        })
        return config


class DepthwiseConv2D(_BaseConv):
    """Depthwise convolution: channel c is convolved with its own dm filters; output channel c*dm + m.

    The weight is named ``kernel`` (as in Keras), shape (kh, kw, C, depth_multiplier).
    """

    _depthwise = staticmethod(depthwise_conv2d)

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.depth_multiplier = self._check_positive(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._spatial_output(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        self._add_bias(channels * self.depth_multiplier)
        self.built = True

    def call(self, inputs, training=None):
        return self._finish(self.pre_activation(inputs))

    def pre_activation(self, inputs, kernel=None, bias=None):
        """depthwise(inputs) + bias, channels_last, before the activation (what ``call`` finishes); ``kernel``
        and ``bias`` replace the layer's own for this call (the inference fusion folds a batch norm into them)."""
        self._check_call_input(inputs, self.kernel.shape[-2])
        return self._depthwise(to_channels_last(inputs, self.data_format), self.kernel if kernel is None else kernel,
                               self.strides, self.padding, self.dilation_rate, bias=self.bias if bias is None else bias)

    def _output_channels(self, input_shape):
        channels = input_shape[self._channel_axis()]
        return None if channels is None else channels * self.depth_multiplier

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
        })
        return config


class SeparableConv2D(_BaseConv):
    """Depthwise convolution (strides, padding, dilation) then a 1x1 pointwise convolution, then bias.

    Weights in Keras order: ``depthwise_kernel`` (kh, kw, C, dm), ``pointwise_kernel``
    (1, 1, C*dm, filters), ``bias`` (filters,). No bias between the two steps.
    """

    _separable = staticmethod(separable_conv2d)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = self._check_positive(filters, "filters")
        self.depth_multiplier = self._check_positive(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._spatial_output(input_shape)
        hidden = channels * self.depth_multiplier
        depthwise_shape = self.kernel_size + (channels, self.depth_multiplier)
        self.depthwise_kernel = self.add_weight("depthwise_kernel", depthwise_shape, self.depthwise_initializer,
                                                regularizer=self.depthwise_regularizer,
                                                constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1,) * self.rank + (hidden, self.filters),
                                                self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs, training=None):
        return self._finish(self.pre_activation(inputs))

    def pre_activation(self, inputs, kernel=None, bias=None):
        """separable(inputs) + bias, channels_last, before the activation (what ``call`` finishes); ``kernel``
        (pointwise) and ``bias`` replace the layer's own for this call (the inference fusion folds a batch
        norm into them)."""
        self._check_call_input(inputs, self.depthwise_kernel.shape[-2])
        return self._separable(to_channels_last(inputs, self.data_format), self.depthwise_kernel,
                               self.pointwise_kernel if kernel is None else kernel, self.strides, self.padding,
                               self.dilation_rate, bias=self.bias if bias is None else bias)

    def _output_channels(self, input_shape):
        return self.filters

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        })
        return config


__all__ = ["Conv2D", "DepthwiseConv2D", "SeparableConv2D"]
