"""Keras losses: per-sample functions, ``Loss`` classes with Keras reductions, ``get`` and ``resolve``.

A loss *function* ``fn(y_true, y_pred) -> Tensor`` returns one value per sample (the last axis
reduced: a mean for MSE/MAE/binary crossentropy, a sum over classes for categorical
crossentropy). ``y_pred`` is a Tensor on the tape (or anything array-like); ``y_true`` is an
array without gradient. A ``Loss`` object (Keras ``losses/loss.py``) first converts *both*
inputs to its ``dtype`` (floatx by default: float64 in gives float32 out, like Keras), squeezes
or expands a trailing axis of 1 so their ranks match, then weights and reduces the values:

    values = fn(y_true, y_pred) * sample_weight
    "sum_over_batch_size" (default), "mean":  sum(values) / number of elements of values
    "mean_with_sample_weight":                 sum(values) / sum(sample_weight)
    "sum":  sum(values);      "none" / None:  values unchanged
(the divisor is the element count, *not* the sum of the weights; a zero divisor gives 0).
A Keras mask (``y_pred._keras_mask``, or the values' own mask, e.g. ignored classes) turns into
weights ``mask * size / count(mask)`` for the mean reductions (``mask`` for the others).

``resolve("crossentropy", y_true_shape, y_pred_shape)`` picks binary / sparse / categorical as
``model.compile(loss="crossentropy")`` does in Keras. Every formula is composed from the
differentiable ops in ``numpy_nn/ops`` (the fused crossentropies and Huber live in
``ops/losses.py`` with their gradients), so each loss can be trained on.
"""
import math
import warnings

import numpy as np

from . import config
from .autograd.tensor import Tensor
from .naming import to_snake_case, unique_name
from .ops import activations as A
from .ops import losses as L
from .ops import math as M

EPSILON = L.EPSILON
REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight")


# -- helpers -------------------------------------------------------------------------------------------
def _is_float(dtype):
    return dtype.kind == "f" or dtype.name == "bfloat16"


def _is_numeric(dtype):
    return dtype.kind in "iub" or _is_float(dtype)


def _prediction(y_pred):
    """A Tensor: Tensors pass through, arrays keep a float dtype, anything else becomes floatx."""
    if isinstance(y_pred, Tensor):
        return y_pred if _is_float(y_pred.dtype) else y_pred.astype(config.floatx())
    array = np.asarray(y_pred)
    if not _is_numeric(array.dtype):
        raise TypeError(f"y_pred must hold numbers; received an array of dtype {array.dtype}")
    if not _is_float(array.dtype) or not isinstance(y_pred, (np.ndarray, np.generic)):
        array = array.astype(config.floatx())
    return Tensor(array, dtype=array.dtype)


def _target(y_true, dtype, name="loss"):
    """The target as an array of the prediction's dtype; strings and objects are refused."""
    array = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if not _is_numeric(array.dtype):
        raise TypeError(f"{name}: y_true must hold numbers; received an array of dtype {array.dtype}")
    return array.astype(dtype, copy=False)


def _constant(array):
    """A constant Tensor holding ``array`` as is (any float dtype, bfloat16 included)."""
    return Tensor(array, dtype=array.dtype)


