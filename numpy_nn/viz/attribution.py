"""Input attributions: vanilla saliency, SmoothGrad, integrated gradients, guided backprop and
guided Grad-CAM. All are gradients of the explained score y (one number per sample) with
respect to the inputs x, taken on the autograd tape (``nn.grad``), and differ in where and how
that gradient is taken.

Each method is a small subclass of ``Attribution``: ``attribute(x, class_index)`` returns the raw
attribution R, one array per input shaped like it (N, H, W, C), (N, T, F) or (N, F), in the
structure of ``x`` (an array, a list or a dict keyed by input name); ``to_map(R)`` reduces an
image or a sequence over its channel axis (N, H, W) / (N, T) and keeps a flat input's features
(N, F); calling the object returns those maps scaled to [0, 1] per sample (so every method can
be scored and drawn like a Grad-CAM heatmap), in the same structure. ``class_index`` is None
(the predicted class of each clean sample), an int, or one int per sample; y is the
pre-softmax logit when the output ends in a softmax; ``output=`` picks an output by name or
index, ``target=`` replaces the class score by any callable (see ``numpy_nn.viz.targets``).
"""
import contextlib

import numpy as np

from ..autograd.engine import grad as tape_grad
from ..autograd.function import fast_kernels
from ..ops.node import flatten, pack_like
from ..ops import activations as activation_ops
from . import tape, targets
from .cam import GradCAM, _squeeze, normalize, upsample


@contextlib.contextmanager
def guided_relu():
    """Inside the block, ReLU's backward pass follows the guided-backpropagation rule.

    Normal ReLU:  dx = g * [x > 0]
    Guided ReLU:  dx = g * [x > 0] * [g > 0]   (only positive signal flows back through
                                                positive inputs; Springenberg et al. 2015)

    It swaps the backward of ``numpy_nn.ops.activations.ReLU`` and of its fast kernel (if one is
    registered) for the duration of the block: the guided gradient is the ordinary one times
    [g > 0]. Backward runs when gradients are requested, so the gradient call must be inside the
    block; the forward pass may be inside or outside. It affects every plain ReLU (``activation="relu"``,
    ``ReLU()`` with default arguments), not the general ReLU with a slope, cap or threshold.
    The swap is process-wide while the block runs: do not compute ordinary gradients in another
    thread at the same time.
    """
    classes = [activation_ops.ReLU]
    fast = fast_kernels().get(activation_ops.ReLU)
    if fast is not None:
        classes.append(fast)
    originals = {cls: cls.__dict__["backward"] for cls in classes}

    def guided(ordinary):
        def guided_backward(self, g):
            (dx,) = ordinary(self, g)           # g * [x > 0]
            return (dx * (np.asarray(g) > 0),)  # ... * [g > 0]
        return guided_backward

    for cls, ordinary in originals.items():
        cls.backward = guided(ordinary)
    try:
        yield
    finally:
        for cls, ordinary in originals.items():
            cls.backward = ordinary


class Attribution:
    """Plumbing: the gradient of the explained score with respect to every input, on the tape."""

    def __init__(self, model):
        self.model = model

    def goal(self, batch, class_index=None, output=None, target=None):
        """The Target explained, with the predicted class fixed on the clean ``batch``."""
        goal = targets.make_target(class_index, output, target)
        if isinstance(goal, targets.ClassScore) and goal.index is None:
            _, outputs, found = tape.forward(self.model, batch)
            goal = goal.resolve(tape.ModelOutputs(self.model, outputs, found))
        return goal

    def predicted(self, x, class_index=None, output=None):
        """The class index per sample: ``class_index`` broadcast, or the argmax on the clean input."""
        batch, _ = tape.as_batch(self.model, x, type(self).__name__)
        if class_index is not None:
            return np.broadcast_to(np.asarray(class_index, dtype=np.int64), (len(flatten(batch)[0]),)).copy()
        return self.goal(batch, None, output).index

    def input_gradient(self, x, goal):
        """dy/dx at ``x`` (a batch structure), one array per input in the same structure.

        ``goal``: a Target, or class indices (one per sample) of the only output.
        """
        if not isinstance(goal, targets.Target):
            goal = targets.ClassScore(goal)
        inputs, outputs, found = tape.forward(self.model, x)
        view = tape.ModelOutputs(self.model, outputs, found)
        leaves = flatten(inputs)
        score = targets.evaluate(goal, view, leaves[0].shape[0])
        return pack_like(x, [g.data for g in tape_grad(score.sum(), leaves)])

    def attribute(self, x, class_index=None, output=None, target=None):
        raise NotImplementedError(f"{type(self).__name__} must implement attribute() (abstract in the base class)")

    def to_map(self, raw):
        """max_c |R| over the channel axis of an image or sequence (Simonyan et al.); |R| for (N, F)."""
        raw = np.asarray(raw)
        return np.abs(raw).max(axis=-1) if raw.ndim >= 3 else np.abs(raw)

    def __call__(self, x, class_index=None, output=None, target=None):
        batch, single = tape.as_batch(self.model, x, type(self).__name__)
        raw = self.attribute(batch, class_index, output, target)
        return pack_like(raw, [_squeeze(normalize(self.to_map(r)), single) for r in flatten(raw)])


