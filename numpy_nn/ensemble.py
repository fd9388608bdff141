"""Ensembles of classifiers: score the members, weight them, stack them, report.

Everything works on predicted class probabilities, arrays of shape (n, K), so it does not care
which library made them; wherever a member is expected, an object with ``.predict(x)`` (a
numpy_nn or Keras model, for instance) is accepted too, together with the inputs ``x``.

The three ways to combine M members with probabilities P_m (n, K):

    mean:       p = (1/M) sum_m P_m
    weighted:   p = sum_m w_m P_m,  w on the simplex (w_m >= 0, sum_m w_m = 1), w fitted on the
                VALIDATION set by minimizing the log loss  L(w) = -(1/n) sum_i log sum_m w_m P_m[i, y_i]
    stacking:   p = softmax(Z W + b), Z = [P_1 | ... | P_M] (n, M*K), a multinomial logistic
                regression fitted on OUT-OF-FOLD member predictions of the training set

The test set is only ever scored, never used to fit: ``fit_weights`` and ``StackingEnsemble.fit``
take no test arrays, and ``report`` fits its weights on the validation arrays alone.
"""
import inspect

import numpy as np

EPSILON = 1e-7   # keras.backend.epsilon(): probabilities are clipped to [eps, 1 - eps] in log losses


# ---------------------------------------------------------------------------------------------
# members -> probability arrays

def as_probas(member, x=None):
    """Class probabilities (n, K) float64 of one member: an array, or an object with ``.predict``.

    A single sigmoid column (n,) or (n, 1) becomes two columns [1 - p, p].
    """
    if hasattr(member, "predict") and not isinstance(member, np.ndarray):
        if x is None:
            raise ValueError(f"as_probas: member {type(member).__name__} has .predict(), pass the inputs x")
        member = _quiet_predict(member, x)
    probas = np.asarray(member, dtype=np.float64)
    if probas.ndim == 1 or (probas.ndim == 2 and probas.shape[1] == 1):
        p = probas.reshape(-1)
        probas = np.stack([1 - p, p], axis=1)
    if probas.ndim != 2:
        raise ValueError(f"as_probas: expected probabilities of shape (n, K), got shape {probas.shape}")
    return probas


def _quiet_predict(model, x):
    """model.predict(x), with verbose=0 when predict accepts it (numpy_nn and Keras print progress bars)."""
    try:
        accepts_verbose = "verbose" in inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        accepts_verbose = False
    return model.predict(x, verbose=0) if accepts_verbose else model.predict(x)


def predict_probas(members, x=None):
    """Probabilities of several members: a dict name -> member gives a dict, a sequence gives a list.

    Each member is an (n, K) array or an object with ``.predict(x)``.
    """
    if isinstance(members, dict):
        return {name: as_probas(member, x) for name, member in members.items()}
    return [as_probas(member, x) for member in _as_list(members)]


def _as_list(members):
    if isinstance(members, dict):
        return list(members.values())
    if isinstance(members, np.ndarray) and members.ndim == 3:
        return list(members)
    return list(members)


def _stack(members, x=None):
    """(M, n, K) array from a dict, a list, or an (M, n, K) array of members."""
    probas = [as_probas(member, x) for member in _as_list(members)]
    if not probas:
        raise ValueError("ensemble: got no members")
    shapes = {p.shape for p in probas}
    if len(shapes) != 1:
        raise ValueError(f"ensemble: all members must predict the same shape (n, K), got {sorted(shapes)}")
    return np.stack(probas)


