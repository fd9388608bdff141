"""Inference epilogues: y <- act(y * inv + shift), in place, chunk by chunk over both cores.

At inference a convolution is usually followed by a BatchNormalization with fixed statistics and
an activation (MobileNetV2: Conv2D -> BN -> ReLU(6); EfficientNet: Conv2D -> BN -> swish). Run as
three layers, that is three passes over the activation in main memory, each writing a fresh array
(fresh arrays of a few MB also page-fault on first write). Run as an epilogue, the convolution's
own output is finished in place, one chunk of rows (``threads.ROW_CHUNK_BYTES``) at a time, so
every step after the first read finds the chunk in cache:

    y = conv(x)                   (the layer's own op, a fresh array nobody else holds)
    y = y * inv + shift           (BN at inference; inv, shift from ``inference_scale_shift``)
    y = act(y)                    (relu: max(y, 0); relu6: clip(y, 0, 6); silu, sigmoid: the fast
                                   kernels' chunk functions; others: their forward)

Each step is the same NumPy operation, on the same float32 values, as the op it stands for, so the
result equals the layers called one by one bit for bit (tests/test_fusion_inference.py). Where the
conv has no activation of its own, ``numpy_nn/layers/fusion.py`` folds the batch norm into the conv's
weights instead, and only the last activation is left for an epilogue. Only
without a tape (``nn.no_grad()``, ``predict``): nothing keeps the intermediate values a backward
pass would need. The layer-side rules (which neighbours fuse) are in ``numpy_nn/layers/fusion.py``.
"""
import numpy as np

from .. import activations as A
from .activations import sigmoid_into, silu_into
from .threads import map_row_chunks


def scale_shift(inv, shift):
    """The step ``y = y * inv + shift`` (inv, shift broadcast along the last axis)."""
    inv, shift = inv.reshape(-1), shift.reshape(-1)

    def step(chunk):
        np.multiply(chunk, inv, out=chunk)
        np.add(chunk, shift, out=chunk)
    return step


def _relu(chunk):
    np.maximum(chunk, 0, out=chunk)


def _relu6(chunk):
    np.clip(chunk, 0, 6, out=chunk)


def _forward_of(op_class):
    """A step that writes ``op_class().forward(chunk)`` back into the chunk (elementwise ops only)."""
    def step(chunk):
        chunk[...] = op_class().forward(chunk)
    return step


def _sigmoid(chunk):
    work = np.empty_like(chunk)
    sigmoid_into(chunk.copy(), chunk, work)  # (x must stay readable while s is written: a copy of the chunk)


def _silu(chunk):
    silu_into(chunk, chunk, np.empty_like(chunk), np.empty_like(chunk))


# The activations an epilogue can apply, by the operations of the op that computes them (elementwise ones only).
_STEPS = {"relu": _relu, "relu6": _relu6, "silu": _silu, "sigmoid": _sigmoid,
          "tanh": _forward_of(A.Tanh), "hard_sigmoid": _forward_of(A.HardSigmoid),
          "hard_silu": _forward_of(A.HardSilu)}


def activation_step(name):
    """The in-place step for activation ``name`` (a key of ``_STEPS``), or None if it has none."""
    return _STEPS.get(name)


def apply_in_place(y, steps):
    """Run ``steps`` (callables on a 2-D chunk view) over ``y``, a C-contiguous array of rank >= 2, in
    chunks of rows over the threads; returns y. Every step is elementwise, so the result does not
    depend on the chunking or on the number of threads."""
    rows = y.reshape(-1, y.shape[-1])

    def work(start, stop):
        chunk = rows[start:stop]
        for step in steps:
            step(chunk)

    map_row_chunks(work, rows.shape[0], rows.shape[1] * y.itemsize)
    return y
