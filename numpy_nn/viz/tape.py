"""Reading inside a model on the autograd tape: inputs, layer lookup by path, taps, outputs, scores.

Every method in ``numpy_nn.viz`` needs the same plumbing: run the model eagerly on Tensors
(so the tape records every op), keep hold of the output Tensor of one or more inner layers
(the *activations* A), and of the score y being explained (one number per sample: by default
the pre-softmax logit of the predicted class), then ask ``nn.grad(y, [A, x])`` for gradients.
This module is that plumbing.

Inputs: whatever ``model.predict`` accepts -- one array, a list of arrays (one per model
input, in order) or a dict keyed by input name. ``as_batch`` checks the structure against the
model's inputs and adds a batch axis to unbatched samples (an array with one axis fewer than
the model's input); the structure of the inputs is kept, so an attribution on the inputs can
be returned in the same structure.

How a tap works: for the duration of one call, ``tap(model, layers)`` wraps each chosen
layer's ``call`` (an attribute on the layer *instance*, removed again in ``finally``) so that
the Tensor it returns is remembered. Nothing else changes: the model computes exactly what it
always computes, on the same Variables, and the remembered Tensors sit on the same tape as
the output. The wrapper works the same way for functional models, ``Sequential`` models and
layers inside nested models (addressed by a path, ``"encoder/conv2"``). A layer called several
times in one forward pass (a shared layer) is remembered at its first call, which is the call
``layer.output`` describes. ``tap(..., replace={path: fn})`` also lets ``fn`` change what that
first call returns (Ablation-CAM zeroes one channel this way).

The pre-softmax logits: keras.io's Grad-CAM sets ``model.layers[-1].activation = None``. Here
the activation of each output layer is wrapped instead, for one call, so that the Tensor
*entering* the softmax is remembered while the model's outputs stay probabilities. An output
layer that is a ``Softmax`` layer or an ``Activation("softmax")`` is handled by remembering
that layer's input. ``ModelOutputs`` then addresses the outputs by name or index and gives
each one's logits.
"""
import contextlib

import numpy as np

from .. import activations as activation_functions
from ..autograd.tensor import Tensor
from ..layers.base import Layer
from ..ops.node import flatten, pack_like


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


# --------------------------------------------------------------------------------------------
# Inputs: an array, a list or a dict, as model.predict accepts
# --------------------------------------------------------------------------------------------
def input_specs(model):
    """[(key, rank including the batch axis, dtype)] of the model's inputs; [] without a layer graph."""
    try:
        tensors = model.inputs
    except (AttributeError, TypeError):
        return []
    keys = getattr(model, "_input_keys", None) or [t.name for t in tensors]
    return [(key, len(t.shape), np.dtype(t.dtype)) for key, t in zip(keys, tensors)]


def _matched_specs(model, x, where):
    """The input spec of each leaf of ``x`` (flatten order), checking the structure against the model."""
    specs = input_specs(model)
    leaves = flatten(x)
    if not specs:  # a subclassed model without a graph: nothing to check against
        return [None] * len(leaves)
    keys = [key for key, _, _ in specs]
    if isinstance(x, dict):
        missing = [k for k in keys if k not in x]
        unknown = [k for k in x if k not in keys]
        if missing or unknown:
            raise ValueError(f"{where}: model '{model.name}' expects inputs named {keys}; the input dict has keys "
                             f"{list(x)} (missing {missing}, unknown {unknown})")
        by_key = dict(zip(keys, specs))
        return [by_key[k] for k in sorted(x)]
    if isinstance(x, (list, tuple)) and len(specs) > 1:
        if len(x) != len(specs):
            raise ValueError(f"{where}: model '{model.name}' has {len(specs)} inputs {keys}; received a "
                             f"{type(x).__name__} of {len(x)} arrays")
        return specs
    if isinstance(x, (list, tuple)) and len(x) == 1:
        return specs
    if len(specs) > 1 or len(leaves) != 1:
        raise ValueError(f"{where}: model '{model.name}' has {len(specs)} input(s) {keys}; pass "
                         + ("one array" if len(specs) == 1 else
                            f"a list of {len(specs)} arrays or a dict keyed by input name")
                         + f" (received {len(leaves)} arrays)")
    return specs


