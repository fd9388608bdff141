"""Conv + BatchNormalization + activation fused at inference (numpy_nn/layers/fusion.py, fuse_inference;
numpy_nn/ops/kernels/epilogue.py): predict equals the layers called one by one (bit for bit where
the epilogue runs; to float32 rounding where the batch norm is folded into the conv's weights), the
fusion really runs (the batch norm's and the activation's own ``call`` are never entered), it stays
out of the way where its rules say so, and a fused model still matches Keras."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.layers import fusion
from numpy_nn.ops.kernels import epilogue

from .keras_helpers import import_keras, relative_diff

L = nn.layers


def _x(shape=(4, 12, 12, 3), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _randomize_bn(model, seed=1):
    """Moving statistics and gamma/beta away from their initial values (else BN is nearly the identity)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.moving_mean.shape[0]
            weights = [rng.uniform(0.5, 2.0, c), rng.normal(0, 0.5, c)] if layer.scale and layer.center else []
            if layer.scale and not layer.center:
                weights = [rng.uniform(0.5, 2.0, c)]
            if layer.center and not layer.scale:
                weights = [rng.normal(0, 0.5, c)]
            weights += [rng.normal(0, 0.5, c), rng.uniform(0.2, 3.0, c)]
            layer.set_weights([w.astype(np.float32) for w in weights])


