"""Keras losses: per-sample functions, ``Loss`` classes with Keras reductions, ``get`` and ``resolve``.

A loss *function* ``fn(y_true, y_pred) -> Tensor`` returns one value per sample (the last axis
reduced: a mean for MSE/MAE/binary crossentropy, a sum over classes for categorical
crossentropy). ``y_pred`` is a Tensor on the tape; ``y_true`` is an array or Tensor without
gradient. A ``Loss`` object then weights and reduces them (Keras ``losses/loss.py``):

    values = fn(y_true, y_pred) * sample_weight
    "sum_over_batch_size" (default), "mean":  sum(values) / number of elements of values
    "mean_with_sample_weight":                 sum(values) / sum(sample_weight)
    "sum":  sum(values);      "none" / None:  values unchanged
(the divisor is the element count, *not* the sum of the weights; a zero divisor gives 0).

``resolve("crossentropy", y_true_shape, y_pred_shape)`` picks binary / sparse / categorical as
``model.compile(loss="crossentropy")`` does in Keras.
"""
import numpy as np

from .autograd.tensor import Tensor, as_tensor
from .ops import losses as L
from .ops import math as M

EPSILON = L.EPSILON
REDUCTIONS = ("sum_over_batch_size", "sum", "none", None, "mean", "mean_with_sample_weight")


# -- helpers -------------------------------------------------------------------------------------------
def _prediction(y_pred):
    y_pred = as_tensor(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        y_pred = Tensor(y_pred.data.astype("float32"))
    return y_pred


def _target(y_true, dtype, name="loss"):
    """The target as an array of the prediction's dtype; strings and objects are refused."""
    array = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name}: y_true must hold numbers; received an array of dtype {array.dtype}")
    return array.astype(dtype, copy=False)


def _check_broadcastable(name, y_true, y_pred):
    """Keras lets y_true and y_pred broadcast (e.g. (N, 1) against (N, K)); anything else is an error."""
    try:
        np.broadcast_shapes(tuple(y_true.shape), tuple(y_pred.shape))
    except ValueError:
        raise ValueError(f"{name}: y_true and y_pred have incompatible shapes; received "
                         f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}") from None


