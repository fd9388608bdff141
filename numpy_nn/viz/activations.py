"""Intermediate activations: what every channel of every feature map shows for one input.

``activations(model, x)`` runs the model once (inference mode) and returns the output of each
chosen layer, by default every top-level layer whose output is 4-D (batch, height, width,
channels), in model order: the convolution and pooling stacks of the classic figure.
"""
import numpy as np

from ..autograd.function import no_grad
from . import tape


def activations(model, x, layer_names=None):
    """{layer name: array (N, ...)} for the layers in ``layer_names`` (default: 4-D outputs).

    ``x``: what ``model.predict`` accepts -- an array, a list or a dict keyed by input name --
    batched (N, H, W, C) or one sample (H, W, C), which is given a batch axis.
    ``layer_names``: names or paths into nested models (``"encoder/conv2"``), in any order;
    the dict keeps the given order. Default: every top-level layer (InputLayer excluded) whose
    output has 4 axes, in model order.
    """
    x, _ = tape.as_batch(model, x, "activations")
    if layer_names is None:
        names = tape.layer_paths(model)
        names = [name for name in names if "/" not in name]
        wanted, keep_4d = names, True
    else:
        wanted, keep_4d = list(layer_names), False
    with no_grad():
        _, _, found = tape.forward(model, x, wanted, logits=False)
    result = {}
    for name in wanted:
        key = name if isinstance(name, str) else name.name
        value = np.array(found[key].data)
        if keep_4d and value.ndim != 4:
            continue
        result[key] = value
    return result


def dead_channels(activation):
    """Boolean (C,): True for channels that are exactly zero everywhere in ``activation`` (h, w, C)."""
    activation = np.asarray(activation)
    return ~np.any(activation.reshape(-1, activation.shape[-1]) != 0, axis=0)


def channel_image(channel):
    """One channel (h, w) prepared for display as in Chollet's figure: standardize, x64, +128, clip.

        u = (a - mean(a)) / std(a) * 64 + 128, clipped to [0, 255], as uint8

    A constant channel (std = 0) is shown as mid-grey (128) instead of dividing by zero.
    """
    channel = np.asarray(channel, dtype=np.float64)
    std = channel.std()
    standardized = (channel - channel.mean()) / std if std > 0 else np.zeros_like(channel)
    return np.clip(standardized * 64 + 128, 0, 255).astype(np.uint8)
