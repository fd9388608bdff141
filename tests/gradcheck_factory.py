"""The one gradient-check factory every op and layer test uses, on top of the public ``nn.gradcheck``.

``assert_gradients_match(forward, params)`` checks the tape's gradients of
``L = sum(w * forward())`` (fixed random ``w``) with respect to each Tensor in ``params``
(inputs *and* layer weights, float64 leaves that require grad) against central finite
differences: ``nn.gradcheck`` perturbs each parameter's ``.data`` in place, element by element
for small parameters and along random directions for large ones. A failure names the parameter,
the worst index and both values. There is no second finite-difference implementation in tests/.

``assert_layer_gradients_match(layer, x, training=...)`` applies it to a layer: the input(s) and
every trainable weight.

``assert_second_derivatives_match(forward, params)`` does the same one order up (``order=2``):
the first gradient, computed on the tape with ``create_graph=True``, is differentiated again.
"""
import contextlib

import numpy as np

import numpy_nn as nn


def assert_gradients_match(forward, params, eps=1e-6, atol=1e-6, rtol=1e-4, max_elements=400, directions=4,
                           seed=0, names=None, upstream=None):
    """``nn.gradcheck`` of the zero-argument ``forward`` (a closure over ``params``) w.r.t. ``params``."""
    names = names or [f"param{i}" for i in range(len(params))]
    for p, name in zip(params, names):
        assert isinstance(p, nn.Tensor) and p.dtype == np.float64, \
            f"{name}: gradient checks run on float64 Tensors; got {type(p).__name__} {getattr(p, 'dtype', '')}"
    nn.gradcheck(lambda *_: forward(), list(params), eps=eps, atol=atol, rtol=rtol, max_elements=max_elements,
                 directions=directions, seed=seed, names=names, upstream=upstream)


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


def assert_second_derivatives_match(forward, params, eps=1e-6, atol=1e-6, rtol=1e-4, max_elements=0, directions=3,
                                    seed=0, names=None):
    """``nn.gradcheck(..., order=2)``: the tape's second derivatives of ``L = sum(u * forward())``
    (``nn.grad(..., create_graph=True)`` differentiated again) against central finite differences
    of the first gradient, w.r.t. each float64 Tensor in ``params``. By default along ``directions``
    random unit directions only (two evaluations each, whatever the size; pass ``max_elements``
    to also check element by element)."""
    names = names or [f"param{i}" for i in range(len(params))]
    nn.gradcheck(lambda *_: forward(), list(params), eps=eps, atol=atol, rtol=rtol, max_elements=max_elements,
                 directions=directions, seed=seed, names=names, order=2)