def as_batch(model, x, where="numpy_nn.viz"):
    """(x with a batch axis on every input, ``single``): the structure of ``x`` is kept.

    An input with one axis fewer than the model's input is one sample and gets a batch axis;
    ``single`` is then True (results are returned without the batch axis). Without a layer
    graph, an array of rank 3 is taken as one image (H, W, C).
    """
    if isinstance(x, (list, tuple)) and len(input_specs(model)) <= 1 and len(x) == 1:
        x = x[0]
    specs = _matched_specs(model, x, where)
    arrays, flags = [], []
    for leaf, spec in zip(flatten(x), specs):
        array = np.asarray(getattr(leaf, "data", leaf))
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{where}: inputs must be numeric arrays; received dtype {array.dtype}")
        rank = spec[1] if spec is not None else 4
        unbatched = array.ndim == rank - 1
        flags.append(unbatched)
        arrays.append(array[None] if unbatched else array)
    if len(set(flags)) > 1:
        raise ValueError(f"{where}: some inputs have a batch axis and some do not (ranks "
                         f"{[np.ndim(leaf) for leaf in flatten(x)]}, model input ranks "
                         f"{[spec[1] if spec else None for spec in specs]})")
    return pack_like(x, arrays), bool(flags and flags[0])


def unbatch(structure, single):
    """Drop the batch axis of every leaf when ``single``."""
    return pack_like(structure, [leaf[0] for leaf in flatten(structure)]) if single else structure


def input_keys(model, x):
    """A name for each leaf of ``x`` (flatten order): the input's name, else its position."""
    specs = input_specs(model)
    if isinstance(x, dict):
        return sorted(x)
    if specs and len(specs) == len(flatten(x)):
        return [key for key, _, _ in specs]
    return list(range(len(flatten(x))))


def to_tensors(model, x):
    """Every leaf of ``x`` (batched) as a Tensor that requires grad, in the model input's dtype."""
    specs = _matched_specs(model, x, "numpy_nn.viz")
    tensors = []
    for leaf, spec in zip(flatten(x), specs):
        if isinstance(leaf, Tensor):
            tensors.append(leaf)
            continue
        dtype = spec[2] if spec is not None else _input_dtype(model)
        tensors.append(Tensor(np.asarray(leaf, dtype=dtype), requires_grad=True))
    return pack_like(x, tensors)


# --------------------------------------------------------------------------------------------
# Outputs and their logits
# --------------------------------------------------------------------------------------------
def output_layers(model):
    """The layer that produces each of the model's outputs (output order), looking inside nested models."""
    graph = getattr(model, "_graph", None)
    if graph is not None:
        layers = [t._keras_history.layer for t in graph.outputs]
    elif getattr(model, "layers", None):
        layers = [model.layers[-1]]
    else:
        raise ValueError(f"Model '{model.name}' has no layers")
    return [output_layer(layer) if _is_model(layer) else layer for layer in layers]


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
    if isinstance(value, dict):
        return flatten(value)[0]
    return value[0] if isinstance(value, (list, tuple)) else value


def logits_key(index):
    """Key of the pre-softmax logits of output ``index`` in a tap's dict."""
    return ("__logits__", index)


