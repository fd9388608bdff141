"""The autograd core: tape, backward accumulation, grad(), no_grad, unbroadcasting, gradcheck."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import numpy_nn as nn
from numpy_nn.autograd import GradcheckError, unbroadcast
from numpy_nn.autograd.function import Function
from tests.gradcheck_factory import assert_gradients_match


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


@given(st.sampled_from(["add", "sub", "mul", "div", "pow", "matmul", "max", "mean", "sum", "getitem",
                        "exp", "log", "sqrt", "abs", "clip", "maximum", "minimum", "where", "transpose",
                        "reshape"]), st.integers(0, 1000))
def test_math_ops_gradcheck(op, seed):
    rng = np.random.default_rng(seed)
    a = nn.Tensor(rng.uniform(0.5, 2.0, (3, 4)), requires_grad=True)
    b = nn.Tensor(rng.uniform(0.5, 2.0, (1, 4)), requires_grad=True)
    m = nn.Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    cond = rng.random((3, 4)) > 0.5
    from numpy_nn.ops import math as M
    forward = {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b,
        "pow": lambda: a ** b, "matmul": lambda: a @ m, "max": lambda: a.max(axis=1, keepdims=True),
        "mean": lambda: a.mean(axis=0), "sum": lambda: a.sum(), "getitem": lambda: a[1:, ::2],
        "exp": lambda: a.exp(), "log": lambda: a.log(), "sqrt": lambda: a.sqrt(), "abs": lambda: (a - 1.2).abs(),
        "clip": lambda: a.clip(0.8, 1.5), "maximum": lambda: a.maximum(b), "minimum": lambda: a.minimum(b),
        "where": lambda: M.where(cond, a, b), "transpose": lambda: a.T, "reshape": lambda: a.reshape(2, 6),
    }[op]
    assert_gradients_match(forward, [a, b, m])


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
