"""Keras 2 model and training configs (the JSON inside legacy ``.h5`` files) -> the Keras 3 form.

``serialization.deserialize_model`` rebuilds Keras 3 configs; this module rewrites what Keras 2.2 to
2.15 (and Keras 3's own legacy ``.h5`` writer) put in ``model_config`` / ``training_config`` into
that form first. Nothing here builds a layer: it is a pure dict -> dict translation, so every
safety check of the ``.keras`` loader (registry lookup, refused classes, the allocation guard)
still applies to what comes out. The differences handled (docs/pretrained.md lists them):

    Keras 2                                              Keras 3
    class_name "Model" (2.2, 2.3)                        "Functional"
    Sequential config as a bare list of layers (<= 2.1)  {"name", "layers"}
    batch_input_shape on the first layer (no InputLayer) an InputLayer entry with batch_shape
    InputLayer {"batch_input_shape": [...]}              {"batch_shape": [...]}
    inbound_nodes [[[name, node, tensor, kwargs], ...]]  [{"args": [tensor or [tensors]], "kwargs"}]
    "axis": [3] (a one-element list)                     "axis": 3   (as Keras 3's legacy loader does)
    dtype {"class_name": "Policy", "config": {"name"}}   "float32"
    Embedding "input_length", BN "fused"                 dropped (Keras 3 ignores them too)
    LeakyReLU "alpha"                                    "negative_slope"
    optimizer "lr", "decay"                              "learning_rate"; decay dropped with a warning
    metrics [[{"class_name": "MeanMetricWrapper",        the wrapped function's name
              "config": {"fn": "categorical_accuracy"}}]]
    loss configs with "reduction": "auto"                "sum_over_batch_size"
"""
import copy

from .errors import LoadError

MODEL_ALIASES = {"Model": "Functional"}
# Keras 2 layer arguments Keras 3 does not have and ignores when it reads a legacy file.
IGNORED_LAYER_KEYS = {"Embedding": ("input_length",), "BatchNormalization": ("fused", "virtual_batch_size",
                                                                              "adjustment")}
RENAMED_LAYER_KEYS = {"LeakyReLU": {"alpha": "negative_slope"}}
IGNORED_OPTIMIZER_KEYS = ("is_legacy_optimizer", "jit_compile", "decay")
_POLICY_CLASSES = ("Policy", "PolicyV1", "DTypePolicy", "FloatDTypePolicy")


def upgrade_model_config(config):
    """A Keras 2 (or Keras 3 legacy-h5) model config -> the Keras 3 ``config.json`` form (a new dict)."""
    if not isinstance(config, dict):
        raise LoadError(f"The model_config of the .h5 file must be a JSON object, received {type(config).__name__}")
    return _upgrade_model(copy.deepcopy(config))


