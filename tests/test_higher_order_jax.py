"""Hessian-vector products through ``nn.grad(..., create_graph=True)`` against JAX, and a WGAN-GP
gradient penalty (a gradient inside a loss) checked against finite differences and trained a step.

The JAX side is written by hand (jax.numpy and lax, float64 via ``jax.enable_x64``) with the
numpy_nn model's weights, so both compute the same function; its HVP is forward-over-reverse,
``jax.jvp(jax.grad(loss), (w,), (v,))``. Ours is reverse-over-reverse:
``g = nn.grad(L, w, create_graph=True); Hv = nn.grad(sum(g * v), w)``.
"""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.layers.conv import Conv2D
from numpy_nn.layers.core import Dense
from numpy_nn.layers.pooling import GlobalAveragePooling2D, MaxPooling2D
from numpy_nn.models import Input, Model
from tests.gradcheck_factory import floatx64
from tests.keras_helpers import relative_diff

EPS = 1e-7  # Keras's epsilon in the crossentropy's clip


def mlp(seed=0):
    nn.set_random_seed(seed)
    x = Input((6,))
    h = Dense(8, activation="tanh")(x)
    h = Dense(6, activation="sigmoid")(h)
    h = Dense(5, activation="relu")(h)
    return Model(x, Dense(3, activation="softmax")(h))


def cnn(seed=0):
    nn.set_random_seed(seed)
    x = Input((6, 6, 2))
    h = Conv2D(3, 3, padding="same", activation="relu")(x)
    h = MaxPooling2D(2)(h)
    h = Conv2D(4, 2, activation="tanh")(h)
    h = GlobalAveragePooling2D()(h)
    return Model(x, Dense(3, activation="softmax")(h))


def jax_forward(kind):
    """The same model as a pure JAX function f(weights, x) (weights in the model's order)."""
    import jax.numpy as jnp
    from jax import lax

    def dense(h, w, b):
        return h @ w + b

    def conv(h, k, b, padding):
        return lax.conv_general_dilated(h, k, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    def softmax(z):
        e = jnp.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def f_mlp(w, x):
        h = jnp.tanh(dense(x, w[0], w[1]))
        h = 1 / (1 + jnp.exp(-dense(h, w[2], w[3])))
        h = jnp.maximum(dense(h, w[4], w[5]), 0)
        return softmax(dense(h, w[6], w[7]))

    def f_cnn(w, x):
        h = jnp.maximum(conv(x, w[0], w[1], "SAME"), 0)
        h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = jnp.tanh(conv(h, w[2], w[3], "VALID")).mean(axis=(1, 2))
        return softmax(dense(h, w[4], w[5]))

    return f_mlp if kind == "mlp" else f_cnn


def jax_loss(kind, y):
    """Keras's categorical crossentropy on probabilities, averaged over the batch."""
    import jax.numpy as jnp
    forward = jax_forward(kind)

    def loss(w, x):
        p = forward(w, x)
        q = jnp.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        return -(y * jnp.log(q)).sum(axis=-1).mean()
    return loss


def our_hvp(model, x, y, v, wrt):
    """Hessian-vector product of the batch-mean crossentropy w.r.t. the weights or the input."""
    x_t = nn.Tensor(x, requires_grad=True)
    loss = nn.losses.categorical_crossentropy(y, model(x_t)).mean()
    params = list(model.trainable_weights) if wrt == "weights" else [x_t]
    grads = nn.grad(loss, params, create_graph=True)
    dot = sum((g * nn.Tensor(u)).sum() for g, u in zip(grads, v))
    return float(loss.data), [h.data for h in nn.grad(dot, params)]


_JAX_RESULTS = {}  # (kind, x) -> (loss, HVP w.r.t. weights, HVP w.r.t. the input): the same in both tiers


def jax_hvps(kind, weights, x, y, v_weights, v_input):
    """Loss and both Hessian-vector products, forward-over-reverse, in one jitted call (one compile)."""
    key = (kind, np.asarray(x).tobytes())
    if key not in _JAX_RESULTS:
        import jax
        import jax.numpy as jnp
        with jax.enable_x64(True):
            loss = jax_loss(kind, jnp.asarray(y))

            @jax.jit
            def hvps(w, x_, vw, vx):
                hv_w = jax.jvp(jax.grad(lambda w_: loss(w_, x_)), (w,), (vw,))[1]
                hv_x = jax.jvp(jax.grad(lambda z: loss(w, z)), (x_,), (vx,))[1]
                return loss(w, x_), hv_w, hv_x
            value, hv_w, hv_x = hvps([jnp.asarray(a) for a in weights], jnp.asarray(x),
                                     [jnp.asarray(a) for a in v_weights], jnp.asarray(v_input))
            _JAX_RESULTS[key] = float(value), [np.asarray(h) for h in hv_w], [np.asarray(hv_x)]
    return _JAX_RESULTS[key]


@pytest.mark.both_tiers
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_hessian_vector_product_matches_jax(kind):
    pytest.importorskip("jax")
    rng = np.random.default_rng(1)
    with floatx64():
        model = mlp() if kind == "mlp" else cnn()
        x = rng.standard_normal((4, 6) if kind == "mlp" else (2, 6, 6, 2))
        y = np.eye(3)[rng.integers(0, 3, len(x))]
        v_weights = [rng.standard_normal(w.shape) for w in model.trainable_weights]
        v_input = rng.standard_normal(x.shape)
        loss, ours_w = our_hvp(model, x, y, v_weights, "weights")
        _, ours_x = our_hvp(model, x, y, [v_input], "input")
        weights = [w.numpy() for w in model.trainable_weights]
    their_loss, theirs_w, theirs_x = jax_hvps(kind, weights, x, y, v_weights, v_input)
    assert abs(loss - their_loss) < 1e-12, "the JAX function is not the same model"
    for what, ours, theirs in (("weights", ours_w, theirs_w), ("input", ours_x, theirs_x)):
        for a, b in zip(ours, theirs):
            assert np.max(np.abs(b)) > 1e-6, "a Hessian-vector product of zeros checks nothing"
            assert relative_diff(a, b) < 1e-10, \
                f"{what}: max abs {np.max(np.abs(a - b)):.3g}, rel {relative_diff(a, b):.3g}"


# -- a gradient penalty (WGAN-GP): ||grad_x D(x)|| inside the critic's loss ---------------------------
def critic(seed=0):
    nn.set_random_seed(seed)
    x = Input((4,))
    h = Dense(8, activation="tanh")(x)
    h = Dense(8, activation="leaky_relu")(h)
    return Model(x, Dense(1)(h))


def gradient_penalty(model, real, fake, mix):
    """mean over the batch of (||dD/dx at x_hat||_2 - 1)^2, x_hat = mix * real + (1 - mix) * fake."""
    x_hat = nn.Tensor(mix * real + (1 - mix) * fake, requires_grad=True)
    g = nn.grad(model(x_hat).sum(), x_hat, create_graph=True)
    norm = ((g * g).sum(axis=1) + 1e-12).sqrt()
    return ((norm - 1.0) ** 2).mean()


def critic_loss(model, real, fake, mix, weight=10.0):
    return model(fake).mean() - model(real).mean() + weight * gradient_penalty(model, real, fake, mix)


def test_gradient_penalty_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    real, fake, mix = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)) + 1, rng.random((5, 1))
    with floatx64():
        model = critic()
        weights = list(model.trainable_weights)
        nn.gradcheck(lambda *_: gradient_penalty(model, real, fake, mix), weights, atol=1e-7, rtol=1e-5,
                     names=[w.path for w in weights])
        penalty_grads = nn.grad(gradient_penalty(model, real, fake, mix), weights)
        assert max(np.max(np.abs(g.data)) for g in penalty_grads) > 1e-3, "a penalty with no gradient checks nothing"


