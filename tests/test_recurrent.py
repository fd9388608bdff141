"""Recurrent layers against live Keras (JAX): forward and gradients (input, initial states, every weight).

Each case builds the Keras layer, gives it random weights, copies them with ``set_weights`` and
compares outputs (every output with ``return_state``) and the gradients of sum(w * outputs) for
fixed random w. Inputs carry a padding mask with masked steps at the start, in the middle and
at the end, and the initial states are random, which is where the output rules at masked
steps (default, ``unroll``, ``zero_output_for_mask``) differ. Runs in both kernel tiers.
"""
import inspect

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from numpy_nn.ops.node import flatten
from tests.keras_helpers import import_keras, relative_diff

pytestmark = [pytest.mark.keras, pytest.mark.both_tiers]

N, T, F = 3, 6, 4
FORWARD_TOL, GRAD_TOL = 2e-6, 2e-5  # relative to the largest Keras value (float32 on both sides)


def _mask():
    mask = np.ones((N, T), dtype=bool)
    mask[0, 4:] = False         # right padding
    mask[1, :2] = False         # left padding (a leading masked step with a nonzero initial state)
    mask[2, 2] = False          # a hole
    return mask


_KERAS_RESULTS = {}  # Keras's numbers per case, computed once and reused by the second kernel tier


@pytest.fixture
def case(request):
    """This test's key in the Keras cache: its id without the kernel tier."""
    return request.node.nodeid.replace("[fast-", "[").replace("[reference-", "[").replace("[fast]", "").replace(
        "[reference]", "")


def _keras_results(make_keras, x, mask, states, upstream_seed, training, seed):
    """Keras's outputs, random weights and gradients (input, trainable weights, initial states)."""
    import jax
    import jax.numpy as jnp
    keras_layer = make_keras()
    keras_layer(x)
    rng = np.random.default_rng(seed)
    keras_layer.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32")
                             for w in keras_layer.get_weights()])
    kwargs = {"mask": mask} if mask is not None else {}
    if "training" in inspect.signature(keras_layer.call).parameters:
        kwargs["training"] = training
    trainable = [v.value for v in keras_layer.trainable_variables]
    non_trainable = [v.value for v in keras_layer.non_trainable_variables]

    def outputs(x_, tv, states_):
        extra = {} if states_ is None else {"initial_state": states_}
        out, _ = keras_layer.stateless_call(tv, non_trainable, x_, **kwargs, **extra)
        return jax.tree_util.tree_leaves(out)

    theirs = [np.asarray(o) for o in outputs(jnp.asarray(x), trainable, states)]
    up_rng = np.random.default_rng(upstream_seed)
    upstream = [up_rng.standard_normal(o.shape).astype("float32") for o in theirs]

    def loss(x_, tv, states_):
        return sum(jnp.sum(o * u) for o, u in zip(outputs(x_, tv, states_), upstream))

    gx, gw, gs = jax.grad(loss, argnums=(0, 1, 2))(jnp.asarray(x), trainable, states)
    grads = [np.asarray(g) for g in [gx] + list(gw) + (list(gs) if states is not None else [])]
    return keras_layer.get_weights(), theirs, upstream, grads


def assert_matches_keras(case, make_keras, our_layer, seed=0, mask=True, initial_state=None, training=False, x=None):
    """Forward and gradient parity of ``our_layer`` with ``make_keras()``; returns the worst
    (forward, gradient) relative differences."""
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((N, T, F)).astype("float32") if x is None else x
    mask = _mask() if mask else None
    states = None if initial_state is None else [rng.standard_normal(s).astype("float32") * 0.5
                                                  for s in initial_state]
    if case not in _KERAS_RESULTS:
        _KERAS_RESULTS[case] = _keras_results(make_keras, x, mask, states, seed + 7, training, seed)
    weights, theirs, upstream, expected = _KERAS_RESULTS[case]
    our_layer(x)
    our_layer.set_weights(weights)
    kwargs = {"mask": mask} if mask is not None else {}
    x_t = nn.Tensor(x, requires_grad=True)
    s_t = None if states is None else [nn.Tensor(s, requires_grad=True) for s in states]
    ours = flatten(our_layer(x_t, **({} if s_t is None else {"initial_state": s_t}), training=training, **kwargs))
    assert len(ours) == len(theirs)
    forward = max(relative_diff(o.data, t) for o, t in zip(ours, theirs))
    total = sum(((o * nn.Tensor(u)).sum() for o, u in zip(ours, upstream)), nn.Tensor(0.0))
    grads = nn.grad(total, [x_t] + list(our_layer.trainable_weights) + (s_t or []))
    gradient = max(relative_diff(g.data, e) for g, e in zip(grads, expected))
    assert forward < FORWARD_TOL, f"forward relative diff {forward:.3g}"
    assert gradient < GRAD_TOL, f"gradient relative diff {gradient:.3g}"
    return forward, gradient


LAYER_OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_sequences": True, "return_state": True},
    {"return_sequences": True, "go_backwards": True, "return_state": True},
    {"return_sequences": True, "unroll": True},
    {"return_sequences": True, "zero_output_for_mask": True},
    {"use_bias": False, "activation": "relu"},
    {"activation": "softsign", "kernel_initializer": "he_normal"},
]
GATED_OPTIONS = LAYER_OPTIONS + [{"recurrent_activation": "hard_sigmoid", "return_sequences": True}]


