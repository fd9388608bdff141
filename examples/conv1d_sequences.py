"""A 1-D convnet on sequences: causal dilated Conv1D forecasting, and a Conv1D classifier of token sequences.

Forecasting (``nn.datasets.make_noisy_series``): predict the next clean value of two noisy
sinusoids. A stack of ``Conv1D(padding="causal")`` layers with dilations 1, 2, 4, 8 (a small
WaveNet/TCN) sees 1 + 2*(1 + 2 + 4 + 8) = 31 past steps with 4 layers of kernel 3: output step t
of a causal layer is

    y[t] = b + sum_a x[t - d*(k - 1 - a)] @ K[a]      (x = 0 before the sequence starts)

so it never reads x after t. The example checks that: changing the input at step t0 leaves
every output before t0 exactly unchanged. The number to beat is persistence ("the next value
is the last one seen").

Classification (``nn.datasets.make_padded_sequences``, label = first token mod 4): Embedding,
two Conv1D layers (one strided) and a Dense softmax; chance is 1/4.
"""
import argparse

import numpy as np

import numpy_nn as nn
from numpy_nn import layers


def causal_tcn(length, width=16, dilations=(1, 2, 4, 8)):
    inputs = nn.Input((length, 1), name="series")
    h = inputs
    for d in dilations:
        h = layers.Conv1D(width, 3, padding="causal", dilation_rate=d, activation="relu", name=f"causal_d{d}")(h)
    outputs = layers.Dense(1, name="next_value")(layers.Flatten()(h))
    return nn.Model(inputs, outputs, name="causal_tcn")


def forecasting(quick, seed, verbose):
    n, length, epochs = (1000, 30, 8) if quick else (6000, 40, 25)
    x, y = nn.datasets.make_noisy_series(n, length=length, noise=0.1, seed=seed)
    split = int(0.8 * n)
    nn.config.set_random_seed(seed)
    model = causal_tcn(length)
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    history = model.fit(x[:split], y[:split], batch_size=64, epochs=epochs, verbose=0,
                        validation_data=(x[split:], y[split:]))
    persistence = float(np.mean(np.abs(x[split:, -1, :] - y[split:])))
    # causality: perturb step t0, the last causal layer's outputs before t0 must not move
    features = nn.function(model.inputs, [model.get_layer("causal_d8").output])
    t0 = length // 2
    changed = x[:4].copy()
    changed[:, t0:] += 1.0
    before, after = features(x[:4])[0], features(changed)[0]
    result = {"val_mae": history.history["val_mae"][-1], "persistence_mae": persistence,
              "past_change_max_abs": float(np.max(np.abs(after[:, :t0] - before[:, :t0]))),
              "future_change_max_abs": float(np.max(np.abs(after[:, t0:] - before[:, t0:]))),
              "receptive_field": 1 + 2 * (1 + 2 + 4 + 8)}
    if verbose:
        print(f"forecasting: causal dilated Conv1D validation MAE {result['val_mae']:.4f}; persistence "
              f"{persistence:.4f}; receptive field {result['receptive_field']} steps")
        print(f"causality: changing steps >= {t0} moves outputs before {t0} by {result['past_change_max_abs']:.1e}, "
              f"outputs from {t0} on by {result['future_change_max_abs']:.2f}")
    return result


def classification(quick, seed, verbose):
    n, length, classes, epochs = (1200, 16, 4, 6) if quick else (6000, 30, 4, 15)
    x, y, _ = nn.datasets.make_padded_sequences(n, max_length=length, vocab_size=12, classes=classes,
                                                min_length=4, label="first", seed=seed)
    split = int(0.8 * n)
    nn.config.set_random_seed(seed)
    model = nn.Sequential([
        nn.Input((length,), dtype="int32"), layers.Embedding(12, 8),
        layers.Conv1D(16, 3, padding="same", activation="relu"),
        layers.Conv1D(16, 3, strides=2, activation="relu"),
        layers.Flatten(), layers.Dense(classes, activation="softmax")], name="conv1d_classifier")
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:split], y[:split], batch_size=64, epochs=epochs, verbose=0,
                        validation_data=(x[split:], y[split:]))
    result = {"val_accuracy": history.history["val_accuracy"][-1], "chance": 1 / classes}
    if verbose:
        print(f"classification: Conv1D validation accuracy {result['val_accuracy']:.3f}; chance {1 / classes:.2f}")
    return result


def main(quick=False, seed=0, verbose=1):
    return {"forecasting": forecasting(quick, seed, verbose), "classification": classification(quick, seed, verbose)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, a few seconds")
    main(quick=parser.parse_args().quick)
