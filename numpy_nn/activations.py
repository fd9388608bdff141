"""Activation functions by Keras name: ``get(identifier)``, ``serialize(fn)``, one function each.

Each function takes a Tensor (or an array) and returns a Tensor on the tape; the formulas and
derivatives are in ``numpy_nn/ops/activations.py``. Names and defaults are Keras's
(``keras.activations``): note ``leaky_relu``'s function default ``negative_slope=0.2`` (the
``LeakyReLU`` *layer* defaults to 0.3), ``gelu``'s default exact erf form, and the Keras 3
``hard_sigmoid`` = clip(x/6 + 1/2, 0, 1).

    get(None) -> linear      get("relu") -> relu      get(fn) -> fn
    get({"class_name": "function", "config": "relu", ...}) -> relu
    serialize(relu) -> "relu"
"""
from .autograd.tensor import as_tensor
from .ops import activations as A


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0), or Keras's general form (see ``ops.activations.GeneralReLU``)."""
    if negative_slope == 0 and max_value is None and threshold == 0:
        return A.ReLU.apply(x)
    return A.GeneralReLU.apply(x, negative_slope=negative_slope, max_value=max_value, threshold=threshold)


def leaky_relu(x, negative_slope=0.2):
    return A.LeakyReLU.apply(x, negative_slope=negative_slope)


def relu6(x):
    return A.ReLU6.apply(x)


def softmax(x, axis=-1):
    return A.Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    return A.LogSoftmax.apply(x, axis=axis)


def elu(x, alpha=1.0):
    return A.ELU.apply(x, alpha=alpha)


def selu(x):
    return A.SELU.apply(x)


def celu(x, alpha=1.0):
    return A.CELU.apply(x, alpha=alpha)


def softplus(x):
    return A.Softplus.apply(x)


def softsign(x):
    return A.Softsign.apply(x)


def squareplus(x, b=4):
    return A.Squareplus.apply(x, b=b)


def soft_shrink(x, threshold=0.5):
    return A.SoftShrink.apply(x, threshold=threshold)


def hard_shrink(x, threshold=0.5):
    return A.HardShrink.apply(x, threshold=threshold)


def sparse_plus(x):
    return A.SparsePlus.apply(x)


def silu(x):
    return A.Silu.apply(x)


swish = silu


def gelu(x, approximate=False):
    return A.Gelu.apply(x, approximate=approximate)


def glu(x, axis=-1):
    return A.GLU.apply(x, axis=axis)


def tanh(x):
    return A.Tanh.apply(x)


def tanh_shrink(x):
    return A.TanhShrink.apply(x)


def hard_tanh(x):
    return A.HardTanh.apply(x)


def threshold(x, threshold, default_value):
    return A.Threshold.apply(x, threshold=threshold, default_value=default_value)


def sigmoid(x):
    return A.Sigmoid.apply(x)


def sparse_sigmoid(x):
    return A.SparseSigmoid.apply(x)


def log_sigmoid(x):
    return A.LogSigmoid.apply(x)


def hard_sigmoid(x):
    return A.HardSigmoid.apply(x)


def hard_silu(x):
    return A.HardSilu.apply(x)


hard_swish = hard_silu


def exponential(x):
    return A.Exponential.apply(x)


def mish(x):
    return A.Mish.apply(x)


def sparsemax(x, axis=-1):
    return A.Sparsemax.apply(x, axis=axis)


def linear(x):
    """The identity: returns its input (as a Tensor), adding nothing to the tape."""
    return as_tensor(x)


_FUNCTIONS = [relu, leaky_relu, relu6, softmax, log_softmax, elu, selu, celu, softplus, softsign,
              squareplus, soft_shrink, hard_shrink, sparse_plus, silu, gelu, glu, tanh, tanh_shrink,
              hard_tanh, threshold, sigmoid, sparse_sigmoid, log_sigmoid, hard_sigmoid, hard_silu,
              exponential, mish, sparsemax, linear]
_BY_NAME = {fn.__name__: fn for fn in _FUNCTIONS}
_BY_NAME["swish"] = silu            # Keras aliases
_BY_NAME["hard_swish"] = hard_silu
_NAME_OF = {fn: fn.__name__ for fn in _FUNCTIONS}


def _lookup(name):
    if name not in _BY_NAME:
        from .naming import did_you_mean
        raise ValueError(f"Unknown activation function {name!r}. Valid names: {sorted(_BY_NAME)}."
                         f"{did_you_mean(name, _BY_NAME)}")
    return _BY_NAME[name]


def get(identifier):
    """The activation function for ``identifier``.

    None -> ``linear``; a Keras name (``"relu"``, ``"swish"``, ...); a Keras config dict
    (``{"class_name": "function", "config": "relu", ...}`` or ``{"class_name": "relu"}``);
    any callable is returned unchanged. Unknown names raise ValueError listing the valid ones.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return _lookup(identifier)
    if isinstance(identifier, dict):
        name = identifier.get("config") if isinstance(identifier.get("config"), str) else identifier.get("class_name")
        if not isinstance(name, str):
            raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")
        return _lookup(name)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    """The Keras name of a built-in activation (``relu`` -> ``"relu"``; None -> ``"linear"``).

    A callable that is not one of ours serializes to its ``__name__`` (as Keras does for a
    registered custom function)."""
    if activation is None:
        return "linear"
    if activation in _NAME_OF:
        return _NAME_OF[activation]
    name = getattr(activation, "__name__", None)
    if name is None:
        raise ValueError(f"Cannot serialize activation {activation!r}: it has no name")
    return name


def deserialize(config):
    """Inverse of ``serialize`` (a name or a Keras config dict)."""
    return get(config)
