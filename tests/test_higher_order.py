"""Higher-order gradients: ``nn.grad(..., create_graph=True)`` and every op's ``tensor_backward``.

Each op is checked one order up: the first gradient of ``sum(u * op(x))``, computed on the tape,
is differentiated again and compared with central finite differences of that first gradient
(``assert_second_derivatives_match`` = ``nn.gradcheck(order=2)``, float64). Hypothesis draws the
shapes and values; the ops and their configurations are pytest parameters. Linear ops are
composed with a square so that their second derivative is not trivially zero. Convolutions and
pooling run in both kernel tiers (their fast forward kernels, then the tape's ops).
"""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import numpy_nn as nn
from numpy_nn import activations
from numpy_nn.ops import conv as C, dropout as D, losses as L, math as M, merge as G, pooling as P, reshaping as R
from numpy_nn.ops.activations import PReLU
from tests.gradcheck_factory import assert_second_derivatives_match, floatx64
from tests.keras_helpers import relative_diff
from tests.test_activations import KINKS, away_from

shapes_2d = st.tuples(st.integers(1, 3), st.integers(1, 4))
seeds = st.integers(0, 2**31 - 1)


def tensors(seed, *shapes, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is None:
        return [nn.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    return [nn.Tensor(rng.uniform(low, high, s), requires_grad=True) for s in shapes]


# -- Tensor arithmetic, matmul, reductions, shapes (ops/math.py) -----------------------------------------
BINARY = {
    "add": lambda a, b: (a + b) ** 2,
    "subtract": lambda a, b: (a - b) ** 2,
    "multiply": lambda a, b: a * b * a,
    "divide": lambda a, b: a / (b * b + 0.5),
    "power": lambda a, b: (a * a + 0.5) ** (b * 0.5),
    "maximum": lambda a, b: a.maximum(b) ** 2,
    "minimum": lambda a, b: a.minimum(b) ** 2,
    "where": lambda a, b: M.where(a.data > 0, a * b, b * b) ** 2,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes_2d, st.booleans(), seeds)
def test_binary_second_derivatives(name, shape, broadcast, seed):
    a, b = tensors(seed, shape, (1, shape[1]) if broadcast else shape)
    if name in ("maximum", "minimum"):  # keep clear of ties (the kink)
        a.data += np.where(np.abs(a.data - b.data) < 0.05, 0.1, 0)
    assert_second_derivatives_match(lambda: BINARY[name](a, b), [a, b], names=["x", "y"])


UNARY = {  # name: (function, (low, high) of the inputs or None for standard normal)
    "negative": (lambda x: (-x) ** 3, None),
    "exp": (lambda x: x.exp(), None),
    "log": (lambda x: x.log(), (0.3, 3)),
    "sqrt": (lambda x: x.sqrt(), (0.3, 3)),
    "abs": (lambda x: (x ** 3).abs(), (0.2, 2)),
    "clip": (lambda x: (x ** 3).clip(-0.5, 0.7), (-1, 1)),
    "cast": (lambda x: (x * x).astype("float64") ** 2, None),
    "sum": (lambda x: (x ** 2).sum(axis=0) ** 2, None),
    "mean": (lambda x: x.mean(axis=1, keepdims=True) ** 2 * x, None),
    "max": (lambda x: (x * np.arange(1, x.size + 1).reshape(x.shape)).max(axis=-1) ** 2, (0.1, 1)),
    "reshape": (lambda x: x.reshape(-1) ** 2 * np.arange(x.size), None),
    "transpose": (lambda x: x.T ** 3, None),
    "getitem": (lambda x: x[:, [0, 0, -1]] ** 3, None),
    "broadcast_to": (lambda x: M.BroadcastTo.apply(x, shape=(2,) + x.shape) ** 3, None),
    "scatter_add": (lambda x: M.ScatterAdd.apply(x, index=(np.array([1, 0, 1]),), shape=(2,) + x.shape[1:]) ** 3,
                    None),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shapes_2d, seeds)
def test_unary_second_derivatives(name, shape, seed):
    fn, domain = UNARY[name]
    if name == "scatter_add":
        shape = (3, shape[1])
    (x,) = tensors(seed, shape) if domain is None else tensors(seed, shape, low=domain[0], high=domain[1])
    if name == "clip":
        x.data[np.abs(np.abs(x.data ** 3 - 0.1) - 0.6) < 0.05] += 0.1  # clear of the bounds -0.5 and 0.7
    assert_second_derivatives_match(lambda: fn(x), [x], names=[name])


@pytest.mark.parametrize("batched", [False, True])
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), seeds)
def test_matmul_second_derivatives(batched, n, k, m, seed):
    """2-D, and a 3-D input times a 2-D weight (Dense on a sequence: the folded weight gradient)."""
    x, w = tensors(seed, (2, n, k) if batched else (n, k), (k, m))
    assert_second_derivatives_match(lambda: (x @ w) ** 3, [x, w],
                                    names=["x", "w"])


