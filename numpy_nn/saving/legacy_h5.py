"""Legacy Keras HDF5 files (``.h5`` / ``.hdf5``): whole models and weights-only files, without Keras.

The layout Keras 2.2 to 2.15 write with ``model.save("m.h5")`` (and Keras 3 with
``keras.saving.save_model(model, "m.h5")``)::

    /  attrs: keras_version, backend, model_config (JSON), training_config (JSON, if compiled)
    model_weights/                  attrs: layer_names [every layer, in model.layers order], ...
        <layer name>/               attrs: weight_names ["conv/kernel:0", "conv/bias:0"]
            <weight name>           one dataset per weight name (a path: "conv/kernel:0")
        top_level_model_weights/    (Keras 3) the model's own variables: none for graph models
    optimizer_weights/              attrs: weight_names; one dataset per optimizer variable

``model.save_weights("w.h5")`` (Keras 2) writes the content of ``model_weights/`` at the root.
Attribute lists longer than 64 KiB are split as ``weight_names0``, ``weight_names1``, ...

Weights load the legacy way (``load_weights``):

- topological (default): the model's layers that have weights are paired, in order, with the
  file's layers whose ``weight_names`` is not empty; layer names are ignored. Inside a layer the
  values load in the order of ``weight_names`` into ``layer.trainable_weights +
  layer.non_trainable_weights``, so the names themselves never matter (Keras 1 files name them
  ``block1_conv1_W_1:0``).
- ``by_name=True``: each file layer loads into the model's layers of the same name; layers of the
  model absent from the file keep their weights.
- ``skip_mismatch=True``: a weight whose shape differs (and, by name, a layer whose weight count
  differs) is skipped with a warning instead of failing.

Loading is two-phase, like the ``.keras`` loader: every dataset is checked (hard links only, no
virtual/external storage or plugin filters, numeric, the right shape) and read into a plan; the
plan is applied only when complete, so a failed load leaves the model unchanged. The optimizer
state is restored when it matches the optimizer variable for variable (files from Keras 3);
Keras 2 optimizer state (another variable layout) is skipped with a warning, as Keras 3 does.

Writing (``save_model`` / ``save_weights`` for ``.h5`` names) produces the layout Keras 3's legacy
writer produces (the weights-only file is Keras 2's layout), atomically: a temporary file in the
same folder, moved into place when complete. docs/pretrained.md describes both directions.
"""
import json
import os
import warnings

import numpy as np

from . import legacy_config, serialization
from .errors import LoadError, require_h5py
from .weights_h5 import _check_storage, _hard_link_child

MAX_CONFIG_BYTES = 64 * 1024 ** 2  # the model_config / training_config JSON attributes
MAX_NAMES = 1_000_000              # entries of one layer_names / weight_names list (all chunks)
MAX_NAME_CHUNKS = 10_000           # weight_names0, weight_names1, ... (Keras splits at 64 KiB)
LEGACY_SUFFIXES = (".h5", ".hdf5")


def is_legacy_path(filepath):
    """True for ``*.h5`` / ``*.hdf5`` names that are not Keras 3 ``*.weights.h5`` files."""
    name = str(os.fspath(filepath))
    return name.endswith(LEGACY_SUFFIXES) and not name.endswith(".weights.h5")


# ---------------------------------------------------------------------------------------------
# Reading attributes safely
# ---------------------------------------------------------------------------------------------
def _open(filepath):
    h5py = require_h5py()
    name = os.fspath(filepath)
    if not os.path.exists(name):
        raise FileNotFoundError(f"No such file: '{name}'")
    try:
        return h5py.File(name, "r")
    except (OSError, ValueError) as error:
        raise LoadError(f"{name} is not a readable HDF5 file ({error})") from error


