"""NaN and +-inf go where Keras sends them: an op-by-op parity table, and fit reports ``loss: nan``.

The table: each row runs one op of ours and its Keras counterpart (Keras 3 on JAX) on inputs holding
NaN, +inf, -inf and every kink of the op, and asserts that both give NaN at the same places, the
same infinities and the same finite values; then the same for the gradient of sum(upstream * output)
with respect to the inputs (``jax.vjp`` on the Keras side). So ``relu(nan) = nan`` as in Keras
(NumPy's ``maximum`` keeps NaN; ``where(x > 0, x, 0)`` would zero it), ``relu(nan, threshold=1)
= 0`` as in Keras (its mask ``x > 1`` is False for NaN), a NaN prediction gives a NaN loss.
The two gradients that differ on purpose are listed in GRADIENT_AT_INFINITY: at x = +-inf JAX
differentiates Keras's ``where``/quotient forms into 0 * inf = nan, ours gives the limit of the
slope. Keras's values are computed once per session; ours in both kernel tiers.

Models: a model fed one NaN cell prints ``loss: nan`` and History holds nan; no warning is issued
(``TerminateOnNaN`` stops training when asked), as in Keras. docs/errors.md ("Non-finite losses")
states the same rule.
"""
import functools
import warnings

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import activations, callbacks, layers
from numpy_nn.ops import losses as L
from numpy_nn.ops import math as M
from tests.keras_helpers import import_keras

NAN, INF = np.nan, np.inf
# NaN, +-inf and every kink of the ops below (0, +-0.5, +-1, +-3, 5, 6), one row
SPECIAL = np.array([[NAN, INF, -INF, -7, -3, -1, -0.5, 0, 0.5, 1, 3, 5, 6, 7]], np.float32)
# along an axis (softmax, ...): each row holds NaN or an infinity somewhere, the last is finite
ROWS = np.array([[NAN, 1, 2, 0], [INF, 1, 2, 0], [-INF, 1, 2, 0], [INF, INF, 0, 1], [-INF, -INF, -INF, -INF],
                 [0.5, 1, 2, 0]], np.float32)
OTHER = np.array([[1, NAN, NAN, 0, -3, 5, -INF, 0, INF, 1, -3, 2, 6, 9]], np.float32)  # second operand
PROBABILITIES = np.array([[NAN, 0.5, 0.5], [INF, 0.2, 0.3], [0.0, 1.0, 0.0], [-0.1, 0.6, 0.5], [0.2, 0.3, 0.5],
                          [0.2, 0.3, 0.5]], np.float32)
LOGITS = np.array([[NAN, 0.5, 1.0], [INF, 0.2, 0.3], [-INF, 1.0, 0.0], [INF, -INF, 0.5], [0.2, 0.3, 0.5],
                   [0.2, 0.3, 0.5]], np.float32)
TARGETS = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [NAN, 1, 0], [0.2, 0.3, 0.5]], np.float32)

ELEMENTWISE = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "softplus", "softsign", "squareplus",
               "soft_shrink", "hard_shrink", "sparse_plus", "silu", "gelu", "tanh", "tanh_shrink", "hard_tanh",
               "sigmoid", "sparse_sigmoid", "log_sigmoid", "hard_sigmoid", "hard_silu", "exponential", "mish"]
ALONG_AXIS = ["softmax", "log_softmax", "sparsemax", "glu"]
GENERAL_RELU = [dict(max_value=6.0), dict(max_value=5.0), dict(threshold=1.0), dict(negative_slope=0.1),
                dict(negative_slope=0.1, max_value=5.0, threshold=1.0), dict(max_value=5.0, threshold=1.0)]


def _layer_row(ours, theirs):
    return (lambda x: ours()(x)), (lambda k: lambda x: theirs(k)(x))


def _prelu():
    layer = layers.PReLU(alpha_initializer="constant")
    layer.build((None, SPECIAL.shape[1]))
    layer.set_weights([np.full((SPECIAL.shape[1],), 0.25, np.float32)])
    return layer


# id: (ours on Tensors, keras -> function on arrays, inputs, how many inputs are differentiated)
TABLE = {}
for _name in ELEMENTWISE:
    TABLE[_name] = (activations.get(_name), (lambda n: lambda k: k.activations.get(n))(_name), [SPECIAL], 1)
