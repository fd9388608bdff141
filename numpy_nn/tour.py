"""``numpy-nn tour``: the main job — train a small CNN, evaluate it, draw what it learned, report.

Everything runs on a fresh machine with no download:

1. data: ``nn.datasets.make_shapes`` (circles, squares, triangles on clutter, with object
   masks), split into train / validation / test (the test split is touched once, at the end);
2. model: a small residual CNN with Conv2D, SeparableConv2D, BatchNormalization, Dropout and a
   residual Add, trained with Adam, a progress bar, EarlyStopping and ReduceLROnPlateau;
3. figures: learning curves, the layer graph, intermediate activations, filters found by
   gradient ascent, Grad-CAM overlays (scored with the pointing game against the masks);
4. a small ensemble (three members, weights fitted on validation data only) and, when
   scikit-learn is installed, the bundled 8x8 digits;
5. ``report.md`` tying it together with the measured numbers.

``--quick`` shrinks every step (about 30 s); the default run takes a few minutes on 2 cores.
"""
import json
import pathlib
import time

import numpy as np


def build_cnn(size, n_classes, width=16, dropout=0.3, name="shapes_cnn", seed=None):
    """The tour's CNN: conv stem, a residual separable block, a second conv stage, GAP, Dense."""
    import numpy_nn as nn
    from numpy_nn import layers

    if seed is not None:
        nn.set_random_seed(seed)
    inputs = nn.Input((size, size, 3), name="image")
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    stem = layers.ReLU(name="relu1")(x)
    x = layers.SeparableConv2D(width, 3, padding="same", use_bias=False, name="sepconv")(stem)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.Add(name="residual")([x, stem])
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return nn.Model(inputs, outputs, name=name)


def _compile(model, learning_rate=3e-3):
    import numpy_nn as nn
    model.compile(optimizer=nn.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _log(message):
    print(f"[tour] {message}", flush=True)


def run_tour(out_dir="tour_output", quick=False, seed=0):
    """Run the tour, write figures and ``report.md`` into ``out_dir``; return the numbers (dict)."""
    import numpy_nn as nn
    from numpy_nn import callbacks, ensemble, viz

    start = time.perf_counter()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(n=600, size=24, epochs=4, patience=2, width=8, members=2, filters=8) if quick else \
        dict(n=2400, size=32, epochs=25, patience=4, width=16, members=3, filters=16)
    numbers = {"quick": quick, "seed": seed}

    # 1. data ------------------------------------------------------------------------------------
    images, labels, masks = nn.datasets.make_shapes(settings["n"], size=settings["size"], seed=seed)
    (train, val, test) = nn.datasets.split((images, masks), labels, fractions=(0.7, 0.15, 0.15), seed=seed)
    (x_train, m_train), y_train = train
    (x_val, m_val), y_val = val
    (x_test, m_test), y_test = test
    class_names = list(nn.datasets.SHAPES)
    _log(f"data: make_shapes {settings['size']}x{settings['size']}, train {len(x_train)}, "
         f"validation {len(x_val)}, test {len(x_test)}, classes {class_names}")

    # 2. model and training ----------------------------------------------------------------------
    model = _compile(build_cnn(settings["size"], len(class_names), settings["width"], seed=seed))
    lines = []
    model.summary(print_fn=lines.append)
    (out / "model_summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    nn.utils.plot_model(model, str(out / "model.png"))
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=settings["patience"], restore_best_weights=True)
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-4)
    fit_start = time.perf_counter()
    np.random.seed(seed)
    history = model.fit(x_train, y_train, batch_size=32, epochs=settings["epochs"], verbose=1,
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
    _log(f"test accuracy {test_accuracy:.3f} (validation {val_accuracy:.3f}), "
         f"{numbers['epochs_run']} epochs, {numbers['seconds_per_epoch']:.1f} s/epoch")

    # 3. what the network learned ----------------------------------------------------------------
    sample = x_test[:1]
    acts = viz.activations(model, sample, layer_names=["relu1", "relu2", "conv2", "conv3"])
    viz.plot_activations(acts, str(out / "activations.png"))
    numbers["dead_channels"] = {name: int(viz.dead_channels(a[0]).sum()) for name, a in acts.items()}
    viz.plot_filters(model, "conv2", str(out / "filters.png"), filter_indices=range(settings["filters"]),
                     seed=seed)
    cam_count = 6
    heatmaps = viz.grad_cam(model, x_test[:cam_count], layer_name="conv3")
    predicted = np.argmax(model.predict(x_test[:cam_count], verbose=0), axis=-1)
    titles = [f"true {class_names[t]} / pred {class_names[p]}" for t, p in zip(y_test[:cam_count], predicted)]
    viz.plot_cam(x_test[:cam_count], heatmaps, str(out / "gradcam.png"), titles=titles, masks=m_test[:cam_count])
    all_maps = viz.grad_cam(model, x_test, layer_name="conv3", class_index=y_test)
    numbers["pointing_game"] = float(np.mean(viz.pointing_game(all_maps, m_test)))
    numbers["pointing_baseline"] = float(np.mean(viz.pointing_baseline(m_test)))
    _log(f"Grad-CAM pointing game {numbers['pointing_game']:.3f} vs random-point baseline "
         f"{numbers['pointing_baseline']:.3f}")

    # 4. ensemble --------------------------------------------------------------------------------
    members = {"main": (model.predict(x_val, verbose=0), model.predict(x_test, verbose=0))}
    for k in range(1, settings["members"]):
        member = _compile(build_cnn(settings["size"], len(class_names), settings["width"] // 2 * (k + 1) // 1,
                                    dropout=0.2 * k, name=f"member{k}", seed=seed + k))
        np.random.seed(seed + k)
        member.fit(x_train, y_train, batch_size=32, epochs=max(2, settings["epochs"] // 2), verbose=0,
                   validation_data=(x_val, y_val),
                   callbacks=[callbacks.EarlyStopping(patience=settings["patience"], restore_best_weights=True)])
        members[f"member{k}"] = (member.predict(x_val, verbose=0), member.predict(x_test, verbose=0))
    table = ensemble.report(members, y_val, y_test)
    (out / "ensemble.md").write_text(table.to_markdown() + "\n")
    print(table.to_markdown())
    numbers["ensemble"] = table.to_dict()

    # 5. digits (scikit-learn's bundled data), optional --------------------------------------------
    numbers["digits_test_accuracy"] = _digits(quick, seed)

    numbers["total_seconds"] = time.perf_counter() - start
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2, default=float))
    (out / "report.md").write_text(_report(numbers, settings, class_names))
    _log(f"wrote {out}/report.md and figures in {numbers['total_seconds']:.0f} s")
    return numbers


