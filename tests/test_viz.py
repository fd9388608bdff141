"""numpy_nn.viz: gradients by finite differences, formulas by naive oracles, metrics, figures, example."""
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numpy_nn as nn
from numpy_nn import activations as activation_functions
from numpy_nn import viz
from numpy_nn.config import set_random_seed
from tests.examples_loader import load_example
from numpy_nn.layers.activation import Softmax
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
from numpy_nn.models import Input, Model
from numpy_nn.viz import filters, tape
from tests.gradcheck_factory import assert_gradients_match

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_cnn(size=8, separate_softmax=False, seed=0):
    set_random_seed(seed)
    x = Input((size, size, 3), name="image")
    h = Conv2D(3, 3, padding="same", activation="relu", name="conv1")(x)
    h = MaxPooling2D(2, name="pool")(h)
    h = Conv2D(4, 3, padding="same", activation="relu", name="conv2")(h)
    h = GlobalAveragePooling2D(name="gap")(h)
    if separate_softmax:
        h = Dense(3, name="logits")(h)
        y = Softmax(name="softmax")(h)
    else:
        y = Dense(3, activation="softmax", name="probs")(h)
    return Model(x, y, name="tiny")


def images(n=2, size=8, seed=0, dtype="float32"):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype(dtype)


def logits_of(model, x):
    _, outputs, found = tape.forward(model, x)
    return tape.class_scores(outputs, found)


# --------------------------------------------------------------------------------------------
# Every gradient a method uses, against finite differences (float64)
# --------------------------------------------------------------------------------------------
@given(st.integers(0, 2), st.integers(0, 10**6))
def test_input_gradient_of_class_score(class_index, seed):
    """Saliency, SmoothGrad and integrated gradients all use d logit_c / d x."""
    nn.set_floatx("float64")
    try:
        model = small_cnn()
        x = nn.Tensor(images(2, seed=seed % 1000, dtype="float64"), requires_grad=True)
        assert_gradients_match(lambda: logits_of(model, x)[:, class_index], [x], names=["image"])
    finally:
        nn.set_floatx("float32")