def _check_broadcastable(name, y_true, y_pred):
    """Keras lets y_true and y_pred broadcast (e.g. (N, 1) against (N, K)); anything else is an error."""
    try:
        np.broadcast_shapes(tuple(y_true.shape), tuple(y_pred.shape))
    except ValueError:
        raise ValueError(f"{name}: y_true and y_pred have incompatible shapes; received "
                         f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}") from None


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank fix for a pair (arrays or Tensors): if the ranks differ by one and the longer
    one ends in 1, squeeze that axis (or, when the other is rank 1, expand the other)."""
    def squeeze(x):
        return x.reshape(tuple(x.shape[:-1]))

    def expand(x):
        return x.reshape(tuple(x.shape) + (1,))

    if len(x1.shape) == len(x2.shape) + 1 and x1.shape[-1] == 1:
        if len(x2.shape) == 1 and expand_rank_1:
            x2 = expand(x2)
        else:
            x1 = squeeze(x1)
    if len(x2.shape) == len(x1.shape) + 1 and x2.shape[-1] == 1:
        if len(x1.shape) == 1 and expand_rank_1:
            x1 = expand(x1)
        else:
            x2 = squeeze(x2)
    return x1, x2


def _pair(name, y_true, y_pred):
    """(target array, prediction Tensor) of the prediction's dtype, ranks matched, broadcastable."""
    y_pred = _prediction(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(_target(y_true, y_pred.dtype, name), y_pred)
    _check_broadcastable(name, y_true, y_pred)
    return y_true, y_pred


def _check_same_shape(name, y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: y_true and y_pred must have the same shape; received "
                         f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}")


def resolve_dtype(dtype):
    """A NumPy dtype from a name; ``"bfloat16"`` comes from the ``ml_dtypes`` package (installed
    with JAX, ``pip install -e ".[keras]"``), as NumPy has no bfloat16 of its own."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError('dtype "bfloat16" needs the ml_dtypes package: pip install -e ".[keras]"') from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def _check_axis(axis):
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")


def _warn_one_class(name, y_pred):
    if y_pred.shape[-1] == 1:
        warnings.warn(f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
                      f"Received: y_pred.shape={tuple(y_pred.shape)}. Consider using 'binary_crossentropy' if you "
                      "only have 2 classes.", SyntaxWarning, stacklevel=3)


def _zeros_like(tensor):
    return np.zeros(tensor.shape, tensor.dtype)


# -- regression ----------------------------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """mean over the last axis of (y_true - y_pred)^2."""
    y_true, y_pred = _pair("mean_squared_error", y_true, y_pred)
    error = y_pred - y_true
    return (error * error).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean over the last axis of |y_true - y_pred|."""
    y_true, y_pred = _pair("mean_absolute_error", y_true, y_pred)
    return (y_pred - y_true).abs().mean(axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean over the last axis of |(y_true - y_pred) / max(|y_true|, eps)|."""
    y_true, y_pred = _pair("mean_absolute_percentage_error", y_true, y_pred)
    denominator = np.maximum(np.abs(y_true), np.asarray(EPSILON, y_true.dtype))
    return ((y_true - y_pred) / denominator).abs().mean(axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean over the last axis of (log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2."""
    y_true, y_pred = _pair("mean_squared_logarithmic_error", y_true, y_pred)
    first_log = (y_pred.maximum(EPSILON) + 1.0).log()
    second_log = np.log(np.maximum(y_true, np.asarray(EPSILON, y_true.dtype)) + 1.0)
    error = first_log - second_log
    return (error * error).mean(axis=-1)


def _l2_normalize(x, axis):
    """x * min(1/||x||, 1/eps) along ``axis`` (Keras's ``normalize``), Tensor or array."""
    if isinstance(x, Tensor):
        square_sum = (x * x).sum(axis=axis, keepdims=True)
        return x * square_sum.maximum(EPSILON ** 2) ** -0.5
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    return x * np.minimum(1.0 / np.sqrt(square_sum), 1.0 / EPSILON).astype(x.dtype)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum over ``axis`` of l2_normalize(y_true) * l2_normalize(y_pred): -1 when aligned, 0 when
    orthogonal (or when either vector is 0), +1 when opposite."""
    y_true, y_pred = _pair("cosine_similarity", y_true, y_pred)
    with np.errstate(divide="ignore"):
        y_true = _l2_normalize(y_true, axis)
    return -(_l2_normalize(y_pred, axis) * y_true).sum(axis=axis)


def huber(y_true, y_pred, delta=1.0):
    """mean over the last axis of e^2/2 (|e| <= delta) or delta |e| - delta^2/2, e = y_pred - y_true."""
    y_true, y_pred = _pair("huber", y_true, y_pred)
    return L.Huber.apply(y_pred, target=y_true, delta=delta).mean(axis=-1)


def log_cosh(y_true, y_pred):
    """mean over the last axis of log(cosh(e)), e = y_pred - y_true, computed stably as
    ``e + softplus(-2 e) - log(2)`` (about e^2/2 for small e, |e| - log 2 for large e)."""
    y_true, y_pred = _pair("log_cosh", y_true, y_pred)
    error = y_pred - y_true
    return (error + A.Softplus.apply(error * -2.0) - math.log(2.0)).mean(axis=-1)


def kl_divergence(y_true, y_pred):
    """sum over the last axis of y log(y / p), with y and p clipped to [eps, 1]."""
    y_pred = _prediction(y_pred)
    y_true = np.clip(_target(y_true, y_pred.dtype, "kl_divergence"), EPSILON, 1.0)
    _check_broadcastable("kl_divergence", y_true, y_pred)
    return (y_true * (y_true / y_pred.clip(EPSILON, 1.0)).log()).sum(axis=-1)


def poisson(y_true, y_pred):
    """mean over the last axis of y_pred - y_true log(y_pred + eps)."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "poisson")
    _check_broadcastable("poisson", y_true, y_pred)
    return (y_pred - y_true * (y_pred + EPSILON).log()).mean(axis=-1)


# -- margins ----------------------------------------------------------------------------------------------
def _hinge_labels(y_true):
    """Keras converts {0, 1} labels to {-1, 1}; other labels are used as given."""
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


def hinge(y_true, y_pred):
    """mean over the last axis of max(1 - y p, 0), labels {0, 1} mapped to {-1, 1}."""
    y_pred = _prediction(y_pred)
    y_true = _hinge_labels(_target(y_true, y_pred.dtype, "hinge")).astype(y_pred.dtype)
    _check_broadcastable("hinge", y_true, y_pred)
    return M.maximum(1.0 - y_true * y_pred, np.zeros((), y_pred.dtype)).mean(axis=-1)


def squared_hinge(y_true, y_pred):
    """mean over the last axis of max(1 - y p, 0)^2."""
    y_pred = _prediction(y_pred)
    y_true = _hinge_labels(_target(y_true, y_pred.dtype, "squared_hinge")).astype(y_pred.dtype)
    _check_broadcastable("squared_hinge", y_true, y_pred)
    margin = M.maximum(1.0 - y_true * y_pred, np.zeros((), y_pred.dtype))
    return (margin * margin).mean(axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max_k (1 - y_k) p_k - sum_k y_k p_k + 1, 0)."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "categorical_hinge")
    _check_broadcastable("categorical_hinge", y_true, y_pred)
    positive = (y_true * y_pred).sum(axis=-1)
    negative = ((1.0 - y_true) * y_pred).max(axis=-1)
    return M.maximum(negative - positive + 1.0, np.zeros((), y_pred.dtype))


# -- crossentropies ---------------------------------------------------------------------------------------
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum_k y_k log p_k over ``axis``; p renormalised (p / sum p) and clipped to [eps, 1 - eps],
    or log_softmax(y_pred) when ``from_logits``; label smoothing: y -> y (1 - ls) + ls / K.
    Warns (SyntaxWarning, as Keras) if y_pred has a single class."""
    _check_axis(axis)
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "categorical_crossentropy")
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    _warn_one_class("categorical_crossentropy", y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return L.CategoricalCrossentropy.apply(y_pred, target=y_true.astype(y_pred.dtype, copy=False),
                                           from_logits=from_logits, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Focal loss (Lin et al. 2017), categorical form: with q = clip(p / sum p, eps, 1 - eps)
    (p = softmax(y_pred) if ``from_logits``), ``sum over axis of -alpha (1 - q)^gamma y log q``.
    ``alpha`` may be a per-class list; gamma = 0 and alpha = 1 give categorical crossentropy."""
    _check_axis(axis)
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "categorical_focal_crossentropy")
    _check_broadcastable("categorical_focal_crossentropy", y_true, y_pred)
    _warn_one_class("categorical_focal_crossentropy", y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        y_pred = A.Softmax.apply(y_pred, axis=axis)
    output = (y_pred / y_pred.sum(axis=axis, keepdims=True)).clip(EPSILON, 1.0 - EPSILON)
    cce = -(output.log() * y_true)
    weighting = (1.0 - output) ** float(gamma) * np.asarray(alpha, dtype=y_pred.dtype)
    return (weighting * cce).sum(axis=axis)


def sparse_labels_to_one_hot(name, y_true, y_pred, axis=-1):
    """Integer labels (N,) or (N, 1) (any leading shape) -> one-hot like y_pred, validated."""
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if not _is_numeric(labels.dtype):
        raise TypeError(f"{name}: y_true must hold integer labels; received an array of dtype {labels.dtype}")
    if labels.ndim == y_pred.ndim and labels.shape[axis] == 1:
        labels = np.squeeze(labels, axis=axis)
    expected = tuple(np.delete(np.array(y_pred.shape, dtype=object), axis % y_pred.ndim))
    if tuple(labels.shape) != expected:
        raise ValueError(f"{name}: y_true must have the shape of y_pred without its class axis. Arguments `target` "
                         "and `output` must have the same shape up until the last dimension: "
                         f"target.shape={tuple(labels.shape)}, output.shape={tuple(y_pred.shape)}")
    num_classes = y_pred.shape[axis]
    if labels.size and _is_float(labels.dtype) and not np.all(np.isfinite(labels.astype(np.float64))):
        raise ValueError(f"{name}: y_true contains a non-finite label")
    labels = labels.astype(np.int64)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f"{name}: label {labels[bad].flat[0]} is out of range [0, {num_classes}) "
                         f"for y_pred.shape={tuple(y_pred.shape)}")
    one_hot = (labels[..., None] == np.arange(num_classes)).astype(y_pred.dtype)
    return np.moveaxis(one_hot, -1, axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Categorical crossentropy with integer labels (N,) or (N, 1); same renormalise + clip.

    ``ignore_class``: positions labelled with it get loss 0 and no gradient, and are masked out of
    the mean (the result carries a Keras mask: ``sum / count(valid)`` under the default reduction).
    """
    y_pred = _prediction(y_pred)
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.ndim == y_pred.ndim and labels.shape[axis] == 1:
        labels = np.squeeze(labels, axis=axis)
    if ignore_class is None:
        one_hot = sparse_labels_to_one_hot("sparse_categorical_crossentropy", labels, y_pred, axis)
        return L.CategoricalCrossentropy.apply(y_pred, target=one_hot, from_logits=from_logits, axis=axis)
    valid = labels != ignore_class
    # ignored positions: any valid probability vector keeps the forward finite; Where blocks the gradient
    placeholder = np.full(y_pred.shape, 1.0 if from_logits else 1.0 / y_pred.shape[axis], y_pred.dtype)
    kept = M.where(np.expand_dims(valid, axis), y_pred, _constant(placeholder))
    one_hot = sparse_labels_to_one_hot("sparse_categorical_crossentropy", np.where(valid, labels, 0), y_pred, axis)
    values = L.CategoricalCrossentropy.apply(kept, target=one_hot, from_logits=from_logits, axis=axis)
    values = M.where(valid.reshape(values.shape), values, _constant(_zeros_like(values)))
    values._keras_mask = valid.reshape(values.shape)
    return values


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over ``axis`` of -[y log p + (1 - y) log(1 - p)], p clipped to [eps, 1 - eps] in the
    prediction's dtype; logits: -y log_sigmoid(z) - (1 - y) log_sigmoid(-z);
    label smoothing: y -> y (1 - ls) + ls / 2."""
    y_true, y_pred = _binary_pair("binary_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    elementwise = L.BinaryCrossentropy.apply(y_pred, target=y_true.astype(y_pred.dtype, copy=False),
                                             from_logits=from_logits)
    return elementwise.mean(axis=axis)


def _binary_pair(name, y_true, y_pred):
    y_pred = _prediction(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(_target(y_true, y_pred.dtype, name), y_pred)
    _check_same_shape(name, y_true, y_pred)
    return y_true, y_pred


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Focal loss, binary form: with p = y_pred (sigmoid(y_pred) if ``from_logits``) and
    ``p_t = y p + (1 - y)(1 - p)``, the mean over ``axis`` of ``(1 - p_t)^gamma * bce`` where bce
    is the clipped binary crossentropy; ``apply_class_balancing`` also weights by alpha (y = 1)
    or 1 - alpha (y = 0). gamma = 0 gives binary crossentropy."""
    y_true, y_pred = _binary_pair("binary_focal_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    y_true = y_true.astype(y_pred.dtype, copy=False)
    if from_logits:
        y_pred = A.Sigmoid.apply(y_pred)
    bce = L.BinaryCrossentropy.apply(y_pred, target=y_true, from_logits=False)
    p_t = y_pred * y_true + (1.0 - y_pred) * (1.0 - y_true)
    focal_bce = (1.0 - p_t) ** float(gamma) * bce
    if apply_class_balancing:
        focal_bce = focal_bce * (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)).astype(y_pred.dtype)
    return focal_bce.mean(axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalized crossentropy (Zhang & Sabuncu 2018), integer labels: ``(1 - p_y^q) / q`` with
    p_y the predicted probability of the true class (q -> 0: crossentropy; q = 1: MAE)."""
    y_pred = _prediction(y_pred)
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true).astype(np.int64)
    one_hot = (labels[..., None] == np.arange(y_pred.shape[-1])).astype(y_pred.dtype)
    p = (y_pred * one_hot).sum(axis=-1)
    return (1.0 - p ** float(q)) / float(q)


def ctc(y_true, y_pred):
    """Connectionist temporal classification loss per sample (see ``ops.losses.CTC``).

    y_true: (N, max_label_length) integer labels, 0 being the blank (padding at the end); the
    label length of a sample is its number of nonzero entries, and its label is that many first
    entries (Keras's rule). y_pred: (N, T, num_classes) logits (not softmaxed). Returns (N,).
    """
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    y_pred = _prediction(y_pred)
    if labels.ndim != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in integer "
                         f"format. Received: y_true.shape={labels.shape}")
    if y_pred.ndim != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}")
    labels = labels.astype(np.int64)
    return L.CTC.apply(y_pred, labels=labels, label_length=np.sum(labels != 0, axis=-1), mask_index=0)


