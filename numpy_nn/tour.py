"""``numpy-nn tour``: the main job — train a small CNN, evaluate it, draw what it learned, report.

Everything runs on a fresh machine with no download:

1. data: ``nn.datasets.make_shapes`` (circles, squares, triangles on clutter, with object
   masks), split into train / validation / test (the test split is touched once, at the end);
2. model: a small residual CNN with Conv2D, SeparableConv2D, BatchNormalization, Dropout and a
   residual Add, trained with Adam, a progress bar, EarlyStopping and ReduceLROnPlateau;
3. figures: learning curves, the layer graph, intermediate activations, filters found by
   gradient ascent, Grad-CAM overlays (scored with the pointing game against the masks);
4. a small ensemble on scikit-learn's bundled 8x8 digits (three different members, weights
   fitted on validation data only, one test score at the end);
5. ``report.md`` tying it together with the measured numbers.

``--quick`` shrinks every step to a smoke run: it checks that every step works, and its shapes
model is too small and too briefly trained to beat chance (1/3), which its console output and its
report say. The full run trains long enough to learn. docs/getting-started.md quotes the measured
times of both.

The progress bar redraws itself in a terminal (or a notebook); when stdout is a file or a pipe
the tour prints one line per epoch instead (Keras's ``verbose=2``).
"""
import json
import pathlib
import sys
import time

import numpy as np


def build_cnn(size, n_classes, width=32, dropout=0.1, momentum=0.9, name="shapes_cnn", seed=None):
    """The tour's CNN: two Conv-BN-ReLU-MaxPool stages, a Conv-BN-ReLU, a residual separable block, GMP, Dense.

    BatchNormalization uses momentum 0.9 (Keras's default is 0.99) so that its moving averages,
    which the validation and test passes use, settle within a short run.
    """
    import numpy_nn as nn
    from numpy_nn import layers

    if seed is not None:
        nn.set_random_seed(seed)
    inputs = nn.Input((size, size, 3), name="image")
    x = inputs
    for stage, filters in enumerate((width, 2 * width), start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"conv{stage}")(x)
        x = layers.BatchNormalization(momentum=momentum, name=f"bn{stage}")(x)
        x = layers.ReLU(name=f"relu{stage}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", name="conv3")(x)
    x = layers.BatchNormalization(momentum=momentum, name="bn3")(x)
    block_input = layers.ReLU(name="relu3")(x)
    x = layers.SeparableConv2D(2 * width, 3, padding="same", name="sepconv")(block_input)
    x = layers.BatchNormalization(momentum=momentum, name="bn4")(x)
    x = layers.Add(name="residual")([x, block_input])
    x = layers.ReLU(name="relu4")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return nn.Model(inputs, outputs, name=name)


