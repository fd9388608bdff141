"""Filter visualization: the input image that a chosen channel responds to most, by gradient ascent.

``mode="keras"`` is exactly the keras.io recipe ("Visualizing what convnets learn"):

    loss(img) = mean( A(img)[:, b:-b, b:-b, filter_index] )        b = 2 (a 2-pixel border left out)
    g         = d loss / d img                                      (on the autograd tape)
    g         = g / sqrt( max( sum(g^2), 1e-12 ) )                  (L2 norm over the WHOLE tensor)
    img       = img + step_size * g                                 (ascent), ``steps`` times

starting from img0 = (u - 0.5) * 0.25, u ~ uniform[0, 1), and reporting the loss computed
before the last update. The result is shown with ``deprocess`` (below).

``mode="regularized"`` adds the usual priors that make images readable on small models:
random jitter (the image is rolled by up to ``jitter`` pixels before each step), a total-variation
and an L2 penalty in the loss, a light Gaussian blur every few steps, and octaves: the image is
parametrized at a coarse resolution, img = up(P) with a fixed bilinear upsampling (a matrix
product on the tape), and P is enlarged between octaves, so coarse structure forms first.

Any input structure: for a model with several inputs, ``initial_image`` may be a list or a dict
keyed by input name (default: a seeded start image for each input), every input is ascended
with its own normalized gradient (mode="keras"), and ``.raw`` / ``.image`` come back in the
same structure. Any layer: a 3-D output (N, T, C) is a filter along a sequence (the border is
left out along T), a 2-D output (N, units) is a unit (see also ``visualize_unit``).
``parameterization="fourier"`` hands the ascent to ``numpy_nn.viz.unit`` (decorrelated image).
"""
import numpy as np

from ..autograd.engine import grad as tape_grad
from ..autograd.tensor import Tensor
from ..ops.node import flatten, pack_like
from . import tape
from .colormap import _interpolation_matrix, gaussian_blur


class FilterVisualization:
    """The result of ``visualize_filter``: ``loss`` (float, before the last step), ``image``
    (uint8 (h, w, C), deprocessed for display), ``raw`` (float32 (H, W, C), the optimized input),
    ``losses`` (the loss at every step); for several inputs ``image`` and ``raw`` have the
    structure of the inputs. ``excited``: whether the ascent made the channel fire at all
    (final loss > 0); a ReLU channel that is zero on the start image gets no gradient and stays
    unexcited -- ``plot_filters`` marks those."""

    def __init__(self, loss, image, raw, losses):
        self.loss, self.image, self.raw, self.losses = loss, image, raw, losses

    @property
    def excited(self):
        return bool(self.loss > 0)

    def __iter__(self):  # ``loss, image = visualize_filter(...)`` as in keras.io
        return iter((self.loss, self.image))

    def __repr__(self):
        return f"FilterVisualization(loss={self.loss:.5g}, image shape={self.image.shape})"


def deprocess(image, crop=None):
    """keras.io's display transform of an optimized image (H, W, C) -> uint8.

        u = (img - mean) / (std + 1e-5) * 0.15,  cropped by ``crop`` pixels per side,
        then clip(u + 0.5, 0, 1) * 255, clipped to [0, 255], as uint8.

    ``crop=None`` crops 25 pixels (the recipe's value, for 180 x 180 images) only when the image
    keeps at least half of each side (H and W >= 100); smaller images are not cropped at all,
    since 25 pixels would remove most or all of a 32 x 32 image.
    """
    image = np.array(image, dtype=np.float32)
    image -= image.mean()
    image /= image.std() + np.float32(1e-5)
    image *= np.float32(0.15)
    if crop is None:
        crop = 25 if min(image.shape[0], image.shape[1]) >= 100 else 0
    if crop:
        image = image[crop:-crop, crop:-crop, :]
    image += np.float32(0.5)
    image = np.clip(image, 0, 1) * np.float32(255)
    return np.clip(image, 0, 255).astype("uint8")


