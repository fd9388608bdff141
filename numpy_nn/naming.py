"""Automatic names, shared by layers, models, optimizers and metrics (as Keras names them).

``to_snake_case("Conv2D") == "conv2d"``; ``unique_name("dense")`` gives ``"dense"``, then
``"dense_1"``, ``"dense_2"``, ... (one counter per base name, reset by ``clear_session``).
This module imports nothing from the library, so every room may use it.
"""
import re

_name_counters = {}


def to_snake_case(name):
    """Keras's class-name to layer-name rule: Conv2D -> conv2d, ReLU -> re_lu."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """"dense", then "dense_1", "dense_2", ... (one counter per base name, like Keras)."""
    count = _name_counters.get(base, 0)
    _name_counters[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Reset automatic names (``keras.backend.clear_session``)."""
    _name_counters.clear()
