"""Write legacy Keras HDF5 files the way Keras 2 wrote them (h5py only), for the legacy-loader tests.

The layout (Keras 2.x ``saving/hdf5_format.py``, kept by Keras 3 in
``keras/src/legacy/saving/legacy_h5_format.py``)::

    weights-only file (model.save_weights("w.h5")):
        /  attrs: layer_names (bytes array, every layer of model.layers), backend, keras_version
        /<layer>  attrs: weight_names (bytes array; an empty float array when the layer has none)
        /<layer>/<weight name>   datasets, the weight name being a path ("conv/kernel:0")
    model file (model.save("m.h5")):
        /  attrs: keras_version, backend, model_config (JSON bytes), training_config (JSON bytes)
        /model_weights   the weights-only content above
        /optimizer_weights  attrs: weight_names; datasets

Weight names: Keras 2 (TF 2) writes ``<layer>/<variable>:0``; Keras 1 (Theano/TF 1 era, as in
Keras's original VGG16 ImageNet file) wrote ``<layer>_W_1:0``, ``<layer>_b_1:0``, ...
"""
import json

import numpy as np

KERAS1_SHORT_NAMES = {"kernel": "W", "bias": "b", "gamma": "gamma", "beta": "beta", "moving_mean": "running_mean",
                      "moving_variance": "running_std", "depthwise_kernel": "depthwise_W",
                      "pointwise_kernel": "pointwise_W", "mean": "mean", "variance": "variance", "count": "count"}


def _names_array(names):
    return np.array([n.encode("utf8") for n in names]) if names else np.array([])


def legacy_weights(layer):
    """A Keras layer's variables in the legacy h5 order: trainable, then non-trainable."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def weight_name(layer, variable, style):
    short = variable.path.split("/")[-1]
    if style == "keras1":
        return f"{layer.name}_{KERAS1_SHORT_NAMES.get(short, short)}_1:0"
    return f"{layer.name}/{short}:0"


def write_layer_groups(group, keras_model, style="keras2", keras_version="2.4.0"):
    """The weights-only content (``layer_names`` + one group per layer) of ``keras_model``, into ``group``."""
    group.attrs["layer_names"] = _names_array([layer.name for layer in keras_model.layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = keras_version.encode()
    for layer in keras_model.layers:
        layer_group = group.create_group(layer.name)
        variables = legacy_weights(layer)
        names = [weight_name(layer, v, style) for v in variables]
        layer_group.attrs["weight_names"] = _names_array(names)
        for name, variable in zip(names, variables):
            layer_group.create_dataset(name, data=np.asarray(variable))


def write_weights_file(path, keras_model, style="keras2", keras_version="2.4.0"):
    """``keras_model``'s weights as Keras 2 ``model.save_weights("w.h5")`` wrote them."""
    import h5py
    with h5py.File(path, "w") as h5file:
        write_layer_groups(h5file, keras_model, style, keras_version)
    return path


def write_model_file(path, model_config, layer_weights, training_config=None, optimizer_weights=None,
                     keras_version="2.4.0"):
    """A Keras 2 ``model.save("m.h5")`` file from a literal config and ``{layer: [(name, array)]}``.

    ``layer_weights`` lists every layer of the config in model.layers order (empty list for
    weightless layers), each with its weight names and values.
    """
    import h5py
    with h5py.File(path, "w") as h5file:
        h5file.attrs["keras_version"] = keras_version.encode()
        h5file.attrs["backend"] = b"tensorflow"
        h5file.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            h5file.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        group = h5file.create_group("model_weights")
        group.attrs["layer_names"] = _names_array(list(layer_weights))
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = keras_version.encode()
        for layer_name, weights in layer_weights.items():
            layer_group = group.create_group(layer_name)
            layer_group.attrs["weight_names"] = _names_array([name for name, _ in weights])
            for name, value in weights:
                layer_group.create_dataset(name, data=np.asarray(value))
        if optimizer_weights:
            optimizer_group = h5file.create_group("optimizer_weights")
            optimizer_group.attrs["weight_names"] = _names_array([name for name, _ in optimizer_weights])
            for name, value in optimizer_weights:
                optimizer_group.create_dataset(name, data=np.asarray(value))
    return path


# ---------------------------------------------------------------------------------------------
# Literal Keras 2 configs, as TF 2.4 (``Functional``) and Keras 2.2.4 (``Sequential``) wrote them
# ---------------------------------------------------------------------------------------------
def _initializer(class_name, **config):
    return {"class_name": class_name, "config": config}


def _kernel_arguments(initializer):
    return {"kernel_initializer": initializer, "bias_initializer": _initializer("Zeros"),
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}


def _tf24_layer(class_name, name, inbound, **config):
    return {"class_name": class_name, "config": {"name": name, "trainable": True, "dtype": "float32", **config},
            "name": name, "inbound_nodes": [[[source, 0, 0, {}] for source in inbound]]}


