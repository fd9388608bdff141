"""Bad inputs and what they raise: one list, ``ROWS``, drives both the tests and ``docs/errors.md``.

Each row is a one-line snippet run in a fresh namespace (``NAMESPACE`` below: NumPy as ``np``,
``numpy_nn`` as ``nn``, the layer classes, the loss/metric/... modules, and ``small_model()``),
the exception (or warning) it must raise, fragments the message must contain, and optionally a
check run afterwards (e.g. "the weights did not change"). ``render_table()`` turns the list into
the Markdown table of ``docs/errors.md``; ``test_doc_is_up_to_date`` fails when they drift apart.
Regenerate the doc with ``python -m tests.test_errors``.

The second half is a Hypothesis test that throws random bad shapes, dtypes and structures at every
layer class, built and unbuilt, and asserts that only ValueError/TypeError come out, that their
message names the layer, and that a failed call changes no weight.
"""
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import numpy_nn as nn
from numpy_nn import activations, callbacks, constraints, initializers, losses, metrics, optimizers, regularizers
from numpy_nn.callbacks import TerminateOnNaN
from numpy_nn.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from numpy_nn.layers.base import clear_session
from numpy_nn.layers.conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from numpy_nn.layers.conv1d import Conv1D, DepthwiseConv1D, SeparableConv1D
from numpy_nn.layers.conv_transpose import Conv1DTranspose, Conv2DTranspose
from numpy_nn.layers.core import Activation, Dense, Embedding, Identity
from numpy_nn.layers.dropout import Dropout, GaussianNoise, SpatialDropout2D
from numpy_nn.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from numpy_nn.layers.normalization import BatchNormalization, LayerNormalization
from numpy_nn.layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                                     GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from numpy_nn.layers.preprocessing import Normalization, Rescaling
from numpy_nn.layers.reshaping import (Cropping1D, Cropping2D, Flatten, Permute, Reshape, UpSampling1D, UpSampling2D,
                                       ZeroPadding1D, ZeroPadding2D)
from numpy_nn.layers import (GRU, LSTM, RNN, Bidirectional, GRUCell, LSTMCell, Masking, SimpleRNN, SimpleRNNCell,
                             StackedRNNCells, TimeDistributed)
from numpy_nn.models import Input, Model, Sequential

DOC_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "errors.md")


def small_model(compiled=True):
    """Sequential([Input((4,), name="features"), Dense(2, name="out")]), compiled with SGD and MSE."""
    model = Sequential([Input((4,), name="features"), Dense(2, name="out")])
    if compiled:
        model.compile(optimizer="sgd", loss="mse")
    return model


NAMESPACE = {name: value for name, value in globals().items() if not name.startswith("_")}


@dataclass
class Row:
    topic: str
    code: str              # one line, run with exec() in a copy of NAMESPACE
    raises: type = None    # an Exception or Warning class; None: must run without error
    match: tuple = ()      # fragments the message must contain
    then: str = ""         # a check run afterwards, in the same namespace
    note: str = ""         # why, when we differ from Keras or the behaviour is not obvious


ARGS, SHAPES, DTYPES, NAMES, TARGETS, WEIGHTS, MODELS = (
    "Invalid layer arguments", "Wrong rank or shape into a layer", "Dtypes and structures",
    "Unknown names", "Targets, losses and metrics", "set_weights (nothing changes on failure)",
    "Models, fit, evaluate, predict")