def _float_leaves(batch):
    return [np.asarray(leaf) for leaf in flatten(batch)]


class Saliency(Attribution):
    """Vanilla saliency (Simonyan et al. 2014):  R = dy/dx;  map = max_c |R|."""

    def attribute(self, x, class_index=None, output=None, target=None):
        batch, _ = tape.as_batch(self.model, x, "Saliency")
        return self.input_gradient(batch, self.goal(batch, class_index, output, target))


class SmoothGrad(Attribution):
    """SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the inputs.

        R = (1/n) sum_{s=1..n} dy/dx (x + e_s),   e_s ~ N(0, sigma^2),
        sigma = noise_level * (max(x) - min(x))    (per sample and input);   map = max_c |R|

    The class is fixed from the clean input. Integer inputs (token ids) get no noise.
    ``seed`` makes the noise reproducible.
    """

    def __init__(self, model, n_samples=25, noise_level=0.15, seed=0):
        super().__init__(model)
        self.n_samples, self.noise_level, self.seed = int(n_samples), float(noise_level), seed

    def attribute(self, x, class_index=None, output=None, target=None):
        batch, _ = tape.as_batch(self.model, x, "SmoothGrad")
        goal = self.goal(batch, class_index, output, target)
        rng = np.random.default_rng(self.seed)
        leaves = _float_leaves(batch)
        sigmas = []
        for leaf in leaves:
            axes = tuple(range(1, leaf.ndim))
            spread = (leaf.max(axis=axes) - leaf.min(axis=axes)).reshape((-1,) + (1,) * (leaf.ndim - 1))
            floating = np.issubdtype(leaf.dtype, np.floating)
            sigmas.append((self.noise_level * spread).astype(leaf.dtype) if floating else None)
        totals = [np.zeros(leaf.shape, dtype=np.result_type(leaf.dtype, np.float32)) for leaf in leaves]
        for _ in range(self.n_samples):
            noisy = [leaf if sigma is None else leaf + sigma * rng.standard_normal(leaf.shape).astype(leaf.dtype)
                     for leaf, sigma in zip(leaves, sigmas)]
            for total, g in zip(totals, flatten(self.input_gradient(pack_like(batch, noisy), goal))):
                total += g
        return pack_like(batch, [total / np.asarray(self.n_samples, dtype=total.dtype) for total in totals])


