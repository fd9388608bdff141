"""Two classic building blocks with the functional API: an Inception module and a residual block.

Inception module (GoogLeNet): four branches look at the same input at different scales and their
outputs are stacked along the channel axis,

    y = Concatenate([ conv1x1(x),  conv3x3(conv1x1(x)),  conv5x5(conv1x1(x)),  conv1x1(maxpool3x3(x)) ])

so C_out = f_1x1 + f_3x3 + f_5x5 + f_pool. The 1x1 "reduce" convolutions shrink the channels
before the expensive 3x3 / 5x5 ones: a k x k convolution costs k^2 C_in C_out + C_out
parameters, and C_in is what the reduction makes small. (Two stacked 3x3 convolutions see as far
as one 5x5 with 18 instead of 25 weights per channel pair: the Inception-v2 trick.)

Residual block (ResNet): the block learns a correction F(x) added to its input,

    y = relu( BN(conv3x3(relu(BN(conv3x3(x))))) + shortcut(x) )
    shortcut(x) = x                        when the shapes already agree,
                = BN(conv1x1, stride s)(x) (a "projection") when the block changes the channel
                                           count or the resolution.

The identity path lets the gradient reach early layers unchanged: dy/dx = dF/dx + 1 (before the ReLU).

The script builds a small Inception network and a small ResNet for the 8x8 digits, prints their
``summary()``, checks the parameter counts against the formulas, trains both briefly and prints the
test accuracy. BatchNormalization uses momentum 0.9 (Keras's default is 0.99) so that its moving
averages settle within the few hundred steps of this short run (see examples/batch_normalization.py).

Run:  python examples/inception_residual.py [--quick]
"""
import argparse

from numpy_nn import optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.datasets import load_digits, split
from numpy_nn.layers.activation import ReLU
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Add, Concatenate
from numpy_nn.layers.normalization import BatchNormalization
from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
from numpy_nn.layers.reshaping import Flatten
from numpy_nn.models import Input, Model


def conv_params(kernel, channels_in, channels_out, use_bias=True):
    return kernel * kernel * channels_in * channels_out + (channels_out if use_bias else 0)


def inception_module(x, f_1x1, f_3x3_reduce, f_3x3, f_5x5_reduce, f_5x5, f_pool, name):
    """The four-branch module; every convolution is followed by a ReLU, "same" padding keeps H x W."""
    branch_1x1 = Conv2D(f_1x1, 1, activation="relu", name=f"{name}_1x1")(x)
    branch_3x3 = Conv2D(f_3x3_reduce, 1, activation="relu", name=f"{name}_3x3_reduce")(x)
    branch_3x3 = Conv2D(f_3x3, 3, padding="same", activation="relu", name=f"{name}_3x3")(branch_3x3)
    branch_5x5 = Conv2D(f_5x5_reduce, 1, activation="relu", name=f"{name}_5x5_reduce")(x)
    branch_5x5 = Conv2D(f_5x5, 5, padding="same", activation="relu", name=f"{name}_5x5")(branch_5x5)
    branch_pool = MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = Conv2D(f_pool, 1, activation="relu", name=f"{name}_pool_proj")(branch_pool)
    return Concatenate(name=f"{name}_concat")([branch_1x1, branch_3x3, branch_5x5, branch_pool])


def inception_module_params(channels_in, f_1x1, f_3x3_reduce, f_3x3, f_5x5_reduce, f_5x5, f_pool):
    return (conv_params(1, channels_in, f_1x1)
            + conv_params(1, channels_in, f_3x3_reduce) + conv_params(3, f_3x3_reduce, f_3x3)
            + conv_params(1, channels_in, f_5x5_reduce) + conv_params(5, f_5x5_reduce, f_5x5)
            + conv_params(1, channels_in, f_pool))


def residual_block(x, filters, strides=1, name="block", momentum=0.9):
    """Conv-BN-ReLU-Conv-BN + shortcut, then ReLU; a 1x1 projection shortcut when the shape changes."""
    h = Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    h = BatchNormalization(momentum=momentum, name=f"{name}_bn1")(h)
    h = ReLU(name=f"{name}_relu1")(h)
    h = Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(h)
    h = BatchNormalization(momentum=momentum, name=f"{name}_bn2")(h)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_projection")(x)
        shortcut = BatchNormalization(momentum=momentum, name=f"{name}_projection_bn")(shortcut)
    h = Add(name=f"{name}_add")([h, shortcut])
    return ReLU(name=f"{name}_out")(h)


