"""Hyperparameter search (Hyperopt's TPE, or Optuna with pruning), scored on validation data, on one core or many.

TPE in one paragraph: after a few random trials, split the trials so far at the gamma-quantile
of their scores into "good" and "bad"; fit a Parzen (kernel density) estimator l(params) to the
good ones and g(params) to the bad ones; draw candidates from l and try the one that maximizes
l(params) / g(params), which is proportional to the expected improvement. Repeat.

Every trial builds a fresh model, fits it on the training part and reads the validation metric
from its History. There is no test-data argument anywhere: the search can only see training and
validation data, so the test set stays untouched for the final, single evaluation.

Trials run in batches of ``n_jobs``: each batch is proposed from all the trials finished so far,
then evaluated at once, in the calling process (n_jobs=1), in a process pool, or on any
``concurrent.futures.Executor`` (``dask.distributed.Client(...).get_executor()`` for a cluster).
Trial t draws its proposal and its model's random numbers from seeds derived from (seed, t), so
for a fixed seed and n_jobs the trials table is the same whichever executor ran it.
"""
import contextlib
import functools
import json
import os
import re
import tempfile
import time

import numpy as np

from . import _parallel
from .callbacks import Callback

ROW_COLUMNS = ("score", "epoch", "seconds", "status", "seed")   # after "trial" and the hyperparameters
RESERVED_COLUMNS = frozenset({"trial", *ROW_COLUMNS})
TRIALS_FILE_FORMAT = "numpy_nn.tuning.hyperopt_search/1"


class SearchResult:
    """What ``hyperopt_search`` or ``optuna_search`` found.

    Attributes:
        best_params: dict of the best trial's hyperparameters (actual values, not choice indices).
        best_score: its score (the metric at its best epoch).
        best_trial: position of that trial in ``trials`` (its "trial" number too, unless an
            interrupted search left a gap).
        trials: the table of trials, a list of flat dicts (one row per trial, ready for
            ``pandas.DataFrame(result.trials)``): "trial", one key per hyperparameter, "score",
            "epoch" (the best epoch, 0-based; for a pruned trial the best epoch it reached),
            "seconds", "status" ("ok", "fail" or "pruned") and "seed" (the seed its model was
            built and trained with, see ``refit``).
        param_names: the hyperparameter columns of ``trials``.
        metric, mode: what was optimized.
        val_predictions: with ``keep_val_predictions=True``, dict trial -> validation class
            probabilities (n_val, K) of the model at its best epoch ("ok" trials); else {}.
        y_val: the validation targets the trials were scored on (for ``nn.ensemble.from_search``).
        hyperopt_trials: the ``hyperopt.Trials`` object (hyperopt_search), for plots and digging.
        study: the ``optuna.Study`` (optuna_search).
    """

    def __init__(self, trials, param_names, metric, mode, hyperopt_trials=None, study=None,
                 val_predictions=None, y_val=None, owner="hyperopt_search"):
        self.trials, self.param_names = trials, param_names
        self.metric, self.mode, self.hyperopt_trials, self.study = metric, mode, hyperopt_trials, study
        self.val_predictions, self.y_val = dict(val_predictions or {}), y_val
        finished = [t for t in trials if t["status"] == "ok"]
        if not trials:
            raise RuntimeError(f"{owner}: no trial finished (a timeout shorter than one trial, or an "
                               f"early_stop_fn that stopped at once?)")
        if not finished:
            raise RuntimeError(f"{owner}: all {len(trials)} trials failed or were pruned (no finite {metric})")
        pick = min if mode == "min" else max
        best = pick(finished, key=lambda t: t["score"])
        self.best_trial = next(i for i, t in enumerate(trials) if t is best)
        self.best_score = best["score"]
        self.best_params = {name: best[name] for name in param_names if name in best}

    def params(self, trial):
        """The hyperparameters of the trial whose "trial" column is ``trial``."""
        rows = {row["trial"]: row for row in self.trials}
        if trial not in rows:
            raise KeyError(f"SearchResult: no trial {trial!r}; the trials are {sorted(rows)}")
        return {name: rows[trial][name] for name in self.param_names if name in rows[trial]}

    def to_markdown(self):
        """The trials as a Markdown table, the best one marked with *."""
        names = self.param_names
        lines = ["| trial | " + " | ".join(names) + f" | {self.metric} | epoch | seconds | status |",
                 "|" + "---|" * (len(names) + 5)]
        for position, t in enumerate(self.trials):
            mark = " *" if position == self.best_trial else ""
            params = " | ".join(_format(t.get(name, "")) for name in names)
            lines.append(f"| {t['trial']}{mark} | {params} | {_format(t['score'])} | {t['epoch']} "
                         f"| {t['seconds']:.1f} | {t['status']} |")
        return "\n".join(lines)

    __str__ = to_markdown

    def __repr__(self):
        return (f"SearchResult(best_params={self.best_params}, best_score={self.best_score:.6g}, "
                f"trials={len(self.trials)})")


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


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


