"""Callbacks driven by scripted sequences of monitored values, compared with real Keras callbacks
driven the same way (set_model on a tiny Keras model, then on_train_begin / on_epoch_end ...)."""
import re
import warnings

import numpy as np
import pytest

import numpy_nn.callbacks as C
import numpy_nn.optimizers as O
from tests.keras_helpers import import_keras


class FakeModel:
    """The four things callbacks may touch: stop_training, get/set_weights, optimizer."""

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.weights = [np.zeros((1, 1), np.float32), np.zeros(1, np.float32)]
        self.optimizer = O.SGD(learning_rate)
        self.metrics = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def mark_epoch(model, epoch):
    """Weights that say which epoch they come from, so a restore can be traced."""
    model.set_weights([np.full((1, 1), epoch, np.float32), np.full(1, epoch, np.float32)])


def drive(model, callback, values, monitor="val_loss", extra=None):
    """One fit-like run over scripted values; returns (epochs run, learning rates, logs)."""
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    learning_rates, all_logs, epoch = [], [], -1
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        mark_epoch(model, epoch)
        logs = {monitor: float(value), **(extra or {})}
        callback.on_epoch_end(epoch, logs)
        learning_rates.append(float(np.asarray(model.optimizer.learning_rate)))
        all_logs.append(logs)
        if model.stop_training:
            break
    callback.on_train_end()
    return epoch, learning_rates, all_logs


SEQUENCES = [
    [1.0, 0.9, 0.95, 0.97, 0.85, 0.9, 0.91, 0.92, 0.93, 0.8],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
    [1.0, 0.99995, 0.9999, 0.99985, 1.1, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.6],
    [0.3, 0.5, 0.2, 0.6, 0.1, 0.7, 0.05, 0.8],
]
EARLY_STOPPING_OPTIONS = [
    dict(), dict(patience=2), dict(patience=2, restore_best_weights=True), dict(patience=1, min_delta=-0.05),
    dict(patience=1, baseline=0.25), dict(patience=1, start_from_epoch=3, restore_best_weights=True),
    dict(patience=3, mode="max", monitor="val_accuracy", restore_best_weights=True),
    dict(patience=0, restore_best_weights=True),
]


def test_early_stopping_rules_without_keras():
    model = FakeModel()
    stop = C.EarlyStopping(patience=2, restore_best_weights=True)
    epoch, _, _ = drive(model, stop, [1.0, 0.5, 0.6, 0.7, 0.1])
    assert epoch == 3 and stop.stopped_epoch == 3 and stop.best == 0.5
    assert model.weights[0][0, 0] == 1           # restored from the best epoch
    # restore happens at train end even when training did not stop early
    stop = C.EarlyStopping(patience=10, restore_best_weights=True)
    drive(model, stop, [1.0, 0.5, 0.6])
    assert stop.stopped_epoch == 0 and model.weights[0][0, 0] == 1
    # a baseline never beaten: no stop while the value keeps improving
    stop = C.EarlyStopping(patience=1, baseline=0.0)
    epoch, _, _ = drive(model, stop, [0.5, 0.4, 0.3, 0.2])
    assert epoch == 3 and not model.stop_training
    with pytest.warns(UserWarning, match="not available"):
        drive(model, C.EarlyStopping(), [1.0], monitor="loss")
    with pytest.raises(ValueError, match="mode='max'"):
        drive(model, C.EarlyStopping(monitor="weird_metric"), [1.0], monitor="weird_metric")
    # min_delta compares in float32, like Keras
    stop = C.EarlyStopping(monitor="loss", patience=0)
    epoch, _, _ = drive(model, stop, [0.5 + 1e-9, 0.5], monitor="loss")
    assert epoch == 1 and model.stop_training


