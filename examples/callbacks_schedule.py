"""Learning-rate schedules, plateaus, early stopping, CSV logs and checkpoints with callbacks.

Three short runs of the same MLP on the 8x8 digits:

A. ``LearningRateScheduler(step_decay)``: at the start of every epoch (0-based) the callback sets
   ``lr = step_decay(epoch, lr)``; here the rate halves every 2 epochs,
       lr_epoch = lr_0 * 0.5 ** floor(epoch / 2).
B. ``optimizers.schedules.ExponentialDecay`` passed as the optimizer's learning rate: the
   optimizer evaluates it at every step (batch), before counting the step,
       lr(step) = lr_0 * decay_rate ** (step / decay_steps),   step = 0, 1, 2, ...
   so with ``decay_steps`` = steps per epoch it halves once per epoch, smoothly.
C. Watching the validation loss on a small training set that overfits:
   * ``ReduceLROnPlateau(factor=0.5, patience=1)``: lr <- lr * 0.5 after each epoch whose val_loss
     is not below the best so far minus ``min_delta`` (1e-4);
   * ``EarlyStopping(patience=3, restore_best_weights=True)``: stop when val_loss has not improved
     for 3 epochs and put back the weights of the best epoch;
   * ``CSVLogger``: one row per epoch (``epoch`` then the sorted log keys);
   * a checkpoint of the best weights: ``nn.callbacks.ModelCheckpoint(save_best_only=True,
     save_weights_only=True)`` when the library has it, otherwise the small ``NpzCheckpoint``
     below (``model.get_weights()`` + ``np.savez``). Either way the file ends up holding the
     same weights that EarlyStopping restores.

Writes ``training_log.csv``, the checkpoint and ``learning_rates.png`` to ``out_dir``.

Run:  python examples/callbacks_schedule.py [--quick] [--out DIR]
"""
import argparse
import csv
import math
import os

import numpy as np

import numpy_nn as nn
from numpy_nn import callbacks, optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import load_digits, split
from numpy_nn.layers.core import Dense
from numpy_nn.models import Input, Sequential


class NpzCheckpoint(callbacks.Callback):
    """Fallback for ``ModelCheckpoint(save_best_only=True)``: ``np.savez`` of ``model.get_weights()``
    whenever ``monitor`` (lower is better) improves."""

    def __init__(self, filepath, monitor="val_loss"):
        super().__init__()
        self.filepath, self.monitor, self.best = filepath, monitor, math.inf

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is not None and current < self.best:
            self.best = current
            np.savez(self.filepath, *self.model.get_weights())


