"""Keras initializers, with Keras's fan computation (``initializers/random_initializers.py``).

VarianceScaling(scale, mode, distribution):
    fan_in, fan_out = for 2-D (in, out); for 1-D both shape[0]; for a conv kernel
                      (kh, kw, ..., in, out): receptive = prod(shape[:-2]),
                      fan_in = shape[-2] * receptive, fan_out = shape[-1] * receptive
    s = scale / max(1, fan)   with fan = fan_in | fan_out | (fan_in + fan_out) / 2
    uniform:            U(-sqrt(3 s), sqrt(3 s))
    truncated_normal:   N(0, sqrt(s) / 0.87962566103423978) truncated at 2 standard deviations
    untruncated_normal: N(0, sqrt(s))

The random streams differ from Keras's (JAX PRNG), so parity tests copy weights with set_weights.
"""
import math

import numpy as np

from . import config


def compute_fans(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base: ``initializer(shape, dtype=None) -> ndarray``."""

    def __call__(self, shape, dtype=None):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __call__() (abstract in the base class)")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)

    def _generator(self):
        seed = getattr(self, "seed", None)
        if seed is None:
            return config.rng()
        if not hasattr(self, "_seeded_rng"):
            self._seeded_rng = np.random.default_rng(seed)
        return self._seeded_rng


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=dtype or config.floatx())


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=dtype or config.floatx())


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or config.floatx())

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self._generator().normal(self.mean, self.stddev, shape).astype(dtype or config.floatx())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal(mean, stddev) resampled until within 2 standard deviations of the mean."""

    def __call__(self, shape, dtype=None):
        return (self.mean + self.stddev * _truncated_standard_normal(self._generator(), shape)).astype(
            dtype or config.floatx())


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return self._generator().uniform(self.minval, self.maxval, shape).astype(dtype or config.floatx())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class Orthogonal(Initializer):
    """Keras's Orthogonal(gain=1.0): a random orthogonal matrix (the default recurrent_initializer).

    The shape is flattened to (rows, cols) = (prod(shape[:-1]), shape[-1]); a normal matrix of shape
    (max, min) is QR-factorized, Q's columns get the signs of diag(R) (so Q is uniformly
    distributed), Q is transposed when rows < cols, and gain * Q is reshaped back: the rows (or the
    columns, whichever are fewer) are orthonormal.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the tensor to initialize must be at least two-dimensional; "
                             f"received shape={shape} of rank {len(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(self._generator().standard_normal((max(rows, cols), min(rows, cols))))
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype or config.floatx())

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}


def _truncated_standard_normal(generator, shape):
    values = generator.standard_normal(shape)
    bad = np.abs(values) > 2
    while bad.any():
        values[bad] = generator.standard_normal(int(bad.sum()))
        bad = np.abs(values) > 2
    return values


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, fan)
        generator = self._generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            values = generator.uniform(-limit, limit, shape)
        elif self.distribution == "truncated_normal":
            values = math.sqrt(scale) / 0.87962566103423978 * _truncated_standard_normal(generator, shape)
        else:
            values = math.sqrt(scale) * generator.standard_normal(shape)
        return values.astype(dtype or config.floatx())

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variant(name, scale, mode, distribution):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, "
                                                      f"distribution={distribution!r})."})


GlorotUniform = _variant("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variant("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeNormal = _variant("HeNormal", 2.0, "fan_in", "truncated_normal")
HeUniform = _variant("HeUniform", 2.0, "fan_in", "uniform")
LecunNormal = _variant("LecunNormal", 1.0, "fan_in", "truncated_normal")
LecunUniform = _variant("LecunUniform", 1.0, "fan_in", "uniform")

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal, "random_uniform": RandomUniform,
    "uniform": RandomUniform, "normal": RandomNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}
_BY_CLASS["OrthogonalInitializer"] = Orthogonal  # Keras 3's class name; its configs say "Orthogonal"


def get(identifier):
    """An Initializer from a name (``"he_normal"``), a class name, a Keras config dict, or itself."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer) or callable(identifier) and not isinstance(identifier, (str, dict, type)):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_CLASS.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown initializer class {identifier.get('class_name')!r}; "
                             f"supported: {sorted(_BY_CLASS)}")
        return cls.from_config(identifier.get("config", {}) or {})
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            from .naming import did_you_mean
            raise ValueError(f"Unknown initializer {identifier!r}; valid names: {sorted(_BY_NAME)}."
                             f"{did_you_mean(identifier, _BY_NAME)}")
        return cls()
    raise TypeError(f"Could not interpret initializer {identifier!r}")


def serialize(initializer):
    """Keras-style config dict (``{"module", "class_name", "config", "registered_name"}``)."""
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}
