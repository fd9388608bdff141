"""Exercises: write the backward pass of an op yourself and have the library check it, term by term.

    import numpy_nn as nn

    def backward(x, kernel, bias, g):          # the "dense" exercise: y = x @ kernel + bias
        return g @ kernel.T, x.T @ g, g.sum(axis=0)

    report = nn.exercises.check("dense", backward)
    print(report)                              # one row per gradient term
    assert report.passed

``check(op, backward)`` swaps ``backward`` in for the op's own backward pass (a Function whose
forward is the library's reference-tier op and whose backward calls yours) and checks it three
ways, in float64 on tiny random inputs (``seed``):

1. **the naive-loop oracle** (``numpy_nn/exercises/oracles.py``): each term is compared with a
   gradient computed one element at a time, straight from the formula; the report gives the
   worst element, its index, your value and the expected one;
2. **a gradient check**: ``nn.gradcheck`` runs the swapped op on the tape and compares your
   term with central finite differences of the forward pass (it needs nothing but the forward);
3. **Keras**, when it is installed with the JAX backend: the same op written with ``keras.ops``
   and differentiated by ``jax.vjp`` (float32, so compared to 1e-4 relative).

A term passes when its shape is right and all the checks that ran agree. The exercises and their
signatures (``list_exercises()``, ``show(name)``, ``numpy-nn exercise list``):

=====================  =================================================================  ================================
op                     backward(...)                                                      returns
=====================  =================================================================  ================================
dense                  (x, kernel, bias, g)                                               (dx, dkernel, dbias)
relu                   (x, g)                                                             (dx,)
softmax_crossentropy   (logits, labels, g)         g: (N,), one per sample                (dlogits,)
conv2d                 (x, kernel, bias, g, strides, padding)                             (dx, dkernel, dbias)
max_pool2d             (x, g, pool_size, strides, padding)                                (dx,)
batch_norm             (x, gamma, beta, g, epsilon)   training mode, stats over all       (dx, dgamma, dbeta)
                       axes but the last
dropout                (x, mask, rate, g)             y = x * mask / (1 - rate)           (dx,)
depthwise_conv2d       (x, kernel, bias, g, strides, padding)                             (dx, dkernel, dbias)
lstm_cell              (x, h, c, kernel, recurrent_kernel, bias, dh_next, dc_next)        (dx, dh, dc, dkernel,
                                                                                           drecurrent_kernel, dbias)
=====================  =================================================================  ================================

Shapes are Keras's (channels_last; kernels (F, U), (kh, kw, C, F), (kh, kw, C, dm), LSTM gates
i, f, c, o side by side). A function returning a single array is accepted for one-term ops.
Starter files: examples/exercises/<op>.py; docs/study-kit.md walks through one.
"""
import importlib.util
import os
import textwrap
import traceback
from dataclasses import dataclass

import numpy as np

from ..autograd.function import Function, no_grad
from ..autograd.gradcheck import GradcheckError, gradcheck
from ..autograd.tensor import Tensor
from ..config import use_kernels
from .catalog import EXERCISES, Exercise

__all__ = ["check", "list_exercises", "get", "show", "starter", "Report", "TermResult", "Exercise", "EXERCISES"]

ATOL, RTOL = 1e-6, 1e-5          # float64: learner vs naive-loop oracle
KERAS_RTOL = 1e-4                 # float32 Keras: |yours - keras| <= KERAS_RTOL * max(1, max|keras|)


def list_exercises():
    """The exercise names, in the order of the table above."""
    return list(EXERCISES)


def get(op):
    """The ``Exercise`` called ``op``; a ValueError lists the names otherwise."""
    try:
        return EXERCISES[op]
    except (KeyError, TypeError):
        raise ValueError(f"unknown exercise {op!r}; the exercises are: {', '.join(EXERCISES)}") from None


def show(op):
    """The text ``numpy-nn exercise show NAME`` prints: signature, forward formula, each term's formula."""
    e = get(op)
    lines = [f"{e.name}: {e.title}", "", f"    def {e.signature}", "", "forward:", f"    {e.forward_formula}", "",
             "your backward must return, in this order:"]
    width = max(len(term) for term in e.terms)
    lines += [f"    {term:<{width}}  (gradient w.r.t. {source})  {formula}"
              for term, (source, formula) in e.terms.items()]
    if e.notes:
        lines += ["", e.notes]
    lines += ["", f"starter file: examples/exercises/{e.name}.py     "
                  f"check it: numpy-nn exercise check {e.name} FILE.py"]
    return "\n".join(lines)


