"""Tests of numpy_nn.tuning.hyperopt_search with a fake model (no training loop needed)."""
import inspect

import numpy as np
import pytest

from numpy_nn.tuning import hyperopt_search

hyperopt = pytest.importorskip("hyperopt")
hp = hyperopt.hp


class FakeHistory:
    def __init__(self, history):
        self.history = history


def bowl(params):
    """A simple function of the params with its minimum 0.05 at lr = 10**-2.5, width = 48."""
    return (np.log10(params["lr"]) + 2.5) ** 2 + (params["width"] - 48) ** 2 / 1000 + 0.05


class FakeModel:
    """fit() returns a History whose val_loss is bowl(params) + 0.1 at epoch 1 (its best), higher elsewhere."""

    calls = []

    def __init__(self, params):
        self.params = params

    def fit(self, x, y, validation_data=None, verbose=1, epochs=3, **kwargs):
        FakeModel.calls.append({"x": x, "y": y, "validation_data": validation_data, "verbose": verbose,
                                "epochs": epochs, **kwargs})
        target = bowl(self.params)
        val_loss = ([target + 1.0, target + 0.1] + [target + 0.3] * epochs)[:epochs]
        return FakeHistory({"loss": [1.0] * epochs, "val_loss": val_loss,
                            "val_accuracy": [1 / (1 + v) for v in val_loss]})

    def evaluate(self, *args, **kwargs):
        raise AssertionError("hyperopt_search must score from the History, not call evaluate")

    predict = evaluate


SPACE = {"lr": hp.loguniform("lr", np.log(1e-5), np.log(1.0)),
         "width": hp.quniform("width", 8, 128, 8)}


@pytest.fixture
def data():
    FakeModel.calls = []
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 3)), rng.integers(0, 2, 50)


def test_tpe_beats_random_start_and_finds_the_minimum(data):
    x, y = data
    result = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=40, seed=0,
                             n_startup_jobs=10, verbose=0)
    scores = [t["score"] for t in result.trials]
    assert len(scores) == 40
    assert result.best_score == min(scores) < scores[0]
    assert result.best_score < 0.05 + 0.1 + 0.1    # near the bowl's minimum, 0.05 (+ 0.1 at epoch 1)
    assert abs(np.log10(result.best_params["lr"]) + 2.5) < 0.35
    # TPE concentrates: the trials after the 10 random ones are better, typically
    assert np.median(scores[10:]) < 0.8 * np.median(scores[:10])
    # the score is the metric at the best epoch
    best = result.trials[result.best_trial]
    assert best["epoch"] == 1 and best["score"] == pytest.approx(bowl(result.best_params) + 0.1)


def test_tpe_beats_random_search_over_seeds(data):
    """Same budget, five seeds: TPE (10 random trials, then modelling) against pure random search."""
    x, y = data
    tpe_best, random_best, tpe_later, random_later = [], [], [], []
    for seed in range(5):
        for n_startup, best, later in ((10, tpe_best, tpe_later), (30, random_best, random_later)):
            result = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=30, seed=seed,
                                     n_startup_jobs=n_startup, verbose=0)
            best.append(result.best_score)
            later.append(np.median([t["score"] for t in result.trials[10:]]))
    assert np.mean(tpe_best) < np.mean(random_best)            # about 0.21 against 0.50
    assert np.mean(tpe_later) < 0.7 * np.mean(random_later)    # about 1.7 against 3.7


def test_result_table_and_determinism(data, capsys):
    x, y = data
    first = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=6, seed=3)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 6 and printed[0].startswith("trial 1/6") and "val_loss=" in printed[0]
    second = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=6, seed=3, verbose=0)
    assert capsys.readouterr().out == ""
    assert [t["lr"] for t in first.trials] == [t["lr"] for t in second.trials]
    assert first.best_params == second.best_params and set(first.best_params) == {"lr", "width"}
    row = first.trials[0]
    assert set(row) == {"trial", "lr", "width", "score", "epoch", "seconds", "status"}
    assert isinstance(row["lr"], float) and row["status"] == "ok"
    table = first.to_markdown()
    assert table.splitlines()[0] == "| trial | lr | width | val_loss | epoch | seconds |"
    assert len(table.splitlines()) == 2 + 6 and f"| {first.best_trial} * |" in table


def test_choice_params_are_values_and_mode_max(data):
    x, y = data
    space = {"lr": hp.loguniform("lr", np.log(1e-4), np.log(1e-1)), "width": hp.choice("width", [16, 48, 96])}
    result = hyperopt_search(FakeModel, space, x, y, validation_data=(x[:10], y[:10]), max_evals=15,
                             metric="val_accuracy", mode="max", verbose=0)
    assert result.best_params["width"] in (16, 48, 96)      # values, not choice indices
    accuracies = [t["score"] for t in result.trials]
    assert result.best_score == max(accuracies)


