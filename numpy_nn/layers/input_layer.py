"""``InputLayer`` and ``Input``: where a layer graph starts.

``x = nn.Input(shape=(28, 28, 1), name="image")`` creates an ``InputLayer`` and returns its
output, a ``SymbolicTensor`` of shape ``(None, 28, 28, 1)`` (the batch axis is ``None`` unless
``batch_size`` is given). The layer has one node, with no inputs; it computes nothing (in an
eager call it passes its input through unchanged). Keras 3 signature and config keys.
"""
import numpy as np

from .. import config
from ..ops.node import KerasHistory, Node, SymbolicTensor
from .base import Layer


def _standardize_shape(shape, what):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"Cannot interpret `{what}={shape!r}` as a shape (a tuple of ints or None)") from None
    if any(d is not None and d < 0 for d in shape):
        raise ValueError(f"Negative dimensions are not allowed; received `{what}={shape}`")
    return shape


class InputLayer(Layer):
    """The entry point of a functional model: holds the input's shape, dtype and name."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, **kwargs):
        if "input_shape" in kwargs:  # deprecated Keras spelling
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        for key in ("trainable",):
            kwargs.pop(key, None)
        if kwargs:
            raise TypeError(f"InputLayer: unexpected keyword argument(s) {sorted(kwargs)}")
        if sparse or ragged:
            raise ValueError(f"InputLayer: sparse/ragged inputs are not supported (sparse={sparse!r}, "
                             f"ragged={ragged!r})")
        if input_tensor is not None:
            batch_shape, dtype = input_tensor.shape, dtype or input_tensor.dtype
        elif shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time; "
                             f"received shape={shape!r}, batch_shape={batch_shape!r}")
        elif batch_size is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `batch_size` and `batch_shape` at the same time; "
                             f"received batch_size={batch_size!r}, batch_shape={batch_shape!r}")
        elif shape is None and batch_shape is None:
            raise ValueError("You must pass a `shape` argument.")
        if shape is not None:
            batch_shape = (batch_size,) + _standardize_shape(shape, "shape")
        super().__init__(name=name, dtype=dtype or config.floatx())
        self.batch_shape = _standardize_shape(batch_shape, "batch_shape")
        self.sparse = False
        self.ragged = False
        self.optional = bool(optional)
        self.built = True

        tensor = input_tensor or SymbolicTensor(self.batch_shape, self.dtype, name=self.name)
        tensor._keras_history = KerasHistory(self, 0, 0)
        self._inbound_nodes.append(Node(self, call_args=None, outputs=[tensor]))
        self._input_tensor = tensor

    def call(self, inputs, training=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": self.sparse,
                "ragged": self.ragged, "name": self.name, "optional": self.optional}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic input tensor (``keras.Input``): ``x = Input((32, 32, 3), name="image")``.

    Returns the output of a new ``InputLayer``: ``x.shape == (None, 32, 32, 3)``, ``x.dtype``,
    ``x.name == "image"``; pass it (or lists/dicts of such tensors) to ``Model(inputs, outputs)``.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, ragged=ragged,
                       batch_shape=batch_shape, input_tensor=tensor, optional=optional, name=name)
    return layer._input_tensor
