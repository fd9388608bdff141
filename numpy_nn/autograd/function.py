"""``Function``: one differentiable operation, with its forward and backward side by side.

A subclass implements two methods and nothing else:

* ``forward(self, *arrays, **params) -> ndarray`` computes the output from plain NumPy arrays
  and stores on ``self`` whatever the backward pass needs;
* ``backward(self, grad_output) -> tuple`` returns one gradient per positional input, each with
  the input's shape (or a shape that broadcasts to it), or ``None`` for an input that needs no
  gradient. ``self.needs_input_grad[i]`` says whether input ``i`` needs one, so expensive
  gradients (the input gradient of a first convolution, say) can be skipped.

and, optionally, a third one for higher-order gradients:

* ``tensor_backward(self, g, y, *inputs) -> tuple``: the same gradients as ``backward``, written
  with Tensor operations on Tensors (``g`` the output's gradient, ``y`` the output, ``inputs``
  the input Tensors; keyword parameters are in ``self.params``). ``nn.grad(...,
  create_graph=True)`` calls it, so the gradients it returns are themselves on the tape and can
  be differentiated again. An op without one still gives the right gradient values (its NumPy
  ``backward`` runs), but differentiating *through* them raises an error naming the op.

``Function.apply(*inputs, **params)`` runs ``forward`` and, when gradients are enabled and an
input requires one, records the call on the tape: the output Tensor remembers the Function
instance, which remembers its input Tensors (and its keyword parameters, ``params``). That chain
*is* the tape.

Two tiers. The Function subclasses in ``numpy_nn/ops/<family>.py`` are the *reference* tier:
their ``forward``/``backward`` read like the docstring formula. A *fast* kernel for the same op
lives in ``numpy_nn/ops/kernels/<family>.py``: a subclass of its reference, registered with
``@fast_kernel_for(Reference)``, tested to give the same numbers. ``apply`` on the reference
class runs the fast subclass when ``numpy_nn.config.kernels() == "fast"`` (the default) and
the reference itself in the ``"reference"`` tier; every other line of the library is the same
in both tiers.
"""
import contextlib

import numpy as np

from .. import config

_grad_enabled = True
_FAST_KERNELS = {}  # reference Function class -> its fast-tier subclass


def fast_kernel_for(reference):
    """Class decorator for a fast kernel: ``@fast_kernel_for(ops.conv.Conv2D) class Conv2D(ops.conv.Conv2D)``.

    Registers the decorated subclass as the implementation of ``reference`` in the fast tier and
    records ``cls.reference``, the op it must equal (tests compare the two).
    """
    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, reference)):
            raise TypeError(f"fast_kernel_for({reference.__name__}): {cls!r} must subclass its reference")
        cls.reference = reference
        _FAST_KERNELS[reference] = cls
        return cls
    return register


def fast_kernels():
    """{reference class: fast class} for every registered fast kernel."""
    return dict(_FAST_KERNELS)


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

    def tensor_backward(self, g, y, *inputs):
        """``backward`` as Tensor operations, for ``create_graph=True`` (see the module docstring).

        This default has no formula to record: it runs the NumPy ``backward`` on ``g``'s values and
        returns each gradient as a ``NumpyOnlyGradient``, right in value but not differentiable.
        """
        grads = self.backward(g.data)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return tuple(None if d is None else NumpyOnlyGradient.apply(g, *inputs, value=d, op=type(self).__name__)
                     for d in grads)

    @classmethod
    def implementation(cls):
        """The class that runs for this op in the current tier (itself, or its fast kernel)."""
        if config.kernels() == "fast":
            return _FAST_KERNELS.get(cls, cls)
        return cls

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (or arrays, which become constants) and record it on the tape."""
        from .tensor import Tensor, as_tensor

        fn = cls.implementation()()
        tensors = tuple(as_tensor(x) for x in inputs)
        output = fn.forward(*(t.data for t in tensors), **params)
        requires_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        result = Tensor(output, requires_grad=requires_grad, _copy=False)
        if requires_grad:
            fn.inputs, fn.params = tensors, params
            fn.needs_input_grad = tuple(t.requires_grad for t in tensors)
            result._creator = fn
        return result

    def __repr__(self):
        return f"<{type(self).__name__}>"


class NumpyOnlyGradient(Function):
    """A gradient computed by an op whose backward exists in NumPy only: its value, and no derivative.

    Its inputs are the op's incoming gradient and inputs (what the gradient depends on), so the
    tape knows when a second derivative would need it, and then says which op is missing one.
    """

    def forward(self, *arrays, value, op):
        self.op = op
        return value

    def backward(self, grad_output):
        raise NotImplementedError(
            f"create_graph=True: {self.op}.backward is written in NumPy only (no tensor_backward), so the "
            f"gradient it produced cannot be differentiated again; higher-order gradients through {self.op} "
            "are not available (see docs/autograd.md for the ops that have them)")


def as_array_grad(grad, like):
    """Return ``grad`` as an ndarray with ``like``'s dtype (backward may produce float64 scalars)."""
    grad = np.asarray(grad)
    if grad.dtype != like.dtype:
        grad = grad.astype(like.dtype, copy=False)
    return grad
