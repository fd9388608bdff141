"""Input and the layer graph, Model (functional), Sequential, the training loop, summary()."""
from ..layers.input_layer import Input, InputLayer
from ..layers.symbolic import call_symbolic
from ..ops.node import Node, SymbolicTensor
from .functional import GraphFunction, Model, function
from .sequential import Sequential

__all__ = ["Input", "InputLayer", "Model", "Sequential", "function", "GraphFunction", "call_symbolic",
           "Node", "SymbolicTensor"]
