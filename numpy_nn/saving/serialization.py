"""Keras 3 configs <-> numpy_nn objects: layers, Functional and Sequential models, compile configs.

A Keras object config is a dict ``{"module", "class_name", "config", "registered_name",
"build_config"?}``; a functional model's ``config`` lists its layers (each with ``name`` and
``inbound_nodes``: one ``{"args": [...], "kwargs": {...}}`` per call, tensors written as
``{"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history": [layer,
node_index, tensor_index]}}``) and ``input_layers`` / ``output_layers`` (one triple, a list of
triples, or a dict of triples). See ``docs/keras-parity.md`` and
``docs/keras-conventions.md`` (section "The .keras file").

Reading never executes anything taken from a config: classes are looked up by name in
numpy_nn's own registry of layers, and anything else (``Lambda``, custom or unknown classes,
serialized Python functions) raises ``LoadError``, naming the class and listing what is supported.
"""
import functools
import importlib
import inspect
import math
import operator
import pkgutil
import warnings

import numpy as np

from .errors import LoadError, SaveError

# Keras classes refused on purpose: they carry (or wrap) code, which numpy_nn never runs.
REFUSED_CLASSES = {
    "Lambda": "a Lambda layer stores Python bytecode; numpy_nn never executes code from a file",
    "TFSMLayer": "it wraps a TensorFlow SavedModel",
    "TorchModuleWrapper": "it wraps a PyTorch module",
    "JaxLayer": "it wraps an arbitrary JAX function",
    "FlaxLayer": "it wraps a Flax module",
}
MODEL_CLASSES = ("Functional", "Model", "Sequential")
# Keras arguments numpy_nn does not take, dropped when they hold these (default) values.
_DROPPABLE_DEFAULTS = {"renorm_momentum": 0.99, "synchronized": False, "renorm": False, "rms_scaling": False,
                       "autocast": True, "mask_zero": False}
_SIMPLE_DTYPES = ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
                  "bool")
# Limits on what a config may make the loader allocate (see docs/loader-safety.md).
MAX_WEIGHT_ELEMENTS = 2 ** 29  # all variables of one loaded model together (2 GiB in float32)
MAX_TENSOR_ELEMENTS = 2 ** 28  # one sample of any symbolic tensor (unknown axes count as 1)
MAX_CONFIG_DEPTH = 100         # lists/dicts nested in a config (Keras writes about 15)
_ARRAY_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "bool")  # what a ``__numpy__`` value may be


# ---------------------------------------------------------------------------------------------
# The registry of layer classes
# ---------------------------------------------------------------------------------------------
def layer_registry():
    """``{Keras class name: class}`` for every public numpy_nn layer class (``numpy_nn/layers/*.py``).

    A class's ``keras_class_name`` overrides its Python name; the ``keras.src.ops`` nodes
    (``x + 3.0`` on symbolic tensors) are registered under ``"ops:<name>"``.
    """
    return dict(_scan_layer_modules())


@functools.lru_cache(maxsize=None)
def _scan_layer_modules():
    from .. import layers as layers_package
    from ..layers.base import Layer
    registry = {}
    for info in pkgutil.iter_modules(layers_package.__path__):
        if info.name == "base":
            continue
        try:
            module = importlib.import_module(f"{layers_package.__name__}.{info.name}")
        except Exception:  # a layer family still being written must not break loading the rest
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Layer) and not name.startswith("_") \
                    and obj.__module__ == module.__name__:
                keras_name = getattr(obj, "keras_class_name", None)
                if keras_name is None:
                    registry[name] = obj
                elif str(getattr(obj, "keras_module", "")).startswith("keras.src.ops"):
                    registry[f"ops:{keras_name}"] = obj
    if "ops:Divide" in registry:
        registry["ops:TrueDivide"] = registry["ops:Divide"]
    return registry


def _keras_identity(cls):
    """``(module, class_name, registered_name)`` Keras writes for a numpy_nn class."""
    class_name = getattr(cls, "keras_class_name", None) or cls.__name__
    module = getattr(cls, "keras_module", "keras.layers")
    default_registered = class_name if module.startswith("keras.src.") else None
    return module, class_name, getattr(cls, "keras_registered_name", default_registered)