@pytest.mark.parametrize("layer_name", ["conv1", "pool", "conv2"])
def test_gradient_with_respect_to_inner_activation(float64, layer_name):
    """The CAMs use d logit_c / d A; A is perturbed by a leaf ``delta`` added to the layer output."""
    model = small_cnn()
    x = images(2, dtype="float64")
    layer = model.get_layer(layer_name)
    shape = (2,) + tuple(layer.output.shape[1:])
    # a random offset breaks the ties between zeros (ReLU outputs) that max pooling would face
    delta = nn.Tensor(0.05 * np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    original = layer.call
    layer.call = lambda *args, **kwargs: original(*args, **kwargs) + delta
    try:
        assert_gradients_match(lambda: logits_of(model, x)[:, 1], [delta], names=[layer_name])
        # and the tape's gradient at the tapped tensor equals the gradient w.r.t. delta
        _, outputs, found = tape.forward(model, x, [layer_name])
        score, _ = tape.select(tape.class_scores(outputs, found), 1)
        by_tap = nn.grad(score, found[layer_name]).data
        by_delta = nn.grad(logits_of(model, x)[:, 1].sum(), delta).data
        np.testing.assert_allclose(by_tap, by_delta, rtol=1e-10, atol=1e-12)
    finally:
        del layer.call


@pytest.mark.parametrize("layer_name, filter_index", [("conv1", 2), ("conv2", 1)])
def test_filter_loss_gradient(float64, layer_name, filter_index):
    model = small_cnn()
    extract = filters.feature_extractor(model, layer_name)
    x = nn.Tensor(images(1, dtype="float64"), requires_grad=True)
    assert_gradients_match(lambda: filters._filter_loss(extract(x), filter_index), [x], names=["image"])


def test_regularized_objective_gradient_through_upsampling(float64):
    """Octave parametrization img = R_rows @ P @ R_cols (on the tape) and the TV term."""
    from numpy_nn.viz.colormap import _interpolation_matrix
    model = small_cnn()
    extract = filters.feature_extractor(model, "conv2")
    p = nn.Tensor(np.random.default_rng(1).random((1, 5, 6, 3)), requires_grad=True)
    rows, cols = nn.Tensor(_interpolation_matrix(5, 8)), nn.Tensor(_interpolation_matrix(6, 8).T)

    def objective():
        img = (rows @ p.transpose(0, 3, 1, 2) @ cols).transpose(0, 2, 3, 1)
        shifted = img[:, (np.arange(8) - 1) % 8][:, :, (np.arange(8) + 2) % 8]
        tv = ((img[:, 1:] - img[:, :-1]) ** 2).mean() + ((img[:, :, 1:] - img[:, :, :-1]) ** 2).mean()
        return filters._filter_loss(extract(shifted), 2) - 0.05 * tv - 0.01 * (img * img).mean()
    assert_gradients_match(objective, [p], names=["P"])


def test_guided_relu_rule_and_restore():
    from numpy_nn.ops.activations import ReLU
    rng = np.random.default_rng(0)
    x = nn.Tensor(rng.standard_normal((5, 7)), requires_grad=True)
    g = rng.standard_normal((5, 7))
    with viz.guided_relu():
        guided = nn.grad(ReLU.apply(x), x, grad_output=g).data
    ordinary = nn.grad(ReLU.apply(x), x, grad_output=g).data
    np.testing.assert_array_equal(guided, g * (x.data > 0) * (g > 0))
    np.testing.assert_array_equal(ordinary, g * (x.data > 0))


def test_guided_backprop_matches_a_manual_chain(float64):
    """One conv + ReLU + GAP + Dense: the guided gradient written out by hand."""
    x_in = Input((6, 6, 2))
    conv = Conv2D(3, 3, activation="relu", name="c")
    dense = Dense(2, name="d")
    model = Model(x_in, dense(GlobalAveragePooling2D()(conv(x_in))))
    x = images(1, 6, dtype="float64")[..., :2]
    raw = viz.GuidedBackprop(model).attribute(x, 0)
    # manual: g_A = W_d[:, 0] / 16 at every position; guided ReLU keeps g > 0 where z > 0
    kernel, bias = conv.kernel.data, conv.bias.data
    patches = np.lib.stride_tricks.sliding_window_view(x[0], (3, 3), axis=(0, 1))  # (4, 4, 2, 3, 3)
    z = np.einsum("ijcab,abcf->ijf", patches, kernel) + bias
    g_out = np.broadcast_to(dense.kernel.data[:, 0] / 16.0, z.shape)
    g_z = g_out * (z > 0) * (g_out > 0)
    expected = np.zeros((6, 6, 2))
    for i in range(4):
        for j in range(4):
            expected[i:i + 3, j:j + 3] += np.einsum("abcf,f->abc", kernel, g_z[i, j])
    np.testing.assert_allclose(raw[0], expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Grad-CAM family
# --------------------------------------------------------------------------------------------
def test_grad_cam_defaults_range_and_model_untouched():
    model = small_cnn()
    x = images(3)
    before = np.array(model(x, training=False).data)
    heat = viz.grad_cam(model, x)
    assert heat.shape == (3, 4, 4) and heat.min() >= 0 and heat.max() <= 1
    assert viz.grad_cam(model, x[0]).shape == (4, 4) and viz.grad_cam(model, x[:1]).shape == (4, 4)
    cam = viz.GradCAM(model)
    cam(x)
    assert cam.last["layer"] == "conv2"  # the last layer with a 4-D output
    np.testing.assert_array_equal(cam.last["class_index"], np.argmax(before, axis=1))
    # the model is unchanged: same outputs (softmax probabilities), no instance attributes left
    np.testing.assert_array_equal(model(x, training=False).data, before)
    assert all("call" not in vars(layer) for layer in model.layers)
    assert model.get_layer("probs").activation is activation_functions.softmax


def test_grad_cam_pooled_gradient_is_dense_column():
    """conv -> GAP -> Dense: d logit_c / dA_k = W[k, c] / (h w) at every position (docs/keras-conventions.md#grad-cam)."""
    model = small_cnn()
    cam = viz.GradCAM(model, "conv2")
    cam.compute(images(2), class_index=[0, 2])
    kernel = model.get_layer("probs").kernel.data
    expected = np.stack([kernel[:, 0], kernel[:, 2]]) / 16.0
    np.testing.assert_allclose(cam.last["weights"][:, 0, 0, :], expected, rtol=1e-5, atol=1e-8)
    assert np.allclose(cam.last["gradients"], expected[:, None, None, :], rtol=1e-5, atol=1e-8)


def test_grad_cam_uses_logits_of_a_separate_softmax_layer():
    a = small_cnn(separate_softmax=True)
    b = small_cnn()
    b.set_weights(a.get_weights())
    x = images(2)
    np.testing.assert_allclose(viz.grad_cam(a, x), viz.grad_cam(b, x), atol=1e-6)
    cam = viz.GradCAM(a)
    cam(x)
    logits = a.get_layer("logits")
    np.testing.assert_allclose(cam.last["scores"], np.asarray(nn.function(a.inputs, logits.output)(x)), atol=1e-6)


def test_zero_map_gives_zeros_not_nan():
    model = small_cnn()
    dense = model.get_layer("probs")
    dense.kernel.assign(-np.abs(dense.kernel.data))  # every channel weight negative, A >= 0
    heat = viz.grad_cam(model, images(2), class_index=1)
    assert not np.isnan(heat).any() and np.all(heat == 0)


def test_grad_cam_plus_plus_matches_loop_oracle():
    model = small_cnn()
    cam = viz.GradCAMPlusPlus(model)
    cam.compute(images(2), 1)
    A, g = cam.last["activations"].astype(np.float64), cam.last["gradients"].astype(np.float64)
    n, h, w, k = A.shape
    expected = np.zeros((n, h, w))
    for b in range(n):
        for c in range(k):
            total_a = A[b, :, :, c].sum()
            weight = 0.0
            for i in range(h):
                for j in range(w):
                    num = g[b, i, j, c] ** 2
                    den = 2 * num + total_a * g[b, i, j, c] ** 3
                    alpha = num / den if den != 0 else 0.0
                    weight += alpha * max(g[b, i, j, c], 0.0)
            expected[b] += weight * A[b, :, :, c]
    np.testing.assert_allclose(cam.last["raw"], expected, rtol=1e-4, atol=1e-6)


def test_nested_model_layer_path():
    inner_in = Input((8, 8, 3), name="inner_image")
    conv1 = Conv2D(3, 3, padding="same", activation="relu", name="conv1")
    conv2 = Conv2D(4, 3, padding="same", activation="relu", name="conv2")
    encoder = Model(inner_in, conv2(MaxPooling2D(2)(conv1(inner_in))), name="encoder")
    x_in = Input((8, 8, 3), name="image")
    head = Dense(3, activation="softmax", name="probs")
    nested = Model(x_in, head(GlobalAveragePooling2D()(encoder(x_in))))
    flat_in = Input((8, 8, 3))
    flat = Model(flat_in, head(GlobalAveragePooling2D()(conv2(MaxPooling2D(2)(conv1(flat_in))))))
    x = images(2)
    np.testing.assert_allclose(viz.grad_cam(nested, x, "encoder/conv2"), viz.grad_cam(flat, x, "conv2"), atol=1e-6)
    np.testing.assert_allclose(viz.grad_cam(nested, x, "encoder"), viz.grad_cam(flat, x, "conv2"), atol=1e-6)
    acts = viz.activations(nested, x, ["encoder/conv1"])
    assert acts["encoder/conv1"].shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match="encoder/nope"):
        viz.grad_cam(nested, x, "encoder/nope")


# --------------------------------------------------------------------------------------------
# Attributions
# --------------------------------------------------------------------------------------------
def test_integrated_gradients_completeness():
    model = small_cnn()
    x = images(2)
    raw = viz.IntegratedGradients(model, steps=300).attribute(x, 2)
    gap = logits_of(model, x).data[:, 2] - logits_of(model, np.zeros_like(x)).data[:, 2]
    np.testing.assert_allclose(raw.sum(axis=(1, 2, 3)), gap, rtol=2e-2, atol=2e-3)


def test_smoothgrad_without_noise_is_saliency_and_maps_are_normalized():
    model = small_cnn()
    x = images(2)
    np.testing.assert_allclose(viz.SmoothGrad(model, n_samples=3, noise_level=0.0)(x), viz.saliency(model, x),
                               atol=1e-6)
    for method in (viz.saliency, viz.smoothgrad, viz.integrated_gradients, viz.guided_backprop, viz.guided_grad_cam):
        maps = method(model, x)
        assert maps.shape == (2, 8, 8) and maps.min() >= 0 and maps.max() <= 1 and not np.isnan(maps).any()


# --------------------------------------------------------------------------------------------
# Filters, activations, images
# --------------------------------------------------------------------------------------------
def test_deprocess_crop_rule():
    raw = np.random.default_rng(0).standard_normal((180, 180, 3))
    assert filters.deprocess(raw).shape == (130, 130, 3)
    assert filters.deprocess(raw[:32, :32]).shape == (32, 32, 3)
    assert filters.deprocess(raw[:64, :64], crop=5).shape == (54, 54, 3)
    image = filters.deprocess(raw)
    assert image.dtype == np.uint8


def test_visualize_filter_ascends_and_is_reproducible():
    model = small_cnn()
    first = viz.visualize_filter(model, "conv2", 1, steps=10, seed=3)
    again = viz.visualize_filter(model, "conv2", 1, steps=10, seed=3)
    np.testing.assert_array_equal(first.raw, again.raw)
    assert first.losses[-1] > first.losses[0]
    loss, image = first
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8 and loss == first.loss
    regular = viz.visualize_filter(model, "conv2", 1, steps=5, seed=3, mode="regularized", octaves=2)
    assert regular.raw.shape == (8, 8, 3) and len(regular.losses) == 10
    with pytest.raises(ValueError, match="filter_index"):
        viz.visualize_filter(model, "conv2", 9)


def test_activations_default_layers_and_dead_channels(tmp_path):
    model = small_cnn()
    acts = viz.activations(model, images(1))
    assert list(acts) == ["conv1", "pool", "conv2"]
    conv1 = model.get_layer("conv1")
    conv1.kernel.assign(conv1.kernel.data * np.array([1, 1, 0], dtype="float32"))
    conv1.bias.assign(np.array([0, 0, -1], dtype="float32"))
    acts = viz.activations(model, images(1))
    assert viz.dead_channels(acts["conv1"][0]).tolist() == [False, False, True]
    counts = viz.plot_activations(acts, tmp_path / "acts.png", images_per_row=2)
    assert counts["conv1"] == 1 and (tmp_path / "acts.png").stat().st_size > 0
    assert viz.channel_image(np.zeros((3, 3))).tolist() == [[128] * 3] * 3


def test_colormap_and_resize():
    matplotlib = pytest.importorskip("matplotlib")
    lut = matplotlib.colormaps["jet"](np.arange(256))[:, :3]
    np.testing.assert_allclose(viz.jet(np.arange(256) / 255.0), lut, atol=1e-12)
    image = np.random.default_rng(0).random((3, 5))
    out = viz.resize(image, (7, 4))
    expected = np.zeros((7, 4))  # naive loop: half-pixel centres, clamped, bilinear
    for i in range(7):
        for j in range(4):
            y = min(max((i + 0.5) * 3 / 7 - 0.5, 0), 2)
            x = min(max((j + 0.5) * 5 / 4 - 0.5, 0), 4)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, 2), min(x0 + 1, 4)
            fy, fx = y - y0, x - x0
            expected[i, j] = ((1 - fy) * (1 - fx) * image[y0, x0] + (1 - fy) * fx * image[y0, x1]
                              + fy * (1 - fx) * image[y1, x0] + fy * fx * image[y1, x1])
    np.testing.assert_allclose(out, expected, atol=1e-12)
    rgb = viz.overlay(np.zeros((8, 8, 3)), np.eye(4), alpha=0.4)
    assert rgb.shape == (8, 8, 3) and rgb.min() == 0 and rgb.max() == 1


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
def test_pointing_energy_and_rank_correlation():
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[:, :2, :2] = True
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 1] = 1.0  # inside
    maps[1, 3, 3] = 1.0  # outside, 2 pixels (diagonal 2.8) away
    assert viz.pointing_game(maps, masks).tolist() == [True, False]
    assert viz.pointing_game(maps, masks, tolerance=3).tolist() == [True, True]
    np.testing.assert_allclose(viz.energy_inside(maps, masks), [1.0, 0.0])
    assert viz.pointing_baseline(masks) == 0.25
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 50), rng.random(50)
    assert abs(viz.rank_correlation(a, b) - scipy_stats.spearmanr(a, b).statistic) < 1e-12


