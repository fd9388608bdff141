"""How much of a 3x3 convolution is GEMM: the fast Conv2D kernel next to its three matrix products alone.

    OPENBLAS_NUM_THREADS=1 NUMPY_NN_THREADS=1 python -m benchmarks.conv_gemm_parts
    python -m benchmarks.conv_gemm_parts --shape 32,16,64,128      # N,H,C,F (stride 1, "same")

For Conv2D 3x3, stride 1, "same" on an (N, H, H, C) input with F filters, M = N*H*H rows:

* forward:          Y = P @ K            P (M, 9C) patch matrix, K (9C, F)
* kernel gradient:  dK = P^T @ G         G (M, F)
* input gradient:   9 products G @ K_tap^T, one per tap (M, F) @ (F, C), added into shifted dx slices

Each is timed alone on preallocated arrays (median of the repeats; process CPU time by default,
so that a busy machine disturbs it less: run with one BLAS thread for per-core numbers), then the
fast kernel's forward and forward+backward, whose excess over the products is data movement
(the im2col copy, padding, the per-tap adds, the bias gradient). docs/performance.md, "What blocks
the convolution target", quotes this script.
"""
import argparse
import statistics
import time

import numpy as np

from .timing import clock_samples


def _median_ms(fn, repeats, clock):
    return 1000 * statistics.median(clock_samples(fn, repeats, clock))


def measure(n, h, c, f, repeats=10, clock=time.process_time):
    """{label: ms} for the three GEMMs alone and the fast kernel's forward and forward+backward."""
    from numpy_nn.ops.kernels import conv as kernels
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, h, c)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    bias = np.zeros(f, np.float32)
    g = rng.standard_normal((n, h, h, f)).astype(np.float32)
    m = n * h * h
    patches = rng.standard_normal((m, 9 * c)).astype(np.float32)
    k_matrix, g_rows = kernel.reshape(9 * c, f), g.reshape(m, f)
    y, dx_tap = np.empty((m, f), np.float32), np.empty((m, c), np.float32)
    taps = [np.ascontiguousarray(kernel[a, b].T) for a in range(3) for b in range(3)]

    def forward():
        op = kernels.Conv2D()
        op.needs_input_grad = (True, True, True)
        op.forward(x, kernel, bias, (1, 1), "same")
        return op

    results = {
        "GEMM forward P @ K": _median_ms(lambda: np.matmul(patches, k_matrix, out=y), repeats, clock),
        "GEMM kernel gradient P^T @ G": _median_ms(lambda: patches.T @ g_rows, repeats, clock),
        "GEMM input gradient, 9 taps G @ K_tap^T": _median_ms(
            lambda: [np.matmul(g_rows, t, out=dx_tap) for t in taps], repeats, clock),
        "fast kernel forward": _median_ms(forward, repeats, clock),
        "fast kernel forward+backward": _median_ms(lambda: forward().backward(g), repeats, clock),
    }
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conv_gemm_parts", description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="32,32,32,64", help="N,H,C,F (default: the suite's 32x32x32->64, N=32)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of process CPU time")
    args = parser.parse_args(argv)
    n, h, c, f = (int(v) for v in args.shape.split(","))
    clock = time.perf_counter if args.wall else time.process_time
    results = measure(n, h, c, f, args.repeats, clock)
    flops = 2 * n * h * h * 9 * c * f
    print(f"Conv2D 3x3 s1 same {h}x{h}x{c}->{f}, N={n}: {flops / 1e9:.2f} GFLOP per product; "
          f"ms of {'wall' if args.wall else 'process CPU'} time, median of {args.repeats}")
    for label, ms in results.items():
        rate = f"  ({flops / ms / 1e6:.0f} GFLOP/s)" if label.startswith("GEMM") else ""
        print(f"  {label:42s} {ms:8.2f}{rate}")
    gemms = sum(ms for label, ms in results.items() if label.startswith("GEMM"))
    print(f"  {'three GEMMs together':42s} {gemms:8.2f}; the rest of forward+backward: "
          f"{results['fast kernel forward+backward'] - gemms:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
