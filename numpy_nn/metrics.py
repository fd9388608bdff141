"""Metrics: stateful running values with Keras 3's formulas, weighting, variables and names.

A metric accumulates over batches: ``update_state(y_true, y_pred, sample_weight=None)`` adds a
batch, ``result()`` returns the value so far (a Python float, or an array for per-threshold /
per-class results), ``reset_state()`` starts again. Its state lives in ``metric.variables``
(non-trainable ``Variable``s created with ``add_variable``, in Keras's order and names, so
``stateless_update_state`` / ``stateless_result`` work on their values). Values are computed
in the metric's ``dtype`` (floatx, float32 by default) like Keras.

Families (each section below):

- reductions: ``Sum``, ``Mean`` and ``MeanMetricWrapper`` (a running weighted mean of a
  per-sample function)::

      total += sum_i w_i * value_i        count += sum_i w_i   (or the number of samples)
      result = total / count              (0 when count is 0)

  where ``value_i`` is averaged over any axes beyond the weights' rank;
- accuracies; regression, probabilistic (crossentropies, KL, Poisson), hinge and correlation
  metrics: means of the per-sample functions of ``numpy_nn.losses`` (evaluated off the tape);
- confusion-matrix metrics (``TruePositives`` ... ``Precision``, ``Recall``, ``AUC``, the
  ``*At*`` family): weighted counts per threshold, a prediction being positive when
  ``y_pred > threshold``;
- ``F1Score``/``FBetaScore``, the ``IoU`` family (a confusion matrix over classes), ``R2Score``.

``resolve(identifier, y_true_shape, y_pred_shape)`` is what ``compile(metrics=[...])`` uses: it
turns ``"accuracy"``/``"acc"`` into Binary/Sparse/Categorical accuracy from the shapes (Keras's
rule) and names the metric after the string it was given (``"mse"`` is reported as ``mse``).
"""
import enum
import inspect
import warnings

import numpy as np

from . import config, initializers, losses
from .autograd.function import no_grad
from .autograd.tensor import Tensor, Variable
from .naming import to_snake_case, unique_name

_EPSILON = 1e-7     # keras.backend.epsilon()
NEG_INF = -1e10     # Keras's stand-in for -inf when top_k filters predictions


def _array(value, dtype=None):
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    return array.astype(losses.resolve_dtype(dtype)) if dtype is not None else array


def _numeric(name, **arrays):
    """Refuse strings and objects with a TypeError naming the metric."""
    for role, array in arrays.items():
        if array.dtype.kind not in "fiubV":
            raise TypeError(f"{name}: {role} must hold numbers; received an array of dtype {array.dtype}")


def _check_broadcastable(name, y_true, y_pred):
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(f"{name}: y_true and y_pred have incompatible shapes; received "
                         f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}") from None


def _divide_no_nan(a, b):
    a, b = np.asarray(a), np.asarray(b)
    safe = np.where(b == 0, np.ones_like(b), b)
    return np.where(b == 0, np.zeros_like(a), a / safe)


