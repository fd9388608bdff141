"""Naive loop references for the merge ops (test oracles): every output entry computed from the
entries of the inputs it broadcasts from, folding left as Keras does, sharing no code with
``numpy_nn/ops/merge.py``."""
import numpy as np

FOLDS = {
    "add_n": lambda a, b: a + b,
    "multiply_n": lambda a, b: a * b,
    "maximum_n": max,
    "minimum_n": min,
}


def merge_naive(name, arrays):
    """``name`` in FOLDS or "average": y[i] = fold(x_1[i'], x_2[i'], ...) with i' the broadcast index."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    out = np.empty(shape)
    for index in np.ndindex(*shape):
        values = []
        for a in arrays:
            offset = len(shape) - a.ndim  # leading axes a does not have
            values.append(float(a[tuple(0 if n == 1 else i for i, n in zip(index[offset:], a.shape))]))
        if name == "average":
            total = values[0]
            for v in values[1:]:
                total += v
            out[index] = total / len(values)
        else:
            result = values[0]
            for v in values[1:]:
                result = FOLDS[name](result, v)
            out[index] = result
    return out
