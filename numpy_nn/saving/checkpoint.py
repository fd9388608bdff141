"""``ModelCheckpoint``: save the model (or its weights) during ``fit``, as Keras does.

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
"""
import os
import warnings

from ..callbacks import MonitorCallback, _print
from .keras_file import save_model, save_weights


class ModelCheckpoint(MonitorCallback):
    """Callback that saves the model or its weights (see the module docstring)."""

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
            save_weights(self.model, filepath)
        else:
            save_model(self.model, filepath)
