"""``gradcheck``: compare a backward pass with central finite differences, in float64.

For ``L = sum(w * fn(x_1, ..., x_n))`` with a fixed random ``w`` (so every output element
matters), the analytic gradient ``dL/dx_i`` from the tape is compared with

    (L(x + eps*e) - L(x - eps*e)) / (2*eps)

element by element (for inputs up to ``max_elements`` entries) and, always, along a few random
unit directions ``v`` (``dL/dx . v``), which costs two evaluations whatever the input size, so
it stays cheap for a large convolution (the HIPS/autograd ``check_grads`` idea).
"""
import numpy as np

from .. import config
from .engine import grad as tape_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when the analytic and numerical gradients disagree; the message says where."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, max_elements=2048, directions=3, seed=0,
              raise_exception=True):
    """Check the gradients of ``fn`` with respect to every input. Returns True, or raises.

    ``fn(*tensors)`` returns a Tensor (or a list of Tensors, which are all checked). ``inputs`` are
    arrays (cast to float64); floatx is float64 during the check so layers built inside ``fn``
    compute in float64.
    """
    rng = np.random.default_rng(seed)
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    previous = config.floatx()
    config.set_floatx("float64")
    try:
        def outputs_of(values, requires_grad=False):
            tensors = [Tensor(v, requires_grad=requires_grad) for v in values]
            out = fn(*tensors)
            return tensors, (list(out) if isinstance(out, (list, tuple)) else [out])

        _, outs = outputs_of(arrays)
        weights = [rng.standard_normal(o.shape) for o in outs]

        def loss(values):
            _, o = outputs_of(values)
            return float(sum(np.sum(w * oi.data) for w, oi in zip(weights, o)))

        tensors, outs = outputs_of(arrays, requires_grad=True)
        total = sum(((oi * Tensor(w)).sum() for w, oi in zip(weights, outs)), Tensor(0.0))
        analytic = [g.data for g in tape_grad(total, tensors)]

        for i, (x, g) in enumerate(zip(arrays, analytic)):
            if x.size <= max_elements:
                numeric = np.zeros_like(x)
                flat = numeric.reshape(-1)
                for j in range(x.size):
                    orig = x.flat[j]
                    x.flat[j] = orig + eps
                    plus = loss(arrays)
                    x.flat[j] = orig - eps
                    minus = loss(arrays)
                    x.flat[j] = orig
                    flat[j] = (plus - minus) / (2 * eps)
                bad = np.abs(g - numeric) > atol + rtol * np.abs(numeric)
                if bad.any():
                    where = np.unravel_index(np.argmax(np.abs(g - numeric)), x.shape)
                    msg = (f"gradcheck: input {i} (shape {x.shape}): {int(bad.sum())} of {x.size} elements "
                           f"disagree; worst at index {where}: analytic {g[where]:.6g}, numeric "
                           f"{numeric[where]:.6g}, max abs diff {np.max(np.abs(g - numeric)):.3g}")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
            for _ in range(directions):
                v = rng.standard_normal(x.shape)
                v /= np.linalg.norm(v) or 1.0
                base = x.copy()
                arrays[i] = base + eps * v
                plus = loss(arrays)
                arrays[i] = base - eps * v
                minus = loss(arrays)
                arrays[i] = base
                x = base
                numeric_dir = (plus - minus) / (2 * eps)
                analytic_dir = float(np.sum(g * v))
                if abs(analytic_dir - numeric_dir) > atol + rtol * abs(numeric_dir):
                    msg = (f"gradcheck: input {i} (shape {x.shape}): directional derivative disagrees: "
                           f"analytic {analytic_dir:.8g}, numeric {numeric_dir:.8g}")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
        return True
    finally:
        config.set_floatx(previous)
