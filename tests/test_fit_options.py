"""fit / evaluate options against keras.fit: History (every key, every epoch) and final weights.

Each test builds the same model twice (numpy_nn and Keras, weights copied), fits it with one
combination of options and compares. Checked here: class and sample weights with validation
(split, or data with and without weights), weighted metrics, AUC / Precision / Recall,
learning-rate schedules, callbacks that change the learning rate or stop early (restoring the best
weights), EMA weights and gradient accumulation, the new optimizers inside fit, and evaluate /
predict afterwards. Tolerance: ``TOL`` relative (float32 training over a few epochs).
"""
import numpy as np
import pytest

from numpy_nn import callbacks, metrics, optimizers
from tests import model_zoo
from tests.keras_helpers import import_keras, relative_diff

TOL = 1e-3
WORST = {}
L = model_zoo.ours()


def binary_mlp(L):
    x = L.Input((5,), name="features")
    h = L.Dense(6, activation="tanh", name="hidden")(x)
    return L.Model(x, L.Dense(1, activation="sigmoid", name="prob")(h), name="binary_mlp")


def _data(seed, n=40):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")[:, None]
    return x, y


def _fit_both(keras, builder, make_optimizer, compile_kwargs, x, y, make_callbacks=None, **fit_kwargs):
    keras.utils.set_random_seed(0)
    theirs = builder(model_zoo.theirs(keras))
    ours = builder(L)
    model_zoo.copy_weights(theirs, ours)
    make_metrics = compile_kwargs.pop("make_metrics", None)
    theirs.compile(optimizer=make_optimizer(keras.optimizers), **compile_kwargs,
                   **(make_metrics(keras.metrics) if make_metrics else {}))
    ours.compile(optimizer=make_optimizer(optimizers), **compile_kwargs,
                 **(make_metrics(metrics) if make_metrics else {}))
    histories = []
    for model, module in ((theirs, keras.callbacks), (ours, callbacks)):
        np.random.seed(0)
        histories.append(model.fit(x, y, verbose=0, callbacks=make_callbacks(module) if make_callbacks else None,
                                   **fit_kwargs))
    return ours, theirs, histories[1], histories[0]


def assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, key):
    assert list(h_ours.history) == list(h_theirs.history), (list(h_ours.history), list(h_theirs.history))
    assert h_ours.epoch == h_theirs.epoch
    worst = 0.0
    for name in h_theirs.history:
        diff = relative_diff(h_ours.history[name], h_theirs.history[name])
        assert diff <= TOL, f"{key} {name}: ours {h_ours.history[name]} keras {h_theirs.history[name]}"
        worst = max(worst, diff)
    for a, b, variable in zip(ours.get_weights(), theirs.get_weights(), ours.weights):
        diff = relative_diff(a, np.asarray(b))
        assert diff <= TOL, f"{key} {variable.path}: relative diff {diff:.2e}"
        worst = max(worst, diff)
    WORST[key] = worst


@pytest.mark.keras
def test_class_weight_validation_split_weighted_metrics_and_schedule():
    """Class weights weight the training batches only (validation loss unweighted, as Keras)."""
    keras = import_keras()
    x, y = _data(1)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, binary_mlp, lambda o: o.Adam(o.schedules.ExponentialDecay(0.05, 3, 0.5)),
        dict(loss="binary_crossentropy", weighted_metrics=["accuracy"],
             make_metrics=lambda m: {"metrics": ["accuracy", m.AUC(name="auc"), m.Precision(name="precision"),
                                                 m.Recall(name="recall")]}),
        x, y, batch_size=8, epochs=3, shuffle=False, validation_split=0.25, class_weight={0: 0.4, 1: 2.5})
    assert "val_weighted_accuracy" in h_ours.history
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, "class_weight+validation_split")
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="binary_crossentropy")
    plain_val = ours.evaluate(x[30:], y[30:], verbose=0, return_dict=True)["loss"]
    assert plain_val == pytest.approx(theirs.evaluate(x[30:], y[30:], verbose=0, return_dict=True)["loss"], rel=TOL)
    assert h_ours.history["val_loss"][-1] == pytest.approx(plain_val, rel=TOL)  # no class weights in val_loss


@pytest.mark.keras
def test_sample_weight_with_weighted_validation_data_and_new_optimizer():
    keras = import_keras()
    x, y = _data(2)
    rng = np.random.default_rng(3)
    labels = (np.abs(x[:, 2]) * 2).astype("int64") % 3
    w, val_w = rng.uniform(0.2, 2.0, 32).astype("float32"), rng.uniform(0.2, 2.0, 8).astype("float32")
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, _mlp3, lambda o: o.Nadam(0.02),
        dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
             weighted_metrics=["sparse_categorical_crossentropy"]),
        x[:32], labels[:32], batch_size=10, epochs=3, shuffle=False, sample_weight=w,
        validation_data=(x[32:], labels[32:], val_w))
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, "sample_weight+weighted validation_data (Nadam)")


