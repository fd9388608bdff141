"""Dense, Activation, Embedding and the activation layers: gradients, validation, config, Keras parity."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from numpy_nn.layers.core import Activation, Dense, Embedding, Identity
from tests.gradcheck_factory import assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff


def _away_from_zero(x, margin=0.02):
    return np.where(np.abs(x) < margin, np.where(x >= 0, margin, -margin), x)


@pytest.mark.parametrize("activation", [None, "tanh", "softmax", "gelu"])
@given(batch_shape=st.lists(st.integers(1, 3), min_size=1, max_size=2), features=st.integers(1, 4),
       units=st.integers(1, 4), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_dense_gradients(activation, batch_shape, features, units, use_bias, seed):
    with floatx64():
        layer = Dense(units, activation=activation, use_bias=use_bias, bias_initializer="random_normal")
        x = np.random.default_rng(seed).standard_normal(tuple(batch_shape) + (features,))
        assert_layer_gradients_match(layer, x)


@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=3), shared=st.booleans(), seed=st.integers(0, 2**16))
def test_prelu_gradients(shape, shared, seed):
    with floatx64():
        layer = PReLU(alpha_initializer="random_normal", shared_axes=[1] if shared else None)
        x = _away_from_zero(np.random.default_rng(seed).standard_normal(shape))
        assert_layer_gradients_match(layer, x)


@pytest.mark.parametrize("which", ["relu", "relu_general", "leaky", "elu", "softmax", "softmax_axis1", "activation"])
@given(seed=st.integers(0, 2**16))
def test_activation_layer_gradients(which, seed):
    with floatx64():
        _assert_activation_layer_gradients(seed, which)


def _assert_activation_layer_gradients(seed, which):
    layer = {"relu": ReLU(), "relu_general": ReLU(4.0, 0.1, 0.5), "leaky": LeakyReLU(), "elu": ELU(0.7),
             "softmax": Softmax(), "softmax_axis1": Softmax(axis=1), "activation": Activation("mish")}[which]
    x = np.random.default_rng(seed).uniform(-5, 5, size=(2, 3, 4))
    for kink in (0.0, 0.5, 4.0):
        x = np.where(np.abs(x - kink) < 0.02, kink + 0.02, x)
    assert_layer_gradients_match(layer, x)


def test_embedding_gradient_scatters(float64):
    layer = Embedding(5, 3)
    indices = np.array([[0, 2, 2], [4, 0, 1]])
    out = layer(indices)
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out.data, layer.embeddings.data[indices])
    g = nn.grad(out.sum(), layer.embeddings).data
    np.testing.assert_allclose(g[:, 0], [2, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="index 7 is out of range"):
        layer(np.array([[7]]))


def test_dense_shapes_config_and_validation():
    layer = Dense(3, activation="relu", name="d")
    y = layer(np.ones((2, 5, 4), dtype=np.float32))
    assert y.shape == (2, 5, 3) and y.dtype == np.float32
    assert [w.shape for w in layer.get_weights()] == [(4, 3), (3,)]
    assert layer.compute_output_shape((None, 5, 4)) == (None, 5, 3)
    config = layer.get_config()
    assert config["units"] == 3 and config["activation"] == "relu" and config["use_bias"] is True
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    rebuilt = Dense.from_config({**config, "name": "d2"})
    assert rebuilt.units == 3 and rebuilt.activation is layer.activation
    for bad in (0, -2, 2.5, None):
        with pytest.raises(ValueError, match=f"units={bad!r}"):
            Dense(bad)
    with pytest.raises(ValueError, match="ndim=2, found ndim=1"):
        Dense(2)(np.ones(3))
    with pytest.raises(ValueError, match="last axis 4.*received shape"):
        layer(np.ones((2, 5)))
    assert Dense(2, use_bias=False)(np.ones((1, 3))).shape == (1, 2)


def test_activation_layer_validation_and_config():
    with pytest.raises(ValueError, match="max_value=-1"):
        ReLU(-1)
    with pytest.raises(ValueError, match="negative_slope=-0.1"):
        ReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="threshold=None"):
        ReLU(threshold=None)
    assert ReLU(5.0, 0.1, 1.0).get_config()["max_value"] == 5.0  # positional order
    assert LeakyReLU().negative_slope == 0.3 and LeakyReLU(alpha=0.1).negative_slope == 0.1
    np.testing.assert_allclose(ReLU(5, 0.1, 1.0)(np.array([[0.5, 7.0, 2.0]])).data, [[-0.05, 5.0, 2.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="shared_axes"):
        PReLU(shared_axes=[0])
    assert Activation("swish").get_config()["activation"] == "silu"
    assert Identity()(np.ones((2, 2))).shape == (2, 2)
    mask = np.array([[1, 1, 0]])
    out = Softmax()(np.array([[1.0, 2.0, 3.0]]), mask=mask).data
    np.testing.assert_allclose(out, [[np.exp(1) / (np.exp(1) + np.exp(2)), np.exp(2) / (np.exp(1) + np.exp(2)), 0]],
                               rtol=1e-6)


# -- Keras parity -----------------------------------------------------------------------------------------------
def _keras_grads(layer, x, upstream):
    """jax.grad of sum(upstream * layer(x)) w.r.t. x and the trainable weights (no training kwarg:
    Keras's activation layers do not accept one)."""
    import jax
    import jax.numpy as jnp
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss(x_, tv):
        out, _ = layer.stateless_call(tv, non_trainable, x_)
        return jnp.sum(out * upstream)

    gx, gw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), trainable)
    return np.asarray(gx), [np.asarray(g) for g in gw]


