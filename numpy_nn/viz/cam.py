"""Class activation maps: Grad-CAM and its relatives, as small subclasses of one ``BaseCAM``.

Notation: x the inputs, A = A[n, s, k] the output of the chosen layer, with K channels k on a
grid of positions s -- (i, j) for an image feature map (N, h, w, K), t for a feature map along
a sequence (N, T, K) -- y = y[n] the score explained (by default the pre-softmax logit of the
predicted class; see ``numpy_nn.viz.targets``), g = dy/dA (same shape as A). Every method computes

    L[n, s]  = ReLU( sum_k  w[n, s, k] * A[n, s, k] )          (the map on A's grid)
    heatmap  = L / max_s L      (per sample; all zeros when max L = 0, see ``normalize``)

and differs only in the weights w, computed by ``weights(A, g)``:

    GradCAM          w[n, k]    = mean_s g[n, s, k]                            (Selvaraju et al. 2017)
    GradCAMPlusPlus  w[n, k]    = sum_s alpha[n, s, k] ReLU(g[n, s, k])        (Chattopadhay et al. 2018)
    HiResCAM         w[n, s, k] = g[n, s, k]                                   (Draelos & Carin 2020)
    LayerCAM         w[n, s, k] = ReLU(g[n, s, k])                             (Jiang et al. 2021)
    XGradCAM         w[n, k]    = sum_s A g / (sum_s A + 1e-7)                 (Fu et al. 2020)
    ScoreCAM         w[n, k]    = p_c(x * up(A_k normalized))                  (Wang et al. 2020)
    AblationCAM      w[n, k]    = (y - y with channel k zeroed) / y            (Desai & Ramaswamy 2020)
    EigenCAM         w[n, k]    = v1[n, k], first principal direction of A[n]  (Muhammad & Yeasin 2020)

The last three need no gradient: ScoreCAM and AblationCAM run the model again once per channel
(no tape), EigenCAM uses A alone (it explains no class). y and A come from ONE forward pass on
the autograd tape, and g from ``nn.grad(y, A)``. Maps along a sequence (a (N, T', K) layer) are
upsampled linearly to the input's sequence length T.
"""
import numpy as np

from ..autograd.engine import grad as tape_grad
from ..autograd.function import no_grad
from ..autograd.tensor import Tensor
from ..ops.node import flatten, pack_like
from . import tape, targets
from .colormap import _interpolation_matrix


def normalize(maps):
    """ReLU(maps) / max per sample, for maps (N, ...); a sample whose max is <= 0 gets all zeros.

    keras.io divides ``max(heat, 0)`` by ``max(heat)`` with no epsilon: a map whose maximum is
    exactly 0 becomes NaN there, and one whose maximum is negative becomes (negative) zeros.
    Here both cases give zeros.
    """
    maps = np.maximum(np.asarray(maps), 0)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape((-1,) + (1,) * (maps.ndim - 1))
    safe = np.where(peak > 0, peak, 1)
    return np.where(peak > 0, maps / safe, 0).astype(maps.dtype)


def _as_batch(x, model=None):
    """(batched x, single) -- see ``tape.as_batch``; without a model, rank 3 means one image."""
    if model is None:
        x = np.asarray(getattr(x, "data", x))
        single = x.ndim == 3
        return (x[None] if single else x), single
    return tape.as_batch(model, x)


def _squeeze(maps, single):
    """One sample (or a batch of one, as in keras.io) -> its map alone; otherwise (N, ...)."""
    return maps[0] if (single or len(maps) == 1) else maps


def spatial_axes(activations):
    """The grid axes of a feature map (N, *grid, K): (1, 2) for images, (1,) for sequences."""
    return tuple(range(1, np.ndim(activations) - 1))


def inputs_on_grid(batch, rank):
    """Positions (flatten order) of the inputs whose rank equals the feature map's (same grid kind)."""
    return [i for i, leaf in enumerate(flatten(batch)) if np.ndim(leaf) == rank]


def upsample(maps, size):
    """Maps (N, *grid) resized (bilinear / linear, half-pixel centres) to ``size`` (one per grid axis)."""
    maps = np.asarray(maps, dtype=np.float64)
    for axis, new in enumerate(size, start=1):
        if maps.shape[axis] != new:
            matrix = _interpolation_matrix(maps.shape[axis], new)            # (new, old)
            maps = np.moveaxis(np.tensordot(matrix, maps, axes=([1], [axis])), 0, axis)
    return maps