def test_reduce_lr_on_plateau_rules_without_keras():
    model = FakeModel(learning_rate=1.0)
    reducer = C.ReduceLROnPlateau(patience=1, factor=0.5, cooldown=2, min_lr=0.2)
    _, rates, logs = drive(model, reducer, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert rates == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2], rel=1e-7)
    assert [entry["learning_rate"] for entry in logs] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2],
                                                                        rel=1e-7)
    with pytest.raises(ValueError, match="factor=1.5"):
        C.ReduceLROnPlateau(factor=1.5)


@pytest.mark.keras
def test_early_stopping_matches_keras():
    keras = import_keras()
    keras_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for options in EARLY_STOPPING_OPTIONS:
            monitor = options.get("monitor", "val_loss")
            for values in SEQUENCES:
                if monitor == "val_accuracy":
                    values = [1.0 - v for v in values]
                ours_model = FakeModel()
                ours, theirs = C.EarlyStopping(**options), keras.callbacks.EarlyStopping(**options)
                ours_result = drive(ours_model, ours, values, monitor=monitor)
                theirs_result = drive(keras_model, theirs, values, monitor=monitor)
                assert ours_result[0] == theirs_result[0], (options, values)
                assert (ours.stopped_epoch, ours.best, ours.wait, ours.best_epoch) == \
                    (theirs.stopped_epoch, theirs.best, theirs.wait, theirs.best_epoch), (options, values)
                np.testing.assert_array_equal(ours_model.get_weights()[0], keras_model.get_weights()[0])


@pytest.mark.keras
def test_reduce_lr_on_plateau_matches_keras():
    keras = import_keras()
    options_list = [dict(), dict(patience=1), dict(patience=2, factor=0.5, cooldown=2),
                    dict(patience=1, factor=0.2, min_lr=0.01), dict(patience=1, min_delta=0.1, mode="min"),
                    dict(patience=1, monitor="val_accuracy", factor=0.5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for options in options_list:
            monitor = options.get("monitor", "val_loss")
            for values in SEQUENCES:
                if monitor == "val_accuracy":
                    values = [1.0 - v for v in values]
                keras_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
                keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["accuracy"])
                ours = C.ReduceLROnPlateau(**options)
                theirs = keras.callbacks.ReduceLROnPlateau(**options)
                _, ours_rates, ours_logs = drive(FakeModel(0.1), ours, values, monitor=monitor)
                if monitor == "val_accuracy":   # Keras finds the direction once the metric is built
                    theirs.monitor_op = keras.ops.greater
                _, theirs_rates, theirs_logs = drive(keras_model, theirs, values, monitor=monitor)
                assert ours_rates == theirs_rates, (options, values)
                assert [l["learning_rate"] for l in ours_logs] == [l["learning_rate"] for l in theirs_logs]
                assert (ours.wait, ours.cooldown_counter, ours.best) == (theirs.wait, theirs.cooldown_counter,
                                                                         theirs.best)


@pytest.mark.keras
def test_learning_rate_scheduler_matches_keras():
    keras = import_keras()
    for schedule in (lambda epoch, lr: lr * 0.5 if epoch > 1 else lr, lambda epoch: 0.1 / (epoch + 1),
                     lambda epoch, lr: float(np.float32(lr) * np.float32(0.9))):
        keras_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        _, ours_rates, ours_logs = drive(FakeModel(0.1), C.LearningRateScheduler(schedule), [1.0] * 5)
        _, theirs_rates, theirs_logs = drive(keras_model, keras.callbacks.LearningRateScheduler(schedule), [1.0] * 5)
        assert ours_rates == theirs_rates
        assert [l["learning_rate"] for l in ours_logs] == [l["learning_rate"] for l in theirs_logs]
    with pytest.raises(ValueError, match="should be a float"):
        drive(FakeModel(), C.LearningRateScheduler(lambda epoch: "fast"), [1.0])


@pytest.mark.keras
def test_csv_logger_matches_keras(tmp_path):
    keras = import_keras()
    keras_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    epochs = [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.3}]
    for append in (False, True):
        texts = []
        for module, model, path in ((C, FakeModel(), tmp_path / "ours.csv"),
                                    (keras.callbacks, keras_model, tmp_path / "theirs.csv")):
            for _ in range(2 if append else 1):
                logger = module.CSVLogger(str(path), separator=";", append=append)
                logger.set_model(model)
                logger.on_train_begin()
                for epoch, logs in enumerate(epochs):
                    logger.on_epoch_end(epoch, dict(logs))
                logger.on_train_end()
            texts.append(path.read_text())
        assert texts[0] == texts[1]
        assert texts[0].splitlines()[0] == "epoch;accuracy;loss;val_accuracy;val_loss"


