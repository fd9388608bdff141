"""keras.applications architectures: through .keras files and from_keras, and nn.applications with legacy weights.

BatchNormalization statistics are randomized with set_weights so that inference BN is not the
identity; the final (pre-softmax) outputs must match Keras's predict to 1e-4 relative.

1. ``keras.applications.X`` (weights=None) saved as ``.keras`` and loaded by nn.saving.load_model,
   and converted by nn.interop.from_keras.
2. ``nn.applications.X(weights=path)`` built natively, loading a legacy weights-only ``.h5`` file
   written in Keras 2's layout from the Keras model (Keras 1 weight names for VGG16, as in
   Keras's published VGG16 file): same predictions, same parameter count, same named layers.
3. ``weights="imagenet"`` through the download code, against a local HTTP server (never the
   network): the same model Keras builds for "imagenet" (EfficientNet adds a Rescaling layer).

MobileNetV2 and ResNet50V2 (Keras 1 weight names) run by default at their smallest input sizes;
the other families are marked slow (VGG16 with Keras 1 names, as in Keras's VGG16 file). Run ``pytest -s -m slow tests/test_applications.py -k
legacy`` to print each family's relative difference and build+load time.
"""
import functools
import http.server
import threading
import time

import numpy as np
import pytest

pytest.importorskip("h5py")

import numpy_nn as nn  # noqa: E402
from numpy_nn.applications import weights as weights_module  # noqa: E402
from numpy_nn.interop import from_keras  # noqa: E402
from numpy_nn.saving import load_model  # noqa: E402
from tests.keras_helpers import import_keras, relative_diff  # noqa: E402
from tests.legacy_h5_files import write_weights_file  # noqa: E402
from tests.test_saving import randomize_bn  # noqa: E402

pytestmark = pytest.mark.keras

# name -> (constructor keyword arguments, input size)
APPLICATIONS = {
    "MobileNetV2": (dict(alpha=0.35), 64),
    "VGG16": ({}, 64),
    "ResNet50": ({}, 64),
    "Xception": ({}, 71),
    "MobileNet": (dict(alpha=0.25), 64),
    "MobileNetV3Small": ({}, 64),
    "DenseNet121": ({}, 64),
    "InceptionV3": ({}, 75),
    "EfficientNetB0": ({}, 64),
    "NASNetMobile": ({}, 64),
    "ResNet50V2": ({}, 64),
    "ConvNeXtTiny": ({}, 64),
}
# nn.applications families -> (keyword arguments, smallest input size Keras accepts)
NATIVE = {
    "VGG16": ({}, 32), "VGG19": ({}, 32), "ResNet50": ({}, 32), "ResNet50V2": ({}, 32),
    "MobileNet": (dict(alpha=0.25), 32), "MobileNetV2": (dict(alpha=0.35), 32), "Xception": ({}, 71),
    "InceptionV3": ({}, 75), "DenseNet121": ({}, 32), "EfficientNetB0": ({}, 32),
}
FAST_NATIVE = {"MobileNetV2": "keras2", "ResNet50V2": "keras1"}  # family -> weight-name style in the file
REPORT = {}  # family -> (relative difference, build+load seconds), printed at the end (pytest -s)


def build_application(keras, name):
    kwargs, size = APPLICATIONS[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10,
                                              classifier_activation=None, **kwargs)
    randomize_bn(model, seed=1)
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    return model, x


def assert_application_matches_keras(name, tmp_path):
    keras = import_keras()
    model, x = build_application(keras, name)
    theirs = model.predict(x, verbose=0)
    assert np.abs(theirs).max() > 1e-3  # a non-degenerate output
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = load_model(path, compile=False)
    loaded_diff = relative_diff(loaded.predict(x, verbose=0), theirs)
    converted = from_keras(model)
    converted_diff = relative_diff(converted.predict(x, verbose=0), theirs)
    print(f"{name} predict vs Keras (fused conv+BN+activation in the fast tier): .keras load {loaded_diff:.2e}, "
          f"from_keras {converted_diff:.2e} relative")
    assert loaded_diff <= 1e-4 and converted_diff <= 1e-4


