"""The functional API: ``Model`` (walking and running the layer graph) and ``function``.

Building a graph::

    x = nn.Input((8,), name="features")          # SymbolicTensor (None, 8)
    h = Dense(16, activation="relu")(x)          # Layer.__call__ sees a symbolic input and calls
    y = Dense(1)(h)                              #   call_symbolic() (numpy_nn/layers/symbolic.py)
    model = nn.Model(x, y)                       # walks the Nodes back from y to x

``Model`` orders the graph like Keras (``ops/function.py: map_graph``): a depth-first walk from
the outputs numbers every layer by first visit, each node gets a depth (0 at the outputs, a
parent one deeper than its deepest child), and ``model.layers`` lists layers by decreasing depth,
ties broken by first visit. That order is ``get_weights()``'s order, so it must be Keras's.

An eager call ``model(x, training=None)`` runs the nodes in that order on Tensors, so the
autograd tape records every op; a layer used twice (a shared layer) simply runs twice on the
same Variables and the tape sums both gradient contributions.
"""
import numpy as np

from ..autograd.function import is_grad_enabled, no_grad
from ..autograd.tensor import Tensor
from ..layers.base import Layer, _training_stack, current_training, unique_name
from ..layers.inputs import split_inputs, to_tensor
from ..layers.fusion import FUSION_HEADS, fuse_batch_norm_relu, fuse_inference
from ..layers.masking import as_bool_mask
from ..layers.normalization import BatchNormalization
from ..layers.symbolic import _describe, _is_shape, _is_symbolic, call_symbolic
from ..ops.node import flatten, get_mask, map_structure, pack_like, set_mask


