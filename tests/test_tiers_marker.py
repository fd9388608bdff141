"""The ``both_tiers`` marker (tests/conftest.py) really switches the kernel tier."""
import pytest

import numpy_nn as nn

_seen = []


@pytest.mark.both_tiers
def test_marker_alone_runs_each_tier():
    _seen.append(nn.config.kernels())
    assert _seen[-1] in ("fast", "reference")   # the pair is checked by the next test


def test_both_tiers_were_run_once_each():
    assert sorted(_seen) == ["fast", "reference"]
