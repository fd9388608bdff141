"""The autograd core (tape, backward accumulation, grad(), no_grad, unbroadcasting, gradcheck) and the
math ops behind Tensor's operators (numpy_nn/ops/math.py): float64 gradient checks, a naive matmul
oracle, Keras parity at kinks and ties."""
import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import numpy_nn as nn
from numpy_nn.autograd import GradcheckError, unbroadcast
from numpy_nn.autograd.function import Function
from numpy_nn.ops import math as M
from tests import oracles_math
from tests.gradcheck_factory import assert_gradients_match
from tests.keras_helpers import import_keras


def test_backward_accumulates_and_is_documented():
    x = nn.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [2, 4, 6])
    y.backward()  # second call adds: documented PyTorch-style accumulation
    np.testing.assert_allclose(x.grad, [4, 8, 12])
    x.zero_grad()
    assert x.grad is None


def test_grad_of_intermediate_and_leaf_without_touching_grad():
    x = nn.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    h = x * 3.0
    out = (h * h).sum()
    gh, gx = nn.grad(out, [h, x])
    np.testing.assert_allclose(gh.data, 2 * h.data)
    np.testing.assert_allclose(gx.data, 18 * x.data)
    assert x.grad is None and h.grad is None
    single = nn.grad(out, x)
    np.testing.assert_allclose(np.asarray(single), 18 * x.data)


def test_grad_of_unconnected_tensor_is_zero():
    x = nn.Tensor([1.0, 2.0], requires_grad=True)
    z = nn.Tensor([5.0], requires_grad=True)
    out = (x * 2).sum()
    gz = nn.grad(out, z)
    np.testing.assert_array_equal(gz.data, [0.0])


def test_no_grad_records_nothing():
    x = nn.Tensor([1.0], requires_grad=True)
    with nn.no_grad():
        y = x * 2
    assert not y.requires_grad and y._creator is None


def test_shared_subexpression_sums_gradients():
    x = nn.Tensor(2.0, requires_grad=True)
    a = x * x
    out = a + a * x  # x^2 + x^3 -> 2x + 3x^2 = 16
    out.backward()
    assert x.grad == pytest.approx(16.0)


def test_float32_stays_float32_with_python_scalars():
    x = nn.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2.5 + 1) / 3 - 0.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), st.data())
def test_unbroadcast_is_adjoint_of_broadcast(shape, data):
    small = tuple(data.draw(st.sampled_from([1, n])) for n in shape)
    small = small[data.draw(st.integers(0, len(small))):]
    rng = np.random.default_rng(0)
    g = rng.standard_normal(shape)
    x = rng.standard_normal(small)
    # <broadcast(x), g> == <x, unbroadcast(g)>
    assert np.isclose(np.sum(np.broadcast_to(x, shape) * g), np.sum(x * unbroadcast(g, small)))


# -- the math ops behind Tensor's operators ---------------------------------------------------------------------
def spread(x):
    """x plus distinct steps, so no two entries tie (max, maximum, minimum need no tie to be smooth)."""
    return x + 0.37 * np.arange(x.size).reshape(x.shape)


def away_from(x, kinks, margin=0.05):
    x = np.array(x)
    for k in kinks:
        near = np.abs(x - k) < margin
        x[near] = k + np.where(x[near] >= k, margin, -margin)
    return x


# name: (forward of Tensors a (the drawn shape) and b (a shape that broadcasts against a), range of a, range of b)
MATH_OPS = {
    "add": (lambda a, b: a + b, (-2, 2), (-2, 2)),
    "subtract": (lambda a, b: a - b, (-2, 2), (-2, 2)),
    "multiply": (lambda a, b: a * b, (-2, 2), (-2, 2)),
    "divide": (lambda a, b: a / b, (-2, 2), (0.5, 2)),
    "power": (lambda a, b: a ** b, (0.5, 2), (-2, 2)),
    "negative": (lambda a, b: -a, (-2, 2), None),
    "sum": (lambda a, b: a.sum(axis=-1) + a.sum(), (-2, 2), None),
    "mean": (lambda a, b: a.mean(axis=0, keepdims=True) * a.mean(), (-2, 2), None),
    "max": (lambda a, b: a.max(axis=-1) + a.max(), (-2, 2), None),
    "min": (lambda a, b: a.min(axis=0, keepdims=True), (-2, 2), None),
    "getitem": (lambda a, b: a[..., ::2] * a[..., :1], (-2, 2), None),
    "exp": (lambda a, b: a.exp(), (-2, 2), None),
    "log": (lambda a, b: a.log(), (0.2, 3), None),
    "sqrt": (lambda a, b: a.sqrt(), (0.2, 3), None),
    "abs": (lambda a, b: a.abs(), (-2, 2), None),
    "clip": (lambda a, b: a.clip(-0.5, 1.0), (-2, 2), None),
    "maximum": (lambda a, b: a.maximum(b), (-2, 2), (-2, 2)),
    "minimum": (lambda a, b: a.minimum(b), (-2, 2), (-2, 2)),
    "where": (lambda a, b: M.where(a.data > 0, a, b), (-2, 2), (-2, 2)),
    "transpose": (lambda a, b: a.T, (-2, 2), None),
    "reshape": (lambda a, b: a.reshape(-1), (-2, 2), None),
}
KINKS = {"abs": [0.0], "clip": [-0.5, 1.0], "where": [0.0]}


