"""Activation ops and numpy_nn.activations: gradients, naive oracles, Keras parity, get/serialize."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import numpy_nn as nn
from numpy_nn import activations
from tests import oracles_activations as oracle
from tests.gradcheck_factory import assert_gradients_match
from tests.keras_helpers import import_keras

# kinks (and jumps) of each activation: gradient checks keep inputs away from them
KINKS = {"relu": [0], "relu6": [0, 6], "leaky_relu": [0], "elu": [0], "selu": [0], "celu": [0],
         "hard_sigmoid": [-3, 3], "sparse_sigmoid": [-1, 1], "hard_tanh": [-1, 1], "hard_silu": [-3, 3],
         "hard_swish": [-3, 3], "sparse_plus": [-1, 1], "hard_shrink": [-0.5, 0.5], "soft_shrink": [-0.5, 0.5]}
ELEMENTWISE = sorted(oracle.SCALAR) + ["swish", "hard_swish"]
ALONG_AXIS = ["softmax", "log_softmax", "glu", "sparsemax"]
ALL_NAMES = sorted(set(ELEMENTWISE + ALONG_AXIS))

arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                    elements=st.floats(-5, 5, allow_nan=False, width=64))


def away_from(x, kinks, margin=0.02):
    """Move entries within ``margin`` of a kink to kink +- margin (finite differences need smoothness)."""
    x = np.array(x, dtype=np.float64)
    for k in kinks:
        near = np.abs(x - k) < margin
        x[near] = k + np.where(x[near] >= k, margin, -margin)
    return x


@pytest.mark.parametrize("name", ELEMENTWISE)
@given(x=arrays)
def test_elementwise_gradients(name, x):
    x = nn.Tensor(away_from(x, KINKS.get(name, [])), requires_grad=True)
    fn = activations.get(name)
    if name == "linear":
        assert fn(x) is x
        return
    assert_gradients_match(lambda: fn(x), [x], names=[name])


@pytest.mark.parametrize("name", ALONG_AXIS)
@given(x=arrays, axis_choice=st.integers(0, 2))
def test_axis_activation_gradients(name, x, axis_choice):
    axis = -1 - axis_choice % x.ndim
    if name == "glu" and x.shape[axis] % 2:
        x = np.concatenate([x, x[..., :1] * 0 + 0.3 if axis == -1 else np.take(x, [0], axis=axis)], axis=axis)
    if name == "sparsemax":  # piecewise linear: keep clear of support changes by spreading values
        x = x + 0.37 * np.arange(x.size).reshape(x.shape)
    t = nn.Tensor(x, requires_grad=True)
    fn = getattr(activations, name)
    assert_gradients_match(lambda: fn(t, axis=axis), [t], names=[name])


@given(x=arrays, max_value=st.sampled_from([None, 2.0, 6.0]), negative_slope=st.sampled_from([0.0, 0.1, 0.3]),
       threshold=st.sampled_from([0.0, 0.5, 1.0]))
def test_general_relu_gradients_and_oracle(x, max_value, negative_slope, threshold):
    x = away_from(x, [0, threshold] + ([max_value] if max_value else []))
    t = nn.Tensor(x, requires_grad=True)
    fn = lambda: activations.relu(t, negative_slope=negative_slope, max_value=max_value, threshold=threshold)  # noqa: E731
    expected = np.vectorize(lambda v: oracle.general_relu(v, negative_slope, max_value, threshold))(x)
    np.testing.assert_allclose(fn().data, expected, atol=1e-12)
    assert_gradients_match(fn, [t])


@given(x=arrays)
def test_gelu_tanh_form_gradient_and_oracle(x):
    t = nn.Tensor(x, requires_grad=True)
    np.testing.assert_allclose(activations.gelu(t, approximate=True).data, np.vectorize(oracle.gelu_tanh)(x),
                               atol=1e-12)
    assert_gradients_match(lambda: activations.gelu(t, approximate=True), [t])


@pytest.mark.parametrize("name", sorted(oracle.SCALAR))
def test_elementwise_against_naive_oracle(name):
    x = np.random.default_rng(1).uniform(-7, 7, size=(5, 7))
    np.testing.assert_allclose(activations.get(name)(x).data, oracle.elementwise(name, x), rtol=1e-12, atol=1e-12)


def test_softmax_family_against_naive_oracle():
    x = np.random.default_rng(2).normal(scale=4, size=(6, 5))
    np.testing.assert_allclose(activations.softmax(x).data, oracle.softmax_rows(x), atol=1e-14)
    np.testing.assert_allclose(activations.log_softmax(x).data, oracle.log_softmax_rows(x), atol=1e-12)
    big = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)  # stable: no overflow, no NaN
    assert np.all(np.isfinite(activations.softmax(big).data)) and activations.softmax(big).dtype == np.float32
    np.testing.assert_allclose(activations.log_softmax(big).data, [[0.0, -1000.0, -2000.0]])
    s = activations.sparsemax(np.array([[0.0, 0.37], [3.0, 0.0]])).data
    # Keras's tau sums every support cumsum: [0, 0.37] -> tau = (0 + 0.37 + 0.37 - 1) / 2 = -0.13
    np.testing.assert_allclose(s, [[0.13, 0.5], [1.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_float32_stays_float32(name):
    x = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 12)
    assert activations.get(name)(x).dtype == np.float32


def test_kink_conventions_match_jax():
    x = nn.Tensor(np.array([0.0, 6.0, -3.0, 3.0]), requires_grad=True)
    assert list(nn.grad(activations.relu(x).sum(), x).data) == [0, 1, 0, 1]
    assert list(nn.grad(activations.relu6(x).sum(), x).data) == [0, 0, 0, 1]
    assert list(nn.grad(activations.leaky_relu(x).sum(), x).data) == [1, 1, 0.2, 1]
    np.testing.assert_allclose(nn.grad(activations.hard_sigmoid(x).sum(), x).data, [1 / 6, 0, 0, 0])


def test_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu and activations.get("hard_swish") is activations.hard_silu
    assert activations.get({"module": "keras.activations", "class_name": "function", "config": "relu",
                            "registered_name": "relu"}) is activations.relu
    assert activations.get({"class_name": "tanh"}) is activations.tanh
    custom = lambda x: x  # noqa: E731
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="Valid names:.*relu"):
        activations.get("relu7")
    with pytest.raises(ValueError):
        activations.get(3)
    assert activations.serialize(activations.relu) == "relu"
    assert activations.serialize(activations.swish) == "silu"  # Keras serializes the alias as silu
    assert activations.serialize(None) == "linear" and activations.serialize(activations.linear) == "linear"
    for name in ALL_NAMES:
        fn = activations.get(name)
        assert activations.get(activations.serialize(fn)) is fn


# -- Keras parity -------------------------------------------------------------------------------------------
def _keras_and_grad(keras, fn, x, upstream):
    import jax
    import jax.numpy as jnp
    value = np.asarray(fn(x))
    grad = np.asarray(jax.grad(lambda v: jnp.sum(fn(v) * upstream))(jnp.asarray(x)))
    return value, grad


@pytest.mark.keras
def test_every_activation_matches_keras_by_name():
    keras = import_keras()
    from keras.src.activations import ALL_OBJECTS_DICT
    rng = np.random.default_rng(3)
    x = rng.uniform(-6, 6, size=(4, 10)).astype(np.float32)
    upstream = rng.standard_normal((4, 10)).astype(np.float32)
    missing = sorted(set(ALL_OBJECTS_DICT) - set(activations._BY_NAME))
    assert missing == ["threshold"] or missing == [], missing  # threshold needs extra arguments
    worst = {}
    for name in ALL_NAMES:
        kinks = KINKS.get(name, [])
        xs = away_from(x, kinks, margin=0.05).astype(np.float32)
        keras_fn = keras.activations.get(name)
        k_out = np.asarray(keras_fn(xs))
        xt = nn.Tensor(xs, requires_grad=True)
        ours = activations.get(name)(xt)
        scale = np.maximum(1.0, np.abs(k_out))
        assert ours.shape == k_out.shape, name
        assert np.max(np.abs(ours.data - k_out) / scale) <= 1e-6, (name, np.max(np.abs(ours.data - k_out)))
        if name != "linear":
            up = upstream[:, :ours.shape[-1]]
            _, k_grad = _keras_and_grad(keras, keras_fn, xs, up)
            g = nn.grad((ours * up).sum(), xt).data
            rel = np.max(np.abs(g - k_grad)) / max(np.max(np.abs(k_grad)), 1e-12)
            assert rel <= 1e-4, (name, rel)
            worst[name] = rel


@pytest.mark.keras
def test_parameterised_activations_match_keras():
    keras = import_keras()
    x = np.random.default_rng(4).uniform(-8, 8, size=(3, 16)).astype(np.float32)
    cases = [
        (lambda v: activations.relu(v, 0.1, 5.0, 1.0), lambda v: keras.activations.relu(v, 0.1, 5.0, 1.0)),
        (lambda v: activations.relu(v, max_value=6.0), lambda v: keras.activations.relu(v, max_value=6.0)),
        (lambda v: activations.relu(v, threshold=2.0), lambda v: keras.activations.relu(v, threshold=2.0)),
        (lambda v: activations.relu(v, negative_slope=0.3), lambda v: keras.activations.relu(v, negative_slope=0.3)),
        (lambda v: activations.leaky_relu(v, 0.05), lambda v: keras.activations.leaky_relu(v, 0.05)),
        (lambda v: activations.elu(v, 0.5), lambda v: keras.activations.elu(v, 0.5)),
        (lambda v: activations.celu(v, 2.0), lambda v: keras.activations.celu(v, 2.0)),
        (lambda v: activations.gelu(v, approximate=True), lambda v: keras.activations.gelu(v, approximate=True)),
        (lambda v: activations.softmax(v, axis=0), lambda v: keras.activations.softmax(v, axis=0)),
        (lambda v: activations.squareplus(v, 1.5), lambda v: keras.activations.squareplus(v, 1.5)),
        (lambda v: activations.threshold(v, 0.5, -2.0), lambda v: keras.activations.threshold(v, 0.5, -2.0)),
    ]
    for ours, theirs in cases:
        k = np.asarray(theirs(x))
        assert np.max(np.abs(ours(x).data - k)) <= 1e-6 * max(1.0, np.max(np.abs(k)))
