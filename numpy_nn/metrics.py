"""Metrics: stateful running values with Keras 3's formulas, weighting and names.

A metric accumulates over batches: ``update_state(y_true, y_pred, sample_weight=None)`` adds a
batch, ``result()`` returns the value so far (a Python float), ``reset_state()`` starts again.
Values are computed in float32 like Keras.

Most metrics are **weighted running means** of a per-sample value (``Mean`` underneath)::

    total += sum_i w_i * value_i        count += sum_i w_i   (or the number of samples)
    result = total / count              (0 when count is 0)

where ``value_i`` is averaged over any axes beyond the weights' rank. Precision, Recall and AUC
instead accumulate weighted confusion-matrix counts per threshold.

``resolve(identifier, y_true_shape, y_pred_shape)`` is what ``compile(metrics=[...])`` uses: it
turns ``"accuracy"``/``"acc"`` into Binary/Sparse/Categorical accuracy from the shapes (Keras's
rule) and names the metric after the string it was given (``"mse"`` is reported as ``mse``).
"""
import inspect

import numpy as np

from . import config
from .autograd.tensor import Tensor
from .naming import to_snake_case, unique_name

_EPSILON = 1e-7     # keras.backend.epsilon()
_NEG_INF = -1e10    # Keras's stand-in for -inf when top_k filters predictions


def _array(value, dtype=None):
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    return array.astype(dtype) if dtype is not None else array


def _numeric(name, **arrays):
    """Refuse strings and objects with a TypeError naming the metric."""
    for role, array in arrays.items():
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{name}: {role} must hold numbers; received an array of dtype {array.dtype}")


def _check_broadcastable(name, y_true, y_pred):
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(f"{name}: y_true and y_pred have incompatible shapes; received "
                         f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}") from None


def _check_one_hot(name, y_true, y_pred):
    """One-hot targets must match the predictions' shape (Keras would compare argmaxes regardless)."""
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: one-hot y_true must have the shape of y_pred; received "
                         f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")


