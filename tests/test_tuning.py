"""Tests of numpy_nn.tuning (hyperopt_search, optuna_search, refit) in one process, mostly with fake models.

Worker processes and Dask are exercised in tests/test_parallel_search.py.
"""
import inspect
import json
import os

import numpy as np
import pytest

from numpy_nn.tuning import hyperopt_search, optuna_search

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
    # docs/tuning.md quotes these means (pytest -s prints them)
    print(f"best score: TPE {np.mean(tpe_best):.2f}, random {np.mean(random_best):.2f}; median of trials 11-30: "
          f"TPE {np.mean(tpe_later):.2f}, random {np.mean(random_later):.2f}")
    assert np.mean(tpe_best) < np.mean(random_best)            # about 0.22 against 0.29
    assert np.mean(tpe_later) < 0.7 * np.mean(random_later)    # about 1.5 against 3.2


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
    assert set(row) == {"trial", "lr", "width", "score", "epoch", "seconds", "status", "seed"}
    assert isinstance(row["lr"], float) and row["status"] == "ok"
    assert [t["trial"] for t in first.trials] == list(range(6))
    # model seeds come from (seed, trial): the same in both runs, different between trials
    assert [t["seed"] for t in first.trials] == [t["seed"] for t in second.trials]
    assert len({t["seed"] for t in first.trials}) == 6
    table = first.to_markdown()
    assert table.splitlines()[0] == "| trial | lr | width | val_loss | epoch | seconds | status |"
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
    with pytest.raises(ImportError, match="pip install hyperopt.*numpy_nn\\[tuning\\]"):
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


# ---------------------------------------------------------------------------------------------
# trials file: atomic, resumable, refuses what is not its own

def without_seconds(result):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in result.trials]


def test_trials_file_resume_keeps_the_first_trials_and_runs_only_the_rest(data, tmp_path):
    x, y = data
    path = tmp_path / "search.json"
    kwargs = dict(validation_split=0.2, seed=4, n_startup_jobs=3, verbose=0)
    first = hyperopt_search(FakeModel, SPACE, x, y, max_evals=4, trials_file=path, **kwargs)
    stored = json.loads(path.read_text())
    assert [entry["row"]["trial"] for entry in stored["trials"]] == [0, 1, 2, 3]
    assert [entry["row"]["lr"] for entry in stored["trials"]] == [t["lr"] for t in first.trials]
    assert os.listdir(tmp_path) == ["search.json"]              # no temporary file left behind

    FakeModel.calls = []
    resumed = hyperopt_search(FakeModel, SPACE, x, y, max_evals=9, trials_file=path, **kwargs)
    assert len(FakeModel.calls) == 5                             # max_evals counts the 4 stored trials
    assert without_seconds(resumed)[:4] == without_seconds(first)
    assert [t["seconds"] for t in resumed.trials[:4]] == [t["seconds"] for t in first.trials]
    # proposals depend on (seed, trial index) and the finished trials only: resuming after a
    # finished batch gives the same search as running it in one go
    straight = hyperopt_search(FakeModel, SPACE, x, y, max_evals=9, **kwargs)
    assert without_seconds(resumed) == without_seconds(straight)
    assert len(json.loads(path.read_text())["trials"]) == 9

    FakeModel.calls = []
    again = hyperopt_search(FakeModel, SPACE, x, y, max_evals=9, trials_file=path, **kwargs)
    assert FakeModel.calls == [] and without_seconds(again) == without_seconds(resumed)


def test_trials_file_resume_prints_where_it_starts(data, tmp_path, capsys):
    x, y = data
    path = tmp_path / "search.json"
    hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=2, trials_file=path, verbose=0)
    hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=5, trials_file=path)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"resuming from {path}: 2 of 5 trials done"
    assert [line.split()[1] for line in lines[1:]] == ["3/5", "4/5", "5/5"]   # one line per new trial


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot be read"),
    ("", "cannot be read"),
    ('{"format": "something else", "trials": []}', "not a trials file"),
    ('{"format": "numpy_nn.tuning.hyperopt_search/1", "trials": [{"row": {}}]}', "cannot be read"),
])
def test_corrupt_trials_file_is_refused_and_left_untouched(data, tmp_path, content, message):
    x, y = data
    path = tmp_path / "search.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"{message}.*left untouched"):
        hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=3, trials_file=path, verbose=0)
    assert path.read_text() == content and os.listdir(tmp_path) == ["search.json"]