def _text(value, what):
    """An attribute holding one string (bytes, str, or a one-element array of either) -> str."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "SUO":
        value = value.reshape(()).item()
    if isinstance(value, (bytes, np.bytes_)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise LoadError(f"The {what} attribute is not valid UTF-8") from None
    if not isinstance(value, str):
        raise LoadError(f"The {what} attribute should be a string, found {type(value).__name__}")
    return value


def _attribute(obj, name, what):
    try:
        return obj.attrs[name]
    except (OSError, TypeError, ValueError, KeyError) as error:
        raise LoadError(f"Cannot read the {what} attribute '{name}' of '{obj.name}': {error}") from error


def read_json_attribute(h5file, name):
    """The JSON object in root attribute ``name`` (None if absent), size-limited and strict."""
    if name not in h5file.attrs:
        return None
    text = _text(_attribute(h5file, name, name), name)
    if len(text) > MAX_CONFIG_BYTES:
        raise LoadError(f"The {name} attribute is {len(text)} characters long, above the limit of "
                        f"{MAX_CONFIG_BYTES} (MAX_CONFIG_BYTES)")
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys(name))
    except LoadError:
        raise
    except (ValueError, RecursionError) as error:
        raise LoadError(f"The {name} attribute is not valid JSON ({type(error).__name__}: "
                        f"{str(error)[:200]})") from None
    serialization.check_depth(value)
    return value


def _unique_keys(what):
    def hook(pairs):
        result = {}
        for key, value in pairs:
            if key in result:
                raise LoadError(f"The {what} attribute has the key {key!r} twice in one object")
            result[key] = value
        return result
    return hook


def read_name_list(group, name):
    """A list-of-strings attribute (``layer_names``, ``weight_names``), chunked or not; [] if absent."""
    if name in group.attrs:
        chunks = [_attribute(group, name, "name list")]
    else:
        chunks, index = [], 0
        while f"{name}{index}" in group.attrs:
            if index >= MAX_NAME_CHUNKS:
                raise LoadError(f"'{group.name}' splits {name} into more than {MAX_NAME_CHUNKS} chunks")
            chunks.append(_attribute(group, f"{name}{index}", "name list"))
            index += 1
    names = []
    for chunk in chunks:
        array = np.asarray(chunk)
        if array.size == 0:
            continue  # Keras writes an empty list as an empty float array
        if array.ndim != 1 or array.dtype.kind not in "SUO":
            raise LoadError(f"The {name} attribute of '{group.name}' should be a list of strings, found an array "
                            f"of dtype {array.dtype} and shape {array.shape}")
        names += [_text(item, f"{name} entry") for item in array]
        if len(names) > MAX_NAMES:
            raise LoadError(f"The {name} attribute of '{group.name}' lists more than {MAX_NAMES} names")
    return names


def _child(group, path, h5py, want):
    """``group/path`` through hard links only; ``want`` is h5py.Group or h5py.Dataset. None if absent."""
    parts = path.split("/")
    if any(part in ("", ".") for part in parts):
        raise LoadError(f"Invalid h5 path '{path}' under '{group.name}' (empty or '.' component)")
    node = group
    for part in parts:
        if not isinstance(node, h5py.Group):
            return None
        node = _hard_link_child(node, part, h5py)
        if node is None:
            return None
    if not isinstance(node, want):
        raise LoadError(f"h5 entry '{node.name}' should be a {want.__name__.lower()}, found a {type(node).__name__}")
    return node


# ---------------------------------------------------------------------------------------------
# The weights of one file layer
# ---------------------------------------------------------------------------------------------
class FileLayer:
    """One ``<layer name>`` group: its weight names and (lazily checked) datasets."""

    def __init__(self, group, name, h5py):
        self.name = name
        self.group = _child(group, name, h5py, h5py.Group)
        if self.group is None:
            raise LoadError(f"The weights file lists layer '{name}' in layer_names, but has no group for it")
        self.weight_names = read_name_list(self.group, "weight_names")
        self._h5py = h5py

    def datasets(self):
        found = []
        for index, weight_name in enumerate(self.weight_names):
            dataset = _child(self.group, weight_name, self._h5py, self._h5py.Dataset)
            describe = f"layer '{self.name}' in the file"
            if dataset is None:
                raise LoadError(f"The weights of {describe} name '{weight_name}', which is not in the file")
            if dataset.dtype.kind not in "fiub" or dataset.shape is None:
                raise LoadError(f"Weight '{weight_name}' of {describe} is not a numeric array "
                                f"(dtype {dataset.dtype})")
            _check_storage(dataset, describe, index)
            found.append(dataset)
        return found


def file_layers(group, h5py):
    """``[FileLayer]`` in ``layer_names`` order (every layer, with or without weights)."""
    names = read_name_list(group, "layer_names")
    if not names and "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
        raise LoadError(f"'{group.name}' has no layer_names attribute: this is not a Keras weights file")
    if len(set(names)) != len(names):
        raise LoadError(f"The weights file lists a layer twice in layer_names: {_duplicates(names)[:10]}")
    return [FileLayer(group, name, h5py) for name in names]


def _duplicates(names):
    seen, twice = set(), []
    for name in names:
        if name in seen:
            twice.append(name)
        seen.add(name)
    return twice


def legacy_weights(layer):
    """The variables of ``layer`` in legacy h5 order: trainable first, then non-trainable."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