def _check_labels(name, y_true, y_pred):
    """Integer labels: y_pred's shape without its class axis (a trailing 1 on y_true is allowed)."""
    labels_shape = y_true.shape[:-1] if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,) else y_true.shape
    if labels_shape != y_pred.shape[:-1]:
        raise ValueError(f"{name}: y_true must have the shape of y_pred without its class axis; received "
                         f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")


def _divide_no_nan(a, b):
    a, b = np.asarray(a), np.asarray(b)
    safe = np.where(b == 0, np.ones_like(b), b)
    return np.where(b == 0, np.zeros_like(a), a / safe)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank fix: if the ranks differ by one and the longer one ends in 1, squeeze that axis
    (or, when the other is rank 1 and ``expand_rank_1``, expand the other instead)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = np.squeeze(x1, -1)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


class Metric:
    """Base class. Subclasses set ``_direction`` ("up" if bigger is better, "down" otherwise) and
    implement ``update_state``, ``result`` and ``reset_state``. ``metric(y_true, y_pred)``
    updates the state and returns the new result."""

    _direction = None

    def __init__(self, name=None, dtype=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = str(np.dtype(dtype)) if dtype is not None else config.floatx()

    def update_state(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement update_state() (abstract in the base class)")

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement result() (abstract in the base class)")

    def reset_state(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state() (abstract in the base class)")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Weighted running mean of values: ``result = sum(w * v) / sum(w)`` (``w = 1`` by default).

    Values with more axes than the weights are first averaged over the extra axes; values of rank
    > 1 are averaged per sample, so each sample counts once.
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = np.zeros((), dtype=self.dtype)
        self.count = np.zeros((), dtype=self.dtype)

    def update_state(self, values, sample_weight=None):
        values = _array(values, self.dtype)
        if sample_weight is not None:
            sample_weight = _array(sample_weight, self.dtype)
            values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
            if values.ndim > sample_weight.ndim:
                values = np.mean(values, axis=tuple(range(sample_weight.ndim, values.ndim)))
            sample_weight = np.broadcast_to(sample_weight, values.shape)
            values = values * sample_weight
            if sample_weight.ndim > 1:
                sample_weight = np.mean(sample_weight, axis=tuple(range(1, sample_weight.ndim)))
        if values.ndim > 1:
            values = np.mean(values, axis=tuple(range(1, values.ndim)))
        self.total = self.total + np.sum(values, dtype=self.dtype)
        if sample_weight is not None:
            num_samples = np.sum(sample_weight, dtype=self.dtype)
        else:
            num_samples = values.shape[0] if values.ndim >= 1 else 1
        self.count = self.count + np.asarray(num_samples, dtype=self.dtype)

    def result(self):
        return float(_divide_no_nan(self.total, self.count))


class MeanMetricWrapper(Mean):
    """Running weighted mean of ``fn(y_true, y_pred, **kwargs)``, a per-sample function."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        _numeric(f"Metric '{self.name}'", y_true=y_true, y_pred=y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(_array(values), sample_weight=sample_weight)


# ------------------------------------------------------------------------------------------------
# Per-sample functions (Keras formulas)
# ------------------------------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred`` exactly."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _check_broadcastable("accuracy", y_true, y_pred)
    return (y_true == y_pred).astype(config.floatx())


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``(y_pred > threshold) == y_true`` (strictly greater)."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true), _array(y_pred))
    _check_broadcastable("binary_accuracy", y_true, y_pred)
    predicted = (y_pred > np.asarray(threshold, dtype=y_pred.dtype)).astype(y_true.dtype)
    return (y_true == predicted).astype(config.floatx())


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` over the last axis."""
    y_pred = _array(y_pred)
    _check_one_hot("categorical_accuracy", _array(y_true), y_pred)
    y_true = np.argmax(_array(y_true), axis=-1).astype(y_pred.dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = (np.argmax(y_pred, axis=-1).astype(y_true.dtype) == y_true).astype(config.floatx())
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred) == y_true`` (integer labels, shape (N,) or (N, 1))."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype)
    _check_labels("sparse_categorical_accuracy", y_true, y_pred)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = (np.argmax(y_pred, axis=-1).astype(y_true.dtype) == y_true).astype(config.floatx())
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    """True where the target's score is at least the k-th largest score (ties count as in)."""
    kth_largest = -np.sort(-predictions, axis=-1)[:, min(k, predictions.shape[-1]) - 1]
    target_scores = np.take_along_axis(predictions, targets[:, None], axis=-1)[:, 0]
    return target_scores >= kth_largest


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class (argmax of one-hot ``y_true``) is among the k highest scores."""
    y_pred = _array(y_pred)
    _check_one_hot("top_k_categorical_accuracy", _array(y_true), y_pred)
    y_true = np.argmax(_array(y_true), axis=-1)
    original_shape = y_true.shape
    matches = _in_top_k(y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k).astype(config.floatx())
    return matches.reshape(original_shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k highest scores."""
    y_pred = _array(y_pred)
    y_true = _array(y_true)
    _check_labels("sparse_top_k_categorical_accuracy", y_true, y_pred)
    y_true = y_true.astype(np.int64)
    original_shape = y_true.shape
    matches = _in_top_k(y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k).astype(config.floatx())
    return matches.reshape(original_shape)


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)^2, axis=-1)``."""
    y_pred = _array(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, y_pred.dtype), y_pred)
    return np.mean(np.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    y_pred = _array(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, y_pred.dtype), y_pred)
    return np.mean(np.abs(y_true - y_pred), axis=-1)


# ------------------------------------------------------------------------------------------------
# Mean-based metric classes
# ------------------------------------------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""
    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` (strictly) matches the 0/1 label."""
    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred) == argmax(y_true)`` (one-hot labels)."""
    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often ``argmax(y_pred) == y_true`` (integer labels)."""
    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the true class (one-hot) is among the ``k`` highest scores."""
    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores."""
    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class MeanSquaredError(MeanMetricWrapper):
    """Running weighted mean of ``mean((y_true - y_pred)^2, axis=-1)``."""
    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running weighted mean of ``mean(|y_true - y_pred|, axis=-1)``."""
    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the running weighted mean of squared errors (over all elements)."""
    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _array(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, self.dtype), y_pred)
        super().update_state(np.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(_divide_no_nan(self.total, self.count)))


