"""numpy_nn.viz against the keras.io recipes run in Keras (JAX backend) on the same weights.

Grad-CAM: keras.io's recipe (softmax removed, grads of the logit w.r.t. the conv output, pooled
over (0, 1, 2), heat = A @ pooled, ReLU / max), with the gradient taken by ``jax.grad`` through
``stateless_call`` of a Keras model made of the layers above the chosen one.
Filter visualization: keras.io's 30-step gradient ascent from the same start image.
Several inputs and outputs: a two-input, two-output Keras model (dict and list forms) converted
with ``nn.interop.from_keras``; ``grad_cam(..., output=, class_index=)`` and
``grad_cam(..., target=callable)`` against the same recipe, Layer-CAM and XGrad-CAM against their
published formulas evaluated on Keras's activations and gradients.
"""
import numpy as np
import pytest

from tests import model_zoo
from tests.keras_helpers import import_keras, relative_diff

pytestmark = pytest.mark.keras


def small_cnn(L, size=16):
    x = L.Input((size, size, 3), name="image")
    h = L.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(x)
    h = L.MaxPooling2D(2, name="pool1")(h)
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.Conv2D(10, 3, activation="relu", name="conv3")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    y = L.Dense(3, activation="softmax", name="probs")(h)
    return L.Model(x, y, name="small_cnn")


@pytest.fixture(scope="module")
def pair():
    keras = import_keras()
    keras.utils.set_random_seed(3)
    theirs = small_cnn(model_zoo.theirs(keras))
    ours = small_cnn(model_zoo.ours())
    ours.set_weights(theirs.get_weights())
    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    return keras, theirs, ours, images


def keras_grad_cam(keras, model, image, layer_name, above, class_index=None):
    """keras.io's make_gradcam_heatmap, with jax.grad in place of tf.GradientTape.

    ``above``: names of the layers between ``layer_name`` and the output, applied in order.
    """
    import jax
    import jax.numpy as jnp
    saved = model.layers[-1].activation
    model.layers[-1].activation = None  # keras.io: "Remove last layer's softmax"
    try:
        feature_model = keras.Model(model.inputs, model.get_layer(layer_name).output)
        features = feature_model(image)
        a_in = keras.Input(features.shape[1:])
        h = a_in
        for name in above:
            h = model.get_layer(name)(h)
        head = keras.Model(a_in, h)
        trainable = [v.value for v in head.trainable_variables]
        non_trainable = [v.value for v in head.non_trainable_variables]
        logits = np.asarray(head.stateless_call(trainable, non_trainable, features)[0])
        pred_index = int(np.argmax(logits[0])) if class_index is None else class_index

        def class_channel(a):
            preds, _ = head.stateless_call(trainable, non_trainable, a)
            return jnp.sum(preds[:, pred_index])

        grads = jax.grad(class_channel)(jnp.asarray(features))
        pooled_grads = jnp.mean(grads, axis=(0, 1, 2))
        heatmap = features[0] @ pooled_grads[..., None]
        heatmap = jnp.squeeze(heatmap)
        heatmap = jnp.maximum(heatmap, 0) / jnp.max(heatmap)
        return np.asarray(heatmap), pred_index
    finally:
        model.layers[-1].activation = saved


@pytest.mark.parametrize("layer_name, above", [("conv3", ["gap", "probs"]), ("conv2", ["conv3", "gap", "probs"])])
def test_grad_cam_matches_keras_io_recipe(pair, layer_name, above):
    from numpy_nn.viz.cam import GradCAM, grad_cam
    keras, theirs, ours, images = pair
    worst = 0.0
    for i in range(len(images)):
        image = images[i:i + 1]
        expected, predicted = keras_grad_cam(keras, theirs, image, layer_name, above)
        default_layer = None if layer_name == "conv3" else layer_name  # conv3 is the last 4-D layer
        got = grad_cam(ours, image, layer_name=default_layer)
        assert got.shape == expected.shape
        assert not np.isnan(expected).any()
        worst = max(worst, float(np.max(np.abs(got - expected))))
        cam = GradCAM(ours, layer_name)
        cam(image)
        assert cam.last["class_index"][0] == predicted
        # another class than the predicted one
        other = (predicted + 1) % 3
        expected_other, _ = keras_grad_cam(keras, theirs, image, layer_name, above, class_index=other)
        if not np.isnan(expected_other).any():
            worst = max(worst, float(np.max(np.abs(grad_cam(ours, image, layer_name, other) - expected_other))))
    assert worst <= 1e-5, worst
    # the Keras model's softmax was restored by the helper, ours was never touched
    assert np.allclose(np.asarray(theirs(images)).sum(axis=1), 1, atol=1e-5)
    assert np.allclose(np.asarray(ours(images, training=False).data).sum(axis=1), 1, atol=1e-5)


