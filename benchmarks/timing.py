"""How a callable is timed and how its memory is measured (shared by every worker).

Timing: ``warmup`` untimed calls (JIT compilation, allocator and BLAS warm-up), then
``repeats`` samples. A sample times ``number`` back-to-back calls with ``time.perf_counter`` and
divides by ``number``; ``number`` is chosen after warm-up so one sample lasts at least
``min_sample_s`` (fast ops would otherwise measure the timer). We report the median sample and
the min-max range, all in seconds per call, and every sample (``samples_s``, for
``numpy-nn bench --compare``).

Memory, two methods (each result says which one it used):
- ``tracemalloc``: the peak of bytes allocated through Python's and NumPy's allocators during
  one call, above what was allocated before it (NumPy reports its data buffers to tracemalloc).
  Exact for numpy_nn; blind to PyTorch's and XLA's own allocators.
- ``rss_hwm``: first glibc's ``malloc_trim(0)`` hands the free heap pages back to the OS (else
  buffers freed by the previous call would be reused without raising RSS), then Linux's peak
  resident set size (``VmHWM``) is reset to the current RSS by writing 5 to
  ``/proc/self/clear_refs``; after one call, peak minus the RSS before the call. Counts every
  allocator that uses malloc (NumPy, PyTorch's CPU allocator, XLA on CPU); a framework that keeps
  its own pool of pages would show less than it uses.
"""
import ctypes
import ctypes.util
import gc
import math
import statistics
import time
import tracemalloc


def measure(fn, warmup=2, repeats=7, min_sample_s=0.02, max_number=1000):
    """Time ``fn()``; return a dict with median/min/max seconds per call and the sample plan."""
    start = time.perf_counter()
    for _ in range(max(warmup, 1)):
        fn()
    one_call = (time.perf_counter() - start) / max(warmup, 1)
    number = max(1, min(max_number, math.ceil(min_sample_s / max(one_call, 1e-9))))
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection in the middle of a sample is noise, not the op's cost
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples),
            "samples_s": samples, "repeats": repeats, "calls_per_sample": number, "warmup": max(warmup, 1)}


def clock_samples(fn, repeats, clock=time.perf_counter):
    """One warm-up call of ``fn``, then ``repeats`` calls each timed alone with ``clock`` (seconds): the
    per-call samples of the small side scripts (``benchmarks/winograd.py``, ``depthwise.py``,
    ``conv_gemm_parts.py``), which pass ``time.process_time`` to measure CPU time instead of wall time."""
    fn()
    samples = []
    for _ in range(repeats):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


def _read_status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not found in /proc/self/status")


def rss_hwm_available():
    """True where the peak-RSS counter can be reset (Linux >= 4.0 with a writable clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        _read_status_kb("VmHWM")
        return True
    except OSError:
        return False


def _malloc_trim():
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measure without trimming
        pass


def peak_memory_mb(fn, method):
    """Peak extra memory of one ``fn()`` call, in MB (10**6 bytes), by ``method`` (see module doc)."""
    gc.collect()
    if method == "tracemalloc":
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return max(peak - baseline, 0) / 1e6
    if method == "rss_hwm":
        _malloc_trim()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _read_status_kb("VmRSS")
        fn()
        return max(_read_status_kb("VmHWM") - before, 0) * 1024 / 1e6
    raise ValueError(f"unknown memory method {method!r}; expected 'tracemalloc' or 'rss_hwm'")
