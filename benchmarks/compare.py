"""``numpy-nn bench --compare OLD.json NEW.json``: did a change make numpy_nn faster, and how sure are we?

For every (workload, mode) measured in both runs, the ratio NEW / OLD of the median per-call
times (below 1: the new run is faster) and a bootstrap confidence interval for it: the recorded
samples of each run (``samples_s``, every timed sample of ``benchmarks/timing.py``) are resampled
with replacement, ``resamples`` times, and the ratio of the resampled medians is taken each time;
the interval is the central ``confidence`` share of those ratios. An interval that contains 1 is
"no clear change". The resampling generator is seeded (``--seed``, default 0), so the same two
files always give the same table.

Two runs are comparable only on the same footing: the comparison is refused (exit code 2, an
error naming what differs) when the BLAS libraries the process loaded differ in CPU kernel
(threadpoolctl's ``architecture``, e.g. SkylakeX vs Haswell) or in thread count, when
numpy_nn's own thread count (``NUMPY_NN_THREADS``) differs, or when either run did not record
them. Compare runs from the same machine; a busy machine during either run (see the load lines
of each report) widens the intervals, but can also shift them: rerun before trusting a change.
"""
import json
from pathlib import Path

import numpy as np


class IncomparableRuns(ValueError):
    """The two runs were measured under different BLAS kernels or thread counts."""


def _load(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such results file: {str(path)!r}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a results.json of `numpy-nn bench` ({error})") from None


def threads_signature(report, framework):
    """What must match between runs: sorted (library, CPU kernel, threads) of every BLAS / OpenMP pool,
    and numpy_nn's own thread count. Raises IncomparableRuns when the run did not record them."""
    entry = (report.get("frameworks") or {}).get(framework) or {}
    info = entry.get("info") or {}
    pools = info.get("threadpools")
    if not isinstance(pools, list):
        raise IncomparableRuns(f"the {framework} run did not record its BLAS thread pools (threadpoolctl "
                               f"info: {pools!r}); install threadpoolctl and measure again")
    signature = {"blas": sorted((p.get("internal_api"), p.get("architecture"), p.get("num_threads")) for p in pools)}
    if framework == "numpy_nn":
        signature["numpy_nn_threads"] = info.get("numpy_nn_threads")
        signature["tune_allocator"] = info.get("tune_allocator")
    return signature


def check_comparable(old, new, framework, names=("OLD", "NEW")):
    """Raise IncomparableRuns, naming the difference, unless both runs used the same BLAS kernel and threads."""
    before, after = threads_signature(old, framework), threads_signature(new, framework)
    problems = []
    if before["blas"] != after["blas"]:
        problems.append(f"BLAS kernel or thread count differ: {names[0]} {_pools_text(before['blas'])} vs "
                        f"{names[1]} {_pools_text(after['blas'])}")
    if before.get("numpy_nn_threads") != after.get("numpy_nn_threads"):
        problems.append(f"numpy_nn threads (NUMPY_NN_THREADS) differ: {names[0]} {before.get('numpy_nn_threads')} vs "
                        f"{names[1]} {after.get('numpy_nn_threads')}")
    if before.get("tune_allocator") != after.get("tune_allocator"):
        problems.append(f"malloc settings differ: {names[0]} tune_allocator={before.get('tune_allocator')} vs "
                        f"{names[1]} tune_allocator={after.get('tune_allocator')}")
    if problems:
        raise IncomparableRuns(f"refusing to compare the {framework} runs: " + "; ".join(problems)
                               + ". Measure both with the same BLAS (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS) and "
                               "NUMPY_NN_THREADS.")


def _pools_text(pools):
    return "[" + ", ".join(f"{api} {arch} x{threads}" for api, arch, threads in pools) + "]"


def bootstrap_ratio(old_samples, new_samples, confidence=0.95, resamples=4000, seed=0):
    """(ratio of medians new/old, low, high): a percentile bootstrap interval over resampled medians."""
    old, new = np.asarray(old_samples, dtype=float), np.asarray(new_samples, dtype=float)
    rng = np.random.default_rng(seed)
    old_medians = np.median(old[rng.integers(0, old.size, size=(resamples, old.size))], axis=1)
    new_medians = np.median(new[rng.integers(0, new.size, size=(resamples, new.size))], axis=1)
    ratios = new_medians / old_medians
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(np.median(new) / np.median(old)), float(low), float(high)


def _samples(report, framework):
    return {(r["workload"], r["mode"]): r["samples_s"] for r in report.get("results", [])
            if r.get("framework", framework) == framework and r.get("status") == "ok" and r.get("samples_s")}


def compare(old, new, framework="numpy_nn", confidence=0.95, resamples=4000, seed=0):
    """Rows {workload, mode, old_ms, new_ms, ratio, low, high} for the workloads both runs measured."""
    check_comparable(old, new, framework)
    before, after = _samples(old, framework), _samples(new, framework)
    common = [key for key in before if key in after]
    if not common:
        raise ValueError(f"the two runs have no {framework} workload in common with per-sample times "
                         "(`samples_s`, recorded by numpy-nn bench since the --compare option exists)")
    rows = []
    for workload, mode in common:
        ratio, low, high = bootstrap_ratio(before[workload, mode], after[workload, mode], confidence, resamples, seed)
        rows.append({"workload": workload, "mode": mode, "old_ms": 1e3 * float(np.median(before[workload, mode])),
                     "new_ms": 1e3 * float(np.median(after[workload, mode])), "ratio": ratio, "low": low, "high": high})
    return rows


def render(rows, confidence=0.95, names=("old", "new")):
    percent = f"{100 * confidence:g}%"
    lines = [f"| Workload | Mode | {names[0]} ms | {names[1]} ms | ratio new/old | {percent} CI | change |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["high"] < 1:
            change = f"faster ({1 / row['ratio']:.2f}x)"
        elif row["low"] > 1:
            change = f"slower ({row['ratio']:.2f}x)"
        else:
            change = "no clear change"
        lines.append(f"| {row['workload']} | {row['mode']} | {row['old_ms']:.3g} | {row['new_ms']:.3g} | "
                     f"{row['ratio']:.3f} | {row['low']:.3f}–{row['high']:.3f} | {change} |")
    return "\n".join(lines)


def main(old_path, new_path, framework="numpy_nn", confidence=0.95, seed=0, resamples=4000):
    """Print the comparison table; return the exit code (2 for runs that cannot be compared)."""
    import sys
    try:
        old, new = _load(old_path), _load(new_path)
        rows = compare(old, new, framework, confidence, resamples, seed)
    except (ValueError, FileNotFoundError) as error:
        print(f"numpy-nn bench --compare: error: {error}", file=sys.stderr)
        return 2
    print(f"{framework}: {new_path} against {old_path} (bootstrap over the recorded samples, "
          f"{resamples} resamples, seed {seed}; ratio below 1: the new run is faster)\n")
    print(render(rows, confidence))
    return 0