def _wrap(text, first, rest, width=100):
    return textwrap.fill(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def starter(op):
    """The text of the starter file examples/exercises/<op>.py: the signature, the formulas, an empty body."""
    e = get(op)
    width = max(len(term) for term in e.terms)
    terms = "\n".join(_wrap(f"{term:<{width}}  {formula}", "    ", " " * (width + 6))
                      for term, (_, formula) in e.terms.items())
    notes = f"\n{e.notes}\n" if e.notes else ""
    returns = ", ".join(e.terms) + ("," if len(e.terms) == 1 else "")
    return f'''"""Exercise {e.name}: {e.title}.

Forward (what the library computes; Keras's conventions):

{_wrap(e.forward_formula, "    ", "    ")}

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

{terms}
{notes}
Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check {e.name} {e.name}.py
    # or, in Python:  nn.exercises.check("{e.name}", backward)
"""
import numpy as np


def {e.signature.split(" -> ")[0]}:
    # Your code here: compute {returns} and return them as a tuple.
    raise NotImplementedError("exercise {e.name}: write the backward pass")
'''


@dataclass
class TermResult:
    """One gradient term of a report."""
    term: str
    formula: str
    expected_shape: tuple
    received_shape: tuple = None      # None: the term was not produced
    max_error: float = None           # max |yours - oracle|
    index: tuple = None               # where that worst element is
    yours: float = None
    expected: float = None
    gradcheck_ok: bool = None         # None: not run
    gradcheck_message: str = ""
    keras_error: float = None         # max |yours - keras|, None when Keras did not run
    keras_ok: bool = None

    @property
    def shape_ok(self):
        return self.received_shape == self.expected_shape

    @property
    def passed(self):
        return (self.shape_ok and self.max_error is not None and self.max_error <= ATOL + RTOL * abs(self.expected)
                and self.gradcheck_ok is not False and self.keras_ok is not False)

    def lines(self):
        verdict = "ok   " if self.passed else "WRONG"
        if self.received_shape is None:
            detail = "not returned"
        elif not self.shape_ok:
            detail = f"shape {self.received_shape}, expected {self.expected_shape}"
        else:
            detail = (f"worst |yours - expected| = {self.max_error:.3g} at index {self.index}: yours {self.yours:.6g}, "
                      f"expected {self.expected:.6g}")
        verdict_fd = {True: "agree", False: "DISAGREE", None: "not run"}[self.gradcheck_ok]
        checks = [f"finite differences: {verdict_fd}"]
        if self.keras_ok is not None:
            checks.append(f"Keras: {'agrees' if self.keras_ok else 'DISAGREES'} (max diff {self.keras_error:.2g})")
        out = [f"  {verdict} {self.term:<18} {detail}", f"        {'':<18} {'; '.join(checks)}"]
        if not self.passed:
            out.append(f"        {'':<18} should satisfy: {self.formula}")
            if self.gradcheck_ok is False and self.gradcheck_message:
                out.append(f"        {'':<18} {self.gradcheck_message}")
        return out


@dataclass
class Report:
    """What ``check`` returns: ``.passed``, ``.rows`` (one ``TermResult`` per term), ``print(report)``."""
    exercise: Exercise
    rows: list
    error: str = None                 # the learner's function raised, or returned the wrong structure
    keras_note: str = ""

    @property
    def passed(self):
        return self.error is None and all(row.passed for row in self.rows)

    @property
    def failed_terms(self):
        """Names of the terms that did not pass (every term when the function raised)."""
        return [row.term for row in self.rows if not row.passed]

    def __str__(self):
        e = self.exercise
        head = f"nn.exercises.check({e.name!r}): {'PASSED' if self.passed else 'FAILED'}"
        if not self.passed and self.error is None:
            head += f" ({len(self.failed_terms)} of {len(self.rows)} terms wrong: {', '.join(self.failed_terms)})"
        lines = [head, f"  {e.signature}", f"  forward: {e.forward_formula}"]
        if self.error:
            lines.append(f"  your backward could not be checked: {self.error}")
            lines += [f"  expected {row.term}: {row.formula}" for row in self.rows]
        else:
            for row in self.rows:
                lines += row.lines()
        if self.keras_note:
            lines.append(f"  Keras: {self.keras_note}")
        return "\n".join(lines)

    __repr__ = __str__


class _WrongShape(Exception):
    pass


def _normalize(exercise, returned):
    """The learner's return value as a tuple with one entry per term, or a ValueError saying what is wrong."""
    if isinstance(returned, np.ndarray) and len(exercise.terms) == 1:
        returned = (returned,)
    if not isinstance(returned, (tuple, list)):
        raise ValueError(f"backward must return a tuple {tuple(exercise.terms)}; it returned {type(returned).__name__}")
    if len(returned) != len(exercise.terms):
        raise ValueError(f"backward must return {len(exercise.terms)} arrays {tuple(exercise.terms)}; "
                         f"it returned {len(returned)}")
    return tuple(None if r is None else np.asarray(r, dtype=np.float64) for r in returned)


def _call(exercise, backward, inputs, params, g):
    values = {**{k: v.copy() for k, v in inputs.items()}, **params, **exercise.upstream(g.copy())}
    return _normalize(exercise, backward(*(values[name] for name in exercise.arguments)))


def _forward(exercise, arrays, params):
    """The op's output (an array) from the library's reference tier."""
    with no_grad(), use_kernels("reference"):
        tensors = {name: Tensor(a) for name, a in zip(exercise.differentiable, arrays)}
        return exercise.reference(tensors, params).data


def swapped(exercise, backward, params):
    """A Function class: forward = the library's reference op, backward = ``backward`` (the learner's)."""

    class Swapped(Function):
        def forward(self, *arrays):
            self.arrays = arrays
            return _forward(exercise, arrays, params)

        def backward(self, g):
            inputs = dict(zip(exercise.differentiable, self.arrays))
            grads = _call(exercise, backward, inputs, params, g)
            out = []
            for needed, grad, a in zip(self.needs_input_grad, grads, self.arrays):
                if not needed:
                    out.append(None)
                elif grad is None or grad.shape != a.shape:
                    raise _WrongShape()
                else:
                    out.append(grad)
            return tuple(out)

    Swapped.__name__ = Swapped.__qualname__ = f"Learner_{exercise.name}"
    return Swapped


def _keras_values(exercise, inputs, params, g):
    """{term: Keras's gradient} (float32 through jax.vjp), or a string saying why Keras did not run."""
    if importlib.util.find_spec("keras") is None:
        return 'not installed (pip install -e ".[keras]")'
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    if keras.backend.backend() != "jax":
        return f"skipped: needs KERAS_BACKEND=jax (the backend is {keras.backend.backend()!r})"
    import jax
    import jax.numpy as jnp
    fn = exercise.keras(keras, inputs, params)
    primals = [jnp.asarray(inputs[name], dtype=jnp.float32) for name in exercise.differentiable]
    out, vjp = jax.vjp(fn, *primals)
    grads = vjp(jnp.asarray(g, dtype=out.dtype))
    return {term: np.asarray(grad, dtype=np.float64) for term, grad in zip(exercise.terms, grads)}


def check(op, backward, seed=0, keras=None):
    """Check a learner's ``backward`` for the exercise ``op``; returns a ``Report`` (``.passed``, rows per term).

    ``backward``: a function with the signature ``show(op)`` prints (see the module docstring),
    taking float64 NumPy arrays. ``seed`` draws the inputs and the upstream gradient ``g``.
    ``keras``: None (default) compares with Keras when it is installed, True requires it (an
    ImportError otherwise), False skips it.
    """
    exercise = get(op)
    if not callable(backward):
        raise TypeError(f"nn.exercises.check({op!r}, backward): backward must be a function, "
                        f"got {type(backward).__name__}")
    rng = np.random.default_rng(seed)
    inputs, params = exercise.make(rng)
    arrays = [inputs[name] for name in exercise.differentiable]
    g = rng.standard_normal(_forward(exercise, arrays, params).shape)
    rows = [TermResult(term, formula, tuple(inputs[source].shape))
            for term, (source, formula) in exercise.terms.items()]
    try:
        grads = _call(exercise, backward, inputs, params, g)
    except Exception as error:  # the learner's code: report what it raised, never crash the check
        where = traceback.extract_tb(error.__traceback__)[-1]
        return Report(exercise, rows, error=f"{type(error).__name__}: {error} (at {os.path.basename(where.filename)}, "
                                            f"line {where.lineno})")
    expected = exercise.oracle(inputs, params, exercise.upstream(g))
    op_class = swapped(exercise, backward, params)
    for i, (row, grad) in enumerate(zip(rows, grads)):
        if grad is None:
            continue
        row.received_shape = tuple(grad.shape)
        if not row.shape_ok:
            continue
        want = expected[row.term]
        error = np.abs(grad - want)
        worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
        row.index = tuple(int(k) for k in worst)
        row.max_error = float(error[worst]) if error.size else 0.0
        row.yours, row.expected = (float(grad[worst]), float(want[worst])) if error.size else (0.0, 0.0)
        try:
            gradcheck(lambda *args: op_class.apply(*args), arrays, wrt=[i], upstream=g, names=list(exercise.terms))
            row.gradcheck_ok = True
        except GradcheckError as failure:
            row.gradcheck_ok, row.gradcheck_message = False, str(failure)
        except _WrongShape:
            row.gradcheck_ok = None
    report = Report(exercise, rows)
    if keras is not False:
        try:
            values = _keras_values(exercise, inputs, params, g)
        except Exception as error:  # a broken Keras / JAX install: say so, unless Keras was required
            if keras:
                raise
            values = f"could not run ({type(error).__name__}: {error})"
        if isinstance(values, str):
            if keras:
                raise ImportError(f"nn.exercises.check(keras=True): Keras {values}")
            report.keras_note = values
        else:
            report.keras_note = "compared in float32 through jax.vjp"
            for row, grad in zip(rows, grads):
                if row.shape_ok and grad is not None:
                    theirs = values[row.term]
                    row.keras_error = float(np.max(np.abs(grad - theirs))) if theirs.size else 0.0
                    row.keras_ok = row.keras_error <= KERAS_RTOL * max(1.0, float(np.max(np.abs(theirs), initial=0.0)))
    return report
