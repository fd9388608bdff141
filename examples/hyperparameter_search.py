"""Tune an MLP's learning rate, width and dropout with Hyperopt's TPE on the digits, on one core or many.

The data is split once into train / validation / test. Every trial trains a fresh model on the
training split and is scored by its best validation loss; the test split is touched once, at the
end: by the best trial's model (rebuilt with ``refit``: same hyperparameters, same seed, its best
number of epochs) and by an ensemble of trials chosen on the validation split with Caruana's
greedy selection (``nn.ensemble.from_search``).

Run:  python examples/hyperparameter_search.py [--quick] [--n-jobs 2] [--trials-file search.json]
                                               [--dask tcp://HOST:8786]
(needs hyperopt and scikit-learn; --dask needs dask[distributed]). With --trials-file, Ctrl-C
stops the search and the same command continues it.
"""
import argparse

import numpy as np

import numpy_nn as nn
from numpy_nn import layers
from numpy_nn.datasets import load_digits, split
from numpy_nn.ensemble import accuracy, from_search, log_loss
from numpy_nn.tuning import hyperopt_search, refit


def search_space():
    from hyperopt import hp
    return {"learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(3e-2)),
            "width": hp.choice("width", [16, 32, 64, 128]),
            "dropout": hp.uniform("dropout", 0.0, 0.5)}


def build_model(params, n_features=64, n_classes=10):
    """A compiled MLP for one point of the search space (a top-level function: worker processes import it)."""
    model = nn.Sequential([nn.Input((n_features,)),
                           layers.Dense(params["width"], activation="relu"),
                           layers.Dropout(params["dropout"]),
                           layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=nn.optimizers.Adam(learning_rate=params["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def settings(quick):
    """(max_evals, fit_kwargs) of the search; the benchmark times exactly this search."""
    max_evals, epochs = (4, 3) if quick else (25, 30)
    return max_evals, {"epochs": epochs, "batch_size": 32}


def load_splits():
    x, y = load_digits(as_images=False)
    return split(x, y, (0.6, 0.2, 0.2), seed=0)


def main(quick=False, verbose=True, n_jobs=1, executor=None, trials_file=None):
    """Search, refit the best trial, build an ensemble of trials, score both once on the test split.

    Args:
        quick: 4 trials of 3 epochs instead of 25 of 30.
        n_jobs, executor, trials_file: passed to ``hyperopt_search`` (the trials table depends on
            n_jobs, not on the executor).

    Returns:
        dict with "best_params", "best_val_loss", "test_loss", "test_accuracy", "trials" (list
        of dicts), "markdown" (the trials table) and "ensemble" (weights by trial, validation
        and test log loss and accuracy of the greedy ensemble).
    """
    max_evals, fit_kwargs = settings(quick)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_splits()

    result = hyperopt_search(build_model, search_space(), x_train, y_train,
                             validation_data=(x_val, y_val), max_evals=max_evals, seed=0,
                             fit_kwargs=fit_kwargs, metric="val_loss", mode="min", verbose=int(verbose),
                             n_jobs=n_jobs, executor=executor, trials_file=trials_file,
                             keep_val_predictions=True)
    if verbose:
        print(result.to_markdown())
        print(f"best: {result.best_params}  val_loss={result.best_score:.4f}")

    # the best trial's model, trained again exactly as in the search up to its best epoch; one test evaluation
    model = refit(result, build_model, x_train, y_train, validation_data=(x_val, y_val), fit_kwargs=fit_kwargs)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)[:2]
    if verbose:
        print(f"test: loss={float(test_loss):.4f}  accuracy={float(test_accuracy):.4f}")

    # an ensemble of trials chosen on the validation split, its members refit, scored once on test
    ensemble = from_search(result, method="greedy")
    members = {trial: refit(result, build_model, x_train, y_train, trial=trial, validation_data=(x_val, y_val),
                            fit_kwargs=fit_kwargs) for trial in ensemble.trials}
    p_test = ensemble.predict_proba({trial: m.predict(x_test, verbose=0) for trial, m in members.items()})
    ensemble_numbers = {"weights": ensemble.weights,
                        "val_log_loss": log_loss(ensemble.val_probas, y_val),
                        "val_accuracy": accuracy(ensemble.val_probas, y_val),
                        "test_log_loss": log_loss(p_test, y_test), "test_accuracy": accuracy(p_test, y_test)}
    if verbose:
        print(ensemble.to_markdown())
        print(f"greedy ensemble of trials {ensemble.weights}: test log loss "
              f"{ensemble_numbers['test_log_loss']:.4f}, accuracy {ensemble_numbers['test_accuracy']:.4f}")
    return {"best_params": result.best_params, "best_val_loss": result.best_score,
            "test_loss": float(test_loss), "test_accuracy": float(test_accuracy),
            "trials": result.trials, "markdown": result.to_markdown(), "ensemble": ensemble_numbers}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few short trials, a smoke run")
    parser.add_argument("--n-jobs", type=int, default=1, help="trials at once (default 1)")
    parser.add_argument("--trials-file", default=None, help="JSON file to save the trials to and resume from")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run the trials on a Dask scheduler, e.g. tcp://127.0.0.1:8786")
    arguments = parser.parse_args()
    dask_client = None
    if arguments.dask:
        from dask.distributed import Client
        dask_client = Client(arguments.dask)
    try:
        main(quick=arguments.quick, n_jobs=arguments.n_jobs, trials_file=arguments.trials_file,
             executor=dask_client.get_executor() if dask_client else None)
    finally:
        if dask_client is not None:
            dask_client.close()
