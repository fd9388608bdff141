"""``numpy-nn explain LAYER``: one layer on a tiny input, every number of its forward and backward pass.

    numpy-nn explain BatchNormalization --shape 2,3 --seed 0 --training
    numpy-nn explain Dense --shape 2,4 --units 3 --activation relu

Nothing here knows a particular layer. The layer runs once, in float64 and on the reference tier
(``nn.config.use_kernels("reference")``, the code that reads like the formulas), on an input
drawn from ``seed``; then

* **forward**: the autograd tape is walked from the output back to the input (the same walk
  ``backward()`` does) and each op is printed in the order it ran: its formula (the first lines
  of the op's docstring), its inputs by name, the values it saved for its backward pass (for
  ``BatchNormTrain``: the batch ``mean``, ``centered``, ``variance``, ``r``, ``x_hat``) and
  its output;
* **state updates**: every non-trainable weight that the call changed, before and after; a layer
  with a ``momentum`` (BatchNormalization) also gets its moving-average formula with the
  numbers, the batch statistic read from the op that computed it;
* **backward**: ``L = sum(w * y)`` with a fixed random ``w`` (drawn from ``seed``); the gradient
  of L w.r.t. each intermediate on the tape, then w.r.t. the input and each trainable weight
  beside its central-difference estimate (``numpy_nn.autograd.gradcheck.numerical_gradient``),
  and Keras's value (the same layer built from ``get_config()``, same weights, ``jax.grad``)
  when Keras is installed with the JAX backend.
"""
import os

import numpy as np

from . import config, layers as layer_module
from .autograd.engine import grad as tape_grad
from .autograd.function import no_grad
from .autograd.gradcheck import numerical_gradient
from .autograd.tensor import Tensor
from .utils import set_random_seed

_SKIPPED_ATTRIBUTES = {"inputs", "needs_input_grad"}


def _fmt(value, indent="      "):
    array = np.asarray(value)
    if array.dtype == bool:
        text = np.array2string(array.astype(int), separator=" ")
    else:
        text = np.array2string(array, precision=5, suppress_small=True, separator=" ", max_line_width=100)
    lines = text.splitlines()
    return "\n".join([lines[0]] + [indent + line for line in lines[1:]])


def _op_formula(fn, lines=6):
    """The op's formula: the first line of its docstring and its first indented (formula) block."""
    import inspect
    for cls in type(fn).__mro__:
        doc = cls.__dict__.get("__doc__")
        if doc:
            text = inspect.cleandoc(doc).splitlines()
            block, started = [], False
            for line in text[1:]:
                if line.startswith("    ") and line.strip():
                    block.append(line.rstrip())
                    started = True
                elif started:
                    break
            return [text[0]] + block[:lines]
    return []


def _tape(output):
    """(op, output Tensor) for every op between the inputs and ``output``, in the order they ran."""
    order, seen = [], set()

    def visit(tensor):
        if id(tensor) in seen or tensor._creator is None:
            return
        seen.add(id(tensor))
        for parent in tensor._creator.inputs:
            visit(parent)
        order.append((tensor._creator, tensor))

    visit(output)
    return order


def _saved_values(fn):
    """The arrays and numbers an op kept for its backward pass, in the order it stored them."""
    inputs = [t.data for t in fn.inputs]
    saved = {}
    for name, value in vars(fn).items():
        if name in _SKIPPED_ATTRIBUTES or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray) and not any(np.shares_memory(value, a) for a in inputs):
            saved[name] = value
        elif isinstance(value, (int, float, np.floating)) and not isinstance(value, bool):
            saved[name] = value
    return saved


def _parse_value(text):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_layer_arguments(tokens):
    """``["--units", "3", "--use-bias", "False", "--center"]`` -> {"units": 3, "use_bias": False, "center": True}."""
    kwargs, i = {}, 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) < 3:
            raise ValueError(f"layer arguments look like --name value (e.g. --units 3); received {token!r}")
        name = token[2:].replace("-", "_")
        if "=" in name:
            name, value = name.split("=", 1)
            kwargs[name] = _parse_value(value)
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            kwargs[name] = _parse_value(tokens[i + 1])
            i += 2
        else:
            kwargs[name] = True
            i += 1
    return kwargs


