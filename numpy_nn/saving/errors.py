"""The exceptions of ``numpy_nn.saving``.

``LoadError`` (a ``ValueError``) is the only exception a failed *read* raises on purpose: a file
that is not a valid zip, a member above the size limit, invalid JSON, a layer class numpy_nn
does not implement (or refuses, like ``Lambda``), a missing or mis-shaped h5 dataset. When it is
raised, nothing has been written and no existing model has been changed. The only other
exceptions are ``FileNotFoundError`` (the path does not exist) and ``ImportError`` (no h5py);
see docs/loader-safety.md.

``SaveError`` (a ``ValueError``) is raised before anything is written when a model cannot be
described in Keras's format (an unknown layer class, a subclassed model without a graph, a
file name with the wrong suffix).

A missing optional dependency (h5py) raises ``ImportError`` naming the ``keras`` extra.
"""


class LoadError(ValueError):
    """A ``.keras`` / ``.weights.h5`` file (or a Keras config) could not be loaded safely."""


class SaveError(ValueError):
    """A model could not be written in Keras's format (nothing was written)."""


def require_h5py():
    """Import h5py lazily, with an error that says which extra to install."""
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("Reading or writing .keras and .weights.h5 files needs h5py. Install it with "
                          "`pip install numpy_nn[keras]` (or `pip install h5py`).") from error
    return h5py