for _name in ALONG_AXIS:
    TABLE[_name] = (activations.get(_name), (lambda n: lambda k: k.activations.get(n))(_name), [ROWS], 1)
for _kwargs in GENERAL_RELU:
    TABLE["relu(" + ", ".join(f"{a}={v}" for a, v in _kwargs.items()) + ")"] = (
        (lambda kw: lambda x: activations.relu(x, **kw))(_kwargs),
        (lambda kw: lambda k: lambda x: k.activations.relu(x, **kw))(_kwargs), [SPECIAL], 1)
TABLE["threshold(0.5, -2)"] = (lambda x: activations.threshold(x, 0.5, -2.0),
                               lambda k: lambda x: k.activations.threshold(x, 0.5, -2.0), [SPECIAL], 1)
TABLE["layer ReLU()"] = (*_layer_row(layers.ReLU, lambda k: k.layers.ReLU()), [SPECIAL], 1)
TABLE["layer ReLU(6, 0.1, 1)"] = (*_layer_row(lambda: layers.ReLU(6.0, 0.1, 1.0), lambda k: k.layers.ReLU(6.0, 0.1, 1.0)),
                                  [SPECIAL], 1)
TABLE["layer Activation('relu')"] = (*_layer_row(lambda: layers.Activation("relu"),
                                                 lambda k: k.layers.Activation("relu")), [SPECIAL], 1)
TABLE["layer LeakyReLU()"] = (*_layer_row(layers.LeakyReLU, lambda k: k.layers.LeakyReLU()), [SPECIAL], 1)
TABLE["layer ELU()"] = (*_layer_row(layers.ELU, lambda k: k.layers.ELU()), [SPECIAL], 1)
TABLE["layer PReLU(alpha=0.25)"] = (*_layer_row(_prelu, lambda k: k.layers.PReLU(
    alpha_initializer=k.initializers.Constant(0.25))), [SPECIAL], 1)
TABLE["layer Softmax()"] = (*_layer_row(layers.Softmax, lambda k: k.layers.Softmax()), [ROWS], 1)
TABLE["maximum"] = (M.maximum, lambda k: k.ops.maximum, [SPECIAL, OTHER], 2)
TABLE["minimum"] = (M.minimum, lambda k: k.ops.minimum, [SPECIAL, OTHER], 2)
TABLE["clip(-1, 5)"] = (lambda x: x.clip(-1.0, 5.0), lambda k: lambda x: k.ops.clip(x, -1.0, 5.0), [SPECIAL], 1)
TABLE["abs"] = (lambda x: x.abs(), lambda k: k.ops.abs, [SPECIAL], 1)
TABLE["max over an axis"] = (lambda x: x.max(axis=1), lambda k: lambda x: k.ops.max(x, axis=1), [ROWS], 1)
TABLE["min over an axis"] = (lambda x: x.min(axis=1), lambda k: lambda x: k.ops.min(x, axis=1), [ROWS], 1)
TABLE["mean over an axis"] = (lambda x: x.mean(axis=1), lambda k: lambda x: k.ops.mean(x, axis=1), [ROWS], 1)
TABLE["layer Maximum()"] = (lambda a, b: layers.Maximum()([a, b]), lambda k: lambda a, b: k.layers.Maximum()([a, b]),
                            [SPECIAL, OTHER], 2)
TABLE["layer Minimum()"] = (lambda a, b: layers.Minimum()([a, b]), lambda k: lambda a, b: k.layers.Minimum()([a, b]),
                            [SPECIAL, OTHER], 2)
TABLE["categorical crossentropy"] = (lambda p, y: L.CategoricalCrossentropy.apply(p, target=y.data),
                                     lambda k: lambda p, y: k.losses.categorical_crossentropy(y, p),
                                     [PROBABILITIES, TARGETS], 1)
TABLE["categorical crossentropy, logits"] = (
    lambda p, y: L.CategoricalCrossentropy.apply(p, target=y.data, from_logits=True),
    lambda k: lambda p, y: k.losses.categorical_crossentropy(y, p, from_logits=True), [LOGITS, TARGETS], 1)
