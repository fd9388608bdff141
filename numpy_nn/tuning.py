"""Hyperparameter search with Hyperopt's Tree-structured Parzen Estimator (TPE), scored on validation data.

TPE in one paragraph: after a few random trials, split the trials so far at the gamma-quantile
of their scores into "good" and "bad"; fit a Parzen (kernel density) estimator l(params) to the
good ones and g(params) to the bad ones; draw candidates from l and try the one that maximizes
l(params) / g(params), which is proportional to the expected improvement. Repeat.

Every trial builds a fresh model, fits it on the training part and reads the validation metric
from its History. There is no test-data argument anywhere: the search can only see training and
validation data, so the test set stays untouched for the final, single evaluation.
"""
import functools
import time

import numpy as np


RESERVED_COLUMNS = frozenset({"trial", "score", "epoch", "seconds", "status"})


class SearchResult:
    """What ``hyperopt_search`` found.

    Attributes:
        best_params: dict of the best trial's hyperparameters (actual values, not choice indices).
        best_score: its score (the metric at its best epoch).
        best_trial: index of that trial in ``trials``.
        trials: the table of trials, a list of flat dicts (one row per trial, ready for
            ``pandas.DataFrame(result.trials)``): "trial", one key per hyperparameter, "score",
            "epoch" (the best epoch, 0-based), "seconds", "status" ("ok" or "fail").
        param_names: the hyperparameter columns of ``trials``.
        metric, mode: what was optimized.
        hyperopt_trials: the ``hyperopt.Trials`` object, for plots and deeper digging.
    """

    def __init__(self, trials, param_names, metric, mode, hyperopt_trials):
        self.trials, self.param_names = trials, param_names
        self.metric, self.mode, self.hyperopt_trials = metric, mode, hyperopt_trials
        finished = [t for t in trials if t["status"] == "ok"]
        if not finished:
            raise RuntimeError(f"hyperopt_search: all {len(trials)} trials failed (no finite {metric})")
        pick = min if mode == "min" else max
        best = pick(finished, key=lambda t: t["score"])
        self.best_trial = best["trial"]
        self.best_score = best["score"]
        self.best_params = {name: best[name] for name in param_names if name in best}

    def to_markdown(self):
        """The trials as a Markdown table, the best one marked with *."""
        names = self.param_names
        lines = ["| trial | " + " | ".join(names) + f" | {self.metric} | epoch | seconds |",
                 "|" + "---|" * (len(names) + 4)]
        for t in self.trials:
            mark = " *" if t["trial"] == self.best_trial else ""
            params = " | ".join(_format(t.get(name, "")) for name in names)
            lines.append(f"| {t['trial']}{mark} | {params} | {_format(t['score'])} | {t['epoch']} "
                         f"| {t['seconds']:.1f} |")
        return "\n".join(lines)

    __str__ = to_markdown

    def __repr__(self):
        return (f"SearchResult(best_params={self.best_params}, best_score={self.best_score:.6g}, "
                f"trials={len(self.trials)})")


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _plain(value):
    """numpy scalars -> Python scalars, recursively, so params print and serialize cleanly."""
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _num_samples(data):
    if isinstance(data, dict):
        return len(next(iter(data.values())))
    if isinstance(data, (list, tuple)):
        return len(data[0])
    return len(data)


