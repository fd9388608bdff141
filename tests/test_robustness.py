"""Nothing lost on failure, and numerical robustness.

1. ``fit`` interrupted by ``KeyboardInterrupt`` (from a callback, from inside the forward pass, or
   Ctrl-C during an optimizer step) re-raises it, as Keras does, and leaves the model with the
   weights of the last completed step and ``model.history`` holding the completed epochs.
2. softmax / log_softmax / crossentropy from logits, sigmoid / binary crossentropy from logits:
   finite values and gradients at logits of +-1e4 (compared with the closed forms and with Keras).
3. BatchNormalization on a batch of one and on constant channels: finite outputs and gradients,
   equal to Keras's.
4. float16 inputs are computed in floatx (float32 in, float32 out).
5. The gradient-check factory still passes at extreme but valid values (large and small
   magnitudes, tiny epsilons; inputs near kinks such as ReLU's 0 or max-pool ties are avoided).
"""
import contextlib
import os
import signal
import sys

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import activations, callbacks, losses
from numpy_nn.autograd.tensor import Variable
from numpy_nn.layers.activation import Softmax
from numpy_nn.layers.base import Layer
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Add
from numpy_nn.layers.normalization import BatchNormalization, LayerNormalization
from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
from numpy_nn.models import Input, Sequential
from numpy_nn.optimizers import SGD, Adam
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match
from tests.keras_helpers import import_keras, keras_grads, relative_diff


# ------------------------------------------------------------------------------------------------
# 1. Nothing lost: KeyboardInterrupt in fit
# ------------------------------------------------------------------------------------------------
def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((16, 4)).astype("float32"), rng.standard_normal((16, 2)).astype("float32")


def _model(initial=None, extra_layers=()):
    nn.layers.clear_session()
    model = Sequential([Input((4,)), Dense(8, activation="tanh"), *extra_layers, Dense(2)])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    if initial is not None:
        model.set_weights(initial)
    return model


class _At(callbacks.Callback):
    """Calls ``action(model)`` at (epoch, batch), on the hook given."""

    def __init__(self, epoch, batch, hook, action):
        super().__init__()
        self.target, self.hook, self.action, self.epoch = (epoch, batch), hook, action, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.hook == "begin" and (self.epoch, batch) == self.target:
            self.action(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if self.hook == "end" and (self.epoch, batch) == self.target:
            self.action(self.model)


def _interrupt(model):
    raise KeyboardInterrupt


def _stop(model):
    model.stop_training = True


def _reference(initial, epoch, batch):
    """Weights and history of a run stopped cleanly right after step (epoch, batch)."""
    x, y = _data()
    model = _model(initial)
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                        callbacks=[_At(epoch, batch, "end", _stop)])
    return model, history


def _assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("hook, epoch, batch", [("end", 1, 1), ("begin", 1, 2), ("end", 0, 3)])
def test_keyboard_interrupt_from_a_callback_keeps_the_last_completed_step(hook, epoch, batch):
    x, y = _data()
    initial = _model().get_weights()
    model = _model(initial)
    with pytest.raises(KeyboardInterrupt):  # re-raised, as in Keras
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                  callbacks=[_At(epoch, batch, hook, _interrupt)])
    # "begin" interrupts before the step runs: the last completed step is the one before it
    last_epoch, last_batch = (epoch, batch) if hook == "end" else (epoch, batch - 1)
    reference, history = _reference(initial, last_epoch, last_batch)
    _assert_same_weights(model, reference)
    assert int(model.optimizer.iterations) == int(reference.optimizer.iterations)
    # model.history holds the epochs that completed (the interrupted one is not among them)
    assert model.history.epoch == list(range(epoch))
    assert model.history.history.get("loss", []) == history.history["loss"][:epoch]


def test_keyboard_interrupt_inside_the_forward_pass_applies_no_update():
    class Tripwire(Layer):
        """Identity that raises KeyboardInterrupt on its n-th training call."""
        single_input = True

        def __init__(self, n, **kwargs):
            super().__init__(**kwargs)
            self.n, self.calls = n, 0

        def call(self, inputs, training=None):
            if training:
                self.calls += 1
                if self.calls == self.n:
                    raise KeyboardInterrupt
            return inputs

    x, y = _data()
    initial = _model().get_weights()
    model = _model(initial, extra_layers=[Tripwire(7)])  # 4 steps per epoch: the 7th is (epoch 1, batch 2)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    reference, _ = _reference(initial, 1, 1)
    _assert_same_weights(model, reference)
    assert model.history.epoch == [0]


