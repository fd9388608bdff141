"""Four kinds of convolution side by side: 3x3, 1x1, depthwise and depthwise-separable.

For an input of H x W pixels with C_in channels, C_out output channels, a k x k kernel,
depth multiplier dm and "same" padding (so the output is H x W too):

    layer                      parameters                              multiply-adds per example
    Conv2D k x k               k^2 C_in C_out + C_out                  H W k^2 C_in C_out
    Conv2D 1 x 1               C_in C_out + C_out                      H W C_in C_out
    DepthwiseConv2D k x k      k^2 C_in dm + C_in dm                   H W k^2 C_in dm
    SeparableConv2D k x k      k^2 C_in dm + C_in dm C_out + C_out     H W (k^2 C_in dm + C_in dm C_out)
    1x1 to b, then k x k       C_in b + b + k^2 b C_out + C_out        H W (C_in b + k^2 b C_out)

(FLOPs = 2 x multiply-adds; bias additions are left out.) A 1x1 convolution is a Dense layer
applied at every pixel: it mixes channels and never looks at neighbours. A depthwise convolution
is the opposite: each channel is filtered alone, nothing is mixed. SeparableConv2D is exactly
one then the other (no bias or activation in between), so it costs a fraction

    separable / full = 1 / C_out + 1 / k^2          (dm = 1)

of a full convolution. The script prints the table (checked against ``count_params()``), checks
numerically that SeparableConv2D == DepthwiseConv2D followed by a 1x1 Conv2D with the same
weights, that a 1x1 Conv2D == a per-pixel matrix product, and times each layer with numpy_nn
(timings are informational: they depend on the machine and on how well each shape maps to GEMM).

Run:  python examples/conv_types.py [--quick]
"""
import argparse
import time

import numpy as np

from numpy_nn.autograd import Tensor
from numpy_nn.config import set_random_seed
from numpy_nn.layers.conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from numpy_nn.models import Input, Sequential


def formulas(height, width, channels_in, channels_out, kernel=3, depth_multiplier=1, bottleneck=16):
    """name -> (parameters, multiply-adds per example), from the table in the module docstring."""
    k2, hw, dm, b = kernel * kernel, height * width, depth_multiplier, bottleneck
    return {
        f"Conv2D {kernel}x{kernel}": (k2 * channels_in * channels_out + channels_out,
                                      hw * k2 * channels_in * channels_out),
        "Conv2D 1x1": (channels_in * channels_out + channels_out, hw * channels_in * channels_out),
        f"DepthwiseConv2D {kernel}x{kernel}": (k2 * channels_in * dm + channels_in * dm, hw * k2 * channels_in * dm),
        f"SeparableConv2D {kernel}x{kernel}": (k2 * channels_in * dm + channels_in * dm * channels_out + channels_out,
                                               hw * (k2 * channels_in * dm + channels_in * dm * channels_out)),
        f"1x1 to {b}, then {kernel}x{kernel}": (channels_in * b + b + k2 * b * channels_out + channels_out,
                                                hw * (channels_in * b + k2 * b * channels_out)),
    }


def build_layers(channels_out, kernel=3, depth_multiplier=1, bottleneck=16):
    """The same names as ``formulas``, each a fresh layer (or a two-layer Sequential)."""
    return {
        f"Conv2D {kernel}x{kernel}": Conv2D(channels_out, kernel, padding="same"),
        "Conv2D 1x1": Conv2D(channels_out, 1),
        f"DepthwiseConv2D {kernel}x{kernel}": DepthwiseConv2D(kernel, padding="same",
                                                              depth_multiplier=depth_multiplier),
        f"SeparableConv2D {kernel}x{kernel}": SeparableConv2D(channels_out, kernel, padding="same",
                                                              depth_multiplier=depth_multiplier),
        f"1x1 to {bottleneck}, then {kernel}x{kernel}": Sequential([Conv2D(bottleneck, 1),
                                                                    Conv2D(channels_out, kernel, padding="same")]),
    }


def time_layer(layer, x, repeats):
    """Best-of-``repeats`` seconds for a forward pass and for forward + backward (w.r.t. x and weights)."""
    forward, both = [], []
    for _ in range(repeats):
        inputs = Tensor(x, requires_grad=True)
        start = time.perf_counter()
        outputs = layer(inputs)
        forward.append(time.perf_counter() - start)
        outputs.sum().backward()
        both.append(time.perf_counter() - start)
    return min(forward), min(both)


