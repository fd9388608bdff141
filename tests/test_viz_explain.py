"""Explanations for any model: several inputs and outputs, targets, the new CAMs, CAMs over time,
unit visualization with a Fourier parameterization, bad input, and the figures that teach."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn import viz
from numpy_nn.config import set_random_seed
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.merge import Concatenate
from numpy_nn.layers.pooling import GlobalAveragePooling2D
from numpy_nn.layers.reshaping import Flatten, Reshape
from numpy_nn.models import Input, Model
from numpy_nn.viz import tape, targets
from numpy_nn.viz.colormap import _interpolation_matrix, resize
from tests.gradcheck_factory import assert_gradients_match
from tests.test_viz import images, small_cnn


def two_input_model(dict_io=True, seed=0, image_to_kind=True):
    """image (8, 8, 3) -> conv -> GAP;  meta (5,) -> Dense;  outputs kind (softmax 3) and price (1)."""
    set_random_seed(seed)
    image, meta = Input((8, 8, 3), name="image"), Input((5,), name="meta")
    features = GlobalAveragePooling2D(name="gap")(Conv2D(4, 3, padding="same", activation="relu", name="conv")(image))
    side = Dense(4, activation="relu", name="meta_dense")(meta)
    joined = Concatenate(name="joined")([features, side])
    kind = Dense(3, activation="softmax", name="kind")(joined if image_to_kind else side)
    price = Dense(1, name="price")(joined)
    if dict_io:
        return Model({"image": image, "meta": meta}, {"kind": kind, "price": price}, name="two_io")
    return Model([image, meta], [kind, price], name="two_io")


def two_inputs(n=3, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    return {"image": rng.random((n, 8, 8, 3)).astype(dtype), "meta": rng.standard_normal((n, 5)).astype(dtype)}


# --------------------------------------------------------------------------------------------
# Any input structure, any output
# --------------------------------------------------------------------------------------------
def test_cam_same_for_dict_list_and_key_order_and_output_by_name_or_index():
    as_dict, as_list = two_input_model(True), two_input_model(False)
    as_list.set_weights(as_dict.get_weights())
    x = two_inputs()
    by_name = viz.grad_cam(as_dict, x, "conv", class_index=2, output="kind")
    reordered = viz.grad_cam(as_dict, {"meta": x["meta"], "image": x["image"]}, "conv", class_index=2, output="kind")
    by_index = viz.grad_cam(as_dict, x, "conv", class_index=2, output=0)  # outputs sorted: kind, price
    listed = viz.grad_cam(as_list, [x["image"], x["meta"]], "conv", class_index=2, output="kind")
    assert by_name.shape == (3, 8, 8) and by_name.max() == 1
    for other in (reordered, by_index, listed):
        np.testing.assert_array_equal(other, by_name)
    one = viz.grad_cam(as_dict, {"image": x["image"][0], "meta": x["meta"][0]}, "conv", class_index=2, output="kind")
    np.testing.assert_allclose(one, by_name[0], atol=1e-6)  # one unbatched sample -> (h, w)


def test_output_gradients_are_the_dense_columns():
    """conv -> GAP -> concat -> Dense: d y / dA[n, i, j, k] = W[k, c] / (h w) for each output's score."""
    model = two_input_model()
    x = two_inputs()
    kernel_kind, kernel_price = model.get_layer("kind").kernel.data, model.get_layer("price").kernel.data
    cam = viz.GradCAM(model, "conv")
    cam.compute(x, class_index=[0, 1, 2], output="kind")
    np.testing.assert_allclose(cam.last["gradients"][:, 0, 0, :], kernel_kind[:4, [0, 1, 2]].T / 64, rtol=1e-5)
    cam.compute(x, target=targets.Regression(-1.0, output="price"))
    np.testing.assert_allclose(cam.last["gradients"][:, 3, 5, :], -np.tile(kernel_price[:4, 0], (3, 1)) / 64,
                               rtol=1e-5)
    cam.compute(x, target=lambda outs: -outs["price"][:, 0])  # the same target as a plain callable
    np.testing.assert_allclose(cam.last["gradients"][:, 3, 5, :], -np.tile(kernel_price[:4, 0], (3, 1)) / 64,
                               rtol=1e-5)
    # a callable receives the outputs as the model returns them: softmax probabilities for "kind"
    seen = {}
    viz.grad_cam(model, x, "conv", target=lambda outs: seen.setdefault("kind", outs["kind"])[:, 1])
    np.testing.assert_allclose(seen["kind"].data.sum(axis=1), 1, atol=1e-6)


