"""Merge ops and layers: gradient checks, naive loop oracles, JAX tie rule, Keras parity, broadcasting,
shapes, configs, errors. Gradient checks and Keras parity run in both kernel tiers."""
import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from numpy_nn.ops import merge as ops_merge
from tests import oracles_merge
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff

def distinct_inputs(shapes, seed):
    """Arrays whose values are all at least 0.01 apart (no ties between inputs)."""
    total = sum(int(np.prod(s)) for s in shapes)
    flat = np.random.default_rng(seed).permutation(total) * 0.01 - 0.2
    arrays, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        arrays.append(flat[start:start + n].reshape(s))
        start += n
    return arrays


@st.composite
def broadcastable_shapes(draw, count):
    """``count`` shapes that broadcast together (some axes of size 1)."""
    full = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    return [tuple(draw(st.sampled_from([1, n])) for n in full) for _ in range(count)]


OPS = {"add_n": ops_merge.add_n, "average": ops_merge.average, "multiply_n": ops_merge.multiply_n,
       "maximum_n": ops_merge.maximum_n, "minimum_n": ops_merge.minimum_n}


# -- ops ---------------------------------------------------------------------------------------------------
@pytest.mark.both_tiers
@pytest.mark.parametrize("name", sorted(OPS))
@given(st.integers(1, 4), st.data(), st.integers(0, 10**6))
def test_merge_op_gradients_and_naive_oracle(name, count, data, seed):
    shapes = data.draw(broadcastable_shapes(count))
    arrays = distinct_inputs(shapes, seed)
    tensors = [nn.Tensor(a, requires_grad=True) for a in arrays]
    np.testing.assert_allclose(OPS[name](tensors).data, oracles_merge.merge_naive(name, arrays),
                               rtol=1e-12, atol=1e-15)
    assert_gradients_match(lambda: OPS[name](tensors), tensors)


@pytest.mark.both_tiers
@pytest.mark.both_tiers
@given(st.data(), st.integers(0, 10**6))
def test_subtract_op(data, seed):
    tensors = [nn.Tensor(a, requires_grad=True) for a in distinct_inputs(data.draw(broadcastable_shapes(2)), seed)]
    np.testing.assert_allclose(ops_merge.subtract(tensors).data, tensors[0].data - tensors[1].data)
    assert_gradients_match(lambda: ops_merge.subtract(tensors), tensors)


def test_multiply_gradient_with_zeros_is_exact():
    a, b, c = (nn.Tensor(np.array(v), requires_grad=True) for v in ([0.0, 2.0], [3.0, 0.0], [5.0, 7.0]))
    ga, gb, gc = nn.grad(ops_merge.multiply_n([a, b, c]).sum(), [a, b, c])
    np.testing.assert_array_equal(ga.data, [15.0, 0.0])
    np.testing.assert_array_equal(gb.data, [0.0, 14.0])
    np.testing.assert_array_equal(gc.data, [0.0, 0.0])


def test_maximum_and_minimum_ties_split_like_jax():
    # measured with Keras on JAX: Maximum()([a, b, c]) with a three-way tie gives 1/4, 1/4, 1/2
    a, b, c = (nn.Tensor(np.array(v), requires_grad=True) for v in ([1.0, 2.0], [1.0, 1.0], [1.0, 0.0]))
    grads = nn.grad(ops_merge.maximum_n([a, b, c]).sum(), [a, b, c])
    np.testing.assert_array_equal([g.data for g in grads], [[0.25, 1.0], [0.25, 0.0], [0.5, 0.0]])
    grads = nn.grad(ops_merge.minimum_n([a, b, c]).sum(), [a, b, c])
    np.testing.assert_array_equal([g.data for g in grads], [[0.25, 0.0], [0.25, 0.0], [0.5, 1.0]])


def test_ops_keep_float32_and_reject_empty_lists():
    x = nn.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    for fn in list(OPS.values()) + [ops_merge.subtract]:
        y = fn([x, x])
        assert y.dtype == np.float32 and nn.grad(y.sum(), x).dtype == np.float32
    for fn in OPS.values():
        with pytest.raises(ValueError, match="non-empty"):
            fn([])
    with pytest.raises(ValueError, match="exactly 2"):
        ops_merge.subtract([x, x, x])


# -- layers: gradient checks ---------------------------------------------------------------------------------
LAYERS = [Add, Subtract, Multiply, Average, Maximum, Minimum]


@pytest.mark.both_tiers
@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
@given(st.integers(2, 3), st.booleans(), st.integers(0, 10**6))
def test_layer_gradients(cls, count, broadcast, seed):
    count = 2 if cls is Subtract else count
    shapes = [(2, 3, 2)] * count
    if broadcast:  # a lower-rank input and a size-1 axis, Keras-style
        shapes = [(2, 3, 2), (2, 2)] + [(2, 1, 2)] * (count - 2)
    with floatx64():
        assert_layer_gradients_match(cls(), distinct_inputs(shapes, seed))


@pytest.mark.both_tiers
@given(st.integers(-3, 2), st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(0, 10**6))
def test_concatenate_layer_gradients(axis, sizes, seed):
    shapes = []
    for n in sizes:
        shape = [2, 3, 2]
        shape[axis] = n
        shapes.append(tuple(shape))
    with floatx64():
        assert_layer_gradients_match(Concatenate(axis=axis), distinct_inputs(shapes, seed))


