"""numpy_nn.saving: the Keras 3 .keras / .weights.h5 formats, both directions, and loader safety."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from numpy_nn.layers.conv import Conv2D, DepthwiseConv2D, SeparableConv2D  # noqa: E402
from numpy_nn.layers.core import Dense  # noqa: E402
from numpy_nn.layers.dropout import Dropout  # noqa: E402
from numpy_nn.layers.merge import Add, Concatenate  # noqa: E402
from numpy_nn.layers.normalization import BatchNormalization  # noqa: E402
from numpy_nn.layers.pooling import GlobalAveragePooling2D  # noqa: E402
from numpy_nn.models import Input, Model, Sequential  # noqa: E402
from numpy_nn.saving import LoadError, SaveError, h5_tree, load_model, load_weights, save_model, save_weights  # noqa: E402
from numpy_nn.callbacks import ModelCheckpoint  # noqa: E402
from numpy_nn.saving.serialization import serialize_model  # noqa: E402
from tests.keras_helpers import import_keras, relative_diff  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Models used below
# ---------------------------------------------------------------------------------------------
def randomize_bn(model, seed=0):
    """Give every BatchNormalization non-trivial gamma/beta/moving stats (inference BN != identity)."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if type(layer).__name__ == "BatchNormalization":
            values = []
            for variable in layer.weights:  # gamma/beta may be absent (scale=False, center=False)
                name, c = variable.name.split("/")[-1], variable.shape[0]
                positive = name in ("gamma", "moving_variance")
                values.append(rng.uniform(0.5, 1.5, c) if positive else rng.normal(0, 0.2, c))
            layer.set_weights(values)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def numpy_nn_model():
    """Functional: dict inputs and outputs, a shared Dense, nested Sequential, Conv/Depthwise/Separable, BN."""
    image = Input((8, 8, 3), name="image")
    extra = Input((4,), name="extra")
    x = Conv2D(4, 3, padding="same", name="conv")(image)
    x = BatchNormalization(name="bn")(x)
    x = DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = SeparableConv2D(6, 3, strides=2, name="separable", activation="relu")(x)
    x = GlobalAveragePooling2D(name="gap")(x)
    shared = Dense(6, name="shared")
    a, b = shared(x), shared(Dense(6, name="project")(extra))
    merged = Add(name="add")([a, b])
    head = Sequential([Input((6,)), Dense(5, activation="relu", name="head_dense"), Dropout(0.3, name="drop")],
                      name="head")
    out = Dense(3, activation="softmax", name="probs")(head(merged))
    side = Concatenate(name="concat")([a, b])
    return Model({"image": image, "extra": extra}, {"probs": out, "side": side}, name="net")


def inputs(seed=0, n=5):
    rng = np.random.default_rng(seed)
    return {"image": rng.standard_normal((n, 8, 8, 3)).astype("float32"),
            "extra": rng.standard_normal((n, 4)).astype("float32")}


def targets(seed=1, n=5):
    rng = np.random.default_rng(seed)
    return {"probs": np.eye(3, dtype="float32")[rng.integers(0, 3, n)],
            "side": rng.standard_normal((n, 12)).astype("float32")}


