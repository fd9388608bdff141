"""Layers that wrap a layer: ``Bidirectional`` (a recurrent layer run both ways) and ``TimeDistributed``.

Bidirectional(layer, merge_mode="concat", backward_layer=None): a forward copy of ``layer``
(named ``forward_<name>``) reads x_1..x_T, a backward copy (``backward_<name>``, go_backwards)
reads x_T..x_1; Keras rebuilds both from the layer's config, so they get fresh weights. With
``return_sequences`` the backward outputs are flipped back to the original time order before
merging, and both copies output zeros at masked steps (Keras sets ``zero_output_for_mask``):

    concat: [y_f, y_b] on the last axis    sum: y_f + y_b    ave: (y_f + y_b) / 2
    mul: y_f * y_b                         None: the list [y_f, y_b]

Weights: the forward layer's, then the backward layer's. ``return_state`` adds the forward
final states, then the backward ones; ``initial_state`` is split the same way (first half forward).

TimeDistributed(layer): applies ``layer`` to every time step of x (N, T, ...) separately, as
Keras does (one call per step, stacked on axis 1; the wrapped layer sees a batch of N), so a
layer with batch statistics (BatchNormalization in training) normalizes each step on its own.
"""
from ..ops import recurrent as R
from ..ops import reshaping
from ..ops.node import flatten
from .base import Layer, _call_signature
from .masking import as_bool_mask
from .nesting import deserialize_nested, serialize_nested

_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _copy_of(layer, name, **changes):
    """A fresh layer from ``layer``'s config (Keras's serialize/deserialize round trip)."""
    entry = serialize_nested(layer)
    entry["config"] = dict(entry["config"], name=name, **changes)
    return deserialize_nested(entry)


def _naming(layer, error):
    """``error`` again, naming the wrapper (its inner layers name only themselves)."""
    if f"'{layer.name}'" in str(error):
        return error
    return type(error)(f"Layer '{layer.name}' ({type(layer).__name__}): {error}")


def _remove_prefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and backwards and merges the two (see the module docstring)."""

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize_nested(layer)
        if isinstance(backward_layer, dict):
            backward_layer = deserialize_nested(backward_layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"Bidirectional: `layer` must be a Layer instance; received {layer!r}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(f"Bidirectional: `backward_layer` must be a Layer instance; received {backward_layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: invalid merge mode. Received: {merge_mode!r}. Merge mode should be "
                             f"one of {{'sum', 'mul', 'ave', 'concat', None}}")
        super().__init__(**kwargs)
        self.forward_layer = _copy_of(layer, f"forward_{_remove_prefix(layer.name, 'forward_')}")
        self.backward_layer = backward_layer if backward_layer is not None else _copy_of(
            layer, f"backward_{_remove_prefix(layer.name, 'backward_')}", go_backwards=True)  # Keras: always True
        self._verify(self.forward_layer, self.backward_layer)
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self._sublayers = [self.forward_layer, self.backward_layer]
        self.merge_mode = merge_mode
        self._initial_weights = list(weights) if weights else None
        self.stateful, self.return_sequences = layer.stateful, layer.return_sequences
        self.return_state = layer.return_state
        self.input_ndim = getattr(layer, "input_ndim", None)

    def _verify(self, forward, backward):
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"Layer '{self.name}' (Bidirectional): forward layer and backward layer should have "
                             f"different `go_backwards` values; received {forward.go_backwards} for both")
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, attribute) != getattr(backward, attribute):
                raise ValueError(f"Layer '{self.name}' (Bidirectional): forward layer and backward layer are "
                                 f"expected to have the same value for attribute '{attribute}', got "
                                 f"{getattr(forward, attribute)} and {getattr(backward, attribute)}")

    def build(self, sequences_shape, initial_state_shape=None):
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub._build_input_shape = tuple(sequences_shape)
                sub.build(tuple(sequences_shape))
                sub.built = True
        if self._initial_weights:
            half = len(self._initial_weights) // 2
            self.forward_layer.set_weights(self._initial_weights[:half])
            self.backward_layer.set_weights(self._initial_weights[half:])
            self._initial_weights = None
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = self.forward_layer.compute_output_shape(sequences_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (None if shape[-1] is None else 2 * shape[-1],)
        outputs = [tuple(shape), tuple(shape)] if self.merge_mode is None else [tuple(shape)]
        if self.return_state:
            return outputs + states + states
        return outputs if self.merge_mode is None else outputs[0]

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
        if self.return_sequences:
            output_mask = [mask, mask] if self.merge_mode is None else mask
        else:
            output_mask = [None, None] if self.merge_mode is None else None
        if self.return_state:
            return flatten([output_mask]) + [None] * (2 * len(self.forward_layer.state_size))
        return output_mask

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            initial_state = list(initial_state)
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        try:
            y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
            y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask, training=training)
        except (ValueError, TypeError) as error:
            raise _naming(self, error) from error
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = R.SliceSteps.apply(y_rev, index=(slice(None), slice(None, None, -1)))
        if self.merge_mode == "concat":
            outputs = [reshaping.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            outputs = [y + y_rev]
        elif self.merge_mode == "ave":
            outputs = [(y + y_rev) * 0.5]
        elif self.merge_mode == "mul":
            outputs = [y * y_rev]
        else:
            outputs = [y, y_rev]
        if self.return_state:
            return outputs + states
        return outputs if self.merge_mode is None else outputs[0]

    @property
    def states(self):
        if self.forward_layer.states is not None and self.backward_layer.states is not None:
            return list(self.forward_layer.states) + list(self.backward_layer.states)
        return None

    def reset_state(self):
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' (Bidirectional) must be stateful to reset its states")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def get_config(self):
        return dict(super().get_config(), merge_mode=self.merge_mode, layer=serialize_nested(self.forward_layer),
                    backward_layer=serialize_nested(self.backward_layer))


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: x (N, T, ...) -> stack_t layer(x[:, t]) (N, T, ...)."""

    supports_masking = True
    input_min_ndim = 3

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize_nested(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: `layer` must be a Layer instance; received {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self._sublayers = [layer]

    def _child_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            child = self._child_shape(input_shape)
            self.layer._build_input_shape = child
            self.layer.build(child)
            self.layer.built = True
        self.built = True

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1]) + tuple(child[1:])

    def call(self, inputs, training=None, mask=None):
        steps = inputs.shape[1]
        if mask is not None:
            mask = as_bool_mask(mask, f"Layer '{self.name}' (TimeDistributed) mask")
            if mask.ndim < 2 or mask.shape[:2] != tuple(inputs.shape[:2]):
                raise ValueError(f"Layer '{self.name}' (TimeDistributed): the mask's first two axes (batch, "
                                 f"timesteps) must match the input's {tuple(inputs.shape[:2])}; received a mask of "
                                 f"shape {mask.shape}")
        accepted = _call_signature(type(self.layer))
        outputs = []
        for t in range(steps):
            kwargs = {}
            if "mask" in accepted and mask is not None:
                kwargs["mask"] = mask[:, t]
            if "training" in accepted:
                kwargs["training"] = training
            try:
                y = self.layer.call(R.SliceSteps.apply(inputs, index=(slice(None), t)), **kwargs)
            except (ValueError, TypeError) as error:
                raise _naming(self, error) from error
            outputs.append(y.reshape((y.shape[0], 1) + tuple(y.shape[1:])))
        return reshaping.concatenate(outputs, axis=1)

    def get_config(self):
        return dict(super().get_config(), layer=serialize_nested(self.layer))