@pytest.mark.parametrize("change, message", [
    ({"space": {"lr": hp.loguniform("lr", np.log(1e-5), np.log(0.5)), "width": hp.quniform("width", 8, 128, 8)}},
     "search space differs"),
    ({"space": {"learning_rate": hp.loguniform("learning_rate", np.log(1e-5), np.log(1.0))}}, "search space differs"),
    ({"metric": "val_accuracy", "mode": "max"}, "metric='val_loss'"),
    ({"mode": "max"}, "mode='min'"),
])
def test_trials_file_of_another_search_is_refused_and_left_untouched(data, tmp_path, change, message):
    x, y = data
    path = tmp_path / "search.json"
    hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=2, trials_file=path, verbose=0)
    before = path.read_bytes()
    kwargs = {"space": SPACE, "metric": "val_loss", "mode": "min", **change}
    with pytest.raises(ValueError, match=f"another search: .*{message}.*left untouched"):
        hyperopt_search(FakeModel, kwargs.pop("space"), x, y, validation_split=0.2, max_evals=4, trials_file=path,
                        verbose=0, **kwargs)
    assert path.read_bytes() == before


class InterruptedModel(FakeModel):
    """Ctrl-C arrives while the third model trains."""

    fits = 0

    def fit(self, *args, **kwargs):
        InterruptedModel.fits += 1
        if InterruptedModel.fits == 3:
            raise KeyboardInterrupt
        return super().fit(*args, **kwargs)


def test_ctrl_c_leaves_a_valid_trials_file_to_continue_from(data, tmp_path, capsys):
    x, y = data
    path = tmp_path / "search.json"
    InterruptedModel.fits = 0
    with pytest.raises(KeyboardInterrupt):
        hyperopt_search(InterruptedModel, SPACE, x, y, validation_split=0.2, max_evals=6, trials_file=path)
    out = capsys.readouterr().out
    assert "interrupted: 2 trials finished" in out and str(path) in out
    assert [entry["row"]["trial"] for entry in json.loads(path.read_text())["trials"]] == [0, 1]
    assert os.listdir(tmp_path) == ["search.json"]
    resumed = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=6, trials_file=path, verbose=0)
    straight = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=6, verbose=0)
    assert without_seconds(resumed) == without_seconds(straight)


def test_timeout_and_early_stop_fn(data):
    from hyperopt.early_stop import no_progress_loss
    from tests.search_helpers import SlowModel

    x, y = data
    # no new trial starts after the timeout: with >= 0.05 s per trial, at most 3 start within 0.12 s
    result = hyperopt_search(SlowModel, SPACE, x, y, validation_split=0.2, max_evals=20, timeout=0.12, verbose=0,
                             fit_kwargs={"sleep": 0.05})
    assert 1 <= len(result.trials) <= 3
    with pytest.raises(RuntimeError, match="no trial finished"):
        hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=3, timeout=0, verbose=0)

    calls = []

    def stop_after_five(trials, *args):
        calls.append((len(trials.trials), args))
        return len(trials.trials) >= 5, [len(calls)]

    result = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=20, early_stop_fn=stop_after_five,
                             verbose=0)
    assert len(result.trials) == 5
    assert calls == [(1, ()), (2, (1,)), (3, (2,)), (4, (3,)), (5, (4,))]   # its state passes along
    # Hyperopt's own stopper: no better loss for 3 trials
    result = hyperopt_search(FakeModel, SPACE, x, y, validation_split=0.2, max_evals=40, early_stop_fn=no_progress_loss(3),
                             verbose=0)
    scores = [t["score"] for t in result.trials]
    assert len(scores) < 40 and min(scores[:-3]) <= min(scores[-3:])


# ---------------------------------------------------------------------------------------------
# trials are isolated and reproducible; their validation predictions and refit

