"""Legacy HDF5 files: Keras 2.x and Keras 3 ``model.save("m.h5")`` files, and legacy weights-only files.

Keras 3 files are written by Keras itself; Keras 2 files are written with h5py in Keras 2's exact
layout from literal TF 2.4 / Keras 2.2.4 configs (tests/legacy_h5_files.py). The reference for a
Keras 2 file is Keras 3 reading the same file (``keras.saving.load_model``), which is how Keras
users open such files today.
"""
import json
import warnings

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import numpy_nn as nn  # noqa: E402
from numpy_nn import layers  # noqa: E402
from numpy_nn.saving import LoadError, load_model  # noqa: E402
from tests import legacy_h5_files as files  # noqa: E402
from tests.keras_helpers import import_keras, relative_diff  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(4, 8, 8, 3)).astype("float32")
TARGETS = np.eye(3, dtype="float32")[[0, 1, 2, 0]]


def keras_convnet(keras):
    """Keras 3 twin of the small convnet: conv/BN/ReLU + skip conv, Add, GAP, Dropout, Dense."""
    image = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(image)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    skip = keras.layers.Conv2D(4, 1, name="skip")(image)
    x = keras.layers.Add(name="add")([x, skip])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.3, name="drop")(x)
    return keras.Model(image, keras.layers.Dense(3, activation="softmax", name="out")(x), name="convnet")


def ours_convnet(name="convnet"):
    image = nn.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(image)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    skip = layers.Conv2D(4, 1, name="skip")(image)
    x = layers.Add(name="add")([x, skip])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    return nn.Model(image, layers.Dense(3, activation="softmax", name="out")(x), name=name)


