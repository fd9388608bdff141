"""ResNet50V2 (He et al., 2016: identity mappings, pre-activation), as ``keras.applications`` builds it.

The stem of resnet.py without its BN/ReLU (``preact``), stacks of pre-activation blocks, then
``post_bn`` -> ``post_relu``. A v2 block::

    p = ReLU(BN(x))                                ``_preact_bn``, ``_preact_relu``
    shortcut = conv1x1(p, 4f)                      first block of a stack (``_0_conv``)
             = MaxPooling2D(1, stride)(x)          the last block of a stack with stride 2
             = x                                   otherwise
    y = ReLU(BN(conv1x1(p, f, no bias)))           ``_1_conv``
    y = ReLU(BN(conv3x3/stride(pad1(y), f, no bias)))   ``_2_pad``, ``_2_conv``
    out = shortcut + conv1x1(y, 4f)                ``_3_conv``, ``_out``

Unlike v1, the stride of a stack sits on its last block. Preprocessing: tf mode ([-1, 1]).
"""
from .. import layers
from . import imagenet_utils
from .resnet import BN_EPSILON, build_resnet


def residual_block_v2(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
    """One pre-activation bottleneck block (see the module docstring)."""
    preact = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(x, filters, blocks, stride1=2, name=None):
    """``blocks`` v2 blocks; the first projects the shortcut, the last carries the stride."""
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """Keras's ResNet50V2: ``weights`` None, ``"imagenet"`` or a path; input (H, W, 3) >= 32x32.

    Output: (N, classes), or the (N, H/32, W/32, 2048) feature map (``pooling`` None/"avg"/"max").
    """
    def stack_fn(x):
        x = stack_residual_blocks_v2(x, 64, 3, name="conv2")
        x = stack_residual_blocks_v2(x, 128, 4, name="conv3")
        x = stack_residual_blocks_v2(x, 256, 6, name="conv4")
        return stack_residual_blocks_v2(x, 512, 3, stride1=1, name="conv5")
    return build_resnet(stack_fn, True, True, "resnet50v2", include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name)


def preprocess_input(x, data_format=None):
    """tf mode: x / 127.5 - 1 (see imagenet_utils.preprocess_input)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The top ImageNet classes of each prediction row (see imagenet_utils.decode_predictions)."""
    return imagenet_utils.decode_predictions(preds, top=top)
