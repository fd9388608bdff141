"""VGG19: VGG16 with four convolutions in blocks 3, 4 and 5 (``block3_conv4`` ... ``block5_conv4``).

Built as ``keras.applications.VGG19`` builds it (see vgg16.py for the shared stack); caffe-mode
preprocessing.
"""
from . import imagenet_utils
from .vgg16 import build_vgg


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """Keras's VGG19 (same arguments and shapes as :func:`numpy_nn.applications.VGG16`)."""
    return build_vgg((2, 2, 4, 4, 4), "vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Caffe mode: RGB -> BGR, minus the ImageNet mean pixel (see imagenet_utils.preprocess_input)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The top ImageNet classes of each prediction row (see imagenet_utils.decode_predictions)."""
    return imagenet_utils.decode_predictions(preds, top=top)
