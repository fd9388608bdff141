"""Losses: gradients w.r.t. y_pred, naive oracles, Keras parity (values, reductions, gradients), get/resolve."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpy_nn as nn
from numpy_nn import losses
from tests import oracles_activations as oracle
from tests import oracles_losses
from tests.gradcheck_factory import assert_gradients_match
from tests.keras_helpers import import_keras


def _probabilities(rng, n, k, normalised=True):
    p = rng.uniform(0.05, 1.0, size=(n, k))
    return p / p.sum(-1, keepdims=True) if normalised else p


GRADIENT_CASES = ["cce", "cce_logits", "cce_unnormalised", "cce_smooth", "sparse", "sparse_logits", "bce",
                  "bce_logits", "mse", "mae", "huber", "kld", "hinge", "squared_hinge", "categorical_hinge", "mape",
                  "msle", "cosine", "log_cosh", "poisson", "focal_bce", "focal_bce_logits", "focal_cce",
                  "focal_cce_logits", "sparse_ignore", "dice", "tversky", "gce", "circle"]


@pytest.mark.parametrize("case", GRADIENT_CASES)
@settings(max_examples=6)
@given(n=st.integers(1, 4), k=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_loss_gradients(n, k, seed, case):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    one_hot = np.eye(k)[labels]
    logits = rng.normal(size=(n, k)) * 2
    target_distribution = _probabilities(rng, n, k)
    fn = {
        "cce": (lambda p: losses.categorical_crossentropy(one_hot, p), _probabilities(rng, n, k)),
        "cce_logits": (lambda p: losses.categorical_crossentropy(one_hot, p, from_logits=True), logits),
        "cce_unnormalised": (lambda p: losses.categorical_crossentropy(one_hot, p), _probabilities(rng, n, k, False)),
        "cce_smooth": (lambda p: losses.categorical_crossentropy(one_hot, p, label_smoothing=0.2),
                       _probabilities(rng, n, k)),
        "sparse": (lambda p: losses.sparse_categorical_crossentropy(labels, p), _probabilities(rng, n, k)),
        "sparse_logits": (lambda p: losses.sparse_categorical_crossentropy(labels[:, None], p, from_logits=True),
                          logits),
        "bce": (lambda p: losses.binary_crossentropy(one_hot, p, label_smoothing=0.1), rng.uniform(0.05, 0.95, (n, k))),
        "bce_logits": (lambda p: losses.binary_crossentropy(one_hot, p, from_logits=True), logits),
        "mse": (lambda p: losses.mean_squared_error(logits * 0.5, p), logits),
        "mae": (lambda p: losses.mean_absolute_error(one_hot, p), logits + 0.05),
        "huber": (lambda p: losses.huber(one_hot, p, delta=0.7),
                  np.where(np.abs(np.abs(logits - one_hot) - 0.7) < 0.02, logits + 0.05, logits)),
        "kld": (lambda p: losses.kl_divergence(target_distribution, p), _probabilities(rng, n, k)),
        "hinge": (lambda p: losses.hinge(one_hot, p), logits + 0.013),
        "squared_hinge": (lambda p: losses.squared_hinge(one_hot, p), logits + 0.013),
        "categorical_hinge": (lambda p: losses.categorical_hinge(one_hot, p), logits * 3 + np.arange(k) * 0.1),
        "mape": (lambda p: losses.mean_absolute_percentage_error(logits * 0.5 + 2.0, p), logits + 0.05),
        "msle": (lambda p: losses.mean_squared_logarithmic_error(target_distribution, p), _probabilities(rng, n, k)),
        "cosine": (lambda p: losses.cosine_similarity(logits * 0.5 + 0.1, p), logits),
        "log_cosh": (lambda p: losses.log_cosh(logits * 0.5, p), logits),
        "poisson": (lambda p: losses.poisson(one_hot * 2.0, p), _probabilities(rng, n, k) + 0.1),
        "focal_bce": (lambda p: losses.binary_focal_crossentropy(one_hot, p, apply_class_balancing=True, gamma=1.5),
                      rng.uniform(0.05, 0.95, (n, k))),
        "focal_bce_logits": (lambda p: losses.binary_focal_crossentropy(one_hot, p, from_logits=True), logits),
        "focal_cce": (lambda p: losses.categorical_focal_crossentropy(one_hot, p, alpha=[0.3] * k),
                      _probabilities(rng, n, k, False)),
        "focal_cce_logits": (lambda p: losses.categorical_focal_crossentropy(one_hot, p, from_logits=True), logits),
        "sparse_ignore": (lambda p: losses.sparse_categorical_crossentropy(np.where(labels == 0, -1, labels), p,
                                                                           from_logits=True, ignore_class=-1), logits),
        "dice": (lambda p: losses.dice(one_hot, p, axis=1), _probabilities(rng, n, k)),
        "tversky": (lambda p: losses.tversky(one_hot, p, alpha=0.3, beta=0.7), _probabilities(rng, n, k)),
        "gce": (lambda p: losses.categorical_generalized_cross_entropy(labels, p, q=0.7), _probabilities(rng, n, k)),
        "circle": (lambda p: losses.circle(labels % 2, p, gamma=2.0, remove_diagonal=False),
                   logits / np.linalg.norm(logits, axis=1, keepdims=True)),
    }[case]
    loss_fn, prediction = fn
    if case in ("hinge", "squared_hinge", "mae"):  # keep away from the kinks |error| = 0, margin = 1
        prediction = np.where(np.abs(np.abs(prediction) - 1) < 0.02, prediction + 0.05, prediction)
        prediction = np.where(np.abs(prediction - one_hot) < 0.02, prediction + 0.05, prediction)
    p = nn.Tensor(prediction.astype(np.float64), requires_grad=True)
    assert_gradients_match(lambda: loss_fn(p), [p], names=[case])


def test_against_naive_oracles():
    rng = np.random.default_rng(0)
    y = np.eye(4)[rng.integers(0, 4, size=6)]
    p = _probabilities(rng, 6, 4, normalised=False)
    p[0] = [0.0, 1.0, 0.0, 0.0]  # clipping
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p).data, oracle.categorical_crossentropy_rows(y, p),
                               rtol=1e-12)
    z = rng.normal(size=(6, 4)) * 3
    np.testing.assert_allclose(losses.categorical_crossentropy(y, z, from_logits=True).data,
                               oracle.categorical_crossentropy_rows(y, z, from_logits=True), rtol=1e-12)
    q = rng.uniform(0, 1, size=(6, 4))
    q[0, :2] = [0.0, 1.0]
    np.testing.assert_allclose(losses.binary_crossentropy(y, q).data, oracle.binary_crossentropy_rows(y, q),
                               rtol=1e-12)


def test_float32_clip_gotcha_and_reductions():
    # p = 1 with y = 0 in float32: 1 - 1e-7 rounds to 0.99999988, so -log(1.19e-7) = 15.942
    value = losses.binary_crossentropy(np.array([[0.0]]), np.array([[1.0]], dtype=np.float32))
    assert value.dtype == np.float32
    np.testing.assert_allclose(value.data, [15.942385], rtol=1e-6)
    values = nn.Tensor(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=np.float32))
    weights = np.array([1, 2, 0, 0, 1, 1])
    assert losses.reduce_weighted_values(values, weights).item() == pytest.approx((1 + 4 + 5 + 6) / 6)
    assert losses.reduce_weighted_values(values, weights, "mean_with_sample_weight").item() == pytest.approx(16 / 5)
    assert losses.reduce_weighted_values(values, weights, "sum").item() == pytest.approx(16)
    assert losses.reduce_weighted_values(values, weights, "none").shape == (6,)
    assert losses.reduce_weighted_values(values, np.zeros(6), "mean_with_sample_weight").item() == 0.0


def test_validation_messages():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: label 3 is out of range \[0, 3\)"):
        losses.sparse_categorical_crossentropy(np.array([0, 3]), p)
    with pytest.raises(ValueError, match=r"y_true.shape=\(2, 4\), y_pred.shape=\(2, 3\)"):
        losses.categorical_crossentropy(np.zeros((2, 4)), p)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="Valid names:.*mean_squared_error"):
        losses.get("mean_squared_errors")


def test_get_resolve_and_config():
    assert losses.get("mse") is losses.mean_squared_error and losses.get("MAE") is losses.mean_absolute_error
    cce = losses.get("CategoricalCrossentropy")
    assert isinstance(cce, losses.CategoricalCrossentropy) and cce.name == "categorical_crossentropy"
    config = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1).get_config()
    assert config == {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": True,
                      "label_smoothing": 0.1, "axis": -1}
    rebuilt = losses.get({"class_name": "CategoricalCrossentropy", "config": config})
    assert rebuilt.get_config() == config
    assert losses.get({"class_name": "function", "config": "mae"}) is losses.mean_absolute_error
    custom = lambda y, p: p  # noqa: E731
    assert losses.get(custom) is custom
    for y_shape, p_shape, expected in [((8, 1), (8, 1), losses.binary_crossentropy),
                                       ((8,), (8, 5), losses.sparse_categorical_crossentropy),
                                       ((8, 1), (8, 5), losses.sparse_categorical_crossentropy),
                                       ((8, 5), (8, 5), losses.categorical_crossentropy)]:
        for name in ("crossentropy", "ce", "CE"):
            resolved = losses.resolve(name, y_shape, p_shape)
            assert isinstance(resolved, losses.Loss) and resolved.fn is expected and resolved.name == name
    assert losses.resolve("mse", (4, 1), (4, 1)).fn is losses.mean_squared_error
    instance = losses.Huber()
    assert losses.resolve(instance, (1,), (1,)) is instance


# -- Keras parity ---------------------------------------------------------------------------------------------------
def _keras_value_and_grad(keras_loss, y, p, sample_weight):
    import jax
    import jax.numpy as jnp

    def f(p_):
        return keras_loss(y, p_, sample_weight=sample_weight)

    value, grad = jax.value_and_grad(f)(jnp.asarray(p))
    return float(value), np.asarray(grad)


@pytest.mark.keras
def test_losses_match_keras():
    keras = import_keras()
    rng = np.random.default_rng(5)
    n, k = 6, 4
    labels = rng.integers(0, k, size=n)
    y = np.eye(k, dtype=np.float32)[labels]
    probs = _probabilities(rng, n, k, normalised=False).astype(np.float32)  # unnormalised on purpose
    extremes = probs.copy()
    extremes[0] = [0.0, 1.0, 0.0, 0.0]
    extremes[1] = [1.0, 0.0, 0.0, 0.0]
    logits = (rng.normal(size=(n, k)) * 3).astype(np.float32)
    binary = rng.uniform(0, 1, size=(n, 3)).astype(np.float32)
    binary[0] = [0.0, 1.0, 0.5]
    binary_y = rng.integers(0, 2, size=(n, 3)).astype(np.float32)
    binary_y[0] = [1.0, 0.0, 1.0]
    weights = np.array([1, 2, 0, 0, 1, 1], dtype=np.float32)
    reg_y = rng.normal(size=(n, 3)).astype(np.float32)
    K, O = keras.losses, losses
    cases = [
        (K.CategoricalCrossentropy(), O.CategoricalCrossentropy(), y, probs),
        (K.CategoricalCrossentropy(), O.CategoricalCrossentropy(), y, extremes),
        (K.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
         O.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), y, logits),
        (K.CategoricalCrossentropy(label_smoothing=0.2), O.CategoricalCrossentropy(label_smoothing=0.2), y, probs),
        (K.SparseCategoricalCrossentropy(), O.SparseCategoricalCrossentropy(), labels, extremes),
        (K.SparseCategoricalCrossentropy(from_logits=True), O.SparseCategoricalCrossentropy(from_logits=True),
         labels[:, None], logits),
        (K.BinaryCrossentropy(), O.BinaryCrossentropy(), binary_y, binary),
        (K.BinaryCrossentropy(label_smoothing=0.1), O.BinaryCrossentropy(label_smoothing=0.1), binary_y, binary),
        (K.BinaryCrossentropy(from_logits=True), O.BinaryCrossentropy(from_logits=True), binary_y, logits[:, :3]),
        (K.BinaryCrossentropy(), O.BinaryCrossentropy(), binary_y[:, 0], binary[:, :1]),  # (N,) vs (N, 1)
        (K.MeanSquaredError(), O.MeanSquaredError(), reg_y, logits[:, :3]),
        (K.MeanAbsoluteError(), O.MeanAbsoluteError(), reg_y, logits[:, :3]),
        (K.Huber(delta=0.8), O.Huber(delta=0.8), reg_y, logits[:, :3]),
        (K.KLDivergence(), O.KLDivergence(), y * 0.7 + 0.075, probs),
        (K.Hinge(), O.Hinge(), binary_y, logits[:, :3]),
        (K.SquaredHinge(), O.SquaredHinge(), binary_y, logits[:, :3]),
        (K.CategoricalHinge(), O.CategoricalHinge(), y, logits),
        (K.MeanAbsolutePercentageError(), O.MeanAbsolutePercentageError(), reg_y, logits[:, :3]),
        (K.MeanSquaredLogarithmicError(), O.MeanSquaredLogarithmicError(), np.abs(reg_y), probs[:, :3]),
        (K.CosineSimilarity(axis=-1), O.CosineSimilarity(axis=-1), reg_y, logits[:, :3]),
        (K.LogCosh(), O.LogCosh(), reg_y, logits[:, :3]),
        (K.Poisson(), O.Poisson(), np.abs(reg_y), probs[:, :3]),
        (K.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5),
         O.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5), binary_y, binary),
        (K.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.1),
         O.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.1), binary_y, logits[:, :3]),
        (K.CategoricalFocalCrossentropy(), O.CategoricalFocalCrossentropy(), y, probs),
        (K.CategoricalFocalCrossentropy(from_logits=True, alpha=[0.1, 0.2, 0.3, 0.4], label_smoothing=0.1),
         O.CategoricalFocalCrossentropy(from_logits=True, alpha=[0.1, 0.2, 0.3, 0.4], label_smoothing=0.1), y, logits),
        (K.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2),
         O.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2), labels, logits),
        (K.Dice(axis=1), O.Dice(axis=1), binary_y, binary),
        (K.Tversky(alpha=0.3, beta=0.7, axis=1), O.Tversky(alpha=0.3, beta=0.7, axis=1), binary_y, binary),
        (K.CategoricalGeneralizedCrossEntropy(q=0.7), O.CategoricalGeneralizedCrossEntropy(q=0.7), labels,
         probs / probs.sum(1, keepdims=True)),
        (K.Circle(gamma=4.0), O.Circle(gamma=4.0), labels % 3, logits / np.linalg.norm(logits, axis=1, keepdims=True)),
    ]
    worst = {}
    for keras_loss, our_loss, y_true, y_pred in cases:
        for reduction, sample_weight in [("sum_over_batch_size", None), ("sum_over_batch_size", weights),
                                         ("mean_with_sample_weight", weights[:, None]), ("sum", weights)]:
            keras_loss.reduction = our_loss.reduction = reduction
            k_value, k_grad = _keras_value_and_grad(keras_loss, y_true, y_pred, sample_weight)
            p = nn.Tensor(y_pred, requires_grad=True)
            value = our_loss(y_true, p, sample_weight=sample_weight)
            assert value.dtype == np.float32
            grad = nn.grad(value, p).data
            rel = abs(value.item() - k_value) / max(abs(k_value), 1e-12)
            grel = np.max(np.abs(grad - k_grad)) / max(np.max(np.abs(k_grad)), 1e-12)
            assert rel <= 1e-5 and grel <= 1e-4, (our_loss.name, reduction, value.item(), k_value, rel, grel)
            worst[our_loss.name] = max(worst.get(our_loss.name, (0, 0)), (rel, grel))
    k_none = np.asarray(K.CategoricalCrossentropy(reduction="none")(y, extremes))
    np.testing.assert_allclose(O.CategoricalCrossentropy(reduction="none")(y, extremes).data, k_none, rtol=1e-6)
    print("worst (value, gradient) relative diffs:", worst)


@pytest.mark.keras
def test_loss_names_configs_and_dtypes_match_keras():
    """Every Keras loss class and function exists, with Keras's default name and config
    keys (Keras omits some, e.g. Huber's delta); inputs are cast to the loss dtype."""
    keras = import_keras()
    K = keras.losses
    class_names = [n for n in dir(K) if isinstance(getattr(K, n), type) and n != "Loss"]
    function_names = [n for n in dir(K) if callable(getattr(K, n)) and not isinstance(getattr(K, n), type)
                      and n not in ("get", "serialize", "deserialize")]
    assert len(class_names) >= 22 and not [n for n in class_names + function_names if not hasattr(losses, n)]
    for name in class_names:
        ours, theirs = getattr(losses, name)(), getattr(K, name)()
        assert ours.get_config() == theirs.get_config(), name
        assert ours.dtype == theirs.dtype == "float32"
    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.7]])          # float64 in, float32 out (Keras)
    assert losses.MeanSquaredError()(y, p).dtype == np.float32
    assert losses.BinaryCrossentropy(dtype="float16")(y, p).dtype == np.float16
    with pytest.raises(AttributeError):
        losses.MeanSquaredError().dtype = "float64"


