"""Randomized Keras parity of layers (tests/random_parity.py), in CI: a small, stated sample.

CI compares the first ``CI_CONFIGS`` (12) configurations of the seed-0 stream in both kernel tiers,
plus configurations of that stream that once failed, fixed edge configurations and regressions the
sweep found. That is a smoke test, not the
sweep: the large run is ``python -m tests.random_parity --n 1000`` (docs/keras-parity.md), whose
first 12 configurations are exactly the ones below. What one configuration checks (config keys,
count_params, compute_output_shape, forward in training and inference, gradients w.r.t. inputs
and weights, BatchNormalization's moving statistics) is in tests/random_parity.py.
"""
import numpy as np
import pytest

from numpy_nn.layers.core import Embedding
from tests import random_parity
from tests.keras_helpers import import_keras, relative_diff

pytestmark = pytest.mark.keras


def assert_parity(name, config, shapes, seed):
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    assert random_parity.compare(keras, name, config, shapes, seed) is not None, "Keras refuses this configuration"


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


@pytest.mark.both_tiers
@pytest.mark.parametrize("name, config, shapes", [
    ("Conv2D", dict(filters=4, kernel_size=(3, 1), strides=(2, 1), padding="same", groups=2), [(2, 5, 6, 4)]),
    ("SeparableConv2D", dict(filters=3, kernel_size=3, dilation_rate=2, depth_multiplier=2, padding="same"),
     [(2, 6, 6, 2)]),
    ("BatchNormalization", dict(axis=1, momentum=0.5), [(4, 3, 2, 2)]),
    ("LayerNormalization", dict(axis=(-3, -1)), [(2, 3, 2, 4)]),
    ("Maximum", {}, [(2, 3, 4), (2, 3, 1), (2, 1, 4)]),
])
def test_fixed_edge_configs(name, config, shapes):
    assert_parity(name, config, shapes, seed=7)


# -- the seeded sweep: its first CI_CONFIGS configurations -----------------------------------------------
SWEEP_REGRESSIONS = [149]  # BatchNormalization over a batch of two: a gradient that is cancellation noise


@pytest.mark.both_tiers
@pytest.mark.parametrize("index", list(range(random_parity.CI_CONFIGS)) + SWEEP_REGRESSIONS)
def test_configuration_of_the_seed_0_stream_matches_keras(index):
    keras = import_keras()
    name, config, shapes = random_parity.draw(0, index)
    keras.utils.set_random_seed(index)
    rows = random_parity.compare(keras, name, config, shapes, seed=index)  # raises Mismatch on a disagreement
    assert rows is None or all(row["forward_rel"] <= random_parity.FORWARD_RTOL for row in rows)  # None: both refuse


@pytest.mark.both_tiers
@pytest.mark.parametrize("index", range(3))
def test_configuration_of_the_sequence_stream_matches_keras(index):
    """The first configurations of ``--suite sequences`` (recurrent layers and the two wrappers)."""
    keras = import_keras()
    name, config, shapes = random_parity.draw(0, index, random_parity.SEQUENCE_LAYERS)
    assert name in random_parity.SEQUENCE_LAYERS
    keras.utils.set_random_seed(index)
    assert random_parity.compare(keras, name, config, shapes, seed=index) is not None


@pytest.mark.both_tiers
@pytest.mark.parametrize("index", range(3))
def test_configuration_of_the_pooling_stream_matches_keras(index):
    """The first configurations of ``--suite pooling`` (the 1-D pooling, padding, cropping, upsampling layers)."""
    keras = import_keras()
    name, config, shapes = random_parity.draw(0, index, random_parity.POOLING_LAYERS)
    assert name in random_parity.POOLING_LAYERS
    keras.utils.set_random_seed(index)
    assert random_parity.compare(keras, name, config, shapes, seed=index) is not None


def test_command_line_prints_the_table_and_exits_1_on_a_failure(monkeypatch, capsys):
    import_keras()
    assert random_parity.main(["--n", "2", "--tiers", "reference"]) == 0
    out = capsys.readouterr().out
    assert "Random Keras parity: 2 configurations (seed 0), tiers reference" in out and "no failures" in out

    def broken(*args, **kwargs):
        raise random_parity.Mismatch("forward differs by 1.00e+00 relative")

    monkeypatch.setattr(random_parity, "compare", broken)
    assert random_parity.main(["--n", "3", "--layers", "Dense,Add"]) == 1
    out = capsys.readouterr().out
    assert "3 failures" in out and "forward differs by 1.00e+00" in out
    assert {line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ") and "layer" not in line
            and "all" not in line} <= {"Dense", "Add"}
    with pytest.raises(SystemExit):
        random_parity.main(["--layers", "Conv9D"])
