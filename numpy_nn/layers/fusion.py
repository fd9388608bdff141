"""Fused fast paths between neighbouring layers: BatchNormalization followed by ReLU.

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

Anything else returns None and the caller calls the two layers as usual. Inference is not fused.
"""
from .. import activations, config
from ..autograd.tensor import Tensor
from .activation import ReLU
from .base import current_training
from .core import Activation
from .normalization import BatchNormalization


def _plain_relu(layer):
    if type(layer) is ReLU:
        return layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
    return type(layer) is Activation and layer.activation is activations.relu


def fuse_batch_norm_relu(layer, following, inputs, training):
    """``following(layer(inputs, training))`` as one fused op when allowed (module docstring), else None."""
    if config.kernels() != "fast" or type(layer) is not BatchNormalization or not _plain_relu(following):
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
    from ..ops.kernels.normalization import batch_norm_relu_train
    outputs, mean, variance = batch_norm_relu_train(inputs, layer.gamma, layer.beta, axis=layer.axis,
                                                    epsilon=layer.epsilon)
    layer.update_moving_statistics(mean, variance)
    return outputs
