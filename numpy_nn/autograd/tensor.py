"""``Tensor`` (an ndarray that can sit on the tape) and ``Variable`` (a Tensor a layer owns).

A Tensor holds ``.data`` (a NumPy array), ``.requires_grad``, and after ``backward()``
``.grad`` (a NumPy array of the same shape). A Tensor produced by an op remembers the Function
that made it (``_creator``); following those links from a loss back to the leaves is the tape.

Arithmetic operators and the reductions below are thin wrappers around the Functions in
``numpy_nn/ops/math.py``, where each formula and its gradient are written out. The tape does not
import any op family: ``ops/math.py`` fills the ``OPERATORS`` table when the package is imported
(``import numpy_nn`` does that), and the methods below look their Function up there by name.
"""
import numpy as np

from .. import config

OPERATORS = {}  # Function classes by name ("Add", "Sum", ...), filled by numpy_nn/ops/math.py


def _op(name):
    try:
        return OPERATORS[name]
    except KeyError:
        raise RuntimeError(f"Tensor operator {name!r} is not registered: import numpy_nn (which loads "
                           "numpy_nn/ops/math.py) before using Tensor arithmetic") from None


def _default_array(data, dtype):
    array = np.asarray(data, dtype=dtype)
    if dtype is None and not np.issubdtype(array.dtype, np.floating):
        if array.dtype.kind in "biu":
            array = array.astype(config.floatx())
        else:
            raise TypeError(f"Tensor: cannot hold data of dtype {array.dtype} (expected numbers)")
    return array


_VALUES = (int, float, complex, np.number, np.bool_, np.ndarray)  # what == compares by value


class Tensor:
    """An array on the autograd tape.

    ``Tensor(data, requires_grad=False, dtype=None)``: floating arrays keep their dtype;
    Python numbers, lists and integer arrays become ``floatx()``.

    About ``.grad`` and calling ``backward()`` twice: ``backward()`` *adds* into ``.grad`` of every
    leaf Tensor that requires grad (the PyTorch convention, which makes gradient accumulation
    over several losses easy). The tape is kept, so calling ``backward()`` twice on the same
    loss doubles ``.grad``; call ``zero_grad()`` (or set ``.grad = None``) in between.
    ``nn.grad(output, tensors)`` never touches ``.grad`` and returns fresh gradients instead.
    """

    __array_priority__ = 100  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, name=None, _copy=True):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _default_array(data, dtype) if (_copy or not isinstance(data, np.ndarray)) else data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.name = name
        self._creator = None
        self.retains_grad = False

    # -- array-like facts ---------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def numpy(self):
        """The values as a NumPy array (the same array, not a copy)."""
        return self.data

    def item(self):
        return self.data.item()

    def detach(self):
        """A new leaf Tensor with the same data and no history."""
        return Tensor(self.data, _copy=False)

    def astype(self, dtype):
        return _op("Cast").apply(self, dtype=np.dtype(dtype))

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2)
        return f"Tensor({body}, dtype={self.dtype}{flag})"

    # -- the tape --------------------------------------------------------------------------------
    @property
    def is_leaf(self):
        return self._creator is None

    def retain_grad(self):
        """Ask ``backward()`` to store ``.grad`` on this non-leaf Tensor too."""
        self.retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def backward(self, grad=None):
        """Backpropagate from this Tensor; see the class docstring for how ``.grad`` accumulates."""
        from .engine import backward
        backward(self, grad)

    # -- operators (formulas live in numpy_nn/ops/math.py) ----------------------------------------
    def _binary(self, other, op, reverse=False):
        other = other if isinstance(other, Tensor) else Tensor(_scalar_like(other, self.dtype), _copy=False)
        a, b = (other, self) if reverse else (self, other)
        _check_operands(op, a.shape, b.shape)
        return _op(op).apply(a, b)

    def __add__(self, o): return self._binary(o, "Add")
    def __radd__(self, o): return self._binary(o, "Add", reverse=True)
    def __sub__(self, o): return self._binary(o, "Subtract")
    def __rsub__(self, o): return self._binary(o, "Subtract", reverse=True)
    def __mul__(self, o): return self._binary(o, "Multiply")
    def __rmul__(self, o): return self._binary(o, "Multiply", reverse=True)
    def __truediv__(self, o): return self._binary(o, "Divide")
    def __rtruediv__(self, o): return self._binary(o, "Divide", reverse=True)
    def __pow__(self, o): return self._binary(o, "Power")
    def __rpow__(self, o): return self._binary(o, "Power", reverse=True)
    def __matmul__(self, o): return self._binary(o, "MatMul")
    def __rmatmul__(self, o): return self._binary(o, "MatMul", reverse=True)

    def __neg__(self):
        return _op("Negative").apply(self)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        return _op("GetItem").apply(self, index=index)

    # comparisons give plain boolean arrays (they have no gradient)
    def __gt__(self, o): return self.data > np.asarray(o)
    def __ge__(self, o): return self.data >= np.asarray(o)
    def __lt__(self, o): return self.data < np.asarray(o)
    def __le__(self, o): return self.data <= np.asarray(o)

    # == and != against a number or an array compare values (as a Keras / JAX tensor does); against
    # anything else (another Tensor, None, a string) they stay identity, so Tensors remain usable in
    # lists, sets and dict keys
    def __eq__(self, o):
        return self.data == o if isinstance(o, _VALUES) else NotImplemented

    def __ne__(self, o):
        return self.data != o if isinstance(o, _VALUES) else NotImplemented

    __hash__ = object.__hash__

    # -- reductions and shape ----------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _op("Sum").apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _op("Mean").apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _op("Max").apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return -((-self).max(axis=axis, keepdims=keepdims))

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _op("Reshape").apply(self, shape=tuple(shape))

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return _op("Transpose").apply(self, axes=tuple(axes) if axes else None)

    @property
    def T(self):
        return self.transpose()

    def exp(self):
        return _op("Exp").apply(self)

    def log(self):
        return _op("Log").apply(self)

    def sqrt(self):
        return _op("Sqrt").apply(self)

    def abs(self):
        return _op("Abs").apply(self)

    def clip(self, low, high):
        return _op("Clip").apply(self, low=low, high=high)

    def maximum(self, other):
        return self._binary(other, "Maximum")

    def minimum(self, other):
        return self._binary(other, "Minimum")


