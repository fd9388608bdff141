"""``Layer``: the lifecycle every Keras-style layer shares.

    __init__(**arguments)  validates arguments (errors quote what was received)
    build(input_shape)     creates weights with add_weight(name, shape, initializer), once,
                           on the first call (input_shape includes the batch axis, None or int)
    call(inputs, training) a dozen lines that delegate to an op in numpy_nn/ops
    compute_output_shape   output shape from input shape, without computing anything
    get_config()           every constructor argument, so from_config(get_config()) rebuilds it

Weights are ``Variable``s. ``layer.weights`` lists the trainable ones first, then the
non-trainable ones, each in creation order, then those of sublayers: exactly Keras's
``get_weights()`` order.

The training flag: an explicit ``training=`` wins; otherwise the value of the enclosing
layer/model call is used; otherwise ``None``, which every layer treats as inference.

Masks (numpy_nn/layers/masking.py), as Keras 3's ``Layer.__call__`` moves them: a mask carried by
the input (``tensor._keras_mask``) is passed as ``mask=`` to a ``call`` that names ``mask`` (if
the input is the only tensor argument and no mask was given); afterwards a layer that
``supports_masking`` attaches ``compute_mask(inputs, mask)`` to its outputs, and a layer that
does not drops the mask with a warning.
"""
import inspect
import warnings

import numpy as np

from .. import config, constraints, initializers, regularizers
from ..autograd.tensor import Tensor, Variable
from ..naming import clear_session, to_snake_case, unique_name  # noqa: F401 (re-exported)
from ..ops.geometry import normalize_tuple  # noqa: F401 (layers import it from here)
from ..ops.node import flatten, get_mask, map_structure, set_mask
from .inputs import to_tensor

_training_stack = []


_CALL_SIGNATURES = {}


def _call_signature(cls):
    """Names of the parameters of ``cls.call`` ("**" when it takes **kwargs), cached per class."""
    if cls not in _CALL_SIGNATURES:
        parameters = inspect.signature(cls.call).parameters.values()
        _CALL_SIGNATURES[cls] = {"**" if p.kind is p.VAR_KEYWORD else p.name for p in parameters}
    return _CALL_SIGNATURES[cls]


def _call_signature_text(cls):
    return str(inspect.signature(cls.call)).replace("(self, ", "(", 1)


def current_training():
    """The training value of the innermost enclosing call (None outside any call)."""
    return _training_stack[-1] if _training_stack else None


