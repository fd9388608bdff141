"""The benchmark harness: one subprocess per framework, results side by side.

    python -m benchmarks [--quick] [--only NAMES] [--out DIR] [--frameworks LIST]
                         [--update-doc PATH] [--from-json FILE]
    python -m benchmarks --compare OLD.json NEW.json [--seed 0] [--confidence 0.95]

For each framework (numpy_nn, PyTorch, Keras on JAX) that is installed, the harness starts
``python -m benchmarks.worker FRAMEWORK`` in a fresh process, one after the other (never at the
same time: they would share the 2 cores), and reads back its JSON. It then joins the results
per workload and mode, computes numpy_nn / reference time ratios and each conv's fraction of
NumPy's own float32 GEMM speed, and writes ``results.json`` and ``results.md`` under ``--out``
(default ``benchmarks/results/``) and prints the Markdown table.

The harness also measures how busy the machine is (``benchmarks/load.py``: CPU time other
processes used, from ``/proc/stat``, in a one-second sample before the start, during each
framework's run and over the whole run). When other work competed for the cores it warns loudly
on stderr and marks the table "BUSY MACHINE". Rows that cannot be right are flagged as well:
forward+backward faster than forward alone, or a layer above 100 % of NumPy's own GEMM rate.

``--update-doc docs/performance.md`` also replaces the part of that file between
``<!-- results:begin -->`` and ``<!-- results:end -->`` with the new tables; ``--from-json FILE``
re-renders (and updates the doc) from an earlier run without measuring anything.
``--compare OLD NEW`` compares two such files (``benchmarks/compare.py``): each result keeps its
per-sample times (``samples_s``) and each framework its BLAS thread pools, for exactly that.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import load
from .workloads import FORWARD, FORWARD_BACKWARD, all_workloads, select

FRAMEWORKS = ("numpy_nn", "torch", "keras_jax")
LABELS = {"numpy_nn": "numpy_nn", "torch": "PyTorch", "keras_jax": "Keras/JAX"}
REQUIREMENTS = {"numpy_nn": ("numpy",), "torch": ("torch",), "keras_jax": ("keras", "jax")}
INSTALL_HINTS = {"torch": "pip install torch==2.13.0 (the CPU build)", "keras_jax": "pip install keras jax"}
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "XLA_FLAGS", "KERAS_BACKEND", "NUMPY_NN_KERNELS", "NUMPY_NN_THREADS")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"
DOC_BEGIN, DOC_END = "<!-- results:begin -->", "<!-- results:end -->"


# -- the machine ------------------------------------------------------------------------------------

def machine_info():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": usable, "platform": platform.platform(),
            "python": platform.python_version(),
            "environment": {name: os.environ.get(name) for name in ENV_VARS},
            "load_average_at_start": _load_average()}


def _load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def framework_missing(framework):
    """The name of a missing package this framework needs, or None."""
    for package in REQUIREMENTS[framework]:
        if importlib.util.find_spec(package) is None:
            return package
    return None


# -- running the workers --------------------------------------------------------------------------------

def run_worker(framework, quick, only, timeout):
    """Run one framework's worker in its own process; return its JSON document (or a failure record)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{framework}.json"
        command = [sys.executable, "-m", "benchmarks.worker", framework, "--json", str(out)]
        command += ["--quick"] if quick else []
        command += ["--only", only] if only else []
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        if framework == "keras_jax":
            env["KERAS_BACKEND"] = "jax"
        start = time.perf_counter()
        log = []
        try:
            process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            for line in process.stdout:  # progress lines, streamed as they come
                log.append(line)
                sys.stderr.write(line)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return {"framework": framework, "status": "error", "note": f"timed out after {timeout} s", "results": []}
        wall = time.perf_counter() - start
        if process.returncode != 0 or not out.exists():
            tail = "".join(log[-6:]).strip()
            return {"framework": framework, "status": "error", "wall_s": wall,
                    "note": f"worker exited with code {process.returncode}: {tail[-800:]}", "results": []}
        document = json.loads(out.read_text())
        document.update(status="ok", wall_s=wall)
        return document