def _layer_class(name):
    cls = getattr(layer_module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, layer_module.Layer)):
        import difflib
        names = [n for n in dir(layer_module) if isinstance(getattr(layer_module, n), type)
                 and issubclass(getattr(layer_module, n), layer_module.Layer)]
        close = difflib.get_close_matches(name, names, n=3)
        raise ValueError(f"explain: no layer called {name!r} in numpy_nn.layers"
                         + (f"; did you mean {', '.join(close)}?" if close else ""))
    return cls


class Explanation:
    """What ``explain`` found; ``str()`` is what ``numpy-nn explain`` prints.

    ``steps``: list of dicts {"op", "formula", "inputs", "saved", "output"};
    ``updates``: list of dicts {"weight", "before", "after", "momentum", "batch"};
    ``gradients``: list of dicts {"name", "analytic", "numeric", "keras"} for the input and each
    trainable weight; ``intermediate_gradients``: list of (step label, dL/d(step output)).
    """

    def __init__(self, layer, x, training, seed):
        self.layer, self.x, self.training, self.seed = layer, x, training, seed
        self.steps, self.updates, self.gradients, self.intermediate_gradients = [], [], [], []
        self.upstream, self.output, self.keras_note = None, None, ""
        self.updates_hypothetical = False  # True: inference pass; the updates are those of a training call
        self.training_steps = []           # that training call's forward steps

    def __str__(self):
        layer = self.layer
        out = [f"{type(layer).__name__} '{layer.name}'  input shape {self.x.shape}  seed {self.seed}  "
               f"training={self.training}  (float64, reference tier)",
               f"  arguments: {_arguments(layer)}",
               "", "input x:", "  x = " + _fmt(self.x, "      ")]
        if self.initial_weights:
            out += ["", "weights (before the call):"]
            out += [f"  {name} = {_fmt(value, ' ' * (len(name) + 5))}" for name, value in self.initial_weights]
        out += ["", "forward, op by op (the autograd tape, in the order it ran):"]
        out += _step_lines(self.steps)
        if self.updates and self.updates_hypothetical:
            out += ["", "state: this inference call changes none. One call with training=True on this input "
                        "(not applied to the pass above; --training explains it in full):"]
            out += _step_lines(self.training_steps)
        elif self.updates:
            out += ["", "state updated by the call (not on the tape):"]
        for u in self.updates:
            out.append(f"  {u['weight']}:")
            if u["momentum"] is not None and u["batch"] is not None:
                out.append(f"    {u['weight']} = {u['weight']} * momentum + batch {u['statistic']} * (1 - momentum),  "
                           f"momentum = {u['momentum']}")
                out.append(f"    batch {u['statistic']} = {_fmt(u['batch'], ' ' * (len(u['statistic']) + 13))}")
            out.append(f"    old = {_fmt(u['before'], ' ' * 10)}")
            out.append(f"    new = {_fmt(u['after'], ' ' * 10)}")
            if u.get("keras") is not None:
                out.append(f"    Keras new = {_fmt(u['keras'], ' ' * 16)}")
        out += ["", "backward: L = sum(w * y) with w drawn from the seed",
                "  w = " + _fmt(self.upstream, "      ")]
        for label, value in self.intermediate_gradients:
            out.append(f"  dL/d{label} = {_fmt(value, ' ' * (len(label) + 9))}")
        out += ["", "gradients beside their central-difference estimates (eps = 1e-6)"
                + (" and Keras's values" if any(g["keras"] is not None for g in self.gradients) else "") + ":"]
        for g in self.gradients:
            label = f"dL/d{g['name']}"
            width = max(len(label), len("central difference"))
            pad = " " * (width + 5)
            out.append(f"  {label:<{width}} = {_fmt(g['analytic'], pad)}")
            out.append(f"  {'central difference':<{width}} = {_fmt(g['numeric'], pad)}")
            if g["keras"] is not None:
                out.append(f"  {'Keras':<{width}} = {_fmt(g['keras'], pad)}")
            diff = float(np.max(np.abs(g["analytic"] - g["numeric"]), initial=0.0))
            out.append(f"  {'':<{width}}   max |dL/d{g['name']} - central difference| = {diff:.2g}")
        if self.keras_note:
            out += ["", f"Keras: {self.keras_note}"]
        return "\n".join(out)