# -- overlap (segmentation) --------------------------------------------------------------------------------
def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(y p) / (sum(y) + sum(p) + eps), the sums over ``axis`` (all axes if None)."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "dice")
    intersection = (y_pred * y_true).sum(axis=axis)
    denominator = y_pred.sum(axis=axis) + np.sum(y_true, axis=axis) + EPSILON
    return 1.0 - (intersection * 2.0) / denominator


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha FP + beta FN + eps) with TP = sum(y p), FP = sum((1 - p) y),
    FN = sum(p (1 - y)) over ``axis`` (Keras's naming: alpha weighs sum((1 - y_pred) y_true));
    alpha = beta = 0.5 gives Dice."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "tversky")
    intersection = (y_pred * y_true).sum(axis=axis)
    fp = ((1.0 - y_pred) * y_true).sum(axis=axis)
    fn = (y_pred * (1.0 - y_true)).sum(axis=axis)
    return 1.0 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


def _logsumexp(x, mask, axis):
    """log sum over ``axis`` of exp(x) where ``mask``; -inf for an empty row (no gradient there)."""
    shift = np.max(np.where(mask, x.data, -np.inf), axis=axis, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0).astype(x.dtype)
    exponentials = M.where(mask, (x - shift).exp(), _constant(np.zeros(x.shape, x.dtype)))
    total = exponentials.sum(axis=axis)
    empty = total.data == 0
    safe = M.where(empty, _constant(np.ones(total.shape, x.dtype)), total)
    return M.where(~empty, safe.log() + np.squeeze(shift, axis), _constant(np.full(total.shape, -np.inf, x.dtype)))


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Circle loss (Sun et al. 2020) on L2-normalized embeddings y_pred (N, D) with integer labels.

    With cosine distances d = max(1 - y_pred ref^T, 0), positives (same label, the diagonal
    removed if ``remove_diagonal``) and negatives (other labels)::

        p_loss = logsumexp over positives of -gamma * max(margin + d, 0) * (margin - d)
        n_loss = logsumexp over negatives of  gamma * max(1 + margin - d, 0) * (1 - margin - d)
        loss   = softplus(p_loss + n_loss)

    Samples whose loss is 0 are masked out of the mean (Keras sets a mask ``loss > 0``).
    """
    y_pred = _prediction(y_pred)
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true).astype(np.int32)
    ref = y_pred if ref_embeddings is None else _prediction(ref_embeddings)
    ref_labels = labels if ref_labels is None else np.asarray(ref_labels).astype(np.int32)
    distances = (1.0 - y_pred @ ref.T).maximum(0.0)
    positive = labels.reshape(-1, 1) == ref_labels.reshape(-1, 1).T
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~np.eye(labels.size, ref_labels.size, dtype=bool)
    pos_weights = ((distances + margin) * positive.astype(y_pred.dtype)).maximum(0.0)
    neg_weights = ((1.0 + margin - distances) * negative.astype(y_pred.dtype)).maximum(0.0)
    pos_wdists = pos_weights * (margin - distances) * (-1.0 * gamma)
    neg_wdists = neg_weights * (1.0 - margin - distances) * float(gamma)
    p_loss = _logsumexp(pos_wdists, positive, axis=1)
    n_loss = _logsumexp(neg_wdists, negative, axis=1)
    values = A.Softplus.apply(p_loss + n_loss)   # softplus(-inf) = 0 for a sample with no positive
    values._keras_mask = values.data > 0
    return values


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


# -- reduction ---------------------------------------------------------------------------------------------
def _mask_to_weights(sample_weight, mask, dtype, reduction):
    """Keras's apply_mask: for the mean reductions a mask becomes ``mask * size / count`` so that
    the mean is over the unmasked entries only; then it multiplies any sample weights."""
    if mask is None:
        return sample_weight
    mask = np.asarray(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = np.sum(mask.astype(dtype))
        scale = np.asarray(mask.size, dtype) / valid if valid else np.asarray(0.0, dtype)
        float_mask = np.where(mask.astype(bool), scale, np.asarray(0.0, dtype)).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, np.asarray(sample_weight, dtype))
    try:
        return sample_weight * float_mask
    except ValueError:  # Keras fails here too, e.g. weights (N,) against a sequence mask (N, T)
        raise ValueError(f"sample_weight of shape {sample_weight.shape} cannot weigh a masked output whose mask "
                         f"has shape {mask.shape}: give one weight per masked position, shape {mask.shape}") from None


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size", mask=None, dtype=None):
    """Weight per-sample ``values`` (a Tensor) and reduce them as Keras does (see the module doc)."""
    _check_reduction(reduction, "reduce_weighted_values")
    values = _prediction(values)
    if dtype is not None and values.dtype != resolve_dtype(dtype):
        values = values.astype(resolve_dtype(dtype))
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight)
        weights = weights.astype(values.dtype)
    weights = _mask_to_weights(weights, mask, values.dtype, reduction)
    if weights is not None:
        weights = np.asarray(weights, dtype=values.dtype)
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        values = values * weights
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return _as_dtype(values, dtype)
    total = values.sum()
    if reduction == "sum":
        return _as_dtype(total, dtype)
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(np.sum(weights))
    else:
        divisor = float(values.size)
    return _as_dtype(total / divisor if divisor != 0 else total * 0.0, dtype)


def _as_dtype(tensor, dtype):
    return tensor if dtype is None or tensor.dtype == resolve_dtype(dtype) else tensor.astype(resolve_dtype(dtype))


def _check_reduction(reduction, owner):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction` ({owner}). Expected one of {REDUCTIONS}. "
                         f"Received: reduction={reduction!r}")


# -- Loss objects ------------------------------------------------------------------------------------------
class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` -> reduced Tensor (see the module doc).

    A subclass implements ``call(y_true, y_pred)`` returning per-sample values. ``dtype`` (default
    floatx) is the dtype both inputs are converted to and the result has; it is read-only.
    (``"bfloat16"``, which NumPy lacks, is computed in float32 and only the result is rounded.)
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_reduction(reduction, type(self).__name__)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.reduction = reduction
        self._dtype = str(resolve_dtype(dtype)) if dtype is not None else config.floatx()

    @property
    def dtype(self):
        return self._dtype

    def call(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = getattr(y_pred, "_keras_mask", None)
        dtype = resolve_dtype(self.dtype)
        # NumPy has no bfloat16 arithmetic of its own: compute in float32, round the result
        compute_dtype = np.dtype("float32") if dtype.name == "bfloat16" else dtype
        y_pred = _prediction(y_pred)
        if y_pred.dtype != compute_dtype:
            y_pred = y_pred.astype(compute_dtype)
        y_true = _target(y_true, compute_dtype, self.name)
        values = self.call(y_true, y_pred)
        out_mask = getattr(values, "_keras_mask", None)
        if in_mask is not None and out_mask is not None:
            mask = np.asarray(in_mask, bool) & np.asarray(out_mask, bool)
        else:
            mask = in_mask if in_mask is not None else out_mask
        loss = reduce_weighted_values(values, sample_weight, self.reduction, mask=mask, dtype=compute_dtype)
        return loss if loss.dtype == dtype else loss.astype(dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample function and its keyword arguments (Keras's LossFunctionWrapper):
    ``call`` matches the ranks of y_true and y_pred (a trailing axis of 1), then calls ``fn``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"fn": getattr(self.fn, "__name__", str(self.fn))})
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn = config.pop("fn", None)
        if cls is LossFunctionWrapper:
            return cls(get(fn) if isinstance(fn, str) else fn, **config)
        return cls(**config)

    def __repr__(self):
        return f"<LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)}, kwargs={self._fn_kwargs})>"


class _KerasLoss(LossFunctionWrapper):
    """A built-in loss: ``fn`` and the arguments it takes (``arguments``, defaults and order as in
    Keras); ``config_keys`` are those Keras writes in ``get_config`` (Keras omits some, e.g.
    Huber's ``delta``, so a reloaded Huber has delta=1 -- kept for file compatibility)."""

    fn = None
    arguments = {}
    config_keys = ()

    positional = None  # Keras's positional order, when it is not (arguments..., reduction, name, dtype)

    def __init__(self, *args, **kwargs):
        order = list(self.positional or (list(self.arguments) + ["reduction", "name", "dtype"]))
        if len(args) > len(order):
            raise TypeError(f"{type(self).__name__} takes at most {len(order)} positional arguments ({order}); "
                            f"received {len(args)}")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"{type(self).__name__}: got multiple values for argument {key!r}")
            kwargs[key] = value
        reduction = kwargs.pop("reduction", "sum_over_batch_size")
        name = kwargs.pop("name", None)
        dtype = kwargs.pop("dtype", None)
        options = dict(self.arguments)
        for key, value in kwargs.items():
            if key not in options:
                raise TypeError(f"{type(self).__name__}: unexpected keyword argument {key!r}; accepted: "
                                f"{sorted(options)}, reduction, name, dtype")
            options[key] = value
        self._validate(**options)
        for key, value in options.items():
            setattr(self, key, value)
        LossFunctionWrapper.__init__(self, type(self).fn, reduction=reduction, name=name or type(self).default_name,
                                     dtype=dtype, **options)

    default_name = "loss"

    def _validate(self, **options):
        pass

    def get_config(self):
        config = Loss.get_config(self)
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "fn"})


