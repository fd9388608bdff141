"""Winograd 3x3 convolutions against im2col: float32 error and time, per layer shape.

    python -m benchmarks.winograd                      # both tables, the suite's two 3x3 stride-1 shapes
    python -m benchmarks.winograd --shapes 32,8,128,256  # N,HW,C,F (several: repeat the flag)
    OPENBLAS_NUM_THREADS=1 NUMPY_NN_THREADS=1 python -m benchmarks.winograd --cpu   # one core, CPU time

Error: max |float32 result - float64 reference| / max |float64 reference| of y, dx and dK for the
reference tier in float32, im2col (Winograd off), F(2x2, 3x3) and F(4x4, 3x3) (``FORCE_TILE``).
Time: forward, and forward + backward (dx and dK), through ``numpy_nn.ops.kernels.conv.Conv2D``
as a layer calls it; the minimum of ``--repeats`` runs, wall clock or (``--cpu``) process CPU
time, which a busy machine disturbs less. The numbers the Winograd notes in docs/performance.md
quote come from this command.
"""
import argparse
import os
import time

import numpy as np

from .timing import clock_samples

SUITE_SHAPES = ((32, 32, 32, 64), (32, 16, 64, 128))
VARIANTS = (("im2col", 0), ("F(2x2,3x3)", 2), ("F(4x4,3x3)", 4))


def _run(cls, x, kernel, upstream):
    fn = cls()
    fn.needs_input_grad = (True, True)
    y = fn.forward(x, kernel, strides=(1, 1), padding="same")
    return [y, *fn.backward(upstream.astype(y.dtype))]


def errors(shape, seed=0):
    """{variant: [rel. error of y, dx, dK]} in float32 against the float64 reference, N clipped to 4."""
    from numpy_nn.ops import conv as reference
    from numpy_nn.ops.kernels import conv as fast
    from numpy_nn.ops.kernels import winograd
    n, hw, c, f = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((min(n, 4), hw, hw, c))
    kernel = rng.standard_normal((3, 3, c, f)) * np.sqrt(2.0 / (9 * c))  # He-scaled, like a trained layer
    upstream = rng.standard_normal((min(n, 4), hw, hw, f))
    truth = _run(reference.Conv2D, x, kernel, upstream)
    single = [a.astype(np.float32) for a in (x, kernel, upstream)]
    table = {"reference tier": _run(reference.Conv2D, *single)}
    for name, tile in VARIANTS:
        saved, winograd.FORCE_TILE = winograd.FORCE_TILE, tile
        try:
            table[name] = _run(fast.Conv2D, *single)
        finally:
            winograd.FORCE_TILE = saved
    return {name: [float(np.abs(a - t).max() / np.abs(t).max()) for a, t in zip(outs, truth)]
            for name, outs in table.items()}


def timings(shape, cpu=False, repeats=7, seed=0):
    """{variant: (forward ms, forward+backward ms)}, the minimum over ``repeats``."""
    from numpy_nn.ops.kernels import conv as fast
    from numpy_nn.ops.kernels import winograd
    clock = time.process_time if cpu else time.perf_counter
    n, hw, c, f = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, hw, hw, c)).astype(np.float32)
    kernel = (rng.standard_normal((3, 3, c, f)) * 0.1).astype(np.float32)
    upstream = rng.standard_normal((n, hw, hw, f)).astype(np.float32)

    def forward():
        fast.Conv2D().forward(x, kernel, strides=(1, 1), padding="same")

    def forward_backward():
        _run(fast.Conv2D, x, kernel, upstream)

    result = {}
    for name, tile in VARIANTS:
        saved, winograd.FORCE_TILE = winograd.FORCE_TILE, tile
        try:
            result[name] = []
            for fn in (forward, forward_backward):
                result[name].append(1e3 * min(clock_samples(fn, repeats, clock)))
        finally:
            winograd.FORCE_TILE = saved
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.winograd", description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", action="append", default=None, help="N,HW,C,F (default: the suite's two)")
    parser.add_argument("--cpu", action="store_true", help="process CPU time instead of wall clock")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    import numpy_nn
    numpy_nn.config.tune_allocator()  # the opt-in (NUMPY_NN_BENCH_TUNE_ALLOCATOR=1 in the suite)
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else SUITE_SHAPES
    clock = "process CPU" if args.cpu else "wall"
    print(f"load average {os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print("\n| Shape N,HW,C->F | Variant | y | dx | dK |\n|---|---|---|---|---|")
    for shape in shapes:
        for name, errs in errors(shape).items():
            print(f"| {shape[0]},{shape[1]},{shape[2]}->{shape[3]} | {name} | " + " | ".join(f"{e:.1e}" for e in errs)
                  + " |")
    print(f"\n| Shape N,HW,C->F | Variant | forward ms ({clock}) | forward+backward ms |\n|---|---|---|---|")
    for shape in shapes:
        for name, (fwd, both) in timings(shape, cpu=args.cpu, repeats=args.repeats).items():
            print(f"| {shape[0]},{shape[1]},{shape[2]}->{shape[3]} | {name} | {fwd:.1f} | {both:.1f} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
