"""Fused fast paths between neighbouring layers: BN + ReLU in training, conv + BN + activation at inference.

**Training: BatchNormalization followed by ReLU.**

A model that knows a BatchNormalization's output feeds only a ReLU (in a Sequential model, the
layer right after it, where nothing else can see that output; in a functional model, a ReLU that
is the only reader of an output that is not a model output: ``Graph.run``) runs both as one op,
``numpy_nn.ops.kernels.normalization.BatchNormReLUTrain``: the maximum is taken in the batch
norm's output memory while it is in cache, and ReLU's gradient is read from that output. The
numbers equal the two layers called one after the other (to float32 rounding; the fast-tier
composition bit for bit). Only in the fast tier, in training mode, for plain layers:

* ``BatchNormalization`` itself (not a subclass), built, trainable, no renorm, channels last;
* followed by ``ReLU()`` with its defaults or ``Activation("relu")``, already built;
* a Tensor input of the layer's dtype with no mask.

Anything else returns None and the caller calls the two layers as usual.

**Inference without a tape: a convolution, then BatchNormalization, then an activation**
(``fuse_inference``). When the conv's own activation is linear, the batch norm is *folded* into its
weights: BN(conv(x, W) + b) = conv(x, W * inv) + (b * inv + shift) with the moving statistics'
inv = rsqrt(var + eps) * gamma and shift = beta - mean * inv (``_fold_batch_norm``), so the batch
norm costs no pass over the activations; the result equals the layers one by one to float32
rounding (W * inv is rounded once per weight; the layers round once per output value). Otherwise
(a conv with its own activation before the batch norm, or more weights than outputs) the conv's
output is finished in place by ``numpy_nn.ops.kernels.epilogue``: its activation, y * inv + shift,
chunk by chunk while in cache, bit for bit the layers one by one. The activation after the batch
norm runs in place either way.
Only in the fast tier, under ``nn.no_grad()`` (``predict`` runs there), in inference mode, for:

* a plain ``Conv2D``, ``DepthwiseConv2D`` or ``SeparableConv2D`` (not a subclass), built,
  channels last, no activity regularizer, its activation linear or one of the epilogue's
  (relu, relu6, silu/swish, sigmoid, tanh, hard_sigmoid, hard_silu);
* then, optionally, a plain ``BatchNormalization`` on the last axis (its output read by
  nothing else) and, optionally, an activation layer (``ReLU`` with slope 0 and threshold 0, and
  max_value None or 6; ``Activation`` with one of the activations above), likewise alone;
* a Tensor or array input with no mask; the output dtype equal to the batch norm's;
* no layer of the chain with its ``call`` wrapped on the instance (``numpy_nn.viz.tape.tap`` reads
  and replaces outputs that way; the same rule holds for the training-mode fusion above).

The caller (``Sequential.call``, ``Graph.run``) passes the chain of sole consumers; the function
returns the output and how many of them it consumed, or None.
"""
import numpy as np

from .. import activations, config
from ..autograd.function import is_grad_enabled
from ..autograd.tensor import Tensor
from ..ops.kernels import epilogue
from ..ops.kernels.normalization import batch_norm_relu_train
from ..ops.normalization import inference_scale_shift
from .activation import ReLU
from .base import current_training
from .conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from .core import Activation
from .normalization import BatchNormalization


def _plain_relu(layer):
    if type(layer) is ReLU:
        return layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
    return type(layer) is Activation and layer.activation is activations.relu


def _own_call(*layers):
    """True when no layer has an instance-level ``call`` (``numpy_nn.viz.tape.tap`` wraps ``layer.call``
    to read or replace an output: a fused op would skip that wrapper, so such layers never fuse)."""
    return not any("call" in vars(layer) for layer in layers if layer is not None)


def fuse_batch_norm_relu(layer, following, inputs, training):
    """``following(layer(inputs, training))`` as one fused op when allowed (module docstring), else None."""
    if config.kernels() != "fast" or type(layer) is not BatchNormalization or not _plain_relu(following):
        return None
    if not _own_call(layer, following):
        return None
    if training is None:
        training = current_training()
    if not (training and layer.built and following.built and layer.trainable and not layer.renorm):
        return None
    if type(inputs) is not Tensor or getattr(inputs, "_keras_mask", None) is not None:
        return None
    if inputs.ndim < 2 or layer.axis % inputs.ndim != inputs.ndim - 1 or inputs.size == 0:
        return None
    if inputs.dtype != layer.moving_mean.dtype or inputs.shape[-1] != layer.moving_mean.shape[0]:
        return None
    outputs, mean, variance = batch_norm_relu_train(inputs, layer.gamma, layer.beta, axis=layer.axis,
                                                    epsilon=layer.epsilon)
    layer.update_moving_statistics(mean, variance)
    return outputs


FUSION_HEADS = (Conv2D, DepthwiseConv2D, SeparableConv2D)  # the layer types that may head an inference chain


def _activation_step(fn):
    """The epilogue step of activation function ``fn`` (None: not fusable); ``()`` for linear."""
    if fn is activations.linear:
        return ()
    try:  # one of the library's own functions (a user's function that is merely named "relu" is not)
        name = activations.serialize(fn)
        if activations.get(name) is not fn:
            return None
    except (ValueError, TypeError):
        return None
    step = epilogue.activation_step({"swish": "silu", "hard_swish": "hard_silu"}.get(name, name))
    return None if step is None else (step,)


def _layer_step(layer):
    """Epilogue steps for an activation layer after the batch norm (None: not fusable)."""
    if type(layer) is ReLU and layer.negative_slope == 0 and layer.threshold == 0:
        if layer.max_value is None:
            return (epilogue.activation_step("relu"),)
        return (epilogue.activation_step("relu6"),) if float(layer.max_value) == 6.0 else None
    if type(layer) is Activation:
        return _activation_step(layer.activation)
    return None


