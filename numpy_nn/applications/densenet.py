"""DenseNet121 (Huang et al., 2017), as ``keras.applications.DenseNet121`` builds it.

Stem: ZeroPadding2D(3) -> 7x7/2 conv (``conv1_conv``) -> BN -> ReLU -> ZeroPadding2D(1) -> 3x3/2
max pool (``pool1``). Four dense blocks (6, 12, 24, 16 conv blocks; ``conv2`` ... ``conv5``), each
conv block adding 32 channels::

    y = conv1x1(ReLU(BN(x)), 128)           ``_0_bn``, ``_0_relu``, ``_1_conv``  (no bias)
    y = conv3x3(ReLU(BN(y)), 32)            ``_1_bn``, ``_1_relu``, ``_2_conv``
    x = Concatenate([x, y])                 ``_concat``

with transitions between them (``pool2``-``pool4``: BN -> ReLU -> conv1x1 halving the channels ->
2x2 average pooling), then ``bn`` -> ``relu``. BatchNormalization epsilon 1.001e-5.
Preprocessing: torch mode (scaled to [0, 1], then normalized per channel).
"""
from .. import layers
from . import imagenet_utils
from .resnet import BN_EPSILON
from .weights import check_weights_argument, load_weights


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet121"):
    """Keras's DenseNet121: input (H, W, 3) >= 32x32. Output (N, classes) or the (N, H/32, W/32, 1024) features."""
    return build_densenet((6, 12, 24, 16), "densenet121", include_top, weights, input_tensor, input_shape, pooling,
                          classes, classifier_activation, name)


def build_densenet(blocks, family, include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name):
    """Keras's ``DenseNet(blocks, ...)``."""
    check_weights_argument(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                                    require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        x = dense_block(x, count, name=f"conv{stage}")
        if stage < 5:
            x = transition_block(x, 0.5, name=f"pool{stage}")
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = imagenet_utils.build_model(input_tensor, img_input, x, name)
    return load_weights(model, weights, family, include_top)


def dense_block(x, blocks, name):
    """``blocks`` conv blocks, each concatenating 32 new channels."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    """BN -> ReLU -> 1x1 conv to ``reduction`` x the channels -> 2x2 average pooling."""
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x, growth_rate, name):
    """One bottleneck (BN-ReLU-1x1, BN-ReLU-3x3) whose ``growth_rate`` channels are concatenated to ``x``."""
    x1 = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def preprocess_input(x, data_format=None):
    """torch mode: x / 255, minus the ImageNet mean, over the ImageNet std (see imagenet_utils)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top=5):
    """The top ImageNet classes of each prediction row (see imagenet_utils.decode_predictions)."""
    return imagenet_utils.decode_predictions(preds, top=top)