def assert_folded_equal(got, expected):
    """The batch norm folded into the weights: W * inv rounds once per weight where the layers round once
    per output, so the two agree to a few float32 roundings of the largest value; NaN where NaN."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(expected)
    scale = max(float(np.max(np.abs(expected[finite]))), 1e-30)
    worst = float(np.max(np.abs(got[finite] - expected[finite]))) / scale
    assert worst < 2e-6, worst


def _one_by_one(model, x):
    """The layers called one after the other under no_grad, inference mode (the unfused composition)."""
    with nn.no_grad():
        y = nn.Tensor(x)
        for layer in model.layers:
            y = layer(y, training=False)
    return y.data


class _Spy:
    """Counts calls of ``cls.call`` (the fused path never enters the folded layers' ``call``)."""

    def __init__(self, monkeypatch, *classes):
        self.calls = {cls.__name__: 0 for cls in classes}
        for cls in classes:
            original = cls.call

            def call(layer, *args, _original=original, _name=cls.__name__, **kwargs):
                self.calls[_name] += 1
                return _original(layer, *args, **kwargs)
            monkeypatch.setattr(cls, "call", call)


ACTIVATION_LAYERS = {
    "ReLU": lambda: L.ReLU(),
    "ReLU6": lambda: L.ReLU(max_value=6.0),
    "relu": lambda: L.Activation("relu"),
    "relu6": lambda: L.Activation("relu6"),
    "swish": lambda: L.Activation("swish"),
    "silu": lambda: L.Activation("silu"),
    "sigmoid": lambda: L.Activation("sigmoid"),
    "tanh": lambda: L.Activation("tanh"),
    "hard_sigmoid": lambda: L.Activation("hard_sigmoid"),
    "hard_swish": lambda: L.Activation("hard_swish"),
}

HEADS = {
    "Conv2D": lambda: L.Conv2D(8, 3, padding="same", use_bias=False),
    "Conv2D_bias_stride2": lambda: L.Conv2D(8, 3, strides=2, padding="same"),
    "Conv2D_1x1": lambda: L.Conv2D(8, 1, use_bias=False),
    "DepthwiseConv2D": lambda: L.DepthwiseConv2D(3, padding="same", use_bias=False),
    "DepthwiseConv2D_dm2_bias": lambda: L.DepthwiseConv2D(3, depth_multiplier=2),
    "SeparableConv2D": lambda: L.SeparableConv2D(8, 3, padding="same"),
}


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("activation", sorted(ACTIVATION_LAYERS))
def test_conv_bn_activation_predict_equals_layers_one_by_one(head, activation, monkeypatch):
    model = nn.Sequential([nn.Input((12, 12, 3)), HEADS[head](), L.BatchNormalization(),
                           ACTIVATION_LAYERS[activation]()])
    _randomize_bn(model)
    x = _x()
    x[0, 0, 0, 0] = np.nan  # a NaN travels the same way through both
    expected = _one_by_one(model, x)
    spy = _Spy(monkeypatch, L.BatchNormalization, type(model.layers[-1]))
    got = model.predict(x, verbose=0)
    assert spy.calls == {"BatchNormalization": 0, type(model.layers[-1]).__name__: 0}, "the chain was not fused"
    assert got.dtype == expected.dtype == np.float32
    assert_folded_equal(got, expected)
    assert np.isnan(got).any()


@pytest.mark.parametrize("scale,center", [(False, True), (True, False), (False, False)])
def test_batch_norm_without_gamma_or_beta_fuses_to_the_same_numbers(scale, center, monkeypatch):
    model = nn.Sequential([nn.Input((10, 10, 4)), L.Conv2D(6, 3), L.BatchNormalization(scale=scale, center=center),
                           L.ReLU(max_value=6.0)])
    _randomize_bn(model)
    x = _x((3, 10, 10, 4))
    expected = _one_by_one(model, x)
    spy = _Spy(monkeypatch, L.BatchNormalization)
    assert_folded_equal(model.predict(x, verbose=0), expected)
    assert spy.calls["BatchNormalization"] == 0


def test_folding_is_conv_with_scaled_weights_and_shifted_bias():
    """What folding computes, written out: conv(x, W * inv) + (b * inv + beta - mean * inv)."""
    model = nn.Sequential([nn.Input((6, 6, 2)), L.Conv2D(3, 3), L.BatchNormalization()])
    _randomize_bn(model)
    conv, bn = model.layers
    gamma, beta, mean, variance = bn.get_weights()
    inv = (1.0 / np.sqrt(variance + bn.epsilon)) * gamma
    x = _x((2, 6, 6, 2))
    with nn.no_grad():
        by_hand = conv.pre_activation(nn.Tensor(x), kernel=conv.kernel.numpy() * inv,
                                      bias=conv.bias.numpy() * inv + (beta - mean * inv)).data
    np.testing.assert_allclose(model.predict(x, verbose=0), by_hand, rtol=1e-6, atol=1e-6)


def test_epilogue_path_is_bit_for_bit():
    """A conv with its own activation before the batch norm cannot be folded: the epilogue finishes it,
    the same NumPy operations as the layers one by one, so the same bits."""
    model = nn.Sequential([nn.Input((12, 12, 3)), L.Conv2D(8, 3, activation="relu"), L.BatchNormalization(),
                           L.ReLU(6.0)])
    _randomize_bn(model)
    x = _x()
    x[0, 0, 0, 0] = np.nan
    expected = _one_by_one(model, x)
    applied = []
    original = epilogue.apply_in_place
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(epilogue, "apply_in_place", lambda y, steps: applied.append(len(steps)) or original(y, steps))
        got = model.predict(x, verbose=0)
    assert applied == [3]  # relu, y * inv + shift, relu6
    np.testing.assert_array_equal(got, expected)


def test_weights_larger_than_outputs_use_the_epilogue():
    """A 1x1 spatial output with many channels: folding would scale more weights than there are outputs."""
    model = nn.Sequential([nn.Input((3, 3, 64)), L.Conv2D(64, 3), L.BatchNormalization(), L.ReLU()])
    _randomize_bn(model)
    x = _x((2, 3, 3, 64))
    applied = []
    original = epilogue.apply_in_place
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(epilogue, "apply_in_place", lambda y, steps: applied.append(len(steps)) or original(y, steps))
        got = model.predict(x, verbose=0)
    assert applied == [2]  # y * inv + shift, relu: not folded
    np.testing.assert_array_equal(got, _one_by_one(model, x))


def test_conv_with_its_own_activation_and_no_batch_norm_is_finished_in_place(monkeypatch):
    model = nn.Sequential([nn.Input((12, 12, 3)), L.Conv2D(8, 3, activation="relu"),
                           L.Conv2D(4, 3, activation="swish"), L.Flatten()])
    x = _x()
    expected = _one_by_one(model, x)
    applied = []
    original = epilogue.apply_in_place
    monkeypatch.setattr(epilogue, "apply_in_place", lambda y, steps: applied.append(len(steps)) or original(y, steps))
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    assert applied == [1, 1]


def test_functional_mobilenet_block_fuses_and_frees_values_in_predict(monkeypatch):
    """An inverted-residual block: expand (1x1) -> BN -> ReLU6 -> depthwise -> BN -> ReLU6 -> project -> BN,
    added to its input: every conv chain fuses (the projection BN too, with no activation), the Add
    reads a fused output, and the result equals the layers one by one."""
    inputs = nn.Input((8, 8, 8))
    y = L.Conv2D(24, 1, use_bias=False)(inputs)
    y = L.BatchNormalization()(y)
    y = L.ReLU(6.0)(y)
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False)(y)
    y = L.BatchNormalization()(y)
    y = L.ReLU(6.0)(y)
    y = L.Conv2D(8, 1, use_bias=False)(y)
    y = L.BatchNormalization()(y)
    outputs = L.Add()([inputs, y])
    model = nn.Model(inputs, outputs)
    _randomize_bn(model)
    x = _x((2, 8, 8, 8))
    with nn.no_grad():
        values = {id(model.inputs[0]): nn.Tensor(x)}
        t = nn.Tensor(x)
        for layer in model.layers[1:-1]:
            t = layer(t, training=False)
        expected = (nn.Tensor(x) + t).data
    spy = _Spy(monkeypatch, L.BatchNormalization, L.ReLU)
    got = model.predict(x, verbose=0)
    assert_folded_equal(got, expected)
    assert spy.calls == {"BatchNormalization": 0, "ReLU": 0}
    del values


