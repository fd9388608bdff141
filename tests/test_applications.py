"""keras.applications architectures (weights=None, never downloaded) through .keras files and from_keras.

BatchNormalization statistics are randomized with set_weights so that inference BN is not the
identity; the final (pre-softmax) outputs must match Keras's predict to 1e-4 relative.
MobileNetV2 runs by default; the other families are marked slow.
"""
import numpy as np
import pytest

pytest.importorskip("h5py")

from numpy_nn.interop import from_keras  # noqa: E402
from numpy_nn.saving import load_model  # noqa: E402
from tests.keras_helpers import import_keras, relative_diff  # noqa: E402
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
    assert relative_diff(loaded.predict(x), theirs) <= 1e-4
    converted = from_keras(model)
    assert relative_diff(converted.predict(x), theirs) <= 1e-4


def test_mobilenet_v2(tmp_path):
    assert_application_matches_keras("MobileNetV2", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in APPLICATIONS if n != "MobileNetV2"])
def test_application(name, tmp_path):
    assert_application_matches_keras(name, tmp_path)
