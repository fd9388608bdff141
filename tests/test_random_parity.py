"""Randomized differential testing of layers against live Keras (JAX backend).

A seeded sweep draws layer configurations (kernel/pool geometry, groups, activations, axes,
merge broadcasting, ...) and compares, for each one, our layer with Keras's built from the same
config and weights: forward (training and inference), gradients w.r.t. inputs and trainable
weights, ``compute_output_shape``, ``count_params``, ``get_config`` keys and BatchNormalization
moving statistics after a training call. Regression cases for bugs the sweep found come first.
"""
import inspect
import random

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as ours_layers
from numpy_nn.layers.core import Embedding
from tests.keras_helpers import import_keras, relative_diff

pytestmark = pytest.mark.keras

ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax", "elu", "selu", "softplus", "softsign",
               "swish", "gelu", "hard_sigmoid", "leaky_relu", "relu6", "silu", "mish", "log_softmax"]


def _keras_grads(keras_layer, xs, upstream, training):
    """jax.grad of sum(upstream * layer(xs)) w.r.t. every input and trainable weight."""
    import jax
    import jax.numpy as jnp
    trainable = [v.value for v in keras_layer.trainable_variables]
    non_trainable = [v.value for v in keras_layer.non_trainable_variables]
    kwargs = {"training": training} if "training" in inspect.signature(keras_layer.call).parameters else {}

    def loss(xs_, tv):
        out, _ = keras_layer.stateless_call(tv, non_trainable, xs_ if len(xs_) > 1 else xs_[0], **kwargs)
        return jnp.sum(out * upstream)

    gx, gw = jax.grad(loss, argnums=(0, 1))([jnp.asarray(x) for x in xs], trainable)
    return [np.asarray(g) for g in gx + gw]


def _one(values):
    return values if len(values) > 1 else values[0]


