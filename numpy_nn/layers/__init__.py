"""Keras-style layers, one file per family (mirroring numpy_nn/ops).

Every layer has Keras's name, arguments, defaults, weight names, order and shapes, so
``ours.set_weights(keras_layer.get_weights())`` copies a Keras layer exactly.
"""
from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer, clear_session
from .conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from .core import Activation, Dense, Embedding, Identity
from .dropout import Dropout, GaussianNoise, SpatialDropout2D
from .input_layer import InputLayer
from .masking import Masking
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from .preprocessing import Normalization, Rescaling
from .recurrent import GRU, LSTM, RNN, SimpleRNN
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, Reshape, UpSampling1D, UpSampling2D, ZeroPadding1D,
                        ZeroPadding2D)
from .rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .wrappers import Bidirectional, TimeDistributed

Convolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D

__all__ = [
    "Layer", "InputLayer", "clear_session",
    "Dense", "Activation", "Identity", "Embedding",
    "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
    "Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D",
    "BatchNormalization", "LayerNormalization", "Dropout", "SpatialDropout2D", "GaussianNoise",
    "Rescaling", "Normalization",
    "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D",
    "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D",
    "MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D",
    "GlobalMaxPooling1D", "GlobalMaxPool1D",
    "Flatten", "Reshape", "Permute", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
    "ZeroPadding1D", "Cropping1D", "UpSampling1D",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "Masking", "RNN", "SimpleRNN", "LSTM", "GRU", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "Bidirectional", "TimeDistributed",
]
