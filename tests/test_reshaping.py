"""Reshaping ops and layers: gradient checks, naive loop oracles, Keras parity, shapes, configs, errors.
Gradient checks and Keras parity run in both kernel tiers."""
import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
from numpy_nn.layers.reshaping import Cropping2D, Flatten, Permute, Reshape, UpSampling2D, ZeroPadding2D
from numpy_nn.ops import reshaping as R
from tests import oracles_reshaping as oracle
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras, relative_diff

images = st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3))
pairs = st.tuples(st.integers(0, 2), st.integers(0, 2))


def values(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# -- ops: definitions and gradient checks ----------------------------------------------------------------
@pytest.mark.both_tiers
@given(images, pairs, pairs, st.integers(0, 10**6))
def test_pad_and_crop_ops_gradients_and_naive_oracles(shape, rows, cols, seed):
    x = nn.Tensor(values(shape, seed), requires_grad=True)
    padded = R.ZeroPad2D.apply(x, padding=(rows, cols))
    np.testing.assert_array_equal(padded.data, oracle.zero_pad2d_naive(x.data, (rows, cols)))
    np.testing.assert_array_equal(R.Crop2D.apply(padded, cropping=(rows, cols)).data, x.data)  # crop undoes pad
    assert_gradients_match(lambda: R.ZeroPad2D.apply(x, padding=(rows, cols)), [x])
    big = nn.Tensor(values((shape[0], shape[1] + 4, shape[2] + 4, shape[3]), seed), requires_grad=True)
    np.testing.assert_array_equal(R.Crop2D.apply(big, cropping=(rows, cols)).data,
                                  oracle.crop2d_naive(big.data, (rows, cols)))
    assert_gradients_match(lambda: R.Crop2D.apply(big, cropping=(rows, cols)), [big])


@pytest.mark.both_tiers
@pytest.mark.parametrize("op, naive", [(R.UpSample2DNearest, oracle.upsample_nearest_naive),
                                       (R.UpSample2DBilinear, oracle.upsample_bilinear_naive)],
                         ids=["nearest", "bilinear"])
@given(images, st.tuples(st.integers(1, 3), st.integers(1, 3)), st.integers(0, 10**6))
def test_upsampling_ops_gradients_and_naive_oracles(op, naive, shape, size, seed):
    x = nn.Tensor(values(shape, seed), requires_grad=True)
    np.testing.assert_allclose(op.apply(x, size=size).data, naive(x.data, size), rtol=1e-12, atol=1e-12)
    assert_gradients_match(lambda: op.apply(x, size=size), [x])


@pytest.mark.both_tiers
@given(st.integers(1, 4), st.integers(0, 2), st.lists(st.integers(1, 3), min_size=1, max_size=4), st.integers(0, 10**6))
def test_concatenate_op_gradients_and_naive_oracle(rank_extra, axis_choice, sizes, seed):
    rank = rank_extra + 1
    axis = [0, -1, rank - 1][axis_choice]
    base = [2] * rank
    tensors = []
    for i, n in enumerate(sizes):
        shape = list(base)
        shape[axis] = n
        tensors.append(nn.Tensor(values(shape, seed + i), requires_grad=True))
    out = R.concatenate(tensors, axis=axis)
    np.testing.assert_array_equal(out.data, oracle.concatenate_naive([t.data for t in tensors], axis))
    assert_gradients_match(lambda: R.concatenate(tensors, axis=axis), tensors)


def test_ops_keep_float32():
    x = nn.Tensor(np.ones((1, 2, 3, 2), np.float32), requires_grad=True)
    for y in (R.ZeroPad2D.apply(x, padding=((1, 0), (0, 2))), R.UpSample2DNearest.apply(x, size=(2, 2)),
              R.UpSample2DBilinear.apply(x, size=(2, 3)), R.concatenate([x, x])):
        assert y.dtype == np.float32
        assert nn.grad(y.sum(), x).dtype == np.float32


# -- layers: gradient checks -------------------------------------------------------------------------------
LAYER_FACTORIES = [
    lambda fmt: Flatten(data_format=fmt),
    lambda fmt: Reshape((-1, 2)),
    lambda fmt: Permute((3, 1, 2)),
    lambda fmt: ZeroPadding2D(((1, 0), (2, 1)), data_format=fmt),
    lambda fmt: Cropping2D(((1, 0), (0, 1)), data_format=fmt),
    lambda fmt: UpSampling2D((2, 3), data_format=fmt),
    lambda fmt: UpSampling2D((3, 2), data_format=fmt, interpolation="bilinear"),
]


@pytest.mark.both_tiers
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("index", range(len(LAYER_FACTORIES)))
@given(st.integers(0, 10**6))
def test_layer_gradients(index, data_format, seed):
    with floatx64():
        assert_layer_gradients_match(LAYER_FACTORIES[index](data_format), values((2, 3, 4, 2), seed))


# -- Keras parity --------------------------------------------------------------------------------------------
PARITY_INPUT = np.random.default_rng(5).standard_normal((2, 5, 4, 3)).astype(np.float32)


def layer_pairs(keras):
    L = keras.layers
    return [
        (Flatten(), L.Flatten()),
        (Flatten(data_format="channels_first"), L.Flatten(data_format="channels_first")),
        (Reshape((4, -1)), L.Reshape((4, -1))),
        (Reshape((5, 3, 4)), L.Reshape((5, 3, 4))),
        (Permute((2, 3, 1)), L.Permute((2, 3, 1))),
        (ZeroPadding2D(), L.ZeroPadding2D()),
        (ZeroPadding2D((2, 1)), L.ZeroPadding2D((2, 1))),
        (ZeroPadding2D(((1, 0), (0, 3)), data_format="channels_first"),
         L.ZeroPadding2D(((1, 0), (0, 3)), data_format="channels_first")),
        (Cropping2D(((1, 2), (0, 1))), L.Cropping2D(((1, 2), (0, 1)))),
        (Cropping2D(1, data_format="channels_first"), L.Cropping2D(1, data_format="channels_first")),
        (UpSampling2D(), L.UpSampling2D()),
        (UpSampling2D((3, 2)), L.UpSampling2D((3, 2))),
        (UpSampling2D((2, 3), interpolation="bilinear"), L.UpSampling2D((2, 3), interpolation="bilinear")),
        (UpSampling2D(2, data_format="channels_first", interpolation="bilinear"),
         L.UpSampling2D(2, data_format="channels_first", interpolation="bilinear")),
    ]


PAIR_COUNT = 14


@functools.lru_cache(maxsize=None)
def keras_reshaping_reference(index):
    """Keras's output and input gradient (``jax.vjp``) for layer_pairs()[index], once per session."""
    import jax
    keras = import_keras()
    y_keras, pullback = jax.vjp(layer_pairs(keras)[index][1], jax.numpy.asarray(PARITY_INPUT))
    upstream = np.random.default_rng(0).standard_normal(y_keras.shape).astype(np.float32)
    (gx_keras,) = pullback(jax.numpy.asarray(upstream))
    return np.asarray(y_keras), upstream, np.asarray(gx_keras)


@pytest.mark.keras
@pytest.mark.both_tiers
@pytest.mark.parametrize("index", range(PAIR_COUNT))
def test_parity_with_keras(index):
    """Forward within 1e-5 and input gradient within 1e-4 (relative) of Keras on JAX."""
    keras = import_keras()
    assert len(layer_pairs(keras)) == PAIR_COUNT
    y_keras, upstream, gx_keras = keras_reshaping_reference(index)
    t = nn.Tensor(PARITY_INPUT, requires_grad=True)
    ours = layer_pairs(keras)[index][0]
    y = ours(t)
    gx = nn.grad((y * nn.Tensor(upstream)).sum(), t)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    forward, backward = relative_diff(y.data, y_keras), relative_diff(gx.data, gx_keras)
    assert forward <= 1e-5 and backward <= 1e-4, (ours.name, forward, backward)


@pytest.mark.keras
def test_output_shapes_and_configs_match_keras():
    keras = import_keras()
    for ours, theirs in layer_pairs(keras):
        for shape in [(None, 5, 4, 3), (7, 5, 4, 3)]:
            assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape)), ours.name
        ours_config, keras_config = ours.get_config(), theirs.get_config()
        assert set(ours_config) == set(keras_config), ours.name
        for key in set(keras_config) - {"name", "dtype", "trainable"}:
            assert ours_config[key] == keras_config[key], (ours.name, key)
    assert Flatten().compute_output_shape((None, None, 4, 3)) == (None, None)
    assert Reshape((-1, 3)).compute_output_shape((None, None, 3)) == (None, None, 3)


