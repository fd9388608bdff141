"""Masks: where they come from, which layers carry them, and what they do in predict, fit and evaluate.

Compared with Keras (JAX) wherever Keras has an answer: the masks attached to every output of a
functional model, masked predictions, losses and metrics, and the weights after a few epochs of fit.
"""
import warnings

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from numpy_nn.layers.masking import get_mask
from tests.keras_helpers import import_keras, relative_diff

TOKENS = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0], [0, 0, 5, 6, 7], [8, 9, 1, 2, 3]])


def _keras_mask(tensor):
    from keras.src.backend.common.masking import get_keras_mask
    mask = get_keras_mask(tensor)
    return None if mask is None else np.asarray(mask)


def _pair(build):
    """The same functional model in Keras and numpy_nn, with Keras's weights copied over."""
    keras = import_keras()
    theirs, ours = build(keras.layers, keras.Input, keras.Model), build(L, nn.Input, nn.Model)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def test_embedding_mask_zero_marks_padding_and_keeps_integer_ids():
    layer = L.Embedding(2**25, 2, mask_zero=True, embeddings_initializer="zeros")
    out = layer(np.array([[2**24 + 1, 0]]))
    np.testing.assert_array_equal(get_mask(out), [[True, False]])
    assert get_mask(L.Embedding(10, 2)(TOKENS)) is None
    symbolic = L.Embedding(10, 2, mask_zero=True)(nn.Input((5,)))
    assert symbolic._keras_mask is not None and symbolic._keras_mask.shape == (None, 5)


def test_embedding_refuses_fractional_token_and_ragged_sequences():
    layer = L.Embedding(10, 2, name="tokens")
    assert layer(np.array([[1.0, 3.0]])).shape == (1, 2, 2)  # whole-number floats, as a float32 Input feeds them
    with pytest.raises(ValueError, match=r"'tokens'.*integer token indices.*\(1, 2\).*2\.5"):
        layer(np.array([[1.0, 2.5]]))
    with pytest.raises(ValueError, match="'tokens'.*received a list of .* inputs.*np.asarray"):
        layer([[1, 2, 3], [4]])  # ragged: pad the sequences to one length first
    model = nn.Sequential([nn.Input((3,)), L.Embedding(10, 2), L.LSTM(2)])
    with pytest.raises(ValueError, match=r"could not be converted to an array.*inhomogeneous"):
        model.predict([[1, 2, 3], [4]], verbose=0)


def test_masks_on_every_output_match_keras():
    """Embedding -> Dense (3-D), Dropout, Activation, LSTM (sequences or not), Bidirectional,
    TimeDistributed, Add (OR), Concatenate (ANY), Masking, Flatten (drops it)."""
    def build(layers, Input, Model):
        tokens, values = Input((5,), dtype="int32"), Input((5, 3))
        e = layers.Embedding(10, 3, mask_zero=True)(tokens)
        m = layers.Masking(0.0)(values)
        dense = layers.Dense(3)(e)
        act = layers.Activation("relu")(layers.Dropout(0.5)(dense))
        seq = layers.LSTM(3, return_sequences=True)(act)
        last = layers.LSTM(3)(e)
        bi = layers.Bidirectional(layers.GRU(2, return_sequences=True))(m)
        td = layers.TimeDistributed(layers.Dense(3))(seq)
        added = layers.Add()([td, m])
        joined = layers.Concatenate(axis=1)([e, m])
        flat = layers.Flatten()(e)
        return Model([tokens, values], [dense, act, seq, last, bi, td, added, joined, flat, m])
    values = np.random.default_rng(0).standard_normal((4, 5, 3)).astype("float32")
    values[0, 1] = 0.0
    values[2, 4] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Flatten drops the mask (Keras warns the same way)
        theirs, ours = _pair(build)
        k_out = theirs([TOKENS, values])
        o_out = ours([TOKENS, values])
    for k, o in zip(k_out, o_out):
        expected = _keras_mask(k)
        if expected is None:
            assert get_mask(o) is None
        else:
            np.testing.assert_array_equal(get_mask(o), expected)
        assert relative_diff(o.data, np.asarray(k)) < 1e-5


