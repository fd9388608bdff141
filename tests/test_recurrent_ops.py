"""The recurrent ops (numpy_nn/ops/recurrent.py): naive loop oracles and float64 gradient checks.

Both run in the fast and the reference tier. Each case draws the batch, the number of steps, the
feature and unit counts, the values, a random padding mask and random dropout masks (shared by
all gates, or one per gate, as Keras's implementations 2 and 1 do).
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.ops import recurrent as R
from tests import oracles_recurrent as oracle
from tests.gradcheck_factory import assert_gradients_match, floatx64

both_tiers = pytest.mark.both_tiers

CELLS = {"simple_rnn": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}


@st.composite
def sequences(draw, cell, dropout="none", masked=True):
    """(arrays, mask, input masks, recurrent masks) for ``cell``: x, h0, c0, kernel, recurrent_kernel
    and bias; a random padding mask (None unless ``masked``); dropout masks: "none", "shared" by
    the gates (Keras's implementation 2) or "per_gate" (implementation 1)."""
    n, t, f, u = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    gates = CELLS[cell]
    bias_shape = (2, 3 * u) if cell == "gru" else (gates * u,)
    arrays = dict(x=rng.standard_normal((n, t, f)), h0=rng.standard_normal((n, u)) * 0.5,
                  c0=rng.standard_normal((n, u)) * 0.5, kernel=rng.standard_normal((f, gates * u)) * 0.6,
                  recurrent_kernel=rng.standard_normal((u, gates * u)) * 0.6,
                  bias=rng.standard_normal(bias_shape) * 0.3)
    mask = rng.random((n, t)) < 0.7 if masked else None
    input_masks = recurrent_masks = None
    if dropout != "none":
        count = 1 if dropout == "shared" else gates
        input_masks = (rng.random((count, n, f)) < 0.6) / 0.6
        recurrent_masks = (rng.random((count, n, u)) < 0.6) / 0.6
    return arrays, mask, input_masks, recurrent_masks


def run_op(cell, arrays, mask, input_masks, recurrent_masks, activation, recurrent_activation, use_bias=True,
           return_carry=True):
    """The op under test on Tensors; returns its output Tensor."""
    a = arrays
    bias = [a["bias"]] if use_bias else []
    common = dict(mask=mask, activation=activation, input_dropout=input_masks, recurrent_dropout=recurrent_masks)
    if cell == "simple_rnn":
        return R.SimpleRNN.apply(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], *bias, **common)
    if cell == "lstm":
        return R.LSTM.apply(a["x"], a["h0"], a["c0"], a["kernel"], a["recurrent_kernel"], *bias,
                            recurrent_activation=recurrent_activation, return_carry=return_carry, **common)
    return R.GRU.apply(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], *bias, reset_after=cell == "gru",
                       recurrent_activation=recurrent_activation, **common)


def run_oracle(cell, arrays, mask, input_masks, recurrent_masks, activation, recurrent_activation, use_bias=True):
    a = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    bias = a["bias"] if use_bias else None
    common = dict(mask=mask, activation=activation, input_dropout=input_masks, recurrent_dropout=recurrent_masks)
    if cell == "simple_rnn":
        return oracle.simple_rnn(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], bias, **common)
    if cell == "lstm":
        h, c = oracle.lstm(a["x"], a["h0"], a["c0"], a["kernel"], a["recurrent_kernel"], bias,
                           recurrent_activation=recurrent_activation, **common)
        return np.concatenate([h, c], axis=-1)
    return oracle.gru(a["x"], a["h0"], a["kernel"], a["recurrent_kernel"], bias, reset_after=cell == "gru",
                      recurrent_activation=recurrent_activation, **common)


ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("linear", "sigmoid")]
DROPOUTS = ["none", "shared", "per_gate"]


def _dropout_cases():
    """(cell, dropout) pairs Keras can produce: SimpleRNN has one mask for everything."""
    return [(cell, d) for cell in CELLS for d in DROPOUTS if not (cell == "simple_rnn" and d == "per_gate")]


