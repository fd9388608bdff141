"""1-D pooling and reshaping layers: MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D (masked
mean), GlobalMaxPooling1D, UpSampling1D, ZeroPadding1D, Cropping1D.

Ops against naive-loop oracles and float64 finite differences, layers (channels_last and
channels_first) against float64 finite differences and against Keras on random configurations
(forward and input gradient), masks, configs and errors. The Keras parity and the gradient checks
run in both kernel tiers. ``python -m tests.test_pooling1d`` prints the worst differences per layer.
"""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import numpy_nn as nn
from numpy_nn import layers as L
from numpy_nn.ops import pooling as P
from numpy_nn.ops import reshaping as R
from tests import oracles_pooling, oracles_reshaping
from tests.gradcheck_factory import assert_gradients_match, assert_layer_gradients_match, floatx64
from tests.keras_helpers import import_keras

both_tiers = pytest.mark.both_tiers
OPS = {"max": P.max_pool1d, "avg": P.avg_pool1d}


@st.composite
def pooling1d_cases(draw):
    """(shape (N, L, C), pool size, stride); L >= pool size, so "valid" fits too."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return (draw(st.integers(1, 2)), draw(st.integers(k, 9)), draw(st.integers(1, 3))), k, s


def distinct(shape, seed):
    """Values 0.01 apart in random order: no ties, so finite differences of max stay valid."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 0.2


# -- ops ----------------------------------------------------------------------------------------------
@both_tiers
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(pooling1d_cases(), st.booleans(), st.integers(0, 10**6))
def test_pool1d_matches_naive_loops(mode, padding, case, ties, seed):
    shape, k, s = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)  # ties: first max
    t = nn.Tensor(x, requires_grad=True)
    y = OPS[mode](t, pool_size=(k,), strides=(s,), padding=padding)
    g = rng.standard_normal(y.shape)
    dx = nn.grad((y * nn.Tensor(g)).sum(), t)
    np.testing.assert_allclose(y.data, oracles_pooling.pool1d_naive(x, k, s, padding, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx.data, oracles_pooling.pool1d_backward_naive(x, g, k, s, padding, mode),
                               rtol=1e-12, atol=1e-12)


@both_tiers
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(pooling1d_cases(), st.integers(0, 10**6))
def test_pool1d_gradients(mode, padding, case, seed):
    shape, k, s = case
    x = nn.Tensor(distinct(shape, seed), requires_grad=True)
    assert_gradients_match(lambda: OPS[mode](x, pool_size=(k,), strides=(s,), padding=padding), [x])


@pytest.mark.parametrize("values", ["normal", "ties", "nan"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(pooling1d_cases(), st.integers(0, 10**6))
def test_fast_kernels_equal_the_reference_on_1d_inputs(mode, padding, values, case, seed):
    """The 2-D fast kernels serve (N, L, C) too: tiled windows (chunked, one sample per chunk),
    other windows, and the NaN fallback give the reference's numbers bit for bit, forward and gradient."""
    from numpy_nn.ops.kernels import pooling as fast
    shape, k, s = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(np.float32) if values != "normal" else \
        rng.standard_normal(shape).astype(np.float32)
    if values == "nan":
        x[rng.random(shape) < 0.2] = np.nan
    reference = {"max": P.MaxPool2D, "avg": P.AvgPool2D}[mode]
    g = None
    results = []
    for cls in (nn.autograd.function.fast_kernels()[reference], reference):
        op = cls()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fast, "POOL_CHUNK_BYTES", 1)  # one sample per chunk
            y = op.forward(x, pool_size=(k,), strides=(s,), padding=padding)
            g = rng.standard_normal(y.shape).astype(np.float32) if g is None else g
            results.append((y, op.backward(g)[0]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@both_tiers
@pytest.mark.parametrize("keepdims", [False, True])
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 3), st.integers(0, 10**6))
@example(2, 3, 1, 0)  # seed 0: a fully masked sequence
def test_masked_global_average_op_matches_naive_loop_and_gradients(keepdims, n, steps, c, seed):
    rng = np.random.default_rng(seed)
    x = nn.Tensor(rng.standard_normal((n, steps, c)), requires_grad=True)
    mask = rng.random((n, steps)) < 0.6
    if seed == 0:
        mask[0] = False  # every step masked: y is NaN (0 / 0), the gradient 0 (as JAX's where)
    y = P.MaskedGlobalAvgPool1D.apply(x, mask=mask, keepdims=keepdims)
    expected = oracles_pooling.masked_global_avg_pool1d_naive(x.data, mask)
    np.testing.assert_allclose(y.data.reshape(n, c), expected, rtol=1e-12, atol=1e-12)  # NaN where expected
    dx = nn.grad(y.sum(), x).data
    counts = mask.sum(axis=1)
    expected_dx = np.where(mask[:, :, None], 1.0 / np.maximum(counts, 1)[:, None, None], 0.0)
    np.testing.assert_allclose(dx, np.broadcast_to(expected_dx, x.shape), rtol=1e-12)
    if counts.all():
        assert_gradients_match(lambda: P.MaskedGlobalAvgPool1D.apply(x, mask=mask, keepdims=keepdims), [x])


@both_tiers
@given(st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 3)), st.tuples(st.integers(0, 2),
       st.integers(0, 2)), st.integers(1, 3), st.integers(0, 10**6))
