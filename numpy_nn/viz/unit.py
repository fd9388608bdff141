"""What input makes one unit fire most: regularized gradient ascent on the input (class visualization).

``visualize_unit(model, layer_name, unit)`` maximizes one number a(x) of the chosen layer:

    a(x) = A[0, unit]                   a Dense unit (the layer's output is (N, units));
    a(x) = z[0, unit]                   a class: the output layer's pre-softmax logit;
    a(x) = mean_s A[0, s, unit]         a filter (an output (N, h, w, C) or (N, T, C));

by gradient ascent on the input, with the priors of cs231n's class visualization (Simonyan et
al. 2014; Yosinski et al. 2015):

    J(x)   = a(roll(x, dy, dx)) - l2_weight * sum(x^2)     random jitter (dy, dx) in [-jitter, jitter]
    x     <- x + step_size * dJ/dx / ||dJ/dx||_2            (normalized step, as keras.io)
    x     <- clip(x, value_range)  every step;  x <- blur(x, blur_sigma)  every blur_every steps

``parameterization="fourier"`` ascends instead on the coefficients of a 1/f-scaled Fourier
basis (``numpy_nn.viz.fourier``; Olah et al. 2017), x = fourier(p): the image is then smooth by
construction (no blur is applied); with a ``value_range`` (lo, hi) the image is
lo + (hi - lo) * sigmoid(fourier(p)), which keeps it in range without clipping.

Jitter, blur and the Fourier basis apply to image inputs (N, H, W, C); other inputs (sequences,
feature vectors) of a model with several inputs are ascended in plain form, each along its own
normalized gradient. Everything runs on the autograd tape (``nn.grad``); the model is not changed.
"""
import numpy as np

from ..autograd.engine import grad as tape_grad
from ..autograd.tensor import Tensor
from ..ops.node import flatten, pack_like
from . import tape
from .colormap import gaussian_blur
from .filters import _l2_normalize, deprocess, start_inputs
from .fourier import FourierImage


class UnitVisualization:
    """The result of ``visualize_unit``: ``raw`` (the optimized input sample(s), float, in the
    structure of the model's inputs), ``image`` (uint8 display of each image input, the raw
    sample for other inputs), ``losses`` (a(x) at every step), ``loss`` (the last one),
    ``parameterization``, ``excited`` (a(x) > 0 at the end)."""

    def __init__(self, loss, image, raw, losses, parameterization):
        self.loss, self.image, self.raw, self.losses = loss, image, raw, losses
        self.parameterization = parameterization

    @property
    def excited(self):
        return bool(self.loss > 0)

    def __iter__(self):
        return iter((self.loss, self.image))

    def __repr__(self):
        return f"UnitVisualization(loss={self.loss:.5g}, parameterization={self.parameterization!r})"


def unit_objective(model, layer_name, unit):
    """A function inputs (Tensors) -> a(x) (scalar Tensor), and a description of what is maximized."""
    layer = tape.get_layer(model, layer_name)
    outputs = tape.output_layers(model)
    is_output = any(layer is out for out in outputs)
    if is_output and tape.ends_in_softmax(layer):
        index = next(i for i, out in enumerate(outputs) if out is layer)

        def objective(inputs):
            _, returned, found = tape.forward(model, inputs)
            logits = tape.ModelOutputs(model, returned, found).logits(index)
            return _pick(logits, unit, layer_name)
        return objective, "class logit"

    def objective(inputs):
        _, _, found = tape.forward(model, inputs, [layer_name], logits=False)
        return _pick(found[layer_name if isinstance(layer_name, str) else layer.name], unit, layer_name)
    rank = len(getattr(layer, "output", None).shape) if hasattr(getattr(layer, "output", None), "shape") else 2
    return objective, "unit" if rank == 2 else "filter (mean over its grid)"


def _pick(activation, unit, layer_name):
    if not 0 <= unit < activation.shape[-1]:
        raise ValueError(f"visualize_unit: unit must be in [0, {activation.shape[-1]}) for layer '{layer_name}' "
                         f"(output shape {tuple(activation.shape)}); received {unit}")
    if activation.ndim == 2:
        return activation[:, unit].sum()
    axes = tuple(range(1, activation.ndim - 1))
    return activation[(slice(None),) * (activation.ndim - 1) + (unit,)].mean(axis=axes).sum()