def _slice(data, part):
    if isinstance(data, dict):
        return {key: np.asarray(value)[part] for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [np.asarray(value)[part] for value in data]
    return np.asarray(data)[part]


def _validation_split(x, y, fraction):
    """Keras's rule: the LAST ``fraction`` of the samples (before any shuffling) is the validation set."""
    if not 0 < fraction < 1:
        raise ValueError(f"hyperopt_search: validation_split must be in (0, 1), got {fraction!r}")
    n = _num_samples(x)
    n_train = int(n * (1 - fraction))
    if n_train in (0, n):
        raise ValueError(f"hyperopt_search: validation_split={fraction} of {n} samples leaves an empty part")
    train, val = slice(0, n_train), slice(n_train, n)
    return (_slice(x, train), _slice(y, train)), (_slice(x, val), _slice(y, val))


def hyperopt_search(build_fn, space, x, y, validation_split=None, validation_data=None, max_evals=10,
                    seed=0, fit_kwargs=None, metric="val_loss", mode="min", verbose=1, n_startup_jobs=None):
    """Search hyperparameters with TPE, each trial scored on the validation data.

    Args:
        build_fn: ``build_fn(params) -> compiled model``; ``params`` is a dict drawn from
            ``space``. ``model.fit(x, y, validation_data=..., verbose=..., **fit_kwargs)`` must
            return a History whose ``.history[metric]`` lists the metric per epoch.
        space: a Hyperopt search space, e.g.
            ``{"learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(1e-1)),
               "width": hp.choice("width", [16, 32, 64])}``.
        x, y: training data (arrays, or dicts/lists of arrays for multi-input models).
        validation_split: fraction of (x, y) held out for scoring: the LAST samples, as Keras
            does, the same for every trial. Give this or ``validation_data``, not both.
        validation_data: (x_val, y_val) to score on.
        max_evals: number of trials.
        seed: seed of the search (TPE's random draws); model seeds are ``build_fn``'s business.
        fit_kwargs: extra arguments for every ``fit`` (epochs, batch_size, callbacks...).
        metric: History key to optimize; must be a validation metric ("val_...").
        mode: "min" or "max".
        verbose: 1 prints one line per trial; 0 is silent. Trials always fit with verbose=0
            unless ``fit_kwargs`` says otherwise.
        n_startup_jobs: random trials before TPE starts modelling. Hyperopt's default is 20,
            which would make a 10-trial search pure random search; None uses
            max(3, min(20, max_evals // 3)).

    Returns:
        SearchResult with best_params, best_score, trials (list of dicts) and to_markdown().
    """
    try:
        from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, tpe
        from hyperopt.exceptions import AllTrialsFailed
    except ImportError as error:
        raise ImportError("numpy_nn.tuning.hyperopt_search needs hyperopt: pip install hyperopt "
                          "(it is part of the 'dev' extra: pip install 'numpy_nn[dev]')") from error
    if mode not in ("min", "max"):
        raise ValueError(f"hyperopt_search: mode must be 'min' or 'max', got {mode!r}")
    if not str(metric).startswith("val_"):
        raise ValueError(f"hyperopt_search: metric must be a validation metric such as 'val_loss' "
                         f"(trials are scored on validation data only), got {metric!r}")
    if (validation_split is None) == (validation_data is None):
        raise ValueError("hyperopt_search: give exactly one of validation_split and validation_data "
                         f"(got validation_split={validation_split!r}, validation_data "
                         f"{'given' if validation_data is not None else 'None'})")
    if not (isinstance(max_evals, (int, np.integer)) and max_evals >= 1):
        raise ValueError(f"hyperopt_search: max_evals must be a positive int, got {max_evals!r}")
    if validation_split is not None:
        (x_train, y_train), validation_data = _validation_split(x, y, validation_split)
    else:
        x_train, y_train = x, y
        validation_data = tuple(validation_data)
    fit_kwargs = {"verbose": 0, **(fit_kwargs or {})}
    for reserved in ("validation_data", "validation_split"):
        if reserved in fit_kwargs:
            raise ValueError(f"hyperopt_search: pass {reserved} to hyperopt_search, not in fit_kwargs")
    if n_startup_jobs is None:
        n_startup_jobs = max(3, min(20, max_evals // 3))
    pick_best = np.nanargmin if mode == "min" else np.nanargmax
    records, param_names = [], []

    def objective(params):
        params = _plain(params)
        clash = RESERVED_COLUMNS.intersection(params)
        if clash:
            raise ValueError(f"hyperopt_search: hyperparameter names {sorted(clash)} clash with the "
                             f"columns of the trials table {sorted(RESERVED_COLUMNS)}; rename them")
        param_names.extend(name for name in params if name not in param_names)
        start = time.perf_counter()
        model = build_fn(params)
        history = model.fit(x_train, y_train, validation_data=validation_data, **fit_kwargs)
        logs = getattr(history, "history", history)
        if metric not in logs:
            raise KeyError(f"hyperopt_search: the History has no {metric!r}; it has {sorted(logs)}")
        values = np.asarray(logs[metric], dtype=np.float64)
        finite = values.size > 0 and np.isfinite(values).any()
        epoch = int(pick_best(np.where(np.isfinite(values), values, np.nan))) if finite else -1
        score = float(values[epoch]) if finite else float("nan")
        record = {"trial": len(records), **params, "score": score, "epoch": epoch,
                  "seconds": time.perf_counter() - start, "status": "ok" if finite else "fail"}
        records.append(record)
        if verbose:
            finished = [r["score"] for r in records if r["status"] == "ok"]
            best = (min if mode == "min" else max)(finished) if finished else float("nan")
            shown = " ".join(f"{k}={_format(v)}" for k, v in params.items())
            print(f"trial {record['trial'] + 1}/{max_evals}  {shown}  {metric}={score:.4g}  "
                  f"(best {best:.4g})  {record['seconds']:.1f}s", flush=True)
        if not finite:
            return {"status": STATUS_FAIL}
        return {"status": STATUS_OK, "loss": score if mode == "min" else -score}

    trials = Trials()
    try:
        fmin(objective, space, algo=functools.partial(tpe.suggest, n_startup_jobs=n_startup_jobs),
             max_evals=max_evals, trials=trials, rstate=np.random.default_rng(seed),
             show_progressbar=False, verbose=False, return_argmin=False, allow_trials_fmin=False)
    except AllTrialsFailed:
        pass   # SearchResult says so, with the number of trials
    return SearchResult(records, param_names, metric, mode, trials)