def _upgrade_model(entry):
    class_name = MODEL_ALIASES.get(entry.get("class_name"), entry.get("class_name"))
    entry["class_name"] = class_name
    config = entry.get("config")
    if class_name == "Sequential" and isinstance(config, list):  # Keras <= 2.1: the list of layers itself
        config = entry["config"] = {"name": entry.get("name") or "sequential", "layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return entry  # deserialize_model reports what is wrong
    if "dtype" in config:
        config["dtype"] = _upgrade_dtype(config["dtype"])
    config["layers"] = [_upgrade_layer(layer) for layer in config["layers"]]
    if class_name == "Sequential":
        _add_implicit_input(config)
        return entry
    # Keras 2 counts a nested model's own (construction) node first: its first call is node 1.
    shifted = {layer.get("name") for layer in config["layers"] if _has_own_node(layer)}
    for layer in config["layers"]:
        if isinstance(layer, dict) and isinstance(layer.get("inbound_nodes"), list):
            layer["inbound_nodes"] = [_upgrade_node(node, shifted) for node in layer["inbound_nodes"]]
    sequential = {layer.get("name") for layer in config["layers"]
                  if _has_own_node(layer) and layer.get("class_name") == "Sequential"}
    for key in ("input_layers", "output_layers"):  # Functional ones are shifted by deserialize_model
        config[key] = _shift_io(config.get(key), sequential)
    return entry


def _has_own_node(layer):
    """A nested model built from an input: Keras 2 gave it a node before any call (``kept_nodes = 1``)."""
    if not isinstance(layer, dict) or layer.get("class_name") not in ("Sequential", "Functional"):
        return False
    if layer["class_name"] == "Functional":
        return True
    layers = layer.get("config", {}).get("layers") if isinstance(layer.get("config"), dict) else None
    return bool(layers) and isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer"


def _shift_io(spec, names):
    if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
        if spec[0] in names and isinstance(spec[1], int) and spec[1] > 0:
            return [spec[0], spec[1] - 1, spec[2]]
        return spec
    if isinstance(spec, list):
        return [_shift_io(item, names) for item in spec]
    return spec


def _upgrade_layer(entry):
    if not isinstance(entry, dict):
        return entry
    if entry.get("class_name") in ("Sequential", "Functional", "Model"):
        return _upgrade_model(entry)
    config = entry.get("config")
    if isinstance(config, dict):
        _upgrade_layer_config(entry.get("class_name"), config)
    return entry


def _upgrade_layer_config(class_name, config):
    if class_name == "InputLayer":
        if "batch_input_shape" in config and "batch_shape" not in config:
            config["batch_shape"] = config.pop("batch_input_shape")
    if "dtype" in config:
        config["dtype"] = _upgrade_dtype(config["dtype"])
    axis = config.get("axis")
    if isinstance(axis, list) and len(axis) == 1 and isinstance(axis[0], int):
        config["axis"] = axis[0]
    for key in IGNORED_LAYER_KEYS.get(class_name, ()):
        config.pop(key, None)
    for old, new in RENAMED_LAYER_KEYS.get(class_name, {}).items():
        if old in config and new not in config:
            config[new] = config.pop(old)
    for key, value in list(config.items()):
        if isinstance(value, dict) and key.endswith("initializer"):
            _upgrade_initializer(value)


def _upgrade_initializer(value):
    inner = value.get("config")
    if isinstance(inner, dict) and inner.get("distribution") == "normal":  # Keras 2.2: truncated normal
        inner["distribution"] = "truncated_normal"


def _upgrade_dtype(dtype):
    if isinstance(dtype, dict) and dtype.get("class_name") in _POLICY_CLASSES and "module" not in dtype:
        inner = dtype.get("config")
        return inner.get("name") if isinstance(inner, dict) else dtype
    return dtype


def _add_implicit_input(config):
    """Keras 2 Sequential models built from ``input_shape=`` carry ``batch_input_shape`` on the first layer."""
    layers = config["layers"]
    first = layers[0] if layers and isinstance(layers[0], dict) else None
    first_config = first.get("config") if first else None
    if not isinstance(first_config, dict):
        return
    shape = first_config.pop("batch_input_shape", None)
    for layer in layers[1:]:
        if isinstance(layer, dict) and isinstance(layer.get("config"), dict):
            layer["config"].pop("batch_input_shape", None)
    if first.get("class_name") == "InputLayer" or shape is None:
        return
    name = f"{first_config.get('name', 'input')}_input"
    layers.insert(0, {"class_name": "InputLayer",
                      "config": {"batch_shape": shape, "dtype": first_config.get("dtype") or "float32", "name": name}})


def _upgrade_node(node, shifted=()):
    """``[[name, node_index, tensor_index, kwargs], ...]`` -> ``{"args": [...], "kwargs": {...}}``.

    ``shifted``: names of nested models whose node indices count their own node first (minus 1).
    """
    if not isinstance(node, list):
        return node
    tensors, kwargs = [], {}
    for item in node:
        if not isinstance(item, list) or len(item) not in (3, 4):
            raise LoadError(f"Invalid inbound node in the model config: {str(item)[:200]} (expected "
                            "[layer_name, node_index, tensor_index, kwargs])")
        if len(item) == 4:
            if not isinstance(item[3], dict):
                raise LoadError(f"Invalid inbound node kwargs in the model config: {str(item[3])[:200]}")
            kwargs = item[3]  # every entry carries the call's kwargs; Keras keeps the last
        history = list(item[:3])
        if history[0] in shifted and isinstance(history[1], int) and history[1] > 0:
            history[1] -= 1
        tensors.append({"class_name": "__keras_tensor__", "config": {"keras_history": history}})
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": _without_tensors(kwargs)}


def _without_tensors(kwargs):
    """Keras 2 records tensor-valued call kwargs (TFOpLambda) as histories; they are not supported."""
    for key, value in kwargs.items():
        if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str):
            raise LoadError(f"The model config passes a tensor as keyword argument `{key}` ({str(value)[:100]}); "
                            "only TensorFlow op layers do that, and they are not supported")
    return kwargs


