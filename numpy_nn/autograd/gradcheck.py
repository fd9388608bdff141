"""``gradcheck``: compare a backward pass with central finite differences, in float64.

For ``L = sum(w * fn(x_1, ..., x_n))`` with a fixed ``w`` (random, or given as ``upstream``, so
every output element matters), the analytic gradient ``dL/dx_i`` from the tape is compared with

    (L(x + eps*e) - L(x - eps*e)) / (2*eps)

element by element (for inputs up to ``max_elements`` entries) and, always, along a few random
unit directions ``v`` (``dL/dx . v``), which costs two evaluations whatever the input size, so
it stays cheap for a large convolution (the HIPS/autograd ``check_grads`` idea).

``order=2`` checks second derivatives the same way: ``fn`` is replaced by its gradient
``x -> dL1/dx`` computed with ``grad(..., create_graph=True)`` (``L1 = sum(u * fn(x))``, fixed random
``u``), whose tape gradient is compared with central differences of that first gradient.

This is the one finite-difference checker of the project: the tests' factory
(``tests/gradcheck_factory.py``) calls it for ops, layers (input and weights) and whole models.
"""
import numpy as np

from .. import config
from .engine import grad as tape_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when the analytic and numerical gradients disagree; the message says where."""


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _gradient_of(fn, wrt, rng):
    """The function x -> d sum(u * fn(x)) / dx[wrt] (u fixed, drawn once), its outputs on the tape."""
    weights = []

    def gradient(*args):
        outs = _as_list(fn(*args))
        if not weights:
            weights.extend(rng.standard_normal(o.shape) for o in outs)
        total = sum(((o * Tensor(u)).sum() for o, u in zip(outs, weights)), Tensor(0.0))
        return tape_grad(total, [args[i] for i in wrt], create_graph=True)
    return gradient


def numerical_gradient(loss, x, eps=1e-6):
    """Central differences of the scalar ``loss()`` w.r.t. each element of the array ``x`` it reads.

        numeric[j] = (loss(x + eps e_j) - loss(x - eps e_j)) / (2 eps)

    ``x`` is perturbed in place, one element at a time, and restored. ``gradcheck`` uses it; so
    does ``numpy-nn explain``, which prints it beside each backward term.
    """
    numeric = np.zeros(x.shape)
    for j in range(x.size):
        orig = x.flat[j]
        x.flat[j] = orig + eps
        plus = loss()
        x.flat[j] = orig - eps
        minus = loss()
        x.flat[j] = orig
        numeric.flat[j] = (plus - minus) / (2 * eps)
    return numeric


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, max_elements=2048, directions=3, seed=0,
              raise_exception=True, wrt=None, names=None, upstream=None, order=1):
    """Check the gradients of ``fn`` with respect to its inputs. Returns True, or raises ``GradcheckError``.

    ``fn(*inputs)`` returns a Tensor (or a list of Tensors, which are all checked).

    * ``inputs``: arrays, copied to float64 leaf Tensors; or float64 Tensors that require grad,
      passed as they are, their ``.data`` perturbed in place and restored (so ``fn`` may close
      over them: that is how a layer's weights are checked).
    * ``wrt``: indices of the inputs to check (default: all); the others are passed to ``fn``
      unchanged (integer labels, masks, constants) and not differentiated.
    * ``names``: one name per input for the error message (default ``"input i"``).
    * ``upstream``: the weights ``w`` of ``L`` (an array, or a list with one per output);
      default: standard normal, drawn from ``seed`` (which also draws the directions).
    * ``max_elements``: inputs up to this size are checked element by element; every input is
      also checked along ``directions`` random unit directions, with the tolerance
      ``atol + rtol*|numeric| + 1e-7 * sum|dL/dx|`` (the last term allows for rounding in a
      long float64 sum).
    * ``raise_exception=False``: return False instead of raising.
    * ``order=2``: check the second derivatives instead (``create_graph=True``, see the module
      docstring); ``upstream`` then weighs the first gradients, one array per checked input.

    ``fn`` is evaluated on the tape for the finite differences too, so it may take a gradient
    itself (``grad(..., create_graph=True)``, as a gradient penalty does).

    floatx is float64 during the check, so layers built inside ``fn`` compute in float64. The
    error names the input, its shape, how many elements disagree, the worst one's index and
    both values.
    """
    rng = np.random.default_rng(seed)
    wrt = list(range(len(inputs))) if wrt is None else [int(i) for i in wrt]
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order must be 1 or 2, got {order!r}")
    if order == 2:
        fn = _gradient_of(fn, wrt, rng)
    names = list(names) if names is not None else [f"input {i}" for i in range(len(inputs))]
    previous = config.floatx()
    config.set_floatx("float64")
    try:
        args = list(inputs)
        for i in wrt:
            if isinstance(args[i], Tensor):
                if args[i].dtype != np.float64 or not args[i].requires_grad:
                    raise ValueError(f"gradcheck: {names[i]} must be a float64 Tensor that requires grad "
                                     f"(got dtype {args[i].dtype}, requires_grad={args[i].requires_grad})")
            else:
                args[i] = Tensor(np.array(args[i], dtype=np.float64), requires_grad=True)
        checked = [args[i] for i in wrt]

        outs = _as_list(fn(*args))
        if upstream is None:
            weights = [rng.standard_normal(o.shape) for o in outs]
        else:
            weights = [np.asarray(w, dtype=np.float64) for w in _as_list(upstream)]
        total = sum(((o * Tensor(w)).sum() for o, w in zip(outs, weights)), Tensor(0.0))
        analytic = [g.data for g in tape_grad(total, checked)]

        def loss():
            values = _as_list(fn(*args))  # on the tape: fn may take a gradient inside (a gradient penalty)
            return float(sum(np.sum(w * o.data) for w, o in zip(weights, values)))

        def fail(msg):
            if raise_exception:
                raise GradcheckError(f"gradcheck: {msg}")
            return False

        for i, tensor, g in zip(wrt, checked, analytic):
            x, where_name = tensor.data, f"{names[i]} (shape {tensor.shape})"
            if x.size <= max_elements:
                numeric = numerical_gradient(loss, x, eps)
                error = np.abs(g - numeric)
                bad = error > atol + rtol * np.abs(numeric)
                if bad.any():
                    worst = tuple(int(k) for k in np.unravel_index(np.argmax(error), x.shape))
                    return fail(f"{where_name}: {int(bad.sum())} of {x.size} elements disagree; worst at index "
                                f"{worst}: analytic {g[worst]:.8g}, numeric {numeric[worst]:.8g} "
                                f"(abs diff {error[worst]:.3g})")
            for _ in range(directions):
                v = rng.standard_normal(x.shape)
                v /= np.linalg.norm(v) or 1.0
                orig = x.copy()
                x += eps * v
                plus = loss()
                x[...] = orig - eps * v
                minus = loss()
                x[...] = orig
                numeric_dir = (plus - minus) / (2 * eps)
                analytic_dir = float(np.sum(g * v))
                if abs(analytic_dir - numeric_dir) > atol + rtol * abs(numeric_dir) + 1e-7 * np.abs(g).sum():
                    return fail(f"{where_name}: directional derivative disagrees: analytic {analytic_dir:.10g}, "
                                f"numeric {numeric_dir:.10g}")
        return True
    finally:
        config.set_floatx(previous)