def keras_visualize_filter(keras, model, layer_name, filter_index, start, iterations=30, learning_rate=10.0):
    """keras.io's compute_loss / gradient_ascent_step loop (l2_normalize over the whole tensor)."""
    import jax
    import jax.numpy as jnp
    extractor = keras.Model(model.inputs, model.get_layer(layer_name).output)
    trainable = [v.value for v in extractor.trainable_variables]
    non_trainable = [v.value for v in extractor.non_trainable_variables]

    def compute_loss(img):
        activation, _ = extractor.stateless_call(trainable, non_trainable, img)
        return jnp.mean(activation[:, 2:-2, 2:-2, filter_index])

    img = jnp.asarray(start)
    loss = None
    for _ in range(iterations):
        loss, grads = jax.value_and_grad(compute_loss)(img)
        grads = grads / jnp.sqrt(jnp.maximum(jnp.sum(grads ** 2), 1e-12))
        img = img + learning_rate * grads
    return float(loss), np.asarray(img)


@pytest.mark.parametrize("layer_name, filter_index", [("conv2", 3), ("conv3", 7)])
def test_visualize_filter_matches_keras_io_recipe(pair, layer_name, filter_index):
    from numpy_nn.viz.filters import deprocess, start_image, visualize_filter
    keras, theirs, ours, _ = pair
    start = start_image((1, 16, 16, 3), seed=5)
    expected_loss, expected_raw = keras_visualize_filter(keras, theirs, layer_name, filter_index, start)
    result = visualize_filter(ours, layer_name, filter_index, initial_image=start)
    assert len(result.losses) == 30
    assert relative_diff(result.raw, expected_raw[0]) <= 1e-4
    assert abs(result.loss - expected_loss) <= 1e-4 * max(abs(expected_loss), 1.0)
    assert expected_loss > 0  # the ascent did something
    # the deprocessed image agrees to within one grey level
    diff = np.abs(result.image.astype(int) - deprocess(expected_raw[0]).astype(int))
    assert diff.max() <= 1


# --------------------------------------------------------------------------------------------
# A two-input, two-output model converted with nn.interop.from_keras
# --------------------------------------------------------------------------------------------
def two_io_model(keras, dict_io):
    L = keras.layers
    image, meta = L.Input((16, 16, 3), name="image"), L.Input((4,), name="meta")
    h = L.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(image)
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(h)
    features = L.GlobalAveragePooling2D(name="gap")(h)
    side = L.Dense(5, activation="relu", name="meta_dense")(meta)
    joined = L.Concatenate(name="joined")([features, side])
    kind = L.Dense(3, activation="softmax", name="kind")(joined)
    price = L.Dense(1, name="price")(L.Dense(6, activation="tanh", name="price_hidden")(joined))
    if dict_io:
        return keras.Model({"image": image, "meta": meta}, {"kind": kind, "price": price}, name="two_io")
    return keras.Model([image, meta], [kind, price], name="two_io")


HEAD_LAYERS = ("gap", "meta_dense", "joined", "kind", "price_hidden", "price")


@pytest.fixture(scope="module", params=[True, False], ids=["dict_io", "list_io"])
def two_io(request):
    from numpy_nn.interop import from_keras
    keras = import_keras()
    keras.utils.set_random_seed(7)
    theirs = two_io_model(keras, request.param)
    ours = from_keras(theirs)
    rng = np.random.default_rng(1)
    x = {"image": rng.random((3, 16, 16, 3)).astype("float32"), "meta": rng.standard_normal((3, 4)).astype("float32")}
    fed = x if request.param else [x["image"], x["meta"]]
    return keras, theirs, ours, x, fed


def keras_conv2_and_gradient(keras, model, x, score_of_outputs, softmax=True):
    """(A, g): conv2's output and d score / d A by jax.grad through a Keras head built from the model's
    own layers above conv2 (keras.io's grad_model, stateless). ``softmax=False`` removes the softmax of
    "kind" during the call, as keras.io does; ``score_of_outputs(kind, price)`` -> (N,)."""
    import jax
    import jax.numpy as jnp
    features = np.asarray(keras.Model(model.inputs, model.get_layer("conv2").output)(x if isinstance(x, dict) else
                                                                                    list(x)))
    a_in, meta_in = keras.Input(features.shape[1:]), keras.Input((4,))
    get = model.get_layer
    joined = get("joined")([get("gap")(a_in), get("meta_dense")(meta_in)])
    head = keras.Model([a_in, meta_in], [get("kind")(joined), get("price")(get("price_hidden")(joined))])
    trainable = [v.value for v in head.trainable_variables]
    non_trainable = [v.value for v in head.non_trainable_variables]
    saved = get("kind").activation
    if not softmax:
        get("kind").activation = keras.activations.linear
    try:
        def total(a):
            (kind, price), _ = head.stateless_call(trainable, non_trainable, [a, jnp.asarray(x["meta"])])
            return jnp.sum(score_of_outputs(kind, price))
        g = np.asarray(jax.grad(total)(jnp.asarray(features)))
        (kind, _), _ = head.stateless_call(trainable, non_trainable, [jnp.asarray(features), jnp.asarray(x["meta"])])
    finally:
        get("kind").activation = saved
    return features, g, np.asarray(kind)


