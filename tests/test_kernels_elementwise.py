"""The multi-core elementwise kernels and the fused BatchNorm + ReLU against their references.

Each test forces the threaded path (``threads.PARALLEL_MIN_BYTES`` = 0, small ``ROW_CHUNK_BYTES`` so
an array is many chunks, ``THREADS`` = 2) and compares with the reference tier on the same arrays.
Tolerances: ReLU, GlobalAvgPool2D's gradient, Add, Multiply (and both its gradients) and the Adam update
are elementwise and run the reference's operations in the same order on each chunk: bit for bit.
Sum's gradient (a view of g): bit for bit. Batch norm (and the fused BN + ReLU against the reference
composition): float64 within 1e-12 relative, float32 within 1e-6 (forward) and 1e-5 (gradients),
the float32 rounding of blocked sums and the compact closed form; the fused op equals the fast-tier
composition bit for bit.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import numpy_nn as nn
from numpy_nn.autograd.function import fast_kernels
from numpy_nn.ops import activations as act_ref
from numpy_nn.ops import math as math_ref
from numpy_nn.ops import normalization as norm_ref
from numpy_nn.ops import pooling as pool_ref
from numpy_nn.ops.kernels import activations as act_fast
from numpy_nn.ops.kernels import math as math_fast
from numpy_nn.ops.kernels import normalization as norm_fast
from numpy_nn.ops.kernels import pooling as pool_fast
from numpy_nn.ops.kernels import threads


@contextlib.contextmanager
def forced_threads():
    """Every array takes the threaded path, in many chunks, over two threads."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "PARALLEL_MIN_BYTES", 0)
        patch.setattr(threads, "ROW_CHUNK_BYTES", 64)
        patch.setattr(threads, "THREADS", 2)
        patch.setattr(norm_fast, "TILE_VALUES", 8)  # the tiled (rows / k, k * C) views in some chunks
        patch.setattr(norm_fast, "REDUCE_VALUES", 8)  # and the chunk sums' views
        yield patch


@pytest.fixture
def threaded():
    with forced_threads() as patch:
        yield patch


def _run(cls, inputs, params, upstream, needs=None):
    fn = cls()
    fn.needs_input_grad = needs or (True,) * len(inputs)
    y = fn.forward(*inputs, **params)
    return fn, y, fn.backward(upstream)


def _relative(ours, reference):
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    return np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-30)


@pytest.mark.parametrize("fast", [act_fast.ReLU, pool_fast.GlobalAvgPool2D, math_fast.Add, math_fast.Multiply, math_fast.Sum],
                         ids=lambda c: c.__name__)
def test_new_kernels_are_registered_and_name_their_reference(fast):
    assert fast_kernels()[fast.reference] is fast and issubclass(fast, fast.reference)
    assert f"{fast.reference.__module__}.{fast.reference.__name__}" in fast.__doc__


def test_row_chunks_cover_the_rows_in_order_whatever_the_threads(threaded):
    seen = threads.map_row_chunks(lambda start, stop: (start, stop), 10, 16)  # 4 rows of 16 bytes per chunk
    assert seen == [(0, 4), (4, 8), (8, 10)]
    threaded.setattr(threads, "THREADS", 1)
    assert threads.map_row_chunks(lambda start, stop: (start, stop), 10, 16) == seen


def test_map_chunks_does_not_wait_for_a_pool_thread_that_never_gets_a_core(threaded):
    class NeverRuns:  # a pool whose thread is never scheduled (a saturated machine, at the extreme)
        def submit(self, fn, *args):
            return None
    threaded.setattr(threads, "_pool", NeverRuns())
    threaded.setattr(threads, "_pool_pid", threads.os.getpid())
    assert threads.map_chunks(lambda chunk: chunk * 10, list(range(7))) == [0, 10, 20, 30, 40, 50, 60]


