"""Activation layers: ReLU, LeakyReLU, ELU, PReLU, Softmax (Keras ``layers/activations``).

The formulas and derivatives are in ``numpy_nn/ops/activations.py``; these layers hold the
arguments (Keras names, order and defaults) and, for PReLU, the learned ``alpha``.
"""
import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..ops import activations as A
from ..ops.math import where
from .base import Layer
from .core import serialize_constraint

_LARGE_NEGATIVE = -1e9  # Keras's masked-logit value for float32 (softmax of it is exactly 0)


class _Elementwise(Layer):
    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _check_non_negative(layer, name, value, allow_none=False):
    if value is None and allow_none:
        return
    if value is None or value < 0:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): `{name}` cannot be None or negative. "
                         f"Received: {name}={value!r}")


class ReLU(_Elementwise):
    """``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`` (Keras's positional order):
    y = max_value (x >= max_value), x (threshold < x < max_value), negative_slope (x - threshold) otherwise."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        _check_non_negative(self, "max_value", max_value, allow_none=True)
        _check_non_negative(self, "negative_slope", negative_slope)
        _check_non_negative(self, "threshold", threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs, training=None):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class LeakyReLU(_Elementwise):
    """``LeakyReLU(negative_slope=0.3)``: y = x (x >= 0), negative_slope x otherwise.
    The layer default is 0.3 (the ``leaky_relu`` function's is 0.2); the old ``alpha=`` is accepted."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        _check_non_negative(self, "negative_slope", negative_slope)
        self.negative_slope = negative_slope

    def call(self, inputs, training=None):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class ELU(_Elementwise):
    """``ELU(alpha=1.0)``: y = x (x > 0), alpha (e^x - 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs, training=None):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class PReLU(_Elementwise):
    """Parametric ReLU: y = x (x > 0), alpha x otherwise, with a learned ``alpha`` of the input's
    shape without the batch axis (size 1 on ``shared_axes``, e.g. [1, 2] for one alpha per channel)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not all(isinstance(a, (int, np.integer)) and a >= 1 for a in axes):
                raise ValueError(f"Layer '{self.name}' (PReLU): `shared_axes` must be axes >= 1 (the batch axis "
                                 f"0 cannot be shared). Received: shared_axes={shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]

    def build(self, input_shape):
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis > len(param_shape):
                raise ValueError(f"Layer '{self.name}' (PReLU): shared axis {axis} is out of range for "
                                 f"input shape {tuple(input_shape)}")
            param_shape[axis - 1] = 1
        if any(d is None for d in param_shape):
            raise ValueError(f"Layer '{self.name}' (PReLU): every non-shared axis must be known; "
                             f"received input_shape={tuple(input_shape)}")
        self.input_ndim = len(input_shape)
        self.alpha = self.add_weight("alpha", param_shape, self.alpha_initializer, regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs, training=None):
        expected = self.alpha.shape
        received = inputs.shape[1:]
        if any(a != 1 and a != r for a, r in zip(expected, received)):
            raise ValueError(f"Layer '{self.name}' (PReLU) was built for inputs of shape (None,) + {expected} "
                             f"(1 = shared axis); received shape {tuple(inputs.shape)}")
        return A.PReLU.apply(inputs, self.alpha)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha_initializer": initializers.serialize(self.alpha_initializer),
                       "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                       "alpha_constraint": serialize_constraint(self.alpha_constraint),
                       "shared_axes": self.shared_axes})
        return config


class Softmax(_Elementwise):
    """``Softmax(axis=-1)``: y = exp(x - max) / sum(exp(x - max)) along ``axis`` (an int or a list).

    ``layer(x, mask=m)``: positions where m is False (or <= 0.5) get the logit -1e9 before the
    softmax and the output 0 after it, as in Keras.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def call(self, inputs, training=None, mask=None):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        if mask is None:
            return A.Softmax.apply(inputs, axis=axis)
        mask = np.asarray(getattr(mask, "data", mask))
        if mask.ndim > inputs.ndim or any(m != 1 and m != i for m, i in zip(mask.shape[::-1], inputs.shape[::-1])):
            raise ValueError(f"Layer '{self.name}' (Softmax): the mask must broadcast to the inputs; "
                             f"received inputs.shape={tuple(inputs.shape)}, mask.shape={mask.shape}")
        keep = mask if mask.dtype == bool else mask > 0.5
        keep = np.broadcast_to(keep, inputs.shape)
        masked = where(keep, inputs, np.full(inputs.shape, _LARGE_NEGATIVE, dtype=inputs.dtype))
        outputs = A.Softmax.apply(masked, axis=axis)
        return where(keep, outputs, np.zeros(inputs.shape, dtype=inputs.dtype))

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