def run(quick=False, only=None, frameworks=FRAMEWORKS, timeout=None, rounds=1):
    """Measure every selected workload in every framework; return the joined report (a dict).

    ``rounds`` > 1 alternates the frameworks: round r runs every framework's worker once, in an order
    rotated by r (numpy_nn, torch, keras_jax; then torch, keras_jax, numpy_nn; ...), so that a slow
    spell of the machine hits every framework alike. Each (workload, mode, framework) then reports
    the median of all its samples from every round, and each row the ratio of each round beside it."""
    selected = select(all_workloads(quick), only, quick)  # fails early on a bad --only
    timeout = timeout or (600 if quick else 3600)
    report = {"schema_version": 1, "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "quick": bool(quick), "only": only, "machine": machine_info(), "frameworks": {}, "results": [],
              "workloads": [{"name": w.name, "family": w.family, "title": w.title, "modes": list(w.modes),
                             "forward_flops": w.forward_flops} for w in selected]}
    idle = load.sample_others(1.0)
    if idle is not None and idle > load.BUSY_CORES:
        warn_busy(f"before the start, other processes are using {idle:.2f} of {len(load.usable_cpus())} usable "
                  "cores: the timings will be inflated")
    run_start = load.snapshot()
    rounds = max(1, int(rounds))
    report["rounds"] = rounds
    per_round = []  # per_round[r] = results of round r
    for round_index in range(rounds):
        order = frameworks[round_index % len(frameworks):] + frameworks[:round_index % len(frameworks)]
        if rounds > 1:
            print(f"== round {round_index + 1} of {rounds}: {', '.join(order)}", file=sys.stderr, flush=True)
        results = []
        for framework in order:
            missing = framework_missing(framework)
            if missing:
                report["frameworks"][framework] = {"status": "not installed",
                                                   "note": f"{missing} is not installed ({INSTALL_HINTS.get(framework, '')})"}
                continue
            before = load.snapshot()
            document = run_worker(framework, quick, only, timeout)
            entry = {k: document.get(k) for k in ("status", "note", "info", "wall_s") if document.get(k) is not None}
            entry["load"] = load.summary(before, load.snapshot())
            report["frameworks"][framework] = _merge_entry(report["frameworks"].get(framework), entry)
            if "gemm_ceiling" in document:
                report["gemm_ceiling"] = document["gemm_ceiling"]
            results += [dict(r, framework=framework) for r in document.get("results", [])]
        per_round.append(results)
    report["results"] = per_round[0] if rounds == 1 else _pool_rounds(per_round)
    report["machine"]["load_average_at_end"] = _load_average()
    report["load"] = load.summary(run_start, load.snapshot(), idle)
    report["rows"] = join_rows(report)
    return report


def _merge_entry(previous, entry):
    """A framework's report entry over rounds: the first round's info, busy if any round was busy."""
    if previous is None:
        return entry
    merged = dict(previous)
    if entry.get("status") != "ok":
        merged.update(status=entry.get("status"), note=entry.get("note"))
    merged["wall_s"] = (previous.get("wall_s") or 0) + (entry.get("wall_s") or 0)
    load_then, load_now = previous.get("load") or {}, entry.get("load") or {}
    if load_now.get("busy") and not load_then.get("busy"):
        merged["load"] = load_now  # the worst round's load is the one to report
    return merged


def _pool_rounds(per_round):
    """One record per (workload, mode, framework): every round's samples together; their median, min, max,
    and the median of each round (``round_medians_s``)."""
    pooled, order = {}, []
    for results in per_round:
        for record in results:
            key = (record["workload"], record["mode"], record["framework"])
            if key not in pooled:
                pooled[key] = dict(record, round_medians_s=[], samples_s=[])
                order.append(key)
            entry = pooled[key]
            if record.get("status") != "ok" or not record.get("samples_s"):
                if record.get("status") != "ok":
                    entry.update(status=record.get("status"), note=record.get("note"))
                continue
            entry["samples_s"] += record["samples_s"]
            entry["round_medians_s"].append(record["median_s"])
    for entry in pooled.values():
        samples = entry["samples_s"]
        if entry.get("status") == "ok" and samples:
            median = statistics.median(samples)
            if entry.get("gflops") and entry.get("median_s"):
                entry["gflops"] = entry["gflops"] * entry["median_s"] / median
            entry.update(median_s=median, min_s=min(samples), max_s=max(samples), repeats=len(samples))
    return [pooled[key] for key in order]


