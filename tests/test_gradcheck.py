"""nn.gradcheck, the one finite-difference checker: which inputs, names, seeds, fixed upstream weights,
Tensors checked in place (layer weights), and an error that names the input and the worst element."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.autograd import Function, GradcheckError
from numpy_nn.layers import Dense
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match


class WrongAtOne(Function):
    """y = x * w with dL/dx correct except at flat index 1 of x (off by 0.5 g), dL/dw correct."""

    def forward(self, x, w):
        self.x, self.w = x, w
        return x * w

    def backward(self, g):
        dx = g * self.w
        dx.flat[1] += 0.5 * g.flat[1]
        return dx, g * self.x


def test_error_names_the_input_its_shape_and_the_worst_element():
    x, w = np.arange(1.0, 5.0).reshape(2, 2), np.full((2, 2), 3.0)
    with pytest.raises(GradcheckError) as error:
        nn.gradcheck(lambda a, b: WrongAtOne.apply(a, b), [x, w], names=["image", "kernel"])
    message = str(error.value)
    assert "image (shape (2, 2))" in message and "1 of 4 elements" in message and "index (0, 1)" in message
    assert "kernel" not in message


def test_wrt_checks_only_the_chosen_inputs_and_passes_the_others_unchanged():
    x, w = np.arange(1.0, 5.0).reshape(2, 2), np.full((2, 2), 3.0)
    assert nn.gradcheck(lambda a, b: WrongAtOne.apply(a, b), [x, w], wrt=[1])  # only dL/dw, which is right
    labels = np.array([1, 0])
    seen = []

    def pick(logits, index):
        seen.append(index)
        return logits[np.arange(2), index]

    assert nn.gradcheck(pick, [np.ones((2, 3)), labels], wrt=[0])
    assert all(s is labels for s in seen)  # the integer labels reach fn untouched


def test_raise_exception_false_returns_false():
    x, w = np.arange(1.0, 5.0).reshape(2, 2), np.full((2, 2), 3.0)
    assert nn.gradcheck(lambda a, b: WrongAtOne.apply(a, b), [x, w], raise_exception=False) is False


def test_directional_check_catches_an_error_in_a_large_input():
    x, w = np.ones((40, 60)), np.full((40, 60), 2.0)
    with pytest.raises(GradcheckError, match="directional derivative"):
        nn.gradcheck(lambda a, b: WrongAtOne.apply(a, b), [x, w], max_elements=10, names=["x", "w"],
                     upstream=np.ones((40, 60)))


def test_upstream_weights_fix_the_loss():
    """With upstream = e_1 only output 1 counts: a gradient wrong elsewhere passes, wrong there fails."""
    x, w = np.arange(1.0, 5.0), np.full(4, 3.0)
    only_zero = np.array([1.0, 0.0, 0.0, 0.0])
    assert nn.gradcheck(lambda a, b: WrongAtOne.apply(a, b), [x, w], upstream=only_zero)
    with pytest.raises(GradcheckError):
        nn.gradcheck(lambda a, b: WrongAtOne.apply(a, b), [x, w], upstream=np.array([0.0, 1.0, 0.0, 0.0]))


def test_seed_changes_the_random_weights_and_directions_deterministically():
    calls = {}

    def recorder(seed):
        def fn(a):
            out = a * a
            calls.setdefault(seed, []).append(a.data.copy())
            return out
        return fn

    x = np.random.default_rng(0).standard_normal((50, 50))
    for seed in (0, 0, 1):
        nn.gradcheck(recorder(seed), [x], max_elements=0, directions=1, seed=seed)
    assert len(calls[0]) == 6 and len(calls[1]) == 3
    np.testing.assert_array_equal(calls[0][1], calls[0][4])      # same seed, same direction
    assert not np.allclose(calls[0][1], calls[1][1])              # another seed, another direction


def test_tensors_are_checked_in_place_and_restored(float64):
    layer = Dense(3, activation="tanh")
    x = nn.Tensor(np.random.default_rng(1).standard_normal((2, 4)), requires_grad=True)
    layer(x)
    kernel_before = layer.kernel.numpy().copy()
    assert nn.gradcheck(lambda *_: layer(x), [x, layer.kernel, layer.bias], names=["x", "kernel", "bias"])
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel_before)
    with pytest.raises(ValueError, match="float64 Tensor that requires grad"):
        nn.gradcheck(lambda t: t * 2, [nn.Tensor(np.ones(2))])


def test_factory_reports_the_parameter_by_name(float64):
    x = nn.Tensor(np.arange(1.0, 5.0), requires_grad=True)
    w = nn.Tensor(np.full(4, 3.0), requires_grad=True)
    with pytest.raises(AssertionError, match="conv/kernel"):
        assert_gradients_match(lambda: WrongAtOne.apply(w, x), [w, x], names=["conv/kernel", "x"])
    assert_layer_gradients_match(Dense(2), np.ones((3, 2)))
