"""`.keras` compile configs and optimizer state of the new optimizers, losses and metrics, both ways.

numpy_nn -> Keras: a model compiled with each new optimizer (and loss / metric objects) is fitted
one epoch, saved, and loaded by ``keras.saving.load_model``: Keras must rebuild the same optimizer
class and configuration, restore every optimizer variable (slot names and order must match, or
Keras skips the state) and evaluate to the same numbers. Keras -> numpy_nn: the reverse.
"""
import os
import warnings

import numpy as np
import pytest

from numpy_nn import losses, metrics, optimizers
from numpy_nn.saving import load_model
from tests import model_zoo
from tests.keras_helpers import import_keras, relative_diff

pytest.importorskip("h5py")
L = model_zoo.ours()


def _model(L, renorm=False):
    x = L.Input((4,), name="features")
    h = L.Dense(5, activation="tanh", name="hidden")(x)
    if renorm:
        h = L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 2.0, "dmax": 1.0}, renorm_momentum=0.9,
                                 name="bn")(h)
    return L.Model(x, L.Dense(3, activation="softmax", name="probs")(h), name="roundtrip")


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype("float32")
    return x, rng.integers(0, 3, 16)


OPTIMIZERS = {
    "adadelta": lambda o: o.Adadelta(0.5),
    "adamax": lambda o: o.Adamax(0.01, use_ema=True),
    "nadam": lambda o: o.Nadam(0.01, gradient_accumulation_steps=2),
    "ftrl": lambda o: o.Ftrl(0.05, l1_regularization_strength=0.01, beta=0.2),
    "lion": lambda o: o.Lion(0.001, weight_decay=0.01),
    "adafactor": lambda o: o.Adafactor(0.1),
    "lamb": lambda o: o.Lamb(0.01, global_clipnorm=1.0),
    "muon": lambda o: o.Muon(0.01),
    "schedule_free_adamw": lambda o: o.ScheduleFreeAdamW(0.01, warmup_steps=2),
    "sgd_cosine_restarts": lambda o: o.SGD(o.schedules.CosineDecayRestarts(0.1, 3), momentum=0.5),
}


@pytest.mark.keras
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_numpy_nn_file_opens_in_keras_with_optimizer_state(name, tmp_path):
    keras = import_keras()
    x, y = _data()
    ours = _model(L, renorm=name == "adadelta")
    ours.compile(optimizer=OPTIMIZERS[name](optimizers), loss=losses.SparseCategoricalCrossentropy(ignore_class=2),
                 metrics=[metrics.SparseTopKCategoricalAccuracy(k=2), metrics.F1Score(average="macro")]
                 if name == "lamb" else ["accuracy"])
    y_fit = y if name != "lamb" else np.eye(3, dtype="float32")[y]
    if name == "lamb":
        ours.compile(optimizer=OPTIMIZERS[name](optimizers), loss=losses.CategoricalFocalCrossentropy(gamma=1.0),
                     metrics=[metrics.F1Score(average="macro"), metrics.AUC(multi_label=True, num_labels=3)])
    ours.fit(x, y_fit, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = os.path.join(tmp_path, f"{name}.keras")
    ours.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Skipping variable loading for optimizer" would fail
        theirs = keras.saving.load_model(path)
    assert type(theirs.optimizer).__name__ == type(ours.optimizer).__name__
    ours_config = ours.optimizer.get_config()
    theirs_config = theirs.optimizer.get_config()
    assert set(ours_config) == set(theirs_config)
    for key in ours_config:
        if key != "learning_rate" or not isinstance(ours_config[key], dict):
            assert ours_config[key] == theirs_config[key], key
    assert len(theirs.optimizer.variables) == len(ours.optimizer.variables)
    for a, b in zip(ours.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), np.asarray(b.value))
    ours_logs = ours.evaluate(x, y_fit, verbose=0, return_dict=True)
    theirs_logs = theirs.evaluate(x, y_fit, verbose=0, return_dict=True)
    for key in theirs_logs:
        assert relative_diff(ours_logs[key], theirs_logs[key]) <= 1e-5, key


@pytest.mark.keras
def test_keras_file_with_new_classes_loads_in_numpy_nn(tmp_path):
    keras = import_keras()
    x, y = _data()
    keras.utils.set_random_seed(0)
    theirs = _model(model_zoo.theirs(keras), renorm=True)
    theirs.compile(optimizer=keras.optimizers.Nadam(0.01, use_ema=True),
                   loss=keras.losses.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.5),
                   metrics=[keras.metrics.F1Score(average="weighted"), keras.metrics.OneHotMeanIoU(3),
                            keras.metrics.AUC(multi_label=True, curve="PR")])
    one_hot = np.eye(3, dtype="float32")[y]
    theirs.fit(x, one_hot, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = os.path.join(tmp_path, "keras.keras")
    theirs.save(path)
    ours = load_model(path)
    assert isinstance(ours.optimizer, optimizers.Nadam) and ours.optimizer.use_ema
    assert isinstance(ours.loss, losses.CategoricalFocalCrossentropy) and ours.loss.gamma == 1.5
    assert [v.name for v in ours.optimizer.variables][:-1] == [v.name for v in theirs.optimizer.variables][:-1]
    for a, b in zip(ours.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), np.asarray(b.value))
    bn = ours.get_layer("bn")
    assert bn.renorm and bn.renorm_clipping == {"rmax": 2.0, "dmax": 1.0}
    ours_logs = ours.evaluate(x, one_hot, verbose=0, return_dict=True)
    theirs_logs = theirs.evaluate(x, one_hot, verbose=0, return_dict=True)
    assert set(ours_logs) == set(theirs_logs)
    for key in theirs_logs:
        assert relative_diff(ours_logs[key], theirs_logs[key]) <= 1e-5, key