@both_tiers
@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("cell,dropout", _dropout_cases())
@given(data=st.data())
def test_forward_matches_naive_loops(cell, dropout, activation, recurrent_activation, data):
    arrays, mask, input_masks, recurrent_masks = data.draw(sequences(cell, dropout))
    out = run_op(cell, arrays, mask, input_masks, recurrent_masks, activation, recurrent_activation)
    expected = run_oracle(cell, arrays, mask, input_masks, recurrent_masks, activation, recurrent_activation)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)


@both_tiers
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("cell", list(CELLS))
@given(data=st.data())
def test_forward_without_bias_matches_naive_loops(cell, masked, data):
    arrays, mask, input_masks, recurrent_masks = data.draw(sequences(cell, "none", masked))
    out = run_op(cell, arrays, mask, None, None, "tanh", "sigmoid", use_bias=False)
    expected = run_oracle(cell, arrays, mask, None, None, "tanh", "sigmoid", use_bias=False)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)


@both_tiers
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("cell,dropout", _dropout_cases())
@given(data=st.data())
def test_gradients_match_finite_differences(cell, dropout, masked, data):
    activation, recurrent_activation = "tanh", "sigmoid"
    arrays, mask, input_masks, recurrent_masks = data.draw(sequences(cell, dropout, masked))
    names = ["x", "h0"] + (["c0"] if cell == "lstm" else []) + ["kernel", "recurrent_kernel", "bias"]
    with floatx64():
        params = {k: nn.Tensor(arrays[k], requires_grad=True) for k in names}
        tensors = dict(arrays, **params)
        assert_gradients_match(
            lambda: run_op(cell, tensors, mask, input_masks, recurrent_masks, activation, recurrent_activation),
            [params[k] for k in names], names=names, atol=1e-5, rtol=1e-4)


@both_tiers
@given(data=st.data())
def test_lstm_without_carry_is_the_hidden_half(data):
    """return_carry=False gives h_t only, the first half of [h_t, c_t], and the same gradients for it."""
    arrays, mask, input_masks, recurrent_masks = data.draw(sequences("lstm", "per_gate"))
    full = run_op("lstm", arrays, mask, input_masks, recurrent_masks, "tanh", "sigmoid", return_carry=True)
    hidden = run_op("lstm", arrays, mask, input_masks, recurrent_masks, "tanh", "sigmoid", return_carry=False)
    u = arrays["h0"].shape[1]
    np.testing.assert_allclose(hidden.data, full.data[..., :u], rtol=0, atol=0)
    with floatx64():
        params = {k: nn.Tensor(arrays[k], requires_grad=True) for k in ("x", "c0", "kernel")}
        tensors = dict(arrays, **params)
        assert_gradients_match(lambda: run_op("lstm", tensors, mask, input_masks, recurrent_masks, "tanh",
                                              "sigmoid", return_carry=False),
                               list(params.values()), names=list(params), atol=1e-5, rtol=1e-4)


def test_masked_steps_carry_the_state_and_receive_no_gradient():
    """A fully masked sample keeps h0 at every step; its inputs get zero gradient, h0 gets it all."""
    rng = np.random.default_rng(1)
    x = nn.Tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    h0 = nn.Tensor(rng.standard_normal((2, 2)), requires_grad=True)
    mask = np.array([[True, True, False, True], [False, False, False, False]])
    out = R.GRU.apply(x, h0, rng.standard_normal((3, 6)), rng.standard_normal((2, 6)), mask=mask)
    np.testing.assert_array_equal(out.data[1], np.repeat(h0.data[1:], 4, axis=0))
    np.testing.assert_array_equal(out.data[0, 2], out.data[0, 1])
    dx, dh0 = nn.grad(out.sum(), [x, h0])
    np.testing.assert_array_equal(dx.data[1], 0.0)
    np.testing.assert_array_equal(dx.data[0, 2], 0.0)
    np.testing.assert_allclose(dh0.data[1], 4.0)  # h_1..h_4 all equal h0


@pytest.mark.parametrize("index", [(slice(None), -1), (slice(None), slice(None, None, -1)),
                                   (Ellipsis, slice(1, 3))])
def test_slice_steps_gradient(index):
    rng = np.random.default_rng(0)
    with floatx64():
        x = nn.Tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
        assert_gradients_match(lambda: R.SliceSteps.apply(x, index=index), [x], names=["x"])


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="softmax"):
        R.activation_function("softmax")