needs_sigint = pytest.mark.skipif(sys.platform == "win32" or not hasattr(signal, "SIGINT"),
                                  reason="needs POSIX signals")


@needs_sigint
def test_ctrl_c_during_an_optimizer_step_is_raised_after_the_whole_step():
    first = Variable(np.zeros(3, "float32"), name="first")
    second = Variable(np.zeros(3, "float32"), name="second")

    def press_ctrl_c(value):  # runs between the two variables' updates
        os.kill(os.getpid(), signal.SIGINT)
        return value

    first.constraint = press_ctrl_c
    optimizer = SGD(learning_rate=1.0)
    with pytest.raises(KeyboardInterrupt):
        optimizer.apply([np.ones(3, "float32"), np.ones(3, "float32")], [first, second])
    np.testing.assert_array_equal(first.numpy(), -np.ones(3))
    np.testing.assert_array_equal(second.numpy(), -np.ones(3))  # updated too: no half-applied step
    assert int(optimizer.iterations) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@needs_sigint
def test_ctrl_c_during_fit_keeps_whole_steps():
    x, y = _data()
    initial = _model().get_weights()
    model = _model(initial)
    steps = []

    def constraint(value):  # the first kernel's constraint: mid-way through the optimizer step
        steps.append(1)
        if len(steps) == 6:  # (epoch 1, batch 1)
            os.kill(os.getpid(), signal.SIGINT)
        return value

    model.layers[0].kernel.constraint = constraint
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    reference, _ = _reference(initial, 1, 1)
    _assert_same_weights(model, reference)
    assert model.history.epoch == [0]


# ------------------------------------------------------------------------------------------------
# 2. Extreme logits
# ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _strict_floats():
    """Overflow, invalid operations and division by zero raise (underflow to 0 is expected)."""
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield


LOGITS = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [0.0, 0.0, 1e4]])


def _value_and_grad(fn, logits, dtype):
    x = nn.Tensor(logits.astype(dtype), requires_grad=True)
    with _strict_floats():
        out = fn(x)
        upstream = np.linspace(-1, 1, out.size).reshape(out.shape).astype(dtype)
        grad = nn.grad((out * nn.Tensor(upstream)).sum(), x)
    assert out.dtype == dtype and grad.dtype == dtype
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(grad.data))
    return out.data.astype(np.float64), grad.data.astype(np.float64), upstream.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_at_extreme_logits(dtype):
    y, gy, g = _value_and_grad(activations.softmax, LOGITS, dtype)
    expected = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0], [0, 0, 1]])
    np.testing.assert_allclose(y, expected, atol=1e-6)
    np.testing.assert_allclose(gy, expected * (g - np.sum(g * expected, axis=-1, keepdims=True)), atol=1e-6)

    log_y, g_log, g = _value_and_grad(activations.log_softmax, LOGITS, dtype)
    shifted = LOGITS - LOGITS.max(axis=-1, keepdims=True)
    expected_log = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    np.testing.assert_allclose(log_y, expected_log, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(g_log, g - expected * g.sum(axis=-1, keepdims=True), atol=1e-5)

    layer_out, _, _ = _value_and_grad(Softmax(dtype=np.dtype(dtype).name), LOGITS, dtype)
    np.testing.assert_allclose(layer_out, expected, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_crossentropy_from_logits_at_extreme_logits(dtype):
    labels = np.array([0, 1, 2, 2])
    one_hot = np.eye(3)[labels]
    shifted = LOGITS - LOGITS.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    expected = -np.sum(one_hot * log_p, axis=-1)             # [0, ln 3, 2e4 + ln 2, 0]
    probabilities = np.exp(log_p)
    for fn, target in ((losses.categorical_crossentropy, one_hot.astype(dtype)),
                       (losses.sparse_categorical_crossentropy, labels)):
        value, grad, g = _value_and_grad(lambda z: fn(target, z, from_logits=True), LOGITS, dtype)
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(grad, g[:, None] * (probabilities - one_hot), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_binary_crossentropy_from_logits_at_extreme_logits(dtype):
    z = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 1e4]])
    y, gy, g = _value_and_grad(activations.sigmoid, z, dtype)
    s = np.array([[1, 0], [0, 1], [0.5, 1]])
    np.testing.assert_allclose(y, s, atol=1e-7)
    np.testing.assert_allclose(gy, g * s * (1 - s), atol=1e-7)

    target = np.array([[1, 1], [1, 0], [0, 1]], dtype=dtype)
    value, grad, g = _value_and_grad(lambda t: losses.binary_crossentropy(target, t, from_logits=True), z, dtype)
    # -y log s(z) - (1 - y) log(1 - s(z)) = max(z, 0) - z y + log(1 + e^-|z|), averaged over the last axis
    elementwise = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(value, elementwise.mean(axis=-1), rtol=1e-6)   # [5000, 1e4, ln(2)/2]
    np.testing.assert_allclose(grad, g[:, None] * (s - target) / 2, atol=1e-7)