def warn_busy(message):
    """A warning nobody can miss, on stderr."""
    bar = "!" * 100
    print(f"{bar}\n!!! BUSY MACHINE: {message}.\n{bar}", file=sys.stderr, flush=True)


def busy_frameworks(report):
    """Frameworks whose own run shared the cores with other work."""
    return [f for f, entry in report.get("frameworks", {}).items() if (entry.get("load") or {}).get("busy")]


def impossible(rows, row):
    """Reasons why a joined row cannot be a clean measurement (empty when it looks sane)."""
    reasons = []
    if row["mode"] == FORWARD_BACKWARD:
        forward = next((r for r in rows if r["workload"] == row["workload"] and r["mode"] == FORWARD), {})
        for framework in FRAMEWORKS:
            both_ways, one_way = row.get(framework), forward.get(framework)
            if _ok(both_ways) and _ok(one_way) and both_ways["median_s"] < one_way["median_s"]:
                reasons.append(f"{LABELS[framework]} forward+backward ({_ms(both_ways['median_s'])} ms) is faster "
                               f"than forward alone ({_ms(one_way['median_s'])} ms)")
    if row.get("fraction_of_gemm_ceiling", 0) > 1.0:
        reasons.append(f"numpy_nn runs at {100 * row['fraction_of_gemm_ceiling']:.0f}% of NumPy's own GEMM rate, "
                       "above the ceiling its kernels are built on")
    return reasons


def join_rows(report):
    """One row per (workload, mode): numpy_nn's numbers, each reference's, and the ratios."""
    by_key = {(r["workload"], r["mode"], r["framework"]): r for r in report["results"]}
    ceiling = (report.get("gemm_ceiling") or {}).get("gflops")
    rows = []
    for workload in report["workloads"]:
        for mode in workload["modes"]:
            row = {"workload": workload["name"], "mode": mode, "title": workload["title"]}
            ours = by_key.get((workload["name"], mode, "numpy_nn"))
            for framework in FRAMEWORKS:
                record = by_key.get((workload["name"], mode, framework))
                if record is not None:
                    row[framework] = {k: record.get(k) for k in ("status", "median_s", "min_s", "max_s", "gflops",
                                                                 "peak_memory_mb", "note", "round_medians_s")
                                      if k in record}
                if framework != "numpy_nn" and _ok(ours) and _ok(record):
                    row[f"ratio_vs_{framework}"] = ours["median_s"] / record["median_s"]
                    ours_rounds, theirs_rounds = ours.get("round_medians_s"), record.get("round_medians_s")
                    if ours_rounds and theirs_rounds and len(ours_rounds) == len(theirs_rounds) > 1:
                        row[f"round_ratios_vs_{framework}"] = [a / b for a, b in zip(ours_rounds, theirs_rounds)]
            if _ok(ours) and ours.get("gflops") and ceiling:
                row["fraction_of_gemm_ceiling"] = ours["gflops"] / ceiling
            if _ok(ours) and ours.get("gemm_same_shape_gflops"):
                row["gemm_same_shape_gflops"] = ours["gemm_same_shape_gflops"]
            if _ok(ours) and "max_abs_diff_vs_naive" in ours:
                row["max_abs_diff_vs_naive"] = ours["max_abs_diff_vs_naive"]
            rows.append(row)
    for row in rows:
        suspect = impossible(rows, row)
        if suspect:
            row["impossible"] = suspect
    return rows


def _ok(record):
    return bool(record) and record.get("status") == "ok" and bool(record.get("median_s"))


# -- Markdown -------------------------------------------------------------------------------------------------