def test_attributions_return_one_map_per_input_and_are_true_gradients(float64):
    model = two_input_model()
    x = two_inputs(2, dtype="float64")
    saliency = viz.Saliency(model)
    raw = saliency.attribute(x, class_index=1, output="kind")
    assert set(raw) == {"image", "meta"} and raw["image"].shape == (2, 8, 8, 3) and raw["meta"].shape == (2, 5)

    def score(values):
        with nn.no_grad():
            _, outputs, found = tape.forward(model, values)
        return tape.ModelOutputs(model, outputs, found).logits("kind").data[:, 1].sum()
    rng = np.random.default_rng(3)
    for _ in range(3):  # directional derivatives by central differences, both inputs at once
        v = {key: rng.standard_normal(value.shape) for key, value in x.items()}
        eps = 1e-6
        plus = score({k: x[k] + eps * v[k] for k in x})
        minus = score({k: x[k] - eps * v[k] for k in x})
        np.testing.assert_allclose(sum((raw[k] * v[k]).sum() for k in x), (plus - minus) / (2 * eps), rtol=1e-6)
    maps = viz.saliency(model, [x["image"], x["meta"]], class_index=1, output="kind")
    assert isinstance(maps, list) and maps[0].shape == (2, 8, 8) and maps[1].shape == (2, 5)
    np.testing.assert_allclose(maps[1], np.abs(raw["meta"]) / np.abs(raw["meta"]).max(axis=1, keepdims=True))
    for method in (viz.smoothgrad, viz.guided_backprop, viz.guided_grad_cam):
        out = method(model, x, output="kind")
        assert out["image"].shape == (2, 8, 8) and out["meta"].shape == (2, 5) and not np.isnan(out["meta"]).any()


def test_integrated_gradients_completeness_over_two_inputs():
    model = two_input_model()
    x = two_inputs(2)
    raw = viz.IntegratedGradients(model, steps=300).attribute(x, target=targets.Regression(1.0, "price"))
    total = raw["image"].sum(axis=(1, 2, 3)) + raw["meta"].sum(axis=1)
    price = lambda values: np.asarray(model.predict(values, verbose=0)["price"][:, 0])  # noqa: E731
    gap = price(x) - price({k: np.zeros_like(v) for k, v in x.items()})
    np.testing.assert_allclose(total, gap, rtol=2e-2, atol=2e-3)