TABLE["binary crossentropy"] = (lambda p, y: L.BinaryCrossentropy.apply(p, target=y.data),
                                lambda k: lambda p, y: k.ops.binary_crossentropy(y, p), [PROBABILITIES, TARGETS], 1)
TABLE["binary crossentropy, logits"] = (lambda p, y: L.BinaryCrossentropy.apply(p, target=y.data, from_logits=True),
                                        lambda k: lambda p, y: k.ops.binary_crossentropy(y, p, from_logits=True),
                                        [LOGITS, TARGETS], 1)
TABLE["huber"] = (lambda p, y: L.Huber.apply(p, target=y.data, delta=1.0).mean(axis=-1),
                  lambda k: lambda p, y: k.losses.huber(y, p, delta=1.0), [LOGITS, TARGETS], 1)

# id: {input value: our slope there (d output / d input, times the upstream gradient)}. JAX: nan
# (0 * inf inside its derivative of Keras's form); ours: the limit of the slope.
# sparse_plus = where(x <= -1, 0, where(x >= 1, x, (x + 1)^2 / 4)): JAX multiplies the unselected
# branch's slope (x + 1) / 2 = inf by 0; huber = mean(where(|e| <= delta, e^2 / 2, ...)) likewise
# (slope e = inf, times 0), so ours is +-delta / 3 (the mean over 3 classes); softsign = x / (1 + |x|):
# its quotient rule gives inf / inf.
GRADIENT_AT_INFINITY = {"sparse_plus": {INF: 1.0, -INF: 0.0}, "softsign": {INF: 0.0, -INF: 0.0},
                        "huber": {INF: 1 / 3, -INF: -1 / 3}}


@functools.lru_cache(maxsize=None)
def keras_reference(row):
    """Keras's output, the upstream gradient, and Keras's input gradients for TABLE[row]."""
    import jax
    keras = import_keras()
    _, keras_fn, inputs, differentiated = TABLE[row]
    fn = keras_fn(keras)
    constants = inputs[differentiated:]
    value, pullback = jax.vjp(lambda *xs: fn(*xs, *constants), *[jax.numpy.asarray(x) for x in inputs[:differentiated]])
    upstream = np.linspace(0.5, 1.5, np.asarray(value).size).reshape(np.shape(value)).astype(np.float32)
    return np.asarray(value), upstream, [np.asarray(g) for g in pullback(jax.numpy.asarray(upstream))]


