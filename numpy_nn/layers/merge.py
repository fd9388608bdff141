"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.

Each is called on a *list* of tensors. As in Keras (``layers/merging/base_merge.py``), the
elementwise merges broadcast: non-batch axes of size 1 stretch, and a lower-rank input gets
new axes inserted after the batch axis (``(N, 3)`` merges with ``(N, 4, 3)`` as ``(N, 1, 3)``).
The formulas and the tie rule of Maximum/Minimum are in ``numpy_nn/ops/merge.py``.
"""
from ..autograd.tensor import Tensor
from ..ops import math as M
from ..ops import merge as ops_merge
from ..ops import reshaping as R
from .base import Layer


def _is_list_of_shapes(value):
    """A non-empty list of shapes, each with a batch axis (a tuple of ints or None)."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and \
        all(isinstance(s, (list, tuple)) and len(s) > 0 and all(d is None or isinstance(d, int) for d in s)
            for s in value)


def _shapes_of(inputs):
    """The shapes of a flat list of Tensors; anything else is returned as given, for the error message."""
    if isinstance(inputs, (list, tuple)) and all(isinstance(x, Tensor) for x in inputs):
        return [tuple(x.shape) for x in inputs]
    return inputs.shape if isinstance(inputs, Tensor) else inputs


class _Merge(Layer):
    """Shared checks and broadcasting of the elementwise merge layers."""

    _merge = None      # function of a list of Tensors
    _exact_inputs = None  # Subtract needs exactly 2

    def _check_list(self, input_shapes):
        if not _is_list_of_shapes(input_shapes):
            raise ValueError(f"{type(self).__name__} '{self.name}' must be called on a list of tensors, each with "
                             f"a batch axis; received input shape {input_shapes!r}")
        if self._exact_inputs is not None and len(input_shapes) != self._exact_inputs:
            raise ValueError(f"{type(self).__name__} '{self.name}' must be called on exactly "
                             f"{self._exact_inputs} inputs; received {len(input_shapes)} inputs with shapes "
                             f"{[tuple(s) for s in input_shapes]}")
        batch_sizes = {s[0] for s in input_shapes if len(s)} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"{type(self).__name__} '{self.name}': inputs have different batch sizes; "
                             f"received shapes {[tuple(s) for s in input_shapes]}")

    def _broadcast_shape(self, input_shapes):
        """The merged non-batch shape (Keras's rule), or a ValueError listing every shape."""
        output = ()
        for shape in input_shapes:
            a, b = (tuple(output), tuple(shape[1:]))
            if len(a) < len(b):
                a, b = b, a
            merged = list(a[:len(a) - len(b)])
            for i, j in zip(a[len(a) - len(b):], b):
                if i is None or j is None:
                    merged.append(None)
                elif i == 1 or j == 1 or i == j:
                    merged.append(j if i == 1 else i)
                else:
                    raise ValueError(f"{type(self).__name__} '{self.name}': inputs have incompatible shapes "
                                     f"{[tuple(s) for s in input_shapes]}")
            output = tuple(merged)
        return output

    def build(self, input_shape):
        self._check_list(input_shape)
        self._broadcast_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        batch_sizes = {s[0] for s in input_shape if len(s)} - {None}
        return (batch_sizes.pop() if batch_sizes else None, *self._broadcast_shape(input_shape))

    def call(self, inputs, training=None):
        shapes = _shapes_of(inputs)
        self._check_list(shapes)
        self._broadcast_shape(shapes)
        rank = max(len(s) for s in shapes)
        inputs = [x if x.ndim == rank else  # new axes right after the batch axis
                  M.Reshape.apply(x, shape=(x.shape[0],) + (1,) * (rank - x.ndim) + tuple(x.shape[1:]))
                  for x in inputs]
        return type(self)._merge(inputs)

    def compute_mask(self, inputs, mask=None):  # Keras: the OR of the masks (None unless all have one)
        from .masking import logical_or
        return None if mask is None else logical_or(list(mask))


class Add(_Merge):
    """y = x_1 + x_2 + ... + x_k."""

    _merge = staticmethod(ops_merge.add_n)


class Subtract(_Merge):
    """y = x_1 - x_2 (exactly two inputs)."""

    _merge = staticmethod(ops_merge.subtract)
    _exact_inputs = 2


class Multiply(_Merge):
    """y = x_1 * x_2 * ... * x_k."""

    _merge = staticmethod(ops_merge.multiply_n)


class Average(_Merge):
    """y = (x_1 + ... + x_k) / k."""

    _merge = staticmethod(ops_merge.average)


class Maximum(_Merge):
    """y = max(x_1, ..., x_k) elementwise (ties share the gradient as in JAX, see ops/merge.py)."""

    _merge = staticmethod(ops_merge.maximum_n)


class Minimum(_Merge):
    """y = min(x_1, ..., x_k) elementwise (ties share the gradient as in JAX, see ops/merge.py)."""

    _merge = staticmethod(ops_merge.minimum_n)


class Concatenate(Layer):
    """Joins a list of tensors along ``axis`` (default -1, the channels); every other axis must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"Concatenate '{self.name}': axis must be an int; received axis={axis!r}")
        self.axis = axis

    def _check(self, input_shapes):
        if not _is_list_of_shapes(input_shapes):
            raise ValueError(f"Concatenate '{self.name}' must be called on a list of tensors, each with a "
                             f"batch axis; received input shape {input_shapes!r}")
        shapes = [tuple(s) for s in input_shapes]
        rank = len(shapes[0])
        ok = all(len(s) == rank for s in shapes) and -rank <= self.axis < rank
        if ok:
            axis = self.axis % rank
            for i in range(rank):
                sizes = {s[i] for s in shapes} - {None}
                ok = ok and (i == axis or len(sizes) <= 1)
        if not ok:
            raise ValueError(f"Concatenate '{self.name}' (axis={self.axis}) needs inputs whose shapes match "
                             f"except on the concatenation axis; received shapes {shapes}")

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        output = list(input_shape[0])
        sizes = [s[self.axis] for s in input_shape]
        output[self.axis] = None if None in sizes else sum(sizes)
        return tuple(output)

    def call(self, inputs, training=None):
        self._check(_shapes_of(inputs))
        return R.concatenate(inputs, axis=self.axis)

    def compute_mask(self, inputs, mask=None):  # Keras: ANY over the last axis of the joined masks
        from .masking import concatenate_masks
        return concatenate_masks(inputs, mask, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