ROWS = [
    # -- invalid layer arguments (checked in __init__, the layer is named) ------------------------
    Row(ARGS, "Dense(0)", ValueError, ("'dense'", "units=0")),
    Row(ARGS, "Dense(-3)", ValueError, ("'dense'", "units=-3")),
    Row(ARGS, "Conv2D(0, 3)", ValueError, ("'conv2d'", "filters=0")),
    Row(ARGS, "Conv2D(8, 0)", ValueError, ("'conv2d'", "kernel_size=0")),
    Row(ARGS, "Conv2D(8, 3, strides=0)", ValueError, ("'conv2d'", "strides=0")),
    Row(ARGS, "Conv2D(8, 3, strides=2, dilation_rate=2)", ValueError,
        ("'conv2d'", "strides=(2, 2)", "dilation_rate=(2, 2)")),
    Row(ARGS, "Conv2D(8, 3, padding='full')", ValueError, ("'conv2d'", "'valid' or 'same'", "padding='full'")),
    Row(ARGS, "DepthwiseConv2D(3, depth_multiplier=0)", ValueError, ("'depthwise_conv2d'", "depth_multiplier=0")),
    Row(ARGS, "Conv1D(4, 3, padding='full')", ValueError, ("'conv1d'", "'valid', 'same' or 'causal'", "padding='full'")),
    Row(ARGS, "SeparableConv1D(4, 3, padding='causal')", ValueError,
        ("'separable_conv1d'", "'valid' or 'same'", "padding='causal'"), note="causal exists for Conv1D only, as in Keras"),
    Row(ARGS, "Conv2DTranspose(4, 3, strides=2, output_padding=2)", ValueError,
        ("'conv2d_transpose'", "`output_padding` must be strictly less than `strides`", "output_padding=(2, 2)")),
    Row(ARGS, "Conv1D(4, 3, data_format='channels_middle')", ValueError,
        ("'conv1d'", "'channels_last' or 'channels_first'", "data_format='channels_middle'")),
    Row(ARGS, "Dropout(1.5)", ValueError, ("'dropout'", "between 0 and 1", "rate=1.5")),
    Row(ARGS, "Dropout(-0.1)", ValueError, ("'dropout'", "rate=-0.1")),
    Row(ARGS, "MaxPooling2D(pool_size=0)", ValueError, ("'max_pooling2d'", "pool_size=0")),
    Row(ARGS, "AveragePooling2D(2, padding='full')", ValueError, ("'average_pooling2d'", "padding='full'")),
    Row(ARGS, "UpSampling2D(0)", ValueError, ("'up_sampling2d'", "size=0")),
    Row(ARGS, "UpSampling1D(data_format='channels_first')", TypeError,
        ("'up_sampling1d'", "no data_format", "data_format='channels_first'"),
        note="as in Keras, UpSampling1D and Cropping1D take channels_last inputs only"),
    Row(ARGS, "ZeroPadding1D(data_format='NCW')", ValueError, ("'zero_padding1d'", "data_format='NCW'")),
    Row(ARGS, "Embedding(0, 4)", ValueError, ("'embedding'", "input_dim=0")),
    Row(ARGS, "Reshape((-1, -1))", ValueError, ("'reshape'", "at most one -1", "target_shape=(-1, -1)")),
    Row(ARGS, "BatchNormalization(momentum=1.5)", ValueError, ("'batch_normalization'", "momentum=1.5")),
    Row(ARGS, "BatchNormalization(axis=5)(np.ones((2, 4, 4, 3)))", ValueError,
        ("'batch_normalization'", "axis=5", "(None, 4, 4, 3)")),
    Row(ARGS, "LayerNormalization(axis=4)(np.ones((2, 3, 5)))", ValueError,
        ("'layer_normalization'", "axis=4", "(None, 3, 5)")),
    Row(ARGS, "Concatenate(axis=3)([np.ones((2, 4)), np.ones((2, 4))])", ValueError,
        ("'concatenate'", "axis=3", "[(None, 4), (None, 4)]")),
    # -- wrong rank or shape: the layer is named, expected and received shapes shown ---------------
    Row(SHAPES, "Dense(3)(np.ones(4))", ValueError, ("'dense'", "min_ndim=2", "found ndim=1", "(4,)")),
    Row(SHAPES, "Conv2D(8, 3)(np.ones((2, 28, 28)))", ValueError,
        ("'conv2d'", "expected ndim=4", "found ndim=3", "(2, 28, 28)")),
    Row(SHAPES, "layer = Dense(3); layer(np.ones((2, 4))); layer(np.ones((2, 5)))", ValueError,
        ("'dense'", "last axis 4", "(2, 5)"), then="assert layer.kernel.shape == (4, 3)"),
    Row(SHAPES, "layer = Conv2D(8, 3); layer(np.ones((1, 8, 8, 3))); layer(np.ones((1, 8, 8, 1)))", ValueError,
        ("'conv2d'", "value 3", "(1, 8, 8, 1)")),
    Row(SHAPES, "layer = BatchNormalization(); layer(np.ones((2, 3))); layer(np.ones((2, 5)))", ValueError,
        ("'batch_normalization'", "3 channels", "(2, 5)")),
    Row(SHAPES, "layer = LayerNormalization(); layer(np.ones((2, 3))); layer(np.ones((2, 5)))", ValueError,
        ("'layer_normalization'", "(3,)", "(2, 5)")),
    Row(SHAPES, "Conv1D(4, 3)(np.ones((2, 8, 8, 3)))", ValueError, ("'conv1d'", "expected ndim=3", "found ndim=4")),
    Row(SHAPES, "layer = Conv2DTranspose(4, 3, data_format='channels_first'); layer(np.ones((1, 3, 8, 8))); "
                "layer(np.ones((1, 8, 8, 3)))", ValueError, ("'conv2d_transpose'", "value 3", "(1, 8, 8, 3)")),
    Row(SHAPES, "Conv1DTranspose(4, 2, padding='same', output_padding=0)(np.ones((1, 1, 3)))", ValueError,
        ("'conv1d_transpose'", "zero or negative", "(None, 1, 3)"),
        note="Keras returns an empty (1, 0, 4) output here"),
    Row(SHAPES, "Conv2D(8, 5)(np.ones((1, 3, 3, 1)))", ValueError, ("'conv2d'", "zero or negative", "(None, 3, 3, 1)")),
    Row(SHAPES, "layer = Conv2D(8, 3); layer(np.ones((1, 8, 8, 1))); layer(np.ones((1, 2, 2, 1)))", ValueError,
        ("'conv2d'", "zero or negative", "(1, 2, 2, 1)"),
        note="a built layer re-checks the output size on every call"),
    Row(SHAPES, "MaxPooling2D(4)(np.ones((1, 2, 2, 1)))", ValueError,
        ("'max_pooling2d'", "zero or negative", "pool_size=(4, 4)")),
    Row(SHAPES, "MaxPooling1D()(np.ones((2, 8, 8, 3)))", ValueError,
        ("'max_pooling1d'", "expected ndim=3", "found ndim=4", "(2, 8, 8, 3)")),
    Row(SHAPES, "Cropping1D((3, 3))(np.ones((2, 5, 3)))", ValueError,
        ("'cropping1d'", "cropping=(3, 3)", "(2, 5, 3)")),
    Row(SHAPES, "GlobalAveragePooling1D()(np.ones((2, 5, 3)), mask=np.ones((2, 4), bool))", ValueError,
        ("'global_average_pooling1d'", "(batch, steps) = (2, 5)", "(2, 5, 3)", "(2, 4)")),
    Row(SHAPES, "Add()([np.ones((2, 4)), np.ones((2, 5))])", ValueError, ("'add'", "[(None, 4), (None, 5)]")),
    Row(SHAPES, "Add()([np.ones((2, 4)), np.ones((3, 4))])", ValueError, ("'add'", "batch sizes", "(3, 4)")),
    Row(SHAPES, "Concatenate()([np.ones((2, 3, 4)), np.ones((2, 5, 4))])", ValueError,
        ("'concatenate'", "(None, 3, 4)", "(None, 5, 4)")),
    Row(SHAPES, "Subtract()([np.ones((2, 4))] * 3)", ValueError, ("'subtract'", "exactly 2 inputs", "received 3")),
    Row(SHAPES, "Reshape((5,))(np.ones((2, 4)))", ValueError, ("'reshape'", "4 values per sample", "(5,)")),
    Row(SHAPES, "Permute((2, 1))(np.ones((2, 3)))", ValueError, ("'permute'", "expected ndim=3", "(2, 3)")),
    Row(SHAPES, "Dense(3)(np.ones((2, 0)))", ValueError, ("'dense'", "empty axis", "(2, 0)"),
        note="Keras would build a (0, 3) kernel; an empty feature axis is always a bug"),
    Row(SHAPES, "out = Dense(3)(np.zeros((0, 4)))", None, then="assert out.shape == (0, 3)",
        note="an empty batch is fine, as in Keras"),
    Row(SHAPES, "BatchNormalization()(np.zeros((0, 3)), training=True)", ValueError,
        ("'batch_normalization'", "empty batch", "(0, 3)"),
        note="Keras would write NaN into the moving statistics"),
    # -- dtypes and structures --------------------------------------------------------------------
    Row(DTYPES, "out = Dense(3)(np.ones((2, 4), dtype=np.int64))", None, then="assert out.dtype == np.float32",
        note="integers are cast to the layer's dtype"),
    Row(DTYPES, "out = Dense(3)(np.ones((2, 4), dtype=np.float16))", None, then="assert out.dtype == np.float32",
        note="float16 is computed in floatx"),
    Row(DTYPES, "Dense(3)(np.array([['a', 'b', 'c', 'd']]))", TypeError, ("'dense'", "numeric", "<U1")),
    Row(DTYPES, "Dense(3)(np.array([[None] * 4], dtype=object))", TypeError, ("'dense'", "numeric", "object")),
    Row(DTYPES, "Dense(3)(np.ones((2, 4), dtype=np.complex64))", TypeError, ("'dense'", "complex64")),
    Row(DTYPES, "Dense(3)([np.ones((2, 4)), np.ones((2, 4))])", ValueError,
        ("'dense'", "expects 1 input tensor", "list of 2 inputs")),
    Row(DTYPES, "Dense(3)([Input((4,)), Input((4,))])", ValueError,
        ("'dense'", "expects 1 input tensor", "list of 2 inputs")),
    Row(DTYPES, "Dense(3)([[1.0, 2.0], [3.0]])", ValueError, ("'dense'", "expects 1 input tensor", "np.asarray")),
    Row(DTYPES, "Add()(np.ones((2, 4)))", ValueError, ("'add'", "list of tensors", "(None, 4)")),
    Row(DTYPES, "nn.Tensor(['a', 'b'])", TypeError, ("Tensor", "<U1")),
    Row(DTYPES, "nn.Tensor(np.ones((2, 3))) + np.ones(4)", ValueError, ("Tensor Add", "(2, 3)", "(4,)")),
    # -- unknown names: the message lists the valid ones ------------------------------------------
    Row(NAMES, "Activation('rellu')", ValueError, ("'rellu'", "'relu'", "'sigmoid'")),
    Row(NAMES, "Dense(3, activation='rellu')", ValueError, ("'rellu'", "'relu'")),
    Row(NAMES, "optimizers.get('adamm')", ValueError, ("'adamm'", "'sgd'", "Did you mean 'adam'?")),
    Row(NAMES, "losses.get('mean_squared_eror')", ValueError,
        ("'mean_squared_eror'", "Did you mean 'mean_squared_error'?")),
    Row(NAMES, "metrics.get('acuracy')", ValueError, ("'acuracy'", "Did you mean 'accuracy'?")),
    Row(NAMES, "initializers.get('glorot')", ValueError, ("'glorot'", "'glorot_uniform'")),
    Row(NAMES, "regularizers.get('l3')", ValueError, ("'l3'", "l1", "l2")),
    Row(NAMES, "constraints.get('nonneg')", ValueError, ("'nonneg'", "'non_neg'")),
    Row(NAMES, "Dense(3, kernel_constraint='nonneg')", ValueError, ("'nonneg'", "'non_neg'")),
    Row(NAMES, "small_model(compiled=False).compile(optimizer='adamm', loss='mse')", ValueError, ("'adamm'", "'adam'")),
    Row(NAMES, "small_model(compiled=False).compile(optimizer='sgd', loss='mean_squared_eror')", ValueError,
        ("'mean_squared_eror'", "Did you mean 'mean_squared_error'?"), note="at compile(), not when fit() runs"),
    Row(NAMES, "small_model(compiled=False).compile(optimizer='sgd', loss='mse', metrics=['acuracy'])", ValueError,
        ("'acuracy'", "Did you mean 'accuracy'?"), note="at compile(), not when fit() runs"),
    Row(NAMES, "x = Input((4,)); Model(inputs=x, outpus=Dense(2)(x))", TypeError,
        ("Model", "['outpus']", "Did you mean 'outputs'?")),
    Row(NAMES, "Sequential(layer=[Dense(2)])", TypeError, ("Sequential", "['layer']", "Did you mean 'layers'?")),
    Row(NAMES, "Dense(3, activaton='relu')", TypeError, ("Dense", "['activaton']", "Did you mean 'activation'?")),
    Row(NAMES, "Conv2D(8, 3, stride=2)", TypeError, ("Conv2D", "['stride']", "Did you mean 'strides'?")),
    # -- targets, losses and metrics ----------------------------------------------------------------
    Row(TARGETS, "losses.sparse_categorical_crossentropy(np.array([0, 3]), np.full((2, 3), 1 / 3))", ValueError,
        ("label 3", "[0, 3)")),
    Row(TARGETS, "losses.sparse_categorical_crossentropy(np.array([0, -1]), np.full((2, 3), 1 / 3))", ValueError,
        ("label -1", "[0, 3)")),
    Row(TARGETS, "losses.SparseCategoricalCrossentropy()(np.array([[0], [5]]), np.full((2, 3), 1 / 3))", ValueError,
        ("label 5", "[0, 3)")),
    Row(TARGETS, "losses.categorical_crossentropy(np.eye(4)[:2], np.full((2, 3), 1 / 3))", ValueError,
        ("categorical_crossentropy", "y_true.shape=(2, 4)", "y_pred.shape=(2, 3)")),
    Row(TARGETS, "losses.binary_crossentropy(np.ones((2, 3)), np.full((2, 4), 0.5))", ValueError,
        ("binary_crossentropy", "(2, 3)", "(2, 4)")),
    Row(TARGETS, "losses.mean_squared_error(np.ones((2, 3)), np.ones((2, 4)))", ValueError,
        ("mean_squared_error", "y_true.shape=(2, 3)", "y_pred.shape=(2, 4)")),
    Row(TARGETS, "losses.mean_squared_error(np.array([['a']]), np.ones((1, 1)))", TypeError,
        ("mean_squared_error", "numbers", "<U1")),
    Row(TARGETS, "metrics.CategoricalAccuracy().update_state(np.eye(4)[:2], np.full((2, 3), 1 / 3))", ValueError,
        ("categorical_accuracy", "(2, 4)", "(2, 3)"),
        note="Keras compares the argmaxes silently"),
    Row(TARGETS, "metrics.Accuracy().update_state(np.ones((2, 3)), np.ones((3, 3)))", ValueError,
        ("accuracy", "(2, 3)", "(3, 3)")),
    # -- set_weights: all or nothing -----------------------------------------------------------------
    Row(WEIGHTS, "layer = Dense(3); layer.build((None, 4)); old = layer.get_weights(); "
                 "layer.set_weights([np.ones((4, 3))])", ValueError, ("'dense'", "expects 2 weights", "received 1"),
        then="assert all(np.array_equal(a, b) for a, b in zip(old, layer.get_weights()))"),
    Row(WEIGHTS, "layer = Dense(3); layer.build((None, 4)); old = layer.get_weights(); "
                 "layer.set_weights([np.ones((4, 3)), np.ones(4)])", ValueError, ("'dense'", "'bias'", "(3,)", "(4,)"),
        then="assert all(np.array_equal(a, b) for a, b in zip(old, layer.get_weights()))"),
    Row(WEIGHTS, "layer = Dense(3); layer.build((None, 4)); old = layer.get_weights(); "
                 "layer.set_weights([np.ones((4, 3)), np.array(['a'] * 3)])", TypeError, ("'dense'", "'bias'", "<U1"),
        then="assert all(np.array_equal(a, b) for a, b in zip(old, layer.get_weights()))"),
    Row(WEIGHTS, "model = small_model(); old = model.get_weights(); model.set_weights([np.ones((4, 2))])", ValueError,
        ("expects 2 weights", "received 1"),
        then="assert all(np.array_equal(a, b) for a, b in zip(old, model.get_weights()))"),
    Row(WEIGHTS, "model = small_model(); old = model.get_weights(); "
                 "model.set_weights([np.ones((4, 2)), np.ones(3)])", ValueError, ("'bias'", "(2,)", "(3,)"),
        then="assert all(np.array_equal(a, b) for a, b in zip(old, model.get_weights()))"),
    # -- models ---------------------------------------------------------------------------------------
    Row(MODELS, "small_model(compiled=False).fit(np.ones((8, 4)), np.ones((8, 2)))", ValueError,
        ("compile()", "fit()")),
    Row(MODELS, "small_model().fit(np.ones((8, 4)), np.ones((8, 2)), batch_size=0)", ValueError, ("batch_size=0",)),
    Row(MODELS, "small_model().evaluate(np.ones((8, 4)), np.ones((8, 2)), batch_size=-1)", ValueError,
        ("batch_size=-1",)),
    Row(MODELS, "small_model().fit(np.ones((8, 4)), np.ones((6, 2)), verbose=0)", ValueError,
        ("same number of samples", "x[8]", "y[6]")),
    Row(MODELS, "small_model().fit(np.ones((8, 4)), np.ones((8, 3)), verbose=0)", ValueError,
        ("mean_squared_error", "(8, 3)", "(8, 2)")),
    Row(MODELS, "small_model().fit(np.ones((8, 4)), np.array([['a', 'b']] * 8), verbose=0)", TypeError,
        ("numeric", "<U1")),
    Row(MODELS, "small_model().fit(np.zeros((0, 4)), np.zeros((0, 2)), verbose=0)", ValueError, ("0 samples",)),
    Row(MODELS, "small_model().fit(np.ones((8, 4)), np.ones((8, 2)), validation_split=1.5, verbose=0)", ValueError,
        ("validation_split", "1.5")),
    Row(MODELS, "small_model().predict(np.ones((2, 5)), verbose=0)", ValueError, ("'features'", "(None, 4)", "(2, 5)")),
    Row(MODELS, "small_model().predict(np.ones((2, 4, 3)), verbose=0)", ValueError,
        ("'features'", "(None, 4)", "(2, 4, 3)")),
    Row(MODELS, "a = Input((4,), name='a'); b = Input((4,), name='b'); model = Model([a, b], Add()([a, b])); "
                "model.compile('sgd', 'mse'); "
                "model.fit([np.ones((8, 4)), np.ones((6, 4))], np.ones((8, 4)), verbose=0)",
        ValueError, ("same number of samples", "x[8, 6]")),
    Row(MODELS, "a = Input((4,), name='a'); model = Model({'a': a}, {'out': Dense(2, name='out')(a)}); "
                "model.compile('sgd', 'mse'); model.fit({'b': np.ones((8, 4))}, {'out': np.ones((8, 2))}, verbose=0)",
        ValueError, ("['b']", "named ['a']")),
    Row(MODELS, "a = Input((4,), name='a'); model = Model({'a': a}, {'out': Dense(2, name='out')(a)}); "
                "model.compile('sgd', 'mse'); model.fit({'a': np.ones((8, 4))}, {'outt': np.ones((8, 2))}, verbose=0)",
        ValueError, ("['outt']", "named ['out']")),
    Row(MODELS, "model = small_model(compiled=False); model.compile('sgd', loss={'outt': 'mse'}); "
                "model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0)", ValueError, ("['outt']", "['out']")),
    Row(MODELS, "small_model().fit(np.ones((100, 4)), np.ones((100, 3)), verbose=0)", ValueError,
        ("mean_squared_error", "(100, 3)", "(100, 2)", "`y`"), note="the whole arrays passed, not a batch of 32"),
    Row(MODELS, "small_model().fit(np.ones((100, 5)), np.ones((100, 2)), verbose=0)", ValueError,
        ("'features'", "(None, 4)", "`x`", "(100, 5)")),
    Row(MODELS, "small_model().fit(np.ones((8, 4)), np.ones((8, 2)), validation_data=(np.ones((40, 5)), "
                "np.ones((40, 2))), verbose=0)", ValueError, ("'features'", "`validation_data`", "(40, 5)")),
    Row(MODELS, "x = np.ones((8, 4)); x[5] = np.nan; history = small_model().fit(x, np.ones((8, 2)), batch_size=2, "
                "verbose=0, shuffle=False)", None,
        then="assert np.isnan(history.history['loss'][0])",
        note="the loss is reported as nan and training goes on, as in Keras (no warning)"),
    Row(MODELS, "y = np.ones((8, 2)); y[0, 0] = np.inf; history = small_model().fit(np.ones((8, 4)), y, batch_size=4, "
                "verbose=0, shuffle=False)", None, then="assert not np.isfinite(history.history['loss'][0])"),
    Row(MODELS, "history = small_model().fit(np.full((8, 4), np.nan), np.ones((8, 2)), batch_size=2, epochs=3, "
                "verbose=0, callbacks=[TerminateOnNaN()])", None,
        then="assert history.epoch == [0] and len(history.history['loss']) == 1",
        note="stops after the first batch, as in Keras"),
    Row(MODELS, "small_model().fit(np.full((8, 4), np.nan), np.ones((8, 2)), verbose=0, "
                "callbacks=[TerminateOnNaN(raise_error=True)])", RuntimeError, ("NaN or Inf loss", "batch 0")),
]


