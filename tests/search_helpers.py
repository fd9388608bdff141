"""Build, fit and space functions for the search and ensemble tests.

They live in an importable module (not inside a test) because worker processes and Dask
workers receive functions by reference: module and name.
"""
import os
import time

import numpy as np


class FakeHistory:
    def __init__(self, history):
        self.history = history


def bowl(params):
    """A simple function of the params with its minimum 0.05 at lr = 10**-2.5, width = 48."""
    return (np.log10(params["lr"]) + 2.5) ** 2 + (params["width"] - 48) ** 2 / 1000 + 0.05


class CurveModel:
    """A fake model whose val_loss after epoch e is bowl(params) * (1 + 1 / (e + 1)).

    Like a real model it calls its callbacks after every epoch and stops when one of them sets
    ``stop_training``; ``fit`` records the epochs it ran in ``CurveModel.epochs_run`` (a list,
    in the calling process only).
    """

    epochs_run = []

    def __init__(self, params):
        self.params, self.stop_training, self.epoch = params, False, -1

    def fit(self, x, y, validation_data=None, epochs=3, callbacks=None, verbose=0, **kwargs):
        callbacks = list(callbacks or [])
        for callback in callbacks:
            callback.set_model(self)
        history = {"val_loss": []}
        for epoch in range(epochs):
            self.epoch = epoch
            value = bowl(self.params) * (1 + 1 / (epoch + 1))
            history["val_loss"].append(value)
            for callback in callbacks:
                callback.on_epoch_end(epoch, {"val_loss": value})
            if self.stop_training:
                break
        CurveModel.epochs_run.append(len(history["val_loss"]))
        return FakeHistory(history)

    def get_weights(self):
        return [np.array(self.epoch)]


class SlowModel(CurveModel):
    """CurveModel that sleeps ``sleep`` seconds (a fit argument) per fit: something to interrupt."""

    def fit(self, *args, sleep=0.3, **kwargs):
        time.sleep(sleep)
        return super().fit(*args, **kwargs)


def build_mlp(params):
    """A tiny numpy_nn MLP with dropout (so the trial's seed matters) for 3 features, 2 classes."""
    import numpy_nn as nn
    from numpy_nn import layers
    model = nn.Sequential([nn.Input((3,)), layers.Dense(params["width"], activation="relu"),
                           layers.Dropout(0.25), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=nn.optimizers.Adam(learning_rate=params["lr"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def optuna_space(trial):
    return {"lr": trial.suggest_float("lr", 1e-5, 1.0, log=True),
            "width": trial.suggest_int("width", 8, 128, step=8)}


def optuna_mlp_space(trial):
    return {"lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True),
            "width": trial.suggest_categorical("width", [4, 8])}


def fit_mlp(x, y):
    """fit_fn for the ensemble functions: a fresh tiny MLP, three epochs."""
    model = build_mlp({"width": 6, "lr": 0.03})
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    return model


def fit_wide_mlp(x, y):
    model = build_mlp({"width": 12, "lr": 0.01})
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    return model


def thread_settings(shared, task):
    """What a worker runs with: BLAS threads, numpy_nn's elementwise threads, the environment."""
    from threadpoolctl import threadpool_info

    from numpy_nn.ops.kernels import threads
    return {"blas": sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}),
            "numpy_nn": threads.THREADS, "env": os.environ.get("NUMPY_NN_THREADS"), "pid": os.getpid()}


def tiny_data(n=120, seed=0):
    """Two classes separated by the sign of the first feature (float32 features)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
