"""Keras 3 files without Keras: ``.keras`` (zip: config.json + model.weights.h5) and ``.weights.h5``.

    model = nn.saving.load_model("model.keras")      # needs h5py only; refuses code-carrying layers
    nn.saving.save_model(model, "model.keras")       # keras.saving.load_model() reads it back
    nn.saving.save_weights(model, "w.weights.h5"); nn.saving.load_weights(model, "w.weights.h5")

Exceptions: ``LoadError`` (a ValueError) for every file that cannot be loaded safely (nothing
is changed or written; limits and threat model in docs/loader-safety.md), ``SaveError`` (a
ValueError) for a model that cannot be written (nothing is written), ``ImportError`` when h5py is missing (install the ``keras`` extra).
"""
from .errors import LoadError, SaveError
from .keras_file import (MAX_CONFIG_BYTES, MAX_MEMBER_BYTES, MAX_MEMBERS, h5_tree, load_model, load_weights,
                         save_model, save_weights)
from .serialization import (MAX_CONFIG_DEPTH, MAX_TENSOR_ELEMENTS, MAX_WEIGHT_ELEMENTS, deserialize_layer,
                            deserialize_model, serialize_layer, serialize_model, supported_class_names)

__all__ = ["LoadError", "SaveError", "load_model", "save_model", "load_weights", "save_weights", "h5_tree",
           "serialize_model", "deserialize_model", "serialize_layer", "deserialize_layer", "supported_class_names",
           "MAX_MEMBER_BYTES", "MAX_CONFIG_BYTES", "MAX_MEMBERS", "MAX_CONFIG_DEPTH", "MAX_WEIGHT_ELEMENTS",
           "MAX_TENSOR_ELEMENTS", "ModelCheckpoint"]


def __getattr__(name):  # kept for old imports: ModelCheckpoint lives in numpy_nn.callbacks
    if name == "ModelCheckpoint":
        from ..callbacks import ModelCheckpoint
        return ModelCheckpoint
    raise AttributeError(f"module 'numpy_nn.saving' has no attribute {name!r}")