def supported_class_names():
    """The Keras class names a file may use (layers, plus Functional / Sequential)."""
    return sorted({name.split(":")[-1] for name in layer_registry()} | set(MODEL_CLASSES))


def _unsupported(class_name, where, reason=None):
    names = ", ".join(supported_class_names())
    why = reason or "numpy_nn has no such layer class"
    return LoadError(f"Cannot load {where}: class '{class_name}' is not supported ({why}). "
                     f"Supported classes: {names}")


# ---------------------------------------------------------------------------------------------
# Allocation limits while a config is rebuilt
# ---------------------------------------------------------------------------------------------
class LoadGuard:
    """Bounds what rebuilding a config allocates, by watching each layer the loader creates.

    ``watch(layer)`` shadows the layer's ``add_weight`` and ``compute_output_shape`` with checking
    versions (instance attributes, so nothing global is patched): every variable is charged to one
    budget of ``max_weight_elements`` for the whole model, and every symbolic shape must have at
    most ``MAX_TENSOR_ELEMENTS`` per sample. A ``Dense(units=10**12)`` thus raises ``LoadError``
    before NumPy is asked for terabytes. ``release()`` removes the shadows (the loaded model is
    left exactly as if built by hand).
    """

    def __init__(self, max_weight_elements=MAX_WEIGHT_ELEMENTS):
        self.max_weight_elements = self.remaining = max_weight_elements
        self.watched = []

    def watch(self, layer):
        add_weight, compute_output_shape = layer.add_weight, layer.compute_output_shape

        def checked_add_weight(name, shape, *args, **kwargs):
            self.charge(layer, name, shape)
            return add_weight(name, shape, *args, **kwargs)

        def checked_compute_output_shape(input_shape):
            self.check_shape(layer, input_shape, "input")
            output_shape = compute_output_shape(input_shape)
            self.check_shape(layer, output_shape, "output")
            return output_shape

        layer.add_weight, layer.compute_output_shape = checked_add_weight, checked_compute_output_shape
        self.watched.append(layer)
        return layer

    def release(self):
        for layer in self.watched:
            vars(layer).pop("add_weight", None)
            vars(layer).pop("compute_output_shape", None)
        self.watched = []

    def charge(self, layer, name, shape):
        try:
            dims = [operator.index(d) for d in shape]
        except TypeError:
            raise LoadError(f"Cannot load layer '{layer.name}': variable '{name}' would have the invalid shape "
                            f"{shape!r}") from None
        size = math.prod(dims)
        if any(d < 0 for d in dims) or size > self.remaining:
            raise LoadError(f"Cannot load layer '{layer.name}' ({type(layer).__name__}): variable '{name}' would have "
                            f"shape {tuple(dims)}; the model's variables may hold at most {self.max_weight_elements} "
                            f"elements in all (MAX_WEIGHT_ELEMENTS), {self.remaining} are left")
        self.remaining -= size

    @staticmethod
    def check_shape(layer, shape, what):
        for one in _shapes_in(shape):
            per_sample = math.prod(1 if d is None else d for d in one[1:])
            if any(d is not None and d < 0 for d in one) or per_sample > MAX_TENSOR_ELEMENTS:
                raise LoadError(f"Cannot load layer '{layer.name}' ({type(layer).__name__}): its {what} shape "
                                f"{tuple(one)} is negative or above MAX_TENSOR_ELEMENTS ({MAX_TENSOR_ELEMENTS} "
                                "elements per sample)")


def _shapes_in(structure):
    """The shapes (tuples of ints/None) inside a nested structure of shapes."""
    if isinstance(structure, (list, tuple)) and all(d is None or isinstance(d, (int, np.integer)) for d in structure):
        return [tuple(structure)]
    items = structure.values() if isinstance(structure, dict) else structure \
        if isinstance(structure, (list, tuple)) else []
    return [shape for item in items for shape in _shapes_in(item)]