@pytest.mark.keras
@pytest.mark.both_tiers
def test_extreme_logit_losses_match_keras():
    keras = import_keras()
    labels = np.array([0, 1, 2, 2])
    one_hot = np.eye(3, dtype="float32")[labels]
    logits = LOGITS.astype("float32")
    pairs = [
        (losses.categorical_crossentropy(one_hot, logits, from_logits=True),
         keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True)),
        (losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
         keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)),
        (losses.binary_crossentropy(one_hot, logits, from_logits=True),
         keras.losses.binary_crossentropy(one_hot, logits, from_logits=True)),
        (activations.softmax(logits), keras.activations.softmax(logits)),
        (activations.log_softmax(logits), keras.activations.log_softmax(logits)),
        (activations.sigmoid(logits), keras.activations.sigmoid(logits)),
    ]
    for ours, theirs in pairs:
        theirs = np.asarray(theirs)
        assert np.all(np.isfinite(theirs))
        assert relative_diff(ours.data, theirs) <= 1e-6


# ------------------------------------------------------------------------------------------------
# 3. BatchNormalization on one sample and on constant channels
# ------------------------------------------------------------------------------------------------
BN_CASES = {
    "batch_of_one_dense": np.array([[0.5, -2.0, 3.0]]),
    "batch_of_one_image": np.random.default_rng(1).standard_normal((1, 3, 3, 2)),
    "constant_channels": np.concatenate([np.full((4, 1), 7.0), np.random.default_rng(2).standard_normal((4, 1)),
                                         np.zeros((4, 1))], axis=1),
}


@pytest.mark.parametrize("case", sorted(BN_CASES))
def test_batchnorm_on_one_sample_and_constant_channels_is_finite(case):
    x = BN_CASES[case].astype("float32")
    layer = BatchNormalization()
    inputs = nn.Tensor(x, requires_grad=True)
    with _strict_floats():
        out = layer(inputs, training=True)
        upstream = np.random.default_rng(3).standard_normal(out.shape).astype("float32")
        grads = nn.grad((out * nn.Tensor(upstream)).sum(), [inputs, layer.gamma, layer.beta])
    for array in [out.data] + [g.data for g in grads] + layer.get_weights():
        assert np.all(np.isfinite(array))
    constant = np.ptp(x.reshape(-1, x.shape[-1]), axis=0) == 0
    # a channel with zero batch variance normalizes to 0: the output is beta (= 0)
    np.testing.assert_allclose(out.data[..., constant], 0.0, atol=1e-6)


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("case", sorted(BN_CASES))
def test_batchnorm_on_one_sample_and_constant_channels_matches_keras(case):
    keras = import_keras()
    x = BN_CASES[case].astype("float32")
    ours = BatchNormalization()
    theirs = keras.layers.BatchNormalization()
    theirs.build(x.shape)
    ours.build((None,) + x.shape[1:])
    rng = np.random.default_rng(4)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    upstream = rng.standard_normal(x.shape).astype("float32")
    inputs = nn.Tensor(x, requires_grad=True)
    out = ours(inputs, training=True)
    grads = nn.grad((out * nn.Tensor(upstream)).sum(), [inputs, ours.gamma, ours.beta])
    keras_out = np.asarray(theirs(x, training=True))
    keras_gx, keras_gw = keras_grads(theirs, x, upstream, training=True)
    assert relative_diff(out.data, keras_out) <= 1e-5
    assert relative_diff(grads[0].data, keras_gx) <= 1e-4
    for g, kg in zip(grads[1:], keras_gw):
        assert relative_diff(g.data, kg) <= 1e-4
    for w, kw in zip(ours.get_weights()[2:], theirs.get_weights()[2:]):  # moving statistics
        assert relative_diff(w, kw) <= 1e-5


# ------------------------------------------------------------------------------------------------
# 4. float16 inputs are computed in floatx
# ------------------------------------------------------------------------------------------------
IMAGE16 = np.random.default_rng(5).standard_normal((2, 6, 6, 3)).astype(np.float16)
FLOAT16_CASES = {
    "Dense": (lambda: Dense(3), IMAGE16[:, 0, 0, :]),
    "Conv2D": (lambda: Conv2D(2, 3), IMAGE16),
    "BatchNormalization": (BatchNormalization, IMAGE16),
    "LayerNormalization": (LayerNormalization, IMAGE16),
    "MaxPooling2D": (lambda: MaxPooling2D(2), IMAGE16),
    "GlobalAveragePooling2D": (GlobalAveragePooling2D, IMAGE16),
    "Softmax": (Softmax, IMAGE16),
    "Add": (Add, [IMAGE16, IMAGE16]),
}


