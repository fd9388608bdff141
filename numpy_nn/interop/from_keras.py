"""``from_keras(keras_model)``: a live Keras model -> a numpy_nn model with the same weights.

The model is rebuilt from its Keras config by the same deserializer as the ``.keras`` loader
(``numpy_nn.saving.serialization``), so whatever loads from a file converts live, and the same
classes are refused. Weights are copied layer by layer (matched by name) with ``get_weights``;
every shape is checked before anything is assigned.
"""
import json

import numpy as np

from ..saving.errors import LoadError
from .keras_import import import_keras
from ..saving.serialization import deserialize_model


def keras_config(keras_model):
    """The JSON config Keras would write in ``config.json`` for ``keras_model``."""
    keras = import_keras("nn.interop.from_keras")
    config = keras.saving.serialize_keras_object(keras_model)
    return json.loads(json.dumps(config, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    raise TypeError(f"Cannot convert {value!r} of type {type(value).__name__} from the Keras config")


def from_keras(keras_model, compile=False):
    """Convert a live Keras Functional/Sequential model to numpy_nn (same architecture, same weights).

    ``compile=True`` also compiles it from the Keras compile config (optimizer settings, losses,
    metrics; not the optimizer state). Raises ``numpy_nn.saving.LoadError`` for layers numpy_nn
    does not implement or refuses (``Lambda``).
    """
    config = keras_config(keras_model)
    if not compile:
        config.pop("compile_config", None)
    model = deserialize_model(config, compile=compile)
    copy_weights(keras_model, model)
    return model


def copy_weights(keras_model, model):
    """Copy every layer's ``get_weights()`` from ``keras_model`` into ``model`` (matched by layer name)."""
    plan = []
    for keras_layer in keras_model.layers:
        values = keras_layer.get_weights()
        try:
            layer = model.get_layer(keras_layer.name)
        except ValueError:
            raise LoadError(f"numpy_nn model '{model.name}' has no layer named '{keras_layer.name}'") from None
        targets = layer.weights
        if len(targets) != len(values):
            raise LoadError(f"Layer '{layer.name}': numpy_nn has {len(targets)} weights "
                            f"{[tuple(w.shape) for w in targets]}, Keras has {len(values)} "
                            f"{[tuple(v.shape) for v in values]}")
        for variable, value in zip(targets, values):
            if tuple(variable.shape) != tuple(np.shape(value)):
                raise LoadError(f"Layer '{layer.name}' weight '{variable.name}': numpy_nn shape {tuple(variable.shape)}, "
                                f"Keras shape {tuple(np.shape(value))}")
            plan.append((variable, np.asarray(value)))
    for variable, value in plan:
        variable.assign(value.astype(variable.dtype))
    return model