def test_trials_leave_the_callers_random_state_and_names_alone(data):
    import numpy_nn as nn
    from numpy_nn import config, naming
    from tests.search_helpers import build_mlp, tiny_data

    x, y = tiny_data()
    nn.set_random_seed(11)
    generator_before = config.rng().bit_generator.state
    global_before = np.random.get_state()[1].copy()
    names_before = dict(naming._name_counters)
    space = {"lr": hp.loguniform("lr", np.log(1e-3), np.log(1e-1)), "width": hp.choice("width", [4, 8])}
    result = hyperopt_search(build_mlp, space, x, y, validation_split=0.25, max_evals=2, verbose=0,
                             fit_kwargs={"epochs": 1})
    assert config.rng().bit_generator.state == generator_before
    np.testing.assert_array_equal(np.random.get_state()[1], global_before)
    assert naming._name_counters == names_before
    # and the trials do not depend on the caller's state either
    nn.set_random_seed(99)
    again = hyperopt_search(build_mlp, space, x, y, validation_split=0.25, max_evals=2, verbose=0,
                            fit_kwargs={"epochs": 1})
    assert without_seconds(again) == without_seconds(result)


def test_kept_validation_predictions_are_the_best_epochs_and_refit_reproduces_them(tmp_path):
    from numpy_nn.tuning import refit
    from tests.search_helpers import build_mlp, tiny_data

    x, y = tiny_data(160)
    space = {"lr": hp.loguniform("lr", np.log(0.05), np.log(0.5)), "width": hp.choice("width", [4, 8])}
    fit_kwargs = {"epochs": 6, "batch_size": 16}
    path = tmp_path / "search.json"
    result = hyperopt_search(build_mlp, space, x, y, validation_split=0.25, max_evals=4, seed=2, verbose=0,
                             fit_kwargs=fit_kwargs, keep_val_predictions=True, trials_file=path)
    x_val, y_val = x[120:], y[120:]
    np.testing.assert_array_equal(result.y_val, y_val)
    assert sorted(result.val_predictions) == [0, 1, 2, 3]
    # with a high learning rate some trial peaks before its last epoch: the kept predictions are
    # those of the best epoch, which refit reproduces by training epoch + 1 epochs with the trial's seed
    assert any(t["epoch"] < fit_kwargs["epochs"] - 1 for t in result.trials)
    for row in result.trials:
        model = refit(result, build_mlp, x, y, trial=row["trial"], validation_split=0.25, fit_kwargs=fit_kwargs)
        probas = model.predict(x_val, verbose=0)
        np.testing.assert_allclose(result.val_predictions[row["trial"]], probas, rtol=0, atol=1e-6)
        loss = -np.mean(np.log(np.clip(probas[np.arange(len(y_val)), y_val], 1e-7, 1)))
        assert loss == pytest.approx(row["score"], rel=1e-4)
    # the predictions are saved beside the trials file and come back on resume
    assert sorted(os.listdir(tmp_path / "search.json.val_predictions")) == [f"trial_{i}.npy" for i in range(4)]
    resumed = hyperopt_search(build_mlp, space, x, y, validation_split=0.25, max_evals=4, seed=2, verbose=0,
                              fit_kwargs=fit_kwargs, keep_val_predictions=True, trials_file=path)
    for trial, probas in result.val_predictions.items():
        np.testing.assert_array_equal(resumed.val_predictions[trial], probas)
    with pytest.raises(KeyError, match="no trial 7"):
        refit(result, build_mlp, x, y, trial=7)
    assert result.params(2) == {name: result.trials[2][name] for name in ("lr", "width")}
    with pytest.raises(KeyError, match="no trial 7"):
        result.params(7)


# ---------------------------------------------------------------------------------------------
# Optuna