def visualize_unit(model, layer_name, unit, steps=100, step_size=1.0, l2_weight=1e-3, jitter=None,
                   blur_every=10, blur_sigma=0.5, value_range=None, parameterization="pixel",
                   initial_image=None, seed=None, image_size=None, decay=1.0):
    """Regularized gradient ascent on the input so that ``unit`` of ``layer_name`` fires (see the module).

    ``layer_name``: a Dense layer (a unit), the output layer (a class: its pre-softmax logit),
    or a feature-map layer (a filter: the mean over its grid). ``jitter``: pixels, default
    max(1, H // 8); ``value_range``: (lo, hi) of valid inputs (e.g. (0, 1)), None for no clipping;
    ``parameterization``: "pixel" or "fourier"; ``initial_image``: the start (pixel only),
    default a seeded keras.io start image (moved to the middle of ``value_range`` when given).
    Returns a ``UnitVisualization``.
    """
    if parameterization not in ("pixel", "fourier"):
        raise ValueError(f"visualize_unit: parameterization must be 'pixel' or 'fourier'; received "
                         f"{parameterization!r}")
    objective, _ = unit_objective(model, layer_name, unit)
    start = start_inputs(model, initial_image, image_size, seed, where="visualize_unit")
    leaves = [np.array(leaf) for leaf in flatten(start)]
    if value_range is not None and initial_image is None:
        middle = 0.5 * (value_range[0] + value_range[1])
        leaves = [leaf + np.asarray(middle, dtype=leaf.dtype) for leaf in leaves]
    is_image = [leaf.ndim == 4 for leaf in leaves]
    rng = np.random.default_rng(seed)
    fourier = {}
    if parameterization == "fourier":
        if not any(is_image):
            raise ValueError("visualize_unit: parameterization='fourier' needs an image input (N, H, W, C)")
        for i, leaf in enumerate(leaves):
            if is_image[i]:
                fourier[i] = FourierImage(*leaf.shape[1:], decay=decay, dtype=leaf.dtype)
                leaves[i] = fourier[i].initial(None if seed is None else seed + i)

    def to_image(i, param):
        """Parameter Tensor -> input Tensor (1, ...), on the tape."""
        if i not in fourier:
            return param
        image = fourier[i].image(param)
        if value_range is None:
            return image
        low, high = value_range
        return low + (high - low) / (1.0 + (-image).exp())

    losses = []
    for step in range(steps):
        params = [Tensor(leaf, requires_grad=True) for leaf in leaves]
        inputs, penalty = [], 0.0
        for i, param in enumerate(params):
            image = to_image(i, param)
            penalty = penalty + (image * image).sum()
            if is_image[i]:
                height, width = image.shape[1:3]
                limit = max(1, height // 8) if jitter is None else int(jitter)
                dy, dx = rng.integers(-limit, limit + 1, size=2) if limit else (0, 0)
                image = image[:, (np.arange(height) - dy) % height][:, :, (np.arange(width) - dx) % width]
            inputs.append(image)
        activation = objective(pack_like(start, inputs))
        grads = tape_grad(activation - l2_weight * penalty, params)
        for i, g in enumerate(grads):
            leaves[i] = leaves[i] + np.asarray(step_size, dtype=leaves[i].dtype) * _l2_normalize(g.data)
            if i in fourier:
                continue
            if value_range is not None:
                leaves[i] = np.clip(leaves[i], value_range[0], value_range[1]).astype(leaves[i].dtype)
            if is_image[i] and blur_every and (step + 1) % blur_every == 0:
                leaves[i] = gaussian_blur(leaves[i][0], blur_sigma)[None].astype(leaves[i].dtype)
        losses.append(float(activation.data))
    final = [np.asarray(to_image(i, Tensor(leaf)).data)[0] for i, leaf in enumerate(leaves)]
    images = [_display(sample, value_range) if sample.ndim == 3 else sample for sample in final]
    if isinstance(start, np.ndarray):
        return UnitVisualization(losses[-1], images[0], final[0], losses, parameterization)
    return UnitVisualization(losses[-1], pack_like(start, images), pack_like(start, final), losses, parameterization)


def _display(sample, value_range):
    """uint8 (H, W, C): the valid range mapped to [0, 255], else keras.io's ``deprocess``."""
    if value_range is None:
        return deprocess(sample, crop=0)
    low, high = value_range
    return np.clip((sample - low) / (high - low) * 255, 0, 255).astype(np.uint8)