def assert_parity(keras, name, config, shapes, seed, stochastic=False):
    """Build both layers from ``config``, copy random Keras weights, compare everything."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    theirs = getattr(keras.layers, name)(**config)
    theirs(_one(xs))
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in theirs.get_weights()]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, theirs.weights)]
    theirs.set_weights(weights)
    ours = getattr(ours_layers, name)(**config)
    ours(_one(xs))
    ours.set_weights(theirs.get_weights())
    where = f"{name}({config}) on {shapes}"

    assert set(ours.get_config()) == set(theirs.get_config()), where
    assert ours.count_params() == theirs.count_params(), where
    for batch in ([tuple(s) for s in shapes], [(None,) + tuple(s[1:]) for s in shapes]):
        assert tuple(ours.compute_output_shape(_one(batch))) == tuple(theirs.compute_output_shape(_one(batch))), where

    for training in ([False] if stochastic else [False, True]):
        if name == "BatchNormalization" and training:  # moving statistics after one training call
            a, b = ours_layers.BatchNormalization(**config), keras.layers.BatchNormalization(**config)
            a(xs[0]), b(xs[0])
            a.set_weights(weights), b.set_weights(weights)
            a(xs[0], training=True), b(xs[0], training=True)
            for wa, wb in zip(a.get_weights(), b.get_weights()):
                assert relative_diff(wa, wb) <= 1e-6, where
        inputs = [nn.Tensor(x, requires_grad=True) for x in xs]
        out = ours(_one(inputs), training=training)
        expected = np.asarray(theirs(_one(xs), training=training))
        assert out.dtype == np.float32, where
        assert relative_diff(out.data, expected) <= 1e-5, f"{where} training={training}"
        upstream = rng.standard_normal(expected.shape).astype("float32")
        grads = nn.grad(out, inputs + list(ours.trainable_weights), grad_output=upstream)
        keras_grads = _keras_grads(theirs, xs, upstream, training)
        assert len(grads) == len(keras_grads), where
        for i, (g, k) in enumerate(zip(grads, keras_grads)):
            assert relative_diff(np.asarray(g), k) <= 1e-4, f"{where} training={training} gradient {i}"


def draw_config(r):
    """One random (name, config, input shapes, stochastic) over the layer families."""
    kind = r.choice(["Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization",
                     "LayerNormalization", "MaxPooling2D", "AveragePooling2D", "Add", "Concatenate",
                     "ReLU", "Softmax", "UpSampling2D", "ZeroPadding2D", "Permute", "PReLU"])
    batch, height, width, channels = r.randint(1, 3), r.randint(1, 6), r.randint(1, 6), r.randint(1, 4)
    activation = r.choice(ACTIVATIONS)
    if kind == "Dense":
        shape = (batch,) + tuple(r.randint(1, 4) for _ in range(r.randint(1, 3)))
        return kind, dict(units=r.randint(1, 4), activation=activation, use_bias=r.random() < .7), [shape], False
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        kernel = (r.randint(1, 3), r.randint(1, 3))
        strides, dilation = ((r.randint(1, 3), r.randint(1, 3)), (1, 1)) if r.random() < .5 else \
            ((1, 1), (r.randint(1, 2), r.randint(1, 2)))
        config = dict(kernel_size=kernel, strides=strides, dilation_rate=dilation,
                      padding=r.choice(["valid", "same"]), activation=activation, use_bias=r.random() < .7)
        if kind == "Conv2D":
            groups = r.choice([1, 2, 3])
            channels = groups * r.randint(1, 2)
            config.update(filters=groups * r.randint(1, 2), groups=groups)
        else:
            config.update(depth_multiplier=r.randint(1, 3))
            if kind == "SeparableConv2D":
                config.update(filters=r.randint(1, 3))
        shape = (batch, r.randint(dilation[0] * (kernel[0] - 1) + 1, 7), r.randint(dilation[1] * (kernel[1] - 1) + 1, 7),
                 channels)
        return kind, config, [shape], False
    if kind == "BatchNormalization":
        shape = (r.randint(2, 4),) + tuple(r.randint(1, 3) for _ in range(r.randint(1, 3)))
        return kind, dict(axis=r.choice([-1, 1]), momentum=r.choice([0.99, 0.5]), epsilon=r.choice([1e-3, 0.1]),
                          center=r.random() < .7, scale=r.random() < .7), [shape], False
    if kind == "LayerNormalization":
        shape = (batch, r.randint(2, 4), r.randint(2, 4), r.randint(2, 4))
        return kind, dict(axis=r.choice([-1, [1, 3], [1, 2, 3], -2]), center=r.random() < .7,
                          scale=r.random() < .7), [shape], False
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        pool = (r.randint(1, 3), r.randint(1, 3))
        config = dict(pool_size=pool, padding=r.choice(["valid", "same"]),
                      strides=r.choice([None, (r.randint(1, 3), r.randint(1, 3))]))
        return kind, config, [(batch, r.randint(pool[0], 6), r.randint(pool[1], 6), channels)], False
    full = (batch, height, width, channels)
    if kind == "Add":
        return kind, {}, [full, r.choice([full, (batch, 1, width, channels), (batch, height, 1, 1)])], False
    if kind == "Concatenate":
        axis = r.choice([-1, 1, 2])
        shapes = [list(full), list(full)]
        shapes[1][axis] = r.randint(1, 3)
        return kind, dict(axis=axis), [tuple(s) for s in shapes], False
    if kind == "ReLU":
        return kind, dict(max_value=r.choice([None, 1.0, 6.0]), negative_slope=r.choice([0.0, 0.2]),
                          threshold=r.choice([0.0, 0.3, -0.2])), [full], False
    if kind == "Softmax":
        return kind, dict(axis=r.choice([-1, 1, [1, 2]])), [full], False
    if kind == "UpSampling2D":
        return kind, dict(size=(r.randint(1, 3), r.randint(1, 3)),
                          interpolation=r.choice(["nearest", "bilinear"])), [full], False
    if kind == "ZeroPadding2D":
        return kind, dict(padding=((r.randint(0, 2), r.randint(0, 2)), (r.randint(0, 2), r.randint(0, 2)))), [full], False
    if kind == "Permute":
        return kind, dict(dims=tuple(r.sample([1, 2, 3], 3))), [full], False
    return kind, dict(shared_axes=r.choice([None, [1, 2], [3]])), [full], False


# -- regressions found by the sweep ------------------------------------------------------------------------
def test_embedding_config_has_keras_keys_and_activity_regularizer():
    keras = import_keras()
    theirs = keras.layers.Embedding(5, 3)
    ours = Embedding(5, 3)
    assert set(ours.get_config()) == set(theirs.get_config())
    assert ours.get_config()["activity_regularizer"] is None and ours.get_config()["quantization_config"] is None
    # activity_regularizer works as in Keras: penalty(outputs) / batch size
    indices = np.array([[0, 1, 4], [2, 2, 3]])
    theirs = keras.layers.Embedding(5, 3, activity_regularizer="l2")
    ours = Embedding(5, 3, activity_regularizer="l2")
    theirs(indices)
    ours(indices)
    ours.set_weights(theirs.get_weights())
    ours(indices)
    theirs(indices)
    assert len(ours.losses) == 1 and len(theirs.losses) == 1
    assert relative_diff(float(np.asarray(ours.losses[0].data)), float(theirs.losses[0])) <= 1e-6
    assert Embedding.from_config(ours.get_config()).get_config() == ours.get_config()


@pytest.mark.parametrize("name, config, shapes", [
    ("Conv2D", dict(filters=4, kernel_size=(3, 1), strides=(2, 1), padding="same", groups=2), [(2, 5, 6, 4)]),
    ("SeparableConv2D", dict(filters=3, kernel_size=3, dilation_rate=2, depth_multiplier=2, padding="same"),
     [(2, 6, 6, 2)]),
    ("BatchNormalization", dict(axis=1, momentum=0.5), [(4, 3, 2, 2)]),
    ("LayerNormalization", dict(axis=(-3, -1)), [(2, 3, 2, 4)]),
    ("Maximum", {}, [(2, 3, 4), (2, 3, 1), (2, 1, 4)]),
])
def test_fixed_edge_configs(name, config, shapes):
    assert_parity(import_keras(), name, config, shapes, seed=7)


# -- the seeded sweep --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(10))
def test_random_layer_config_matches_keras(seed):
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    name, config, shapes, stochastic = draw_config(random.Random(1000 + seed))
    assert_parity(keras, name, config, shapes, seed, stochastic)
