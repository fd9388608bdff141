"""Recurrent layers in files and tools: ``.keras`` and ``.weights.h5`` both ways with Keras, the h5
layout of wrapped layers and cells, summary(), plot_model, compare and from_keras."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import layers as L
from tests.keras_helpers import import_keras, relative_diff

h5py = pytest.importorskip("h5py")
pytestmark = pytest.mark.keras

TOKENS = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0], [0, 0, 5, 6, 7]])


def sequence_model(layers, Input, Model):
    """Every recurrent layer and wrapper, behind an Embedding(mask_zero=True) and a Masking layer."""
    tokens = Input((5,), dtype="int32", name="tokens")
    e = layers.Embedding(10, 4, mask_zero=True)(tokens)
    h = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="sum")(e)
    h = layers.GRU(2, return_sequences=True, reset_after=False)(h)
    t = layers.TimeDistributed(layers.Dense(3))(h)
    s = layers.SimpleRNN(2, go_backwards=True)(t)
    r = layers.RNN([layers.LSTMCell(2), layers.GRUCell(3)])(e)
    m = layers.LSTM(2, unroll=True)(layers.Masking(0.5)(layers.Dense(4)(e)))
    g = layers.GRU(2)(e)
    return Model(tokens, layers.Concatenate()([s, r, m, g]))


def _h5_datasets(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_keras_file_loads_here_and_our_file_loads_in_keras(tmp_path):
    keras = import_keras()
    theirs = sequence_model(keras.layers, keras.Input, keras.Model)
    theirs.save(tmp_path / "keras.keras")
    ours = nn.saving.load_model(tmp_path / "keras.keras")
    assert relative_diff(ours.predict(TOKENS, verbose=0), theirs.predict(TOKENS, verbose=0)) < 1e-6
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    ours.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    assert relative_diff(back.predict(TOKENS, verbose=0), theirs.predict(TOKENS, verbose=0)) < 1e-6


def test_weights_files_have_keras_layout_both_ways(tmp_path):
    keras = import_keras()
    theirs = sequence_model(keras.layers, keras.Input, keras.Model)
    ours = sequence_model(L, nn.Input, nn.Model)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.save_weights(tmp_path / "ours.weights.h5")
    tree = _h5_datasets(tmp_path / "ours.weights.h5")
    assert tree == _h5_datasets(tmp_path / "keras.weights.h5")
    assert tree["layers/bidirectional/forward_layer/cell/vars/1"] == (3, 12)
    assert tree["layers/rnn/cell/cells/gru_cell/vars/2"] == (2, 9)
    assert tree["layers/time_distributed/layer/vars/0"] == (2, 3)
    ours.load_weights(tmp_path / "keras.weights.h5")
    assert relative_diff(ours.predict(TOKENS, verbose=0), theirs.predict(TOKENS, verbose=0)) < 1e-6
    fresh = sequence_model(keras.layers, keras.Input, keras.Model)
    fresh.load_weights(tmp_path / "ours.weights.h5")
    ours2 = sequence_model(L, nn.Input, nn.Model)
    ours2.load_weights(tmp_path / "ours.weights.h5")
    assert relative_diff(ours2.predict(TOKENS, verbose=0), fresh.predict(TOKENS, verbose=0)) < 1e-6


def test_trained_sequential_with_optimizer_state_round_trips(tmp_path):
    keras = import_keras()
    model = nn.Sequential([nn.Input((5,)), L.Embedding(10, 3, mask_zero=True), L.LSTM(4), L.Dense(2)])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(TOKENS, np.array([0, 1, 1]), epochs=2, verbose=0)
    model.save(tmp_path / "seq.keras")
    theirs = keras.saving.load_model(tmp_path / "seq.keras")
    assert relative_diff(model.predict(TOKENS, verbose=0), theirs.predict(TOKENS, verbose=0)) < 1e-6
    ours_slots = [v.numpy() for v in model.optimizer.variables]
    their_slots = [np.asarray(v) for v in theirs.optimizer.variables]
    assert len(ours_slots) == len(their_slots)
    for a, b in zip(ours_slots, their_slots):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_summary_plot_compare_and_from_keras_know_the_new_layers(tmp_path):
    keras = import_keras()
    keras.backend.clear_session()  # both sides number their mask ops (not_equal, not_equal_1, ...) from 0
    L.clear_session()
    theirs = sequence_model(keras.layers, keras.Input, keras.Model)
    ours = nn.interop.from_keras(theirs)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]  # masks add depth
    ours_text, keras_text = [], []
    ours.summary(print_fn=ours_text.append)
    theirs.summary(print_fn=lambda line, **kwargs: keras_text.append(line))
    assert "\n".join(ours_text).strip() == "\n".join(keras_text).strip()  # mask ops (NotEqual, Any) included
    rows = nn.interop.compare(theirs, TOKENS, print_table=False, model=ours)
    assert {row["class"] for row in rows} >= {"Bidirectional", "GRU", "TimeDistributed", "SimpleRNN", "RNN", "LSTM"}
    assert max(row["max_rel"] for row in rows) < 1e-5
    pytest.importorskip("matplotlib")
    from numpy_nn.models.plot import plot_model
    plot_model(ours, to_file=str(tmp_path / "model.png"))
    assert (tmp_path / "model.png").stat().st_size > 0