def _run(row):
    """Run a row's snippet in a fresh namespace; return (namespace, exception or None, warnings)."""
    clear_session()
    namespace = dict(NAMESPACE)
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(row.code, namespace)
        except Exception as exc:  # noqa: BLE001 - the row says which one is expected
            error = exc
    return namespace, error, caught


@pytest.mark.parametrize("row", ROWS, ids=[f"{i + 1}" for i in range(len(ROWS))])
def test_bad_input_row(row, capsys):
    namespace, error, caught = _run(row)
    if row.raises is not None and issubclass(row.raises, Warning):
        assert error is None, f"{row.code!r} raised {error!r}"
        messages = [str(w.message) for w in caught if issubclass(w.category, row.raises)]
        assert messages, f"{row.code!r} did not warn {row.raises.__name__}"
        message = next((m for m in messages if all(f in m for f in row.match)), messages[0])
    elif row.raises is not None:
        assert error is not None, f"{row.code!r} did not raise {row.raises.__name__}"
        assert type(error) is row.raises, f"{row.code!r} raised {type(error).__name__}: {error}"
        message = str(error)
    else:
        assert error is None, f"{row.code!r} raised {error!r}"
        message = ""
    for fragment in row.match:
        assert fragment in message, f"{fragment!r} not in the message of {row.code!r}: {message}"
    if row.then:
        exec(row.then, namespace)


