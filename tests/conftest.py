"""Shared test setup: Keras on JAX, Hypothesis profiles, float64 helpers."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_generate_tests(metafunc):
    """Tests marked ``both_tiers`` run twice: with the fast kernels and with the reference tier."""
    if metafunc.definition.get_closest_marker("both_tiers"):
        metafunc.parametrize("kernel_tier", ["fast", "reference"], indirect=True)


@pytest.fixture(autouse=True)
def kernel_tier(request):
    """The kernel tier a test runs in (``nn.config.use_kernels``): parametrized by the ``both_tiers``
    marker, otherwise the process's tier (``NUMPY_NN_KERNELS``). Autouse, so the marker alone works."""
    import numpy_nn as nn
    tier = getattr(request, "param", None)
    if tier is None:
        yield nn.config.kernels()
        return
    with nn.config.use_kernels(tier):
        yield tier


@pytest.fixture
def float64():
    """Run a test with floatx = float64 (gradient checks), restoring float32 afterwards."""
    import numpy_nn as nn
    previous = nn.floatx()
    nn.set_floatx("float64")
    yield
    nn.set_floatx(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