def residual_block_params(channels_in, filters):
    """Two bias-free 3x3 convolutions, 4 BN weights per channel (gamma, beta, moving mean and variance),
    plus the projection (1x1 conv + BN) when the channel count changes (a stride alone needs it too)."""
    params = conv_params(3, channels_in, filters, False) + conv_params(3, filters, filters, False) + 2 * 4 * filters
    if channels_in != filters:
        params += conv_params(1, channels_in, filters, False) + 4 * filters
    return params


INCEPTION = dict(f_1x1=8, f_3x3_reduce=8, f_3x3=12, f_5x5_reduce=4, f_5x5=6, f_pool=6)


def build_inception_net(n_classes=10):
    inputs = Input((8, 8, 1), name="image")
    h = Conv2D(16, 3, padding="same", activation="relu", name="stem")(inputs)
    h = inception_module(h, name="inception1", **INCEPTION)
    h = MaxPooling2D(2, name="pool")(h)
    # Flatten keeps *where* each feature fired, which matters on 8x8 digits; with global average
    # pooling instead (GoogLeNet's head) this net, without BatchNormalization, barely moves in a few epochs.
    h = Flatten(name="flatten")(h)
    outputs = Dense(n_classes, activation="softmax", name="classes")(h)
    return Model(inputs, outputs, name="mini_inception")


def build_resnet(n_classes=10):
    inputs = Input((8, 8, 1), name="image")
    h = Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    h = BatchNormalization(momentum=0.9, name="stem_bn")(h)
    h = ReLU(name="stem_relu")(h)
    h = residual_block(h, 16, name="block1")             # identity shortcut
    h = residual_block(h, 32, strides=2, name="block2")  # projection shortcut: 16 -> 32 channels, 8x8 -> 4x4
    h = GlobalAveragePooling2D(name="gap")(h)
    outputs = Dense(n_classes, activation="softmax", name="classes")(h)
    return Model(inputs, outputs, name="mini_resnet")


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def main(quick=False):
    x, y = load_digits(as_images=True)
    (x_train, y_train), (x_test, y_test) = split(x, y, fractions=(0.8, 0.2), seed=0)
    if quick:
        x_train, y_train = x_train[:400], y_train[:400]
    epochs = 3 if quick else 10
    results = {}
    for build in (build_inception_net, build_resnet):
        set_random_seed(0)
        model = build()
        summary = summary_text(model)
        print(summary, end="")
        model.compile(optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
        loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
        print(f"{model.name}: {model.count_params():,} parameters, train loss {history.history['loss'][0]:.3g} -> "
              f"{history.history['loss'][-1]:.3g} in {epochs} epochs, test accuracy {accuracy:.3f}\n")
        results[model.name] = {"model": model, "summary": summary, "params": model.count_params(),
                               "history": history.history, "test_loss": loss, "test_accuracy": accuracy}

    inception = results["mini_inception"]["model"]
    module_layers = [layer for layer in inception.layers if layer.name.startswith("inception1_")]
    module = {"params": sum(layer.count_params() for layer in module_layers),
              "formula": inception_module_params(16, **INCEPTION),
              "output_channels": inception.get_layer("inception1_concat").output.shape[-1],
              "expected_channels": INCEPTION["f_1x1"] + INCEPTION["f_3x3"] + INCEPTION["f_5x5"] + INCEPTION["f_pool"],
              "as_full_convs": conv_params(5, 16, 32)}
    print(f"inception1: {module['params']:,} parameters (formula {module['formula']:,}), "
          f"{module['output_channels']} output channels = 8 + 12 + 6 + 6; one 5x5 conv 16 -> 32 would need "
          f"{module['as_full_convs']:,}")
    resnet = results["mini_resnet"]["model"]
    blocks = {}
    for name, channels_in, filters in (("block1", 16, 16), ("block2", 16, 32)):
        block_layers = [layer for layer in resnet.layers if layer.name.startswith(f"{name}_")]
        blocks[name] = {"params": sum(layer.count_params() for layer in block_layers),
                        "formula": residual_block_params(channels_in, filters),
                        "has_projection": any(layer.name == f"{name}_projection" for layer in block_layers)}
        print(f"{name}: {blocks[name]['params']:,} parameters (formula {blocks[name]['formula']:,}), "
              f"projection shortcut: {blocks[name]['has_projection']}")
    for result in results.values():
        del result["model"]
    return {**results, "inception_module": module, "residual_blocks": blocks}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