def test_reshaping1d_ops_match_naive_loops_and_gradients(shape, pair, size, seed):
    x = nn.Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    padded = R.ZeroPad1D.apply(x, padding=pair)
    np.testing.assert_array_equal(padded.data, oracles_reshaping.zero_pad1d_naive(x.data, pair))
    np.testing.assert_array_equal(R.Crop1D.apply(padded, cropping=pair).data, x.data)  # crop undoes pad
    np.testing.assert_array_equal(R.Crop1D.apply(padded, cropping=pair).data,
                                  oracles_reshaping.crop1d_naive(padded.data, pair))
    np.testing.assert_array_equal(R.UpSample1D.apply(x, size=size).data, oracles_reshaping.upsample1d_naive(x.data, size))
    assert_gradients_match(lambda: R.ZeroPad1D.apply(x, padding=pair), [x])
    assert_gradients_match(lambda: R.Crop1D.apply(R.ZeroPad1D.apply(x, padding=(2, 2)), cropping=pair), [x])
    assert_gradients_match(lambda: R.UpSample1D.apply(x, size=size), [x])


# -- layers: float64 gradient checks, both layouts --------------------------------------------------------
LAYERS = {
    "MaxPooling1D": lambda fmt: L.MaxPooling1D(3, 2, "same", data_format=fmt),
    "AveragePooling1D": lambda fmt: L.AveragePooling1D(2, 1, "valid", data_format=fmt),
    "GlobalAveragePooling1D": lambda fmt: L.GlobalAveragePooling1D(data_format=fmt, keepdims=True),
    "GlobalMaxPooling1D": lambda fmt: L.GlobalMaxPooling1D(data_format=fmt),
    "ZeroPadding1D": lambda fmt: L.ZeroPadding1D((2, 1), data_format=fmt),
    "UpSampling1D": lambda fmt: L.UpSampling1D(3),
    "Cropping1D": lambda fmt: L.Cropping1D((1, 2)),
}
CHANNELS_LAST_ONLY = {"UpSampling1D", "Cropping1D"}


@both_tiers
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name", sorted(LAYERS))
@given(st.integers(0, 10**6))
def test_layer_gradients(name, data_format, seed):
    if data_format == "channels_first" and name in CHANNELS_LAST_ONLY:
        return  # no data_format in Keras (test_layers_without_data_format_refuse_it)
    with floatx64():
        assert_layer_gradients_match(LAYERS[name](data_format), distinct((2, 5, 3), seed))


# -- Keras parity on random configurations ------------------------------------------------------------------
def random_configs(rng, count=8):
    """(ours, keras kwargs, layout) for every 1-D layer: random sizes, strides, paddings, layouts."""
    configs = []
    for _ in range(count):
        fmt = ["channels_last", "channels_first"][rng.integers(2)]
        k, s, padding = int(rng.integers(1, 5)), int(rng.integers(1, 4)), ["valid", "same"][rng.integers(2)]
        keep = bool(rng.integers(2))
        pair = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        configs += [("MaxPooling1D", dict(pool_size=k, strides=s, padding=padding, data_format=fmt)),
                    ("AveragePooling1D", dict(pool_size=k, strides=s, padding=padding, data_format=fmt)),
                    ("GlobalAveragePooling1D", dict(data_format=fmt, keepdims=keep)),
                    ("GlobalMaxPooling1D", dict(data_format=fmt, keepdims=keep)),
                    ("ZeroPadding1D", dict(padding=pair, data_format=fmt)),
                    ("UpSampling1D", dict(size=int(rng.integers(1, 4)))),
                    ("Cropping1D", dict(cropping=pair))]
    return configs


def keras_forward_and_input_grad(theirs, x, upstream, **call_kwargs):
    """Keras's y and the gradient of sum(upstream * y) w.r.t. x (``jax.vjp``)."""
    import jax
    y, pullback = jax.vjp(lambda a: theirs(a, **call_kwargs), jax.numpy.asarray(x))
    return np.asarray(y), np.asarray(pullback(jax.numpy.asarray(upstream))[0])


