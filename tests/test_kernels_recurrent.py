"""The fast recurrent kernels (numpy_nn/ops/kernels/recurrent.py) against their references.

Each case runs the fast class and its reference (numpy_nn/ops/recurrent.py) on the same arrays,
with and without a padding mask (masked steps at the start, in the middle and at the end), and
compares the output and every gradient. Tolerances, as max |fast - reference| / max(max |reference|, 1)
(the inputs and weights are of order 1, so a gradient that nearly cancels to 1e-5 is compared at
the scale of the terms it came from): float64 within 1e-12, float32 within 1e-5 (sigmoid as
0.5 tanh(z/2) + 1/2, float32 matrix products and BLAS column sums against the reference's float64
sums: float32 rounding of different operation orders). Configurations the kernels do not
specialise (dropout masks, other activations, GRU reset_after=False) must run the reference path
and give its numbers exactly.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.autograd.function import fast_kernels
from numpy_nn.ops import recurrent as reference
from numpy_nn.ops.kernels import recurrent as fast

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def _arrays(name, n, t, f, u, dtype, seed, masked):
    rng = np.random.default_rng(seed)
    k = GATES[name]
    arrays = [rng.standard_normal((n, t, f)), rng.standard_normal((n, u)) * 0.5]
    if name == "LSTM":
        arrays.append(rng.standard_normal((n, u)) * 0.5)
    arrays += [rng.standard_normal((f, k * u)) * 0.5, rng.standard_normal((u, k * u)) * 0.5,
               rng.standard_normal((2, 3 * u) if name == "GRU" else (k * u,)) * 0.3]
    mask = None
    if masked:
        mask = rng.random((n, t)) < 0.7
        mask[0, -1] = mask[-1, 0] = False
    return [a.astype(dtype) for a in arrays], mask


def _run(cls, arrays, params, upstream_seed):
    fn = cls()
    fn.needs_input_grad = (True,) * len(arrays)
    y = fn.forward(*arrays, **params)
    g = np.random.default_rng(upstream_seed).standard_normal(y.shape).astype(y.dtype)
    return fn, y, fn.backward(g)


def _relative(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1.0)


@pytest.mark.parametrize("name", list(GATES))
def test_kernel_is_registered_for_its_reference_and_the_tier_picks_it(name):
    fast_class, reference_class = getattr(fast, name), getattr(reference, name)
    assert fast_kernels()[reference_class] is fast_class and issubclass(fast_class, reference_class)
    assert f"ops.recurrent.{name}" in fast_class.__doc__
    with nn.config.use_kernels("reference"):
        assert reference_class.implementation() is reference_class
    with nn.config.use_kernels("fast"):
        assert reference_class.implementation() is fast_class


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("name,params", [("SimpleRNN", {}), ("LSTM", {}), ("LSTM", {"return_carry": True}),
                                         ("GRU", {})], ids=str)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**16))
def test_fast_kernel_equals_reference(name, params, masked, dtype, n, t, f, u, seed):
    arrays, mask = _arrays(name, n, t, f, u, dtype, seed, masked)
    params = dict(params, mask=mask)
    fn, y, grads = _run(getattr(fast, name), arrays, params, seed + 1)
    assert fn.fast
    _, y_ref, grads_ref = _run(getattr(reference, name), arrays, params, seed + 1)
    assert y.dtype == dtype and y.shape == y_ref.shape
    assert _relative(y, y_ref) <= TOLERANCE[dtype]
    assert len(grads) == len(grads_ref)
    for g, g_ref in zip(grads, grads_ref):
        assert g.shape == g_ref.shape and g.dtype == dtype
        assert _relative(g, g_ref) <= TOLERANCE[dtype]


@pytest.mark.parametrize("name,params", [
    ("LSTM", {"activation": "relu"}), ("LSTM", {"recurrent_activation": "hard_sigmoid"}),
    ("GRU", {"reset_after": False}), ("SimpleRNN", {"activation": "linear"}), ("LSTM", {"dropout": True}),
], ids=str)
def test_other_configurations_take_the_reference_path(name, params):
    arrays, mask = _arrays(name, 2, 4, 3, 2, np.float64, 0, masked=True)
    params = dict(params, mask=mask)
    if params.pop("dropout", False):
        params["input_dropout"] = np.ones((1, 2, 3))
    if params.get("reset_after") is False:
        arrays[-1] = arrays[-1][0]  # bias (3u,) without the recurrent row
    fn, y, grads = _run(getattr(fast, name), arrays, params, 1)
    assert not fn.fast
    _, y_ref, grads_ref = _run(getattr(reference, name), arrays, params, 1)
    np.testing.assert_array_equal(y, y_ref)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_array_equal(g, g_ref)


def test_fast_kernel_skips_the_input_gradient_when_not_needed():
    arrays, _ = _arrays("LSTM", 2, 3, 3, 2, np.float64, 0, False)
    fn = fast.LSTM()
    fn.needs_input_grad = (False,) + (True,) * (len(arrays) - 1)
    fn.forward(*arrays)
    grads = fn.backward(np.ones((2, 3, 2)))
    assert grads[0] is None and all(g is not None for g in grads[1:])
