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


def plot_activations(acts, path, images_per_row=16, image_index=0, cmap="viridis"):
    """Save the classic figure: every channel of every layer in ``acts`` ({name: (N, h, w, C)}).

    One panel per layer, channels in rows of ``images_per_row``, each standardized for display
    (``channel_image``). Channels that are exactly zero everywhere (dead for this input) get a
    red frame and a red cross, and the panel title counts them: ``conv2 - 3/32 all-zero``.
    Returns {name: number of all-zero channels}.
    """
    from matplotlib.patches import Rectangle
    acts = {name: np.asarray(value) for name, value in acts.items() if np.ndim(value) == 4}
    if not acts:
        raise ValueError("plot_activations: no 4-D activations to draw")
    panels = {name: activation_grid(value[image_index], images_per_row) for name, value in acts.items()}
    width = 12
    heights = [grid.shape[0] / grid.shape[1] * width for grid, _, _ in panels.values()]
    figure = _figure(width, sum(heights) + 0.6 * len(panels))
    spec = figure.add_gridspec(len(panels), 1, height_ratios=heights)
    dead_counts = {}
    for row, (name, (grid, dead, cols)) in enumerate(panels.items()):
        axis = figure.add_subplot(spec[row])
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


def plot_filters(model, layer_name, path, filter_indices=range(64), margin=5, scale=4, **options):
    """Visualize each filter of ``layer_name`` (``visualize_filter(..., **options)``) and save the grid.

    Indices beyond the layer's number of channels are dropped (a small model may have 16).
    ``scale`` enlarges each pixel (nearest neighbour) so small images stay visible; the 5-pixel
    black margin is added after scaling. Returns (grid uint8, list of FilterVisualization).
    """
    from .filters import feature_extractor, visualize_filter
    channels = _channel_count(model, layer_name, feature_extractor)
    indices = [int(i) for i in filter_indices if int(i) < channels]
    if not indices:
        raise ValueError(f"plot_filters: layer '{layer_name}' has {channels} channels; no index of "
                         f"{list(filter_indices)} is valid")
    results = [visualize_filter(model, layer_name, index, **options) for index in indices]
    cells = [np.kron(r.image, np.ones((scale, scale, 1), dtype=np.uint8)) for r in results]
    grid = filter_grid(cells, margin=margin)
    _save_image(grid, path)
    return grid, results


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


def _save_image(array, path):
    try:
        from PIL import Image
        Image.fromarray(np.asarray(array).squeeze()).save(path)
    except ImportError:  # pragma: no cover
        import matplotlib.image
        matplotlib.image.imsave(path, np.asarray(array).squeeze())


def plot_cam(images, heatmaps, path, titles=None, alpha=0.4, masks=None):
    """Rows of (image | heatmap | overlay) for each image; ``masks`` (N, H, W) outline the object.

    ``images`` (N, H, W, 3) or one image; ``heatmaps`` (N, h, w) or one map; a dict
    {method name: heatmaps} gives one heatmap + overlay column pair per method.
    """
    images = np.asarray(images)
    images = images[None] if images.ndim == 3 else images
    methods = heatmaps if isinstance(heatmaps, dict) else {"heatmap": heatmaps}
    methods = {name: (np.asarray(h)[None] if np.ndim(h) == 2 else np.asarray(h)) for name, h in methods.items()}
    n, columns = len(images), 1 + 2 * len(methods)
    figure = _figure(2.2 * columns, 2.3 * n)
    for i in range(n):
        axis = figure.add_subplot(n, columns, i * columns + 1)
        axis.imshow(_as_unit_rgb(images[i]))
        if masks is not None:
            axis.contour(np.asarray(masks[i], dtype=float), levels=[0.5], colors="white", linewidths=0.8)
        axis.set_title(titles[i] if titles is not None else "image", fontsize=8)
        for m, (name, maps) in enumerate(methods.items()):
            axis = figure.add_subplot(n, columns, i * columns + 2 + 2 * m)
            axis.imshow(maps[i], cmap="jet", vmin=0, vmax=1)
            axis.set_title(name, fontsize=8)
            axis = figure.add_subplot(n, columns, i * columns + 3 + 2 * m)
            axis.imshow(overlay(images[i], maps[i], alpha=alpha))
            if masks is not None:
                axis.contour(np.asarray(masks[i], dtype=float), levels=[0.5], colors="white", linewidths=0.8)
            axis.set_title(f"{name} overlay", fontsize=8)
    for axis in figure.axes:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_history(history, path, metrics=None):
    """Training curves: one panel per metric (``loss``, ``accuracy``, ...), with ``val_`` twins.

    ``history``: a ``History`` (``fit``'s return value) or its ``.history`` dict.
    """
    logs = getattr(history, "history", history)
    names = metrics or [key for key in logs if not key.startswith("val_") and key != "learning_rate"]
    figure = _figure(4.5 * len(names), 3.5)
    for i, name in enumerate(names):
        axis = figure.add_subplot(1, len(names), i + 1)
        epochs = np.arange(1, len(logs[name]) + 1)
        axis.plot(epochs, logs[name], "o-", label=f"train {name}")
        if f"val_{name}" in logs:
            axis.plot(epochs, logs[f"val_{name}"], "s--", label=f"validation {name}")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
