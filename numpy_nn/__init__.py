"""numpy_nn: a Keras-faithful deep-learning library in pure NumPy, written to be read.

    import numpy_nn as nn
    from numpy_nn import layers

    x = nn.Input(shape=(28, 28, 1), name="image")
    y = layers.Conv2D(8, 3, activation="relu")(x)
    ...
    model = nn.Model(x, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5); model.save("model.keras")
    again = nn.models.load_model("model.keras")                 # as keras.models.load_model
    fn = nn.function(model.inputs, model.get_layer("conv2d").output)   # arrays in, arrays out

Rooms: ``autograd`` (Tensor, the tape, grad), ``ops`` (each op's forward and backward formulas),
``layers``, ``models`` (graph and training loop), ``optimizers``, ``losses``, ``metrics``,
``callbacks``, ``saving`` and ``interop`` (Keras files and live models), ``viz`` (activations,
filters, Grad-CAM), ``ensemble``, ``tuning``, ``datasets``, ``applications`` (Keras's ImageNet
models with their published weights). Start with README.md and
docs/getting-started.md; docs/formulas.md lists every op's formulas, docs/errors.md what bad
input raises.
"""
from . import (activations, callbacks, config, constraints, datasets, initializers, layers, losses, metrics,
               optimizers, regularizers, utils)
from .autograd import Function, Tensor, Variable, grad, gradcheck, no_grad
from .config import floatx, set_floatx
from .models import Input, Model, Sequential, function
from .utils import set_random_seed

__version__ = "0.1.0"


def __getattr__(name):
    # Rooms with heavier imports (matplotlib, scipy, h5py) load on first use.
    import importlib
    if name in ("viz", "saving", "interop", "ensemble", "tuning", "bench", "tour", "applications", "exercises", "explain"):
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'numpy_nn' has no attribute {name!r}")


__all__ = ["Tensor", "Variable", "Function", "grad", "gradcheck", "no_grad", "floatx", "set_floatx",
           "Input", "Model", "Sequential", "function", "set_random_seed", "layers", "activations",
           "callbacks", "constraints", "datasets", "initializers", "losses", "metrics", "optimizers",
           "regularizers", "utils", "config", "viz", "saving", "interop", "ensemble", "tuning", "applications", "exercises"]
