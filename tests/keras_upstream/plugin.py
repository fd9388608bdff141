"""pytest plugin (``-p tests.keras_upstream.plugin``): install the keras shim before collection."""
import os

os.environ.setdefault("KERAS_BACKEND", "numpy")

from tests.keras_upstream import shim  # noqa: E402

shim.install()


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_trainable_backend: Keras marker (ignored here)")
