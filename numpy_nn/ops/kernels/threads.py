"""Both cores for elementwise work: ``in_parallel`` splits a list of chunks over a small thread pool.

NumPy's ufuncs release the GIL and run on one core each, so kernels that loop over independent
slices of the batch (DepthwiseConv2D, MaxPool2D, ...) can use both cores of a 2-core machine.
``NUMPY_NN_THREADS`` sets the number of threads (1 turns threading off); the default is 2 when 2
CPUs are usable. BLAS calls (matmul) use their own threads and are not run from here.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

# Threads for the elementwise kernels: NUMPY_NN_THREADS if set (1 turns threading off), else 2 when 2 CPUs are usable.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
THREADS = max(1, int(os.environ.get("NUMPY_NN_THREADS", min(2, _CPUS))))
_pool, _pool_pid = None, None


def in_parallel(work, chunks):
    """Split the list ``chunks`` into THREADS contiguous shares and run ``work(share)`` on each, in threads.

    NumPy's ufuncs release the GIL and run on one core each, so elementwise kernels over
    independent slices of the batch (DepthwiseConv2D, MaxPool2D) can use both cores.
    Returns the results of ``work`` in share order; the first share runs in the calling thread.
    Set ``THREADS = 1`` to run everything in the calling thread. ``work`` must not call
    ``in_parallel`` itself; a call from a pool thread runs serially, and a forked child
    process gets a pool of its own (the parent's threads do not exist there).
    """
    global _pool, _pool_pid
    threads = min(THREADS, len(chunks))
    if threads < 2 or threading.current_thread().name.startswith("numpy_nn_ops"):
        return [work(chunks)]
    cuts = [len(chunks) * i // threads for i in range(threads + 1)]
    shares = [chunks[cuts[i]:cuts[i + 1]] for i in range(threads)]
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=THREADS - 1, thread_name_prefix="numpy_nn_ops"), os.getpid()
    futures = [_pool.submit(work, share) for share in shares[1:]]
    first = work(shares[0])
    return [first] + [future.result() for future in futures]