def _states(name, units=3):
    return [(N, units)] * (2 if name == "LSTM" else 1)


@pytest.mark.parametrize("options", LAYER_OPTIONS, ids=str)
def test_simple_rnn(case, options):
    keras = import_keras()
    assert_matches_keras(case, lambda: keras.layers.SimpleRNN(3, **options), L.SimpleRNN(3, **options),
            initial_state=_states("SimpleRNN"))


@pytest.mark.parametrize("options", GATED_OPTIONS, ids=str)
def test_lstm(case, options):
    keras = import_keras()
    assert_matches_keras(case, lambda: keras.layers.LSTM(3, **options), L.LSTM(3, **options), initial_state=_states("LSTM"))


@pytest.mark.parametrize("options", GATED_OPTIONS + [{"reset_after": False, "return_sequences": True},
                                                     {"reset_after": False, "use_bias": False}], ids=str)
def test_gru(case, options):
    keras = import_keras()
    assert_matches_keras(case, lambda: keras.layers.GRU(3, **options), L.GRU(3, **options), initial_state=_states("GRU"))


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_without_mask_and_initial_state(case, name):
    keras = import_keras()
    assert_matches_keras(case, lambda: getattr(keras.layers, name)(4, return_sequences=True),
            getattr(L, name)(4, return_sequences=True), mask=False)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional(case, merge_mode, return_sequences):
    keras = import_keras()
    assert_matches_keras(case, lambda: keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=return_sequences),
                                                     merge_mode=merge_mode),
            L.Bidirectional(L.LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode))


def test_bidirectional_with_backward_layer_states_and_initial_state(case):
    keras = import_keras()

    def theirs():
        return keras.layers.Bidirectional(
            keras.layers.GRU(3, return_sequences=True, return_state=True),
            backward_layer=keras.layers.GRU(3, return_sequences=True, return_state=True, go_backwards=True,
                                            reset_after=False))
    ours = L.Bidirectional(L.GRU(3, return_sequences=True, return_state=True),
                           backward_layer=L.GRU(3, return_sequences=True, return_state=True, go_backwards=True,
                                                reset_after=False))
    assert_matches_keras(case, theirs, ours, initial_state=[(N, 3), (N, 3)])
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in _KERAS_RESULTS[case][0]]


def test_time_distributed_dense_and_conv(case):
    keras = import_keras()
    assert_matches_keras(case + "dense", lambda: keras.layers.TimeDistributed(keras.layers.Dense(2, activation="tanh")),
            L.TimeDistributed(L.Dense(2, activation="tanh")))
    x = np.random.default_rng(3).standard_normal((N, T, 5, 5, 2)).astype("float32")
    assert_matches_keras(case + "conv", lambda: keras.layers.TimeDistributed(keras.layers.Conv2D(3, 3)),
            L.TimeDistributed(L.Conv2D(3, 3)), x=x)


@pytest.mark.parametrize("cells", ["SimpleRNNCell", "LSTMCell", "GRUCell", "stacked"])
def test_rnn_of_cells(case, cells):
    keras = import_keras()

    def make(module):
        if cells == "stacked":
            return [module.LSTMCell(3), module.GRUCell(2, reset_after=False), module.SimpleRNNCell(2)]
        return getattr(module, cells)(3)
    assert_matches_keras(case, lambda: keras.layers.RNN(make(keras.layers), return_sequences=True, return_state=True),
            L.RNN(make(L), return_sequences=True, return_state=True))


@pytest.mark.parametrize("name", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
def test_cell_single_step(name):
    keras = import_keras()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, F)).astype("float32")
    count = 2 if name == "LSTMCell" else 1
    states = [rng.standard_normal((N, 3)).astype("float32") for _ in range(count)]
    theirs, ours = getattr(keras.layers, name)(3), getattr(L, name)(3)
    k_out, k_states = theirs(x, states)
    ours(x, states)
    ours.set_weights(theirs.get_weights())
    o_out, o_states = ours(x, states)
    assert relative_diff(o_out.data, np.asarray(k_out)) < FORWARD_TOL
    for o, k in zip(flatten(o_states), flatten(k_states)):
        assert relative_diff(o.data, np.asarray(k)) < FORWARD_TOL


def test_weights_config_and_shapes_match_keras():
    keras = import_keras()
    for name, args in [("SimpleRNN", {}), ("LSTM", {"unit_forget_bias": False}), ("GRU", {}),
                       ("GRU", {"reset_after": False})]:
        theirs, ours = getattr(keras.layers, name)(5, **args), getattr(L, name)(5, **args)
        x = np.zeros((2, 3, 4), dtype="float32")
        theirs(x), ours(x)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()], name
        assert [w.path.split("/")[-1] for w in ours.weights] == [w.path.split("/")[-1] for w in theirs.weights]
        assert set(ours.get_config()) == set(theirs.get_config()), name
    lstm = L.LSTM(4)
    lstm(np.zeros((1, 2, 3), dtype="float32"))
    np.testing.assert_array_equal(lstm.get_weights()[2], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    recurrent = lstm.get_weights()[1]  # orthogonal (4, 16): orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)