def separable_equivalence(x, channels_out, kernel=3, strides=1, padding="same", depth_multiplier=1, seed=0):
    """max |SeparableConv2D(x) - Conv2D_1x1(DepthwiseConv2D(x))| with the separable layer's weights copied."""
    rng = np.random.default_rng(seed)
    separable = SeparableConv2D(channels_out, kernel, strides=strides, padding=padding,
                                depth_multiplier=depth_multiplier)
    separable(x)  # build
    depthwise_kernel, pointwise_kernel, bias = separable.get_weights()
    bias = rng.standard_normal(bias.shape).astype("float32")  # a non-zero bias, so it is checked too
    separable.set_weights([depthwise_kernel, pointwise_kernel, bias])
    depthwise = DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                                use_bias=False)
    pointwise = Conv2D(channels_out, 1)
    two_steps = Sequential([Input(x.shape[1:]), depthwise, pointwise])
    depthwise.set_weights([depthwise_kernel])
    pointwise.set_weights([pointwise_kernel, bias])
    expected = separable(x).numpy()
    return float(np.abs(two_steps(x).numpy() - expected).max()), float(np.abs(expected).max())


def pointwise_is_dense(x, channels_out):
    """max |Conv2D 1x1 (x) - (x @ kernel[0, 0] + bias)| : a 1x1 convolution is a per-pixel Dense layer."""
    layer = Conv2D(channels_out, 1, bias_initializer="random_normal")
    outputs = layer(x).numpy()
    kernel, bias = layer.get_weights()
    return float(np.abs(outputs - (x @ kernel[0, 0] + bias)).max())


def main(quick=False, batch=8, size=32, channels_in=32, channels_out=64, kernel=3):
    set_random_seed(0)
    if quick:
        batch, size = 2, 16
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, channels_in)).astype("float32")
    expected = formulas(size, size, channels_in, channels_out, kernel)
    rows = {}
    print(f"input {x.shape[1:]} -> {channels_out} channels, kernel {kernel}x{kernel}, 'same' padding, "
          f"batch {batch}")
    print(f"{'layer':26s} {'params':>8s} {'count_params()':>14s} {'MFLOPs/example':>15s} {'vs 3x3':>7s} "
          f"{'forward ms':>10s} {'fwd+bwd ms':>10s}")
    full_flops = 2 * expected[f"Conv2D {kernel}x{kernel}"][1]
    for name, layer in build_layers(channels_out, kernel).items():
        params, multiply_adds = expected[name]
        forward, both = time_layer(layer, x, repeats=2 if quick else 5)
        flops = 2 * multiply_adds
        rows[name] = {"params": params, "count_params": layer.count_params(), "flops": flops,
                      "flops_ratio": flops / full_flops, "forward_seconds": forward, "forward_backward_seconds": both}
        print(f"{name:26s} {params:8,d} {layer.count_params():14,d} {flops / 1e6:15.2f} {flops / full_flops:7.3f} "
              f"{forward * 1e3:10.2f} {both * 1e3:10.2f}")
    print(f"separable / full FLOPs = 1/C_out + 1/k^2 = {1 / channels_out + 1 / kernel ** 2:.4f}")

    checks = {}
    for label, kwargs in (("stride 1, same, dm 1", {}),
                          ("stride 2, valid, dm 2", {"strides": 2, "padding": "valid", "depth_multiplier": 2})):
        max_abs, scale = separable_equivalence(x, channels_out, kernel, **kwargs)
        checks[label] = max_abs
        print(f"SeparableConv2D vs DepthwiseConv2D -> Conv2D 1x1 ({label}): max abs diff {max_abs:.2e} "
              f"(outputs up to {scale:.1f})")
    checks["1x1 conv vs per-pixel matmul"] = pointwise_is_dense(x, channels_out)
    print(f"Conv2D 1x1 vs x @ kernel[0, 0] + bias: max abs diff {checks['1x1 conv vs per-pixel matmul']:.2e}")
    return {"layers": rows, "checks": checks, "shape": {"batch": batch, "size": size, "channels_in": channels_in,
                                                        "channels_out": channels_out, "kernel": kernel}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
