"""Figures: activation grids, filter grids, CAM overlays, training curves (PNG files).

Matplotlib is imported lazily and used through its object API (``Figure`` + the Agg canvas), so
nothing here touches pyplot's global state or needs a display. ``overlay`` and the grid
builders return NumPy arrays and need no matplotlib at all.
"""
import numpy as np

from .activations import channel_image, dead_channels
from .colormap import jet, resize


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("numpy_nn.viz plotting needs matplotlib: pip install matplotlib") from error
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _as_unit_rgb(image):
    """An image (H, W, 3) or (H, W) as float RGB in [0, 1] (uint8 or 0-255 floats are rescaled)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.max(initial=0) > 1.0:
        image = image / 255.0
    return image


def overlay(image, heatmap, alpha=0.4):
    """The keras.io superimposed image: image + alpha * jet(heatmap), rescaled to [0, 1].

    ``image`` (H, W, 3) in [0, 1] or [0, 255]; ``heatmap`` (h, w) in [0, 1], coloured with jet and
    upsampled (bilinear, on the colours as keras.io does with PIL) to (H, W). The sum is min-max
    rescaled to [0, 1], as ``keras.utils.array_to_img`` does. Returns float (H, W, 3).
    """
    image = _as_unit_rgb(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(f"overlay: heatmap must be 2-D (h, w); received shape {heat.shape}")
    colours = resize(jet(heat), image.shape[:2])
    combined = image + alpha * colours
    low, high = combined.min(), combined.max()
    return (combined - low) / (high - low) if high > low else np.zeros_like(combined)


def activation_grid(activation, images_per_row=16):
    """Tile the channels of one activation (h, w, C) into a uint8 grid and a dead-channel mask.

    Returns (grid (rows*h, cols*w) uint8, dead (C,) bool, cols). Each channel is displayed with
    ``channel_image``; cells after the last channel stay 0.
    """
    activation = np.asarray(activation)
    h, w, channels = activation.shape
    cols = min(images_per_row, channels)
    rows = -(-channels // cols)
    grid = np.zeros((rows * h, cols * w), dtype=np.uint8)
    for k in range(channels):
        r, c = divmod(k, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = channel_image(activation[:, :, k])
    return grid, dead_channels(activation), cols


def plot_activations(acts, path, images_per_row=16, image_index=0, cmap="viridis", image=None, label=None):
    """Save the classic figure: every channel of every layer in ``acts`` ({name: (N, h, w, C)}).

    One panel per layer, channels in rows of ``images_per_row``, each standardized for display
    (``channel_image``). Channels that are exactly zero everywhere (dead for this input) get a
    red frame and a red cross, and the panel title counts them: ``conv2 - 3/32 all-zero``.
    ``image`` (H, W, C) and ``label`` (e.g. "circle (predicted circle)"): the input these
    activations belong to, drawn beside the grid with its class. Returns {name: number of
    all-zero channels}.
    """
    from matplotlib.patches import Rectangle
    acts = {name: np.asarray(value) for name, value in acts.items() if np.ndim(value) == 4}
    if not acts:
        raise ValueError("plot_activations: no 4-D activations to draw")
    panels = {name: activation_grid(value[image_index], images_per_row) for name, value in acts.items()}
    show_input = image is not None and np.ndim(image) in (2, 3)
    width = 12
    heights = [grid.shape[0] / grid.shape[1] * width for grid, _, _ in panels.values()]
    figure = _figure(width + (2.6 if show_input else 0), sum(heights) + 0.6 * len(panels))
    if show_input:
        spec = figure.add_gridspec(len(panels), 2, height_ratios=heights, width_ratios=[2.2, width])
        axis = figure.add_subplot(spec[:min(2, len(panels)), 0])
        axis.imshow(_as_unit_rgb(image), interpolation="nearest")
        axis.set_title("input" + (f"\n{label}" if label is not None else ""), fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
        cells = [spec[row, 1] for row in range(len(panels))]
    else:
        spec = figure.add_gridspec(len(panels), 1, height_ratios=heights)
        cells = [spec[row] for row in range(len(panels))]
    dead_counts = {}
    for row, (name, (grid, dead, cols)) in enumerate(panels.items()):
        axis = figure.add_subplot(cells[row])
        axis.imshow(grid, aspect="auto", cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
        h, w = acts[name].shape[1:3]
        for k in np.flatnonzero(dead):
            r, c = divmod(k, cols)
            axis.add_patch(Rectangle((c * w - 0.5, r * h - 0.5), w, h, fill=False, edgecolor="red", linewidth=1.5))
            axis.plot([c * w - 0.5, (c + 1) * w - 0.5], [r * h - 0.5, (r + 1) * h - 0.5], color="red", linewidth=1)
            axis.plot([c * w - 0.5, (c + 1) * w - 0.5], [(r + 1) * h - 0.5, r * h - 0.5], color="red", linewidth=1)
        axis.set_xlim(-0.5, grid.shape[1] - 0.5)
        axis.set_ylim(grid.shape[0] - 0.5, -0.5)
        for boundary in range(1, cols):
            axis.axvline(boundary * w - 0.5, color="white", linewidth=0.5)
        for boundary in range(1, grid.shape[0] // h):
            axis.axhline(boundary * h - 0.5, color="white", linewidth=0.5)
        dead_counts[name] = int(dead.sum())
        axis.set_title(f"{name} {tuple(acts[name].shape[1:])} - {dead_counts[name]}/{len(dead)} all-zero",
                       fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return dead_counts


def filter_grid(images, margin=5, cols=None):
    """Stitch filter images (each (h, w, C) uint8) into one uint8 grid with ``margin`` black pixels
    between and around the cells, as keras.io does (8 x 8 filters, 5-pixel margin)."""
    images = [np.asarray(image) for image in images]
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    h, w, c = images[0].shape
    grid = np.zeros((rows * h + (rows + 1) * margin, cols * w + (cols + 1) * margin, c), dtype=np.uint8)
    for k, image in enumerate(images):
        r, col = divmod(k, cols)
        top, left = margin + r * (h + margin), margin + col * (w + margin)
        grid[top:top + h, left:left + w] = image
    return grid


def plot_filters(model, layer_name, path, filter_indices=range(64), margin=5, scale=4, cols=None, **options):
    """Visualize each filter of ``layer_name`` (``visualize_filter(..., **options)``) and save the figure.

    Indices beyond the layer's number of channels are dropped (a small model may have 16).
    Each cell is labelled with its filter index; the title says how many of the layer's
    channels are shown; filters the ascent could not excite (final mean activation <= 0: a
    ReLU channel that is zero on the start image gets no gradient) are framed in red and
    counted. Returns (grid uint8 -- the cells stitched with a ``margin``-pixel black border,
    each pixel enlarged ``scale`` times --, list of FilterVisualization).
    """
    from matplotlib.patches import Rectangle
    from .filters import feature_extractor, visualize_filter
    channels = _channel_count(model, layer_name, feature_extractor)
    indices = [int(i) for i in filter_indices if int(i) < channels]
    if not indices:
        raise ValueError(f"plot_filters: layer '{layer_name}' has {channels} channels; no index of "
                         f"{list(filter_indices)} is valid")
    results = [visualize_filter(model, layer_name, index, **options) for index in indices]
    cells = [np.kron(r.image, np.ones((scale, scale, 1), dtype=np.uint8)) for r in results]
    cols = cols or int(np.ceil(np.sqrt(len(cells))))
    grid = filter_grid(cells, margin=margin, cols=cols)
    rows = -(-len(cells) // cols)
    figure = _figure(max(1.25 * cols + 0.4, 5.0), 1.35 * rows + 1.1)
    unexcited = [index for index, result in zip(indices, results) if not result.excited]
    for k, (index, cell, result) in enumerate(zip(indices, cells, results)):
        axis = figure.add_subplot(rows, cols, k + 1)
        axis.imshow(cell, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        if result.excited:
            axis.set_title(f"#{index}  {result.loss:.2g}", fontsize=7)
        else:
            axis.set_title(f"#{index} not excited", fontsize=7, color="red")
            axis.add_patch(Rectangle((-0.5, -0.5), cell.shape[1], cell.shape[0], fill=False, edgecolor="red",
                                     linewidth=3))
    mode = options.get("mode", "keras")
    figure.suptitle(f"{layer_name}: {len(indices)} of {channels} channels shown\n"
                    f"gradient ascent (mode={mode!r}); #filter and its final mean activation\n"
                    f"{len(unexcited)} could not be excited (red frame)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return grid, results


def plot_units(model, layer_name, units, path, parameterizations=("pixel", "fourier"), labels=None, **options):
    """The inputs that maximize each unit, one row per unit, one column per image parameterization.

    Runs ``visualize_unit(model, layer_name, unit, parameterization=p, **options)`` for every unit
    and parameterization ("pixel": plain pixels with jitter, L2 and blur; "fourier": the
    decorrelated 1/f basis), and draws them side by side, each titled with the activation it
    reached; units the ascent could not excite are marked in red. ``labels``: a name per unit
    (e.g. class names). Returns {unit: {parameterization: UnitVisualization}}.
    """
    from .unit import visualize_unit
    units = list(units)
    results = {unit: {p: visualize_unit(model, layer_name, unit, parameterization=p, **options)
                      for p in parameterizations} for unit in units}
    columns = len(parameterizations)
    figure = _figure(max(2.2 * columns + 0.4, 4.6), 2.3 * len(units) + 0.8)
    for row, unit in enumerate(units):
        name = labels[row] if labels is not None else f"unit {unit}"
        for col, p in enumerate(parameterizations):
            result = results[unit][p]
            axis = figure.add_subplot(len(units), columns, row * columns + col + 1)
            image = result.image if isinstance(result.image, np.ndarray) else None
            if image is not None and image.ndim == 3:
                axis.imshow(image, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            colour = "black" if result.excited else "red"
            axis.set_title(f"{name} - {p}\nactivation {result.loss:.3g}", fontsize=8, color=colour)
    from .unit import unit_objective
    _, what = unit_objective(model, layer_name, units[0])
    figure.suptitle(f"{layer_name}: the input that maximizes each {what}\n(regularized gradient ascent; "
                    "red: never above 0)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return results


def _channel_count(model, layer_name, feature_extractor):
    from . import tape
    layer = tape.get_layer(model, layer_name)
    try:
        return int(layer.output.shape[-1])
    except (AttributeError, TypeError):
        from .filters import _image_shape
        from ..autograd.function import no_grad
        with no_grad():
            return int(feature_extractor(model, layer_name)(np.zeros(_image_shape(model, None, None),
                                                                   dtype="float32")).shape[-1])


def right_and_wrong(y_true, y_pred, count):
    """Indices of up to ``count`` samples, about half predicted right and half wrong (right first).

    A figure of correct predictions only hides what a model gets wrong; this picks the first
    wrong predictions (up to half of ``count``, more when there are too few right ones) and
    fills the rest with the first right ones.
    """
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    right, wrong = np.flatnonzero(y_true == y_pred), np.flatnonzero(y_true != y_pred)
    n_wrong = min(len(wrong), max(count // 2, count - len(right)))
    n_right = min(len(right), count - n_wrong)
    return np.concatenate([right[:n_right], wrong[:n_wrong]]).astype(int)


def plot_cam(images, heatmaps, path, titles=None, alpha=0.4, masks=None, layer_name=None, true=None,
             predicted=None, class_names=None, heatmap_columns=True, title=None):
    """Rows of (image | heatmap | overlay) for each image; ``masks`` (N, H, W) outline the object.

    ``images`` (N, H, W, 3) or one image; ``heatmaps`` (N, h, w) or one map; a dict
    {method name: heatmaps} gives one heatmap + overlay column pair per method. A colorbar
    gives the scale of the heatmaps (each normalized to [0, 1] per image). ``layer_name``
    goes in the figure title. ``true`` / ``predicted`` (class indices, with ``class_names``)
    title each row "true X / pred Y" in green when right and in red, marked WRONG, when not
    (choose rows with ``right_and_wrong`` so both kinds appear). ``heatmap_columns=False``
    draws one column per method (many methods side by side): the map upsampled to the image
    and drawn half-transparent over the image in grey. ``title``
    replaces the figure title's description of what is explained.
    """
    images = np.asarray(images)
    images = images[None] if images.ndim == 3 else images
    methods = heatmaps if isinstance(heatmaps, dict) else {"heatmap": heatmaps}
    methods = {name: (np.asarray(h)[None] if np.ndim(h) == 2 else np.asarray(h)) for name, h in methods.items()}
    per_method = 2 if heatmap_columns else 1
    n, columns = len(images), 1 + per_method * len(methods)
    figure = _figure(2.2 * columns + 0.9, 2.3 * n + 0.5)
    spec = figure.add_gridspec(n, columns + 1, width_ratios=[1] * columns + [0.08])
    name_of = (lambda k: class_names[k]) if class_names is not None else str
    for i in range(n):
        axis = figure.add_subplot(spec[i, 0])
        axis.imshow(_as_unit_rgb(images[i]))
        if masks is not None:
            axis.contour(np.asarray(masks[i], dtype=float), levels=[0.5], colors="white", linewidths=0.8)
        row_title, colour = (titles[i] if titles is not None else "image"), "black"
        if true is not None and predicted is not None:
            right = int(true[i]) == int(predicted[i])
            row_title = f"true {name_of(int(true[i]))} / pred {name_of(int(predicted[i]))}" + ("" if right else " WRONG")
            colour = "green" if right else "red"
        axis.set_title(row_title, fontsize=8, color=colour)
        for m, (name, maps) in enumerate(methods.items()):
            column = 1 + per_method * m
            if heatmap_columns:
                axis = figure.add_subplot(spec[i, column])
                axis.imshow(maps[i], cmap="jet", vmin=0, vmax=1)
                axis.set_title(name, fontsize=8)
                column += 1
            axis = figure.add_subplot(spec[i, column])
            if heatmap_columns:
                axis.imshow(overlay(images[i], maps[i], alpha=alpha))
            else:  # compact: the upsampled map, half transparent, over the image in grey
                grey = _as_unit_rgb(images[i]).mean(axis=-1)
                axis.imshow(grey, cmap="gray", vmin=0, vmax=1)
                axis.imshow(resize(maps[i], grey.shape), cmap="jet", vmin=0, vmax=1, alpha=0.55)
            if masks is not None:
                axis.contour(np.asarray(masks[i], dtype=float), levels=[0.5], colors="white", linewidths=0.8)
            axis.set_title(f"{name} overlay" if heatmap_columns else name, fontsize=8)
    for axis in figure.axes:
        axis.set_xticks([])
        axis.set_yticks([])
    colorbar_axis = figure.add_subplot(spec[:, -1])
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    bar = figure.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap="jet"), cax=colorbar_axis)
    bar.set_label("importance (each map / its max)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    where = f" of layer '{layer_name}'" if layer_name is not None else ""
    explained = title or ("evidence for the predicted class" if true is None else
                          "evidence for the predicted class; rows in red are wrong predictions")
    figure.suptitle(f"{', '.join(methods)}{where}\n{explained}"
                    + (" (object outlined in white)" if masks is not None else ""), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def restored_epoch_of(callbacks):
    """The 0-based epoch whose weights an EarlyStopping(restore_best_weights=True) put back, else None."""
    for callback in callbacks or ():
        if getattr(callback, "restore_best_weights", False) and getattr(callback, "best_weights", None) is not None:
            return int(callback.best_epoch)
    return None


def learning_rate_cuts(logs):
    """[(1-based epoch after which the rate fell, old rate, new rate)] from ``logs["learning_rate"]``.

    The logged rate of an epoch is the one it trained with (ReduceLROnPlateau logs it before
    cutting), so a fall between epochs e and e + 1 is a cut made at the end of epoch e.
    """
    rates = list(logs.get("learning_rate", []))
    return [(e + 1, rates[e], rates[e + 1]) for e in range(len(rates) - 1) if rates[e + 1] < rates[e]]


def plot_history(history, path, metrics=None, callbacks=None, restored_epoch=None):
    """Training curves: one panel per metric (``loss``, ``accuracy``, ...), with ``val_`` twins.

    ``history``: a ``History`` (``fit``'s return value) or its ``.history`` dict. Epochs are
    numbered from 1, with integer ticks. Learning-rate cuts (a falling ``learning_rate`` in the
    logs, e.g. from ReduceLROnPlateau) are dotted grey lines labelled with the new rate; the
    epoch whose weights were restored (``restored_epoch``, 0-based, or found among
    ``callbacks``: an EarlyStopping with ``restore_best_weights=True``) is a green line with a
    star on each curve -- the model after ``fit`` is that epoch's model, not the last one's.
    """
    from matplotlib.ticker import MaxNLocator
    logs = getattr(history, "history", history)
    names = metrics or [key for key in logs if not key.startswith("val_") and key != "learning_rate"]
    if restored_epoch is None:
        restored_epoch = restored_epoch_of(callbacks)
    cuts = learning_rate_cuts(logs)
    figure = _figure(4.5 * len(names), 3.7)
    for i, name in enumerate(names):
        axis = figure.add_subplot(1, len(names), i + 1)
        epochs = np.arange(1, len(logs[name]) + 1)
        axis.plot(epochs, logs[name], "o-", label=f"train {name}")
        if f"val_{name}" in logs:
            axis.plot(epochs, logs[f"val_{name}"], "s--", label=f"validation {name}")
        for k, (after, old, new) in enumerate(cuts):
            axis.axvline(after + 0.5, color="grey", linestyle=":", linewidth=1.2,
                         label="learning-rate cut" if k == 0 else None)
            axis.annotate(f"lr {new:.2g}", (after + 0.5, 0.03), xycoords=("data", "axes fraction"),
                          fontsize=7, color="grey", rotation=90, va="bottom", ha="right")
        if restored_epoch is not None and 0 <= restored_epoch < len(epochs):
            x = restored_epoch + 1
            axis.axvline(x, color="green", linewidth=1.2, alpha=0.7,
                         label=f"restored weights (epoch {x})")
            for key in (name, f"val_{name}"):
                if key in logs:
                    axis.plot([x], [logs[key][restored_epoch]], marker="*", markersize=13, color="green",
                              linestyle="none")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
