"""The benchmarks/ harness: structure of its JSON and Markdown, its helpers, its entry points.

These tests run the harness in --quick mode on one or two tiny workloads and check that the
numbers are there, finite and positive. No test asserts a timing (the machine may be busy).
"""
import importlib
import json
import math

import numpy as np
import pytest

from benchmarks import harness, naive
from benchmarks.timing import measure, peak_memory_mb, rss_hwm_available
from benchmarks.workloads import FORWARD, FORWARD_BACKWARD, all_workloads, find, select


def _finite_positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _check_ok_record(record):
    assert _finite_positive(record["median_s"]) and _finite_positive(record["min_s"])
    assert record["min_s"] <= record["median_s"] <= record["max_s"]
    assert record["repeats"] >= 1 and record["calls_per_sample"] >= 1
    memory = record["peak_memory_mb"]
    assert memory, "every ok result reports at least one peak-memory measurement"
    assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in memory.values())


def _layer_exists(module, name):
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def test_quick_numpy_run_writes_json_and_markdown(tmp_path, capsys):
    code = harness.main(["--quick", "--only", "dense,maxpool2x2", "--frameworks", "numpy_nn", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "results.json").read_text())
    markdown = (tmp_path / "results.md").read_text()

    assert report["schema_version"] == 1 and report["quick"] is True
    assert {"cpu", "usable_cpus", "python", "environment"} <= set(report["machine"])
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} <= set(report["machine"]["environment"])
    assert report["frameworks"]["numpy_nn"]["status"] == "ok"
    assert set(report["frameworks"]) == {"numpy_nn"}
    assert _finite_positive(report["gemm_ceiling"]["gflops"])

    assert [w["name"] for w in report["workloads"]] == ["maxpool2x2", "dense"]
    keys = {(r["workload"], r["mode"]) for r in report["results"]}
    assert keys == {(w, m) for w in ("maxpool2x2", "dense") for m in (FORWARD, FORWARD_BACKWARD)}
    for record in report["results"]:
        assert record["framework"] == "numpy_nn"
        assert record["status"] in ("ok", "not available", "error")
        if record["status"] == "ok":
            _check_ok_record(record)
    dense = {r["mode"]: r for r in report["results"] if r["workload"] == "dense"}
    if _layer_exists("numpy_nn.layers.core", "Dense"):
        for mode, record in dense.items():
            assert record["status"] == "ok", record.get("note")
            assert _finite_positive(record["gflops"])
        row = next(r for r in report["rows"] if r["workload"] == "dense" and r["mode"] == FORWARD)
        assert _finite_positive(row["fraction_of_gemm_ceiling"])
        assert _finite_positive(row["gemm_same_shape_gflops"])
    if _layer_exists("numpy_nn.layers.pooling", "MaxPooling2D"):
        assert all(r["status"] == "ok" for r in report["results"] if r["workload"] == "maxpool2x2")

    assert "| Workload | Mode | numpy_nn ms |" in markdown
    assert "Dense 1024->256, batch 32" in markdown and "MaxPooling2D 2x2" in markdown
    assert "OPENBLAS_CORETYPE=" in markdown and "GFLOP/s" in markdown
    assert "| Workload | Mode | numpy_nn ms |" in capsys.readouterr().out  # the table is printed too


def test_references_run_in_their_own_processes_when_installed(tmp_path):
    installed = [f for f in ("torch", "keras_jax") if harness.framework_missing(f) is None]
    if not installed:
        pytest.skip("neither torch nor keras+jax is installed (both are optional)")
    code = harness.main(["--quick", "--only", "dense", "--frameworks", ",".join(["numpy_nn"] + installed),
                         "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "results.json").read_text())
    for framework in installed:
        assert report["frameworks"][framework]["status"] == "ok", report["frameworks"][framework]
        records = [r for r in report["results"] if r["framework"] == framework]
        assert {r["mode"] for r in records} == {FORWARD, FORWARD_BACKWARD}
        for record in records:
            assert record["status"] == "ok", record.get("note")
            _check_ok_record(record)
            assert "rss_hwm" in record["peak_memory_mb"] or not rss_hwm_available()
    if _layer_exists("numpy_nn.layers.core", "Dense"):
        for row in report["rows"]:
            for framework in installed:
                assert _finite_positive(row[f"ratio_vs_{framework}"])


def test_missing_framework_is_reported_not_fatal(monkeypatch, tmp_path):
    monkeypatch.setattr(harness, "framework_missing", lambda f: "torch" if f == "torch" else None)
    report = harness.run(quick=True, only="naive_maxpool", frameworks=("numpy_nn", "torch"))
    assert report["frameworks"]["torch"]["status"] == "not installed"
    assert "pip install torch==2.13.0" in report["frameworks"]["torch"]["note"]
    naive_rows = [r for r in report["rows"] if r["workload"] == "naive_maxpool"]
    assert {r["mode"] for r in naive_rows} == {"naive_loop", "vectorized"}
    markdown = harness.write_outputs(report, tmp_path)
    assert "What vectorization buys" in markdown


def test_naive_conv_and_pool_loops_are_correct():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 2), axis=(1, 2))  # (N, OH, OW, C, kh, kw)
    expected = np.einsum("nijcab,abcf->nijf", windows, kernel)
    np.testing.assert_allclose(naive.conv2d(x, kernel), expected, rtol=1e-5, atol=1e-5)
    pooled = naive.max_pool2d(x[:, :6, :6], 2)
    np.testing.assert_array_equal(pooled, x[:, :6, :6].reshape(2, 3, 2, 3, 2, 3).max(axis=(2, 4)))


def test_measure_reports_median_min_max():
    calls = []
    timing = measure(lambda: calls.append(1), warmup=2, repeats=5, min_sample_s=0.001)
    assert timing["min_s"] <= timing["median_s"] <= timing["max_s"]
    assert len(calls) == 2 + 5 * timing["calls_per_sample"]