def sequence_length(batch):
    """The length T of the sequence inputs (N, T, F), when they all agree; else None."""
    lengths = {np.shape(leaf)[1] for leaf in flatten(batch) if np.ndim(leaf) == 3}
    return lengths.pop() if len(lengths) == 1 else None


class BaseCAM:
    """The plumbing shared by every CAM: forward on the tape, the score, its gradient, the combination.

    ``cam = GradCAM(model, layer_name=None)``; ``cam(x, class_index=None, output=None, target=None)``
    -> heatmaps in [0, 1]: (h, w) per image for an image feature map, (T,) per sample for a
    feature map along a sequence (upsampled to the input length); the batch axis is dropped for
    one sample or a batch of one. ``x``: an array, a list or a dict of inputs (as
    ``model.predict``). ``layer_name`` defaults to the last layer with a 4-D output (else a 3-D
    one); it may be a path into nested models (``"encoder/conv2"``). ``class_index``: None (the
    predicted class of each sample), an int, or one int per sample; ``output``: which output
    (name or index); ``target``: a callable outputs -> (N,) instead (see ``targets``).
    After a call, ``cam.last`` holds ``activations``, ``gradients``, ``weights``,
    ``class_index``, ``raw`` (the map before ReLU and normalization), ``layer``, ``scores``.
    """

    needs_gradients = True
    uses_target = True

    def __init__(self, model, layer_name=None):
        self.model = model
        self.layer_name = layer_name
        self.last = None
        self.context = None

    def weights(self, activations, gradients):
        """w, broadcastable to A (N, *grid, K). Subclasses override this one method."""
        raise NotImplementedError(f"{type(self).__name__} must implement weights() (abstract in the base class)")

    def compute(self, x, class_index=None, output=None, target=None):
        """Unnormalized maps (N, *grid) = sum_k w * A, with the pieces kept in ``self.last``."""
        batch, _ = tape.as_batch(self.model, x, type(self).__name__)
        layer = self.layer_name or tape.default_cam_layer(self.model, batch)
        _, outputs, found = tape.forward(self.model, batch, [layer])
        activations = found[layer]
        if activations.ndim < 3:
            raise ValueError(f"{type(self).__name__}: layer '{layer}' has output shape {tuple(activations.shape)} "
                             "with no spatial axes; a CAM needs a feature map (batch, h, w, channels) or "
                             "(batch, steps, channels) -- choose an earlier layer with layer_name=")
        view = tape.ModelOutputs(self.model, outputs, found)
        A = activations.data
        if self.uses_target or class_index is not None or output is not None or target is not None:
            goal = targets.make_target(class_index, output, target).resolve(view)
            score = targets.evaluate(goal, view, activations.shape[0])
            g = tape_grad(score.sum(), activations).data if self.needs_gradients else None
            score = np.asarray(score.data)
            scores = view.logits(goal.output).data if isinstance(goal, targets.ClassScore) else score
        else:  # a class-agnostic CAM (Eigen-CAM) on a model with several outputs
            goal = score = scores = g = None
        self.context = dict(batch=batch, layer=layer, target=goal, score=score)
        w = self.weights(A, g)
        raw = np.sum(w * A, axis=-1)
        self.last = dict(activations=A, gradients=g, weights=w, class_index=getattr(goal, "chosen", None),
                         raw=raw, layer=layer, scores=scores, target=goal)
        return raw

    def __call__(self, x, class_index=None, output=None, target=None):
        _, single = tape.as_batch(self.model, x, type(self).__name__)
        maps = normalize(self.compute(x, class_index, output, target))
        if maps.ndim == 2:  # a map along a sequence: to the input's length (interpolation moves the max)
            length = sequence_length(self.context["batch"])
            if length is not None:
                maps = normalize(upsample(maps, (length,)).astype(maps.dtype))
        return _squeeze(maps, single)

    # helpers for the gradient-free CAMs --------------------------------------------------------
    def _run(self, batch, replace=None):
        """The model's outputs at ``batch`` (a ``tape.ModelOutputs`` view), computed without the tape."""
        with no_grad():
            _, outputs, found = tape.forward(self.model, batch, replace=replace)
        return tape.ModelOutputs(self.model, outputs, found)


