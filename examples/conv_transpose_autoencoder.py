"""A convolutional autoencoder on the 8x8 digits: strided Conv2D down, Conv2DTranspose back up.

Encoder: two 3x3 Conv2D with strides 2 and "same" padding, 8x8x1 -> 4x4x16 -> 2x2x8 (the code:
32 numbers for 64 pixels). Decoder: two Conv2DTranspose, the
adjoint of a strided convolution: input pixel i, tap a lands on output pixel i*s + a - P,

    y[o] = b + sum over (i, a) with i*s + a - P = o of x[i] @ K[a]^T       K: (kh, kw, filters, C)

With strides 2, kernel 3 and "same" padding the output is exactly 2x the input (Keras's
rule: out = n*s; in "valid" it would be (n - 1)*s + max(k, s) = 2n + 1). The example checks
the output sizes against those formulas and the reconstruction MSE on held-out digits against
the predict-the-mean-image baseline (what a model that ignores its input scores at best).
"""
import argparse

import numpy as np

import numpy_nn as nn
from numpy_nn import layers


def autoencoder():
    image = nn.Input((8, 8, 1), name="digit")
    h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="down1")(image)
    code = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="code")(h)
    h = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", name="up1")(code)
    out = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid", name="up2")(h)
    return nn.Model(image, out, name="conv_transpose_autoencoder")


def main(quick=False, seed=0, verbose=1):
    x, _ = nn.datasets.load_digits(as_images=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x = x[order]
    split = int(0.8 * len(x))
    train, test = (x[:600], x[split:]) if quick else (x[:split], x[split:])
    nn.config.set_random_seed(seed)
    model = autoencoder()
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="mse")
    history = model.fit(train, train, batch_size=32, epochs=15 if quick else 60, verbose=0)
    reconstruction = model.predict(test, verbose=0)
    mse = float(np.mean((reconstruction - test) ** 2))
    mean_image_mse = float(np.mean((train.mean(axis=0, keepdims=True) - test) ** 2))
    shapes = {name: model.get_layer(name).output.shape[1:] for name in ("down1", "code", "up1", "up2")}
    result = {"test_mse": mse, "mean_image_mse": mean_image_mse, "train_loss": history.history["loss"][-1],
              "shapes": shapes, "valid_size_formula": (2 - 1) * 2 + max(3, 2),
              "valid_size": layers.Conv2DTranspose(1, 3, strides=2).compute_output_shape((None, 2, 2, 8))[1]}
    if verbose:
        print("shapes:", ", ".join(f"{name} {shape}" for name, shape in shapes.items()))
        print(f"reconstruction MSE on {len(test)} held-out digits: {mse:.4f}; predicting the mean image: "
              f"{mean_image_mse:.4f} ({mse / mean_image_mse:.0%} of it)")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, a few seconds")
    main(quick=parser.parse_args().quick)