def start_image(shape, seed=None):
    """keras.io's start image: (uniform[0, 1) - 0.5) * 0.25, float32 of ``shape`` (1, H, W, C)."""
    rng = np.random.default_rng(seed)
    return ((rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(0.25))


def feature_extractor(model, layer_name):
    """A function img Tensor -> the layer's output Tensor, on the tape.

    For a top-level layer of a graph model it runs only the part of the graph below the layer
    (keras.io builds ``Model(model.inputs, layer.output)``); otherwise the whole model runs with
    a tap on the layer.
    """
    from ..models.functional import Graph
    layer = tape.get_layer(model, layer_name)
    top_level = isinstance(layer_name, str) and "/" not in layer_name
    if top_level and getattr(model, "_is_graph_network", False):
        try:
            graph = Graph(model.inputs, [layer.output])
            return lambda image: graph.run(flatten(image), training=False)[0]
        except (AttributeError, ValueError, TypeError):
            pass

    def run(image):
        _, _, found = tape.forward(model, image, [layer_name], logits=False)
        return found[layer_name if isinstance(layer_name, str) else layer.name]
    return run


def start_inputs(model, initial_image, image_size, seed, where="visualize_filter"):
    """The start of the ascent, batched (1, ...), in the structure of the model's inputs.

    ``initial_image``: None (a seeded keras.io start image for each input), or an array / list /
    dict like ``model.predict`` takes (one sample or a batch of one).
    """
    dtype = tape._input_dtype(model)
    specs = tape.input_specs(model)
    if initial_image is not None:
        if not specs and not isinstance(initial_image, (list, tuple, dict)):  # no graph: an image
            return np.asarray(initial_image, dtype=dtype).reshape(_image_shape(model, initial_image, None))
        batch, _ = tape.as_batch(model, initial_image, where)
        return pack_like(batch, [np.asarray(leaf, dtype=spec[2] if spec else dtype)
                                 for leaf, spec in zip(flatten(batch), tape._matched_specs(model, batch, where))])
    if len(specs) <= 1:
        return start_image(_image_shape(model, None, image_size), seed).astype(dtype)
    rng_seeds = np.random.SeedSequence(seed).spawn(len(specs)) if seed is not None else [None] * len(specs)
    starts = []
    for (key, _, spec_dtype), tensor, child in zip(specs, model.inputs, rng_seeds):
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ValueError(f"{where}: input '{key}' of model '{model.name}' has an unknown size {shape}; "
                             "pass initial_image=")
        starts.append(start_image((1,) + shape, None if child is None else child).astype(spec_dtype))
    return starts if not isinstance(model.input, dict) else dict(zip([k for k, _, _ in specs], starts))


def _image_shape(model, initial, image_size):
    if initial is not None:
        shape = np.shape(initial)
        return (1,) + tuple(shape[-3:])
    try:
        spatial = tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError):
        spatial = (None, None, None)
    if image_size is not None:
        spatial = tuple(image_size) + spatial[len(tuple(image_size)):]
    if len(spatial) != 3 or any(d is None for d in spatial):
        raise ValueError(f"visualize_filter: cannot tell the image size from model '{model.name}' "
                         f"(input shape {spatial}); pass image_size=(H, W, C) or an initial_image")
    return (1,) + spatial


def _filter_loss(activation, filter_index, border=2):
    """mean(A[:, b:-b, b:-b, filter_index]) -- over the grid axes of a (N, h, w, C) or (N, T, C)
    output, none for (N, units); the border is kept when the map is too small (<= 2b)."""
    if activation.ndim < 2:
        raise ValueError(f"visualize_filter: the layer output has shape {tuple(activation.shape)}; "
                         "expected (batch, ..., channels)")
    if not 0 <= filter_index < activation.shape[-1]:
        raise ValueError(f"visualize_filter: filter_index must be in [0, {activation.shape[-1]}); "
                         f"received {filter_index}")
    grid = activation.shape[1:-1]
    b = border if grid and min(grid) > 2 * border else 0
    index = (slice(None),) + tuple(slice(b, size - b) for size in grid) + (filter_index,)
    return activation[index].mean()


def _l2_normalize(g):
    """g / sqrt(max(sum(g^2), 1e-12)) over the whole tensor (tf.math.l2_normalize with axis=None)."""
    return g / np.sqrt(np.maximum(np.sum(g * g), np.float32(1e-12))).astype(g.dtype)


