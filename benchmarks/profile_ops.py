"""Where the time goes: per-op forward/backward times of a numpy_nn workload.

``with OpProfiler() as prof: step()`` wraps ``forward`` and ``backward`` of every ``Function``
subclass (every op of the library) in a timer for the duration of the block, and
``prof.table(total_seconds)`` lists them by total time, with the rest of the step (tape,
layers, optimizer, loss bookkeeping) as "other", and the minor page faults each op caused
(first touches of freshly mapped memory: ``getrusage``, counted for the whole process). Timings are wall-clock (``perf_counter``) and,
beside them, the CPU time of the calling thread (``thread_time``), which a busy machine
disturbs less (BLAS worker threads are not in it, so for matmul-heavy ops it is lower than wall).

    python -m benchmarks.profile_ops                  # the small-CNN training step, batch 64
    python -m benchmarks.profile_ops --steps 20 --batch 64 --tune-allocator
    python -m benchmarks.profile_ops --row-chunk-bytes 65536    # threads.ROW_CHUNK_BYTES for this run
    python -m benchmarks.profile_ops --predict mobilenetv2 --steps 3   # an application's predict
    python -m benchmarks.profile_ops --layer batchnorm_train --steps 200  # a layer's forward+backward
"""
import argparse
import collections
import dataclasses
import gc
import resource
import time


def _function_classes():
    from numpy_nn.autograd.function import Function
    seen, stack = [], [Function]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


