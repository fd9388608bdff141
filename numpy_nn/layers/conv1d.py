"""1-D convolution layers: Conv1D, SeparableConv1D, DepthwiseConv1D (Keras ``layers/convolutional``).

    Conv1D:           y = activation(conv1d(x, kernel) + bias)          kernel (k, C/groups, filters)
    DepthwiseConv1D:  y = activation(depthwise(x, kernel) + bias)       kernel (k, C, dm), bias (C*dm,)
    SeparableConv1D:  y = activation(pointwise(depthwise(x, D), P) + bias)
                      depthwise_kernel (k, C, dm), pointwise_kernel (1, C*dm, filters)

Inputs are (N, L, C) (``data_format="channels_last"``) or (N, C, L) (``"channels_first"``).
They are the 2-D layers of ``layers/conv.py`` with one spatial axis; Conv1D alone also takes
``padding="causal"`` (d*(k - 1) zeros before the sequence, none after: output step t never
reads an input after t). The formulas are in ``numpy_nn/ops/conv.py`` (Conv1D, DepthwiseConv1D).
"""
from ..ops.conv import conv1d, depthwise_conv1d, separable_conv1d
from .conv import Conv2D, DepthwiseConv2D, SeparableConv2D


class Conv1D(Conv2D):
    """1-D convolution layer: ``activation(conv1d(inputs, kernel) + bias)``, kernel (k, C/groups, filters).

    ``padding`` is "valid", "same" or "causal"; ``groups`` splits channels and filters into blocks.
    """

    rank, input_ndim, paddings = 1, 3, ("valid", "same", "causal")
    _conv = staticmethod(conv1d)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation,
                         use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                         activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class DepthwiseConv1D(DepthwiseConv2D):
    """Depthwise 1-D convolution: channel c convolved with its own dm filters, output channel c*dm + m.

    Weight ``kernel`` (k, C, depth_multiplier), ``bias`` (C*depth_multiplier,).
    """

    rank, input_ndim = 1, 3
    _depthwise = staticmethod(depthwise_conv1d)

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class SeparableConv1D(SeparableConv2D):
    """Depthwise 1-D convolution (strides, padding, dilation), then a pointwise one, then bias.

    Weights in Keras order: ``depthwise_kernel`` (k, C, dm), ``pointwise_kernel`` (1, C*dm, filters),
    ``bias`` (filters,).
    """

    rank, input_ndim = 1, 3
    _separable = staticmethod(separable_conv1d)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                         depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


Convolution1D = Conv1D
SeparableConvolution1D = SeparableConv1D

__all__ = ["Conv1D", "Convolution1D", "DepthwiseConv1D", "SeparableConv1D", "SeparableConvolution1D"]