# ---------------------------------------------------------------------------------------------
# Values inside configs
# ---------------------------------------------------------------------------------------------
def check_safe(value, where="the model config"):
    """Refuse anything that would need code from the file (raises ``LoadError``)."""
    if isinstance(value, dict):
        class_name = value.get("class_name")
        class_name = class_name if isinstance(class_name, str) else None
        if class_name == "__lambda__":
            raise LoadError(f"Cannot load {where}: it contains a serialized Python lambda; numpy_nn never "
                            "executes code from a file")
        if class_name in REFUSED_CLASSES:
            raise _unsupported(class_name, where, REFUSED_CLASSES[class_name])
        for item in value.values():
            check_safe(item, where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_safe(item, where)


def decode_value(value):
    """Keras's special JSON forms -> Python values (``__tuple__``, ``__numpy__``, DTypePolicy)."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    class_name = value.get("class_name")
    if isinstance(class_name, str) and class_name in ("__tuple__", "__numpy__", "__bytes__"):
        return _decode_special(class_name, value)
    if isinstance(class_name, str) and class_name in ("DTypePolicy", "FloatDTypePolicy"):
        return dtype_from_policy(value)
    return {k: decode_value(v) for k, v in value.items() if k != "shared_object_id"}


def _decode_special(class_name, value):
    """``__tuple__`` / ``__numpy__`` / ``__bytes__``: checked, since their fields come from the file."""
    inner = value.get("config")
    payload = inner.get("value") if isinstance(inner, dict) else None
    if class_name == "__tuple__":
        if not isinstance(payload, list):
            raise LoadError(f"Invalid __tuple__ in the config: expected a list value, received {str(value)[:200]}")
        return tuple(decode_value(v) for v in payload)
    if class_name == "__bytes__":
        if not isinstance(payload, str):
            raise LoadError(f"Invalid __bytes__ in the config: expected a string value, received {str(value)[:200]}")
        try:
            return payload.encode("latin-1")
        except UnicodeEncodeError:
            raise LoadError(f"Invalid __bytes__ in the config: {payload[:50]!r} is not latin-1") from None
    dtype = inner.get("dtype") if isinstance(inner, dict) else None
    if dtype is not None and dtype not in _ARRAY_DTYPES:
        raise LoadError(f"Invalid __numpy__ array in the config: dtype {str(dtype)[:50]!r} is not one of "
                        f"{list(_ARRAY_DTYPES)}")
    try:
        array = np.asarray(payload, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as error:
        raise LoadError(f"Invalid __numpy__ array in the config: {error}") from None
    if array.dtype.kind not in "fiub":
        raise LoadError(f"Invalid __numpy__ array in the config: its values are not numbers ({str(payload)[:100]})")
    return array


def dtype_from_policy(policy):
    """``{"class_name": "DTypePolicy", "config": {"name": "float32"}}`` -> ``"float32"``."""
    inner = policy.get("config") if isinstance(policy, dict) else None
    name = inner.get("name") if isinstance(inner, dict) else None if isinstance(policy, dict) else policy
    if name is None:
        return None
    if not isinstance(name, str) or name not in _SIMPLE_DTYPES:
        raise LoadError(f"dtype policy {name!r} is not supported (mixed precision and quantized policies are "
                        f"not implemented); supported: {list(_SIMPLE_DTYPES)}")
    return name


def dtype_policy(name):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def to_json_value(value):
    """numpy_nn config values -> what ``json.dumps`` writes in a Keras file."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise SaveError(f"Cannot write the value {value!r} of type {type(value).__name__} in a Keras config")


def _accepted_arguments(cls):
    """Constructor keywords ``cls`` accepts, following ``**kwargs`` up the class hierarchy."""
    accepted = {"input_shape", "input_dim", "batch_size", "autocast"}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters
        accepted.update(name for name, p in parameters.items()
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self")
        if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
            break
    if getattr(cls, "cell_class", None) is not None:  # LSTM(...) hands its cell arguments to LSTMCell
        accepted |= _accepted_arguments(cls.cell_class)
    return accepted


def _strip_unknown(config, accepted, where):
    """Drop Keras-only arguments holding their default value; refuse the others."""
    kept = {}
    for key, value in config.items():
        if key in accepted:
            kept[key] = value
        elif _is_default(key, value):
            continue
        else:
            raise LoadError(f"Cannot load {where}: numpy_nn does not implement the Keras argument "
                            f"{key}={value!r}")
    return kept


def _is_default(key, value):
    if value is None or value is False or (isinstance(value, (dict, list, tuple)) and len(value) == 0):
        return True
    default = _DROPPABLE_DEFAULTS.get(key)
    return default is not None and isinstance(value, (int, float, bool)) and value == default


def _nested_object(value, key, where):
    """An initializer / regularizer / constraint config inside a layer config, checked here."""
    from .. import constraints, initializers, regularizers
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    kinds = (("initializer", initializers), ("regularizer", regularizers), ("constraint", constraints))
    for suffix, module in kinds:
        if key.endswith(suffix):
            registry = getattr(module, "_BY_CLASS", None) or getattr(module, "_BY_NAME", {})
            cls = registry.get(value["class_name"])
            if cls is None:
                raise LoadError(f"Cannot load {where}: unknown {suffix} class {value['class_name']!r} in "
                                f"`{key}`; supported: {sorted(registry)}")
            inner = _strip_unknown(dict(value.get("config") or {}), _accepted_arguments(cls), f"{where} `{key}`")
            try:
                return module.get({"class_name": value["class_name"], "config": inner})
            except (TypeError, ValueError) as error:
                raise LoadError(f"Cannot load {where}: `{key}` = {value!r}: {error}") from error
    return value


# ---------------------------------------------------------------------------------------------
# Layers: config -> object
# ---------------------------------------------------------------------------------------------
def deserialize_layer(entry, guard=None):
    """One Keras layer entry -> a numpy_nn layer (a model for nested Functional/Sequential).

    ``guard`` (a ``LoadGuard``) bounds the weights the layer may allocate; a model passes its own.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise LoadError(f"Invalid layer entry in the model config: {str(entry)[:200]}")
    class_name = entry["class_name"]
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise LoadError(f"Invalid config for layer class '{class_name}': expected a JSON object, received "
                        f"{str(config)[:200]}")
    name = entry.get("name") or config.get("name")
    where = f"layer '{str(name)[:100]}'"
    check_safe(entry, where)
    if class_name in MODEL_CLASSES:
        return deserialize_model(entry, compile=False, guard=guard)
    registered = entry.get("registered_name")
    module = entry.get("module") or "keras.layers"
    if not isinstance(module, str):
        raise _unsupported(class_name, where, f"its module {str(module)[:100]!r} is not a Keras module name")
    key = f"ops:{class_name}" if module.startswith("keras.src.ops") else class_name
    registry = layer_registry()
    if not module.startswith("keras") or key not in registry or (
            registered not in (None, class_name) and not _is_builtin_registration(registered, class_name)):
        raise _unsupported(registered or class_name, where, None if module.startswith("keras") else
                           f"module '{module}' is not part of Keras: custom classes carry code")
    cls = registry[key]
    config = decode_value(dict(config))
    if "dtype" in config and isinstance(config["dtype"], (dict, str)):
        config["dtype"] = dtype_from_policy(config["dtype"])
    config = _strip_unknown(config, _accepted_arguments(cls), f"{where} ({class_name})")
    config = {key: _nested_object(value, key, f"{where} ({class_name})") for key, value in config.items()}
    for key in _NESTED_LAYER_KEYS:  # RNN's cell(s), Bidirectional's and TimeDistributed's layers
        if key in config:
            config[key] = _nested_layers(config[key], guard, f"{where} ({class_name}) `{key}`")
    try:
        layer = cls.from_config(config)
    except LoadError:
        raise
    except (TypeError, ValueError, KeyError, NotImplementedError, AttributeError, OverflowError) as error:
        raise LoadError(f"Cannot rebuild {where} ({class_name}) from its Keras config: {error}") from error
    return guard.watch(layer) if guard is not None else layer


_NESTED_LAYER_KEYS = ("cell", "cells", "layer", "backward_layer")


def _nested_layers(value, guard, where):
    """Layer entries inside a layer's config (a cell, a list of cells, a wrapped layer), rebuilt with
    the same checks as top-level layers; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_nested_layers(v, guard, where) for v in value]
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise LoadError(f"Cannot load {where}: expected a layer config, received {str(value)[:200]}")
    layer = deserialize_layer(value, guard)
    shape = (value.get("build_config") or {}).get("input_shape")
    if shape is not None and not layer.built:
        shape = tuple(shape)
        if _shapes_in(shape) != [shape]:
            raise LoadError(f"Cannot load {where}: invalid build_config input_shape {str(shape)[:100]}")
        if guard is not None:
            guard.check_shape(layer, shape, "input")
        layer._build_input_shape = shape
        layer.build(shape)
        layer.built = True
    return layer


def _is_builtin_registration(registered, class_name):
    """Keras registers its own internal layers as ``"keras.src.<module>>Name"`` (e.g. LayerScale)."""
    return isinstance(registered, str) and registered.startswith("keras.") and registered.endswith(">" + class_name)


# ---------------------------------------------------------------------------------------------
# Models: config -> object
# ---------------------------------------------------------------------------------------------
class _NotReady(Exception):
    """A node's inputs come from a call that has not been rebuilt yet."""


def deserialize_model(entry, compile=True, guard=None):
    """A Keras model config (``config.json``'s content) -> a numpy_nn Functional/Sequential model.

    Every failure is a ``LoadError``: the config is untrusted input, so an unexpected exception
    from deep inside a layer (a wrong type the layer did not anticipate) is reported as an
    invalid config too, with the original exception chained.
    """
    if not isinstance(entry, dict):
        raise LoadError(f"A model config must be a JSON object, received {type(entry).__name__}")
    outermost = guard is None
    if outermost:
        check_depth(entry)
        guard = LoadGuard()
    check_safe(entry)
    class_name = entry.get("class_name")
    config = entry.get("config")
    if class_name not in MODEL_CLASSES or not isinstance(config, dict):
        raise _unsupported(entry.get("registered_name") or class_name, "the model", "only Functional and "
                           "Sequential models can be rebuilt from a config (subclassed models carry code)")
    name = str(config.get("name"))[:100]
    try:
        if not isinstance(config.get("layers"), list):
            raise LoadError(f"Invalid {class_name} config for model '{name}': `layers` must be a list, received "
                            f"{str(config.get('layers'))[:100]}")
        if class_name == "Sequential":
            model = _sequential_from_config(config, guard)
        else:
            model = _functional_from_config(config, guard)
    except LoadError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise LoadError(f"Invalid {class_name} config for model '{name}': {error}") from error
    except (RecursionError, MemoryError, ArithmeticError, NotImplementedError) as error:
        raise LoadError(f"Invalid {class_name} config for model '{name}' ({type(error).__name__}: "
                        f"{str(error)[:200]})") from error
    finally:
        if outermost:
            guard.release()
    if compile and entry.get("compile_config"):
        compile_from_config(model, entry["compile_config"])
    return model


def check_depth(value):
    """Refuse lists/dicts nested deeper than ``MAX_CONFIG_DEPTH`` (iterative, so it cannot recurse)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            if depth > MAX_CONFIG_DEPTH:
                raise LoadError(f"The model config nests lists/objects deeper than {MAX_CONFIG_DEPTH} levels "
                                "(MAX_CONFIG_DEPTH); refusing it")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def _sequential_from_config(config, guard):
    from ..models.sequential import Sequential
    layers = [deserialize_layer(layer_entry, guard) for layer_entry in config["layers"]]
    model = Sequential(layers, name=config.get("name"))
    build_shape = config.get("build_input_shape")
    if not model.built and build_shape and layers and not model._is_graph_network:
        shapes = _shapes_in(build_shape)
        if len(shapes) != 1 or shapes[0] != tuple(build_shape):
            raise LoadError(f"Invalid Sequential config: build_input_shape must be one shape, received "
                            f"{str(build_shape)[:100]}")
        guard.check_shape(model, tuple(build_shape), "input")
        model.build(tuple(build_shape))
    if config.get("trainable") is False:
        model.trainable = False
    return model


def _functional_from_config(config, guard):
    from ..layers.input_layer import InputLayer
    from ..models.functional import Model
    from ..ops.node import flatten
    created, calls, pending, order = {}, {}, {}, []
    mask_only = _mask_only_ops(config)
    for layer_entry in config["layers"]:
        if layer_entry.get("name") in mask_only:
            continue
        layer = deserialize_layer(layer_entry, guard)
        name = layer_entry.get("name", layer.name)
        if name in created:
            raise LoadError(f"The model config names two layers '{name}'")
        created[name], order = layer, order + [name]
        if isinstance(layer, InputLayer):
            calls[name] = [layer._input_tensor]
        else:
            calls[name] = []
        pending[name] = [_without_mask_ops(node, mask_only) for node in layer_entry.get("inbound_nodes") or []]

    def tensor_from(history, io=False):
        layer_name, node_index, tensor_index = history
        if layer_name not in calls:
            raise LoadError(f"A node refers to layer '{layer_name}', which is not in the model config")
        if io and _is_functional(created[layer_name]):
            # Keras counts a Functional model's own node first in input_layers/output_layers (not in
            # inbound_nodes), and its loader subtracts it again (index 0 then means the last call)
            node_index = node_index - 1 if node_index > 0 else len(calls[layer_name]) - 1
        if node_index >= len(calls[layer_name]):
            raise _NotReady()
        outputs = flatten(calls[layer_name][node_index])
        if tensor_index >= len(outputs):
            raise LoadError(f"Layer '{layer_name}' call {node_index} has {len(outputs)} output(s); the config "
                            f"asks for output {tensor_index}")
        return outputs[tensor_index]

    def resolve(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tensor_from(value["config"]["keras_history"])
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [resolve(v) for v in value]
        return value

    while any(pending.values()):
        progressed = False
        for name in order:
            while pending[name]:
                node = pending[name][0]
                try:
                    args = resolve(node.get("args", []))
                    kwargs = resolve(node.get("kwargs", {}))
                except _NotReady:
                    break
                calls[name].append(_call_layer(created[name], args, kwargs))
                pending[name].pop(0)
                progressed = True
        if not progressed:
            stuck = {name: len(nodes) for name, nodes in pending.items() if nodes}
            raise LoadError(f"Invalid Functional config: the graph has loops or disconnected nodes; "
                            f"unresolved calls per layer: {stuck}")

    def io_structure(spec):
        if _is_history(spec):
            return tensor_from(spec, io=True)
        if isinstance(spec, dict):
            return {k: io_structure(v) for k, v in spec.items()}
        return [io_structure(s) for s in spec]

    try:
        inputs, outputs = io_structure(config["input_layers"]), io_structure(config["output_layers"])
    except _NotReady:
        raise LoadError("Invalid Functional config: an input/output refers to a call that does not exist") from None
    model = Model(inputs, outputs, name=config.get("name"))
    if config.get("trainable") is False:
        model.trainable = False
    return model


def _histories(value):
    """Names of the layers whose outputs ``value`` (args or kwargs of a node) refers to."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        return [history[0]] if isinstance(history, list) and history else []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [name for item in items for name in _histories(item)]


def _mask_only_ops(config):
    """Names of the ``keras.src.ops`` nodes that only compute masks (Keras records the mask of
    ``Embedding(mask_zero=True)`` as a ``NotEqual`` node feeding ``mask=`` of the layers below).
    numpy_nn recomputes masks while running, so these nodes and those ``mask=`` arguments are dropped."""
    entries = [e for e in config["layers"] if isinstance(e, dict)]
    candidates = {e.get("name") for e in entries if str(e.get("module") or "").startswith("keras.src.ops")}
    def io_names(spec):  # output_layers: a [name, node, tensor] triple, a list or a dict of them
        if _is_history(spec):
            return [spec[0]]
        items = spec.values() if isinstance(spec, dict) else spec if isinstance(spec, list) else []
        return [name for item in items for name in io_names(item)]
    outputs = set(io_names(config.get("output_layers")))
    changed = True
    while changed:
        changed = False
        for entry in entries:
            if entry.get("name") in candidates:
                continue
            for node in entry.get("inbound_nodes") or []:
                if not isinstance(node, dict):
                    continue
                kwargs = node.get("kwargs") if isinstance(node.get("kwargs"), dict) else {}
                data = [node.get("args", [])] + [v for k, v in kwargs.items() if k != "mask"]
                used = (set(_histories(data)) | outputs) & candidates
                if used:
                    candidates -= used
                    changed = True
    return candidates


def _without_mask_ops(node, mask_only):
    """A node with its ``mask=`` argument removed when that mask comes from a dropped mask-only op."""
    if not mask_only or not isinstance(node, dict) or not isinstance(node.get("kwargs"), dict):
        return node
    mask = node["kwargs"].get("mask")
    if mask is not None and set(_histories(mask)) & mask_only:
        node = dict(node, kwargs={k: v for k, v in node["kwargs"].items() if k != "mask"})
    return node


def _is_functional(layer):
    from ..models.functional import Model
    from ..models.sequential import Sequential
    return isinstance(layer, Model) and not isinstance(layer, Sequential)


def _is_history(value):
    return isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str) \
        and isinstance(value[1], int) and isinstance(value[2], int)


