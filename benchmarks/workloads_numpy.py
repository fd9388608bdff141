"""numpy_nn's side of every workload (run inside the numpy_nn worker process).

Layers are called eagerly on ``nn.Tensor``s, as a user would. Forward runs under
``nn.no_grad()`` (no tape, like ``predict``); forward+backward builds the scalar
``(out * g).sum()`` on the tape and calls ``nn.grad(loss, [x] + layer.trainable_weights)``,
with ``x`` requiring grad so the input gradient is computed too.

Every import from numpy_nn happens inside a builder, so the suite runs while the library is
still growing: a missing layer or feature turns into "not available" for that workload only.
"""
import importlib
import os

import numpy as np

from .timing import measure
from .workloads import FORWARD, FORWARD_BACKWARD, NAIVE, PREDICT, TRAIN_STEP, VECTORIZED, NotAvailable

FRAMEWORK = "numpy_nn"
MEMORY_METHODS = ("tracemalloc", "rss_hwm")

# Where each layer lives until numpy_nn.layers exports it.
_LAYER_MODULES = {
    "Conv2D": "conv", "DepthwiseConv2D": "conv", "SeparableConv2D": "conv",
    "BatchNormalization": "normalization", "MaxPooling2D": "pooling",
    "GlobalAveragePooling2D": "pooling", "Dense": "core", "Activation": "core", "ReLU": "activation",
}


def setup():
    """Import numpy_nn, return what the report says about this process."""
    import os

    import numpy_nn
    # Default settings, as a library user (and the outside check) runs numpy_nn: glibc's malloc
    # untouched. NUMPY_NN_BENCH_TUNE_ALLOCATOR=1 measures with the documented opt-in
    # numpy_nn.config.tune_allocator() (what `numpy-nn tour` does) instead.
    tuned = os.environ.get("NUMPY_NN_BENCH_TUNE_ALLOCATOR") == "1"
    if tuned:
        numpy_nn.config.tune_allocator()
    from numpy_nn.ops.kernels import threads
    info = {"version": getattr(numpy_nn, "__version__", "?"), "numpy": np.__version__,
            "memory_methods": list(MEMORY_METHODS), "tune_allocator": tuned, "numpy_nn_threads": threads.THREADS,
            "kernels": numpy_nn.config.kernels()}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def before_memory_measurement():
    """Empty numpy_nn's pool of recycled arrays (``numpy_nn.config.release_buffers``) so that the measured
    call allocates them afresh: otherwise tracemalloc and RSS would not see the memory the pool lends."""
    import numpy_nn
    release = getattr(numpy_nn.config, "release_buffers", None)
    if release is not None:
        release()


def layer_class(name):
    """``numpy_nn.layers.<name>`` if exported, else the class from its family's submodule."""
    from numpy_nn import layers
    cls = getattr(layers, name, None)
    if cls is not None:
        return cls
    module_name = f"numpy_nn.layers.{_LAYER_MODULES.get(name, 'core')}"
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise NotAvailable(f"numpy_nn layer {name} not yet available ({type(error).__name__}: {error})") from None


def _random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _make_layer(workload):
    p = workload.params
    family = workload.family
    if family == "conv2d":
        return layer_class("Conv2D")(p["filters"], p["kernel_size"], strides=p["strides"], padding=p["padding"])
    if family == "depthwise":
        return layer_class("DepthwiseConv2D")(p["kernel_size"], strides=p.get("strides", 1), padding=p["padding"])
    if family == "separable":
        return layer_class("SeparableConv2D")(p["filters"], p["kernel_size"], padding=p["padding"])
    if family == "batchnorm":
        return layer_class("BatchNormalization")()
    if family == "maxpool":
        return layer_class("MaxPooling2D")(pool_size=p["pool_size"])
    if family == "dense":
        return layer_class("Dense")(p["units"])
    if family == "conv1d":
        return layer_class("Conv1D")(p["filters"], p["kernel_size"], padding=p["padding"])
    if family == "conv2d_transpose":
        return layer_class("Conv2DTranspose")(p["filters"], p["kernel_size"], strides=p["strides"],
                                              padding=p["padding"])
    if family in ("lstm", "gru"):  # every step's output, like torch.nn.LSTM/GRU
        return layer_class(family.upper())(p["units"], return_sequences=True)
    raise NotAvailable(f"no numpy_nn layer for family {family!r}")