# ---------------------------------------------------------------------------------------------
# data

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


def _validation_split(x, y, fraction, owner="hyperopt_search"):
    """Keras's rule: the LAST ``fraction`` of the samples (before any shuffling) is the validation set."""
    if not 0 < fraction < 1:
        raise ValueError(f"{owner}: validation_split must be in (0, 1), got {fraction!r}")
    n = _num_samples(x)
    n_train = int(n * (1 - fraction))
    if n_train in (0, n):
        raise ValueError(f"{owner}: validation_split={fraction} of {n} samples leaves an empty part")
    train, val = slice(0, n_train), slice(n_train, n)
    return (_slice(x, train), _slice(y, train)), (_slice(x, val), _slice(y, val))


def _check_arguments(owner, x, y, validation_split, validation_data, fit_kwargs, metric, mode):
    """Validate what both searches share; return (x_train, y_train, validation_data, fit_kwargs)."""
    if mode not in ("min", "max"):
        raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
    if not str(metric).startswith("val_"):
        raise ValueError(f"{owner}: metric must be a validation metric such as 'val_loss' "
                         f"(trials are scored on validation data only), got {metric!r}")
    if (validation_split is None) == (validation_data is None):
        raise ValueError(f"{owner}: give exactly one of validation_split and validation_data "
                         f"(got validation_split={validation_split!r}, validation_data "
                         f"{'given' if validation_data is not None else 'None'})")
    fit_kwargs = {"verbose": 0, **(fit_kwargs or {})}
    for reserved in ("validation_data", "validation_split"):
        if reserved in fit_kwargs:
            raise ValueError(f"{owner}: pass {reserved} to {owner}, not in fit_kwargs")
    if validation_split is not None:
        (x_train, y_train), validation_data = _validation_split(x, y, validation_split, owner)
    else:
        x_train, y_train = x, y
        validation_data = tuple(validation_data)
    return x_train, y_train, validation_data, fit_kwargs


# ---------------------------------------------------------------------------------------------
# one trial, wherever it runs

