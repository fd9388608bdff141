"""Tests of numpy_nn.ensemble: averaging, simplex weights, stacking on out-of-fold predictions, report."""
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn import ensemble
from numpy_nn.ensemble import (StackingEnsemble, accuracy, average, diversity, fit_members, fit_weights,
                               from_search, greedy_selection, kfold_indices, log_loss, out_of_fold_predictions,
                               report)


def make_member(rng, y, n_classes, quality):
    """Softmax of Gaussian logits with ``quality`` added to the true class (0 = pure noise)."""
    logits = rng.normal(size=(len(y), n_classes))
    logits[np.arange(len(y)), y] += quality
    probas = np.exp(logits)
    return probas / probas.sum(axis=1, keepdims=True)


@pytest.fixture
def members():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 800)
    return y, {"good": make_member(rng, y, 4, 3.0), "fair": make_member(rng, y, 4, 1.0),
               "noise": make_member(rng, y, 4, 0.0)}


# ---------------------------------------------------------------------------------------------
# scores and averaging

def test_log_loss_and_accuracy_formulas():
    probas = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.5, 0.0]])
    y = np.array([0, 1, 2])
    assert log_loss(probas, y) == pytest.approx(-(np.log(0.7) + np.log(0.1) + np.log(1e-7)) / 3)
    assert log_loss(probas, np.eye(3)[y]) == pytest.approx(log_loss(probas, y))   # one-hot labels
    assert accuracy(probas, y) == pytest.approx(1 / 3)


def test_average_plain_and_weighted(members):
    _, m = members
    probas = list(m.values())
    np.testing.assert_allclose(average(probas), sum(probas) / 3)
    np.testing.assert_allclose(average(m, weights=[2, 1, 1]), (2 * probas[0] + probas[1] + probas[2]) / 4)
    np.testing.assert_allclose(average(np.stack(probas), weights={"a": 1, "b": 0, "c": 0}), probas[0])
    with pytest.raises(ValueError, match=r"\[1.0, -1.0, 1.0\]"):
        average(probas, weights=[1, -1, 1])
    with pytest.raises(ValueError, match="same shape"):
        average([probas[0], probas[1][:10]])