def _layer_workload(workload, mode):
    import numpy_nn as nn
    layer = _make_layer(workload)
    training = workload.family == "batchnorm"  # BN is benchmarked in training mode, the rest has no mode
    x = nn.Tensor(_random(workload.params["input_shape"]))
    with nn.no_grad():
        out = layer(x, training=training)  # builds the weights
    if mode == FORWARD:
        def forward():
            with nn.no_grad():
                return layer(x, training=training)
        return forward
    x_var = nn.Tensor(x.data, requires_grad=True)
    upstream = nn.Tensor(_random(out.shape, seed=1))
    wrt = [x_var] + list(layer.trainable_weights)

    def forward_backward():
        loss = (layer(x_var, training=training) * upstream).sum()
        return nn.grad(loss, wrt)
    return forward_backward


def small_cnn_layers(classes):
    """Conv-BN-ReLU-MaxPool-SeparableConv-BN-ReLU-GAP-Dense(softmax), as in every framework."""
    def relu():
        try:
            return layer_class("ReLU")()
        except NotAvailable:
            return layer_class("Activation")("relu")
    return [layer_class("Conv2D")(32, 3, padding="same"), layer_class("BatchNormalization")(), relu(),
            layer_class("MaxPooling2D")(2), layer_class("SeparableConv2D")(64, 3, padding="same"),
            layer_class("BatchNormalization")(), relu(), layer_class("GlobalAveragePooling2D")(),
            layer_class("Dense")(classes, activation="softmax")]


def _small_cnn_train_step(workload):
    """Sequential.compile + train_on_batch when the models room has them; else the same by hand."""
    import numpy_nn as nn
    p = workload.params
    x = _random(p["input_shape"])
    y = np.random.default_rng(2).integers(0, p["classes"], size=p["input_shape"][0])
    layers = small_cnn_layers(p["classes"])
    Sequential = getattr(nn, "Sequential", None)
    if Sequential is None:
        try:
            Sequential = importlib.import_module("numpy_nn.models").Sequential
        except (ImportError, AttributeError):
            Sequential = None
    if Sequential is not None and hasattr(Sequential, "train_on_batch"):
        model = Sequential(layers)
        model.compile(optimizer=_adam() or "adam", loss="sparse_categorical_crossentropy")
        return (lambda: model.train_on_batch(x, y)), {"note": "Sequential.compile + train_on_batch, Adam"}
    return _manual_train_step(layers, x, y, p["classes"])


def _adam():
    try:
        return importlib.import_module("numpy_nn.optimizers").Adam(learning_rate=1e-3)
    except (ImportError, AttributeError):
        return None


def _manual_train_step(layers, x, y, classes):
    """Forward in training mode, loss on the tape, nn.grad, then Adam (or plain SGD) in place."""
    import numpy_nn as nn
    x_tensor = nn.Tensor(x)
    one_hot = nn.Tensor(np.eye(classes, dtype=np.float32)[y])

    def forward(training):
        h = x_tensor
        for layer in layers:
            h = layer(h, training=training)
        return h
    with nn.no_grad():
        forward(False)  # build every layer
    weights = [w for layer in layers for w in layer.trainable_weights]
    optimizer = _adam()

    def train_step():
        probabilities = forward(True)
        # sparse categorical crossentropy on softmax outputs, Keras's clipping to [eps, 1 - eps]
        loss = -(one_hot * probabilities.clip(1e-7, 1.0 - 1e-7).log()).sum() / float(len(y))
        grads = nn.grad(loss, weights)
        if optimizer is not None:
            optimizer.apply([np.asarray(g) for g in grads], weights)
        else:
            for w, g in zip(weights, grads):
                w.assign(w.data - np.float32(0.01) * np.asarray(g))
        return loss
    note = "layers + nn.grad + " + ("numpy_nn.optimizers.Adam" if optimizer is not None else "manual SGD")
    return train_step, {"note": note + " (no Sequential.train_on_batch yet)"}


