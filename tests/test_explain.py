"""``numpy-nn explain``: the printed numbers match an independent computation of the same layer."""
import re

import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.cli import main
from numpy_nn.explain import explain, parse_layer_arguments


def _numbers_after(text, label):
    """The array printed after ``label`` (up to the closing bracket), as floats."""
    start = text.index(label) + len(label)
    depth, end = 0, start
    for end, ch in enumerate(text[start:], start):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "]" and depth == 0:
            break
    return np.array([float(v) for v in re.findall(r"-?\d+\.\d*(?:e-?\d+)?|-?\d+", text[start:end + 1])])


def _bn_by_hand(x, w, gamma=1.0, epsilon=1e-3):
    m = x.shape[0]
    mean, var = x.mean(0), x.var(0)
    r = 1 / np.sqrt(var + epsilon)
    x_hat = (x - mean) * r
    dx = gamma * r / m * (m * w - w.sum(0) - x_hat * (w * x_hat).sum(0))
    return mean, var, x_hat, dx, (w * x_hat).sum(0), w.sum(0)


def test_cli_explain_batch_normalization_prints_statistics_update_and_gradients(capsys):
    assert main(["explain", "BatchNormalization", "--shape", "2,3", "--seed", "0", "--training", "--no-keras"]) == 0
    text = capsys.readouterr().out
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    w = rng.standard_normal((2, 3))
    mean, var, x_hat, dx, dgamma, dbeta = _bn_by_hand(x, w)
    assert "[1] BatchNormTrain(x, gamma, beta)" in text
    np.testing.assert_allclose(_numbers_after(text, "      mean = "), mean, atol=1e-5)
    np.testing.assert_allclose(_numbers_after(text, "      variance = "), var, atol=1e-5)
    np.testing.assert_allclose(_numbers_after(text, "      x_hat = "), x_hat.ravel(), atol=1e-5)
    np.testing.assert_allclose(_numbers_after(text, "-> y1 = "), x_hat.ravel(), atol=1e-5)  # gamma 1, beta 0
    update = text.split("moving_mean:", 1)[1]
    assert "moving_mean = moving_mean * momentum + batch mean * (1 - momentum),  momentum = 0.99" in update
    np.testing.assert_allclose(_numbers_after(update, "batch mean = "), mean, atol=1e-5)
    np.testing.assert_allclose(_numbers_after(update, "    new = "),
                               0.01 * mean, atol=1e-5)
    variance_update = text.split("moving_variance:", 1)[1]
    np.testing.assert_allclose(_numbers_after(variance_update, "    new = "), 0.99 + 0.01 * var, atol=1e-5)
    for name, value in (("x", dx), ("gamma", dgamma), ("beta", dbeta)):
        block = text.split(f"dL/d{name} ", 1)[1]
        np.testing.assert_allclose(_numbers_after(block, "= "), value.ravel(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_numbers_after(block, "central difference = "), value.ravel(), rtol=1e-4, atol=1e-5)


def test_explain_dense_walks_the_tape_and_matches_numpy():
    result = explain("Dense", (2, 3), seed=1, keras=False, units=2, activation="relu")
    assert [s["op"] for s in result.steps] == ["MatMul", "Add", "ReLU"]
    assert [s["inputs"] for s in result.steps] == [["x", "kernel"], ["y1", "bias"], ["y2"]]
    weights = dict(result.initial_weights)
    z = result.x @ weights["kernel"] + weights["bias"]
    np.testing.assert_allclose(result.steps[0]["output"], result.x @ weights["kernel"], rtol=1e-12)
    np.testing.assert_allclose(result.output, np.maximum(z, 0), rtol=1e-12)
    dz = result.upstream * (z > 0)
    expected = {"x": dz @ weights["kernel"].T, "kernel": result.x.T @ dz, "bias": dz.sum(0)}
    for g in result.gradients:
        np.testing.assert_allclose(g["analytic"], expected[g["name"]], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g["numeric"], expected[g["name"]], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dict(result.intermediate_gradients)["y2"], dz, rtol=1e-12)
    assert not result.updates
    assert "[3] ReLU(y2)" in str(result) and "y = max(x, 0)" in str(result)


def test_explain_dropout_in_training_uses_one_mask_for_every_evaluation():
    result = explain("Dropout", (3, 4), seed=2, training=True, keras=False, rate=0.5)
    (g,) = result.gradients
    kept = result.output != 0
    np.testing.assert_allclose(g["analytic"], result.upstream * kept * 2.0, rtol=1e-12)
    np.testing.assert_allclose(g["numeric"], g["analytic"], atol=1e-7)


def test_explain_batch_normalization_inference_changes_no_state_but_shows_a_training_update():
    result = explain("BatchNormalization", (2, 3), seed=0, keras=False)
    assert [s["op"] for s in result.steps] == ["BatchNormInference"]
    np.testing.assert_allclose(result.output, result.x / np.sqrt(1 + 1e-3), rtol=1e-12)
    assert result.updates_hypothetical and [s["op"] for s in result.training_steps] == ["BatchNormTrain"]
    mean, var = result.x.mean(0), result.x.var(0)
    assert [u["weight"] for u in result.updates] == ["moving_mean", "moving_variance"]
    np.testing.assert_allclose(result.updates[0]["after"], 0.01 * mean, rtol=1e-12)
    np.testing.assert_allclose(result.updates[1]["after"], 0.99 + 0.01 * var, rtol=1e-12)
    np.testing.assert_array_equal(result.layer.moving_mean.numpy(), 0.0)  # put back as it was
    np.testing.assert_array_equal(result.layer.moving_variance.numpy(), 1.0)


def test_cli_explain_without_training_prints_the_moving_average_update(capsys):
    """The issue's command, verbatim: the update numbers are printed even for the inference pass."""
    assert main(["explain", "BatchNormalization", "--shape", "2,3", "--seed", "0", "--no-keras"]) == 0
    text = capsys.readouterr().out
    x = np.random.default_rng(0).standard_normal((2, 3))
    state = text.split("state: ", 1)[1]
    assert "momentum = 0.99" in state and "BatchNormTrain(x, gamma, beta)" in state
    np.testing.assert_allclose(_numbers_after(state, "      mean = "), x.mean(0), atol=1e-5)
    np.testing.assert_allclose(_numbers_after(state, "      x_hat = "), _bn_by_hand(x, x)[2].ravel(), atol=1e-5)
    np.testing.assert_allclose(_numbers_after(state.split("moving_mean:", 1)[1], "    new = "), 0.01 * x.mean(0),
                               atol=1e-5)
    np.testing.assert_allclose(_numbers_after(state.split("moving_variance:", 1)[1], "    new = "),
                               0.99 + 0.01 * x.var(0), atol=1e-5)


def test_layer_arguments_and_errors(capsys):
    assert parse_layer_arguments(["--units", "3", "--use-bias", "False", "--kernel-size=2,2", "--center"]) == \
        {"units": 3, "use_bias": False, "kernel_size": (2, 2), "center": True}
    assert main(["explain", "BatchNormalisation", "--shape", "2,3", "--no-keras"]) == 2
    assert "did you mean BatchNormalization" in capsys.readouterr().err
    assert main(["explain", "Dense", "--shape", "2x3", "--units", "2", "--no-keras"]) == 2
    assert "--shape takes sizes separated by commas" in capsys.readouterr().err


@pytest.mark.keras
def test_explain_shows_keras_gradients_and_moving_averages():
    from tests.keras_helpers import import_keras
    import_keras()
    result = explain("BatchNormalization", (2, 3), seed=0, training=True, keras=True)
    for g in result.gradients:
        np.testing.assert_allclose(g["keras"], g["analytic"], rtol=1e-4, atol=1e-4)
    for update in result.updates:
        np.testing.assert_allclose(update["keras"], update["after"], rtol=1e-6, atol=1e-7)
    text = str(result)
    assert "Keras new = " in text and "Keras              = " in text
