"""Recurrent cells: SimpleRNNCell, LSTMCell, GRUCell (one time step each) and StackedRNNCells.

A cell owns the weights (Keras's names, shapes and order: ``kernel`` (F, k*units),
``recurrent_kernel`` (units, k*units), ``bias``) and knows its formula; the formulas, for a
whole sequence with backpropagation through time, are in numpy_nn/ops/recurrent.py.

    cell(x_t, states) -> (output_t, new_states)        one step, Keras's cell API
    cell.run_sequence(x, states, mask, training)       every step: (h_1..h_T (N, T, u), final states)

The RNN layers (numpy_nn/layers/recurrent.py) call ``run_sequence``, so a whole sequence is one
op on the tape. Dropout follows Keras's DropoutRNNCell: masks (scaled by 1 / (1 - rate)) are
drawn once per call, on the batch of the first step, and reused at every step, only when
``training``; SimpleRNN applies a rate > 0, LSTM and GRU a rate strictly between 0 and 1. With
``recurrent_dropout > 0`` (or ``implementation=1``) each gate gets its own masks, as in Keras.
NumPy draws them, so they differ from Keras's JAX masks; ``seed`` makes them reproducible.
"""
import numpy as np

from .. import activations, config, constraints, initializers, regularizers
from ..autograd.tensor import Tensor
from ..ops import recurrent as R
from ..ops.node import flatten
from .base import Layer
from .core import serialize_constraint
from .nesting import deserialize_nested, serialize_nested


def _activation_name(layer, argument, fn):
    """The Keras name of an elementwise activation (what the recurrent ops take), or a clear error."""
    name = activations.serialize(fn)
    if name not in R.ELEMENTWISE_ACTIVATIONS or activations.get(name) is not fn:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): `{argument}` must be an elementwise "
                         f"activation given by name (one of {list(R.ELEMENTWISE_ACTIVATIONS)}); received {fn!r}")
    return name


class _Cell(Layer):
    """What the three cells share: arguments, weights, dropout masks, the one-step call."""

    input_ndim = 2            # one time step: (batch, features)
    gates = 1                 # gate blocks side by side in the weights
    op = None                 # the whole-sequence Function of ops/recurrent.py
    _has_recurrent_activation = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 implementation=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): received an invalid value for argument "
                             f"`units`, expected a positive integer, got {units!r}.")
        self.units = int(units)
        self.activation = activations.get(activation)
        self._activation = _activation_name(self, "activation", self.activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self._recurrent_activation = _activation_name(self, "recurrent_activation", self.recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))  # Keras clips the rates to [0, 1]
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.implementation = 1 if self.recurrent_dropout != 0.0 else implementation
        self.state_size = self.units
        self.output_size = self.units

    # -- weights -----------------------------------------------------------------------------------------
    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the last axis of the input must be "
                             f"known; received input_shape={tuple(input_shape)}")
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None
        self.built = True

    # -- dropout masks ------------------------------------------------------------------------------------
    def _applies(self, rate):
        return 0.0 < rate < 1.0  # LSTM/GRU: `if training and 0.0 < rate < 1.0`

    def dropout_masks(self, batch, features, training):
        """(input masks (G, N, F) or None, recurrent masks (G, N, units) or None) for one call."""
        rng = self._rng if self._rng is not None else config.rng()

        def draw(rate, count, width):
            if not training or not self._applies(rate):
                return None
            keep = 1.0 - rate
            kept = rng.random((count, batch, width)) < keep
            return (kept / keep if keep > 0 else np.zeros(kept.shape)).astype(self.dtype)

        per_gate = self.gates if self.implementation == 1 else 1
        return draw(self.dropout, per_gate, features), draw(self.recurrent_dropout, self.gates, self.units)

    # -- running -------------------------------------------------------------------------------------------
    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [Tensor(np.zeros((batch_size, size), dtype=self.dtype)) for size in sizes]

    def _op_arguments(self):
        return {"activation": self._activation, "recurrent_activation": self._recurrent_activation}

    def run_sequence(self, inputs, states, mask=None, training=None, return_carry=False):
        """Every step at once: ``(h_1..h_T (N, T, units), final states)`` on the autograd tape."""
        if inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) was built for {self.kernel.shape[0]} input "
                             f"features; received inputs of shape {tuple(inputs.shape)}")
        in_masks, rec_masks = self.dropout_masks(inputs.shape[0], inputs.shape[2], training)
        weights = [self.kernel, self.recurrent_kernel] + ([self.bias] if self.use_bias else [])
        extra = {"return_carry": True} if return_carry else {}
        trajectory = self.op.apply(inputs, *states, *weights, mask=mask, input_dropout=in_masks,
                                   recurrent_dropout=rec_masks, **self._op_arguments(), **extra)
        u = self.units
        if return_carry:  # LSTM: [h_t, c_t] side by side
            sequence = R.SliceSteps.apply(trajectory, index=(Ellipsis, slice(0, u)))
            return sequence, [R.SliceSteps.apply(trajectory, index=(slice(None), -1, slice(0, u))),
                              R.SliceSteps.apply(trajectory, index=(slice(None), -1, slice(u, 2 * u)))]
        return trajectory, [R.SliceSteps.apply(trajectory, index=(slice(None), -1))]

    def __call__(self, inputs, states=None, training=None, **kwargs):
        return super().__call__(inputs, states=states, training=training, **kwargs)

    def call(self, inputs, states=None, training=None):
        """One step: inputs (N, F), states [h] (LSTM [h, c]; zeros if omitted) -> (h, new states),
        Keras's cell API."""
        count = len(self.state_size) if isinstance(self.state_size, list) else 1
        if inputs.ndim != 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) takes one time step of inputs, shape "
                             f"(batch, features); received inputs of shape {tuple(inputs.shape)}")
        nested = states is None or isinstance(states, (list, tuple))
        states = self.get_initial_state(inputs.shape[0]) if states is None else \
            [s if isinstance(s, Tensor) else Tensor(np.asarray(s, dtype=self.dtype)) for s in flatten(states)]
        expected = [(inputs.shape[0], self.units)] * count
        if [tuple(s.shape) for s in states] != expected:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {count} state(s) of shapes "
                             f"{expected}; received {[tuple(s.shape) for s in states]}")
        sequence = inputs.reshape((inputs.shape[0], 1, inputs.shape[1]))
        _, new_states = self.run_sequence(sequence, states, None, training, return_carry=count == 2)
        return new_states[0], (new_states if nested or count > 1 else new_states[0])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "activation": self._activation})
        if self._has_recurrent_activation:
            config["recurrent_activation"] = self._recurrent_activation
        config.update({
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": serialize_constraint(self.kernel_constraint),
            "recurrent_constraint": serialize_constraint(self.recurrent_constraint),
            "bias_constraint": serialize_constraint(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed})
        return config


class SimpleRNNCell(_Cell):
    """One step of ``h_t = activation(x_t W + b + h_{t-1} U)`` (ops.recurrent.SimpleRNN)."""

    op = R.SimpleRNN
    _has_recurrent_activation = False

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                         seed, **kwargs)

    def _applies(self, rate):
        return rate > 0.0  # SimpleRNNCell: a mask whenever rate > 0 (rate 1 drops everything)

    def _op_arguments(self):
        return {"activation": self._activation}


