"""The autograd core: Tensor, Variable, Function, the tape's backward(), grad(), no_grad(), gradcheck().

Read in this order: ``function.py`` (what an op is), ``tensor.py`` (what flows),
``engine.py`` (how gradients flow back), ``gradcheck.py`` (how we know they are right).

Higher-order gradients: ``grad(output, inputs, create_graph=True)`` runs each op's
``tensor_backward`` (its gradient formula written with Tensor operations) instead of its NumPy
``backward``, so the backward pass is recorded on the tape and the gradients it returns can be
differentiated again (Hessian-vector products, gradient penalties). An op without a
``tensor_backward`` gives the right values but raises, naming itself, if a second derivative
has to pass through it. ``gradcheck(..., order=2)`` checks second derivatives; docs/autograd.md
lists the ops that have them.
"""
from .engine import backward, grad
from .function import Function, fast_kernel_for, fast_kernels, is_grad_enabled, no_grad, unbroadcast
from .gradcheck import GradcheckError, gradcheck
from .tensor import Tensor, Variable, as_tensor

__all__ = ["Tensor", "Variable", "Function", "backward", "grad", "no_grad", "is_grad_enabled",
           "unbroadcast", "fast_kernel_for", "fast_kernels", "gradcheck", "GradcheckError", "as_tensor"]
