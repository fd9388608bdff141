"""``Function``: one differentiable operation, with its forward and backward side by side.

A subclass implements two methods and nothing else:

* ``forward(self, *arrays, **params) -> ndarray`` computes the output from plain NumPy arrays
  and stores on ``self`` whatever the backward pass needs;
* ``backward(self, grad_output) -> tuple`` returns one gradient per positional input, each with
  the input's shape (or a shape that broadcasts to it), or ``None`` for an input that needs no
  gradient. ``self.needs_input_grad[i]`` says whether input ``i`` needs one, so expensive
  gradients (the input gradient of a first convolution, say) can be skipped.

``Function.apply(*inputs, **params)`` runs ``forward`` and, when gradients are enabled and an
input requires one, records the call on the tape: the output Tensor remembers the Function
instance, which remembers its input Tensors. That chain *is* the tape.
"""
import contextlib

import numpy as np

_grad_enabled = True


def is_grad_enabled():
    """True unless inside ``no_grad()``."""
    return _grad_enabled


@contextlib.contextmanager
def no_grad():
    """Context manager: operations inside record nothing on the tape (inference, optimizer steps)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    If ``y = broadcast(x)`` then ``dL/dx = sum of dL/dy over every broadcast axis``. This is the
    one place in the library where that summation happens.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    def __init__(self):
        self.inputs = ()
        self.needs_input_grad = ()

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_output):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (or arrays, which become constants) and record it on the tape."""
        from .tensor import Tensor, as_tensor

        fn = cls()
        tensors = tuple(as_tensor(x) for x in inputs)
        output = fn.forward(*(t.data for t in tensors), **params)
        requires_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        result = Tensor(output, requires_grad=requires_grad, _copy=False)
        if requires_grad:
            fn.inputs = tensors
            fn.needs_input_grad = tuple(t.requires_grad for t in tensors)
            result._creator = fn
        return result

    def __repr__(self):
        return f"<{type(self).__name__}>"


def as_array_grad(grad, like):
    """Return ``grad`` as an ndarray with ``like``'s dtype (backward may produce float64 scalars)."""
    grad = np.asarray(grad)
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype, copy=False)
    return grad