def _application_predict(workload):
    try:
        from numpy_nn.interop import from_keras
    except ImportError:
        raise NotAvailable("numpy_nn.interop.from_keras not yet available") from None
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    keras.utils.set_random_seed(0)
    p = workload.params
    keras_model = getattr(keras.applications, p["application"])(weights=None, input_shape=p["input_shape"][1:])
    model = from_keras(keras_model)
    x = _random(p["input_shape"])
    if hasattr(model, "predict"):
        return lambda: model.predict(x, batch_size=p["input_shape"][0], verbose=0)
    import numpy_nn as nn
    def predict():
        with nn.no_grad():
            return model(x, training=False)
    return predict


def _naive(workload, mode):
    import numpy_nn as nn

    from . import naive
    p = workload.params
    x = _random(p["input_shape"])
    if workload.family == "naive_conv2d":
        kernel = _random((p["kernel_size"], p["kernel_size"], p["input_shape"][-1], p["filters"]), seed=3)
        layer = layer_class("Conv2D")(p["filters"], p["kernel_size"], use_bias=False)
        reference = lambda: naive.conv2d(x, kernel)
    else:
        layer = layer_class("MaxPooling2D")(pool_size=p["pool_size"])
        reference = lambda: naive.max_pool2d(x, p["pool_size"])
    with nn.no_grad():
        layer(x)
    if workload.family == "naive_conv2d":
        layer.set_weights([kernel])

    def vectorized():
        with nn.no_grad():
            return layer(x)
    if mode == NAIVE:
        return reference
    difference = float(np.max(np.abs(np.asarray(vectorized()) - reference())))
    return vectorized, {"max_abs_diff_vs_naive": difference}


def build(workload, mode):
    """A zero-argument callable running ``workload`` in ``mode`` (maybe with a dict of extras)."""
    if workload.family in ("naive_conv2d", "naive_maxpool") and mode in (NAIVE, VECTORIZED):
        return _naive(workload, mode)
    if mode in (FORWARD, FORWARD_BACKWARD):
        return _layer_workload(workload, mode)
    if mode == TRAIN_STEP:
        return _small_cnn_train_step(workload)
    if mode == PREDICT:
        return _application_predict(workload)
    raise NotAvailable(f"mode {mode!r} is not implemented for numpy_nn")


def gemm_shape(workload):
    """(M, K, N) of the matrix product a conv/dense layer's forward pass reduces to, or None."""
    p = workload.params
    if workload.family == "conv2d":
        from .workloads import conv_output_size
        n, h, w, c = p["input_shape"]
        k, s = p["kernel_size"], p["strides"]
        oh, ow = conv_output_size(h, k, s, p["padding"]), conv_output_size(w, k, s, p["padding"])
        return n * oh * ow, k * k * c, p["filters"]
    if workload.family == "dense":
        batch, units_in = p["input_shape"]
        return batch, units_in, p["units"]
    return None


def gemm_gflops(m, k, n, warmup=1, repeats=5, min_sample_s=0.02):
    """NumPy's float32 ``A @ B`` speed for an (m, k) x (k, n) product, in GFLOP/s (2*m*k*n FLOPs)."""
    a, b = _random((m, k), seed=4), _random((k, n), seed=5)
    timing = measure(lambda: a @ b, warmup=warmup, repeats=repeats, min_sample_s=min_sample_s)
    return 2.0 * m * k * n / timing["median_s"] / 1e9, timing
