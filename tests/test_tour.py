"""The main job, `numpy-nn tour --quick` (a smoke run), end to end."""
import json
import re

import numpy as np
import pytest

from numpy_nn.datasets import make_shapes, split
from numpy_nn.tour import run_tour


def test_tour_quick_writes_every_figure_and_report(tmp_path, capsys):
    out = tmp_path / "tour"
    run_tour(out_dir=str(out), quick=True)  # in-process; the CLI wrapper only adds tune_allocator()
    console = capsys.readouterr().out
    for name in ("learning_curves.png", "activations.png", "filters.png", "gradcam.png", "model.png"):
        path = out / name
        assert path.exists() and path.stat().st_size > 5000, name
    numbers = json.loads((out / "numbers.json").read_text())
    report = (out / "report.md").read_text()
    summary = (out / "model_summary.txt").read_text()
    assert "Total params" in summary and "SeparableConv2D" in summary and "Add" in summary
    # not wrapped: every "name (Class)" cell stays on one line, long class names included
    for cell in ("bn1 (BatchNormalization)", "gmp (GlobalMaxPooling2D)", "sepconv (SeparableConv2D)",
                 "residual (Add)", "bn4[0][0], relu3[0][0]"):
        assert cell in summary, cell
    # title, 3 header lines, 19 one-line rows with 18 rules between them, bottom rule, 3 totals
    assert len(summary.splitlines()) == 1 + 3 + 19 + 18 + 1 + 3, summary
    # a smoke run says so, in the console and in the report
    assert "smoke run" in console and "chance" in console
    assert "Smoke run" in report and "chance" in report.lower()
    assert numbers["chance_accuracy"] == 1 / 3
    # stdout is not a terminal here: one line per epoch (Keras's verbose=2), no per-step bar
    assert not re.search(r"^\s*\d+/\d+ ━", console, re.MULTILINE), console   # no step-by-step bar
    epoch_lines = [line for line in console.splitlines() if " - loss: " in line and "val_loss" in line]
    assert len(epoch_lines) == numbers["epochs_run"], console
    # the smoke run is not expected to beat chance; its accuracy must still be a count over the
    # test split the console announced (k correct of n), and its loss a finite number
    n_test = int(re.search(r"validation \d+, test (\d+)", console).group(1))
    correct = numbers["test_accuracy"] * n_test
    assert abs(correct - round(correct)) < 1e-3 and np.isfinite(numbers["test_loss"])
    # the random-point baseline is the mean object area of the test split the tour used
    images, labels, masks = make_shapes(600, size=24, seed=0)                  # the quick tour's data
    (_, test_masks), _ = split((images, masks), labels, fractions=(0.7, 0.15, 0.15), seed=0)[2]
    assert numbers["pointing_baseline"] == pytest.approx(float(np.mean(test_masks)), rel=1e-6)
    assert f"{numbers['test_accuracy']:.4f}" in report
    for figure in ("learning_curves.png", "activations.png", "filters.png", "gradcam.png"):
        assert f"({figure})" in report
    # the ensemble part: weights on the simplex, fitted without the test split
    if numbers["ensemble"] is not None:
        weights = [row["weight"] for row in numbers["ensemble"]["rows"] if row.get("weight") is not None]
        assert abs(sum(weights) - 1.0) < 1e-6
        assert "weighted" in (out / "ensemble.md").read_text()
