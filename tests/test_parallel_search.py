"""Searches and ensemble fits in worker processes and on a Dask cluster give the serial results.

One Dask LocalCluster on 127.0.0.1 (two worker processes, one thread each, no dashboard) serves
the whole module; nothing here needs any other network.
"""
import concurrent.futures
import json
import os
import signal
import sys
import threading
import time
import types

import numpy as np
import pytest

from numpy_nn import _parallel
from numpy_nn.ensemble import StackingEnsemble, fit_members, out_of_fold_predictions
from numpy_nn.tuning import hyperopt_search, optuna_search
from tests.search_helpers import (CurveModel, SlowModel, build_mlp, fit_mlp, fit_wide_mlp, optuna_mlp_space,
                                  optuna_space, thread_settings, tiny_data)

hyperopt = pytest.importorskip("hyperopt")
hp = hyperopt.hp
SPACE = {"lr": hp.loguniform("lr", np.log(1e-3), np.log(1e-1)), "width": hp.choice("width", [4, 8])}
FAKE_SPACE = {"lr": hp.loguniform("lr", np.log(1e-5), np.log(1.0)), "width": hp.quniform("width", 8, 128, 8)}


@pytest.fixture(scope="module")
def dask_executor():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client.get_executor()
    finally:
        client.close()
        cluster.close()


def without_seconds(result):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in result.trials]


def test_hyperopt_trials_table_is_the_same_on_every_executor(dask_executor, capsys):
    x, y = tiny_data()
    kwargs = dict(validation_split=0.25, max_evals=6, seed=1, n_startup_jobs=3,
                  fit_kwargs={"epochs": 2, "batch_size": 16})
    pool = hyperopt_search(build_mlp, SPACE, x, y, n_jobs=2, **kwargs)
    lines = capsys.readouterr().out.strip().splitlines()
    assert sorted(line.split()[1] for line in lines) == [f"{i}/6" for i in range(1, 7)]   # one line per trial
    on_dask = hyperopt_search(build_mlp, SPACE, x, y, n_jobs=2, executor=dask_executor, verbose=0, **kwargs)
    one_thread = hyperopt_search(build_mlp, SPACE, x, y, n_jobs=2, verbose=0,
                                 executor=concurrent.futures.ThreadPoolExecutor(max_workers=1), **kwargs)
    assert without_seconds(pool) == without_seconds(on_dask) == without_seconds(one_thread)
    assert len({row["score"] for row in pool.trials}) == 6
    # n_jobs=1 runs here, in this process; on Dask it gives the same table
    here = hyperopt_search(build_mlp, SPACE, x, y, n_jobs=1, verbose=0, **kwargs)
    assert without_seconds(here) == without_seconds(
        hyperopt_search(build_mlp, SPACE, x, y, n_jobs=1, executor=dask_executor, verbose=0, **kwargs))


def test_worker_processes_use_one_blas_and_one_numpy_nn_thread(dask_executor):
    pytest.importorskip("threadpoolctl")
    tasks = {0: None, 1: None, 2: None, 3: None}
    with _parallel.Jobs("test", 2, None, shared=None) as jobs:
        settings = dict(jobs.run(thread_settings, tasks))
    with _parallel.Jobs("test", 2, dask_executor, shared=None) as jobs:
        settings_dask = dict(jobs.run(thread_settings, tasks))
    for found in list(settings.values()) + list(settings_dask.values()):
        assert found["blas"] == [1] and found["numpy_nn"] == 1 and found["env"] == "1"
        assert found["pid"] != os.getpid()