def visualize_filter(model, layer_name, filter_index, steps=30, step_size=10.0, initial_image=None,
                     seed=None, mode="keras", image_size=None, crop=None, parameterization="pixel",
                     **regularized_options):
    """Gradient ascent on the input so that channel ``filter_index`` of ``layer_name`` fires.

    Returns a ``FilterVisualization`` (``.loss``, ``.image``, ``.raw``, ``.losses``; unpacks as
    ``loss, image`` like keras.io). ``initial_image`` (H, W, C) or (1, H, W, C), default the
    seeded keras.io start image; ``image_size`` (H, W[, C]) is needed only when the model's input
    size is unknown. ``crop`` is passed to ``deprocess``. ``mode="regularized"`` accepts
    ``jitter`` (2), ``tv_weight`` (0.05), ``l2_weight`` (0.01), ``blur_every`` (4),
    ``blur_sigma`` (0.5), ``octaves`` (3), ``octave_scale`` (1.5); see the module docstring.
    ``parameterization="fourier"`` runs ``visualize_unit`` on the channel instead (decorrelated
    Fourier image, jitter, L2; the options are those of ``visualize_unit``).
    """
    if parameterization != "pixel":
        from .unit import visualize_unit
        return visualize_unit(model, layer_name, filter_index, steps=steps, initial_image=initial_image, seed=seed,
                              image_size=image_size, parameterization=parameterization, **regularized_options)
    start = start_inputs(model, initial_image, image_size, seed)
    extract = feature_extractor(model, layer_name)
    if mode == "keras":
        if regularized_options:
            raise TypeError(f"visualize_filter: options {sorted(regularized_options)} need mode='regularized'")
        raw, losses = _ascent_keras(extract, start, filter_index, steps, step_size)
        crop_used = crop
    elif mode == "regularized":
        if len(flatten(start)) != 1:
            raise ValueError("visualize_filter: mode='regularized' works on one image input; for a model with "
                             "several inputs use mode='keras' or nn.viz.visualize_unit")
        raw, losses = _ascent_regularized(extract, flatten(start)[0], filter_index, steps, step_size, seed,
                                          **regularized_options)
        raw = pack_like(start, [raw])
        crop_used = 0 if crop is None else crop
    else:
        raise ValueError(f"visualize_filter: mode must be 'keras' or 'regularized'; received {mode!r}")
    samples = [leaf[0] for leaf in flatten(raw)]
    images = [deprocess(sample, crop=crop_used) if sample.ndim == 3 else sample for sample in samples]
    if isinstance(raw, np.ndarray):
        return FilterVisualization(losses[-1], images[0], samples[0], losses)
    return FilterVisualization(losses[-1], pack_like(raw, images), pack_like(raw, samples), losses)


def _ascent_keras(extract, start, filter_index, steps, step_size):
    """keras.io's loop; several inputs each take a step along their own L2-normalized gradient."""
    leaves = flatten(start)
    losses = []
    for _ in range(steps):
        xs = [Tensor(leaf, requires_grad=True) for leaf in leaves]
        loss = _filter_loss(extract(pack_like(start, xs)), filter_index)
        grads = tape_grad(loss, xs)
        leaves = [leaf + np.asarray(step_size, dtype=leaf.dtype) * _l2_normalize(g.data)
                  for leaf, g in zip(leaves, grads)]
        losses.append(float(loss.data))
    return pack_like(start, leaves), losses


def _ascent_regularized(extract, image, filter_index, steps, step_size, seed, jitter=2, tv_weight=0.05,
                        l2_weight=0.01, blur_every=4, blur_sigma=0.5, octaves=3, octave_scale=1.5):
    """Octaves x steps of ascent on a coarse parameter P, img = up(P) (see the module docstring)."""
    rng = np.random.default_rng(seed)
    _, height, width, _ = image.shape
    dtype = image.dtype
    sizes = [(max(2, round(height / octave_scale ** k)), max(2, round(width / octave_scale ** k)))
             for k in reversed(range(octaves))]
    param = _resize_batch(image, sizes[0])
    losses = []
    for size in sizes:
        param = _resize_batch(param, size)
        up_rows = Tensor(_interpolation_matrix(size[0], height).astype(dtype))       # (H, h)
        up_cols = Tensor(_interpolation_matrix(size[1], width).T.astype(dtype))      # (w, W)
        for step in range(steps):
            p = Tensor(param, requires_grad=True)
            img = (up_rows @ p.transpose(0, 3, 1, 2) @ up_cols).transpose(0, 2, 3, 1)   # (1, H, W, C)
            dy, dx = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
            shifted = img[:, (np.arange(height) - dy) % height][:, :, (np.arange(width) - dx) % width]
            activation_term = _filter_loss(extract(shifted), filter_index)
            tv = ((img[:, 1:] - img[:, :-1]) ** 2).mean() + ((img[:, :, 1:] - img[:, :, :-1]) ** 2).mean()
            loss = activation_term - tv_weight * tv - l2_weight * (img * img).mean()
            g = tape_grad(loss, p).data
            param = param + np.asarray(step_size, dtype=dtype) * _l2_normalize(g)
            if blur_every and (step + 1) % blur_every == 0:
                param = gaussian_blur(param[0], blur_sigma)[None].astype(dtype)
            losses.append(float(activation_term.data))
    image = (_interpolation_matrix(param.shape[1], height) @ param[0].transpose(2, 0, 1)
             @ _interpolation_matrix(param.shape[2], width).T).transpose(1, 2, 0)
    return image[None].astype(dtype), losses


def _resize_batch(image, size):
    from .colormap import resize
    return resize(image[0], size)[None].astype(image.dtype)
