"""Reading inside a model on the autograd tape: layer lookup by path, taps, the class score.

Every method in ``numpy_nn.viz`` needs the same plumbing: run the model eagerly on Tensors
(so the tape records every op), keep hold of the output Tensor of one or more inner layers
(the *activations* A), and of the class score y (the pre-softmax logit when the model ends in
a softmax), then ask ``nn.grad(y, [A, x])`` for gradients. This module is that plumbing.

How a tap works: for the duration of one call, ``tap(model, layers)`` wraps each chosen
layer's ``call`` (an attribute on the layer *instance*, removed again in ``finally``) so that
the Tensor it returns is remembered. Nothing else changes: the model computes exactly what it
always computes, on the same Variables, and the remembered Tensors sit on the same tape as
the output. The wrapper works the same way for functional models, ``Sequential`` models and
layers inside nested models (addressed by a path, ``"encoder/conv2"``). A layer called several
times in one forward pass (a shared layer) is remembered at its first call, which is the call
``layer.output`` describes.

The pre-softmax logit: keras.io's Grad-CAM sets ``model.layers[-1].activation = None``. Here
the output layer's activation is wrapped instead, for one call, so that the Tensor *entering*
the softmax is remembered while the model's output stays the probabilities. A model whose
last layer is a ``Softmax`` layer or an ``Activation("softmax")`` is handled by remembering
that layer's input.
"""
import contextlib

import numpy as np

from .. import activations as activation_functions
from ..autograd.tensor import Tensor
from ..layers.base import Layer


def _is_model(layer):
    return hasattr(layer, "get_layer") and hasattr(layer, "layers")


def get_layer(model, path):
    """The layer at ``path``: a Layer, a name, or a ``/``-separated path through nested models.

    ``get_layer(model, "encoder/conv2")`` is ``model.get_layer("encoder").get_layer("conv2")``.
    """
    if isinstance(path, Layer):
        return path
    if not isinstance(path, str) or not path:
        raise TypeError(f"layer names must be non-empty strings (or Layers); received {path!r}")
    layer = model
    walked = []
    for part in path.split("/"):
        if not _is_model(layer):
            raise ValueError(f"Cannot resolve layer path {path!r}: '{'/'.join(walked)}' is a "
                             f"{type(layer).__name__}, not a model containing layers")
        try:
            layer = layer.get_layer(part)
        except ValueError as error:
            raise ValueError(f"Cannot resolve layer path {path!r} in model '{model.name}': {error}") from None
        walked.append(part)
    return layer


def layer_paths(model, prefix=""):
    """Every layer path of ``model`` in model order, nested models expanded after themselves."""
    paths = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        path = prefix + layer.name
        paths.append(path)
        if _is_model(layer):
            paths.extend(layer_paths(layer, prefix=path + "/"))
    return paths


def output_layer(model):
    """The layer that produces the model's (first) output, looking inside nested models."""
    layer = model
    while _is_model(layer):
        outputs = getattr(layer, "_graph", None)
        if outputs is not None:
            layer = layer._graph.outputs[0]._keras_history.layer
        elif layer.layers:
            layer = layer.layers[-1]
        else:
            raise ValueError(f"Model '{layer.name}' has no layers")
    return layer


def _is_softmax(function):
    return function is activation_functions.softmax


def ends_in_softmax(layer):
    """True if ``layer`` applies a softmax last (its activation, or it is a softmax layer)."""
    if type(layer).__name__ == "Softmax":
        return True
    return _is_softmax(getattr(layer, "activation", None))


_MISSING = object()


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