@contextlib.contextmanager
def tap(model, layers, logits=True, replace=None):
    """Remember inner Tensors during model calls made inside the ``with`` block.

    ``layers``: a list of layers or layer paths. Yields a dict that fills as the model runs:
    ``{path: Tensor}`` (first call of each layer) and, with ``logits=True``,
    ``logits_key(i)``: the Tensor entering output i's softmax (absent for an output without
    one); ``"__logits__"`` is that of the first output. ``replace``: {path: fn}, the first call
    of that layer returns ``fn(its output)`` instead (the changed Tensor is the one remembered).
    """
    found = {}
    replace = dict(replace or {})
    patched = []  # (object, (attribute name, previous instance value or _MISSING)) to undo afterwards

    def remember(key, change):
        def wrap(call):
            def tapped(*args, **kwargs):
                result = call(*args, **kwargs)
                if key not in found:
                    if change is not None:
                        result = change(result)
                    found[key] = _first(result)
                return result
            return tapped
        return wrap

    def record_logits(indices, z):
        for index in indices:
            found.setdefault(logits_key(index), z)
            if index == 0:
                found.setdefault("__logits__", z)

    try:
        for path in list(layers) + [p for p in replace if p not in layers]:
            layer = get_layer(model, path)
            key = path if isinstance(path, str) else layer.name
            patched.append((layer, ("call", vars(layer).get("call", _MISSING))))
            layer.call = remember(key, replace.get(path))(layer.call)
        if logits:
            by_layer = {}
            for index, last in enumerate(output_layers(model)):
                by_layer.setdefault(id(last), (last, []))[1].append(index)
            for last, indices in by_layer.values():
                if _is_softmax(getattr(last, "activation", None)):
                    def recording_softmax(z, *args, _softmax=last.activation, _indices=indices, **kwargs):
                        record_logits(_indices, z)
                        return _softmax(z, *args, **kwargs)
                    patched.append((last, ("activation", last.activation)))
                    last.activation = recording_softmax
                elif type(last).__name__ == "Softmax":
                    def softmax_call(inputs, *args, _inner=last.call, _indices=indices, **kwargs):
                        record_logits(_indices, inputs)
                        return _inner(inputs, *args, **kwargs)
                    patched.append((last, ("call", vars(last).get("call", _MISSING))))
                    last.call = softmax_call
        yield found
    finally:
        for owner, (attribute, previous) in reversed(patched):  # undo in reverse order
            if previous is _MISSING:
                vars(owner).pop(attribute, None)
            else:
                setattr(owner, attribute, previous)


def forward(model, x, layers=(), logits=True, replace=None):
    """Run ``model(x, training=False)`` on the tape; return (input Tensors, outputs, {path: Tensor}).

    ``x``: a batch, as an array, a list or a dict (see ``as_batch``); the input Tensors come back
    in the same structure and require grad, so gradients with respect to the inputs are
    available too. ``replace``: see ``tap``.
    """
    inputs = to_tensors(model, x)
    with tap(model, list(layers), logits=logits, replace=replace) as found:
        outputs = model(inputs, training=False)
    missing = [path for path in layers if (path if isinstance(path, str) else path.name) not in found]
    if missing:
        shapes = [tuple(t.shape) for t in flatten(inputs)]
        raise ValueError(f"Layer(s) {missing} did not run when model '{model.name}' was called on inputs "
                         f"of shape {shapes[0] if len(shapes) == 1 else shapes}")
    return inputs, outputs, found


class ModelOutputs:
    """The model's outputs on the tape, addressed by name or index, with their pre-softmax logits.

    ``view.output(sel)``: output ``sel`` (a name in ``view.names``, an index, or None for the
    only output) as the model returns it; ``view.logits(sel)``: the Tensor entering that
    output's softmax when its last layer ends in one, else the output itself.
    ``view.returned``: the outputs as the model returned them (a Tensor, a list or a dict).
    """

    def __init__(self, model, returned, found=None):
        self.model, self.returned, self.found = model, returned, found or {}
        self.flat = flatten(returned)
        if isinstance(returned, dict):
            self.names = sorted(returned)
        else:
            names = list(getattr(model, "output_names", None) or [])
            self.names = names if len(names) == len(self.flat) else [str(i) for i in range(len(self.flat))]

    def __len__(self):
        return len(self.flat)

    def index(self, selector):
        """The position of output ``selector``; None means the only output."""
        if selector is None:
            if len(self.flat) != 1:
                raise ValueError(f"Model '{self.model.name}' has {len(self.flat)} outputs {self.names}: choose one "
                                 "with output=NAME or output=INDEX (or pass a target=)")
            return 0
        if isinstance(selector, (int, np.integer)) and not isinstance(selector, bool):
            if not -len(self.flat) <= selector < len(self.flat):
                raise ValueError(f"output={selector} is out of range: model '{self.model.name}' has "
                                 f"{len(self.flat)} output(s) {self.names}")
            return int(selector) % len(self.flat)
        if isinstance(selector, str):
            if selector not in self.names:
                raise ValueError(f"Unknown output name {selector!r}: the outputs of model '{self.model.name}' "
                                 f"are named {self.names}")
            return self.names.index(selector)
        raise TypeError(f"output must be a name (str), an index (int) or None; received {selector!r}")

    def output(self, selector=None):
        return self.flat[self.index(selector)]

    def logits(self, selector=None):
        index = self.index(selector)
        return self.found.get(logits_key(index), self.flat[index])

    def has_logits(self, selector=None):
        return logits_key(self.index(selector)) in self.found