def _digits(quick, seed):
    import numpy_nn as nn
    from numpy_nn import layers
    try:
        x, y = nn.datasets.load_digits()
    except ImportError:
        _log("scikit-learn not installed: skipping the digits model")
        return None
    (train, test) = nn.datasets.split(x, y, fractions=(0.8, 0.2), seed=seed)
    nn.set_random_seed(seed)
    model = nn.Sequential([nn.Input(x.shape[1:]), layers.Conv2D(16, 3, padding="same", activation="relu"),
                           layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.2),
                           layers.Dense(10, activation="softmax")], name="digits_cnn")
    _compile(model)
    model.fit(train[0], train[1], batch_size=32, epochs=2 if quick else 8, verbose=0)
    _, accuracy = model.evaluate(test[0], test[1], verbose=0)
    _log(f"digits (8x8, scikit-learn): test accuracy {accuracy:.3f}")
    return float(accuracy)


def _report(numbers, settings, class_names):
    ensemble_rows = numbers["ensemble"]
    lines = [
        "# numpy_nn tour report",
        "",
        f"Mode: {'quick' if numbers['quick'] else 'full'}; seed {numbers['seed']}; total "
        f"{numbers['total_seconds']:.0f} s.",
        "",
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
        "## Intermediate activations",
        "",
        "Every channel of four layers for one test image; all-zero (dead) channels are framed in red. "
        "Dead channels per layer: " + ", ".join(f"{k} {v}" for k, v in numbers["dead_channels"].items()) + ".",
        "",
        "![activations](activations.png)",
        "",
        "## Filters found by gradient ascent (conv2)",
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
        "## Ensemble",
        "",
        "Member and ensemble scores; weights fitted on the validation split only.",
        "",
        pathlib.Path("ensemble.md").name and "",
    ]
    lines.append(_ensemble_markdown(ensemble_rows))
    if numbers.get("digits_test_accuracy") is not None:
        lines += ["", "## Digits", "",
                  f"A small CNN on scikit-learn's bundled 8x8 digits: test accuracy "
                  f"{numbers['digits_test_accuracy']:.3f}."]
    return "\n".join(lines) + "\n"


def _ensemble_markdown(table_dict):
    from numpy_nn import ensemble
    try:
        return ensemble.EnsembleReport.from_dict(table_dict).to_markdown()
    except AttributeError:
        return "See `ensemble.md`."
