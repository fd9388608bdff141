"""Rescaling and Normalization: fixed affine maps of the input, differentiable w.r.t. the input.

    Rescaling:      y = x * scale + offset                       (e.g. scale = 1/255)
    Normalization:  y = (x - mean) / max(sqrt(variance), 1e-7)
                    invert=True:  y = mean + x * max(sqrt(variance), 1e-7)

Normalization's mean and variance come from the constructor or from ``adapt(data)`` (per
position of the kept ``axis``, over every other axis, *biased* variance as ``np.var``).
Both are built from the Tensor arithmetic of ``numpy_nn/ops/math.py`` in Keras's float32 order.
"""
import math

import numpy as np

from ..autograd.tensor import Tensor
from .base import Layer

KERAS_EPSILON = 1e-7  # keras.backend.epsilon()


def _serialize_value(value):
    """Numbers as they are; arrays as Keras's ``{"class_name": "__numpy__", ...}`` object."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    return value


def _deserialize_value(value):
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return np.array(value["config"]["value"], dtype=value["config"]["dtype"])
    return value


class Rescaling(Layer):
    """Rescaling(scale, offset=0.0): y = x * scale + offset (scale/offset: numbers or per-channel arrays)."""

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        scale, offset = _deserialize_value(scale), _deserialize_value(offset)
        for argument, value in (("scale", scale), ("offset", offset)):
            try:
                np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"Layer '{self.name}': `{argument}` must be a number or an array of numbers, "
                                 f"received {argument}={value!r}") from None
        self.scale, self.offset = scale, offset

    def call(self, inputs, training=None):
        scale = np.asarray(self.scale, dtype=self.dtype)
        offset = np.asarray(self.offset, dtype=self.dtype)
        return inputs * Tensor(scale) + Tensor(offset)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "scale": _serialize_value(self.scale), "offset": _serialize_value(self.offset)}


class Normalization(Layer):
    """Normalization(axis=-1, mean=None, variance=None, invert=False): standardize per feature.

    ``axis``: the axes that keep their own statistics (an int, a tuple, or None for a single
    mean/variance over everything). Without ``mean``/``variance``, the layer has three
    non-trainable weights, in Keras order: mean and variance of shape
    ``[input_shape[d] for d in sorted(axis)]`` and an int32 ``count`` (kept for Keras
    compatibility; Keras leaves it at 0), set by ``adapt(data)``. With constant mean/variance it
    has no weights.
    """

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        else:
            try:
                axis = tuple(int(a) for a in axis)
            except (TypeError, ValueError):
                raise ValueError(f"Layer '{self.name}': axis must be an int, a tuple of ints or None, "
                                 f"received axis={axis!r}") from None
        self.axis = axis
        self.input_mean, self.input_variance, self.invert = mean, variance, bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError(f"Layer '{self.name}': when setting values directly, both `mean` and `variance` "
                             f"must be set. Received: mean={mean!r} and variance={variance!r}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Layer '{self.name}': `mean` and `variance` must have the same shape. "
                                 f"Received: mean shape {np.shape(mean)}, variance shape {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Layer '{self.name}': the rank of `mean` must be at most the number of axes "
                                 f"({len(self.axis)}). Received mean shape {np.shape(mean)} for axis {self.axis}")
        self.adapt_mean = self.adapt_variance = self.count = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"Layer '{self.name}': all `axis` values must be in [-{ndim}, {ndim}); received "
                             f"inputs with shape {tuple(input_shape)}, while axis={self.axis}")
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError(f"Layer '{self.name}': kept axis {d} must have a known size; received input "
                                 f"shape {tuple(input_shape)} with axis={self.axis}")
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = [input_shape[d] if d in self._keep_axis else 1 for d in range(ndim)]
        self._build_input_shape = tuple(input_shape)
        self.input_ndim = ndim
        shape = tuple(input_shape[d] for d in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int32")
            if self.count.dtype != np.int32:  # Keras stores count as int32
                self.count.data = np.zeros((), dtype=np.int32)
        else:
            self._constant_mean = self._broadcast_constant(self.input_mean)
            self._constant_variance = self._broadcast_constant(self.input_variance)
        self.built = True

    def _broadcast_constant(self, value):
        """A constant mean/variance aligned with the kept axes from the right, broadcast to full shape."""
        value = np.asarray(value, dtype=self.dtype)
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, value.ndim + 1):
            expanded[self._keep_axis[-i]] = value.shape[-i]
        return np.broadcast_to(value.reshape(expanded), self._broadcast_shape)

    def adapt(self, data):
        """Set mean and (biased) variance from ``data``: an array or an iterable of batches."""
        if self.input_mean is not None:
            raise ValueError(f"Layer '{self.name}' was given constant mean and variance; adapt() would ignore "
                             f"them. Create the layer without mean/variance to adapt it.")
        if isinstance(data, (np.ndarray, Tensor)):
            data = np.asarray(data)
            self._ensure_built(data.shape)
            total_mean = np.mean(data, axis=self._reduce_axis)
            total_variance = np.var(data, axis=self._reduce_axis)
        else:  # batches: merge each batch's moments into the running ones (exact, like Keras)
            total_mean = total_variance = 0.0
            total_count = 0
            for batch in data:
                batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, dtype=self.dtype)
                self._ensure_built(batch.shape)
                count = math.prod(batch.shape[d] for d in self._reduce_axis)
                total_count += count
                batch_weight = count / total_count
                existing_weight = 1.0 - batch_weight
                batch_mean = np.mean(batch, axis=self._reduce_axis)
                new_mean = total_mean * existing_weight + batch_mean * batch_weight
                total_variance = ((total_variance + (total_mean - new_mean) ** 2) * existing_weight
                                  + (np.var(batch, axis=self._reduce_axis) + (batch_mean - new_mean) ** 2)
                                  * batch_weight)
                total_mean = new_mean
            if total_count == 0:
                raise ValueError(f"Layer '{self.name}': adapt() received no batches")
        self.adapt_mean.assign(np.asarray(total_mean, dtype=self.adapt_mean.dtype))
        self.adapt_variance.assign(np.asarray(total_variance, dtype=self.adapt_variance.dtype))

    def _ensure_built(self, shape):
        if not self.built:
            self.build(tuple(shape))  # as Keras: the data's full shape
            return
        for d in self._keep_axis:
            if shape[d] != self._build_input_shape[d]:
                raise ValueError(f"Layer '{self.name}' was built with input shape {self._build_input_shape}, "
                                 f"but adapt() received data of incompatible shape {tuple(shape)}")

    def call(self, inputs, training=None):
        for d in self._keep_axis:
            if inputs.shape[d] != self._build_input_shape[d]:
                raise ValueError(f"Layer '{self.name}' was built for inputs of shape {self._build_input_shape} "
                                 f"(statistics kept on axes {self._keep_axis}), but received an input of shape "
                                 f"{tuple(inputs.shape)}")
        if self.input_mean is None:
            mean = self.adapt_mean.data.reshape(self._broadcast_shape)
            variance = self.adapt_variance.data.reshape(self._broadcast_shape)
        else:
            mean, variance = self._constant_mean, self._constant_variance
        std = np.maximum(np.sqrt(variance), np.asarray(KERAS_EPSILON, dtype=variance.dtype))
        if self.invert:
            return Tensor(mean) + inputs * Tensor(std)
        return (inputs - Tensor(mean)) / Tensor(std)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(), "variance": np.array(self.input_variance).tolist()}
