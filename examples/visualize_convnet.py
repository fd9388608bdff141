"""Seeing what a small CNN learned: the classic figures, every CAM side by side, a two-input model,
and how good the explanations are.

Trains the tour's CNN on ``make_shapes`` (circle / square / triangle on a cluttered background),
with EarlyStopping (best weights restored) and ReduceLROnPlateau, then draws, as PNG files in
``out_dir``:

1. ``activations.png``: every channel of every convolution / pooling layer for one test image,
   the image and its class beside the grid (Chollet's figure; all-zero channels framed in red);
2. ``filters.png``: the input pattern each filter of the last convolution responds to most,
   found by gradient ascent on the input, labelled by filter index; filters the ascent could
   not excite are framed in red;
3. ``units.png``: the input that maximizes each class logit, plain pixels (jitter, L2, blur;
   cs231n's class visualization) beside the decorrelated Fourier parameterization (Olah et al.);
4. ``grad_cam.png``: Grad-CAM, Grad-CAM++ and guided Grad-CAM on right AND wrong predictions
   (wrong rows in red), the object outlined in white, with a colorbar;
5. ``cam_methods.png``: the eight CAMs (Grad-CAM, Grad-CAM++, HiResCAM, Layer-CAM, XGrad-CAM,
   Score-CAM, Ablation-CAM, Eigen-CAM) side by side on the same images;
6. ``two_input.png``: a model with two inputs (the image and the object's colour) and two
   outputs (the shape class and the object's area): Grad-CAM of ``output="shape"``, Score-CAM of
   the same, and Grad-CAM of ``target=Regression("increase", output="area")``;
plus ``history.png`` (training curves with the restored epoch and the learning-rate cuts), and
prints the explanation-quality tables (``nn.viz.evaluate_explanations``: pointing game, energy
in the mask, deletion/insertion AUC, model-randomization rank correlation) for the tour CNN and
for the two-input model.

Run:  python examples/visualize_convnet.py [--quick] [--out DIR]
"""
import argparse
import os
import time

import numpy as np

from numpy_nn import callbacks, optimizers, viz
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import SHAPES, make_shapes
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Concatenate
from numpy_nn.layers.pooling import GlobalMaxPooling2D, MaxPooling2D
from numpy_nn.models import Input, Model
from numpy_nn.tour import build_cnn

CAM_METHODS = {"Grad-CAM": viz.grad_cam, "Grad-CAM++": viz.grad_cam_plus_plus, "HiResCAM": viz.hires_cam,
               "Layer-CAM": viz.layer_cam, "XGrad-CAM": viz.xgrad_cam, "Score-CAM": viz.score_cam,
               "Ablation-CAM": viz.ablation_cam, "Eigen-CAM": viz.eigen_cam}


def build_model(size):
    """The tour's CNN (``numpy_nn.tour.build_cnn``): Conv-BN-ReLU-MaxPool twice, Conv-BN-ReLU, a residual
    SeparableConv2D block, global max pooling, softmax. It learns make_shapes within ~10 epochs (under a minute on 2 cores)."""
    return build_cnn(size, len(SHAPES), width=32, dropout=0.0, name="shapes_cnn")


def build_two_input_model(size, width=16):
    """image -> three convolutions -> global max pooling;  colour (3,) -> Dense;  joined -> two outputs:
    ``shape`` (softmax over the three classes) and ``area`` (the object's area as a fraction of the image, x10)."""
    image, colour = Input((size, size, 3), name="image"), Input((3,), name="colour")
    x = MaxPooling2D(2, name="pool1")(Conv2D(width, 3, padding="same", activation="relu", name="conv1")(image))
    x = MaxPooling2D(2, name="pool2")(Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2")(x))
    x = Conv2D(2 * width, 3, padding="same", activation="relu", name="features")(x)
    joined = Concatenate(name="joined")([GlobalMaxPooling2D(name="gmp")(x),
                                         Dense(8, activation="relu", name="colour_dense")(colour)])
    shape = Dense(len(SHAPES), activation="softmax", name="shape")(joined)
    area = Dense(1, name="area")(joined)
    return Model({"image": image, "colour": colour}, {"shape": shape, "area": area}, name="two_input")


def two_input_data(images, masks):
    """Inputs {"image", "colour": mean RGB of the object} and the area target (mask fraction x 10)."""
    colour = (images * masks[..., None]).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))[:, None]
    return {"image": images, "colour": colour.astype("float32")}, (10 * masks.mean(axis=(1, 2)))[:, None].astype("float32")


