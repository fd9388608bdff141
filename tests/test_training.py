"""compile / fit / evaluate / predict / *_on_batch: Keras semantics, and Keras's numbers.

The main check: the same architecture, the same starting weights (copied with set_weights), the
same data and the same NumPy seed give the same History curves and final weights as keras.fit.
"""
import numpy as np
import pytest

from numpy_nn import optimizers
from numpy_nn.layers.core import Dense
from numpy_nn.layers.input_layer import Input
from numpy_nn.models.functional import Model
from numpy_nn.models.sequential import Sequential
from tests import model_zoo
from tests.keras_helpers import import_keras, relative_diff

L = model_zoo.ours()
TOL = 1e-3
WORST = {}  # optimizer -> worst relative difference seen (printed with -s)


def _record(key, value):
    WORST[key] = max(WORST.get(key, 0.0), value)


def _labels(seed, n, classes):
    return np.random.default_rng(seed).integers(0, classes, n)


def _one_hot(labels, classes):
    return np.eye(classes, dtype="float32")[labels]


def _assert_histories_match(ours, theirs, key):
    assert list(ours.history) == list(theirs.history), (list(ours.history), list(theirs.history))
    assert ours.epoch == theirs.epoch
    for name in theirs.history:
        diff = relative_diff(ours.history[name], theirs.history[name])
        _record(key, diff)
        assert diff <= TOL, f"{name}: ours {ours.history[name]} keras {theirs.history[name]}"


def _assert_weights_match(ours, theirs, key):
    for w_ours, w_theirs, variable in zip(ours.get_weights(), theirs.get_weights(), ours.weights):
        diff = relative_diff(w_ours, np.asarray(w_theirs))
        _record(key, diff)
        assert diff <= TOL, f"{variable.path}: relative diff {diff:.2e}"


def _fit_both(keras, builder, make_optimizer, compile_kwargs, x, y, seed=0, **fit_kwargs):
    keras.utils.set_random_seed(seed)
    theirs = builder(model_zoo.theirs(keras))
    ours = builder(L)
    model_zoo.copy_weights(theirs, ours)
    theirs.compile(optimizer=make_optimizer(keras.optimizers), **compile_kwargs)
    ours.compile(optimizer=make_optimizer(optimizers), **compile_kwargs)
    np.random.seed(seed)
    history_theirs = theirs.fit(x, y, verbose=0, **fit_kwargs)
    np.random.seed(seed)
    history_ours = ours.fit(x, y, verbose=0, **fit_kwargs)
    return ours, theirs, history_ours, history_theirs


# -- parity with keras.fit ---------------------------------------------------------------------------
@pytest.mark.keras
def test_sgd_nesterov_mlp_with_regularizer_and_validation_split_matches_keras():
    keras = import_keras()
    (x,) = model_zoo.data(0, 64, [(6,)])
    y = _labels(1, 64, 3)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, lambda L_: model_zoo.mlp(L_, kernel_regularizer="l2"),
        lambda o: o.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
        dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"]),
        x, y, batch_size=16, epochs=3, shuffle=False, validation_split=0.25)
    assert list(h_ours.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    _assert_histories_match(h_ours, h_theirs, "SGD(nesterov)")
    _assert_weights_match(ours, theirs, "SGD(nesterov)")
    # evaluate (list and dict) and predict on the trained models
    ev_ours, ev_theirs = ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0)
    assert relative_diff(ev_ours, ev_theirs) <= TOL
    assert ours.evaluate(x, y, verbose=0, return_dict=True).keys() == \
        theirs.evaluate(x, y, verbose=0, return_dict=True).keys()
    assert relative_diff(ours.predict(x, batch_size=10, verbose=0), theirs.predict(x, verbose=0)) <= 1e-5


@pytest.mark.keras
def test_rmsprop_with_shuffle_reproduces_keras_order_across_two_fits():
    keras = import_keras()
    (x,) = model_zoo.data(2, 40, [(6,)])
    y = _labels(3, 40, 3)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, model_zoo.mlp, lambda o: o.RMSprop(learning_rate=0.01),
        dict(loss="sparse_categorical_crossentropy"), x, y, seed=7, batch_size=12, epochs=2, shuffle=True)
    _assert_histories_match(h_ours, h_theirs, "RMSprop")
    _assert_weights_match(ours, theirs, "RMSprop")
    # a second fit on the same compiled models spends no extra permutation
    np.random.seed(11)
    h_theirs = theirs.fit(x, y, batch_size=12, epochs=2, verbose=0)
    np.random.seed(11)
    h_ours = ours.fit(x, y, batch_size=12, epochs=2, verbose=0)
    _assert_histories_match(h_ours, h_theirs, "RMSprop")
    _assert_weights_match(ours, theirs, "RMSprop")