def test_layer_that_drops_a_mask_warns():
    embedded = L.Embedding(10, 2, mask_zero=True)(TOKENS)
    with pytest.warns(UserWarning, match="'flatten'.*does not support masking"):
        out = L.Flatten(name="flatten")(embedded)
    assert get_mask(out) is None


def test_masking_layer_forward_and_gradient_match_keras():
    keras = import_keras()
    import jax
    import jax.numpy as jnp
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype("float32")
    x[0, 2] = 0.5
    x[1, 0] = 0.5
    theirs = keras.layers.Masking(mask_value=0.5)
    ours = L.Masking(mask_value=0.5)
    t = nn.Tensor(x, requires_grad=True)
    out = ours(t)
    np.testing.assert_array_equal(out.data, np.asarray(theirs(x)))
    np.testing.assert_array_equal(get_mask(out), [[True, True, False, True], [False, True, True, True]])
    expected = jax.grad(lambda v: jnp.sum(theirs(v) * 2.0))(jnp.asarray(x))
    np.testing.assert_array_equal(nn.grad((out * 2.0).sum(), t).data, np.asarray(expected))


def _tagger(layers, Input, Model):
    tokens = Input((5,), dtype="int32")
    e = layers.Embedding(10, 4, mask_zero=True)(tokens)
    h = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(e)
    h = layers.GRU(3, return_sequences=True)(h)
    return Model(tokens, layers.TimeDistributed(layers.Dense(3, activation="softmax"))(h))