def test_table_has_enough_rows():
    assert len(ROWS) >= 40
    assert len({row.code for row in ROWS}) == len(ROWS), "duplicate rows"


# ------------------------------------------------------------------------------------------------
# The doc table
# ------------------------------------------------------------------------------------------------
BEGIN, END = "<!-- BEGIN TABLE (generated by tests/test_errors.py) -->", "<!-- END TABLE -->"


def _code(text):
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render_table():
    """The Markdown tables of docs/errors.md, one per topic, numbered like the test ids."""
    lines, topic = [], None
    for number, row in enumerate(ROWS, start=1):
        if row.topic != topic:
            topic = row.topic
            lines += ["", f"### {topic}", "", "| # | Input | Raises | Message contains | Afterwards / note |",
                      "|---|---|---|---|---|"]
        if row.raises is None:
            raises = "nothing"
        elif issubclass(row.raises, Warning):
            raises = f"warns `{row.raises.__name__}`"
        else:
            raises = f"`{row.raises.__name__}`"
        fragments = " … ".join(_code(f) for f in row.match) or "—"
        after = "; ".join(part for part in (_code(row.then) if row.then else "", row.note) if part) or ""
        lines.append(f"| {number} | {_code(row.code)} | {raises} | {fragments} | {after} |")
    return "\n".join(lines[1:]) + "\n"


