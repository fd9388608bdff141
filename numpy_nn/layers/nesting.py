"""Layers inside layers: the Keras config of a held layer (an RNN's cell, a wrapper's layer) and back.

Keras writes a held layer as a full object config, ``{"module", "class_name", "config",
"registered_name", "build_config"}``, inside its holder's config (``RNN``'s ``cell``,
``StackedRNNCells``'s ``cells``, ``Bidirectional``'s ``layer`` and ``backward_layer``,
``TimeDistributed``'s ``layer``). Reading a file goes through numpy_nn/saving, which checks each
nested entry like a top-level layer before it reaches ``deserialize_nested``.
"""
from .base import Layer


def serialize_nested(layer):
    """Keras's object config of a layer held by another one (a cell, a wrapped layer)."""
    config = dict(layer.get_config())
    if isinstance(config.get("dtype"), str):
        config["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": config["dtype"]},
                           "registered_name": None}
    entry = {"module": "keras.layers", "class_name": type(layer).__name__, "config": config, "registered_name": None}
    if layer.built and layer._build_input_shape is not None:
        entry["build_config"] = {"input_shape": layer._build_input_shape}
    return entry


def deserialize_nested(entry):
    """Inverse of ``serialize_nested`` for numpy_nn's own layer classes (a Layer passes through).

    Files go through numpy_nn/saving, which checks nested entries before they get here."""
    if isinstance(entry, Layer):
        return entry
    from .. import layers as package
    cls = getattr(package, str(entry.get("class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"Unknown nested layer class {entry.get('class_name')!r}")
    layer = cls.from_config(dict(entry.get("config") or {}))
    shape = (entry.get("build_config") or {}).get("input_shape")
    if shape is not None and not layer.built:
        layer.build(tuple(shape))
        layer._build_input_shape, layer.built = tuple(shape), True
    return layer