def _parity(keras, ours, theirs, x):
    """Forward and gradients (input and weights) of our layer vs the Keras layer; returns worst rel diffs."""
    theirs.build(x.shape)
    if theirs.weights:
        ours.build((None,) + x.shape[1:])
        ours.built = True
        ours.set_weights(theirs.get_weights())
    k_out = np.asarray(theirs(x))
    xt = nn.Tensor(x, requires_grad=True)
    out = ours(xt)
    forward = relative_diff(out.data, k_out)
    assert forward <= 1e-5, (ours.name, forward)
    upstream = np.random.default_rng(7).standard_normal(k_out.shape).astype(np.float32)
    k_gx, k_gw = _keras_grads(theirs, x, upstream)
    grads = nn.grad((out * upstream).sum(), [xt] + ours.trainable_weights)
    worst = relative_diff(grads[0].data, k_gx)
    for g, kg in zip(grads[1:], k_gw):
        worst = max(worst, relative_diff(g.data, kg))
    assert worst <= 1e-4, (ours.name, worst)
    return forward, worst


@pytest.mark.keras
@pytest.mark.both_tiers
def test_layers_match_keras():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x3 = rng.uniform(-6, 6, size=(2, 5, 4)).astype(np.float32)
    x3 = np.where(np.abs(x3) < 0.05, 0.3, x3).astype(np.float32)
    cases = [
        (Dense(3, activation="tanh"), keras.layers.Dense(3, activation="tanh", bias_initializer="random_normal")),
        (Dense(6, use_bias=False), keras.layers.Dense(6, use_bias=False)),
        (Activation("gelu"), keras.layers.Activation("gelu")),
        (ReLU(5.0, 0.1, 1.0), keras.layers.ReLU(5.0, 0.1, 1.0)),
        (LeakyReLU(), keras.layers.LeakyReLU()),
        (ELU(0.5), keras.layers.ELU(0.5)),
        (PReLU(shared_axes=[1]), keras.layers.PReLU(alpha_initializer="random_normal", shared_axes=[1])),
        (PReLU(), keras.layers.PReLU(alpha_initializer="random_normal")),
        (Softmax(axis=1), keras.layers.Softmax(axis=1)),
    ]
    worst = {}
    for ours, theirs in cases:
        worst[type(ours).__name__] = _parity(keras, ours, theirs, x3)
    print("worst (forward, gradient) relative diffs:", worst)
    assert Dense(3).get_config().keys() <= keras.layers.Dense(3).get_config().keys() | {"activity_regularizer"}


@pytest.mark.keras
@pytest.mark.both_tiers
def test_dense_lora_matches_keras():
    keras = import_keras()
    theirs = keras.layers.Dense(3, lora_rank=2)
    theirs.build((None, 4))
    theirs.lora_kernel_b.assign(np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32))
    ours = Dense(3, lora_rank=2)
    ours.build((None, 4))
    assert [w.name for w in ours.weights] == ["kernel", "bias", "lora_kernel_a", "lora_kernel_b"]
    assert [w.name for w in ours.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    assert relative_diff(ours(x).data, np.asarray(theirs(x))) <= 1e-5
    assert ours.get_config()["lora_rank"] == 2
