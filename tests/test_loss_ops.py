"""The fused loss ops (numpy_nn/ops/losses.py): float64 gradient checks, naive loop oracles and Keras
parity, values and gradients, clipping bounds included. The reductions around them (numpy_nn/losses.py)
are tested in tests/test_losses.py. Gradient checks and Keras parity run in both kernel tiers."""
import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import numpy_nn as nn
from numpy_nn.ops import losses as L
from tests import oracles_activations as oracle
from tests.gradcheck_factory import assert_gradients_match
from tests.keras_helpers import import_keras

batches = st.tuples(st.integers(1, 4), st.integers(2, 5))


def one_hot(rng, n, k):
    return np.eye(k)[rng.integers(0, k, size=n)]


def soft_targets(rng, n, k):
    t = rng.uniform(0, 1, size=(n, k))
    return t / t.sum(-1, keepdims=True)


# -- gradient checks ---------------------------------------------------------------------------------------
CASES = {  # name: (op keyword arguments, prediction(rng, n, k), target(rng, n, k))
    "cce probabilities": (dict(), lambda r, n, k: r.uniform(0.05, 1.0, (n, k)), soft_targets),
    "cce probabilities axis=0": (dict(axis=0), lambda r, n, k: r.uniform(0.05, 1.0, (n, k)),
                                 lambda r, n, k: soft_targets(r, k, n).T),
    "cce logits": (dict(from_logits=True), lambda r, n, k: r.normal(0, 3, (n, k)), soft_targets),
    "bce probabilities": (dict(), lambda r, n, k: r.uniform(0.02, 0.98, (n, k)), lambda r, n, k: r.uniform(0, 1, (n, k))),
    "bce logits": (dict(from_logits=True), lambda r, n, k: r.normal(0, 3, (n, k)), lambda r, n, k: r.uniform(0, 1, (n, k))),
}
OPS = {"cce": L.CategoricalCrossentropy, "bce": L.BinaryCrossentropy}


@pytest.mark.both_tiers
@pytest.mark.parametrize("case", sorted(CASES))
@given(batches, st.integers(0, 2**16))
def test_crossentropy_gradients(case, shape, seed):
    kwargs, prediction, target = CASES[case]
    rng = np.random.default_rng(seed)
    p = nn.Tensor(prediction(rng, *shape), requires_grad=True)
    y = target(rng, *shape)
    assert_gradients_match(lambda: OPS[case[:3]].apply(p, target=y, **kwargs), [p], names=[case])


@pytest.mark.both_tiers
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.floats(-4, 4)),
       st.integers(0, 2**16))
def test_huber_gradients(delta, error, seed):
    error = np.where(np.abs(np.abs(error) - delta) < 0.02, error * 1.1 + 0.05, error)  # away from |e| = delta
    target = np.random.default_rng(seed).normal(size=error.shape)
    p = nn.Tensor(target + error, requires_grad=True)
    assert_gradients_match(lambda: L.Huber.apply(p, target=target, delta=delta), [p], names=[f"huber {delta}"])


# -- naive loop oracles ----------------------------------------------------------------------------------------
def test_crossentropies_and_huber_against_naive_oracles():
    rng = np.random.default_rng(0)
    y = one_hot(rng, 6, 4)
    p = rng.uniform(0.05, 1.0, (6, 4))
    p[0] = [0.0, 1.0, 0.0, 0.0]  # clipped at both bounds
    np.testing.assert_allclose(L.CategoricalCrossentropy.apply(p, target=y).data,
                               oracle.categorical_crossentropy_rows(y, p), rtol=1e-12)
    z = rng.normal(size=(6, 4)) * 3
    np.testing.assert_allclose(L.CategoricalCrossentropy.apply(z, target=y, from_logits=True).data,
                               oracle.categorical_crossentropy_rows(y, z, from_logits=True), rtol=1e-12)
    q = rng.uniform(0, 1, size=(6, 4))
    q[0, :2] = [0.0, 1.0]
    np.testing.assert_allclose(L.BinaryCrossentropy.apply(q, target=y).data, oracle.binary_crossentropy_elements(y, q),
                               rtol=1e-12)
    np.testing.assert_allclose(L.BinaryCrossentropy.apply(z, target=y, from_logits=True).data,
                               oracle.binary_crossentropy_elements(y, z, from_logits=True), rtol=1e-12)
    np.testing.assert_allclose(L.Huber.apply(z, target=y, delta=1.5).data, oracle.huber_elements(y, z, 1.5),
                               rtol=1e-12)


