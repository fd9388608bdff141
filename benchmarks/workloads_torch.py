"""PyTorch's side of every workload: CPU, eager, float32, channels_last memory format, 2 threads.

Tensors are created in PyTorch's logical (N, C, H, W) layout and stored channels_last
(``memory_format=torch.channels_last``), i.e. the same bytes as numpy_nn's (N, H, W, C) arrays.
Forward runs under ``torch.no_grad()``; forward+backward calls
``torch.autograd.grad((out * g).sum(), [x] + parameters)``, as numpy_nn does with ``nn.grad``.

Differences from Keras that do not change the cost: "same" padding is written as symmetric
``padding=k // 2`` (Keras puts the odd pixel of a stride-2 "same" conv bottom/right; PyTorch
cannot express that in the layer, the output shape and FLOPs are identical). The small CNN ends
in logits and uses ``F.cross_entropy`` (= softmax + sparse categorical crossentropy). VGG16,
ResNet50 and MobileNetV2 are written out below with Keras's layer sequence and shapes
(torchvision is not used: it is not installable beside the CPU wheel here).
"""
from .workloads import FORWARD, FORWARD_BACKWARD, PREDICT, TRAIN_STEP, NotAvailable

FRAMEWORK = "torch"
MEMORY_METHODS = ("rss_hwm",)


def setup():
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(0)
    info = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available())}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def _nchw(shape):
    """(N, H, W, C) -> PyTorch's logical (N, C, H, W)."""
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def _randn(shape):
    import torch
    t = torch.randn(*_nchw(shape))
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _make_layer(workload):
    from torch import nn
    p = workload.params
    family = workload.family
    channels = p["input_shape"][-1]
    if family == "conv2d":
        k = p["kernel_size"]
        return nn.Conv2d(channels, p["filters"], k, stride=p["strides"], padding=k // 2)
    if family == "depthwise":
        k = p["kernel_size"]
        return nn.Conv2d(channels, channels, k, stride=p.get("strides", 1), padding=k // 2, groups=channels)
    if family == "separable":
        k = p["kernel_size"]
        return nn.Sequential(nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=False),
                             nn.Conv2d(channels, p["filters"], 1))
    if family == "batchnorm":
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01).train()  # Keras momentum 0.99
    if family == "maxpool":
        return nn.MaxPool2d(p["pool_size"])
    if family == "dense":
        return nn.Linear(p["input_shape"][-1], p["units"])
    if family in ("lstm", "gru"):
        return _Sequence(getattr(nn, family.upper())(p["input_shape"][-1], p["units"], batch_first=True))
    raise NotAvailable(f"no PyTorch layer for family {family!r}")


def _Sequence(rnn):
    """``nn.LSTM``/``nn.GRU`` returning the output sequence only (they return (output, states))."""
    from torch import nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]
    return Sequence()


def _layer_workload(workload, mode):
    import torch
    layer = _make_layer(workload).to(memory_format=torch.channels_last)
    x = _randn(workload.params["input_shape"])
    if mode == FORWARD:
        def forward():
            with torch.no_grad():
                return layer(x)
        return forward
    x_var = x.detach().clone().requires_grad_(True)
    with torch.no_grad():
        upstream = torch.randn_like(layer(x))
    wrt = [x_var] + [p for p in layer.parameters() if p.requires_grad]

    def forward_backward():
        loss = (layer(x_var) * upstream).sum()
        return torch.autograd.grad(loss, wrt)
    return forward_backward


def _small_cnn(classes):
    from torch import nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), nn.Conv2d(32, 64, 1),  # SeparableConv2D
        nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))


def _small_cnn_train_step(workload):
    import torch
    import torch.nn.functional as F
    p = workload.params
    model = _small_cnn(p["classes"]).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = _randn(p["input_shape"])
    y = torch.randint(0, p["classes"], (p["input_shape"][0],))

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return train_step, {"note": "eager; zero_grad, cross_entropy on logits, backward, Adam.step"}


# -- the three applications, with Keras's layer sequence and shapes -------------------------------

