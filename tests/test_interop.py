"""numpy_nn.interop: from_keras (live conversion) and compare (per-layer difference table)."""
import numpy as np
import pytest

pytest.importorskip("h5py")

from numpy_nn.interop import compare, compare_file, from_keras  # noqa: E402
from numpy_nn.interop.compare import random_inputs  # noqa: E402
from numpy_nn.saving import LoadError  # noqa: E402
from tests.keras_helpers import import_keras, relative_diff  # noqa: E402
from tests.test_saving import inputs, keras_model, randomize_bn  # noqa: E402

pytestmark = pytest.mark.keras


@pytest.fixture(scope="module")
def keras_net():
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras_model(keras)
    randomize_bn(model, seed=3)
    return model


@pytest.mark.both_tiers
def test_from_keras_predicts_the_same(keras_net):
    model = from_keras(keras_net)
    assert [l.name for l in model.layers] == [l.name for l in keras_net.layers]
    theirs = keras_net.predict(inputs(3), verbose=0)
    ours = model.predict(inputs(3))
    for key in theirs:
        assert relative_diff(ours[key], theirs[key]) <= 1e-5, key
    assert model.count_params() == keras_net.count_params()


@pytest.mark.both_tiers
def test_from_keras_training_mode_batch_norm(keras_net):
    model = from_keras(keras_net)
    x = inputs(4)
    theirs = keras_net(x, training=True)["side"]   # side output: no dropout on its path, BN on batch stats
    ours = model(x, training=True)["side"]
    assert relative_diff(ours.data, np.asarray(theirs)) <= 1e-5


def test_compare_table_small_diffs_and_jump_marker(keras_net, capsys):
    rows = compare(keras_net, inputs(2))
    printed = capsys.readouterr().out
    assert "max rel" in printed and "separable" in printed
    assert {r["layer"] for r in rows} >= {"conv", "bn", "depthwise", "separable", "shared", "head", "inner"}
    assert max(r["max_rel"] for r in rows) <= 1e-5 and not any(r["jump"] for r in rows)
    # perturb one layer of the numpy_nn twin: the table marks it as the first jump
    twin = from_keras(keras_net)
    kernel = twin.get_layer("depthwise").weights[0]
    kernel.assign(kernel.data * 1.01)
    rows = compare(keras_net, inputs(2), model=twin, print_table=False)
    jumps = [r["layer"] for r in rows if r["jump"]]
    assert jumps == ["depthwise"]
    assert rows[[r["layer"] for r in rows].index("depthwise")]["max_rel"] > 1e-3


def test_compare_file_random_inputs(tmp_path, keras_net):
    path = tmp_path / "net.keras"
    keras_net.save(path)
    rows = compare_file(path, print_table=False)
    assert rows and max(r["max_rel"] for r in rows) <= 1e-5
    arrays = random_inputs(keras_net, seed=1)
    assert [a.shape[1:] for a in arrays] == [tuple(t.shape[1:]) for t in keras_net.inputs]


def test_from_keras_refuses_lambda():
    keras = import_keras()
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Lambda(lambda t: t * 2)(x))
    with pytest.raises(LoadError, match="Lambda"):
        from_keras(model)


def test_from_keras_sequential_and_ops_nodes():
    """Sequential without an InputLayer (built by build()) and keras.ops nodes (x * 0.5 + y)."""
    keras = import_keras()
    keras.utils.set_random_seed(2)
    seq = keras.Sequential([keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    seq.build((None, 3))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    assert relative_diff(from_keras(seq).predict(x), seq.predict(x, verbose=0)) <= 1e-5
    a = keras.Input((3,))
    b = keras.layers.Dense(3)(a)
    ops_model = keras.Model(a, b * 0.5 + a)
    assert relative_diff(from_keras(ops_model).predict(x), ops_model.predict(x, verbose=0)) <= 1e-5
