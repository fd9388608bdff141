"""Metrics: naive oracles, compile-time resolution, and parity with Keras metrics (with sample weights)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn.metrics as M
from numpy_nn.autograd.tensor import Tensor
from tests.keras_helpers import import_keras


# -- naive oracles ---------------------------------------------------------------------------------
def oracle_weighted_mean(per_sample_batches, weight_batches):
    total = count = 0.0
    for values, weights in zip(per_sample_batches, weight_batches):
        for i, value in enumerate(values):
            w = 1.0 if weights is None else float(weights[i])
            total += w * float(value)
            count += w
    return total / count if count else 0.0


def oracle_precision_recall(y_true, y_pred, weights, threshold):
    tp = fp = fn = 0.0
    for t, p, w in zip(y_true, y_pred, weights):
        if p > threshold and t:
            tp += w
        elif p > threshold:
            fp += w
        elif t:
            fn += w
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


def oracle_roc_auc(y_true, y_pred, weights, num_thresholds):
    """Trapezoids over thresholds [-eps, 1/(n-1), ..., 1+eps], counting p > threshold as positive."""
    thresholds = [-1e-7] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + 1e-7]
    tpr, fpr = [], []
    for threshold in thresholds:
        tp = sum(w for t, p, w in zip(y_true, y_pred, weights) if t and p > threshold)
        fp = sum(w for t, p, w in zip(y_true, y_pred, weights) if not t and p > threshold)
        pos = sum(w for t, w in zip(y_true, weights) if t)
        neg = sum(w for t, w in zip(y_true, weights) if not t)
        tpr.append(tp / pos if pos else 0.0)
        fpr.append(fp / neg if neg else 0.0)
    return sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 for i in range(len(thresholds) - 1))


batch_sizes = st.lists(st.integers(1, 12), min_size=1, max_size=4)


@given(sizes=batch_sizes, seed=st.integers(0, 2**16), weighted=st.booleans(), classes=st.integers(2, 6))
def test_accuracies_and_errors_are_weighted_running_means(sizes, seed, weighted, classes):
    rng = np.random.default_rng(seed)
    metrics = {"sparse": M.SparseCategoricalAccuracy(), "categorical": M.CategoricalAccuracy(),
               "binary": M.BinaryAccuracy(), "mse": M.MeanSquaredError(), "mae": M.MeanAbsoluteError()}
    per_sample = {k: [] for k in metrics}
    weights = []
    for n in sizes:
        labels = rng.integers(0, classes, n)
        scores = rng.random((n, classes)).astype(np.float32)
        w = rng.random(n).astype(np.float32) if weighted else None
        weights.append(w)
        metrics["sparse"].update_state(labels, Tensor(scores), sample_weight=w)
        metrics["categorical"].update_state(np.eye(classes)[labels], scores, sample_weight=w)
        per_sample["sparse"].append([float(np.argmax(s) == l) for s, l in zip(scores, labels)])
        per_sample["categorical"].append(per_sample["sparse"][-1])
        binary_labels = labels % 2
        metrics["binary"].update_state(binary_labels[:, None], scores[:, :1], sample_weight=w)
        per_sample["binary"].append([float((s > 0.5) == l) for s, l in zip(scores[:, 0], binary_labels)])
        target = rng.standard_normal((n, 3)).astype(np.float32)
        prediction = rng.standard_normal((n, 3)).astype(np.float32)
        metrics["mse"].update_state(target, prediction, sample_weight=w)
        metrics["mae"].update_state(target, prediction, sample_weight=w)
        per_sample["mse"].append([sum((a - b) ** 2 for a, b in zip(t, p)) / 3 for t, p in zip(target, prediction)])
        per_sample["mae"].append([sum(abs(a - b) for a, b in zip(t, p)) / 3 for t, p in zip(target, prediction)])
    for key, metric in metrics.items():
        expected = oracle_weighted_mean(per_sample[key], weights)
        assert metric.result() == pytest.approx(expected, rel=1e-5, abs=1e-6), key
        metric.reset_state()
        assert metric.result() == 0.0


@given(n=st.integers(1, 40), seed=st.integers(0, 2**16), num_thresholds=st.sampled_from([3, 11, 200]))
def test_confusion_metrics_match_oracles(n, seed, num_thresholds):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    y_pred = rng.random(n).astype(np.float32)
    weights = rng.random(n).astype(np.float32)
    precision, recall, auc = M.Precision(), M.Recall(), M.AUC(num_thresholds=num_thresholds)
    for metric in (precision, recall, auc):
        metric.update_state(y_true, y_pred, sample_weight=weights)
    expected_precision, expected_recall = oracle_precision_recall(y_true, y_pred, weights, 0.5)
    assert precision.result() == pytest.approx(expected_precision, abs=1e-6)
    assert recall.result() == pytest.approx(expected_recall, abs=1e-6)
    assert auc.result() == pytest.approx(oracle_roc_auc(y_true, y_pred, weights, num_thresholds), abs=1e-5)


def test_resolve_accuracy_like_keras_compile():
    assert type(M.resolve("accuracy", (8, 1), (8, 1))) is M.BinaryAccuracy
    assert type(M.resolve("accuracy", (8,), (8, 1))) is M.BinaryAccuracy
    assert type(M.resolve("acc", (8,), (8, 4))) is M.SparseCategoricalAccuracy
    assert type(M.resolve("accuracy", (8, 1), (8, 4))) is M.SparseCategoricalAccuracy
    assert type(M.resolve("accuracy", (8, 4), (8, 4))) is M.CategoricalAccuracy
    assert M.resolve("acc", (8, 4), (8, 4)).name == "acc"
    mse = M.resolve("mse", (8, 2), (8, 2))
    assert type(mse) is M.MeanSquaredError and mse.name == "mse"
    assert M.resolve("precision", (8, 1), (8, 1)).name == "precision"
    wrapped = M.resolve(M.mean_absolute_error, (8, 2), (8, 2))
    assert isinstance(wrapped, M.MeanMetricWrapper) and wrapped.name == "mean_absolute_error"
    assert wrapped._direction == "down"
    custom = M.AUC(name="my_auc")
    assert M.resolve(custom, (8, 1), (8, 1)) is custom and custom.name == "my_auc"


def test_get_direction_and_errors():
    assert isinstance(M.get("AUC"), M.AUC) and isinstance(M.get("auc"), M.AUC)
    assert isinstance(M.get("binary_accuracy"), M.BinaryAccuracy)
    assert isinstance(M.get("mean_squared_error"), M.MeanSquaredError)
    assert isinstance(M.get("accuracy"), M.Accuracy)                 # exact match, as keras.metrics.get
    assert isinstance(M.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.7}}), M.BinaryAccuracy)
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'nope'"):
        M.get("nope")
    assert [M.direction_of(n) for n in ("accuracy", "acc", "auc", "precision", "mse", "mae", "xyz")] == \
        ["up", "up", "up", "up", "down", "down", None]
    metric = M.BinaryAccuracy(threshold=0.3)
    assert M.BinaryAccuracy.from_config(metric.get_config()).threshold == 0.3
    assert metric([[1], [0]], [[0.5], [0.2]]) == 1.0       # __call__ updates and returns the result
    with pytest.raises(ValueError, match="Threshold values"):
        M.Precision(thresholds=[1.5])


def test_mean_rank_handling_and_float_result():
    mean = M.Mean()
    mean.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]), sample_weight=np.array([1.0, 0.0]))
    assert mean.result() == 2.0 and isinstance(mean.result(), float)
    mean.update_state(4.0)
    assert mean.result() == 3.0


# -- parity with Keras ---------------------------------------------------------------------------
def _data():
    rng = np.random.default_rng(0)
    n = 37
    yc = rng.integers(0, 5, n)
    return dict(
        yb=rng.integers(0, 2, (n, 1)).astype(np.float32), pb=rng.random((n, 1)).astype(np.float32),
        yc=yc, pc=rng.random((n, 5)).astype(np.float32), oh=np.eye(5, dtype=np.float32)[yc],
        yr=rng.standard_normal((n, 3)).astype(np.float32), pr=rng.standard_normal((n, 3)).astype(np.float32),
        sw=rng.random(n).astype(np.float32), n=n, yc2=rng.integers(0, 5, n),
        ym=rng.integers(0, 2, (n, 3)).astype(np.float32), pm=rng.random((n, 3)).astype(np.float32),
        pos=rng.random((n, 3)).astype(np.float32) + 0.1, ps=np.abs(rng.standard_normal((n, 5))).astype(np.float32))


PARITY = [("BinaryAccuracy", {}, "yb", "pb"), ("BinaryAccuracy", {"threshold": 0.3}, "yb", "pb"),
          ("CategoricalAccuracy", {}, "oh", "pc"), ("SparseCategoricalAccuracy", {}, "yc", "pc"),
          ("TopKCategoricalAccuracy", {"k": 2}, "oh", "pc"), ("SparseTopKCategoricalAccuracy", {"k": 2}, "yc", "pc"),
          ("MeanSquaredError", {}, "yr", "pr"), ("MeanAbsoluteError", {}, "yr", "pr"),
          ("RootMeanSquaredError", {}, "yr", "pr"), ("Precision", {}, "yb", "pb"), ("Recall", {}, "yb", "pb"),
          ("Precision", {"thresholds": [0.2, 0.5, 0.7]}, "yb", "pb"), ("Recall", {"top_k": 2}, "oh", "pc"),
          ("Precision", {"class_id": 2}, "oh", "pc"), ("AUC", {}, "yb", "pb"), ("AUC", {"curve": "PR"}, "yb", "pb"),
          ("AUC", {"num_thresholds": 7, "summation_method": "minoring"}, "yb", "pb"),
          ("AUC", {"thresholds": [0.1, 0.4, 0.8]}, "yb", "pb"), ("AUC", {"from_logits": True}, "yb", "pr"),
          # issue 13: every other Keras metric (weighted only, to keep the test short)
          ("Accuracy", {}, "yc", "yc2"), ("TruePositives", {}, "yb", "pb"),
          ("FalsePositives", {"thresholds": [0.15, 0.5, 0.85]}, "yb", "pb"), ("TrueNegatives", {}, "yb", "pb"),
          ("FalseNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "yb", "pb"),
          ("Precision", {"top_k": 2, "class_id": 1}, "oh", "pc"), ("Recall", {"thresholds": [0.0, 0.5, 1.0]}, "yb", "pb"),
          ("PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 50}, "yb", "pb"),
          ("RecallAtPrecision", {"precision": 0.6}, "yb", "pb"),
          ("SensitivityAtSpecificity", {"specificity": 0.5, "class_id": 3}, "oh", "pc"),
          ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 1}, "yb", "pb"),
          ("AUC", {"multi_label": True}, "ym", "pm"), ("AUC", {"multi_label": True, "num_labels": 3,
                                                               "label_weights": [0.2, 0.3, 0.5]}, "ym", "pm"),
          ("AUC", {"label_weights": [0.2, 0.3, 0.5]}, "ym", "pm"), ("AUC", {"curve": "PRGAIN"}, "yb", "pb"),
          ("AUC", {"curve": "PR", "summation_method": "majoring", "multi_label": True}, "ym", "pm"),
          ("F1Score", {}, "oh", "pc"), ("F1Score", {"average": "micro", "threshold": 0.4}, "oh", "pc"),
          ("F1Score", {"average": "macro"}, "oh", "pc"), ("FBetaScore", {"beta": 2.0, "average": "weighted"}, "oh", "pc"),
          ("IoU", {"num_classes": 5, "target_class_ids": [0, 2], "dtype": "float32"}, "yc", "yc2"),
          ("MeanIoU", {"num_classes": 5}, "yc", "yc2"), ("BinaryIoU", {"threshold": 0.3}, "yb", "pb"),
          ("OneHotIoU", {"num_classes": 5, "target_class_ids": [1, 3], "dtype": "float32"}, "oh", "pc"),
          ("OneHotMeanIoU", {"num_classes": 5}, "oh", "pc"),
          ("R2Score", {}, "yr", "pr"), ("R2Score", {"class_aggregation": None}, "yr", "pr"),
          ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, "yr", "pr"),
          ("MeanAbsolutePercentageError", {}, "yr", "pr"), ("MeanSquaredLogarithmicError", {}, "pos", "pm"),
          ("CosineSimilarity", {}, "yr", "pr"), ("LogCoshError", {}, "yr", "pr"), ("KLDivergence", {}, "oh", "pc"),
          ("Poisson", {}, "pos", "pm"), ("BinaryCrossentropy", {"label_smoothing": 0.1}, "ym", "pm"),
          ("CategoricalCrossentropy", {"from_logits": True}, "oh", "pr"),
          ("SparseCategoricalCrossentropy", {"ignore_class": 0}, "yc", "ps"), ("Hinge", {}, "ym", "pr"),
          ("SquaredHinge", {}, "ym", "pr"), ("CategoricalHinge", {}, "oh", "pc"),
          ("PearsonCorrelation", {}, "yr", "pr"), ("ConcordanceCorrelation", {"axis": -1}, "yr", "pr")]


@pytest.mark.keras
def test_parity_with_keras_metrics():
    keras = import_keras()
    d = _data()
    worst = 0.0
    for name, kwargs, y_key, p_key in PARITY:
        y_true, y_pred = d[y_key], d[p_key][:, :1] if p_key == "pr" and name == "AUC" else d[p_key]
        if p_key == "pr" and name == "CategoricalCrossentropy":
            y_true = y_true[:, :3]
        first_wave = (name, kwargs, y_key, p_key) in PARITY[:19]
        for weights in ((None, d["sw"]) if first_wave else (d["sw"],)):
            ours, theirs = getattr(M, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
            # two batches test the running state (once per family is enough: one batch for the rest)
            for part in ((slice(0, 20), slice(20, d["n"])) if first_wave or name == "R2Score" else (slice(None),)):
                w = None if weights is None else weights[part]
                ours.update_state(y_true[part], y_pred[part], sample_weight=w)
                theirs.update_state(y_true[part], y_pred[part], sample_weight=w)
            expected = np.asarray(theirs.result(), np.float64)
            diff = float(np.max(np.abs(np.asarray(ours.result(), np.float64) - expected)))
            # float32 results: a few ulps of the value (sums are accumulated in another order)
            assert diff <= 2.5e-7 * max(1.0, float(np.max(np.abs(expected)))), (name, kwargs, weights, diff)
            worst = max(worst, diff / max(1.0, float(np.max(np.abs(expected)))))
            print(f"{name} {kwargs} weighted={weights is not None}: max abs diff {diff:.2e}")
            assert [(v.name, tuple(v.shape)) for v in ours.variables] == \
                [(v.name, tuple(v.shape)) for v in theirs.variables], name
        ours_config = {k: v for k, v in ours.get_config().items() if k != "name"}
        theirs_config = {k: (np.asarray(v).tolist() if hasattr(v, "shape") else v)  # Keras keeps label_weights
                         for k, v in theirs.get_config().items() if k in ours_config}  # as an array
        assert ours_config == theirs_config, name
    assert worst <= 2.5e-7


@pytest.mark.keras
def test_default_names_and_directions_match_keras():
    keras = import_keras()
    for name in ("Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
                 "MeanSquaredError", "MeanAbsoluteError", "Mean", "TopKCategoricalAccuracy"):
        ours, theirs = getattr(M, name)(), getattr(keras.metrics, name)()
        assert ours.name == theirs.name
        assert ours._direction == getattr(theirs, "_direction", None), name


def test_top_k_on_rank_1_predictions_like_keras():
    """Keras's golden values: top_k on a rank-1 y_pred keeps the k largest entries of the vector."""
    precision = M.Precision(top_k=3)
    precision.update_state([0, 1, 1, 0, 1, 0], [0.2, 0.9, 0.1, 0.8, 0.7, 0.4], sample_weight=[1, 1, 2, 1, 1, 1])
    recall = M.Recall(top_k=2)
    recall.update_state(np.array([0, 1, 1, 0, 1, 0]), np.array([0.2, 0.9, 0.1, 0.8, 0.7, 0.4]))
    # top 3: 0.9 (label 1), 0.8 (0), 0.7 (1) -> precision 2/3; top 2: 0.9, 0.8 -> recall 1/3
    assert precision.result() == pytest.approx(2 / 3) and recall.result() == pytest.approx(1 / 3)


def test_sparse_categorical_accuracy_broadcasts_like_keras():
    metric = M.SparseCategoricalAccuracy()
    metric.update_state(np.array([[1], [1]]), np.array([[[0.1, 0.8, 0.1], [0.2, 0.7, 0.1]]]))
    assert metric.result() == 1.0


def test_variables_are_tracked_and_the_stateless_api_leaves_them_alone():
    auc = M.AUC(num_thresholds=5)
    assert [v.name for v in auc.variables] == ["true_positives", "false_positives", "true_negatives",
                                              "false_negatives"]
    precision = M.Precision()
    precision.extra = [M.Mean(), {"w": M.Sum()}]                # sub-metrics, in lists and dicts
    assert len(precision.variables) == 2 + 2 + 1
    mean = M.Mean()
    state = mean.stateless_update_state([v.numpy() for v in mean.variables], [1.0, 3.0])
    assert mean.result() == 0.0 and [float(x) for x in state] == [4.0, 2.0]
    assert mean.stateless_result(state) == 2.0
