"""Memory in recurrent layers: the adding problem (LSTM) and a noisy time series (GRU), each against its baseline.

Adding problem (``nn.datasets.make_adding_problem``, Hochreiter and Schmidhuber 1997): a sequence
of numbers in [0, 1) with two marked steps, one in each half; the target is the sum of the two
marked numbers. Predicting the mean (1.0) scores a mean squared error of Var(u1 + u2) = 1/6; an
LSTM that scores far below that has learned to keep the first marked number in its cell state
c_t = f * c_{t-1} + i * c~ until the second one arrives.

Forecasting (``nn.datasets.make_noisy_series``): two noisy sinusoids per series, predict the next
clean value. The common-sense baseline is persistence, "the next value is the last one seen";
a GRU that beats it has learned the periodic structure and averaged out the noise.
"""
import argparse

import numpy as np

import numpy_nn as nn
from numpy_nn import layers


def adding_problem(quick, seed, verbose):
    n, length, epochs = (1500, 10, 10) if quick else (10000, 30, 30)
    x, y = nn.datasets.make_adding_problem(n, length=length, seed=seed)
    split = int(0.8 * n)
    nn.config.set_random_seed(seed)
    model = nn.Sequential([nn.Input((length, 2)), layers.LSTM(16), layers.Dense(1)], name="adding_lstm")
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x[:split], y[:split], batch_size=64, epochs=epochs, verbose=0,
                        validation_data=(x[split:], y[split:]))
    baseline = float(np.mean((y[split:] - 1.0) ** 2))
    result = {"length": length, "val_mse": history.history["val_loss"][-1], "mean_baseline_mse": baseline,
              "theory_baseline_mse": 1 / 6}
    if verbose:
        print(f"adding problem, T={length}: LSTM validation MSE {result['val_mse']:.4f}; predicting 1.0 gives "
              f"{baseline:.4f} (1/6 = {1 / 6:.4f} in theory)")
    return result


def forecasting(quick, seed, verbose):
    n, length, epochs = (1000, 30, 8) if quick else (6000, 40, 25)
    x, y = nn.datasets.make_noisy_series(n, length=length, noise=0.1, seed=seed)
    split = int(0.8 * n)
    nn.config.set_random_seed(seed)
    model = nn.Sequential([nn.Input((length, 1)), layers.GRU(16), layers.Dense(1)], name="forecast_gru")
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    history = model.fit(x[:split], y[:split], batch_size=64, epochs=epochs, verbose=0,
                        validation_data=(x[split:], y[split:]))
    persistence = float(np.mean(np.abs(x[split:, -1, :] - y[split:])))
    result = {"val_mae": history.history["val_mae"][-1], "persistence_mae": persistence}
    if verbose:
        print(f"forecasting: GRU validation MAE {result['val_mae']:.4f}; persistence (last value) {persistence:.4f}")
    return result


def main(quick=False, seed=0, verbose=1):
    return {"adding": adding_problem(quick, seed, verbose), "forecasting": forecasting(quick, seed, verbose)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, a few seconds")
    main(quick=parser.parse_args().quick)