def _check_operands(op, shape_a, shape_b):
    """A ValueError that names the operation and both shapes, before NumPy raises its own."""
    try:
        if op == "MatMul":  # (the op itself refuses 1-D operands)
            if len(shape_a) >= 2 and len(shape_b) >= 2:
                np.broadcast_shapes(shape_a[:-2] + (1, shape_a[-1]), shape_b[:-2] + (shape_b[-2], 1))
                if shape_a[-1] != shape_b[-2]:
                    raise ValueError
        else:
            np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ValueError(f"Tensor {op}: operands of shapes {tuple(shape_a)} and {tuple(shape_b)} "
                         f"are incompatible") from None


def _scalar_like(value, dtype):
    """Python numbers take the other operand's dtype (NumPy 2 would otherwise promote 0-d arrays)."""
    array = np.asarray(value)
    if array.ndim == 0 and array.dtype.kind in "biuf" and np.issubdtype(dtype, np.floating):
        return array.astype(dtype)
    return _default_array(array, None)


def as_tensor(value):
    """Tensors pass through; anything else becomes a constant Tensor."""
    return value if isinstance(value, Tensor) else Tensor(value)


class Variable(Tensor):
    """A Tensor owned by a layer or optimizer: it requires grad if trainable and is updated in place.

    ``Variable(value, name, trainable=True)``. ``.numpy()`` returns a copy of the values
    (``.data`` is the live array); ``.assign(array)``
    overwrites them in place after checking the shape (so every reference sees the new values).
    ``.path`` is ``"layer_name/variable_name"`` once a layer owns it, as in Keras.
    """

    def __init__(self, value, name=None, trainable=True, dtype=None):
        super().__init__(value, requires_grad=trainable, dtype=dtype, name=name)
        self.trainable = bool(trainable)
        self.path = name
        self.constraint = None  # set by Layer.add_weight; applied by the optimizer after updates

    @property
    def value(self):
        return self.data

    def numpy(self):
        """A copy of the values, as Keras returns (a snapshot: later updates do not change it).
        ``.data`` is the live array."""
        return np.array(self.data)

    def assign(self, value):
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.data.shape:
            raise ValueError(f"Variable '{self.path}': cannot assign a value of shape {value.shape}; "
                             f"expected shape {self.data.shape}")
        self.data[...] = value
        return self

    def assign_add(self, delta):
        self.data += np.asarray(delta, dtype=self.dtype)
        return self

    def assign_sub(self, delta):
        self.data -= np.asarray(delta, dtype=self.dtype)
        return self

    def __repr__(self):
        return f"<Variable path={self.path!r} shape={self.shape} dtype={self.dtype} trainable={self.trainable}>"