class Layer:
    """Base class of every layer (see the module docstring)."""

    # Subclasses may set these; __call__ checks them and names the layer in the error.
    input_ndim = None      # exact rank expected, batch axis included (e.g. 4 for Conv2D)
    input_min_ndim = None  # minimum rank (e.g. 2 for Dense)
    # One input tensor, not a list or dict. Implied by a rank spec above (Keras's input_spec rule);
    # layers without a spec that still take a single tensor set it to True.
    single_input = False

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        # Keras accepts these in Sequential models; the input shape they give is kept.
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        kwargs.pop("autocast", None)
        if "data_format" in kwargs:  # e.g. UpSampling1D, Cropping1D: Keras gives them no data_format either
            raise TypeError(f"{type(self).__name__} '{name or to_snake_case(type(self).__name__)}' has no "
                            f"data_format argument (as in Keras, it takes channels_last inputs only); "
                            f"received data_format={kwargs['data_format']!r}")
        if kwargs:
            from ..naming import keyword_names, unexpected_keywords_message
            raise TypeError(unexpected_keywords_message(type(self).__name__, kwargs, keyword_names(
                type(self), extra=("input_shape", "input_dim", "batch_size", "autocast"))))
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else (batch_size,) + tuple(input_shape)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        if isinstance(dtype, dict):  # a Keras DTypePolicy config
            dtype = dtype.get("config", {}).get("name", None)
        self.dtype = str(np.dtype(dtype)) if dtype is not None else config.floatx()
        self.trainable = bool(trainable)
        self.built = False
        self._own_variables = []      # creation order; weights() sorts trainable first
        self._regularized = []        # (variable, regularizer) pairs
        self._sublayers = []          # nested layers whose weights this layer owns too
        self._inbound_nodes = []      # filled by the functional graph (numpy_nn.models)
        self._build_input_shape = None

    # -- weights ---------------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, regularizer=None,
                   dtype=None, constraint=None):
        """Create a Variable, record it on this layer, and return it.

        A ``constraint`` is kept on the Variable (``variable.constraint``); the optimizer applies
        it after each update, as Keras does.
        """
        init = initializers.get(initializer)
        value = init(tuple(int(s) for s in shape), dtype=dtype or self.dtype)
        variable = Variable(np.asarray(value, dtype=dtype or self.dtype), name=name, trainable=trainable,
                            dtype=dtype or self.dtype)
        variable.path = f"{self.name}/{name}"
        variable.constraint = constraints.get(constraint)
        self._own_variables.append(variable)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((variable, regularizer))
        return variable

    @property
    def weights(self):
        own = [v for v in self._own_variables if v.trainable] + [v for v in self._own_variables if not v.trainable]
        return own + [w for layer in self._sublayers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [v for v in self._own_variables if v.trainable]
        return own + [w for layer in self._sublayers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        own = [v for v in self._own_variables if not v.trainable]
        return own + [w for layer in self._sublayers for w in layer.non_trainable_weights]

    trainable_variables = property(lambda self: self.trainable_weights)
    non_trainable_variables = property(lambda self: self.non_trainable_weights)
    variables = property(lambda self: self.weights)

    def get_weights(self):
        """Copies of the weights as NumPy arrays, in Keras's order."""
        return [np.array(w.data) for w in self.weights]

    def set_weights(self, weights):
        """Assign all weights at once; nothing changes unless every count and shape matches."""
        current = self.weights
        weights = list(weights)
        if len(weights) != len(current):
            raise ValueError(f"Layer '{self.name}' expects {len(current)} weights "
                             f"({[tuple(w.shape) for w in current]}), but received {len(weights)}")
        arrays = []
        for variable, value in zip(current, weights):
            value = np.asarray(value)
            if value.shape != variable.shape:
                raise ValueError(f"Layer '{self.name}' weight '{variable.name}' has shape {variable.shape}, "
                                 f"but the provided weight has shape {value.shape}")
            if not np.issubdtype(value.dtype, np.number) and value.dtype != bool:
                raise TypeError(f"Layer '{self.name}' weight '{variable.name}': expected numbers, "
                                f"got dtype {value.dtype}")
            arrays.append(value)
        for variable, value in zip(current, arrays):
            variable.assign(value.astype(variable.dtype))

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self):
        """Regularization penalties on the current weights, as Tensors on the tape."""
        own = [regularizer(variable) for variable, regularizer in self._regularized]
        return own + [loss for layer in self._sublayers for loss in layer.losses]

    # -- lifecycle -----------------------------------------------------------------------------------
    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=None):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def compute_output_shape(self, input_shape):
        """Default: run the layer on zeros (unknown axes set to 1) and read the shape."""
        from ..autograd.function import no_grad
        dummy = map_structure(lambda s: np.zeros([1 if d is None else d for d in s], dtype=self.dtype),
                               input_shape, ) if not _is_shape(input_shape) else \
            np.zeros([1 if d is None else d for d in input_shape], dtype=self.dtype)
        with no_grad():
            out = self(dummy)
        def shape_of(t):
            return tuple(t.shape)
        shapes = map_structure(shape_of, out)
        if _is_shape(input_shape) and isinstance(shapes, tuple) and input_shape and input_shape[0] is None:
            shapes = (None,) + shapes[1:]
        return shapes

    # -- masks -------------------------------------------------------------------------------------------
    @property
    def supports_masking(self):
        """Whether outputs get ``compute_mask(inputs, mask)``: True for a layer that overrides
        ``compute_mask`` or sets ``supports_masking = True`` (Keras's rule)."""
        value = self.__dict__.get("_supports_masking")
        return value if value is not None else type(self).compute_mask is not Layer.compute_mask

    @supports_masking.setter
    def supports_masking(self, value):
        self.__dict__["_supports_masking"] = bool(value)

    def compute_mask(self, inputs, mask=None):
        """The outputs' mask; by default the input's mask, unchanged."""
        return mask

    def _input_masks(self, inputs, kwargs):
        """(mask for ``call``'s ``mask=`` argument or None, the mask ``compute_mask`` receives)."""
        if kwargs.get("mask") is None and not isinstance(inputs, (list, tuple, dict)) and get_mask(inputs) is None:
            return None, None  # the common case, kept cheap
        masks = map_structure(get_mask, inputs)
        flat = flatten(masks)
        carried = None if all(m is None for m in flat) else masks
        explicit = kwargs.get("mask")
        only_tensor = not any(getattr(v, "ndim", 0) for v in flatten(kwargs))  # e.g. no initial_state
        accepted = _call_signature(type(self))
        to_call = carried if explicit is None and "mask" in accepted and only_tensor else None
        previous = explicit if explicit is not None else (carried if carried is not None else None)
        return to_call, previous

    def _attach_output_masks(self, inputs, outputs, previous_mask):
        if previous_mask is None and type(self).compute_mask is Layer.compute_mask:
            return  # no mask in, the default rule: no mask out
        flat_outputs = flatten(outputs)
        if not self.supports_masking:
            if previous_mask is not None and any(m is not None for m in flatten(previous_mask)):
                warnings.warn(f"Layer '{self.name}' (of type {type(self).__name__}) was passed an input with a "
                              "mask attached to it. However, this layer does not support masking and will "
                              "therefore destroy the mask information. Downstream layers will not see the mask.",
                              stacklevel=3)
            return
        if all(get_mask(t) is not None for t in flat_outputs):
            return
        output_masks = self.compute_mask(inputs, previous_mask)
        if output_masks is None:
            return
        flat_masks = flatten(output_masks) if isinstance(output_masks, (list, tuple)) else [output_masks]
        for tensor, mask in zip(flat_outputs, flat_masks):
            if get_mask(tensor) is None and mask is not None:
                set_mask(tensor, mask)

    def check_input(self, shape, index=0):
        """Raise a ValueError naming this layer if an input's rank is not what it expects,
        or if an axis other than the batch axis is empty."""
        ndim = len(shape)
        if ndim > 1 and 0 in tuple(shape)[1:]:
            raise ValueError(f"Input {index} of layer '{self.name}' ({type(self).__name__}) has an empty axis: "
                             f"every axis except the batch axis must have at least one element. "
                             f"Full shape received: {tuple(shape)}")
        if self.input_ndim is not None and ndim != self.input_ndim:
            raise ValueError(f"Input {index} of layer '{self.name}' ({type(self).__name__}) is incompatible with "
                             f"the layer: expected ndim={self.input_ndim}, found ndim={ndim}. "
                             f"Full shape received: {tuple(shape)}")
        if self.input_min_ndim is not None and ndim < self.input_min_ndim:
            raise ValueError(f"Input {index} of layer '{self.name}' ({type(self).__name__}) is incompatible with "
                             f"the layer: expected min_ndim={self.input_min_ndim}, found ndim={ndim}. "
                             f"Full shape received: {tuple(shape)}")

    def __call__(self, inputs, training=None, **kwargs):
        if any(getattr(x, "_is_symbolic", False) for x in flatten(inputs)):
            from .symbolic import call_symbolic  # record a node of the layer graph, compute nothing
            return call_symbolic(self, inputs, training=training, **kwargs)
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and self._takes_one_tensor():
            inputs = inputs[0]  # [x] is x for a single-input layer
        if isinstance(inputs, (list, tuple, dict)) and self._takes_one_tensor():
            count = len(flatten(inputs))
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects 1 input tensor, but it received "
                             f"a {type(inputs).__name__} of {count} inputs (to pass a nested Python list as one "
                             f"array, wrap it in np.asarray)")
        mask_for_call, previous_mask = self._input_masks(inputs, kwargs)
        if mask_for_call is not None:
            kwargs = dict(kwargs, mask=mask_for_call)
        inputs = map_structure(self._to_tensor, inputs)
        for i, t in enumerate(flatten(inputs)):
            self.check_input(t.shape, i)
        if not self.built:
            shapes = map_structure(lambda t: (None,) + tuple(t.shape[1:]) if t.ndim else (), inputs)
            self._build_input_shape = shapes
            self.build(shapes)
            self.built = True
        if training is None:
            training = current_training()
        _training_stack.append(training)
        try:
            outputs = self.call(inputs, **self._call_arguments(training, kwargs))
        finally:
            _training_stack.pop()
        self._attach_output_masks(inputs, outputs, previous_mask)
        return outputs

    def _call_arguments(self, training, kwargs):
        """Keyword arguments for ``call``: as Keras does, ``training`` (and ``mask``) are passed only
        to a ``call`` whose signature names them or takes ``**kwargs``, so ``def call(self, inputs)`` works."""
        accepted = _call_signature(type(self))
        arguments = dict(kwargs)
        if "training" in accepted or "**" in accepted:
            arguments["training"] = training
        if arguments.get("mask", 0) is None and not ("mask" in accepted or "**" in accepted):
            del arguments["mask"]
        unexpected = [k for k in arguments if k not in accepted and "**" not in accepted]
        if unexpected:
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}): call() got unexpected keyword "
                            f"argument(s) {unexpected}; its signature is call{_call_signature_text(type(self))}")
        return arguments

    def _takes_one_tensor(self):
        return self.single_input or self.input_ndim is not None or self.input_min_ndim is not None

    def _to_tensor(self, value):
        """Arrays and Tensors in; Tensors of this layer's dtype out (floats and ints are cast,
        float16 included: a float32 layer computes in float32; strings and objects are refused)."""
        return to_tensor(value, self.dtype, f"Layer '{self.name}' ({type(self).__name__}) input")

    # -- the layer graph (filled by numpy_nn.models when the layer is called on symbolic tensors) --------
    def _first_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called on symbolic tensors, "
                                 f"so it has no `{what}`")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input(s) of the layer's first call (as passed)."""
        node = self._first_node("input")
        return node.outputs[0] if node.is_input else node.call_args

    @property
    def output(self):
        """The symbolic output(s) of the layer's first call."""
        return self._first_node("output").output_structure

    @property
    def input_shape(self):
        self._first_node("input_shape")  # raises a clear error for a layer never called on a graph
        return map_structure(lambda t: tuple(t.shape), self.input)

    @property
    def output_shape(self):
        return map_structure(lambda t: tuple(t.shape), self.output)

    # -- config ----------------------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _is_shape(value):
    return isinstance(value, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in value)