def test_only_training_and_validation_data_reach_the_model(data):
    x, y = data
    assert not [p for p in inspect.signature(hyperopt_search).parameters if "test" in p]
    hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=3, verbose=0,
                    fit_kwargs={"epochs": 2, "batch_size": 8})
    for call in FakeModel.calls:
        # Keras's rule: the last 20% validate, the first 80% train, the same for every trial
        np.testing.assert_array_equal(call["x"], x[:40])
        np.testing.assert_array_equal(call["y"], y[:40])
        np.testing.assert_array_equal(call["validation_data"][0], x[40:])
        np.testing.assert_array_equal(call["validation_data"][1], y[40:])
        assert call["verbose"] == 0 and call["epochs"] == 2 and call["batch_size"] == 8

    FakeModel.calls = []
    x_val, y_val = x[:7] + 100, y[:7]
    hyperopt_search(FakeModel, SPACE, x, y, validation_data=(x_val, y_val), max_evals=2, verbose=0)
    for call in FakeModel.calls:
        assert call["x"] is x and call["validation_data"][0] is x_val


def test_dict_inputs_are_split(data):
    x, y = data
    inputs = {"a": x, "b": x[:, :1]}
    hyperopt_search(FakeModel, SPACE, inputs, y, validation_split=0.5, max_evals=1, verbose=0)
    call = FakeModel.calls[0]
    assert call["x"]["b"].shape == (25, 1) and call["validation_data"][0]["a"].shape == (25, 3)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of validation_split and validation_data"),
    ({"validation_split": 0.2, "validation_data": ([0], [0])}, "exactly one"),
    ({"validation_split": 1.5}, "1.5"),
    ({"validation_split": 0.2, "metric": "loss"}, "'loss'"),
    ({"validation_split": 0.2, "mode": "best"}, "'best'"),
    ({"validation_split": 0.2, "max_evals": 0}, "0"),
    ({"validation_split": 0.2, "fit_kwargs": {"validation_split": 0.1}}, "fit_kwargs"),
])
def test_argument_errors(data, kwargs, message):
    x, y = data
    with pytest.raises(ValueError, match=message):
        hyperopt_search(FakeModel, SPACE, x, y, verbose=0, **kwargs)


def test_missing_metric_and_failed_trials(data):
    x, y = data
    with pytest.raises(KeyError, match="val_auc.*val_accuracy"):
        hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, metric="val_auc", max_evals=1, verbose=0)

    class NaNModel(FakeModel):
        def fit(self, *args, **kwargs):
            return FakeHistory({"val_loss": [float("nan")] if self.params["lr"] > 1e-3 else [1.0]})

    result = hyperopt_search(NaNModel, SPACE, x, y, validation_split=0.2, max_evals=12, verbose=0)
    statuses = {t["status"] for t in result.trials}
    assert statuses == {"ok", "fail"} and result.best_score == 1.0
    with pytest.raises(RuntimeError, match="all 2 trials failed"):
        hyperopt_search(lambda p: NaNModel({"lr": 1.0}), SPACE, x, y, validation_split=0.2, max_evals=2, verbose=0)


def test_missing_hyperopt_names_the_extra(data, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_hyperopt(name, *args, **kwargs):
        if name.startswith("hyperopt"):
            raise ImportError("No module named 'hyperopt'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hyperopt)
    x, y = data
    with pytest.raises(ImportError, match="pip install hyperopt.*numpy_nn\\[dev\\]"):
        hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2)


def test_with_numpy_nn_models(data):
    """Integration with the real training loop: a tiny MLP, three trials of two epochs."""
    models = pytest.importorskip("numpy_nn.models")
    from numpy_nn.layers.core import Dense
    from numpy_nn.optimizers import Adam

    x, y = data

    def build(params):
        model = models.Sequential([models.Input((3,)), Dense(params["width"], activation="relu"),
                                   Dense(2, activation="softmax")])
        model.compile(optimizer=Adam(learning_rate=params["lr"]),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    space = {"lr": hp.loguniform("lr", np.log(1e-3), np.log(1e-1)), "width": hp.choice("width", [4, 8])}
    result = hyperopt_search(build, space, x.astype(np.float32), y, validation_split=0.2, max_evals=3,
                             verbose=0, fit_kwargs={"epochs": 2, "batch_size": 16})
    assert len(result.trials) == 3 and np.isfinite(result.best_score)
    assert all(t["status"] == "ok" and t["epoch"] in (0, 1) for t in result.trials)
    assert result.best_params["width"] in (4, 8)