def _call_layer(layer, args, kwargs):
    """Call ``layer`` on rebuilt symbolic tensors, keeping only keyword arguments it understands."""
    accepted = set(inspect.signature(layer.call).parameters)
    call_kwargs = {}
    for key, value in kwargs.items():
        if key in accepted:
            call_kwargs[key] = value
        elif value is not None:
            raise LoadError(f"Layer '{layer.name}' ({type(layer).__name__}) was called with {key}={value!r} in the "
                            "saved model; numpy_nn's layer does not take that argument")
    if getattr(layer, "keras_positional_args", False):  # a keras.ops node: op(a, b)
        return layer(list(args), **call_kwargs)
    if len(args) != 1:
        raise LoadError(f"Layer '{layer.name}' ({type(layer).__name__}) was called with {len(args)} positional "
                        "arguments in the saved model; numpy_nn layers take one (a tensor or a list of tensors)")
    return layer(args[0], **call_kwargs)


# ---------------------------------------------------------------------------------------------
# Objects -> config
# ---------------------------------------------------------------------------------------------
def serialize_layer(layer):
    """A numpy_nn layer -> Keras's ``{"module", "class_name", "config", "registered_name", ...}``."""
    from ..layers.input_layer import InputLayer
    from ..models.functional import Model
    if isinstance(layer, Model):
        return serialize_model(layer, include_compile=False)
    module, class_name, registered_name = _keras_identity(type(layer))
    if type(layer) not in layer_registry().values():
        raise SaveError(f"Cannot save layer '{layer.name}': class {type(layer).__name__} is not a numpy_nn layer "
                        "with a Keras counterpart, so Keras could not read it back")
    config = dict(layer.get_config())
    if not isinstance(layer, InputLayer) and isinstance(config.get("dtype"), str):
        config["dtype"] = dtype_policy(config["dtype"])
    entry = {"module": module, "class_name": class_name, "config": to_json_value(config),
             "registered_name": registered_name}
    if layer.built and layer._build_input_shape is not None and not isinstance(layer, InputLayer):
        entry["build_config"] = {"input_shape": to_json_value(layer._build_input_shape)}
    return entry


