"""What is measured: one framework-independent list of workloads.

A ``Workload`` says what to run (a layer, a training step, a model's predict) and on which
shapes; each framework's module (``workloads_numpy.py``, ``workloads_torch.py``,
``workloads_jax.py``) turns it into a zero-argument callable. Shapes are channels_last
(N, H, W, C) everywhere; PyTorch gets the same tensors in its channels_last memory format.

FLOPs are counted as 2 x multiply-accumulates of the forward pass (bias adds, BN and pooling are
not counted). A forward+backward pass of a conv or dense layer costs 3 x the forward FLOPs
(forward, input gradient, kernel gradient), which is what its GFLOP/s column uses.
"""
from dataclasses import dataclass, field

FORWARD = "forward"
FORWARD_BACKWARD = "forward+backward"
TRAIN_STEP = "train_step"
PREDICT = "predict"
NAIVE = "naive_loop"
VECTORIZED = "vectorized"


class NotAvailable(Exception):
    """A framework cannot run a workload yet (a missing layer, package or feature); the message says why."""


@dataclass(frozen=True)
class Workload:
    name: str                 # unique id, used by --only
    family: str               # conv2d, depthwise, separable, batchnorm, maxpool, dense, lstm, gru, small_cnn,
    #                           application, naive_*
    title: str                # what a reader sees in the table
    params: dict = field(default_factory=dict, hash=False)
    modes: tuple = (FORWARD, FORWARD_BACKWARD)
    forward_flops: float = 0.0  # 2 * MACs of one forward pass; 0 when not counted

    def flops(self, mode):
        """FLOPs of one call in ``mode`` (0 when this workload's FLOPs are not counted)."""
        if not self.forward_flops or mode in (NAIVE, VECTORIZED):
            return self.forward_flops
        return 3 * self.forward_flops if mode == FORWARD_BACKWARD else self.forward_flops


