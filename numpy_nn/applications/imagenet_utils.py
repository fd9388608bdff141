"""ImageNet helpers shared by the application families (Keras's ``keras.applications.imagenet_utils``).

    preprocess_input(x, data_format=None, mode="caffe")   the three input conventions, exactly:
        caffe  RGB -> BGR, then subtract the ImageNet mean pixel (103.939, 116.779, 123.68) (B, G, R)
        tf     x / 127.5 - 1                           (pixels in [-1, 1])
        torch  (x / 255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)   per RGB channel
    decode_predictions(preds, top=5)   [(wordnet id, class name, score), ...] per sample, best first

``x`` holds pixels in [0, 255], shape (..., H, W, 3) (channels_last) or (..., 3, H, W)
(channels_first), 3-D or 4-D. An integer array becomes float32; a float array keeps its dtype
and the arithmetic is done in that dtype, in Keras's order, so the results are bit-identical to
Keras's NumPy path. One deliberate difference: Keras overwrites a float input array in place (its
docs warn about it); numpy_nn always returns a new array and leaves ``x`` untouched. An
``nn.Tensor`` goes through Tensor arithmetic (the channel flip is a product with a permutation
matrix), so gradients flow back to raw pixels.

The class index (``imagenet_class_index.json``, 1000 entries) is downloaded once from the URL
Keras uses, checked against Keras's MD5 hash, and cached with the weight files (see
``numpy_nn/applications/weights.py`` and docs/pretrained.md).
"""
import json
import warnings

import numpy as np

from . import weights as weights_module

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # MD5, as in Keras
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB, TORCH_STD_RGB = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def preprocess_input(x, data_format=None, mode="caffe"):
    """Scale a batch of RGB images in [0, 255] the way an ImageNet model expects (see module docstring).

    ``x``: array (or ``nn.Tensor``) of shape (N, H, W, 3) / (H, W, 3), or channels_first with
    ``data_format="channels_first"``. Returns a new array of the same shape (float32 for integer
    input, else ``x``'s dtype).
    """
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    if data_format is None:
        data_format = "channels_last"
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError("Expected data_format to be one of `channels_first` or `channels_last`. "
                         f"Received: data_format={data_format}")
    from ..autograd import Tensor
    if isinstance(x, Tensor):
        return _preprocess_tensor(x, data_format, mode)
    return _preprocess_array(np.array(x, copy=True), data_format, mode)


def _channel_axis(x, data_format):
    if data_format == "channels_last":
        return x.ndim - 1
    return 0 if x.ndim == 3 else 1


def _per_channel(values, x, axis):
    """``values`` (3,) shaped to broadcast along ``axis`` of ``x``, in ``x``'s dtype."""
    shape = [1] * x.ndim
    shape[axis] = 3
    return np.asarray(values, dtype=x.dtype).reshape(shape)


def _preprocess_array(x, data_format, mode):
    if not np.issubdtype(x.dtype, np.floating):
        from ..config import floatx
        x = x.astype(floatx())
    if mode == "tf":  # any shape: Keras scales every value
        return x / x.dtype.type(127.5) - x.dtype.type(1.0)
    if x.ndim not in (3, 4) or x.shape[_channel_axis(x, data_format)] != 3:
        raise ValueError(f"preprocess_input(mode={mode!r}) expects 3-D or 4-D images with 3 channels "
                         f"({data_format}); received an array of shape {x.shape}")
    axis = _channel_axis(x, data_format)
    if mode == "torch":
        x = x / x.dtype.type(255.0)
        return (x - _per_channel(TORCH_MEAN_RGB, x, axis)) / _per_channel(TORCH_STD_RGB, x, axis)
    x = np.flip(x, axis=axis)  # RGB -> BGR
    return x - _per_channel(CAFFE_MEAN_BGR, x, axis)


