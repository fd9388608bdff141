"""Running independent jobs (search trials, ensemble fits) serially, in processes or on a Dask cluster.

Shared by ``numpy_nn.tuning`` and ``numpy_nn.ensemble``; not a public module. Three promises:

* **Same numbers wherever a job runs.** A job never reads process state for its randomness: it
  runs inside ``isolated(seed)``, which seeds numpy_nn's generator and NumPy's global RNG from
  a seed derived from the job's index (``derived_seed``) and starts automatic layer names from
  scratch (``dense``, ``dense_1``...), then puts the caller's state back. So a trial gives the
  same result in the calling thread, in a process pool or on a Dask worker that already ran
  a hundred other jobs.
* **No oversubscription.** Worker processes pin BLAS (through threadpoolctl, which works after
  NumPy is loaded, unlike OPENBLAS_NUM_THREADS set in an initializer) and numpy_nn's
  elementwise threads to one thread each: n_jobs workers use n_jobs cores.
* **Clean interruption.** Ctrl-C in the calling process cancels queued jobs and, for the pool
  this module created, terminates the workers (they ignore SIGINT themselves, so only the
  caller decides); the caller saves what has finished and re-raises KeyboardInterrupt.
"""
import concurrent.futures
import concurrent.futures.process
import contextlib
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import types
import warnings

import numpy as np

# What each derived seed is for (the first word after the user's seed), so streams never collide.
SEED_PURPOSES = {"hyperopt_proposal": 1, "search_model": 2, "optuna_sampler": 3, "fold_fit": 4, "full_fit": 5}
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "NUMPY_NN_THREADS": "1"}

_shared_by_token = {}           # worker side: the data shipped once through the pool initializer
_pinned_pid = None              # worker side: the process whose threads are already pinned
_token_counter = itertools.count()


def derived_seed(seed, purpose, *index):
    """A 31-bit seed for job ``index`` of kind ``purpose``, from the user's ``seed`` alone.

    ``np.random.SeedSequence([seed, purpose, *index])`` hashes the words, so nearby indices give
    unrelated streams, and the seed of trial 7 is the same whether it runs first or last.
    """
    words = [int(seed), SEED_PURPOSES[purpose], *(int(i) for i in index)]
    return int(np.random.SeedSequence(words).generate_state(1)[0] % (2**31 - 1))


@contextlib.contextmanager
def isolated(seed):
    """Run a job as if in a fresh process: seeded RNGs, automatic names from scratch; restore after.

    Inside: ``numpy_nn.config.set_random_seed(seed)`` (numpy_nn's generator for initializers and
    dropout, NumPy's global RNG for ``fit``'s shuffling) and empty name counters.
    """
    from . import config, naming
    saved_rng, saved_global, saved_names = config._rng, np.random.get_state(), dict(naming._name_counters)
    try:
        naming.clear_session()
        config.set_random_seed(seed)
        yield
    finally:
        config._rng = saved_rng
        np.random.set_state(saved_global)
        naming._name_counters.clear()
        naming._name_counters.update(saved_names)


# ---------------------------------------------------------------------------------------------
# worker processes

def pin_threads():
    """One BLAS thread and one numpy_nn elementwise thread in this (worker) process."""
    global _pinned_pid
    if _pinned_pid == os.getpid():
        return
    os.environ.update(WORKER_ENVIRONMENT)      # for libraries loaded from now on
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1)             # for the BLAS NumPy has already loaded
    except ImportError:
        warnings.warn("threadpoolctl is not installed: worker processes keep NumPy's default number "
                      "of BLAS threads and may oversubscribe the cores (pip install threadpoolctl)",
                      RuntimeWarning, stacklevel=2)
    from .ops.kernels import threads
    threads.THREADS = 1                         # read from NUMPY_NN_THREADS only at import
    _pinned_pid = os.getpid()