@pytest.mark.parametrize("method", ["tracemalloc", "rss_hwm"])
def test_peak_memory_sees_a_large_temporary(method):
    if method == "rss_hwm" and not rss_hwm_available():
        pytest.skip("/proc/self/clear_refs is not writable here")
    megabytes = peak_memory_mb(lambda: np.ones(4_000_000, dtype=np.float64).sum(), method)  # 32 MB
    assert 30 < megabytes < 200


def test_workload_selection_and_flop_counts():
    conv = find("conv3x3_s1_a")
    assert conv.params["input_shape"] == (32, 32, 32, 32) and conv.params["filters"] == 64
    assert conv.forward_flops == 2 * 32 * 32 * 32 * 64 * 9 * 32
    assert conv.flops(FORWARD_BACKWARD) == 3 * conv.forward_flops
    assert find("conv3x3_s2").forward_flops == conv.forward_flops / 4  # 16x16 outputs
    names = [w.name for w in select(all_workloads(quick=True), quick=True)]
    assert "vgg16_predict" not in names and "small_cnn_train" in names  # applications are full-run only
    assert [w.name for w in select(all_workloads(), "resnet50")] == ["resnet50_predict"]
    with pytest.raises(ValueError, match="matches no workload"):
        select(all_workloads(), "no_such_thing")
    assert harness.main(["--quick", "--only", "no_such_thing", "--out", "/nonexistent"]) == 2


def test_update_doc_replaces_only_the_results_section(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text(f"intro\n{harness.DOC_BEGIN}\nold table\n{harness.DOC_END}\nafter\n")
    harness.update_doc(doc, "| new | table |\n")
    assert doc.read_text() == f"intro\n{harness.DOC_BEGIN}\n| new | table |\n{harness.DOC_END}\nafter\n"
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="results"):
        harness.update_doc(tmp_path / "plain.md", "x")


def test_cli_entry_point_lists_workloads(capsys):
    from numpy_nn.bench import main
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "conv3x3_s1_a" in out and "small_cnn_train" in out and "mobilenetv2_predict" in out


def test_rounds_alternate_the_frameworks_and_pool_their_samples(monkeypatch):
    """--rounds 2: each framework's worker runs twice, in rotated order; every round's samples are pooled,
    and each row carries the per-round ratios (which a noisy round would spread apart)."""
    calls = []
    times = {"numpy_nn": [[0.010, 0.012, 0.011], [0.020, 0.022, 0.021]], "torch": [[0.005] * 3, [0.005] * 3]}

    def fake_worker(framework, quick, only, timeout):
        round_index = sum(1 for f in calls if f == framework)
        calls.append(framework)
        samples = times[framework][round_index]
        record = {"workload": "dense", "mode": FORWARD, "status": "ok", "median_s": float(np.median(samples)),
                  "min_s": min(samples), "max_s": max(samples), "samples_s": samples, "gflops": 100.0}
        return {"framework": framework, "status": "ok", "info": {}, "results": [record]}

    monkeypatch.setattr(harness, "run_worker", fake_worker)
    monkeypatch.setattr(harness, "framework_missing", lambda framework: None)
    report = harness.run(quick=True, only="dense", frameworks=["numpy_nn", "torch"], rounds=2)
    assert calls == ["numpy_nn", "torch", "torch", "numpy_nn"]
    ours = next(r for r in report["results"] if r["framework"] == "numpy_nn" and r["mode"] == FORWARD)
    assert ours["samples_s"] == times["numpy_nn"][0] + times["numpy_nn"][1]
    assert ours["median_s"] == pytest.approx(np.median(times["numpy_nn"][0] + times["numpy_nn"][1]))
    assert ours["round_medians_s"] == [0.011, 0.021]
    row = next(r for r in report["rows"] if r["mode"] == FORWARD)
    assert row["round_ratios_vs_torch"] == pytest.approx([2.2, 4.2])
    assert row["ratio_vs_torch"] == pytest.approx(ours["median_s"] / 0.005)
    markdown = harness.render_markdown(report)
    assert "(rounds 2.20–4.20)" in markdown and "Rounds: 2" in markdown


def test_profile_ops_layer_lists_the_ops_of_a_layer_workload(capsys):
    """``--layer batchnorm_train``: the benchmark's forward+backward, every op of it timed (batch norm,
    the product with the upstream gradient and the sum), each with its calls per step."""
    from benchmarks import profile_ops
    profile_ops.main(["--layer", "batchnorm_train", "--steps", "2"])
    out = capsys.readouterr().out
    assert out.startswith("batchnorm_train forward+backward:")
    rows = {tuple(cell.strip() for cell in line.split("|")[1:4]) for line in out.splitlines() if line.startswith("| ")}
    for op in ("BatchNormTrain", "Multiply", "Sum"):
        assert (op, "forward", "1") in rows and (op, "backward", "1") in rows, op


def test_conv_gemm_parts_times_the_three_products_and_the_kernel(capsys):
    from benchmarks import conv_gemm_parts
    results = conv_gemm_parts.measure(2, 6, 3, 4, repeats=2)
    assert set(results) == {"GEMM forward P @ K", "GEMM kernel gradient P^T @ G",
                            "GEMM input gradient, 9 taps G @ K_tap^T", "fast kernel forward",
                            "fast kernel forward+backward"}
    assert all(ms >= 0 for ms in results.values())
    assert conv_gemm_parts.main(["--shape", "2,6,3,4", "--repeats", "2", "--wall"]) == 0
    out = capsys.readouterr().out
    assert "Conv2D 3x3 s1 same 6x6x3->4, N=2" in out and "three GEMMs together" in out