def _vgg16(classes=1000, size=96):
    from torch import nn
    layers, channels = [], 3
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    side = size // 32
    layers += [nn.Flatten(), nn.Linear(512 * side * side, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
               nn.Linear(4096, classes), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def _resnet50(classes=1000):
    import torch
    from torch import nn

    def bn(c):
        return nn.BatchNorm2d(c, eps=1.001e-5)

    class Bottleneck(nn.Module):  # Keras ResNet v1: the stride sits on the first 1x1 conv
        def __init__(self, c_in, filters, stride, conv_shortcut):
            super().__init__()
            self.shortcut = (nn.Sequential(nn.Conv2d(c_in, 4 * filters, 1, stride), bn(4 * filters))
                             if conv_shortcut else nn.Identity())
            self.body = nn.Sequential(nn.Conv2d(c_in, filters, 1, stride), bn(filters), nn.ReLU(),
                                      nn.Conv2d(filters, filters, 3, padding=1), bn(filters), nn.ReLU(),
                                      nn.Conv2d(filters, 4 * filters, 1), bn(4 * filters))

        def forward(self, x):
            return torch.relu(self.shortcut(x) + self.body(x))

    layers = [nn.Conv2d(3, 64, 7, 2, padding=3), bn(64), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1)]
    channels = 64
    for filters, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            layers.append(Bottleneck(channels, filters, stride if b == 0 else 1, conv_shortcut=b == 0))
            channels = 4 * filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def _mobilenet_v2(classes=1000):
    from torch import nn

    def conv_bn(c_in, c_out, k, stride=1, groups=1, relu6=True):
        layers = [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.001)]
        return layers + [nn.ReLU6()] if relu6 else layers

    class InvertedResidual(nn.Module):
        def __init__(self, c_in, c_out, stride, expansion):
            super().__init__()
            hidden = c_in * expansion
            layers = conv_bn(c_in, hidden, 1) if expansion != 1 else []
            layers += conv_bn(hidden, hidden, 3, stride, groups=hidden) + conv_bn(hidden, c_out, 1, relu6=False)
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and c_in == c_out

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    layers, channels = conv_bn(3, 32, 3, 2), 32
    for expansion, c_out, repeats, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for r in range(repeats):
            layers.append(InvertedResidual(channels, c_out, stride if r == 0 else 1, expansion))
            channels = c_out
    layers += conv_bn(channels, 1280, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes),
                                            nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def _efficientnet_b0(classes=1000):
    """EfficientNetB0 as keras.applications builds it (MBConv with squeeze-and-excite, swish), eval mode."""
    from torch import nn

    def conv_bn(c_in, c_out, k, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(c_out, eps=1e-3)]
        return layers + [nn.SiLU()] if act else layers

    class MBConv(nn.Module):
        def __init__(self, c_in, c_out, k, stride, expansion):
            super().__init__()
            hidden, squeezed = c_in * expansion, max(1, int(c_in * 0.25))
            self.expand = nn.Sequential(*conv_bn(c_in, hidden, 1)) if expansion != 1 else nn.Identity()
            self.depthwise = nn.Sequential(*conv_bn(hidden, hidden, k, stride, groups=hidden))
            self.excite = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(hidden, squeezed, 1), nn.SiLU(),
                                        nn.Conv2d(squeezed, hidden, 1), nn.Sigmoid())
            self.project = nn.Sequential(*conv_bn(hidden, c_out, 1, act=False))
            self.residual = stride == 1 and c_in == c_out

        def forward(self, x):
            y = self.depthwise(self.expand(x))
            y = self.project(y * self.excite(y))
            return x + y if self.residual else y

    layers, channels = conv_bn(3, 32, 3, 2), 32
    for k, repeats, c_out, expansion, stride in ((3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2),
                                                 (3, 3, 80, 6, 2), (5, 3, 112, 6, 1), (5, 4, 192, 6, 2),
                                                 (3, 1, 320, 6, 1)):
        for r in range(repeats):
            layers.append(MBConv(channels, c_out, k, stride if r == 0 else 1, expansion))
            channels = c_out
    layers += conv_bn(channels, 1280, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes),
                                            nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def _application_predict(workload):
    import torch
    p = workload.params
    builders = {"VGG16": lambda: _vgg16(size=p["input_shape"][1]), "ResNet50": _resnet50,
                "MobileNetV2": _mobilenet_v2, "EfficientNetB0": _efficientnet_b0}
    model = builders[p["application"]]().to(memory_format=torch.channels_last).eval()
    x = _randn(p["input_shape"])

    def predict():
        with torch.no_grad():
            return model(x)
    # counted like Keras's count_params(): BN moving statistics included
    parameters = sum(t.numel() for t in model.parameters()) + \
        sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return predict, {"note": f"hand-written PyTorch {p['application']} ({parameters:,} parameters), eval mode"}


def build(workload, mode):
    if workload.family.startswith("naive"):
        raise NotAvailable("numpy_nn only (loops vs vectorized)")
    if mode in (FORWARD, FORWARD_BACKWARD):
        return _layer_workload(workload, mode)
    if mode == TRAIN_STEP:
        return _small_cnn_train_step(workload)
    if mode == PREDICT:
        return _application_predict(workload)
    raise NotAvailable(f"mode {mode!r} is not implemented for PyTorch")

