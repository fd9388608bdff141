"""Recurrent layers: ``RNN(cell)`` and SimpleRNN, LSTM, GRU (an RNN around the matching cell).

    RNN(cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
        unroll=False, zero_output_for_mask=False)
    layer(x (N, T, F), initial_state=None, mask=None, training=None)

Each cell runs over the whole sequence as one op (numpy_nn/ops/recurrent.py); a list of cells is
a StackedRNNCells. ``go_backwards`` reverses the sequence (and the mask) first, and the returned
sequence stays in that reversed order, as in Keras. The weights are the cell's: ``get_weights()``
is ``[kernel, recurrent_kernel, bias]``, exactly Keras's.

Outputs at masked steps (m_t False) follow Keras's JAX loop. The states are carried (h_t =
h_{t-1}), and the output y_t is

    h_t                   by default (Keras emits the previous output, which is the carried h)
    m_t * h_t             zero_output_for_mask=True (Bidirectional sets it when returning sequences)
    any(m_1..m_t) * h_t   unroll=True (Keras's unrolled loop starts from a zero output)

and the last output is y_T. With ``return_state`` the final states follow the output (LSTM:
h_T, c_T). ``stateful=True`` starts each call from the previous call's final states (per sample
index; ``reset_state()`` zeroes them); they carry no gradient from one call to the next.
"""
import numpy as np

from ..autograd.tensor import Tensor
from ..ops import recurrent as R
from ..ops.node import flatten
from .base import Layer, to_snake_case, unique_name
from .masking import as_bool_mask
from .nesting import deserialize_nested, serialize_nested
from .rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells, _Cell


def _is_builtin(cell):
    cells = cell.cells if isinstance(cell, StackedRNNCells) else [cell]
    return all(isinstance(c, _Cell) for c in cells)


