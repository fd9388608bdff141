"""Masks: which time steps of a padded sequence are real. ``Masking`` and the rules that carry masks.

A mask is a boolean array (N, T): True = use the step, False = padding. It travels with the
tensor it describes, as in Keras (``tensor._keras_mask``), and ``Layer.__call__``
(numpy_nn/layers/base.py) moves it along, exactly as Keras 3's ``Layer.__call__`` does:

1. the input's mask is passed as ``mask=`` to a ``call`` that takes a ``mask`` argument (when the
   input is the call's only tensor argument and no mask was given explicitly);
2. after the call, a layer that ``supports_masking`` attaches ``compute_mask(inputs, mask)`` to
   its outputs (the default passes the input's mask through unchanged); a layer that does not
   drops the mask, with a warning.

Where masks come from: ``Embedding(mask_zero=True)`` (token 0 is padding), ``Masking(mask_value)``
(a step whose features all equal mask_value), or ``model(x, mask=m)``. Who uses them: the
recurrent layers (a masked step leaves the states unchanged, numpy_nn/ops/recurrent.py), and
``fit``/``evaluate`` (the loss and the metrics average over the unmasked positions of an output
that carries a mask, numpy_nn/models/training.py). Layers that pass a mask through: Dense,
Activation, Dropout, normalization, the merge layers (Add ... : the OR of the masks; Concatenate:
ANY over the last axis of the concatenated masks), RNN layers with ``return_sequences``, Bidirectional,
TimeDistributed. See docs/sequences.md.

In a symbolic graph (``nn.Input``) the masks are symbolic too: bool ``SymbolicTensor``s made by
the same operations Keras records (``NotEqual`` for Embedding, ``NotEqual`` + ``Any`` for Masking,
``LogicalOr`` for the merges, ...). They are nodes of the layer graph, so ``model.layers`` comes
out in Keras's order (masks add depth) and ``summary()`` lists them as Keras does; they are not
layers and hold nothing: running the model computes the masks from the values.
"""
import numpy as np

from ..ops.node import SymbolicTensor, flatten, get_mask, set_mask  # noqa: F401 (re-exported)
from .base import Layer


def is_symbolic(value):
    return getattr(value, "_is_symbolic", False)


class _MaskOp(Layer):
    """A mask operation in the layer graph (Keras's ``NotEqual``, ``Any``, ``LogicalOr`` ... nodes)."""

    is_mask_op = True

    def __init__(self, kind, shape):
        from ..naming import to_snake_case, unique_name
        super().__init__(name=unique_name(to_snake_case(kind)), dtype="bool")
        self.kind, self.shape, self.built = kind, tuple(shape), True

    def compute_output_shape(self, input_shape):
        return self.shape


def mask_op(kind, shape, parents):
    """A symbolic mask computed by the operation ``kind`` from the symbolic tensors ``parents``."""
    from ..ops.node import KerasHistory, Node
    op = _MaskOp(kind, shape)
    output = SymbolicTensor(shape, "bool", name="keras_mask", keras_history=KerasHistory(op, 0, 0))
    op._inbound_nodes.append(Node(op, call_args=list(parents), outputs=[output], output_structure=output))
    return output


def symbolic_mask(shape, parents=(), kind="NotEqual"):
    """A mask of ``shape`` in the layer graph, made by ``kind`` from ``parents`` (no value, dtype bool)."""
    parents = [p for p in parents if is_symbolic(p) and getattr(p, "_keras_history", None) is not None]
    if not parents:
        return SymbolicTensor(shape, "bool", name="keras_mask")  # named: the tensor-name counter is left alone
    return mask_op(kind, shape, parents)


def as_bool_mask(mask, what):
    """A mask given by a user (array, Tensor, list) as a boolean ndarray; nonzero = keep."""
    array = np.asarray(getattr(mask, "data", mask))
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what}: a mask must hold booleans or numbers; received dtype {array.dtype}")
    return array if array.dtype == bool else array != 0


def logical_or(masks):
    """The OR of several masks (Keras's rule for Add, Subtract, Multiply, Average, Maximum, Minimum)."""
    if any(m is None for m in masks):
        return None
    if any(is_symbolic(m) for m in masks):
        result = masks[0]
        for m in masks[1:]:
            result = symbolic_mask(result.shape, [result, m], "LogicalOr")
        return result
    result = masks[0]
    for m in masks[1:]:
        result = np.logical_or(result, m)
    return result


def concatenate_masks(inputs, masks, axis):
    """Keras's Concatenate.compute_mask: each input's mask (all True if it has none; a mask of lower
    rank gets one trailing axis) broadcast to the input's shape, concatenated on ``axis``, then ANY
    over the last axis."""
    if masks is None or all(m is None for m in masks):
        return None
    if any(is_symbolic(x) for x in inputs):  # Keras's ops: OnesLike / ExpandDims, ZerosLike, LogicalOr
        full = []
        for x, m in zip(inputs, masks):
            if m is None:
                full.append(symbolic_mask(x.shape, [x], "OnesLike"))
            elif len(m.shape) < len(x.shape):
                expanded = symbolic_mask(tuple(m.shape) + (1,), [m], "ExpandDims")
                full.append(symbolic_mask(x.shape, [expanded, symbolic_mask(x.shape, [x], "ZerosLike")],
                                          "LogicalOr"))
            else:
                full.append(m)
        shape, sizes = list(inputs[0].shape), [x.shape[axis] for x in inputs]
        shape[axis] = None if None in sizes else sum(sizes)
        return symbolic_mask(tuple(shape[:-1]), [symbolic_mask(tuple(shape), full, "Concatenate")], "Any")
    full = []
    for x, m in zip(inputs, masks):
        shape = tuple(x.shape)
        if m is None:
            full.append(np.ones(shape, dtype=bool))
        else:
            m = np.asarray(m, dtype=bool)
            full.append(np.broadcast_to(m[..., None] if m.ndim < len(shape) else m, shape))
    return np.any(np.concatenate(full, axis=axis), axis=-1)


def first_input_mask(mask):
    """The mask of a layer's first input (Keras takes masks from the first positional argument)."""
    flat = flatten(mask) if isinstance(mask, (list, tuple, dict)) else [mask]
    return flat[0] if flat else None


class Masking(Layer):
    """``Masking(mask_value=0.0)``: marks the time steps whose features all equal ``mask_value``.

    Input (N, T, ...): step (n, t) is masked when every value of x[n, t] equals mask_value. The
    output is the input with masked steps set to 0 (Keras: ``where(keep, x, 0)``, so the gradient
    there is 0), carrying the mask (N, T) = any(x != mask_value, axis=-1) for the layers below.
    """

    single_input = True
    supports_masking = True
    input_min_ndim = 2

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.integer, np.floating)):
            raise TypeError(f"Layer '{self.name}' (Masking): mask_value must be a number; received {mask_value!r}")
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        if is_symbolic(inputs):
            return symbolic_mask(inputs.shape[:-1], [symbolic_mask(inputs.shape, [inputs], "NotEqual")], "Any")
        return np.any(np.asarray(inputs.data) != self.mask_value, axis=-1)

    def call(self, inputs, training=None):
        from ..ops.math import Multiply
        keep = self.compute_mask(inputs)
        outputs = Multiply.apply(inputs, keep[..., None].astype(inputs.dtype))
        outputs.data[~keep] = 0.0  # exact zeros also where x held inf or nan
        set_mask(outputs, keep)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