def test_optuna_pruning_is_the_same_in_a_pool_and_on_dask(dask_executor):
    optuna = pytest.importorskip("optuna")
    x, y = tiny_data()
    kwargs = dict(validation_split=0.25, n_trials=10, seed=2, n_jobs=2, verbose=0, fit_kwargs={"epochs": 3},
                  pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    pool = optuna_search(CurveModel, optuna_space, x, y, **kwargs)
    on_dask = optuna_search(CurveModel, optuna_space, x, y, executor=dask_executor, **kwargs)
    assert without_seconds(pool) == without_seconds(on_dask)
    assert "pruned" in {row["status"] for row in pool.trials}
    # and with real models, without pruning (batches of 2 run one by one in a thread, here)
    mlp = dict(validation_split=0.25, n_trials=4, seed=2, n_jobs=2, verbose=0, fit_kwargs={"epochs": 2})
    here = optuna_search(build_mlp, optuna_mlp_space, x, y, executor=concurrent.futures.ThreadPoolExecutor(1), **mlp)
    assert without_seconds(here) == without_seconds(
        optuna_search(build_mlp, optuna_mlp_space, x, y, executor=dask_executor, **mlp))


def test_ensemble_fits_are_the_same_serial_in_a_pool_and_on_dask(dask_executor):
    x, y = tiny_data(90)
    serial = out_of_fold_predictions(fit_mlp, x, y, n_splits=3, seed=1)
    assert np.isfinite(serial).all() and serial.shape == (90, 2)
    np.testing.assert_array_equal(
        out_of_fold_predictions(fit_mlp, x, y, n_splits=3, seed=1, n_jobs=2, executor=dask_executor), serial)

    fit_fns = {"narrow": fit_mlp, "wide": fit_wide_mlp}
    stack = StackingEnsemble(use_sklearn=False).fit_members(fit_fns, x, y, n_splits=3, seed=1)
    stack_dask = StackingEnsemble(use_sklearn=False).fit_members(fit_fns, x, y, n_splits=3, seed=1, n_jobs=2,
                                                                 executor=dask_executor)
    np.testing.assert_array_equal(stack.oof_probas_["narrow"], serial)   # member 0: the same seeds
    for name in fit_fns:
        np.testing.assert_array_equal(stack_dask.oof_probas_[name], stack.oof_probas_[name])
    np.testing.assert_array_equal(stack_dask.predict_proba(x=x), stack.predict_proba(x=x))

    models = fit_members(fit_fns, x, y, seed=1)
    in_pool = fit_members(fit_fns, x, y, seed=1, n_jobs=2)      # fitted in worker processes, sent back
    for name in fit_fns:   # the members refit inside StackingEnsemble.fit_members are these models
        np.testing.assert_array_equal(in_pool[name].predict(x, verbose=0), models[name].predict(x, verbose=0))
        np.testing.assert_array_equal(stack.members_[name](x), models[name].predict(x, verbose=0))


class Locked:
    """A build function holding a lock: no serializer can send it."""

    def __init__(self):
        self.lock = threading.Lock()

    def __call__(self, params):
        return build_mlp(params)


def test_functions_workers_cannot_receive_get_a_clear_error(dask_executor, monkeypatch):
    x, y = tiny_data(40)
    with pytest.raises(TypeError, match=r"build_fn \('[^']*<lambda>' from .*cannot be sent to worker processes.*"
                                        r"top level of a \.py module"):
        hyperopt_search(lambda params: build_mlp(params), SPACE, x, y, validation_split=0.25, max_evals=2,
                        n_jobs=2, verbose=0)
    with pytest.raises(TypeError, match=r"fit_kwargs\['callbacks'\].*cannot be sent"):
        hyperopt_search(build_mlp, SPACE, x, y, validation_split=0.25, max_evals=2, n_jobs=2, verbose=0,
                        fit_kwargs={"callbacks": [lambda: None]})
    with pytest.raises(TypeError, match=r"fit_fn 'b' .*cannot be sent to worker processes"):
        fit_members({"a": fit_mlp, "b": lambda xs, ys: fit_mlp(xs, ys)}, x, y, n_jobs=2)
    with pytest.raises(TypeError, match=r"build_fn \('Locked' .*cannot be sent to the Dask workers"):
        hyperopt_search(Locked(), SPACE, x, y, validation_split=0.25, max_evals=2, n_jobs=2,
                        executor=dask_executor, verbose=0)

    # a function defined in a notebook lives in a __main__ without a file: pickle finds it here,
    # a worker process could not
    notebook = types.ModuleType("__main__")

    def build_in_notebook(params):
        return build_mlp(params)

    build_in_notebook.__module__, build_in_notebook.__qualname__ = "__main__", "build_in_notebook"
    notebook.build_in_notebook = build_in_notebook
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    with pytest.raises(TypeError, match=r"\['build_in_notebook'\] defined in an interactive session"):
        hyperopt_search(build_in_notebook, SPACE, x, y, validation_split=0.25, max_evals=2, n_jobs=2, verbose=0)
    # n_jobs=1 runs it here, where it is fine
    assert len(hyperopt_search(build_in_notebook, SPACE, x, y, validation_split=0.25, max_evals=1, verbose=0,
                               fit_kwargs={"epochs": 1}).trials) == 1


def test_ctrl_c_during_a_parallel_search_leaves_a_valid_trials_file(tmp_path, capsys):
    x, y = tiny_data(40)
    path = tmp_path / "search.json"
    kwargs = dict(validation_split=0.25, max_evals=8, seed=0, trials_file=path)

    def interrupt_after_the_first_trial():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if path.exists() and json.loads(path.read_text())["trials"]:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=interrupt_after_the_first_trial, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        hyperopt_search(SlowModel, FAKE_SPACE, x, y, n_jobs=2, fit_kwargs={"sleep": 0.4}, **kwargs)
    watcher.join()
    out = capsys.readouterr().out
    assert "interrupted:" in out and "call again with the same trials_file" in out
    stored = json.loads(path.read_text())["trials"]
    assert 1 <= len(stored) < 8 and os.listdir(tmp_path) == ["search.json"]
    resumed = hyperopt_search(CurveModel, FAKE_SPACE, x, y, n_jobs=2, verbose=0, **kwargs)
    assert len(resumed.trials) == 8
    rows = {row["trial"]: row for row in resumed.trials}
    for entry in stored:
        assert {k: v for k, v in rows[entry["row"]["trial"]].items() if k != "seconds"} == \
            {k: v for k, v in entry["row"].items() if k != "seconds"}


def test_an_unguarded_script_gets_told_to_guard_its_search(tmp_path):
    """Worker processes import the script they were started from; unguarded, it would start a search in each."""
    import subprocess
    script = tmp_path / "unguarded.py"
    script.write_text("import numpy as np\n"
                      "from numpy_nn.ensemble import fit_members\n"
                      "from tests.search_helpers import fit_mlp\n"
                      "fit_members([fit_mlp, fit_mlp], np.zeros((20, 3), np.float32), np.zeros(20, int), n_jobs=2)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=environment)
    assert done.returncode != 0
    assert 'RuntimeError: fit_members: a worker process died' in done.stderr
    assert 'put that call under `if __name__ == "__main__":`' in done.stderr
