"""Input attributions: vanilla saliency, SmoothGrad, integrated gradients, guided backprop and
guided Grad-CAM. All are gradients of the class score y^c with respect to the input x, taken on
the autograd tape (``nn.grad``), and differ in where and how that gradient is taken.

Each method is a small subclass of ``Attribution``: ``attribute(x, class_index)`` returns the raw
attribution R (N, H, W, C), ``to_map(R)`` reduces it to a 2-D map (N, H, W), and calling the
object returns that map scaled to [0, 1] per image (so every method can be scored and drawn like
a Grad-CAM heatmap). ``class_index`` is None (the predicted class of each clean image), an int,
or one int per image; y^c is the pre-softmax logit when the model ends in a softmax.
"""
import contextlib

import numpy as np

from ..autograd.engine import grad as tape_grad
from ..ops import activations as activation_ops
from . import tape
from .cam import GradCAM, _as_batch, _squeeze, normalize
from .colormap import resize


@contextlib.contextmanager
def guided_relu():
    """Inside the block, ReLU's backward pass follows the guided-backpropagation rule.

    Normal ReLU:  dx = g * [x > 0]
    Guided ReLU:  dx = g * [x > 0] * [g > 0]   (only positive signal flows back through
                                                positive inputs; Springenberg et al. 2015)

    It swaps ``numpy_nn.ops.activations.ReLU.backward`` for the duration of the block (backward
    runs when gradients are requested, so the gradient call must be inside the block; the
    forward pass may be inside or outside). It affects every plain ReLU (``activation="relu"``,
    ``ReLU()`` with default arguments), not the general ReLU with a slope, cap or threshold.
    The swap is process-wide while the block runs: do not compute ordinary gradients in another
    thread at the same time.
    """
    original = activation_ops.ReLU.backward

    def guided_backward(self, g):
        return (g * self.positive * (g > 0),)

    activation_ops.ReLU.backward = guided_backward
    try:
        yield
    finally:
        activation_ops.ReLU.backward = original


class Attribution:
    """Plumbing: the gradient of the class score with respect to the input, on the tape."""

    def __init__(self, model):
        self.model = model

    def predicted(self, x, class_index=None):
        """The class index per image: ``class_index`` broadcast, or the argmax on the clean input."""
        if class_index is not None:
            return np.broadcast_to(np.asarray(class_index, dtype=np.int64), (len(x),)).copy()
        _, outputs, found = tape.forward(self.model, x)
        return np.argmax(tape.class_scores(outputs, found).data, axis=1)

    def input_gradient(self, x, class_index):
        """dy^c/dx (N, H, W, C) at ``x`` for the classes ``class_index`` (one per image)."""
        inputs, outputs, found = tape.forward(self.model, x)
        score, _ = tape.select(tape.class_scores(outputs, found), class_index)
        return tape_grad(score, inputs).data

    def attribute(self, x, class_index=None):
        raise NotImplementedError(f"{type(self).__name__} must implement attribute() (abstract in the base class)")

    def to_map(self, raw):
        """max_c |R|: the largest absolute attribution over the channels (Simonyan et al.)."""
        return np.abs(raw).max(axis=-1)

    def __call__(self, x, class_index=None):
        batch, single = _as_batch(x)
        return _squeeze(normalize(self.to_map(self.attribute(batch, class_index))), single)


class Saliency(Attribution):
    """Vanilla saliency (Simonyan et al. 2014):  R = dy^c/dx;  map = max_c |R|."""

    def attribute(self, x, class_index=None):
        batch, _ = _as_batch(x)
        return self.input_gradient(batch, self.predicted(batch, class_index))


class SmoothGrad(Attribution):
    """SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the input.

        R = (1/n) sum_{s=1..n} dy^c/dx (x + e_s),   e_s ~ N(0, sigma^2),
        sigma = noise_level * (max(x) - min(x))    (per image);   map = max_c |R|

    The class c is fixed from the clean image. ``seed`` makes the noise reproducible.
    """

    def __init__(self, model, n_samples=25, noise_level=0.15, seed=0):
        super().__init__(model)
        self.n_samples, self.noise_level, self.seed = int(n_samples), float(noise_level), seed

    def attribute(self, x, class_index=None):
        batch, _ = _as_batch(x)
        chosen = self.predicted(batch, class_index)
        rng = np.random.default_rng(self.seed)
        spread = (batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3))).reshape(-1, 1, 1, 1)
        sigma = (self.noise_level * spread).astype(batch.dtype)
        total = np.zeros_like(batch)
        for _ in range(self.n_samples):
            noisy = batch + sigma * rng.standard_normal(batch.shape).astype(batch.dtype)
            total += self.input_gradient(noisy, chosen)
        return total / np.asarray(self.n_samples, dtype=batch.dtype)


