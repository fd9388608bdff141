"""The two pieces of global state numpy_nn allows: the default float type and the RNG.

``floatx`` mirrors ``keras.config.floatx()``: every layer created while it is set keeps its
weights and computes in that dtype. ``"float32"`` is the default, as in Keras; ``"float64"`` is
there for gradient checks and for studying exact values.
"""
import numpy as np

_FLOATX = "float32"
_VALID_FLOATX = ("float16", "float32", "float64")
_rng = np.random.default_rng()


def floatx():
    """Return the default float type as a string, e.g. ``"float32"``."""
    return _FLOATX


def set_floatx(value):
    """Set the default float type (``"float16"``, ``"float32"`` or ``"float64"``)."""
    global _FLOATX
    value = str(np.dtype(value)) if not isinstance(value, str) else value
    if value not in _VALID_FLOATX:
        raise ValueError(f"set_floatx: unknown float type {value!r}; expected one of {_VALID_FLOATX}")
    _FLOATX = value


def rng():
    """The library's NumPy ``Generator`` (initializers without a seed, dropout without a seed)."""
    return _rng


def set_random_seed(seed):
    """Seed numpy_nn's generator and NumPy's global RNG (which ``fit`` shuffling uses, as Keras does)."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    np.random.seed(int(seed) % (2**32))
    _rng = np.random.default_rng(int(seed))


def tune_allocator(keep_freed_memory=True):
    """Opt in to glibc allocator settings that make large temporaries cheap (see docs/performance.md).

    Delegates to ``numpy_nn.ops._buffers.tune_allocator``; it is opt-in because the process then
    keeps its peak heap instead of returning memory to the OS.
    """
    from .ops._buffers import tune_allocator as _tune
    return _tune(keep_freed_memory=keep_freed_memory)
