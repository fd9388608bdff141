"""``compare(keras_model, inputs)``: run Keras and numpy_nn side by side, layer by layer.

For every layer (in ``model.layers`` order) both sides compute the layer's output on the same
inputs: Keras through ``keras.Model(inputs, [layer outputs...])``, numpy_nn through
``nn.function``. Each row of the table gives

    layer name | class | output shape | max |ours - keras| | max relative diff

with ``relative = max|ours - keras| / max|keras|``. The first layer whose relative difference
*jumps* (above ``1e-5`` and more than 10x the previous row's) is marked: that is where to look.
With ``training=True`` BatchNormalization uses batch statistics on both sides (comparable);
dropout masks come from different random generators and will differ.
"""
import numpy as np

from .keras_import import import_keras

JUMP_FACTOR = 10.0       # a row is a jump if its relative diff exceeds 10x the previous row's ...
JUMP_THRESHOLD = 1e-5    # ... and is above this


def _flat(structure):
    if isinstance(structure, dict):
        return [x for key in sorted(structure) for x in _flat(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [x for item in structure for x in _flat(item)]
    return [structure]


def _keras_node_outputs(keras_model):
    """``[(layer, [output tensors])]`` for each non-input layer: its first call inside this model."""
    from keras.src.ops.function import make_node_key
    rows = []
    graph = getattr(keras_model, "_functional", None) or keras_model  # a Sequential keeps its graph there
    for layer in keras_model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        for index, node in enumerate(layer._inbound_nodes):
            if make_node_key(layer, index) in graph._nodes:
                rows.append((layer, _flat(node.output_tensors)))
                break
    return rows


def _our_node_outputs(model):
    from ..layers.input_layer import InputLayer
    outputs = {}
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        for node in layer._inbound_nodes:
            if node in model._graph.nodes and not node.is_input:
                outputs[layer.name] = list(node.outputs)
                break
    return outputs


def _named_inputs(keras_model, inputs):
    """User inputs (an array, a list in ``keras_model.inputs`` order, or a dict by input name) -> dict."""
    names = [t.name for t in keras_model.inputs]
    layer_names = [t._keras_history[0].name for t in keras_model.inputs]
    if isinstance(inputs, dict):
        return {layer_names[names.index(k)] if k in names else k: np.asarray(v) for k, v in inputs.items()}
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(values) != len(layer_names):
        raise ValueError(f"The Keras model has {len(layer_names)} inputs {layer_names}, received {len(values)} arrays")
    return {name: np.asarray(value) for name, value in zip(layer_names, values)}


def layer_outputs(keras_model, inputs, training=False, model=None):
    """``[(name, class, keras_array, numpy_nn_array)]`` for every layer output (see the module doc)."""
    keras = import_keras("nn.interop.compare")
    from ..models.functional import function
    from .from_keras import from_keras
    model = model if model is not None else from_keras(keras_model)
    named = _named_inputs(keras_model, inputs)
    keras_rows = _keras_node_outputs(keras_model)
    ours = _our_node_outputs(model)
    rows = [(layer, tensors) for layer, tensors in keras_rows if layer.name in ours]
    probe = keras.Model(keras_model.inputs, [t for _, tensors in rows for t in tensors])
    keras_feed = [named[t._keras_history[0].name].astype(t.dtype) for t in keras_model.inputs]
    keras_values = probe(keras_feed, training=training)
    keras_values = [np.asarray(v) for v in _flat(keras_values)]
    our_tensors = [t for layer, _ in rows for t in ours[layer.name]]
    our_inputs = list(model.inputs)
    fn = function(our_inputs, our_tensors)
    our_values = fn([named[t._keras_history.layer.name] for t in our_inputs], training=training)
    our_values = [np.asarray(v) for v in _flat(our_values)]
    result, position = [], 0
    for layer, tensors in rows:
        for i in range(len(tensors)):
            name = layer.name if len(tensors) == 1 else f"{layer.name}[{i}]"
            result.append((name, type(layer).__name__, keras_values[position], our_values[position]))
            position += 1
    return result


def compare(keras_model, inputs, training=False, print_table=True, model=None, print_fn=print):
    """Per-layer differences between ``keras_model`` and its numpy_nn twin on ``inputs``.

    ``model`` defaults to ``from_keras(keras_model)``. Returns a list of dicts with keys
    ``layer``, ``class``, ``shape``, ``max_abs``, ``max_rel`` and ``jump`` (True on the first
    layer where the relative difference jumps). Prints the table when ``print_table``.
    """
    rows, previous, marked = [], 0.0, False
    for name, class_name, theirs, ours in layer_outputs(keras_model, inputs, training, model):
        if ours.shape != theirs.shape:
            max_abs = max_rel = float("inf")
        else:
            diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
            max_abs = float(diff.max()) if diff.size else 0.0
            scale = float(np.abs(theirs).max()) if theirs.size else 0.0
            max_rel = max_abs / max(scale, 1e-12)
        jump = (not marked) and max_rel > JUMP_THRESHOLD and max_rel > JUMP_FACTOR * previous
        marked = marked or jump
        rows.append({"layer": name, "class": class_name, "shape": tuple(theirs.shape), "max_abs": max_abs,
                     "max_rel": max_rel, "jump": jump})
        previous = max_rel
    if print_table:
        print_fn(format_table(rows))
    return rows


def format_table(rows):
    """The comparison rows as a fixed-width text table (``<-- jump`` marks the first jump)."""
    header = f"{'layer':32s} {'class':22s} {'output shape':20s} {'max abs':>10s} {'max rel':>10s}"
    lines = [header, "-" * len(header)]
    for row in rows:
        mark = "  <-- jump" if row["jump"] else ""
        lines.append(f"{row['layer'][:32]:32s} {row['class'][:22]:22s} {str(row['shape'])[:20]:20s} "
                     f"{row['max_abs']:10.3g} {row['max_rel']:10.3g}{mark}")
    worst = max(rows, key=lambda r: r["max_rel"]) if rows else None
    if worst is not None:
        lines.append(f"worst: {worst['layer']} (max rel {worst['max_rel']:.3g})")
    return "\n".join(lines)


def random_inputs(keras_model, seed=0, batch_size=2):
    """One random array per model input: standard normal floats, small integers for int inputs."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in keras_model.inputs:
        shape = [batch_size if i == 0 and d is None else (d or 8) for i, d in enumerate(tensor.shape)]
        dtype = np.dtype(tensor.dtype)
        if dtype.kind in "iu":
            arrays.append(rng.integers(0, 2, shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def input_names(keras_model):
    """The names a dict of inputs may use for ``keras_model``: its Input layers' names, in input order."""
    return [t._keras_history[0].name for t in keras_model.inputs]


def _check_input_dict(keras_model, inputs, source):
    """A dict of inputs must name every model input once (by Input layer name or tensor name)."""
    layer_names = input_names(keras_model)
    aliases = dict(zip([t.name for t in keras_model.inputs], layer_names))
    given = {aliases.get(key, key) for key in inputs}
    unknown = sorted(key for key in inputs if aliases.get(key, key) not in layer_names)
    missing = [name for name in layer_names if name not in given]
    if unknown or missing:
        raise ValueError(f"{source} has arrays {sorted(inputs)}, but the model's inputs are named {layer_names} "
                         f"(missing {missing}, unknown {unknown}); save one array per input name, e.g. "
                         f"np.savez('x.npz', **{{{', '.join(repr(n) + ': ...' for n in layer_names)}}})")


def compare_file(path, x=None, seed=0, training=False, print_table=True, print_fn=print):
    """``numpy-nn compare model.keras``: load ``path`` with Keras and with numpy_nn, then ``compare``.

    ``x``: an array (one input), a list in input order, or a dict keyed by input name (what an
    ``.npz`` file holds, for a model with several inputs). When ``x`` is None the comparison runs
    on random inputs (``random_inputs(keras_model, seed)``: a batch of 2, standard normal floats,
    0/1 for integer inputs), and says so, with the seed, before the table.
    """
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    keras = import_keras("numpy-nn compare")
    from ..saving import load_model
    keras_model = keras.saving.load_model(path, compile=False)
    model = load_model(path, compile=False)
    if x is None:
        inputs = random_inputs(keras_model, seed)
        if print_table:
            shapes = ", ".join(f"{name} {a.shape} {a.dtype}" for name, a in zip(input_names(keras_model), inputs))
            print_fn(f"No input given: comparing on RANDOM inputs (seed {seed}; standard normal floats, 0/1 for "
                     f"integer inputs): {shapes}. Pass --input x.npy (or x.npz keyed by input name) to compare "
                     "on your own data.")
    else:
        if isinstance(x, dict):
            _check_input_dict(keras_model, x, "the input dict")
        inputs = x
    return compare(keras_model, inputs, training=training, print_table=print_table, model=model, print_fn=print_fn)
