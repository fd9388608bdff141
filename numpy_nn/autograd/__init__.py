"""The autograd core: Tensor, Variable, Function, the tape's backward(), grad(), no_grad(), gradcheck().

Read in this order: ``function.py`` (what an op is), ``tensor.py`` (what flows),
``engine.py`` (how gradients flow back), ``gradcheck.py`` (how we know they are right).
"""
from .engine import backward, grad
from .function import Function, fast_kernel_for, fast_kernels, is_grad_enabled, no_grad, unbroadcast
from .gradcheck import GradcheckError, gradcheck
from .tensor import Tensor, Variable, as_tensor

__all__ = ["Tensor", "Variable", "Function", "backward", "grad", "no_grad", "is_grad_enabled",
           "unbroadcast", "fast_kernel_for", "fast_kernels", "gradcheck", "GradcheckError", "as_tensor"]