def keras_io_heatmap(features, grads):
    """keras.io's last lines, per image: pooled gradients, A @ pooled, ReLU, / max."""
    heat = np.einsum("hwk,k->hw", features, grads.mean(axis=(0, 1)))
    return np.maximum(heat, 0) / np.max(heat)


def test_grad_cam_output_and_class_index_matches_keras_io_on_two_inputs_two_outputs(two_io):
    from numpy_nn.viz import grad_cam
    keras, theirs, ours, x, fed = two_io
    worst = 0.0
    for k in range(3):
        features, g, logits = keras_conv2_and_gradient(keras, theirs, x, lambda kind, price: kind[:, k], softmax=False)
        got = grad_cam(ours, fed, "conv2", class_index=k, output="kind")
        for n in range(3):
            # keras.io works on one image at a time; the batch gradient of sum_n logit_n splits per image
            expected = keras_io_heatmap(features[n], g[n])
            if np.isnan(expected).any():
                continue
            worst = max(worst, float(np.max(np.abs(got[n] - expected))))
    by_index = grad_cam(ours, fed, "conv2", class_index=1, output=0)
    np.testing.assert_array_equal(by_index, grad_cam(ours, fed, "conv2", class_index=1, output="kind"))
    print(f"grad_cam(output='kind', class_index=k) vs keras.io: max abs diff {worst:.2e}")
    assert worst <= 1e-4, worst


def test_grad_cam_target_callable_matches_keras_io_on_two_inputs_two_outputs(two_io):
    from numpy_nn.viz import grad_cam
    keras, theirs, ours, x, fed = two_io

    def mixed(kind, price):  # a score on the outputs as the model returns them (probabilities, raw price)
        return 2.0 * price[:, 0] - kind[:, 1]

    def target(outs):
        kind, price = (outs["kind"], outs["price"]) if isinstance(outs, dict) else outs
        return 2.0 * price[:, 0] - kind[:, 1]
    features, g, _ = keras_conv2_and_gradient(keras, theirs, x, mixed, softmax=True)
    got = grad_cam(ours, fed, "conv2", target=target)
    worst = 0.0
    for n in range(3):
        expected = keras_io_heatmap(features[n], g[n])
        assert not np.isnan(expected).any()
        worst = max(worst, float(np.max(np.abs(got[n] - expected))))
    print(f"grad_cam(target=2 price - p(kind=1)) vs keras.io: max abs diff {worst:.2e}")
    assert worst <= 1e-4, worst


@pytest.mark.parametrize("method", ["layer_cam", "xgrad_cam"])
def test_layer_cam_and_xgrad_cam_match_their_formulas_on_keras_gradients(two_io, method):
    from numpy_nn import viz
    keras, theirs, ours, x, fed = two_io
    features, g, _ = keras_conv2_and_gradient(keras, theirs, x, lambda kind, price: kind[:, 2], softmax=False)
    A, g = features.astype(np.float64), g.astype(np.float64)
    if method == "layer_cam":   # Jiang et al. 2021: ReLU(sum_k ReLU(g) A)
        raw = np.sum(np.maximum(g, 0) * A, axis=-1)
    else:                       # Fu et al. 2020: w_k = sum_ij A g / (sum_ij A + 1e-7)
        w = np.sum(A * g, axis=(1, 2)) / (np.sum(A, axis=(1, 2)) + 1e-7)
        raw = np.einsum("nijk,nk->nij", A, w)
    raw = np.maximum(raw, 0)
    expected = raw / raw.max(axis=(1, 2), keepdims=True)
    got = getattr(viz, method)(ours, fed, "conv2", class_index=2, output="kind")
    diff = float(np.max(np.abs(got - expected)))
    print(f"{method} vs its formula on Keras's gradients: max abs diff {diff:.2e}")
    assert diff <= 1e-4, diff