class LSTMCell(_Cell):
    """One LSTM step, gates i, f, c, o (ops.recurrent.LSTM). ``unit_forget_bias=True`` starts the
    forget-gate bias at 1 (the other blocks use ``bias_initializer``)."""

    gates = 4
    op = R.LSTM

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, u = self.bias_initializer, self.units

        def forget_gate_ones(shape, dtype=None):
            return np.concatenate([init((u,), dtype=dtype), np.ones((u,), dtype=dtype or self.dtype),
                                   init((2 * u,), dtype=dtype)])
        return forget_gate_ones

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRUCell(_Cell):
    """One GRU step, gates z, r, h (ops.recurrent.GRU). ``reset_after=True`` (default): bias (2, 3u)."""

    gates = 3
    op = R.GRU

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _op_arguments(self):
        return dict(super()._op_arguments(), reset_after=self.reset_after)

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


class StackedRNNCells(Layer):
    """Cells on top of each other, run as one: cell k's output sequence is cell k+1's input.

    Running cell by cell over the whole sequence equals Keras's step-by-step interleaving, also with
    a mask: a masked step keeps every cell's state, whatever the lower cell emitted there."""

    input_ndim = 2

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
                raise ValueError(f"Layer '{self.name}' (StackedRNNCells): every cell needs a `call` method and a "
                                 f"`state_size` attribute; received {cell!r}")
        self.cells = list(cells)
        self._sublayers = [c for c in self.cells if isinstance(c, Layer)]

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return getattr(self.cells[-1], "output_size", None) or self.cells[-1].state_size

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(shape)
                cell._build_input_shape, cell.built = shape, True
            shape = shape[:-1] + (getattr(cell, "output_size", None) or flatten([cell.state_size])[0],)
        self.built = True

    def get_initial_state(self, batch_size=None):
        return [c.get_initial_state(batch_size) for c in self.cells]

    def __call__(self, inputs, states=None, training=None, **kwargs):
        return super().__call__(inputs, states=states, training=training, **kwargs)

    def call(self, inputs, states=None, training=None):
        """One step of every cell in turn: (output of the top cell, [states of each cell])."""
        states = self.get_initial_state(inputs.shape[0]) if states is None else list(states)
        if len(states) != len(self.cells):
            raise ValueError(f"Layer '{self.name}' (StackedRNNCells) expects one list of states per cell "
                             f"({len(self.cells)}); received {len(states)}")
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            try:
                inputs, cell_states = cell(inputs, cell_states, training=training)
            except (ValueError, TypeError) as error:
                raise type(error)(f"Layer '{self.name}' (StackedRNNCells): {error}") from error
            new_states.append(cell_states)
        return inputs, new_states

    def get_config(self):
        return dict(super().get_config(), cells=[serialize_nested(c) for c in self.cells])

    @classmethod
    def from_config(cls, config_dict):
        config_dict = dict(config_dict)
        return cls([deserialize_nested(c) for c in config_dict.pop("cells")], **config_dict)
