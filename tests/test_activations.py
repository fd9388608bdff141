"""Activation ops and numpy_nn.activations: gradients, naive oracles, Keras parity, get/serialize.

The float64 gradient checks and the Keras parity tests run in both kernel tiers (``both_tiers``);
Keras's values are computed once per session (``keras_reference``) and compared with ours in each.
"""
import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import numpy_nn as nn
from numpy_nn import activations
from tests import oracles_activations as oracle
from tests.gradcheck_factory import assert_gradients_match
from tests.keras_helpers import import_keras, relative_diff

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


@pytest.mark.both_tiers
@pytest.mark.parametrize("name", ELEMENTWISE)
@given(x=arrays)
def test_elementwise_gradients(name, x):
    x = nn.Tensor(away_from(x, KINKS.get(name, [])), requires_grad=True)
    fn = activations.get(name)
    if name == "linear":
        assert fn(x) is x
        return
    assert_gradients_match(lambda: fn(x), [x], names=[name])


@pytest.mark.both_tiers
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


# (max_value, negative_slope, threshold): every branch of Keras's general relu, including the relu6
# path (max_value 6, threshold 0) and the clip path (any other max_value)
GENERAL_RELU = [(None, 0.1, 0.0), (None, 0.0, 0.5), (None, 0.3, 1.0), (2.0, 0.0, 0.0), (6.0, 0.0, 0.0),
                (6.0, 0.1, 0.0), (2.0, 0.3, 0.5), (6.0, 0.1, 1.0)]


@pytest.mark.both_tiers
@pytest.mark.parametrize("max_value, negative_slope, threshold", GENERAL_RELU)
@given(x=arrays)
def test_general_relu_gradients_and_oracle(x, max_value, negative_slope, threshold):
    x = away_from(x, [0, threshold] + ([max_value] if max_value else []))
    t = nn.Tensor(x, requires_grad=True)
    fn = lambda: activations.relu(t, negative_slope=negative_slope, max_value=max_value, threshold=threshold)  # noqa: E731
    expected = np.vectorize(lambda v: oracle.general_relu(v, negative_slope, max_value, threshold))(x)
    np.testing.assert_allclose(fn().data, expected, atol=1e-12)
    assert_gradients_match(fn, [t])


@pytest.mark.both_tiers
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


