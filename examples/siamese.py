"""A siamese network: one shared encoder scores whether two vectors come from the same cluster.

The encoder (two Dense layers) is applied to both inputs; the same Variables are used twice and
the autograd tape sums the gradients of both branches. The pair is scored from the squared
difference of the two embeddings: sigmoid(Dense((e1 - e2)^2)).

Run:  python examples/siamese.py [--quick]
"""
import argparse

import numpy as np

from numpy_nn import optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Multiply, Subtract
from numpy_nn.models import Input, Model, Sequential


def make_pairs(n, centers, seed):
    """Half the pairs from the same cluster (label 1), half from two different clusters (label 0)."""
    rng = np.random.default_rng(seed)
    k, dim = centers.shape
    first = rng.integers(0, k, n)
    same = rng.random(n) < 0.5
    second = np.where(same, first, (first + rng.integers(1, k, n)) % k)
    left = centers[first] + 0.6 * rng.standard_normal((n, dim))
    right = centers[second] + 0.6 * rng.standard_normal((n, dim))
    return [left.astype("float32"), right.astype("float32")], same.astype("float32")[:, None]


def build_model(dim):
    encoder = Sequential([Input((dim,)), Dense(16, activation="relu", name="enc1"),
                          Dense(8, name="enc2")], name="encoder")
    left, right = Input((dim,), name="left"), Input((dim,), name="right")
    diff = Subtract(name="diff")([encoder(left), encoder(right)])
    squared = Multiply(name="squared")([diff, diff])
    same = Dense(1, activation="sigmoid", name="same")(squared)
    return Model([left, right], same, name="siamese"), encoder


def main(quick=False):
    set_random_seed(0)
    centers = np.random.default_rng(42).standard_normal((6, 10)) * 1.5
    x, y = make_pairs(600 if quick else 3000, centers, seed=0)
    x_test, y_test = make_pairs(600, centers, seed=1)
    model, encoder = build_model(10)
    model.compile(optimizers.Adam(learning_rate=0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=6 if quick else 15, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"encoder params {encoder.count_params()}, model params {model.count_params()} (encoder counted once)")
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    return {"history": history.history, "test_loss": loss, "test_accuracy": accuracy,
            "encoder_params": encoder.count_params(), "model_params": model.count_params()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
