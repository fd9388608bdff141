"""The ensembling and hyperparameter-search examples run in quick mode and report real numbers."""

import numpy as np
import pytest

from tests.examples_loader import load_example


def test_ensembling_reports_members_and_ensembles_on_validation_and_test():
    pytest.importorskip("sklearn")
    result = load_example("ensembling").main(quick=True, verbose=False)
    rows = {row["name"]: row for row in result["rows"]}
    assert {"mean", "weighted"} <= set(rows) and len(result["names"]) >= 3
    for row in rows.values():
        for key in ("val_accuracy", "test_accuracy", "val_log_loss", "test_log_loss"):
            assert np.isfinite(row[key])
    weights = np.asarray([result["weights"][name] for name in result["names"]], dtype=float)
    assert np.all(weights >= -1e-12) and abs(weights.sum() - 1) < 1e-6
    # the weights minimise validation log loss, so the weighted ensemble is at least as good there
    # as the plain mean and as every member
    best_member = min(rows[name]["val_log_loss"] for name in result["names"])
    assert rows["weighted"]["val_log_loss"] <= min(rows["mean"]["val_log_loss"], best_member) + 1e-6
    assert rows["weighted"]["test_accuracy"] > 0.5  # the digits are easy: far above chance (0.1)


def test_hyperparameter_search_scores_on_validation_only():
    pytest.importorskip("hyperopt")
    pytest.importorskip("sklearn")
    result = load_example("hyperparameter_search").main(quick=True, verbose=False)
    trials = result["trials"]
    assert len(trials) >= 3
    scores = [trial["score"] if "score" in trial else trial.get("val_loss") for trial in trials]
    assert all(np.isfinite(s) for s in scores)
    assert result["best_val_loss"] == pytest.approx(min(scores))
    assert {"learning_rate", "width", "dropout"} <= set(result["best_params"])
    # 10 digit classes: chance is 0.1; the best trial's model reaches ~0.95 on the test split
    assert result["test_accuracy"] > 0.5 and np.isfinite(result["test_loss"])