def _doc_table(text):
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:stop].strip("\n") + "\n"


def write_doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        text = f.read()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    with open(DOC_PATH, "w", encoding="utf-8") as f:
        f.write(text[:start] + "\n" + render_table() + text[stop:])


def test_doc_is_up_to_date():
    with open(DOC_PATH, encoding="utf-8") as f:
        text = f.read()
    assert _doc_table(text) == render_table(), "docs/errors.md is stale: run `python -m tests.test_errors`"


# ------------------------------------------------------------------------------------------------
# Fuzzing every layer class with bad shapes, dtypes and structures
# ------------------------------------------------------------------------------------------------
IMAGE = (2, 6, 6, 3)
SEQUENCE = (2, 6, 3)
LAYERS = {  # name: (factory, a good input that builds it)
    "Dense": (lambda: Dense(3), (2, 4)),
    "Activation": (lambda: Activation("relu"), IMAGE),
    "Identity": (Identity, IMAGE),
    "Embedding": (lambda: Embedding(5, 2), (2, 3)),
    "Conv2D": (lambda: Conv2D(2, 2), IMAGE),
    "Conv2D_same_strided": (lambda: Conv2D(2, 3, strides=2, padding="same"), IMAGE),
    "DepthwiseConv2D": (lambda: DepthwiseConv2D(2), IMAGE),
    "SeparableConv2D": (lambda: SeparableConv2D(2, 2), IMAGE),
    "Conv2D_channels_first": (lambda: Conv2D(2, 2, data_format="channels_first"), IMAGE),
    "Conv1D_causal": (lambda: Conv1D(2, 2, padding="causal", dilation_rate=2), (2, 5, 3)),
    "Conv1D_channels_first": (lambda: Conv1D(2, 2, strides=2, data_format="channels_first"), (2, 3, 5)),
    "DepthwiseConv1D": (lambda: DepthwiseConv1D(2, depth_multiplier=2), (2, 5, 3)),
    "SeparableConv1D": (lambda: SeparableConv1D(2, 2, padding="same"), (2, 5, 3)),
    "Conv1DTranspose": (lambda: Conv1DTranspose(2, 3, strides=2, padding="same"), (2, 5, 3)),
    "Conv2DTranspose": (lambda: Conv2DTranspose(2, 2, strides=2, output_padding=1), IMAGE),
    "Conv2DTranspose_channels_first": (lambda: Conv2DTranspose(2, 3, data_format="channels_first"), IMAGE),
    "MaxPooling2D": (lambda: MaxPooling2D(2), IMAGE),
    "MaxPooling2D_same": (lambda: MaxPooling2D(2, padding="same"), IMAGE),
    "AveragePooling2D": (lambda: AveragePooling2D(2), IMAGE),
    "GlobalAveragePooling2D": (GlobalAveragePooling2D, IMAGE),
    "GlobalMaxPooling2D": (GlobalMaxPooling2D, IMAGE),
    "BatchNormalization": (BatchNormalization, IMAGE),
    "LayerNormalization": (LayerNormalization, IMAGE),
    "Dropout": (lambda: Dropout(0.5), IMAGE),
    "SpatialDropout2D": (lambda: SpatialDropout2D(0.5), IMAGE),
    "GaussianNoise": (lambda: GaussianNoise(0.1), IMAGE),
    "Flatten": (Flatten, IMAGE),
    "Reshape": (lambda: Reshape((-1,)), IMAGE),
    "Reshape_fixed": (lambda: Reshape((2, 3)), (2, 6)),
    "Permute": (lambda: Permute((2, 1)), (2, 3, 4)),
    "ZeroPadding2D": (ZeroPadding2D, IMAGE),
    "Cropping2D": (lambda: Cropping2D(1), IMAGE),
    "UpSampling2D": (UpSampling2D, IMAGE),
    "MaxPooling1D": (lambda: MaxPooling1D(2, padding="same"), SEQUENCE),
    "AveragePooling1D": (lambda: AveragePooling1D(2, data_format="channels_first"), SEQUENCE),
    "GlobalAveragePooling1D": (GlobalAveragePooling1D, SEQUENCE),
    "GlobalMaxPooling1D": (lambda: GlobalMaxPooling1D(keepdims=True), SEQUENCE),
    "ZeroPadding1D": (ZeroPadding1D, SEQUENCE),
    "Cropping1D": (Cropping1D, SEQUENCE),
    "UpSampling1D": (UpSampling1D, SEQUENCE),
    "MaxPooling2D_channels_first": (lambda: MaxPooling2D(2, data_format="channels_first"), IMAGE),
    "BatchNormalization_axis1": (lambda: BatchNormalization(axis=1), IMAGE),
    "ReLU": (ReLU, IMAGE),
    "LeakyReLU": (LeakyReLU, IMAGE),
    "ELU": (ELU, IMAGE),
    "PReLU": (PReLU, IMAGE),
    "Softmax": (Softmax, IMAGE),
    "Rescaling": (lambda: Rescaling(0.5), IMAGE),
    "Normalization": (lambda: Normalization(mean=0.0, variance=1.0), IMAGE),
    "Normalization_adapted": (Normalization, IMAGE),
    "Add": (Add, [IMAGE, IMAGE]),
    "Subtract": (Subtract, [IMAGE, IMAGE]),
    "Multiply": (Multiply, [IMAGE, IMAGE]),
    "Average": (Average, [IMAGE, IMAGE]),
    "Maximum": (Maximum, [IMAGE, IMAGE]),
    "Minimum": (Minimum, [IMAGE, IMAGE]),
    "Concatenate": (Concatenate, [IMAGE, IMAGE]),
    "Masking": (Masking, (2, 3, 4)),
    "SimpleRNN": (lambda: SimpleRNN(2), (2, 3, 4)),
    "LSTM": (lambda: LSTM(2, return_state=True), (2, 3, 4)),
    "GRU": (lambda: GRU(2, return_sequences=True), (2, 3, 4)),
    "RNN": (lambda: RNN([LSTMCell(2), GRUCell(3)]), (2, 3, 4)),
    "SimpleRNNCell": (lambda: SimpleRNNCell(2), (2, 4)),
    "LSTMCell": (lambda: LSTMCell(2), (2, 4)),
    "GRUCell": (lambda: GRUCell(2), (2, 4)),
    "StackedRNNCells": (lambda: StackedRNNCells([LSTMCell(2), GRUCell(3)]), (2, 4)),
    "Bidirectional": (lambda: Bidirectional(LSTM(2)), (2, 3, 4)),
    "TimeDistributed": (lambda: TimeDistributed(Dense(2)), (2, 3, 4)),
}