def test_one_class_crossentropy_warns_like_keras():
    with pytest.warns(SyntaxWarning, match="num_classes > 1"):
        losses.categorical_crossentropy(np.ones((2, 1)), np.ones((2, 1)))


def test_ignore_class_is_masked_out_of_the_mean():
    logits = np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]], dtype=np.float32)
    per_pixel = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction=None)(
        np.array([[-1, 2]]), logits)
    np.testing.assert_allclose(per_pixel.data, [[0.0, 1.480129]], rtol=1e-6)   # Keras's golden value
    mean = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(np.array([[-1, 2]]), logits)
    assert mean.item() == pytest.approx(1.480129, rel=1e-6)                     # divided by 1 valid pixel, not 2
    p = nn.Tensor(logits, requires_grad=True)
    gradient = nn.grad(losses.sparse_categorical_crossentropy(np.array([[-1, 2]]), p, from_logits=True,
                                                              ignore_class=-1).sum(), p).data
    assert np.all(gradient[0, 0] == 0) and np.all(gradient[0, 1] != 0)


@pytest.mark.parametrize("frames,classes,label", [(4, 3, [1, 2]), (5, 3, [1, 1]), (4, 4, [3]), (3, 3, [])])
@settings(max_examples=8)
@given(seed=st.integers(0, 2**16))
def test_ctc_matches_path_enumeration_and_finite_differences(frames, classes, label, seed):
    """CTC against the sum over every alignment (C^T paths), then its gradient in float64."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, frames, classes)) * 2
    labels = np.zeros((2, 3), dtype=np.int64)
    labels[0, :len(label)] = label
    labels[1, :1] = [classes - 1]
    values = losses.ctc(labels, logits).data
    np.testing.assert_allclose(values[0], oracles_losses.ctc_by_paths(logits[0].tolist(), label), rtol=1e-10)
    np.testing.assert_allclose(values[1], oracles_losses.ctc_by_paths(logits[1].tolist(), [classes - 1]),
                               rtol=1e-10)
    p = nn.Tensor(logits, requires_grad=True)
    assert_gradients_match(lambda: losses.ctc(labels, p), [p], names=["ctc"])


@pytest.mark.keras
def test_ctc_matches_keras_value_and_gradient():
    keras = import_keras()
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 6, 5)).astype(np.float32)
    labels = np.array([[1, 2, 2, 0], [4, 4, 3, 1], [3, 0, 2, 0]])      # repeats; a 0 inside the label (Keras)
    k_value, k_grad = _keras_value_and_grad(keras.losses.CTC(), labels, logits, None)
    p = nn.Tensor(logits, requires_grad=True)
    value = losses.CTC()(labels, p)
    grad = nn.grad(value, p).data
    assert abs(value.item() - k_value) <= 1e-5 * abs(k_value)
    assert np.max(np.abs(grad - k_grad)) <= 1e-5 * np.max(np.abs(k_grad))
