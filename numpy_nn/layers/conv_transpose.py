"""Transposed convolution layers: Conv1DTranspose, Conv2DTranspose (Keras ``layers/convolutional``).

    y = activation(conv_transpose(x, kernel) + bias)       kernel (*kernel_size, filters, C), bias (filters,)

Note Keras's kernel layout: filters BEFORE input channels (the layout of the convolution whose
input gradient this is). Output sizes follow Keras exactly (``transpose_output_length`` in
``numpy_nn/ops/geometry.py``): "valid" gives (n - 1)*s + max(ke, s), "same" gives n*s, and
``output_padding`` (each value < its stride) picks a size explicitly. The formulas and
gradients are in ``numpy_nn/ops/conv_transpose.py``; channels_first as in ``layers/conv.py``.
"""
from .. import constraints, initializers, regularizers
from ..ops.conv_transpose import conv_transpose
from ..ops.geometry import transpose_output_length
from .conv import _BaseConv, to_channels_last


class _ConvTranspose(_BaseConv):
    """Shared by Conv1DTranspose and Conv2DTranspose (``rank`` 1 or 2)."""

    def __init__(self, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                 activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                 activity_regularizer, kernel_constraint, bias_constraint, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = self._check_positive(filters, "filters")
        self.output_padding = (None if output_padding is None
                               else self._tuple(output_padding, "output_padding", allow_zero=True))
        for i, (op, s) in enumerate(zip(self.output_padding or (), self.strides)):
            if op >= s:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): `output_padding` must be strictly "
                                 f"less than `strides` for all dimensions. At dimension {i}, `output_padding` is "
                                 f"{op} but `strides` is {s}. Received: output_padding={self.output_padding}, "
                                 f"strides={self.strides}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): `strides > 1` not supported in "
                             f"conjunction with `dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _axis_output(self, n, k, s, d, i):
        op = None if self.output_padding is None else self.output_padding[i]
        return transpose_output_length(n, k, s, self.padding, op, d)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._spatial_output(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs, training=None):
        self._check_call_input(inputs, self.kernel.shape[-1])
        outputs = conv_transpose(to_channels_last(inputs, self.data_format), self.kernel, self.strides, self.padding,
                                 self.output_padding, self.dilation_rate, bias=self.bias)
        return self._finish(outputs)

    def _output_channels(self, input_shape):
        return self.filters

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "output_padding": self.output_padding,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        })
        return config


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution: (N, L, C) -> (N, OL, filters), kernel (k, filters, C)."""

    rank, input_ndim = 1, 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution: (N, H, W, C) -> (N, OH, OW, filters), kernel (kh, kw, filters, C)."""

    rank, input_ndim = 2, 4

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose

__all__ = ["Conv1DTranspose", "Conv2DTranspose", "Convolution1DTranspose", "Convolution2DTranspose"]
