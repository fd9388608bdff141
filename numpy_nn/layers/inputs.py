"""Fed data -> arrays and Tensors: the one path every layer call, model call and fit/predict takes.

Three questions are answered here, once:

* *Is it numbers?* ``to_array`` turns lists, arrays and Tensors into an ndarray and refuses
  what is not numeric, naming the dtype in words ("an array of strings (dtype <U1)").
* *Which dtype?* ``to_tensor`` casts numbers to the layer's or input's dtype (a float32 layer
  computes in float32, as Keras does).
* *One input or several?* ``split_inputs`` lines the fed value up with a model's named inputs
  (the rule Keras follows):

      a dict            -> looked up by input name (missing or unknown keys are refused)
      a list / tuple    -> one item per input when the model has several inputs;
                           for a model with one input, ``[x]`` is ``x`` when x is an array or
                           Tensor, and any other list is the data itself (``[[1, 2], [3, 4]]``)
      anything else     -> the one input
"""
import numpy as np

from ..autograd.tensor import Tensor
from ..ops.node import flatten

_KIND_WORDS = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
               "M": "datetimes", "m": "time deltas", "V": "raw records"}


def describe_dtype(dtype):
    """``"an array of strings (dtype <U1)"``: what an array holds, in words, for error messages."""
    dtype = np.dtype(dtype)
    words = _KIND_WORDS.get(dtype.kind, "numbers")
    return f"an array of {words} (dtype {dtype.str if dtype.kind in 'USV' else dtype})"


def to_array(value, what):
    """``value`` as a numeric ndarray (Tensors give their data); ``what`` names it in errors."""
    if isinstance(value, Tensor):
        return value.data
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # e.g. a ragged nested list
        raise ValueError(f"{what} could not be converted to an array: {error}") from None
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{what} must be numeric; received {describe_dtype(array.dtype)}")
    return array


def to_tensor(value, dtype, what):
    """A Tensor of ``dtype`` (Tensors on the tape stay on it: a numeric one is cast by a Cast op)."""
    if isinstance(value, Tensor):
        if value.dtype != np.dtype(dtype) and value.dtype.kind in "fiub":
            return value.astype(dtype)
        return value
    return Tensor(to_array(value, what).astype(dtype, copy=False), _copy=False)


def split_inputs(value, names, what):
    """The fed ``value`` as a flat list aligned with the input ``names`` (see the module docstring)."""
    if isinstance(value, dict):
        missing = [name for name in names if name not in value]
        unknown = [key for key in value if key not in names]
        if missing or unknown:
            raise ValueError(f"{what}: the input dict has keys {list(value)}, but the inputs are named "
                             f"{list(names)} (missing {missing}, unknown {unknown})")
        return [value[name] for name in names]
    if isinstance(value, (list, tuple)):
        if len(names) > 1:
            flat = list(value) if len(value) == len(names) else flatten(value)  # nested input structures
            if len(flat) != len(names):
                raise ValueError(f"{what} expects {len(names)} inputs {list(names)}, but received a "
                                 f"{type(value).__name__} of {len(flat)}")
            return flat
        if len(value) == 1 and isinstance(value[0], (np.ndarray, Tensor)):
            return [value[0]]
    if len(names) > 1:
        raise ValueError(f"{what} expects {len(names)} inputs {list(names)}, but received one "
                         f"{type(value).__name__}; pass a list or a dict keyed by input name")
    return [value]


__all__ = ["describe_dtype", "to_array", "to_tensor", "split_inputs"]