# -- activations ---------------------------------------------------------------------------------------
SMOOTH_OR_PIECEWISE = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "sigmoid", "hard_sigmoid",
                       "sparse_sigmoid", "log_sigmoid", "tanh", "hard_tanh", "tanh_shrink", "silu", "hard_silu",
                       "mish", "softplus", "softsign", "squareplus", "sparse_plus", "exponential", "hard_shrink",
                       "soft_shrink"]


@pytest.mark.parametrize("name", SMOOTH_OR_PIECEWISE)
@given(shapes_2d, seeds)
def test_activation_second_derivatives(name, shape, seed):
    rng = np.random.default_rng(seed)
    x = nn.Tensor(away_from(rng.uniform(-4, 7, shape), KINKS.get(name, []), margin=0.05), requires_grad=True)
    fn = activations.get(name)
    assert_second_derivatives_match(lambda: fn(x) * x, [x], names=[name])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "glu", "gelu_tanh", "prelu", "general_relu", "threshold"])
@given(shapes_2d, seeds)
def test_other_activation_second_derivatives(name, shape, seed):
    x, alpha = tensors(seed, shape, (shape[1],))
    fns = {"softmax": lambda: activations.softmax(x, axis=0) ** 2,
           "log_softmax": lambda: activations.log_softmax(x) ** 2,
           "gelu_tanh": lambda: activations.gelu(x, approximate=True),
           "prelu": lambda: PReLU.apply(x, alpha) ** 2,
           "general_relu": lambda: activations.relu(x, negative_slope=0.3, max_value=5.0, threshold=0.5) ** 2,
           "glu": lambda: activations.glu(R.concatenate([x, x * x], axis=1)) ** 2,
           "threshold": lambda: activations.threshold(x, 0.5, -1.0) * x}
    if name in ("general_relu", "threshold"):
        x.data = away_from(x.data, [0.5], margin=0.05)
    params = [x, alpha] if name == "prelu" else [x]
    if name == "prelu":
        x.data = away_from(x.data, [0], margin=0.05)
    assert_second_derivatives_match(fns[name], params)