def _step_lines(steps):
    out = []
    for k, step in enumerate(steps, start=1):
        out.append(f"  [{k}] {step['op']}({', '.join(step['inputs'])})")
        out += [f"      | {line}" for line in step["formula"]]
        for name, value in step["saved"].items():
            out.append(f"      {name} = {_fmt(value, ' ' * (len(name) + 9))}")
        out.append(f"      -> y{k} = {_fmt(step['output'], ' ' * (len(str(k)) + 13))}")
    return out


def _arguments(layer):
    config_dict = layer.get_config()
    shown = {k: v for k, v in config_dict.items() if k not in ("name", "trainable", "dtype") and
             not isinstance(v, dict)}
    return ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "(defaults)"


def _steps(output, names):
    """One dict per op on the tape of ``output``, in the order the ops ran."""
    steps = []
    for k, (fn, tensor) in enumerate(_tape(output), start=1):
        names[id(tensor)] = f"y{k}"
        steps.append({"op": type(fn).__name__, "formula": _op_formula(fn),
                      "inputs": [names.get(id(t), f"constant{tuple(t.shape)}") for t in fn.inputs],
                      "saved": _saved_values(fn), "output": tensor.data, "fn": fn, "tensor": tensor})
    return steps


def _state_updates(layer, before_values, after_values, steps):
    """Every non-trainable weight the call changed; with a ``momentum``, the batch statistic it averaged in
    (the op value saved under the weight's name without ``moving_``: moving_mean <- the op's ``mean``)."""
    momentum = getattr(layer, "momentum", None)
    updates = []
    for w, before, now in zip(layer.weights, before_values, after_values):
        if not w.trainable and not np.array_equal(before, now):
            statistic = w.name.replace("moving_", "")
            batch = next((np.asarray(s["saved"][statistic]).reshape(-1) for s in steps if statistic in s["saved"]),
                         None)
            updates.append({"weight": w.name, "before": before, "after": now, "statistic": statistic,
                            "momentum": momentum, "batch": batch})
    return updates


def _generator_states(layer):
    return {name: value.bit_generator.state for name, value in vars(layer).items()
            if isinstance(value, np.random.Generator)}


def explain(layer, shape, seed=0, training=False, keras=None, **layer_kwargs):
    """Run ``layer`` (a name in ``numpy_nn.layers``, or a Layer) on a tiny input and return an ``Explanation``.

    ``shape``: the input shape, batch first (e.g. (2, 3)); the input is standard normal from
    ``seed``, which also seeds the weights' initializers and the upstream weights ``w``.
    ``training``: call the layer in training mode (batch statistics, dropout masks).
    ``keras``: None = compare with Keras when installed, False = skip, True = require it.
    ``layer_kwargs``: the layer's constructor arguments (``units=3``).
    """
    shape = tuple(int(n) for n in shape)
    previous = config.floatx()
    config.set_floatx("float64")
    try:
        set_random_seed(seed)
        layer = _layer_class(layer)(**layer_kwargs) if isinstance(layer, str) else layer
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(shape)
        with no_grad():
            layer(Tensor(x), training=False)  # build the weights; inference mode changes no state
        initial = [w.data.copy() for w in layer.weights]
        generators = _generator_states(layer)
        result = Explanation(layer, x, training, seed)
        result.initial_weights = [(w.name, v) for w, v in zip(layer.weights, initial)]

        def run(inputs, mode=training):
            for name, state in generators.items():
                getattr(layer, name).bit_generator.state = state
            set_random_seed(seed)  # the same dropout mask on every call
            with config.use_kernels("reference"):
                return layer(inputs, training=mode)

        x_tensor = Tensor(x.copy(), requires_grad=True)
        output = run(x_tensor)
        after = [w.data.copy() for w in layer.weights]
        result.output = output.data
        result.steps = _steps(output, {id(x_tensor): "x", **{id(w): w.name for w in layer.weights}})
        result.updates = _state_updates(layer, initial, after, result.steps)
        if not training and any(not w.trainable for w in layer.weights):
            # what one training call on this input would do to the state (then put back as it was)
            probe = Tensor(x.copy(), requires_grad=True)
            probe_names = {id(probe): "x", **{id(w): w.name for w in layer.weights}}
            result.training_steps = _steps(run(probe, mode=True), probe_names)
            result.updates = _state_updates(layer, after, [w.data.copy() for w in layer.weights], result.training_steps)
            result.updates_hypothetical = True
            for w, value in zip(layer.weights, after):
                w.data[...] = value

        # backward
        result.upstream = w_up = rng.standard_normal(output.shape)
        loss = (output * Tensor(w_up)).sum()
        inner = [s["tensor"] for s in result.steps[:-1]]
        leaves = [x_tensor] + list(layer.trainable_weights)
        grads = tape_grad(loss, inner + leaves)
        result.intermediate_gradients = [(f"y{k}", g.data) for k, g in enumerate(grads[:len(inner)], start=1)]

        def restore():
            for w, value in zip(layer.weights, after):
                if not w.trainable:
                    w.data[...] = value

        def loss_value():
            with no_grad():
                value = float(np.sum(run(x_tensor).data * w_up))
            restore()
            return value

        for leaf, g in zip(leaves, grads[len(inner):]):
            name = "x" if leaf is x_tensor else leaf.name
            result.gradients.append({"name": name, "analytic": g.data,
                                     "numeric": numerical_gradient(loss_value, leaf.data),
                                     "keras": None})
        if keras is not False:
            try:
                _compare_with_keras(result, layer, initial, keras)
            except Exception as error:  # a broken Keras / JAX install: say so, unless Keras was required
                if keras:
                    raise
                result.keras_note = f"could not run ({type(error).__name__}: {error})"
        return result
    finally:
        config.set_floatx(previous)


