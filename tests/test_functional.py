"""The layer graph: Input, call_symbolic, Model (functional, nested, subclass), Sequential, nn.function."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numpy_nn as nn
from numpy_nn.layers.core import Dense
from numpy_nn.layers.dropout import Dropout
from numpy_nn.layers.input_layer import Input, InputLayer
from numpy_nn.layers.merge import Add, Concatenate
from numpy_nn.layers.normalization import BatchNormalization
from numpy_nn.models.functional import Model, function
from numpy_nn.models.sequential import Sequential
from tests import model_zoo
from tests.gradcheck_factory import assert_gradients_match
from tests.keras_helpers import import_keras, relative_diff

L = model_zoo.ours()


# -- Input and symbolic calls --------------------------------------------------------------------
def test_input_is_a_symbolic_tensor_backed_by_an_input_layer():
    x = Input((28, 28, 1), name="image")
    assert x._is_symbolic and x.shape == (None, 28, 28, 1) and x.dtype == "float32" and x.name == "image"
    layer, node_index, tensor_index = x._keras_history
    assert isinstance(layer, InputLayer) and (node_index, tensor_index) == (0, 0)
    assert layer.get_config() == {"batch_shape": [None, 28, 28, 1], "dtype": "float32", "sparse": False,
                                  "ragged": False, "name": "image", "optional": False}
    assert Input((3,), batch_size=8).shape == (8, 3)
    assert Input(batch_shape=(None, 5)).shape == (None, 5)


def test_input_layer_argument_errors():
    with pytest.raises(ValueError, match="must pass a `shape`"):
        InputLayer()
    with pytest.raises(ValueError, match="both `shape` and `batch_shape`"):
        InputLayer(shape=(3,), batch_shape=(None, 3))
    with pytest.raises(ValueError, match="Negative"):
        Input((-1, 3))


def test_symbolic_call_records_a_node_with_inferred_shape():
    x = Input((6,), name="x_sym")
    dense = Dense(4, name="d_sym")
    y = dense(x)
    assert y._is_symbolic and y.shape == (None, 4)
    assert dense.built and dense.kernel.shape == (6, 4) if hasattr(dense, "kernel") else dense.built
    assert y._keras_history == (dense, 0, 0)
    node = dense._inbound_nodes[0]
    assert node.input_tensors == [x] and node.outputs == [y] and node.parent_nodes[0].is_input
    assert dense.input is x and dense.output is y and dense.input_shape == (None, 6) and dense.output_shape == (None, 4)
    z = dense(Input((6,)))  # second call: a second node
    assert z._keras_history.node_index == 1


def test_shape_error_names_the_layer():
    x = Input((4, 4, 3), name="img")
    with pytest.raises(ValueError, match="'bad_dense'.*expected min_ndim|'bad_dense'"):
        Dense(3, name="bad_dense")(Input(()))
    dense = Dense(2, name="d_built")
    dense(Input((5,)))
    with pytest.raises(ValueError, match="d_built.*(5|7)"):
        dense(Input((7,)))
    with pytest.raises(ValueError, match="concat_bad"):
        Concatenate(name="concat_bad")([x, Input((5, 5, 3))])


# -- Model basics ------------------------------------------------------------------------------------
def test_multi_input_multi_output_with_dicts():
    model = model_zoo.two_branch(L)
    assert [layer.name for layer in model.layers] == ["brancha", "branchb", "dense_a", "dense_b", "join",
                                                      "kind", "score"]
    assert model.input_names == ["brancha", "branchb"] and model.output_names == ["kind", "score"]
    xa, xb = model_zoo.data(0, 7, [(5,), (4,)])
    out = model({"branchb": xb, "brancha": xa})
    assert set(out) == {"score", "kind"} and out["score"].shape == (7, 1) and out["kind"].shape == (7, 3)
    # the same numbers by hand, layer by layer
    ha = model.get_layer("dense_a")(xa)
    hb = model.get_layer("dense_b")(xb)
    manual = model.get_layer("kind")(model.get_layer("join")([ha, hb]))
    np.testing.assert_allclose(out["kind"].data, manual.data, rtol=1e-6)
    # a list in the flat (sorted-key) order works too
    out2 = model([xa, xb])
    np.testing.assert_array_equal(out2["score"].data, out["score"].data)


def test_feeding_errors_list_the_valid_names():
    model = model_zoo.two_branch(L)
    xa, xb = model_zoo.data(0, 3, [(5,), (4,)])
    with pytest.raises(ValueError, match=r"brancha.*branchb|missing \['branchb'\]"):
        model({"brancha": xa, "branch_b": xb})
    with pytest.raises(ValueError, match="expects 2 input"):
        model([xa, xb, xb])
    with pytest.raises(ValueError, match="input 'branchb' expects shape \\(None, 4\\).*\\(3, 5\\)"):
        model({"brancha": xa, "branchb": xa})


def test_disconnected_graph_names_the_missing_input():
    a, b = Input((3,), name="in_a"), Input((3,), name="in_b")
    out = Dense(1, name="d_disc")(Add(name="add_disc")([a, b]))
    with pytest.raises(ValueError, match="Graph disconnected.*'in_b'.*add_disc"):
        Model(a, out)


def test_duplicate_layer_names_are_rejected():
    x = Input((3,))
    y = Dense(2, name="twin")(Dense(3, name="twin")(x))
    with pytest.raises(ValueError, match='"twin" is used 2 times'):
        Model(x, y)


def test_get_layer():
    model = model_zoo.mlp(L)
    assert model.get_layer("hidden") is model.layers[1]
    assert model.get_layer(index=-1).name == "probs"
    with pytest.raises(ValueError, match="No such layer: nope. Existing layers are: \\['features', 'hidden', 'probs'\\]"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 9"):
        model.get_layer(index=9)


def test_set_weights_validates_before_changing_anything():
    model = model_zoo.mlp(L)
    before = model.get_weights()
    bad = [np.ones_like(w) for w in before]
    bad[-1] = np.ones(7)
    with pytest.raises(ValueError, match="shape"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="expects 4 weights"):
        model.set_weights(bad[:3])
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    model.set_weights([np.full_like(w, 0.5) for w in before])
    assert all(np.all(w == 0.5) for w in model.get_weights())


def test_weights_losses_and_count_params():
    model = model_zoo.mlp(L, kernel_regularizer="l2")
    assert [w.path for w in model.weights] == ["hidden/kernel", "hidden/bias", "probs/kernel", "probs/bias"]
    assert model.count_params() == 6 * 8 + 8 + 8 * 3 + 3
    assert len(model.losses) == 1
    kernel = model.get_layer("hidden").weights[0].data
    np.testing.assert_allclose(float(model.losses[0].data), 0.01 * np.sum(kernel.astype(np.float64) ** 2), rtol=1e-5)
    bn_model = model_zoo.small_cnn(L)
    assert [w.path for w in bn_model.non_trainable_weights] == ["bn/moving_mean", "bn/moving_variance"]
    bn_model.trainable = False
    assert bn_model.trainable_weights == [] and len(bn_model.non_trainable_weights) == len(bn_model.weights)
    assert not bn_model.get_layer("bn").trainable


def test_training_flag_reaches_inner_layers():
    x = Input((50,))
    model = Model(x, Dropout(0.5, name="drop_flag")(x))
    data = np.ones((4, 50), dtype="float32")
    np.testing.assert_array_equal(model(data).data, data)            # None -> inference
    np.testing.assert_array_equal(model(data, training=False).data, data)
    dropped = model(data, training=True).data
    assert set(np.unique(dropped)) <= {0.0, 2.0} and (dropped == 0).any()


def test_recorded_training_argument_is_kept_unless_the_outer_call_overrides():
    x = Input((50,))
    model = Model(x, Dropout(0.5)(x, training=True))  # "Monte Carlo" dropout
    data = np.ones((4, 50), dtype="float32")
    assert (model(data).data == 0).any()
    np.testing.assert_array_equal(model(data, training=False).data, data)


def test_shared_layer_reuses_variables_and_sums_gradients(float64):
    left, right = Input((3,), name="l64"), Input((3,), name="r64")
    shared = Dense(2, activation="tanh", name="shared64")
    out = Add()([shared(left), shared(right)])
    model = Model([left, right], out)
    assert len(model.weights) == 2 and model.count_params() == 8
    rng = np.random.default_rng(1)
    xl, xr = (nn.Tensor(rng.standard_normal((4, 3)), requires_grad=True) for _ in range(2))
    assert_gradients_match(lambda: model([xl, xr]), [xl, xr] + model.trainable_weights)
    # the tape adds the two branches' contributions: grad = grad through left + grad through right
    kernel = model.trainable_weights[0]
    total = nn.grad(model([xl, xr]).sum(), kernel).data
    only_left = nn.grad(shared(xl).sum(), kernel).data
    only_right = nn.grad(shared(xr).sum(), kernel).data
    np.testing.assert_allclose(total, only_left + only_right, rtol=1e-12)


@given(width=st.integers(1, 5), depth=st.integers(1, 3), batch=st.integers(1, 4))
def test_model_gradients_match_finite_differences(width, depth, batch):
    previous = nn.floatx()
    nn.set_floatx("float64")
    try:
        x = Input((3,))
        h = x
        for _ in range(depth):
            h = Dense(width, activation="tanh")(h)
        model = Model(x, Concatenate()([h, Dense(2)(x)]))
        data = nn.Tensor(np.random.default_rng(width).standard_normal((batch, 3)), requires_grad=True)
        assert_gradients_match(lambda: model(data), [data] + model.trainable_weights)
    finally:
        nn.set_floatx(previous)


def test_nested_model_is_a_layer():
    model = model_zoo.nested(L)
    assert [layer.name for layer in model.layers] == ["outer_in", "inner", "skip", "residual", "head"]
    assert [w.path for w in model.weights] == ["inner_dense/kernel", "inner_dense/bias", "skip/kernel",
                                               "skip/bias", "head/kernel", "head/bias"]
    (x,) = model_zoo.data(2, 5, [(4,)])
    inner = model.get_layer("inner")
    expected = model.get_layer("head")(Add()([inner(x), model.get_layer("skip")(x)]))
    np.testing.assert_allclose(model(x).data, expected.data, rtol=1e-6)
    assert inner.output_shape == (None, 5) and model.output_shape == (None, 2)


def test_subclass_builds_its_graph_in_init():
    class TwoLayer(Model):
        def __init__(self, width):
            inputs = Input((4,), name="sub_in")
            outputs = Dense(2, name="sub_out")(Dense(width, activation="relu", name="sub_hidden")(inputs))
            super().__init__(inputs, outputs)
            self.width = width

    model = TwoLayer(3)
    assert model.name.startswith("two_layer") and model.width == 3
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    assert model(np.ones((2, 4))).shape == (2, 2)


def test_subclass_with_call_tracks_assigned_layers():
    class Residual(Model):
        def __init__(self):
            super().__init__()
            self.inner = Dense(4, name="res_inner")
            self.out = Dense(1, name="res_out")

        def call(self, inputs, training=None):
            return self.out(Add()([inputs, self.inner(inputs)]))

    model = Residual()
    y = model(np.ones((3, 4)))
    assert y.shape == (3, 1)
    assert [w.path for w in model.weights] == ["res_inner/kernel", "res_inner/bias", "res_out/kernel", "res_out/bias"]


def test_function_reads_inner_activations():
    model = model_zoo.mlp(L)
    hidden = model.get_layer("hidden")
    fn = function(model.inputs, [hidden.output, model.outputs[0]])
    (x,) = model_zoo.data(3, 4, [(6,)])
    h, p = fn(x)
    assert isinstance(h, np.ndarray) and h.shape == (4, 8) and p.shape == (4, 3)
    np.testing.assert_allclose(h, hidden(x).data, rtol=1e-6)
    # an intermediate tensor as input: run only the head
    head = function(hidden.output, model.outputs[0])
    np.testing.assert_allclose(head(h), p, rtol=1e-6)
    with pytest.raises(ValueError, match="Graph disconnected"):
        function(hidden.output, model.inputs[0])


# -- Sequential ---------------------------------------------------------------------------------
def test_sequential_with_input_is_built():
    model = model_zoo.sequential_mlp(L)
    assert model.built and [layer.name for layer in model.layers] == ["s1", "s2"]
    assert model.inputs[0].shape == (None, 6) and model.output_shape == (None, 2)
    assert model.count_params() == 6 * 7 + 7 + 7 * 2 + 2
    assert model(np.ones((3, 6))).shape == (3, 2)


def test_sequential_input_shape_argument_and_lazy_build():
    model = Sequential([Dense(4, input_shape=(3,), name="q1"), Dense(1, name="q2")])
    assert model.built and model.output_shape == (None, 1)
    lazy = Sequential([Dense(4, name="z1"), Dense(1, name="z2")])
    assert not lazy.built and lazy.weights == []
    assert lazy(np.ones((2, 5))).shape == (2, 1)
    assert lazy.built and lazy.inputs[0].shape == (None, 5) and lazy.count_params() == 5 * 4 + 4 + 5


def test_sequential_add_and_pop():
    model = Sequential(name="grow")
    model.add(Input((3,)))
    model.add(Dense(4, name="g1"))
    model.add(Dense(2, name="g2"))
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.name == "g2" and model.output_shape == (None, 4) and len(model.weights) == 2
    with pytest.raises(ValueError, match="unique names"):
        model.add(Dense(3, name="g1"))
    with pytest.raises(ValueError, match="InputLayer can only be the first"):
        model.add(InputLayer(shape=(3,)))
    with pytest.raises(TypeError, match="only Layer instances"):
        model.add("dense")


def test_sequential_inside_functional():
    seq = Sequential([Input((4,)), Dense(3, name="in_seq")], name="block")
    x = Input((4,))
    model = Model(x, Dense(1, name="after_seq")(seq(x)))
    assert [layer.name for layer in model.layers][1:] == ["block", "after_seq"]
    assert model(np.ones((2, 4))).shape == (2, 1)


# -- parity with Keras -------------------------------------------------------------------------
BUILDERS = [model_zoo.mlp, model_zoo.two_branch, model_zoo.shared_siamese, model_zoo.nested, model_zoo.small_cnn,
            model_zoo.sequential_mlp]


@pytest.mark.keras
@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_graph_order_weights_and_outputs_match_keras(builder):
    keras = import_keras()
    keras.utils.set_random_seed(0)
    theirs, mine = builder(model_zoo.theirs(keras)), builder(L)
    assert [layer.name for layer in mine.layers] == [layer.name for layer in theirs.layers]
    assert [w.shape for w in mine.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert mine.count_params() == theirs.count_params()
    model_zoo.copy_weights(theirs, mine)
    shapes = [tuple(t.shape[1:]) for t in theirs.inputs]
    xs = model_zoo.data(5, 6, shapes)
    feed = xs[0] if len(xs) == 1 else xs
    if builder is model_zoo.two_branch:
        feed = {"brancha": xs[0], "branchb": xs[1]}
    expected = theirs(feed, training=False)
    got = mine(feed, training=False)
    if isinstance(expected, dict):
        for key in expected:
            assert relative_diff(got[key].data, np.asarray(expected[key])) <= 1e-5
    else:
        assert relative_diff(got.data, np.asarray(expected)) <= 1e-5


def test_layer_and_model_subclasses_whose_call_takes_only_inputs_train_and_predict():
    """Keras passes ``training`` only to a ``call`` that accepts it: ``def call(self, inputs)`` must work."""
    from numpy_nn import layers as L

    class Doubler(L.Layer):
        def call(self, inputs):
            return inputs * 2.0

    class Head(Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1, kernel_initializer="ones")

        def call(self, inputs):
            return self.dense(inputs)

    x = Input((3,))
    model = Model(x, L.Dense(2, kernel_initializer="ones")(Doubler()(x)))
    model.compile("sgd", "mse")
    data = np.ones((8, 3), dtype="float32")
    history = model.fit(data, np.zeros((8, 2)), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(Doubler()(data).data, 2 * data)
    head = Head()
    np.testing.assert_allclose(head(data, training=True).data, np.full((8, 1), 3.0))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        Doubler()(data, mask=np.ones((8, 3), bool))