# -- configuration and errors -------------------------------------------------------------------------------------
def test_argument_forms_and_round_trip():
    assert ZeroPadding2D(2).padding == ((2, 2), (2, 2))
    assert ZeroPadding2D((1, 3)).padding == ((1, 1), (3, 3))
    assert Cropping2D(((1, 2), (3, 4))).cropping == ((1, 2), (3, 4))
    assert UpSampling2D(3).size == (3, 3)
    for layer in (ZeroPadding2D(((1, 2), (3, 4)), name="z"), Cropping2D(1),
                  UpSampling2D((2, 1), interpolation="bilinear"),
                  Reshape((2, -1)), Permute((2, 1)), Flatten(data_format="channels_first")):
        rebuilt = type(layer).from_config(layer.get_config())
        assert rebuilt.get_config() == layer.get_config()
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(Flatten()(x).data, x.reshape(1, 24))  # channel index fastest
    assert Flatten()(np.ones((3,), np.float32)).shape == (3, 1)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'r1'.*size must be unchanged.*\(2, 3\).*6.*\(4, 2\)"):
        Reshape((4, 2), name="r1")(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"'r2'.*cannot reshape.*\(5,\)"):
        Reshape((2, -1), name="r2")(np.zeros((1, 5), np.float32))
    with pytest.raises(ValueError, match="'r3'.*at most one -1"):
        Reshape((-1, -1), name="r3")
    with pytest.raises(ValueError, match="'z1'.*padding"):
        ZeroPadding2D((1, 2, 3), name="z1")
    with pytest.raises(ValueError, match="'z2'.*non-negative"):
        ZeroPadding2D(((1, -1), (0, 0)), name="z2")
    with pytest.raises(ValueError, match=r"'c1'.*should be smaller.*removes every row.*\(2, 4, 4, 3\)"):
        Cropping2D(2, name="c1")(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="'u1'.*interpolation='bicubic'"):
        UpSampling2D(interpolation="bicubic", name="u1")
    with pytest.raises(ValueError, match="'u2'.*size"):
        UpSampling2D(size=0, name="u2")
    with pytest.raises(ValueError, match="'p1'.*dims"):
        Permute((0, 1), name="p1")
    with pytest.raises(ValueError, match="'p2'.*expected ndim=3"):
        Permute((2, 1), name="p2")(np.zeros((1, 2, 3, 4), np.float32))
