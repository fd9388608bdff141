"""Helpers for parity tests against live Keras (JAX backend)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")


def import_keras():
    """Import keras on JAX, or skip the test with the reason."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("parity tests need KERAS_BACKEND=jax")
    return keras


def relative_diff(ours, theirs):
    """max |ours - theirs| / max |theirs|  (the issue's definition of a relative difference)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"shape mismatch: ours {ours.shape}, keras {theirs.shape}"
    scale = max(float(np.max(np.abs(theirs))) if theirs.size else 0.0, 1e-12)
    return float(np.max(np.abs(ours - theirs))) / scale if theirs.size else 0.0


def keras_grads(keras_layer_or_model, x, upstream, training=False):
    """Gradients of sum(upstream * f(x)) w.r.t. x and each trainable weight, through jax.grad."""
    import jax
    import jax.numpy as jnp
    layer = keras_layer_or_model
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    import inspect
    kwargs = {"training": training} if "training" in inspect.signature(layer.call).parameters else {}

    def loss(x_, tv):
        out, _ = layer.stateless_call(tv, non_trainable, x_, **kwargs)
        return jnp.sum(out * upstream)

    gx, gw = jax.grad(loss, argnums=(0, 1))(jnp.asarray(x), trainable)
    return np.asarray(gx), [np.asarray(g) for g in gw]
