"""One path for fed data (numpy_nn/layers/inputs.py): layer calls, model calls, nn.function and fit agree."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers
from numpy_nn.layers.inputs import describe_dtype, split_inputs


@pytest.mark.parametrize("array, words", [
    (np.array(["a"]), "an array of strings (dtype <U1)"),
    (np.array([object()]), "an array of Python objects (dtype object)"),
    (np.array([1j]), "an array of complex numbers (dtype complex128)"),
    (np.array([b"x"]), "an array of bytes (dtype |S1)"),
])
def test_errors_name_the_dtype_in_words(array, words):
    assert describe_dtype(array.dtype) == words
    with pytest.raises(TypeError) as error:
        layers.Dense(2, name="probe")(array.reshape(1, 1))
    assert str(error.value) == f"Layer 'probe' (Dense) input must be numeric; received {words}"


def _two_input_model():
    a, b = nn.Input((2,), name="a"), nn.Input((3,), name="b")
    out = layers.Concatenate()([a, b])
    return nn.Model([a, b], out, name="pair")


def test_the_same_rule_for_call_predict_function_and_fit():
    model = _two_input_model()
    xa, xb = np.ones((4, 2), "float32"), np.zeros((4, 3), "float32")
    expected = np.concatenate([xa, xb], axis=1)
    fn = nn.function(model.inputs, model.outputs)
    for fed in ([xa, xb], (xa, xb), {"b": xb, "a": xa}):
        np.testing.assert_array_equal(model(fed).data, expected)
        np.testing.assert_array_equal(model.predict(fed, verbose=0), expected)
        np.testing.assert_array_equal(fn(fed)[0], expected)
    model.compile("sgd", "mse")
    model.fit({"a": xa, "b": xb}, expected, epochs=1, verbose=0)
    for call in (model, lambda v: model.predict(v, verbose=0), fn):
        with pytest.raises(ValueError, match=r"missing \['b'\]"):
            call({"a": xa})
        with pytest.raises(ValueError, match="expects 2 inputs"):
            call(xa)


def test_one_input_model_takes_a_list_as_data_or_as_a_one_item_list():
    x = nn.Input((2,), name="x")
    model = nn.Model(x, layers.Dense(1, kernel_initializer="ones", use_bias=False)(x))
    np.testing.assert_array_equal(model.predict([[1.0, 2.0], [3.0, 4.0]], verbose=0), [[3.0], [7.0]])
    np.testing.assert_array_equal(model.predict([np.array([[1.0, 2.0]])], verbose=0), [[3.0]])
    assert split_inputs([np.ones(2)], ["x"], "m")[0].shape == (2,)
