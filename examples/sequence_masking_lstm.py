"""Embedding + LSTM with masking: padded sequences whose label is their first token.

Sequences of 5 to 20 tokens are padded with 0 to one length (``nn.datasets.make_padded_sequences``);
the label is the first token mod 2, so the LSTM must carry what it saw at step 1 to the end.
``Embedding(mask_zero=True)`` marks the padding, and the LSTM skips the masked steps: its state
is carried unchanged, c_t = c_{t-1}, h_t = h_{t-1}. The final state of a padded sequence is then
exactly the final state of the unpadded one (checked below, to float32 rounding). Without the
mask the LSTM reads the padding as tokens and must keep the first token through up to 15 more
steps, so the same model learns more slowly.

The LSTM step (numpy_nn/ops/recurrent.py, gates in Keras's order i, f, c, o):

    z = x_t W + h_{t-1} U + b;  i, f, o = sigmoid(z_i, z_f, z_o);  c~ = tanh(z_c)
    c_t = f * c_{t-1} + i * c~;  h_t = o * tanh(c_t)

Parameters of LSTM(u) on F features: 4 (F u + u u + u), checked against count_params().
"""
import argparse

import numpy as np

import numpy_nn as nn
from numpy_nn import layers


def build(vocab_size, units, mask_zero, seed):
    nn.config.set_random_seed(seed)
    tokens = nn.Input((None,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, 8, mask_zero=mask_zero, name="embedding")(tokens)
    x = layers.LSTM(units, name="lstm")(x)
    outputs = layers.Dense(2, activation="softmax", name="classifier")(x)
    model = nn.Model(tokens, outputs, name="masked_lstm" if mask_zero else "unmasked_lstm")
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def truncation_check(model, x, lengths):
    """max |h_T(padded sequence) - h_T(the same tokens without padding)| over a few sequences."""
    lstm = nn.Model(model.inputs, model.get_layer("lstm").output)
    worst = 0.0
    for row, length in zip(x[:8], lengths[:8]):
        padded = lstm.predict(row[None], verbose=0)
        unpadded = lstm.predict(row[None, :length], verbose=0)
        worst = max(worst, float(np.abs(padded - unpadded).max()))
    return worst


def main(quick=False, seed=0, verbose=1):
    n, epochs, units = (600, 6, 16) if quick else (3000, 12, 32)
    max_length = 12 if quick else 20
    x, y, lengths = nn.datasets.make_padded_sequences(n, max_length=max_length, vocab_size=20, classes=2,
                                                      min_length=4, seed=seed)
    split = int(0.8 * n)
    results = {"chance": 0.5, "samples": n, "max_length": max_length}
    for name, mask_zero in (("masked", True), ("unmasked", False)):
        model = build(20, units, mask_zero, seed)
        history = model.fit(x[:split], y[:split], batch_size=32, epochs=epochs, verbose=0, shuffle=True,
                            validation_data=(x[split:], y[split:]))
        results[name] = {"val_accuracy": history.history["val_accuracy"][-1],
                         "val_accuracy_per_epoch": history.history["val_accuracy"]}
        if mask_zero:
            lstm = model.get_layer("lstm")
            formula = 4 * (8 * units + units * units + units)
            results["lstm_params"] = {"count_params": lstm.count_params(), "formula": formula}
            results["truncation_max_abs"] = truncation_check(model, x[split:], lengths[split:])
        if verbose:
            print(f"{name:>8}: validation accuracy per epoch "
                  f"{[round(a, 3) for a in history.history['val_accuracy']]} (chance 0.5)")
    if verbose:
        print(f"LSTM parameters: count_params() = {results['lstm_params']['count_params']}, "
              f"4 (F u + u u + u) = {results['lstm_params']['formula']}")
        print(f"masked steps are skipped: |h_T(padded) - h_T(unpadded)| <= {results['truncation_max_abs']:.2e}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, a few seconds")
    main(quick=parser.parse_args().quick)
