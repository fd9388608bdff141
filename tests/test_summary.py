"""model.summary() and plot_model: Keras's table, character for character; parameter counts."""
import numpy as np
import pytest

from numpy_nn import optimizers
from numpy_nn.layers.core import Dense
from numpy_nn.models.plot import layout, plot_model
from numpy_nn.models.sequential import Sequential
from tests import model_zoo
from tests.keras_helpers import import_keras

L = model_zoo.ours()
BUILDERS = [model_zoo.mlp, model_zoo.two_branch, model_zoo.shared_siamese, model_zoo.nested, model_zoo.small_cnn,
            model_zoo.sequential_mlp]


def _capture(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda text, **_: lines.append(text), **kwargs)
    return "".join(lines)


def test_summary_text_of_a_functional_model_with_branches():
    text = _capture(model_zoo.two_branch(L), line_length=90)
    lines = text.splitlines()
    assert lines[0] == 'Model: "two_branch"'
    assert "Connected to" in lines[2] and "Param #" in lines[2]
    join = next(i for i, line in enumerate(lines) if line.startswith("│ join (Concatenate)"))
    assert "dense_a[0][0]," in lines[join] and "dense_b[0][0]" in lines[join + 1]  # wrapped like rich
    assert lines[-3:] == [" Total params: 118 (472.00 B)", " Trainable params: 118 (472.00 B)",
                          " Non-trainable params: 0 (0.00 B)"]
    assert all(len(line) == 90 for line in lines[1:-3])


def test_summary_of_a_chain_has_no_connected_to_column_and_unbuilt_layers_say_so():
    text = _capture(Sequential([Dense(3, name="lazy1"), Dense(2, name="lazy2")], name="lazy"))
    assert "Connected to" not in text and "│ lazy1 (Dense)" in text and "0 (unbuilt)" in text and " ? " in text


def test_summary_prints_to_stdout_by_default(capsys):
    model_zoo.mlp(L).summary()
    assert 'Model: "mlp"' in capsys.readouterr().out


@pytest.mark.keras
@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_summary_and_param_counts_match_keras(builder):
    keras = import_keras()
    theirs, ours = builder(model_zoo.theirs(keras)), builder(L)
    assert ours.count_params() == theirs.count_params()
    for mine, other in zip(ours.layers, theirs.layers):
        assert (mine.name, mine.count_params()) == (other.name, other.count_params())
    for line_length in (None, 70):
        expected = _capture(theirs, line_length=line_length).replace(f'"{theirs.name}"', f'"{ours.name}"')
        assert _capture(ours, line_length=line_length) == expected


@pytest.mark.keras
def test_summary_counts_optimizer_variables_once_built_like_keras():
    keras = import_keras()
    theirs, ours = model_zoo.mlp(model_zoo.theirs(keras)), model_zoo.mlp(L)
    (x,) = model_zoo.data(0, 8, [(6,)])
    y = np.zeros(8, dtype="int64")
    theirs.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    ours.compile(optimizers.Adam(), "sparse_categorical_crossentropy")
    theirs.fit(x, y, verbose=0)
    ours.fit(x, y, verbose=0)
    text = _capture(ours)
    assert " Optimizer params: " in text
    assert text == _capture(theirs)


# -- plot_model ---------------------------------------------------------------------------------
def test_layout_places_layers_by_depth_and_branches_side_by_side():
    model = model_zoo.two_branch(L)
    positions, edges = layout(model)
    assert positions["brancha"][1] == positions["branchb"][1]          # same row
    assert positions["brancha"][0] != positions["branchb"][0]          # side by side
    assert positions["join"][1] < positions["dense_a"][1]               # below (rows grow downwards)
    assert ("dense_a", "join") in edges and ("join", "score") in edges and len(edges) == 6


def test_plot_model_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "model.png"
    result = plot_model(model_zoo.shared_siamese(L), to_file=str(path), show_shapes=True)
    assert path.exists() and path.stat().st_size > 1000
    assert result is not None
