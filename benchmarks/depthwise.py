"""DepthwiseConv2D on one core: the cost of a tap pass, and the fast kernel's time per workload.

    python -m benchmarks.depthwise                 # both tables
    NUMPY_NN_THREADS=1 python -m benchmarks.depthwise --cpu   # one core, thread-CPU time
    python -m benchmarks.depthwise --block-bytes 262144       # another chunk size (the kernel's BLOCK_BYTES)

Table 1, "passes": one padded 34x34x64 float32 sample in cache, 3x3 taps, nanoseconds per tap and
output value: the taps summed as ``out += multiply(window, w, out=work)`` (two NumPy passes per
tap), as one strided ``einsum("abnir,abr->nir")`` (one fused multiply-add loop per tap), and
the kernel gradient as one ``einsum("nir,nir->r")`` per tap or one einsum over all taps.
Table 2, "kernel": the fast ``DepthwiseConv2D`` op (forward, and forward + backward with every
gradient) on the benchmark suite's depthwise shapes, median of ``--repeats`` calls, wall clock or
(``--cpu``) the calling thread's CPU time (with ``NUMPY_NN_THREADS=1`` all of the work; a busy
machine disturbs it less). The depthwise notes in docs/performance.md quote this command.
"""
import argparse
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .timing import clock_samples

SHAPES = (((32, 32, 32, 64), 1), ((8, 24, 24, 144), 1), ((8, 48, 48, 96), 2))  # the suite's depthwise3x3*


def _median_time(fn, repeats, clock):
    return float(np.median(clock_samples(fn, repeats, clock)))


def passes(repeats, clock):
    """ns per tap and output value of the three ways to sum taps, and of the two kernel-gradient forms."""
    c, h, w, itemsize = 64, 32, 32, 4
    rng = np.random.default_rng(0)
    block = rng.standard_normal((1, h + 2, w + 2, c)).astype(np.float32)
    weights = np.tile(rng.standard_normal((3, 3, c)).astype(np.float32), (1, 1, w))  # (3, 3, OW*C)
    s_n, s_row, s_col, _ = block.strides
    windows = as_strided(block, (3, 3, 1, h, w * c), (s_row, s_col, s_n, s_row, itemsize), writeable=False)
    out, work = np.empty((1, h, w * c), np.float32), np.empty((1, h, w * c), np.float32)
    g = rng.standard_normal((1, h, w * c)).astype(np.float32)

    def multiply_add():
        np.multiply(windows[0, 0], weights[0, 0], out=out)
        for a, b in list(np.ndindex(3, 3))[1:]:
            np.add(out, np.multiply(windows[a, b], weights[a, b], out=work), out=out)

    def fused():
        np.einsum("abnir,abr->nir", windows, weights, out=out)

    def grad_per_tap():
        return [np.einsum("nir,nir->r", windows[a, b], g) for a, b in np.ndindex(3, 3)]

    def grad_all_taps():
        return np.einsum("abnir,nir->abr", windows, g)

    terms = 9 * h * w * c
    return {name: _median_time(fn, repeats, clock) / terms * 1e9 for name, fn in
            [("multiply + add", multiply_add), ("einsum, all taps", fused),
             ("dK: einsum per tap", grad_per_tap), ("dK: einsum over all taps", grad_all_taps)]}


def kernel_times(repeats, clock):
    """(shape, stride, forward s, forward+backward s) of the fast DepthwiseConv2D."""
    import numpy_nn  # noqa: F401  (registers the fast tier)
    from numpy_nn.autograd.function import fast_kernels
    from numpy_nn.ops import conv
    DepthwiseConv2D = fast_kernels()[conv.DepthwiseConv2D]  # whichever fast kernel this tree registers
    rows = []
    for shape, stride in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(np.float32)
        kernel = rng.standard_normal((3, 3, shape[3], 1)).astype(np.float32)
        bias = rng.standard_normal(shape[3]).astype(np.float32)
        params = dict(strides=(stride, stride), padding="same")
        probe = DepthwiseConv2D().forward(x, kernel, bias, **params)
        upstream = rng.standard_normal(probe.shape).astype(np.float32)

        def forward(backward=False):
            fn = DepthwiseConv2D()
            fn.needs_input_grad = (True, True, True)
            fn.forward(x, kernel, bias, **params)
            if backward:
                fn.backward(upstream)

        rows.append((shape, stride, _median_time(forward, repeats, clock),
                     _median_time(lambda: forward(True), repeats, clock)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="thread-CPU time instead of wall clock")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--block-bytes", type=int, help="numpy_nn.ops.kernels.depthwise.BLOCK_BYTES for this run")
    args = parser.parse_args(argv)
    if args.block_bytes:
        from numpy_nn.ops.kernels import depthwise
        depthwise.BLOCK_BYTES = args.block_bytes
    clock = time.thread_time if args.cpu else time.perf_counter
    print(f"Tap passes, one padded 34x34x64 float32 sample in cache, ns per tap and output value "
          f"({'thread CPU' if args.cpu else 'wall'}, median of {args.repeats}):")
    for name, ns in passes(args.repeats * 5, clock).items():
        print(f"  {name:26s} {ns:.3f}")
    print(f"Fast DepthwiseConv2D 3x3 'same', float32, ms ({'thread CPU' if args.cpu else 'wall'}, "
          f"median of {args.repeats}):")
    print("  N,H,W,C            stride  forward  forward+backward")
    for shape, stride, fwd, both in kernel_times(args.repeats, clock):
        print(f"  {','.join(map(str, shape)):18s} {stride:6d} {fwd * 1e3:8.3f} {both * 1e3:17.3f}")


if __name__ == "__main__":
    main()