# ------------------------------------------------------------------------------------------------
# Confusion-matrix metrics
# ------------------------------------------------------------------------------------------------
def _prepare_confusion_inputs(y_true, y_pred, sample_weight, dtype, top_k=None, class_id=None):
    """Keras's preprocessing: cast, match ranks, weights shaped like y_pred, top_k / class_id."""
    y_true, y_pred = _array(y_true, dtype), _array(y_pred, dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = _array(sample_weight, dtype)[..., None]
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:  # keep the k largest scores of each row, push the others to -inf
        kth_largest = -np.sort(-y_pred, axis=-1)[..., top_k - 1:top_k]
        y_pred = np.where(y_pred >= kth_largest, y_pred, np.asarray(_NEG_INF, dtype=dtype))
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = (np.ones_like(y_pred) if sample_weight is None
               else np.broadcast_to(sample_weight, y_pred.shape).astype(dtype))
    return y_true.reshape(-1), y_pred.reshape(-1), weights.reshape(-1)


def _confusion_counts(y_true, y_pred, weights, thresholds):
    """Weighted (tp, fp, tn, fn) per threshold, a prediction being positive if ``> threshold``."""
    thresholds = np.asarray(thresholds, dtype=y_pred.dtype)[:, None]
    predicted_positive = y_pred[None, :] > thresholds
    label_positive = (y_true != 0)[None, :]
    w = weights[None, :]

    def count(mask):
        return np.sum(np.where(mask, w, np.zeros_like(w)), axis=1)

    return (count(label_positive & predicted_positive), count(~label_positive & predicted_positive),
            count(~label_positive & ~predicted_positive), count(label_positive & ~predicted_positive))


def _bucketed_confusion_counts(y_true, y_pred, weights, num_thresholds):
    """The same counts for evenly spaced thresholds, by bucketing: a prediction p is positive for
    thresholds ``0..ceil(p*(n-1))-1``, so tp/fp are reversed cumulative sums of bucket weights."""
    dtype = y_pred.dtype
    y_pred = np.clip(y_pred, 0.0, 1.0)
    y_true = (y_true != 0).astype(dtype)
    true_labels, false_labels = y_true * weights, (1.0 - y_true) * weights
    buckets = np.maximum(np.ceil(y_pred * np.asarray(num_thresholds - 1, dtype=dtype)) - 1, 0).astype(np.int64)
    tp = np.cumsum(np.bincount(buckets, true_labels, minlength=num_thresholds)[::-1])[::-1].astype(dtype)
    fp = np.cumsum(np.bincount(buckets, false_labels, minlength=num_thresholds)[::-1])[::-1].astype(dtype)
    return tp, fp, np.sum(false_labels) - fp, np.sum(true_labels) - tp


def _is_evenly_distributed(thresholds):
    n = len(thresholds)
    return n >= 3 and np.allclose(thresholds, np.arange(n) / (n - 1), atol=_EPSILON)


class _ThresholdMetric(Metric):
    """Shared code of Precision and Recall: counts per threshold (default 0.5)."""
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if thresholds is not None:
            for t in np.atleast_1d(thresholds):
                if t is None or not 0 <= t <= 1:
                    raise ValueError(f"Threshold values must be in [0, 1]. Received: {thresholds}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else _NEG_INF
        self.thresholds = list(np.atleast_1d(default if thresholds is None else thresholds))
        self.reset_state()

    def reset_state(self):
        zeros = np.zeros(len(self.thresholds), dtype=self.dtype)
        self.true_positives, self.false_positives, self.false_negatives = zeros.copy(), zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, weights = _prepare_confusion_inputs(y_true, y_pred, sample_weight, self.dtype,
                                                            self.top_k, self.class_id)
        tp, fp, _, fn = _confusion_counts(y_true, y_pred, weights, self.thresholds)
        self.true_positives = self.true_positives + tp
        self.false_positives = self.false_positives + fp
        self.false_negatives = self.false_negatives + fn

    def _value(self, values):
        return float(values[0]) if len(self.thresholds) == 1 else values

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ThresholdMetric):
    """``tp / (tp + fp)`` with a prediction positive when ``y_pred > threshold`` (default 0.5);
    a list of thresholds gives an array. ``top_k``/``class_id`` restrict to top scores / one class."""

    def result(self):
        return self._value(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ThresholdMetric):
    """``tp / (tp + fn)`` with a prediction positive when ``y_pred > threshold`` (default 0.5)."""

    def result(self):
        return self._value(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at ``num_thresholds``
    thresholds ``[-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps]`` (Keras's approximation).

    With ``x`` the false-positive rate (ROC) or recall (PR) and ``y`` the recall (ROC) or
    precision (PR) at each threshold, ``summation_method="interpolation"`` gives the trapezoid
    sum ``sum_i (x_i - x_{i+1}) * (y_i + y_{i+1}) / 2``; ``"minoring"``/``"majoring"`` use the min/max
    of the two heights. For PR with interpolation, Keras integrates precision as a function of
    the true-positive count between thresholds (Davis & Goadrich 2006) instead of the trapezoids.
    Only single-label AUC (``multi_label=False``) is implemented.
    """
    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve not in ("ROC", "roc", "PR", "pr"):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"]')
        if str(summation_method).lower() not in ("interpolation", "majoring", "minoring"):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        if multi_label or num_labels or label_weights is not None:
            raise NotImplementedError("AUC: multi_label, num_labels and label_weights are not implemented")
        super().__init__(name=name, dtype=dtype)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._evenly = _is_evenly_distributed(np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - _EPSILON] + thresholds + [1.0 + _EPSILON])
        self.curve = curve.upper()
        self.summation_method = str(summation_method).lower()
        self.multi_label = False
        self.num_labels = None
        self.label_weights = None
        self._from_logits = from_logits
        self.reset_state()

    @property
    def thresholds(self):
        return list(self._thresholds)

    def reset_state(self):
        zeros = np.zeros(self.num_thresholds, dtype=self.dtype)
        self.true_positives, self.false_positives = zeros.copy(), zeros.copy()
        self.true_negatives, self.false_negatives = zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _array(y_pred, self.dtype)
        if self._from_logits:
            y_pred = (1.0 / (1.0 + np.exp(-y_pred))).astype(self.dtype)
        y_true, y_pred, weights = _prepare_confusion_inputs(y_true, y_pred, sample_weight, self.dtype)
        if self._evenly:
            tp, fp, tn, fn = _bucketed_confusion_counts(y_true, y_pred, weights, self.num_thresholds)
        else:
            tp, fp, tn, fn = _confusion_counts(y_true, y_pred, weights, self._thresholds)
        self.true_positives = self.true_positives + tp
        self.false_positives = self.false_positives + fp
        self.true_negatives = self.true_negatives + tn
        self.false_negatives = self.false_negatives + fn

    def _interpolate_pr_auc(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        precision_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - precision_slope * p[1:]
        safe_p_ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)),
                                np.ones_like(p[1:]))
        increment = _divide_no_nan(precision_slope * (dtp + intercept * np.log(safe_p_ratio)),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(increment))

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self):
        config_dict = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                       "summation_method": self.summation_method, "multi_label": False, "num_labels": None,
                       "label_weights": None, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config_dict["thresholds"] = self.thresholds[1:-1]
        return config_dict


# ------------------------------------------------------------------------------------------------
# Lookup
# ------------------------------------------------------------------------------------------------
_CLASSES = [Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
            SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, Precision,
            Recall, AUC]
_BY_NAME = {**{cls.__name__: cls for cls in _CLASSES}, **{to_snake_case(cls.__name__): cls for cls in _CLASSES},
            "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
            "auc": AUC, "AUC": AUC}
_FUNCTION_DIRECTIONS = {accuracy: "up", binary_accuracy: "up", categorical_accuracy: "up",
                        sparse_categorical_accuracy: "up", top_k_categorical_accuracy: "up",
                        sparse_top_k_categorical_accuracy: "up", mean_squared_error: "down",
                        mean_absolute_error: "down"}


def get(identifier):
    """A metric from a name (class name, its snake_case form, or ``"mse"``/``"mae"``), a
    ``{"class_name", "config"}`` dict, a Metric (returned unchanged) or a function (returned
    unchanged). Like Keras, ``get("accuracy")`` is the exact-match ``Accuracy``; use
    :func:`resolve` for compile's shape-dependent meaning."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(identifier.get("class_name"))
        if not inspect.isclass(cls):
            raise ValueError(f"Could not interpret metric identifier: {identifier}")
        return cls.from_config(dict(identifier.get("config") or {}))
    obj = _BY_NAME.get(identifier) if isinstance(identifier, str) else identifier
    if obj is None or not callable(obj):
        valid = sorted(name for name in _BY_NAME if name.islower())
        from .naming import did_you_mean
        raise ValueError(f"Could not interpret metric identifier: {identifier!r}. Known names: {valid}."
                         f"{did_you_mean(identifier, valid)}")
    return obj() if inspect.isclass(obj) else obj


def resolve(identifier, y_true_shape, y_pred_shape):
    """The metric ``compile(metrics=[identifier])`` would build, given the target and prediction
    shapes. ``"accuracy"``/``"acc"`` become:

    - ``BinaryAccuracy`` if ``y_pred`` ends in 1,
    - ``SparseCategoricalAccuracy`` if ``y_true`` has lower rank than ``y_pred``, or ends in 1
      while ``y_pred`` ends in more than 1,
    - ``CategoricalAccuracy`` otherwise.

    A string identifier also becomes the metric's name (``"mse"`` is reported as ``mse``); a
    function is wrapped in ``MeanMetricWrapper`` and named after the function.
    """
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
        if y_pred_shape[-1] == 1:
            return BinaryAccuracy(name=identifier)
        if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
            return SparseCategoricalAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    metric = get(identifier)
    name = identifier if isinstance(identifier, str) else getattr(metric, "name", getattr(metric, "__name__", None))
    if not isinstance(metric, Metric):
        wrapped = MeanMetricWrapper(metric, name=name)
        wrapped._direction = _FUNCTION_DIRECTIONS.get(metric)
        metric = wrapped
    metric.name = name
    return metric


def direction_of(name):
    """``"up"`` or ``"down"`` for a built-in metric name (``"accuracy"``, ``"auc"``, ``"mse"`` ...),
    None if unknown. Callbacks use it for ``mode="auto"``."""
    if name in ("accuracy", "acc"):
        return "up"
    obj = _BY_NAME.get(name)
    if obj is None:
        return None
    return obj._direction if inspect.isclass(obj) else _FUNCTION_DIRECTIONS.get(obj)


__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError", "Precision", "Recall", "AUC",
           "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mean_squared_error",
           "mean_absolute_error", "get", "resolve", "direction_of"]
