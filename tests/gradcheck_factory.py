"""The one gradient-check factory every op and layer test uses.

``assert_gradients_match(forward, params)`` compares the tape's gradients of
``L = sum(w * forward())`` (fixed random ``w``) with respect to each Tensor in ``params``
(inputs *and* layer weights, all float64 leaves) against central finite differences, computed
by perturbing each parameter's ``.data`` in place. Small parameters are checked element by
element, large ones along random directions (cheap for big convolutions). Failures name the
parameter, the worst index and both values.

``assert_layer_gradients_match(layer, x, training=...)`` applies it to a layer: the input and every
trainable weight.
"""
import contextlib

import numpy as np

import numpy_nn as nn
from numpy_nn.autograd.function import no_grad


def assert_gradients_match(forward, params, eps=1e-6, atol=1e-6, rtol=1e-4, max_elements=400, directions=4,
                    seed=0, names=None):
    rng = np.random.default_rng(seed)
    names = names or [f"param{i}" for i in range(len(params))]
    for p in params:
        assert p.dtype == np.float64, f"gradient checks run in float64; got {p.dtype}"
    out = forward()
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    weights = [rng.standard_normal(o.shape) for o in outs]
    total = sum(((o * nn.Tensor(w)).sum() for o, w in zip(outs, weights)), nn.Tensor(0.0, dtype=np.float64))
    analytic = [g.data for g in nn.grad(total, list(params))]

    def loss():
        with no_grad():
            o = forward()
        o = list(o) if isinstance(o, (list, tuple)) else [o]
        return float(sum(np.sum(w * oi.data) for w, oi in zip(weights, o)))

    for p, g, name in zip(params, analytic, names):
        assert g.shape == p.shape, f"{name}: gradient shape {g.shape} != parameter shape {p.shape}"
        data = p.data
        if data.size <= max_elements:
            numeric = np.zeros(data.shape)
            for j in range(data.size):
                orig = data.flat[j]
                data.flat[j] = orig + eps
                plus = loss()
                data.flat[j] = orig - eps
                minus = loss()
                data.flat[j] = orig
                numeric.flat[j] = (plus - minus) / (2 * eps)
            err = np.abs(g - numeric)
            bad = err > atol + rtol * np.abs(numeric)
            if bad.any():
                where = np.unravel_index(np.argmax(err), data.shape)
                raise AssertionError(f"{name} {data.shape}: {int(bad.sum())}/{data.size} gradient entries wrong; "
                                     f"worst at {where}: analytic {g[where]:.8g} vs numeric {numeric[where]:.8g}")
        for _ in range(directions):
            v = rng.standard_normal(data.shape)
            v /= np.linalg.norm(v) or 1.0
            orig = data.copy()
            data += eps * v
            plus = loss()
            data[...] = orig - eps * v
            minus = loss()
            data[...] = orig
            numeric_dir = (plus - minus) / (2 * eps)
            analytic_dir = float(np.sum(g * v))
            assert abs(analytic_dir - numeric_dir) <= atol + rtol * abs(numeric_dir) + 1e-7 * np.abs(g).sum(), \
                f"{name} {data.shape}: directional derivative {analytic_dir:.10g} vs numeric {numeric_dir:.10g}"


def assert_layer_gradients_match(layer, x, training=False, **kwargs):
    """Gradient check of a float64 layer w.r.t. its input(s) and every trainable weight."""
    xs = x if isinstance(x, (list, tuple)) else [x]
    inputs = [nn.Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in xs]
    feed = inputs if isinstance(x, (list, tuple)) else inputs[0]
    layer(feed, training=training)  # build
    weights = list(layer.trainable_weights)
    names = [f"input{i}" for i in range(len(inputs))] + [w.path for w in weights]
    assert_gradients_match(lambda: layer(feed, training=training), inputs + weights, names=names, **kwargs)


@contextlib.contextmanager
def floatx64():
    """floatx = float64 inside a Hypothesis test (function-scoped fixtures don't mix with @given)."""
    previous = nn.floatx()
    nn.set_floatx("float64")
    try:
        yield
    finally:
        nn.set_floatx(previous)