def test_no_fusion_where_the_rules_say_no(monkeypatch):
    """With a tape, in training mode, in the reference tier, and when the BN output has a second
    reader, the layers run one by one (their ``call`` is entered) and the numbers stay right."""
    inputs = nn.Input((8, 8, 3))
    conv = L.Conv2D(4, 3)(inputs)
    bn = L.BatchNormalization()(conv)
    act = L.ReLU()(bn)
    both = L.Concatenate()([act, bn])  # the BN output is read twice: BN fuses, the ReLU cannot
    model = nn.Model(inputs, both)
    _randomize_bn(model)
    x = _x((2, 8, 8, 3))
    spy = _Spy(monkeypatch, L.BatchNormalization, L.ReLU)
    got = model.predict(x, verbose=0)
    assert spy.calls == {"BatchNormalization": 0, "ReLU": 1}
    with nn.no_grad():
        b = model.layers[2](model.layers[1](nn.Tensor(x)), training=False).data
    assert_folded_equal(got, np.concatenate([np.maximum(b, 0), b], axis=-1))

    seq = nn.Sequential([nn.Input((8, 8, 3)), L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU()])
    _randomize_bn(seq)
    for how in ("tape", "training", "reference"):
        spy = _Spy(monkeypatch, L.BatchNormalization)
        if how == "tape":
            seq(nn.Tensor(x), training=False)
        elif how == "training":  # batch statistics (BN + ReLU may still fuse, as in training): moving mean moves
            before = seq.layers[1].moving_mean.numpy()
            with nn.no_grad():
                seq(nn.Tensor(x), training=True)
            assert not np.array_equal(seq.layers[1].moving_mean.numpy(), before)
            continue
        else:
            with nn.config.use_kernels("reference"), nn.no_grad():
                seq(nn.Tensor(x), training=False)
        assert spy.calls["BatchNormalization"] == 1, how


def test_float64_input_is_cast_like_the_unfused_layer():
    model = nn.Sequential([nn.Input((12, 12, 3)), L.Conv2D(8, 3), L.BatchNormalization(), L.ReLU()])
    _randomize_bn(model)
    x = _x(dtype=np.float64)
    got = model.predict(x, verbose=0)
    assert got.dtype == np.float32
    assert_folded_equal(got, _one_by_one(model, x.astype(np.float32)))


def test_wrong_input_shape_still_names_the_layer():
    model = nn.Sequential([nn.Input((12, 12, 3)), L.Conv2D(8, 3), L.BatchNormalization(), L.ReLU()])
    conv, bn, relu = model.layers  # called straight, as Graph.run would after its own input check
    with nn.no_grad(), pytest.raises(ValueError, match=conv.name) as error:
        fusion.fuse_inference(conv, [bn, relu], nn.Tensor(_x((2, 12, 12, 5))), training=False)
    assert "5" in str(error.value) and "3" in str(error.value)