def test_similarity_and_class_score_targets():
    set_random_seed(1)
    left, right = Input((6,), name="left"), Input((6,), name="right")
    encoder = nn.Sequential([Input((6,)), Dense(4, name="embed")], name="encoder")
    model = Model([left, right], [encoder(left), encoder(right)], name="siamese_embeddings")
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((3, 6)).astype("float32") for _ in range(2)]
    e1, e2 = model.predict(x, verbose=0)
    raw = viz.Saliency(model).attribute(x, target=targets.Similarity(metric="cosine"))
    # d cos(e1, e2) / d left = W (e2/|e1||e2| - cos e1/|e1|^2), W the shared kernel (6, 4)
    cos = (e1 * e2).sum(1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    n1, n2 = np.linalg.norm(e1, axis=1, keepdims=True), np.linalg.norm(e2, axis=1, keepdims=True)
    d_e1 = e2 / (n1 * n2) - cos[:, None] * e1 / n1 ** 2
    kernel = encoder.get_layer("embed").kernel.data
    np.testing.assert_allclose(raw[0], d_e1 @ kernel.T, rtol=1e-4, atol=1e-6)
    reference = targets.Similarity(reference=e2[0], metric="distance")
    view = tape.ModelOutputs(model, [nn.Tensor(e1), nn.Tensor(e2)])
    np.testing.assert_allclose(reference.score(view).data, -((e1 - e2[0]) ** 2).sum(1), rtol=1e-5)
    # ClassScore reads the logits inside the viz methods and the given outputs when called directly
    cnn = small_cnn()
    probabilities = cnn(images(2), training=False)
    np.testing.assert_allclose(targets.ClassScore(1)(probabilities).data, probabilities.data[:, 1])


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, message", [
    (lambda m, x: viz.grad_cam(m, {"image": x["image"]}, "conv", output="kind"), ValueError, r"missing \['meta'\]"),
    (lambda m, x: viz.grad_cam(m, x["image"], "conv", output="kind"), ValueError, r"2 input\(s\) \['image', 'meta'\]"),
    (lambda m, x: viz.grad_cam(m, x, "conv", output="prices"), ValueError, r"'prices'.*\['kind', 'price'\]"),
    (lambda m, x: viz.grad_cam(m, x, "conv", output=5), ValueError, r"out of range.*\['kind', 'price'\]"),
    (lambda m, x: viz.grad_cam(m, x, "conv"), ValueError, r"2 outputs \['kind', 'price'\]: choose one"),
    (lambda m, x: viz.grad_cam(m, x, "conv", target=lambda o: o["price"]), ValueError, r"shape \(3, 1\); expected \(3,\)"),
    (lambda m, x: viz.grad_cam(m, x, "conv", target=lambda o: 1.0), TypeError, r"must return a Tensor of shape \(3,\)"),
    (lambda m, x: viz.grad_cam(m, x, "meta_dense", output="kind"), ValueError, r"'meta_dense'.*no spatial axes"),
    (lambda m, x: viz.grad_cam(m, x, "conv", class_index=1, target=lambda o: o["price"][:, 0]), ValueError,
     "either class_index"),
    (lambda m, x: viz.grad_cam(m, x, "conv", target=targets.Regression([1, 2], "price")), ValueError,
     r"direction has shape \(2,\); the output has 1 values"),
    (lambda m, x: viz.saliency(m, x, output="kind", class_index=7), ValueError, r"class_index must be in \[0, 3\)"),
])
def test_bad_input_names_what_was_expected(call, error, message):
    with pytest.raises(error, match=message):
        call(two_input_model(), two_inputs())


# --------------------------------------------------------------------------------------------
# The new CAMs, each against its formula computed independently
# --------------------------------------------------------------------------------------------
def test_layer_cam_and_xgrad_cam_formulas():
    model = small_cnn()
    x = images(2)
    for cls, formula in ((viz.LayerCAM, lambda A, g: np.maximum(g, 0) * A),
                         (viz.XGradCAM, lambda A, g: (A * g).sum((1, 2), keepdims=True) / (A.sum((1, 2), keepdims=True) + 1e-7) * A)):
        cam = cls(model, "conv2")
        heat = cam(x, class_index=[2, 0])
        A, g = cam.last["activations"].astype(np.float64), cam.last["gradients"].astype(np.float64)
        raw = formula(A, g).sum(-1)
        np.testing.assert_allclose(cam.last["raw"], raw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(heat, np.maximum(raw, 0) / np.maximum(raw, 0).max((1, 2), keepdims=True), atol=1e-6)


def test_score_cam_matches_loop_oracle():
    model = small_cnn()
    x = images(2)
    cam = viz.ScoreCAM(model, "conv1")
    cam(x, class_index=[1, 2])
    A = cam.last["activations"]
    expected = np.zeros((2, A.shape[-1]))
    for n in range(2):
        for k in range(A.shape[-1]):
            up = resize(A[n, :, :, k], (8, 8))
            if up.max() == up.min():
                continue
            mask = (up - up.min()) / (up.max() - up.min())
            probabilities = model.predict((x[n] * mask[..., None])[None].astype("float32"), verbose=0)
            expected[n, k] = probabilities[0, [1, 2][n]]
    np.testing.assert_allclose(cam.last["weights"][:, 0, 0, :], expected, rtol=1e-4, atol=1e-6)


def test_ablation_cam_matches_zeroed_filters():
    """conv2 has a ReLU: zeroing channel k of its output = zeroing kernel[..., k] and bias[k]."""
    model = small_cnn(separate_softmax=True)
    x = images(2)
    cam = viz.AblationCAM(model, "conv2")
    cam(x, class_index=1)
    logits = nn.function(model.inputs, model.get_layer("logits").output)
    y = logits(x)[:, 1]
    conv = model.get_layer("conv2")
    kernel, bias = conv.kernel.numpy().copy(), conv.bias.numpy().copy()
    for k in range(4):
        conv.kernel.assign(np.where(np.arange(4) == k, 0, kernel))
        conv.bias.assign(np.where(np.arange(4) == k, 0, bias))
        y_k = logits(x)[:, 1]
        np.testing.assert_allclose(cam.last["weights"][:, 0, 0, k], (y - y_k) / y, rtol=1e-4, atol=1e-6)
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)


