"""The global state numpy_nn allows: the default float type, the image data format, the kernel
tier and the RNG.

``floatx`` mirrors ``keras.config.floatx()``: every layer created while it is set keeps its
weights and computes in that dtype. ``"float32"`` is the default, as in Keras; ``"float64"`` is
there for gradient checks and for studying exact values.

``kernels`` picks which implementation of each op runs (docs/formulas.md, docs/performance.md):

* ``"reference"``: the formula-shaped code in ``numpy_nn/ops/<family>.py``, written to be read
  next to its docstring formula (vectorized NumPy, one screen per op);
* ``"fast"`` (the default): the kernels in ``numpy_nn/ops/kernels/`` where one exists (chunking,
  threads, blocked sums, ...), each tested to equal its reference; ops without a fast kernel run
  their reference in both tiers.

``image_data_format`` mirrors ``keras.config.image_data_format()``: the layout a convolution,
pooling, upsampling, padding or cropping layer assumes when built with ``data_format=None``,
``"channels_last"`` (the default, as in Keras) or ``"channels_first"``. The layer reads it when it
is created and keeps the value in its config. Unlike Keras, numpy_nn does not read
``~/.keras/keras.json``.

Set the tier with ``set_kernels("reference")``, for a block with ``with use_kernels("reference"):``,
or for a whole process with the environment variable ``NUMPY_NN_KERNELS=reference`` (read at
import). The tier is read when an op runs, so a model built in one tier runs in the other.
"""
import contextlib
import os

import numpy as np

_FLOATX = "float32"
_VALID_FLOATX = ("float16", "float32", "float64")
_VALID_KERNELS = ("reference", "fast")
_IMAGE_DATA_FORMAT = "channels_last"
_VALID_DATA_FORMATS = ("channels_last", "channels_first")
_rng = np.random.default_rng()


def _kernels_from_environment():
    value = os.environ.get("NUMPY_NN_KERNELS", "fast").strip().lower() or "fast"
    if value not in _VALID_KERNELS:
        raise ValueError(f"NUMPY_NN_KERNELS={os.environ['NUMPY_NN_KERNELS']!r}: expected one of {_VALID_KERNELS}")
    return value


_KERNELS = _kernels_from_environment()


def kernels():
    """The current kernel tier: ``"fast"`` (default) or ``"reference"``."""
    return _KERNELS


def set_kernels(tier):
    """Choose the kernel tier for every op run from now on: ``"reference"`` or ``"fast"``."""
    global _KERNELS
    value = str(tier).lower()
    if value not in _VALID_KERNELS:
        raise ValueError(f"set_kernels: unknown tier {tier!r}; expected one of {_VALID_KERNELS}")
    _KERNELS = value


@contextlib.contextmanager
def use_kernels(tier):
    """``with use_kernels("reference"): ...`` runs the block in that tier, then restores the previous one."""
    previous = kernels()
    set_kernels(tier)
    try:
        yield
    finally:
        set_kernels(previous)


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


def image_data_format():
    """The default ``data_format`` of image and sequence layers: ``"channels_last"`` unless set."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """Set the default ``data_format`` (``"channels_last"`` or ``"channels_first"``) of layers created from now on."""
    global _IMAGE_DATA_FORMAT
    value = str(data_format).lower()
    if value not in _VALID_DATA_FORMATS:
        raise ValueError(f"set_image_data_format: unknown data format {data_format!r}; expected one of "
                         f"{_VALID_DATA_FORMATS}")
    _IMAGE_DATA_FORMAT = value


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

    Delegates to ``numpy_nn.ops.kernels.buffers.tune_allocator``; it is opt-in because the process then
    keeps its peak heap instead of returning memory to the OS.
    """
    from .ops.kernels.buffers import tune_allocator as _tune
    return _tune(keep_freed_memory=keep_freed_memory)


def release_buffers():
    """Free the arrays numpy_nn keeps for reuse between training steps; returns the bytes released.

    The fast kernels take their large outputs and temporaries from a pool of recycled arrays
    (``numpy_nn.ops.kernels.buffers.empty``, at most ``POOL_MAX_BYTES``, 256 MiB by default), so
    that a training step writes into memory that is already mapped instead of page-faulting fresh
    arrays (docs/performance.md, "Allocation"). The pool refills on the next step.
    """
    from .ops.kernels.buffers import release_buffers as _release
    return _release()
