"""A bidirectional GRU: one GRU reads the sequence forwards, a second one backwards.

The task (``nn.datasets.make_padded_sequences``): long padded token sequences (20 to 30 real
tokens in quick mode) labelled by their first token mod 2. A forward GRU reads the first token at
step 1 and must carry it through every later step; the backward GRU (``go_backwards=True``, the
padding masked) reads it last, right before its final state. ``Bidirectional`` runs both (with
fresh weights each) and concatenates their final states: it learns the task within an epoch,
while the forward GRU alone stays near chance for the same number of epochs.

The GRU step (numpy_nn/ops/recurrent.py, Keras's gates z, r, h and reset_after=True):

    z = sigmoid(x_t W_z + h_{t-1} U_z + b),  r = sigmoid(x_t W_r + h_{t-1} U_r + b)
    h~ = tanh(x_t W_h + b_xh + r * (h_{t-1} U_h + b_hh));   h_t = z * h_{t-1} + (1 - z) * h~

Parameters of GRU(u) on F features with reset_after=True: 3 (F u + u u + 2 u) (two biases per
gate, like PyTorch); a Bidirectional layer has twice that. Both are checked against count_params().
"""
import argparse

import numpy_nn as nn
from numpy_nn import layers


def build(kind, units, seed):
    nn.config.set_random_seed(seed)
    tokens = nn.Input((None,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 8, mask_zero=True, name="embedding")(tokens)
    if kind == "bidirectional":
        x = layers.Bidirectional(layers.GRU(units), name="bidirectional")(x)
    else:
        x = layers.GRU(units, name="gru")(x)
    model = nn.Model(tokens, layers.Dense(2, activation="softmax", name="classifier")(x), name=kind)
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(quick=False, seed=0, verbose=1):
    n, epochs, units = (600, 6, 12) if quick else (3000, 15, 24)
    max_length = 30 if quick else 40
    x, y, _ = nn.datasets.make_padded_sequences(n, max_length=max_length, vocab_size=20, classes=2, min_length=20,
                                                seed=seed)
    split = int(0.8 * n)
    results = {"chance": 0.5}
    for kind in ("forward", "bidirectional"):
        model = build(kind, units, seed)
        history = model.fit(x[:split], y[:split], batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x[split:], y[split:]))
        recurrent = model.get_layer("bidirectional" if kind == "bidirectional" else "gru")
        copies = 2 if kind == "bidirectional" else 1
        results[kind] = {"val_accuracy": history.history["val_accuracy"][-1],
                         "val_accuracy_per_epoch": history.history["val_accuracy"],
                         "params": recurrent.count_params(),
                         "params_formula": copies * 3 * (8 * units + units * units + 2 * units)}
        if verbose:
            print(f"{kind:>13}: validation accuracy per epoch {[round(a, 3) for a in history.history['val_accuracy']]}"
                  f" (chance 0.5); parameters {results[kind]['params']} = "
                  f"{copies} x 3 (F u + u u + 2 u) = {results[kind]['params_formula']}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, a few seconds")
    main(quick=parser.parse_args().quick)