@st.composite
def operands(draw, a_range, b_range):
    """a of a drawn shape (1-3 axes of 1-4), b of a shape that broadcasts against it (or None)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    a = draw(hnp.arrays(np.float64, shape, elements=st.floats(*a_range)))
    if b_range is None:
        return a, None
    b_shape = tuple(draw(st.sampled_from([1, n])) for n in shape)[draw(st.integers(0, len(shape) - 1)):]
    return a, draw(hnp.arrays(np.float64, b_shape, elements=st.floats(*b_range)))


@pytest.mark.both_tiers
@pytest.mark.parametrize("op", sorted(MATH_OPS))
@given(data=st.data())
def test_math_op_gradients(op, data):
    forward, a_range, b_range = MATH_OPS[op]
    a, b = data.draw(operands(a_range, b_range))
    if op in ("max", "min"):
        a = spread(a)
    if op in ("maximum", "minimum"):  # keep a - b away from a tie
        a = b + away_from(a - b, [0.0])
    a = away_from(a, KINKS.get(op, []))
    params = [nn.Tensor(a, requires_grad=True)] + ([] if b is None else [nn.Tensor(b, requires_grad=True)])
    assert_gradients_match(lambda: forward(params[0], params[1] if b is not None else None), params, names=[op + " a", op + " b"][:len(params)])


@pytest.mark.both_tiers
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.sampled_from([(), (2,), (3, 1)]), st.data())
def test_matmul_gradients_and_naive_oracle(rows, inner, cols, batch, data):
    """Z = X @ W against a triple loop, for 2-D, batched and broadcast-batched operands; and dX, dW."""
    x = data.draw(hnp.arrays(np.float64, batch + (rows, inner), elements=st.floats(-2, 2)))
    w_batch = data.draw(st.sampled_from([(), batch[-1:]]))  # W shared by every batch entry, or not
    w = data.draw(hnp.arrays(np.float64, w_batch + (inner, cols), elements=st.floats(-2, 2)))
    xt, wt = nn.Tensor(x, requires_grad=True), nn.Tensor(w, requires_grad=True)
    np.testing.assert_allclose((xt @ wt).data, oracles_math.matmul_naive(x, w), rtol=1e-12, atol=1e-12)
    assert_gradients_match(lambda: xt @ wt, [xt, wt], names=["X", "W"])


MATH_PARITY = {  # name: (ours, keras.ops name and keyword arguments, number of Tensor inputs)
    "add": (lambda a, b: a + b, ("add", {}), 2),
    "subtract": (lambda a, b: a - b, ("subtract", {}), 2),
    "multiply": (lambda a, b: a * b, ("multiply", {}), 2),
    "divide": (lambda a, b: a / (b.abs() + 0.5), None, 2),
    "power": (lambda a, b: (a.abs() + 0.5) ** b, None, 2),
    "matmul": (lambda a, b: a @ b.T, None, 2),
    "sum": (lambda a: a.sum(axis=1), ("sum", {"axis": 1}), 1),
    "mean": (lambda a: a.mean(axis=0), ("mean", {"axis": 0}), 1),
    "max": (lambda a: a.max(axis=1), ("max", {"axis": 1}), 1),
    "min": (lambda a: a.min(axis=0), ("min", {"axis": 0}), 1),
    "exp": (lambda a: a.exp(), ("exp", {}), 1),
    "log": (lambda a: (a * a + 0.5).log(), None, 1),
    "sqrt": (lambda a: (a * a + 0.5).sqrt(), None, 1),
    "abs": (lambda a: a.abs(), ("abs", {}), 1),
    "clip": (lambda a: a.clip(-0.5, 1.0), ("clip", {"x_min": -0.5, "x_max": 1.0}), 1),
    "maximum": (lambda a, b: a.maximum(b), ("maximum", {}), 2),
    "minimum": (lambda a, b: a.minimum(b), ("minimum", {}), 2),
    "where": (lambda a, b: M.where(a.data > 0, a, b), None, 2),
    "transpose": (lambda a: a.T, ("transpose", {}), 1),
}


def _keras_math(keras, name):
    """The Keras (keras.ops on JAX) function for MATH_PARITY[name]."""
    ops = keras.ops
    special = {"divide": lambda a, b: ops.divide(a, ops.abs(b) + 0.5), "power": lambda a, b: ops.power(ops.abs(a) + 0.5, b), "matmul": lambda a, b: ops.matmul(a, ops.transpose(b)),
               "log": lambda a: ops.log(a * a + 0.5), "sqrt": lambda a: ops.sqrt(a * a + 0.5),
               "where": lambda a, b: ops.where(a > 0, a, b)}
    if name in special:
        return special[name]
    op, kwargs = MATH_PARITY[name][1]
    return lambda *args: getattr(ops, op)(*args, **kwargs)


def _math_parity_inputs():
    """Values with the kinks on purpose: exact zeros (abs), the clip bounds, ties between a and b
    (maximum, minimum), tied maxima and minima along the reduced axes."""
    a = np.array([[0.0, -0.5, 1.0, 2.0], [0.75, 0.75, -1.5, 0.0], [3.0, -2.0, 3.0, 0.25]], np.float32)
    b = np.array([[0.0, 0.5, 1.0, -2.0], [0.75, 1.25, -1.5, 4.0], [1.0, -2.0, 0.5, 0.25]], np.float32)
    return a, b


@functools.lru_cache(maxsize=None)
def keras_math_reference(name):
    import jax
    keras = import_keras()
    count = MATH_PARITY[name][2]
    inputs = _math_parity_inputs()[:count]
    value, pullback = jax.vjp(_keras_math(keras, name), *[jax.numpy.asarray(v) for v in inputs])
    upstream = np.random.default_rng(0).standard_normal(value.shape).astype(np.float32)
    return np.asarray(value), upstream, [np.asarray(g) for g in pullback(jax.numpy.asarray(upstream))]


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("name", sorted(MATH_PARITY))
def test_math_op_matches_keras_ops_at_kinks_and_ties(name):
    """Values and gradients equal keras.ops on JAX, ties and kinks included (a tie of maximum splits
    the gradient in halves, clip passes half at a bound, |x|'(0) = 1, tied maxima share)."""
    k_value, upstream, k_grads = keras_math_reference(name)
    ours_fn, _, count = MATH_PARITY[name]
    tensors = [nn.Tensor(v, requires_grad=True) for v in _math_parity_inputs()[:count]]
    value = ours_fn(*tensors)
    assert value.dtype == np.float32
    np.testing.assert_allclose(value.data, k_value, rtol=1e-6, atol=1e-6)
    grads = nn.grad((value * nn.Tensor(upstream)).sum(), tensors)
    for g, k in zip(grads, k_grads):
        np.testing.assert_allclose(g.data, k, rtol=1e-5, atol=1e-6)


def test_public_gradcheck_reports_where_it_fails():
    class WrongSquare(Function):
        """z = x**2 with a deliberately wrong gradient (3x instead of 2x)."""

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return (3 * g * self.x,)

    assert nn.gradcheck(lambda x: x * x, [np.array([1.0, 2.0])])
    with pytest.raises(GradcheckError, match="input 0"):
        nn.gradcheck(lambda x: WrongSquare.apply(x), [np.array([1.0, 2.0])])


def test_public_gradcheck_directional_for_large_inputs():
    assert nn.gradcheck(lambda x: (x * x).sum(axis=0), [np.random.default_rng(1).standard_normal((60, 50))],
                        max_elements=100)


def test_deep_chain_does_not_recurse():
    x = nn.Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def test_tensor_equality_compares_values_with_numbers_and_identity_with_tensors():
    Tensor = nn.Tensor
    t = Tensor(np.array([0.0, 1.0, 0.0], dtype=np.float32))
    np.testing.assert_array_equal(t == 0.0, [True, False, True])          # like a Keras / JAX tensor
    np.testing.assert_array_equal(t != np.array([0.0, 1.0, 1.0]), [False, False, True])
    assert Tensor(np.float32(0.0)) == 0.0                                 # assertEqual(loss, 0.0) works
    twin = Tensor(t.data.copy())
    assert (t == twin) is False and (t != twin) is True and t == t       # Tensors: identity
    assert t in [None, "name", twin, t] and {t: 1}[t] == 1                # lists and dict keys still work


def test_grad_returns_arrays_the_caller_may_change_in_place():
    """The fast Sum kernel's gradient is a read-only broadcast view; nn.grad hands back a writable copy."""
    x = nn.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    g = nn.grad(x.sum(), x)
    assert g.data.flags.writeable and g.data.shape == (2, 3)
    g.data *= 2.0
    np.testing.assert_array_equal(g.data, np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(nn.grad(x.sum(), x).data, np.ones((2, 3), np.float32))