def test_fuzzing_covers_every_exported_layer_class():
    import numpy_nn.layers as exported
    classes = {getattr(exported, name) for name in exported.__all__} - {exported.Layer, exported.InputLayer,
                                                                        exported.clear_session}
    covered = {type(factory()) for factory, _ in LAYERS.values()}
    assert not classes - covered, f"add these layers to LAYERS: {sorted(c.__name__ for c in classes - covered)}"


_DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool", "uint8", "complex64", "<U1", "object",
           "datetime64[s]"]


@st.composite
def _bad_arrays(draw):
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=5)))
    dtype = draw(st.sampled_from(_DTYPES))
    if dtype == "<U1":
        return np.full(shape, "a")
    if dtype == "object":
        return np.full(shape, None, dtype=object)
    if dtype.startswith("datetime"):
        return np.zeros(shape, dtype=dtype)
    values = np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal(shape) * 3
    return values.astype(dtype)


_bad_inputs = st.one_of(
    _bad_arrays(),
    st.lists(_bad_arrays(), min_size=0, max_size=3),
    st.sampled_from([None, "text", 3.0, {"a": 1}, [[1.0, 2.0], [3.0]], ()]),
    _bad_arrays().map(lambda a: nn.Tensor(a) if a.dtype.kind == "f" else a),
)


