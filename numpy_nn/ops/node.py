"""The layer graph's two building blocks: ``SymbolicTensor`` and ``Node``.

A ``SymbolicTensor`` stands for a value that does not exist yet: it has a shape (batch axis
``None``), a dtype and a name, and remembers where it comes from in ``_keras_history``:
``(layer, node_index, tensor_index)`` = "output ``tensor_index`` of the ``node_index``-th call
of ``layer``". Calling a layer on symbolic tensors (``Layer.__call__`` hands that case to
``numpy_nn.layers.symbolic.call_symbolic``) computes nothing; it records a ``Node``:

    Node(layer, call_args, call_kwargs, outputs)   appended to layer._inbound_nodes

so every symbolic tensor can be traced back, node by node, to the ``Input``s. That static graph
(Keras's "layer graph") drives ``Model``, ``summary()`` and ``get_layer()``; the numbers are
computed later, eagerly, on the autograd tape.

These classes sit below the layers (as Keras keeps its ``Node`` and ``KerasTensor`` beside its
ops), so ``layers/`` records graph nodes without importing ``models/``, which only walks them.
The structure helpers ``flatten``, ``pack_like`` and ``map_structure`` are shared by layers and
models for nested lists / tuples / dicts of inputs.
"""
from collections import namedtuple

import numpy as np

KerasHistory = namedtuple("KerasHistory", ["layer", "node_index", "tensor_index"])
KerasHistory.operation = property(lambda self: self.layer)  # Keras 3's name for the same field

_tensor_counter = [0]


def _auto_tensor_name():
    name = "keras_tensor" if _tensor_counter[0] == 0 else f"keras_tensor_{_tensor_counter[0]}"
    _tensor_counter[0] += 1
    return name


class SymbolicTensor:
    """A placeholder in the layer graph: shape (``None`` for unknown axes), dtype, name, history."""

    _is_symbolic = True
    _keras_mask = None  # a symbolic bool mask (N, T) when a masked sequence will flow here

    def __init__(self, shape, dtype="float32", name=None, keras_history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = str(np.dtype(dtype))
        self.name = name or _auto_tensor_name()
        self._keras_history = keras_history

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"SymbolicTensor '{self.name}' has no value: it is a placeholder of the layer graph. "
                        "Build a Model (or nn.function) from it and call that on arrays.")


def get_mask(value):
    """The mask a tensor carries (``value._keras_mask``: a bool array, or a symbolic one), or None."""
    return getattr(value, "_keras_mask", None)


def set_mask(value, mask):
    """Attach ``mask`` to a Tensor or SymbolicTensor (a plain array cannot carry one)."""
    try:
        value._keras_mask = mask
    except AttributeError:
        pass


def flatten(structure):
    """Leaves of a nested list/tuple/dict, dicts in sorted-key order (Keras's ``tree.flatten``)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    """``fn`` applied to every leaf of a nested list/tuple/dict, the nesting kept."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    return fn(structure)


def pack_like(structure, flat):
    """Inverse of ``flatten``: rebuild ``structure``'s nesting with the values of ``flat``."""
    flat = iter(flat)

    def build(item):
        if isinstance(item, (list, tuple)):
            return type(item)(build(x) for x in item)
        if isinstance(item, dict):
            values = {key: build(item[key]) for key in sorted(item)}
            return {key: values[key] for key in item}  # keep the user's key order
        return next(flat)

    return build(structure)


class Node:
    """One call of a layer in the layer graph.

    ``call_args``: the inputs structure as passed (symbolic tensors, possibly in a list/dict);
    ``call_kwargs``: extra keyword arguments recorded with the call (``training`` if given, or
    symbolic tensors such as a recurrent layer's ``initial_state``, which are inputs of the node too);
    ``mask_tensors``: the symbolic masks Keras would pass as ``mask=`` (they make the mask ops
    parents of the node, so layers are ordered as Keras orders them; values are recomputed);
    ``outputs``: the flat list of symbolic tensors the call produced, ``output_structure``
    their nesting. An ``InputLayer``'s node has no inputs (``is_input``).
    """

    def __init__(self, layer, call_args=None, call_kwargs=None, outputs=(), output_structure=None, mask_tensors=()):
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = dict(call_kwargs or {})
        self.mask_tensors = list(mask_tensors)  # masks the call receives implicitly (ordering only)
        self.input_tensors = [t for t in flatten([call_args, self.call_kwargs]) + self.mask_tensors
                              if getattr(t, "_is_symbolic", False)] if call_args is not None else []
        self.outputs = list(outputs)
        self.output_structure = output_structure if output_structure is not None else (
            self.outputs[0] if len(self.outputs) == 1 else list(self.outputs))
        self.is_input = call_args is None

    operation = property(lambda self: self.layer)
    output_tensors = property(lambda self: self.output_structure)

    @property
    def parent_nodes(self):
        """The nodes that produced this node's inputs."""
        parents = []
        for tensor in self.input_tensors:
            layer, node_index, _ = tensor._keras_history
            parents.append(layer._inbound_nodes[node_index])
        return parents

    @property
    def index(self):
        return self.layer._inbound_nodes.index(self)

    def __repr__(self):
        return f"<Node {self.layer.name}[{self.index}] inputs={[t.name for t in self.input_tensors]}>"