def _input_dtype(model):
    try:
        return np.dtype(model.inputs[0].dtype)
    except (AttributeError, IndexError, TypeError):
        from .. import config
        return np.dtype(config.floatx())


def class_scores(model_output, found):
    """The class-score Tensor (N, classes) of the first output: its pre-softmax logits if recorded."""
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
    chosen = choose_classes(scores, class_index)
    return scores[np.arange(scores.shape[0]), chosen].sum(), chosen


def choose_classes(scores, class_index):
    """One class per row of ``scores`` (N, classes): the argmax, or ``class_index`` broadcast and checked."""
    n = scores.shape[0]
    if class_index is None:
        return np.argmax(np.asarray(scores.data), axis=1)
    chosen = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,)).copy()
    classes = scores.shape[1]
    if chosen.size and (chosen.min() < 0 or chosen.max() >= classes):
        raise ValueError(f"class_index must be in [0, {classes}); received {class_index!r}")
    return chosen


# --------------------------------------------------------------------------------------------
# Which layer a CAM uses by default
# --------------------------------------------------------------------------------------------
def output_rank(model, name, x=None):
    """Rank of a top-level layer's output (symbolic when possible); None if it is not one tensor."""
    try:
        output = model.get_layer(name).output
        return len(output.shape) if hasattr(output, "shape") else None
    except (AttributeError, ValueError, TypeError):
        if x is None:
            return None
        _, _, found = forward(model, unbatched_slice(x), [name], logits=False)
        return found[name].ndim


def unbatched_slice(x, count=1):
    """The first ``count`` samples of every input of a batch structure."""
    return pack_like(x, [np.asarray(leaf)[:count] for leaf in flatten(x)])


def default_cam_layer(model, x):
    """Path of the last top-level layer (in model order) with a 4-D output; else with a 3-D one.

    4-D outputs (batch, h, w, channels) are image feature maps; 3-D ones (batch, steps, channels)
    are feature maps along a sequence.
    """
    candidates = [layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"]
    ranks = [output_rank(model, name) for name in candidates]
    if any(rank is None for rank in ranks):  # no layer graph (subclassed model): find out by running it once
        _, _, found = forward(model, unbatched_slice(x), candidates, logits=False)
        ranks = [found[name].ndim for name in candidates]
    for wanted in (4, 3):
        chosen = [name for name, rank in zip(candidates, ranks) if rank == wanted]
        if chosen:
            return chosen[-1]
    raise ValueError(f"Model '{model.name}' has no layer with spatial axes: a CAM needs a layer whose output is "
                     "(batch, h, w, channels) or (batch, steps, channels)")


def last_4d_layer(model, x):
    """Path of the last top-level layer (in model order) whose output is 4-D for input ``x``."""
    name = default_cam_layer(model, x)
    if output_rank(model, name, x) != 4:
        raise ValueError(f"Model '{model.name}' has no layer with a 4-D (batch, height, width, channels) output")
    return name
