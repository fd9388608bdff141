"""Input and the layer graph, Model (functional), Sequential, the training loop, summary()."""
from ..layers.input_layer import Input, InputLayer
from .functional import GraphFunction, Model, call_symbolic, function
from .node import Node, SymbolicTensor
from .sequential import Sequential

__all__ = ["Input", "InputLayer", "Model", "Sequential", "function", "GraphFunction", "call_symbolic",
           "Node", "SymbolicTensor"]