@pytest.mark.keras
def test_adam_small_cnn_with_batchnorm_matches_keras():
    keras = import_keras()
    (x,) = model_zoo.data(4, 32, [(8, 8, 2)])
    y = _one_hot(_labels(5, 32, 3), 3)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, model_zoo.small_cnn, lambda o: o.Adam(learning_rate=0.01),
        dict(loss="categorical_crossentropy", metrics=["accuracy"]), x, y, batch_size=10, epochs=2,
        shuffle=False, validation_data=(x[:8], y[:8]))
    _assert_histories_match(h_ours, h_theirs, "Adam")
    _assert_weights_match(ours, theirs, "Adam")  # includes BN moving mean/variance


@pytest.mark.keras
def test_adamw_clipnorm_two_branch_dicts_with_loss_weights_matches_keras():
    keras = import_keras()
    xa, xb = model_zoo.data(6, 48, [(5,), (4,)])
    labels = _labels(7, 48, 3)
    x = {"brancha": xa, "branchb": xb}
    y = {"score": (labels == 1).astype("float32")[:, None], "kind": labels}
    compile_kwargs = dict(loss={"score": "binary_crossentropy", "kind": "sparse_categorical_crossentropy"},
                          loss_weights={"score": 0.5, "kind": 2.0},
                          metrics={"score": ["accuracy"], "kind": ["accuracy"]})
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, model_zoo.two_branch, lambda o: o.AdamW(learning_rate=0.01, clipnorm=0.5), compile_kwargs,
        x, y, batch_size=16, epochs=3, shuffle=False, validation_split=0.25)
    assert list(h_ours.history) == ["kind_accuracy", "kind_loss", "loss", "score_accuracy", "score_loss",
                                    "val_kind_accuracy", "val_kind_loss", "val_loss", "val_score_accuracy",
                                    "val_score_loss"]
    _assert_histories_match(h_ours, h_theirs, "AdamW(clipnorm)")
    _assert_weights_match(ours, theirs, "AdamW(clipnorm)")
    # the total is the weighted sum of the unweighted per-output losses
    logs = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(0.5 * logs["score_loss"] + 2.0 * logs["kind_loss"], rel=1e-5)
    ev_theirs = theirs.evaluate(x, y, verbose=0)
    assert relative_diff(ours.evaluate(x, y, verbose=0), ev_theirs) <= TOL
    pred_ours, pred_theirs = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert set(pred_ours) == {"score", "kind"}
    for key in pred_theirs:
        assert relative_diff(pred_ours[key], pred_theirs[key]) <= 1e-5


@pytest.mark.keras
def test_shared_layer_siamese_with_sample_weight_matches_keras():
    keras = import_keras()
    left, right = model_zoo.data(8, 40, [(5,), (5,)])
    y = (np.random.default_rng(9).random((40, 1)) > 0.5).astype("float32")
    weights = np.random.default_rng(10).random(40).astype("float32")
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, model_zoo.shared_siamese, lambda o: o.Adam(learning_rate=0.02),
        dict(loss="binary_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"]),
        [left, right], y, batch_size=8, epochs=2, shuffle=False, sample_weight=weights)
    assert "weighted_accuracy" in h_ours.history
    _assert_histories_match(h_ours, h_theirs, "Adam")
    _assert_weights_match(ours, theirs, "Adam")


@pytest.mark.keras
def test_class_weight_and_nested_model_match_keras():
    keras = import_keras()
    (x,) = model_zoo.data(12, 30, [(4,)])
    labels = _labels(13, 30, 2)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, model_zoo.nested, lambda o: o.RMSprop(learning_rate=0.01, momentum=0.5),
        dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"]), x, labels, batch_size=8, epochs=2,
        shuffle=False, class_weight={0: 0.3, 1: 2.0})
    _assert_histories_match(h_ours, h_theirs, "RMSprop(momentum)")
    _assert_weights_match(ours, theirs, "RMSprop(momentum)")