def test_callback_list_history_and_sorted_logs():
    model = FakeModel()
    seen = []
    lam = C.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, list(logs))),
                           on_test_begin=lambda logs: seen.append("test"))
    callbacks = C.CallbackList([lam], add_history=True, add_progbar=False, model=model, verbose=0, epochs=2,
                               steps=1)
    assert isinstance(model.history, C.History) and len(callbacks) == 2
    assert lam.params == {"verbose": 0, "epochs": 2, "steps": 1} and lam.model is model
    callbacks.on_train_begin()
    for epoch in range(2):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_test_begin()
        callbacks.on_epoch_end(epoch, {"val_loss": np.float32(0.5), "loss": 1.0, "accuracy": 0.25})
    callbacks.on_train_end()
    assert seen[:2] == ["test", (0, ["accuracy", "loss", "val_loss"])]
    assert model.history.history == {"accuracy": [0.25, 0.25], "loss": [1.0, 1.0], "val_loss": [0.5, 0.5]}
    assert model.history.epoch == [0, 1]
    assert all(type(v) is float for v in model.history.history["val_loss"])


def test_terminate_on_nan():
    model = FakeModel()
    callbacks = C.CallbackList([C.TerminateOnNaN()], model=model)
    callbacks.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    callbacks.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        C.CallbackList([C.TerminateOnNaN(raise_error=True)], model=model).on_train_batch_end(3, {"loss": np.inf})


def run_progbar(module, capsys, verbose, epochs=2, steps=3):
    logger = module.ProgbarLogger()
    logger.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
    logger.on_train_begin()
    for epoch in range(epochs):
        logger.on_epoch_begin(epoch)
        for step in range(steps):
            logger.on_train_batch_end(step, {"accuracy": 0.25 * step, "loss": 1.0 / (step + 1)})
        logger.on_epoch_end(epoch, {"accuracy": 0.5, "loss": 0.3333, "val_loss": 0.0001})
    return capsys.readouterr().out


def normalize(text):
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\b", "")
    text = re.sub(r"\d+(s|ms|us)(/step)?", r"T\2", text)
    return [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]


def test_progbar_text(capsys):
    lines = normalize(run_progbar(C, capsys, verbose=2))
    assert lines == ["Epoch 1/2", "3/3 - T - T/step - accuracy: 0.5000 - loss: 0.3333 - val_loss: 1.0000e-04",
                     "Epoch 2/2", "3/3 - T - T/step - accuracy: 0.5000 - loss: 0.3333 - val_loss: 1.0000e-04"]
    lines = normalize(run_progbar(C, capsys, verbose=1, epochs=1))
    assert lines[0].startswith("1/3 ━━━━━━") and "loss: 1.0000" in lines[0]
    assert lines[-1] == "3/3 ━━━━━━━━━━━━━━━━━━━━ T T/step - accuracy: 0.5000 - loss: 0.3333 - val_loss: 1.0000e-04"
    assert run_progbar(C, capsys, verbose=0) == ""


@pytest.mark.keras
def test_progbar_text_matches_keras(capsys):
    keras = import_keras()
    for verbose in (1, 2):
        ours = normalize(run_progbar(C, capsys, verbose))
        theirs = normalize(run_progbar(keras.callbacks, capsys, verbose))
        assert ours[-1] == theirs[-1] and ours[0] == theirs[0]
        assert [l for l in ours if l.startswith("Epoch")] == [l for l in theirs if l.startswith("Epoch")]
