"""Keras-style layers, one file per family (mirroring numpy_nn/ops)."""
from .base import Layer, clear_session
