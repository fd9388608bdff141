"""VGG16 (Simonyan & Zisserman, 2015), built as ``keras.applications.VGG16`` builds it.

Five blocks of 3x3 'same' ReLU convolutions (64, 128, 256, 512, 512 filters; 2, 2, 3, 3, 3 of
them), each closed by a 2x2 max pooling; on top, Flatten -> fc1 (4096, ReLU) -> fc2 (4096, ReLU)
-> predictions. Layer names are Keras's (``block1_conv1`` ... ``block5_pool``, ``flatten``,
``fc1``, ``fc2``, ``predictions``), so Grad-CAM recipes written for Keras (last conv layer
``block5_conv3``) work unchanged. Inputs: RGB in [0, 255] through :func:`preprocess_input`
(caffe mode: BGR, mean-centred).
"""
from .. import layers
from . import imagenet_utils
from .weights import check_weights_argument, load_weights



def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """Keras's VGG16: ``weights`` None (random), ``"imagenet"`` (download) or a weights file path.

    ``input_shape`` (H, W, 3), at least 32x32 (224x224 with the ImageNet top); ``pooling`` None,
    "avg" or "max" without the top. Output: (N, classes), or the (N, H/32, W/32, 512) feature map.
    """
    return build_vgg((2, 2, 3, 3, 3), "vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def build_vgg(convs_per_block, family, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name):
    """The VGG stack shared by VGG16 and VGG19 (``convs_per_block`` differs)."""
    check_weights_argument(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, count) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), start=1):
        for index in range(1, count + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{index}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = imagenet_utils.build_model(input_tensor, img_input, x, name)
    return load_weights(model, weights, family, include_top)


def preprocess_input(x, data_format=None):
    """Caffe mode: RGB -> BGR, minus the ImageNet mean pixel (see imagenet_utils.preprocess_input)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The top ImageNet classes of each prediction row (see imagenet_utils.decode_predictions)."""
    return imagenet_utils.decode_predictions(preds, top=top)