def _good_input(shape):
    if isinstance(shape, list):
        return [np.ones(s, "float32") for s in shape]
    return np.abs(np.random.default_rng(0).standard_normal(shape)).astype("float32") + 1.0


@pytest.mark.parametrize("name", sorted(LAYERS))
@given(bad=_bad_inputs, built=st.booleans(), training=st.booleans())
# found by the randomized profile: Embedding read an ndarray's .data (a buffer) and NumPy's own
# "cannot include dtype 'M' in a buffer" came out instead of an error naming the layer
@example(bad=np.array("1970-01-01T00:00:00", dtype="datetime64[s]"), built=False, training=False)
def test_layers_reject_bad_inputs_cleanly(name, bad, built, training):
    """Only ValueError/TypeError come out, naming the layer, and a failed call changes no existing weight."""
    factory, good_shape = LAYERS[name]
    layer = factory()
    if built:
        good = _good_input(good_shape)
        if name == "Normalization_adapted":
            layer.adapt(good)
        layer(good.astype("int32") if name == "Embedding" else good, training=True)
    before = layer.get_weights()
    try:
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
            warnings.simplefilter("error")
            layer(bad, training=training)
    except (ValueError, TypeError) as error:
        assert layer.name in str(error), f"{name}: the message does not name the layer: {error}"
        after = layer.get_weights()[:len(before)]  # (an unbuilt layer may have been built: new weights)
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after)), f"{name}: weights changed"


if __name__ == "__main__":
    write_doc()
    print(f"wrote {os.path.normpath(DOC_PATH)} ({len(ROWS)} rows)")