def main(quick=False, out_dir="visualize_convnet_out", seed=0):
    """Train, draw the figures, print the tables. Returns a dict of paths, accuracies and tables."""
    set_random_seed(seed)
    os.makedirs(out_dir, exist_ok=True)
    size, epochs = (24, 2) if quick else (32, 12)
    n_train, n_eval = (240, 12) if quick else (2500, 60)
    images, labels, masks = make_shapes(n_train, size=size, seed=seed)
    test_images, test_labels, test_masks = make_shapes(max(n_eval, 120), size=size, seed=seed + 1)

    model = build_model(size)
    model.compile(optimizers.Adam(learning_rate=1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-4)
    start = time.time()
    history = model.fit(images, labels, batch_size=32, epochs=epochs, validation_data=(test_images, test_labels),
                        callbacks=[stopper, reducer], verbose=0)
    train_seconds = time.time() - start
    _, accuracy = model.evaluate(test_images, test_labels, verbose=0)
    print(f"trained {len(history.epoch)} epochs on {n_train} images of {size}x{size} in {train_seconds:.1f} s; "
          f"test accuracy {accuracy:.3f} (chance {1 / len(SHAPES):.3f})")

    names = ("activations", "filters", "units", "grad_cam", "cam_methods", "two_input", "history")
    paths = {name: os.path.join(out_dir, f"{name}.png") for name in names}
    viz.plot_history(history, paths["history"], callbacks=[stopper, reducer])
    predicted = np.argmax(model.predict(test_images, verbose=0), axis=1)

    # 1. intermediate activations of one test image, shown beside it with its class
    acts = viz.activations(model, test_images[:1])
    label = f"{SHAPES[test_labels[0]]} (predicted {SHAPES[predicted[0]]})"
    dead = viz.plot_activations(acts, paths["activations"], images_per_row=16, image=test_images[0], label=label)

    # 2. filters of the last convolution (after its ReLU), by gradient ascent on the input
    last = "relu4"
    filter_count = 8 if quick else 32
    _, filter_results = viz.plot_filters(model, last, paths["filters"], filter_indices=range(filter_count),
                                         steps=8 if quick else 20, step_size=1.0, seed=seed, mode="regularized",
                                         scale=6)

    # 3. class logits maximized: plain pixels beside the Fourier parameterization
    units = viz.plot_units(model, "predictions", range(len(SHAPES)), paths["units"], labels=SHAPES,
                           steps=10 if quick else 150, step_size=0.5 if quick else 1.0, value_range=(0, 1), seed=seed)

    # 4. Grad-CAM family on right and wrong predictions; 5. every CAM side by side
    rows = viz.right_and_wrong(test_labels, predicted, 4 if quick else 6)
    x, y, m = test_images[rows], test_labels[rows], test_masks[rows]
    maps = {"Grad-CAM": viz.grad_cam(model, x, layer_name=last),
            "Grad-CAM++": viz.grad_cam_plus_plus(model, x, layer_name=last),
            "guided Grad-CAM": viz.guided_grad_cam(model, x, layer_name=last)}
    viz.plot_cam(x, maps, paths["grad_cam"], masks=m, layer_name=last, true=y, predicted=predicted[rows],
                 class_names=SHAPES)
    every = {name: method(model, x, layer_name=last) for name, method in CAM_METHODS.items()}
    viz.plot_cam(x, every, paths["cam_methods"], masks=m, layer_name=last, true=y, predicted=predicted[rows],
                 class_names=SHAPES, heatmap_columns=False)

    # explanation quality on held-out images (the true class is explained)
    methods = ("grad_cam", "layer_cam", "eigen_cam", "saliency", "random") if quick \
        else viz.metrics.DEFAULT_METHODS
    print("tour CNN:")
    table = viz.evaluate_explanations(model, test_images[:n_eval], test_labels[:n_eval], test_masks[:n_eval],
                                      methods=methods, randomization=not quick, steps=8 if quick else 16)

    # 6. a model with two inputs and two outputs
    two = two_input_part(images, labels, masks, test_images, test_labels, test_masks, rows, paths["two_input"],
                         quick, n_eval, seed)
    return {"paths": paths, "test_accuracy": float(accuracy), "train_seconds": train_seconds, "table": table,
            "dead_channels": dead, "filter_losses": [r.loss for r in filter_results],
            "unit_losses": {int(k): {p: r.loss for p, r in v.items()} for k, v in units.items()},
            "restored_epoch": stopper.best_epoch, "pointing_baseline": viz.pointing_baseline(test_masks[:n_eval]),
            "two_input": two}


def two_input_part(images, labels, masks, test_images, test_labels, test_masks, rows, path, quick, n_eval, seed):
    """Train the two-input model; draw CAMs of its class output and of its regression output; score them."""
    set_random_seed(seed + 1)
    model = build_two_input_model(images.shape[1])
    model.compile(optimizers.Adam(learning_rate=2e-3), loss={"shape": "sparse_categorical_crossentropy",
                                                             "area": "mse"},
                  metrics={"shape": ["accuracy"]})
    x_train, area_train = two_input_data(images, masks)
    x_test, area_test = two_input_data(test_images, test_masks)
    model.fit(x_train, {"shape": labels, "area": area_train}, batch_size=32, epochs=2 if quick else 12, verbose=0)
    results = model.evaluate(x_test, {"shape": test_labels, "area": area_test}, return_dict=True, verbose=0)
    accuracy = results.get("shape_accuracy", results.get("accuracy"))
    print(f"two-input model: shape accuracy {accuracy:.3f}, area mse {results.get('area_loss', float('nan')):.4f}")
    shown = {key: value[rows] for key, value in x_test.items()}
    predicted = np.argmax(model.predict(shown, verbose=0)["shape"], axis=1)
    maps = {"Grad-CAM shape": viz.grad_cam(model, shown, "features", output="shape"),
            "Score-CAM shape": viz.score_cam(model, shown, "features", output="shape"),
            "Grad-CAM area": viz.grad_cam(model, shown, "features", target=viz.targets.Regression("increase", "area"))}
    viz.plot_cam(shown["image"], maps, path, masks=test_masks[rows], layer_name="features", true=test_labels[rows],
                 predicted=predicted, class_names=SHAPES, heatmap_columns=False,
                 title="two inputs (image, colour), two outputs (shape, area): what raises the shape logit / the area")
    colour_saliency = viz.saliency(model, shown, output="shape")["colour"]
    print("saliency of the colour input for the shape output (rows: images; R, G, B):")
    print(np.round(colour_saliency, 2))
    evaluation = {key: value[:n_eval] for key, value in x_test.items()}
    print("two-input model, output 'shape', maps of input 'image':")
    table = viz.evaluate_explanations(model, evaluation, test_labels[:n_eval], test_masks[:n_eval],
                                      methods=("grad_cam", "score_cam", "random") if quick else
                                      ("grad_cam", "layer_cam", "xgrad_cam", "score_cam", "ablation_cam", "saliency",
                                       "random"),
                                      output="shape", input_name="image", randomization=not quick,
                                      steps=8 if quick else 16)
    return {"results": results, "table": table}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="visualize_convnet_out")
    arguments = parser.parse_args()
    main(quick=arguments.quick, out_dir=arguments.out)