def conv_output_size(n, k, s, padding):
    """Keras's rule: ceil(n / s) for "same", floor((n - k) / s) + 1 for "valid"."""
    return -(-n // s) if padding == "same" else (n - k) // s + 1


def _conv(name, batch, hw, c_in, filters, k=3, stride=1, padding="same"):
    oh = conv_output_size(hw, k, stride, padding)
    macs = batch * oh * oh * filters * k * k * c_in
    title = f"Conv2D {k}x{k} s{stride} {padding} {hw}x{hw}x{c_in}->{filters}, N={batch}"
    return Workload(name, "conv2d", title, dict(input_shape=(batch, hw, hw, c_in), filters=filters,
                                                 kernel_size=k, strides=stride, padding=padding),
                    forward_flops=2.0 * macs)


def _depthwise(name, batch, hw, c, k=3, stride=1, modes=(FORWARD, FORWARD_BACKWARD)):
    oh = conv_output_size(hw, k, stride, "same")
    macs = batch * oh * oh * c * k * k
    return Workload(name, "depthwise", f"DepthwiseConv2D {k}x{k} s{stride} same {hw}x{hw}x{c}, N={batch}",
                    dict(input_shape=(batch, hw, hw, c), kernel_size=k, strides=stride, padding="same"),
                    modes=modes, forward_flops=2.0 * macs)


def _separable(name, batch, hw, c, filters, k=3):
    macs = batch * hw * hw * c * (k * k + filters)
    return Workload(name, "separable", f"SeparableConv2D {k}x{k} same {hw}x{hw}x{c}->{filters}, N={batch}",
                    dict(input_shape=(batch, hw, hw, c), filters=filters, kernel_size=k, padding="same"),
                    forward_flops=2.0 * macs)


def _dense(name, batch, units_in, units_out):
    return Workload(name, "dense", f"Dense {units_in}->{units_out}, batch {batch}",
                    dict(input_shape=(batch, units_in), units=units_out),
                    forward_flops=2.0 * batch * units_in * units_out)


def _recurrent(name, kind, batch, steps, features, units):
    """LSTM (4 gates) or GRU (3 gates) over a whole sequence, returning every step's output."""
    gates = {"lstm": 4, "gru": 3}[kind]
    macs = batch * steps * (features + units) * gates * units  # x_t W + h_{t-1} U at every step
    return Workload(name, kind, f"{kind.upper()} {units} units, {steps} steps x {features} features, batch {batch}",
                    dict(input_shape=(batch, steps, features), units=units), forward_flops=2.0 * macs)


def all_workloads(quick=False):
    """The suite, in table order. ``quick`` keeps every family but on smaller shapes."""
    n = 4 if quick else 32
    hw = 16 if quick else 32
    suite = [
        _conv("conv3x3_s1_a", n, hw, 32, 64),
        _conv("conv3x3_s1_b", n, hw // 2, 64, 128),
        _conv("conv3x3_s2", n, hw, 32, 64, stride=2),
        _depthwise("depthwise3x3", n, hw, 64),
        # Inference at the shapes of MobileNetV2's 96x96 predict below (its 3rd block, stride 1 and 2).
        _depthwise("depthwise3x3_mnv2_s1", 8, 12 if quick else 24, 144, modes=(FORWARD,)),
        _depthwise("depthwise3x3_mnv2_s2", 8, 24 if quick else 48, 96, stride=2, modes=(FORWARD,)),
        _separable("separable3x3", n, hw, 64, 128),
        Workload("batchnorm_train", "batchnorm", f"BatchNormalization (training) {hw}x{hw}x64, N={n}",
                 dict(input_shape=(n, hw, hw, 64))),
        Workload("maxpool2x2", "maxpool", f"MaxPooling2D 2x2 {hw}x{hw}x64, N={n}",
                 dict(input_shape=(n, hw, hw, 64), pool_size=2)),
        _dense("dense", 32 if quick else 128, 1024 if quick else 4096, 256 if quick else 1024),
        *[_recurrent(kind, kind, 16 if quick else 64, 10 if quick else 50, 32 if quick else 128, 32 if quick else 128)
          for kind in ("lstm", "gru")],
        Workload("small_cnn_train", "small_cnn",
                 f"Small CNN train step (Conv-BN-ReLU-Pool-SepConv-BN-ReLU-GAP-Dense), 32x32x3, "
                 f"batch {8 if quick else 64}",
                 dict(input_shape=(8 if quick else 64, 32, 32, 3), classes=10), modes=(TRAIN_STEP,)),
    ]
    for app in ("VGG16", "ResNet50", "MobileNetV2", "EfficientNetB0"):
        # Too slow to build and compile for --quick; run them with --only NAME.
        suite.append(Workload(f"{app.lower()}_predict", "application",
                              f"{app} predict, 96x96x3, batch 8, random weights",
                              dict(application=app, input_shape=(8, 96, 96, 3), full_only=True),
                              modes=(PREDICT,)))
    suite += [
        Workload("naive_conv2d", "naive_conv2d", "Conv2D 3x3 valid 12x12x8->16, N=2: Python loops vs vectorized",
                 dict(input_shape=(2, 12, 12, 8), filters=16, kernel_size=3), modes=(NAIVE, VECTORIZED),
                 forward_flops=2.0 * 2 * 10 * 10 * 16 * 9 * 8),
        Workload("naive_maxpool", "naive_maxpool", "MaxPooling2D 2x2 16x16x8, N=2: Python loops vs vectorized",
                 dict(input_shape=(2, 16, 16, 8), pool_size=2), modes=(NAIVE, VECTORIZED)),
    ]
    return suite


def select(workloads, only=None, quick=False):
    """Filter by ``--only`` (comma-separated names or families; substrings match)."""
    if not only:
        return [w for w in workloads if not (quick and w.params.get("full_only"))]
    wanted = [s.strip().lower() for s in only.split(",") if s.strip()]
    chosen = [w for w in workloads if any(s in w.name or s == w.family for s in wanted)]
    if not chosen:
        names = ", ".join(w.name for w in workloads)
        raise ValueError(f"--only {only!r} matches no workload; the workloads are: {names}")
    return chosen


def find(name, quick=False):
    for w in all_workloads(quick):
        if w.name == name:
            return w
    raise KeyError(name)
