"""plot_model draws every edge in the open: no edge, residual ones included, runs behind a layer's box."""
import pytest

import numpy_nn as nn
from numpy_nn import layers
from numpy_nn.models.plot import plot_model, route_edges
from numpy_nn.tour import build_cnn


def _segment_hits_box(p, q, box, shrink=1e-6):
    """True if the segment p-q passes through the inside of ``box`` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = box[0] + shrink, box[1] + shrink, box[2] - shrink, box[3] - shrink
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for denominator, numerator in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if denominator == 0:
            if numerator < 0:
                return False
            continue
        t = numerator / denominator
        if denominator < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _crossings(figure):
    """(edge, box name) pairs where an edge runs through a box other than its own two ends."""
    hits = []
    for (source, target), points in figure.edge_paths.items():
        for p, q in zip(points, points[1:]):
            for name, box in figure.layer_boxes.items():
                if name not in (source, target) and _segment_hits_box(p, q, box):
                    hits.append(((source, target), name))
    return hits


def _branchy_model():
    """Residual edges of several lengths, and a skip edge leaving a box that has a neighbour on its right."""
    inputs = nn.Input((8,), name="in")
    a = layers.Dense(8, name="a")(inputs)
    b = layers.Dense(8, name="b")(a)
    added = layers.Add(name="add1")([layers.Dense(8, name="c")(b), a])
    added = layers.Add(name="add2")([added, inputs])
    left, right = layers.Dense(4, name="left")(added), layers.Dense(4, name="right")(added)
    joined = layers.Concatenate(name="join")([layers.Dense(4, name="left2")(left), right])
    outputs = layers.Add(name="add3")([layers.Dense(8, name="d")(joined), layers.Concatenate(name="twice")([left, left])])
    return nn.Model(inputs, outputs)


@pytest.mark.parametrize("which", ["tour_cnn", "branchy"])
def test_no_edge_runs_behind_a_box(tmp_path, which):
    pytest.importorskip("matplotlib")
    model = build_cnn(16, 3, width=4) if which == "tour_cnn" else _branchy_model()
    figure = plot_model(model, to_file=str(tmp_path / "model.png"))
    assert (tmp_path / "model.png").stat().st_size > 1000
    skipping = [edge for edge, points in figure.edge_paths.items() if len(points) > 2]
    assert skipping, "the model has a residual edge, drawn as a routed polyline"
    if which == "tour_cnn":
        assert skipping == [("relu3", "residual")]
    assert _crossings(figure) == []


def test_straight_edge_through_a_box_would_be_caught():
    # the check itself: the old drawing (a residual arc through the middle column) is flagged
    boxes = {"a": (-1, -0.2, 1, 0.2), "b": (-1, -1.2, 1, -0.8), "c": (-1, -2.2, 1, -1.8)}
    assert _segment_hits_box((0, -0.2), (0, -1.8), boxes["b"])
    routes = route_edges({"a": (0, 0), "b": (0, -1), "c": (0, -2)}, boxes, [("a", "b"), ("b", "c"), ("a", "c")])
    assert not any(_segment_hits_box(p, q, boxes["b"]) for p, q in zip(routes[("a", "c")], routes[("a", "c")][1:]))
    assert routes[("a", "c")][1][0] > boxes["b"][2]          # the lane is to the right of the middle box