def test_optuna_median_pruner_prunes_the_trials_behind_the_median(data):
    optuna = pytest.importorskip("optuna")
    from tests.search_helpers import CurveModel, bowl, optuna_space

    x, y = data
    CurveModel.epochs_run = []
    epochs = 4
    result = optuna_search(CurveModel, optuna_space, x, y, validation_split=0.2, n_trials=14, seed=0,
                           fit_kwargs={"epochs": epochs}, verbose=0,
                           pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    statuses = [row["status"] for row in result.trials]
    assert statuses[:3] == ["ok"] * 3 and "pruned" in statuses
    assert [row["trial"] for row in result.trials] == list(range(14))
    for row, ran in zip(result.trials, CurveModel.epochs_run):
        first_epoch = bowl(row) * 2
        completed_first = [bowl(r) * 2 for r in result.trials[:row["trial"]] if r["status"] == "ok"]
        if row["status"] == "pruned":
            # stopped after the first epoch, which was worse than the median of the completed trials
            assert ran == 1 and row["epoch"] == 0 and first_epoch > np.median(completed_first)
        else:
            assert ran == epochs and row["epoch"] == epochs - 1
            if len(completed_first) >= 3:
                assert first_epoch <= np.median(completed_first)
    states = {t.number: t.state.name for t in result.study.trials}
    assert [states[row["trial"]] for row in result.trials] == [s.upper().replace("OK", "COMPLETE") for s in statuses]
    assert result.best_score == min(r["score"] for r in result.trials if r["status"] == "ok")
    # the study saw every epoch's value
    pruned = next(t for t in result.study.trials if t.state.name == "PRUNED")
    assert list(pruned.intermediate_values) == [0]


def test_optuna_journal_storage_resumes_and_refuses_another_metric(data, tmp_path):
    pytest.importorskip("optuna")
    from tests.search_helpers import CurveModel, optuna_space

    x, y = data
    storage = str(tmp_path / "study.log")
    kwargs = dict(validation_split=0.2, seed=3, verbose=0, fit_kwargs={"epochs": 2}, storage=storage)
    CurveModel.epochs_run = []
    first = optuna_search(CurveModel, optuna_space, x, y, n_trials=4, **kwargs)
    resumed = optuna_search(CurveModel, optuna_space, x, y, n_trials=7, **kwargs)
    assert len(CurveModel.epochs_run) == 7                     # 4 + 3: the stored trials are not rerun
    assert without_seconds(resumed)[:4] == without_seconds(first) and len(resumed.trials) == 7
    straight = optuna_search(CurveModel, optuna_space, x, y, n_trials=7, **{**kwargs, "storage": None})
    assert without_seconds(resumed) == without_seconds(straight)
    with pytest.raises(ValueError, match="metric='val_loss', not 'val_accuracy'"):
        optuna_search(CurveModel, optuna_space, x, y, n_trials=8, metric="val_accuracy", mode="max", **kwargs)


class InterruptedCurveModel:
    fits = 0

    def __new__(cls, params):
        from tests.search_helpers import CurveModel
        InterruptedCurveModel.fits += 1
        if InterruptedCurveModel.fits == 3:
            raise KeyboardInterrupt
        return CurveModel(params)


def test_optuna_ctrl_c_keeps_the_finished_trials(data, tmp_path):
    pytest.importorskip("optuna")
    from tests.search_helpers import CurveModel, optuna_space

    x, y = data
    storage = str(tmp_path / "study.log")
    InterruptedCurveModel.fits = 0
    with pytest.raises(KeyboardInterrupt):
        optuna_search(InterruptedCurveModel, optuna_space, x, y, validation_split=0.2, n_trials=5, verbose=0,
                      storage=storage)
    resumed = optuna_search(CurveModel, optuna_space, x, y, validation_split=0.2, n_trials=5, verbose=0,
                            storage=storage)
    # trial 2 was interrupted: it stays in the study as FAIL, out of the table
    assert [row["trial"] for row in resumed.trials] == [0, 1, 3, 4, 5]
    interrupted = resumed.study.trials[2]
    assert interrupted.state.name == "FAIL" and interrupted.user_attrs["numpy_nn_interrupted"]


def test_optuna_argument_errors_and_missing_optuna(data, monkeypatch):
    pytest.importorskip("optuna")
    from tests.search_helpers import CurveModel

    x, y = data
    with pytest.raises(TypeError, match="space_fn must return a dict"):
        optuna_search(CurveModel, lambda trial: [1], x, y, validation_split=0.2, n_trials=1, verbose=0)
    with pytest.raises(ValueError, match=r"\['score'\] clash"):
        optuna_search(CurveModel, lambda trial: {"score": 1}, x, y, validation_split=0.2, n_trials=1, verbose=0)
    with pytest.raises(ValueError, match="n_trials must be a positive int"):
        optuna_search(CurveModel, lambda trial: {}, x, y, validation_split=0.2, n_trials=0)
    import builtins
    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name.startswith("optuna"):
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    with pytest.raises(ImportError, match="pip install optuna.*numpy_nn\\[tuning\\]"):
        optuna_search(CurveModel, lambda trial: {}, x, y, validation_split=0.2)
