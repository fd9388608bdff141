"""BatchNormalization and LayerNormalization: ops vs naive oracles, gradient checks, layer rules, Keras parity.

Tests marked ``both_tiers`` (the oracles, the op gradient checks, Keras parity) run with the fast
kernels and with the reference tier; tests/test_kernels_norm_pool.py compares the two directly.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.layers.normalization import BatchNormalization, LayerNormalization
from numpy_nn.ops.normalization import (BatchNormInference, BatchNormTrain, LayerNorm, batch_norm_inference,
                                        batch_norm_train, layer_norm)
from tests import oracles_normalization as oracle
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, keras_grads, relative_diff


both_tiers = pytest.mark.both_tiers  # run in the fast and in the reference tier (tests/conftest.py)


shapes = st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple)


@st.composite
def shape_and_axis(draw, min_batch=1, batch_axis=True):
    """A shape and a channel axis (negative or positive); layers never normalize per batch index."""
    shape = draw(shapes)
    shape = (max(shape[0], min_batch),) + shape[1:]
    axis = draw(st.integers(-len(shape) + (0 if batch_axis else 1), len(shape) - 1))
    return shape, axis if batch_axis or axis != 0 else 1


@st.composite
def shape_and_axes(draw):
    shape = draw(shapes)
    axes = draw(st.lists(st.integers(1, len(shape) - 1), min_size=1, max_size=len(shape) - 1, unique=True))
    return shape, axes


def _data(seed, shape, channels, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2.0 + 0.5
    gamma = rng.standard_normal(channels)
    beta = rng.standard_normal(channels)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), rng


def _param(a):
    return nn.Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# -- the ops (either tier) against the naive loops ---------------------------------------------------------

@both_tiers
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
@given(shape_and_axis(), st.integers(0, 2**16))
def test_batch_norm_train_matches_loop_oracle_forward_and_backward(epsilon, case, seed):
    shape, axis = case
    x, gamma, beta, rng = _data(seed, shape, (shape[axis],))
    y, mean, var = batch_norm_train(nn.Tensor(x), gamma, beta, axis=axis, epsilon=epsilon)
    y_ref, mean_ref, var_ref = oracle.batch_norm_train(x, gamma, beta, axis, epsilon)
    np.testing.assert_allclose(y.data, y_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, var_ref, rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(shape)
    xt, gt, bt = _param(x), _param(gamma), _param(beta)
    out = BatchNormTrain.apply(xt, gt, bt, axis=axis, epsilon=epsilon)
    dx, dgamma, dbeta = nn.grad((out * nn.Tensor(g)).sum(), [xt, gt, bt])
    dx_ref, dgamma_ref, dbeta_ref = oracle.batch_norm_train_backward(x, gamma, g, axis, epsilon)
    np.testing.assert_allclose(dx.data, dx_ref, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dgamma.data, dgamma_ref, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dbeta.data, dbeta_ref, rtol=1e-10, atol=1e-10)


@both_tiers
@given(shape_and_axis(), st.integers(0, 2**16))
def test_batch_norm_inference_matches_loop_oracle(case, seed):
    shape, axis = case
    x, gamma, beta, rng = _data(seed, shape, (shape[axis],))
    mean, variance = rng.standard_normal(shape[axis]), rng.uniform(0.1, 3.0, shape[axis])
    y = batch_norm_inference(nn.Tensor(x), gamma, beta, mean, variance, axis=axis)
    np.testing.assert_allclose(y.data, oracle.batch_norm_inference(x, gamma, beta, mean, variance, axis),
                               rtol=1e-10, atol=1e-10)


@both_tiers
@given(shape_and_axes(), st.integers(0, 2**16))
def test_layer_norm_matches_loop_oracle(case, seed):
    shape, axes = case
    norm_shape = tuple(shape[a] for a in sorted(axes))
    x, gamma, beta, _ = _data(seed, shape, norm_shape)
    y = layer_norm(nn.Tensor(x), gamma, beta, axes=axes)
    np.testing.assert_allclose(y.data, oracle.layer_norm(x, gamma, beta, axes), rtol=1e-10, atol=1e-10)


# -- gradient checks of the ops (float64) -------------------------------------------------------------

@both_tiers
@given(shape_and_axis(min_batch=2), st.integers(0, 2**16))
def test_batch_norm_train_op_gradients(case, seed):
    shape, axis = case
    x, gamma, beta, _ = _data(seed, shape, (shape[axis],))
    xt, gt, bt = _param(x), _param(gamma), _param(beta)
    assert_gradients_match(lambda: BatchNormTrain.apply(xt, gt, bt, axis=axis, epsilon=1e-3), [xt, gt, bt],
                    names=["x", "gamma", "beta"])


@both_tiers
@given(shape_and_axis(), st.integers(0, 2**16))
def test_batch_norm_inference_op_gradients(case, seed):
    shape, axis = case
    x, gamma, beta, rng = _data(seed, shape, (shape[axis],))
    mean, variance = rng.standard_normal(shape[axis]), rng.uniform(0.1, 3.0, shape[axis])
    xt, gt, bt = _param(x), _param(gamma), _param(beta)
    assert_gradients_match(lambda: BatchNormInference.apply(xt, gt, bt, mean=mean, variance=variance, axis=axis),
                    [xt, gt, bt], names=["x", "gamma", "beta"])


@both_tiers
@pytest.mark.parametrize("rms_scaling", [False, True])
@given(shape_and_axes(), st.integers(0, 2**16))
def test_layer_norm_op_gradients(rms_scaling, case, seed):
    shape, axes = case
    x, gamma, beta, _ = _data(seed, shape, tuple(shape[a] for a in sorted(axes)))
    xt, gt, bt = _param(x), _param(gamma), _param(beta)
    params, names = ([xt, gt], ["x", "gamma"]) if rms_scaling else ([xt, gt, bt], ["x", "gamma", "beta"])
    assert_gradients_match(lambda: LayerNorm.apply(xt, gt, bt, axes=tuple(axes), epsilon=1e-3, rms_scaling=rms_scaling),
                    params, names=names)


@both_tiers
def test_float32_stays_float32():
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)
    for layer in (BatchNormalization(), LayerNormalization(axis=[1, 2])):
        xt = nn.Tensor(x, requires_grad=True)
        for training in (True, False):
            y = layer(xt, training=training)
            assert y.dtype == np.float32
            gx, *gw = nn.grad((y * y).sum(), [xt] + layer.trainable_weights)
            assert gx.dtype == np.float32 and all(g.dtype == np.float32 for g in gw)
        assert all(w.dtype == np.float32 for w in layer.get_weights())


# -- layers: gradient checks -----------------------------------------------------------------------------

@pytest.mark.parametrize("center,scale", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("training", [False, True])
@given(shape_and_axis(min_batch=2, batch_axis=False), st.integers(0, 2**16))
def test_batch_normalization_layer_gradients(training, center, scale, case, seed):
    shape, axis = case
    x, _, _, rng = _data(seed, shape, 1)
    with floatx64():
        layer = BatchNormalization(axis=axis, center=center, scale=scale)
        layer(x)
        layer.set_weights([rng.standard_normal(w.shape) if i < center + scale else rng.uniform(0.2, 2.0, w.shape)
                           for i, w in enumerate(layer.get_weights())])
        assert len(layer.trainable_weights) == center + scale
        assert_layer_gradients_match(layer, x, training=training)


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
@given(shape_and_axes(), st.integers(0, 2**16))
def test_layer_normalization_layer_gradients(center, scale, case, seed):
    shape, axes = case
    x, _, _, rng = _data(seed, shape, 1)
    with floatx64():
        layer = LayerNormalization(axis=axes, center=center, scale=scale)
        layer(x)
        layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
        assert_layer_gradients_match(layer, x)


# -- layers: Keras rules ---------------------------------------------------------------------------------

def test_batch_normalization_weights_and_moving_average_rule():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 4, 4, 3)) * 3 + 2).astype(np.float32)
    layer = BatchNormalization(momentum=0.9)
    layer(x)  # training=None: inference, builds, changes nothing
    assert [w.path for w in layer.weights] == [f"{layer.name}/{n}" for n in
                                               ("gamma", "beta", "moving_mean", "moving_variance")]
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), 1)
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    mean, var = x.mean(axis=(0, 1, 2), dtype=np.float64), x.var(axis=(0, 1, 2), dtype=np.float64)  # biased
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    with nn.no_grad():  # the update happens (in place, not on the tape) even without a tape
        layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.19 * mean, rtol=1e-5)
    layer(x, training=False)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.19 * mean, rtol=1e-5)


def test_non_trainable_batch_normalization_runs_in_inference_mode():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((8, 5)) + 3).astype(np.float32)
    layer = BatchNormalization(trainable=False)
    frozen = layer(x, training=True).numpy()
    np.testing.assert_allclose(frozen, x / np.sqrt(1 + 1e-3), rtol=1e-6)  # moving stats 0 / 1
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def test_scale_and_center_off_drop_gamma_and_beta():
    layer = BatchNormalization(scale=False, center=False)
    layer(np.ones((2, 3), np.float32))
    assert [w.name for w in layer.weights] == ["moving_mean", "moving_variance"]
    ln = LayerNormalization(axis=[1, 2], scale=False)
    ln(np.ones((2, 3, 4), np.float32))
    assert [(w.name, w.shape) for w in ln.weights] == [("beta", (3, 4))]
    assert ln.axis == [1, 2]


def test_argument_and_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="momentum=1.5"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(TypeError, match="axis"):
        BatchNormalization(axis=[1, 2])
    bn = BatchNormalization(gamma_constraint="non_neg")
    bn(np.ones((2, 3), np.float32))
    assert type(bn.gamma.constraint).__name__ == "NonNeg" and bn.beta.constraint is None
    assert bn.get_config()["gamma_constraint"]["class_name"] == "NonNeg"
    with pytest.raises(ValueError, match="renorm=True"):
        BatchNormalization(renorm=True)
    with pytest.raises(TypeError, match="'axis'.*'a'"):
        LayerNormalization(axis="a")
    bn = BatchNormalization(axis=3, name="bn")
    with pytest.raises(ValueError, match="'bn'.*axis=3"):
        bn(np.ones((2, 3), np.float32))
    bn = BatchNormalization(name="bn2")
    bn(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="'bn2' expects 3 channels"):
        bn(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="bn2.*ndim=2"):
        bn(np.ones((2, 4, 3), np.float32))


def test_get_config_round_trip():
    bn = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False, gamma_regularizer="l2", name="b")
    config = bn.get_config()
    assert config["gamma_initializer"]["class_name"] == "Ones" and config["gamma_regularizer"]["class_name"] == "L2"
    assert {"synchronized", "renorm", "renorm_clipping", "renorm_momentum", "beta_constraint"} <= set(config)
    clone = BatchNormalization.from_config(config)
    assert clone.get_config() == config
    ln = LayerNormalization(axis=[1, 2], epsilon=1e-6, name="l")
    assert LayerNormalization.from_config(ln.get_config()).get_config() == ln.get_config()
    assert bn.compute_output_shape((None, 3, 5)) == (None, 3, 5)


# -- parity with Keras -------------------------------------------------------------------------------

def _random_bn_weights(rng, keras_layer):
    weights = []
    for w in keras_layer.weights:
        low = 0.5 if "variance" in w.path else -1.0
        weights.append(rng.uniform(low, 2.0, w.shape).astype(np.float32))
    return weights


def _keras_grads_without_training(layer, x, upstream):
    """Like keras_helpers.keras_grads, for layers whose call() takes no `training` (LayerNormalization)."""
    import jax
    import jax.numpy as jnp

    def loss(x_, trainable):
        out, _ = layer.stateless_call(trainable, [v.value for v in layer.non_trainable_variables], x_)
        return jnp.sum(out * upstream)

    gx, gw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), [v.value for v in layer.trainable_variables])
    return np.asarray(gx), [np.asarray(g) for g in gw]


def _compare(ours, theirs, x, upstream, training, tol_fwd=1e-5, tol_grad=1e-4):
    """Forward and gradients of sum(upstream * f(x)); returns the worst relative diffs.

    training=None: the Keras layer is called without a training argument.
    """
    xt = nn.Tensor(x, requires_grad=True)
    y = ours(xt, training=training)
    if training is None:
        y_keras = np.asarray(theirs(x))
        gx_keras, gw_keras = _keras_grads_without_training(theirs, x, upstream)
    else:
        y_keras = np.asarray(theirs(x, training=training))
        gx_keras, gw_keras = keras_grads(theirs, x, upstream, training=training)
    forward = relative_diff(y.numpy(), y_keras)
    assert forward <= tol_fwd, forward
    ours_grads = nn.grad((y * nn.Tensor(upstream)).sum(), [xt] + ours.trainable_weights)
    grads = [relative_diff(g.numpy(), k) for g, k in zip(ours_grads, [gx_keras] + gw_keras)]
    assert len(ours_grads) == 1 + len(gw_keras)
    assert max(grads) <= tol_grad, grads
    return forward, max(grads)


@pytest.mark.keras
@both_tiers
@pytest.mark.parametrize("axis,center,scale", [(-1, True, True), (1, True, False), (2, False, True)])
def test_batch_normalization_matches_keras(axis, center, scale):
    keras = import_keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((8, 5, 6, 4)) * 2 + 1).astype(np.float32)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    theirs = keras.layers.BatchNormalization(axis=axis, center=center, scale=scale, momentum=0.9)
    theirs.build(x.shape)
    ours = BatchNormalization(axis=axis, center=center, scale=scale, momentum=0.9)
    ours(x)
    weights = _random_bn_weights(rng, theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    _compare(ours, theirs, x, upstream, training=False)
    _compare(ours, theirs, x, upstream, training=True)  # both layers update their moving stats once
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert relative_diff(a, b) <= 1e-6
    assert not np.allclose(ours.moving_mean.numpy(), weights[-2])  # the update did happen


@pytest.mark.keras
@both_tiers
def test_frozen_batch_normalization_matches_keras():
    keras = import_keras()
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((6, 3)) * 2 + 1).astype(np.float32)
    theirs = keras.layers.BatchNormalization(trainable=False)
    theirs.build(x.shape)
    ours = BatchNormalization(trainable=False)
    ours(x)
    weights = _random_bn_weights(rng, theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    y_ours, y_keras = ours(x, training=True).numpy(), np.asarray(theirs(x, training=True))
    assert relative_diff(y_ours, y_keras) <= 1e-6
    for a, b, w in zip(ours.get_weights(), theirs.get_weights(), weights):
        np.testing.assert_array_equal(a, w)
        np.testing.assert_array_equal(np.asarray(b), w)


@pytest.mark.keras
@both_tiers
@pytest.mark.parametrize("axis,center,scale,rms_scaling", [(-1, True, True, False), ([1, 3], False, True, False),
                                                        ([2, 3], True, True, True)])
def test_layer_normalization_matches_keras(axis, center, scale, rms_scaling):
    keras = import_keras()
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 4, 5, 6)) * 2 + 1).astype(np.float32)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    theirs = keras.layers.LayerNormalization(axis=axis, center=center, scale=scale, rms_scaling=rms_scaling)
    theirs.build(x.shape)
    ours = LayerNormalization(axis=axis, center=center, scale=scale, rms_scaling=rms_scaling)
    ours(x)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    _compare(ours, theirs, x, upstream, training=None)
    assert ours.get_config()["axis"] == theirs.get_config()["axis"]
