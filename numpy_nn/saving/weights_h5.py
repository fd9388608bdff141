"""Keras 3's weights layout in HDF5 (``model.weights.h5`` inside a ``.keras`` zip, or ``*.weights.h5``).

The tree (``docs/keras-conventions.md``, section "The .keras file")::

    layers/<group>/vars/0, 1, ...      one group per layer of ``model.layers``; attrs {name: layer name}
    layers/<nested model>/layers/...   nested models nest the same way, plus their own ``vars``
    optimizer/vars/0, 1, ...           iteration, learning_rate, slots (only if the optimizer is built)
    vars                               the model's own variables (none); attrs {name: model name}

``<group>`` is NOT the user's layer name: it is ``snake_case(ClassName)`` with a counter per
container (``dense``, ``dense_1``, ...) in ``model.layers`` order. Inside a ``vars`` group the
datasets are named ``"0"``, ``"1"``, ... (read in numeric order): the variables that were created
trainable first, then the non-trainable ones, each in creation order.

Reading is two-phase: every dataset is checked (present, numeric, right shape) and read into a
plan first; only a complete plan is applied, so a failed load leaves the model unchanged.
"""
import warnings

import numpy as np

from .errors import LoadError, SaveError, require_h5py


class Entry:
    """One ``<path>/vars`` group: the object it belongs to and the variables stored there."""

    def __init__(self, path, name, owner, variables):
        self.path, self.name, self.owner, self.variables = path, name, owner, list(variables)

    @property
    def vars_path(self):
        return f"{self.path}/vars" if self.path else "vars"

    def describe(self):
        kind = type(self.owner).__name__
        return f"'{self.name}' ({kind}, h5 group '{self.vars_path}')"


def _join(*parts):
    return "/".join(p for p in parts if p)


def _group_base(layer):
    """snake_case of the class name Keras will see: Functional for graph models, Keras's name otherwise."""
    from ..naming import to_snake_case
    from ..models.functional import Model
    from ..models.sequential import Sequential
    from .serialization import _keras_identity
    if isinstance(layer, Sequential):
        return "sequential"
    if isinstance(layer, Model):
        return "functional"
    return to_snake_case(_keras_identity(type(layer))[1])


def _unique(base, used):
    """Keras's per-container counter: dense, dense_1, dense_2, ..."""
    if base in used:
        used[base] += 1
        return f"{base}_{used[base]}"
    used[base] = 0
    return base


def file_variables(layer):
    """A layer's variables in file order: created-trainable first, then non-trainable."""
    own = list(getattr(layer, "_own_variables", []))
    created_trainable = [v for v in own if getattr(v, "_created_trainable", v.trainable)]
    return created_trainable + [v for v in own if v not in created_trainable]


def model_entries(model, include_optimizer=True):
    """Every ``vars`` group of ``model`` in Keras's order (see the module docstring)."""
    entries, visited = [], set()
    _container_entries(model, "", entries, visited)
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and getattr(optimizer, "built", False):
        entries.append(Entry("optimizer", optimizer.name, optimizer, optimizer.variables))
    return entries


def _container_entries(model, path, entries, visited):
    visited.add(id(model))
    entries.append(Entry(path, model.name, model, file_variables(model)))
    used = {}
    for layer in model.layers:
        child = _join(path, "layers", _unique(_group_base(layer), used))
        _layer_entries(layer, child, entries, visited)


def _layer_entries(layer, path, entries, visited):
    from ..models.functional import Model
    if id(layer) in visited:
        return
    if isinstance(layer, Model):
        if not layer._is_graph_network:
            raise SaveError(f"Cannot map the weights of nested model '{layer.name}': it has no layer graph")
        _container_entries(layer, path, entries, visited)
        return
    visited.add(id(layer))
    entries.append(Entry(path, layer.name, layer, file_variables(layer)))
    # Layers made of layers: Keras walks their attributes (public names first, sorted).
    for attribute in sorted(vars(layer), key=lambda a: "~" + a if a.startswith("_") else a):
        value = getattr(layer, attribute)
        if attribute in ("_sublayers", "_inbound_nodes"):
            continue
        children = value if isinstance(value, (list, tuple)) else [value]
        if children and all(_is_layer(c) for c in children):
            if isinstance(value, (list, tuple)):
                used = {}
                for c in children:
                    _layer_entries(c, _join(path, attribute, _unique(_group_base(c), used)), entries, visited)
            else:
                _layer_entries(value, _join(path, attribute), entries, visited)