def quiet_load(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(path, **kwargs)


# ---------------------------------------------------------------------------------------------
# Keras 3 legacy files (written by Keras)
# ---------------------------------------------------------------------------------------------
@pytest.mark.keras
def test_keras3_functional_h5_with_training_state(tmp_path):
    """A compiled, trained Keras 3 model saved as .h5: same predictions, compile settings, optimizer state."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras_convnet(keras)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(IMAGES, TARGETS, epochs=2, batch_size=2, verbose=0)
    path = tmp_path / "convnet.h5"
    model.save(path)
    ours = quiet_load(path)
    assert relative_diff(ours.predict(IMAGES), model.predict(IMAGES, verbose=0)) <= 1e-6
    assert [l.name for l in ours.layers] == [l.name for l in model.layers]
    assert ours.compiled and type(ours.optimizer).__name__ == "Adam"
    assert ours.optimizer.get_config()["learning_rate"] == pytest.approx(0.003)
    assert ours._compile_config["loss"] == "categorical_crossentropy"
    assert ours._compile_config["metrics"] == ["accuracy"]
    theirs_state = [np.asarray(v) for v in model.optimizer.variables]
    ours_state = [v.numpy() for v in ours.optimizer.variables]
    assert len(ours_state) == len(theirs_state) == 18
    for a, b in zip(ours_state, theirs_state):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    history = ours.fit(IMAGES, TARGETS, epochs=1, batch_size=4, verbose=0)  # training resumes
    assert np.isfinite(history.history["loss"][0])
    # Keras 3 itself does not restore it (docs/pretrained.md): only iteration and learning_rate exist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(keras.saving.load_model(path).optimizer.variables) == 2


@pytest.mark.keras
def test_keras3_sequential_h5_uncompiled(tmp_path):
    keras = import_keras()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2, activation="tanh")], name="seq")
    path = tmp_path / "seq.hdf5"
    model.save(path.with_suffix(".h5"))
    path.with_suffix(".h5").rename(path)  # the .hdf5 spelling loads the same way
    ours = quiet_load(path)
    x = RNG.normal(size=(3, 5)).astype("float32")
    assert isinstance(ours, nn.Sequential) and not ours.compiled
    assert relative_diff(ours.predict(x), model.predict(x, verbose=0)) <= 1e-6


# ---------------------------------------------------------------------------------------------
# Keras 2 files (exact Keras 2 layout, written with h5py)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def keras24_file(tmp_path):
    return files.write_model_file(tmp_path / "convnet_keras24.h5", files.keras24_convnet_config(),
                                  files.keras24_convnet_weights(), files.KERAS24_TRAINING_CONFIG,
                                  files.KERAS24_OPTIMIZER_WEIGHTS)


@pytest.mark.keras
def test_keras24_functional_h5_matches_keras(keras24_file):
    keras = import_keras()
    theirs = keras.saving.load_model(keras24_file)
    with pytest.warns(UserWarning, match="freshly initialized optimizer"):  # Keras 2 slots: another layout
        ours = load_model(keras24_file)
    assert relative_diff(ours.predict(IMAGES), theirs.predict(IMAGES, verbose=0)) <= 1e-6
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert ours.get_layer("bn1").axis in (3, -1)
    assert ours.optimizer.get_config()["learning_rate"] == pytest.approx(0.0005)
    assert ours._compile_config["metrics"] == ["accuracy"]
    ours.evaluate(IMAGES, TARGETS, verbose=0)
    assert not ours.optimizer.built or int(ours.optimizer.iterations.numpy()) == 0


def test_keras22_sequential_with_implicit_input(tmp_path):
    """Keras 2.2.4: no InputLayer (batch_input_shape on the first Dense), "lr", LeakyReLU(alpha), metrics ["acc"].

    Keras 3 itself misreads this file (it turns batch_input_shape [None, 5] into an input of shape
    (None, None, 5) and refuses "lr"), so the reference is the formula computed from the weights.
    """
    weights = files.keras22_sequential_weights()
    path = files.write_model_file(tmp_path / "seq22.h5", files.keras22_sequential_config(), weights,
                                  files.KERAS22_TRAINING_CONFIG, keras_version="2.2.4")
    ours = quiet_load(path)
    x = RNG.normal(size=(3, 5)).astype("float32")
    (k1, b1), (k2, b2) = [[value for _, value in weights[name]] for name in ("dense_1", "dense_2")]
    hidden = np.maximum(x @ k1 + b1, 0)
    logits = np.where(hidden >= 0, hidden, 0.1 * hidden) @ k2 + b2
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(ours.predict(x), expected / expected.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    assert ours.input_shape == (None, 5)
    assert [l.name for l in ours.layers] == ["dense_1", "dropout_1", "leaky_re_lu_1", "dense_2"]
    config = ours.optimizer.get_config()
    assert type(ours.optimizer).__name__ == "SGD" and config["learning_rate"] == pytest.approx(0.05)
    assert config["momentum"] == pytest.approx(0.9) and config["nesterov"] is True
    assert ours.get_layer("leaky_re_lu_1").get_config()["negative_slope"] == pytest.approx(0.1)
    assert ours._compile_config["metrics"] == ["acc"]
    ours.fit(x, np.eye(2, dtype="float32")[[0, 1, 1]], epochs=1, verbose=0)


@pytest.mark.keras
def test_keras3_cannot_read_the_keras22_sequential(tmp_path):
    """What docs/pretrained.md says of Keras 3 on this file: it refuses "lr" and misbuilds the input."""
    keras = import_keras()
    path = files.write_model_file(tmp_path / "seq22.h5", files.keras22_sequential_config(),
                                  files.keras22_sequential_weights(), files.KERAS22_TRAINING_CONFIG,
                                  keras_version="2.2.4")
    with pytest.raises(ValueError, match="lr"):
        keras.saving.load_model(path)
    theirs = keras.saving.load_model(path, compile=False)
    assert theirs.input_shape == (None, None, 5)
    with pytest.raises(ValueError):
        theirs.predict(RNG.normal(size=(3, 5)).astype("float32"), verbose=0)


def test_keras2_nested_model_and_shared_layer(tmp_path):
    """Keras 2 counts a nested model's construction node first (its first call is node 1); shared layers too."""
    def dense(name, inbound, units):
        return {"class_name": "Dense", "name": name, "inbound_nodes": inbound,
                "config": {"name": name, "trainable": True, "dtype": "float32", "units": units, "activation": "tanh",
                           "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {}},
                           "bias_initializer": {"class_name": "Zeros", "config": {}}}}
    features = {"class_name": "Sequential", "name": "features", "inbound_nodes": [[["x", 0, 0, {}]]],
                "config": {"name": "features", "layers": [
                    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                            "name": "features_input"}},
                    {"class_name": "Dense", "config": {"name": "inner", "trainable": True, "dtype": "float32",
                                                       "units": 3, "activation": "relu", "use_bias": True}}]}}
    config = {"class_name": "Model", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "x"}},
        features,
        dense("shared", [[["features", 1, 0, {}]], [["shared", 0, 0, {}]]], 3),
        dense("head", [[["shared", 1, 0, {}]]], 2)],
        "input_layers": [["x", 0, 0]], "output_layers": [["head", 0, 0]]}}
    rng = np.random.default_rng(1)
    values = {"inner": (rng.normal(size=(4, 3)), rng.normal(size=3)), "shared": (rng.normal(size=(3, 3)),
              rng.normal(size=3)), "head": (rng.normal(size=(3, 2)), rng.normal(size=2))}
    weights = {"x": [], "features": [("inner/kernel:0", values["inner"][0]), ("inner/bias:0", values["inner"][1])],
               "shared": [("shared/kernel:0", values["shared"][0]), ("shared/bias:0", values["shared"][1])],
               "head": [("head/kernel:0", values["head"][0]), ("head/bias:0", values["head"][1])]}
    path = files.write_model_file(tmp_path / "nested.h5", config, weights, keras_version="2.3.1")
    model = quiet_load(path)
    x = rng.normal(size=(5, 4)).astype("float32")

    def dense_np(v, name, act):
        return act(v @ values[name][0] + values[name][1])
    expected = dense_np(x, "inner", lambda v: np.maximum(v, 0))
    expected = dense_np(dense_np(expected, "shared", np.tanh), "shared", np.tanh)
    expected = dense_np(expected, "head", np.tanh)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    assert isinstance(model.get_layer("features"), nn.Sequential)


