"""Keras's own unit tests for optimizers, schedules, losses, metrics, BatchNormalization, pooling
(1-D, 2-D, global) and the 1-D/2-D padding, cropping and upsampling layers, run unchanged through
numpy_nn (``tests/keras_upstream``: a shim standing in for ``keras``).

Every case listed in ``tests/keras_upstream/expected_pass.txt`` must pass; the cases that cannot
run (features numpy_nn does not have: mixed-precision policies, symbolic KerasTensors, sparse
gradients, 3-D pooling, TensorBoard) are reported, not hidden: see
``docs/optimizers-losses-metrics.md`` and ``docs/sequences.md``. No case may fail an assertion.
"""
import os

import pytest

from tests.keras_upstream import run

HERE = os.path.dirname(os.path.abspath(__file__))


def _expected():
    with open(os.path.join(HERE, "keras_upstream", "expected_pass.txt")) as handle:
        return {line.strip() for line in handle if line.strip() and not line.startswith("#")}


@pytest.mark.keras
def test_keras_own_unit_tests_pass_through_numpy_nn():
    keras = pytest.importorskip("keras")
    if not keras.__version__.startswith("3.15."):
        pytest.skip(f"the expected list was made with Keras 3.15; installed {keras.__version__}")
    results = run.run()
    outcomes = {name: outcome for name, (outcome, _) in results.items()}
    counts = run.summarize(results)
    print("Keras upstream cases through numpy_nn:", counts)
    regressions = sorted(name for name in _expected() if outcomes.get(name) != "passed")
    assert not regressions, regressions[:20]
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert not failed, failed
    assert counts.get("passed", 0) >= len(_expected())