def _mlp3(L):
    x = L.Input((5,), name="features")
    h = L.Dense(7, activation="relu", name="hidden")(x)
    return L.Model(x, L.Dense(3, activation="softmax", name="probs")(h), name="mlp3")


@pytest.mark.keras
def test_unweighted_validation_data_with_sample_weights_and_cosine_restarts():
    keras = import_keras()
    x, y = _data(4)
    w = np.linspace(0.5, 1.5, 32).astype("float32")
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, binary_mlp,
        lambda o: o.SGD(o.schedules.CosineDecayRestarts(0.2, 4, t_mul=1.5, m_mul=0.7), momentum=0.8),
        dict(loss="mse", metrics=["mae"], weighted_metrics=["mse"]),
        x[:32], y[:32], batch_size=6, epochs=3, shuffle=False, sample_weight=w, validation_data=(x[32:], y[32:]))
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, "sample_weight+validation_data (CosineDecayRestarts)")


@pytest.mark.keras
def test_reduce_lr_and_early_stopping_restore_best_weights_then_evaluate_and_predict():
    """min_delta=10 makes every epoch a plateau: the rate halves each epoch and training stops after
    `patience` epochs, restoring the weights of epoch 0."""
    keras = import_keras()
    x, y = _data(5)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, binary_mlp, lambda o: o.RMSprop(0.05),
        dict(loss="binary_crossentropy", make_metrics=lambda m: {"metrics": [m.AUC(name="auc")]}),
        x, y, make_callbacks=lambda c: [c.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=10),
                                        c.EarlyStopping(monitor="val_loss", patience=2, min_delta=10,
                                                        restore_best_weights=True)],
        batch_size=8, epochs=6, shuffle=False, validation_split=0.2)
    assert len(h_ours.epoch) == 3 and h_ours.history["learning_rate"][-1] < 0.05
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, "ReduceLROnPlateau+EarlyStopping(restore_best_weights)")
    ours_eval = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    theirs_eval = theirs.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(ours_eval) == set(theirs_eval)
    for key in theirs_eval:
        assert relative_diff(ours_eval[key], theirs_eval[key]) <= TOL, key
    assert relative_diff(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)) <= TOL


@pytest.mark.keras
def test_ema_weights_become_the_model_weights_at_the_end_of_fit():
    keras = import_keras()
    x, y = _data(6)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, binary_mlp, lambda o: o.Adam(0.05, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=3),
        dict(loss="binary_crossentropy", metrics=["accuracy"]), x, y, batch_size=8, epochs=2, shuffle=False)
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, "use_ema in fit")
    average = ours.optimizer._model_variables_moving_average
    np.testing.assert_array_equal(ours.trainable_weights[0].numpy(), average[0].numpy())


@pytest.mark.keras
@pytest.mark.parametrize("name", ["gradient_accumulation_lion", "learning_rate_scheduler_adamax",
                                  "loss_scale_factor_lamb"])
def test_optimizer_arguments_and_scheduler_inside_fit(name):
    keras = import_keras()
    x, y = _data(7)
    make_optimizer = {"gradient_accumulation_lion": lambda o: o.Lion(0.01, gradient_accumulation_steps=2),
                      "learning_rate_scheduler_adamax": lambda o: o.Adamax(0.05),
                      "loss_scale_factor_lamb": lambda o: o.Lamb(0.02, loss_scale_factor=64.0)}[name]
    make_callbacks = None
    if name == "learning_rate_scheduler_adamax":
        make_callbacks = lambda c: [c.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)]  # noqa
    ours, theirs, h_ours, h_theirs = _fit_both(keras, binary_mlp, make_optimizer,
                                               dict(loss="binary_crossentropy", metrics=["accuracy"]), x, y,
                                               make_callbacks=make_callbacks, batch_size=8, epochs=2, shuffle=False)
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, name)


@pytest.mark.keras
def test_swap_ema_weights_validates_with_the_averages():
    keras = import_keras()
    x, y = _data(8)
    ours, theirs, h_ours, h_theirs = _fit_both(
        keras, binary_mlp, lambda o: o.SGD(0.2, use_ema=True, ema_momentum=0.7),
        dict(loss="binary_crossentropy"), x, y, make_callbacks=lambda c: [c.SwapEMAWeights()],
        batch_size=8, epochs=2, shuffle=False, validation_split=0.25)
    assert_history_and_weights_match(ours, theirs, h_ours, h_theirs, "SwapEMAWeights")


def test_report_worst_differences():
    """Prints the worst relative differences measured above (run with -s); all stay within TOL."""
    for key, value in sorted(WORST.items()):
        print(f"worst relative diff vs keras.fit, {key}: {value:.2e}")
    assert all(value <= TOL for value in WORST.values()), WORST