def test_mobilenet_v2(tmp_path):
    assert_application_matches_keras("MobileNetV2", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in APPLICATIONS if n != "MobileNetV2"])
def test_application(name, tmp_path):
    assert_application_matches_keras(name, tmp_path)


# ---------------------------------------------------------------------------------------------
# nn.applications built natively, loading legacy .h5 weights written from Keras
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def report_native():
    yield
    if REPORT:
        lines = [f"  {name:15s} rel diff {diff:.2e}   build+load {seconds:5.2f} s" for name, (diff, seconds)
                 in REPORT.items()]
        print("\nnn.applications vs keras.applications (legacy .h5 weights):\n" + "\n".join(lines))


def keras_family(keras, name, **overrides):
    kwargs, size = NATIVE[name]
    keras.utils.set_random_seed(0)
    arguments = dict(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    arguments.update(kwargs)
    arguments.update(overrides)
    model = getattr(keras.applications, name)(**arguments)
    randomize_bn(model, seed=1)
    return model, size


def named_layers(model):
    """(name, class) of the layers the builders name explicitly (auto names depend on the session)."""
    auto = ("conv2d", "batch_normalization", "add", "max_pooling2d", "activation", "concatenate", "input_layer",
            "average_pooling2d", "zero_padding2d", "global_", "rescaling", "normalization", "multiply")
    return [(layer.name, type(layer).__name__) for layer in model.layers if not layer.name.startswith(auto)]


def assert_native_matches_keras(name, tmp_path, style="keras2"):
    keras = import_keras()
    theirs_model, size = keras_family(keras, name)
    path = write_weights_file(tmp_path / f"{name}.h5", theirs_model, style=style)
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    theirs = theirs_model.predict(x, verbose=0)
    assert np.abs(theirs).max() > 1e-3
    kwargs = NATIVE[name][0]
    start = time.perf_counter()
    ours = getattr(nn.applications, name)(weights=str(path), input_shape=(size, size, 3), classes=10,
                                          classifier_activation=None, **kwargs)
    seconds = time.perf_counter() - start
    diff = relative_diff(ours.predict(x, verbose=0), theirs)
    REPORT[name if style == "keras2" else f"{name} ({style} names)"] = (diff, seconds)
    assert diff <= 1e-4, f"{name}: relative difference {diff:.2e}"
    assert ours.count_params() == theirs_model.count_params()
    assert len(ours.layers) == len(theirs_model.layers)
    assert named_layers(ours) == named_layers(theirs_model)
    assert ours.name == theirs_model.name


@pytest.mark.parametrize("name", sorted(FAST_NATIVE))
def test_native_family_loads_legacy_weights(name, tmp_path):
    assert_native_matches_keras(name, tmp_path, style=FAST_NATIVE[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NATIVE if n not in FAST_NATIVE])
def test_native_family_loads_legacy_weights_slow(name, tmp_path):
    """VGG16 with Keras 1 weight names, as in Keras's own VGG16 file; the others with Keras 2 names."""
    assert_native_matches_keras(name, tmp_path, style="keras1" if name == "VGG16" else "keras2")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "InceptionV3", "EfficientNetB0"])
def test_keras1_weight_names_load_by_order(name, tmp_path):
    """Weight names never matter inside a layer group (Keras 1 names, e.g. ``conv1_conv_W_1:0``)."""
    assert_native_matches_keras(name, tmp_path, style="keras1")


def test_headless_pooling_variants_match_keras(tmp_path):
    """include_top=False with pooling None / "avg" / "max" on an unknown input size: Keras's feature map."""
    keras = import_keras()
    theirs_model, _ = keras_family(keras, "MobileNetV2", include_top=False, input_shape=None)
    path = write_weights_file(tmp_path / "notop.h5", theirs_model)
    x = np.random.default_rng(1).uniform(0, 255, (2, 48, 40, 3)).astype("float32")
    features = theirs_model.predict(x, verbose=0)
    expected = {None: features, "avg": features.mean(axis=(1, 2)), "max": features.max(axis=(1, 2))}
    for pooling, theirs in expected.items():
        ours = nn.applications.MobileNetV2(alpha=0.35, include_top=False, pooling=pooling, weights=str(path))
        assert ours.input_shape == theirs_model.input_shape == (None, None, None, 3)
        assert relative_diff(ours.predict(x, verbose=0), theirs) <= 1e-4