class _EpochWatch(Callback):
    """Per-epoch hook of a trial: keeps the weights of the best epoch, and asks Optuna's pruner.

    The best epoch follows the same rule as the score (first epoch with the best finite value),
    so the kept validation predictions belong to the epoch the trial is scored at.
    """

    def __init__(self, metric, mode, keep_best_weights, pruning):
        super().__init__()
        self.metric, self.better = metric, (np.less if mode == "min" else np.greater)
        self.keep_best_weights, self.pruning = keep_best_weights, pruning
        self.best, self.best_weights, self.pruned, self._trial = None, None, False, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.metric)
        finite = value is not None and np.isfinite(value)
        if self.keep_best_weights and finite and (self.best is None or self.better(value, self.best)):
            self.best, self.best_weights = value, self.model.get_weights()
        if self.pruning is not None and finite:
            trial = self._trial or self._mirror_trial()
            trial.report(float(value), epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    def _mirror_trial(self):
        """An in-memory copy of the study as it was when the batch started, and this trial in it.

        Every worker decides with the same finished trials, wherever it runs, so pruning is as
        reproducible as the rest; trial numbers are kept (placeholders fill the gaps) because
        some pruners (Hyperband) pick brackets by number.
        """
        import optuna
        pruning = self.pruning
        with _quiet_optuna():
            study = optuna.create_study(direction=pruning["direction"], pruner=pruning["pruner"],
                                        study_name=pruning["study_name"],
                                        sampler=optuna.samplers.RandomSampler(seed=0))
            by_number = {t.number: t for t in pruning["finished"]}
            for number in range(pruning["number"]):
                study.add_trial(by_number.get(number)
                                or optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
            self._trial = study.ask()
        return self._trial


@contextlib.contextmanager
def _quiet_optuna():
    import optuna
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run_trial(shared, task):
    """Build, fit and score one trial in isolation (seeded from the trial index, fresh layer names).

    Returns a dict: score, epoch, status, seconds, values (the metric per epoch), and
    val_predictions when asked for.
    """
    metric, mode = shared["metric"], shared["mode"]
    keep = shared["keep_val_predictions"]
    with _parallel.isolated(task["seed"]):
        start = time.perf_counter()
        model = shared["build_fn"](task["params"])
        fit_kwargs = dict(shared["fit_kwargs"])
        watch = _EpochWatch(metric, mode, keep, task.get("pruning"))
        if keep or task.get("pruning") is not None:
            fit_kwargs["callbacks"] = list(fit_kwargs.get("callbacks") or []) + [watch]
        history = model.fit(shared["x_train"], shared["y_train"], validation_data=shared["validation_data"],
                            **fit_kwargs)
        logs = getattr(history, "history", history)
        if metric not in logs:
            raise KeyError(f"{shared['owner']}: the History has no {metric!r}; it has {sorted(logs)}")
        values = np.asarray(logs[metric], dtype=np.float64)
        epoch, score = _best_epoch(values, mode)
        status = "pruned" if watch.pruned else ("ok" if epoch >= 0 else "fail")
        outcome = {"score": score, "epoch": epoch, "status": status, "values": values.tolist()}
        if keep and status == "ok":
            from .ensemble import as_probas
            if watch.best_weights is not None:
                model.set_weights(watch.best_weights)
            outcome["val_predictions"] = as_probas(model, shared["validation_data"][0])
        outcome["seconds"] = time.perf_counter() - start
    return outcome


def _best_epoch(values, mode):
    """(first epoch with the best finite value, that value); (-1, nan) when no value is finite."""
    finite = np.isfinite(values)
    if not finite.any():
        return -1, float("nan")
    pick = np.nanargmin if mode == "min" else np.nanargmax
    epoch = int(pick(np.where(finite, values, np.nan)))
    return epoch, float(values[epoch])


def _check_no_clash(owner, names):
    clash = RESERVED_COLUMNS.intersection(names)
    if clash:
        raise ValueError(f"{owner}: hyperparameter names {sorted(clash)} clash with the columns "
                         f"of the trials table {sorted(RESERVED_COLUMNS)}; rename them")


def _shared_for_trials(owner, build_fn, x_train, y_train, validation_data, fit_kwargs, metric, mode, keep):
    return {"owner": owner, "build_fn": build_fn, "x_train": x_train, "y_train": y_train,
            "validation_data": validation_data, "fit_kwargs": fit_kwargs, "metric": metric, "mode": mode,
            "keep_val_predictions": bool(keep)}


def _check_trials_sendable(jobs, build_fn, fit_kwargs):
    jobs.check_sendable("build_fn", build_fn)
    for key, value in fit_kwargs.items():
        jobs.check_sendable(f"fit_kwargs[{key!r}]", value)


class _Progress:
    """One line per finished trial: ``trial 3/10  lr=0.0012 width=32  val_loss=0.2345  (best 0.2011)  1.2s``
    (Optuna: ``trial 7  5/10 done  ...``, 7 being the study's trial number)."""

    def __init__(self, verbose, total, metric, mode, by_count=False):
        self.verbose, self.total, self.metric, self.mode = verbose, total, metric, mode
        self.by_count = by_count   # Optuna: trial numbers are the study's, so count what is done

    def trial(self, row, params, rows, epochs_run=None):
        if not self.verbose:
            return
        finished = [r["score"] for r in rows if r["status"] == "ok"]
        best = (min if self.mode == "min" else max)(finished) if finished else float("nan")
        shown = " ".join(f"{k}={_format(v)}" for k, v in params.items())
        status = "" if row["status"] == "ok" else f" {row['status']}"
        if row["status"] == "pruned" and epochs_run is not None:
            status += f" after {epochs_run} epoch{'s' if epochs_run != 1 else ''}"
        head = (f"trial {row['trial']}  {len(rows)}/{self.total} done" if self.by_count
                else f"trial {row['trial'] + 1}/{self.total}")
        print(f"{head}  {shown}  {self.metric}={row['score']:.4g}{status}  (best {best:.4g})  {row['seconds']:.1f}s",
              flush=True)

    def note(self, message):
        if self.verbose:
            print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# files written atomically

def _write_atomically(path, write):
    """``write(file)`` into a temporary file next to ``path``, then ``os.replace`` it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class _PredictionFiles:
    """Validation probabilities of each trial, ``<trials file>.val_predictions/trial_<key>.npy``."""

    def __init__(self, trials_path):
        self.directory = None if trials_path is None else str(trials_path) + ".val_predictions"

    def save(self, key, probas):
        if self.directory is None:
            return
        os.makedirs(self.directory, exist_ok=True)
        _write_atomically(os.path.join(self.directory, f"trial_{key}.npy"),
                          lambda file: np.save(file, np.asarray(probas), allow_pickle=False))

    def load(self, key):
        path = None if self.directory is None else os.path.join(self.directory, f"trial_{key}.npy")
        if path is None or not os.path.exists(path):
            return None
        return np.load(path, allow_pickle=False)


def _space_description(space):
    """Hyperopt's text of the search-space graph, without memory addresses (stable across runs)."""
    from hyperopt import pyll
    return re.sub(r" at 0x[0-9a-fA-F]+", "", str(pyll.as_apply(space)))


class _TrialsFile:
    """The JSON trials file of ``hyperopt_search``: what the search is, and every finished trial.

    {"format": ..., "search": {"space": <graph text>, "metric": ..., "mode": ...},
     "trials": [{"row": <row of the trials table>, "vals": <Hyperopt's values, choice indices>}]}
    """

    def __init__(self, path, search):
        self.path, self.search = os.fspath(path), search

    def load(self):
        """Finished trials by index, {} for a new file; ValueError (file untouched) if it is not ours."""
        if not os.path.exists(self.path):
            return {}
        problem = None
        try:
            with open(self.path, encoding="utf-8") as file:
                content = json.load(file)
            if not isinstance(content, dict) or content.get("format") != TRIALS_FILE_FORMAT:
                problem = f"it is not a trials file (no \"format\": \"{TRIALS_FILE_FORMAT}\")"
            else:
                entries = {int(entry["row"]["trial"]): entry for entry in content["trials"]}
                for entry in entries.values():
                    _ = entry["vals"], entry["row"]["status"], entry["row"]["score"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            problem = f"it cannot be read ({type(error).__name__}: {error})"
        if problem:
            raise ValueError(f"hyperopt_search: trials_file {self.path!r}: {problem}. It was left untouched; "
                             f"delete or rename it to start a new search.")
        stored = content.get("search", {})
        for key in ("metric", "mode", "space"):
            if stored.get(key) != self.search[key]:
                what = ("its search space differs" if key == "space"
                        else f"it was searched with {key}={stored.get(key)!r}, not {self.search[key]!r}")
                raise ValueError(f"hyperopt_search: trials_file {self.path!r} belongs to another search: {what}. "
                                 f"It was left untouched; use another file, or the same space, metric and mode "
                                 f"to continue it.")
        return entries

    def save(self, entries):
        content = {"format": TRIALS_FILE_FORMAT, "search": self.search,
                   "trials": [entries[key] for key in sorted(entries)]}
        text = json.dumps(content, indent=1, default=repr)
        _write_atomically(self.path, lambda file: file.write(text.encode("utf-8")))


# ---------------------------------------------------------------------------------------------
# Hyperopt

def hyperopt_search(build_fn, space, x, y, validation_split=None, validation_data=None, max_evals=10,
                    seed=0, fit_kwargs=None, metric="val_loss", mode="min", verbose=1, n_startup_jobs=None,
                    n_jobs=1, executor=None, trials_file=None, timeout=None, early_stop_fn=None,
                    keep_val_predictions=False):
    """Search hyperparameters with TPE, each trial scored on the validation data.

    Args:
        build_fn: ``build_fn(params) -> compiled model``; ``params`` is a dict drawn from
            ``space``. ``model.fit(x, y, validation_data=..., verbose=..., **fit_kwargs)`` must
            return a History whose ``.history[metric]`` lists the metric per epoch. With
            n_jobs > 1 or an executor it must be importable by the workers (a top-level ``def``
            in a .py module), and so must everything in ``fit_kwargs``.
        space: a Hyperopt search space, e.g.
            ``{"learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(1e-1)),
               "width": hp.choice("width", [16, 32, 64])}``. It stays in this process: the
            workers receive plain parameter dicts.
        x, y: training data (arrays, or dicts/lists of arrays for multi-input models).
        validation_split: fraction of (x, y) held out for scoring: the LAST samples, as Keras
            does, the same for every trial. Give this or ``validation_data``, not both.
        validation_data: (x_val, y_val) to score on.
        max_evals: number of trials, counting those already in ``trials_file``.
        seed: seed of the search. Trial t's proposal and its model (initial weights, dropout,
            shuffling) use seeds derived from (seed, t); the model seed is the "seed" column.
        fit_kwargs: extra arguments for every ``fit`` (epochs, batch_size, callbacks...).
        metric: History key to optimize; must be a validation metric ("val_...").
        mode: "min" or "max".
        verbose: 1 prints one line per finished trial; 0 is silent. Trials always fit with
            verbose=0 unless ``fit_kwargs`` says otherwise.
        n_startup_jobs: random trials before TPE starts modelling. Hyperopt's default is 20,
            which would make a 10-trial search pure random search; None uses
            max(3, min(20, max_evals // 3)).
        n_jobs: trials evaluated at once; TPE proposes each batch of n_jobs trials from all the
            trials finished before it. The trials table depends on (seed, n_jobs), not on where
            the trials ran.
        executor: None runs the trials here (n_jobs=1) or in a process pool of n_jobs workers
            whose BLAS and numpy_nn threads are pinned to one each. Any
            ``concurrent.futures.Executor`` works, e.g. ``Client("tcp://host:8786").get_executor()``
            to run on a Dask cluster (see docs/tuning.md, "Running on several machines").
        trials_file: path of a JSON file that receives every finished trial, written
            atomically. Calling again with the same file continues the search: its trials are
            not rerun. A corrupt file, or one from another space / metric / mode, raises
            ValueError and is left untouched.
        timeout: seconds after which no new batch starts (running trials finish), like
            ``hyperopt.fmin(timeout=...)``.
        early_stop_fn: Hyperopt's ``early_stop_fn(trials, *args) -> (stop, args)``, e.g.
            ``hyperopt.early_stop.no_progress_loss(10)``, called after each finished trial.
        keep_val_predictions: keep each "ok" trial's validation probabilities (n_val, K), from
            the weights of its best epoch, in ``result.val_predictions`` (for
            ``nn.ensemble.from_search``); with a trials_file they are saved beside it, in
            ``<trials_file>.val_predictions/``.

    Returns:
        SearchResult with best_params, best_score, trials (list of dicts) and to_markdown().

    Ctrl-C stops the search: queued trials are cancelled, the trials_file keeps every finished
    trial, and KeyboardInterrupt is raised again.
    """
    try:
        from hyperopt import STATUS_FAIL, STATUS_OK, JOB_STATE_DONE, Trials, space_eval, tpe
        from hyperopt.base import Domain
    except ImportError as error:
        raise ImportError("numpy_nn.tuning.hyperopt_search needs hyperopt: pip install hyperopt "
                          "(it is part of the 'tuning' and 'dev' extras: pip install 'numpy_nn[tuning]')") from error
    owner = "hyperopt_search"
    x_train, y_train, validation_data, fit_kwargs = _check_arguments(
        owner, x, y, validation_split, validation_data, fit_kwargs, metric, mode)
    if isinstance(max_evals, bool) or not (isinstance(max_evals, (int, np.integer)) and max_evals >= 1):
        raise ValueError(f"{owner}: max_evals must be a positive int, got {max_evals!r}")
    if n_startup_jobs is None:
        n_startup_jobs = max(3, min(20, max_evals // 3))
    domain = Domain(lambda params: None, space)
    store = None if trials_file is None else _TrialsFile(trials_file, {
        "space": _space_description(space), "metric": metric, "mode": mode})
    entries = store.load() if store else {}         # trial index -> {"row": ..., "vals": ...}
    predictions = _PredictionFiles(trials_file)
    val_predictions = {}
    trials = Trials()

    def params_of(vals):
        return _plain(space_eval(space, {label: value[0] for label, value in vals.items() if len(value)}))

    def record(index, vals, row):
        """Tell Hyperopt's Trials about a finished trial (fail: no loss, as fmin does)."""
        misc = {"tid": index, "cmd": domain.cmd, "workdir": domain.workdir, "vals": vals,
                "idxs": {label: [index] if len(value) else [] for label, value in vals.items()}}
        loss = row["score"] if mode == "min" else -row["score"]
        result = {"status": STATUS_OK, "loss": loss} if row["status"] == "ok" else {"status": STATUS_FAIL}
        [doc] = trials.new_trial_docs([index], [None], [result], [misc])
        doc["state"] = JOB_STATE_DONE
        trials.insert_trial_docs([doc])
        trials.refresh()

    rows = {}
    for index in sorted(entries):
        row = {**entries[index]["row"]}
        params = params_of(entries[index]["vals"])
        rows[index] = {"trial": index, **params, **{k: row[k] for k in ROW_COLUMNS if k in row}}
        record(index, entries[index]["vals"], rows[index])
        if keep_val_predictions and rows[index]["status"] == "ok":
            stored = predictions.load(index)
            if stored is not None:
                val_predictions[index] = stored
    progress = _Progress(verbose, max_evals, metric, mode)
    if entries:
        progress.note(f"resuming from {store.path}: {len(entries)} of {_count(max_evals, 'trial')} done")

    shared = _shared_for_trials(owner, build_fn, x_train, y_train, validation_data, fit_kwargs, metric, mode,
                                keep_val_predictions)
    algo = functools.partial(tpe.suggest, n_startup_jobs=n_startup_jobs, verbose=False)
    start, stop = time.perf_counter(), False
    early_stop_args = []
    try:
        with _parallel.Jobs(owner, n_jobs, executor, shared) as jobs:
            _check_trials_sendable(jobs, build_fn, fit_kwargs)
            while len(rows) < max_evals and not stop:
                if timeout is not None and time.perf_counter() - start >= timeout:
                    break
                missing = (i for i in range(max_evals) if i not in rows)
                batch = [next(missing) for _ in range(min(n_jobs, max_evals - len(rows)))]
                proposals = {}
                for index in batch:   # each from the trials finished before the batch
                    [doc] = algo([index], domain, trials, _parallel.derived_seed(seed, "hyperopt_proposal", index))
                    vals = _plain({label: list(value) for label, value in doc["misc"]["vals"].items()})
                    proposals[index] = (vals, params_of(vals))
                _check_no_clash(owner, set().union(*(params for _, params in proposals.values())))
                tasks = {index: {"params": params,
                                 "seed": _parallel.derived_seed(seed, "search_model", index)}
                         for index, (vals, params) in proposals.items()}
                for index, outcome in jobs.run(_run_trial, tasks):
                    vals, params = proposals[index]
                    row = {"trial": index, **params, "score": outcome["score"], "epoch": outcome["epoch"],
                           "seconds": outcome["seconds"], "status": outcome["status"],
                           "seed": tasks[index]["seed"]}
                    if "val_predictions" in outcome:
                        val_predictions[index] = outcome["val_predictions"]
                        predictions.save(index, outcome["val_predictions"])
                    rows[index] = row
                    entries[index] = {"row": row, "vals": vals}
                    if store:
                        store.save(entries)
                    progress.trial(row, params, [rows[i] for i in sorted(rows)])
                for index in batch:
                    record(index, proposals[index][0], rows[index])
                    if early_stop_fn is not None and not stop:
                        stop, early_stop_args = early_stop_fn(trials, *early_stop_args)
                        early_stop_args = list(early_stop_args or [])
    except KeyboardInterrupt:
        where = (f"; they are in {store.path}, call again with the same trials_file to continue"
                 if store and rows else "")
        progress.note(f"interrupted: {_count(len(rows), 'trial')} finished{where}")
        raise
    table = [rows[i] for i in sorted(rows)]
    param_names = []
    for row in table:
        param_names.extend(name for name in row if name not in RESERVED_COLUMNS and name not in param_names)
    return SearchResult(table, param_names, metric, mode, hyperopt_trials=trials,
                        val_predictions=val_predictions, y_val=validation_data[1], owner=owner)


def refit(result, build_fn, x, y, trial=None, validation_split=None, validation_data=None, fit_kwargs=None):
    """Rebuild and retrain one trial's model as the search did, for its best number of epochs.

    The model is built from the trial's hyperparameters and trained inside
    ``set_random_seed(row["seed"])`` with fresh layer names, for ``row["epoch"] + 1`` epochs.
    Given the search's ``x, y``, validation argument and ``fit_kwargs`` (its epochs are
    replaced), it is the trial's model at its best epoch: its validation predictions equal
    ``result.val_predictions[trial]``. Use it to evaluate the winner (or each member of
    ``nn.ensemble.from_search``) once on test data.

    Args:
        result: a SearchResult. trial: a "trial" number of its table; None is the best trial.
        build_fn, x, y, validation_split, validation_data, fit_kwargs: as given to the search.

    Returns:
        the fitted model.
    """
    rows = {row["trial"]: row for row in result.trials}
    row = result.trials[result.best_trial] if trial is None else rows.get(trial)
    if row is None:
        raise KeyError(f"refit: no trial {trial!r} in the search; its trials are {sorted(rows)}")
    params = result.params(row["trial"])
    if row["epoch"] < 0:
        raise ValueError(f"refit: trial {row['trial']} has status {row['status']!r} and no best epoch")
    if validation_split is not None or validation_data is not None:
        x, y, validation_data, fit_kwargs = _check_arguments("refit", x, y, validation_split, validation_data,
                                                             fit_kwargs, result.metric, result.mode)
    else:
        fit_kwargs = {"verbose": 0, **(fit_kwargs or {})}
    fit_kwargs["epochs"] = row["epoch"] + 1
    with _parallel.isolated(row["seed"]):
        model = build_fn(params)
        model.fit(x, y, validation_data=validation_data, **fit_kwargs)
    return model


# ---------------------------------------------------------------------------------------------
# Optuna

def _optuna_storage(storage):
    """None (in memory), a journal file path, a database URL ("sqlite:///...") or a storage object."""
    if storage is None or not isinstance(storage, (str, os.PathLike)) or "://" in str(storage):
        return storage
    from optuna.storages import JournalStorage
    try:
        from optuna.storages.journal import JournalFileBackend
    except ImportError:   # Optuna < 4
        from optuna.storages import JournalFileStorage as JournalFileBackend
    return JournalStorage(JournalFileBackend(os.fspath(storage)))


def _json_safe(value):
    """What Optuna's storages can keep: JSON values (anything else by its repr)."""
    return json.loads(json.dumps(value, default=repr))


def optuna_search(build_fn, space_fn, x, y, validation_split=None, validation_data=None, n_trials=10, seed=0,
                  fit_kwargs=None, metric="val_loss", mode="min", pruner=None, storage=None, n_jobs=1,
                  executor=None, verbose=1, study_name="numpy_nn", n_startup_trials=None, timeout=None,
                  keep_val_predictions=False):
    """Search hyperparameters with Optuna's TPE sampler, pruning hopeless trials epoch by epoch.

    Args:
        build_fn, x, y, validation_split, validation_data, fit_kwargs, metric, mode, verbose,
        n_jobs, executor, timeout, keep_val_predictions: as in ``hyperopt_search``.
        space_fn: ``space_fn(trial) -> params``: draws the hyperparameters with Optuna's
            ``trial.suggest_float / suggest_int / suggest_categorical`` and returns the dict
            given to ``build_fn``. It runs in this process; the workers get the dict.
        n_trials: number of finished trials in the study (those already in ``storage`` count).
        seed: trial t's sampler and its model use seeds derived from (seed, t).
        pruner: an Optuna pruner, e.g. ``optuna.pruners.MedianPruner(n_warmup_steps=2)``. After
            every epoch the trial reports the validation metric; when the pruner says so, the
            fit stops and the trial is recorded with status "pruned". Each batch of n_jobs
            trials is judged against the trials finished before it, so pruning too is the same
            on every executor.
        storage: None (in memory); a file path for Optuna's journal file storage, which several
            processes can share and which lets a later call continue the study; or any Optuna
            storage or database URL.
        study_name: the study's name inside ``storage``.
        n_startup_trials: random trials before TPE; None uses max(3, min(10, n_trials // 3)).

    Returns:
        SearchResult (``result.study`` is the ``optuna.Study``); "trial" is Optuna's trial number.
    """
    try:
        import optuna
    except ImportError as error:
        raise ImportError("numpy_nn.tuning.optuna_search needs optuna: pip install optuna "
                          "(it is part of the 'tuning' and 'dev' extras: pip install 'numpy_nn[tuning]')") from error
    from optuna.trial import TrialState
    owner = "optuna_search"
    x_train, y_train, validation_data, fit_kwargs = _check_arguments(
        owner, x, y, validation_split, validation_data, fit_kwargs, metric, mode)
    if isinstance(n_trials, bool) or not (isinstance(n_trials, (int, np.integer)) and n_trials >= 1):
        raise ValueError(f"{owner}: n_trials must be a positive int, got {n_trials!r}")
    if n_startup_trials is None:
        n_startup_trials = max(3, min(10, n_trials // 3))
    direction = "minimize" if mode == "min" else "maximize"
    with _quiet_optuna():
        study = optuna.create_study(storage=_optuna_storage(storage), study_name=study_name, direction=direction,
                                    pruner=pruner, load_if_exists=True)
    for key, value in (("numpy_nn_metric", metric), ("numpy_nn_mode", mode)):
        stored = study.user_attrs.get(key)
        if stored is not None and stored != value:
            raise ValueError(f"{owner}: study {study_name!r} in {storage!r} was searched with "
                             f"{key[9:]}={stored!r}, not {value!r}; use another study_name or storage")
        study.set_user_attr(key, value)
    predictions = _PredictionFiles(storage if isinstance(storage, (str, os.PathLike)) and "://" not in str(storage)
                                   else None)

    def finished_rows():
        """Trials finished by numpy_nn (in any process), by trial number."""
        rows = {}
        for trial in study.get_trials(deepcopy=False):
            row = trial.user_attrs.get("numpy_nn_row")
            if row is not None and trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
                rows[trial.number] = {"trial": trial.number, **trial.user_attrs.get("numpy_nn_params", {}), **row}
        return rows

    rows, val_predictions = finished_rows(), {}
    if keep_val_predictions:
        for number, row in rows.items():
            stored = predictions.load(number) if row["status"] == "ok" else None
            if stored is not None:
                val_predictions[number] = stored
    progress = _Progress(verbose, n_trials, metric, mode, by_count=True)
    if rows:
        progress.note(f"resuming study {study_name!r}: {len(rows)} of {_count(n_trials, 'trial')} done")
    shared = _shared_for_trials(owner, build_fn, x_train, y_train, validation_data, fit_kwargs, metric, mode,
                                keep_val_predictions)
    start, asked = time.perf_counter(), {}
    try:
        with _parallel.Jobs(owner, n_jobs, executor, shared) as jobs:
            _check_trials_sendable(jobs, build_fn, fit_kwargs)
            if pruner is not None:
                jobs.check_sendable("pruner", pruner)
            while len(rows) < n_trials:
                if timeout is not None and time.perf_counter() - start >= timeout:
                    break
                finished = study.get_trials(deepcopy=True, states=(TrialState.COMPLETE, TrialState.PRUNED))
                tasks = {}
                for _ in range(min(n_jobs, n_trials - len(rows))):
                    trial = study.ask()
                    asked[trial.number] = trial
                    # a sampler seeded by the trial number: the proposal does not depend on the history
                    # of this process's sampler object, only on the finished trials
                    study.sampler = optuna.samplers.TPESampler(
                        seed=_parallel.derived_seed(seed, "optuna_sampler", trial.number),
                        n_startup_trials=n_startup_trials)
                    params = space_fn(trial)
                    if not isinstance(params, dict):
                        raise TypeError(f"{owner}: space_fn must return a dict of hyperparameters, "
                                        f"got {type(params).__name__}")
                    params = _plain(params)
                    _check_no_clash(owner, params)
                    tasks[trial.number] = {
                        "params": params, "seed": _parallel.derived_seed(seed, "search_model", trial.number),
                        "pruning": None if pruner is None else {
                            "pruner": pruner, "direction": direction, "study_name": study_name,
                            "finished": finished, "number": trial.number}}
                for number, outcome in jobs.run(_run_trial, tasks):
                    trial = asked[number]
                    for epoch, value in enumerate(outcome["values"]):
                        if np.isfinite(value):
                            trial.report(value, epoch)
                    row = {"score": outcome["score"], "epoch": outcome["epoch"], "seconds": outcome["seconds"],
                           "status": outcome["status"], "seed": tasks[number]["seed"]}
                    trial.set_user_attr("numpy_nn_params", _json_safe(tasks[number]["params"]))
                    trial.set_user_attr("numpy_nn_row", _json_safe(row))
                    if "val_predictions" in outcome:
                        val_predictions[number] = outcome["val_predictions"]
                        predictions.save(number, outcome["val_predictions"])
                    if row["status"] == "ok":
                        study.tell(trial, row["score"])
                    else:
                        study.tell(trial, state=TrialState.PRUNED if row["status"] == "pruned" else TrialState.FAIL)
                    del asked[number]
                    rows[number] = {"trial": number, **tasks[number]["params"], **row}
                    progress.trial(rows[number], tasks[number]["params"], list(rows.values()),
                                   epochs_run=len(outcome["values"]))
                for number, row in finished_rows().items():   # and those other processes finished meanwhile
                    rows.setdefault(number, row)
    except KeyboardInterrupt:
        progress.note(f"interrupted: {_count(len(rows), 'trial')} finished"
                      + (f"; they are in {storage!r}, call again to continue" if storage is not None and rows else ""))
        raise
    finally:
        for trial in asked.values():   # started here and never finished: not part of the table
            trial.set_user_attr("numpy_nn_interrupted", True)
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    table = [rows[number] for number in sorted(rows)]
    param_names = []
    for row in table:
        param_names.extend(name for name in row if name not in RESERVED_COLUMNS and name not in param_names)
    return SearchResult(table, param_names, metric, mode, study=study, val_predictions=val_predictions,
                        y_val=validation_data[1], owner=owner)