# ---------------------------------------------------------------------------------------------
# Ordering and running a graph
# ---------------------------------------------------------------------------------------------
class Graph:
    """The nodes between some input tensors and some output tensors, ordered as Keras orders them.

    ``nodes_by_depth`` {depth: [Node]}, ``layers`` (decreasing depth, ties by first visit from
    the outputs), ``nodes`` (the set of nodes that belong to this graph).
    """

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = list(inputs), list(outputs)
        for role, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not tensors:
                raise ValueError(f"The `{role}` of a model cannot be empty")
            for t in tensors:
                if not _is_symbolic(t) or t._keras_history is None:
                    raise ValueError(f"All `{role}` must be symbolic tensors made by nn.Input or by calling "
                                     f"layers on them; received {t!r} of type {type(t).__name__}")
        ordered_nodes, first_visit = self._depth_first(self.inputs, self.outputs)
        graph_nodes = set(ordered_nodes)
        node_depth, layer_depth = {}, {}
        for node in reversed(ordered_nodes):  # from the outputs towards the inputs
            depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
            layer_depth[node.layer] = depth
            node_depth[node] = depth
            for parent in node.parent_nodes:
                if parent in graph_nodes:
                    node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
        for tensor in self.inputs:  # inputs that no output uses still belong to the model
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if layer not in layer_depth and node.is_input:
                layer_depth[layer], first_visit[layer], node_depth[node] = 0, -1, 0
                ordered_nodes.append(node)
        self.nodes = set(node_depth)
        self.nodes_by_depth = {}
        for node, depth in node_depth.items():
            self.nodes_by_depth.setdefault(depth, []).append(node)
        # Keras's operations: the layers and the mask ops (NotEqual, ...); model.layers leaves the ops out
        self.operations = sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_visit[layer]))
        self.layers = [op for op in self.operations if not getattr(op, "is_mask_op", False)]
        self._check_connected()
        names = [layer.name for layer in self.layers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f'The name "{name}" is used {names.count(name)} times in the model. '
                                 "All layer names should be unique.")

    @staticmethod
    def _depth_first(inputs, outputs):
        finished, in_progress, ordered, first_visit = set(), set(), [], {}
        input_ids = {id(t) for t in inputs}

        def visit(tensor):
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if node in finished:
                return
            if not node.is_input and id(tensor) in input_ids:  # an inner tensor used as an input
                finished.add(node)
                return
            if node in in_progress:
                raise ValueError(f"Tensor {tensor.name} from layer '{layer.name}' is part of a cycle")
            first_visit.setdefault(layer, len(first_visit))
            in_progress.add(node)
            for parent_tensor in node.input_tensors:
                visit(parent_tensor)
            in_progress.discard(node)
            finished.add(node)
            ordered.append(node)

        for tensor in outputs:
            visit(tensor)
        return ordered, first_visit

    def _check_connected(self):
        computable = {id(t) for t in self.inputs}
        input_names = [t.name for t in self.inputs]
        done = []
        for depth in sorted(self.nodes_by_depth, reverse=True):
            for node in self.nodes_by_depth[depth]:
                for tensor in node.input_tensors:
                    if id(tensor) not in computable:
                        source = tensor._keras_history.layer
                        what = (f"input '{source.name}'" if source._inbound_nodes[0].is_input
                                else f"tensor {tensor.name} (output of layer '{source.name}')")
                        raise ValueError(f"Graph disconnected: cannot obtain a value for {what}, needed by "
                                         f"layer '{node.layer.name}'. It is not one of the model's inputs "
                                         f"{input_names}. The following previous layers were accessed "
                                         f"without issue: {done}")
                if not node.is_input or any(id(t) in computable for t in node.outputs):
                    computable.update(id(t) for t in node.outputs)
                    done.append(node.layer.name)
        for tensor in self.outputs:
            if id(tensor) not in computable:
                raise ValueError(f"Graph disconnected: output {tensor.name} (layer "
                                 f"'{tensor._keras_history.layer.name}') cannot be computed from the inputs "
                                 f"{input_names}")

    def run(self, values, training=None):
        """Evaluate the graph eagerly: ``values`` aligned with ``self.inputs`` -> list of outputs.

        Without a tape (``nn.no_grad()``, ``predict``) a value is dropped as soon as its last
        reader has run, so that its memory is reused by the next layers; a conv followed by a
        batch norm and an activation may run as one op (``layers/fusion.py``, ``fuse_inference``)."""
        computed = {id(t): v for t, v in zip(self.inputs, values)}
        readers_left = None if is_grad_enabled() else self._reader_counts()
        for depth in sorted(self.nodes_by_depth, reverse=True):
            for node in self.nodes_by_depth[depth]:
                if node.is_input or any(id(t) not in computed for t in node.input_tensors):
                    continue
                self._run_node(node, computed, training, readers_left)
        return [computed[id(t)] for t in self.outputs]

    def _reader_counts(self):
        """{id(tensor): number of nodes reading it}, graph outputs counted once more (never dropped)."""
        if not hasattr(self, "_readers"):
            readers = {}
            for node in self.nodes:
                if not node.is_input:
                    for tensor in node.input_tensors:
                        readers[id(tensor)] = readers.get(id(tensor), 0) + 1
            for tensor in self.outputs:
                readers[id(tensor)] = readers.get(id(tensor), 0) + 1
            self._readers = readers
        return dict(self._readers)

    def _run_node(self, node, computed, training, readers_left):
        """One step of ``run``: the node's layer (or a fused group starting at it) on the computed values.

        A node whose fused group includes its readers writes the last reader's output; the readers are
        then skipped by ``run`` (their inputs never get computed). ``readers_left`` (no tape): values
        read for the last time are dropped."""
        if getattr(node.layer, "is_mask_op", False):  # masks travel with the values
            computed.update((id(t), None) for t in node.outputs)
            return
        args = map_structure(lambda t: computed[id(t)] if _is_symbolic(t) else t, node.call_args)
        kwargs = map_structure(lambda t: computed[id(t)] if _is_symbolic(t) else t, dict(node.call_kwargs))
        if training is not None:
            kwargs["training"] = training
        ran, result = [node], None
        relu = self._only_consumer(node) if type(node.layer) is BatchNormalization else None
        fused = None if relu is None else fuse_batch_norm_relu(node.layer, relu.layer, args, training)
        if fused is not None:  # training: BN + ReLU in one op, the BN output never exists
            ran.append(relu)
            result = fused
        elif readers_left is not None:  # inference without a tape: conv [+ BN [+ activation]]
            chain = self._fusion_chain(node)
            grouped = None if chain is None else fuse_inference(node.layer, [n.layer if n else None for n in chain],
                                                                args, training)
            if grouped is not None:  # (consumed = 0: the conv and its own activation alone, in place)
                result, consumed = grouped
                ran += chain[:consumed]
        if result is not None:
            computed[id(ran[-1].outputs[0])] = result
        else:
            result = node.layer(args, **kwargs)
            for tensor, value in zip(node.outputs, flatten(result)):
                computed[id(tensor)] = value
        if readers_left is not None:
            for done in ran:
                for tensor in done.input_tensors:
                    key = id(tensor)
                    if key in readers_left:
                        readers_left[key] -= 1
                        if readers_left[key] <= 0:
                            computed.pop(key, None)

    def _fusion_chain(self, node):
        """[reader, reader of the reader] of a conv node's output (each the sole reader, else None), or
        None when the node itself cannot head a fused chain; computed once per node (the graph is fixed)."""
        if not hasattr(self, "_chains"):
            self._chains = {}
        key = id(node)
        if key not in self._chains:
            chain = None
            if type(node.layer) in FUSION_HEADS and not _has_kwargs(node):
                first = self._only_consumer(node)
                chain = [first, self._only_consumer(first) if first is not None else None]
            self._chains[key] = chain
        return self._chains[key]

    def _only_consumer(self, node):
        """The node that alone consumes ``node``'s single output, called on it alone with no arguments (and
        that output is not a graph output), or None: then the two may be fused."""
        if len(node.outputs) != 1 or _has_kwargs(node) or any(t is node.outputs[0] for t in self.outputs):
            return None
        if not hasattr(self, "_consumers"):
            self._consumers = {}
            for other in self.nodes:
                for tensor in other.input_tensors:
                    self._consumers.setdefault(id(tensor), []).append(other)
        consumers = self._consumers.get(id(node.outputs[0]), [])
        if len(consumers) != 1 or consumers[0].call_args is not node.outputs[0] or _has_kwargs(consumers[0]):
            return None
        return consumers[0]

    def output_shapes(self, input_shapes):
        """Propagate shapes (no values) through the graph: the nested-model compute_output_shape."""
        computed = {id(t): tuple(s) for t, s in zip(self.inputs, input_shapes)}
        for depth in sorted(self.nodes_by_depth, reverse=True):
            for node in self.nodes_by_depth[depth]:
                if node.is_input:
                    continue
                shapes = map_structure(lambda t: computed[id(t)] if _is_symbolic(t) else tuple(np.shape(t)),
                                        node.call_args)
                result = node.layer.compute_output_shape(shapes)
                flat = [result] if _is_shape(result) else flatten(_map_shapes(lambda s: [s], result))
                for tensor, shape in zip(node.outputs, flat):
                    computed[id(tensor)] = tuple(shape)
        return [computed[id(t)] for t in self.outputs]