def test_eigen_cam_is_the_first_principal_direction():
    model = small_cnn()
    cam = viz.EigenCAM(model, "conv1")
    heat = cam(images(2))
    A = cam.last["activations"].astype(np.float64).reshape(2, -1, 3)
    for n in range(2):
        values, vectors = np.linalg.eigh(A[n].T @ A[n])  # another route to the first right singular vector
        v = vectors[:, -1] * np.sign((A[n] @ vectors[:, -1]).sum())
        np.testing.assert_allclose(cam.last["weights"][n, 0, 0], v, atol=1e-5)
        projection = np.maximum(A[n] @ v, 0).reshape(8, 8)
        np.testing.assert_allclose(heat[n], projection / projection.max(), atol=1e-5)
    assert cam.last["gradients"] is None  # no gradient needed


# --------------------------------------------------------------------------------------------
# CAMs over time: (N, T', C) feature maps, upsampled to the input length T
# --------------------------------------------------------------------------------------------
def dense_over_time_model():
    """(12, 4) -> Reshape (6, 8) -> Dense per step (a pointwise convolution over time) -> Flatten -> softmax."""
    set_random_seed(2)
    x = Input((12, 4), name="series")
    h = Dense(5, activation="relu", name="pointwise")(Reshape((6, 8), name="pairs")(x))
    y = Dense(3, activation="softmax", name="probs")(Flatten(name="flat")(h))
    return Model(x, y, name="series_net"), "pointwise"


SEQUENCE_MODELS = [dense_over_time_model]  # a Conv1D model joins here once the layer exists


@pytest.mark.parametrize("build", SEQUENCE_MODELS)
def test_cams_along_time(build):
    model, layer = build()
    x = np.random.default_rng(0).standard_normal((3, 12, 4)).astype("float32")
    assert tape.default_cam_layer(model, x) == layer
    cam = viz.HiResCAM(model)
    heat = cam(x, class_index=2)
    A = cam.last["activations"]
    steps, channels = A.shape[1:]
    # Flatten -> Dense: d logit_c / dA[n, t, k] = W[t * channels + k, c]
    kernel = model.get_layer("probs").kernel.data[:, 2].reshape(steps, channels)
    raw = np.maximum((A * kernel).sum(-1), 0)
    expected = raw @ _interpolation_matrix(steps, 12).T  # linear, half-pixel centres, then / max
    expected /= expected.max(1, keepdims=True)
    assert heat.shape == (3, 12)
    np.testing.assert_allclose(heat, expected, atol=1e-5)
    for method in (viz.grad_cam, viz.layer_cam, viz.score_cam, viz.ablation_cam, viz.eigen_cam):
        maps = method(model, x)
        assert maps.shape == (3, 12) and maps.min() >= 0 and np.allclose(maps.max(1), 1)
    assert viz.saliency(model, x).shape == (3, 12)  # max over the features of each step