def fuse_inference(head, followers, inputs, training):
    """``head``, then ``followers`` (its chain of sole consumers, at most a BatchNormalization and an
    activation layer), run as one conv + epilogue at inference (module docstring).

    Returns ``(outputs, consumed)`` (``consumed`` = how many followers were folded in, 0 to 2), or
    None when the rules do not allow it; then the caller runs the layers as usual.
    """
    if type(head) not in FUSION_HEADS or config.kernels() != "fast" or is_grad_enabled() or not _own_call(head):
        return None
    if training is None:
        training = current_training()
    if training or not head.built or head.data_format != "channels_last" or head.activity_regularizer is not None:
        return None
    if isinstance(inputs, (list, tuple, dict)) or getattr(inputs, "_keras_mask", None) is not None:
        return None
    steps = _activation_step(head.activation)
    if steps is None:
        return None
    consumed, bn = 0, None
    followers = [layer for layer in followers if layer is not None]
    if not _own_call(*followers[:1]):
        followers = []
    elif len(followers) > 1 and not _own_call(followers[1]):
        followers = followers[:1]
    if followers and type(followers[0]) is BatchNormalization and followers[0].built \
            and followers[0].axis in (-1, followers[0].input_ndim - 1):
        bn, consumed = followers[0], 1
        if len(followers) > 1 and followers[1].built:
            act = _layer_step(followers[1])
            if act:  # an activation layer with a step (not linear: nothing to gain)
                consumed = 2
    if consumed == 0 and not steps:
        return None  # nothing to fuse: the plain layer is as fast
    inputs = head._to_tensor(inputs)  # what Layer.__call__ does before ``call`` for a built one-input layer
    head.check_input(inputs.shape, 0)
    folded = _fold_batch_norm(head, bn, inputs) if bn is not None and not steps else None
    if folded is not None:  # conv(x, W * inv) + (b * inv + shift): the batch norm costs no pass at all
        y = head.pre_activation(inputs, kernel=folded[0], bias=folded[1])
        if consumed == 2:
            epilogue.apply_in_place(y.data, _layer_step(followers[1]))
        return y, consumed
    y = head.pre_activation(inputs)
    array = y.data if isinstance(y, Tensor) else y
    if not array.flags.c_contiguous or array.ndim < 2 or array.size == 0:
        return None if consumed == 0 and not steps else _unfused(head, followers[:consumed], y, consumed)
    if bn is not None:
        dtype = bn.moving_mean.dtype
        if array.dtype != dtype or array.shape[-1] != bn.moving_mean.shape[0]:
            return _unfused(head, followers[:consumed], y, consumed)
        channels = (array.shape[-1],)  # a missing gamma / beta is the constant 1 / 0, as in batch_norm_inference
        gamma = bn.gamma.data if bn.gamma is not None else np.full(channels, 1, dtype=dtype)
        beta = bn.beta.data if bn.beta is not None else np.full(channels, 0, dtype=dtype)
        shape = (1,) * (array.ndim - 1) + (array.shape[-1],)
        _, inv, shift = inference_scale_shift(gamma, beta, bn.moving_mean.data, bn.moving_variance.data,
                                              bn.epsilon, dtype, shape)
        steps = steps + (epilogue.scale_shift(inv, shift),)
        if consumed == 2:
            steps = steps + _layer_step(followers[1])
    epilogue.apply_in_place(array, steps)
    return (y if isinstance(y, Tensor) else Tensor(array)), consumed


def _fold_batch_norm(head, bn, inputs):
    """(kernel, bias) of ``head`` with inference batch norm ``bn`` folded in, or None if they do not match
    or the weights outnumber the outputs (then scaling the outputs, the epilogue, is the cheaper pass).

    BN(conv(x, W) + b) = conv(x, W) * inv + b * inv + shift = conv(x, W * inv) + (b * inv + shift),
    inv and shift per output channel (``inference_scale_shift``): W * inv scales W's output-channel
    axis (a depthwise kernel (kh, kw, C, dm) feeds output channel c * dm + m; a separable layer's
    pointwise kernel is the one that makes its outputs). Equal to the two layers up to float32
    rounding (W * inv is rounded once per weight, where the layers round once per output value)."""
    dtype = bn.moving_mean.dtype
    weight = head.pointwise_kernel if isinstance(head, SeparableConv2D) else head.kernel
    depthwise = type(head) is DepthwiseConv2D
    channels = weight.shape[-2] * weight.shape[-1] if depthwise else weight.shape[-1]
    if weight.dtype != dtype or channels != bn.moving_mean.shape[0]:
        return None
    outputs = inputs.shape[0] * int(np.prod(head._spatial_output(tuple(inputs.shape)))) * channels
    if weight.size > outputs:
        return None
    gamma = bn.gamma.data if bn.gamma is not None else np.ones(channels, dtype=dtype)
    beta = bn.beta.data if bn.beta is not None else np.zeros(channels, dtype=dtype)
    _, inv, shift = inference_scale_shift(gamma, beta, bn.moving_mean.data, bn.moving_variance.data, bn.epsilon,
                                          dtype, (channels,))
    kernel = weight.data * (inv.reshape(weight.shape[-2:]) if depthwise else inv)
    bias = shift if head.bias is None else head.bias.data * inv + shift
    return kernel, bias


def _unfused(head, followers, y, consumed):
    """The chain run layer by layer from the head's pre-activation output (a rule failed late)."""
    y = head.activation(y)
    for layer in followers:
        y = layer(y, training=False)
    return y, consumed