def serialize_model(model, include_compile=True):
    """A numpy_nn Functional or Sequential model -> its Keras config dict (``config.json``)."""
    from ..models.sequential import Sequential
    if isinstance(model, Sequential):
        config = {"name": model.name, "trainable": model.trainable, "dtype": dtype_policy(model.dtype),
                  "layers": [serialize_layer(layer) for layer in model._stack]}
        entry = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
        if model._is_graph_network:
            shape = to_json_value(model._stack[0].batch_shape)
            config["build_input_shape"] = shape
            entry["build_config"] = {"input_shape": shape}
    elif getattr(model, "_is_graph_network", False):
        entry = {"module": "keras.src.models.functional", "class_name": "Functional",
                 "config": _functional_config(model), "registered_name": "Functional",
                 "build_config": {"input_shape": None}}
    else:
        raise SaveError(f"Cannot save model '{model.name}': it is a subclassed model without a layer graph "
                        "(build it from nn.Input tensors, or use Sequential)")
    if include_compile and getattr(model, "compiled", False):
        entry["compile_config"] = compile_config(model)
    return entry


def _functional_config(model):
    graph_nodes = model._graph.nodes

    def node_index(layer, node, io):
        kept = [n for n in layer._inbound_nodes if n in graph_nodes]
        # Keras: in input_layers/output_layers (only there) a Functional model's calls count from 1
        offset = 1 if io and _is_functional(layer) else 0
        return offset + kept.index(node)

    def history(tensor, io=False):
        layer, index, tensor_index = tensor._keras_history
        return [layer.name, node_index(layer, layer._inbound_nodes[index], io), tensor_index]

    def encode(value):
        if getattr(value, "_is_symbolic", False):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(value.shape), "dtype": value.dtype, "keras_history": history(value)}}
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        return to_json_value(value)

    layers = []
    for layer in model.layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        positional = getattr(layer, "keras_positional_args", False)
        entry["inbound_nodes"] = [{"args": encode(node.call_args) if positional else [encode(node.call_args)],
                                   "kwargs": encode(node.call_kwargs)}
                                  for node in layer._inbound_nodes if node in graph_nodes and not node.is_input]
        layers.append(entry)

    def io(structure):
        if isinstance(structure, dict):
            return {k: io(v) for k, v in structure.items()}
        if isinstance(structure, (list, tuple)):
            return [io(v) for v in structure]
        return history(structure, io=True)

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": io(model._inputs_struct), "output_layers": io(model._outputs_struct)}


