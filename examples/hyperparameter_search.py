"""Tune an MLP's learning rate, width and dropout with Hyperopt's TPE on the digits.

The data is split once into train / validation / test. Every trial trains a fresh model on the
training split and is scored by its best validation loss; the test split is touched once, at the
end, by the model rebuilt with the best hyperparameters.

Run:  python examples/hyperparameter_search.py [--quick]      (needs hyperopt and scikit-learn)
"""
import argparse

import numpy as np

import numpy_nn as nn
from numpy_nn import layers
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import load_digits, split
from numpy_nn.tuning import hyperopt_search


def search_space():
    from hyperopt import hp
    return {"learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(3e-2)),
            "width": hp.choice("width", [16, 32, 64, 128]),
            "dropout": hp.uniform("dropout", 0.0, 0.5)}


def build_model(params, n_features=64, n_classes=10):
    """A compiled MLP for one point of the search space."""
    model = nn.Sequential([nn.Input((n_features,)),
                           layers.Dense(params["width"], activation="relu"),
                           layers.Dropout(params["dropout"]),
                           layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=nn.optimizers.Adam(learning_rate=params["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(quick=False, verbose=True):
    """Search, retrain the best model, score it once on the test split; return the numbers.

    Returns:
        dict with "best_params", "best_val_loss", "test_loss", "test_accuracy", "trials" (list
        of dicts) and "markdown" (the trials table).
    """
    set_random_seed(0)
    max_evals, epochs = (4, 3) if quick else (25, 30)
    x, y = load_digits(as_images=False)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split(x, y, (0.6, 0.2, 0.2), seed=0)

    result = hyperopt_search(build_model, search_space(), x_train, y_train,
                             validation_data=(x_val, y_val), max_evals=max_evals, seed=0,
                             fit_kwargs={"epochs": epochs, "batch_size": 32},
                             metric="val_loss", mode="min", verbose=int(verbose))
    if verbose:
        print(result.to_markdown())
        print(f"best: {result.best_params}  val_loss={result.best_score:.4f}")

    # retrain with the best params for the best trial's number of epochs, then the one test evaluation
    best_epochs = result.trials[result.best_trial]["epoch"] + 1
    model = build_model(result.best_params)
    model.fit(x_train, y_train, epochs=best_epochs, batch_size=32, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)[:2]
    if verbose:
        print(f"test: loss={float(test_loss):.4f}  accuracy={float(test_accuracy):.4f}")
    return {"best_params": result.best_params, "best_val_loss": result.best_score,
            "test_loss": float(test_loss), "test_accuracy": float(test_accuracy),
            "trials": result.trials, "markdown": result.to_markdown()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few short trials, a smoke run")
    main(quick=parser.parse_args().quick)