def _init_pool_worker(token, shared):
    """Initializer of the pools made here: ignore Ctrl-C (the caller handles it), pin threads, keep the data."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_threads()
    _shared_by_token[token] = shared


def _call_with_token(fn, token, task):
    return fn(_shared_by_token[token], task)


def _call_with_data(fn, shared, task, caller_pid):
    if os.getpid() != caller_pid:   # a worker process of someone else's executor (Dask, a user's pool)
        pin_threads()
    return fn(shared, task)


def _start_method():
    methods = multiprocessing.get_all_start_methods()
    # forkserver: workers do not inherit the caller's threads (fork would), and start faster than spawn
    return "forkserver" if "forkserver" in methods else "spawn"


def _is_dask(executor):
    return type(executor).__module__.startswith("distributed") and hasattr(executor, "_client")


def _is_process_pool(executor):
    return executor is None or isinstance(executor, concurrent.futures.ProcessPoolExecutor)


# ---------------------------------------------------------------------------------------------
# can it be sent?

class _MainChecker(pickle.Pickler):
    """Pickles into a buffer and notes functions and classes that live in an interactive ``__main__``."""

    def __init__(self):
        super().__init__(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL)
        self.interactive = []

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", None) == "__main__":
            if not hasattr(sys.modules["__main__"], "__file__"):
                self.interactive.append(getattr(obj, "__qualname__", repr(obj)))
        return NotImplemented


def _describe(obj):
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return f"{name!r} from {module}"


def check_sendable(owner, what, obj, executor):
    """Raise a TypeError naming ``what`` when ``obj`` cannot reach the workers of ``executor``."""
    how_to_fix = ("Define it with `def` (or `class`) at the top level of a .py module and import it "
                  "from there (in a notebook: put it in a file next to the notebook), or run with n_jobs=1")
    if _is_dask(executor):
        try:
            import cloudpickle
            cloudpickle.dumps(obj)
        except Exception as error:   # noqa: BLE001 - any serialization failure gets the same advice
            raise TypeError(f"{owner}: {what} ({_describe(obj)}) cannot be sent to the Dask workers: "
                            f"{type(error).__name__}: {error}. Make it a plain function or object without "
                            f"open files, locks or live connections.") from error
        return
    if not _is_process_pool(executor):
        return
    checker = _MainChecker()
    try:
        checker.dump(obj)
    except Exception as error:   # noqa: BLE001
        raise TypeError(f"{owner}: {what} ({_describe(obj)}) cannot be sent to worker processes: "
                        f"{type(error).__name__}: {error}. Workers receive functions by reference "
                        f"(module and name), so lambdas and nested functions cannot travel. {how_to_fix}. "
                        f"A Dask executor (Client(...).get_executor()) ships such functions by value.") from error
    if checker.interactive:
        raise TypeError(f"{owner}: {what} uses {checker.interactive} defined in an interactive session "
                        f"(__main__ has no file), which worker processes cannot import. {how_to_fix}. "
                        f"A Dask executor (Client(...).get_executor()) ships such functions by value.")


# ---------------------------------------------------------------------------------------------
# the runner

class Jobs:
    """Run ``fn(shared, task)`` for many tasks: serially here, in a process pool, or on an executor.

    ``shared`` (data, build functions) travels once per worker when possible: through the
    initializer of the pool made here, or ``client.scatter`` on Dask; any other executor gets
    it with every task. Use as a context manager: the pool made here is shut down on exit.

    Args:
        owner: the public function's name, for messages.
        n_jobs: jobs at once (a positive int).
        executor: None (serial when n_jobs == 1, else a process pool of n_jobs workers made here)
            or any ``concurrent.futures.Executor`` (``Client(...).get_executor()`` for Dask).
        shared: whatever every job needs.
    """

    def __init__(self, owner, n_jobs, executor, shared):
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
            raise ValueError(f"{owner}: n_jobs must be a positive int, got {n_jobs!r}")
        if executor is not None and not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(f"{owner}: executor must be a concurrent.futures.Executor (a process pool, "
                            f"or Client(...).get_executor() for Dask), got {type(executor).__name__}")
        if (isinstance(executor, concurrent.futures.ThreadPoolExecutor) and n_jobs > 1
                and getattr(executor, "_max_workers", 2) > 1):
            warnings.warn(f"{owner}: threads of one process share numpy_nn's random generator and layer "
                          f"names, so jobs running at once in a ThreadPoolExecutor are not reproducible; "
                          f"use a process pool or Dask", RuntimeWarning, stacklevel=3)
        self.owner, self.n_jobs, self.executor, self.shared = owner, int(n_jobs), executor, shared
        self.serial = executor is None and n_jobs == 1
        self._pool, self._token, self._scattered, self._futures = None, None, None, set()

    def check_sendable(self, what, obj):
        if not self.serial:
            check_sendable(self.owner, what, obj, self.executor)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        """Normal exit: shut the pool made here down. On an error or Ctrl-C: cancel what is queued
        and terminate that pool's workers at once (their running jobs are lost)."""
        if exc_type is not None:
            for future in self._futures:
                future.cancel()
        pool, self._pool, self._futures, self._scattered = self._pool, None, set(), None
        if pool is not None:
            if exc_type is not None:
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            _shared_by_token.pop(self._token, None)

    def _submit(self, fn, task):
        if self.executor is None:
            if self._pool is None:
                self._token = f"{os.getpid()}-{next(_token_counter)}"
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.n_jobs, mp_context=multiprocessing.get_context(_start_method()),
                    initializer=_init_pool_worker, initargs=(self._token, self.shared))
            return self._pool.submit(_call_with_token, fn, self._token, task)
        shared = self.shared
        if _is_dask(self.executor):
            if self._scattered is None:
                [self._scattered] = self.executor._client.scatter([self.shared], broadcast=True)
            shared = self._scattered
        return self.executor.submit(_call_with_data, fn, shared, task, os.getpid())

    def run(self, fn, tasks):
        """Yield ``(key, fn(shared, task))`` for the dict ``tasks``, in order of completion.

        A job's exception is raised here; leaving the ``with`` block through it (or through
        Ctrl-C) cancels the other jobs.
        """
        if self.serial:
            for key, task in tasks.items():
                yield key, fn(self.shared, task)
            return
        try:
            futures = {self._submit(fn, task): key for key, task in tasks.items()}
            self._futures.update(futures)
            for future in concurrent.futures.as_completed(futures):
                self._futures.discard(future)
                result = future.result()
                yield futures[future], result
        except concurrent.futures.process.BrokenProcessPool as error:
            raise RuntimeError(
                f"{self.owner}: a worker process died ({error}). If your script calls {self.owner} at "
                f"its top level, put that call under `if __name__ == \"__main__\":` (worker processes "
                f"import the script first); otherwise a worker may have run out of memory (try a smaller "
                f"n_jobs).") from error
