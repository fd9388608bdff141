"""A seeded random sweep against Keras (JAX): recurrent layer configurations and masked sequence
models trained with fit, beyond the hand-picked cases of tests/test_recurrent.py and test_masking.py."""
import random
import warnings

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from numpy_nn.ops.node import flatten
from tests.keras_helpers import import_keras, relative_diff

pytestmark = pytest.mark.keras

ACTIVATIONS = ["tanh", "relu", "sigmoid", "linear", "elu", "softsign", "hard_sigmoid", "selu", "swish", "softplus",
               "gelu", "relu6", "mish", "leaky_relu"]


def _layer_config(rng):
    kind = rng.choice(["SimpleRNN", "LSTM", "GRU", "Bidirectional", "RNN", "RNNstack"])
    base = kind if kind in ("SimpleRNN", "LSTM", "GRU") else rng.choice(["SimpleRNN", "LSTM", "GRU"])
    options = dict(return_sequences=rng.random() < 0.5, return_state=rng.random() < 0.3)
    if kind != "Bidirectional":
        options.update(go_backwards=rng.random() < 0.3, unroll=rng.random() < 0.2,
                       zero_output_for_mask=rng.random() < 0.2)
    cell = dict(activation=rng.choice(ACTIVATIONS), use_bias=rng.random() < 0.8)
    if base != "SimpleRNN":
        cell["recurrent_activation"] = rng.choice(ACTIVATIONS)
    if base == "GRU":
        cell["reset_after"] = rng.random() < 0.6
    return kind, base, rng.randint(1, 4), options, cell, rng.choice(["concat", "sum", "mul", "ave", None])


def _make(module, kind, base, units, options, cell, merge_mode):
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return getattr(module, kind)(units, **options, **cell)
    if kind == "Bidirectional":
        return module.Bidirectional(getattr(module, base)(units, **options, **cell), merge_mode=merge_mode)
    cells = [getattr(module, base + "Cell")(units, **cell)] + ([module.LSTMCell(2)] if kind == "RNNstack" else [])
    return module.RNN(cells if kind == "RNNstack" else cells[0], **options)