class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al. 2017), right Riemann sum with m steps:

        R = (x - x') * (1/m) sum_{s=1..m} dy/dx (x' + (s/m) (x - x')),   map = |sum_c R|

    x' is the baseline (default: zeros, a black image; a structure like x for several inputs).
    Completeness: sum(R) ~= y(x) - y(x'), the error shrinking as m grows (over all inputs).
    """

    def __init__(self, model, baseline=None, steps=32):
        super().__init__(model)
        self.baseline, self.steps = baseline, int(steps)

    def attribute(self, x, class_index=None, output=None, target=None):
        batch, _ = tape.as_batch(self.model, x, "IntegratedGradients")
        goal = self.goal(batch, class_index, output, target)
        leaves = _float_leaves(batch)
        given = [None] * len(leaves) if self.baseline is None else flatten(self.baseline)
        if len(given) != len(leaves):
            raise ValueError(f"IntegratedGradients: the baseline has {len(given)} arrays for {len(leaves)} inputs")
        baselines = [np.zeros_like(leaf) if b is None else np.broadcast_to(np.asarray(b, dtype=leaf.dtype), leaf.shape)
                     for leaf, b in zip(leaves, given)]
        totals = [np.zeros_like(leaf) for leaf in leaves]
        for s in range(1, self.steps + 1):
            points = [b + np.asarray(s / self.steps, dtype=leaf.dtype) * (leaf - b) for leaf, b in zip(leaves, baselines)]
            for total, g in zip(totals, flatten(self.input_gradient(pack_like(batch, points), goal))):
                total += g
        return pack_like(batch, [(leaf - b) * total / np.asarray(self.steps, dtype=leaf.dtype)
                                 for leaf, b, total in zip(leaves, baselines, totals)])

    def to_map(self, raw):
        raw = np.asarray(raw)
        return np.abs(raw.sum(axis=-1)) if raw.ndim >= 3 else np.abs(raw)


class GuidedBackprop(Attribution):
    """Guided backpropagation: dy/dx with every ReLU's backward replaced by the guided rule
    (see ``guided_relu``);  map = max_c |R|."""

    def attribute(self, x, class_index=None, output=None, target=None):
        batch, _ = tape.as_batch(self.model, x, "GuidedBackprop")
        goal = self.goal(batch, class_index, output, target)
        with guided_relu():
            return self.input_gradient(batch, goal)


class GuidedGradCAM(Attribution):
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM heatmap
    upsampled (bilinear) to the input size:  R[n, ..., c] = G[n, ..., c] * up(L_n);  map = max_c |R|.

    Only inputs on the same kind of grid as the CAM layer (images for a 4-D layer, sequences for
    a 3-D one) are multiplied; other inputs keep their guided-backprop attribution.
    """

    def __init__(self, model, layer_name=None):
        super().__init__(model)
        self.layer_name = layer_name

    def attribute(self, x, class_index=None, output=None, target=None):
        batch, _ = tape.as_batch(self.model, x, "GuidedGradCAM")
        goal = self.goal(batch, class_index, output, target)
        guided = flatten(GuidedBackprop(self.model).attribute(batch, target=goal))
        heat = normalize(GradCAM(self.model, self.layer_name).compute(batch, target=goal))
        result = []
        for leaf in guided:
            if leaf.ndim == heat.ndim + 1:
                result.append(leaf * upsample(heat, leaf.shape[1:-1]).astype(leaf.dtype)[..., None])
            else:
                result.append(leaf)
        return pack_like(batch, result)


def saliency(model, x, class_index=None, output=None, target=None):
    """Vanilla saliency map in [0, 1] per input: (H, W) for one image, else (N, H, W). See ``Saliency``."""
    return Saliency(model)(x, class_index, output, target)


def smoothgrad(model, x, class_index=None, n_samples=25, noise_level=0.15, seed=0, output=None, target=None):
    """SmoothGrad map in [0, 1] (see ``SmoothGrad``)."""
    return SmoothGrad(model, n_samples, noise_level, seed)(x, class_index, output, target)


def integrated_gradients(model, x, class_index=None, baseline=None, steps=32, output=None, target=None):
    """Integrated-gradients map in [0, 1] (see ``IntegratedGradients``)."""
    return IntegratedGradients(model, baseline, steps)(x, class_index, output, target)


def guided_backprop(model, x, class_index=None, output=None, target=None):
    """Guided-backpropagation map in [0, 1] (see ``GuidedBackprop``)."""
    return GuidedBackprop(model)(x, class_index, output, target)


def guided_grad_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """Guided Grad-CAM map in [0, 1] (see ``GuidedGradCAM``)."""
    return GuidedGradCAM(model, layer_name)(x, class_index, output, target)


__all__ = ["guided_relu", "Attribution", "Saliency", "SmoothGrad", "IntegratedGradients", "GuidedBackprop",
           "GuidedGradCAM", "saliency", "smoothgrad", "integrated_gradients", "guided_backprop",
           "guided_grad_cam"]
