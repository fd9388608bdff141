"""Xception (Chollet, 2017), as ``keras.applications.Xception`` builds it.

Entry flow: two 3x3 convs (``block1_conv1`` /2, ``block1_conv2``), then blocks 2-4, each::

    residual = BN(conv1x1/2(x))                               unnamed Conv2D + BatchNormalization
    x = [ReLU ->] SeparableConv 3x3 -> BN -> ReLU -> SeparableConv 3x3 -> BN   (128, 256, 728 filters)
    x = MaxPooling2D(3x3/2, same)(x) + residual               ``blockN_pool``, an unnamed Add

middle flow: blocks 5-12, each ``x + 3 x (ReLU -> SeparableConv 728 -> BN)``; exit flow: block 13
(728 -> 1024 with a strided residual) and block 14 (SeparableConv 1536 and 2048, each -> BN -> ReLU).
Every convolution is bias-free. The unnamed layers get Keras's automatic names; weights load by
layer order, so only the order matters and it is Keras's. Preprocessing: tf mode. Input >= 71x71.
"""
from .. import layers
from . import imagenet_utils
from .weights import check_weights_argument, load_weights


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="xception"):
    """Keras's Xception: input (H, W, 3) >= 71x71 (299x299 by default). Output (N, classes) or features."""
    check_weights_argument(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=299, min_size=71,
                                                    require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        x = _strided_block(x, f"block{block}", filters, filters, first_activation=block != 2)
    for i in range(8):
        residual = x
        prefix = f"block{i + 5}"
        for index in (1, 2, 3):
            x = layers.Activation("relu", name=f"{prefix}_sepconv{index}_act")(x)
            x = _separable_bn(x, 728, f"{prefix}_sepconv{index}")
        x = layers.Add()([x, residual])
    x = _strided_block(x, "block13", 728, 1024, first_activation=True)
    x = _separable_bn(x, 1536, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _separable_bn(x, 2048, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = imagenet_utils.build_model(input_tensor, img_input, x, name)
    return load_weights(model, weights, "xception", include_top)


def _separable_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _strided_block(x, prefix, filters_1, filters_2, first_activation):
    """Two separable convs, a 3x3/2 max pooling and a strided 1x1 residual (blocks 2, 3, 4 and 13)."""
    residual = layers.Conv2D(filters_2, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=-1)(residual)
    if first_activation:
        x = layers.Activation("relu", name=f"{prefix}_sepconv1_act")(x)
    x = _separable_bn(x, filters_1, f"{prefix}_sepconv1")
    x = layers.Activation("relu", name=f"{prefix}_sepconv2_act")(x)
    x = _separable_bn(x, filters_2, f"{prefix}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"{prefix}_pool")(x)
    return layers.Add()([x, residual])


def preprocess_input(x, data_format=None):
    """tf mode: x / 127.5 - 1 (see imagenet_utils.preprocess_input)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The top ImageNet classes of each prediction row (see imagenet_utils.decode_predictions)."""
    return imagenet_utils.decode_predictions(preds, top=top)
