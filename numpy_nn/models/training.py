"""The training loop: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` calls.

One training step, exactly as Keras's trainer does it, on the autograd tape::

    y_pred = model(x_batch, training=True)                    # BN batch stats, dropout active
    loss   = sum_k w_k * loss_k(y_k, y_pred_k, sample_weight) + sum(model.losses)
    grads  = nn.grad(loss, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)            # in place

The reported ``loss`` is a running mean over the epoch, each batch weighted by its sample count:
``sum_b n_b * L_b / sum_b n_b`` (L_b computed before that batch's update, in training mode,
regularization included). Metrics accumulate the same way; ``val_*`` come from ``evaluate()``
on the end-of-epoch weights in inference mode.

Data follow Keras's array adapter: ``validation_split`` takes the *last* fraction before any
shuffling; ``shuffle=True`` draws ``np.random.permutation(N)`` (NumPy's global RNG) at the start
of every epoch, and the first ``fit`` after ``compile`` spends one extra permutation first (Keras
iterates one batch to build its compiled loss), so ``np.random.seed(s)`` reproduces Keras's order;
the last partial batch is kept. Logs given to callbacks are sorted by key (Keras's
``pythonify_logs``), so History keys are in alphabetical order, ``val_*`` after the others.
"""
import math

import numpy as np

from .. import config
from ..autograd.engine import grad as tape_grad
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from ..layers.inputs import split_inputs, to_array
from ..ops.node import flatten, get_mask


def _to_array(value, what):
    """Fed data as an array with a batch axis; floats become floatx, as Keras feeds them."""
    array = to_array(value, what)
    if array.dtype.kind == "f" and array.dtype != np.dtype(config.floatx()):
        array = array.astype(config.floatx())
    if array.ndim == 0:
        raise ValueError(f"{what} must have a batch axis; received a scalar {array!r}")
    return array


def _pythonify(logs):
    """Sorted logs, as Python floats where possible (per-class or per-threshold results stay arrays,
    as Keras's ``pythonify_logs`` keeps them)."""
    from ..callbacks import pythonify_logs
    return pythonify_logs(logs)


