"""Callbacks: hooks the training loop calls, with Keras 3's names, arguments and semantics.

The loop drives one ``CallbackList``; it forwards every hook to each callback, after turning the
logs into a flat dict of Python floats **sorted by key** (Keras's ``pythonify_logs``; this is why
``history.history`` lists ``accuracy`` before ``loss``)::

    on_train_begin
      on_epoch_begin(epoch)                    epoch is 0-based
        on_train_batch_begin(batch) / on_train_batch_end(batch, logs)   logs: running means
        on_test_begin / on_test_batch_* / on_test_end                   (validation)
      on_epoch_end(epoch, logs)                logs: loss, metrics, val_* (+ learning_rate)
    on_train_end

Callbacks talk to the model only through ``model.stop_training``, ``model.get_weights()``,
``model.set_weights()`` and ``model.optimizer.learning_rate`` (a settable Python float), so any
object with those attributes can stand in for a model.
"""
import collections
import csv
import math
import os
import sys
import time
import warnings

import numpy as np

from .autograd.tensor import Tensor


def _print(message, line_break=True):
    """Write to stdout, replacing characters the terminal's encoding cannot show."""
    message = f"{message}\n" if line_break else str(message)
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:
        sys.stdout.write(message.replace("━", "=").encode("ascii", errors="ignore").decode("ascii"))
    sys.stdout.flush()


def pythonify_logs(logs):
    """Flatten nested dicts, convert values to Python floats where possible, sort by key."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        try:
            value = float(value.data if isinstance(value, Tensor) else value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class Callback:
    """Base class: every hook exists and does nothing. ``self.model`` and ``self.params`` are set
    by ``set_model`` / ``set_params`` (``params``: ``{"verbose", "epochs", "steps"}``)."""

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    # Keras keeps on_batch_* as the old names; the train hooks call them by default.
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs=logs)
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass
    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass


_EPOCHLESS_HOOKS = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                    "on_predict_end")
_INDEXED_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end", "on_train_batch_begin",
                  "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                  "on_predict_batch_end")


class CallbackList(Callback):
    """Calls each hook on every callback, in order.

    ``CallbackList(callbacks=None, add_history=False, add_progbar=False, model=None, **params)``:
    ``add_history`` appends a ``History`` (and sets ``model.history``) and ``add_progbar`` a
    ``ProgbarLogger``, unless the list already has one; ``params`` (``verbose``, ``epochs``,
    ``steps``) go to every callback's ``set_params``.

    A NaN or infinite loss is reported as it is (``loss: nan`` in the progress bar and in
    ``History``) and training goes on, as in Keras; add ``TerminateOnNaN`` to stop at the first
    such batch.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        self.callbacks = _flatten(callbacks) if callbacks else []
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self._model = None
        self.params = None
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)
        if self._model is not None:
            callback.set_model(self._model)
        if self.params:
            callback.set_params(self.params)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def __iter__(self):
        return iter(self.callbacks)

    def _receivers(self):
        return self.callbacks

    def __len__(self):
        return len(self.callbacks)


def _make_dispatch(hook, indexed):
    if indexed:
        def dispatch(self, index, logs=None):
            logs = pythonify_logs(logs)
            for callback in self._receivers():
                getattr(callback, hook)(index, logs)
    else:
        def dispatch(self, logs=None):
            logs = pythonify_logs(logs)
            for callback in self._receivers():
                getattr(callback, hook)(logs)
    dispatch.__name__ = hook
    dispatch.__doc__ = f"Call ``{hook}`` on every callback (logs made flat Python floats, sorted by key)."
    return dispatch


for _hook in _INDEXED_HOOKS:
    setattr(CallbackList, _hook, _make_dispatch(_hook, indexed=True))
for _hook in _EPOCHLESS_HOOKS:
    setattr(CallbackList, _hook, _make_dispatch(_hook, indexed=False))


def _flatten(callbacks):
    if isinstance(callbacks, (list, tuple)):
        return [c for item in callbacks for c in _flatten(item)]
    return [callbacks]