# ---------------------------------------------------------------------------------------------
# training_config -> compile_config
# ---------------------------------------------------------------------------------------------
def upgrade_training_config(training):
    """Keras 2 / Keras 3-legacy ``training_config`` -> a Keras 3 ``compile_config`` (for compile_from_config).

    Returns ``(compile_config, notes)``; ``notes`` lists what was dropped (for the warning).
    """
    notes = []
    if not isinstance(training, dict):
        raise LoadError(f"The training_config of the .h5 file must be a JSON object, received "
                        f"{type(training).__name__}")
    optimizer = training.get("optimizer_config", "rmsprop")
    if isinstance(optimizer, dict):
        optimizer = _upgrade_optimizer(copy.deepcopy(optimizer), notes)
    return {"optimizer": optimizer,
            "loss": _upgrade_losses(copy.deepcopy(training.get("loss"))),
            "loss_weights": training.get("loss_weights"),
            "metrics": _upgrade_metrics(copy.deepcopy(training.get("metrics"))),
            "weighted_metrics": _upgrade_metrics(copy.deepcopy(training.get("weighted_metrics")))}, notes


def _upgrade_optimizer(optimizer, notes):
    class_name = optimizer.get("class_name")
    if isinstance(class_name, str) and class_name.startswith("Custom>"):  # TF 2.11+ experimental optimizers
        optimizer["class_name"] = class_name = class_name[len("Custom>"):]
    config = optimizer.get("config")
    if not isinstance(config, dict):
        return optimizer
    if "lr" in config:
        config.setdefault("learning_rate", config.pop("lr"))
        config.pop("lr", None)
    for key in IGNORED_OPTIMIZER_KEYS:
        value = config.pop(key, None)
        if key == "decay" and value:
            notes.append(f"the Keras 2 learning-rate decay ({value}) of {class_name} is not supported by Keras 3 "
                         "and is ignored")
    return optimizer


def _upgrade_losses(loss):
    if isinstance(loss, dict) and "class_name" in loss:
        inner = loss.get("config")
        if isinstance(inner, dict) and inner.get("reduction") == "auto":
            inner["reduction"] = "sum_over_batch_size"
        return loss
    if isinstance(loss, dict):
        return {k: _upgrade_losses(v) for k, v in loss.items()}
    if isinstance(loss, list):
        return [_upgrade_losses(v) for v in loss]
    return loss


def _upgrade_metrics(metrics):
    """Unwrap Keras 2's ``MeanMetricWrapper`` configs (a function by name) and the per-output nesting."""
    if isinstance(metrics, dict) and metrics.get("class_name") == "MeanMetricWrapper":
        inner = metrics.get("config")
        fn = inner.get("fn") if isinstance(inner, dict) else None
        name = inner.get("name") if isinstance(inner, dict) else None
        return name if name in ("accuracy", "acc", "crossentropy", "ce") else fn or name
    if isinstance(metrics, dict) and "class_name" in metrics:
        return metrics
    if isinstance(metrics, dict):
        return {k: _upgrade_metrics(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        items = [_upgrade_metrics(v) for v in metrics]
        if len(items) == 1 and isinstance(items[0], list):  # Keras 2: one list per output; one output
            return items[0]
        return items
    return metrics
