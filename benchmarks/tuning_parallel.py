"""Wall time of the tuning example's search with n_jobs=2 against n_jobs=1, measured in one run.

    python -m benchmarks.tuning_parallel            # the example's full search: 25 trials of 30 epochs
    python -m benchmarks.tuning_parallel --quick    # 4 trials of 3 epochs (a smoke run)

Both searches are exactly ``examples/hyperparameter_search.py``'s (same space, data, seed and
fit arguments) with the default executor: n_jobs=1 trains in this process with NumPy's and
numpy_nn's default threads; n_jobs=2 trains in a pool of two worker processes pinned to one
BLAS thread and one numpy_nn thread each. The pool's start-up is included in its time. The two
tables differ (TPE proposes batches of two from the trials finished before each batch), so the
script prints the best validation loss of each too. It prints the load average before and after:
on a busy machine the ratio means little.

First it measures what two cores give to this kind of work: a loop of small float32 matrix
products (the MLP's shapes, 32x64 @ 64x128) in one worker alone, then in two workers at once
(each pinned to one BLAS thread). If two at once are each k times slower, n_jobs=2 can at best
approach 2/k.
"""
import argparse
import importlib.util
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_example():
    """examples/hyperparameter_search.py, imported under its own name so that worker processes find it."""
    examples = str(ROOT / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)   # worker processes start with this sys.path
    spec = importlib.util.spec_from_file_location("hyperparameter_search", ROOT / "examples" / "hyperparameter_search.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["hyperparameter_search"] = module
    spec.loader.exec_module(module)
    return module


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})


def _matmul_loop(shared, task):
    import numpy as np
    rng = np.random.default_rng(task)
    a, b = rng.random((32, 64), dtype=np.float32), rng.random((64, 128), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(20000):
        a @ b
    return time.perf_counter() - start


def capacity():
    """(seconds of the loop in one worker alone, mean seconds when two workers run it at once)."""
    from numpy_nn import _parallel
    with _parallel.Jobs("capacity", 2, None, None) as jobs:
        list(jobs.run(_matmul_loop, {0: 0, 1: 1}))                     # start both workers
        alone = dict(jobs.run(_matmul_loop, {0: 0}))[0]
        together = [seconds for _, seconds in jobs.run(_matmul_loop, {0: 0, 1: 1})]
    return alone, sum(together) / 2


def run(quick=False, order=(1, 2), verbose=True):
    """Time the example's search for each n_jobs in ``order``; return a dict of the numbers."""
    from numpy_nn.tuning import hyperopt_search

    example = load_example()
    max_evals, fit_kwargs = example.settings(quick)
    (x_train, y_train), (x_val, y_val), _ = example.load_splits()
    numbers = {"quick": quick, "max_evals": max_evals, "epochs": fit_kwargs["epochs"],
               "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
               "blas_threads_here": blas_threads(), "load_before": os.getloadavg(), "runs": {}}
    alone, together = capacity()
    numbers["matmul_alone_s"], numbers["matmul_two_at_once_s"] = alone, together
    if verbose:
        print(f"small matmul loop: {alone:.2f} s in one worker alone, {together:.2f} s each in two at once "
              f"(slowdown {together / alone:.2f}: n_jobs=2 can at best reach {2 * alone / together:.2f}x)", flush=True)
    for n_jobs in order:
        start = time.perf_counter()
        result = hyperopt_search(example.build_model, example.search_space(), x_train, y_train,
                                 validation_data=(x_val, y_val), max_evals=max_evals, seed=0,
                                 fit_kwargs=fit_kwargs, verbose=0, n_jobs=n_jobs)
        seconds = time.perf_counter() - start
        numbers["runs"][n_jobs] = {"seconds": seconds, "best_val_loss": result.best_score,
                                   "trial_seconds": sum(row["seconds"] for row in result.trials)}
        if verbose:
            print(f"n_jobs={n_jobs}: {seconds:.1f} s wall, {numbers['runs'][n_jobs]['trial_seconds']:.1f} s in "
                  f"trials, best val_loss {result.best_score:.4f}", flush=True)
    numbers["load_after"] = os.getloadavg()
    numbers["ratio"] = numbers["runs"][1]["seconds"] / numbers["runs"][2]["seconds"]
    if verbose:
        print(f"wall time n_jobs=1 / n_jobs=2: {numbers['ratio']:.2f}  ({max_evals} trials of "
              f"{fit_kwargs['epochs']} epochs, {numbers['cpus']} CPUs, BLAS threads here {numbers['blas_threads_here']}, "
              f"load average before {numbers['load_before'][0]:.2f}, after {numbers['load_after'][0]:.2f})")
    return numbers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 trials of 3 epochs")
    parser.add_argument("--reverse", action="store_true", help="time n_jobs=2 first")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    arguments = parser.parse_args(argv)
    numbers = run(quick=arguments.quick, order=(2, 1) if arguments.reverse else (1, 2))
    if arguments.json:
        pathlib.Path(arguments.json).write_text(json.dumps(numbers, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
