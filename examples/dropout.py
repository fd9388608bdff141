"""Dropout two ways: Keras's inverted dropout and the textbook (2014) form, in numbers.

Dropout keeps each unit with probability p = 1 - rate (mask ~ Bernoulli(p)). The two forms put
the correction for the missing units on opposite sides of training:

    inverted (Keras, numpy_nn)   train:  y = x * mask / p      inference:  y = x
    textbook (Srivastava 2014)   train:  y = x * mask          inference:  y = p * x

Both agree *in expectation*: the mean over masks of the train-time output is the inference output,

    E[x * mask / p] = x * p / p = x          E[x * mask] = p * x.

They differ in
* the train-time scale: a kept unit is x / p (inverted) or x (textbook);
* the variance over masks: Var[x * mask / p] = x^2 (1 - p) / p  versus  Var[x * mask] = x^2 p (1 - p),
  a factor 1 / p^2 apart (the relative spread sqrt((1 - p) / p) is the same);
* what a mixed-up model sees at inference: weights trained with the textbook form but served by a
  Keras-style identity inference receive activations 1 / p times larger than in training; weights
  trained with Keras's form but served with the textbook's p-scaling receive them p times smaller.
  The argmax of ``W h + b`` hardly cares about the scale of h, so accuracy barely moves, but every
  probability does: the loss changes (up, or even down for a model that dropout left
  under-confident), and any threshold or calibration fitted on the right scale is off.

Part 1 draws many masks with ``numpy_nn.layers.Dropout`` (the op in ``numpy_nn/ops/dropout.py``)
and measures all of the above. Part 2 trains the same MLP on the 8x8 digits with no dropout,
inverted dropout and textbook dropout, prints the train/validation gap (dropout narrows it), and
serves each dropout model with both inference rules.

Run:  python examples/dropout.py [--quick]
"""
import argparse

import numpy as np

from numpy_nn import config, optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import load_digits, split
from numpy_nn.layers.base import Layer
from numpy_nn.layers.core import Dense
from numpy_nn.layers.dropout import Dropout
from numpy_nn.models import Input, Model
from numpy_nn.ops.dropout import Dropout as DropoutOp


class TextbookDropout(Layer):
    """The 2014 form: y = x * mask while training, y = p * x at inference (p = 1 - rate).

    Built on the inverted op: (x * mask / p) * p = x * mask.
    """

    single_input = True

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, training=None):
        keep_prob = 1.0 - self.rate
        if training:
            return DropoutOp.apply(inputs, rate=self.rate, rng=config.rng()) * keep_prob
        return inputs * keep_prob

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# -- Part 1: one activation vector, many masks ----------------------------------------------------
def mask_statistics(rate=0.5, n_masks=4000, units=64, seed=0):
    """Train-time outputs of both forms over ``n_masks`` masks, compared with their inference outputs."""
    keep_prob = 1.0 - rate
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 2.0, (1, units)).astype("float32")  # positive, as after a ReLU
    layer = Dropout(rate, seed=seed)
    inverted_train = layer(np.repeat(x, n_masks, axis=0), training=True).numpy()  # one mask per row
    inverted_infer = layer(x, training=False).numpy()[0]
    mask = inverted_train != 0                                 # x > 0, so a zero means "dropped"
    textbook_train = x * mask
    textbook_infer = keep_prob * x[0]
    x = x[0]

    def agreement(train, infer):
        # |mean over masks - inference| in units of the standard error of that mean
        error = np.abs(train.mean(axis=0) - infer)
        standard_error = train.std(axis=0) / np.sqrt(n_masks)
        return float(error.max()), float((error / standard_error).max())

    stats = {"rate": rate, "keep_prob": keep_prob, "n_masks": n_masks,
             "keep_fraction": float(mask.mean()),
             "inference_is_identity": bool(np.array_equal(inverted_infer, x)),
             "inverted_kept_scale": float(np.median(inverted_train[mask] / np.broadcast_to(x, mask.shape)[mask])),
             "textbook_kept_scale": float(np.median(textbook_train[mask] / np.broadcast_to(x, mask.shape)[mask]))}
    stats["inverted_mean_error"], stats["inverted_mean_error_in_se"] = agreement(inverted_train, inverted_infer)
    stats["textbook_mean_error"], stats["textbook_mean_error_in_se"] = agreement(textbook_train, textbook_infer)
    inverted_var, textbook_var = inverted_train.var(axis=0), textbook_train.var(axis=0)
    stats["inverted_var_vs_formula"] = float(np.median(inverted_var / (x ** 2 * (1 - keep_prob) / keep_prob)))
    stats["textbook_var_vs_formula"] = float(np.median(textbook_var / (x ** 2 * keep_prob * (1 - keep_prob))))
    stats["variance_ratio"] = float(np.median(inverted_var / textbook_var))   # formula: 1 / p^2
    return stats


