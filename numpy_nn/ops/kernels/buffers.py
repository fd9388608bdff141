"""Memory allocation: an explicit, opt-in tuning of glibc's malloc for large NumPy temporaries.

Why: every op returns fresh arrays, and a training step allocates and frees tens of megabytes
of them. glibc serves a large request (above ``M_MMAP_THRESHOLD``, dynamically raised up to
32 MiB on 64-bit Linux) with a fresh ``mmap``, and hands memory at the top of the heap back to
the kernel once more than ``M_TRIM_THRESHOLD`` is free. Either way the next array of that size
starts on untouched pages, and the kernel zero-fills every 4 KiB page on first write. Measured
here: writing a fresh 37.7 MB array took 7.6 ms against 1.4 ms for a reused one; a Conv2D
forward+backward (3x3, 32x32x32 -> 64, batch 32) went from 64 ms to 59 ms of CPU time.

``tune_allocator()`` turns ``mmap`` off for malloc and stops heap trimming, so freed arrays are
recycled by malloc without page faults. The cost: the process keeps its peak heap (it does not
shrink after a big batch) -- hence opt-in, never done on import. NumPy itself still asks for
transparent huge pages on large arrays; that is unaffected.

The conv kernels also avoid the worst case without it: they keep patch matrices in chunks of at
most ``numpy_nn.ops.kernels.conv.CHUNK_BYTES`` (16 MiB), below glibc's 32 MiB ceiling.

The default, without touching malloc: ``empty(shape, dtype)``, a pool of recycled arrays.
The fast kernels take their large outputs and temporaries from it. An array in the pool is
handed out again only when nothing else refers to it: ``sys.getrefcount`` counts every
reference, so a Tensor holding it, a view of it (a view keeps its base alive) or a tape entry
(``self.centered`` of a batch norm) keeps it out of reuse. After a training step the tape is
gone, the arrays come back free, and the next step writes into pages that are already mapped:
no page faults, no zero-filling. What it costs: the pool keeps up to ``POOL_MAX_BYTES`` of
arrays between steps (like PyTorch's caching allocator; ``release_buffers()`` frees them, and
``POOL_MAX_BYTES = 0`` turns the pool off). It covers only arrays the fast kernels allocate, so
``tune_allocator()`` still saves more (docs/performance.md, "Allocation").
"""
import ctypes
import ctypes.util
import sys
import threading

import numpy as np

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

_tuned = False


def tune_allocator(keep_freed_memory=True):
    """Make glibc's malloc recycle large freed arrays instead of unmapping them. Returns True if applied.

    With ``keep_freed_memory=True``: ``mallopt(M_MMAP_MAX, 0)`` (large blocks come from the heap,
    not fresh ``mmap``s) and ``mallopt(M_TRIM_THRESHOLD, 1 GiB)`` (free heap memory is kept for
    the next allocation). Process-wide and irreversible except by ``keep_freed_memory=False``,
    which restores glibc's defaults (mmap for large blocks, 128 KiB trim threshold).

    Returns False (and changes nothing) where there is no glibc (macOS, Windows, musl).
    """
    global _tuned
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if keep_freed_memory:
        ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**30) == 1
    else:
        ok = mallopt(_M_MMAP_MAX, 65536) == 1 and mallopt(_M_TRIM_THRESHOLD, 128 * 1024) == 1
    _tuned = ok and keep_freed_memory
    return ok


def allocator_tuned():
    """True after a successful ``tune_allocator()`` (and no reset since)."""
    return _tuned


POOL_MIN_BYTES = 2**20  # smaller arrays come from malloc's heap, which reuses them without page faults
POOL_MAX_BYTES = 2**28  # arrays kept by the pool, in use or free (0 turns the pool off)
_pool = {}  # (shape, dtype) -> [arrays]
_pool_bytes = 0
_lock = threading.Lock()
_FREE_REFCOUNT = 3  # getrefcount inside the loops below: the pool's list, the loop variable, the argument


def empty(shape, dtype=np.float32):
    """``np.empty(shape, dtype)``, recycled: an array of the pool that nothing else refers to, or a new
    one (added to the pool while it holds fewer than ``POOL_MAX_BYTES``). Contents are arbitrary."""
    global _pool_bytes
    shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < POOL_MIN_BYTES or POOL_MAX_BYTES <= 0:
        return np.empty(shape, dtype)
    key = (shape, dtype.str)
    with _lock:
        bucket = _pool.setdefault(key, [])
        for array in bucket:
            if sys.getrefcount(array) == _FREE_REFCOUNT:
                return array
        if _pool_bytes + nbytes > POOL_MAX_BYTES:
            _evict_free(_pool_bytes + nbytes - POOL_MAX_BYTES)
        array = np.empty(shape, dtype)
        if _pool_bytes + nbytes <= POOL_MAX_BYTES:
            bucket.append(array)
            _pool_bytes += nbytes
        return array


def empty_like(array):
    """``empty(array.shape, array.dtype)``."""
    return empty(array.shape, array.dtype)


def _evict_free(needed):
    """Drop free arrays from the pool until ``needed`` bytes are released (or none is free)."""
    global _pool_bytes
    for key in list(_pool):
        bucket, index = _pool[key], 0
        while index < len(bucket):  # by position: list.remove would compare arrays with ==
            if needed <= 0:
                return
            array = bucket[index]
            if sys.getrefcount(array) == _FREE_REFCOUNT:  # the bucket, ``array`` here, the argument
                del bucket[index]
                _pool_bytes -= array.nbytes
                needed -= array.nbytes
            else:
                index += 1
        if not bucket:
            del _pool[key]


def release_buffers():
    """Forget every array of the pool (those still in use stay alive with their users). Returns bytes dropped."""
    global _pool_bytes
    with _lock:
        dropped = _pool_bytes
        _pool.clear()
        _pool_bytes = 0
    return dropped


def pool_bytes():
    """Bytes of the arrays the pool holds (in use or free)."""
    return _pool_bytes


__all__ = ["tune_allocator", "allocator_tuned", "empty", "empty_like", "release_buffers", "pool_bytes"]
