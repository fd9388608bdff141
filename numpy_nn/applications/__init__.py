"""Keras's ImageNet classifiers, built natively, with Keras's published weights (``nn.applications``).

    model = nn.applications.VGG16(weights="imagenet")            # downloads Keras's file once
    model = nn.applications.ResNet50(weights="resnet50.h5", include_top=False, pooling="avg")
    x = nn.applications.vgg16.preprocess_input(images)            # RGB in [0, 255] -> caffe mode
    nn.applications.vgg16.decode_predictions(model.predict(x), top=3)

Families (one module each, named as in ``keras.applications``): VGG16, VGG19, ResNet50
(``resnet`` / ``resnet50``), ResNet50V2 (``resnet_v2``), MobileNet, MobileNetV2 (``mobilenet_v2``),
Xception, InceptionV3 (``inception_v3``), DenseNet121 (``densenet``), EfficientNetB0
(``efficientnet``). Every builder takes Keras's arguments (``include_top``, ``weights`` = None,
"imagenet" or a file path, ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
``classifier_activation``, ``name``) and builds the same layers, with the same names, in the same
order, so a weights file written by Keras (legacy ``.h5``, ``.weights.h5``, ``.keras``) loads
unchanged. Downloads go to ``$NUMPY_NN_HOME/models`` (default ``~/.numpy_nn/models``); see
``weights.py`` and docs/pretrained.md.
"""
from . import (densenet, efficientnet, imagenet_utils, inception_v3, mobilenet, mobilenet_v2, resnet, resnet_v2,
               vgg16, vgg19, weights, xception)
from .densenet import DenseNet121
from .efficientnet import EfficientNetB0
from .inception_v3 import InceptionV3
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .resnet import ResNet50
from .resnet_v2 import ResNet50V2
from .vgg16 import VGG16
from .vgg19 import VGG19
from .xception import Xception

resnet50 = resnet  # keras.applications.resnet50 is the same module as keras.applications.resnet

__all__ = ["VGG16", "VGG19", "ResNet50", "ResNet50V2", "MobileNet", "MobileNetV2", "Xception", "InceptionV3",
           "DenseNet121", "EfficientNetB0", "vgg16", "vgg19", "resnet", "resnet50", "resnet_v2", "mobilenet",
           "mobilenet_v2", "xception", "inception_v3", "densenet", "efficientnet", "imagenet_utils", "weights"]