class History(Callback):
    """Records the epoch logs: ``history.history = {"loss": [...], ...}`` (one entry per epoch),
    ``history.epoch = [0, 1, ...]``. ``fit`` returns it and also sets ``model.history``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


# ------------------------------------------------------------------------------------------------
# Progress bar
# ------------------------------------------------------------------------------------------------
class Progbar:
    """Keras's text progress bar.

    ``verbose=1``: ``12/50 ━━━━━━━━━━━━━━━━━━━━ 3s 80ms/step - accuracy: 0.8125 - loss: 0.4710``,
    redrawn in place (``\\r``) when stdout is a terminal or a notebook, one line per (throttled)
    update otherwise. ``verbose=2``: one line when finished,
    ``50/50 - 4s - 80ms/step - accuracy: 0.8125 - loss: 0.4710``.
    A value is either shown as given (a "stateful" metric, already a running mean) or averaged
    over the steps seen (a "stateless" one). As in Keras, pass ``stateful_metrics`` (names shown as
    given, every other name averaged) or ``stateless_metrics`` (names averaged, every other name
    shown as given), not both; ``ProgbarLogger`` uses ``stateless_metrics=set()``. Numbers print
    as ``.4f`` if above 1e-3, else ``.4e``.
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = set(stateless_metrics) if stateless_metrics is not None else None
        self._dynamic_display = ((hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
                                 or "ipykernel" in sys.modules)
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for key, value in values or []:
            if key not in self._values_order:
                self._values_order.append(key)
            if self.stateful_metrics is not None:
                stateless = key not in self.stateful_metrics
            else:
                stateless = key in self.stateless_metrics
            if not stateless or finalize:
                self._values[key] = [value, 1]
            else:  # average over the steps seen since the last update
                steps = max(current - self._seen_so_far, 1)
                total, count = self._values.get(key, [0.0, 0])
                self._values[key] = [total + value * steps, count + steps]
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._print_bar(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            info = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
            info += self._format_time(time_per_unit) + self._format_values(abs_test=False)
            _print(info)
        self._last_update = now

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    def _print_bar(self, current, now, time_per_unit, finalize):
        bold, green, grey, reset = ("\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m") if self._dynamic_display \
            else ("", "", "", "")
        if self.target:
            digits = int(math.log10(self.target)) + 1
            filled = int(self.width * current / self.target)
            bar = f"{bold}{current:{digits}d}/{self.target}{reset} "
            bar += (f"{green}{'━' * filled}{reset}" if filled > 0 else "") + f"{grey}{'━' * (self.width - filled)}{reset}"
            plain_bar = f"{current:{digits}d}/{self.target} " + "━" * self.width
        else:
            bar = plain_bar = f"{current:7d}/Unknown"
        if self.target and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                eta_text = f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                eta_text = f"{int(eta)}s"
        else:
            eta_text = f"{now - self._start:.0f}s"
        info = f" {bold}{eta_text}{reset}" + self._format_time(time_per_unit) + self._format_values(abs_test=True)
        plain_info = f" {eta_text}" + self._format_time(time_per_unit) + self._format_values(abs_test=True)
        total_width = len(plain_bar) + len(plain_info)
        if self._dynamic_display:
            message = "\b" * self._prev_total_width + "\r" + bar + info
            if self._prev_total_width > total_width:
                message += " " * (self._prev_total_width - total_width)
            _print(message + ("\n" if finalize else ""), line_break=False)
        else:
            _print(bar + info)
        self._prev_total_width = total_width

    def _format_values(self, abs_test):
        text = ""
        for key in self._values_order:
            total, count = self._values[key]
            average = float(np.mean(total)) / max(1, count)
            big = abs(average) > 1e-3 if abs_test else average > 1e-3   # Keras's verbose=2 has no abs()
            text += f" - {key}: {average:.4f}" if big else f" - {key}: {average:.4e}"
        return text

    def _format_time(self, time_per_unit):
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{self.unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1e3:.0f}ms/{self.unit_name}"
        return f" {time_per_unit * 1e6:.0f}us/{self.unit_name}"

    def _estimate_step_duration(self, current, now):
        """Time per step, not counting the first step (which includes start-up costs)."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit


class ProgbarLogger(Callback):
    """Prints the progress bar during ``fit``/``evaluate``/``predict`` (``params["verbose"]``:
    0 silent, 1 or "auto" a live bar, 2 one line per epoch) and ``Epoch i/N`` headers. Inside
    ``fit`` the validation pass is silent. Log values are shown as given (running means)."""

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step",
                                   stateless_metrics=set())

    def _update_progbar(self, batch, logs=None):
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


# ------------------------------------------------------------------------------------------------
# Monitoring callbacks
# ------------------------------------------------------------------------------------------------
class MonitorCallback(Callback):
    """Shared "did the monitored value improve?" test (EarlyStopping, ReduceLROnPlateau, and
    ModelCheckpoint later).

    ``min_delta`` is taken as ``abs(min_delta)``. Mode ``min``: improved if
    ``current + min_delta < best``; mode ``max``: improved if ``current - min_delta > best``; a
    ``best`` of None always counts as improved. The comparison happens in float32, like Keras.
    Mode ``auto``: ``min`` for ``loss``/``val_loss``, otherwise the direction of the model's
    metric with that name (accuracy-like metrics go up), otherwise ``ValueError``.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode in ("min", "max"):
            self.monitor_op = np.less if self.mode == "min" else np.greater
        else:
            direction = _metric_direction(self.model, self.monitor.removeprefix("val_"))
            if direction is None:
                raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor}, but it isn't "
                                 "possible to automatically determine whether that metric should be maximized "
                                 "or minimized. Pass `mode='max'` in order to monitor based on the highest "
                                 "metric value, or pass `mode='min'` in order to use the lowest value.")
            self.monitor_op = np.greater if direction == "up" else np.less
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(np.float32(monitor_value - self.min_delta), np.float32(reference_value)))