def diffs(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    scale = max(float(np.max(np.abs(theirs))) if theirs.size else 0.0, 1e-12)
    worst = float(np.max(np.abs(ours - theirs))) if theirs.size else 0.0
    return worst, worst / scale


def layer_parity(keras, name, kwargs, rng, mask=None):
    """(forward abs, forward rel, grad abs, grad rel) of our layer vs Keras's on one random input."""
    fmt = kwargs.get("data_format", "channels_last")
    steps, channels = int(rng.integers(6, 10)), int(rng.integers(1, 4))
    x = rng.standard_normal((3, steps, channels)).astype(np.float32)
    x[1] = np.maximum(np.round(x[1]), 0)  # ReLU-like ties
    if fmt == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    ours, theirs = getattr(L, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    call_kwargs = {} if mask is None else {"mask": mask}
    t = nn.Tensor(x, requires_grad=True)
    y = ours(t, **call_kwargs)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    gx = nn.grad((y * nn.Tensor(upstream)).sum(), t)
    y_keras, gx_keras = keras_forward_and_input_grad(theirs, x, upstream, **call_kwargs)
    assert y.dtype == np.float32 and gx.dtype == np.float32
    return diffs(y.data, y_keras) + diffs(gx.data, gx_keras)


def parity_table(seed=0, count=8):
    """{layer: [max fwd abs, max fwd rel, max grad abs, max grad rel]} over random configs (+ masks)."""
    keras = import_keras()
    rng = np.random.default_rng(seed)
    table = {}
    for name, kwargs in random_configs(rng, count):
        row = layer_parity(keras, name, kwargs, rng)
        table[name] = [max(a, b) for a, b in zip(table.get(name, [0.0] * 4), row)]
    for _ in range(count):
        fmt = ["channels_last", "channels_first"][rng.integers(2)]
        steps_mask = rng.random((3, 8)) < 0.7
        steps_mask[:, 0] = True  # no fully masked sequence (NaN): checked separately
        kwargs = dict(data_format=fmt, keepdims=bool(rng.integers(2)))
        fixed = np.random.default_rng(int(rng.integers(10**6)))
        # the steps axis has 8 entries in both layouts
        row = _masked_parity(keras, kwargs, steps_mask, fixed)
        key = "GlobalAveragePooling1D+mask"
        table[key] = [max(a, b) for a, b in zip(table.get(key, [0.0] * 4), row)]
    return table


def _masked_parity(keras, kwargs, mask, rng):
    x = rng.standard_normal((3, 8, 2) if kwargs["data_format"] == "channels_last" else (3, 2, 8)).astype(np.float32)
    ours, theirs = L.GlobalAveragePooling1D(**kwargs), keras.layers.GlobalAveragePooling1D(**kwargs)
    t = nn.Tensor(x, requires_grad=True)
    y = ours(t, mask=mask)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    gx = nn.grad((y * nn.Tensor(upstream)).sum(), t)
    y_keras, gx_keras = keras_forward_and_input_grad(theirs, x, upstream, mask=mask)
    return diffs(y.data, y_keras) + diffs(gx.data, gx_keras)


@pytest.mark.keras
@both_tiers
def test_random_configurations_match_keras():
    for name, (fwd_abs, fwd_rel, grad_abs, grad_rel) in parity_table(seed=0, count=1).items():
        assert fwd_rel <= 1e-6 and grad_rel <= 1e-6, (name, fwd_rel, grad_rel)


@pytest.mark.keras
def test_fully_masked_sequence_and_embedding_mask_match_keras():
    """A fully masked row gives NaN in both; Embedding(mask_zero=True) -> GlobalAveragePooling1D in a
    functional model averages the unmasked tokens only, as Keras's predict does."""
    keras = import_keras()
    x = np.random.default_rng(3).standard_normal((2, 4, 3)).astype(np.float32)
    mask = np.array([[False] * 4, [True, False, True, True]])
    y = L.GlobalAveragePooling1D()(nn.Tensor(x), mask=mask).numpy()
    y_keras = np.asarray(keras.layers.GlobalAveragePooling1D()(x, mask=mask))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_keras))
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1], y_keras[1], rtol=1e-6)

    def model(layers, Input, Model):
        tokens = Input((6,), dtype="int32")
        e = layers.Embedding(9, 4, mask_zero=True)(tokens)
        return Model(tokens, layers.Dense(2)(layers.GlobalAveragePooling1D()(e)))

    theirs, ours = model(keras.layers, keras.Input, keras.Model), model(L, nn.Input, nn.Model)
    ours.set_weights(theirs.get_weights())
    tokens = np.array([[3, 1, 0, 0, 0, 0], [5, 6, 7, 8, 2, 1], [0, 4, 0, 4, 0, 0]])
    np.testing.assert_allclose(ours.predict(tokens, verbose=0), theirs.predict(tokens, verbose=0), rtol=1e-5,
                               atol=1e-6)
    unmasked_mean = ours.layers[1].embeddings.numpy()[[3, 1]].mean(axis=0)  # row 0: tokens 3 and 1 only
    dense = ours.layers[-1]
    np.testing.assert_allclose(ours.predict(tokens[:1], verbose=0)[0],
                               unmasked_mean @ dense.kernel.numpy() + dense.bias.numpy(), rtol=1e-5)