def _is_layer(value):
    from ..layers.base import Layer
    return isinstance(value, Layer)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def _arrays_for(entry):
    layer = entry.owner
    if getattr(layer, "lora_enabled", False):  # Keras stores the merged kernel (and bias) only
        arrays = [np.asarray(layer.effective_kernel().data)]
        return arrays + ([np.asarray(layer.bias.data)] if layer.bias is not None else [])
    return [np.asarray(v.data) for v in entry.variables]


def write_h5(model, h5file, include_optimizer=True):
    """Write the Keras weights tree of ``model`` into an open, writable ``h5py.File``."""
    for entry in model_entries(model, include_optimizer):
        group = h5file.require_group(entry.vars_path)
        group.attrs["name"] = entry.name
        for i, array in enumerate(_arrays_for(entry)):
            group.create_dataset(str(i), data=array)


def h5_bytes(model, include_optimizer=True):
    """The bytes of a ``.weights.h5`` file for ``model`` (written in memory)."""
    import io
    h5py = require_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        write_h5(model, h5file, include_optimizer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
# HDF5 filters that are built into libhdf5/h5py (deflate, shuffle, fletcher32, szip, nbit, scaleoffset,
# lzf). Any other filter id would make HDF5 search its plugin path and load a shared library.
BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def _hard_link_child(group, key, h5py):
    """``group[key]`` if it is a hard link; soft and external links are refused without being resolved."""
    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise LoadError(f"h5 entry '{group.name}/{key}' is a {type(link).__name__}; only plain datasets and "
                        "groups are accepted (external and soft links are refused)")
    return group[key]


def _get_group(h5file, path, h5py):
    node = h5file
    for part in path.split("/"):
        node = _hard_link_child(node, part, h5py)  # never `part in node`: that resolves external links
        if node is None:
            return None
        if not isinstance(node, h5py.Group):
            raise LoadError(f"h5 entry '{node.name}' should be a group, found a {type(node).__name__}")
    return node


def _read_group_arrays(group, h5py, describe):
    """Datasets "0".."n-1" of a vars group, in numeric order, as arrays."""
    keys = list(group.keys())
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
        raise LoadError(f"Weights of {describe}: expected datasets named 0..{len(keys) - 1}, found {sorted(keys)}")
    arrays = []
    for i in range(len(keys)):
        dataset = _hard_link_child(group, str(i), h5py)
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiub" or dataset.shape is None:
            raise LoadError(f"Weights of {describe}: entry {i} is not a numeric dataset")
        _check_storage(dataset, describe, i)
        arrays.append(dataset)
    return arrays


def _check_storage(dataset, describe, index):
    """Refuse datasets whose data HDF5 would fetch from elsewhere (other files, plugins)."""
    if dataset.is_virtual or dataset.external:
        kind = "a virtual dataset" if dataset.is_virtual else "stored in an external raw file"
        raise LoadError(f"Weights of {describe}: entry {index} is {kind}; only data inside the file is read")
    plist = dataset.id.get_create_plist()
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    if filters - BUILTIN_FILTERS:
        raise LoadError(f"Weights of {describe}: entry {index} uses HDF5 filter(s) "
                        f"{sorted(filters - BUILTIN_FILTERS)}, which would need a plugin library; only built-in filters are accepted")


def plan_h5(model, h5file, include_optimizer=True, where="the weights file"):
    """Check every dataset against the model; return ``(assignments, optimizer_plan)`` or raise LoadError.

    ``assignments`` is a list of ``(variable, array)``; ``optimizer_plan`` is None or
    ``(arrays, needs_build)``. Nothing is modified here.
    """
    h5py = require_h5py()
    entries = model_entries(model, include_optimizer=False)
    assignments, expected_paths = [], set()
    for entry in entries:
        expected_paths.add(entry.vars_path)
        group = _get_group(h5file, entry.vars_path, h5py)
        layer = entry.owner
        lora = getattr(layer, "lora_enabled", False)
        targets = [layer.kernel] + ([layer.bias] if layer.bias is not None else []) if lora else entry.variables
        datasets = [] if group is None else _read_group_arrays(group, h5py, entry.describe())
        if len(datasets) != len(targets):
            expected = [tuple(v.shape) for v in targets]
            found = [tuple(d.shape) for d in datasets]
            missing = "is missing from" if group is None else "does not match"
            raise LoadError(f"Cannot load {where}: layer {entry.describe()} {missing} the file: the layer has "
                            f"{len(targets)} variable(s) {expected}, the file has {len(found)} {found}")
        for variable, dataset in zip(targets, datasets):
            if tuple(dataset.shape) != tuple(variable.shape):
                raise LoadError(f"Cannot load {where}: layer {entry.describe()} variable '{variable.name}' has shape "
                                f"{tuple(variable.shape)}, but the file has shape {tuple(dataset.shape)}")
            assignments.append((variable, np.asarray(dataset[()]).astype(variable.dtype)))
        if lora:
            assignments += [(v, np.zeros(v.shape, v.dtype)) for v in (layer.lora_kernel_a, layer.lora_kernel_b)]
    unexpected = _unexpected_groups(h5file, expected_paths, h5py)
    if unexpected:
        raise LoadError(f"Cannot load {where}: it holds weights for layers this model does not have "
                        f"(h5 groups {unexpected}); the model's groups are {sorted(expected_paths)}")
    optimizer_plan = _plan_optimizer(model, h5file, h5py, where) if include_optimizer else None
    return assignments, optimizer_plan


def _unexpected_groups(h5file, expected_paths, h5py):
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("vars") and name.split("/")[-1] == "vars" \
                and not name.startswith("optimizer") and len(obj.keys()) and name not in expected_paths:
            found.append(name)
    h5file.visititems(visit)
    return sorted(found)


def _plan_optimizer(model, h5file, h5py, where):
    optimizer = getattr(model, "optimizer", None)
    group = _get_group(h5file, "optimizer/vars", h5py)
    if group is None or optimizer is None:
        return None
    datasets = _read_group_arrays(group, h5py, "the optimizer")
    needs_build = not optimizer.built
    if needs_build:  # learn the variable shapes on a throwaway copy, so a failure changes nothing
        probe = type(optimizer).from_config(optimizer.get_config())
        probe.build(model.trainable_weights)
        variables = probe.variables
    else:
        variables = optimizer.variables
    if len(datasets) != len(variables):
        warnings.warn(f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
                      f"{len(variables)} variables whereas the saved optimizer has {len(datasets)} variables.",
                      stacklevel=4)
        return None
    arrays = []
    for variable, dataset in zip(variables, datasets):
        if tuple(dataset.shape) != tuple(variable.shape):
            raise LoadError(f"Cannot load {where}: optimizer variable '{variable.path}' has shape "
                            f"{tuple(variable.shape)}, but the file has shape {tuple(dataset.shape)}")
        arrays.append(np.asarray(dataset[()]).astype(variable.dtype))
    return arrays, needs_build


def apply_plan(model, assignments, optimizer_plan):
    """Assign a checked plan (cannot fail half-way: every shape was checked)."""
    for variable, array in assignments:
        variable.assign(array)
    if optimizer_plan is not None:
        arrays, needs_build = optimizer_plan
        if needs_build:
            model.optimizer.build(model.trainable_weights)
        for variable, array in zip(model.optimizer.variables, arrays):
            variable.assign(array)


def read_h5_bytes(data, model, include_optimizer=True, where="the weights file"):
    """Check and load weights from the bytes of an h5 file into ``model`` (all or nothing)."""
    import io
    h5py = require_h5py()
    try:
        h5file = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as error:
        raise LoadError(f"Cannot load {where}: it is not a readable HDF5 file ({error})") from error
    with h5file:
        try:
            assignments, optimizer_plan = plan_h5(model, h5file, include_optimizer, where)
        except LoadError:
            raise
        except (KeyError, OSError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            raise LoadError(f"Cannot load {where}: the HDF5 content is damaged ({type(error).__name__}: "
                            f"{error})") from error
    apply_plan(model, assignments, optimizer_plan)