def _metric_direction(model, metric_name):
    """``"down"`` for losses, else the ``_direction`` of the model's metric with that name,
    else of the built-in metric with that name (numpy_nn.metrics), else None."""
    if metric_name == "loss" or metric_name.endswith("_loss"):
        return "down"
    direction = None
    pending = list(getattr(model, "metrics", None) or [])
    while pending:
        metric = pending.pop(0)
        pending.extend(getattr(metric, "metrics", None) or [])
        if getattr(metric, "name", None) == metric_name and hasattr(metric, "_direction"):
            direction = metric._direction
    if direction is None:
        from . import metrics
        direction = metrics.direction_of(metric_name)
    return direction


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has stopped improving.

    At each epoch end (from ``start_from_epoch`` on, and only if ``monitor`` is in the logs):
    ``wait += 1``; if improved, ``best = current`` (and the weights are snapshotted when
    ``restore_best_weights``) and ``wait`` is reset to 0 if there is no ``baseline`` or the value
    also beats it, and the stop test is skipped; otherwise, if ``wait >= patience`` and
    ``epoch > 0``, set ``model.stop_training`` (``stopped_epoch`` is 0-based). With
    ``restore_best_weights``, the best weights are restored at ``on_train_end`` whenever a
    snapshot exists, even if training did not stop early (the first counted epoch always snapshots).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=2)
        return value


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs.

    At each epoch end it first writes ``logs["learning_rate"]``. Then: in cooldown, decrement the
    counter and set ``wait = 0``; if improved (with ``min_delta``, default 1e-4), ``best =
    current, wait = 0``; else, outside cooldown, ``wait += 1`` and when ``wait >= patience``:
    ``lr <- max(lr * factor, min_lr)`` (only if ``lr > float32(min_lr)``), start the cooldown and
    reset ``wait``.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _reduce_lr(self, epoch):
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LearningRateScheduler(Callback):
    """At each epoch start, ``lr = schedule(epoch, lr)`` (0-based epoch, current lr as a float;
    falls back to ``schedule(epoch)`` if that raises TypeError). Adds ``learning_rate`` to the
    epoch-end logs."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # the one-argument form schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: ``epoch`` then the log keys sorted (with ``val_``
    columns added when validation has not run yet); ``append=True`` keeps existing rows."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(value):
            if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
                return value
            if isinstance(value, collections.abc.Iterable):
                return f'"[{", ".join(map(str, value))}]"'
            return value

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if not self.writer:
            fieldnames = ["epoch"] + self.keys
            self.writer = csv.DictWriter(self.csv_file, fieldnames=fieldnames, delimiter=self.sep,
                                         lineterminator="\r\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stop training (or raise ``RuntimeError`` if ``raise_error``) when a batch's ``loss`` is NaN or inf."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            _print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)``; other hooks may be passed as keyword arguments too."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        for hook, function in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                               ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                               ("on_train_batch_begin", on_train_batch_begin),
                               ("on_train_batch_end", on_train_batch_end)):
            if function is not None:
                setattr(self, hook, function)


# ------------------------------------------------------------------------------------------------
# ModelCheckpoint

class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) during ``fit``, as Keras does.

        ModelCheckpoint(filepath, monitor="val_loss", verbose=0, save_best_only=False,
                        save_weights_only=False, mode="auto", save_freq="epoch",
                        initial_value_threshold=None)

    - ``filepath`` ends in ``.keras`` (whole model) or, with ``save_weights_only``, ``.weights.h5``.
      It may hold format fields: ``{epoch}`` (1-based) and any log key, e.g.
      ``"ckpt-{epoch:02d}-{val_loss:.3f}.keras"``; with an integer ``save_freq`` also ``{batch}``.
    - ``save_freq="epoch"`` saves at each epoch end; an integer saves every that many batches.
    - ``save_best_only``: save only when ``monitor`` improves, by the improvement test shared with
      EarlyStopping (``MonitorCallback``, min_delta 0); ``initial_value_threshold`` is the starting
      best. Each save is atomic (``numpy_nn.saving``), so an interrupted save never leaves a
      broken file behind.

    Saving goes through ``model.save`` / ``model.save_weights``, so this room needs nothing from
    ``numpy_nn.saving``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor=monitor, mode=mode, baseline=initial_value_threshold, min_delta=0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._current_epoch = 0
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values")
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must "
                             f"end in `.weights.h5` (Keras weights format). Received: filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith(".keras"):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={self.filepath}")

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen_since_last_saving += 1  # steps are counted since the last save
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch=epoch, batch=None, logs=logs)

    def _file_path(self, epoch, batch, logs):
        logs = dict(logs or {})
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}') from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=3)
            return False
        if self.monitor_op is None:
            self._set_monitor_op()
        best_text = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} to {current:.5f}, "
                       f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save(self, epoch, batch, logs):
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


__all__ = ["Callback", "CallbackList", "History", "Progbar", "ProgbarLogger", "MonitorCallback", "EarlyStopping",
           "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback",
           "ModelCheckpoint"]
