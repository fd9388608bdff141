"""``Sequential``: a plain stack of layers, each feeding the next.

    model = nn.Sequential([nn.Input((28, 28, 1)), Conv2D(8, 3), Flatten(), Dense(10)])

With a leading ``nn.Input`` (or ``input_shape=`` on the first layer) the model is built at once:
an ``InputLayer`` starts a layer graph and every layer is called on it symbolically, so shapes
and parameter counts are known and ``summary()`` is complete. Otherwise it builds lazily, on the
first call on data (the input shape is then read from the batch). As in Keras, ``model.layers``
leaves the InputLayer out.
"""
from ..layers.base import Layer
from ..layers.fusion import fuse_batch_norm_relu, fuse_inference
from ..layers.input_layer import InputLayer
from .functional import Graph, Model
from ..ops.node import flatten


class Sequential(Model):
    """``Sequential(layers=None, trainable=True, name=None)`` with ``add()`` and ``pop()``."""

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        if kwargs:  # Keras's Sequential takes only these three; suggest the closest for a misspelling
            from ..naming import unexpected_keywords_message
            raise TypeError(unexpected_keywords_message(type(self).__name__, kwargs, ["layers", "trainable", "name"]))
        super().__init__(name=name, trainable=trainable)
        self._stack = []  # may start with an InputLayer
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def _default_name(self):
        return "sequential" if type(self) is Sequential else super()._default_name()

    def add(self, layer, rebuild=True):
        """Append a layer (an ``nn.Input`` tensor or an InputLayer may only come first)."""
        if getattr(layer, "_is_symbolic", False):
            source = layer._keras_history.layer
            if not isinstance(source, InputLayer):
                raise ValueError(f"Sequential '{self.name}': only an nn.Input tensor can be added, not the output "
                                 f"of layer '{source.name}'")
            layer = source
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential '{self.name}': only Layer instances can be added; received {layer!r} "
                            f"of type {type(layer).__name__}")
        if isinstance(layer, InputLayer) and self._stack:
            raise ValueError(f"Sequential '{self.name}': an InputLayer can only be the first layer; the model "
                             f"already has layers {[l.name for l in self._stack]}")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"All layers added to a Sequential model should have unique names. Name "
                             f"'{layer.name}' is already the name of a layer in model '{self.name}'.")
        self._stack.append(layer)
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        """Remove and return the last layer."""
        if not self.layers:
            raise ValueError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._stack.pop()
        self._is_graph_network = False
        self.built = False
        self._sublayers = list(self.layers)
        if rebuild:
            self._maybe_rebuild()
        return layer

    @property
    def layers(self):
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    def _maybe_rebuild(self):
        self._sublayers = list(self.layers)
        if not self._stack:
            return
        first = self._stack[0]
        if isinstance(first, InputLayer) and len(self._stack) > 1:
            self.build(first.batch_shape)
        elif not isinstance(first, InputLayer) and first._input_shape_arg is not None:
            self.build(first._input_shape_arg)

    def build(self, input_shape=None):
        """Create the layer graph for inputs of ``input_shape`` (batch axis included)."""
        if input_shape is None:
            raise ValueError(f"Sequential '{self.name}': build() needs an input shape")
        if not isinstance(self._stack[0], InputLayer):
            self._stack.insert(0, InputLayer(batch_shape=tuple(input_shape)))
        inputs = self._stack[0]._input_tensor
        x = inputs
        for layer in self.layers:
            x = layer(x)
            if len(flatten(x)) != 1:
                raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' returned several outputs; "
                                 "all layers in a Sequential model should have a single output tensor")
        self._inputs_struct, self._outputs_struct = inputs, x
        self._graph = Graph([inputs], [x])
        self._is_graph_network = True
        self._input_keys = [inputs.name]
        self.output_names = [x._keras_history.layer.name]
        self._sublayers = list(self.layers)
        self.built = True

    def _build_from_data(self, inputs):
        import numpy as np
        shape = np.shape(inputs.data if hasattr(inputs, "data") else inputs)
        self.build((None,) + tuple(shape[1:]))

    def call(self, inputs, training=None, mask=None):
        if not self.layers:
            raise ValueError(f"Sequential '{self.name}' has no layers")
        carried = getattr(inputs, "_keras_mask", None)
        x = self._standardize_inputs(inputs)[0] if self._is_graph_network else inputs
        if mask is not None or carried is not None:  # model(x, mask=m), as in Keras
            from ..layers.masking import as_bool_mask, set_mask
            set_mask(x, as_bool_mask(mask if mask is not None else carried, f"Sequential '{self.name}' mask"))
        layers, index = self.layers + [None, None], 0
        while index < len(layers) - 2:  # neighbours that may run as one fused op (layers/fusion.py)
            fused = fuse_batch_norm_relu(layers[index], layers[index + 1], x, training)
            if fused is not None:  # training: BatchNormalization + ReLU
                x, index = fused, index + 2
                continue
            fused = fuse_inference(layers[index], layers[index + 1:index + 3], x, training)
            if fused is not None:  # inference without a tape: conv [+ BatchNormalization [+ activation]]
                x, index = fused[0], index + 1 + fused[1]
                continue
            x, index = layers[index](x, training=training), index + 1
        return x

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self._stack]}