class GradCAM(BaseCAM):
    """Grad-CAM: each channel weighted by its average gradient (global-average-pooled g).

        w[n, k] = (1 / |grid|) sum_s  dy / dA[n, s, k]
    """

    def weights(self, activations, gradients):
        return gradients.mean(axis=spatial_axes(gradients), keepdims=True)


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++: pixel-wise weighted positive gradients.

    With Y = exp(y) (the paper's exponential assumption) and a network that is piecewise
    linear above A (ReLU, max pooling, linear layers: d^2 y / dA^2 = 0), the higher derivatives
    of Y are powers of the first derivative of y: d^2 Y/dA^2 = Y g^2 and d^3 Y/dA^3 = Y g^3, and
    the common factor Y cancels out:

        alpha[n, s, k] = g^2 / ( 2 g^2 + sum_s' A[n, s', k] g^3 )   (0 where the denominator is 0)
        w[n, k]        = sum_s alpha[n, s, k] ReLU(g[n, s, k])

    (the ReLU of dY/dA = Y g is, up to the positive factor Y, the ReLU of g).

    ``exact=True`` keeps Y = exp(y) but drops the piecewise-linear assumption: the true second
    and third derivatives of y, element by element (the diagonals), h = d^2 y/dA^2 and
    t = d^3 y/dA^3, computed on the tape with ``nn.grad(..., create_graph=True)``, give

        d^2 Y/dA^2 = Y (g^2 + h),        d^3 Y/dA^3 = Y (g^3 + 3 g h + t)
        alpha[n, s, k] = (g^2 + h) / ( 2 (g^2 + h) + sum_s' A[n, s', k] (g^3 + 3 g h + t) )

    It equals the closed form when h = t = 0 (only ReLU, max pooling and linear layers between
    A and y) and differs when a smooth function (tanh, sigmoid, a softmax, a similarity target)
    lies between them. Cost: two more backward passes per element of one sample's A (|grid| * K
    of them), each for the whole batch. After a call, ``self.higher = (h, t)``.
    """

    def __init__(self, model, layer_name=None, exact=False):
        super().__init__(model, layer_name)
        self.exact = bool(exact)
        self.higher = None

    def weights(self, activations, gradients):
        axes = spatial_axes(gradients)
        g = gradients
        second, third = g ** 2, g ** 3   # d^2 Y/dA^2 / Y and d^3 Y/dA^3 / Y
        if self.exact:
            h, t = self.higher = self.higher_derivatives()
            second, third = second + h, third + 3 * g * h + t
        denominator = 2 * second + activations.sum(axis=axes, keepdims=True) * third
        safe = np.where(denominator != 0, denominator, 1)
        alpha = np.where(denominator != 0, second / safe, 0)
        return np.sum(alpha * np.maximum(gradients, 0), axis=axes, keepdims=True)

    def higher_derivatives(self):
        """(h, t) = (d^2 y/dA^2, d^3 y/dA^3) element by element, each of A's shape.

        One forward pass on the tape; g = dy/dA with ``create_graph=True``; then for each
        position of A the derivative of g there (a Hessian column; h is its diagonal entry) and
        the derivative of that entry (t). Each sample's score depends on its own A only, so one
        pass serves the whole batch.
        """
        batch, layer, goal = (self.context[key] for key in ("batch", "layer", "target"))
        _, outputs, found = tape.forward(self.model, batch, [layer])
        activations = found[layer]
        score = targets.evaluate(goal, tape.ModelOutputs(self.model, outputs, found), activations.shape[0])
        g = tape_grad(score.sum(), activations, create_graph=True)
        h, t = np.zeros(activations.shape), np.zeros(activations.shape)
        for position in np.ndindex(*activations.shape[1:]):
            at = (slice(None),) + position  # the same element of every sample
            column = tape_grad(g[at].sum(), activations, create_graph=True)
            h[at] = column.data[at]
            t[at] = tape_grad(column[at].sum(), activations).data[at]
        return h.astype(activations.dtype), t.astype(activations.dtype)


class HiResCAM(BaseCAM):
    """HiResCAM: the gradient itself, element by element (no spatial averaging).

        L[n, s] = ReLU( sum_k g[n, s, k] A[n, s, k] )
    """

    def weights(self, activations, gradients):
        return gradients


class LayerCAM(BaseCAM):
    """Layer-CAM (Jiang et al. 2021): each position weighted by its own positive gradient.

        w[n, s, k] = ReLU(g[n, s, k]),     L[n, s] = ReLU( sum_k ReLU(g[n, s, k]) A[n, s, k] )

    Reliable on early layers too, where averaging the gradients (Grad-CAM) blurs the map.
    """

    def weights(self, activations, gradients):
        return np.maximum(gradients, 0)


class XGradCAM(BaseCAM):
    """XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM"): gradients weighted by the normalized activation.

        w[n, k] = sum_s A[n, s, k] g[n, s, k] / ( sum_s A[n, s, k] + 1e-7 )
    """

    def weights(self, activations, gradients):
        axes = spatial_axes(gradients)
        return (np.sum(activations * gradients, axis=axes, keepdims=True)
                / (np.sum(activations, axis=axes, keepdims=True) + 1e-7))


class ScoreCAM(BaseCAM):
    """Score-CAM (Wang et al. 2020): each channel weighted by the confidence of the input it masks.

        H_k    = up(A_k) normalized to [0, 1] per sample: (up(A_k) - min) / (max - min)
        w[n, k] = p_c( x * H_k )     (0 for a channel that is constant on the grid)

    up() resizes A_k to each input on the same kind of grid (images for a 4-D map, sequences
    for a 3-D one); other inputs are left as they are. p_c is the softmax probability of the
    explained class (as in the authors' code, without the paper's baseline term), or the score
    itself for a target that is not a class. One forward pass per channel, without the tape.
    """

    needs_gradients = False

    def weights(self, activations, gradients):
        batch, goal = self.context["batch"], self.context["target"]
        positions = inputs_on_grid(batch, activations.ndim)
        if not positions:
            raise ValueError(f"ScoreCAM: no input has a grid like layer '{self.context['layer']}' "
                             f"({activations.ndim}-D); the masks cannot be applied")
        leaves = [np.asarray(leaf) for leaf in flatten(batch)]
        weights = np.zeros(activations.shape[:1] + (1,) * (activations.ndim - 2) + activations.shape[-1:])
        for k in range(activations.shape[-1]):
            masked, varies = list(leaves), np.zeros(len(activations), dtype=bool)
            for i in positions:
                up = upsample(activations[..., k], leaves[i].shape[1:-1])
                flat = up.reshape(len(up), -1)
                low, high = flat.min(axis=1), flat.max(axis=1)
                varies |= high > low
                scale = np.where(high > low, high - low, 1).reshape((-1,) + (1,) * (up.ndim - 1))
                mask = (up - low.reshape(scale.shape)) / scale
                masked[i] = (leaves[i] * mask[..., None]).astype(leaves[i].dtype)
            confidence = goal.confidence(self._run(pack_like(batch, masked)))
            weights[..., k] = np.where(varies, confidence, 0).reshape(weights[..., k].shape)
        return weights.astype(activations.dtype)


class AblationCAM(BaseCAM):
    """Ablation-CAM (Desai & Ramaswamy 2020): how much the score drops when a channel is removed.

        w[n, k] = ( y[n] - y_k[n] ) / y[n]      y_k: the score with A[..., k] set to 0

    (y = 0 is replaced by 1e-7). One forward pass per channel, without the tape; the layer's
    output is changed through ``tape.tap(..., replace=...)``, the model itself is not.
    """

    needs_gradients = False

    def weights(self, activations, gradients):
        batch, goal, layer = self.context["batch"], self.context["target"], self.context["layer"]
        y = self.context["score"].astype(np.float64)
        safe = np.where(y != 0, y, 1e-7)
        channels = activations.shape[-1]
        weights = np.zeros((len(y), channels))
        for k in range(channels):
            keep = np.ones(channels, dtype=activations.dtype)
            keep[k] = 0
            view = self._run(batch, replace={layer: lambda out, keep=keep: out * Tensor(keep)})
            weights[:, k] = (y - np.asarray(goal.score(view).data, dtype=np.float64)) / safe
        return weights.reshape((len(y),) + (1,) * (activations.ndim - 2) + (channels,)).astype(activations.dtype)


class EigenCAM(BaseCAM):
    """Eigen-CAM (Muhammad & Yeasin 2020): A projected on its first principal direction.

        M = A[n] as a (|grid|, K) matrix,  M = U S V^T (SVD),  w[n, k] = v1[k] (first row of V^T)
        L[n, s] = ReLU( sum_k A[n, s, k] v1[k] )

    No gradient and no class: it shows the dominant pattern of the feature map. The sign of
    v1 (arbitrary in an SVD) is chosen so that sum_s L >= 0 before the ReLU.
    """

    needs_gradients = False
    uses_target = False

    def weights(self, activations, gradients):
        n, channels = activations.shape[0], activations.shape[-1]
        matrix = activations.reshape(n, -1, channels).astype(np.float64)
        _, _, vt = np.linalg.svd(matrix, full_matrices=False)
        v1 = vt[:, 0, :]                                              # (N, K)
        sign = np.where(np.einsum("nsk,nk->n", matrix, v1) < 0, -1.0, 1.0)
        return (v1 * sign[:, None]).reshape((n,) + (1,) * (activations.ndim - 2) + (channels,)).astype(
            activations.dtype)


def grad_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """Grad-CAM heatmap in [0, 1] on the grid of ``layer_name`` (see ``GradCAM`` and ``BaseCAM``).

    ``x``: one sample or a batch, as an array, a list or a dict of inputs. Returns (h, w) for
    one image or a batch of one (like keras.io), else (N, h, w); (T,) / (N, T) for a layer
    along a sequence. ``layer_name``: default the last layer with a 4-D output (else 3-D).
    ``class_index``: default the predicted class; ``output``: an output name or index (needed
    when the model has several); the class score is the pre-softmax logit when that output's
    last layer applies a softmax (the model itself is left unchanged). ``target``: a callable
    receiving the model's outputs on the tape and returning one score per sample, (N,).
    """
    return GradCAM(model, layer_name)(x, class_index, output, target)


def grad_cam_plus_plus(model, x, layer_name=None, class_index=None, output=None, target=None, exact=False):
    """Grad-CAM++ heatmap in [0, 1] (see ``GradCAMPlusPlus``); arguments as ``grad_cam``.

    ``exact=False`` (default): the usual closed form, alpha from powers of the gradient (exact
    for a piecewise-linear network above the layer, the form Keras recipes use).
    ``exact=True``: alpha from the true second and third derivatives (``create_graph=True``).
    """
    return GradCAMPlusPlus(model, layer_name, exact=exact)(x, class_index, output, target)


def hires_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """HiResCAM heatmap in [0, 1] (see ``HiResCAM``); arguments as ``grad_cam``."""
    return HiResCAM(model, layer_name)(x, class_index, output, target)


def layer_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """Layer-CAM heatmap in [0, 1] (see ``LayerCAM``); arguments as ``grad_cam``."""
    return LayerCAM(model, layer_name)(x, class_index, output, target)


def xgrad_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """XGrad-CAM heatmap in [0, 1] (see ``XGradCAM``); arguments as ``grad_cam``."""
    return XGradCAM(model, layer_name)(x, class_index, output, target)


def score_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """Score-CAM heatmap in [0, 1] (see ``ScoreCAM``; one forward pass per channel); arguments as ``grad_cam``."""
    return ScoreCAM(model, layer_name)(x, class_index, output, target)


def ablation_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """Ablation-CAM heatmap in [0, 1] (see ``AblationCAM``; one forward pass per channel); arguments as ``grad_cam``."""
    return AblationCAM(model, layer_name)(x, class_index, output, target)


def eigen_cam(model, x, layer_name=None, class_index=None, output=None, target=None):
    """Eigen-CAM heatmap in [0, 1] (see ``EigenCAM``; class-agnostic: ``class_index``, ``output``
    and ``target`` only have to be valid); arguments as ``grad_cam``."""
    return EigenCAM(model, layer_name)(x, class_index, output, target)


CAMS = {"grad_cam": GradCAM, "grad_cam++": GradCAMPlusPlus, "hires_cam": HiResCAM, "layer_cam": LayerCAM,
        "xgrad_cam": XGradCAM, "score_cam": ScoreCAM, "ablation_cam": AblationCAM, "eigen_cam": EigenCAM}