def test_map_chunks_raises_the_error_of_a_chunk(threaded):
    def work(chunk):
        if chunk == 5:
            raise ZeroDivisionError("chunk 5")
        return chunk
    with pytest.raises(ZeroDivisionError, match="chunk 5"):
        threads.map_chunks(work, list(range(8)))


# -- batch norm over chunks of rows, and fused with ReLU ---------------------------------------------------
NEEDS = [(True, True, True), (True, False, False), (False, True, True)]


@pytest.mark.parametrize("needs", NEEDS, ids=["all", "x", "gamma_beta"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fused", [False, True], ids=["bn", "bn_relu"])
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**16))
@example(batch=1, width=2, channels=3, seed=5720)  # ReLU leaves only small outputs (found by the dev profile)
def test_batch_norm_rows_kernel_and_fused_relu_equal_the_reference(fused, dtype, needs, batch, width, channels, seed):
    """y and every gradient of the chunked kernel (plain and fused) against the reference (composition).
    y's error is relative to the batch norm's output before ReLU: ReLU can leave only outputs much
    smaller than the rounding scale of the values it zeroed."""
    rng = np.random.default_rng(seed)
    shape = (batch, 3, width, channels)
    arrays = [(rng.standard_normal(shape) * 2 + 1).astype(dtype), rng.standard_normal(channels).astype(dtype),
              rng.standard_normal(channels).astype(dtype)]
    upstream = rng.standard_normal(shape).astype(dtype)
    stats, stats_ref = {}, {}
    fast_cls = norm_fast.BatchNormReLUTrain if fused else norm_fast.BatchNormTrain
    with forced_threads():
        fast, y, grads = _run(fast_cls, arrays, dict(stats=stats), upstream, needs)
    assert fast.rows  # the chunked path
    reference, y_ref = norm_ref.BatchNormTrain(), None
    reference.needs_input_grad = (True,) * 3
    y_ref = reference.forward(*arrays, stats=stats_ref)
    scale = np.abs(y_ref).max()
    g_ref = upstream
    if fused:  # the reference composition relu(batch_norm(x))
        relu = act_ref.ReLU()
        y_ref = relu.forward(y_ref)
        (g_ref,) = relu.backward(upstream)
    grads_ref = reference.backward(g_ref)
    forward_tol, grad_tol = (1e-12, 1e-12) if dtype == np.float64 else (1e-6, 1e-5)
    assert y.dtype == dtype and np.abs(y.astype(np.float64) - y_ref).max() <= forward_tol * scale
    for key in ("mean", "variance"):
        assert _relative(stats[key], stats_ref[key]) <= forward_tol
    for need, grad, grad_ref in zip(needs, grads, grads_ref):
        assert (grad is None) != need
        assert not need or (grad.dtype == dtype and _relative(grad, grad_ref) <= grad_tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_batch_norm_relu_equals_the_fast_composition_bit_for_bit(threaded, dtype):
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.standard_normal((4, 5, 6, 7)).astype(dtype), rng.random(7).astype(dtype), \
        rng.standard_normal(7).astype(dtype)
    upstream = rng.standard_normal(x.shape).astype(dtype)
    _, y, grads = _run(norm_fast.BatchNormReLUTrain, (x, gamma, beta), {}, upstream)
    bn, relu = norm_fast.BatchNormTrain(), act_fast.ReLU()
    bn.needs_input_grad = (True,) * 3
    y_two = relu.forward(bn.forward(x, gamma, beta))
    grads_two = bn.backward(relu.backward(upstream)[0])
    np.testing.assert_array_equal(y, y_two)
    assert (y == 0).any() and (y > 0).any()  # both sides of the kink
    for grad, grad_two in zip(grads, grads_two):
        np.testing.assert_array_equal(grad, grad_two)


def test_batch_norm_results_do_not_depend_on_the_thread_count(threaded):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((6, 4, 4, 5)).astype(np.float32), rng.random(5).astype(np.float32),
              rng.random(5).astype(np.float32)]
    upstream = rng.standard_normal((6, 4, 4, 5)).astype(np.float32)
    _, y2, grads2 = _run(norm_fast.BatchNormReLUTrain, arrays, {}, upstream)
    threaded.setattr(threads, "THREADS", 1)
    _, y1, grads1 = _run(norm_fast.BatchNormReLUTrain, arrays, {}, upstream)
    np.testing.assert_array_equal(y1, y2)
    for a, b in zip(grads1, grads2):
        np.testing.assert_array_equal(a, b)


