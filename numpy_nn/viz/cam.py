"""Class activation maps: Grad-CAM and its relatives, as small subclasses of one ``BaseCAM``.

Notation: x the input batch, A = A[n, i, j, k] the output of the chosen convolutional layer
(K channels on an h x w grid), y = y^c the class score of class c (the pre-softmax logit when
the model ends in a softmax; see ``numpy_nn.viz.tape``), g = dy/dA (same shape as A).
Every method computes

    L[n, i, j] = ReLU( sum_k  w[n, i, j, k] * A[n, i, j, k] )           (the map on A's grid)
    heatmap    = L / max_ij L      (per image; all zeros when max L = 0, see ``normalize``)

and differs only in the weights w, computed by ``BaseCAM.weights(A, g)``:

    GradCAM          w[n, k]       = mean_ij g[n, i, j, k]                   (Selvaraju et al. 2017)
    GradCAMPlusPlus  w[n, k]       = sum_ij alpha[n, i, j, k] ReLU(g[n, i, j, k])   (Chattopadhay 2018)
    HiResCAM         w[n, i, j, k] = g[n, i, j, k]                           (Draelos & Carin 2020)

Both y and A come from ONE forward pass on the autograd tape, and g from ``nn.grad(y, A)``.
"""
import numpy as np

from ..autograd.engine import grad as tape_grad
from . import tape


def normalize(maps):
    """ReLU(maps) / max per image, for maps (N, h, w); an image whose max is <= 0 gets all zeros.

    keras.io divides ``max(heat, 0)`` by ``max(heat)`` with no epsilon: a map whose maximum is
    exactly 0 becomes NaN there, and one whose maximum is negative becomes (negative) zeros.
    Here both cases give zeros.
    """
    maps = np.maximum(np.asarray(maps), 0)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    safe = np.where(peak > 0, peak, 1)
    return np.where(peak > 0, maps / safe, 0).astype(maps.dtype)


def _as_batch(x):
    x = np.asarray(getattr(x, "data", x))
    single = x.ndim == 3
    return (x[None] if single else x), single


def _squeeze(maps, single):
    """One image (or a batch of one, as in keras.io) -> (h, w); otherwise (N, h, w)."""
    return maps[0] if (single or len(maps) == 1) else maps


class BaseCAM:
    """The plumbing shared by every CAM: forward on the tape, class score, gradient, combination.

    ``cam = GradCAM(model, layer_name=None)``; ``cam(x, class_index=None)`` -> heatmaps in [0, 1],
    (h, w) for one image or a batch of one, else (N, h, w), on the layer's grid.
    ``layer_name`` defaults to the last layer with a 4-D output; it may be a path into nested
    models (``"encoder/conv2"``). ``class_index``: None (the predicted class of each image), an
    int, or one int per image. After a call, ``cam.last`` holds ``activations``, ``gradients``,
    ``weights``, ``class_index`` and ``raw`` (the map before ReLU and normalization).
    """

    def __init__(self, model, layer_name=None):
        self.model = model
        self.layer_name = layer_name
        self.last = None

    def weights(self, activations, gradients):
        """w, broadcastable to A (N, h, w, K). Subclasses override this one method."""
        raise NotImplementedError(f"{type(self).__name__} must implement weights() (abstract in the base class)")

    def compute(self, x, class_index=None):
        """Unnormalized maps (N, h, w) = sum_k w * A, with the pieces kept in ``self.last``."""
        batch, _ = _as_batch(x)
        layer = self.layer_name or tape.last_4d_layer(self.model, batch)
        _, outputs, found = tape.forward(self.model, batch, [layer])
        activations = found[layer]
        if activations.ndim != 4:
            raise ValueError(f"{type(self).__name__}: layer '{layer}' has a {activations.ndim}-D output "
                             f"{tuple(activations.shape)}; a CAM needs a 4-D (batch, h, w, channels) one")
        score, chosen = tape.select(tape.class_scores(outputs, found), class_index)
        A = activations.data
        g = tape_grad(score, activations).data
        w = self.weights(A, g)
        raw = np.sum(w * A, axis=-1)
        self.last = dict(activations=A, gradients=g, weights=w, class_index=chosen, raw=raw, layer=layer,
                         scores=tape.class_scores(outputs, found).data)
        return raw

    def __call__(self, x, class_index=None):
        _, single = _as_batch(x)
        return _squeeze(normalize(self.compute(x, class_index)), single)


class GradCAM(BaseCAM):
    """Grad-CAM: each channel weighted by its average gradient (global-average-pooled g).

        w[n, k] = (1 / hw) sum_ij  dy^c / dA[n, i, j, k]
    """

    def weights(self, activations, gradients):
        return gradients.mean(axis=(1, 2), keepdims=True)


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++: pixel-wise weighted positive gradients.

    With Y^c = exp(y^c) (the paper's exponential assumption) and a network that is piecewise
    linear above A (ReLU, max pooling, linear layers: d^2 y / dA^2 = 0), the higher derivatives
    of Y are powers of the first derivative of y: d^2 Y/dA^2 = Y g^2 and d^3 Y/dA^3 = Y g^3, and
    the common factor Y cancels out:

        alpha[n, i, j, k] = g^2 / ( 2 g^2 + sum_ab A[n, a, b, k] g^3 )   (0 where the denominator is 0)
        w[n, k]           = sum_ij alpha[n, i, j, k] ReLU(g[n, i, j, k])

    (the ReLU of dY/dA = Y g is, up to the positive factor Y, the ReLU of g).
    """

    def weights(self, activations, gradients):
        g2, g3 = gradients ** 2, gradients ** 3
        denominator = 2 * g2 + activations.sum(axis=(1, 2), keepdims=True) * g3
        safe = np.where(denominator != 0, denominator, 1)
        alpha = np.where(denominator != 0, g2 / safe, 0)
        return np.sum(alpha * np.maximum(gradients, 0), axis=(1, 2), keepdims=True)


class HiResCAM(BaseCAM):
    """HiResCAM: the gradient itself, element by element (no spatial averaging).

        L[n, i, j] = ReLU( sum_k g[n, i, j, k] A[n, i, j, k] )
    """

    def weights(self, activations, gradients):
        return gradients


def grad_cam(model, x, layer_name=None, class_index=None):
    """Grad-CAM heatmap in [0, 1] on the grid of ``layer_name`` (see ``GradCAM``).

    ``x``: one image (H, W, C) or a batch (N, H, W, C). Returns (h, w) for one image or a batch
    of one (like keras.io), else (N, h, w). ``layer_name``: default the last layer with a 4-D
    output. ``class_index``: default the predicted class. The class score is the pre-softmax
    logit when the model's last layer applies a softmax (the model itself is left unchanged).
    """
    return GradCAM(model, layer_name)(x, class_index)


def grad_cam_plus_plus(model, x, layer_name=None, class_index=None):
    """Grad-CAM++ heatmap in [0, 1] (see ``GradCAMPlusPlus``); arguments as ``grad_cam``."""
    return GradCAMPlusPlus(model, layer_name)(x, class_index)


def hires_cam(model, x, layer_name=None, class_index=None):
    """HiResCAM heatmap in [0, 1] (see ``HiResCAM``); arguments as ``grad_cam``."""
    return HiResCAM(model, layer_name)(x, class_index)