def _has_kwargs(node):
    """True if the node was called with a keyword argument other than ``mask=None`` (which Keras records
    for BatchNormalization calls in saved models, and which changes nothing)."""
    return any(not (key == "mask" and value is None) for key, value in node.call_kwargs.items())


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
from .training import Trainer  # noqa: E402  (Trainer needs nothing from this module at import)


class Model(Trainer, Layer):
    """A graph of layers with a training loop: ``Model(inputs, outputs, name=None)``.

    ``inputs``/``outputs``: one symbolic tensor, a list, or a dict (dict keys are the names used
    to feed and read them). A subclass may build its graph in ``__init__`` and call
    ``super().__init__(inputs, outputs)``; a subclass that calls ``super().__init__()`` without a
    graph and overrides ``call`` is a plain container of the layers assigned to it.
    A Model is a Layer, so it can be called on symbolic tensors inside another model.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        self._is_graph_network = False
        self._sublayers_by_attribute = []
        Layer.__init__(self, name=name or unique_name(self._default_name()), trainable=trainable, **kwargs)
        Trainer.__init__(self)
        if inputs is None and outputs is None:
            return
        if inputs is None or outputs is None:
            raise ValueError(f"Model '{self.name}': pass both `inputs` and `outputs` "
                             f"(received inputs={inputs!r}, outputs={outputs!r})")
        self._init_graph(inputs, outputs)

    def _default_name(self):
        return "functional" if type(self) is Model else _snake(type(self).__name__)

    def _init_graph(self, inputs, outputs):
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._graph = Graph(flatten(inputs), flatten(outputs))
        self._is_graph_network = True
        self._sublayers = [layer for layer in self._graph.layers]
        self.built = True
        self._input_keys = sorted(inputs) if isinstance(inputs, dict) else [t.name for t in self._graph.inputs]
        self.output_names = sorted(outputs) if isinstance(outputs, dict) else \
            [t._keras_history.layer.name for t in self._graph.outputs]

    # -- attributes -------------------------------------------------------------------------------
    def __setattr__(self, key, value):
        # A subclassed (non-graph) model owns the layers assigned to it, in assignment order.
        if isinstance(value, Layer) and not key.startswith("_") and not getattr(self, "_is_graph_network", True):
            if value not in self._sublayers:
                self._sublayers.append(value)
        object.__setattr__(self, key, value)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in getattr(self, "_sublayers", []):  # Keras freezes (or unfreezes) every sublayer
            layer.trainable = self._trainable

    @property
    def layers(self):
        """The layers in graph order (InputLayers included for functional models, like Keras)."""
        if self._is_graph_network:
            return list(self._graph.layers)
        return list(self._sublayers)

    @property
    def inputs(self):
        self._require_graph("inputs")
        return list(self._graph.inputs)

    @property
    def outputs(self):
        self._require_graph("outputs")
        return list(self._graph.outputs)

    @property
    def input(self):
        self._require_graph("input")
        return self._inputs_struct

    @property
    def output(self):
        self._require_graph("output")
        return self._outputs_struct

    @property
    def input_names(self):
        self._require_graph("input_names")
        return [t._keras_history.layer.name for t in self._graph.inputs]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _require_graph(self, what):
        if not self._is_graph_network:
            raise AttributeError(f"Model '{self.name}' has no `{what}`: it is not a graph of layers yet "
                                 "(build it from nn.Input tensors, or call it on data first)")

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in ``model.layers`` (exactly one of the two)."""
        if (name is None) == (index is None):
            raise ValueError(f"get_layer: provide exactly one of `name` or `index`; received name={name!r}, "
                             f"index={index!r}")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model '{self.name}' only "
                                 f"has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in layers]}.")

    # -- calling ----------------------------------------------------------------------------------
    def _takes_one_tensor(self):
        return False  # a model takes the structure its inputs were declared with

    def __call__(self, inputs, training=None, **kwargs):
        if any(_is_symbolic(x) for x in flatten(inputs)):
            return call_symbolic(self, inputs, training=training, **kwargs)
        if training is None:
            training = current_training()
        if not self.built:
            self._build_from_data(inputs)
        mask_for_call, previous_mask = self._input_masks(inputs, kwargs)
        if mask_for_call is not None:
            kwargs = dict(kwargs, mask=mask_for_call)
        _training_stack.append(training)
        try:
            outputs = self.call(inputs, **self._call_arguments(training, kwargs))
        finally:
            _training_stack.pop()
        if not self._is_graph_network:  # a graph's outputs carry the masks its layers computed
            self._attach_output_masks(inputs, outputs, previous_mask)
        return outputs

    def _build_from_data(self, inputs):
        self.built = True

    def call(self, inputs, training=None, mask=None):
        """Run the graph eagerly on arrays/Tensors; returns Tensors in the outputs' structure.

        ``mask``: one boolean mask (N, T) per input (a list for several inputs), attached to the
        inputs for the layers below (as Keras's ``model(x, mask=m)``); masks carried by the input
        Tensors are used too."""
        if not self._is_graph_network:
            raise NotImplementedError(f"Model '{self.name}' has no graph: a subclass must define call()")
        carried = [get_mask(x) for x in (flatten(inputs) if isinstance(inputs, (list, tuple, dict)) else [inputs])]
        values = self._standardize_inputs(inputs)
        masks = (flatten(mask) if isinstance(mask, (list, tuple)) else [mask]) if mask is not None else carried
        for value, m in zip(values, masks if len(masks) == len(values) else []):
            if m is not None:
                set_mask(value, m if _is_symbolic(m) else as_bool_mask(m, f"Model '{self.name}' mask"))
        outputs = self._graph.run(values, training=training)
        result = pack_like(self._outputs_struct, outputs)
        if isinstance(result, list) and len(result) == 1:
            return result[0]
        return result

    def _standardize_inputs(self, inputs):
        """Inputs as a flat list aligned with ``self.inputs``: Tensors, checked against each Input."""
        flat = split_inputs(inputs, self._input_keys, f"Model '{self.name}'")
        return [_conform(value, ref, self.name) for value, ref in zip(flat, self._graph.inputs)]

    def compute_output_shape(self, input_shape):
        if not self._is_graph_network:
            return Layer.compute_output_shape(self, input_shape)
        shapes = [input_shape] if _is_shape(input_shape) else flatten(_map_shapes(lambda s: [s], input_shape))
        out = self._graph.output_shapes(shapes)
        packed = pack_like(self._outputs_struct, out)
        if isinstance(packed, list) and len(packed) == 1:
            return packed[0]
        return packed

    def build(self, input_shape):
        self.built = True

    # -- files (the Keras v3 formats; see numpy_nn/saving) ---------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Write a Keras 3 ``.keras`` file (atomically) that ``keras.saving.load_model`` opens."""
        from ..saving import save_model
        return save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Write Keras's ``.weights.h5`` layout (the file name must end in ``.weights.h5``)."""
        from ..saving import save_weights
        return save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=None):
        """Load a ``.weights.h5`` / ``.keras`` file, or a legacy ``.h5`` file (Keras 2 layout).

        Legacy files load in topological order, or by layer name with ``by_name=True``;
        ``skip_mismatch=True`` skips weights of another shape with a warning. On any error the
        model is left unchanged.
        """
        from ..saving import load_weights
        return load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    # -- description --------------------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the Keras 3 table: Layer (type) | Output Shape | Param # [| Connected to]."""
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      show_trainable=show_trainable)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        return config


