"""A two-branch functional model: named inputs, two named outputs, fed with dicts.

Branch A reads 8 "sensor" features, branch B 6 "profile" features. The model predicts
* ``score``: a binary flag that depends on branch A only (sigmoid, binary crossentropy),
* ``kind``: one of 3 classes that depends on both branches (softmax, sparse crossentropy),
with one loss per output, weighted 1.0 / 0.5, and accuracy reported per output
(History keys ``score_accuracy``, ``kind_accuracy``, ``score_loss``, ``kind_loss``, ...).

Run:  python examples/functional_two_branch.py [--quick]
"""
import argparse

import numpy as np

from numpy_nn import optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Concatenate
from numpy_nn.models import Input, Model


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 8)).astype("float32")
    b = rng.standard_normal((n, 6)).astype("float32")
    score = (a[:, :4].sum(axis=1) > 0).astype("float32")[:, None]
    kind = np.digitize(a[:, 4] + b[:, 0], [-0.5, 0.5])  # 0, 1 or 2
    return {"brancha": a, "branchb": b}, {"score": score, "kind": kind}


def build_model():
    a = Input((8,), name="brancha")
    b = Input((6,), name="branchb")
    ha = Dense(16, activation="relu", name="a_hidden")(a)
    hb = Dense(16, activation="relu", name="b_hidden")(b)
    joined = Concatenate(name="join")([ha, hb])
    score = Dense(1, activation="sigmoid", name="score")(ha)
    kind = Dense(3, activation="softmax", name="kind")(Dense(16, activation="relu", name="mix")(joined))
    return Model({"brancha": a, "branchb": b}, {"score": score, "kind": kind}, name="two_branch")


def main(quick=False):
    set_random_seed(0)
    x, y = make_data(400 if quick else 2000)
    x_test, y_test = make_data(500, seed=1)
    model = build_model()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01),
                  loss={"score": "binary_crossentropy", "kind": "sparse_categorical_crossentropy"},
                  loss_weights={"score": 1.0, "kind": 0.5},
                  metrics={"score": ["accuracy"], "kind": ["accuracy"]})
    history = model.fit(x, y, batch_size=32, epochs=8 if quick else 20, validation_split=0.2, verbose=0)
    results = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    print("History keys:", list(history.history))
    print("test:", {k: round(v, 4) for k, v in results.items()})
    return {"history": history.history, "test": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