# -- Keras parity ------------------------------------------------------------------------------------------------
EPS32 = np.float32(1e-7)
ONE_MINUS_EPS32 = np.float32(1.0) - EPS32  # 0.99999988: Keras's upper clip bound in float32


def parity_inputs():
    """float32 predictions with the clip bounds hit exactly (eps, 1 - eps), passed (0, 1), and inside."""
    rng = np.random.default_rng(1)
    probabilities = rng.uniform(0.05, 1.0, (5, 4)).astype(np.float32)
    probabilities[0] = [0.0, 1.0, 0.0, 0.0]
    bce = rng.uniform(0.01, 0.99, (5, 4)).astype(np.float32)
    bce[0] = [EPS32, ONE_MINUS_EPS32, 0.0, 1.0]
    logits = (rng.normal(size=(5, 4)) * 3).astype(np.float32)
    targets = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    return {"cce probabilities": probabilities, "cce logits": logits, "bce probabilities": bce,
            "bce logits": logits, "huber": logits}, targets


KERAS_PARITY = {  # name: (ours on (prediction, target), Keras on (prediction, target))
    "cce probabilities": (lambda p, y: L.CategoricalCrossentropy.apply(p, target=y),
                          lambda k, p, y: k.losses.categorical_crossentropy(y, p)),
    "cce logits": (lambda p, y: L.CategoricalCrossentropy.apply(p, target=y, from_logits=True),
                   lambda k, p, y: k.losses.categorical_crossentropy(y, p, from_logits=True)),
    "bce probabilities": (lambda p, y: L.BinaryCrossentropy.apply(p, target=y),
                          lambda k, p, y: k.ops.binary_crossentropy(y, p)),
    "bce logits": (lambda p, y: L.BinaryCrossentropy.apply(p, target=y, from_logits=True),
                   lambda k, p, y: k.ops.binary_crossentropy(y, p, from_logits=True)),
    "huber": (lambda p, y: L.Huber.apply(p, target=y, delta=0.7).mean(axis=-1),
              lambda k, p, y: k.losses.huber(y, p, delta=0.7)),
}


@functools.lru_cache(maxsize=None)
def keras_loss_reference(name):
    import jax
    keras = import_keras()
    predictions, targets = parity_inputs()
    value, pullback = jax.vjp(lambda p: KERAS_PARITY[name][1](keras, p, targets), jax.numpy.asarray(predictions[name]))
    upstream = np.random.default_rng(2).standard_normal(value.shape).astype(np.float32)
    (grad,) = pullback(jax.numpy.asarray(upstream))
    return np.asarray(value), upstream, np.asarray(grad)


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("name", sorted(KERAS_PARITY))
def test_loss_op_matches_keras(name):
    """Values and gradients w.r.t. the prediction equal Keras on JAX in float32 (the clip bounds pass
    half the gradient, as JAX's clip does)."""
    k_value, upstream, k_grad = keras_loss_reference(name)
    predictions, targets = parity_inputs()
    p = nn.Tensor(predictions[name], requires_grad=True)
    value = KERAS_PARITY[name][0](p, targets)
    assert value.dtype == np.float32
    np.testing.assert_allclose(value.data, k_value, rtol=1e-6, atol=1e-6)
    grad = nn.grad((value * nn.Tensor(upstream)).sum(), p).data
    np.testing.assert_allclose(grad, k_grad, rtol=1e-5, atol=1e-5 * np.abs(k_grad).max())
