"""Import Keras for the live bridges, or say which extra to install.

Keras is optional: numpy_nn reads and writes ``.keras`` files without it. ``from_keras`` and
``compare`` need a live Keras (and a backend; the ``keras`` extra installs JAX), so they import it
through ``import_keras``, which selects the JAX backend unless ``KERAS_BACKEND`` says otherwise
and turns a missing Keras into an ``ImportError`` naming the extra.
"""
import os
import sys

INSTALL_HINT = ('install the keras extra: pip install -e ".[keras]" in a source checkout, '
                'or pip install "numpy_nn[keras]"')


def import_keras(purpose="this function"):
    """The ``keras`` module; ``ImportError`` naming the ``keras`` extra if it cannot be imported."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as error:
        raise ImportError(f"{purpose} needs Keras with a backend (JAX), which could not be imported ({error}); "
                          f"{INSTALL_HINT}") from error
    return keras