@pytest.mark.keras
def test_shapes_and_configs_match_keras():
    keras = import_keras()
    for name, kwargs in random_configs(np.random.default_rng(1), 3):
        ours, theirs = getattr(L, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
        ours_config, keras_config = ours.get_config(), theirs.get_config()
        assert set(ours_config) == set(keras_config), name
        for key in set(keras_config) - {"name", "dtype"}:
            assert ours_config[key] == keras_config[key], (name, key)
        for shape in [(None, 9, 3), (4, 8, 2), (None, None, 3)]:
            if name == "Cropping1D" or kwargs.get("data_format") == "channels_first":
                shape = (None, 9, 3)  # Keras's 1-D layers index the unknown length differently here
            assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape)), (name, kwargs, shape)
    assert L.MaxPool1D is L.MaxPooling1D and L.AvgPool1D is L.AveragePooling1D
    assert L.GlobalAvgPool1D is L.GlobalAveragePooling1D and L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    assert L.MaxPooling1D().pool_size == (2,) and L.MaxPooling1D().strides == (2,)


# -- masks and errors ---------------------------------------------------------------------------------------
def test_mask_passes_through_global_average_and_is_dropped_with_a_warning_elsewhere():
    x = nn.Tensor(np.arange(12, dtype=np.float32).reshape(1, 4, 3))
    mask = np.array([[True, True, False, False]])
    np.testing.assert_allclose(L.GlobalAveragePooling1D()(x, mask).numpy(), [[1.5, 2.5, 3.5]])  # positional, as Keras
    nn.ops.node.set_mask(x, mask)
    y = L.GlobalAveragePooling1D()(x)
    np.testing.assert_allclose(y.numpy(), [[1.5, 2.5, 3.5]])  # the carried mask is used
    assert nn.ops.node.get_mask(y) is None
    with pytest.warns(UserWarning, match="does not support masking"):
        y = L.GlobalMaxPooling1D()(x)
    np.testing.assert_allclose(y.numpy(), [[9, 10, 11]])  # masked steps take part, as in Keras


def test_bad_inputs_name_the_layer_and_the_shapes():
    x = nn.Tensor(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"'gap'.*\(batch, steps\) = \(2, 5\).*\(2, 5, 3\).*\(2, 4\)"):
        L.GlobalAveragePooling1D(name="gap")(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"'gap_cf'.*\(2, 3\).*channels_first.*\(2, 5\)"):
        L.GlobalAveragePooling1D(data_format="channels_first", name="gap_cf")(x, mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match=r"'crop'.*smaller than the input length.*\(3, 2\).*\(2, 5, 3\)"):
        L.Cropping1D((3, 2), name="crop")(x)
    with pytest.raises(ValueError, match=r"'mp'.*expected ndim=3, found ndim=4"):
        L.MaxPooling1D(name="mp")(nn.Tensor(np.zeros((1, 4, 4, 1), np.float32)))
    with pytest.raises(ValueError, match=r"'ap'.*zero or negative.*\(2, 5, 3\)"):
        L.AveragePooling1D(6, name="ap")(x)
    with pytest.raises(ValueError, match=r"'zp'.*data_format.*'channels_middle'"):
        L.ZeroPadding1D(data_format="channels_middle", name="zp")
    with pytest.raises(TypeError, match=r"Expected an integer value for `size`.*2.5"):
        L.UpSampling1D(2.5)
    with pytest.raises(ValueError, match=r"should be a positive integer.*0"):
        L.UpSampling1D(0)
    with pytest.raises(TypeError):
        L.AveragePooling1D()  # no default pool_size, as in Keras 3


@pytest.mark.parametrize("cls", [L.UpSampling1D, L.Cropping1D, L.Dense])
def test_layers_without_data_format_refuse_it(cls):
    args = (3,) if cls is L.Dense else ()
    with pytest.raises(TypeError, match=rf"{cls.__name__} 'no_df' has no data_format argument.*'channels_first'"):
        cls(*args, data_format="channels_first", name="no_df")


if __name__ == "__main__":
    print(f"{'layer':28s} {'fwd max abs':>12s} {'fwd max rel':>12s} {'grad max abs':>12s} {'grad max rel':>12s}")
    for tier in ("fast", "reference"):
        with nn.config.use_kernels(tier):
            for layer, row in parity_table(seed=0, count=20).items():
                print(f"{layer + ' [' + tier + ']':28s} " + " ".join(f"{v:12.2e}" for v in row))