def _ms(seconds):
    return "—" if seconds is None else (f"{seconds * 1e3:.3g}" if seconds < 1 else f"{seconds * 1e3:,.0f}")


def _cell(entry, *, memory=False):
    if not entry:
        return "—"
    if entry.get("status") != "ok":
        return "n/a" if entry.get("status") == "not available" else entry.get("status", "—")
    text = f"{_ms(entry['median_s'])} ({_ms(entry['min_s'])}–{_ms(entry['max_s'])})"
    return text


def _memory(entry):
    if not entry or entry.get("status") != "ok":
        return "—"
    mem = entry.get("peak_memory_mb") or {}
    return " / ".join(f"{mem[m]:.1f}" if mem.get(m) is not None else "—" for m in ("tracemalloc", "rss_hwm") if m in mem)


def render_markdown(report):
    machine, frameworks = report["machine"], report["frameworks"]
    lines = [f"Run of {report['created_utc']} ({'--quick' if report['quick'] else 'full'}"
             + (f", --only {report['only']}" if report.get("only") else "") + ").", ""]
    lines.append(f"- Machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} "
                 f"logical CPUs; {machine['platform']}; Python {machine['python']}; load average "
                 f"{machine.get('load_average_at_start')} at start, {machine.get('load_average_at_end')} at end.")
    run_load = report.get("load") or _load_from_averages(machine)
    if run_load:
        lines.append(f"- Load ({run_load.get('method')}): {load.describe(run_load)}"
                     + (" — **busy**." if run_load.get("busy") else " — quiet enough."))
    env = machine["environment"]
    lines.append("- Environment: " + ", ".join(f"{k}={env[k] if env.get(k) is not None else 'unset'}"
                                               for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                         "OMP_NUM_THREADS")) + ".")
    for framework in FRAMEWORKS:
        entry = frameworks.get(framework)
        if entry is None:
            continue
        info = entry.get("info") or {}
        text = f"- {LABELS[framework]}: {entry['status']}"
        if info.get("version"):
            text += f", {info['version']}"
        if framework == "numpy_nn" and info.get("numpy"):
            text += f", NumPy {info['numpy']}"
        if framework == "numpy_nn" and "tune_allocator" in info:
            text += (", malloc tuned (NUMPY_NN_BENCH_TUNE_ALLOCATOR=1)" if info["tune_allocator"]
                     else ", default settings (glibc malloc untouched)")
        if framework == "torch" and info.get("num_threads"):
            text += f", {info['num_threads']} threads, channels_last, eager"
        text += _blas_text(info.get("threadpools"))
        if entry.get("note"):
            text += f" — {entry['note']}"
        framework_load = entry.get("load") or {}
        if framework_load.get("others_cores") is not None:
            text += (f"; during its run other processes used {framework_load['others_cores']:.2f} cores"
                     + (" (**busy**)" if framework_load.get("busy") else ""))
        lines.append(text + ".")
    ceiling = report.get("gemm_ceiling")
    if ceiling:
        m, k, n = ceiling["shape"]
        lines.append(f"- Ceiling: NumPy float32 GEMM ({m}x{k} @ {k}x{n}) runs at **{ceiling['gflops']:.1f} GFLOP/s** "
                     "in the numpy_nn process.")
    if report.get("rounds", 1) > 1:
        lines.append(f"- Rounds: {report['rounds']}, the frameworks' processes alternated (order rotated each round); "
                     "times are the median of every round's samples, and each ratio is followed by the range "
                     "of the per-round ratios.")
    lines += ["", "Times are milliseconds per call: median (min–max) of the repeats after warm-up. "
              "Ratio = numpy_nn time / reference time (above 1: numpy_nn is slower). GFLOP/s counts 2·MACs "
              "(forward+backward = 3x forward). Peak memory in MB: numpy_nn as tracemalloc / RSS high-water "
              "increase; references as RSS high-water increase.", ""]
    busy = bool(run_load and run_load.get("busy")) or bool(busy_frameworks(report))
    if busy:
        lines += [f"**BUSY MACHINE: these timings are not reliable.** During this run {load.describe(run_load or {})}"
                  + (f"; busy during: {', '.join(LABELS[f] for f in busy_frameworks(report))}" if busy_frameworks(report)
                     else "") + ". Every time is inflated by the competition for the cores, and unevenly across "
                  "frameworks (each ran at a different moment), so the ratios are unreliable too. Rerun on an idle "
                  "machine before quoting any number.", ""]
    flagged = [row for row in report["rows"] if row.get("impossible")]
    if busy:
        lines += ["Measured on a BUSY MACHINE (see above):", ""]
    lines.append("| Workload | Mode | numpy_nn ms | GFLOP/s | % of GEMM | GEMM same shape | Peak MB | "
                 "PyTorch ms | ratio | Keras/JAX ms | ratio |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    naive_rows = []
    for row in report["rows"]:
        if row["workload"].startswith("naive"):
            naive_rows.append(row)
            continue
        ours = row.get("numpy_nn")
        gflops = f"{ours['gflops']:.1f}" if _ok(ours) and ours.get("gflops") else "—"
        fraction = f"{100 * row['fraction_of_gemm_ceiling']:.0f}%" if "fraction_of_gemm_ceiling" in row else "—"
        same = f"{row['gemm_same_shape_gflops']:.1f}" if "gemm_same_shape_gflops" in row else "—"
        mode = f"{row['mode']} (impossible, see notes)" if row.get("impossible") else row["mode"]
        cells = [row["title"], mode, _cell(ours), gflops, fraction, same, _memory(ours)]
        for framework in ("torch", "keras_jax"):
            ratio, per_round = row.get(f"ratio_vs_{framework}"), row.get(f"round_ratios_vs_{framework}")
            ratio_text = f"{ratio:.2f}" if ratio is not None else "—"
            if ratio is not None and per_round:
                ratio_text += f" (rounds {min(per_round):.2f}–{max(per_round):.2f})"
            cells += [_cell(row.get(framework)) + _reference_memory(row.get(framework)), ratio_text]
        lines.append("| " + " | ".join(cells) + " |")
    if naive_rows:
        lines += ["", "What vectorization buys (numpy_nn process, tiny shapes, forward only):", "",
                  "| Workload | Python loops ms | vectorized ms | speedup | max abs diff |", "|---|---|---|---|---|"]
        by_workload = {}
        for row in naive_rows:
            by_workload.setdefault(row["workload"], {})[row["mode"]] = row
        for name, modes in by_workload.items():
            loop, fast = (modes.get(m, {}).get("numpy_nn") for m in ("naive_loop", "vectorized"))
            speedup = f"{loop['median_s'] / fast['median_s']:,.0f}x" if _ok(loop) and _ok(fast) else "—"
            diff = modes.get("vectorized", {}).get("max_abs_diff_vs_naive")
            title = next(iter(modes.values()))["title"]
            lines.append(f"| {title} | {_cell(loop)} | {_cell(fast)} | {speedup} | "
                         f"{'—' if diff is None else f'{diff:.1e}'} |")
    notes = [f"Impossible row, {row['title']} {row['mode']}: " + "; ".join(row["impossible"])
             + " — a timing artefact (the load changed between the two measurements, or a broken measurement); "
             "do not quote it." for row in flagged] + _notes(report)
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _load_from_averages(machine):
    """A load record for an older results.json, which kept only the load averages."""
    start, end = machine.get("load_average_at_start"), machine.get("load_average_at_end")
    if not start:
        return None
    usable = machine.get("usable_cpus") or 1
    return {"usable_cpus": usable, "others_cores": None, "load_average_before": start, "load_average_after": end,
            "busy": start[0] > load.BUSY_LOAD_PER_CORE * usable, "method": "load average"}


def _reference_memory(entry):
    if not _ok(entry):
        return ""
    mem = (entry.get("peak_memory_mb") or {}).get("rss_hwm")
    return f" [{mem:.0f} MB]" if mem is not None else ""


def _blas_text(threadpools):
    if not isinstance(threadpools, list) or not threadpools:
        return ""
    parts = []
    for pool in threadpools:
        details = ", ".join(str(d) for d in (pool.get("architecture"), f"{pool.get('num_threads')} threads") if d)
        parts.append(" ".join(str(d) for d in (pool.get("internal_api", "?"), pool.get("version")) if d) + f" ({details})")
    return "; threadpools: " + ", ".join(parts)


def _notes(report):
    notes = []
    for result in report["results"]:
        if result["framework"] != "numpy_nn" and result["workload"].startswith("naive"):
            continue  # older runs recorded these as "numpy_nn only"
        if result.get("status") != "ok" or result.get("note"):
            label = LABELS.get(result["framework"], result["framework"])
            notes.append(f"{label}, {result['workload']} {result['mode']}: {result.get('status')}"
                         + (f" — {result['note']}" if result.get("note") else ""))
    return notes


# -- files ------------------------------------------------------------------------------------------------------

def write_outputs(report, out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    (out_dir / "results.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out_dir / "results.md").write_text("# numpy_nn benchmark results\n\n" + markdown)
    return markdown


def update_doc(path, markdown):
    """Replace the text between the results markers of ``path`` with ``markdown``."""
    path = Path(path)
    text = path.read_text()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise ValueError(f"{path} has no '{DOC_BEGIN}' ... '{DOC_END}' section to update")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    path.write_text(f"{head}{DOC_BEGIN}\n{markdown}{DOC_END}{tail}")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="numpy_nn vs PyTorch (CPU) and Keras 3 on JAX, one process per framework.")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller shapes (well under a minute)")
    parser.add_argument("--only", default=None, help="comma-separated workload names or families (substrings match)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="directory for results.json and results.md")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help=f"comma-separated subset of {','.join(FRAMEWORKS)}")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per framework process")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the frameworks' workers this many times, alternated (rotated order each round); "
                             "times pool every round's samples and each row lists the per-round ratios")
    parser.add_argument("--update-doc", default=None, metavar="PATH",
                        help="also replace the results section of this Markdown file (e.g. docs/performance.md)")
    parser.add_argument("--from-json", default=None, metavar="FILE",
                        help="render an earlier results.json instead of measuring")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), default=None,
                        help="compare two results.json files: per-workload ratio NEW/OLD with a bootstrap confidence "
                             "interval over the recorded samples (benchmarks/compare.py); measures nothing")
    parser.add_argument("--compare-framework", default="numpy_nn", help="which framework's times --compare uses")
    parser.add_argument("--confidence", type=float, default=0.95, help="--compare: confidence of the interval")
    parser.add_argument("--seed", type=int, default=0, help="--compare: seed of the bootstrap resampling")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.compare:
        from .compare import main as compare_main
        return compare_main(*args.compare, framework=args.compare_framework, confidence=args.confidence,
                            seed=args.seed)
    if args.list:
        for w in all_workloads(args.quick):
            print(f"{w.name:20s} {w.family:14s} {w.title}")
        return 0
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        report["rows"] = join_rows(report)
        markdown = render_markdown(report)
    else:
        frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
        unknown = sorted(set(frameworks) - set(FRAMEWORKS))
        if unknown:
            print(f"error: unknown framework(s) {unknown}; expected some of {list(FRAMEWORKS)}", file=sys.stderr)
            return 2
        try:
            report = run(quick=args.quick, only=args.only, frameworks=frameworks, timeout=args.timeout,
                         rounds=args.rounds)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        markdown = write_outputs(report, args.out)
        if report["load"].get("busy") or busy_frameworks(report):
            warn_busy(f"{load.describe(report['load'])}; the table is marked BUSY MACHINE and its times "
                      "are not reliable")
        for row in report["rows"]:
            if row.get("impossible"):
                print(f"warning: impossible row {row['workload']} {row['mode']}: {'; '.join(row['impossible'])}",
                      file=sys.stderr)
    if args.update_doc:
        update_doc(args.update_doc, markdown)
    print(markdown)
    return 0