class RNN(Layer):
    """Runs ``cell`` over the time axis (see the module docstring for every argument)."""

    input_ndim = 3
    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if isinstance(cell, dict):
            cell = deserialize_nested(cell)
        super().__init__(**kwargs)
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise ValueError(f"Layer '{self.name}' (RNN): the cell needs a `call` method and a `state_size` "
                             f"attribute; received cell={cell!r}")
        self.cell = cell
        self._sublayers = [cell] if isinstance(cell, Layer) else []
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None  # stateful: the final states of the last call (arrays, no gradient)
        self._activity_losses = []

    # -- shapes -------------------------------------------------------------------------------------------
    @property
    def state_size(self):
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def _output_size(self):
        return getattr(self.cell, "output_size", None) or flatten([self.cell.state_size])[0]

    def build(self, sequences_shape, initial_state_shape=None):
        if isinstance(self.cell, Layer) and not self.cell.built:
            step_shape = (sequences_shape[0],) + tuple(sequences_shape[2:])
            self.cell.build(step_shape)
            self.cell._build_input_shape, self.cell.built = step_shape, True
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        output = (batch, steps, self._output_size()) if self.return_sequences else (batch, self._output_size())
        if not self.return_state:
            return output
        if isinstance(self.cell, StackedRNNCells):
            return [output] + [[(batch, d) for d in flatten([s])] for s in self.state_size]
        return [output] + [(batch, s) for s in flatten(self.state_size)]

    def compute_mask(self, inputs, mask=None):
        mask = flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * len(flatten(self.state_size)) if self.return_state else output_mask

    # -- states ---------------------------------------------------------------------------------------------
    def get_initial_state(self, batch_size):
        if hasattr(self.cell, "get_initial_state"):
            states = self.cell.get_initial_state(batch_size)
            return states if isinstance(states, (list, tuple)) else [states]
        return [Tensor(np.zeros((batch_size, d), dtype=self.dtype)) for d in flatten(self.state_size)]

    def reset_state(self):
        """Zero the states a stateful layer carries from one call to the next."""
        if self.states is not None:
            self.states = [np.zeros_like(s) for s in self.states]

    reset_states = reset_state

    def _initial_states(self, batch, initial_state):
        """The states to start from, grouped per cell: given, carried (stateful) or zeros."""
        stacked = isinstance(self.cell, StackedRNNCells)
        sizes = [flatten([c.state_size]) for c in self.cell.cells] if stacked else [flatten(self.state_size)]
        if initial_state is None:
            if self.stateful and self.states is not None:
                if self.states[0].shape[0] != batch:
                    raise ValueError(f"Layer '{self.name}' is stateful: the batch size of the input sequences "
                                     f"must be the same as the batch size of the carried states. Expected batch "
                                     f"size: {self.states[0].shape[0]}; received: {batch}")
                flat = [Tensor(s) for s in self.states]
            else:
                flat = flatten(self.get_initial_state(batch))
        else:
            flat = [s if isinstance(s, Tensor) else Tensor(np.asarray(getattr(s, "data", s), dtype=self.dtype))
                    for s in flatten(initial_state)]
            expected = [(batch, d) for d in flatten(sizes)]
            received = [tuple(s.shape) for s in flat]
            if received != expected:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): initial_state must be "
                                 f"{len(expected)} tensor(s) of shapes {expected}; received shapes {received}")
        groups, start = [], 0
        for group in sizes:
            groups.append(flat[start:start + len(group)])
            start += len(group)
        return groups

    # -- the call ---------------------------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=None):
        batch, steps = sequences.shape[0], sequences.shape[1]
        built = self._build_input_shape
        if isinstance(built, tuple) and len(built) == sequences.ndim and built[2:] != (None,) * (len(built) - 2) \
                and any(b is not None and b != s for b, s in zip(built[2:], sequences.shape[2:])):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) was built for sequences of shape {built}; "
                             f"received an input of shape {tuple(sequences.shape)}")
        if mask is not None:
            mask = as_bool_mask(flatten(mask)[0] if isinstance(mask, (list, tuple)) else mask,
                                f"Layer '{self.name}' ({type(self).__name__}) mask")
            if mask.shape != (batch, steps):
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): the mask must have shape (batch, "
                                 f"timesteps) = {(batch, steps)} like the inputs {tuple(sequences.shape)}; "
                                 f"received a mask of shape {mask.shape}")
        groups = self._initial_states(batch, initial_state)
        if self.go_backwards:
            sequences = R.SliceSteps.apply(sequences, index=(slice(None), slice(None, None, -1)))
            mask = None if mask is None else mask[:, ::-1]
        if _is_builtin(self.cell):
            sequence, final_groups = self._run_ops(sequences, groups, mask, training)
        else:
            sequence, final_groups = _run_steps(self.cell, sequences, groups, mask, training)
        if mask is not None and (self.unroll or self.zero_output_for_mask):
            keep = np.maximum.accumulate(mask, axis=1) if self.unroll else mask
            sequence = sequence * keep[..., None].astype(sequence.dtype)
        finals = [s for group in final_groups for s in group]
        if self.stateful:
            self.states = [np.array(s.data) for s in finals]
        output = sequence if self.return_sequences else R.SliceSteps.apply(sequence, index=(slice(None), -1))
        if self.return_state:
            stacked = isinstance(self.cell, StackedRNNCells)  # Keras: one list of states per cell
            output = [output] + (list(final_groups) if stacked else finals)
        regularizer = getattr(self, "activity_regularizer", None)
        if regularizer is not None:  # Keras: one penalty per output tensor, divided by the batch size
            self._activity_losses = [regularizer(o) / float(max(batch, 1)) for o in flatten(output)]
        return output

    @property
    def losses(self):
        return super().losses + list(self._activity_losses)

    def _run_ops(self, sequences, groups, mask, training):
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        carry = self.return_state or self.stateful
        finals = []
        for cell, states in zip(cells, groups):
            sequences, final = cell.run_sequence(sequences, states, mask, training,
                                                 return_carry=carry and len(states) == 2)
            if len(final) < len(states):  # LSTM without its carry: c_T is not needed downstream
                final = final + [None]
            finals.append(final)
        return sequences, finals

    def get_config(self):
        config = super().get_config()
        config.update({"return_sequences": self.return_sequences, "return_state": self.return_state,
                       "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                       "zero_output_for_mask": self.zero_output_for_mask, "cell": serialize_nested(self.cell)})
        return config

    @classmethod
    def from_config(cls, config_dict):
        config_dict = dict(config_dict)
        return cls(deserialize_nested(config_dict.pop("cell")), **config_dict)


def _run_steps(cell, sequences, groups, mask, training):
    """Any cell, one step at a time on the tape (Keras's loop): masked steps keep the states and
    repeat the previous output (the first state)."""
    stacked = isinstance(cell, StackedRNNCells)
    states = groups if stacked else groups[0]
    outputs = []
    for t in range(sequences.shape[1]):
        x_t = R.SliceSteps.apply(sequences, index=(slice(None), t))
        if stacked:
            new_states, out = [], x_t
            for c, s in zip(cell.cells, states):
                out, ns = c(out, list(s), training=training)
                new_states.append(flatten([ns]))
        else:
            out, new_states = cell(x_t, list(states), training=training)
            new_states = flatten([new_states])
        if mask is not None:
            keep = mask[:, t, None].astype(out.dtype)
            previous = (states[-1] if stacked else states)[0]
            out = out * keep + previous * (1.0 - keep)
            pairs = zip(flatten(new_states), flatten(states))
            new_flat = [n * keep + o * (1.0 - keep) for n, o in pairs]
            new_states = _regroup(new_flat, states) if stacked else new_flat
        states = new_states
        outputs.append(out)
    return _stack(outputs), (states if stacked else [states])



def _regroup(flat, like):
    groups, start = [], 0
    for group in like:
        groups.append(flat[start:start + len(group)])
        start += len(group)
    return groups


def _stack(tensors):
    """Stack (N, u) step outputs into (N, T, u) on the tape."""
    from ..ops import reshaping
    return reshaping.concatenate([t.reshape((t.shape[0], 1) + tuple(t.shape[1:])) for t in tensors], axis=1)


class _CellLayer(RNN):
    """SimpleRNN / LSTM / GRU: an RNN whose cell is built from the layer's own arguments."""

    cell_class = None
    _rnn_arguments = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                      "zero_output_for_mask")
    _base_arguments = ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_size", "autocast")

    def __init__(self, units, *args, **kwargs):
        kwargs.pop("use_cudnn", None)  # Keras's cuDNN switch: no numeric effect
        rnn = {k: kwargs.pop(k) for k in self._rnn_arguments if k in kwargs}
        base = {k: kwargs.pop(k) for k in self._base_arguments if k in kwargs}
        self.activity_regularizer = kwargs.pop("activity_regularizer", None)
        base["name"] = base.get("name") or unique_name(to_snake_case(type(self).__name__))
        cell_name = to_snake_case(self.cell_class.__name__)
        try:
            cell = self.cell_class(units, *args, name=cell_name, dtype=base.get("dtype"),
                                   trainable=base.get("trainable", True), **kwargs)
        except (TypeError, ValueError) as error:  # name the layer the user created, not its cell
            message = str(error).replace(f"Layer '{cell_name}' ({self.cell_class.__name__})",
                                         f"Layer '{base['name']}' ({type(self).__name__})")
            raise type(error)(message.replace(self.cell_class.__name__, type(self).__name__)) from None
        super().__init__(cell, **rnn, **base)
        from .. import regularizers
        self.activity_regularizer = regularizers.get(self.activity_regularizer)

    def __getattr__(self, name):  # units, activation, dropout, ... read from the cell, as Keras's properties
        cell = self.__dict__.get("cell")
        if cell is not None and not name.startswith("_") and name in cell.__dict__:
            return cell.__dict__[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_config(self):
        config = super().get_config()
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key)
        del config["cell"]
        if isinstance(self.cell, SimpleRNNCell):
            del cell_config["seed"]  # Keras's SimpleRNN does not write its seed
        from .. import regularizers
        return {**config, **cell_config, "activity_regularizer": regularizers.serialize(self.activity_regularizer)}

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)


class SimpleRNN(_CellLayer):
    """Fully connected RNN: ``h_t = activation(x_t W + b + h_{t-1} U)``; see ``SimpleRNNCell``."""

    cell_class = SimpleRNNCell


class LSTM(_CellLayer):
    """Long short-term memory (Hochreiter 1997), gates i, f, c, o; see ``LSTMCell``."""

    cell_class = LSTMCell


class GRU(_CellLayer):
    """Gated recurrent unit (Cho et al. 2014), gates z, r, h, ``reset_after=True``; see ``GRUCell``."""

    cell_class = GRUCell