def test_fused_results_do_not_depend_on_the_thread_count(monkeypatch):
    from numpy_nn.ops.kernels import threads
    model = nn.Sequential([nn.Input((32, 32, 16)), L.Conv2D(32, 3, padding="same"), L.BatchNormalization(),
                           L.Activation("swish")])
    _randomize_bn(model)
    x = _x((8, 32, 32, 16))  # 8*32*32*32*4 bytes = 1 MiB of output: the threaded path
    one = model.predict(x, verbose=0)
    monkeypatch.setattr(threads, "THREADS", 1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), one)


def test_fused_conv_bn_relu6_model_matches_keras():
    keras = import_keras()
    km = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(8, 3, padding="same", use_bias=False),
                           keras.layers.BatchNormalization(), keras.layers.ReLU(6.0),
                           keras.layers.DepthwiseConv2D(3, use_bias=False), keras.layers.BatchNormalization(),
                           keras.layers.Activation("swish")])
    ours = nn.Sequential([nn.Input((12, 12, 3)), L.Conv2D(8, 3, padding="same", use_bias=False),
                          L.BatchNormalization(), L.ReLU(6.0), L.DepthwiseConv2D(3, use_bias=False),
                          L.BatchNormalization(), L.Activation("swish")])
    _randomize_bn(ours)
    for k, o in zip(km.layers, ours.layers):
        if o.get_weights():
            k.set_weights(o.get_weights())
    x = _x((4, 12, 12, 3)) * 3
    theirs = np.asarray(km.predict(x, verbose=0))
    got = ours.predict(x, verbose=0)
    diff = float(np.max(np.abs(got - theirs)))
    print(f"fused conv-BN-ReLU6-depthwise-BN-swish vs Keras: max abs {diff:.2e}, "
          f"max rel {relative_diff(got, theirs):.2e}")
    assert relative_diff(got, theirs) < 1e-5


def test_a_tapped_layer_is_not_fused_so_the_tap_sees_and_changes_its_output():
    """numpy_nn.viz.tape.tap wraps ``layer.call`` on the instance; a fused chain would skip the wrapper."""
    from numpy_nn.viz import tape
    model = nn.Sequential([nn.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu", name="conv"),
                           L.BatchNormalization(name="bn"), L.ReLU(name="act"), L.GlobalAveragePooling2D()])
    _randomize_bn(model)
    x = _x((2, 8, 8, 3))
    plain = model.predict(x, verbose=0)
    for name in ("conv", "bn", "act"):
        with tape.tap(model, [name], logits=False, replace={name: lambda out: out * 0.0}) as found:
            with nn.no_grad():
                changed = model(nn.Tensor(x), training=False).data
        assert name in found, name
        assert not np.allclose(changed, plain), name
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain)  # untapped again: fused, same numbers


def test_functional_conv_with_its_own_activation_runs_once(monkeypatch):
    """A functional conv whose only fusion is its own activation: the fused op's result is used, and the
    layer's own ``call`` is never entered (regression: Graph.run discarded it and ran the conv again)."""
    inputs = nn.Input((12, 12, 3))
    outputs = L.GlobalAveragePooling2D()(L.Conv2D(8, 3, activation="relu")(inputs))
    model = nn.Model(inputs, outputs)
    x = _x()
    with nn.no_grad():
        expected = model.layers[2](model.layers[1](nn.Tensor(x), training=False)).data
    spy = _Spy(monkeypatch, L.Conv2D)
    applied = []
    original = epilogue.apply_in_place
    monkeypatch.setattr(epilogue, "apply_in_place", lambda y, steps: applied.append(len(steps)) or original(y, steps))
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    assert spy.calls == {"Conv2D": 0} and applied == [1]


def test_a_user_function_named_like_an_activation_is_not_fused():
    def relu(x):  # not numpy_nn's relu: the epilogue must not stand in for it
        return nn.activations.relu(x) * 2.0

    model = nn.Sequential([nn.Input((12, 12, 3)), L.Conv2D(8, 3, activation=relu)])
    x = _x()
    with nn.no_grad():
        expected = model.layers[0](nn.Tensor(x), training=False).data
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    assert np.max(expected) > 0
