"""The model-room examples run in quick mode and produce sensible numbers."""

import numpy as np
import pytest

from tests.examples_loader import load_example


def test_functional_two_branch(capsys):
    result = load_example("functional_two_branch").main(quick=True)
    history, test = result["history"], result["test"]
    assert list(history) == ["kind_accuracy", "kind_loss", "loss", "score_accuracy", "score_loss",
                             "val_kind_accuracy", "val_kind_loss", "val_loss", "val_score_accuracy", "val_score_loss"]
    assert history["loss"][-1] < history["loss"][0]
    assert test["score_accuracy"] > 0.85 and test["kind_accuracy"] > 0.6
    assert test["loss"] == pytest.approx(test["score_loss"] + 0.5 * test["kind_loss"], rel=1e-4)


def test_siamese(capsys):
    result = load_example("siamese").main(quick=True)
    assert result["model_params"] == result["encoder_params"] + 8 + 1  # shared encoder counted once
    assert result["test_accuracy"] > 0.8


def test_subclass_model(capsys):
    result = load_example("subclass_model").main(quick=True)
    assert 'Model: "residual_mlp"' in result["summary"] and "block1_add (Add)" in result["summary"]
    assert f"Total params: {result['params']:,}" in result["summary"]
    assert result["history"]["val_loss"][-1] < 0.5 * result["history"]["val_loss"][0]


def test_callbacks_small_cnn(capsys):
    result = load_example("callbacks_small_cnn").main(quick=True)
    history = result["history"]
    assert "learning_rate" in history and result["epochs_run"] == len(history["loss"]) <= 6
    rates = history["learning_rate"]
    assert all(b <= a for a, b in zip(rates, rates[1:]))
    if result["stopped_epoch"]:  # early stopping happened: the best val_loss came 3 epochs earlier
        assert int(np.argmin(history["val_loss"])) == result["epochs_run"] - 4
    assert result["seconds_per_epoch"] > 0   # measured and reported; never asserted against a bound
    assert result["test_accuracy"] > 0.3     # 10 digit classes: chance is 0.1