# --------------------------------------------------------------------------------------------
# Unit visualization and the Fourier parameterization
# --------------------------------------------------------------------------------------------
def test_fourier_image_matches_the_sum_of_waves_and_its_gradient(float64):
    from numpy_nn.viz.fourier import FourierImage
    basis = FourierImage(4, 6, 2, dtype="float64")
    params = np.random.default_rng(0).standard_normal((2, 2, 4, 6))
    fy, fx = np.fft.fftfreq(4), np.fft.fftfreq(6)
    expected = np.zeros((4, 6, 2))
    for y in range(4):
        for x in range(6):
            for u in range(4):
                for v in range(6):
                    s = 1 / max(np.hypot(fy[u], fx[v]), 1 / 6)
                    phase = 2 * np.pi * (fy[u] * y + fx[v] * x)
                    expected[y, x] += s * (params[0, :, u, v] * np.cos(phase) + params[1, :, u, v] * np.sin(phase))
    np.testing.assert_allclose(basis.to_numpy(params)[0], expected / np.sqrt(24), atol=1e-12)
    p = nn.Tensor(params, requires_grad=True)
    weights = nn.Tensor(np.random.default_rng(1).standard_normal((1, 4, 6, 2)))
    assert_gradients_match(lambda: (basis.image(p) * weights).sum(), [p], names=["spectrum"])


def test_visualize_unit_raises_a_dense_unit_and_a_class_logit():
    model = small_cnn(size=8)
    probs = model.get_layer("probs")
    probs.kernel.assign(np.abs(probs.kernel.numpy()))  # class 1's logit can grow (not capped by negative weights)
    for layer, unit in (("probs", 1), ("conv2", 3)):
        for parameterization in ("pixel", "fourier"):
            result = viz.visualize_unit(model, layer, unit, steps=25, seed=4, parameterization=parameterization)
            assert result.losses[-1] > result.losses[0] + 0.1, (layer, parameterization, result.losses)
            assert result.image.shape == (8, 8, 3) and result.image.dtype == np.uint8
    again = viz.visualize_unit(model, "probs", 1, steps=25, seed=4, parameterization="fourier")
    np.testing.assert_array_equal(again.raw, viz.visualize_unit(model, "probs", 1, steps=25, seed=4,
                                                                parameterization="fourier").raw)
    # the class objective is the pre-softmax logit, not the probability
    objective, what = viz.unit.unit_objective(model, "probs", 2)
    x = images(1)
    assert what == "class logit"
    np.testing.assert_allclose(float(objective(x).data), float(tape.forward(model, x)[2]["__logits__"].data[0, 2]),
                               rtol=1e-6)
    bounded = viz.visualize_unit(model, "probs", 0, steps=5, seed=0, value_range=(0, 1))
    assert bounded.raw.min() >= 0 and bounded.raw.max() <= 1
    with pytest.raises(ValueError, match=r"unit must be in \[0, 3\)"):
        viz.visualize_unit(model, "probs", 3, steps=1)


def test_visualize_unit_and_filter_on_two_inputs():
    model = two_input_model()
    result = viz.visualize_unit(model, "meta_dense", 2, steps=20, seed=0)
    assert set(result.raw) == {"image", "meta"} and result.raw["meta"].shape == (5,)
    assert result.losses[-1] > result.losses[0]
    keras_style = viz.visualize_filter(model, "conv", 1, steps=10, seed=0)
    assert keras_style.image["image"].dtype == np.uint8 and keras_style.losses[-1] > keras_style.losses[0]