# ---------------------------------------------------------------------------------------------
# compile()
# ---------------------------------------------------------------------------------------------
def _serialize_training_object(value, module_name):
    """A loss/metric given to compile() -> a Keras-readable form (names stay names)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: _serialize_training_object(v, module_name) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serialize_training_object(v, module_name) for v in value]
    if hasattr(value, "get_config"):
        return {"module": module_name, "class_name": type(value).__name__,
                "config": to_json_value(value.get_config()), "registered_name": None}
    name = getattr(value, "__name__", None)
    if name is None:
        raise SaveError(f"Cannot save the compile argument {value!r}: it has no name or config")
    return name


def compile_config(model):
    """Keras's ``compile_config``: the optimizer (with its current settings), losses and metrics."""
    from .. import optimizers
    user = dict(getattr(model, "_compile_config", {}) or {})
    return {"optimizer": to_json_value(optimizers.serialize(model.optimizer)),
            "loss": _serialize_training_object(user.get("loss"), "keras.losses"),
            "loss_weights": to_json_value(user.get("loss_weights")),
            "metrics": _serialize_training_object(user.get("metrics"), "keras.metrics"),
            "weighted_metrics": _serialize_training_object(user.get("weighted_metrics"), "keras.metrics"),
            "run_eagerly": bool(user.get("run_eagerly", False)),
            "steps_per_execution": int(user.get("steps_per_execution", 1) or 1),
            "jit_compile": user.get("jit_compile", "auto") if user.get("jit_compile") != "auto" else True}