def test_input_tensor_and_keras3_model_file(tmp_path):
    """``input_tensor=`` makes the model start at that tensor's inputs; weights may come from a Keras 3
    ``model.save("m.h5")`` file (load_weights reads its model_weights group)."""
    keras = import_keras()
    theirs_model, size = keras_family(keras, "MobileNetV2")
    path = tmp_path / "mobilenet_v2_keras3.h5"
    theirs_model.save(path)
    image = nn.Input((size, size, 3), name="image")
    ours = nn.applications.MobileNetV2(alpha=0.35, input_tensor=image, classes=10, classifier_activation=None,
                                       weights=str(path))
    assert ours.inputs[0] is image
    x = np.random.default_rng(2).uniform(0, 255, (2, size, size, 3)).astype("float32")
    assert relative_diff(ours.predict(x, verbose=0), theirs_model.predict(x, verbose=0)) <= 1e-4


def native_source(name, **overrides):
    """A numpy_nn application with random weights and random BN statistics (a source of weight files)."""
    kwargs, size = NATIVE[name]
    arguments = dict(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    arguments.update(kwargs)
    arguments.update(overrides)
    model = getattr(nn.applications, name)(**arguments)
    randomize_bn(model, seed=1)
    return model


def test_a_mismatched_file_is_refused_and_leaves_the_model_unchanged(tmp_path):
    source = native_source("MobileNetV2", classes=7)
    path = write_weights_file(tmp_path / "seven_classes.h5", source)
    with pytest.raises(nn.saving.LoadError, match="predictions"):
        nn.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), classes=10, weights=str(path))
    model = native_source("MobileNetV2")
    before = model.get_weights()
    with pytest.raises(nn.saving.LoadError, match="predictions"):
        model.load_weights(str(path))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_argument_checks_are_keras_s():
    with pytest.raises(ValueError, match="should be either `None`"):
        nn.applications.VGG16(weights="no/such/file.h5")
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        nn.applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="at least 71x71"):
        nn.applications.Xception(weights=None, include_top=False, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="static `input_shape`"):
        nn.applications.DenseNet121(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="`input_shape` should be \\(224, 224, 3\\)"):
        nn.applications.MobileNetV2(weights="imagenet", input_shape=(100, 100, 3))
    with pytest.raises(ValueError, match="Only `None` and `softmax`"):
        nn.applications.MobileNetV2(weights="imagenet", alpha=0.35, classifier_activation="relu")


# ---------------------------------------------------------------------------------------------
# preprocess_input and decode_predictions
# ---------------------------------------------------------------------------------------------
PREPROCESSING = {"vgg16": "caffe", "vgg19": "caffe", "resnet50": "caffe", "resnet_v2": "tf", "mobilenet": "tf",
                 "mobilenet_v2": "tf", "xception": "tf", "inception_v3": "tf", "densenet": "torch",
                 "efficientnet": None}


@pytest.mark.parametrize("module", sorted(PREPROCESSING))
def test_preprocess_input_is_keras_exactly(module):
    keras = import_keras()
    rng = np.random.default_rng(3)
    theirs_module = getattr(keras.applications, module)
    ours_module = getattr(nn.applications, module)
    cases = [rng.uniform(0, 255, (2, 5, 4, 3)).astype("float32"), rng.uniform(0, 255, (5, 4, 3)),
             rng.integers(0, 256, (2, 5, 4, 3)).astype("uint8")]
    for x in cases:
        original = x.copy()
        ours = ours_module.preprocess_input(x)
        np.testing.assert_array_equal(x, original)  # numpy_nn never writes into the input
        theirs = np.asarray(theirs_module.preprocess_input(x.copy()))
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    if PREPROCESSING[module] is not None:
        for x in (rng.uniform(0, 255, (2, 3, 5, 4)).astype("float32"), rng.uniform(0, 255, (3, 5, 4))):
            ours = ours_module.preprocess_input(x, data_format="channels_first")
            theirs = np.asarray(theirs_module.preprocess_input(x.copy(), data_format="channels_first"))
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_on_a_tensor_matches_and_passes_gradients(mode):
    x = np.random.default_rng(4).uniform(0, 255, (2, 3, 3, 3)).astype("float32")
    expected = nn.applications.imagenet_utils.preprocess_input(x, mode=mode)
    tensor = nn.Tensor(x, requires_grad=True)
    out = nn.applications.imagenet_utils.preprocess_input(tensor, mode=mode)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-4)
    out.backward(np.ones(out.shape, "float32"))
    scale = {"caffe": np.ones(3), "tf": np.full(3, 1 / 127.5), "torch": 1 / 255 / np.array([0.229, 0.224, 0.225])}
    np.testing.assert_allclose(tensor.grad[0, 0, 0], scale[mode], rtol=1e-6)