def _conform(value, reference, model_name):
    """Turn one fed value into a Tensor matching the Input ``reference`` (rank and fixed axes)."""
    if not isinstance(value, Tensor):
        value = to_tensor(value, reference.dtype, f"Model '{model_name}': input '{reference.name}'")
    shape, ref = tuple(value.shape), reference.shape
    if len(shape) == len(ref) + 1 and shape[-1] == 1:  # Keras squeezes / expands a trailing 1
        value = value.reshape(shape[:-1])
    elif len(shape) == len(ref) - 1 and ref[-1] == 1:
        value = value.reshape(shape + (1,))
    shape = tuple(value.shape)
    if len(shape) != len(ref) or any(r is not None and r != s for r, s in zip(ref, shape)):
        raise ValueError(f"Model '{model_name}': input '{reference.name}' expects shape {ref}, "
                         f"but received an array of shape {shape}")
    return value


def _snake(name):
    from ..layers.base import to_snake_case
    return to_snake_case(name)


# ---------------------------------------------------------------------------------------------
# nn.function
# ---------------------------------------------------------------------------------------------
class GraphFunction:
    """``fn = nn.function(inputs, outputs)``; ``fn(values)`` -> NumPy arrays (``keras.backend.function``).

    ``inputs`` and ``outputs`` may be any symbolic tensors of a graph (an inner layer's output as
    an output, e.g. to read activations). Runs in inference mode unless ``training=True``.
    """

    def __init__(self, inputs, outputs):
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.graph = Graph(flatten(inputs), flatten(outputs))

    def __call__(self, values, training=False):
        flat = split_inputs(values, [t.name for t in self.graph.inputs], "function")
        tensors = [_conform(v, ref, "function") for v, ref in zip(flat, self.graph.inputs)]
        with no_grad():
            outputs = self.graph.run(tensors, training=training)
        return pack_like(self._outputs_struct, [np.asarray(o.data) for o in outputs])


def function(inputs, outputs):
    """Arrays in, arrays out, through the layer graph between ``inputs`` and ``outputs``."""
    return GraphFunction(inputs, outputs)
