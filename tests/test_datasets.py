"""Tests of numpy_nn.datasets: synthetic shapes with masks, digits, stratified split."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_nn.datasets import SHAPES, load_digits, make_shapes, split


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(600, size=32, seed=3)


def test_shapes_types_ranges_and_shapes(shapes):
    images, labels, masks = shapes
    assert images.shape == (600, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (600,) and np.issubdtype(labels.dtype, np.integer)
    assert masks.shape == (600, 32, 32) and masks.dtype == bool
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(labels)) == {0, 1, 2}


def test_shapes_deterministic_for_a_seed():
    first, second, other = make_shapes(50, seed=7), make_shapes(50, seed=7), make_shapes(50, seed=8)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@given(n=st.integers(0, 40), k=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_classes_balanced(n, k, seed):
    _, labels, masks = make_shapes(n, size=12, seed=seed, classes=SHAPES[:k])
    counts = np.bincount(labels, minlength=k)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    assert masks.shape == (n, 12, 12)


def test_one_object_inside_frame_with_class_independent_area(shapes):
    _, labels, masks = shapes
    area = masks.sum(axis=(1, 2))
    assert area.min() >= 20
    border = masks[:, 0].any(1) | masks[:, -1].any(1) | masks[:, :, 0].any(1) | masks[:, :, -1].any(1)
    assert not border.any()
    # sizes are drawn per equivalent radius: class means of the area agree within 15%
    means = np.array([area[labels == k].mean() for k in range(3)])
    assert means.max() / means.min() < 1.15


def _mask_is_one_blob(mask):
    """4-connected flood fill from one mask pixel reaches every mask pixel."""
    seen = np.zeros_like(mask)
    stack = [tuple(np.argwhere(mask)[0])]
    while stack:
        i, j = stack.pop()
        if seen[i, j] or not mask[i, j]:
            continue
        seen[i, j] = True
        stack += [(a, b) for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1))
                  if 0 <= a < mask.shape[0] and 0 <= b < mask.shape[1]]
    return np.array_equal(seen, mask)


def test_mask_is_a_single_connected_object(shapes):
    _, _, masks = shapes
    assert all(_mask_is_one_blob(mask) for mask in masks[:40])


def test_mask_pixels_differ_from_background(shapes):
    images, _, masks = shapes
    for image, mask in zip(images[:200], masks[:200]):
        inside, outside = image[mask], image[~mask]
        colour_gap = np.linalg.norm(inside.mean(0) - outside.mean(0))
        # object colour is >= 0.35 away from the base colour; clutter and noise blur it a little
        assert colour_gap > 0.2
        # the object is nearly uniform in colour; the background is not much more uniform
        assert np.linalg.norm(inside.std(0)) < 0.2
    # pixels just outside the mask look like the background, not like the object
    image, mask = images[0], masks[0]
    ring = np.zeros_like(mask)
    ring[1:-1, 1:-1] = mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:]
    ring &= ~mask
    object_colour, background_colour = image[mask].mean(0), image[~mask].mean(0)
    ring_pixels = image[ring]
    closer_to_background = (np.linalg.norm(ring_pixels - background_colour, axis=1)
                            < np.linalg.norm(ring_pixels - object_colour, axis=1))
    assert closer_to_background.mean() > 0.9


def test_shape_outline_matches_class():
    """Compactness 4*pi*area/perimeter^2 of the masks orders circle > square > triangle."""
    _, labels, masks = make_shapes(300, size=64, seed=1, scale=(0.2, 0.25))
    edges = (masks[:, 1:, :] != masks[:, :-1, :]).sum((1, 2)) + (masks[:, :, 1:] != masks[:, :, :-1]).sum((1, 2))
    area = masks.sum((1, 2))
    # pixel-edge perimeter overestimates oblique edges, but the order of the classes survives
    fill = {name: (area / edges**2)[labels == k].mean() for k, name in enumerate(SHAPES)}
    assert fill["circle"] > fill["square"] > fill["triangle"]


def test_colour_carries_no_class_information(shapes):
    images, labels, masks = shapes
    object_colour = np.array([image[mask].mean(0) for image, mask in zip(images, masks)])
    class_means = np.array([object_colour[labels == k].mean(0) for k in range(3)])
    assert np.abs(class_means - class_means.mean(0)).max() < 0.08


def test_no_clutter_no_noise_background_is_smooth():
    images, _, masks = make_shapes(20, seed=0, clutter=0, noise=0.0)
    for image, mask in zip(images, masks):
        background = np.where(mask[..., None], np.nan, image)
        step = np.nanmax(np.abs(np.diff(background, axis=1)))
        assert step < 0.01   # only the faint linear gradient


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": ("circle", "hexagon")}, "hexagon"),
    ({"classes": ()}, "classes"),
    ({"scale": (0.2, 0.4)}, "0.4"),
    ({"size": 4}, "4"),
    ({"n": -1}, "-1"),
])
def test_bad_arguments_quote_the_value(kwargs, message):
    arguments = {"n": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_shapes(**arguments)


def test_load_digits():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    flat, _ = load_digits(as_images=False)
    assert flat.shape == (1797, 64)
    np.testing.assert_array_equal(flat.reshape(-1, 8, 8, 1), x)


def test_load_digits_without_sklearn_names_the_extra(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match="scikit-learn.*numpy_nn\\[dev\\]"):
        load_digits()


@given(n=st.integers(10, 200), seed=st.integers(0, 1000), n_classes=st.integers(1, 4))
def test_split_partitions_and_stratifies(n, seed, n_classes):
    y = np.arange(n) % n_classes
    x = np.arange(n) * 10
    parts = split(x, y, fractions=(0.6, 0.2, 0.2), seed=seed)
    assert len(parts) == 3
    all_x = np.concatenate([px for px, _ in parts])
    assert sorted(all_x.tolist()) == x.tolist()            # every sample exactly once
    for px, py in parts:
        np.testing.assert_array_equal(px // 10 % n_classes, py)   # x and y stay paired
    for k in range(n_classes):
        per_part = [np.sum(py == k) for _, py in parts]
        expected = np.array([0.6, 0.2, 0.2]) * np.sum(y == k)
        assert np.all(np.abs(np.array(per_part) - expected) <= 1)


def test_split_tuple_of_arrays_and_bad_fractions():
    images, labels, masks = make_shapes(30, size=12, seed=0)
    (train_x, train_y), (test_x, test_y) = split((images, masks), labels, (0.5, 0.5), seed=1)
    assert isinstance(train_x, tuple) and train_x[0].shape == (15, 12, 12, 3) and train_x[1].shape == (15, 12, 12)
    for image, mask in zip(*train_x):
        match = np.flatnonzero([np.array_equal(image, i) for i in images])
        np.testing.assert_array_equal(masks[match[0]], mask)
    with pytest.raises(ValueError, match="sum to 1"):
        split(images, labels, (0.5, 0.4))
    with pytest.raises(ValueError, match="30 samples but y has 29"):
        split(images, labels[:-1])
