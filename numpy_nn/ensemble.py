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

Fitting members is embarrassingly parallel: ``fit_members``, ``out_of_fold_predictions`` and
``StackingEnsemble.fit_members`` take ``n_jobs`` and ``executor`` (a process pool, or a Dask
``Client(...).get_executor()``). Every fit is seeded from (seed, member, fold), so the results do
not depend on where it ran. ``from_search`` builds an ensemble from the trials of a search.
"""
import inspect
import os
import pickle

import numpy as np

from . import _parallel

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

class _Predictor:
    """inputs -> probabilities (n, K) of a fitted member: a model with ``.predict`` or a function."""

    def __init__(self, fitted, name=None):
        if not (hasattr(fitted, "predict") or callable(fitted)):
            raise TypeError(f"fit_fn{'' if name is None else f' {name!r}'} must return a model with .predict(x) "
                            f"or a function x -> probabilities, got {type(fitted).__name__}")
        self.fitted = fitted

    def __call__(self, inputs):
        if hasattr(self.fitted, "predict"):
            return as_probas(self.fitted, inputs)
        return as_probas(self.fitted(inputs))


def _fit_task(shared, task):
    """One fit, wherever it runs: ``fit_fns[member](x[train], y[train])`` seeded from the task.

    A fold fit returns its probabilities on the held-out samples; a fit on all the data
    returns the fitted model (it must then be picklable to come back from a worker process).
    """
    x, y, fit_fn = shared["x"], shared["y"], shared["fit_fns"][task["member"]]
    with _parallel.isolated(task["seed"]):
        train = task["train"]
        fitted = fit_fn(x, y) if train is None else fit_fn(_take(x, train), _take(y, train))
        predictor = _Predictor(fitted, task["member"])
        if task["held_out"] is not None:
            return predictor(_take(x, task["held_out"]))
    if shared["caller_pid"] != os.getpid():
        try:
            pickle.dumps(fitted)
        except Exception as error:   # noqa: BLE001
            raise TypeError(f"fit_fn {task['member']!r} returned a {type(fitted).__name__} that cannot be sent "
                            f"back from the worker ({type(error).__name__}: {error}); return a model with "
                            f".predict(x), or fit with n_jobs=1") from error
    return fitted


def _run_fits(owner, fit_fns, x, y, tasks, n_jobs, executor):
    """Run the fit tasks {key: task}; return {key: result} (results do not depend on the executor)."""
    shared = {"x": x, "y": y, "fit_fns": fit_fns, "caller_pid": os.getpid()}
    with _parallel.Jobs(owner, n_jobs, executor, shared) as jobs:
        for name, fit_fn in fit_fns.items():
            jobs.check_sendable(f"fit_fn {name!r}", fit_fn)
        return dict(jobs.run(_fit_task, tasks))


def _fold_tasks(member, member_index, y, n_splits, seed, stratify):
    return {(member, fold): {"member": member, "train": train, "held_out": held_out,
                             "seed": _parallel.derived_seed(seed, "fold_fit", member_index, fold)}
            for fold, (train, held_out) in enumerate(kfold_indices(y, n_splits, seed, stratify))}


def _full_task(member, member_index, seed):
    return {"member": member, "train": None, "held_out": None,
            "seed": _parallel.derived_seed(seed, "full_fit", member_index)}


def _assemble_oof(results, member, tasks, n):
    oof = None
    for key, task in tasks.items():
        if key[0] != member or task["held_out"] is None:
            continue
        fold_probas = results[key]
        if oof is None:
            oof = np.full((n, fold_probas.shape[1]), np.nan)
        oof[task["held_out"]] = fold_probas
    return oof


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


def out_of_fold_predictions(fit_fn, x, y, n_splits=5, seed=0, stratify=True, n_jobs=1, executor=None):
    """Predictions (n, K) for every training sample by a member that never saw that sample.

    For each of the k folds, ``fit_fn(x[train], y[train])`` is called on the other folds and
    asked to predict the held-out fold. ``fit_fn(x, y)`` must return a fitted model with
    ``.predict(x)`` (or a function x -> probabilities), e.g.

        def fit_mlp(x, y):
            model = build_mlp(); model.fit(x, y, epochs=10, verbose=0); return model

    ``x`` may be an array or a dict of arrays (samples on axis 0). The k fits run ``n_jobs`` at
    a time, here (n_jobs=1), in a process pool, or on ``executor`` (e.g. a Dask
    ``Client(...).get_executor()``); fold f is fitted inside ``set_random_seed(s_f)``, s_f
    derived from (seed, f), so the predictions do not depend on where the fits ran. With
    workers, ``fit_fn`` must be importable by them (a top-level ``def`` in a .py module).
    """
    tasks = _fold_tasks(0, 0, y, n_splits, seed, stratify)
    results = _run_fits("out_of_fold_predictions", {0: fit_fn}, x, y, tasks, n_jobs, executor)
    return _assemble_oof(results, 0, tasks, len(_labels(y)))


def _take(data, index):
    if isinstance(data, dict):
        return {key: np.asarray(value)[index] for key, value in data.items()}
    return np.asarray(data)[index]


def fit_members(fit_fns, x, y, n_jobs=1, executor=None, seed=0):
    """Fit every member on all of (x, y), at once on n_jobs workers; returns the fitted models.

    Args:
        fit_fns: dict name -> ``fit_fn(x, y)`` returning a fitted model with ``.predict(x)``
            (see ``out_of_fold_predictions``), or a list of them.
        x, y: training data (x an array or a dict of arrays, samples on axis 0).
        n_jobs: fits at once. executor: None (here for n_jobs=1, else a process pool made for
            the call, BLAS pinned to one thread per worker) or any
            ``concurrent.futures.Executor``, e.g. ``Client(...).get_executor()`` for Dask.
        seed: member m is fitted inside ``numpy_nn.config.set_random_seed(s_m)``, s_m derived
            from (seed, m), so the models are the same serial, in a pool or on Dask.

    Returns:
        dict name -> fitted model (a list for a list of fit_fns). Models fitted in worker
        processes come back pickled: fine for predicting.
    """
    as_list = not isinstance(fit_fns, dict)
    named = dict(enumerate(fit_fns)) if as_list else dict(fit_fns)
    tasks = {name: _full_task(name, index, seed) for index, name in enumerate(named)}
    results = _run_fits("fit_members", named, x, y, tasks, n_jobs, executor)
    fitted = {name: results[name] for name in named}
    return list(fitted.values()) if as_list else fitted


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

    def fit_members(self, fit_fns, x, y, n_splits=5, seed=0, n_jobs=1, executor=None):
        """Out-of-fold predictions per member, the meta-learner on them, then each member refit on all of (x, y).

        ``fit_fns``: dict name -> ``fit_fn(x, y)`` returning a model with ``.predict`` (see
        ``out_of_fold_predictions``). Keeps ``self.oof_probas_`` (dict) and ``self.members_``.
        All M * (n_splits + 1) fits run ``n_jobs`` at a time (here, in a process pool, or on
        ``executor``), each seeded from (seed, member, fold) as in ``out_of_fold_predictions``
        and ``fit_members``: the first member's out-of-fold predictions equal
        ``out_of_fold_predictions(fit_fn, x, y, n_splits, seed)``.
        """
        fit_fns = dict(fit_fns)
        n = len(_labels(y))
        tasks = {}
        for index, name in enumerate(fit_fns):
            tasks.update(_fold_tasks(name, index, y, n_splits, seed, True))
            tasks[(name, "all")] = _full_task(name, index, seed)
        results = _run_fits("StackingEnsemble.fit_members", fit_fns, x, y, tasks, n_jobs, executor)
        self.oof_probas_ = {name: _assemble_oof(results, name, tasks, n) for name in fit_fns}
        self.fit(self.oof_probas_, y)
        self.members_ = {name: _Predictor(results[(name, "all")], name) for name in fit_fns}
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


def report(members, y_val, y_test=None, weights=None, method="log_loss", stacking=None):
    """Member and ensemble scores on validation and test data (or on validation data alone).

    Args:
        members: dict name -> (val_probas (n_val, K), test_probas (n_test, K)); with
            ``y_test=None``, dict name -> val_probas is enough.
        y_val, y_test: labels (or one-hot rows); ``y_test=None`` leaves the test columns empty.
        weights: dict name -> weight or (M,) array; None fits them with ``fit_weights`` on the
            validation probabilities only (the test arrays play no part in any fitting).
        method: loss for ``fit_weights``.
        stacking: optional (val_probas, test_probas) of a stacking ensemble, shown as a row.

    Returns:
        EnsembleReport.
    """
    names = list(members)
    parts = {name: _val_and_test(name, members[name], y_test is not None) for name in names}
    val = [parts[name][0] for name in names]
    test = [parts[name][1] for name in names]
    if weights is None:
        weights = fit_weights(val, y_val, method=method)
    elif isinstance(weights, dict):
        weights = [weights[name] for name in names]
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()

    def scores(name, weight, val_probas, test_probas):
        row = {"name": name, "weight": weight,
               "val_accuracy": accuracy(val_probas, y_val), "val_log_loss": log_loss(val_probas, y_val),
               "test_accuracy": None, "test_log_loss": None}
        if y_test is not None:
            row.update(test_accuracy=accuracy(test_probas, y_test), test_log_loss=log_loss(test_probas, y_test))
        return row

    with_test = y_test is not None
    rows = [scores(name, float(w), v, t) for name, w, v, t in zip(names, weights, val, test)]
    rows.append(scores("mean", None, average(val), average(test) if with_test else None))
    rows.append(scores("weighted", None, average(val, weights), average(test, weights) if with_test else None))
    if stacking is not None:
        rows.append(scores("stacking", None, as_probas(stacking[0]),
                           as_probas(stacking[1]) if with_test else None))
    disagreement, correlation = diversity(val, y_val)
    return EnsembleReport(names, rows, dict(zip(names, weights.tolist())), disagreement, correlation)


def _val_and_test(name, member, need_test):
    """(val_probas, test_probas or None) of one report member: a pair, or validation probabilities alone."""
    if isinstance(member, (tuple, list)) and len(member) == 2:
        val, test = member
    else:
        val, test = member, None
    if need_test and test is None:
        raise ValueError(f"report: member {name!r} has no test probabilities; give (val_probas, test_probas) "
                         f"or y_test=None")
    return as_probas(val), (as_probas(test) if need_test else None)


# ---------------------------------------------------------------------------------------------
# ensembles from a hyperparameter search

def greedy_selection(val_probas, y_val, n_iterations=50):
    """Caruana et al. (2004) ensemble selection: greedy forward steps, with replacement, on validation data.

    Start from the empty ensemble; at each step add the member (possibly again) whose addition
    gives the averaged probabilities

        p = (1/s) sum_{j=1..s} P_{m_j}            (s = members chosen so far, with repeats)

    the lowest validation log loss (ties: the lower index). After ``n_iterations`` steps keep
    the prefix with the lowest loss. Weights are how often each member was chosen, divided by
    the prefix length; choosing with replacement lets a strong member count several times,
    which is what keeps the procedure from over-fitting the validation set as fast as
    unrestricted weights would.

    Args:
        val_probas: list / dict / (M, n, K) array of the candidates' VALIDATION probabilities.
        y_val: validation labels (n,) or one-hot (n, K).
        n_iterations: greedy steps (ensemble size before choosing the best prefix).

    Returns:
        weights: float64 array (M,), non-negative, summing to 1 (multiples of 1/s).
    """
    probas = _stack(val_probas)
    n_members, n = probas.shape[:2]
    y = _labels(y_val, n)
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, (int, np.integer)) or n_iterations < 1:
        raise ValueError(f"greedy_selection: n_iterations must be a positive int, got {n_iterations!r}")
    true_class = probas[:, np.arange(n), y]                                   # (M, n)
    running, counts = np.zeros(n), np.zeros(n_members, dtype=np.int64)
    best_loss, best_counts = np.inf, None
    for step in range(1, int(n_iterations) + 1):
        candidates = (running[None, :] + true_class) / step                   # (M, n): p[i, y_i] if m is added
        losses = -np.mean(np.log(np.clip(candidates, EPSILON, 1 - EPSILON)), axis=1)
        chosen = int(np.argmin(losses))
        running += true_class[chosen]
        counts[chosen] += 1
        if losses[chosen] < best_loss - 1e-12:
            best_loss, best_counts = losses[chosen], counts.copy()
    return best_counts / best_counts.sum()


class SearchEnsemble:
    """An ensemble of the trials of a search, with weights chosen on the validation data.

    Attributes:
        method: "greedy" or "weights".
        weights: dict trial -> weight (> 0 only), trials in the order of the search's table.
        trials: the trials with a weight, in that order.
        params: dict trial -> hyperparameters of each of them.
        val_probas: the ensemble's validation probabilities (n_val, K).
        report: ``EnsembleReport`` on the VALIDATION data (members "trial <t>", "mean", "weighted").
            The weights were chosen on the same data, so its validation scores are optimistic:
            score the ensemble once on test data before believing it.
    """

    def __init__(self, method, weights, params, val_probas, report):
        self.method, self.weights, self.params = method, weights, params
        self.trials, self.val_probas, self.report = list(weights), val_probas, report

    def predict_proba(self, member_probas):
        """The weighted mean of the members' probabilities: a dict trial -> (n, K), or a list in ``trials`` order.

        For new data, retrain each member with ``nn.tuning.refit(result, build_fn, ..., trial=t)``
        (its hyperparameters, seed and best number of epochs) and predict with it.
        """
        if isinstance(member_probas, dict):
            missing = [t for t in self.trials if t not in member_probas]
            if missing:
                raise ValueError(f"SearchEnsemble.predict_proba: no probabilities for trials {missing}")
            member_probas = [member_probas[t] for t in self.trials]
        if len(member_probas) != len(self.trials):
            raise ValueError(f"SearchEnsemble.predict_proba: {len(self.trials)} members (trials {self.trials}), "
                             f"got {len(member_probas)} probability arrays")
        return average(member_probas, [self.weights[t] for t in self.trials])

    def to_markdown(self):
        return self.report.to_markdown()

    __str__ = to_markdown

    def __repr__(self):
        shown = ", ".join(f"{t}: {w:.3g}" for t, w in self.weights.items())
        return f"SearchEnsemble(method={self.method!r}, weights={{{shown}}})"


def from_search(result, method="greedy", n_iterations=50):
    """An ensemble of a search's trials, chosen and scored on its validation data only.

    Args:
        result: a ``SearchResult`` of ``nn.tuning.hyperopt_search`` or ``optuna_search`` run
            with ``keep_val_predictions=True`` (the candidates are its "ok" trials).
        method: "greedy": Caruana et al. (2004) selection with replacement (``greedy_selection``);
            "weights": the log-loss weights on the simplex (``fit_weights``).
        n_iterations: greedy steps (method "greedy").

    Returns:
        SearchEnsemble (weights, params of the chosen trials, a validation-only report).
    """
    if method not in ("greedy", "weights"):
        raise ValueError(f"from_search: method must be 'greedy' or 'weights', got {method!r}")
    kept = getattr(result, "val_predictions", None) or {}
    order = [row["trial"] for row in result.trials if row["trial"] in kept and row["status"] == "ok"]
    if not order:
        raise ValueError("from_search: the search kept no validation predictions; run it with "
                         "keep_val_predictions=True")
    probas = [as_probas(kept[t]) for t in order]
    y_val = result.y_val
    weights = greedy_selection(probas, y_val, n_iterations) if method == "greedy" else fit_weights(probas, y_val)
    chosen = [(t, float(w)) for t, w, in zip(order, weights) if w > 0]
    members = {f"trial {t}": probas[order.index(t)] for t, _ in chosen}
    val_report = report(members, y_val, None, weights=[w for _, w in chosen])
    rows = {row["trial"]: row for row in result.trials}
    params = {t: {name: rows[t][name] for name in result.param_names if name in rows[t]} for t, _ in chosen}
    ensemble_probas = average([probas[order.index(t)] for t, _ in chosen], [w for _, w in chosen])
    return SearchEnsemble(method, dict(chosen), params, ensemble_probas, val_report)
