"""The main job, `numpy-nn tour --quick`, end to end (about 30 s)."""
import json

import numpy as np

from numpy_nn.tour import run_tour


def test_tour_quick_writes_every_figure_and_report(tmp_path):
    out = tmp_path / "tour"
    run_tour(out_dir=str(out), quick=True)  # in-process; the CLI wrapper only adds tune_allocator()
    for name in ("learning_curves.png", "activations.png", "filters.png", "gradcam.png", "model.png"):
        path = out / name
        assert path.exists() and path.stat().st_size > 5000, name
    numbers = json.loads((out / "numbers.json").read_text())
    report = (out / "report.md").read_text()
    summary = (out / "model_summary.txt").read_text()
    assert "Total params" in summary and "SeparableConv2D" in summary and "Add" in summary
    assert 0.0 <= numbers["test_accuracy"] <= 1.0 and np.isfinite(numbers["test_loss"])
    assert 0.0 < numbers["pointing_baseline"] < 1.0
    assert f"{numbers['test_accuracy']:.4f}" in report
    for figure in ("learning_curves.png", "activations.png", "filters.png", "gradcam.png"):
        assert f"({figure})" in report
    # the ensemble part: weights on the simplex, fitted without the test split
    if numbers["ensemble"] is not None:
        weights = [row["weight"] for row in numbers["ensemble"]["rows"] if row.get("weight") is not None]
        assert abs(sum(weights) - 1.0) < 1e-6
        assert "weighted" in (out / "ensemble.md").read_text()