def _loss_class(class_name, fn, default_name, arguments=None, config_keys=(), doc=None, validate=None,
                positional=None):
    namespace = {"fn": staticmethod(fn), "arguments": dict(arguments or {}), "config_keys": tuple(config_keys),
                 "default_name": default_name, "positional": positional,
                 "__doc__": doc or f"``{class_name}`` (Keras): :func:`{fn.__name__}` with a Keras reduction.\n\n"
                                   f"{(fn.__doc__ or '').strip()}"}
    if validate is not None:
        namespace["_validate"] = validate
    return type(class_name, (_KerasLoss,), namespace)


def _check_q(self, q):
    if not 0 < q < 1:
        raise ValueError("q must be in the interval (0, 1)")


_CROSSENTROPY_KEYS = ("from_logits", "label_smoothing", "axis")
MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                          "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                          "mean_squared_logarithmic_error")
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, "cosine_similarity", {"axis": -1})
Huber = _loss_class("Huber", huber, "huber_loss", {"delta": 1.0})
LogCosh = _loss_class("LogCosh", log_cosh, "log_cosh")
Hinge = _loss_class("Hinge", hinge, "hinge")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "squared_hinge")
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, "categorical_hinge")
KLDivergence = _loss_class("KLDivergence", kl_divergence, "kl_divergence")
Poisson = _loss_class("Poisson", poisson, "poisson")
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                                 {"from_logits": False, "label_smoothing": 0.0, "axis": -1}, _CROSSENTROPY_KEYS)
BinaryFocalCrossentropy = _loss_class(
    "BinaryFocalCrossentropy", binary_focal_crossentropy, "binary_focal_crossentropy",
    {"apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0,
     "axis": -1}, _CROSSENTROPY_KEYS + ("apply_class_balancing", "alpha", "gamma"))
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
                                      {"from_logits": False, "label_smoothing": 0.0, "axis": -1}, _CROSSENTROPY_KEYS)