def _compare_with_keras(result, layer, initial, required):
    import importlib.util
    if importlib.util.find_spec("keras") is None:
        if required:
            raise ImportError('explain(keras=True) needs Keras: pip install -e ".[keras]"')
        result.keras_note = 'not installed (pip install -e ".[keras]" to see its values)'
        return
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    if keras.backend.backend() != "jax":
        result.keras_note = f"skipped: needs KERAS_BACKEND=jax (the backend is {keras.backend.backend()!r})"
        return
    import jax
    import jax.numpy as jnp
    try:
        keras_config = {**layer.get_config(), "dtype": "float32"}
        theirs = getattr(keras.layers, type(layer).__name__).from_config(keras_config)
        theirs.build(result.x.shape)
        theirs.set_weights([v.astype(np.float32) for v in initial])
    except Exception as error:  # a layer Keras does not have, or a config it reads differently
        if required:
            raise
        result.keras_note = f"could not build the Keras layer: {type(error).__name__}: {error}"
        return
    trainable = [v.value for v in theirs.trainable_variables]
    non_trainable = [v.value for v in theirs.non_trainable_variables]
    upstream = jnp.asarray(result.upstream, dtype=jnp.float32)

    def loss(x, tv):
        out, _ = theirs.stateless_call(tv, non_trainable, x, training=result.training)
        return jnp.sum(out * upstream)

    gx, gw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(result.x, dtype=jnp.float32), trainable)
    for entry, value in zip(result.gradients, [gx] + list(gw)):
        entry["keras"] = np.asarray(value, dtype=np.float64)
    y, _ = theirs.stateless_call(trainable, non_trainable, jnp.asarray(result.x, dtype=jnp.float32),
                                 training=result.training)
    result.keras_output = np.asarray(y, dtype=np.float64)
    _, updated = theirs.stateless_call(trainable, non_trainable, jnp.asarray(result.x, dtype=jnp.float32),
                                       training=True)  # the updates shown are always those of a training call
    names = [v.name for v in theirs.non_trainable_variables]
    for update in result.updates:
        if update["weight"] in names:
            update["keras"] = np.asarray(updated[names.index(update["weight"])], dtype=np.float64)
    result.keras_note = (f"the same layer built from get_config() with these weights, float32, jax.grad; "
                         f"max |output difference| = {float(np.max(np.abs(result.keras_output - result.output))):.2g}")