# --------------------------------------------------------------------------------------------
# Metrics on a model with two inputs: only the image input is perturbed
# --------------------------------------------------------------------------------------------
def test_metrics_perturb_only_the_named_image_input():
    model = two_input_model(image_to_kind=False)  # "kind" sees only the meta input
    x = two_inputs(4)
    masks = np.zeros((4, 8, 8), dtype=bool)
    masks[:, 2:5, 2:5] = True
    labels = np.array([0, 1, 2, 0])
    p = model.predict(x, verbose=0)["kind"][np.arange(4), labels]
    maps = np.random.default_rng(0).random((4, 8, 8))
    deletion, insertion = viz.deletion_insertion(model, x, maps, labels, steps=4, output="kind")
    np.testing.assert_allclose(deletion, p, rtol=1e-5)  # the image does not matter, so p never moves
    np.testing.assert_allclose(insertion, p, rtol=1e-5)
    table = viz.evaluate_explanations(model, x, labels, masks, methods=("saliency", "random"), output="kind",
                                      randomization=False, print_fn=None)
    assert table["saliency"]["deletion_auc"] == pytest.approx(float(p.mean()), rel=1e-5)
    from numpy_nn.viz.metrics import _explained_head, _weighted_layers
    weighted = _weighted_layers(model)  # "price" comes last in model order; "kind" is what is explained
    assert _explained_head(model, "kind", weighted).name == "kind"
    assert _explained_head(model, "price", weighted).name == "price"
    with pytest.raises(ValueError, match="input_name"):
        viz.evaluate_explanations(model, x, labels, masks, methods=("random",), output="kind", input_name="nope",
                                  print_fn=None)


# --------------------------------------------------------------------------------------------
# Figures that teach
# --------------------------------------------------------------------------------------------
def test_right_and_wrong_mixes_both_and_history_marks():
    from numpy_nn.viz.plotting import learning_rate_cuts, restored_epoch_of
    y_true = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    y_pred = np.array([0, 1, 1, 0, 2, 2, 0, 1])
    chosen = viz.right_and_wrong(y_true, y_pred, 4)
    assert list(chosen) == [0, 1, 2, 4]  # two right, then both wrong ones
    assert list(viz.right_and_wrong(y_true, y_true, 3)) == [0, 1, 2]
    assert learning_rate_cuts({"learning_rate": [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]}) == [(2, 1e-3, 5e-4), (4, 5e-4, 2.5e-4)]

    class Stopper:
        restore_best_weights, best_weights, best_epoch = True, [0], 3
    assert restored_epoch_of([object(), Stopper()]) == 3
    Stopper.best_weights = None  # stopped before any epoch was recorded: nothing restored
    assert restored_epoch_of([Stopper()]) is None


def test_figures_are_written(tmp_path):
    model = small_cnn()
    x = images(3)
    acts = viz.activations(model, x[:1])
    viz.plot_activations(acts, tmp_path / "acts.png", image=x[0], label="circle (predicted circle)")
    conv2 = model.get_layer("conv2")
    conv2.bias.assign(np.array([0, 0, 0, -100], dtype="float32"))  # filter 3 can never fire from a small image
    grid, results = viz.plot_filters(model, "conv2", tmp_path / "filters.png", steps=5, seed=0)
    assert [r.excited for r in results][3] is False and grid.dtype == np.uint8
    units = viz.plot_units(model, "probs", [0, 2], tmp_path / "units.png", steps=5, seed=0)
    assert set(units[2]) == {"pixel", "fourier"}
    heat = {"Grad-CAM": viz.grad_cam(model, x, "conv2"), "Score-CAM": viz.score_cam(model, x, "conv2")}
    viz.plot_cam(x, heat, tmp_path / "cam.png", layer_name="conv2", true=[0, 1, 2], predicted=[0, 2, 2],
                 class_names=["a", "b", "c"])
    viz.plot_history({"loss": [1.0, 0.8, 0.9], "val_loss": [1.1, 0.9, 1.0], "learning_rate": [1e-3, 1e-3, 5e-4]},
                     tmp_path / "history.png", restored_epoch=1)
    for name in ("acts", "filters", "units", "cam", "history"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000


def test_ensemble_table_says_what_the_weights_mean():
    from numpy_nn.ensemble import describe_weights
    assert "the weighted ensemble is cnn alone" in describe_weights({"mlp": 0.0, "cnn": 1.0, "wide": 0.0})
    assert "Weights 0/1/0" in describe_weights({"mlp": 0.0, "cnn": 1.0, "wide": 0.0})
    assert "close to the plain mean" in describe_weights({"a": 0.34, "b": 0.33, "c": 0.33})
    mixed = describe_weights({"a": 0.7, "b": 0.3, "c": 0.0})
    assert "mixes a 0.70, b 0.30" in mixed and "c gets no weight" in mixed