def _labels(y, n=None):
    """Integer labels (n,) from labels or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1).astype(np.int64)
    if n is not None and len(y) != n:
        raise ValueError(f"ensemble: {n} predictions but {len(y)} labels")
    return y


# ---------------------------------------------------------------------------------------------
# scores

def log_loss(probas, y):
    """Mean negative log probability of the true class, -(1/n) sum_i log p[i, y_i], p clipped to [eps, 1-eps]."""
    probas = as_probas(probas)
    y = _labels(y, len(probas))
    return float(-np.mean(np.log(np.clip(probas[np.arange(len(y)), y], EPSILON, 1 - EPSILON))))


def accuracy(probas, y):
    """Fraction of samples whose most probable class is the true class."""
    probas = as_probas(probas)
    return float(np.mean(probas.argmax(axis=1) == _labels(y, len(probas))))


def average(members, weights=None, x=None):
    """Weighted mean of the members' probabilities, p = sum_m w_m P_m / sum_m w_m, shape (n, K).

    Args:
        members: list / dict / (M, n, K) array of probabilities, or objects with ``.predict``.
        weights: (M,) non-negative weights; None means the plain mean (w_m = 1/M).
        x: inputs, needed only when members are models.
    """
    probas = _stack(members, x)
    if weights is None:
        return probas.mean(axis=0)
    weights = np.asarray(list(weights.values()) if isinstance(weights, dict) else weights, dtype=np.float64)
    if weights.shape != (len(probas),) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"average: need {len(probas)} non-negative weights with a positive sum, "
                         f"got {weights.tolist()}")
    return np.tensordot(weights / weights.sum(), probas, axes=1)


# ---------------------------------------------------------------------------------------------
# weights fitted on validation data

def fit_weights(val_probas, y_val, method="log_loss"):
    """Member weights on the probability simplex that minimize a validation loss.

    log_loss:  L(w) = -(1/n) sum_i log q_i,   q_i = sum_m w_m P_m[i, y_i]
               dL/dw_m = -(1/n) sum_i P_m[i, y_i] / q_i
    brier:     B(w) = (1/n) sum_i || sum_m w_m P_m[i] - onehot(y_i) ||^2
               dB/dw_m = (2/n) sum_i < P_m[i], sum_k w_k P_k[i] - onehot(y_i) >

    Both are convex in w; SLSQP minimizes them under w_m >= 0 and sum_m w_m = 1, starting from
    the uniform weights, so useless members get exactly zero weight.

    Args:
        val_probas: the members' VALIDATION probabilities: list / dict / (M, n, K) array.
            (There is deliberately no way to pass test data here.)
        y_val: validation labels (n,) or one-hot (n, K).
        method: "log_loss" or "brier".

    Returns:
        weights: float64 array (M,), non-negative, summing to 1, in the members' order.
    """
    from scipy.optimize import minimize

    probas = _stack(val_probas)
    n_members, n = probas.shape[:2]
    y = _labels(y_val, n)
    if method == "log_loss":
        true_class = np.clip(probas[:, np.arange(n), y], EPSILON, 1.0)    # (M, n)

        def loss_and_grad(w):
            q = np.maximum(w @ true_class, EPSILON)
            return -np.mean(np.log(q)), -(true_class / q).mean(axis=1)
    elif method == "brier":
        onehot = np.eye(probas.shape[2])[y]

        def loss_and_grad(w):
            residual = np.tensordot(w, probas, axes=1) - onehot             # (n, K)
            return np.mean(np.sum(residual**2, axis=1)), 2 * np.einsum("mnk,nk->m", probas, residual) / n
    else:
        raise ValueError(f"fit_weights: method must be 'log_loss' or 'brier', got {method!r}")
    if n_members == 1:
        return np.ones(1)
    result = minimize(loss_and_grad, np.full(n_members, 1.0 / n_members), jac=True, method="SLSQP",
                      bounds=[(0.0, 1.0)] * n_members,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                    "jac": lambda w: np.ones_like(w)}],
                      options={"ftol": 1e-12, "maxiter": 500})
    weights = np.clip(result.x, 0.0, None)
    weights[weights < 1e-9] = 0.0
    return weights / weights.sum()


# ---------------------------------------------------------------------------------------------
# stacking on out-of-fold predictions

def _fit_member(fit_fn, x, y):
    """Run ``fit_fn(x, y)`` and return a function inputs -> probabilities."""
    fitted = fit_fn(x, y)
    if hasattr(fitted, "predict"):
        return lambda inputs: as_probas(fitted, inputs)
    if callable(fitted):
        return lambda inputs: as_probas(fitted(inputs))
    raise TypeError(f"fit_fn must return a model with .predict(x) or a function x -> probabilities, "
                    f"got {type(fitted).__name__}")


def kfold_indices(y, n_splits=5, seed=0, stratify=True):
    """List of (train_index, held_out_index) pairs; every sample is held out exactly once."""
    y = _labels(y)
    if not 2 <= n_splits <= len(y):
        raise ValueError(f"kfold_indices: n_splits must be between 2 and {len(y)}, got {n_splits!r}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    groups = [np.flatnonzero(y == label) for label in np.unique(y)] if stratify else [np.arange(len(y))]
    offset = 0
    for group in groups:   # deal each class round-robin over the folds, continuing where the last stopped
        fold_of[rng.permutation(group)] = (offset + np.arange(len(group))) % n_splits
        offset += len(group)
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(n_splits)]


def out_of_fold_predictions(fit_fn, x, y, n_splits=5, seed=0, stratify=True):
    """Predictions (n, K) for every training sample by a member that never saw that sample.

    For each of the k folds, ``fit_fn(x[train], y[train])`` is called on the other folds and
    asked to predict the held-out fold. ``fit_fn(x, y)`` must return a fitted model with
    ``.predict(x)`` (or a function x -> probabilities), e.g.

        def fit_mlp(x, y):
            model = build_mlp(); model.fit(x, y, epochs=10, verbose=0); return model

    ``x`` may be an array or a dict of arrays (samples on axis 0).
    """
    oof = None
    for train, held_out in kfold_indices(y, n_splits, seed, stratify):
        predict = _fit_member(fit_fn, _take(x, train), _take(y, train))
        fold_probas = predict(_take(x, held_out))
        if oof is None:
            oof = np.full((len(_labels(y)), fold_probas.shape[1]), np.nan)
        oof[held_out] = fold_probas
    return oof


def _take(data, index):
    if isinstance(data, dict):
        return {key: np.asarray(value)[index] for key, value in data.items()}
    return np.asarray(data)[index]


class StackingEnsemble:
    """Multinomial logistic regression on the members' probabilities (a "meta-learner").

        z_i = [P_1[i] | P_2[i] | ... | P_M[i]]            (M*K features; log P with features="log_probas")
        p_i = softmax(z_i W + b)
        minimize  C * sum_i -log p_i[y_i] + (1/2) ||W||^2     (b not penalized; scikit-learn's objective)

    The meta-learner must be fitted on OUT-OF-FOLD predictions: had the members been trained on
    the same samples, their predictions there would be over-confident and the meta-learner would
    learn to trust the most over-fitted member. Two ways to use it:

    1. You provide the out-of-fold probabilities (see ``out_of_fold_predictions``), then give it
       probabilities of members refitted on all the training data:
           stack = StackingEnsemble().fit([oof_a, oof_b], y_train)
           p_test = stack.predict_proba([model_a.predict(x_test), model_b.predict(x_test)])
    2. ``fit_members`` does the k folds and the refits for you, from a dict of fit functions:
           stack = StackingEnsemble().fit_members({"a": fit_a, "b": fit_b}, x_train, y_train)
           p_test = stack.predict_proba(x=x_test)

    Uses scikit-learn's ``LogisticRegression`` when installed (``use_sklearn=None``), otherwise
    the same objective minimized with SciPy's L-BFGS.
    """

    def __init__(self, C=1.0, features="probas", use_sklearn=None, max_iter=1000):
        if not C > 0:
            raise ValueError(f"StackingEnsemble: C must be positive, got {C!r}")
        if features not in ("probas", "log_probas"):
            raise ValueError(f"StackingEnsemble: features must be 'probas' or 'log_probas', got {features!r}")
        self.C, self.features, self.use_sklearn, self.max_iter = float(C), features, use_sklearn, max_iter
        self.members_ = None

    def _features(self, probas):
        stacked = _stack(probas)                                     # (M, n, K)
        if self.features == "log_probas":
            stacked = np.log(np.clip(stacked, EPSILON, 1.0))
        return np.concatenate(list(stacked), axis=1)                # (n, M*K)

    def fit(self, oof_probas, y):
        """Fit the meta-learner on out-of-fold probabilities (list / dict / (M, n, K)) and labels (n,)."""
        features, y = self._features(oof_probas), _labels(y)
        if len(y) != len(features):
            raise ValueError(f"StackingEnsemble.fit: {len(features)} predictions but {len(y)} labels")
        self.classes_ = np.arange(_stack(oof_probas).shape[2])
        use_sklearn = self.use_sklearn
        if use_sklearn is None:
            try:
                import sklearn  # noqa: F401
                use_sklearn = True
            except ImportError:
                use_sklearn = False
        if use_sklearn:
            from sklearn.linear_model import LogisticRegression
            model = LogisticRegression(C=self.C, max_iter=self.max_iter, tol=1e-8).fit(features, y)
            coef, intercept = np.zeros((len(self.classes_), features.shape[1])), np.zeros(len(self.classes_))
            coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
            if len(model.classes_) == 2 and model.coef_.shape[0] == 1:   # binary: sigmoid(z c + b)
                coef[model.classes_] = np.stack([np.zeros_like(model.coef_[0]), model.coef_[0]])
                intercept[model.classes_] = [0.0, model.intercept_[0]]
            self.coef_, self.intercept_ = coef.T, intercept            # coef_ (M*K, K) like W above
        else:
            self.coef_, self.intercept_ = _fit_softmax_regression(features, y, len(self.classes_),
                                                                 self.C, self.max_iter)
        return self

    def fit_members(self, fit_fns, x, y, n_splits=5, seed=0):
        """Out-of-fold predictions per member, the meta-learner on them, then each member refit on all of (x, y).

        ``fit_fns``: dict name -> ``fit_fn(x, y)`` returning a model with ``.predict`` (see
        ``out_of_fold_predictions``). Keeps ``self.oof_probas_`` (dict) and ``self.members_``.
        """
        self.oof_probas_ = {name: out_of_fold_predictions(fit_fn, x, y, n_splits, seed)
                            for name, fit_fn in fit_fns.items()}
        self.fit(self.oof_probas_, y)
        self.members_ = {name: _fit_member(fit_fn, x, y) for name, fit_fn in fit_fns.items()}
        return self

    def predict_proba(self, probas=None, x=None):
        """Meta-learner probabilities (n, K) from member probabilities, or from inputs x after ``fit_members``."""
        if (probas is None) == (x is None):
            raise ValueError("StackingEnsemble.predict_proba: pass exactly one of probas and x")
        if x is not None:
            if self.members_ is None:
                raise ValueError("StackingEnsemble.predict_proba(x=...) needs fit_members(); "
                                 "after fit() pass the members' probabilities")
            probas = [predict(x) for predict in self.members_.values()]
        features = self._features(probas)
        if features.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"StackingEnsemble: fitted on {self.coef_.shape[0]} features (members x classes), "
                             f"got {features.shape[1]}")
        return _softmax(features @ self.coef_ + self.intercept_)

    def predict(self, probas=None, x=None):
        """Most probable class (n,)."""
        return self.predict_proba(probas, x).argmax(axis=1)


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _fit_softmax_regression(features, y, n_classes, C, max_iter):
    """argmin over (W, b) of  C * sum_i -log softmax(z_i W + b)[y_i] + ||W||^2 / 2, by L-BFGS.

    Gradients: with P = softmax(Z W + b) and Y one-hot,  dW = C * Z^T (P - Y) + W,  db = C * sum_i (P - Y)_i.
    With two classes the first column of W and b is held at zero, which is the logistic model
    sigmoid(z w + b) with penalty ||w||^2 / 2, as scikit-learn fits it.
    """
    from scipy.optimize import minimize

    n, d = features.shape
    onehot = np.eye(n_classes)[y]
    free = slice(1, 2) if n_classes == 2 else slice(0, n_classes)
    n_free = 1 if n_classes == 2 else n_classes

    def unpack(theta):
        W, b = np.zeros((d, n_classes)), np.zeros(n_classes)
        W[:, free], b[free] = theta[: d * n_free].reshape(d, n_free), theta[d * n_free:]
        return W, b

    def objective(theta):
        W, b = unpack(theta)
        logits = features @ W + b
        top = logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
        loss = C * np.sum(log_norm - logits[np.arange(n), y]) + 0.5 * np.sum(W**2)
        residual = C * (_softmax(logits) - onehot)
        dW, db = features.T @ residual + W, residual.sum(axis=0)
        return loss, np.concatenate([dW[:, free].ravel(), db[free]])

    theta = minimize(objective, np.zeros(d * n_free + n_free), jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iter, "gtol": 1e-10, "ftol": 1e-14}).x
    return unpack(theta)


# ---------------------------------------------------------------------------------------------
# diversity and the report

def diversity(probas, y):
    """Pairwise disagreement and correlation of the members, two (M, M) arrays.

    disagreement[a, b] = fraction of samples where the members' predicted classes differ.
    correlation[a, b]  = Pearson correlation over samples of P_a[i, y_i] and P_b[i, y_i], the
                         probabilities given to the true class (near 1: they are right and wrong
                         on the same samples, so averaging them helps little).
    """
    stacked = _stack(probas)
    y = _labels(y, stacked.shape[1])
    predicted = stacked.argmax(axis=2)                                   # (M, n)
    disagreement = np.mean(predicted[:, None, :] != predicted[None, :, :], axis=2)
    true_class = stacked[:, np.arange(len(y)), y]
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(true_class) if len(stacked) > 1 else np.ones((1, 1))
    return disagreement, np.atleast_2d(correlation)


def describe_weights(weights, negligible=0.01):
    """One sentence on what ensemble weights {name: weight} (summing to 1) mean, for the report.

    A single member with all the weight (1/0/0) means the "weighted" row IS that member; about
    equal weights mean it is the plain mean; otherwise it names the mix and the members left out.
    """
    names, values = list(weights), np.asarray(list(weights.values()), dtype=np.float64)
    shown = "/".join(f"{v:.2g}" for v in values)
    used = [name for name, v in zip(names, values) if v > negligible]
    unused = [name for name, v in zip(names, values) if v <= negligible]
    if len(used) == 1:
        return (f"Weights {shown} ({'/'.join(names)}): the weighted ensemble is {used[0]} alone -- mixing in "
                f"{', '.join(unused)} did not improve the fit on the validation data.")
    if np.allclose(values, 1.0 / len(values), atol=0.05):
        return f"Weights {shown} ({'/'.join(names)}): about equal, so the weighted ensemble is close to the plain mean."
    mix = ", ".join(f"{name} {v:.2f}" for name, v in sorted(zip(names, values), key=lambda item: -item[1])
                    if v > negligible)
    return (f"Weights {shown} ({'/'.join(names)}): the weighted ensemble mixes {mix}"
            + (f"; {', '.join(unused)} {'gets' if len(unused) == 1 else 'get'} no weight (adds nothing the others "
               "do not, on the validation data)." if unused else "."))


class EnsembleReport:
    """Scores of the members and of the ensembles; print it, or ``to_markdown()``.

    Attributes:
        rows: list of dicts, one per member then "mean" and "weighted" (and "stacking" when
            given), keys name, weight, val_accuracy, val_log_loss, test_accuracy, test_log_loss.
        weights: dict name -> weight (fitted on validation data unless given).
        disagreement, correlation: (M, M) arrays on the VALIDATION set, in ``names`` order.
    """

    def __init__(self, names, rows, weights, disagreement, correlation):
        self.names, self.rows, self.weights = names, rows, weights
        self.disagreement, self.correlation = disagreement, correlation

    def row(self, name):
        """The row of one member or ensemble, by name."""
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"EnsembleReport: no row {name!r}; rows are {[r['name'] for r in self.rows]}")

    def to_dict(self):
        return {"rows": self.rows, "weights": self.weights, "names": self.names,
                "disagreement": self.disagreement.tolist(), "correlation": self.correlation.tolist()}

    def to_markdown(self):
        columns = ["name", "weight", "val_accuracy", "val_log_loss", "test_accuracy", "test_log_loss"]
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in self.rows:
            cells = [row["name"]] + ["" if row[c] is None else f"{row[c]:.4f}" for c in columns[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", describe_weights(self.weights)]
        for title, matrix in (("disagreement (validation)", self.disagreement),
                              ("correlation of true-class probabilities (validation)", self.correlation)):
            lines += ["", f"{title}:", "", "| | " + " | ".join(self.names) + " |",
                      "|" + "---|" * (len(self.names) + 1)]
            for name, values in zip(self.names, matrix):
                lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
        return "\n".join(lines)

    __str__ = to_markdown


def report(members, y_val, y_test, weights=None, method="log_loss", stacking=None):
    """Member and ensemble scores on validation and test data.

    Args:
        members: dict name -> (val_probas (n_val, K), test_probas (n_test, K)).
        y_val, y_test: labels (or one-hot rows).
        weights: dict name -> weight or (M,) array; None fits them with ``fit_weights`` on the
            validation probabilities only (the test arrays play no part in any fitting).
        method: loss for ``fit_weights``.
        stacking: optional (val_probas, test_probas) of a stacking ensemble, shown as a row.

    Returns:
        EnsembleReport.
    """
    names = list(members)
    val = [as_probas(members[name][0]) for name in names]
    test = [as_probas(members[name][1]) for name in names]
    if weights is None:
        weights = fit_weights(val, y_val, method=method)
    elif isinstance(weights, dict):
        weights = [weights[name] for name in names]
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()

    def scores(name, weight, val_probas, test_probas):
        return {"name": name, "weight": weight,
                "val_accuracy": accuracy(val_probas, y_val), "val_log_loss": log_loss(val_probas, y_val),
                "test_accuracy": accuracy(test_probas, y_test), "test_log_loss": log_loss(test_probas, y_test)}

    rows = [scores(name, float(w), v, t) for name, w, v, t in zip(names, weights, val, test)]
    rows.append(scores("mean", None, average(val), average(test)))
    rows.append(scores("weighted", None, average(val, weights), average(test, weights)))
    if stacking is not None:
        rows.append(scores("stacking", None, as_probas(stacking[0]), as_probas(stacking[1])))
    disagreement, correlation = diversity(val, y_val)
    return EnsembleReport(names, rows, dict(zip(names, weights.tolist())), disagreement, correlation)
