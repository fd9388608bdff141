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
