"""Ensembling small numpy_nn models: plain mean, validation-fitted weights, stacking.

Four deliberately different members (a ReLU MLP, a tanh MLP with dropout, a small CNN, a deeper
MLP trained with SGD) are trained on the same training split. Their probabilities are combined

* by the plain mean,
* by weights on the simplex fitted to minimize the VALIDATION log loss,
* by a logistic-regression meta-learner fitted on OUT-OF-FOLD predictions of the training set,

and a report lists every member and every ensemble on validation and test data, with the
members' pairwise disagreement and correlation. The test split is used for scoring only.

Run:  python examples/ensembling.py [--quick] [--dataset digits|shapes] [--n-jobs 2]

On the digits (the default) every member reaches about 95-98% test accuracy in under a minute. The shapes
(16x16, random colour, position and clutter) are much harder for these tiny models: the MLPs stay
near chance, only the CNN learns a little in 20 epochs, and the run takes several minutes.
"""
import argparse
import functools

import numpy_nn as nn
from numpy_nn import layers
from numpy_nn.datasets import load_digits, make_shapes, split
from numpy_nn.ensemble import StackingEnsemble, report


def load(dataset, quick):
    """(train, val, test) splits of images (n, H, W, C) and integer labels: 60% / 20% / 20%."""
    if dataset == "digits":
        x, y = load_digits(as_images=True)
    elif dataset == "shapes":
        x, y, _ = make_shapes(600 if quick else 3000, size=16, seed=0)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; use 'digits' or 'shapes'")
    return split(x, y, fractions=(0.6, 0.2, 0.2), seed=0)


# The members. Diversity comes from the architecture, the activation, the regularization and the
# optimizer. They are top-level functions so that worker processes (--n-jobs) can import them.

def mlp_relu(input_shape, n_classes):
    model = nn.Sequential([nn.Input(input_shape), layers.Flatten(),
                           layers.Dense(64, activation="relu"),
                           layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def mlp_tanh_dropout(input_shape, n_classes):
    model = nn.Sequential([nn.Input(input_shape), layers.Flatten(),
                           layers.Dense(128, activation="tanh"), layers.Dropout(0.3),
                           layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=nn.optimizers.Adam(learning_rate=3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_cnn(input_shape, n_classes):
    model = nn.Sequential([nn.Input(input_shape),
                           layers.Conv2D(16, 3, padding="same", activation="relu"),
                           layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def deep_mlp_sgd(input_shape, n_classes):
    model = nn.Sequential([nn.Input(input_shape), layers.Flatten(),
                           layers.Dense(48, activation="relu"), layers.Dense(48, activation="relu"),
                           layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=nn.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


BUILDERS = {"mlp_relu": mlp_relu, "mlp_tanh_dropout": mlp_tanh_dropout, "small_cnn": small_cnn,
            "deep_mlp_sgd": deep_mlp_sgd}


def fit_member(name, input_shape, n_classes, epochs, x, y):
    """Build member ``name`` and train it; ``functools.partial`` of the first four arguments is
    the ``fit_fn(x, y)`` the ensemble functions expect."""
    model = BUILDERS[name](input_shape, n_classes)
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model


def main(quick=False, dataset="digits", verbose=True, n_jobs=1, executor=None):
    """Train the members, combine them, print the report; return its numbers as a dict.

    ``n_jobs`` / ``executor``: the 4 x (n_splits + 1) fits run that many at a time, in worker
    processes or on a Dask cluster (``Client(...).get_executor()``); each fit is seeded from
    (member, fold), so the numbers are the same for any n_jobs and executor.

    Returns:
        dict with "rows" (one per member and ensemble: val/test accuracy and log loss),
        "weights", "names", "disagreement", "correlation" and "markdown".
    """
    epochs, n_splits = (3, 2) if quick else (20, 5)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load(dataset, quick)
    n_classes = int(y_train.max()) + 1
    fit_fns = {name: functools.partial(fit_member, name, x_train.shape[1:], n_classes, epochs) for name in BUILDERS}

    # stacking needs predictions on the training set by models that did not see them: k folds per
    # member, plus each member refit on the whole training set (all fits at once on n_jobs workers)
    stack = StackingEnsemble().fit_members(fit_fns, x_train, y_train, n_splits=n_splits, seed=0,
                                           n_jobs=n_jobs, executor=executor)
    members = {name: (predict(x_val), predict(x_test)) for name, predict in stack.members_.items()}
    if verbose:
        print(f"trained {len(fit_fns)} members x ({n_splits} folds + 1 refit)")
    stacking = (stack.predict_proba(x=x_val), stack.predict_proba(x=x_test))
    result = report(members, y_val, y_test, stacking=stacking)
    if verbose:
        print(result.to_markdown())
    numbers = result.to_dict()
    numbers["markdown"] = result.to_markdown()
    return numbers


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs and folds, a smoke run")
    parser.add_argument("--dataset", default="digits", choices=["digits", "shapes"])
    parser.add_argument("--n-jobs", type=int, default=1, help="fits at once, in worker processes")
    arguments = parser.parse_args()
    main(quick=arguments.quick, dataset=arguments.dataset, n_jobs=arguments.n_jobs)