# -- Keras parity ---------------------------------------------------------------------------------------------
def parity_inputs():
    rng = np.random.default_rng(7)
    same = [rng.standard_normal((2, 4, 3, 5)).astype(np.float32) for _ in range(3)]
    same[2][0] = same[0][0]  # exact ties for Maximum/Minimum
    broadcast = [same[0], rng.standard_normal((2, 4, 1, 5)).astype(np.float32),
                 rng.standard_normal((2, 5)).astype(np.float32)]
    return {"two equal shapes, ties": [same[0], same[2]], "three, ties": same, "two, broadcast": broadcast[:2],
            "three, broadcast": broadcast,
            "concatenate axis=-1": [same[0], rng.standard_normal((2, 4, 3, 2)).astype(np.float32)],
            "concatenate axis=1": [same[0], rng.standard_normal((2, 1, 3, 5)).astype(np.float32), same[1]],
            "concatenate axis=0": same[:2]}


PARITY_CASES = [(name, case) for name in ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
                for case in ["two equal shapes, ties", "three, ties", "two, broadcast", "three, broadcast"]
                if not (name == "Subtract" and case.startswith("three"))]
PARITY_CASES += [("Concatenate", f"concatenate axis={axis}") for axis in (-1, 1, 0)]


def _layers(keras, name, case):
    if name == "Concatenate":
        axis = int(case.split("=")[1])
        return Concatenate(axis), keras.layers.Concatenate(axis)
    return globals()[name](), getattr(keras.layers, name)()


@functools.lru_cache(maxsize=None)
def keras_merge_reference(name, case):
    import jax
    keras = import_keras()
    xs = parity_inputs()[case]
    y_keras, pullback = jax.vjp(lambda *a: _layers(keras, name, case)[1](list(a)), *[jax.numpy.asarray(x) for x in xs])
    upstream = np.random.default_rng(0).standard_normal(y_keras.shape).astype(np.float32)
    return np.asarray(y_keras), upstream, [np.asarray(g) for g in pullback(jax.numpy.asarray(upstream))]


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("name, case", PARITY_CASES)
def test_parity_with_keras(name, case):
    """Forward within 1e-5 and input gradients within 1e-4 (relative) of Keras on JAX, ties included;
    Concatenate exactly."""
    keras = import_keras()
    y_keras, upstream, grads_keras = keras_merge_reference(name, case)
    tensors = [nn.Tensor(x, requires_grad=True) for x in parity_inputs()[case]]
    y = _layers(keras, name, case)[0](tensors)
    grads = nn.grad((y * nn.Tensor(upstream)).sum(), tensors)
    assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    forward = relative_diff(y.data, y_keras)
    backward = max(relative_diff(g.data, gk) for g, gk in zip(grads, grads_keras))
    limits = (0.0, 0.0) if name == "Concatenate" else (1e-5, 1e-4)
    assert forward <= limits[0] and backward <= limits[1], (forward, backward)


@pytest.mark.keras
def test_output_shapes_and_configs_match_keras():
    keras = import_keras()
    cases = [[(None, 4, 5), (None, 4, 5)], [(None, 4, 1), (None, 4, 5), (None, 5)], [(3, 4, 5), (None, 1, 5)],
             [(None, None, 5), (None, 4, 5)]]
    for name in ["Add", "Multiply", "Average", "Maximum", "Minimum", "Subtract"]:
        ours, theirs = globals()[name](), getattr(keras.layers, name)()
        for shapes in cases:
            if name == "Subtract" and len(shapes) != 2:
                continue
            assert ours.compute_output_shape(shapes) == tuple(theirs.compute_output_shape(shapes)), (name, shapes)
        assert ours.get_config().keys() == theirs.get_config().keys()
    for axis in (-1, 1):
        shapes = [(None, 4, 5), (None, 4, 5), (None, 4, 5)]
        ours, theirs = Concatenate(axis), keras.layers.Concatenate(axis)
        assert ours.compute_output_shape(shapes) == tuple(theirs.compute_output_shape(shapes))
        assert ours.get_config().keys() == theirs.get_config().keys() and ours.get_config()["axis"] == axis
    assert Concatenate().compute_output_shape([(None, 4, None), (None, 4, 5)]) == (None, 4, None)


# -- errors ---------------------------------------------------------------------------------------------------
def test_errors_name_the_layer_and_list_the_shapes():
    x, y = np.zeros((2, 4, 3), np.float32), np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"'m1'.*incompatible shapes.*\(None, 4, 3\), \(None, 5, 3\)"):
        Add(name="m1")([x, y])
    with pytest.raises(ValueError, match="'m2'.*list of tensors"):
        Add(name="m2")(x)
    with pytest.raises(ValueError, match="'m3'.*exactly 2 inputs.*3 inputs"):
        Subtract(name="m3")([x, x, x])
    with pytest.raises(ValueError, match="'m4'.*different batch sizes"):
        Multiply(name="m4")([x, np.zeros((3, 4, 3), np.float32)])
    with pytest.raises(ValueError, match=r"'c1'.*axis=-1.*\(None, 4, 3\), \(None, 5, 3\)"):
        Concatenate(name="c1")([x, y])
    with pytest.raises(ValueError, match="'c2'.*axis=3"):
        Concatenate(axis=3, name="c2")([x, x])
    layer = Maximum(name="m5")
    layer([x, x])
    with pytest.raises(ValueError, match="'m5'.*incompatible"):  # checked on every call, not only at build
        layer([x, y])
    # a single input is allowed, as in Keras 3 (base_merge accepts lists of at least one tensor)
    np.testing.assert_array_equal(Add()([x]).data, x)