def _compile(model, learning_rate=1e-3):
    import numpy_nn as nn
    model.compile(optimizer=nn.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


SMOKE_RUN_NOTE = ("quick mode is a smoke run: every step runs, but the shapes model is too small and trained "
                  "too briefly to beat chance (1/3), so expect chance-level accuracy; run `numpy-nn tour` "
                  "without --quick for a model that learns")


def _log(message):
    print(f"[tour] {message}", flush=True)


def _progress_verbosity():
    """1 (a bar redrawn in place) in a terminal or a notebook; 2 (one line per epoch) otherwise."""
    interactive = (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules
    return 1 if interactive else 2


def summary_text(model, widest=200):
    """``model.summary()`` as text, at the narrowest width (>= 80) where no cell wraps onto a second line.

    ``summary()`` fits the terminal (80 columns when stdout is not one), which wraps long class
    names such as ``(BatchNormalization)``; a file has no terminal, so it gets the width it needs.
    """
    def render(width):
        lines = []
        model.summary(line_length=width, print_fn=lines.append)
        return "\n".join(lines)

    fewest = len(render(widest).splitlines())
    for width in range(80, widest, 2):
        text = render(width)
        if len(text.splitlines()) == fewest:
            return text
    return render(widest)


def run_tour(out_dir="tour_output", quick=False, seed=0):
    """Run the tour, write figures and ``report.md`` into ``out_dir``; return the numbers (dict)."""
    import numpy_nn as nn
    from numpy_nn import callbacks, viz

    start = time.perf_counter()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(n=600, size=24, epochs=3, patience=2, width=8, filters=8, digits_epochs=2) if quick else \
        dict(n=3600, size=32, epochs=24, patience=5, width=32, filters=32, digits_epochs=10)
    numbers = {"quick": quick, "seed": seed}
    if quick:
        _log(SMOKE_RUN_NOTE)

    # 1. data ------------------------------------------------------------------------------------
    images, labels, masks = nn.datasets.make_shapes(settings["n"], size=settings["size"], seed=seed)
    (train, val, test) = nn.datasets.split((images, masks), labels, fractions=(0.7, 0.15, 0.15), seed=seed)
    (x_train, m_train), y_train = train
    (x_val, m_val), y_val = val
    (x_test, m_test), y_test = test
    class_names = list(nn.datasets.SHAPES)
    numbers["chance_accuracy"] = 1.0 / len(class_names)
    _log(f"data: make_shapes {settings['size']}x{settings['size']}, train {len(x_train)}, "
         f"validation {len(x_val)}, test {len(x_test)}, classes {class_names}")

    # 2. model and training ----------------------------------------------------------------------
    model = _compile(build_cnn(settings["size"], len(class_names), settings["width"], seed=seed))
    summary = summary_text(model)
    (out / "model_summary.txt").write_text(summary.rstrip("\n") + "\n")
    print(summary.rstrip("\n"))
    nn.utils.plot_model(model, str(out / "model.png"))
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=settings["patience"], restore_best_weights=True)
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-4)
    fit_start = time.perf_counter()
    np.random.seed(seed)
    history = model.fit(x_train, y_train, batch_size=32, epochs=settings["epochs"], verbose=_progress_verbosity(),
                        validation_data=(x_val, y_val), callbacks=[stopper, reducer])
    numbers["train_seconds"] = time.perf_counter() - fit_start
    numbers["epochs_run"] = len(history.epoch)
    numbers["seconds_per_epoch"] = numbers["train_seconds"] / max(numbers["epochs_run"], 1)
    viz.plot_history(history, str(out / "learning_curves.png"))
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    val_loss, val_accuracy = model.evaluate(x_val, y_val, verbose=0)
    numbers.update(test_loss=float(test_loss), test_accuracy=float(test_accuracy),
                   val_loss=float(val_loss), val_accuracy=float(val_accuracy),
                   params=model.count_params())
    _log(f"test accuracy {test_accuracy:.3f} (validation {val_accuracy:.3f}; chance "
         f"{numbers['chance_accuracy']:.3f}), {numbers['epochs_run']} epochs, "
         f"{numbers['seconds_per_epoch']:.1f} s/epoch" + ("; smoke run: chance level is expected" if quick else ""))

    # 3. what the network learned ----------------------------------------------------------------
    sample = x_test[:1]
    acts = viz.activations(model, sample, layer_names=["relu1", "relu2", "relu3", "relu4"])
    viz.plot_activations(acts, str(out / "activations.png"))
    numbers["dead_channels"] = {name: int(viz.dead_channels(a[0]).sum()) for name, a in acts.items()}
    viz.plot_filters(model, "relu3", str(out / "filters.png"), filter_indices=range(settings["filters"]),
                     seed=seed)
    cam_count = 6
    heatmaps = viz.grad_cam(model, x_test[:cam_count], layer_name="relu4")
    predicted = np.argmax(model.predict(x_test[:cam_count], verbose=0), axis=-1)
    titles = [f"true {class_names[t]} / pred {class_names[p]}" for t, p in zip(y_test[:cam_count], predicted)]
    viz.plot_cam(x_test[:cam_count], heatmaps, str(out / "gradcam.png"), titles=titles, masks=m_test[:cam_count])
    all_maps = viz.grad_cam(model, x_test, layer_name="relu4", class_index=y_test)
    numbers["pointing_game"] = float(np.mean(viz.pointing_game(all_maps, m_test)))
    numbers["pointing_baseline"] = float(np.mean(viz.pointing_baseline(m_test)))
    _log(f"Grad-CAM pointing game {numbers['pointing_game']:.3f} vs random-point baseline "
         f"{numbers['pointing_baseline']:.3f}")

    # 4. ensemble and digits (scikit-learn's bundled 8x8 digits) --------------------------------------
    numbers.update(_digits_ensemble(settings["digits_epochs"], seed))
    if numbers.get("ensemble_markdown"):
        (out / "ensemble.md").write_text(numbers["ensemble_markdown"] + "\n")

    numbers["total_seconds"] = time.perf_counter() - start
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2, default=float))
    (out / "report.md").write_text(_report(numbers, settings, class_names))
    _log(f"wrote {out}/report.md and figures in {numbers['total_seconds']:.0f} s")
    return numbers