# ---------------------------------------------------------------------------------------------
# model.load_weights on legacy weights-only files
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def keras2_weights(tmp_path):
    """(path, Keras 3 model) with random weights, written in Keras 2's weights-only layout."""
    keras = import_keras()
    keras.utils.set_random_seed(3)
    model = keras_convnet(keras)
    bn = model.get_layer("bn")
    bn.set_weights([RNG.uniform(0.5, 1.5, 4), RNG.normal(size=4), RNG.normal(size=4), RNG.uniform(0.5, 1.5, 4)])
    return files.write_weights_file(tmp_path / "convnet_weights.h5", model), model


@pytest.mark.keras
def test_load_weights_topological_ignores_names(keras2_weights):
    path, theirs = keras2_weights
    ours = ours_convnet(name="renamed_model")
    for layer in ours.layers:  # names play no part in topological loading
        layer.name = layer.name + "_x"
    ours.load_weights(str(path))
    assert relative_diff(ours.predict(IMAGES), theirs.predict(IMAGES, verbose=0)) <= 1e-6


@pytest.mark.keras
def test_load_weights_by_name_skips_absent_layers(keras2_weights):
    path, theirs = keras2_weights
    image = nn.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(image)
    x = layers.Conv2D(2, 1, name="not_in_the_file")(x)
    ours = nn.Model(image, layers.Dense(3, name="out_renamed")(layers.Flatten()(x)))
    untouched = ours.get_layer("not_in_the_file").get_weights()
    ours.load_weights(str(path), by_name=True)
    for mine, reference in zip(ours.get_layer("conv").get_weights(), theirs.get_layer("conv").get_weights()):
        np.testing.assert_array_equal(mine, reference)
    for now, before in zip(ours.get_layer("not_in_the_file").get_weights(), untouched):
        np.testing.assert_array_equal(now, before)