def assert_same_specials(ours, theirs, what):
    """NaN at the same places, the same infinities, the finite values close (float32)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, Keras {theirs.shape}"
    for test in (np.isnan, np.isposinf, np.isneginf):
        differ = test(ours) != test(theirs)
        assert not differ.any(), f"{what}: {test.__name__} differs at {np.argwhere(differ).tolist()}: " \
                                 f"ours {ours[differ]}, Keras {theirs[differ]}"
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-5, atol=1e-6, err_msg=what)


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("row", sorted(TABLE))
def test_nan_and_infinities_like_keras(row):
    ours_fn, _, inputs, differentiated = TABLE[row]
    k_value, upstream, k_grads = keras_reference(row)
    tensors = [nn.Tensor(x, requires_grad=i < differentiated) for i, x in enumerate(inputs)]
    with np.errstate(all="ignore"):  # inf - inf and friends: the NaN is the point here
        value = ours_fn(*tensors)
        assert_same_specials(value.data, k_value, f"{row}: forward")
        grads = nn.grad((value * nn.Tensor(upstream)).sum(), tensors[:differentiated])
    for i, (g, k) in enumerate(zip(grads, k_grads)):
        g, k = g.data.copy(), k.copy()
        for x_value, slope in GRADIENT_AT_INFINITY.get(row, {}).items():
            at = inputs[i] == x_value
            per_input = np.broadcast_to(upstream.reshape(upstream.shape + (1,) * (g.ndim - upstream.ndim)), g.shape)
            np.testing.assert_allclose(g[at], slope * per_input[at], rtol=1e-6, err_msg=f"{row}: slope at {x_value}")
            assert np.isnan(k[at]).all(), f"{row}: Keras's gradient at {x_value} is no longer nan: update the table"
            g[at] = k[at] = 0.0
        assert_same_specials(g, k, f"{row}: gradient w.r.t. input {i}")


def test_the_table_covers_relu_and_the_clipping_ops():
    """The ops named in the audit are rows of the table (a renamed row must not drop out silently)."""
    for row in ["relu", "layer ReLU()", "layer Activation('relu')", "relu6", "leaky_relu", "elu", "selu",
                "hard_sigmoid", "hard_silu", "relu(max_value=5.0)", "relu(threshold=1.0)", "maximum", "minimum",
                "clip(-1, 5)", "softmax", "categorical crossentropy", "binary crossentropy", "huber"]:
        assert row in TABLE, row


# -- layers and fit on data with NaN ------------------------------------------------------------------------
RELU_LAYERS = {
    "ReLU": lambda: layers.ReLU(),
    "Activation_relu": lambda: layers.Activation("relu"),
    "Dense_relu": lambda: layers.Dense(3, activation="relu", kernel_initializer="ones"),
}


def _with_nan():
    x = np.array([[-1.0, 2.0, 0.5], [np.nan, -3.0, 4.0]], dtype="float32")
    return x


@pytest.mark.parametrize("name", sorted(RELU_LAYERS))
def test_relu_keeps_nan_and_still_zeroes_negatives(name):
    out = np.asarray(RELU_LAYERS[name]()(_with_nan()).data)
    if name == "Dense_relu":  # NaN in one input feature reaches every unit of that sample
        assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()
    else:
        assert np.isnan(out[1, 0])
        np.testing.assert_array_equal(np.isnan(out), np.isnan(_with_nan()))
        np.testing.assert_array_equal(out[0], [0.0, 2.0, 0.5])
        assert out[1, 1] == 0.0 and out[1, 2] == 4.0


@pytest.mark.keras
@pytest.mark.parametrize("name", ["ReLU", "Activation_relu"])
def test_relu_nan_matches_keras(name):
    keras = pytest.importorskip("keras")
    theirs = np.asarray(keras.layers.ReLU()(_with_nan()) if name == "ReLU"
                        else keras.layers.Activation("relu")(_with_nan()))
    ours = np.asarray(RELU_LAYERS[name]()(_with_nan()).data)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.nan_to_num(ours, nan=-7.0), np.nan_to_num(theirs, nan=-7.0))


def _classifier():
    nn.set_random_seed(0)
    model = nn.Sequential([nn.Input((5,)), layers.Dense(8, activation="relu"), layers.ReLU(),
                           layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=48):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 5)).astype("float32"), rng.integers(0, 3, n)


def test_fit_on_data_with_one_nan_reports_a_nan_loss(capsys):
    x, y = _data()
    x[3, 2] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _classifier().fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=2)
    assert np.isnan(history.history["loss"]).all(), history.history
    out = capsys.readouterr().out
    assert out.count("loss: nan") == 2, out          # one line per epoch with verbose=2
    assert not [w for w in caught if "loss" in str(w.message)], "Keras does not warn about a NaN loss"


def test_fit_on_all_nan_inputs_reports_nan_not_a_finite_loss():
    x, y = _data()
    history = _classifier().fit(np.full_like(x, np.nan), y, batch_size=16, epochs=1, verbose=0)
    assert np.isnan(history.history["loss"][0])      # not ln 3 = 1.0986 (NaN zeroed by relu)


def test_terminate_on_nan_stops_at_the_first_nan_batch():
    x, y = _data()
    x[20, 0] = np.nan                                # second batch of 16
    history = _classifier().fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                                callbacks=[callbacks.TerminateOnNaN()])
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])


def test_clean_data_gives_a_finite_loss():
    x, y = _data()
    history = _classifier().fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.keras
def test_auc_counts_a_nan_prediction_as_negative_like_keras():
    keras = pytest.importorskip("keras")
    y_true, y_pred = np.array([0, 1, 1, 0.0]), np.array([0.2, np.nan, 0.8, 0.9])
    ours = nn.metrics.AUC(num_thresholds=50)
    theirs = keras.metrics.AUC(num_thresholds=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # no "invalid value encountered in cast"
        ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    np.testing.assert_allclose(float(ours.result()), float(np.asarray(theirs.result())), rtol=1e-6)