def keras24_convnet_config():
    """A small functional convnet (two branches and an Add) in TF 2.4's ``model_config`` form."""
    glorot = _initializer("GlorotUniform", seed=None)
    conv = dict(strides=[1, 1], data_format="channels_last", dilation_rate=[1, 1], groups=1, use_bias=True,
                **_kernel_arguments(glorot))
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8, 8, 3], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "image"},
         "name": "image", "inbound_nodes": []},
        _tf24_layer("Conv2D", "conv1", ["image"], filters=4, kernel_size=[3, 3], padding="same", activation="relu",
                    **conv),
        _tf24_layer("BatchNormalization", "bn1", ["conv1"], axis=[3], momentum=0.99, epsilon=0.001, center=True,
                    scale=True, beta_initializer=_initializer("Zeros"), gamma_initializer=_initializer("Ones"),
                    moving_mean_initializer=_initializer("Zeros"), moving_variance_initializer=_initializer("Ones"),
                    beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None),
        _tf24_layer("Conv2D", "skip", ["image"], filters=4, kernel_size=[1, 1], padding="valid", activation="linear",
                    **conv),
        _tf24_layer("Add", "add", ["bn1", "skip"]),
        _tf24_layer("MaxPooling2D", "pool", ["add"], pool_size=[2, 2], padding="valid", strides=[2, 2],
                    data_format="channels_last"),
        _tf24_layer("Flatten", "flatten", ["pool"], data_format="channels_last"),
        _tf24_layer("Dropout", "dropout", ["flatten"], rate=0.5, noise_shape=None, seed=None),
        _tf24_layer("Dense", "predictions", ["dropout"], units=3, activation="softmax", use_bias=True,
                    **_kernel_arguments(glorot)),
    ]
    return {"class_name": "Functional", "config": {"name": "small_convnet", "layers": layers,
                                                   "input_layers": [["image", 0, 0]],
                                                   "output_layers": [["predictions", 0, 0]]}}


KERAS24_TRAINING_CONFIG = {
    "loss": "categorical_crossentropy",
    "metrics": [[{"class_name": "MeanMetricWrapper",
                  "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
    "weighted_metrics": None, "loss_weights": None,
    "optimizer_config": {"class_name": "Adam", "config": {
        "name": "Adam", "learning_rate": 0.0005000000237487257, "decay": 0.0, "beta_1": 0.8999999761581421,
        "beta_2": 0.9990000128746033, "epsilon": 1e-07, "amsgrad": False}},
}


def keras24_convnet_weights(seed=0):
    """``{layer: [(weight name, array)]}`` for every layer of keras24_convnet_config, in model.layers order."""
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.normal(0, 0.5, shape).astype("float32")  # noqa: E731
    positive = lambda n: rng.uniform(0.5, 1.5, n).astype("float32")  # noqa: E731
    return {"image": [], "conv1": [("conv1/kernel:0", normal(3, 3, 3, 4)), ("conv1/bias:0", normal(4))],
            "bn1": [("bn1/gamma:0", positive(4)), ("bn1/beta:0", normal(4)), ("bn1/moving_mean:0", normal(4)),
                    ("bn1/moving_variance:0", positive(4))],
            "skip": [("skip/kernel:0", normal(1, 1, 3, 4)), ("skip/bias:0", normal(4))],
            "add": [], "pool": [], "flatten": [], "dropout": [],
            "predictions": [("predictions/kernel:0", normal(64, 3)), ("predictions/bias:0", normal(3))]}


KERAS24_OPTIMIZER_WEIGHTS = [("Adam/iter:0", np.int64(12)), ("Adam/conv1/kernel/m:0", np.zeros((3, 3, 3, 4), "f4"))]


def keras22_sequential_config():
    """A Keras 2.2.4 Sequential: no InputLayer, ``batch_input_shape`` on the first layer, VarianceScaling."""
    variance_scaling = _initializer("VarianceScaling", scale=1.0, mode="fan_avg", distribution="uniform", seed=None)

    def dense(name, units, activation, **extra):
        return {"class_name": "Dense", "config": {"name": name, "trainable": True, **extra, "units": units,
                                                  "activation": activation, "use_bias": True,
                                                  **_kernel_arguments(variance_scaling)}}
    return {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        dense("dense_1", 6, "relu", batch_input_shape=[None, 5], dtype="float32"),
        {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "rate": 0.25,
                                             "noise_shape": None, "seed": None}},
        {"class_name": "LeakyReLU", "config": {"name": "leaky_re_lu_1", "trainable": True, "alpha": 0.1}},
        dense("dense_2", 2, "softmax")]}}


KERAS22_TRAINING_CONFIG = {
    "optimizer_config": {"class_name": "SGD", "config": {"lr": 0.05000000074505806, "momentum": 0.8999999761581421,
                                                         "decay": 0.0, "nesterov": True}},
    "loss": "categorical_crossentropy", "metrics": ["acc"], "sample_weight_mode": None, "loss_weights": None,
}


def keras22_sequential_weights(seed=0):
    rng = np.random.default_rng(seed)
    return {"dense_1": [("dense_1/kernel:0", rng.normal(size=(5, 6)).astype("f4")),
                        ("dense_1/bias:0", rng.normal(size=6).astype("f4"))],
            "dropout_1": [], "leaky_re_lu_1": [],
            "dense_2": [("dense_2/kernel:0", rng.normal(size=(6, 2)).astype("f4")),
                        ("dense_2/bias:0", rng.normal(size=2).astype("f4"))]}