def test_deletion_insertion_and_randomization_restore():
    model = small_cnn()
    x = images(3)
    weights = model.get_weights()
    maps = viz.grad_cam(model, x)
    deletion, insertion = viz.deletion_insertion(model, x, maps, [0, 1, 2], steps=4)
    assert deletion.shape == insertion.shape == (3,)
    assert np.all((deletion >= 0) & (deletion <= 1) & (insertion >= 0) & (insertion <= 1))
    result = viz.randomization_check(model, x, [0, 1, 2], method="saliency")
    assert [name for name, _ in result] == ["probs", "conv2", "conv1"]
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------------------------------
# A trained model: Grad-CAM points at the object, and depends on the learned weights
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    """The tour's CNN (numpy_nn/tour.py) trained on make_shapes for 12 epochs (about 40 s on 2 cores)."""
    from numpy_nn.datasets import make_shapes
    from numpy_nn.optimizers import Adam
    from numpy_nn.tour import build_cnn
    example = load_example("visualize_convnet")
    x, y, _ = make_shapes(2500, size=32, seed=0)
    model = build_cnn(32, 3, width=32, dropout=0.0, seed=0)
    model.compile(Adam(learning_rate=1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    set_random_seed(0)
    model.fit(x, y, batch_size=32, epochs=12, verbose=0)
    test = make_shapes(100, size=32, seed=1)
    return model, test, example


def test_trained_grad_cam_beats_random_pointing_and_passes_randomization(trained):
    model, (x, y, masks), _ = trained
    accuracy_on_test = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))
    maps = viz.grad_cam(model, x, layer_name="relu4", class_index=y)
    accuracy = viz.pointing_game(maps, masks).mean()
    baseline = viz.pointing_baseline(masks)
    print(f"test accuracy {accuracy_on_test:.3f}; Grad-CAM pointing game {accuracy:.3f} vs random-point "
          f"baseline {baseline:.3f}")
    assert accuracy_on_test > 0.5
    assert accuracy > 2 * baseline
    stages = viz.randomization_check(model, x[:10], y[:10], method="grad_cam")
    print("randomization cascade (layer, mean rank corr):", stages)
    assert stages[-1][1] < 0.5