def make_checkpoint(out_dir):
    """(callback, path, loader): the library's ModelCheckpoint if present, else NpzCheckpoint."""
    model_checkpoint = getattr(callbacks, "ModelCheckpoint", None)
    if model_checkpoint is not None:
        path = os.path.join(out_dir, "best.weights.h5")

        def load(model):
            nn.saving.load_weights(model, path)
            return model.get_weights()

        return model_checkpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True), path, load
    path = os.path.join(out_dir, "best_weights.npz")

    def load(model):
        with np.load(path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    return NpzCheckpoint(path), path, load


def build_mlp(learning_rate, hidden=64):
    model = Sequential([Input((64,), name="pixels"), Dense(hidden, activation="relu", name="hidden"),
                        Dense(10, activation="softmax", name="classes")], name="mlp")
    model.compile(optimizers.Adam(learning_rate=learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def step_decay(epoch, learning_rate):
    """Halve the rate at epochs 2, 4, 6, ... (the callback passes the current rate)."""
    return learning_rate * 0.5 if epoch > 0 and epoch % 2 == 0 else learning_rate


def run_scheduler(data, epochs, lr0=0.01):
    (x_train, y_train), (x_val, y_val) = data
    set_random_seed(0)
    model = build_mlp(lr0)
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                        callbacks=[callbacks.LearningRateScheduler(step_decay)], verbose=0)
    expected = [lr0 * 0.5 ** (epoch // 2) for epoch in range(epochs)]
    rates = history.history["learning_rate"]
    print(f"A. LearningRateScheduler: learning rate per epoch {[f'{r:.3g}' for r in rates]}")
    print(f"   formula lr_0 * 0.5 ** floor(epoch / 2)        {[f'{r:.3g}' for r in expected]}")
    return {"learning_rates": rates, "expected": expected, "history": history.history}


def run_exponential_decay(data, epochs, lr0=0.01, decay_rate=0.5, batch_size=32):
    (x_train, y_train), (x_val, y_val) = data
    set_random_seed(0)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    schedule = optimizers.schedules.ExponentialDecay(lr0, decay_steps=steps_per_epoch, decay_rate=decay_rate)
    model = build_mlp(schedule)
    per_step = []  # the rate the coming step will use: the schedule at the number of steps done so far
    record = callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: per_step.append(model.optimizer.learning_rate))
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=(x_val, y_val),
                        callbacks=[record], verbose=0)
    expected = [lr0 * decay_rate ** (step / steps_per_epoch) for step in range(len(per_step))]
    print(f"B. ExponentialDecay({lr0}, decay_steps={steps_per_epoch}, decay_rate={decay_rate}): "
          f"{len(per_step)} steps, lr at the first step of each epoch "
          f"{[f'{r:.5f}' for r in per_step[::steps_per_epoch]]}; max relative error vs the formula "
          f"{max(abs(a - b) / b for a, b in zip(per_step, expected)):.1e}")
    return {"per_step": per_step, "expected": expected, "steps_per_epoch": steps_per_epoch,
            "iterations": model.optimizer.iterations, "history": history.history}


def run_plateau(data, epochs, out_dir, lr0=0.01, patience=3):
    (x_train, y_train), (x_val, y_val) = data
    set_random_seed(0)
    model = build_mlp(lr0, hidden=256)
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    csv_path = os.path.join(out_dir, "training_log.csv")
    checkpoint, checkpoint_path, load_checkpoint = make_checkpoint(out_dir)
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
                        callbacks=[reducer, stopper, callbacks.CSVLogger(csv_path), checkpoint], verbose=0)
    val_loss_after, _ = model.evaluate(x_val, y_val, verbose=0)  # with the restored (best) weights
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    fresh = build_mlp(lr0, hidden=256)
    checkpoint_weights = load_checkpoint(fresh)
    restored = model.get_weights()
    checkpoint_diff = max(float(np.abs(a - b).max()) for a, b in zip(checkpoint_weights, restored))
    h = history.history
    print(f"C. {len(h['loss'])} epochs of at most {epochs}; val_loss per epoch {[round(v, 4) for v in h['val_loss']]}")
    print(f"   learning rate per epoch (ReduceLROnPlateau, factor 0.5, patience 1): "
          f"{[f'{r:.5f}' for r in h['learning_rate']]}")
    print(f"   EarlyStopping: stopped at epoch {stopper.stopped_epoch} (0-based), best epoch {stopper.best_epoch} "
          f"(val_loss {stopper.best:.4f}); val_loss after restoring: {val_loss_after:.4f}")
    print(f"   CSVLogger: {len(rows)} rows, columns {list(rows[0])} -> {csv_path}")
    print(f"   checkpoint {os.path.basename(checkpoint_path)} ({type(checkpoint).__name__}): "
          f"max |checkpoint - restored weights| = {checkpoint_diff:.1e}")
    return {"history": h, "stopped_epoch": stopper.stopped_epoch, "best_epoch": stopper.best_epoch,
            "best_val_loss": stopper.best, "val_loss_after_restore": val_loss_after, "csv_rows": rows,
            "csv_path": csv_path, "checkpoint_path": checkpoint_path, "checkpoint_kind": type(checkpoint).__name__,
            "checkpoint_max_abs_diff": checkpoint_diff, "patience": patience}


def plot(scheduler, decay, plateau, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(figure)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    epochs = np.arange(len(scheduler["learning_rates"]))
    left.step(epochs, scheduler["learning_rates"], where="post", label="A: step decay (per epoch)")
    left.plot(np.arange(len(decay["per_step"])) / decay["steps_per_epoch"], decay["per_step"],
              label="B: ExponentialDecay (per step)")
    left.step(np.arange(len(plateau["history"]["learning_rate"])), plateau["history"]["learning_rate"],
              where="post", label="C: ReduceLROnPlateau")
    left.set(xlabel="epoch", ylabel="learning rate", yscale="log", title="learning rate")
    left.legend(fontsize=7)
    h = plateau["history"]
    right.plot(h["loss"], "o-", label="train loss")
    right.plot(h["val_loss"], "s--", label="validation loss")
    right.axvline(plateau["best_epoch"], color="gray", linestyle=":", label="best epoch (restored)")
    right.set(xlabel="epoch", title="C: early stopping")
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(quick=False, out_dir="examples_output/callbacks_schedule"):
    os.makedirs(out_dir, exist_ok=True)
    x, y = load_digits(as_images=False)
    (x_train, y_train), (x_val, y_val) = split(x, y, fractions=(0.75, 0.25), seed=0)
    data = ((x_train[:400], y_train[:400]) if quick else (x_train, y_train)), (x_val, y_val)
    small = (x_train[:150], y_train[:150]), (x_val, y_val)  # few examples: the model overfits early
    scheduler = run_scheduler(data, epochs=6 if quick else 12)
    decay = run_exponential_decay(data, epochs=4 if quick else 10)
    plateau = run_plateau(small, epochs=40 if quick else 100, out_dir=out_dir)
    path = os.path.join(out_dir, "learning_rates.png")
    plot(scheduler, decay, plateau, path)
    print(f"wrote {path}")
    return {"scheduler": scheduler, "exponential_decay": decay, "plateau": plateau, "figure": path}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="examples_output/callbacks_schedule")
    arguments = parser.parse_args()
    main(quick=arguments.quick, out_dir=arguments.out)