# -- ReLU, GlobalAvgPool2D's gradient, Add: bit for bit ---------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(st.integers(1, 4), st.integers(1, 7), st.integers(0, 2**16))
def test_relu_kernel_equals_reference_bit_for_bit(dtype, rows, columns, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (rows, 3, columns)).astype(dtype)  # exact zeros: the kink
    x.flat[0], x.flat[-1] = np.nan, -0.0
    upstream = rng.standard_normal(x.shape).astype(dtype)
    with forced_threads():
        _, y, (dx,) = _run(act_fast.ReLU, (x,), {}, upstream)
    _, y_ref, (dx_ref,) = _run(act_ref.ReLU, (x,), {}, upstream)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    assert y.dtype == dx.dtype == dtype


def test_relu_kernel_on_a_strided_view_and_a_scalar_uses_the_reference():
    x = np.arange(-6.0, 6.0).reshape(3, 4)[:, ::2]
    for array in (x, np.asarray(-1.5)):
        _, y, (dx,) = _run(act_fast.ReLU, (array,), {}, np.ones_like(array))
        np.testing.assert_array_equal(y, np.maximum(array, 0))
        np.testing.assert_array_equal(dx, (array > 0).astype(array.dtype))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_avg_pool_gradient_kernel_equals_reference_bit_for_bit(threaded, keepdims):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 3, 6)).astype(np.float32)
    upstream = rng.standard_normal((5, 1, 1, 6) if keepdims else (5, 6)).astype(np.float32)
    _, y, (dx,) = _run(pool_fast.GlobalAvgPool2D, (x,), dict(keepdims=keepdims), upstream)
    _, y_ref, (dx_ref,) = _run(pool_ref.GlobalAvgPool2D, (x,), dict(keepdims=keepdims), upstream)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    assert dx.dtype == dx_ref.dtype


@pytest.mark.parametrize("y_shape", [(7,), (1, 7), (5, 1), (4, 5, 7), (1, 5, 7)], ids=str)
def test_add_kernel_equals_reference_bit_for_bit(threaded, y_shape):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((4, 5, 7)).astype(np.float32), rng.standard_normal(y_shape).astype(np.float32)
    np.testing.assert_array_equal(math_fast.Add().forward(x, y), math_ref.Add().forward(x, y))
    np.testing.assert_array_equal(math_fast.Add().forward(y, x), math_ref.Add().forward(y, x))


def test_add_kernel_threads_a_large_bias_add_and_keeps_the_dtype(threaded):
    x, bias = np.ones((64, 40), np.float32), np.arange(40, dtype=np.float64)
    out = math_fast.Add().forward(x, bias)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, x + bias)


@pytest.mark.parametrize("y_shape", [(7,), (1, 7), (5, 1), (4, 5, 7), (1, 5, 7)], ids=str)
def test_multiply_kernel_and_its_gradients_equal_reference_bit_for_bit(threaded, y_shape):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((4, 5, 7)).astype(np.float32), rng.standard_normal(y_shape).astype(np.float32)
    upstream = rng.standard_normal((4, 5, 7)).astype(np.float32)
    for a, b in ((x, y), (y, x)):
        _, z, grads = _run(math_fast.Multiply, (a, b), {}, upstream)
        _, z_ref, grads_ref = _run(math_ref.Multiply, (a, b), {}, upstream)
        np.testing.assert_array_equal(z, z_ref)
        for grad, grad_ref in zip(grads, grads_ref):
            np.testing.assert_array_equal(grad, grad_ref)