def _preprocess_tensor(x, data_format, mode):
    dtype = x.dtype
    if data_format != "channels_last":
        raise ValueError("preprocess_input on an nn.Tensor supports channels_last only")
    if mode == "tf":
        return x / np.asarray(127.5, dtype) - np.asarray(1.0, dtype)
    if x.shape[-1] != 3:
        raise ValueError(f"preprocess_input expects images with 3 channels; received a tensor of shape {x.shape}")
    if mode == "torch":
        x = x / np.asarray(255.0, dtype)
        return (x - np.asarray(TORCH_MEAN_RGB, dtype)) / np.asarray(TORCH_STD_RGB, dtype)
    flip = np.eye(3, dtype=dtype)[::-1].copy()  # x @ flip reverses the channel order
    return x @ flip - np.asarray(CAFFE_MEAN_BGR, dtype)


def decode_predictions(preds, top=5):
    """The ``top`` classes of each row of ``preds`` (N, 1000): a list of [(wnid, name, score), ...].

    Downloads and caches ``imagenet_class_index.json`` on first use (see the module docstring).
    """
    global CLASS_INDEX
    preds = np.asarray(preds)
    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
                         f"(samples, 1000)). Received array with shape: {preds.shape}")
    if CLASS_INDEX is None:
        path = weights_module.get_file("imagenet_class_index.json", CLASS_INDEX_PATH, file_hash=CLASS_INDEX_HASH,
                                       what="the ImageNet class index")
        with open(path, encoding="utf-8") as stream:
            CLASS_INDEX = json.load(stream)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


# ---------------------------------------------------------------------------------------------
# Shared by the builders (Keras's obtain_input_shape, correct_pad, validate_activation)
# ---------------------------------------------------------------------------------------------
def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights=None):
    """The (H, W, C) input shape of an application, checked as Keras checks it (channels_last)."""
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        if input_shape[-1] not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an "
                          f"input_shape with {input_shape[-1]} input channels.", stacklevel=3)
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(f"When setting `include_top=True` and loading `imagenet` weights, `input_shape` "
                             f"should be {default_shape}.  Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if (input_shape[0] is not None and input_shape[0] < min_size) or \
                (input_shape[1] is not None and input_shape[1] < min_size):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(f"If `include_top` is True, you should specify a static `input_shape`. Received: "
                         f"input_shape={input_shape}")
    return tuple(input_shape)


def correct_pad(tensor, kernel_size):
    """Zero padding ``((top, bottom), (left, right))`` before a stride-2 'valid' convolution (TF 'same')."""
    size = tensor.shape[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained weights allow only ``None`` or ``"softmax"`` on the top layer (Keras's rule)."""
    if weights is None:
        return
    if classifier_activation not in (None, "softmax", "linear"):
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` "
                         "argument when using pretrained weights, with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def image_input(input_tensor, input_shape):
    """The input tensor a builder starts from: ``input_tensor`` itself, or a new ``Input(input_shape)``."""
    from ..models import Input
    if input_tensor is None:
        return Input(shape=input_shape)
    if not getattr(input_tensor, "_is_symbolic", False):
        raise TypeError("`input_tensor` must be a symbolic tensor (the output of nn.Input or of a layer called on "
                        f"one); received {type(input_tensor).__name__}")
    return input_tensor


def source_inputs(tensor):
    """The ``nn.Input`` tensors ``tensor`` is computed from (Keras's ``get_source_inputs``)."""
    found, seen, stack = [], set(), [tensor]
    while stack:
        current = stack.pop()
        layer, node_index, _ = current._keras_history
        node = layer._inbound_nodes[node_index]
        if node.is_input:
            if id(current) not in seen:
                seen.add(id(current))
                found.append(current)
            continue
        stack.extend(reversed(list(node.input_tensors)))
    return found


def build_model(input_tensor, img_input, outputs, name):
    """``Model(inputs, outputs, name)`` whose inputs are ``img_input`` or the sources of ``input_tensor``."""
    from ..models import Model
    inputs = img_input if input_tensor is None else source_inputs(input_tensor)
    return Model(inputs, outputs, name=name)