def test_example_runs_in_quick_mode(tmp_path, trained):
    _, _, example = trained
    result = example.main(quick=True, out_dir=str(tmp_path))
    assert set(result["paths"]) >= {"activations", "filters", "units", "grad_cam", "cam_methods", "two_input",
                                    "history"}
    for path in result["paths"].values():
        assert os.path.getsize(path) > 1000
    assert set(result["table"]) >= {"grad_cam", "layer_cam", "eigen_cam", "random"}
    assert set(result["two_input"]["table"]) >= {"grad_cam", "score_cam", "random"}


def test_trained_new_cams_point_at_the_object_and_eigen_cam_ignores_the_classifier(trained):
    model, (x, y, masks), _ = trained
    x, y, masks = x[:40], y[:40], masks[:40]
    baseline = viz.pointing_baseline(masks)
    methods = {"layer_cam": viz.layer_cam, "xgrad_cam": viz.xgrad_cam, "score_cam": viz.score_cam,
               "ablation_cam": viz.ablation_cam, "eigen_cam": viz.eigen_cam}
    pointing = {name: float(viz.pointing_game(method(model, x, "relu4", y), masks).mean())
                for name, method in methods.items()}
    print(f"pointing game on 40 test images (random point {baseline:.3f}):", pointing)
    for name in ("layer_cam", "score_cam", "eigen_cam"):
        assert pointing[name] > 2 * baseline, (name, pointing[name], baseline)
    # Eigen-CAM explains no class: re-initializing the classifier cannot change its maps
    (_, top), = viz.randomization_check(model, x[:8], y[:8], "eigen_cam",
                                        stages=[("top", [model.get_layer("predictions")])])
    assert top == pytest.approx(1.0)
