"""Layers that keras.applications models use but that are not in ``keras.layers``.

    LayerScale(init_values, projection_dim)   y = x * gamma, gamma (projection_dim,) = init_values
                                               (ConvNeXt; Keras's ``keras.src.applications.convnext``)
    AddOp, SubtractOp, MultiplyOp, DivideOp    y = a (op) b, NumPy broadcasting, a constant allowed:
                                               the nodes Keras records for ``x + 3.0`` or ``x * y``
                                               on symbolic tensors (``keras.src.ops.numpy``)

The gradients are those of the elementwise ops in ``numpy_nn/ops/math.py`` (the autograd
Tensor operators): d(a*g)/da = g and d(a*g)/dg = sum over the broadcast axes of a.
In a Keras config, an op node is ``{"module": "keras.src.ops.numpy", "class_name": "Add",
"config": {"name": ...}}`` and is called with two positional arguments, e.g. ``[tensor, 3.0]``.
"""
import numpy as np

from .. import initializers
from .base import Layer


class LayerScale(Layer):
    """ConvNeXt's layer scale: ``y = x * gamma`` with one learned scale per channel (last axis)."""

    keras_module = "keras.src.applications.convnext"
    keras_registered_name = "LayerScale"

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        if not isinstance(projection_dim, (int, np.integer)) or projection_dim <= 0:
            raise ValueError(f"Layer '{self.name}' (LayerScale): `projection_dim` must be a positive integer; "
                             f"received projection_dim={projection_dim!r}")
        self.projection_dim = int(projection_dim)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.projection_dim:
            raise ValueError(f"Layer '{self.name}' (LayerScale) expects {self.projection_dim} channels on the last "
                             f"axis; received input shape {tuple(input_shape)}")
        self.gamma = self.add_weight("gamma", (self.projection_dim,), initializers.Constant(self.init_values))
        self.built = True

    def call(self, inputs, training=None):
        return inputs * self.gamma

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


def _broadcast_shape(a, b):
    a, b = tuple(a), tuple(b)
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or y is None or x == y:
            out.append(x)
        elif x is None:
            out.append(y)
        else:
            raise ValueError(f"Cannot broadcast shapes {a} and {b}")
    return tuple(out)


class _BinaryOp(Layer):
    """A Keras ``ops`` node with two operands (tensors or constants): ``layer([a, b])``."""

    keras_module = "keras.src.ops.numpy"
    keras_positional_args = True  # Keras records op(a, b), not layer([a, b])

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) takes a list of two operands; "
                             f"received {type(inputs).__name__}")
        return self.apply(inputs[0], inputs[1])

    def compute_output_shape(self, input_shape):
        return _broadcast_shape(input_shape[0], input_shape[1])

    def get_config(self):  # Keras's Operation config: the name only
        return {"name": self.name}


class AddOp(_BinaryOp):
    """``a + b`` (Keras ``ops.add``)."""
    keras_class_name = "Add"

    def apply(self, a, b):
        return a + b


class SubtractOp(_BinaryOp):
    """``a - b`` (Keras ``ops.subtract``)."""
    keras_class_name = "Subtract"

    def apply(self, a, b):
        return a - b


class MultiplyOp(_BinaryOp):
    """``a * b`` (Keras ``ops.multiply``)."""
    keras_class_name = "Multiply"

    def apply(self, a, b):
        return a * b


class DivideOp(_BinaryOp):
    """``a / b`` (Keras ``ops.divide``, recorded as ``Divide`` or ``TrueDivide``)."""
    keras_class_name = "Divide"

    def apply(self, a, b):
        return a / b