def _same_rank(y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank for (target array, prediction Tensor)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        else:
            y_pred = y_pred.reshape(y_pred.shape[:-1])
    return y_true, y_pred


def _check_same_shape(name, y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"{name}: y_true and y_pred must have the same shape; received "
                         f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}")


# -- per-sample loss functions -------------------------------------------------------------------------
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum_k y_k log p_k over ``axis``; p renormalised (p / sum p) and clipped to [eps, 1 - eps],
    or log_softmax(y_pred) when ``from_logits``; label smoothing: y -> y (1 - ls) + ls / K."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "categorical_crossentropy")
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    if label_smoothing:
        num_classes = y_true.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    return L.CategoricalCrossentropy.apply(y_pred, target=y_true.astype(y_pred.dtype, copy=False),
                                           from_logits=from_logits, axis=axis)


def sparse_labels_to_one_hot(name, y_true, y_pred, axis=-1):
    """Integer labels (N,) or (N, 1) (any leading shape) -> one-hot like y_pred, validated."""
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.dtype.kind not in "fiub":
        raise TypeError(f"{name}: y_true must hold integer labels; received an array of dtype {labels.dtype}")
    if labels.ndim == y_pred.ndim and labels.shape[axis] == 1:
        labels = np.squeeze(labels, axis=axis)
    expected = tuple(np.delete(np.array(y_pred.shape, dtype=object), axis % y_pred.ndim))
    if tuple(labels.shape) != expected:
        raise ValueError(f"{name}: y_true must have the shape of y_pred without its class axis; received "
                         f"y_true.shape={tuple(np.shape(y_true))}, y_pred.shape={tuple(y_pred.shape)}")
    num_classes = y_pred.shape[axis]
    if labels.size and np.issubdtype(labels.dtype, np.floating) and not np.all(np.isfinite(labels)):
        raise ValueError(f"{name}: y_true contains a non-finite label")
    labels = labels.astype(np.int64)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f"{name}: label {labels[bad].flat[0]} is out of range [0, {num_classes}) "
                         f"for y_pred.shape={tuple(y_pred.shape)}")
    one_hot = (labels[..., None] == np.arange(num_classes)).astype(y_pred.dtype)
    return np.moveaxis(one_hot, -1, axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Categorical crossentropy with integer labels (N,) or (N, 1); same renormalise + clip."""
    y_pred = _prediction(y_pred)
    one_hot = sparse_labels_to_one_hot("sparse_categorical_crossentropy", y_true, y_pred, axis)
    return L.CategoricalCrossentropy.apply(y_pred, target=one_hot, from_logits=from_logits, axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean over ``axis`` of -[y log p + (1 - y) log(1 - p)], p clipped to [eps, 1 - eps] in the
    prediction's dtype; logits: -y log_sigmoid(z) - (1 - y) log_sigmoid(-z);
    label smoothing: y -> y (1 - ls) + ls / 2."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "binary_crossentropy")
    y_true, y_pred = _same_rank(y_true, y_pred)
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    elementwise = L.BinaryCrossentropy.apply(y_pred, target=y_true.astype(y_pred.dtype, copy=False),
                                             from_logits=from_logits)
    return elementwise.mean(axis=axis)


def mean_squared_error(y_true, y_pred):
    """mean over the last axis of (y_true - y_pred)^2."""
    y_pred = _prediction(y_pred)
    y_true, y_pred = _same_rank(_target(y_true, y_pred.dtype, "mean_squared_error"), y_pred)
    _check_broadcastable("mean_squared_error", y_true, y_pred)
    error = y_pred - y_true
    return (error * error).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean over the last axis of |y_true - y_pred|."""
    y_pred = _prediction(y_pred)
    y_true, y_pred = _same_rank(_target(y_true, y_pred.dtype, "mean_absolute_error"), y_pred)
    _check_broadcastable("mean_absolute_error", y_true, y_pred)
    return (y_pred - y_true).abs().mean(axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """mean over the last axis of e^2/2 (|e| <= delta) or delta |e| - delta^2/2, e = y_pred - y_true."""
    y_pred = _prediction(y_pred)
    y_true, y_pred = _same_rank(_target(y_true, y_pred.dtype, "huber"), y_pred)
    _check_broadcastable("huber", y_true, y_pred)
    return L.Huber.apply(y_pred, target=y_true, delta=delta).mean(axis=-1)


def kl_divergence(y_true, y_pred):
    """sum over the last axis of y log(y / p), with y and p clipped to [eps, 1]."""
    y_pred = _prediction(y_pred)
    y_true = np.clip(_target(y_true, y_pred.dtype, "kl_divergence"), EPSILON, 1.0)
    _check_broadcastable("kl_divergence", y_true, y_pred)
    clipped = y_pred.clip(EPSILON, 1.0)
    return (y_true * (np.log(y_true) - clipped.log())).sum(axis=-1)


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
    return M.maximum(1.0 - y_true * y_pred, np.zeros(y_pred.shape, y_pred.dtype)).mean(axis=-1)


def squared_hinge(y_true, y_pred):
    """mean over the last axis of max(1 - y p, 0)^2."""
    y_pred = _prediction(y_pred)
    y_true = _hinge_labels(_target(y_true, y_pred.dtype, "squared_hinge")).astype(y_pred.dtype)
    _check_broadcastable("squared_hinge", y_true, y_pred)
    margin = M.maximum(1.0 - y_true * y_pred, np.zeros(y_pred.shape, y_pred.dtype))
    return (margin * margin).mean(axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max_k (1 - y_k) p_k - sum_k y_k p_k + 1, 0)."""
    y_pred = _prediction(y_pred)
    y_true = _target(y_true, y_pred.dtype, "categorical_hinge")
    _check_broadcastable("categorical_hinge", y_true, y_pred)
    positive = (y_true * y_pred).sum(axis=-1)
    negative = ((1.0 - y_true) * y_pred).max(axis=-1)
    margin = negative - positive + 1.0
    return M.maximum(margin, np.zeros(margin.shape, y_pred.dtype))


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kl_divergence


# -- Loss objects ------------------------------------------------------------------------------------------
class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` -> reduced Tensor (see the module doc)."""

    default_name = "loss"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: invalid value for argument `reduction`. Expected one of "
                             f"{REDUCTIONS}. Received: reduction={reduction!r}")
        self.name = name or self.default_name
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _prediction(y_pred)
        if self.dtype is not None and y_pred.dtype != np.dtype(self.dtype):
            y_pred = y_pred.astype(self.dtype)
        values = self.call(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Weight per-sample ``values`` (a Tensor) and reduce them as Keras does."""
    if sample_weight is not None:
        weights = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight)
        weights = weights.astype(values.dtype)
        # Keras's squeeze_or_expand_to_same_rank(values, weights): fix a rank difference of one
        if values.ndim == weights.ndim + 1 and values.shape[-1] == 1:
            if weights.ndim == 1:
                weights = weights[:, None]
            else:
                values = values.reshape(values.shape[:-1])
        elif weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
            if values.ndim == 1:
                values = values.reshape(values.shape + (1,))
            else:
                weights = weights[..., 0]
        values = values * weights
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(np.sum(weights))
    else:
        divisor = float(values.size)
    return total / divisor if divisor != 0 else total * 0.0


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample function and its keyword arguments (Keras's LossFunctionWrapper)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _wrapper_class(class_name, fn, default_name, only_default=None, **defaults):
    """Build a Loss class ``class_name(**defaults, reduction=..., name=...)`` calling ``fn``.

    ``only_default``: Keras arguments numpy_nn accepts only at their Keras default (they appear in
    Keras's saved configs, e.g. ``ignore_class=None``); any other value is refused.
    """
    only_default = dict(only_default or {})

    def __init__(self, *args, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        options = dict(defaults)
        for key, value in zip(defaults, args):
            options[key] = value
        for key, value in kwargs.items():
            if key in only_default:
                if value != only_default[key]:
                    raise ValueError(f"{class_name}: numpy_nn supports only {key}={only_default[key]!r}; "
                                     f"received {key}={value!r}")
                continue
            if key not in defaults:
                raise TypeError(f"{class_name}: unexpected keyword argument {key!r}; "
                                f"accepted: {sorted(defaults)}, reduction, name, dtype")
            options[key] = value
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name or default_name, dtype=dtype,
                                     **options)

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items() if k != "fn"}
        return cls(**config)

    signature = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    doc = f"``{class_name}({signature + ', ' if signature else ''}reduction='sum_over_batch_size', " \
          f"name={default_name!r})``: ``{fn.__name__}`` with a Keras reduction."
    return type(class_name, (LossFunctionWrapper,), {"__init__": __init__, "from_config": from_config,
                                                     "default_name": default_name, "__doc__": doc})


CategoricalCrossentropy = _wrapper_class("CategoricalCrossentropy", categorical_crossentropy,
                                         "categorical_crossentropy", from_logits=False, label_smoothing=0.0,
                                         axis=-1)
SparseCategoricalCrossentropy = _wrapper_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                                               "sparse_categorical_crossentropy",
                                               only_default={"ignore_class": None}, from_logits=False, axis=-1)
BinaryCrossentropy = _wrapper_class("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                                    from_logits=False, label_smoothing=0.0, axis=-1)
MeanSquaredError = _wrapper_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
Huber = _wrapper_class("Huber", huber, "huber_loss", delta=1.0)
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence")
Hinge = _wrapper_class("Hinge", hinge, "hinge")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge")

_CLASSES = {cls.__name__: cls for cls in (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
    MeanAbsoluteError, Huber, KLDivergence, Hinge, SquaredHinge, CategoricalHinge)}
_FUNCTIONS = {fn.__name__: fn for fn in (
    categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error,
    mean_absolute_error, huber, kl_divergence, hinge, squared_hinge, categorical_hinge)}
_FUNCTIONS.update({"mse": mse, "MSE": MSE, "mae": mae, "MAE": MAE, "kld": kld, "KLD": KLD,
                   "huber_loss": huber, "bce": binary_crossentropy, "BCE": binary_crossentropy})


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
        class_name, config = identifier.get("class_name"), identifier.get("config")
        if class_name == "function" and isinstance(config, str):
            return get(config)
        if class_name in _CLASSES:
            return _CLASSES[class_name].from_config(dict(config or {}))
        raise ValueError(f"Unknown loss config {identifier!r}. Valid class names: {sorted(_CLASSES)}")
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


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