# ---------------------------------------------------------------------------------------------
# Planning (checks only) and applying
# ---------------------------------------------------------------------------------------------
def _plan_layer(plan, variables, datasets, describe, skip_mismatch):
    for variable, dataset in zip(variables, datasets):
        if tuple(dataset.shape) != tuple(variable.shape):
            message = (f"Shape mismatch in {describe} for weight '{variable.path}': the model expects "
                       f"{tuple(variable.shape)}, the file has {tuple(dataset.shape)}")
            if skip_mismatch:
                warnings.warn(f"Skipping loading: {message}", stacklevel=4)
                continue
            raise LoadError(message)
        plan.append((variable, dataset))


def plan_topological(model, group, h5py, skip_mismatch=False):
    """``[(variable, dataset)]`` pairing the model's weighted layers with the file's, in order."""
    model_layers = [layer for layer in model.layers if legacy_weights(layer)]
    stored = [entry for entry in file_layers(group, h5py) if entry.weight_names]
    if len(stored) != len(model_layers):
        raise LoadError(f"Layer count mismatch when loading weights from the file: the model has "
                        f"{len(model_layers)} layers with weights ({_preview(l.name for l in model_layers)}), "
                        f"the file has {len(stored)} ({_preview(e.name for e in stored)})")
    plan = []
    for index, (layer, entry) in enumerate(zip(model_layers, stored)):
        variables, datasets = legacy_weights(layer), entry.datasets()
        describe = f"layer #{index} (named '{layer.name}' in the model, '{entry.name}' in the file)"
        if len(datasets) != len(variables):
            raise LoadError(f"Weight count mismatch for {describe}: the layer has {len(variables)} weight(s) "
                            f"{[tuple(v.shape) for v in variables]}, the file has {len(datasets)} "
                            f"{[tuple(d.shape) for d in datasets]}")
        _plan_layer(plan, variables, datasets, describe, skip_mismatch)
    _plan_top_level(plan, model, group, h5py, skip_mismatch)
    return plan


def plan_by_name(model, group, h5py, skip_mismatch=False):
    """``[(variable, dataset)]`` for the model layers whose names appear in the file."""
    by_name = {}
    for layer in model.layers:
        by_name.setdefault(layer.name, []).append(layer)
    plan = []
    for index, entry in enumerate(file_layers(group, h5py)):
        for layer in by_name.get(entry.name, []):
            variables, datasets = legacy_weights(layer), entry.datasets()
            describe = f"layer #{index} (named '{layer.name}')"
            if len(datasets) != len(variables):
                message = (f"Weight count mismatch for {describe}: the layer has {len(variables)} weight(s), "
                           f"the file has {len(datasets)}")
                if skip_mismatch:
                    warnings.warn(f"Skipping loading: {message}", stacklevel=3)
                    continue
                raise LoadError(message)
            _plan_layer(plan, variables, datasets, describe, skip_mismatch)
    _plan_top_level(plan, model, group, h5py, skip_mismatch)
    return plan