CategoricalFocalCrossentropy = _loss_class(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy, "categorical_focal_crossentropy",
    {"alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0, "axis": -1},
    _CROSSENTROPY_KEYS + ("alpha", "gamma"))
SparseCategoricalCrossentropy = _loss_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, "sparse_categorical_crossentropy",
    {"from_logits": False, "ignore_class": None, "axis": -1}, ("from_logits", "ignore_class"),
    positional=("from_logits", "ignore_class", "reduction", "axis", "name", "dtype"))
Dice = _loss_class("Dice", dice, "dice", {"axis": None}, ("axis",), positional=("reduction", "name", "axis", "dtype"))
Tversky = _loss_class("Tversky", tversky, "tversky", {"alpha": 0.5, "beta": 0.5, "axis": None},
                      ("alpha", "beta", "axis"), positional=("alpha", "beta", "reduction", "name", "axis", "dtype"))
Circle = _loss_class("Circle", circle, "circle", {"gamma": 80.0, "margin": 0.4, "remove_diagonal": True},
                     ("gamma", "margin", "remove_diagonal"))
CTC = _loss_class("CTC", ctc, "ctc")
CategoricalGeneralizedCrossEntropy = _loss_class(
    "CategoricalGeneralizedCrossEntropy", categorical_generalized_cross_entropy,
    "categorical_generalized_cross_entropy", {"q": 0.5}, ("q",), validate=_check_q)


