"""Keras's own unit tests, run unchanged through numpy_nn's public API (see ``run.py``)."""
