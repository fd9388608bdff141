"""``numpy-nn bench --compare OLD NEW``: bootstrap ratios over recorded samples, refusal of unlike runs.

The JSON files are written by the tests (synthetic samples with a known true ratio), so nothing
is timed; the bootstrap seed is fixed, so every assertion is deterministic.
"""
import copy
import json

import numpy as np
import pytest

from benchmarks import compare, timing
from numpy_nn import cli

POOLS = [{"user_api": "blas", "internal_api": "openblas", "version": "0.3.30", "architecture": "SkylakeX",
          "num_threads": 2}]


def _report(samples_by_workload, pools=POOLS, numpy_nn_threads=2):
    results = [{"workload": name, "mode": "forward+backward", "status": "ok", "median_s": float(np.median(samples)),
                "samples_s": list(map(float, samples)), "framework": "numpy_nn"}
               for name, samples in samples_by_workload.items()]
    return {"schema_version": 1, "results": results,
            "frameworks": {"numpy_nn": {"status": "ok", "info": {"threadpools": copy.deepcopy(pools),
                                                                 "numpy_nn_threads": numpy_nn_threads}}}}


def _lognormal(median, n, seed, sigma=0.08):
    return median * np.exp(np.random.default_rng(seed).normal(0.0, sigma, n))


def _write(tmp_path, name, report):
    path = tmp_path / name
    path.write_text(json.dumps(report))
    return str(path)


def test_interval_contains_the_true_ratio_and_calls_a_real_speedup_faster(tmp_path, capsys):
    old = _report({"conv": _lognormal(0.010, 25, seed=1), "bn": _lognormal(0.004, 25, seed=2)})
    new = _report({"conv": _lognormal(0.008, 25, seed=3), "bn": _lognormal(0.004, 25, seed=4)})  # true: 0.8 and 1.0
    rows = {row["workload"]: row for row in compare.compare(old, new, seed=0)}
    assert rows["conv"]["low"] <= 0.8 <= rows["conv"]["high"] and rows["conv"]["high"] < 1.0
    assert rows["bn"]["low"] <= 1.0 <= rows["bn"]["high"]
    assert rows["conv"]["ratio"] == pytest.approx(np.median(new["results"][0]["samples_s"])
                                                  / np.median(old["results"][0]["samples_s"]))
    code = cli.main(["bench", "--compare", _write(tmp_path, "old.json", old), _write(tmp_path, "new.json", new)])
    table = capsys.readouterr().out
    assert code == 0
    assert "| conv | forward+backward |" in table and "faster (1.2" in table
    assert "| bn | forward+backward |" in table and "no clear change" in table


def test_same_seed_same_interval_and_more_samples_narrow_it():
    old, new = _lognormal(1.0, 8, seed=5), _lognormal(1.2, 8, seed=6)
    assert compare.bootstrap_ratio(old, new, seed=3) == compare.bootstrap_ratio(old, new, seed=3)
    _, low_few, high_few = compare.bootstrap_ratio(old, new, seed=3)
    _, low_many, high_many = compare.bootstrap_ratio(_lognormal(1.0, 200, seed=7), _lognormal(1.2, 200, seed=8), seed=3)
    assert high_many - low_many < high_few - low_few
    assert low_many <= 1.2 <= high_many


@pytest.mark.parametrize("change, message", [
    ({"architecture": "Haswell"}, "BLAS kernel or thread count differ"),
    ({"num_threads": 1}, "BLAS kernel or thread count differ"),
])
def test_refuses_runs_with_another_blas_kernel_or_thread_count(tmp_path, capsys, change, message):
    old = _report({"conv": _lognormal(0.01, 7, seed=1)})
    new = _report({"conv": _lognormal(0.01, 7, seed=2)}, pools=[dict(POOLS[0], **change)])
    with pytest.raises(compare.IncomparableRuns, match=message):
        compare.compare(old, new)
    code = cli.main(["bench", "--compare", _write(tmp_path, "a.json", old), _write(tmp_path, "b.json", new)])
    error = capsys.readouterr().err
    assert code == 2 and "refusing to compare" in error and message in error
    assert "SkylakeX x2" in error


def test_refuses_other_numpy_nn_threads_and_runs_without_threadpool_info():
    old = _report({"conv": _lognormal(0.01, 7, seed=1)})
    with pytest.raises(compare.IncomparableRuns, match="NUMPY_NN_THREADS"):
        compare.compare(old, _report({"conv": _lognormal(0.01, 7, seed=2)}, numpy_nn_threads=1))
    blind = _report({"conv": _lognormal(0.01, 7, seed=2)})
    blind["frameworks"]["numpy_nn"]["info"]["threadpools"] = "threadpoolctl not installed"
    with pytest.raises(compare.IncomparableRuns, match="did not record its BLAS thread pools"):
        compare.compare(old, blind)


def test_runs_without_common_samples_are_a_clear_error(tmp_path, capsys):
    old = _report({"conv": _lognormal(0.01, 7, seed=1)})
    new = _report({"dense": _lognormal(0.01, 7, seed=2)})
    code = cli.main(["bench", "--compare", _write(tmp_path, "a.json", old), _write(tmp_path, "b.json", new)])
    assert code == 2 and "no numpy_nn workload in common" in capsys.readouterr().err


def test_measure_records_every_sample_for_compare():
    record = timing.measure(lambda: sum(range(100)), warmup=1, repeats=5, min_sample_s=0.0)
    assert len(record["samples_s"]) == 5
    assert record["median_s"] == pytest.approx(float(np.median(record["samples_s"])))
    assert min(record["samples_s"]) == record["min_s"] and max(record["samples_s"]) == record["max_s"]