@pytest.mark.keras
def test_masked_sequence_model_predict_evaluate_and_fit_match_keras():
    theirs, ours = _pair(_tagger)
    labels = np.random.default_rng(2).integers(0, 3, size=TOKENS.shape)
    weights = np.random.default_rng(3).random(TOKENS.shape)
    assert relative_diff(ours.predict(TOKENS, verbose=0), theirs.predict(TOKENS, verbose=0)) < 1e-6
    for model in (theirs, ours):
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    for sample_weight in (None, weights):
        k = theirs.evaluate(TOKENS, labels, sample_weight=sample_weight, batch_size=4, verbose=0)
        o = ours.evaluate(TOKENS, labels, sample_weight=sample_weight, batch_size=4, verbose=0)
        np.testing.assert_allclose(o, k, rtol=1e-6)
    probabilities = ours.predict(TOKENS, verbose=0)
    per_position = -np.log(np.take_along_axis(probabilities, labels[..., None], -1)[..., 0])
    keep = TOKENS != 0
    np.testing.assert_allclose(ours.evaluate(TOKENS, labels, verbose=0)[0], per_position[keep].mean(), rtol=1e-5)
    k_history = theirs.fit(TOKENS, labels, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    o_history = ours.fit(TOKENS, labels, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    for key in ("loss", "accuracy"):  # masked loss; unmasked training accuracy (Keras on JAX)
        np.testing.assert_allclose(o_history[key], k_history[key], rtol=1e-5)
    for o, k in zip(ours.get_weights(), theirs.get_weights()):
        assert relative_diff(o, k) < 1e-5


@pytest.mark.keras
def test_masking_regression_in_sequential_matches_keras():
    keras = import_keras()
    x = np.random.default_rng(4).standard_normal((4, 6, 2)).astype("float32")
    x[0, 4:] = -1.0
    x[3, :3] = -1.0
    y = np.random.default_rng(5).standard_normal((4, 6, 1)).astype("float32")

    def build(layers, Sequential, Input):
        return Sequential([Input((6, 2)), layers.Masking(-1.0), layers.SimpleRNN(3, return_sequences=True),
                           layers.Dense(1)])
    theirs, ours = build(keras.layers, keras.Sequential, keras.Input), build(L, nn.Sequential, nn.Input)
    ours.set_weights(theirs.get_weights())
    for model in (theirs, ours):
        model.compile("adam", "mse", metrics=["mae"])
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    theirs.fit(x, y, epochs=3, batch_size=4, verbose=0)
    ours.fit(x, y, epochs=3, batch_size=4, verbose=0)
    for o, k in zip(ours.get_weights(), theirs.get_weights()):
        assert relative_diff(o, k) < 1e-4


@pytest.mark.keras
def test_explicit_mask_argument_and_initial_state_rule_match_keras():
    """model(x, mask=m) masks the first layers; a layer given initial_state tensors gets no automatic
    mask (Keras passes masks only to a call with one tensor argument)."""
    keras = import_keras()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)

    def build(layers, Input, Model):
        inp = Input((5, 2))
        return Model(inp, layers.GRU(3, return_sequences=True)(inp))
    theirs, ours = _pair(build)
    assert relative_diff(ours(x, mask=mask).data, np.asarray(theirs(x, mask=mask))) < 1e-6
    assert relative_diff(ours(x, mask=mask).data, ours(x).data) > 1e-3  # the mask changes the numbers

    def build_states(layers, Input, Model):
        tokens, h0 = Input((5,), dtype="int32"), Input((3,))
        e = layers.Embedding(10, 2, mask_zero=True)(tokens)
        return Model([tokens, h0], layers.SimpleRNN(3, return_sequences=True)(e, initial_state=h0))
    theirs, ours = _pair(build_states)
    h0 = rng.standard_normal((4, 3)).astype("float32")
    assert relative_diff(ours.predict([TOKENS, h0], verbose=0), theirs.predict([TOKENS, h0], verbose=0)) < 1e-6


def test_wrong_mask_shape_is_refused_with_the_shapes():
    x = np.zeros((2, 4, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"'enc'.*\(2, 4\).*\(2, 3\)"):
        L.LSTM(2, name="enc")(x, mask=np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"'td'.*\(2, 4\).*\(4, 2\)"):
        L.TimeDistributed(L.Dense(2), name="td")(x, mask=np.ones((4, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"'enc2'.*expected ndim=3, found ndim=2.*\(2, 4\)"):
        L.GRU(2, name="enc2")(np.zeros((2, 4), dtype="float32"))


def test_all_masked_batch_gives_zero_loss_and_per_sample_weights_need_a_mask_shape():
    model = _tagger(L, nn.Input, nn.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    padded = np.zeros((2, 5), dtype=int)
    assert model.evaluate(padded, np.zeros((2, 5)), verbose=0) == 0.0  # 0 valid positions: Keras's divide_no_nan
    with pytest.raises(ValueError, match=r"sample_weight of shape \(4,\).*mask.*\(4, 5\)"):
        model.evaluate(TOKENS, np.zeros((4, 5)), sample_weight=np.ones(4), verbose=0)


@pytest.mark.keras
def test_batch_normalization_uses_the_mask_in_training_like_keras():
    """Keras's BatchNormalization computes masked batch statistics; forward, gradients and moving averages."""
    keras = import_keras()
    import jax
    import jax.numpy as jnp
    x = np.random.default_rng(7).standard_normal((4, 5, 3)).astype("float32") * 2 + 1
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [1, 0, 0, 0, 0]], dtype=bool)
    theirs, ours = keras.layers.BatchNormalization(momentum=0.9), L.BatchNormalization(momentum=0.9)
    theirs(x)
    ours(x)
    weights = [np.array([1.5, 0.5, 2.0], "float32"), np.array([0.1, -0.2, 0.3], "float32")] + \
        [w for w in theirs.get_weights()[2:]]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    upstream = np.random.default_rng(8).standard_normal(x.shape).astype("float32")
    trainable = [v.value for v in theirs.trainable_variables]
    non_trainable = [v.value for v in theirs.non_trainable_variables]

    def loss(x_, tv):
        out, updated = theirs.stateless_call(tv, non_trainable, x_, training=True, mask=mask)
        return jnp.sum(out * upstream), (out, updated)
    (_, (k_out, k_stats)), (k_dx, k_dw) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(jnp.asarray(x),
                                                                                                trainable)
    t = nn.Tensor(x, requires_grad=True)
    out = ours(t, training=True, mask=mask)
    grads = nn.grad((out * nn.Tensor(upstream)).sum(), [t] + ours.trainable_weights)
    assert relative_diff(out.data, np.asarray(k_out)) < 1e-5
    for g, k in zip(grads, [k_dx] + list(k_dw)):
        assert relative_diff(g.data, np.asarray(k)) < 1e-5
    for ours_stat, keras_stat in zip(ours.get_weights()[2:], k_stats):
        assert relative_diff(ours_stat, np.asarray(keras_stat)) < 1e-6
