"""Differentiable operations, one file per family; each op is a Function with its formulas.

Every Function in ``ops/<family>.py`` is the *reference* implementation of its op, written to be
read beside its docstring formula. Fast kernels live apart in ``ops/kernels/`` and are used in
the default ``"fast"`` tier (``numpy_nn.config.set_kernels``); importing this package registers
them.
"""
from . import kernels  # noqa: F401  (registers the fast tier)