def test_relu_second_derivative_is_zero_as_in_jax():
    """relu'' = 0 everywhere (the slope is a locally constant mask), as jax.grad(jax.grad(relu))."""
    x = nn.Tensor(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), requires_grad=True)
    slope = nn.grad(activations.relu(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(slope.data, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(nn.grad(slope.sum(), x).data, np.zeros(5))
    jax = pytest.importorskip("jax")
    second = jax.vmap(jax.grad(jax.grad(jax.nn.relu)))(np.asarray(x.data, dtype=np.float32))
    np.testing.assert_array_equal(np.asarray(second), np.zeros(5))


# -- losses, merging, reshaping, dropout ------------------------------------------------------------------
LOSSES = {
    "categorical_logits": lambda p, y: L.CategoricalCrossentropy.apply(p, target=y, from_logits=True),
    "categorical_probabilities": lambda p, y: L.CategoricalCrossentropy.apply(p.exp(), target=y),
    "binary_logits": lambda p, y: L.BinaryCrossentropy.apply(p, target=y, from_logits=True),
    "binary_probabilities": lambda p, y: L.BinaryCrossentropy.apply(activations.sigmoid(p), target=y),
    "huber": lambda p, y: L.Huber.apply(p, target=y, delta=0.8) * p,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@given(shapes_2d, seeds)
def test_loss_second_derivatives(name, shape, seed):
    (p,) = tensors(seed, shape)
    y = np.random.default_rng(seed + 1).random(shape)
    if name == "huber":
        p.data = away_from(p.data - y, [-0.8, 0.8], margin=0.05) + y
    assert_second_derivatives_match(lambda: LOSSES[name](p, y), [p])


RESHAPE_MERGE = {
    "concatenate": lambda a, b: R.concatenate([a * a, b], axis=1) ** 2,
    "zero_pad": lambda a, b: R.ZeroPad2D.apply((a * b).reshape(1, *a.shape, 1), padding=((1, 0), (2, 1))) ** 3,
    "crop": lambda a, b: R.Crop2D.apply((a * b).reshape(1, *a.shape, 1), cropping=((0, 0), (1, 0))) ** 3,
    "add_n": lambda a, b: G.AddN.apply(a * a, b, a) ** 2,
    "average": lambda a, b: G.Average.apply(a * b, b) ** 2,
    "multiply_n": lambda a, b: G.MultiplyN.apply(a, b, a),
    "dropout": lambda a, b: D.Dropout.apply(a * b, rate=0.4, rng=np.random.default_rng(3)) ** 2,
    "upsample_nearest": lambda a, b: R.UpSample2DNearest.apply((a * b).reshape(1, *a.shape, 1), size=(2, 3)) ** 3,
    "upsample_bilinear": lambda a, b: R.UpSample2DBilinear.apply((a * b).reshape(1, *a.shape, 1), size=(3, 2)) ** 3,
    "zero_pad_1d": lambda a, b: R.ZeroPad1D.apply((a * b).reshape(1, *a.shape), padding=(2, 1)) ** 3,
    "crop_1d": lambda a, b: R.Crop1D.apply((a * b).reshape(1, *a.shape), cropping=(0, 1)) ** 3,
    "upsample_1d": lambda a, b: R.UpSample1D.apply((a * b).reshape(1, *a.shape), size=3) ** 3,
    "masked_global_avg_1d": lambda a, b: P.MaskedGlobalAvgPool1D.apply(
        (a * b).reshape(1, *a.shape), mask=np.arange(a.shape[0])[None] % 2 == 0) ** 3,
}


@pytest.mark.parametrize("name", sorted(RESHAPE_MERGE))
@given(st.integers(1, 3), st.integers(2, 4), seeds)
def test_reshape_and_merge_second_derivatives(name, rows, cols, seed):
    a, b = tensors(seed, (rows, cols), (rows, cols))
    assert_second_derivatives_match(lambda: RESHAPE_MERGE[name](a, b), [a, b], names=["a", "b"])


# -- convolutions and pooling (both tiers) ------------------------------------------------------------------
CONVS = {  # name: (kernel size, conv2d keywords)
    "valid": ((2, 2), {}),
    "same_strided": ((3, 2), dict(padding="same", strides=2)),
    "dilated": ((2, 2), dict(dilation_rate=2)),
    "grouped_bias": ((2, 1), dict(groups=2, padding="same")),
}


@st.composite
def conv_images(draw, channels=2):
    return (draw(st.integers(1, 2)), draw(st.integers(3, 5)), draw(st.integers(3, 5)), channels)


@pytest.mark.both_tiers
@pytest.mark.parametrize("name", sorted(CONVS))
@given(conv_images(), seeds)
def test_conv2d_second_derivatives(name, shape, seed):
    (kh, kw), params = CONVS[name]
    groups = params.get("groups", 1)
    x, kernel, bias = tensors(seed, shape, (kh, kw, 2 // groups, 4), (4,))
    use_bias = name.endswith("bias")
    forward = lambda: C.conv2d(x * x, kernel, bias=bias if use_bias else None, **params) ** 2  # noqa: E731
    assert_second_derivatives_match(forward, [x, kernel, bias] if use_bias else [x, kernel],
                                    names=["x", "kernel", "bias"][:3 if use_bias else 2])


@pytest.mark.both_tiers
@pytest.mark.parametrize("padding", ["valid", "same"])
@given(conv_images(), st.integers(1, 2), seeds)
def test_depthwise_conv2d_second_derivatives(padding, shape, multiplier, seed):
    x, kernel = tensors(seed, shape, (2, 2, 2, multiplier))
    assert_second_derivatives_match(lambda: C.depthwise_conv2d(x * x, kernel, padding=padding) ** 2, [x, kernel],
                                    names=["x", "kernel"])


@pytest.mark.parametrize("op", ["input_gradient", "kernel_gradient"])
@given(conv_images(), seeds)
def test_conv2d_gradient_ops_second_derivatives(op, shape, seed):
    """The convolutions that Conv2D's tape backward records are differentiable again (third order)."""
    params = dict(strides=(2, 1), padding="same", dilation_rate=(1, 1), groups=1)
    geo = C.WindowGeometry(shape, (2, 2), params["strides"], "same")
    g, kernel, x = tensors(seed, (shape[0],) + geo.out + (3,), (2, 2, 2, 3), shape)
    if op == "input_gradient":
        forward = lambda: C.Conv2DInputGradient.apply(g * g, kernel, x_shape=shape, **params) ** 2  # noqa: E731
        assert_second_derivatives_match(forward, [g, kernel], names=["g", "kernel"])
    else:
        forward = lambda: C.Conv2DKernelGradient.apply(x * x, g, kernel_shape=(2, 2, 2, 3), **params) ** 2  # noqa
        assert_second_derivatives_match(forward, [x, g], names=["x", "g"])


POOLS = {
    "max_valid": lambda x: P.max_pool2d(x, (2, 2)),
    "max_same_overlapping": lambda x: P.max_pool2d(x, (3, 2), strides=(1, 2), padding="same"),
    "avg_valid": lambda x: P.avg_pool2d(x, (2, 2)),
    "avg_same_overlapping": lambda x: P.avg_pool2d(x, (2, 3), strides=1, padding="same"),
    "global_avg": lambda x: P.GlobalAvgPool2D.apply(x),
    "global_max": lambda x: P.GlobalMaxPool2D.apply(x, keepdims=True),
    "max_1d_same": lambda x: P.max_pool1d(x.reshape(x.shape[0], -1, x.shape[-1]), (3,), strides=2, padding="same"),
    "avg_1d": lambda x: P.avg_pool1d(x.reshape(x.shape[0], -1, x.shape[-1]), (2,)),
}


@pytest.mark.both_tiers
@pytest.mark.parametrize("name", sorted(POOLS))
@given(conv_images(), seeds)
def test_pooling_second_derivatives(name, shape, seed):
    rng = np.random.default_rng(seed)
    # distinct values, so no window has a tie (the selection is then locally constant)
    x = nn.Tensor(rng.permutation(int(np.prod(shape))).reshape(shape) * 0.05 + 0.3, requires_grad=True)
    assert_second_derivatives_match(lambda: POOLS[name](x * x) ** 2, [x], names=[name],
                                    eps=1e-7)


# -- the tape itself ---------------------------------------------------------------------------------------
def small_model():
    from numpy_nn.layers.conv import Conv2D
    from numpy_nn.layers.core import Dense
    from numpy_nn.layers.reshaping import Flatten
    nn.set_random_seed(0)
    return nn.Sequential([nn.Input((5, 5, 2)), Conv2D(3, 2, activation="relu"), Flatten(),
                          Dense(4, activation="tanh"), Dense(2)])


def test_create_graph_gradients_equal_the_plain_gradients_and_have_a_history():
    with floatx64():
        model = small_model()
        x = nn.Tensor(np.random.default_rng(0).standard_normal((3, 5, 5, 2)), requires_grad=True)
        params = [x] + list(model.trainable_weights)
        loss = (model(x) ** 2).sum()
        plain = nn.grad(loss, params)
        graph = nn.grad(loss, params, create_graph=True)
    for p, g in zip(plain, graph):
        np.testing.assert_allclose(g.data, p.data, rtol=1e-12, atol=1e-12)
        assert g.requires_grad and not g.is_leaf, "create_graph gradients must be on the tape"
        assert p.is_leaf and not p.requires_grad


def test_third_derivative_by_nesting():
    x = nn.Tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    d1 = nn.grad((x ** 4).sum(), x, create_graph=True)
    d2 = nn.grad(d1.sum(), x, create_graph=True)
    d3 = nn.grad(d2.sum(), x)
    np.testing.assert_allclose(d1.data, 4 * x.data ** 3)
    np.testing.assert_allclose(d2.data, 12 * x.data ** 2)
    np.testing.assert_allclose(d3.data, 24 * x.data)


def test_grad_output_with_a_history_is_differentiated_too():
    """grad(y, x, grad_output=v) with v on the tape: the result's derivative w.r.t. v is J^T."""
    x = nn.Tensor(np.array([[0.3, -0.7]]), requires_grad=True)
    v = nn.Tensor(np.array([[1.5, 2.0]]), requires_grad=True)
    w = nn.Tensor(np.array([[1.0, 2.0], [3.0, -1.0]]))
    vjp = nn.grad(activations.tanh(x @ w), x, grad_output=v, create_graph=True)   # J^T v
    jacobian_t = nn.grad(vjp.sum(), v)                                   # d sum(J^T v)/dv = J 1
    slope = 1 - np.tanh(x.data @ w.data) ** 2
    np.testing.assert_allclose(jacobian_t.data, slope * (np.ones((1, 2)) @ w.data))


def test_an_op_without_a_tape_backward_gives_values_then_an_error_naming_it():
    """Exact GELU's backward is NumPy only: create_graph still gives the right gradient values,
    and a second derivative through it raises an error that names the op."""
    x = nn.Tensor(np.array([0.3, -1.2]), requires_grad=True)
    first = nn.grad((activations.gelu(x) * x).sum(), x, create_graph=True)
    np.testing.assert_allclose(first.data, nn.grad((activations.gelu(x) * x).sum(), x).data)
    with pytest.raises(NotImplementedError, match=r"Gelu\.backward is written in NumPy only"):
        nn.grad(first.sum(), x)


@example(seed=0)
@given(seeds)
def test_hessian_is_symmetric(seed):
    """H[i, j] = H[j, i] for a smooth scalar function, from HVPs with the unit vectors."""
    x, w = tensors(seed, (1, 3), (3, 3))
    columns = []
    for i in range(3):
        g = nn.grad((activations.tanh(x @ w) * x).sum(), x, create_graph=True)
        columns.append(nn.grad(g[0, i], x).data[0])
    hessian = np.array(columns)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)


# -- Grad-CAM++ with exact second and third derivatives ------------------------------------------------------
def cam_model(smooth_head):
    """conv (the CAM layer) then a piecewise-linear head (max pool, ReLU, linear) or a smooth one (GAP, tanh)."""
    from numpy_nn.layers.conv import Conv2D
    from numpy_nn.layers.core import Dense
    from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
    from numpy_nn.layers.reshaping import Flatten
    nn.set_random_seed(3)
    x = nn.Input((6, 6, 2))
    a = Conv2D(3, 3, activation="relu", name="conv")(x)
    if smooth_head:
        h = Dense(5, activation="tanh", name="hidden")(GlobalAveragePooling2D()(a))
    else:
        h = Dense(4, activation="relu", name="hidden")(Flatten()(MaxPooling2D(2)(a)))
    return nn.Model(x, Dense(3, activation="softmax", name="out")(h))


def test_exact_grad_cam_plus_plus_equals_the_closed_form_on_a_piecewise_linear_head():
    """Above the layer only max pooling, ReLU and linear maps: d^2y/dA^2 = d^3y/dA^3 = 0, so the
    exact alphas are the closed form's (the exponential-output formula is then exact)."""
    from numpy_nn.viz.cam import GradCAMPlusPlus
    with floatx64():
        model = cam_model(smooth_head=False)
        x = np.random.default_rng(0).random((2, 6, 6, 2))
        closed = GradCAMPlusPlus(model, "conv")(x)
        cam = GradCAMPlusPlus(model, "conv", exact=True)
        exact = cam(x)
    h, t = cam.higher
    np.testing.assert_array_equal(h, 0)
    np.testing.assert_array_equal(t, 0)
    assert np.max(exact) == 1.0 and np.count_nonzero(exact) > 3, "a blank map checks nothing"
    np.testing.assert_allclose(exact, closed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn.viz.grad_cam_plus_plus(model, x, "conv", exact=True), exact, rtol=1e-12)


def test_exact_grad_cam_plus_plus_uses_the_true_higher_derivatives_of_a_smooth_head():
    """GAP -> Dense(tanh) -> logit z_k: y = sum_c V[c, k] tanh(u_c), u = mean_s(A) W + b, P = |grid|:

        g = sum_c V (1 - T^2) W[k', c] / P,      h = sum_c V (-2 T (1 - T^2)) W^2 / P^2,
        t = sum_c V (-2 (1 - T^2)(1 - 3 T^2)) W^3 / P^3        (T = tanh(u_c); the same at every s)

    The exact alphas use h and t; the closed form (h = t = 0) gives different channel weights."""
    from numpy_nn.viz.cam import GradCAMPlusPlus
    k = 2  # a class with positive gradients in some channels (the ReLU keeps only those)
    with floatx64():
        model = cam_model(smooth_head=True)
        x = np.random.default_rng(1).random((2, 6, 6, 2))
        closed = GradCAMPlusPlus(model, "conv")
        closed.compute(x, class_index=k)
        cam = GradCAMPlusPlus(model, "conv", exact=True)
        cam.compute(x, class_index=k)
        A = cam.last["activations"]
        W, b = model.get_layer("hidden").get_weights()
        V = model.get_layer("out").get_weights()[0][:, k]
    P = A.shape[1] * A.shape[2]
    T = np.tanh(A.mean(axis=(1, 2)) @ W + b)                                    # (N, 5)
    expected = [np.einsum("c,nc,kc->nk", V, f, W ** p) / P ** p for p, f in
                ((1, 1 - T ** 2), (2, -2 * T * (1 - T ** 2)), (3, -2 * (1 - T ** 2) * (1 - 3 * T ** 2)))]
    for ours, formula in zip([cam.last["gradients"], *cam.higher], expected):
        np.testing.assert_allclose(ours, np.broadcast_to(formula[:, None, None, :], A.shape), rtol=1e-10, atol=1e-14)
    assert relative_diff(cam.last["weights"], closed.last["weights"]) > 1e-3, "the exact form should differ here"


@pytest.mark.both_tiers
@given(st.integers(1, 3), st.integers(1, 3), seeds)
def test_batch_norm_inference_second_derivatives(rows, channels, seed):
    from numpy_nn.ops.normalization import BatchNormInference
    x, gamma, beta = tensors(seed, (rows, 2, channels), (channels,), (channels,))
    rng = np.random.default_rng(seed + 1)
    mean, variance = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    forward = lambda: BatchNormInference.apply(x, gamma, beta, mean=mean, variance=variance) ** 3  # noqa: E731
    assert_second_derivatives_match(forward, [x, gamma, beta], names=["x", "gamma", "beta"])