class _Data:
    """Arrays for one of fit/evaluate/predict: flat lists ``x``, ``y``, ``sample_weight`` (or None)."""

    def __init__(self, x, y=None, sample_weight=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        lengths = {}
        for role, arrays in (("x", x), ("y", y), ("sample_weight", sample_weight)):
            for i, a in enumerate(arrays or []):
                if a is not None:
                    lengths.setdefault(role, []).append((i, len(a)))
        sizes = {n for entries in lengths.values() for _, n in entries}
        if len(sizes) > 1:
            detail = ", ".join(f"{role}{[n for _, n in entries]}" for role, entries in lengths.items())
            raise ValueError(f"Data cardinality is ambiguous: all inputs, targets and sample weights must have "
                             f"the same number of samples. Received sizes: {detail}")
        self.size = sizes.pop() if sizes else 0
        if self.size == 0:
            raise ValueError("Expected non-empty arrays: received arrays with 0 samples")

    def shapes(self):
        """``{"x": (100, 5), "y": (100, 3)}`` (a list of shapes for several arrays) for error messages."""
        result = {}
        for role, arrays in (("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)):
            shapes = [None if a is None else tuple(a.shape) for a in arrays or []]
            if shapes:
                result[role] = shapes[0] if len(shapes) == 1 else shapes
        return result

    def take(self, index):
        pick = (lambda a: None if a is None else a[index])
        return ([pick(a) for a in self.x], None if self.y is None else [pick(a) for a in self.y],
                None if self.sample_weight is None else [pick(a) for a in self.sample_weight])

    def split(self, validation_split):
        split_at = int(math.floor(self.size * (1.0 - validation_split)))
        if split_at == 0 or split_at == self.size:
            raise ValueError(f"Training data contains {self.size} samples, which is not sufficient to split it "
                             f"into a validation and training set as specified by "
                             f"`validation_split={validation_split}`.")
        first, second = slice(0, split_at), slice(split_at, self.size)
        return _Data(*self.take(first)), _Data(*self.take(second))


def _batches(size, batch_size, shuffle):
    """Index (slice or array) of each batch of one epoch, drawing NumPy's global RNG like Keras."""
    steps = int(math.ceil(size / batch_size))
    permutation = np.random.permutation(size) if shuffle and shuffle != "batch" else None
    for i in range(steps):
        start, stop = i * batch_size, min((i + 1) * batch_size, size)
        if shuffle == "batch":
            yield np.random.permutation(stop - start) + start
        elif shuffle:
            yield permutation[start:stop]
        else:
            yield slice(start, stop)


def mask_to_sample_weight(sample_weight, mask, reduction, dtype):
    """Keras's ``losses.loss.apply_mask``: the mask carried by a prediction as sample weights.

    For the averaging reductions ("sum_over_batch_size", "mean") a kept position weighs
    total / valid and a masked one 0, so the loss is the mean over the kept positions only; for
    the others (and for metrics, which pass "sum") the weights are the mask as 0/1. A given
    ``sample_weight`` is multiplied in (ranks fixed first, as Keras does)."""
    mask = np.asarray(mask, dtype=bool)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = np.sum(mask, dtype=dtype)
        weight = np.asarray(mask.size, dtype=dtype) / valid if valid else np.zeros((), dtype=dtype)
        float_mask = np.where(mask, weight, 0).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    sample_weight = np.asarray(sample_weight, dtype=dtype)
    if float_mask.ndim == sample_weight.ndim + 1 and float_mask.shape[-1] == 1:
        float_mask = float_mask[..., 0] if sample_weight.ndim != 1 else float_mask
        sample_weight = sample_weight[:, None] if sample_weight.ndim == 1 else sample_weight
    elif sample_weight.ndim == float_mask.ndim + 1 and sample_weight.shape[-1] == 1:
        sample_weight = sample_weight[..., 0]
    try:
        return sample_weight * float_mask
    except ValueError:  # Keras fails here too, e.g. weights (N,) against a sequence mask (N, T)
        raise ValueError(f"sample_weight of shape {sample_weight.shape} cannot weigh a masked output whose mask "
                         f"has shape {mask.shape}: give one weight per masked position, shape {mask.shape}") from None


def _check_batch_size(batch_size, what="batch_size"):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"`{what}` must be a positive integer; received {what}={batch_size!r}")
    return int(batch_size)


class Trainer:
    """Mixin giving ``Model`` Keras's training API (see the module docstring)."""

    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._compile_config = {}
        self._compile_built = False

    # -- compile ----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configure training: optimizer, loss(es), loss weights and metrics (strings or objects).

        For several outputs, ``loss``/``loss_weights``/``metrics`` may be lists (in output order) or
        dicts keyed by output name; a single loss applies to every output.
        """
        from .. import optimizers
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._user_loss, self._user_loss_weights = loss, loss_weights
        self._user_metrics, self._user_weighted_metrics = metrics, weighted_metrics
        for name, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"Expected `{name}` argument to be a list, tuple, or dict. Received instead: "
                                 f"{name}={value!r} of type {type(value).__name__}")
        _check_names_now(loss, metrics, weighted_metrics)
        self._compile_config = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                                "metrics": metrics, "weighted_metrics": weighted_metrics,
                                "run_eagerly": run_eagerly, "steps_per_execution": steps_per_execution,
                                "jit_compile": jit_compile}
        self.compiled = True
        self._compile_built = False
        self.stop_training = False

    def _assert_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before using the model: `{method}()` was called on "
                             f"model '{self.name}' before compile().")

    def _output_names_for(self, count):
        names = list(getattr(self, "output_names", None) or [])
        return names if len(names) == count else [f"output_{i + 1}" for i in range(count)]

    def _per_output(self, value, names, argument):
        """A user argument (one value, list, or dict by output name) -> one entry per output."""
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"Invalid `{argument}`: keys {unknown} are not output names of model "
                                 f"'{self.name}'; expected keys among {names}")
            return [value.get(name) for name in names]
        if isinstance(value, (list, tuple)) and argument != "metrics":
            if len(value) != len(names):
                raise ValueError(f"Invalid `{argument}`: received {len(value)} entries for a model with "
                                 f"{len(names)} outputs {names}")
            return list(value)
        return [value] * len(names)

    def _build_compile(self, y_true, y_pred):
        """Resolve losses and metrics from the first batch's shapes (Keras's CompileLoss/CompileMetrics)."""
        from .. import losses, metrics as metrics_module
        n = len(y_pred)
        names = self._output_names_for(n)
        self._output_names_used = names
        multi = n > 1
        if y_true is not None and len(y_true) != n:
            raise ValueError(f"Model '{self.name}' has {n} outputs {names}, but {len(y_true)} target arrays "
                             "were given")
        loss_ids = self._per_output(self._user_loss, names, "loss") if self._user_loss is not None else [None] * n
        if self._user_loss_weights is None:
            weights = [None] * n
        else:
            weights = self._per_output(self._user_loss_weights, names, "loss_weights")
            if isinstance(self._user_loss_weights, dict):
                weights = [1.0 if w is None else w for w in weights]
        shape_true = (lambda i: y_true[i].shape if y_true is not None else y_pred[i].shape)
        self._flat_losses = [None if ident is None else
                             (losses.resolve(ident, shape_true(i), y_pred[i].shape), weights[i])
                             for i, ident in enumerate(loss_ids)]
        active = [i for i, entry in enumerate(self._flat_losses) if entry is not None]
        if isinstance(self._user_loss, dict):  # Keras lists per-output losses in the loss dict's order
            order = list(self._user_loss)
            active.sort(key=lambda i: order.index(names[i]))
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers = [(i, f"{names[i]}_loss", metrics_module.Mean(name=f"{names[i]}_loss"))
                                      for i in active] if len(active) > 1 else []

        def build_metric_lists(user, argument):
            if user is None:
                return [[] for _ in range(n)]
            if isinstance(user, dict):
                per_output = self._per_output(user, names, argument)
            elif not multi:
                per_output = [user]
            else:
                if len(user) != n or not all(isinstance(m, (list, tuple)) or m is None for m in user):
                    raise ValueError(f"Invalid `{argument}`: for a model with {n} outputs {names}, pass a list "
                                     f"of {n} lists or a dict keyed by output name; received {user!r}")
                per_output = list(user)
            built = []
            for i, entry in enumerate(per_output):
                entry = [] if entry is None else (list(entry) if isinstance(entry, (list, tuple)) else [entry])
                objects = []
                for ident in entry:
                    metric = metrics_module.resolve(ident, shape_true(i), y_pred[i].shape)
                    if isinstance(ident, str):
                        metric.name = ident
                    objects.append(metric)
                built.append(objects)
            return built

        self._flat_metrics = build_metric_lists(self._user_metrics, "metrics")
        self._flat_weighted_metrics = build_metric_lists(self._user_weighted_metrics, "weighted_metrics")
        # log names, deduplicated like Keras's CompileMetrics.result()
        counters, self._metric_log_names = {}, []
        for weighted, lists in ((False, self._flat_metrics), (True, self._flat_weighted_metrics)):
            for i, objects in enumerate(lists):
                prefix = f"{names[i]}_" if multi else ""
                for metric in objects:
                    name = prefix + metric.name
                    if name in counters and weighted:
                        name = prefix + f"weighted_{metric.name}"
                    if name in counters:
                        counters[name] += 1
                        name = f"{name}_{counters[name] - 1}"
                    else:
                        counters[name] = 1
                    self._metric_log_names.append((name, weighted, i, metric))
        self._compile_built = True

    # -- metrics bookkeeping ------------------------------------------------------------------------
    @property
    def metrics(self):
        if not self.compiled or not self._compile_built:
            return []
        return [self._loss_tracker] + [m for _, _, _, m in self._metric_log_names] + \
            [t for _, _, t in self._output_loss_trackers]

    @property
    def metrics_names(self):
        if not self.compiled or not self._compile_built:
            return []
        return ["loss"] + [name for name, _, _, _ in self._metric_log_names] + \
            [name for _, name, _ in self._output_loss_trackers]

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def _logs(self):
        logs = {"loss": self._loss_tracker.result()}
        for name, _, _, metric in self._metric_log_names:
            logs[name] = metric.result()
        for _, name, tracker in self._output_loss_trackers:
            logs[name] = tracker.result()
        return _pythonify(logs)

    def _ordered_results(self, logs):
        """evaluate()'s list: loss, metric names as Keras lists them, then the rest sorted."""
        names = ["loss"] + [metric.name for _, _, _, metric in self._metric_log_names] + \
            [name for _, name, _ in self._output_loss_trackers]
        results = [logs[name] for name in names if name in logs]
        results += [logs[key] for key in sorted(logs) if key not in names]
        return results[0] if len(results) == 1 else results

    # -- data ----------------------------------------------------------------------------------------
    def _flat_x(self, x, argument="x"):
        if x is None:
            raise ValueError(f"Model '{self.name}': no input data `x` was given")
        if getattr(self, "_is_graph_network", False):
            values = split_inputs(x, self._input_keys, f"Model '{self.name}'")
        else:
            values = list(x) if isinstance(x, (list, tuple)) and all(
                isinstance(v, (np.ndarray, Tensor)) for v in x) else [x]
        arrays = [_to_array(v, "Input data") for v in values]
        self._check_input_shapes(arrays, argument)
        return arrays

    def _check_input_shapes(self, arrays, argument):
        """Check the whole arrays against the model's Inputs before batching, so that a mismatch names
        the array the user passed (``x``, ``validation_data``) and its full shape, not a batch's."""
        if not getattr(self, "_is_graph_network", False):
            return
        for array, reference in zip(arrays, self._graph.inputs):
            shape, expected = tuple(array.shape), tuple(reference.shape)
            if len(shape) == len(expected) + 1 and shape[-1] == 1:  # Keras squeezes / expands a trailing 1
                shape = shape[:-1]
            elif len(shape) == len(expected) - 1 and expected[-1] == 1:
                shape = shape + (1,)
            if len(shape) != len(expected) or any(e is not None and e != n for e, n in zip(expected, shape)):
                raise ValueError(f"Model '{self.name}': input '{reference.name}' expects shape {expected}, but "
                                 f"the array passed for it in `{argument}` has shape {tuple(array.shape)}")

    def _batch_error(self, error, method, data, batch_rows):
        """``error`` was raised on one batch of ``batch_rows`` samples: the same error, speaking of the
        arrays the user passed. Losses and metrics are re-checked on the whole targets (against a stand-in
        prediction of the right shape), so their message shows the full shapes; otherwise the shapes of
        the arrays passed are added to the message."""
        if data.y is not None and getattr(self, "_compile_built", False):
            better = self._recheck_targets(data, method)
            if better is not None:
                return better
        if batch_rows != data.size and f"({batch_rows}," in str(error):
            passed = ", ".join(f"{role} {shapes}" for role, shapes in data.shapes().items())
            error.args = (f"{error.args[0] if error.args else ''} [{method}: the shapes above are those of one "
                          f"batch of {batch_rows} samples; the arrays passed have shapes: {passed}]",) + error.args[1:]
        return error

    def _recheck_targets(self, data, method):
        """The first loss or metric error on the whole target arrays (see ``_batch_error``), or None."""
        try:
            with no_grad():
                y_pred = self._forward([a[:1] for a in data.x], training=False)
        except Exception:  # noqa: BLE001 - the original error is reported instead
            return None
        checks = [(i, entry[0], Tensor) for i, entry in enumerate(self._flat_losses) if entry is not None] + \
            [(i, metric.update_state, np.asarray) for _, _, i, metric in self._metric_log_names]
        try:
            for i, check, wrap in checks:
                if i >= len(data.y) or data.y[i] is None:
                    continue
                stand_in = np.zeros((data.size,) + tuple(y_pred[i].shape[1:]), y_pred[i].dtype)
                try:
                    check(data.y[i], wrap(stand_in))
                except (ValueError, TypeError) as error:
                    where = "`y`" if len(data.y) == 1 else f"`y` (output '{self._output_names_used[i]}')"
                    error.args = (f"{error.args[0] if error.args else ''} [{method}: checked on the whole array "
                                  f"passed as {where}]",) + error.args[1:]
                    return error
        finally:
            self.reset_metrics()
        return None

    def _pack_x(self, flat):
        return flat[0] if len(flat) == 1 else list(flat)

    def _flat_targets(self, y, what="y"):
        if y is None:
            return None
        names = list(getattr(self, "output_names", None) or [])
        if isinstance(y, dict):
            unknown = [k for k in y if k not in names]
            missing = [k for k in names if k not in y]
            if unknown or (missing and what == "y"):
                raise ValueError(f"Model '{self.name}': the `{what}` dict has keys {list(y)}, but the model's "
                                 f"outputs are named {names} (missing {missing}, unknown {unknown})")
            return [None if y.get(name) is None else _to_array(y[name], what) for name in names]
        if isinstance(y, (list, tuple)) and len(names) > 1:
            return [None if v is None else _to_array(v, what) for v in y]
        if isinstance(y, (list, tuple)) and len(y) == 1 and isinstance(y[0], (np.ndarray, Tensor)):
            return [_to_array(y[0], what)]
        return [_to_array(y, what)]

    def _make_data(self, x, y=None, sample_weight=None, class_weight=None, argument="x"):
        flat_x = self._flat_x(x, argument)
        flat_y = self._flat_targets(y, "y")
        flat_sw = None
        if sample_weight is not None:
            flat_sw = self._flat_targets(sample_weight, "sample_weight")
            if flat_y is not None and len(flat_sw) == 1 and len(flat_y) > 1:
                flat_sw = flat_sw * len(flat_y)  # one weight array applies to every output
        data = _Data(flat_x, flat_y, flat_sw)
        return _with_class_weight(data, class_weight) if class_weight is not None else data

    # -- steps ---------------------------------------------------------------------------------------
    def _forward(self, flat_x, training):
        out = self(self._pack_x(flat_x), training=training)
        return flatten(out)

    def _compute_loss(self, y_true, y_pred, sample_weight, update_trackers=True):
        """Total loss Tensor (weighted sum over outputs + regularization); updates per-output trackers."""
        total, n = None, len(y_pred[0]) if y_pred else 0
        trackers = {i: tracker for i, _, tracker in self._output_loss_trackers}
        for i, entry in enumerate(self._flat_losses):
            if entry is None:
                continue
            if y_true is None or y_true[i] is None:
                raise ValueError(f"Model '{self.name}': no target was given for output "
                                 f"'{self._output_names_used[i]}', which has a loss")
            loss_fn, weight = entry
            weights = None if sample_weight is None else sample_weight[i]
            # Keras: a masked output's mask joins the sample weights. A losses.Loss does that itself in
            # __call__ (from y_pred's mask); a plain callable gets it here.
            from ..losses import Loss
            if get_mask(y_pred[i]) is not None and not isinstance(loss_fn, Loss):
                weights = mask_to_sample_weight(weights, get_mask(y_pred[i]), getattr(loss_fn, "reduction", None),
                                                y_pred[i].dtype)
            value = loss_fn(y_true[i], y_pred[i], sample_weight=weights)
            if update_trackers and i in trackers:
                trackers[i].update_state(float(value.data), sample_weight=n)
            if weight is not None:
                value = value * float(weight)
            total = value if total is None else total + value
        for penalty in self.losses:
            total = penalty.sum() if total is None else total + penalty.sum()
        if total is None:
            raise ValueError(f"Model '{self.name}': no loss to compute. Provide a `loss` argument in compile().")
        return total

    def _update_metrics(self, y_true, y_pred, sample_weight, total, n, use_masks=True):
        from .. import metrics as metrics_module
        self._loss_tracker.update_state(float(total.data), sample_weight=n)
        if y_true is None:
            return
        arrays = [np.asarray(p.data) for p in y_pred]
        for _, weighted, i, metric in self._metric_log_names:
            if y_true[i] is None:
                continue
            sw = sample_weight[i] if (weighted and sample_weight is not None) else None
            if use_masks and get_mask(y_pred[i]) is not None and isinstance(metric, metrics_module.MeanMetricWrapper):
                sw = mask_to_sample_weight(sw, get_mask(y_pred[i]), "sum", arrays[i].dtype)
            metric.update_state(y_true[i], arrays[i], sample_weight=sw)

    def _ensure_built(self, flat_x, y_true):
        """Build the model (unbuilt Sequential/subclass) and the compiled loss/metrics from one batch."""
        if not self._compile_built:
            with no_grad():
                y_pred = self._forward([a[:1] for a in flat_x], training=False)
            self._build_compile(None if y_true is None else [None if a is None else a[:1] for a in y_true],
                                [p.data for p in y_pred])
            return True
        return False

    def _train_step(self, x, y, sample_weight):
        n = len(x[0])
        y_pred = self._forward(x, training=True)
        total = self._compute_loss(y, y_pred, sample_weight)
        variables = self.trainable_weights
        if variables:  # the optimizer's loss scaling (loss_scale_factor, LossScaleOptimizer); it unscales
            grads = tape_grad(self.optimizer.scale_loss(total), variables)
            self.optimizer.apply([g.data for g in grads], variables)
        # Keras on JAX: the training metrics see y_pred after jax.value_and_grad, without its mask
        # (the loss above is masked); evaluate's metrics are masked (docs/sequences.md)
        self._update_metrics(y, y_pred, sample_weight, total, n, use_masks=False)
        return self._logs()

    def _test_step(self, x, y, sample_weight):
        n = len(x[0])
        with no_grad():
            y_pred = self._forward(x, training=False)
            total = self._compute_loss(y, y_pred, sample_weight)
        self._update_metrics(y, y_pred, sample_weight, total, n)
        return self._logs()

    def _callback_list(self, callbacks, verbose, add_history, epochs, steps):
        from .. import callbacks as callbacks_module
        if isinstance(callbacks, callbacks_module.CallbackList):
            return callbacks
        verbose = 1 if verbose == "auto" else verbose
        return callbacks_module.CallbackList(callbacks, add_history=add_history, add_progbar=verbose != 0,
                                             model=self, verbose=verbose, epochs=epochs, steps=steps)

    # -- fit -----------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns the ``History`` callback (see the module docstring)."""
        self._assert_compiled("fit")
        batch_size = _check_batch_size(batch_size)
        data = self._make_data(x, y, sample_weight)
        if data.y is None:
            raise ValueError(f"Model '{self.name}': fit() needs targets `y`")
        val_data = None
        if validation_split and validation_data is None:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"`validation_split` must be in (0, 1); received {validation_split!r}")
            data, val_data = data.split(validation_split)
        if class_weight is not None:  # as Keras: class weights weight the training batches only
            data = _with_class_weight(data, class_weight)
        elif validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 f"val_sample_weight); received {type(validation_data).__name__}")
            val_data = self._make_data(*validation_data, argument="validation_data")
        steps = int(math.ceil(data.size / batch_size))
        if steps_per_epoch is not None:
            steps = int(steps_per_epoch)

        if self._ensure_built(data.x, data.y) and shuffle:
            for _ in _batches(data.size, batch_size, shuffle):  # Keras's symbolic build draws one epoch's
                break                                           # permutation before epoch 0
        callbacks = self._callback_list(callbacks, verbose, True, epochs, steps)
        self.stop_training = False
        callbacks.on_train_begin()
        training_logs, logs = {}, {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            batches = _batches(data.size, batch_size, shuffle)
            for step in range(steps):
                index = next(batches, None)
                if index is None:  # steps_per_epoch beyond the data: start a new pass
                    batches = _batches(data.size, batch_size, shuffle)
                    index = next(batches)
                callbacks.on_train_batch_begin(step)
                try:
                    logs = self._train_step(*data.take(index))
                except (ValueError, TypeError) as error:
                    raise self._batch_error(error, "fit()", data, len(data.take(index)[0][0])) from None
                callbacks.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = self._logs()
            if val_data is not None and _should_eval(epoch, validation_freq):
                val_logs = self._evaluate_data(val_data, validation_batch_size or batch_size, callbacks,
                                               validation_steps, method="fit() on validation_data")
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training:
                break
        if epochs > initial_epoch:  # use_ema: the weights become their moving average (Keras)
            self.optimizer.finalize_variable_values(self.trainable_weights)
        callbacks.on_train_end(training_logs)
        self.history = _find_history(callbacks) or self.history
        return self.history

    # -- evaluate / predict ------------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics in inference mode, batch-size-weighted means (Keras order, or a dict)."""
        self._assert_compiled("evaluate")
        batch_size = _check_batch_size(batch_size)
        data = self._make_data(x, y, sample_weight)
        self._ensure_built(data.x, data.y)
        n_steps = int(math.ceil(data.size / batch_size)) if steps is None else int(steps)
        callbacks = self._callback_list(callbacks, verbose, False, 1, n_steps)
        logs = self._evaluate_data(data, batch_size, callbacks, steps)
        return logs if return_dict else self._ordered_results(logs)

    def _evaluate_data(self, data, batch_size, callbacks, steps=None, method="evaluate()"):
        self._ensure_built(data.x, data.y)
        callbacks.on_test_begin()
        self.reset_metrics()
        self.stop_evaluating = False
        logs = {}
        for step, index in enumerate(_batches(data.size, batch_size, False)):
            if steps is not None and step >= steps:
                break
            callbacks.on_test_batch_begin(step)
            try:
                logs = self._test_step(*data.take(index))
            except (ValueError, TypeError) as error:
                raise self._batch_error(error, method, data, len(data.take(index)[0][0])) from None
            callbacks.on_test_batch_end(step, logs)
            if self.stop_evaluating:
                break
        logs = self._logs()
        callbacks.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in inference mode, batch by batch, concatenated (arrays, outputs' structure)."""
        batch_size = _check_batch_size(batch_size)
        flat_x = self._flat_x(x)
        data = _Data(flat_x)
        n_steps = int(math.ceil(data.size / batch_size)) if steps is None else int(steps)
        callbacks = self._callback_list(callbacks, verbose, False, 1, n_steps)
        callbacks.on_predict_begin()
        self.stop_predicting = False
        pieces, structure = [], None
        for step, index in enumerate(_batches(data.size, batch_size, False)):
            if step >= n_steps:
                break
            callbacks.on_predict_batch_begin(step)
            batch_x, _, _ = data.take(index)
            try:
                with no_grad():
                    out = self(self._pack_x(batch_x), training=False)
            except (ValueError, TypeError) as error:
                raise self._batch_error(error, "predict()", data, len(batch_x[0])) from None
            structure = out
            flat = [np.asarray(t.data) for t in flatten(out)]
            pieces.append(flat)
            callbacks.on_predict_batch_end(step, {"outputs": _pack_outputs(structure, flat)})
            if self.stop_predicting:
                break
        callbacks.on_predict_end()
        merged = [np.concatenate([p[i] for p in pieces], axis=0) for i in range(len(pieces[0]))]
        return _pack_outputs(structure, merged)

    # -- single batches ------------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the batch's loss/metrics (Keras order, or a dict)."""
        self._assert_compiled("train_on_batch")
        data = self._make_data(x, y, sample_weight, class_weight)
        self._ensure_built(data.x, data.y)
        self.reset_metrics()
        logs = self._train_step(data.x, data.y, data.sample_weight)
        return logs if return_dict else self._ordered_results(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss/metrics of one batch in inference mode (no update)."""
        self._assert_compiled("test_on_batch")
        data = self._make_data(x, y, sample_weight)
        self._ensure_built(data.x, data.y)
        self.reset_metrics()
        logs = self._test_step(data.x, data.y, data.sample_weight)
        return logs if return_dict else self._ordered_results(logs)

    def predict_on_batch(self, x):
        """Outputs for one batch, in inference mode, as NumPy arrays."""
        flat_x = self._flat_x(x)
        with no_grad():
            out = self(self._pack_x(flat_x), training=False)
        return _pack_outputs(out, [np.asarray(t.data) for t in flatten(out)])


def _check_names_now(loss, metrics, weighted_metrics):
    """Resolve every loss and metric *name* at compile(), so a misspelling fails there, with a
    suggestion, rather than when fit() first runs. Shapes are not known yet: (2, 2) stands in for
    y_true and y_pred (a shape only picks the variant of "crossentropy" or "accuracy")."""
    from .. import losses, metrics as metrics_module

    def names(value):
        if isinstance(value, str):
            return [value]
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
        return [name for item in items for name in names(item)]

    for name in names(loss):
        losses.resolve(name, (2, 2), (2, 2))
    for name in names(metrics) + names(weighted_metrics):
        metrics_module.resolve(name, (2, 2), (2, 2))


def _pack_outputs(structure, flat):
    from ..ops.node import pack_like
    if isinstance(structure, Tensor):
        return flat[0]
    return pack_like(structure, flat)


def _should_eval(epoch, validation_freq):
    epoch = epoch + 1
    if isinstance(validation_freq, int):
        return epoch % validation_freq == 0
    if isinstance(validation_freq, (list, tuple)):
        return epoch in validation_freq
    raise ValueError(f"Expected `validation_freq` to be a list or int. Received: validation_freq={validation_freq!r}")


def _with_class_weight(data, class_weight):
    """The same data with per-sample weights ``class_weight[label]`` (single-output models)."""
    if data.y is None or len(data.y) != 1:
        raise ValueError("`class_weight` is only supported for models with a single output")
    if data.sample_weight is not None:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
    return _Data(data.x, data.y, [_class_weight_to_sample_weight(data.y[0], class_weight)])


def _class_weight_to_sample_weight(y, class_weight):
    """Keras: labels (argmax of one-hot, or squeezed (N, 1)) -> class_weight[label], default 1."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype("int32")
    return np.array([class_weight.get(int(label), 1.0) for label in labels], dtype=config.floatx())


def _find_history(callbacks):
    from .. import callbacks as callbacks_module
    for callback in getattr(callbacks, "callbacks", []):
        if isinstance(callback, callbacks_module.History):
            return callback
    return None