def test_multiply_kernel_reads_sums_broadcast_gradient_as_one_value(threaded):
    """(x * y).sum(): Sum's gradient is one value broadcast (every stride 0); the products equal the
    reference's, and only the gradients asked for are computed."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((6, 4, 5)).astype(np.float32), rng.standard_normal((6, 4, 5)).astype(np.float32)
    total = math_fast.Sum()
    total.forward(x * y)
    (g,) = total.backward(np.asarray(1.5, np.float32))
    assert g.shape == x.shape and not any(g.strides) and not g.flags.writeable  # a view, nothing written
    fast, ref = math_fast.Multiply(), math_ref.Multiply()
    for op in (fast, ref):
        op.needs_input_grad = (True, False)
        op.forward(x, y)
    (dx, dy), (dx_ref, _) = fast.backward(g), ref.backward(np.array(g))
    assert dy is None and dx.dtype == np.float32
    np.testing.assert_array_equal(dx, dx_ref)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 1, (0, 2)], ids=str)
def test_sum_kernel_equals_reference_and_its_gradient_is_a_view_bit_for_bit(axis, keepdims):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4, 3)).astype(np.float32)
    fast, ref = math_fast.Sum(), math_ref.Sum()
    z, z_ref = fast.forward(x, axis=axis, keepdims=keepdims), ref.forward(x, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(z, z_ref)
    upstream = rng.standard_normal(z.shape).astype(np.float32)
    (dx,), (dx_ref,) = fast.backward(upstream), ref.backward(upstream)
    assert dx.shape == x.shape and not dx.flags.writeable  # g broadcast back, not copied
    np.testing.assert_array_equal(dx, dx_ref)


# -- the Adam update over chunks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_update_in_threads_equals_the_formula_bit_for_bit(threaded, amsgrad):
    rng = np.random.default_rng(5)
    start = rng.standard_normal((64, 48)).astype(np.float32)  # 3072 values: rows of 1024 -> 3 chunks of rows
    gradients = [rng.standard_normal(start.shape).astype(np.float32) for _ in range(3)]
    results = {}
    for tier in ("fast", "reference"):
        with nn.config.use_kernels(tier):
            variable = nn.Variable(start.copy())
            optimizer = nn.optimizers.Adam(learning_rate=0.01, amsgrad=amsgrad)
            for gradient in gradients:
                optimizer.apply([gradient], [variable])
            results[tier] = variable.data.copy()
    assert not np.array_equal(results["fast"], start)
    np.testing.assert_array_equal(results["fast"], results["reference"])


# -- the fused pair inside a Sequential model ------------------------------------------------------------------------
def _small_model(second_activation):
    layers = nn.layers
    return nn.Sequential([nn.Input((6, 6, 2)), layers.Conv2D(4, 3, padding="same"), layers.BatchNormalization(),
                          layers.ReLU(), layers.Conv2D(4, 3), layers.BatchNormalization(), second_activation,
                          layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("second", ["relu_layer", "activation_relu", "relu6"])
def test_sequential_fuses_batch_norm_relu_in_training_and_trains_like_the_reference(second):
    activation = {"relu_layer": lambda: nn.layers.ReLU(), "activation_relu": lambda: nn.layers.Activation("relu"),
                  "relu6": lambda: nn.layers.ReLU(max_value=6.0)}[second]
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 8)
    weights, created = {}, {}
    for tier in ("reference", "fast"):
        nn.utils.set_random_seed(0)
        model = _small_model(activation())
        model.compile(optimizer=nn.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        calls = []
        original = norm_fast.BatchNormReLUTrain.forward
        with nn.config.use_kernels(tier), pytest.MonkeyPatch.context() as patch:
            patch.setattr(norm_fast.BatchNormReLUTrain, "forward",
                          lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
            for _ in range(2):
                model.train_on_batch(x, y)
        created[tier] = len(calls)
        weights[tier] = model.get_weights()
    fused_pairs = 2 if second != "relu6" else 1  # ReLU(max_value=6) is not a plain ReLU
    assert created == {"reference": 0, "fast": 2 * fused_pairs}  # two steps, built at construction (nn.Input)
    for ours, reference in zip(weights["fast"], weights["reference"]):  # moving statistics included
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)  # conv biases before BN: ~0 +- noise


# -- the pool of recycled arrays -------------------------------------------------------------------------------------
@pytest.fixture
def small_pool(monkeypatch):
    from numpy_nn.ops.kernels import buffers
    monkeypatch.setattr(buffers, "POOL_MIN_BYTES", 64)
    monkeypatch.setattr(buffers, "POOL_MAX_BYTES", 3 * 800)
    monkeypatch.setattr(buffers, "_pool", {})
    monkeypatch.setattr(buffers, "_pool_bytes", 0)
    return buffers


def test_pool_reuses_an_array_only_when_nothing_refers_to_it(small_pool):
    first = small_pool.empty((10, 20), np.float32)  # 800 bytes
    second = small_pool.empty((10, 20), np.float32)
    assert second is not first  # first is still held here
    address = first.ctypes.data
    view = first.reshape(-1)
    del first
    third = small_pool.empty((10, 20), np.float32)
    assert third.ctypes.data != address  # a view keeps its base out of reuse
    del view
    assert small_pool.empty((10, 20), np.float32).ctypes.data == address  # now free: recycled
    assert small_pool.empty((2, 2), np.float32).base is None and small_pool.pool_bytes() == 3 * 800  # small: not pooled


def test_pool_stays_under_its_cap_and_release_empties_it(small_pool):
    held = [small_pool.empty((10, 20), np.float32) for _ in range(3)]
    assert small_pool.pool_bytes() == 2400
    extra = small_pool.empty((20, 10), np.float32)  # over the cap, nothing free: a plain array
    assert small_pool.pool_bytes() == 2400 and extra.shape == (20, 10)
    del held[0]
    small_pool.empty((20, 10), np.float32)  # evicts the free (10, 20) array to make room
    assert small_pool.pool_bytes() == 2400 and len(small_pool._pool[((20, 10), "<f4")]) == 1
    assert nn.config.release_buffers() == 2400 and small_pool.pool_bytes() == 0


def test_a_kernel_output_held_by_the_user_is_never_overwritten(threaded):
    from numpy_nn.ops.kernels import buffers
    threaded.setattr(buffers, "POOL_MIN_BYTES", 64)
    x = np.random.default_rng(7).standard_normal((8, 16)).astype(np.float32)
    with nn.config.use_kernels("fast"):
        kept = act_ref.ReLU.apply(nn.Tensor(x))
        snapshot = kept.data.copy()
        for _ in range(3):
            act_ref.ReLU.apply(nn.Tensor(-x))  # same shape: would reuse kept's array if it looked free
    np.testing.assert_array_equal(kept.data, snapshot)


def _functional_model(skip):
    layers = nn.layers
    inputs = nn.Input((6, 6, 2))
    h = layers.Conv2D(4, 3, padding="same")(inputs)
    normalized = layers.BatchNormalization()(h)
    h = layers.ReLU()(normalized)
    if skip:  # the batch norm's output feeds a second layer: the pair must not be fused
        h = layers.Add()([h, normalized])
    h = layers.Activation("relu")(layers.BatchNormalization()(layers.Conv2D(4, 3)(h)))
    outputs = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    return nn.Model(inputs, outputs)


@pytest.mark.parametrize("skip", [False, True], ids=["chain", "bn_output_used_twice"])
def test_functional_model_fuses_only_a_batch_norm_whose_output_only_a_relu_reads(skip):
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 8)
    weights, created = {}, {}
    for tier in ("reference", "fast"):
        nn.utils.set_random_seed(0)
        model = _functional_model(skip)
        model.compile(optimizer=nn.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        calls = []
        original = norm_fast.BatchNormReLUTrain.forward
        with nn.config.use_kernels(tier), pytest.MonkeyPatch.context() as patch:
            patch.setattr(norm_fast.BatchNormReLUTrain, "forward",
                          lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
            for _ in range(2):
                model.train_on_batch(x, y)
            model.predict(x, verbose=0)  # inference: never fused
        created[tier], weights[tier] = len(calls), model.get_weights()
    assert created == {"reference": 0, "fast": 2 * (1 if skip else 2)}
    for ours, reference in zip(weights["fast"], weights["reference"]):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fast,ref", [(act_fast.Sigmoid, act_ref.Sigmoid), (act_fast.Silu, act_ref.Silu)],
                         ids=["Sigmoid", "Silu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_silu_kernels_equal_the_reference_bit_for_bit(fast, ref, dtype, threaded):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 5, 7)) * 20).astype(dtype)
    x[0, 0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    x[1, 1, :3] = [-0.0, 88.8, -104.0]  # exp(-|x|) underflows / the largest float32 exponents
    g = rng.standard_normal(x.shape).astype(dtype)
    fn, y, (dx,) = _run(fast, [x], {}, g)
    rfn, ry, (rdx,) = _run(ref, [x], {}, g)
    assert type(fn) is not type(rfn) and y.dtype == ry.dtype == dtype
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(dx, rdx)


def test_sigmoid_and_silu_kernels_are_registered():
    assert fast_kernels()[act_ref.Sigmoid] is act_fast.Sigmoid
    assert fast_kernels()[act_ref.Silu] is act_fast.Silu


@pytest.mark.parametrize("padding", [((1, 1), (1, 1)), ((0, 1), (0, 1)), ((2, 0), (0, 3)), ((0, 0), (0, 0))])
def test_zero_pad_kernel_equals_the_reference_bit_for_bit(padding):
    from numpy_nn.ops import reshaping as reshape_ref
    from numpy_nn.ops.kernels import reshaping as reshape_fast
    assert fast_kernels()[reshape_ref.ZeroPad2D] is reshape_fast.ZeroPad2D
    x = np.random.default_rng(5).standard_normal((3, 5, 4, 6)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    g = np.random.default_rng(6).standard_normal(
        (3, 5 + sum(padding[0]), 4 + sum(padding[1]), 6)).astype(np.float32)
    _, y, (dx,) = _run(reshape_fast.ZeroPad2D, [x], {"padding": padding}, g)
    _, ry, (rdx,) = _run(reshape_ref.ZeroPad2D, [x], {"padding": padding}, g)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(dx, rdx)
    for _ in range(3):  # a recycled output array: its border is zeroed every time
        y2 = reshape_fast.ZeroPad2D().forward(x + 1, padding=padding)
        np.testing.assert_array_equal(y2, np.pad(x + 1, ((0, 0),) + padding + ((0, 0),)))
        del y2


def test_pool_evicts_a_free_array_behind_one_in_use(small_pool):
    """Eviction finds the free array by position, not by ``==`` (arrays compare elementwise): the free one
    sits second in its bucket, behind one still in use (regression: ``list.remove`` raised ValueError)."""
    held = [small_pool.empty((10, 20), np.float32) for _ in range(3)]
    in_use, free_address = held[0], held[1].ctypes.data
    del held[1:]
    extra = small_pool.empty((20, 10), np.float32)  # over the cap: evicts the free (10, 20) arrays
    assert extra.shape == (20, 10) and small_pool.pool_bytes() <= 3 * 800
    bucket = small_pool._pool[((10, 20), "<f4")]
    assert any(a is in_use for a in bucket) and all(a.ctypes.data != free_address for a in bucket)
    assert small_pool._pool[((20, 10), "<f4")][0] is extra