def test_gradient_penalty_trains_the_critic():
    rng = np.random.default_rng(0)
    real, fake, mix = rng.standard_normal((16, 4)), rng.standard_normal((16, 4)) + 1, rng.random((16, 1))
    with floatx64():
        model = critic()
        optimizer = nn.optimizers.SGD(learning_rate=0.01)
        losses, penalties = [], []
        for _ in range(3):
            loss = critic_loss(model, real, fake, mix)
            grads = nn.grad(loss, model.trainable_weights)
            optimizer.apply_gradients(zip([g.data for g in grads], model.trainable_weights))
            losses.append(float(loss.data))
            penalties.append(float(gradient_penalty(model, real, fake, mix).data))
    assert losses[2] < losses[1] < losses[0], losses


def main():
    """python -m tests.test_higher_order_jax: the HVP differences against JAX, as docs/autograd.md shows them."""
    rng = np.random.default_rng(1)
    print("| model | w.r.t. | max abs diff | max rel diff |\n|---|---|---|---|")
    for kind in ("mlp", "cnn"):
        with floatx64():
            model = mlp() if kind == "mlp" else cnn()
            x = rng.standard_normal((4, 6) if kind == "mlp" else (2, 6, 6, 2))
            y = np.eye(3)[rng.integers(0, 3, len(x))]
            v_weights = [rng.standard_normal(w.shape) for w in model.trainable_weights]
            v_input = rng.standard_normal(x.shape)
            _, ours_w = our_hvp(model, x, y, v_weights, "weights")
            _, ours_x = our_hvp(model, x, y, [v_input], "input")
            weights = [w.numpy() for w in model.trainable_weights]
        _, theirs_w, theirs_x = jax_hvps(kind, weights, x, y, v_weights, v_input)
        for what, ours, theirs in (("weights", ours_w, theirs_w), ("input", ours_x, theirs_x)):
            abs_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs))
            rel_diff = max(relative_diff(a, b) for a, b in zip(ours, theirs))
            print(f"| {kind} | {what} | {abs_diff:.1e} | {rel_diff:.1e} |")


if __name__ == "__main__":
    main()