class OpProfiler:
    """Context manager accumulating (calls, wall seconds, thread-CPU seconds) per (op, phase)."""

    def __init__(self):
        self.stats = collections.defaultdict(lambda: [0, 0.0, 0.0, 0])
        self._saved = []

    def _wrap(self, cls, phase):
        original = cls.__dict__[phase]
        key = (cls.__name__, phase)
        stats = self.stats

        def timed(fn_self, *args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            try:
                return original(fn_self, *args, **kwargs)
            finally:
                entry = stats[key]
                entry[0] += 1
                entry[1] += time.perf_counter() - wall
                entry[2] += time.thread_time() - cpu
                entry[3] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        timed.__wrapped__ = original
        return timed

    def __enter__(self):
        for cls in _function_classes():
            for phase in ("forward", "backward"):
                if phase in cls.__dict__:
                    self._saved.append((cls, phase, cls.__dict__[phase]))
                    setattr(cls, phase, self._wrap(cls, phase))
        return self

    def __exit__(self, *exc):
        for cls, phase, original in reversed(self._saved):
            setattr(cls, phase, original)
        self._saved.clear()
        return False

    def reset(self):
        self.stats.clear()

    def table(self, total_wall, steps=1):
        """Markdown table, per step: op, phase, calls, wall ms, % of the step, thread-CPU ms."""
        rows = sorted(self.stats.items(), key=lambda item: -item[1][1])
        lines = ["| Op | Phase | Calls/step | Wall ms/step | % of step | Thread CPU ms/step | Page faults/step |",
                 "|---|---|---|---|---|---|---|"]
        accounted, faulted = 0.0, 0
        for (name, phase), (calls, wall, cpu, faults) in rows:
            accounted, faulted = accounted + wall, faulted + faults
            lines.append(f"| {name} | {phase} | {calls / steps:g} | {1e3 * wall / steps:.2f} | "
                         f"{100 * wall / total_wall:.1f}% | {1e3 * cpu / steps:.2f} | {faults / steps:.0f} |")
        other = total_wall - accounted
        lines.append(f"| (other: tape, layers, optimizer) | | | {1e3 * other / steps:.2f} | "
                     f"{100 * other / total_wall:.1f}% | | |")
        lines.append(f"| **total** | | | **{1e3 * total_wall / steps:.2f}** | 100% | | |")
        return "\n".join(lines)


def profile_small_cnn(steps=10, batch=64, warmup=2):
    """Profile the benchmark's small-CNN training step (the same model and data as the suite)."""
    from .workloads import find
    from .workloads_numpy import _small_cnn_train_step

    workload = find("small_cnn_train")
    params = dict(workload.params, input_shape=(batch,) + tuple(workload.params["input_shape"][1:]))
    workload = dataclasses.replace(workload, params=params)
    built = _small_cnn_train_step(workload)
    step = built[0] if isinstance(built, tuple) else built
    for _ in range(warmup):
        step()
    gc.collect()
    gc.disable()
    try:
        with OpProfiler() as profiler:
            start, cpu = time.perf_counter(), time.process_time()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(steps):
                step()
            total = time.perf_counter() - start
            profiler.process_cpu = time.process_time() - cpu
            profiler.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    finally:
        gc.enable()
    return profiler, total


def profile_predict(name, steps=3, warmup=1):
    """Profile the suite's ``<name>_predict`` workload (e.g. mobilenetv2: batch 8, 96x96x3, inference)."""
    from .workloads import find
    from .workloads_numpy import _application_predict

    predict = _application_predict(find(f"{name}_predict"))
    for _ in range(warmup):
        predict()
    gc.collect()
    with OpProfiler() as profiler:
        start = time.perf_counter()
        for _ in range(steps):
            predict()
        total = time.perf_counter() - start
    return profiler, total


def profile_layer(name, steps=100, warmup=5):
    """Profile the suite's layer workload ``name`` (e.g. batchnorm_train), forward+backward as benchmarked."""
    from .workloads import FORWARD_BACKWARD, find
    from .workloads_numpy import _layer_workload

    forward_backward = _layer_workload(find(name), FORWARD_BACKWARD)
    for _ in range(warmup):
        forward_backward()
    gc.collect()
    with OpProfiler() as profiler:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            forward_backward()
        total = time.perf_counter() - start
        profiler.process_cpu = time.process_time() - cpu
    return profiler, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--tune-allocator", action="store_true",
                        help="call numpy_nn.ops.kernels.buffers.tune_allocator() first")
    parser.add_argument("--row-chunk-bytes", type=int, default=None,
                        help="numpy_nn.ops.kernels.threads.ROW_CHUNK_BYTES for this run (where it exists)")
    parser.add_argument("--predict", default=None, metavar="APP",
                        help="profile an application's predict instead (mobilenetv2, efficientnetb0, ...)")
    parser.add_argument("--layer", default=None, metavar="WORKLOAD",
                        help="profile a layer workload's forward+backward instead (batchnorm_train, maxpool, ...)")
    args = parser.parse_args(argv)
    if args.row_chunk_bytes:
        from numpy_nn.ops.kernels import threads
        threads.ROW_CHUNK_BYTES = args.row_chunk_bytes
    if args.tune_allocator:
        from numpy_nn.ops.kernels.buffers import tune_allocator
        print("tune_allocator():", tune_allocator())
    if args.predict:
        profiler, total = profile_predict(args.predict.lower(), args.steps)
        print(f"{args.predict} predict: {1e3 * total / args.steps:.2f} ms/call (mean of {args.steps})")
        print(profiler.table(total, args.steps))
        return
    if args.layer:
        profiler, total = profile_layer(args.layer, args.steps)
        print(f"{args.layer} forward+backward: {1e3 * total / args.steps:.2f} ms/call (mean of {args.steps}); "
              f"process CPU {1e3 * profiler.process_cpu / args.steps:.2f} ms/call")
        print(profiler.table(total, args.steps))
        return
    profiler, total = profile_small_cnn(args.steps, args.batch)
    print(f"small-CNN training step, batch {args.batch}: {1e3 * total / args.steps:.2f} ms/step "
          f"(mean of {args.steps}, profiler overhead included); process CPU "
          f"{1e3 * profiler.process_cpu / args.steps:.2f} ms/step, {profiler.faults / args.steps:.0f} minor page faults/step")
    print(profiler.table(total, args.steps))


if __name__ == "__main__":
    main()