@contextlib.contextmanager
def tap(model, layers, logits=True):
    """Remember inner Tensors during model calls made inside the ``with`` block.

    ``layers``: a list of layers or layer paths. Yields a dict that fills as the model runs:
    ``{path: Tensor}`` (first call of each layer) and, with ``logits=True``, ``"__logits__"``:
    the Tensor entering the output layer's softmax (absent when the model ends without one).
    """
    found = {}
    patched = []  # (object, (attribute name, previous instance value or _MISSING)) to undo afterwards

    def remember(key):
        def wrap(call):
            def tapped(*args, **kwargs):
                result = call(*args, **kwargs)
                found.setdefault(key, _first(result))
                return result
            return tapped
        return wrap

    try:
        for path in layers:
            layer = get_layer(model, path)
            key = path if isinstance(path, str) else layer.name
            patched.append((layer, ("call", vars(layer).get("call", _MISSING))))
            layer.call = remember(key)(layer.call)
        if logits:
            last = output_layer(model)
            if _is_softmax(getattr(last, "activation", None)):
                softmax = last.activation

                def recording_softmax(z, *args, **kwargs):
                    found.setdefault("__logits__", z)
                    return softmax(z, *args, **kwargs)
                patched.append((last, ("activation", softmax)))
                last.activation = recording_softmax
            elif type(last).__name__ == "Softmax":
                inner = last.call

                def softmax_call(inputs, *args, **kwargs):
                    found.setdefault("__logits__", inputs)
                    return inner(inputs, *args, **kwargs)
                patched.append((last, ("call", vars(last).get("call", _MISSING))))
                last.call = softmax_call
        yield found
    finally:
        for owner, (attribute, previous) in reversed(patched):  # undo in reverse order
            if previous is _MISSING:
                vars(owner).pop(attribute, None)
            else:
                setattr(owner, attribute, previous)


def forward(model, x, layers=(), logits=True):
    """Run ``model(x, training=False)`` on the tape; return (input Tensor, outputs, {path: Tensor}).

    The input Tensor requires grad, so gradients with respect to the image are available too.
    """
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=_input_dtype(model)), requires_grad=True)
    with tap(model, list(layers), logits=logits) as found:
        outputs = model(x, training=False)
    missing = [path for path in layers if (path if isinstance(path, str) else path.name) not in found]
    if missing:
        raise ValueError(f"Layer(s) {missing} did not run when model '{model.name}' was called on an input "
                         f"of shape {tuple(x.shape)}")
    return x, outputs, found


def _input_dtype(model):
    try:
        return np.dtype(model.inputs[0].dtype)
    except (AttributeError, IndexError, TypeError):
        from .. import config
        return np.dtype(config.floatx())


def class_scores(model_output, found):
    """The class-score Tensor (N, classes): the pre-softmax logits if recorded, else the output."""
    scores = found.get("__logits__", _first(model_output))
    if scores.ndim != 2:
        raise ValueError(f"class scores must have shape (batch, classes); the model output has shape "
                         f"{tuple(scores.shape)}")
    return scores


def select(scores, class_index):
    """sum_n scores[n, k_n]: one Tensor whose gradient w.r.t. image n is d scores[n, k_n] / d image n.

    ``class_index``: None (argmax of each row), an int, or one int per image. Returns
    (the scalar Tensor, the class indices used).
    """
    n = scores.shape[0]
    if class_index is None:
        chosen = np.argmax(scores.data, axis=1)
    else:
        chosen = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,)).copy()
        classes = scores.shape[1]
        if chosen.min() < 0 or chosen.max() >= classes:
            raise ValueError(f"class_index must be in [0, {classes}); received {class_index!r}")
    return scores[np.arange(n), chosen].sum(), chosen


def last_4d_layer(model, x):
    """Path of the last top-level layer (in model order) whose output is 4-D for input ``x``."""
    candidates = [layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"]
    symbolic = []
    for name in candidates:
        try:
            symbolic.append(len(model.get_layer(name).output.shape) == 4)
        except (AttributeError, ValueError):
            symbolic = None
            break
    if symbolic is not None:
        chosen = [name for name, is_4d in zip(candidates, symbolic) if is_4d]
    else:  # no layer graph (subclassed model): find out by running it once
        _, _, found = forward(model, np.asarray(x)[:1], candidates, logits=False)
        chosen = [name for name in candidates if found[name].ndim == 4]
    if not chosen:
        raise ValueError(f"Model '{model.name}' has no layer with a 4-D (batch, height, width, channels) output")
    return chosen[-1]
