"""Seeing what a small CNN learned: the three classic figures, and how good its explanations are.

Trains a small CNN on ``make_shapes`` (circle / square / triangle on a cluttered background), then
draws, as PNG files in ``out_dir``:

1. ``activations.png``: every channel of every convolution / pooling layer for one test image
   (Chollet's figure; all-zero channels framed in red and counted in the titles);
2. ``filters.png``: the input pattern each filter of the last convolution responds to most,
   found by gradient ascent on the input (keras.io's recipe plus the readability priors of
   ``mode="regularized"``);
3. ``grad_cam.png``: Grad-CAM, Grad-CAM++ and guided Grad-CAM heatmaps over test images, the
   true object outlined in white;
plus ``history.png`` (training curves), and prints the explanation-quality table
(``nn.viz.evaluate_explanations``: pointing game, energy in the mask, deletion/insertion AUC,
model-randomization rank correlation).

Run:  python examples/visualize_convnet.py [--quick] [--out DIR]
"""
import argparse
import os
import time

import numpy as np

from numpy_nn import optimizers, viz
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import SHAPES, make_shapes
from numpy_nn.tour import build_cnn


def build_model(size):
    """The tour's CNN (``numpy_nn.tour.build_cnn``): Conv-BN-ReLU-MaxPool twice, Conv-BN-ReLU, a residual
    SeparableConv2D block, global max pooling, softmax. It learns make_shapes within ~10 epochs (under a minute on 2 cores)."""
    return build_cnn(size, len(SHAPES), width=32, dropout=0.0, name="shapes_cnn")


def main(quick=False, out_dir="visualize_convnet_out", seed=0):
    """Train, draw the figures, print the table. Returns a dict of paths, accuracy and the table."""
    set_random_seed(seed)
    os.makedirs(out_dir, exist_ok=True)
    size, epochs = (24, 2) if quick else (32, 10)
    n_train, n_eval = (240, 12) if quick else (2500, 60)
    images, labels, _ = make_shapes(n_train, size=size, seed=seed)
    test_images, test_labels, test_masks = make_shapes(max(n_eval, 120), size=size, seed=seed + 1)

    model = build_model(size)
    model.compile(optimizers.Adam(learning_rate=1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    history = model.fit(images, labels, batch_size=32, epochs=epochs, validation_data=(test_images, test_labels),
                        verbose=0)
    train_seconds = time.time() - start
    _, accuracy = model.evaluate(test_images, test_labels, verbose=0)
    print(f"trained {epochs} epochs on {n_train} images of {size}x{size} in {train_seconds:.1f} s; "
          f"test accuracy {accuracy:.3f} (chance {1 / len(SHAPES):.3f})")

    paths = {name: os.path.join(out_dir, f"{name}.png") for name in ("activations", "filters", "grad_cam", "history")}
    viz.plot_history(history, paths["history"])

    # 1. intermediate activations of one test image
    acts = viz.activations(model, test_images[:1])
    dead = viz.plot_activations(acts, paths["activations"], images_per_row=16)

    # 2. filters of the last convolution (after its ReLU), by gradient ascent on the input
    last = "relu4"
    filter_count = 8 if quick else 32
    _, filter_results = viz.plot_filters(model, last, paths["filters"], filter_indices=range(filter_count),
                                         steps=8 if quick else 20, step_size=1.0, seed=seed, mode="regularized",
                                         scale=6)

    # 3. Grad-CAM family on a few test images
    shown = slice(0, 4 if quick else 6)
    x, y, masks = test_images[shown], test_labels[shown], test_masks[shown]
    maps = {"Grad-CAM": viz.grad_cam(model, x, layer_name=last),
            "Grad-CAM++": viz.grad_cam_plus_plus(model, x, layer_name=last),
            "guided Grad-CAM": viz.guided_grad_cam(model, x, layer_name=last)}
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    titles = [f"{SHAPES[t]} (pred. {SHAPES[p]})" for t, p in zip(y, predicted)]
    viz.plot_cam(x, maps, paths["grad_cam"], titles=titles, masks=masks)

    # explanation quality on held-out images (the true class is explained)
    methods = ("grad_cam", "grad_cam++", "saliency", "guided_backprop", "random") if quick else viz.metrics.DEFAULT_METHODS
    table = viz.evaluate_explanations(model, test_images[:n_eval], test_labels[:n_eval], test_masks[:n_eval],
                                      methods=methods, randomization=not quick)
    return {"paths": paths, "test_accuracy": float(accuracy), "train_seconds": train_seconds, "table": table,
            "dead_channels": dead, "filter_losses": [r.loss for r in filter_results],
            "pointing_baseline": viz.pointing_baseline(test_masks[:n_eval])}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="visualize_convnet_out")
    arguments = parser.parse_args()
    main(quick=arguments.quick, out_dir=arguments.out)
