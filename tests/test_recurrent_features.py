"""Recurrent layer features that Keras cannot be compared with number for number: dropout (NumPy
masks, not JAX's), stateful layers, custom cells, configs, and the errors bad arguments raise."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from numpy_nn.ops.node import flatten
from tests.keras_helpers import import_keras, relative_diff

X = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32")


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_dropout_semantics(name):
    """Rate 0 is no dropout; inference ignores the rates; a seed makes training reproducible;
    dropout changes the training output."""
    plain = getattr(L, name)(5, return_sequences=True)
    reference = plain(X).data
    zero = getattr(L, name)(5, dropout=0.0, recurrent_dropout=0.0, return_sequences=True)
    zero(X)
    zero.set_weights(plain.get_weights())
    np.testing.assert_array_equal(zero(X, training=True).data, reference)
    dropped = [getattr(L, name)(5, dropout=0.4, recurrent_dropout=0.3, seed=3, return_sequences=True)
               for _ in range(2)]
    for layer in dropped:
        layer(X)
        layer.set_weights(plain.get_weights())
    np.testing.assert_array_equal(dropped[0](X).data, reference)  # inference: deterministic, no dropout
    first, second = dropped[0](X, training=True).data, dropped[1](X, training=True).data
    np.testing.assert_array_equal(first, second)  # same seed, same masks
    assert np.abs(first - reference).max() > 1e-3


def test_dropout_mask_is_fixed_across_time_steps():
    """With a linear identity cell (h_t = x_t * D), h_t / x_t is the same mask D at every step."""
    layer = L.SimpleRNN(3, activation="linear", dropout=0.5, seed=0, return_sequences=True)
    x = np.abs(X) + 0.5
    layer(x)
    layer.set_weights([np.eye(3, dtype="float32"), np.zeros((3, 3), "float32"), np.zeros(3, "float32")])
    ratio = layer(x, training=True).data / x
    np.testing.assert_allclose(ratio, np.repeat(ratio[:, :1], 6, axis=1), rtol=1e-6)
    assert set(np.round(np.unique(ratio), 5)) <= {0.0, 2.0} and (ratio == 0).any()


def test_lstm_per_gate_masks_with_recurrent_dropout():
    """recurrent_dropout > 0 switches Keras's LSTM to implementation 1: four input masks, four recurrent ones."""
    cell = L.LSTMCell(3, dropout=0.5, recurrent_dropout=0.5, seed=1)
    input_masks, recurrent_masks = cell.dropout_masks(2, 4, training=True)
    assert input_masks.shape == (4, 2, 4) and recurrent_masks.shape == (4, 2, 3)
    assert L.LSTMCell(3, dropout=0.5).dropout_masks(2, 4, training=True)[0].shape == (1, 2, 4)
    assert L.GRUCell(3, dropout=1.0).dropout_masks(2, 4, training=True) == (None, None)  # Keras: 0 < rate < 1


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_chunks_equal_one_long_sequence(name):
    stateful = getattr(L, name)(4, stateful=True, return_sequences=True)
    whole = getattr(L, name)(4, return_sequences=True)
    whole(X)
    stateful(X[:, :2])
    stateful.reset_states()
    stateful.set_weights(whole.get_weights())
    pieces = [stateful(X[:, :2]).data, stateful(X[:, 2:]).data]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole(X).data, rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(X[:, :2]).data, pieces[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"stateful.*Expected batch size: 4; received: 2"):
        stateful(X[:2])


@pytest.mark.keras
def test_stateful_lstm_matches_keras_eager_calls():
    """Keras carries the states across eager calls (under JAX its jitted predict/fit do not persist
    them; numpy_nn always carries them, the documented behaviour: docs/sequences.md)."""
    keras = import_keras()
    theirs = keras.Sequential([keras.Input(batch_shape=(4, 3, 3)), keras.layers.LSTM(2, stateful=True,
                                                                                    return_sequences=True)])
    ours = nn.Sequential([nn.Input((3, 3)), L.LSTM(2, stateful=True, return_sequences=True)])
    ours.set_weights(theirs.get_weights())
    for chunk in (X[:, :3], X[:, 3:]):
        assert relative_diff(ours(chunk).data, np.asarray(theirs(chunk))) < 1e-6
    theirs.layers[0].reset_states()
    ours.layers[0].reset_states()
    assert relative_diff(ours(X[:, 3:]).data, np.asarray(theirs(X[:, 3:]))) < 1e-6


class MinimalCell(L.Layer):
    """Keras's documentation example of a custom cell: output = x W + h U."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units), "orthogonal")

    def __call__(self, inputs, states, training=None):
        return super().__call__(inputs, states=states, training=training)

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


def test_custom_cell_runs_step_by_step_like_the_builtin_linear_cell():
    mask = np.ones((4, 6), dtype=bool)
    mask[0, 3:] = False
    custom = L.RNN(MinimalCell(3), return_sequences=True)
    builtin = L.SimpleRNN(3, activation="linear", use_bias=False, return_sequences=True)
    custom(X)
    builtin(X)
    builtin.set_weights(custom.get_weights())
    x = nn.Tensor(X, requires_grad=True)
    out_custom, out_builtin = custom(x, mask=mask), builtin(x, mask=mask)
    np.testing.assert_allclose(out_custom.data, out_builtin.data, rtol=1e-5, atol=1e-6)
    g1, g2 = nn.grad(out_custom.sum(), x), nn.grad(out_builtin.sum(), x)
    np.testing.assert_allclose(g1.data, g2.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [
    L.LSTM(3, return_sequences=True, go_backwards=True, dropout=0.2, seed=4, unit_forget_bias=False),
    L.GRU(2, reset_after=False, recurrent_activation="hard_sigmoid", kernel_regularizer="l2"),
    L.RNN([L.LSTMCell(2), L.GRUCell(3)], return_state=True),
    L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="sum"),
    L.TimeDistributed(L.Dense(4, activation="relu")),
    L.Masking(mask_value=-1.0),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip_rebuilds_the_same_layer(layer):
    flatten(layer(X))
    clone = type(layer).from_config(layer.get_config())
    flatten(clone(X))
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    for a, b in zip(flatten(layer(X)), flatten(clone(X))):
        np.testing.assert_array_equal(a.data, b.data)


def test_unroll_without_mask_changes_nothing():
    layer, unrolled = L.GRU(3, return_sequences=True), L.GRU(3, return_sequences=True, unroll=True)
    layer(X)
    unrolled(X)
    unrolled.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(X).data, unrolled(X).data)


def test_bad_arguments_are_refused_with_the_layer_name():
    with pytest.raises(ValueError, match=r"'lstm_x'.*activation.*elementwise.*softmax"):
        L.LSTM(2, activation="softmax", name="lstm_x")
    with pytest.raises(ValueError, match=r"units.*positive integer.*0"):
        L.GRU(0)
    with pytest.raises(ValueError, match=r"'rnn_s'.*initial_state.*\[\(4, 2\), \(4, 2\)\].*\[\(4, 3\)\]"):
        L.LSTM(2, name="rnn_s")(X, initial_state=[np.zeros((4, 3))])
    with pytest.raises(ValueError, match="merge mode"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))
    with pytest.raises(ValueError, match="go_backwards"):  # Keras's backward copy always has go_backwards=True
        L.Bidirectional(L.LSTM(2, go_backwards=True))
    with pytest.raises(ValueError, match=r"'td'.*min_ndim=3.*\(4, 3\)"):
        L.TimeDistributed(L.Dense(2), name="td")(np.zeros((4, 3)))
