"""Recording the layer graph: what ``Layer.__call__`` does when its inputs are symbolic.

    x = nn.Input((8,), name="features")          # SymbolicTensor (None, 8)
    h = Dense(16, activation="relu")(x)          # Layer.__call__ sees a symbolic input and calls
                                                 #   call_symbolic(): build, infer shape, record Node

Nothing is computed: the layer is built for the input shapes, its ``compute_output_shape`` gives
the output shapes, and a ``Node`` (numpy_nn/ops/node.py) is appended to
``layer._inbound_nodes``. ``numpy_nn.models`` later walks those nodes to build a ``Model``.

Masks follow the same rule as in an eager call (numpy_nn/layers/base.py): the outputs of a layer
that supports masking carry ``compute_mask(inputs, mask)``, here a symbolic bool tensor made by a
mask operation (numpy_nn/layers/masking.py). A node lists the masks its call receives
(``mask_tensors``) for the graph's order only: running the graph recomputes them from the values.
"""
import numpy as np

from ..ops.node import KerasHistory, Node, SymbolicTensor, flatten, map_structure


def _is_symbolic(value):
    return getattr(value, "_is_symbolic", False)


def _is_shape(value):
    return isinstance(value, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in value)


def _describe(shapes):
    return str(map_structure(lambda s: s, shapes)).replace("'", "")


def call_symbolic(layer, inputs, training=None, **kwargs):
    """Call ``layer`` on symbolic tensors: build it, infer output shapes, record a ``Node``.

    Returns symbolic output tensor(s) whose ``_keras_history`` points at the new node.
    """
    shapes = map_structure(lambda t: tuple(t.shape) if _is_symbolic(t) else tuple(np.shape(t)), inputs)
    symbolic = [t for t in flatten(inputs) if _is_symbolic(t)]
    single = layer._takes_one_tensor()
    if single and isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]  # [x] is x for a single-input layer
        shapes = shapes[0]
    if single and isinstance(inputs, (list, tuple, dict)):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) expects 1 input tensor, but it received "
                         f"a {type(inputs).__name__} of {len(flatten(inputs))} inputs")
    for i, tensor in enumerate(symbolic):
        layer.check_input(tensor.shape, i)
    mask_for_call, previous_mask = layer._input_masks(inputs, kwargs)
    try:
        if not layer.built:
            layer._build_input_shape = shapes
            layer.build(shapes)
            layer.built = True
        else:
            _check_built_shape(layer, shapes)
        output_shapes = layer.compute_output_shape(shapes)
    except (ValueError, TypeError, IndexError) as error:
        if f"'{layer.name}'" in str(error):
            raise
        raise type(error)(f"Layer '{layer.name}' ({type(layer).__name__}) cannot be applied to input "
                          f"shape {_describe(shapes)}: {error}") from error
    batch_unknown = any(t.shape and t.shape[0] is None for t in symbolic)

    if getattr(layer, "_is_graph_network", False):  # a functional Model: its outputs' dtypes
        dtypes = [t.dtype for t in layer.outputs]
    else:
        dtypes = None
    node_index = len(layer._inbound_nodes)
    counter = iter(range(10**9))

    def make_tensor(shape):
        index = next(counter)
        shape = tuple(shape)
        if batch_unknown and shape:
            shape = (None,) + shape[1:]
        dtype = dtypes[index] if dtypes and index < len(dtypes) else layer.dtype
        return SymbolicTensor(shape, dtype, keras_history=KerasHistory(layer, node_index, index))

    if _is_shape(output_shapes):
        outputs = make_tensor(output_shapes)
    else:
        outputs = _map_shapes(make_tensor, output_shapes)
    call_kwargs = dict(kwargs)
    if training is not None:
        call_kwargs["training"] = training
    layer._inbound_nodes.append(Node(layer, call_args=inputs, call_kwargs=call_kwargs, outputs=flatten(outputs),
                                     output_structure=outputs, mask_tensors=flatten(mask_for_call or [])))
    layer._attach_output_masks(inputs, outputs, previous_mask)
    return outputs


def _map_shapes(fn, shapes):
    """Apply ``fn`` to every shape (a tuple of ints/None) inside a list/tuple/dict of shapes."""
    if _is_shape(shapes):
        return fn(shapes)
    if isinstance(shapes, dict):
        return {k: _map_shapes(fn, v) for k, v in shapes.items()}
    return type(shapes)(_map_shapes(fn, s) for s in shapes)


def _check_built_shape(layer, shapes):
    """A built layer with weights cannot take a different feature size (last axis)."""
    built_shape = layer._build_input_shape
    if not layer.weights or not _is_shape(built_shape) or not _is_shape(shapes) or not shapes:
        return
    if len(built_shape) == len(shapes) and built_shape[-1] is not None and shapes[-1] is not None \
            and built_shape[-1] != shapes[-1]:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) was built for input shape "
                         f"{built_shape}, but it was called on input shape {shapes} "
                         f"(last axis {shapes[-1]} != {built_shape[-1]})")