_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
    Huber, LogCosh, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
    BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy, SparseCategoricalCrossentropy,
    Dice, Tversky, Circle, CategoricalGeneralizedCrossEntropy, CTC)}
_FUNCTIONS = {fn.__name__: fn for fn in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    cosine_similarity, huber, log_cosh, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge,
    categorical_crossentropy, categorical_focal_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
    binary_focal_crossentropy, dice, tversky, circle, categorical_generalized_cross_entropy, ctc)}
_FUNCTIONS.update({"mse": mse, "MSE": MSE, "mae": mae, "MAE": MAE, "mape": mape, "MAPE": MAPE, "msle": msle,
                   "MSLE": MSLE, "kld": kld, "KLD": KLD, "kullback_leibler_divergence": kl_divergence,
                   "logcosh": log_cosh, "huber_loss": huber, "bce": binary_crossentropy, "BCE": binary_crossentropy})


def _valid_names():
    return sorted(_FUNCTIONS) + sorted(_CLASSES)


def get(identifier):
    """A loss from a function name (-> the function, as Keras), a class name or a Keras config dict
    (-> a Loss object), a Loss object or any callable (returned unchanged). None -> None."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        from .naming import did_you_mean
        raise ValueError(f"Unknown loss {identifier!r}. Valid names: {_valid_names()}."
                         f"{did_you_mean(identifier, _valid_names())}")
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def deserialize(config, custom_objects=None):
    """A Loss (or loss function) from a Keras config dict ``{"class_name", "config"}``."""
    class_name, options = config.get("class_name"), config.get("config")
    custom = dict(custom_objects or {})
    if class_name in custom:
        return custom[class_name].from_config(dict(options or {}))
    if class_name == "function" and isinstance(options, str):
        return get(options)
    if class_name in _CLASSES:
        return _CLASSES[class_name].from_config(dict(options or {}))
    raise ValueError(f"Unknown loss config {config!r}. Valid class names: {sorted(_CLASSES)}")


def serialize(loss):
    """A function -> its name; a Loss object -> Keras-style config dict."""
    if isinstance(loss, Loss):
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    return getattr(loss, "__name__", loss)


def resolve(identifier, y_true_shape, y_pred_shape):
    """The Loss object ``model.compile(loss=identifier)`` uses, as in Keras's ``get_loss``.

    ``"crossentropy"``/``"ce"`` (any case) becomes binary if y_pred's last axis is 1, sparse if
    y_true has a lower rank or (last axis 1 and y_pred's last axis > 1), otherwise categorical.
    A function is wrapped in a LossFunctionWrapper named after the identifier. None -> None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
        if y_pred_shape[-1] == 1:
            loss = binary_crossentropy
        elif len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
            loss = sparse_categorical_crossentropy
        else:
            loss = categorical_crossentropy
    else:
        loss = get(identifier)
    if isinstance(loss, Loss):
        return loss
    name = identifier if isinstance(identifier, str) else getattr(loss, "__name__", None)
    return LossFunctionWrapper(loss, name=name)