def _plan_top_level(plan, model, group, h5py, skip_mismatch):
    """Keras 3's ``top_level_model_weights``: the model's own variables (graph models have none)."""
    top = _child(group, "top_level_model_weights", h5py, h5py.Group)
    if top is None:
        return
    datasets = FileLayer(group, "top_level_model_weights", h5py).datasets()
    own = list(getattr(model, "_own_variables", []))
    if len(datasets) != len(own):
        message = (f"Weight count mismatch for the top-level weights of model '{model.name}': it has {len(own)}, "
                   f"the file has {len(datasets)}")
        if skip_mismatch:
            warnings.warn(f"Skipping loading: {message}", stacklevel=3)
            return
        raise LoadError(message)
    _plan_layer(plan, own, datasets, f"model '{model.name}' (top-level weights)", skip_mismatch)


def read_plan(plan):
    """``[(variable, array)]``: the datasets read and cast (can raise; nothing is assigned yet)."""
    return [(variable, np.asarray(dataset[()]).astype(variable.dtype, copy=False)) for variable, dataset in plan]


def _preview(names, limit=6):
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _weights_group(h5file):
    """The group holding ``layer_names``: the root of a weights file, or ``model_weights`` of a model file."""
    h5py = require_h5py()
    if "layer_names" not in h5file.attrs and "layer_names0" not in h5file.attrs:
        group = _child(h5file, "model_weights", h5py, h5py.Group)
        if group is not None:
            return group
    return h5file


