"""Keras 3 on JAX: the same Keras layers numpy_nn mirrors, compiled with ``jax.jit``.

Single layers: ``jax.jit`` of the layer's ``stateless_call`` (forward) and of
``jax.grad`` of ``sum(stateless_call(...) * g)`` with respect to the input and the trainable
variables (forward+backward). The small CNN: ``model.compile(Adam, sparse categorical
crossentropy)`` + ``train_on_batch`` (Keras jit-compiles its train step). Applications:
``jax.jit`` of ``stateless_call(..., training=False)`` on ``keras.applications.X(weights=None)``.
Every timed call ends with ``block_until_ready`` (JAX dispatches asynchronously).
"""
import os

from .workloads import FORWARD, FORWARD_BACKWARD, PREDICT, TRAIN_STEP, NotAvailable

FRAMEWORK = "keras_jax"
MEMORY_METHODS = ("rss_hwm",)


def setup():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import keras
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras is using the {keras.backend.backend()!r} backend; set KERAS_BACKEND=jax")
    keras.utils.set_random_seed(0)
    info = {"version": f"keras {keras.__version__}, jax {jax.__version__}",
            "devices": [str(d) for d in jax.devices()],
            "XLA_FLAGS": os.environ.get("XLA_FLAGS")}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def _random(shape, seed=0):
    import numpy as np
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _make_layer(workload):
    import keras
    p = workload.params
    family = workload.family
    if family == "conv2d":
        return keras.layers.Conv2D(p["filters"], p["kernel_size"], strides=p["strides"], padding=p["padding"])
    if family == "depthwise":
        return keras.layers.DepthwiseConv2D(p["kernel_size"], padding=p["padding"])
    if family == "separable":
        return keras.layers.SeparableConv2D(p["filters"], p["kernel_size"], padding=p["padding"])
    if family == "batchnorm":
        return keras.layers.BatchNormalization()
    if family == "maxpool":
        return keras.layers.MaxPooling2D(pool_size=p["pool_size"])
    if family == "dense":
        return keras.layers.Dense(p["units"])
    if family in ("lstm", "gru"):
        return getattr(keras.layers, family.upper())(p["units"], return_sequences=True)
    if family == "conv1d":
        return keras.layers.Conv1D(p["filters"], p["kernel_size"], padding=p["padding"])
    if family == "conv2d_transpose":
        return keras.layers.Conv2DTranspose(p["filters"], p["kernel_size"], strides=p["strides"], padding=p["padding"])
    raise NotAvailable(f"no Keras layer for family {family!r}")


def _layer_workload(workload, mode):
    import jax
    import jax.numpy as jnp
    layer = _make_layer(workload)
    shape = workload.params["input_shape"]
    layer.build(shape)
    # only BatchNormalization has a training mode (and Keras's conv/pool call() rejects the argument)
    call_kwargs = {"training": True} if workload.family == "batchnorm" else {}
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    x = jnp.asarray(_random(shape))

    def apply(trainable_, x_):
        out, _ = layer.stateless_call(trainable_, non_trainable, x_, **call_kwargs)
        return out
    if mode == FORWARD:
        forward = jax.jit(apply)
        return lambda: forward(trainable, x).block_until_ready()
    upstream = jnp.asarray(_random(jax.eval_shape(apply, trainable, x).shape, seed=1))
    gradients = jax.jit(jax.grad(lambda x_, t_: jnp.sum(apply(t_, x_) * upstream), argnums=(0, 1)))
    return lambda: jax.block_until_ready(gradients(x, trainable))


def _small_cnn(classes, input_shape):
    import keras
    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape), L.Conv2D(32, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
        L.MaxPooling2D(2), L.SeparableConv2D(64, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dense(classes, activation="softmax")])


def _small_cnn_train_step(workload):
    import keras
    import numpy as np
    p = workload.params
    model = _small_cnn(p["classes"], p["input_shape"][1:])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x = _random(p["input_shape"])
    y = np.random.default_rng(2).integers(0, p["classes"], size=p["input_shape"][0])
    return (lambda: model.train_on_batch(x, y)), {"note": "compile(Adam) + train_on_batch (jit)"}


def _application_predict(workload):
    import jax
    import jax.numpy as jnp
    import keras
    p = workload.params
    model = getattr(keras.applications, p["application"])(weights=None, input_shape=p["input_shape"][1:])
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    predict = jax.jit(lambda t_, n_, x_: model.stateless_call(t_, n_, x_, training=False)[0])
    x = jnp.asarray(_random(p["input_shape"]))
    return (lambda: predict(trainable, non_trainable, x).block_until_ready()), \
        {"note": f"keras.applications.{p['application']}(weights=None), jit stateless_call "
                 f"({model.count_params():,} parameters)"}


def build(workload, mode):
    if workload.family.startswith("naive"):
        raise NotAvailable("numpy_nn only (loops vs vectorized)")
    if mode in (FORWARD, FORWARD_BACKWARD):
        return _layer_workload(workload, mode)
    if mode == TRAIN_STEP:
        return _small_cnn_train_step(workload)
    if mode == PREDICT:
        return _application_predict(workload)
    raise NotAvailable(f"mode {mode!r} is not implemented for Keras/JAX")