@pytest.mark.keras
def test_train_and_test_on_batch_match_keras():
    keras = import_keras()
    (x,) = model_zoo.data(14, 16, [(6,)])
    y = _labels(15, 16, 2)
    keras.utils.set_random_seed(0)
    theirs, ours = model_zoo.sequential_mlp(model_zoo.theirs(keras)), model_zoo.sequential_mlp(L)
    model_zoo.copy_weights(theirs, ours)
    # the same loss from each library, from logits
    from numpy_nn import losses

    theirs.compile(keras.optimizers.SGD(learning_rate=0.05),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    ours.compile(optimizers.SGD(learning_rate=0.05),
                 loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    for step in range(3):
        batch = slice(step * 5, step * 5 + 6)
        got, expected = ours.train_on_batch(x[batch], y[batch]), theirs.train_on_batch(x[batch], y[batch])
        assert relative_diff(got, expected) <= TOL
    assert relative_diff(ours.test_on_batch(x, y), theirs.test_on_batch(x, y)) <= TOL
    assert ours.test_on_batch(x, y, return_dict=True).keys() == theirs.test_on_batch(x, y, return_dict=True).keys()
    assert relative_diff(ours.predict_on_batch(x), np.asarray(theirs.predict_on_batch(x))) <= 1e-5
    _assert_weights_match(ours, theirs, "SGD")


# -- semantics without Keras -------------------------------------------------------------------------
def _tiny_model(seed=0):
    x = Input((3,))
    model = Model(x, Dense(2, name="tiny_out", kernel_initializer="ones")(x))
    return model


def test_history_loss_is_the_sample_weighted_mean_of_batch_losses():
    from numpy_nn import callbacks
    model = _tiny_model()
    model.compile(optimizers.SGD(learning_rate=0.0), loss="mse")  # lr 0: weights never change
    (x,) = model_zoo.data(20, 10, [(3,)])
    y = np.zeros((10, 2), dtype="float32")
    seen = []

    class Recorder(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, logs["loss"]))

    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Recorder()])
    per_sample = np.mean(model.predict(x, verbose=0) ** 2, axis=-1)
    batch_losses = [per_sample[0:4].mean(), per_sample[4:8].mean(), per_sample[8:10].mean()]
    running = [batch_losses[0], np.mean(per_sample[:8]), np.mean(per_sample)]
    assert [b for b, _ in seen] == [0, 1, 2]  # last partial batch kept, steps zero-based
    np.testing.assert_allclose([v for _, v in seen], running, rtol=1e-5)
    np.testing.assert_allclose(history.history["loss"], [np.mean(per_sample)], rtol=1e-5)


def test_validation_split_takes_the_last_fraction():
    model = _tiny_model()
    model.compile(optimizers.SGD(learning_rate=0.0), loss="mae")
    x = np.arange(30, dtype="float32").reshape(10, 3)
    y = np.zeros((10, 2), dtype="float32")
    history = model.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    expected = np.mean(np.abs(model.predict(x[8:], verbose=0)))
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-6)


def test_sequential_without_input_builds_on_fit():
    model = Sequential([Dense(4, activation="relu"), Dense(1)])
    model.compile("adam", "mse")
    (x,) = model_zoo.data(21, 12, [(5,)])
    history = model.fit(x, x[:, :1], epochs=2, batch_size=5, verbose=0)
    assert model.built and len(history.history["loss"]) == 2 and model.count_params() == 5 * 4 + 4 + 5


def test_training_errors_are_clear():
    model = _tiny_model()
    x, y = np.ones((6, 3), dtype="float32"), np.ones((6, 2), dtype="float32")
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="cardinality.*x\\[6\\].*y\\[5\\]"):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="0 samples"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="not sufficient"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


def test_dict_targets_must_use_output_names():
    model = model_zoo.two_branch(L)
    model.compile("sgd", loss={"score": "binary_crossentropy", "kind": "sparse_categorical_crossentropy"})
    xa, xb = model_zoo.data(0, 4, [(5,), (4,)])
    with pytest.raises(ValueError, match=r"outputs are named \['kind', 'score'\]"):
        model.fit({"brancha": xa, "branchb": xb}, {"score": np.ones((4, 1)), "typo": np.ones(4)}, verbose=0)
    with pytest.raises(ValueError, match="not output names"):
        bad = model_zoo.two_branch(L)
        bad.compile("sgd", loss={"scores": "mse"})
        bad.fit({"brancha": xa, "branchb": xb}, {"score": np.ones((4, 1)), "kind": np.ones(4)}, verbose=0)


def test_crossentropy_and_accuracy_strings_are_resolved_from_shapes():
    model = _tiny_model()
    model.compile("sgd", loss="crossentropy", metrics=["acc"])
    x = np.ones((4, 3), dtype="float32")
    logs = model.evaluate(x, np.array([0, 1, 1, 0]), verbose=0, return_dict=True)
    assert set(logs) == {"acc", "loss"}


def test_stop_training_from_a_callback_ends_fit():
    from numpy_nn import callbacks
    model = _tiny_model()
    model.compile("sgd", "mse")

    class StopAfterOne(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    history = model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=5, verbose=0, callbacks=[StopAfterOne()])
    assert history.epoch == [0]


def test_report_worst_differences():
    """Prints the worst relative differences measured above (run with -s); all stay within TOL."""
    for key, value in sorted(WORST.items()):
        print(f"worst relative diff vs Keras, {key}: {value:.2e}")
    assert all(value <= TOL for value in WORST.values()), WORST