def keras_model(keras):
    """The same architecture in Keras, plus a nested Functional model."""
    L = keras.layers
    image, extra = keras.Input((8, 8, 3), name="image"), keras.Input((4,), name="extra")
    x = L.Conv2D(4, 3, padding="same", name="conv")(image)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = L.SeparableConv2D(6, 3, strides=2, name="separable", activation="relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    shared = L.Dense(6, name="shared")
    a, b = shared(x), shared(L.Dense(6, name="project")(extra))
    merged = L.Add(name="add")([a, b])
    head = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu", name="head_dense"),
                             L.Dropout(0.3, name="drop")], name="head")
    inner_in = keras.Input((5,), name="inner_in")
    inner = keras.Model(inner_in, L.Dense(3, activation="softmax", name="probs_dense")(inner_in), name="inner")
    out = inner(head(merged))
    side = L.Concatenate(name="concat")([a, b])
    return keras.Model({"image": image, "extra": extra}, {"probs": out, "side": side}, name="net")


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """A Keras-written .keras file (compiled, one fit step, random BN statistics) and its predictions."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras_model(keras)
    randomize_bn(model)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss={"probs": "categorical_crossentropy", "side": "mse"},
                  metrics={"probs": ["accuracy"]})
    model.fit(inputs(), targets(), epochs=1, batch_size=5, verbose=0, shuffle=False)
    path = tmp_path_factory.mktemp("keras") / "keras_model.keras"
    model.save(path)
    weights_path = tmp_path_factory.mktemp("keras") / "keras_model.weights.h5"
    model.save_weights(weights_path)
    return {"path": path, "weights": weights_path, "model": model,
            "predictions": model.predict(inputs(3), verbose=0),
            "optimizer": [np.asarray(v) for v in model.optimizer.variables]}


# ---------------------------------------------------------------------------------------------
# Keras -> numpy_nn
# ---------------------------------------------------------------------------------------------
@pytest.mark.keras
def test_keras_file_loads_and_predicts_the_same(keras_file):
    model = load_model(keras_file["path"])
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_file["model"].layers]
    ours = model.predict(inputs(3), verbose=0)
    for key, theirs in keras_file["predictions"].items():
        assert relative_diff(ours[key], theirs) <= 1e-5, key
    # compile config and optimizer state came along
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    assert model.optimizer.iterations == 1
    ours_state = model.optimizer.get_weights()
    assert len(ours_state) == len(keras_file["optimizer"])
    for a, b in zip(ours_state, keras_file["optimizer"]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.keras
def test_keras_weights_h5_loads_into_numpy_nn(keras_file):
    model = load_model(keras_file["path"], compile=False)
    for w in model.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    load_weights(model, keras_file["weights"])
    ours = model.predict(inputs(3), verbose=0)
    assert relative_diff(ours["probs"], keras_file["predictions"]["probs"]) <= 1e-5


@pytest.mark.keras
def test_resave_gives_keras_tree_and_config(keras_file, tmp_path):
    model = load_model(keras_file["path"])
    path = tmp_path / "again.keras"
    save_model(model, path)
    assert h5_tree(path) == h5_tree(keras_file["path"])
    with zipfile.ZipFile(path) as archive:
        assert [i.compress_type for i in archive.infolist()] == [zipfile.ZIP_STORED] * 3
        config = json.loads(archive.read("config.json"))
    with zipfile.ZipFile(keras_file["path"]) as archive:
        original = json.loads(archive.read("config.json"))
    assert config["config"]["input_layers"] == original["config"]["input_layers"]
    assert config["config"]["output_layers"] == original["config"]["output_layers"]
    ours = {entry["name"]: entry for entry in config["config"]["layers"]}
    for entry in original["config"]["layers"]:
        assert ours[entry["name"]]["class_name"] == entry["class_name"]
        histories = lambda e: [t["config"]["keras_history"] for n in e.get("inbound_nodes", [])  # noqa: E731
                               for t in _tensors(n["args"])]
        assert histories(ours[entry["name"]]) == histories(entry)


def _tensors(value):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _tensors(v)]
    return []


# ---------------------------------------------------------------------------------------------
# numpy_nn -> Keras
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_numpy_nn(tmp_path_factory):
    np.random.seed(0)
    model = numpy_nn_model()
    randomize_bn(model, seed=1)
    model.compile(optimizer="adam", loss={"probs": "categorical_crossentropy", "side": "mse"},
                  metrics={"probs": ["accuracy"]})
    model.fit(inputs(), targets(), epochs=1, batch_size=5, verbose=0, shuffle=False)
    folder = tmp_path_factory.mktemp("ours")
    save_model(model, folder / "ours.keras")
    save_weights(model, folder / "ours.weights.h5")
    return model, folder


@pytest.mark.keras
def test_numpy_nn_file_opens_in_keras_and_trains(trained_numpy_nn):
    keras = import_keras()
    model, folder = trained_numpy_nn
    restored = keras.saving.load_model(folder / "ours.keras")
    theirs = restored.predict(inputs(3), verbose=0)
    ours = model.predict(inputs(3), verbose=0)
    for key in ours:
        assert relative_diff(ours[key], theirs[key]) <= 1e-5, key
    assert int(restored.optimizer.iterations) == 1
    for a, b in zip(model.optimizer.get_weights(), restored.optimizer.variables):
        np.testing.assert_array_equal(a, np.asarray(b))
    restored.fit(inputs(), targets(), epochs=1, batch_size=5, verbose=0)  # Keras can continue training
    assert int(restored.optimizer.iterations) == 2


@pytest.mark.keras
def test_numpy_nn_weights_h5_load_in_keras(trained_numpy_nn):
    keras = import_keras()
    model, folder = trained_numpy_nn
    keras.utils.set_random_seed(1)
    fresh = keras.saving.load_model(folder / "ours.keras", compile=False)
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, "float32"))
    fresh.load_weights(folder / "ours.weights.h5")
    assert relative_diff(fresh.predict(inputs(3), verbose=0)["probs"], model.predict(inputs(3))["probs"]) <= 1e-5


def test_weights_h5_tree_follows_keras_naming(trained_numpy_nn):
    _, folder = trained_numpy_nn
    tree = h5_tree(folder / "ours.weights.h5")
    assert tree["layers/conv2d/vars/0"] == (3, 3, 3, 4)
    assert tree["layers/batch_normalization/vars/3"] == (4,)
    assert tree["layers/depthwise_conv2d/vars/0"] == (3, 3, 4, 1)
    assert tree["layers/separable_conv2d/vars/1"] == (1, 1, 4, 6)
    assert tree["layers/sequential/layers/dense/vars/0"] == (6, 5)   # nested Sequential, own counters
    assert tree["optimizer/vars/0"] == () and tree["optimizer/vars/1"] == ()
    with h5py.File(folder / "ours.weights.h5", "r") as f:
        assert f["layers/conv2d/vars"].attrs["name"] == "conv"
        assert f["vars"].attrs["name"] == "net"
        assert "layers/input_layer/vars" in f and "layers/input_layer_1/vars" in f
        dense_groups = sorted(k for k in f["layers"] if k.startswith("dense"))
        assert dense_groups == ["dense", "dense_1", "dense_2"]  # project, shared, probs in model.layers order


def test_sequential_round_trip_without_keras(tmp_path):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)], name="seq")
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    save_model(model, tmp_path / "seq.keras")
    restored = load_model(tmp_path / "seq.keras")
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    assert sorted(h5_tree(tmp_path / "seq.keras")) == ["layers/dense/vars/0", "layers/dense/vars/1",
                                                        "layers/dense_1/vars/0", "layers/dense_1/vars/1"]


def test_optimizer_state_resumes_training(tmp_path):
    """fit 2 epochs == fit 1, save, load, fit 1 (shuffle=False)."""
    def build():
        model = Sequential([Input((4,)), Dense(8, activation="relu"), BatchNormalization(), Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        return model
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)).astype("float32"), rng.standard_normal((16, 2)).astype("float32")
    straight, resumed = build(), build()
    resumed.set_weights(straight.get_weights())
    straight.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    resumed.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    save_model(resumed, tmp_path / "half.keras")
    reloaded = load_model(tmp_path / "half.keras")
    assert reloaded.optimizer.iterations == 4
    reloaded.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(reloaded.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_load_weights_restores_optimizer_state(tmp_path):
    model = Sequential([Input((3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=2, verbose=0)
    save_weights(model, tmp_path / "w.weights.h5")
    other = Sequential([Input((3,)), Dense(2)])
    other.compile(optimizer="sgd", loss="mse")
    load_weights(other, tmp_path / "w.weights.h5")
    assert other.optimizer.iterations == model.optimizer.iterations == 2
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Safety: nothing executed, nothing written, nothing half-loaded
# ---------------------------------------------------------------------------------------------
def _small_file(tmp_path):
    model = Sequential([Input((3,)), Dense(2, name="d")], name="small")
    path = tmp_path / "small.keras"
    save_model(model, path)
    return model, path


def _rewrite(path, out, config=None, weights=None):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def _listing(folder):
    return sorted(os.listdir(folder))


def test_lambda_layer_is_refused_and_never_run(tmp_path):
    _, path = _small_file(tmp_path)
    config = _config(path)
    marker = tmp_path / "executed"
    code = f"open({str(marker)!r}, 'w').write('x')"
    lambda_entry = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                    "config": {"name": "evil", "function": {"class_name": "__lambda__",
                                                            "config": {"code": code, "defaults": None}},
                               "arguments": {}}}
    config["config"]["layers"].insert(1, lambda_entry)
    bad = tmp_path / "lambda.keras"
    _rewrite(path, bad, config=config)
    before = _listing(tmp_path)
    with pytest.raises(LoadError, match="Lambda") as info:
        load_model(bad)
    assert "Dense" in str(info.value)  # lists what is supported
    assert not marker.exists() and _listing(tmp_path) == before


@pytest.mark.parametrize("module,class_name", [("keras.layers", "FancyLayer"), ("my_package.layers", "Dense")])
def test_unknown_or_custom_class_is_refused(tmp_path, module, class_name):
    _, path = _small_file(tmp_path)
    config = _config(path)
    config["config"]["layers"][1].update(module=module, class_name=class_name)
    bad = tmp_path / "unknown.keras"
    _rewrite(path, bad, config=config)
    with pytest.raises(LoadError, match="not supported"):
        load_model(bad)


def test_truncated_zip_and_bad_json_are_refused(tmp_path):
    _, path = _small_file(tmp_path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError):
        load_model(truncated)
    garbage = tmp_path / "garbage.keras"
    with zipfile.ZipFile(garbage, "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(LoadError, match="JSON"):
        load_model(garbage)


def test_member_size_limit(tmp_path):
    _, path = _small_file(tmp_path)
    with pytest.raises(LoadError, match="limit"):
        load_model(path, max_member_bytes=64)


def _h5_with(model, edit):
    buffer = io.BytesIO()
    from numpy_nn.saving.weights_h5 import write_h5
    with h5py.File(buffer, "w") as f:
        write_h5(model, f)
        edit(f)
    return buffer.getvalue()


@pytest.mark.parametrize("edit,message", [
    (lambda f: f["layers/dense/vars"].__delitem__("1"), "has 2 variable"),
    (lambda f: (f["layers/dense/vars"].__delitem__("0"), f["layers/dense/vars"].create_dataset("0", data=np.zeros((4, 2)))),
     "shape"),
    (lambda f: f.__delitem__("layers/dense"), "missing"),
])
def test_missing_or_misshaped_datasets(tmp_path, edit, message):
    model, path = _small_file(tmp_path)
    bad = tmp_path / "bad.keras"
    _rewrite(path, bad, weights=_h5_with(model, edit))
    with pytest.raises(LoadError, match=message):
        load_model(bad)
    # load_weights: the model is unchanged after a failed load
    weights_file = tmp_path / "bad.weights.h5"
    weights_file.write_bytes(_h5_with(model, edit))
    before = model.get_weights()
    with pytest.raises(LoadError):
        load_weights(model, weights_file)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_weights_for_another_model_are_refused(tmp_path):
    big = Sequential([Input((3,)), Dense(2), Dense(2)])
    save_weights(big, tmp_path / "big.weights.h5")
    small = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(LoadError, match="does not have"):
        load_weights(small, tmp_path / "big.weights.h5")


def test_atomic_write_keeps_the_previous_file(tmp_path, monkeypatch):
    model, path = _small_file(tmp_path)
    previous = path.read_bytes()
    original = zipfile.ZipFile.writestr

    def failing(self, name, data, *args, **kwargs):
        if str(getattr(name, "filename", name)) == "model.weights.h5":
            raise OSError("disk full (injected)")
        return original(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    before = _listing(tmp_path)
    with pytest.raises(OSError, match="injected"):
        save_model(model, path)
    assert path.read_bytes() == previous          # the old file survived, byte for byte
    assert _listing(tmp_path) == before            # no temporary file left behind
    monkeypatch.undo()
    load_model(path)


def test_save_errors(tmp_path):
    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(SaveError, match=".keras"):
        save_model(model, tmp_path / "model.json")
    with pytest.raises(SaveError, match=".weights.h5"):
        save_weights(model, tmp_path / "model.json")
    with pytest.raises(LoadError, match="weights-only"):  # (.h5 / .hdf5 names are the legacy format)
        (tmp_path / "model.weights.h5").write_bytes(b"")
        try:
            load_model(tmp_path / "model.weights.h5")
        finally:
            (tmp_path / "model.weights.h5").unlink()
    assert _listing(tmp_path) == []


def test_config_shape_matches_keras_conventions():
    config = serialize_model(numpy_nn_model())
    assert config["class_name"] == "Functional" and config["module"] == "keras.src.models.functional"
    assert config["config"]["input_layers"] == {"image": ["image", 0, 0], "extra": ["extra", 0, 0]}
    layers = {entry["name"]: entry for entry in config["config"]["layers"]}
    assert layers["conv"]["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert layers["conv"]["config"]["kernel_initializer"]["class_name"] == "GlorotUniform"
    add_args = layers["add"]["inbound_nodes"][0]["args"]
    assert [t["config"]["keras_history"] for t in add_args[0]] == [["shared", 0, 0], ["shared", 1, 0]]
    assert layers["head"]["class_name"] == "Sequential" and "inbound_nodes" not in \
        layers["head"]["config"]["layers"][1]


# ---------------------------------------------------------------------------------------------
# ModelCheckpoint
# ---------------------------------------------------------------------------------------------
def _fit_with(callback, epochs=3):
    model = Sequential([Input((3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 3)).astype("float32"), rng.standard_normal((12, 1)).astype("float32")
    model.fit(x, y, epochs=epochs, batch_size=4, validation_split=0.25, callbacks=[callback], verbose=0,
              shuffle=False)
    return model


def test_checkpoint_every_epoch_with_format(tmp_path):
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.3f}.keras")
    model = _fit_with(ModelCheckpoint(pattern))
    files = sorted(f for f in os.listdir(tmp_path) if f.endswith(".keras"))
    assert [f[:7] for f in files] == ["ckpt-01", "ckpt-02", "ckpt-03"]
    last = load_model(tmp_path / files[-1])
    for a, b in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_best_only_and_weights_only(tmp_path):
    path = tmp_path / "best.weights.h5"
    callback = ModelCheckpoint(str(path), monitor="loss", save_best_only=True, save_weights_only=True,
                               initial_value_threshold=1e9)
    model = _fit_with(callback, epochs=2)
    assert path.exists() and callback.best < 1e9
    restored = Sequential([Input((3,)), Dense(1)])
    load_weights(restored, path)
    assert callback.best == pytest.approx(model.history.history["loss"][-1]) or \
        callback.best == pytest.approx(min(model.history.history["loss"]))
    # a threshold never beaten: nothing is saved
    never = tmp_path / "never.keras"
    _fit_with(ModelCheckpoint(str(never), monitor="val_loss", save_best_only=True, initial_value_threshold=-1.0))
    assert not never.exists()


def test_checkpoint_argument_checks(tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        ModelCheckpoint(str(tmp_path / "x.h5"))
    with pytest.raises(ValueError, match=".weights.h5"):
        ModelCheckpoint(str(tmp_path / "x.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(str(tmp_path / "x.keras"), save_freq="sometimes")


def test_checkpoint_batch_frequency(tmp_path):
    pattern = str(tmp_path / "b-{epoch}-{batch}.weights.h5")
    _fit_with(ModelCheckpoint(pattern, save_weights_only=True, save_freq=2), epochs=1)
    assert sorted(os.listdir(tmp_path)) == ["b-1-2.weights.h5"]  # 3 steps per epoch -> one save after step 2
