"""Small architectures written once and built twice: with numpy_nn and with Keras.

Each builder takes a namespace ``L`` (layer classes + ``Input`` + ``Model``) so the same code
produces a numpy_nn model and a Keras model with the same layer names and the same graph; the
tests then copy Keras's weights over with ``set_weights`` and compare.
"""
from types import SimpleNamespace

import numpy as np


def ours():
    from numpy_nn.layers.conv import Conv2D
    from numpy_nn.layers.core import Activation, Dense
    from numpy_nn.layers.dropout import Dropout
    from numpy_nn.layers.input_layer import Input
    from numpy_nn.layers.merge import Add, Concatenate, Multiply, Subtract
    from numpy_nn.layers.normalization import BatchNormalization
    from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
    from numpy_nn.layers.reshaping import Flatten
    from numpy_nn.models.functional import Model
    from numpy_nn.models.sequential import Sequential
    return SimpleNamespace(Dense=Dense, Conv2D=Conv2D, Activation=Activation, Dropout=Dropout, Input=Input,
                           Add=Add, Concatenate=Concatenate, Multiply=Multiply, Subtract=Subtract,
                           BatchNormalization=BatchNormalization, GlobalAveragePooling2D=GlobalAveragePooling2D,
                           MaxPooling2D=MaxPooling2D, Flatten=Flatten, Model=Model, Sequential=Sequential)


def theirs(keras):
    k = keras.layers
    return SimpleNamespace(Dense=k.Dense, Conv2D=k.Conv2D, Activation=k.Activation, Dropout=k.Dropout,
                           Input=keras.Input, Add=k.Add, Concatenate=k.Concatenate, Multiply=k.Multiply,
                           Subtract=k.Subtract, BatchNormalization=k.BatchNormalization,
                           GlobalAveragePooling2D=k.GlobalAveragePooling2D, MaxPooling2D=k.MaxPooling2D,
                           Flatten=k.Flatten, Model=keras.Model, Sequential=keras.Sequential)


def mlp(L, kernel_regularizer=None):
    """Single input, single output, with a regularized hidden layer."""
    x = L.Input((6,), name="features")
    h = L.Dense(8, activation="tanh", name="hidden", kernel_regularizer=kernel_regularizer)(x)
    y = L.Dense(3, activation="softmax", name="probs")(h)
    return L.Model(x, y, name="mlp")


def two_branch(L):
    """Named inputs brancha/branchb, two named outputs, a Concatenate joining the branches."""
    a = L.Input((5,), name="brancha")
    b = L.Input((4,), name="branchb")
    ha = L.Dense(6, activation="relu", name="dense_a")(a)
    hb = L.Dense(6, activation="tanh", name="dense_b")(b)
    h = L.Concatenate(name="join")([ha, hb])
    score = L.Dense(1, activation="sigmoid", name="score")(h)
    kind = L.Dense(3, activation="softmax", name="kind")(h)
    return L.Model({"brancha": a, "branchb": b}, {"score": score, "kind": kind}, name="two_branch")


def shared_siamese(L):
    """One encoder layer applied to two inputs; the distance feeds a sigmoid."""
    left = L.Input((5,), name="left")
    right = L.Input((5,), name="right")
    encoder = L.Dense(4, activation="tanh", name="encoder")
    diff = L.Subtract(name="diff")([encoder(left), encoder(right)])
    sq = L.Multiply(name="square")([diff, diff])
    out = L.Dense(1, activation="sigmoid", name="same")(sq)
    return L.Model([left, right], out, name="siamese")


def nested(L):
    """A model used as a layer inside another model."""
    inner_in = L.Input((4,), name="inner_in")
    inner_out = L.Dense(5, activation="relu", name="inner_dense")(inner_in)
    inner = L.Model(inner_in, inner_out, name="inner")
    x = L.Input((4,), name="outer_in")
    h = inner(x)
    y = L.Dense(2, name="head")(L.Add(name="residual")([h, L.Dense(5, name="skip")(x)]))
    return L.Model(x, y, name="outer")


def small_cnn(L):
    """Conv -> BN -> ReLU -> pool -> conv -> GAP -> Dense softmax (BN has non-trainable weights)."""
    x = L.Input((8, 8, 2), name="image")
    h = L.Conv2D(4, 3, padding="same", use_bias=False, name="conv1")(x)  # BN cancels a bias
    h = L.BatchNormalization(name="bn")(h)
    h = L.Activation("relu", name="relu")(h)
    h = L.MaxPooling2D(name="pool")(h)
    h = L.Conv2D(6, 3, padding="valid", activation="relu", name="conv2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    y = L.Dense(3, activation="softmax", name="out")(h)
    return L.Model(x, y, name="cnn")


def sequential_mlp(L):
    return L.Sequential([L.Input((6,)), L.Dense(7, activation="relu", name="s1"),
                         L.Dense(2, name="s2")], name="seq")


def copy_weights(keras_model, our_model):
    """Keras weights -> ours, whole-model (so the weight order must agree)."""
    our_model.set_weights(keras_model.get_weights())


def data(seed, n, shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n,) + tuple(s)).astype("float32") for s in shapes]
