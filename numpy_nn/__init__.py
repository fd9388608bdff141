"""numpy_nn: a Keras-faithful deep-learning library in pure NumPy, written to be read."""
from .autograd import Function, Tensor, Variable, grad, gradcheck, no_grad
from .config import floatx, set_floatx

__version__ = "0.1.0"