def _digits_members(input_shape, seed):
    """Three different small models for the ensemble: an MLP, a small CNN, a wider CNN with dropout."""
    import numpy_nn as nn
    from numpy_nn import layers
    nn.set_random_seed(seed)
    mlp = nn.Sequential([nn.Input(input_shape), layers.Flatten(), layers.Dense(64, activation="relu"),
                         layers.Dense(10, activation="softmax")], name="mlp")
    nn.set_random_seed(seed + 1)
    cnn = nn.Sequential([nn.Input(input_shape), layers.Conv2D(16, 3, padding="same", activation="relu"),
                         layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10, activation="softmax")],
                        name="cnn")
    nn.set_random_seed(seed + 2)
    wide = nn.Sequential([nn.Input(input_shape), layers.Conv2D(32, 3, padding="same", activation="relu"),
                          layers.Conv2D(32, 3, padding="same", activation="relu"), layers.GlobalAveragePooling2D(),
                          layers.Dropout(0.2), layers.Dense(10, activation="softmax")], name="wide_cnn")
    return {"mlp": mlp, "cnn": cnn, "wide_cnn": wide}


def _digits_ensemble(epochs, seed):
    """Train three members on the digits, fit ensemble weights on validation data, report on test."""
    import numpy_nn as nn
    from numpy_nn import ensemble
    try:
        x, y = nn.datasets.load_digits()
    except ImportError:
        _log("scikit-learn not installed: skipping the digits ensemble")
        return {"ensemble": None}
    (train, val, test) = nn.datasets.split(x, y, fractions=(0.6, 0.2, 0.2), seed=seed)
    members = {}
    for name, model in _digits_members(x.shape[1:], seed).items():
        _compile(model, 3e-3)
        np.random.seed(seed)
        model.fit(train[0], train[1], batch_size=32, epochs=epochs, verbose=0)
        members[name] = (model.predict(val[0], verbose=0), model.predict(test[0], verbose=0))
    table = ensemble.report(members, val[1], test[1])
    _log("digits ensemble (weights fitted on validation data only):")
    print(table.to_markdown())
    return {"ensemble": table.to_dict(), "ensemble_markdown": table.to_markdown()}


def _report(numbers, settings, class_names):
    lines = [
        "# numpy_nn tour report",
        "",
        f"Mode: {'quick' if numbers['quick'] else 'full'}; seed {numbers['seed']}; total "
        f"{numbers['total_seconds']:.0f} s.",
        "",
        *([f"**Smoke run.** {SMOKE_RUN_NOTE[0].upper()}{SMOKE_RUN_NOTE[1:]}. The digits ensemble is "
           "trained for two epochs only, for the same reason.", ""] if numbers["quick"] else []),
        "## Data and model",
        "",
        f"`make_shapes`: {settings['n']} images of {settings['size']}x{settings['size']} pixels, classes "
        f"{', '.join(class_names)}, split 70/15/15 (train/validation/test). The model "
        f"({numbers['params']} parameters) is in `model_summary.txt` and drawn in `model.png`.",
        "",
        "![model](model.png)",
        "",
        "## Training",
        "",
        f"{numbers['epochs_run']} epochs ({numbers['seconds_per_epoch']:.1f} s per epoch), Adam, early "
        "stopping on validation loss (best weights restored), learning rate halved on plateaus.",
        "",
        "![learning curves](learning_curves.png)",
        "",
        "| split | loss | accuracy |",
        "|---|---|---|",
        f"| validation | {numbers['val_loss']:.4f} | {numbers['val_accuracy']:.4f} |",
        f"| test | {numbers['test_loss']:.4f} | {numbers['test_accuracy']:.4f} |",
        "",
        f"Chance level: {numbers['chance_accuracy']:.4f} (three balanced classes)"
        + (" — this quick run is not expected to beat it." if numbers["quick"] else "."),
        "",
        "## Intermediate activations",
        "",
        "Every channel of four layers for one test image; all-zero (dead) channels are framed in red. "
        "Dead channels per layer: " + ", ".join(f"{k} {v}" for k, v in numbers["dead_channels"].items()) + ".",
        "",
        "![activations](activations.png)",
        "",
        "## Filters found by gradient ascent (relu3, the third conv block's output)",
        "",
        "![filters](filters.png)",
        "",
        "## Grad-CAM",
        "",
        f"Pointing game on the test set (the heatmap's maximum falls inside the object's mask): "
        f"**{numbers['pointing_game']:.3f}**, against **{numbers['pointing_baseline']:.3f}** for a "
        "uniformly random point.",
        "",
        "![Grad-CAM](gradcam.png)",
        "",
        "## Ensemble (scikit-learn's 8x8 digits)",
        "",
        "Three different small models (an MLP, a small CNN, a wider CNN with dropout) trained on the "
        "digits; ensemble weights are fitted on the validation split only, the test split is scored once.",
        "",
        numbers.get("ensemble_markdown") or "scikit-learn is not installed: no ensemble.",
    ]
    return "\n".join(lines) + "\n"