@pytest.mark.keras
def test_skip_mismatch_loads_the_rest_and_warns(keras2_weights):
    path, theirs = keras2_weights
    image = nn.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(image)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    skip = layers.Conv2D(4, 1, name="skip")(image)
    x = layers.GlobalAveragePooling2D(name="gap")(layers.Add(name="add")([x, skip]))
    ours = nn.Model(image, layers.Dense(5, name="out")(x))  # 5 classes instead of 3
    before = ours.get_layer("out").get_weights()
    with pytest.raises(LoadError, match="out"):
        ours.load_weights(str(path))
    assert all(np.array_equal(a, b) for a, b in zip(ours.get_layer("out").get_weights(), before))
    with pytest.warns(UserWarning, match="Skipping loading"):
        ours.load_weights(str(path), skip_mismatch=True)
    np.testing.assert_array_equal(ours.get_layer("skip").get_weights()[0], theirs.get_layer("skip").get_weights()[0])
    assert all(np.array_equal(a, b) for a, b in zip(ours.get_layer("out").get_weights(), before))
    with pytest.warns(UserWarning, match="Skipping loading"):
        ours.load_weights(str(path), by_name=True, skip_mismatch=True)


def test_failed_load_leaves_every_layer_unchanged(tmp_path):
    """The mismatch is in the last layer: the earlier ones must not have been assigned either."""
    source = ours_convnet()
    path = tmp_path / "w.h5"
    source.save_weights(path)
    target = ours_convnet()
    target.get_layer("out").build((None, 4))
    with h5py.File(path, "r+") as h5file:
        del h5file["out/out/kernel"]
        h5file["out"].create_dataset("out/kernel", data=np.zeros((4, 7), "f4"))
    before = target.get_weights()
    with pytest.raises(LoadError, match="out"):
        target.load_weights(str(path))
    assert all(np.array_equal(a, b) for a, b in zip(target.get_weights(), before))


