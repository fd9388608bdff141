"""Weight constraints (Keras's projections, applied by the optimizer after each update).

With norms = sqrt(sum(w**2, axis, keepdims=True)) and eps = 1e-7 (Keras's backend epsilon):

    MaxNorm(max_value=2, axis=0):  w * clip(norms, 0, max_value) / (eps + norms)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0):
                                   w * (rate*clip(norms, min, max) + (1-rate)*norms) / (eps + norms)
    UnitNorm(axis=0):              w / (eps + norms)
    NonNeg():                      max(w, 0)
"""
import numpy as np

EPSILON = 1e-7


class Constraint:
    """Base: ``constraint(w_array) -> projected array``; the identity by default."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)


def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return (w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms))).astype(w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (EPSILON + norms))).astype(w.dtype)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return (w / (EPSILON + _norms(w, self.axis))).astype(w.dtype)

    def get_config(self):
        return {"axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(w, 0).astype(w.dtype)


_BY_NAME = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "unit_norm": UnitNorm, "non_neg": NonNeg}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier):
    """A Constraint from None, a name ("max_norm"), a class name, a Keras config dict, or itself."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_CLASS.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown constraint {identifier.get('class_name')!r}; supported: {sorted(_BY_CLASS)}")
        return cls.from_config(identifier.get("config", {}) or {})
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown constraint {identifier!r}; valid names: {sorted(_BY_NAME)}")
        return cls()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret constraint {identifier!r}")


def serialize(constraint):
    if constraint is None:
        return None
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}
