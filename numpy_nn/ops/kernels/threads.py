"""Both cores for elementwise work: ``in_parallel`` splits a list of chunks over a small thread pool.

NumPy's ufuncs release the GIL and run on one core each, so kernels that loop over independent
slices of the batch (DepthwiseConv2D, MaxPool2D, batch norm, ReLU, ...) can use both cores of a
2-core machine. ``NUMPY_NN_THREADS`` sets the number of threads (1 turns threading off); the
default is 2 when 2 CPUs are usable.

The threads policy (no oversubscription with BLAS): work run by ``in_parallel`` and
``map_row_chunks`` is ufuncs and NumPy reductions only, never a BLAS call (matmul, dot,
einsum with an optimized path). BLAS calls stay in the calling thread, between parallel
regions, and use BLAS's own threads (``OPENBLAS_NUM_THREADS``; all cores by default). So at any
moment either BLAS's threads or numpy_nn's run, never both, and a 2-core machine runs 2 busy
threads, not 4. To run several numpy_nn processes side by side, give each one thread of both:
``NUMPY_NN_THREADS=1 OPENBLAS_NUM_THREADS=1`` (what ``numpy_nn.tuning``'s worker processes do).

Small arrays stay in the calling thread: handing a chunk to a pool thread costs tens of
microseconds, more than a pass over a few hundred kilobytes (``PARALLEL_MIN_BYTES``). Results
never depend on the number of threads: chunks are cut by size, not by thread count, and partial
results are combined in chunk order.
"""
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

# Threads for the elementwise kernels: NUMPY_NN_THREADS if set (1 turns threading off), else 2 when 2 CPUs are usable.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
THREADS = max(1, int(os.environ.get("NUMPY_NN_THREADS", min(2, _CPUS))))
PARALLEL_MIN_BYTES = 2**20  # arrays smaller than this run in the calling thread (map_row_chunks)
ROW_CHUNK_BYTES = 2**19  # bytes of one array per chunk of rows (fused BN+ReLU: 512 KiB-2 MiB alike, 64 KiB 45% slower)
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


def row_chunks(n_rows, row_bytes):
    """(start, stop) ranges of ``n_rows`` rows with about ``ROW_CHUNK_BYTES`` each (at least one row)."""
    size = max(1, ROW_CHUNK_BYTES // max(int(row_bytes), 1))
    return [(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def map_chunks(work, chunks):
    """``[work(chunk) for chunk in chunks]``, the chunks handed out one at a time to the calling thread
    and THREADS - 1 pool threads (each takes the next unclaimed chunk when it is free).

    Dynamic, not fixed halves: on a busy machine a pool thread may wait a long time for a core;
    the calling thread then simply takes the remaining chunks, and waits only for a chunk a pool
    thread has actually started (a fixed split would wait for the whole other half). A chunk's
    result lands at its index, so the result never depends on which thread ran it.
    """
    global _pool, _pool_pid
    n = len(chunks)
    if THREADS < 2 or n < 2 or threading.current_thread().name.startswith("numpy_nn_ops"):
        return [work(chunk) for chunk in chunks]
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=THREADS - 1, thread_name_prefix="numpy_nn_ops"), os.getpid()
    results, errors = [None] * n, []
    claim = itertools.count()  # next() on it is atomic: each index is claimed once
    lock, finished = threading.Lock(), threading.Event()
    left = [n]

    def drain():
        for index in iter(lambda: next(claim), None):
            if index >= n:
                return
            try:
                results[index] = work(chunks[index])
            except BaseException as error:  # re-raised in the calling thread
                errors.append(error)
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    finished.set()

    for _ in range(min(THREADS - 1, n - 1)):
        _pool.submit(drain)
    drain()
    finished.wait()
    if errors:
        raise errors[0]
    return results


def map_row_chunks(work, n_rows, row_bytes):
    """``[work(start, stop) for each chunk of rows]``, in chunk order, over THREADS threads when the
    rows hold at least ``PARALLEL_MIN_BYTES`` (else in the calling thread); see ``map_chunks``.

    ``row_bytes`` is the size of one row of the largest array ``work`` touches. ``work`` must use
    ufuncs and reductions only (no BLAS: see the module docstring) and write disjoint rows.
    """
    chunks = row_chunks(n_rows, row_bytes)
    if n_rows * row_bytes < PARALLEL_MIN_BYTES:
        return [work(start, stop) for start, stop in chunks]
    return map_chunks(lambda chunk: work(*chunk), chunks)
