"""Dropout, SpatialDropout2D and GaussianNoise: active only when ``training`` is truthy.

The dropout rule (inverted dropout, keep probability 1 - rate) lives in
``numpy_nn/ops/dropout.py``. In inference (``training`` None or False: ``model(x)``,
``predict``, ``evaluate``) these layers return their input unchanged.
Masks come from NumPy, so they differ from Keras's (JAX PRNG) masks; a ``seed`` makes ours
reproducible, without one the library generator (``numpy_nn.config.set_random_seed``) is used.
"""
import numbers

import numpy as np

from .. import config
from ..ops.dropout import Dropout as DropoutOp
from .base import Layer


def _validate_noise_shape(layer_name, noise_shape):
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str) or not hasattr(noise_shape, "__iter__"):
        raise ValueError(f"Layer '{layer_name}': noise_shape must be a tuple or list of ints or None, "
                         f"received noise_shape={noise_shape!r}")
    noise_shape = tuple(noise_shape)
    for i, dim in enumerate(noise_shape):
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim <= 0):
            raise ValueError(f"Layer '{layer_name}': every noise_shape entry must be a positive int or None; "
                             f"received {dim!r} at index {i} in noise_shape={noise_shape!r}")
    return tuple(None if d is None else int(d) for d in noise_shape)


class Dropout(Layer):
    """Dropout(rate, noise_shape=None, seed=None): y = x * mask / (1 - rate) while training.

    ``rate`` in [0, 1] is the fraction dropped; ``noise_shape`` gives the mask's shape (None
    entries take the input's size; e.g. (None, 1) drops whole rows). No weights.
    """

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
            raise ValueError(f"Layer '{self.name}': invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"Layer '{self.name}': seed must be a non-negative int or None, received seed={seed!r}")
        self.rate = rate
        self.seed = seed
        self.noise_shape = _validate_noise_shape(self.name, noise_shape)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    @property
    def rng(self):
        """This layer's generator if seeded, else the library's (which ``set_random_seed`` resets)."""
        return self._rng if self._rng is not None else config.rng()

    def _noise_shape(self, inputs):
        return self.noise_shape

    def call(self, inputs, training=None):
        if training and self.rate > 0:
            return DropoutOp.apply(inputs, rate=self.rate, noise_shape=self._noise_shape(inputs), rng=self.rng)
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class SpatialDropout2D(Dropout):
    """Drops whole feature maps: the mask has shape (N, 1, 1, C) (channels_last), one draw per
    example and channel, so correlated neighbouring pixels are dropped together."""

    input_ndim = 4

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        data_format = config.image_data_format() if data_format is None else str(data_format).lower()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"Layer '{self.name}': data_format must be 'channels_last' or 'channels_first', "
                             f"received data_format={data_format!r}")
        self.data_format = data_format

    def _noise_shape(self, inputs):
        n, a, b, c = inputs.shape
        return (n, 1, 1, c) if self.data_format == "channels_last" else (n, a, 1, 1)

    def get_config(self):  # Keras's exact key set for this layer (no `trainable`, no noise_shape)
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype,
                "data_format": self.data_format}


class GaussianNoise(Layer):
    """GaussianNoise(stddev, seed=None): y = x + N(0, stddev**2) noise while training; dy/dx = 1."""

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not 0 <= stddev <= 1:
            raise ValueError(f"Layer '{self.name}': invalid value received for argument `stddev`. Expected a "
                             f"float value between 0 and 1. Received: stddev={stddev!r}")
        self.stddev, self.seed = stddev, seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, inputs, training=None):
        if training and self.stddev > 0:
            rng = self._rng if self._rng is not None else config.rng()
            return inputs + rng.normal(0.0, self.stddev, inputs.shape).astype(inputs.dtype)
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