def print_mask_statistics(s):
    p = s["keep_prob"]
    print(f"Part 1: rate {s['rate']} (keep probability p = {p}), {s['n_masks']} masks, "
          f"fraction kept {s['keep_fraction']:.4f}")
    print(f"  inverted: kept units scaled by {s['inverted_kept_scale']:.4f} (1/p = {1 / p:.4f}); inference is the "
          f"identity: {s['inference_is_identity']}")
    print(f"  textbook: kept units scaled by {s['textbook_kept_scale']:.4f}; inference multiplies by p = {p}")
    print(f"  |mean over masks - inference output|: inverted {s['inverted_mean_error']:.4f} "
          f"({s['inverted_mean_error_in_se']:.1f} standard errors at worst), textbook {s['textbook_mean_error']:.4f} "
          f"({s['textbook_mean_error_in_se']:.1f} standard errors)")
    print(f"  variance over masks / formula: inverted {s['inverted_var_vs_formula']:.3f} (x^2 (1-p)/p), "
          f"textbook {s['textbook_var_vs_formula']:.3f} (x^2 p (1-p)); inverted / textbook = "
          f"{s['variance_ratio']:.3f} (1/p^2 = {1 / p ** 2:.3f})")


# -- Part 2: train with each form, serve with each inference rule -----------------------------------
def build_mlp(form, rate, hidden=256):
    inputs = Input((64,), name="pixels")
    h = Dense(hidden, activation="relu", name="hidden")(inputs)
    if form == "inverted":
        h = Dropout(rate, name="dropout")(h)
    elif form == "textbook":
        h = TextbookDropout(rate, name="dropout")(h)
    outputs = Dense(10, activation="softmax", name="classes")(h)
    return Model(inputs, outputs, name=f"mlp_{form}")


def serve(model, x, y, scale):
    """Loss, accuracy and mean head input when the dropout layer is replaced by ``h -> scale * h``."""
    h = model.get_layer("hidden")(x).numpy() * np.float32(scale)
    probs = model.get_layer("classes")(h).numpy()
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))))
    return loss, float(np.mean(probs.argmax(axis=1) == y)), float(h.mean())


def train_forms(rate=0.5, epochs=40, n_train=300, seed=0):
    x, y = load_digits(as_images=False)
    (x_train, y_train), (x_val, y_val) = split(x, y, fractions=(0.3, 0.7), seed=seed)
    x_train, y_train = x_train[:n_train], y_train[:n_train]  # a small training set overfits
    keep_prob = 1.0 - rate
    results = {}
    for form in ("none", "inverted", "textbook"):
        set_random_seed(seed)  # the same initial weights and batches for every form
        model = build_mlp(form, rate)
        model.compile(optimizers.Adam(learning_rate=3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
        train_loss, train_accuracy = model.evaluate(x_train, y_train, verbose=0)
        val_loss, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
        row = {"train_loss": train_loss, "train_accuracy": train_accuracy, "val_loss": val_loss,
               "val_accuracy": val_accuracy, "gap": val_loss - train_loss}
        if form != "none":
            # what the head sees in training mode: the mean of the dropout layer's output over masks
            h = model.get_layer("hidden")(x_val)
            row["train_time_head_input"] = float(np.mean([model.get_layer("dropout")(h, training=True).numpy().mean()
                                                          for _ in range(20)]))
            right, wrong = (1.0, keep_prob) if form == "inverted" else (keep_prob, 1.0)
            for name, scale in (("right_rule", right), ("wrong_rule", wrong)):
                loss, accuracy, head_input = serve(model, x_val, y_val, scale)
                row[name] = {"scale": scale, "val_loss": loss, "val_accuracy": accuracy, "head_input": head_input,
                             "head_input_ratio": head_input / row["train_time_head_input"]}
        results[form] = row
    return results


def print_forms(results, rate):
    print(f"\nPart 2: MLP 64-256-10 on the digits, dropout rate {rate} after the hidden layer")
    print(f"  {'dropout':10s} {'train loss':>10s} {'val loss':>9s} {'gap':>7s} {'train acc':>9s} {'val acc':>8s}")
    for form, r in results.items():
        print(f"  {form:10s} {r['train_loss']:10.4f} {r['val_loss']:9.4f} {r['gap']:7.4f} "
              f"{r['train_accuracy']:9.3f} {r['val_accuracy']:8.3f}")
    print("  serving each dropout model with its own inference rule and with the other one:")
    for form in ("inverted", "textbook"):
        for name in ("right_rule", "wrong_rule"):
            s = results[form][name]
            print(f"    trained {form:8s}, inference h -> {s['scale']:.2f} h ({name.replace('_', ' ')}): "
                  f"head input / training-time mean = {s['head_input_ratio']:.3f}, "
                  f"val loss {s['val_loss']:.4f}, val acc {s['val_accuracy']:.3f}")


def main(quick=False, rate=0.5):
    set_random_seed(0)
    stats = mask_statistics(rate, n_masks=2000 if quick else 20000)
    print_mask_statistics(stats)
    forms = train_forms(rate, epochs=15 if quick else 60)
    print_forms(forms, rate)
    return {"masks": stats, "training": forms}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