def test_chunked_weight_names_and_keras1_names(tmp_path):
    """weight_names split as weight_names0, weight_names1 (Keras's 64 KiB rule) and Keras 1 names load by order."""
    source = ours_convnet()
    path = files.write_weights_file(tmp_path / "keras1.h5", source, style="keras1", keras_version="1.2.2")
    with h5py.File(path, "r+") as h5file:
        names = h5file["bn"].attrs["weight_names"]
        del h5file["bn"].attrs["weight_names"]
        h5file["bn"].attrs["weight_names0"], h5file["bn"].attrs["weight_names1"] = names[:2], names[2:]
        assert list(h5file["conv"].attrs["weight_names"]) == [b"conv_W_1:0", b"conv_b_1:0"]
    target = ours_convnet()
    target.load_weights(str(path))
    for a, b in zip(target.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Writing legacy files (numpy_nn -> Keras 3)
# ---------------------------------------------------------------------------------------------
@pytest.mark.keras
def test_written_h5_model_loads_in_keras_and_back(tmp_path):
    keras = import_keras()
    model = ours_convnet()
    model.compile(optimizer=nn.optimizers.Adam(learning_rate=0.002), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(IMAGES, TARGETS, epochs=1, batch_size=2, verbose=0)
    path = tmp_path / "ours.h5"
    model.save(path)
    theirs = keras.saving.load_model(path)
    assert relative_diff(theirs.predict(IMAGES, verbose=0), model.predict(IMAGES)) <= 1e-6
    assert theirs.optimizer.learning_rate.numpy() == pytest.approx(0.002)
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(IMAGES), model.predict(IMAGES))
    for a, b in zip(again.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with h5py.File(path) as h5file:
        assert json.loads(h5file.attrs["model_config"])["class_name"] == "Functional"
        assert "optimizer_config" in json.loads(h5file.attrs["training_config"])
        assert list(h5file["model_weights"].attrs["layer_names"]) == [l.name.encode() for l in model.layers]


@pytest.mark.keras
def test_written_h5_weights_load_in_keras(tmp_path):
    keras = import_keras()
    model = ours_convnet()
    path = tmp_path / "ours_weights.h5"
    model.save_weights(path)
    theirs = keras_convnet(keras)
    theirs.load_weights(path)
    assert relative_diff(theirs.predict(IMAGES, verbose=0), model.predict(IMAGES)) <= 1e-6


def test_write_is_atomic(tmp_path, monkeypatch):
    from numpy_nn.saving import legacy_h5
    path = tmp_path / "model.h5"
    path.write_bytes(b"previous content")

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(legacy_h5, "write_layer_groups", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ours_convnet().save(path)
    assert path.read_bytes() == b"previous content" and [p.name for p in tmp_path.iterdir()] == ["model.h5"]


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------
def _lambda_entry():
    return {"class_name": "Lambda", "name": "evil", "inbound_nodes": [[["image", 0, 0, {}]]],
            "config": {"name": "evil", "function": ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQ"
                                                    "AAAHIBAAAA+gh0ZXN0LnB52gg8bGFtYmRhPgEAAADzAAAAAA==", None, None],
                       "function_type": "lambda", "module": "__main__", "output_shape": None, "arguments": {}}}


def test_keras2_lambda_is_refused(tmp_path):
    config = files.keras24_convnet_config()
    config["config"]["layers"].insert(1, _lambda_entry())
    path = files.write_model_file(tmp_path / "lambda.h5", config, files.keras24_convnet_weights())
    with pytest.raises(LoadError, match="Lambda"):
        load_model(path)


@pytest.mark.parametrize("case", ["not_hdf5", "no_model_config", "weights_only", "no_model_weights",
                                  "absolute_weight_name", "soft_link", "external_link", "config_not_json",
                                  "config_is_number", "duplicate_layer_names", "weights_h5_suffix"])
def test_hostile_or_broken_files_raise_load_error(tmp_path, case):
    path = files.write_model_file(tmp_path / "model.h5", files.keras24_convnet_config(),
                                  files.keras24_convnet_weights())
    if case == "not_hdf5":
        path.write_bytes(b"PK\x03\x04 not an hdf5 file")
    elif case == "weights_h5_suffix":
        path = path.rename(tmp_path / "model.weights.h5")
    else:
        with h5py.File(path, "r+") as h5file:
            group = h5file["model_weights"]
            if case == "no_model_config":
                del h5file.attrs["model_config"]
            elif case == "weights_only":
                del h5file.attrs["model_config"]
                h5file.attrs["layer_names"] = group.attrs["layer_names"]
            elif case == "no_model_weights":
                del h5file["model_weights"]
            elif case == "absolute_weight_name":
                group["conv1"].attrs["weight_names"] = np.array([b"/model_weights/skip/skip/kernel:0",
                                                                 b"conv1/bias:0"])
            elif case in ("soft_link", "external_link"):
                del group["conv1/conv1/kernel:0"]
                group["conv1/conv1"]["kernel:0"] = (h5py.SoftLink("/model_weights/skip/skip/kernel:0")
                                                    if case == "soft_link" else
                                                    h5py.ExternalLink(str(tmp_path / "other.h5"), "/x"))
            elif case == "config_not_json":
                h5file.attrs["model_config"] = b"{'class_name': 'Functional'"
            elif case == "config_is_number":
                h5file.attrs["model_config"] = np.arange(3)
            elif case == "duplicate_layer_names":
                names = list(group.attrs["layer_names"])
                group.attrs["layer_names"] = np.array(names + names[-1:])
    with pytest.raises(LoadError) as caught:
        load_model(path)
    if case == "weights_only":
        assert "load_weights" in str(caught.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.h5")