def _guarded(where, action):
    """Run ``action()``; report anything h5py/NumPy raise on a damaged file as LoadError."""
    try:
        return action()
    except (LoadError, FileNotFoundError):
        raise
    except (KeyError, OSError, TypeError, ValueError, RuntimeError, AttributeError, IndexError,
            OverflowError, MemoryError, RecursionError) as error:
        raise LoadError(f"Cannot load {where}: the HDF5 content is damaged or not what Keras writes "
                        f"({type(error).__name__}: {str(error)[:300]})") from error


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------
def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Load a legacy ``.h5`` weights file (or the weights of a legacy model file) into ``model``.

    All or nothing: every weight is checked and read before the first one is assigned.
    """
    h5py = require_h5py()
    where = os.fspath(filepath)
    with _open(filepath) as h5file:
        def plan_and_read():
            group = _weights_group(h5file)
            planner = plan_by_name if by_name else plan_topological
            return read_plan(planner(model, group, h5py, skip_mismatch))
        arrays = _guarded(where, plan_and_read)
    for variable, array in arrays:
        variable.assign(array)


def load_model(filepath, compile=True):
    """Rebuild a model from a legacy ``.h5`` model file (Keras 2.2-2.15, or Keras 3's legacy writer).

    Returns the model with its weights and, with ``compile=True`` and a ``training_config`` in the
    file, compiled with the saved optimizer, loss and metrics (and the optimizer state when it
    matches). Raises ``LoadError`` for anything it cannot load safely; nothing is written.
    """
    where = os.fspath(filepath)
    with _open(filepath) as h5file:
        model, arrays, training, optimizer_values = _guarded(where, lambda: _read_model(h5file, where, compile))
    for variable, array in arrays:
        variable.assign(array)
    if training is not None:
        _compile(model, training, optimizer_values, where)
    return model


def _read_model(h5file, where, compile):
    h5py = require_h5py()
    model_config = read_json_attribute(h5file, "model_config")
    if model_config is None:
        weights_only = "layer_names" in h5file.attrs or "layer_names0" in h5file.attrs
        hint = " It is a weights-only file: build the model, then call model.load_weights()." if weights_only else ""
        raise LoadError(f"No model config found in the file at {where} (no 'model_config' attribute).{hint}")
    model = serialization.deserialize_model(legacy_config.upgrade_model_config(model_config), compile=False)
    group = _child(h5file, "model_weights", h5py, h5py.Group)
    if group is None:
        raise LoadError(f"{where} has a model_config but no model_weights group")
    arrays = read_plan(plan_topological(model, group, h5py))
    training = read_json_attribute(h5file, "training_config") if compile else None
    optimizer_values = _optimizer_values(h5file, h5py, model) if training is not None else None
    return model, arrays, training, optimizer_values


def _optimizer_values(h5file, h5py, model):
    """``[(name, array or None)]`` from ``optimizer_weights``; None marks a shape no variable can have.

    Only datasets shaped like a scalar or like one of the model's trainable weights are read (the
    optimizer's variables are exactly those), so a hostile file cannot make this allocate more
    than the model itself; a list far longer than any optimizer needs is not read at all.
    """
    group = _child(h5file, "optimizer_weights", h5py, h5py.Group)
    if group is None:
        return None
    entry = FileLayer(h5file, "optimizer_weights", h5py)
    trainable = [tuple(v.shape) for v in model.trainable_weights]
    if len(entry.weight_names) > 4 * len(trainable) + 8:
        return [(name, None) for name in entry.weight_names]
    possible = {()} | set(trainable)
    return [(name, np.asarray(dataset[()]) if tuple(dataset.shape) in possible else None)
            for name, dataset in zip(entry.weight_names, entry.datasets())]


def _compile(model, training, optimizer_values, where):
    serialization.check_safe(training, "the training config")
    if not isinstance(training, dict):
        warnings.warn(f"{where}: the model was loaded but its training_config is not a JSON object "
                      f"({str(training)[:100]}); call model.compile() yourself.", stacklevel=3)
        return
    compile_config, notes = legacy_config.upgrade_training_config(training)
    for note in notes:
        warnings.warn(f"{where}: {note}", stacklevel=3)
    if not serialization.compile_from_config(model, compile_config):
        return
    if optimizer_values:
        _restore_optimizer(model, optimizer_values, where)


def _restore_optimizer(model, values, where):
    """Set the optimizer variables when the saved ones match them one for one (else warn, as Keras 3)."""
    optimizer = model.optimizer
    try:  # learn the variable shapes on a copy, so a mismatch leaves the optimizer unbuilt
        probe = type(optimizer).from_config(optimizer.get_config())
        probe.build(model.trainable_weights)
    except (TypeError, ValueError, AttributeError, NotImplementedError) as error:
        warnings.warn(f"{where}: the optimizer state was not restored ({error}); the model starts with a freshly "
                      "initialized optimizer.", stacklevel=4)
        return
    variables = probe.variables
    shapes_match = len(values) == len(variables) and all(
        array is not None and tuple(array.shape) == tuple(variable.shape)
        for (_, array), variable in zip(values, variables))
    if not shapes_match:
        warnings.warn(f"{where}: the saved optimizer state ({len(values)} variables, e.g. "
                      f"{[name for name, _ in values[:3]]}) does not match optimizer '{optimizer.name}' "
                      f"({len(variables)} variables); the model starts with a freshly initialized optimizer, "
                      "as in Keras 3.", stacklevel=4)
        return
    optimizer.build(model.trainable_weights)
    for variable, (_, array) in zip(optimizer.variables, values):
        variable.assign(np.asarray(array).astype(variable.dtype))


# ---------------------------------------------------------------------------------------------
# Writing (the layout Keras 3's legacy writer produces; Keras 3 and numpy_nn read it back)
# ---------------------------------------------------------------------------------------------
def _atomic_h5(filepath, write):
    """Run ``write(h5file)`` on a temporary file next to ``filepath``, then move it into place."""
    import contextlib
    import tempfile
    h5py = require_h5py()
    path = os.fspath(filepath)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                         dir=os.path.dirname(os.path.abspath(path)))
    os.close(handle)
    try:
        with h5py.File(temporary, "w") as h5file:
            write(h5file)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _names(values):
    return np.array([str(v).encode("utf8") for v in values]) if values else np.array([])


def _unique_names(names):
    seen, result = {}, []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        result.append(name if count == 0 else f"{name}_{count}")
    return result


def _write_variables(group, named_arrays):
    group.attrs["weight_names"] = _names([name for name, _ in named_arrays])
    for name, array in named_arrays:
        group.create_dataset(name, data=array)


def write_layer_groups(group, model, keras_version, backend="numpy_nn"):
    """``layer_names`` + one group per layer (legacy order and names ``<layer>/<variable>``)."""
    group.attrs["layer_names"] = _names([layer.name for layer in model.layers])
    group.attrs["backend"] = backend
    group.attrs["keras_version"] = keras_version
    for layer in sorted(model.layers, key=lambda l: l.name):
        variables = legacy_weights(layer)
        names = _unique_names([str(v.path or f"{layer.name}/{v.name}") for v in variables])
        _write_variables(group.create_group(layer.name), [(n, np.asarray(v.data)) for n, v in zip(names, variables)])
    _write_variables(group.create_group("top_level_model_weights"), [])


def _legacy_entry(entry):
    """A Keras 3 config entry in the legacy form: no module / registered_name / build_config keys."""
    entry = {k: v for k, v in entry.items() if k not in ("module", "registered_name", "build_config",
                                                         "compile_config")}
    config = entry.get("config")
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        entry["config"] = dict(config, layers=[_legacy_entry(layer) for layer in config["layers"]])
    return entry


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write ``model`` as a legacy ``.h5`` model file (Keras 3's legacy layout), atomically.

    ``model_config`` holds the Keras 3 config (layer entries without ``module`` keys, as Keras 3
    writes them), ``training_config`` the compile arguments when the model is compiled, and
    ``optimizer_weights`` the optimizer state when it is built. Keras 3 (``keras.saving.load_model``)
    and numpy_nn read it; Keras 2 cannot (the configs use Keras 3 names).
    """
    from .errors import SaveError
    from .keras_file import KERAS_VERSION
    if not overwrite and os.path.exists(filepath):
        raise SaveError(f"{filepath} exists and overwrite=False")
    model_config = json.dumps(_legacy_entry(serialization.serialize_model(model, include_compile=False)))
    training_config = None
    if include_optimizer and getattr(model, "compiled", False):
        compile_config = serialization.compile_config(model)
        optimizer = compile_config.pop("optimizer")
        compile_config["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
        training_config = json.dumps(compile_config)
    optimizer = getattr(model, "optimizer", None)
    optimizer_built = include_optimizer and optimizer is not None and getattr(optimizer, "built", False)

    def write(h5file):
        h5file.attrs["keras_version"] = KERAS_VERSION
        h5file.attrs["backend"] = "numpy_nn"
        h5file.attrs["model_config"] = model_config.encode("utf8")
        if training_config is not None:
            h5file.attrs["training_config"] = training_config.encode("utf8")
        write_layer_groups(h5file.create_group("model_weights"), model, KERAS_VERSION)
        if optimizer_built:
            names = _unique_names([f"{optimizer.name}/{v.name}" for v in optimizer.variables])
            _write_variables(h5file.create_group("optimizer_weights"),
                             [(n, np.asarray(v.data)) for n, v in zip(names, optimizer.variables)])
    _atomic_h5(filepath, write)


def save_weights(model, filepath, overwrite=True):
    """Write the weights-only legacy layout (Keras 2 ``save_weights("w.h5")``), atomically."""
    from .errors import SaveError
    from .keras_file import KERAS_VERSION
    if not overwrite and os.path.exists(filepath):
        raise SaveError(f"{filepath} exists and overwrite=False")
    _atomic_h5(filepath, lambda h5file: write_layer_groups(h5file, model, KERAS_VERSION))