def _deserialize_training_object(value, module):
    if isinstance(value, dict) and "class_name" in value:
        return module.get(decode_value(value))
    if isinstance(value, dict):
        return {k: _deserialize_training_object(v, module) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deserialize_training_object(v, module) for v in value]
    return value


def compile_from_config(model, config):
    """``model.compile(**config)`` from a Keras ``compile_config``; warns (like Keras) if it cannot."""
    from .. import losses, metrics, optimizers
    check_safe(config, "the compile config")
    if not isinstance(config, dict):
        warnings.warn(f"The model was loaded but its compile config is not a JSON object ({str(config)[:100]}); "
                      "call model.compile() yourself.", stacklevel=3)
        return False
    try:
        optimizer = config.get("optimizer", "rmsprop")
        if isinstance(optimizer, dict):
            optimizer = optimizers.deserialize(decode_value(optimizer))
        model.compile(optimizer=optimizer,
                      loss=_deserialize_training_object(config.get("loss"), losses),
                      loss_weights=config.get("loss_weights"),
                      metrics=_deserialize_training_object(config.get("metrics"), metrics),
                      weighted_metrics=_deserialize_training_object(config.get("weighted_metrics"), metrics),
                      run_eagerly=config.get("run_eagerly", False),
                      steps_per_execution=config.get("steps_per_execution", 1),
                      jit_compile=config.get("jit_compile", "auto"))
    except (TypeError, ValueError) as error:
        warnings.warn(f"The model was loaded but could not be compiled from its saved compile config "
                      f"({error}); call model.compile() yourself.", stacklevel=3)
        return False
    return True