class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al. 2017), right Riemann sum with m steps:

        R = (x - x') * (1/m) sum_{s=1..m} dy^c/dx (x' + (s/m) (x - x')),   map = |sum_c R|

    x' is the baseline (default: zeros, a black image). Completeness: sum(R) ~= y^c(x) - y^c(x'),
    the error shrinking as m grows.
    """

    def __init__(self, model, baseline=None, steps=32):
        super().__init__(model)
        self.baseline, self.steps = baseline, int(steps)

    def attribute(self, x, class_index=None):
        batch, _ = _as_batch(x)
        chosen = self.predicted(batch, class_index)
        baseline = np.zeros_like(batch) if self.baseline is None else \
            np.broadcast_to(np.asarray(self.baseline, dtype=batch.dtype), batch.shape)
        total = np.zeros_like(batch)
        for s in range(1, self.steps + 1):
            point = baseline + np.asarray(s / self.steps, dtype=batch.dtype) * (batch - baseline)
            total += self.input_gradient(point, chosen)
        return (batch - baseline) * total / np.asarray(self.steps, dtype=batch.dtype)

    def to_map(self, raw):
        return np.abs(raw.sum(axis=-1))


class GuidedBackprop(Attribution):
    """Guided backpropagation: dy^c/dx with every ReLU's backward replaced by the guided rule
    (see ``guided_relu``);  map = max_c |R|."""

    def attribute(self, x, class_index=None):
        batch, _ = _as_batch(x)
        chosen = self.predicted(batch, class_index)
        with guided_relu():
            return self.input_gradient(batch, chosen)


class GuidedGradCAM(Attribution):
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM heatmap
    upsampled (bilinear) to the input size:  R[n, :, :, c] = G[n, :, :, c] * up(L_n);  map = max_c |R|."""

    def __init__(self, model, layer_name=None):
        super().__init__(model)
        self.layer_name = layer_name

    def attribute(self, x, class_index=None):
        batch, _ = _as_batch(x)
        chosen = self.predicted(batch, class_index)
        guided = GuidedBackprop(self.model).attribute(batch, chosen)
        heat = normalize(GradCAM(self.model, self.layer_name).compute(batch, chosen))
        size = batch.shape[1:3]
        upsampled = np.stack([resize(h, size) for h in heat]).astype(batch.dtype)
        return guided * upsampled[..., None]


def saliency(model, x, class_index=None):
    """Vanilla saliency map in [0, 1]: (H, W) for one image, else (N, H, W). See ``Saliency``."""
    return Saliency(model)(x, class_index)


def smoothgrad(model, x, class_index=None, n_samples=25, noise_level=0.15, seed=0):
    """SmoothGrad map in [0, 1] (see ``SmoothGrad``)."""
    return SmoothGrad(model, n_samples, noise_level, seed)(x, class_index)


def integrated_gradients(model, x, class_index=None, baseline=None, steps=32):
    """Integrated-gradients map in [0, 1] (see ``IntegratedGradients``)."""
    return IntegratedGradients(model, baseline, steps)(x, class_index)


def guided_backprop(model, x, class_index=None):
    """Guided-backpropagation map in [0, 1] (see ``GuidedBackprop``)."""
    return GuidedBackprop(model)(x, class_index)


def guided_grad_cam(model, x, layer_name=None, class_index=None):
    """Guided Grad-CAM map in [0, 1] (see ``GuidedGradCAM``)."""
    return GuidedGradCAM(model, layer_name)(x, class_index)


__all__ = ["guided_relu", "Attribution", "Saliency", "SmoothGrad", "IntegratedGradients", "GuidedBackprop",
           "GuidedGradCAM", "saliency", "smoothgrad", "integrated_gradients", "guided_backprop",
           "guided_grad_cam"]