def test_preprocess_input_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        nn.applications.imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="keras")
    with pytest.raises(ValueError, match="data_format"):
        nn.applications.vgg16.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="nhwc")
    with pytest.raises(ValueError, match="3 channels"):
        nn.applications.vgg16.preprocess_input(np.zeros((1, 2, 2, 4)))


# ---------------------------------------------------------------------------------------------
# Downloads: a local HTTP server, never the network
# ---------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every download in this module goes to 127.0.0.1 or a file:// URL; anything else fails the test."""
    real_urlopen = weights_module.urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        assert str(url).startswith(("http://127.0.0.1:", "file://")), f"a test tried the network: {url}"
        return real_urlopen(url, *args, **kwargs)
    monkeypatch.setattr(weights_module.urllib.request, "urlopen", local_only)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """``(folder, base URL, request log)`` of an HTTP server on 127.0.0.1 serving ``folder``."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/", requests
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "numpy_nn_home"
    monkeypatch.setenv("NUMPY_NN_HOME", str(folder))
    return folder / "models"


def _closed_port_url(name):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"  # nothing listens there any more


def test_imagenet_weights_download_verify_and_cache(served, cache, tmp_path, monkeypatch):
    """weights="imagenet": fetched over HTTP once, hash-checked, moved into the cache, then reused."""
    folder, base, requests = served
    source = native_source("MobileNetV2", include_top=False)
    file_name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    write_weights_file(folder / file_name, source)
    md5 = weights_module.file_hash(folder / file_name)
    monkeypatch.setitem(weights_module.PUBLISHED, ("mobilenet_v2", False),
                        (base + "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5", md5))
    x = np.random.default_rng(5).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    with pytest.warns(UserWarning, match="224"):  # 32x32 has no file of its own: Keras's 224 file is used
        ours = nn.applications.MobileNetV2(alpha=0.35, include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    cached = cache / file_name
    assert cached.exists() and requests == ["/" + file_name]
    assert weights_module.file_hash(cached) == md5
    assert [p.name for p in cache.iterdir()] == [file_name], "no temporary file may stay in the cache"
    np.testing.assert_array_equal(ours.predict(x, verbose=0), source.predict(x, verbose=0))
    with pytest.warns(UserWarning, match="224"):
        again = nn.applications.MobileNetV2(alpha=0.35, include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    assert len(requests) == 1, "a verified cached file is not downloaded again"
    np.testing.assert_array_equal(again.predict(x, verbose=0), ours.predict(x, verbose=0))


@pytest.mark.slow
def test_efficientnet_imagenet_build_is_keras_s(served, cache, monkeypatch):
    """With weights="imagenet" Keras inserts Rescaling(1/sqrt(std)) after Normalization: so does numpy_nn."""
    keras = import_keras()
    from keras.src.applications import efficientnet as keras_efficientnet
    folder, base, _ = served
    source = native_source("EfficientNetB0", include_top=False)
    write_weights_file(folder / "efficientnetb0_notop.h5", source)
    md5 = weights_module.file_hash(folder / "efficientnetb0_notop.h5")
    monkeypatch.setitem(weights_module.PUBLISHED, ("efficientnetb0", False), (base + "efficientnetb0_notop.h5", md5))
    monkeypatch.setattr(keras_efficientnet.file_utils, "get_file",
                        lambda *args, **kwargs: str(folder / "efficientnetb0_notop.h5"))
    theirs_model = keras.applications.EfficientNetB0(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    ours = nn.applications.EfficientNetB0(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    assert [type(l).__name__ for l in ours.layers[:5]] == [type(l).__name__ for l in theirs_model.layers[:5]]
    x = np.random.default_rng(6).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert relative_diff(ours.predict(x, verbose=0), theirs_model.predict(x, verbose=0)) <= 1e-4


def test_get_file_rejects_a_wrong_hash_and_keeps_nothing(served, cache):
    folder, base, _ = served
    (folder / "weights.h5").write_bytes(weights_module.HDF5_SIGNATURE + b"not really weights")
    with pytest.raises(weights_module.DownloadError, match="failed verification") as caught:
        weights_module.get_file("weights.h5", base + "weights.h5", file_hash="0" * 32)
    assert str(cache / "weights.h5") in str(caught.value)
    assert not (cache / "weights.h5").exists() and list(cache.iterdir()) == []


def test_get_file_redownloads_a_corrupted_cached_file(served, cache):
    folder, base, requests = served
    content = b"the class index"
    (folder / "index.json").write_bytes(content)
    md5 = __import__("hashlib").md5(content).hexdigest()
    path = weights_module.get_file("index.json", base + "index.json", file_hash=md5)
    with open(path, "wb") as stream:
        stream.write(b"truncated")
    assert weights_module.get_file("index.json", base + "index.json", file_hash=md5) == path
    assert open(path, "rb").read() == content and len(requests) == 2


def test_get_file_accepts_file_urls_and_sha256(cache, tmp_path):
    source = tmp_path / "local.h5"
    source.write_bytes(weights_module.HDF5_SIGNATURE + bytes(100))
    sha256 = weights_module.file_hash(source, "sha256")
    path = weights_module.get_file("local.h5", source.as_uri(), file_hash=sha256)
    assert open(path, "rb").read() == source.read_bytes()


def test_offline_error_names_the_url_and_the_cache_path(cache, monkeypatch):
    url = _closed_port_url("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    monkeypatch.setitem(weights_module.PUBLISHED, ("vgg16", False), (url, "6d6bbae143d832006294945121d1f1fc"))
    with pytest.raises(weights_module.DownloadError) as caught:
        nn.applications.VGG16(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    message = str(caught.value)
    assert url in message and str(cache / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "NUMPY_NN_HOME" in message
    assert list(cache.iterdir()) == []


def test_published_files_are_keras_s():
    """The URLs and hashes are the ones keras.applications uses (read from Keras's modules)."""
    import_keras()
    from keras.src.applications import densenet, efficientnet, inception_v3, resnet, vgg16, vgg19, xception
    published = weights_module.PUBLISHED
    assert published[("vgg16", True)][0] == vgg16.WEIGHTS_PATH
    assert published[("vgg16", False)][0] == vgg16.WEIGHTS_PATH_NO_TOP
    assert published[("vgg19", False)][0] == vgg19.WEIGHTS_PATH_NO_TOP
    assert published[("xception", True)][0] == xception.WEIGHTS_PATH
    assert published[("inception_v3", False)][0] == inception_v3.WEIGHTS_PATH_NO_TOP
    assert published[("densenet121", True)][0] == densenet.DENSENET121_WEIGHT_PATH
    for family in ("resnet50", "resnet50v2"):
        assert published[(family, True)] == (resnet.BASE_WEIGHTS_PATH + f"{family}_weights_tf_dim_ordering_tf_kernels"
                                             ".h5", resnet.WEIGHTS_HASHES[family][0])
    assert published[("efficientnetb0", False)] == (efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5",
                                                    efficientnet.WEIGHTS_HASHES["b0"][1])
    url, _ = weights_module.published("mobilenet", True, alpha="2_5", rows=128)
    assert url.endswith("/mobilenet/mobilenet_2_5_128_tf.h5")


def test_decode_predictions_matches_keras(served, cache, monkeypatch):
    keras = import_keras()
    from keras.src.applications import imagenet_utils as keras_utils
    import json
    folder, base, _ = served
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (folder / "imagenet_class_index.json").write_text(json.dumps(index))
    ours_utils = nn.applications.imagenet_utils
    monkeypatch.setattr(ours_utils, "CLASS_INDEX", None)
    monkeypatch.setattr(ours_utils, "CLASS_INDEX_PATH", base + "imagenet_class_index.json")
    monkeypatch.setattr(ours_utils, "CLASS_INDEX_HASH",
                        weights_module.file_hash(folder / "imagenet_class_index.json"))
    monkeypatch.setattr(keras_utils, "CLASS_INDEX", index)
    preds = np.random.default_rng(7).random((3, 1000)).astype("float32")
    preds[1, :4] = 2.0  # ties: Keras's order is kept
    ours = nn.applications.vgg16.decode_predictions(preds, top=4)
    theirs = keras.applications.vgg16.decode_predictions(preds, top=4)
    assert ours == theirs
    assert (cache / "imagenet_class_index.json").exists()
    with pytest.raises(ValueError, match="samples, 1000"):
        nn.applications.vgg16.decode_predictions(preds[:, :10])


# ---------------------------------------------------------------------------------------------
# The course chapter: examples/pretrained_gradcam.py (random weights in the legacy layout, no network)
# ---------------------------------------------------------------------------------------------
def _write_image(path, height, width, seed=0):
    from PIL import Image
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype("uint8")
    pixels[height // 4:height // 2, width // 4:width // 2] = 255  # a bright patch
    Image.fromarray(pixels).save(path)
    return pixels


def test_pretrained_gradcam_example_on_a_user_image(tmp_path):
    """A user's image (48x40) and a VGG16 weights file in Keras 2's layout with Keras 1 names."""
    from PIL import Image
    from tests.examples_loader import load_example
    source = nn.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    path = write_weights_file(tmp_path / "vgg16_random.h5", source, style="keras1")
    _write_image(tmp_path / "photo.png", 48, 40)
    result = load_example("pretrained_gradcam").main(str(tmp_path / "photo.png"), weights=str(path),
                                                     out_dir=str(tmp_path / "out"), input_size=32, classes=10)
    expected = source.predict(result["input"], verbose=0)[0]
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-7)
    assert result["top_classes"][0] == int(np.argmax(expected))
    reference = nn.viz.grad_cam(source, result["input"], layer_name="block5_conv3",
                                class_index=int(np.argmax(expected)))
    np.testing.assert_allclose(result["heatmap"], reference, atol=1e-6)
    assert result["heatmap"].shape == (2, 2) and result["heatmap"].max() == pytest.approx(1.0)
    with Image.open(result["overlay_path"]) as overlay:
        assert overlay.size == (40, 48)  # drawn over the original image, not the 32x32 input


def test_pretrained_gradcam_example_quick(tmp_path):
    """--quick: random weights saved with model.save_weights("x.h5") and loaded back through weights=path."""
    from tests.examples_loader import load_example
    result = load_example("pretrained_gradcam").main(quick=True, out_dir=str(tmp_path))
    weights_file = tmp_path / "vgg16_random_weights.h5"
    reloaded = nn.applications.VGG16(weights=str(weights_file), input_shape=(32, 32, 3), classes=10)
    np.testing.assert_array_equal(reloaded.predict(result["input"], verbose=0)[0], result["probabilities"])
    assert (tmp_path / "gradcam.png").exists() and result["heatmap"].shape == (2, 2)


def test_applications_load_times_example_quick(tmp_path):
    """The load-time example reloads each family from its own legacy .h5 file, exactly."""
    from tests.examples_loader import load_example
    rows = load_example("applications_load_times").main(quick=True, families=["MobileNet", "DenseNet121"],
                                                          out_dir=str(tmp_path))["rows"]
    assert [row["family"] for row in rows] == ["MobileNet", "DenseNet121"]
    for row in rows:
        assert row["max_abs_diff"] == 0.0 and row["file_mb"] > 0
        assert row["parameters"] == getattr(nn.applications, row["family"])(
            weights=None, input_shape=(32, 32, 3), classes=10).count_params()
    assert list(tmp_path.iterdir()) == []  # the weight files are removed
