"""One framework's process: ``python -m benchmarks.worker FRAMEWORK --json OUT [--quick] [--only NAMES]``.

The harness starts one of these per framework so that importing PyTorch or JAX, and their
thread pools, never share a process with numpy_nn. The worker builds each workload with its
framework's module, times it (``timing.measure``), measures peak memory, and writes one JSON
document to ``--json``. A workload that cannot run is recorded with its reason, never fatal.
"""
import argparse
import importlib
import json
import math
import sys
import traceback

from .timing import measure, peak_memory_mb, rss_hwm_available
from .workloads import NotAvailable, all_workloads, select

MODULES = {"numpy_nn": "benchmarks.workloads_numpy", "torch": "benchmarks.workloads_torch",
           "keras_jax": "benchmarks.workloads_jax"}


def timing_plan(quick, family):
    """(warmup, repeats, min_sample_s): fewer and shorter samples for --quick and for slow loops."""
    if family in ("application", "naive_conv2d", "naive_maxpool"):
        return (1, 3, 0.0) if quick else (1, 5, 0.0)
    return (1, 3, 0.005) if quick else (2, 7, 0.05)


def run_one(module, workload, mode, quick, memory_methods):
    record = {"workload": workload.name, "mode": mode, "status": "ok"}
    try:
        built = module.build(workload, mode)
    except NotAvailable as reason:
        return dict(record, status="not available", note=str(reason))
    except Exception as error:  # a bug in a layer under construction must not stop the suite
        return dict(record, status="error", note=f"{type(error).__name__}: {error}",
                    traceback=traceback.format_exc(limit=4))
    fn, extras = built if isinstance(built, tuple) else (built, {})
    record.update(extras)
    warmup, repeats, min_sample_s = timing_plan(quick, workload.family)
    try:
        record.update(measure(fn, warmup=warmup, repeats=repeats, min_sample_s=min_sample_s))
        before = getattr(module, "before_memory_measurement", lambda: None)
        record["peak_memory_mb"] = {m: before() or peak_memory_mb(fn, m) for m in memory_methods}
    except Exception as error:
        return dict(record, status="error", note=f"{type(error).__name__}: {error}",
                    traceback=traceback.format_exc(limit=4))
    flops = workload.flops(mode)
    if flops:
        record["gflops"] = flops / record["median_s"] / 1e9
    return record


def run(framework, quick=False, only=None):
    module = importlib.import_module(MODULES[framework])
    info = module.setup()
    memory_methods = [m for m in module.MEMORY_METHODS if m != "rss_hwm" or rss_hwm_available()]
    info["memory_methods"] = memory_methods
    document = {"framework": framework, "info": info, "results": []}
    if framework == "numpy_nn":
        size = 512 if quick else 2048
        gflops, timing = module.gemm_gflops(size, size, size, repeats=3 if quick else 7)
        document["gemm_ceiling"] = {"shape": [size, size, size], "gflops": gflops, **timing}
    for workload in select(all_workloads(quick), only, quick):
        if framework != "numpy_nn" and workload.family.startswith("naive"):
            continue  # loops vs vectorized is a numpy_nn-only comparison
        for mode in workload.modes:
            record = run_one(module, workload, mode, quick, memory_methods)
            if framework == "numpy_nn" and record["status"] == "ok":
                shape = module.gemm_shape(workload)
                if shape is not None and mode != "forward+backward":
                    record["gemm_same_shape_gflops"] = module.gemm_gflops(*shape, repeats=3)[0]
            document["results"].append(record)
            print(f"[{framework}] {workload.name} {mode}: {record['status']}"
                  + (f" {record['median_s'] * 1e3:.2f} ms" if record["status"] == "ok" else
                     f" ({record.get('note', '')})"), file=sys.stderr, flush=True)
    return document


def _finite(value):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("framework", choices=sorted(MODULES))
    parser.add_argument("--json", required=True, help="where to write this framework's results")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None)
    args = parser.parse_args(argv)
    document = run(args.framework, quick=args.quick, only=args.only)
    with open(args.json, "w") as out:
        json.dump(_finite(document), out, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
