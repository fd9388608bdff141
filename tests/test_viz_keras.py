"""numpy_nn.viz against the keras.io recipes run in Keras (JAX backend) on the same weights.

Grad-CAM: keras.io's recipe (softmax removed, grads of the logit w.r.t. the conv output, pooled
over (0, 1, 2), heat = A @ pooled, ReLU / max), with the gradient taken by ``jax.grad`` through
``stateless_call`` of a Keras model made of the layers above the chosen one.
Filter visualization: keras.io's 30-step gradient ascent from the same start image.
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