def test_softmax_log_softmax_sparsemax_against_naive_oracles():
    x = np.random.default_rng(2).normal(scale=4, size=(6, 5))
    np.testing.assert_allclose(activations.softmax(x).data, oracle.softmax_rows(x), atol=1e-14)
    np.testing.assert_allclose(activations.log_softmax(x).data, oracle.log_softmax_rows(x), atol=1e-12)
    big = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)  # stable: no overflow, no NaN
    assert np.all(np.isfinite(activations.softmax(big).data)) and activations.softmax(big).dtype == np.float32
    np.testing.assert_allclose(activations.log_softmax(big).data, [[0.0, -1000.0, -2000.0]])
    np.testing.assert_allclose(activations.sparsemax(x / 4).data, oracle.sparsemax_rows(x / 4), atol=1e-12)
    np.testing.assert_allclose(activations.sparsemax(x.T, axis=0).data, oracle.sparsemax_rows(x).T, atol=1e-12)
    s = activations.sparsemax(np.array([[0.0, 0.37], [3.0, 0.0]])).data
    # Keras's tau sums every support cumsum: [0, 0.37] -> tau = (0 + 0.37 + 0.37 - 1) / 2 = -0.13
    np.testing.assert_allclose(s, [[0.13, 0.5], [1.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_float32_stays_float32(name):
    x = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 12)
    assert activations.get(name)(x).dtype == np.float32


def test_kink_conventions_match_jax():
    """The slopes at the kinks, as jax.grad of the Keras functions gives them (measured on JAX)."""
    x = nn.Tensor(np.array([0.0, 6.0, -3.0, 3.0]), requires_grad=True)
    assert list(nn.grad(activations.relu(x).sum(), x).data) == [0, 1, 0, 1]
    assert list(nn.grad(activations.relu6(x).sum(), x).data) == [0, 0, 0, 1]
    assert list(nn.grad(activations.leaky_relu(x).sum(), x).data) == [1, 1, 0.2, 1]
    np.testing.assert_allclose(nn.grad(activations.hard_sigmoid(x).sum(), x).data, [1 / 6, 0, 0, 0])
    # Keras calls clip here, and JAX's clip passes half the gradient at a bound
    bounds = nn.Tensor(np.array([-1.0, 1.0, 0.0]), requires_grad=True)
    assert list(nn.grad(activations.sparse_sigmoid(bounds).sum(), bounds).data) == [0.25, 0.25, 0.5]
    cap = nn.Tensor(np.array([5.0, 6.0, 1.0]), requires_grad=True)
    assert list(nn.grad(activations.relu(cap, max_value=5.0).sum(), cap).data) == [0.5, 0, 1]
    assert list(nn.grad(activations.relu(cap, max_value=6.0).sum(), cap).data) == [1, 0, 1]  # relu6: 0 at 6
    assert list(nn.grad(activations.relu(cap, max_value=6.0, threshold=1.0).sum(), cap).data) == [1, 0.5, 0]


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
KERAS_INPUT = np.random.default_rng(3).uniform(-6, 6, size=(4, 10)).astype(np.float32)
UPSTREAM = np.random.default_rng(3).standard_normal((4, 10)).astype(np.float32)


def keras_value_and_grad(fn, x):
    """fn(x) and the gradient of sum(fn(x) * upstream) w.r.t. x, through jax.vjp."""
    import jax
    value, pullback = jax.vjp(fn, jax.numpy.asarray(x))
    (grad,) = pullback(jax.numpy.asarray(UPSTREAM[:, :value.shape[-1]]))
    return np.asarray(value), np.asarray(grad)


@functools.lru_cache(maxsize=None)
def keras_reference(name):
    """(x, Keras's value, Keras's gradient) for one activation by name, computed once per session."""
    keras = import_keras()
    x = away_from(KERAS_INPUT, KINKS.get(name, []), margin=0.05).astype(np.float32)
    return (x,) + keras_value_and_grad(keras.activations.get(name), x)


@pytest.mark.keras
def test_every_keras_activation_has_ours():
    keras = import_keras()
    from keras.src.activations import ALL_OBJECTS_DICT
    missing = sorted(set(ALL_OBJECTS_DICT) - set(activations._BY_NAME))
    assert missing in (["threshold"], []), missing  # threshold needs extra arguments: tested below


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("name", ALL_NAMES)
def test_activation_matches_keras_by_name(name):
    x, k_value, k_grad = keras_reference(name)
    xt = nn.Tensor(x, requires_grad=True)
    ours = activations.get(name)(xt)
    assert ours.shape == k_value.shape and ours.dtype == np.float32
    assert np.max(np.abs(ours.data - k_value) / np.maximum(1.0, np.abs(k_value))) <= 1e-6
    g = nn.grad((ours * UPSTREAM[:, :ours.shape[-1]]).sum(), xt).data
    assert relative_diff(g, k_grad) <= 1e-4


PARAMETERISED = {  # id: (ours, keras name, keyword arguments)
    "relu(0.1, 5, 1)": (lambda v: activations.relu(v, 0.1, 5.0, 1.0), "relu", dict(negative_slope=0.1, max_value=5.0,
                                                                                  threshold=1.0)),
    "relu(max_value=6)": (lambda v: activations.relu(v, max_value=6.0), "relu", dict(max_value=6.0)),
    "relu(threshold=2)": (lambda v: activations.relu(v, threshold=2.0), "relu", dict(threshold=2.0)),
    "relu(negative_slope=0.3)": (lambda v: activations.relu(v, negative_slope=0.3), "relu", dict(negative_slope=0.3)),
    "leaky_relu(0.05)": (lambda v: activations.leaky_relu(v, 0.05), "leaky_relu", dict(negative_slope=0.05)),
    "elu(0.5)": (lambda v: activations.elu(v, 0.5), "elu", dict(alpha=0.5)),
    "celu(2)": (lambda v: activations.celu(v, 2.0), "celu", dict(alpha=2.0)),
    "gelu(tanh)": (lambda v: activations.gelu(v, approximate=True), "gelu", dict(approximate=True)),
    "softmax(axis=0)": (lambda v: activations.softmax(v, axis=0), "softmax", dict(axis=0)),
    "squareplus(1.5)": (lambda v: activations.squareplus(v, 1.5), "squareplus", dict(b=1.5)),
    "threshold(0.5, -2)": (lambda v: activations.threshold(v, 0.5, -2.0), "threshold",
                           dict(threshold=0.5, default_value=-2.0)),
}
PARAMETERISED_INPUT = away_from(np.random.default_rng(4).uniform(-8, 8, size=(4, 10)), [0, 0.5, 1, 2, 5, 6]
                                ).astype(np.float32)


@functools.lru_cache(maxsize=None)
def keras_parameterised_reference(case):
    keras = import_keras()
    _, name, kwargs = PARAMETERISED[case]
    return keras_value_and_grad(lambda v: keras.activations.get(name)(v, **kwargs), PARAMETERISED_INPUT)


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("case", sorted(PARAMETERISED))
def test_parameterised_activation_matches_keras(case):
    k_value, k_grad = keras_parameterised_reference(case)
    xt = nn.Tensor(PARAMETERISED_INPUT, requires_grad=True)
    ours = PARAMETERISED[case][0](xt)
    assert np.max(np.abs(ours.data - k_value)) <= 1e-6 * max(1.0, np.max(np.abs(k_value)))
    assert relative_diff(nn.grad((ours * UPSTREAM).sum(), xt).data, k_grad) <= 1e-4