@pytest.mark.parametrize("name", sorted(FLOAT16_CASES))
@pytest.mark.parametrize("as_tensor", [False, True])
def test_float16_inputs_give_float32_outputs(name, as_tensor):
    factory, x = FLOAT16_CASES[name]
    if as_tensor:
        x = [nn.Tensor(a) for a in x] if isinstance(x, list) else nn.Tensor(x)
    layer = factory()
    out = layer(x, training=True)
    assert layer.dtype == "float32" and out.dtype == np.float32
    assert all(w.dtype == np.float32 for w in layer.get_weights())
    # the same numbers as a float32 input (float16 -> float32 is exact)
    upcast = [np.asarray(a, dtype=np.float32) for a in x] if isinstance(x, list) else np.asarray(x, np.float32)
    fresh = factory()
    fresh(upcast)  # build, then copy the weights (moving statistics included)
    fresh.set_weights(layer.get_weights())
    expected = fresh(upcast, training=False)
    np.testing.assert_allclose(layer(x, training=False).data, expected.data, rtol=1e-6, atol=1e-6)


def test_float16_through_a_model():
    model = Sequential([Input((4,)), Dense(3, activation="relu"), Dense(2)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(6).standard_normal((5, 4)).astype(np.float16)
    assert model.predict(x, verbose=0).dtype == np.float32
    history = model.fit(x, np.zeros((5, 2), np.float16), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(w.dtype == np.float32 for w in model.get_weights())


# ------------------------------------------------------------------------------------------------
# 5. Gradient checks at extreme but valid values
# ------------------------------------------------------------------------------------------------
def _away_from_zero(rng, shape, scale):
    """Values of magnitude in [0.5, 1.5] * scale with random signs (no ReLU kink, no max-pool ties)."""
    magnitude = rng.uniform(0.5, 1.5, shape)
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude) * scale


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_gradients_of_layers_at_small_and_large_magnitudes(float64, scale):
    rng = np.random.default_rng(7)
    eps = 1e-6 * scale  # finite differences relative to the inputs' size
    assert_layer_gradients_match(Dense(3, activation="relu"), _away_from_zero(rng, (4, 5), scale), eps=eps)
    assert_layer_gradients_match(Conv2D(2, 2, padding="same"), _away_from_zero(rng, (1, 4, 4, 2), scale), eps=eps)
    distinct = rng.permutation(32).reshape(2, 4, 4, 1) * scale + scale  # ties are kinks of max
    assert_layer_gradients_match(MaxPooling2D(2), distinct, eps=eps)
    assert_layer_gradients_match(LayerNormalization(epsilon=1e-6), _away_from_zero(rng, (3, 5), scale), eps=eps)
    assert_layer_gradients_match(BatchNormalization(epsilon=1e-6), _away_from_zero(rng, (6, 3), scale), training=True,
                          eps=eps)


@pytest.mark.parametrize("scale", [10.0, 30.0])
def test_gradients_of_saturating_functions_at_large_logits(float64, scale):
    rng = np.random.default_rng(8)
    logits = nn.Tensor(_away_from_zero(rng, (4, 5), scale), requires_grad=True)
    labels = np.eye(5)[rng.integers(0, 5, 4)]
    for name, fn in [("softmax", activations.softmax), ("log_softmax", activations.log_softmax),
                     ("sigmoid", activations.sigmoid), ("tanh", activations.tanh),
                     ("softplus", activations.softplus),
                     ("cce_logits", lambda z: losses.categorical_crossentropy(labels, z, from_logits=True)),
                     ("bce_logits", lambda z: losses.binary_crossentropy(labels, z, from_logits=True))]:
        assert_gradients_match(lambda: fn(logits), [logits], eps=1e-6, names=[name])


def test_gradients_of_batchnorm_with_a_tiny_batch_variance(float64):
    """A channel whose values differ by 1e-4 (variance 1e-8) with epsilon 1e-3 and 1e-7."""
    rng = np.random.default_rng(9)
    x = np.stack([rng.standard_normal(6), 5.0 + 1e-4 * rng.standard_normal(6)], axis=-1)
    for epsilon in (1e-3, 1e-7):
        assert_layer_gradients_match(BatchNormalization(epsilon=epsilon), x, training=True, eps=1e-7)
