"""The benchmark harness notices a busy machine and impossible rows, and says so loudly.

No test asserts a timing: the rows below are synthetic, and the one live check only asserts that
CPU time burnt by another process is seen as competition.
"""
import copy
import subprocess
import sys
import time

import pytest

from benchmarks import harness, load
from benchmarks.workloads import FORWARD, FORWARD_BACKWARD


def test_machine_busy_seconds_sums_only_the_usable_cpus(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  900 0 90 5000 0 0 0 0 0 0\n"
                    "cpu0 100 5 20 1000 7 1 2 3 0 0\n"
                    "cpu1 300 0 40 1000 0 0 0 0 0 0\n"
                    "cpu2 500 0 30 3000 0 0 0 0 0 0\n"
                    "intr 1 2 3\n")
    ticks = __import__("os").sysconf("SC_CLK_TCK")
    # busy = user + nice + system + irq + softirq + steal (idle and iowait excluded), cpu2 not usable
    assert load.machine_busy_seconds(cpus=[0, 1], path=str(stat)) == pytest.approx((131 + 340) / ticks)
    assert load.machine_busy_seconds(path=str(tmp_path / "absent")) is None


def test_others_cores_subtracts_our_own_cpu_time():
    before = {"wall": 10.0, "machine_busy_s": 100.0, "own_cpu_s": 5.0, "load_average": [1.0, 1.0, 1.0]}
    after = {"wall": 20.0, "machine_busy_s": 125.0, "own_cpu_s": 15.0, "load_average": [2.0, 1.0, 1.0]}
    assert load.others_cores(before, after) == pytest.approx(1.5)      # (25 - 10) s over 10 s of wall time
    record = load.summary(before, after, idle_sample=0.1)
    assert record["busy"] is True and record["others_cores"] == 1.5 and record["method"] == "/proc/stat"
    quiet = dict(after, machine_busy_s=111.0)                          # others used 0.1 core
    assert load.summary(before, quiet, idle_sample=0.05)["busy"] is False
    assert load.summary(before, quiet, idle_sample=0.9)["busy"] is True  # busy just before the start


def test_cpu_burnt_by_another_process_counts_as_competition():
    if load.machine_busy_seconds() is None:
        pytest.skip("no /proc/stat on this system")
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        cores = load.sample_others(1.0)
    finally:
        burner.kill()
        burner.wait()
    assert cores > load.BUSY_CORES


def _report(busy, fb_ms=(30.0, 6.0, 9.0), fraction=0.5):
    """A joined report: one conv workload, numpy_nn / torch / keras forward 10/3/4 ms, forward+backward fb_ms."""
    results = []
    for framework, forward_ms, both_ms in zip(harness.FRAMEWORKS, (10.0, 3.0, 4.0), fb_ms):
        for mode, ms in ((FORWARD, forward_ms), (FORWARD_BACKWARD, both_ms)):
            results.append({"workload": "conv", "mode": mode, "framework": framework, "status": "ok",
                            "median_s": ms / 1e3, "min_s": ms / 1e3, "max_s": ms / 1e3,
                            "gflops": fraction * 100.0 if framework == "numpy_nn" else None})
    others = 1.7 if busy else 0.02
    framework_load = {"others_cores": others, "usable_cpus": 2, "busy": busy}
    report = {"created_utc": "now", "quick": True, "only": None, "gemm_ceiling": {"gflops": 100.0, "shape": [8, 8, 8]},
              "machine": {"cpu": "test", "usable_cpus": 2, "logical_cpus": 2, "platform": "test", "python": "3",
                          "environment": {}, "load_average_at_start": [3.0, 2.0, 1.0]},
              "load": {"usable_cpus": 2, "others_cores": others, "others_cores_before": others, "busy": busy,
                       "method": "/proc/stat", "load_average_before": [3.0, 2.0, 1.0],
                       "load_average_after": [3.5, 2.0, 1.0]},
              "frameworks": {f: {"status": "ok", "load": dict(framework_load)} for f in harness.FRAMEWORKS},
              "workloads": [{"name": "conv", "family": "conv2d", "title": "Conv 3x3", "modes": [FORWARD, FORWARD_BACKWARD],
                             "forward_flops": 1e9}],
              "results": results}
    report["rows"] = harness.join_rows(report)
    return report


def test_a_busy_run_is_marked_in_the_table_and_a_quiet_one_is_not():
    busy = harness.render_markdown(_report(busy=True))
    assert "**BUSY MACHINE: these timings are not reliable.**" in busy
    assert "Measured on a BUSY MACHINE (see above):\n\n| Workload | Mode |" in busy and "1.70 of 2 usable cores" in busy
    assert "during its run other processes used 1.70 cores (**busy**)" in busy
    quiet = harness.render_markdown(_report(busy=False))
    assert "BUSY" not in quiet and "quiet enough" in quiet


def test_forward_backward_faster_than_forward_is_flagged_as_impossible():
    report = _report(busy=False, fb_ms=(30.0, 2.0, 9.0))               # PyTorch: 2 ms both ways < 3 ms forward
    rows = {row["mode"]: row for row in report["rows"]}
    assert "impossible" not in rows[FORWARD]
    (reason,) = rows[FORWARD_BACKWARD]["impossible"]
    assert "PyTorch forward+backward (2 ms) is faster than forward alone (3 ms)" == reason
    markdown = harness.render_markdown(report)
    assert "| forward+backward (impossible, see notes) |" in markdown
    assert "Impossible row, Conv 3x3 forward+backward: PyTorch" in markdown
    sane = _report(busy=False)
    assert not any(row.get("impossible") for row in sane["rows"])


def test_above_the_gemm_ceiling_is_flagged_as_impossible():
    report = _report(busy=False, fraction=1.3)
    flagged = [row for row in report["rows"] if row.get("impossible")]
    assert flagged and all("130% of NumPy's own GEMM rate" in " ".join(row["impossible"]) for row in flagged)


def test_main_warns_loudly_on_stderr_when_busy(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(harness, "run", lambda **kwargs: copy.deepcopy(_report(busy=True)))
    assert harness.main(["--quick", "--frameworks", "numpy_nn", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "!!! BUSY MACHINE" in captured.err and "not reliable" in captured.err
    assert "BUSY MACHINE" in (tmp_path / "results.md").read_text()