def _value(result):
    """A result as Keras users read it: a Python float for a scalar, else an array."""
    result = np.asarray(result)
    return float(result) if result.ndim == 0 else result


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank fix: if the ranks differ by one and the longer one ends in 1, squeeze that axis
    (or, when the other is rank 1 and ``expand_rank_1``, expand the other instead)."""
    return losses.squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1)


def _no_tape(fn):
    """A numpy_nn loss function evaluated off the tape, as an array (its Keras mask kept)."""
    def evaluate(y_true, y_pred, **kwargs):
        with no_grad():
            values = fn(_array(y_true), _array(y_pred), **kwargs)
        result = np.array(values.data)
        mask = getattr(values, "_keras_mask", None)
        if mask is not None:
            result = result.view(_MaskedArray)
            result._keras_mask = mask
        return result
    evaluate.__name__ = fn.__name__
    evaluate.__doc__ = fn.__doc__
    evaluate.__qualname__ = fn.__name__
    return evaluate


class _MaskedArray(np.ndarray):
    """Per-sample values carrying the mask a loss function set (e.g. ignored classes)."""


# ------------------------------------------------------------------------------------------------
# The base class
# ------------------------------------------------------------------------------------------------
class Metric:
    """Base class. A subclass creates its state with ``add_variable`` in ``__init__`` (or on the
    first update) and implements ``update_state``, ``result`` (and ``reset_state`` if zeros are not
    the initial values). ``metric(y_true, y_pred)`` updates the state and returns the result.

    ``variables`` lists every variable created or assigned as an attribute (also inside lists and
    dicts), then those of sub-metrics, as Keras's tracker does. ``_direction`` is "up" if bigger
    is better, "down" otherwise (``mode="auto"`` of callbacks uses it).
    """

    _direction = None

    def __init__(self, name=None, dtype=None):
        object.__setattr__(self, "_variables", [])
        object.__setattr__(self, "_metrics", [])
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._dtype = str(losses.resolve_dtype(dtype)) if dtype is not None else config.floatx()

    # -- state ----------------------------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    def __setattr__(self, name, value):
        if "_variables" in self.__dict__:
            self._track(value)
        object.__setattr__(self, name, value)

    def _track(self, value):
        if isinstance(value, Variable):
            if not any(value is v for v in self._variables):
                self._variables.append(value)
        elif isinstance(value, Metric):
            if not any(value is m for m in self._metrics):
                self._metrics.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._track(item)
        elif isinstance(value, dict):
            for item in value.values():
                self._track(item)

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A non-trainable state variable (``initializer``: a name, an Initializer, a number or an
        array of the variable's shape)."""
        dtype = losses.resolve_dtype("int32" if dtype == "int" else dtype or self._dtype)
        shape = tuple(shape)
        if isinstance(initializer, (int, float, np.number, np.ndarray, Tensor)):
            value = np.array(np.broadcast_to(_array(initializer), shape), dtype=dtype)
        else:
            value = np.asarray(initializers.get(initializer or "zeros")(shape, dtype=dtype), dtype=dtype)
        variable = Variable(value, name=name, trainable=False, dtype=dtype)
        variable.path = f"{self.name}/{name}"
        self._track(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self):
        return list(self._variables) + [v for metric in self._metrics for v in metric.variables]

    def reset_state(self):
        """Every variable back to zeros."""
        for variable in self.variables:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))

    def update_state(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement update_state() (abstract in the base class)")

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement result() (abstract in the base class)")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    # -- stateless API: the same computations on given variable values ----------------------------
    def _with_values(self, metric_variables, action):
        variables = self.variables
        if len(metric_variables) != len(variables):
            raise ValueError(f"Argument `metric_variables` must be a list of tensors corresponding 1:1 to "
                             f"{type(self).__name__}().variables. Received list with length "
                             f"{len(metric_variables)}, but expected {len(variables)} variables.")
        saved = [np.array(v.data) for v in variables]
        try:
            for variable, value in zip(variables, metric_variables):
                variable.assign(np.asarray(_array(value), dtype=variable.dtype))
            return action()
        finally:
            for variable, value in zip(variables, saved):
                variable.assign(value)

    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """New variable values after ``update_state(*args)`` from ``metric_variables`` (the
        metric's own variables are left unchanged)."""
        return self._with_values(metric_variables, lambda: (self.update_state(*args, **kwargs),
                                                            [np.array(v.data) for v in self.variables])[1])

    def stateless_result(self, metric_variables):
        return self._with_values(metric_variables, self.result)

    def stateless_reset_state(self):
        return self._with_values([v.data for v in self.variables],
                                 lambda: (self.reset_state(), [np.array(v.data) for v in self.variables])[1])

    # -- config ----------------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


# ------------------------------------------------------------------------------------------------
# Reductions
# ------------------------------------------------------------------------------------------------
def _mask_weights(sample_weight, mask, dtype):
    """Keras's apply_mask with reduction "sum": weights times the 0/1 mask."""
    if mask is None:
        return sample_weight
    float_mask = np.asarray(mask).astype(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, _array(sample_weight, dtype))
    return sample_weight * float_mask


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype, mask=None):
    """Per-sample values and weights: values are reduced (``reduce_fn``) over the axes the
    weights do not have, weighted, then reduced to one value per sample; the weights too."""
    values = _array(values, dtype)
    if sample_weight is not None:
        sample_weight = _mask_weights(_array(sample_weight, dtype), mask, dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        if values.ndim > sample_weight.ndim:
            values = reduce_fn(values, axis=tuple(range(sample_weight.ndim, values.ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if sample_weight.ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """Running weighted sum of values: ``result = sum(w * v)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, np.sum, self.dtype)
        self.total.assign(self.total.data + np.sum(values, dtype=self.total.dtype))

    def result(self):
        return _value(self.total.data)


class Mean(Metric):
    """Weighted running mean of values: ``result = sum(w * v) / sum(w)`` (``w = 1`` by default).

    Values with more axes than the weights are first averaged over the extra axes; values of rank
    > 1 are averaged per sample, so each sample counts once.
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def update_state(self, values, sample_weight=None, _mask=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, np.mean, self.dtype, _mask)
        self.total.assign(self.total.data + np.sum(values, dtype=self.total.dtype))
        if sample_weight is not None:
            num_samples = np.sum(sample_weight)
        else:
            num_samples = values.shape[0] if values.ndim >= 1 else 1
        self.count.assign(self.count.data + np.asarray(num_samples, dtype=self.count.dtype))

    def result(self):
        return _value(_divide_no_nan(self.total.data, self.count.data))


class MeanMetricWrapper(Mean):
    """Running weighted mean of ``fn(y_true, y_pred, **kwargs)``, a per-sample function. A Keras
    mask on y_pred excludes masked entries; a mask the function puts on its values (e.g.
    ``ignore_class``) only zeroes their weights when sample weights are given (Keras's rule:
    unweighted, masked entries count as 0 in the mean)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        mask = getattr(y_pred, "_keras_mask", None)
        y_true, y_pred = _array(y_true), _array(y_pred)
        _numeric(f"Metric '{self.name}'", y_true=y_true, y_pred=y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        # as Keras: y_pred's mask always weights; the values' own mask only weights given weights
        sample_weight = _mask_weights(sample_weight, mask, self.dtype)
        super().update_state(_array(values), sample_weight=sample_weight, _mask=getattr(values, "_keras_mask", None))

    def get_config(self):
        config = super().get_config()
        config["fn"] = getattr(self._fn, "__name__", str(self._fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config_dict, custom_objects=None):
        config_dict = dict(config_dict)
        fn = config_dict.pop("fn", None)
        if cls is not MeanMetricWrapper:
            return cls(**config_dict)
        if isinstance(fn, str):
            fn = (custom_objects or {}).get(fn) or _function_by_name(fn)
        return cls(fn, **config_dict)


class _Wrapper(MeanMetricWrapper):
    """A built-in mean metric: ``fn`` and its arguments as attributes; ``config_keys`` are the
    arguments Keras writes in ``get_config`` (besides name and dtype)."""

    fn = None
    config_keys = ()

    def __init__(self, name, dtype, **kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)
        super().__init__(type(self).fn, name=name, dtype=dtype, **kwargs)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **{key: getattr(self, key) for key in self.config_keys}}


def _mean_metric(class_name, fn, default_name, direction, arguments=None, config_keys=(), doc=None):
    """A MeanMetricWrapper subclass ``class_name(name=default_name, dtype=None, **arguments)``."""
    arguments = dict(arguments or {})

    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = set(kwargs) - set(arguments)
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) {sorted(unknown)}; accepted: "
                            f"name, dtype, {sorted(arguments)}")
        _Wrapper.__init__(self, name, dtype, **{**arguments, **kwargs})

    summary = (doc or fn.__doc__ or "").strip().split("\n")[0]
    return type(class_name, (_Wrapper,), {
        "__init__": __init__, "fn": staticmethod(fn), "config_keys": tuple(config_keys), "_direction": direction,
        "__doc__": f"Running weighted mean of ``{fn.__name__}``: {summary}"})


# ------------------------------------------------------------------------------------------------
# Accuracies (per-sample functions and their mean metrics)
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
    predicted = (y_pred > np.asarray(threshold).astype(y_pred.dtype)).astype(y_true.dtype)
    return (y_true == predicted).astype(config.floatx())


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` over the last axis."""
    y_pred = _array(y_pred)
    if _array(y_true).shape != y_pred.shape:
        raise ValueError(f"categorical_accuracy: one-hot y_true must have the shape of y_pred; received "
                         f"y_true.shape={_array(y_true).shape}, y_pred.shape={y_pred.shape}")
    y_true = np.argmax(_array(y_true), axis=-1).astype(y_pred.dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = (np.argmax(y_pred, axis=-1).astype(y_true.dtype) == y_true).astype(config.floatx())
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred) == y_true`` (integer labels, shape (N,) or (N, 1); other shapes
    broadcast against the argmax as in Keras)."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = np.squeeze(y_true, -1)
    predicted = np.argmax(y_pred, axis=-1).astype(y_true.dtype)
    _check_broadcastable("sparse_categorical_accuracy", y_true, predicted)
    matches = (y_true == predicted).astype(config.floatx())
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    """True where the target's rank (1 + number of strictly larger scores) is at most k (ties
    count as in, NaN scores as -inf), as ``keras.ops.in_top_k``."""
    at_label = np.take_along_axis(predictions, targets[:, None].astype(np.int64), axis=-1)
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    rank = 1 + np.sum(predictions > at_label, axis=-1)
    return rank <= k


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class (argmax of one-hot ``y_true``) is among the k highest scores."""
    y_pred = _array(y_pred)
    y_true = np.argmax(_array(y_true, y_pred.dtype), axis=-1)
    original_shape = y_true.shape
    matches = _in_top_k(y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k).astype(config.floatx())
    return matches.reshape(original_shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the k highest scores; with ``from_sorted_ids`` y_pred
    holds class ids sorted by score, and the label must be among its first k."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype if from_sorted_ids else np.int32)
    original_shape = y_true.shape
    flat_pred = y_pred.reshape(-1, y_pred.shape[-1])
    flat_true = y_true.reshape(-1)
    if from_sorted_ids:
        matches = np.any(flat_true[:, None] == flat_pred[:, :k], axis=1)
    else:
        matches = _in_top_k(flat_true, flat_pred, k)
    return matches.astype(config.floatx()).reshape(original_shape)


Accuracy = _mean_metric("Accuracy", accuracy, "accuracy", "up")
BinaryAccuracy = _mean_metric("BinaryAccuracy", binary_accuracy, "binary_accuracy", "up", {"threshold": 0.5},
                              ("threshold",))
CategoricalAccuracy = _mean_metric("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy", "up")
SparseCategoricalAccuracy = _mean_metric("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                         "sparse_categorical_accuracy", "up")


class TopKCategoricalAccuracy(_Wrapper):
    """How often the true class (one-hot) is among the ``k`` highest scores."""
    _direction = "up"
    fn = staticmethod(top_k_categorical_accuracy)
    config_keys = ("k",)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name, dtype, k=k)


class SparseTopKCategoricalAccuracy(_Wrapper):
    """How often the integer label is among the ``k`` highest scores (``from_sorted_ids``: y_pred
    holds the top class ids, best first)."""
    _direction = "up"
    fn = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(name, dtype, k=k, from_sorted_ids=from_sorted_ids)

    def get_config(self):
        config_dict = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config_dict["from_sorted_ids"] = True
        return config_dict


# ------------------------------------------------------------------------------------------------
# Regression, probabilistic, hinge and correlation metrics (means of per-sample functions)
# ------------------------------------------------------------------------------------------------
mean_squared_error = mse = _no_tape(losses.mean_squared_error)
mean_absolute_error = mae = _no_tape(losses.mean_absolute_error)
mean_absolute_percentage_error = mape = _no_tape(losses.mean_absolute_percentage_error)
mean_squared_logarithmic_error = msle = _no_tape(losses.mean_squared_logarithmic_error)
log_cosh = logcosh = _no_tape(losses.log_cosh)
huber = _no_tape(losses.huber)
kl_divergence = kld = _no_tape(losses.kl_divergence)
poisson = _no_tape(losses.poisson)
binary_crossentropy = _no_tape(losses.binary_crossentropy)
categorical_crossentropy = _no_tape(losses.categorical_crossentropy)
sparse_categorical_crossentropy = _no_tape(losses.sparse_categorical_crossentropy)
binary_focal_crossentropy = _no_tape(losses.binary_focal_crossentropy)
categorical_focal_crossentropy = _no_tape(losses.categorical_focal_crossentropy)
hinge = _no_tape(losses.hinge)
squared_hinge = _no_tape(losses.squared_hinge)
categorical_hinge = _no_tape(losses.categorical_hinge)


def cosine_similarity(y_true, y_pred, axis=-1):
    """sum over ``axis`` of l2_normalize(y_true) * l2_normalize(y_pred) (+1 when aligned; the
    loss of the same name is its negative)."""
    with no_grad():
        return -_array(losses.cosine_similarity(_array(y_true), _array(y_pred), axis=axis))


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's r along ``axis``: mean of the products of the standardized y_true and y_pred
    (population standard deviations)."""
    y_pred = _array(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        y_pred = y_pred.astype(config.floatx())
    y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, y_pred.dtype), y_pred)
    y_true_norm = y_true - np.mean(y_true, axis=axis, keepdims=True)
    y_pred_norm = y_pred - np.mean(y_pred, axis=axis, keepdims=True)
    y_true_norm = y_true_norm / np.std(y_true_norm, axis=axis, keepdims=True)
    y_pred_norm = y_pred_norm / np.std(y_pred_norm, axis=axis, keepdims=True)
    return np.mean(y_true_norm * y_pred_norm, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along ``axis``:
    ``mean(2 (y - mean(p)) (p - mean(p))) / (var(y) + var(p) + (mean(y) - mean(p))^2 + eps)``
    (Keras's form, centring both factors on the prediction's mean)."""
    y_pred = _array(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        y_pred = y_pred.astype(config.floatx())
    y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, y_pred.dtype), y_pred)
    y_true_mean = np.mean(y_true, axis=axis, keepdims=True)
    y_pred_mean = np.mean(y_pred, axis=axis, keepdims=True)
    y_true_var = np.var(y_true - y_true_mean, axis=axis, keepdims=True)
    y_pred_var = np.var(y_pred - y_pred_mean, axis=axis, keepdims=True)
    covariance = (y_true - y_pred_mean) * (y_pred - y_pred_mean)
    norm = y_true_var + y_pred_var + np.square(y_true_mean - y_pred_mean)
    return np.mean(2 * covariance / (norm + _EPSILON), axis=axis)


MeanSquaredError = _mean_metric("MeanSquaredError", mean_squared_error, "mean_squared_error", "down")
MeanAbsoluteError = _mean_metric("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error", "down")
MeanAbsolutePercentageError = _mean_metric("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                           "mean_absolute_percentage_error", "down")
MeanSquaredLogarithmicError = _mean_metric("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                           "mean_squared_logarithmic_error", "down")
LogCoshError = _mean_metric("LogCoshError", log_cosh, "logcosh", "down")
CosineSimilarity = _mean_metric("CosineSimilarity", cosine_similarity, "cosine_similarity", "up", {"axis": -1})
KLDivergence = _mean_metric("KLDivergence", kl_divergence, "kl_divergence", "down")
Poisson = _mean_metric("Poisson", poisson, "poisson", "down")
BinaryCrossentropy = _mean_metric("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy", "down",
                                  {"from_logits": False, "label_smoothing": 0}, ("from_logits", "label_smoothing"))
CategoricalCrossentropy = _mean_metric(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy", "down",
    {"from_logits": False, "label_smoothing": 0, "axis": -1}, ("from_logits", "label_smoothing", "axis"))
SparseCategoricalCrossentropy = _mean_metric(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, "sparse_categorical_crossentropy", "down",
    {"from_logits": False, "ignore_class": None, "axis": -1}, ("from_logits", "ignore_class", "axis"))
Hinge = _mean_metric("Hinge", hinge, "hinge", "down")
SquaredHinge = _mean_metric("SquaredHinge", squared_hinge, "squared_hinge", "down")
CategoricalHinge = _mean_metric("CategoricalHinge", categorical_hinge, "categorical_hinge", "down")
PearsonCorrelation = _mean_metric("PearsonCorrelation", pearson_correlation, "pearson_correlation", "up",
                                  {"axis": -1}, ("axis",))
ConcordanceCorrelation = _mean_metric("ConcordanceCorrelation", concordance_correlation, "concordance_correlation",
                                      "up", {"axis": -1}, ("axis",))


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
        return _value(np.sqrt(_divide_no_nan(self.total.data, self.count.data)))


class R2Score(Metric):
    """Coefficient of determination per output column, ``1 - SS_res / SS_tot`` with
    ``SS_tot = sum(w y^2) - sum(w y)^2 / sum(w)``, accumulated over batches.

    ``class_aggregation``: "uniform_average" (mean over columns), "variance_weighted_average"
    (weighted by SS_tot) or None (one score per column). ``num_regressors=p`` gives the adjusted
    score ``1 - (1 - R2)(n - 1)/(n - p - 1)`` (n = number of values seen). Inputs are 2-D.
    """
    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of {valid}. "
                             f"Received: class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable(shape=(), initializer="zeros", name="num_samples")
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        columns = (y_pred_shape[-1],)
        self.squared_sum = self.add_variable(name="squared_sum", shape=columns, initializer="zeros")
        self.sum = self.add_variable(name="sum", shape=columns, initializer="zeros")
        self.total_mse = self.add_variable(name="residual", shape=columns, initializer="zeros")
        self.count = self.add_variable(name="count", shape=columns, initializer="zeros")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, self.dtype), _array(y_pred, self.dtype))
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        weights = _array(1 if sample_weight is None else sample_weight, self.dtype)
        if weights.ndim == 1:
            weights = weights[:, None]
        weights = np.broadcast_to(weights, y_true.shape).astype(y_true.dtype)
        weighted_y_true = y_true * weights
        self.sum.assign(self.sum.data + np.sum(weighted_y_true, axis=0))
        self.squared_sum.assign(self.squared_sum.data + np.sum(y_true * weighted_y_true, axis=0))
        self.total_mse.assign(self.total_mse.data + np.sum((y_true - y_pred) ** 2 * weights, axis=0))
        self.count.assign(self.count.data + np.sum(weights, axis=0))
        self.num_samples.assign(self.num_samples.data + y_true.size)

    def result(self):
        if not self._built:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum.data / self.count.data
            total = self.squared_sum.data - self.sum.data * mean
            raw_scores = 1 - self.total_mse.data / total
        raw_scores = np.where(np.isinf(raw_scores), 0.0, raw_scores)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            score = np.sum(total * raw_scores) / np.sum(total)
        else:
            score = raw_scores
        n = float(self.num_samples.data)
        if self.num_regressors != 0:
            if self.num_regressors > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score.", stacklevel=2)
            elif self.num_regressors == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                p = float(self.num_regressors)
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return _value(np.asarray(score, dtype=self.dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# ------------------------------------------------------------------------------------------------
# Confusion-matrix counts (Keras's metrics_utils)
# ------------------------------------------------------------------------------------------------
class ConfusionMatrix(enum.Enum):
    TRUE_POSITIVES = "tp"
    FALSE_POSITIVES = "fp"
    TRUE_NEGATIVES = "tn"
    FALSE_NEGATIVES = "fn"


class AUCCurve(enum.Enum):
    """ROC (recall vs false-positive rate), PR (precision vs recall), PRGAIN (precision gain vs
    recall gain, Flach & Kull 2015)."""
    ROC = "ROC"
    PR = "PR"
    PRGAIN = "PRGAIN"

    @staticmethod
    def from_str(key):
        for member in AUCCurve:
            if key in (member.value, member.value.lower()):
                return member
        raise ValueError(f'Invalid AUC curve value: "{key}". Expected values are ["PR", "ROC", "PRGAIN"]')


class AUCSummationMethod(enum.Enum):
    INTERPOLATION = "interpolation"
    MAJORING = "majoring"
    MINORING = "minoring"

    @staticmethod
    def from_str(key):
        for member in AUCSummationMethod:
            if key in (member.value, member.value.capitalize()):
                return member
        raise ValueError(f'Invalid AUC summation method value: "{key}". Expected values are '
                         '["interpolation", "majoring", "minoring"]')


def parse_init_thresholds(thresholds, default_threshold=0.5):
    """A list of thresholds (each in [0, 1]), or ``[default_threshold]``."""
    if thresholds is not None:
        listed = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
        invalid = [t for t in listed if t is None or t < 0 or t > 1]
        if invalid:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    value = default_threshold if thresholds is None else thresholds
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def is_evenly_distributed_thresholds(thresholds):
    """True for at least 3 thresholds i / (n - 1) (within eps): counts can then be bucketed."""
    n = len(thresholds)
    if n < 3:
        return False
    return bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=_EPSILON))


def _filter_top_k(x, k):
    """Keep each row's k largest scores (ties: lower index first), push the others to -1e10."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(keep, order, 1, axis=-1)
    return x * keep + NEG_INF * (1 - keep)


def _bucketed_counts(y_true, y_pred, weights, num_thresholds, multi_label, with_epsilon):
    """tp and fp for evenly spaced thresholds: a prediction p is positive for the thresholds below
    it, so counts are reversed cumulative sums of the weight in bucket ceil(p (n - 1)) - 1."""
    dtype = y_pred.dtype
    y_pred = np.clip(y_pred, 0.0, 1.0)
    y_true = (y_true != 0).astype(dtype)
    true_labels, false_labels = y_true * weights, (1.0 - y_true) * weights
    buckets = np.ceil(y_pred * np.asarray(num_thresholds - 1, dtype)) - 1
    if with_epsilon:
        buckets = np.maximum(buckets, 0)
    # a NaN prediction is above no threshold (Keras compares p > t, False for NaN): bucket -1
    buckets = np.where(np.isnan(buckets), -1, buckets).astype(np.int64)

    def reverse_cumsum(labels, bucket):
        valid = bucket >= 0  # a bucket of -1 (p = 0 with thresholds from 0) is never positive
        counts = np.bincount(bucket[valid], labels[valid], minlength=num_thresholds)[:num_thresholds]
        return np.cumsum(counts[::-1])[::-1].astype(dtype)

    if multi_label:
        tp = np.stack([reverse_cumsum(true_labels[:, j], buckets[:, j]) for j in range(y_pred.shape[1])], axis=1)
        fp = np.stack([reverse_cumsum(false_labels[:, j], buckets[:, j]) for j in range(y_pred.shape[1])], axis=1)
        return tp, fp, np.sum(true_labels, axis=0), np.sum(false_labels, axis=0)
    tp = reverse_cumsum(true_labels.reshape(-1), buckets.reshape(-1))
    fp = reverse_cumsum(false_labels.reshape(-1), buckets.reshape(-1))
    return tp, fp, np.sum(true_labels), np.sum(false_labels)


def update_confusion_matrix_variables(variables_to_update, y_true, y_pred, thresholds, top_k=None, class_id=None,
                                      sample_weight=None, multi_label=False, label_weights=None,
                                      thresholds_distributed_evenly=False):
    """Add this batch's weighted tp / fp / tn / fn per threshold to ``variables_to_update``
    (a dict ``ConfusionMatrix -> Variable``), as Keras's ``metrics_utils`` does.

    A prediction is positive when ``y_pred > threshold``; a label is positive when nonzero.
    ``top_k`` keeps only each row's k highest scores; ``class_id`` looks at one column; with
    ``multi_label`` each column (label) gets its own counts (variables of shape
    (num_thresholds, num_labels)); ``label_weights`` weigh the columns otherwise.
    """
    if multi_label and label_weights is not None:
        raise ValueError("`label_weights` for multilabel data should be handled outside of "
                         "`update_confusion_matrix_variables` when `multi_label` is True.")
    invalid = [key for key in variables_to_update if key not in list(ConfusionMatrix)]
    if invalid:
        raise ValueError(f'Invalid keys: "{invalid}". Valid variable key options are: "{list(ConfusionMatrix)}"')
    dtype = list(variables_to_update.values())[0].dtype
    y_true, y_pred = _array(y_true, dtype), _array(y_pred, dtype)
    thresholds = np.asarray(thresholds, dtype=dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = _array(sample_weight, dtype)[..., None]
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = (np.ones(y_pred.shape, dtype) if sample_weight is None
               else np.broadcast_to(sample_weight, y_pred.shape).astype(dtype))
    if label_weights is not None:
        weights = weights * np.broadcast_to(np.asarray(label_weights, dtype)[None], y_pred.shape)
    if not multi_label:
        y_true, y_pred, weights = y_true.reshape(-1), y_pred.reshape(-1), weights.reshape(-1)
    if thresholds_distributed_evenly:
        with_epsilon = bool(thresholds[0] < 0.0 or thresholds[-1] > 1.0)
        tp, fp, positives, negatives = _bucketed_counts(y_true, y_pred, weights, len(thresholds), multi_label,
                                                        with_epsilon)
        counts = {ConfusionMatrix.TRUE_POSITIVES: tp, ConfusionMatrix.FALSE_POSITIVES: fp,
                  ConfusionMatrix.TRUE_NEGATIVES: negatives - fp, ConfusionMatrix.FALSE_NEGATIVES: positives - tp}
    else:
        shape = (-1,) + (1,) * y_pred.ndim
        predicted_positive = y_pred[None] > thresholds.reshape(shape)
        label_positive = (y_true != 0)[None]

        def count(mask):
            return np.sum(np.where(mask, weights[None], np.zeros((), dtype)), axis=1)

        counts = {ConfusionMatrix.TRUE_POSITIVES: count(label_positive & predicted_positive),
                  ConfusionMatrix.FALSE_POSITIVES: count(~label_positive & predicted_positive),
                  ConfusionMatrix.TRUE_NEGATIVES: count(~label_positive & ~predicted_positive),
                  ConfusionMatrix.FALSE_NEGATIVES: count(label_positive & ~predicted_positive)}
    for key, variable in variables_to_update.items():
        variable.assign(variable.data + counts[key].astype(variable.dtype))


class _ConfusionMatrixConditionCount(Metric):
    """Weighted count of one confusion-matrix cell per threshold (default 0.5)."""

    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=0.5)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),), initializer="zeros", name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        update_confusion_matrix_variables({self._condition: self.accumulator}, y_true, y_pred,
                                          thresholds=self.thresholds, sample_weight=sample_weight,
                                          thresholds_distributed_evenly=self._thresholds_distributed_evenly)

    def result(self):
        return _value(self.accumulator.data[0] if len(self.thresholds) == 1 else self.accumulator.data)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted count of label positive and ``y_pred > threshold``."""
    _condition = ConfusionMatrix.TRUE_POSITIVES


class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted count of label negative and ``y_pred > threshold``."""
    _condition = ConfusionMatrix.FALSE_POSITIVES


class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of label negative and ``y_pred <= threshold``."""
    _condition = ConfusionMatrix.TRUE_NEGATIVES


class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of label positive and ``y_pred <= threshold``."""
    _condition = ConfusionMatrix.FALSE_NEGATIVES


class _PrecisionRecall(Metric):
    """Shared code of Precision and Recall: tp and one error count per threshold (default 0.5,
    or -1e10 with ``top_k``: then the k highest scores of each row are the positives)."""
    _direction = "up"
    _error = None  # ConfusionMatrix cell in the denominator besides tp

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=0.5 if top_k is None else NEG_INF)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(self.thresholds)
        self.true_positives = self.add_variable(shape=(len(self.thresholds),), initializer="zeros",
                                                name="true_positives")
        error_name = "false_positives" if self._error is ConfusionMatrix.FALSE_POSITIVES else "false_negatives"
        setattr(self, error_name, self.add_variable(shape=(len(self.thresholds),), initializer="zeros",
                                                    name=error_name))
        self._error_variable = getattr(self, error_name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        update_confusion_matrix_variables(
            {ConfusionMatrix.TRUE_POSITIVES: self.true_positives, self._error: self._error_variable}, y_true, y_pred,
            thresholds=self.thresholds, thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            top_k=self.top_k, class_id=self.class_id, sample_weight=sample_weight)

    def result(self):
        values = _divide_no_nan(self.true_positives.data, self.true_positives.data + self._error_variable.data)
        return _value(values[0] if len(self.thresholds) == 1 else values)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """``tp / (tp + fp)`` with a prediction positive when ``y_pred > threshold`` (default 0.5);
    a list of thresholds gives an array. ``top_k``/``class_id`` restrict to top scores / one class."""
    _error = ConfusionMatrix.FALSE_POSITIVES


class Recall(_PrecisionRecall):
    """``tp / (tp + fn)`` with a prediction positive when ``y_pred > threshold`` (default 0.5)."""
    _error = ConfusionMatrix.FALSE_NEGATIVES


class SensitivitySpecificityBase(Metric):
    """Counts at ``num_thresholds`` evenly spaced thresholds in [0, 1] (one at 0.5 if 1);
    subclasses return the best value of one rate among the thresholds where another reaches
    ``value``: ``max(where(constrained >= value, dependent, 0))``."""
    _direction = "up"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}")
        self.value = value
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
            self._thresholds_distributed_evenly = False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
            self._thresholds_distributed_evenly = True
        for cell in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            setattr(self, cell, self.add_variable(shape=(len(self.thresholds),), initializer="zeros", name=cell))

    def update_state(self, y_true, y_pred, sample_weight=None):
        update_confusion_matrix_variables(
            {ConfusionMatrix.TRUE_POSITIVES: self.true_positives, ConfusionMatrix.TRUE_NEGATIVES: self.true_negatives,
             ConfusionMatrix.FALSE_POSITIVES: self.false_positives,
             ConfusionMatrix.FALSE_NEGATIVES: self.false_negatives}, y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly, class_id=self.class_id,
            sample_weight=sample_weight)

    def _rates(self):
        tp, fp = self.true_positives.data, self.false_positives.data
        tn, fn = self.true_negatives.data, self.false_negatives.data
        return {"sensitivity": _divide_no_nan(tp, tp + fn), "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp), "recall": _divide_no_nan(tp, tp + fn)}

    def _find_max_under_constraint(self, constrained, dependent):
        feasible = constrained >= self.value
        return _value(np.max(np.where(feasible, dependent, 0), initial=0).astype(self.dtype))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


class _AtMetric(SensitivitySpecificityBase):
    """Shared code of the four ``*At*`` metrics: ``argument`` is the constrained rate's name."""
    argument = constrained = dependent = None

    def _setup(self, value, num_thresholds, class_id, name, dtype):
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self.argument}` must be in the range [0, 1]. "
                             f"Received: {self.argument}={value}")
        setattr(self, self.argument, value)
        self.num_thresholds = num_thresholds
        SensitivitySpecificityBase.__init__(self, value, num_thresholds=num_thresholds, class_id=class_id,
                                            name=name, dtype=dtype)

    def result(self):
        rates = self._rates()
        return self._find_max_under_constraint(rates[self.constrained], rates[self.dependent])

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                self.argument: getattr(self, self.argument)}


class SensitivityAtSpecificity(_AtMetric):
    """Best sensitivity (recall, tp / (tp + fn)) among the thresholds whose specificity
    tn / (tn + fp) is >= ``specificity``."""
    argument, constrained, dependent = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._setup(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtMetric):
    """Best specificity among the thresholds whose sensitivity is >= ``sensitivity``."""
    argument, constrained, dependent = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._setup(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtMetric):
    """Best precision among the thresholds whose recall is >= ``recall``."""
    argument, constrained, dependent = "recall", "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._setup(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtMetric):
    """Best recall among the thresholds whose precision is >= ``precision``."""
    argument, constrained, dependent = "precision", "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        self._setup(precision, num_thresholds, class_id, name, dtype)


class AUC(Metric):
    """Area under the ROC, PR or PR-gain curve, from confusion counts at ``num_thresholds``
    thresholds ``[-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps]`` (or the sorted ``thresholds`` given).

    With ``x`` the false-positive rate (ROC) or recall (PR) and ``y`` the recall (ROC) or
    precision (PR) at each threshold, ``summation_method="interpolation"`` gives the trapezoid
    sum ``sum_i (x_i - x_{i+1}) * (y_i + y_{i+1}) / 2``; ``"minoring"``/``"majoring"`` use the min/max
    of the two heights. For PR with interpolation Keras integrates precision as a function of
    the true-positive count between thresholds (Davis & Goadrich 2006) instead of trapezoids.

    ``multi_label=True``: y_pred is (N, L) and each label gets its own curve; the result is their
    mean, or their average weighted by ``label_weights``. Otherwise ``label_weights`` weigh the
    labels' contributions to one pooled curve. ``from_logits`` applies a sigmoid first.
    """
    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
                np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        self._thresholds = np.array([0.0 - _EPSILON] + list(thresholds) + [1.0 + _EPSILON])
        self.curve = curve if isinstance(curve, AUCCurve) else AUCCurve.from_str(curve)
        self.summation_method = (summation_method if isinstance(summation_method, AUCSummationMethod)
                                 else AUCSummationMethod.from_str(summation_method))
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=self.dtype)
        self._from_logits = from_logits
        self._built = False
        if self.multi_label:
            if num_labels:
                self._build([None, num_labels])
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(shape)}. "
                                 f"Full shape received for `y_pred`: {shape}")
            self._num_labels = shape[1]
            variable_shape = (self.num_thresholds, self._num_labels)
        else:
            variable_shape = (self.num_thresholds,)
        self._build_input_shape = shape
        for cell in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            setattr(self, cell, self.add_variable(shape=variable_shape, initializer="zeros", name=cell))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _array(y_pred, self.dtype)
        if not self._built:
            self._build(y_pred.shape)
        if self._from_logits:
            y_pred = (1.0 / (1.0 + np.exp(-y_pred))).astype(self.dtype)
        update_confusion_matrix_variables(
            {ConfusionMatrix.TRUE_POSITIVES: self.true_positives, ConfusionMatrix.TRUE_NEGATIVES: self.true_negatives,
             ConfusionMatrix.FALSE_POSITIVES: self.false_positives,
             ConfusionMatrix.FALSE_NEGATIVES: self.false_negatives}, y_true, y_pred, self._thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly, sample_weight=sample_weight,
            multi_label=self.multi_label, label_weights=None if self.multi_label else self.label_weights)

    def _per_label(self, terms):
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def interpolate_pr_auc(self):
        """PR-AUC by Davis & Goadrich interpolation between thresholds (Keras's formula)."""
        tp, fp, fn = self.true_positives.data, self.false_positives.data, self.false_negatives.data
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        precision_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - precision_slope * p[1:]
        safe_p_ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)),
                                np.ones_like(p[1:]))
        increment = _divide_no_nan(precision_slope * (dtp + intercept * np.log(safe_p_ratio)),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return self._per_label(increment)

    def result(self):
        if not self._built:
            return 0.0
        if self.curve is AUCCurve.PR and self.summation_method is AUCSummationMethod.INTERPOLATION:
            return self.interpolate_pr_auc()
        tp, fp, tn, fn = (self.true_positives.data, self.false_positives.data, self.true_negatives.data,
                          self.false_negatives.data)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve is AUCCurve.ROC:
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve is AUCCurve.PR:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PR gain
            scaling = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, 0.0, 1.0 - scaling * _divide_no_nan(fn, tp))
            precision_gain = np.where(tp == 0, 1.0, 1.0 - scaling * _divide_no_nan(fp, tp))
            x, y = np.maximum(recall_gain, 0.0), precision_gain
        if self.summation_method is AUCSummationMethod.INTERPOLATION:
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method is AUCSummationMethod.MINORING:
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._per_label((x[:-1] - x[1:]) * heights)

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        label_weights = None if self.label_weights is None else self.label_weights.tolist()
        config_dict = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve.value,
                       "summation_method": self.summation_method.value, "multi_label": self.multi_label,
                       "num_labels": self.num_labels, "label_weights": label_weights, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config_dict["thresholds"] = self.thresholds[1:-1]
        return config_dict


# ------------------------------------------------------------------------------------------------
# F-scores
# ------------------------------------------------------------------------------------------------
class FBetaScore(Metric):
    """F-beta per class: ``(1 + b^2) P R / (b^2 P + R)`` with P = tp / (tp + fp), R = tp / (tp + fn)
    (each denominator + eps), counted over batches on 2-D inputs (N, classes).

    A prediction is positive if ``y_pred > threshold``, or, with ``threshold=None``, if it is its
    row's maximum (and not ~0). ``average``: None (one score per class), "micro" (pooled counts),
    "macro" (mean of the class scores), "weighted" (weighted by the classes' true counts).
    """
    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError("FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        if y_pred_shape[-1] is None or y_true_shape[-1] is None:
            raise ValueError("FBetaScore expects 2D inputs with shape (batch_size, output_dim), with output_dim "
                             "fully defined (not None). Received input shapes: "
                             f"y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        for cell in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            setattr(self, cell, self.add_variable(name=cell, shape=shape, initializer="zeros", dtype=self.dtype))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true, self.dtype), _array(y_pred, self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            predicted = (y_pred >= np.max(y_pred, axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        y_pred = predicted.astype(self.dtype)
        weights = None if sample_weight is None else _array(sample_weight, self.dtype)

        def weighted_sum(values):
            if weights is not None:
                values = values * np.expand_dims(weights, 1)
            return np.sum(values, axis=self.axis)

        self.true_positives.assign(self.true_positives.data + weighted_sum(y_pred * y_true))
        self.false_positives.assign(self.false_positives.data + weighted_sum(y_pred * (1 - y_true)))
        self.false_negatives.assign(self.false_negatives.data + weighted_sum((1 - y_pred) * y_true))
        self.intermediate_weights.assign(self.intermediate_weights.data + weighted_sum(y_true))

    def result(self):
        if not self._built:
            return 0.0
        tp, fp, fn = self.true_positives.data, self.false_positives.data, self.false_negatives.data
        precision = (tp / (tp + fp + _EPSILON)).astype(self.dtype)
        recall = (tp / (tp + fn + _EPSILON)).astype(self.dtype)
        beta_squared = self.beta ** 2
        score = precision * recall / (beta_squared * precision + recall + _EPSILON) * (1 + beta_squared)
        if self.average == "weighted":
            weights = self.intermediate_weights.data
            score = np.sum(score * weights / (np.sum(weights) + _EPSILON))
        elif self.average is not None:
            score = np.mean(score)
        return _value(np.asarray(score, dtype=self.dtype))

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 (beta = 1): the harmonic mean of precision and recall (see :class:`FBetaScore`)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config_dict = super().get_config()
        del config_dict["beta"]
        return config_dict


# ------------------------------------------------------------------------------------------------
# Intersection over union
# ------------------------------------------------------------------------------------------------
def confusion_matrix(labels, predictions, num_classes, weights=None, dtype="int32"):
    """``cm[i, j]`` = total weight of samples with label i predicted as j."""
    labels = _array(labels).astype(np.int64).reshape(-1)
    predictions = _array(predictions).astype(np.int64).reshape(-1)
    values = np.ones(labels.shape, dtype) if weights is None else np.broadcast_to(_array(weights, dtype), labels.shape)
    matrix = np.zeros((num_classes, num_classes), dtype=dtype)
    np.add.at(matrix, (labels, predictions), values)
    return matrix


class _IoUBase(Metric):
    """A running confusion matrix over ``num_classes`` classes (int32 counts by default, as in
    Keras: float sample weights are truncated, with a warning). Labels or predictions outside
    [0, num_classes) and the ``ignore_class`` are left out. ``sparse_y_true=False`` /
    ``sparse_y_pred=False`` take the argmax over ``axis`` first."""
    _direction = "up"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(name=name, dtype=dtype or "int32")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable(name="total_confusion_matrix", shape=(num_classes, num_classes),
                                          initializer="zeros", dtype=self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        y_true = y_true.astype(self.dtype).reshape(-1)
        y_pred = y_pred.astype(self.dtype).reshape(-1)
        if sample_weight is None:
            sample_weight = 1
        elif "float" in str(getattr(sample_weight, "dtype", "")) and "int" in self.dtype:
            warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an incorrect "
                          "weight due to type casting Consider using integer weights.")
        sample_weight = np.broadcast_to(_array(sample_weight, self.dtype).reshape(-1), y_true.shape)
        in_bounds = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            in_bounds &= y_true != self.ignore_class
        y_true, y_pred = np.where(in_bounds, y_true, 0), np.where(in_bounds, y_pred, 0)
        sample_weight = np.where(in_bounds, sample_weight, 0).astype(self.dtype)
        current = confusion_matrix(y_true, y_pred, self.num_classes, weights=sample_weight, dtype=self.dtype)
        self.total_cm.assign(self.total_cm.data + current)


class IoU(_IoUBase):
    """Mean over ``target_class_ids`` of ``tp / (tp + fp + fn)`` from the running confusion
    matrix (classes never seen, with an empty denominator, are left out of the mean)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, num_classes=num_classes, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis, dtype=dtype)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is "
                             f"[{0}, {num_classes}).")
        self.target_class_ids = list(target_class_ids)

    def result(self):
        matrix = self.total_cm.data
        sum_over_row = np.sum(matrix, axis=0).astype(np.float32)
        sum_over_col = np.sum(matrix, axis=1).astype(np.float32)
        true_positives = np.diag(matrix).astype(np.float32)
        denominator = (sum_over_row + sum_over_col - true_positives)[self.target_class_ids]
        true_positives = true_positives[self.target_class_ids]
        valid = denominator > 1e-9
        iou = np.where(valid, true_positives / (denominator + _EPSILON), 0.0)
        return float(np.sum(iou, axis=self.axis) / (np.sum(valid.astype(np.float32)) + _EPSILON))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU for binary labels, a prediction counting as class 1 when ``y_pred >= threshold``."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = (_array(y_pred, np.float32) >= self.threshold).astype(self.dtype)
        super().update_state(_array(y_true, self.dtype), predicted, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over every class (0 .. num_classes - 1)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(name=name, num_classes=num_classes, target_class_ids=list(range(num_classes)), axis=axis,
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU with one-hot y_true (and, unless ``sparse_y_pred``, scores y_pred): argmax first."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "dtype": self.dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot y_true (and, unless ``sparse_y_pred``, scores y_pred)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, axis=axis, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


# ------------------------------------------------------------------------------------------------
# Lookup
# ------------------------------------------------------------------------------------------------
_CLASSES = [Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
            MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, R2Score, AUC,
            FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
            SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives, ConcordanceCorrelation,
            PearsonCorrelation, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
            SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, F1Score, FBetaScore,
            IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU]
_BY_NAME = {**{cls.__name__: cls for cls in _CLASSES}, **{to_snake_case(cls.__name__): cls for cls in _CLASSES},
            "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError, "MSE": MeanSquaredError,
            "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
            "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
            "MSLE": MeanSquaredLogarithmicError}
_FUNCTIONS = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, log_cosh, huber, kl_divergence, poisson, binary_crossentropy,
    categorical_crossentropy, sparse_categorical_crossentropy, binary_focal_crossentropy,
    categorical_focal_crossentropy, hinge, squared_hinge, categorical_hinge, cosine_similarity, pearson_correlation,
    concordance_correlation)}
_FUNCTION_DIRECTIONS = {fn: "up" for fn in (accuracy, binary_accuracy, categorical_accuracy,
                                            sparse_categorical_accuracy, top_k_categorical_accuracy,
                                            sparse_top_k_categorical_accuracy, cosine_similarity,
                                            pearson_correlation, concordance_correlation)}
_FUNCTION_DIRECTIONS.update({fn: "down" for name, fn in _FUNCTIONS.items() if fn not in _FUNCTION_DIRECTIONS})


def _function_by_name(name):
    fn = _FUNCTIONS.get(name)
    if fn is None:
        fn = losses.get(name) if name in losses._FUNCTIONS else None
    if fn is None:
        raise ValueError(f"Unknown metric function {name!r}. Known: {sorted(_FUNCTIONS)}")
    return fn


def get(identifier):
    """A metric from a name (class name, its snake_case form, or ``"mse"``/``"mae"``/...), a
    ``{"class_name", "config"}`` dict, a Metric (returned unchanged) or a function (returned
    unchanged). Like Keras, ``get("accuracy")`` is the exact-match ``Accuracy``; use
    :func:`resolve` for compile's shape-dependent meaning."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = _BY_NAME.get(identifier) if isinstance(identifier, str) else identifier
    if obj is None or not callable(obj):
        valid = sorted(name for name in _BY_NAME if name.islower())
        from .naming import did_you_mean
        raise ValueError(f"Could not interpret metric identifier: {identifier!r}. Known names: {valid}."
                         f"{did_you_mean(identifier, valid)}")
    return obj() if inspect.isclass(obj) else obj


def serialize(metric):
    """A Keras-style config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config_dict, custom_objects=None):
    """The inverse of :func:`serialize` (a bare ``{"class_name", "config"}`` works too)."""
    class_name = config_dict.get("class_name")
    cls = (custom_objects or {}).get(class_name) or _BY_NAME.get(class_name)
    if not inspect.isclass(cls):
        raise ValueError(f"Could not interpret metric identifier: {config_dict}")
    options = dict(config_dict.get("config") or {})
    if cls is MeanMetricWrapper:
        return MeanMetricWrapper.from_config(options, custom_objects)
    return cls.from_config(options)


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
        if metric in losses._FUNCTIONS.values():  # a loss function: evaluate it off the tape
            metric = _no_tape(metric)
        wrapped = MeanMetricWrapper(metric, name=name)
        wrapped._direction = _FUNCTION_DIRECTIONS.get(metric, "down" if metric in _FUNCTIONS.values() else None)
        metric = wrapped
    metric.name = name
    return metric


def direction_of(name):
    """``"up"`` or ``"down"`` for a built-in metric name (``"accuracy"``, ``"auc"``, ``"mse"`` ...),
    None if unknown. Callbacks use it for ``mode="auto"``."""
    if name in ("accuracy", "acc"):
        return "up"
    obj = _BY_NAME.get(name) or _FUNCTIONS.get(name)
    if obj is None:
        return None
    return obj._direction if inspect.isclass(obj) else _FUNCTION_DIRECTIONS.get(obj)


__all__ = ["Metric", "Mean", "Sum", "MeanMetricWrapper", *[cls.__name__ for cls in _CLASSES[4:]],
           *sorted(_FUNCTIONS), "AUCCurve", "AUCSummationMethod", "ConfusionMatrix", "confusion_matrix",
           "update_confusion_matrix_variables", "get", "serialize", "deserialize", "resolve", "direction_of"]
