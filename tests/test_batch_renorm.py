"""BatchNormalization(renorm=True): batch renormalization against a loop oracle and against Keras."""
import numpy as np
import pytest

import numpy_nn as nn
from numpy_nn.layers.normalization import BatchNormalization
from tests.keras_helpers import import_keras, keras_grads, relative_diff


def oracle_renorm_step(x, gamma, beta, state, momentum, renorm_momentum, epsilon, clipping):
    """One training step, channel by channel (channels last), in float64: output and new state."""
    channels = x.shape[-1]
    rows = x.reshape(-1, channels)
    y = np.empty_like(rows)
    new = {k: np.array(v, dtype=np.float64) for k, v in state.items()}
    for c in range(channels):
        column = rows[:, c]
        mean = sum(column) / len(column)
        variance = sum((v - mean) ** 2 for v in column) / len(column)
        stddev = (variance + epsilon) ** 0.5
        renorm_stddev = max(state["renorm_stddev"][c], epsilon ** 0.5)
        r = stddev / renorm_stddev
        d = (mean - state["renorm_mean"][c]) / renorm_stddev
        r = min(max(r, clipping.get("rmin", -np.inf)), clipping.get("rmax", np.inf))
        d = min(max(d, -clipping.get("dmax", np.inf)), clipping.get("dmax", np.inf))
        for i, v in enumerate(column):
            y[i, c] = ((v - mean) / stddev * r + d) * gamma[c] + beta[c]
        new["renorm_mean"][c] = state["renorm_mean"][c] * renorm_momentum + mean * (1 - renorm_momentum)
        new["renorm_stddev"][c] = state["renorm_stddev"][c] * renorm_momentum + stddev * (1 - renorm_momentum)
        new["moving_mean"][c] = state["moving_mean"][c] * momentum + mean * (1 - momentum)
        new["moving_stddev"][c] = state["moving_stddev"][c] * momentum + stddev * (1 - momentum)
        new["moving_variance"][c] = max(new["moving_stddev"][c] ** 2 - epsilon, 0.0)
    return y.reshape(x.shape), new


@pytest.mark.parametrize("clipping", [{}, {"rmax": 1.2, "rmin": 0.9, "dmax": 0.3}])
def test_renorm_matches_loop_oracle_over_three_steps(float64, clipping):
    rng = np.random.default_rng(0)
    layer = BatchNormalization(renorm=True, renorm_clipping=clipping, momentum=0.8, renorm_momentum=0.6)
    layer(np.zeros((1, 2, 3)))
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.normal(size=3)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    state = {"moving_mean": np.zeros(3), "moving_variance": np.ones(3), "moving_stddev": np.ones(3),
             "renorm_mean": np.zeros(3), "renorm_stddev": np.ones(3)}
    for step in range(3):
        x = rng.normal(loc=step, scale=2.0, size=(5, 2, 3))
        y = layer(x, training=True)
        expected, state = oracle_renorm_step(x, gamma, beta, state, 0.8, 0.6, 1e-3, clipping)
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
        for name, value in state.items():
            np.testing.assert_allclose(getattr(layer, name).numpy(), value, rtol=1e-12, atol=1e-12)


def test_renorm_weights_order_inference_and_config():
    layer = BatchNormalization(renorm=True, renorm_clipping={"rmax": 3.0}, renorm_momentum=0.9,
                               moving_variance_initializer=nn.initializers.Constant(4.0))
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    plain = BatchNormalization()
    plain(x)
    layer(x)
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance", "moving_stddev",
                                               "renorm_mean", "renorm_stddev"]
    np.testing.assert_allclose(layer.moving_stddev.numpy(), 2.0)       # sqrt of the variance initializer
    plain.set_weights(layer.get_weights()[:4])
    np.testing.assert_array_equal(layer(x).numpy(), plain(x).numpy())   # inference is plain BN
    clone = BatchNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.renorm_clipping == {"rmax": 3.0}
    for clipping, message in [({"rmx": 1.0}, "invalid keys"), ({"rmax": 0.5, "rmin": 1.0}, "rmax should be"),
                              ({"dmax": -1.0}, "dmax should be non-negative")]:
        with pytest.raises(ValueError, match=message):
            BatchNormalization(renorm=True, renorm_clipping=clipping)


@pytest.mark.keras
@pytest.mark.parametrize("center,scale,clipping", [(True, True, None), (True, False, {"rmax": 1.1, "dmax": 0.2}),
                                                   (False, True, {"rmin": 0.95})])
def test_renorm_matches_keras(center, scale, clipping):
    """Forward, gradients (r and d carry no gradient in either) and every statistic, three steps."""
    keras = import_keras()
    rng = np.random.default_rng(2)
    kwargs = dict(renorm=True, renorm_clipping=clipping, renorm_momentum=0.7, momentum=0.9, center=center,
                  scale=scale)
    theirs, ours = keras.layers.BatchNormalization(**kwargs), BatchNormalization(**kwargs)
    theirs.build((None, 5, 4))
    ours(np.zeros((1, 5, 4), np.float32))
    weights = [rng.uniform(0.5, 1.5, 4).astype(np.float32) if w.name in ("gamma", "moving_variance",
                                                                         "moving_stddev", "renorm_stddev")
               else rng.normal(0, 0.3, 4).astype(np.float32) for w in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    worst = 0.0
    for step in range(3):
        x = (rng.standard_normal((6, 5, 4)) * 2 + step).astype(np.float32)
        upstream = rng.standard_normal(x.shape).astype(np.float32)
        gx_keras, gw_keras = keras_grads(theirs, x, upstream, training=True)
        y_keras = np.asarray(theirs(x, training=True))
        xt = nn.Tensor(x, requires_grad=True)
        y = ours(xt, training=True)
        grads = nn.grad((y * nn.Tensor(upstream)).sum(), [xt] + ours.trainable_weights)
        diffs = [relative_diff(y.numpy(), y_keras)] + [relative_diff(g.numpy(), k)
                                                        for g, k in zip(grads, [gx_keras] + gw_keras)]
        diffs += [relative_diff(a, b) for a, b in zip(ours.get_weights(), theirs.get_weights())]
        assert max(diffs) <= 1e-5, diffs
        worst = max(worst, max(diffs))
    print(f"renorm vs Keras (center={center}, scale={scale}, clipping={clipping}): worst relative diff {worst:.2e}")