def test_models_with_predict_are_accepted():
    class Model:
        def __init__(self, column):
            self.column = column

        def predict(self, x):
            out = np.full((len(x), 3), 0.1)
            out[:, self.column] = 0.8
            return out

    x = np.zeros((5, 2))
    np.testing.assert_allclose(average([Model(0), Model(1)], x=x)[0], [0.45, 0.45, 0.1])
    assert set(ensemble.predict_probas({"a": Model(2)}, x)) == {"a"}
    with pytest.raises(ValueError, match="pass the inputs x"):
        average([Model(0)])
    # a single sigmoid column becomes [1 - p, p]
    np.testing.assert_allclose(ensemble.as_probas(np.array([[0.25], [1.0]])), [[0.75, 0.25], [0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# weights fitted on validation data

@pytest.mark.parametrize("method", ["log_loss", "brier"])
def test_fit_weights_recovers_the_good_member(members, method):
    y, m = members
    weights = fit_weights(m, y, method=method)
    assert weights.shape == (3,)
    assert weights[0] > 0.9 and weights[2] < 0.02


@given(n_members=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_fit_weights_on_the_simplex_and_optimal(n_members, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 120)
    probas = [make_member(rng, y, 3, q) for q in rng.uniform(0, 3, n_members)]
    weights = fit_weights(probas, y)
    assert np.all(weights >= 0) and weights.sum() == pytest.approx(1.0)
    best = log_loss(average(probas, weights), y)
    # no better than uniform weights, nor than any single member (vertices of the simplex)
    assert best <= log_loss(average(probas), y) + 1e-7
    assert best <= min(log_loss(p, y) for p in probas) + 1e-7
    # and no better point nearby on the simplex
    for _ in range(5):
        nudged = np.clip(weights + rng.normal(scale=0.05, size=n_members), 0, None)
        if nudged.sum() > 0:
            assert best <= log_loss(average(probas, nudged), y) + 1e-7


def test_fit_weights_blends_complementary_members():
    """Two members each informative on half of the classes: the optimum mixes them."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 1000)
    a, b = make_member(rng, y, 4, 0.0), make_member(rng, y, 4, 0.0)
    easy_for_a, easy_for_b = y < 2, y >= 2
    a[easy_for_a] = make_member(rng, y[easy_for_a], 4, 4.0)
    b[easy_for_b] = make_member(rng, y[easy_for_b], 4, 4.0)
    weights = fit_weights([a, b], y)
    assert 0.3 < weights[0] < 0.7
    assert log_loss(average([a, b], weights), y) < min(log_loss(a, y), log_loss(b, y)) - 0.2


def test_fitting_functions_take_no_test_data():
    for fitting in (fit_weights, StackingEnsemble.fit, StackingEnsemble.fit_members,
                    out_of_fold_predictions, fit_members, greedy_selection, from_search):
        assert not [p for p in inspect.signature(fitting).parameters if "test" in p]
    with pytest.raises(ValueError, match="'accuracy'"):
        fit_weights([np.eye(3)], [0, 1, 2], method="accuracy")


# ---------------------------------------------------------------------------------------------
# stacking

class Memorizer:
    """A 'model' that is perfect on samples it was fitted on and uniform elsewhere: maximal over-fitting."""

    def __init__(self, x, y, n_classes, log):
        self.seen = {float(v): int(label) for v, label in zip(x[:, 0], y)}
        self.n_classes = n_classes
        log.append(set(self.seen))

    def predict(self, x):
        out = np.full((len(x), self.n_classes), 1.0 / self.n_classes)
        for i, v in enumerate(x[:, 0]):
            if float(v) in self.seen:
                out[i] = np.eye(self.n_classes)[self.seen[float(v)]]
        return out


@given(n=st.integers(6, 60), n_splits=st.integers(2, 6), seed=st.integers(0, 100))
def test_kfold_every_sample_held_out_once(n, n_splits, seed):
    y = np.arange(n) % 3
    if n_splits > n:
        return
    folds = kfold_indices(y, n_splits, seed)
    held_out = np.concatenate([h for _, h in folds])
    assert sorted(held_out.tolist()) == list(range(n))
    for train, held in folds:
        assert not set(train) & set(held) and len(train) + len(held) == n


def test_out_of_fold_predictions_never_come_from_a_model_that_saw_the_sample():
    x = np.arange(60, dtype=float)[:, None]
    y = np.arange(60) % 3
    log = []
    oof = out_of_fold_predictions(lambda xs, ys: Memorizer(xs, ys, 3, log), x, y, n_splits=4)
    assert len(log) == 4 and oof.shape == (60, 3)
    # a memorizer predicting its own training samples would be perfect; out of fold it knows nothing
    np.testing.assert_allclose(oof, 1 / 3)


def test_stacking_learns_from_out_of_fold_predictions_not_from_memorization():
    """An over-fitting member looks perfect in-sample; with OOF predictions stacking ignores it."""
    rng = np.random.default_rng(0)
    x = np.arange(300, dtype=float)[:, None]
    y = rng.integers(0, 3, 300)
    honest = make_member(rng, y, 3, 2.0)
    log = []
    fit_fns = {"memorizer": lambda xs, ys: Memorizer(xs, ys, 3, log),
               "honest": lambda xs, ys: (lambda inputs: honest[inputs[:, 0].astype(int)])}
    stack = StackingEnsemble().fit_members(fit_fns, x[:200], y[:200], n_splits=5)
    assert set(stack.oof_probas_) == {"memorizer", "honest"}
    np.testing.assert_allclose(stack.oof_probas_["memorizer"], 1 / 3)
    # 5 fold models + 1 refit on all training samples
    assert len(log) == 6 and log[-1] == set(x[:200, 0].tolist())
    held_out = stack.predict_proba(x=x[200:])
    assert accuracy(held_out, y[200:]) >= accuracy(honest[200:], y[200:]) - 0.02
    # the memorizer's columns carry no weight: its features were constant during fitting
    n_classes = 3
    assert np.abs(stack.coef_[:n_classes]).max() < 1e-6
    assert np.abs(stack.coef_[n_classes:]).max() > 0.5


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("features", ["probas", "log_probas"])
def test_stacking_numpy_fallback_matches_sklearn(n_classes, features):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 400)
    probas = [make_member(rng, y, n_classes, q) for q in (2.0, 1.0, 0.3)]
    ours = StackingEnsemble(C=0.5, features=features, use_sklearn=False).fit(probas, y)
    theirs = StackingEnsemble(C=0.5, features=features, use_sklearn=True).fit(probas, y)
    np.testing.assert_allclose(ours.predict_proba(probas), theirs.predict_proba(probas), atol=1e-5)
    assert ours.coef_.shape == (3 * n_classes, n_classes)


def test_stacking_beats_members_with_complementary_strengths():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 1200)
    a, b = make_member(rng, y, 4, 0.0), make_member(rng, y, 4, 0.0)
    a[y < 2] = make_member(rng, y[y < 2], 4, 3.0)
    b[y >= 2] = make_member(rng, y[y >= 2], 4, 3.0)
    stack = StackingEnsemble(use_sklearn=False).fit([a[:800], b[:800]], y[:800])
    predicted = stack.predict_proba([a[800:], b[800:]])
    assert predicted.shape == (400, 4) and np.allclose(predicted.sum(1), 1)
    assert accuracy(predicted, y[800:]) > max(accuracy(a[800:], y[800:]), accuracy(b[800:], y[800:])) + 0.1
    np.testing.assert_array_equal(stack.predict([a[800:], b[800:]]), predicted.argmax(1))


def test_stacking_argument_errors():
    with pytest.raises(ValueError, match="-1"):
        StackingEnsemble(C=-1)
    with pytest.raises(ValueError, match="'logits'"):
        StackingEnsemble(features="logits")
    stack = StackingEnsemble(use_sklearn=False).fit([np.eye(3)[[0, 1, 2, 0]]], [0, 1, 2, 0])
    with pytest.raises(ValueError, match="fit_members"):
        stack.predict_proba(x=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="fitted on 3 features"):
        stack.predict_proba([np.eye(3), np.eye(3)])


# ---------------------------------------------------------------------------------------------
# diversity and report

def test_diversity():
    y = np.array([0, 1, 2, 0])
    confidence = np.array([0.9, 0.6, 0.8, 0.5])[:, None]
    a = np.eye(3)[[0, 1, 2, 0]] * confidence + (1 - confidence) / 3
    b = np.eye(3)[[0, 1, 2, 1]] * 0.9 + 0.1 / 3
    disagreement, correlation = diversity([a, 0.5 * a + 0.5 / 3, b], y)
    np.testing.assert_allclose(disagreement, [[0, 0, 0.25], [0, 0, 0.25], [0.25, 0.25, 0]])
    true_a, true_b = a[np.arange(4), y], b[np.arange(4), y]
    assert correlation[0, 1] == pytest.approx(1.0)   # an affine copy is perfectly correlated
    assert correlation[0, 2] == pytest.approx(np.corrcoef(true_a, true_b)[0, 1])


def split_members(m, n_val):
    return {name: (p[:n_val], p[n_val:]) for name, p in m.items()}


def test_report_contents(members):
    y, m = members
    result = report(split_members(m, 400), y[:400], y[400:])
    names = [row["name"] for row in result.rows]
    assert names == ["good", "fair", "noise", "mean", "weighted"]
    good = result.row("good")
    assert good["val_accuracy"] == pytest.approx(accuracy(m["good"][:400], y[:400]))
    assert good["test_log_loss"] == pytest.approx(log_loss(m["good"][400:], y[400:]))
    weights = np.array([result.weights[name] for name in m])
    np.testing.assert_allclose(weights, fit_weights([p[:400] for p in m.values()], y[:400]))
    weighted = average([p[400:] for p in m.values()], weights)
    assert result.row("weighted")["test_log_loss"] == pytest.approx(log_loss(weighted, y[400:]))
    mean_val = average([p[:400] for p in m.values()])
    assert result.row("mean")["val_accuracy"] == pytest.approx(accuracy(mean_val, y[:400]))
    assert result.row("weighted")["val_log_loss"] < result.row("mean")["val_log_loss"]
    assert result.disagreement.shape == (3, 3) and result.correlation.shape == (3, 3)
    table = result.to_markdown()
    assert table.startswith("| name | weight | val_accuracy") and "| weighted |" in table
    assert "disagreement" in table and str(result) == table
    assert set(result.to_dict()) == {"rows", "weights", "names", "disagreement", "correlation"}


def test_report_never_fits_on_test_data(members):
    y, m = members
    base = report(split_members(m, 400), y[:400], y[400:])
    # scramble every test array: the fitted weights and all validation numbers stay identical
    rng = np.random.default_rng(5)
    scrambled = {name: (p[:400], rng.dirichlet(np.ones(4), 400)) for name, p in m.items()}
    other = report(scrambled, y[:400], rng.integers(0, 4, 400))
    assert other.weights == base.weights
    for a, b in zip(base.rows, other.rows):
        assert (a["val_accuracy"], a["val_log_loss"]) == (b["val_accuracy"], b["val_log_loss"])
    np.testing.assert_array_equal(base.disagreement, other.disagreement)


def test_report_with_given_weights_and_stacking(members):
    y, m = members
    given_weights = {"good": 1.0, "fair": 1.0, "noise": 0.0}
    probas_val = [p[:400] for p in m.values()]
    probas_test = [p[400:] for p in m.values()]
    stack = StackingEnsemble().fit(probas_val, y[:400])
    result = report(split_members(m, 400), y[:400], y[400:], weights=given_weights,
                    stacking=(stack.predict_proba(probas_val), stack.predict_proba(probas_test)))
    assert result.weights == {"good": 0.5, "fair": 0.5, "noise": 0.0}
    assert [row["name"] for row in result.rows][-1] == "stacking"
    with pytest.raises(KeyError, match="'missing'"):
        result.row("missing")


def test_report_on_validation_data_alone(members):
    y, m = members
    result = report({name: p[:400] for name, p in m.items()}, y[:400])
    both = report(split_members(m, 400), y[:400], y[400:])
    assert result.weights == both.weights
    for alone, full in zip(result.rows, both.rows):
        assert alone["val_log_loss"] == full["val_log_loss"] and alone["test_log_loss"] is None
    assert "| weighted | " in result.to_markdown()
    with pytest.raises(ValueError, match="member 'good' has no test probabilities"):
        report({name: p[:400] for name, p in m.items()}, y[:400], y[400:])


# ---------------------------------------------------------------------------------------------
# fits seeded per member and fold

def test_fits_are_seeded_per_member_and_fold_not_by_the_callers_state():
    import numpy_nn as nn
    from tests.search_helpers import fit_mlp, tiny_data

    x, y = tiny_data(60)
    nn.set_random_seed(1)
    first = out_of_fold_predictions(fit_mlp, x, y, n_splits=3, seed=5)
    after = np.random.random()
    nn.set_random_seed(1)
    np.random.random()   # the caller's state moved on: the fits do not care
    np.testing.assert_array_equal(out_of_fold_predictions(fit_mlp, x, y, n_splits=3, seed=5), first)
    nn.set_random_seed(1)
    out_of_fold_predictions(fit_mlp, x, y, n_splits=3, seed=5)
    assert np.random.random() == after                        # ... and leave it alone
    assert not np.array_equal(out_of_fold_predictions(fit_mlp, x, y, n_splits=3, seed=6), first)
    # two members with the same fit function still get different seeds
    models = fit_members([fit_mlp, fit_mlp], x, y)
    assert isinstance(models, list) and len(models) == 2
    assert not np.array_equal(models[0].predict(x, verbose=0), models[1].predict(x, verbose=0))


# ---------------------------------------------------------------------------------------------
# ensembles from a search

def greedy_oracle(probas, y, n_iterations):
    """Caruana's loop written out: try every member at every step, keep the best prefix."""
    chosen, best, best_chosen = [], np.inf, None
    for _ in range(n_iterations):
        losses = []
        for candidate in range(len(probas)):
            members = chosen + [candidate]
            total = 0.0
            for i, label in enumerate(y):
                p = sum(probas[m][i, label] for m in members) / len(members)
                total -= np.log(min(max(p, 1e-7), 1 - 1e-7))
            losses.append(total / len(y))
        pick = int(np.argmin(losses))
        chosen.append(pick)
        if losses[pick] < best - 1e-12:
            best, best_chosen = losses[pick], list(chosen)
    counts = np.bincount(best_chosen, minlength=len(probas))
    return counts / counts.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_selection_matches_the_loop_oracle(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 60)
    probas = [make_member(rng, y, 3, q) for q in (2.0, 1.5, 1.0, 0.0)]
    weights = greedy_selection(probas, y, n_iterations=8)
    np.testing.assert_allclose(weights, greedy_oracle(probas, y, 8), atol=1e-12)
    size = round(1 / min(w for w in weights if w > 0))
    np.testing.assert_allclose(weights * size, np.round(weights * size), atol=1e-9)   # multiples of 1/s


def test_greedy_selection_beats_every_member_and_drops_noise(members):
    y, m = members
    probas = list(m.values())
    weights = greedy_selection(probas, y, n_iterations=30)
    assert weights.sum() == pytest.approx(1.0) and weights[2] == 0.0 and weights[0] > 0.5
    assert log_loss(average(probas, weights), y) <= min(log_loss(p, y) for p in probas)
    with pytest.raises(ValueError, match="n_iterations must be a positive int"):
        greedy_selection(probas, y, n_iterations=0)


def make_search_result(members, y, statuses=None):
    from numpy_nn.tuning import SearchResult

    names = list(members)
    statuses = statuses or ["ok"] * len(names)
    rows = [{"trial": t, "width": 8 * (t + 1), "score": log_loss(members[name], y), "epoch": 0, "seconds": 0.0,
             "status": status, "seed": t} for t, (name, status) in enumerate(zip(names, statuses))]
    kept = {t: members[name] for t, (name, status) in enumerate(zip(names, statuses)) if status == "ok"}
    return SearchResult(rows, ["width"], "val_loss", "min", val_predictions=kept, y_val=y)


@pytest.mark.parametrize("method", ["greedy", "weights"])
def test_from_search_chooses_and_scores_on_validation_data(members, method):
    y, m = members
    result = make_search_result({**m, "broken": m["good"]}, y, statuses=["ok", "ok", "ok", "fail"])
    chosen = from_search(result, method=method)
    candidates = [m["good"], m["fair"], m["noise"]]
    expected = (greedy_selection(candidates, y, 50) if method == "greedy" else fit_weights(candidates, y))
    assert chosen.weights == {t: float(w) for t, w in enumerate(expected) if w > 0}
    assert 3 not in chosen.weights                                  # failed trials are not candidates
    assert chosen.trials == list(chosen.weights) and chosen.params[0] == {"width": 8}
    np.testing.assert_allclose(chosen.val_probas, average(candidates, expected))
    rows = {row["name"]: row for row in chosen.report.rows}
    assert set(rows) == {f"trial {t}" for t in chosen.trials} | {"mean", "weighted"}
    assert rows["weighted"]["val_log_loss"] == pytest.approx(log_loss(chosen.val_probas, y))
    assert rows["weighted"]["test_log_loss"] is None and rows["weighted"]["val_log_loss"] <= result.best_score
    np.testing.assert_allclose(chosen.predict_proba({t: candidates[t] for t in chosen.trials}), chosen.val_probas)
    np.testing.assert_allclose(chosen.predict_proba([candidates[t] for t in chosen.trials]), chosen.val_probas)
    with pytest.raises(ValueError, match="no probabilities for trials"):
        chosen.predict_proba({})


def test_from_search_needs_kept_predictions(members):
    y, m = members
    result = make_search_result(m, y)
    result.val_predictions = {}
    with pytest.raises(ValueError, match="keep_val_predictions=True"):
        from_search(result)
    with pytest.raises(ValueError, match="'best'"):
        from_search(make_search_result(m, y), method="best")


def test_from_a_real_search():
    hyperopt = pytest.importorskip("hyperopt")
    from numpy_nn.tuning import hyperopt_search
    from tests.search_helpers import build_mlp, tiny_data

    x, y = tiny_data(160)
    space = {"lr": hyperopt.hp.loguniform("lr", np.log(1e-3), np.log(0.3)), "width": hyperopt.hp.choice("width", [4, 8])}
    result = hyperopt_search(build_mlp, space, x, y, validation_split=0.25, max_evals=5, verbose=0,
                             fit_kwargs={"epochs": 4, "batch_size": 16}, keep_val_predictions=True)
    chosen = from_search(result)
    single = min(log_loss(p, y[120:]) for p in result.val_predictions.values())
    assert log_loss(chosen.val_probas, y[120:]) <= single + 1e-12
    assert accuracy(chosen.val_probas, y[120:]) > 0.6               # two linearly separable-ish classes
