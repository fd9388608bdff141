"""Live bridges to an installed Keras: ``from_keras`` (convert a model) and ``compare`` (per-layer diffs).

Both need ``keras`` (and a backend, e.g. JAX): install the ``keras`` extra.
"""
from .compare import compare, compare_file, layer_outputs
from .from_keras import copy_weights, from_keras, keras_config

__all__ = ["from_keras", "copy_weights", "keras_config", "compare", "compare_file", "layer_outputs"]
