"""Input and the layer graph, Model (functional), Sequential, the training loop, summary().

``load_model`` and ``save_model`` are here too, under the names Keras users type
(``keras.models.load_model``); they are ``nn.saving.load_model`` / ``nn.saving.save_model``.
"""
from ..layers.input_layer import Input, InputLayer
from ..layers.symbolic import call_symbolic
from ..ops.node import Node, SymbolicTensor
from .functional import GraphFunction, Model, function
from .sequential import Sequential


def load_model(filepath, *args, **kwargs):
    """``keras.models.load_model``: the same as :func:`numpy_nn.saving.load_model` (same arguments).

    Reads a Keras 3 ``.keras`` file without Keras (h5py only) and returns the model, compiled
    when the file holds a compile config (``compile=False`` skips it).
    """
    from ..saving import load_model as load
    return load(filepath, *args, **kwargs)


def save_model(model, filepath, *args, **kwargs):
    """``keras.models.save_model``: the same as :func:`numpy_nn.saving.save_model` (same arguments)."""
    from ..saving import save_model as save
    return save(model, filepath, *args, **kwargs)


__all__ = ["Input", "InputLayer", "Model", "Sequential", "function", "GraphFunction", "call_symbolic",
           "Node", "SymbolicTensor", "load_model", "save_model"]