@pytest.mark.parametrize("seed", range(8))
def test_random_layer_configuration_matches_keras(seed):
    keras = import_keras()
    import jax
    import jax.numpy as jnp
    rng, data = random.Random(seed), np.random.default_rng(seed)
    kind, base, units, options, cell, merge_mode = _layer_config(rng)
    n, t, f = rng.randint(1, 4), rng.randint(1, 6), rng.randint(1, 4)
    x = data.standard_normal((n, t, f)).astype("float32")
    mask = data.random((n, t)) < 0.7 if rng.random() < 0.7 else None
    theirs, ours = _make(keras.layers, kind, base, units, options, cell, merge_mode), \
        _make(L, kind, base, units, options, cell, merge_mode)
    theirs(x)
    ours(x)
    theirs.set_weights([(data.standard_normal(w.shape) * 0.5).astype("float32") for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    states = None
    if kind in ("SimpleRNN", "LSTM", "GRU") and rng.random() < 0.5:
        states = [data.standard_normal((n, units)).astype("float32") for _ in range(2 if base == "LSTM" else 1)]
    kwargs = {} if mask is None else {"mask": mask}
    trainable = [v.value for v in theirs.trainable_variables]
    non_trainable = [v.value for v in theirs.non_trainable_variables]  # Keras's dropout seed states

    def keras_outputs(x_, tv, s_):
        extra = {} if s_ is None else {"initial_state": s_}
        out, _ = theirs.stateless_call(tv, non_trainable, x_, **kwargs, **extra)
        return jax.tree_util.tree_leaves(out)
    expected = [np.asarray(o) for o in keras_outputs(jnp.asarray(x), trainable, states)]
    upstream = [data.standard_normal(o.shape).astype("float32") for o in expected]
    grads_expected = jax.grad(lambda a, b, c: sum(jnp.sum(o * u) for o, u in zip(keras_outputs(a, b, c), upstream)),
                              argnums=(0, 1, 2))(jnp.asarray(x), trainable, states)
    x_t = nn.Tensor(x, requires_grad=True)
    s_t = None if states is None else [nn.Tensor(s, requires_grad=True) for s in states]
    outputs = flatten(ours(x_t, **({} if s_t is None else {"initial_state": s_t}), **kwargs))
    where = f"{kind}/{base} units={units} {options} {cell} merge={merge_mode} x{x.shape} mask={mask is not None}"
    assert len(outputs) == len(expected), where
    for o, e in zip(outputs, expected):
        assert relative_diff(o.data, e) < 2e-5, where
    total = sum(((o * nn.Tensor(u)).sum() for o, u in zip(outputs, upstream)), nn.Tensor(0.0))
    grads = nn.grad(total, [x_t] + list(ours.trainable_weights) + (s_t or []))
    gx, gw, gs = grads_expected
    for g, e in zip(grads, [gx] + list(gw) + (list(gs) if s_t else [])):
        assert relative_diff(g.data, np.asarray(e)) < 2e-5, where


def _sequence_model(module, Input, Model, source, recurrent, head):
    if source == "embedding":
        inputs = Input((7,), dtype="int32")
        x = module.Embedding(12, 4, mask_zero=True)(inputs)
    else:
        inputs = Input((7, 3))
        x = module.Masking(0.0)(inputs)
    for kind, units, bidirectional, extra, last in recurrent:
        layer = getattr(module, kind)(units, return_sequences=not last, **extra)
        x = (module.Bidirectional(layer) if bidirectional else layer)(x)
    head_layer = module.Dense(3, activation="softmax")
    return Model(inputs, (module.TimeDistributed(head_layer) if head == "td" else head_layer)(x))


@pytest.mark.parametrize("seed", range(3))
def test_random_masked_model_predict_evaluate_fit_match_keras(seed):
    keras = import_keras()
    rng, data = random.Random(100 + seed), np.random.default_rng(seed)
    source, last = rng.choice(["embedding", "masking"]), rng.random() < 0.4
    recurrent = []
    for i in range(rng.randint(1, 2)):
        kind = rng.choice(["SimpleRNN", "LSTM", "GRU"])
        extra = {"reset_after": rng.random() < 0.5} if kind == "GRU" else {}
        bidirectional = rng.random() < 0.4
        if rng.random() < 0.3 and not bidirectional:
            extra["go_backwards"] = True
        recurrent.append([kind, rng.randint(2, 4), bidirectional, extra, False])
    recurrent[-1][-1] = last
    head = "dense" if last else rng.choice(["td", "dense"])
    keras.backend.clear_session()  # both sides name layers from the same counters (lstm, lstm_1, ...)
    L.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _sequence_model(keras.layers, keras.Input, keras.Model, source, recurrent, head)
        ours = _sequence_model(L, nn.Input, nn.Model, source, recurrent, head)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    ours.set_weights(theirs.get_weights())
    if source == "embedding":
        x = data.integers(1, 12, size=(8, 7))
    else:
        x = data.standard_normal((8, 7, 3)).astype("float32")
    x[data.random((8, 7)) < 0.3] = 0
    x[0] = 0
    y = data.integers(0, 3, size=(8,) if last else (8, 7))
    assert relative_diff(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)) < 1e-5
    theirs.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(nn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(ours.evaluate(x, y, batch_size=8, verbose=0),
                               theirs.evaluate(x, y, batch_size=8, verbose=0), rtol=1e-5, atol=1e-7)
    k_history = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    o_history = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(o_history[key], k_history[key], rtol=1e-5, atol=1e-7)
    for o, k in zip(ours.get_weights(), theirs.get_weights()):
        assert relative_diff(o, k) < 1e-4
