"""Optimizers and learning-rate schedules: naive oracles, the API contract, and parity with Keras.

Parity runs the same float32 variables and the same sequence of random gradients through our
optimizer and Keras's (JAX backend, eager ``apply``) and compares weights and every optimizer
variable. Most cases agree bit for bit; the rest differ by one float32 ulp, because XLA's
``pow`` (used for Adam's beta**t and some schedules) is not correctly rounded while NumPy's is.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpy_nn as nn
import numpy_nn.optimizers as O
from numpy_nn.autograd.tensor import Tensor, Variable
from tests.keras_helpers import import_keras, relative_diff

SHAPES = [(5,), (3, 4), (2, 3, 2)]


# ------------------------------------------------------------------------------------------------
# Naive oracles: one scalar at a time, float64, the formulas as written in the docstrings
# ------------------------------------------------------------------------------------------------
def oracle_run(rule, w0, grads, **hp):
    """Apply ``rule`` element by element with Python floats; returns the final weights."""
    w = [float(x) for x in w0]
    state = [dict() for _ in w]
    for t, g in enumerate(grads, start=1):
        for i in range(len(w)):
            w[i] = rule(w[i], float(g[i]), state[i], t, **hp)
    return np.array(w)


def sgd_rule(w, g, s, t, learning_rate, momentum=0.0, nesterov=False):
    lr = learning_rate
    if momentum == 0:
        return w - lr * g
    s["m"] = momentum * s.get("m", 0.0) - lr * g
    return w + (momentum * s["m"] - lr * g if nesterov else s["m"])


def rmsprop_rule(w, g, s, t, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    lr = learning_rate
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
    denominator = s["v"] + epsilon
    if centered:
        s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
        denominator -= s["a"] ** 2
    increment = lr * g / denominator ** 0.5
    if momentum > 0:
        s["m"] = momentum * s.get("m", 0.0) + increment
        return w - s["m"]
    return w - increment


def adam_rule(w, g, s, t, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.0):
    lr = learning_rate
    w = w - w * weight_decay * lr
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
    v = s["v"]
    if amsgrad:
        s["vhat"] = max(s.get("vhat", 0.0), s["v"])
        v = s["vhat"]
    alpha = lr * (1 - beta_2 ** t) ** 0.5 / (1 - beta_1 ** t)
    return w - s["m"] * alpha / (v ** 0.5 + epsilon)


def adagrad_rule(w, g, s, t, learning_rate, initial_accumulator_value=0.1, epsilon=1e-7):
    s["acc"] = s.get("acc", initial_accumulator_value) + g * g
    return w - learning_rate * g / (s["acc"] + epsilon) ** 0.5


def adadelta_rule(w, g, s, t, learning_rate, rho=0.95, epsilon=1e-7):
    s["acc_g"] = rho * s.get("acc_g", 0.0) + (1 - rho) * g * g
    delta = -((s.get("acc_dx", 0.0) + epsilon) ** 0.5) * g / (s["acc_g"] + epsilon) ** 0.5
    s["acc_dx"] = rho * s.get("acc_dx", 0.0) + (1 - rho) * delta * delta
    return w + learning_rate * delta


def adamax_rule(w, g, s, t, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["u"] = max(beta_2 * s.get("u", 0.0), abs(g))
    return w - learning_rate * s["m"] / ((1 - beta_1 ** t) * (s["u"] + epsilon))


def nadam_rule(w, g, s, t, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    mu_t = beta_1 * (1 - 0.5 * 0.96 ** t)
    mu_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
    s["u_product"] = s.get("u_product", 1.0) * mu_t
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
    m_hat = mu_next * s["m"] / (1 - s["u_product"] * mu_next) + (1 - mu_t) * g / (1 - s["u_product"])
    v_hat = s["v"] / (1 - beta_2 ** t)
    return w - learning_rate * m_hat / (v_hat ** 0.5 + epsilon)


def ftrl_rule(w, g, s, t, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
              l1_regularization_strength=0.0, l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
              beta=0.0):
    lr, p = learning_rate, learning_rate_power
    n = s.get("n", initial_accumulator_value)
    n_new = n + g * g
    sigma = (n_new ** -p - n ** -p) / lr
    s["z"] = s.get("z", 0.0) + g + 2 * l2_shrinkage_regularization_strength * w - sigma * w
    s["n"] = n_new
    l1, l2 = l1_regularization_strength, l2_regularization_strength + beta / (2 * lr)
    z = s["z"]
    return 0.0 if abs(z) <= l1 else -(z - np.sign(z) * l1) / (n_new ** -p / lr + 2 * l2)


def lion_rule(w, g, s, t, learning_rate, beta_1=0.9, beta_2=0.99):
    m = s.get("m", 0.0)
    w = w - learning_rate * np.sign(beta_1 * m + (1 - beta_1) * g)
    s["m"] = beta_2 * m + (1 - beta_2) * g
    return w


ORACLE_CASES = [
    (O.SGD, sgd_rule, dict(learning_rate=0.1)),
    (O.SGD, sgd_rule, dict(learning_rate=0.1, momentum=0.9)),
    (O.SGD, sgd_rule, dict(learning_rate=0.1, momentum=0.5, nesterov=True)),
    (O.RMSprop, rmsprop_rule, dict(learning_rate=0.01)),
    (O.RMSprop, rmsprop_rule, dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True)),
    (O.Adam, adam_rule, dict(learning_rate=0.01)),
    (O.Adam, adam_rule, dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, amsgrad=True)),
    (O.AdamW, adam_rule, dict(learning_rate=0.01, weight_decay=0.1)),
    (O.Adagrad, adagrad_rule, dict(learning_rate=0.1, initial_accumulator_value=0.5)),
    (O.Adadelta, adadelta_rule, dict(learning_rate=1.0, rho=0.8)),
    (O.Adamax, adamax_rule, dict(learning_rate=0.1, beta_1=0.85, beta_2=0.95)),
    (O.Nadam, nadam_rule, dict(learning_rate=0.05)),
    (O.Ftrl, ftrl_rule, dict(learning_rate=0.1, learning_rate_power=-0.2, initial_accumulator_value=0.4,
                             l1_regularization_strength=0.05, l2_regularization_strength=0.15,
                             l2_shrinkage_regularization_strength=0.01, beta=0.3)),
    (O.Lion, lion_rule, dict(learning_rate=0.01)),
]


@pytest.mark.parametrize("cls,rule,hp", ORACLE_CASES, ids=lambda x: getattr(x, "__name__", str(x)))
@given(size=st.integers(1, 6), steps=st.integers(1, 5), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1e-3, 1.0, 10.0]))
def test_update_rules_match_naive_oracle(cls, rule, hp, size, steps, seed, scale):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(size)
    grads = [rng.standard_normal(size) * scale for _ in range(steps)]
    variable = Variable(w0.copy(), name="w", dtype=np.float64)
    previous = nn.floatx()
    nn.set_floatx("float64")          # the learning_rate variable is created in floatx
    try:
        optimizer = cls(**hp)
        for g in grads:
            optimizer.apply([g], [variable])
    finally:
        nn.set_floatx(previous)
    np.testing.assert_allclose(variable.numpy(), oracle_run(rule, w0, grads, **hp), rtol=1e-10, atol=1e-12)
    assert optimizer.iterations == steps


def test_update_keeps_float32():
    variable = Variable(np.ones(3, dtype=np.float32), name="w")
    for optimizer in (O.SGD(0.1, momentum=0.9), O.RMSprop(centered=True), O.Adam(amsgrad=True), O.AdamW(),
                      O.Adagrad(), O.Adam(O.schedules.CosineDecay(0.1, 5))):
        optimizer.apply([np.full(3, 0.5, dtype=np.float32)], [variable])
        assert variable.dtype == np.float32
        assert all(v.dtype == np.float32 for v in optimizer.variables[1:])


# ------------------------------------------------------------------------------------------------
# Base-class behaviour (no Keras needed)
# ------------------------------------------------------------------------------------------------
def test_clipnorm_and_global_clipnorm_and_clipvalue():
    v = Variable(np.zeros(2, dtype=np.float32), name="v")
    O.SGD(1.0, clipnorm=1.0).apply([np.array([3.0, 4.0], dtype=np.float32)], [v])
    np.testing.assert_allclose(v.numpy(), [-0.6, -0.8], rtol=1e-6)
    a, b = Variable(np.zeros(1, dtype=np.float32), name="a"), Variable(np.zeros(1, dtype=np.float32), name="b")
    O.SGD(1.0, global_clipnorm=1.0).apply([np.array([3.0], np.float32), np.array([4.0], np.float32)], [a, b])
    np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [-0.6, -0.8], rtol=1e-6)
    v = Variable(np.zeros(3, dtype=np.float32), name="v")
    O.SGD(1.0, clipvalue=0.5).apply([np.array([-2.0, 0.1, 3.0], np.float32)], [v])
    np.testing.assert_allclose(v.numpy(), [0.5, -0.1, -0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="Only one of"):
        O.SGD(clipnorm=1.0, clipvalue=1.0)


def test_weight_decay_is_decoupled_and_applied_before_the_step():
    v = Variable(np.array([2.0], dtype=np.float32), name="kernel")
    O.SGD(0.1, weight_decay=0.5).apply([np.array([1.0], np.float32)], [v])
    # w - w*wd*lr = 2 - 2*0.5*0.1 = 1.9, then - lr*g = 1.8
    np.testing.assert_allclose(v.numpy(), [1.8], rtol=1e-6)
    kernel = Variable(np.array([2.0], dtype=np.float32), name="kernel")
    bias = Variable(np.array([2.0], dtype=np.float32), name="bias")
    optimizer = O.SGD(0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.apply([np.zeros(1, np.float32)] * 2, [kernel, bias])
    np.testing.assert_allclose([kernel.numpy()[0], bias.numpy()[0]], [1.9, 2.0], rtol=1e-6)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_names=["kernel"])


def test_learning_rate_property_iterations_and_schedule_called_before_increment():
    optimizer = O.Adam()
    assert optimizer.learning_rate == float(np.float32(0.001)) == 0.0010000000474974513
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate == 0.5 and optimizer.variables[1].numpy() == np.float32(0.5)
    v = Variable(np.zeros(1, np.float32), name="w")
    sgd = O.SGD(O.schedules.ExponentialDecay(0.1, 1, 0.5))
    steps = []
    for _ in range(3):
        before = v.numpy().copy()
        sgd.apply([np.ones(1, np.float32)], [v])
        steps.append(float((before - v.numpy())[0]))
    np.testing.assert_allclose(steps, [0.1, 0.05, 0.025], rtol=1e-6)
    assert sgd.iterations == 3 and isinstance(sgd.iterations, int)
    assert [x.name for x in sgd.variables] == ["iteration"]     # no learning_rate variable with a schedule
    with pytest.raises(TypeError, match="not settable"):
        sgd.learning_rate = 0.1
    sgd2 = O.SGD(0.1)
    sgd2.learning_rate = O.schedules.PiecewiseConstantDecay([0], [1.0, 2.0])
    assert [x.name for x in sgd2.variables] == ["iteration"] and sgd2.learning_rate == 1.0


def test_slot_names_order_and_apply_errors():
    kernel = Variable(np.zeros((2, 3), np.float32), name="kernel")
    kernel.path = "dense/kernel"
    bias = Variable(np.zeros(3, np.float32), name="bias")
    bias.path = "dense/bias"
    optimizer = O.Adam(amsgrad=True, name="my_adam")
    optimizer.apply([np.ones((2, 3)), Tensor(np.ones(3))], [kernel, bias])
    assert [v.name for v in optimizer.variables] == [
        "iteration", "learning_rate", "dense_kernel_momentum", "dense_kernel_velocity", "dense_bias_momentum",
        "dense_bias_velocity", "dense_kernel_velocity_hat", "dense_bias_velocity_hat"]
    assert optimizer.variables[2].path == "my_adam/dense_kernel_momentum"
    assert optimizer.variables[0].dtype == np.int32
    optimizer.apply([np.ones((2, 3)), np.ones(3)])          # variables remembered
    assert optimizer.iterations == 2
    with pytest.raises(ValueError, match="Unknown variable"):
        optimizer.apply([np.ones(3)], [Variable(np.zeros(3, np.float32), name="other")])
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        optimizer.apply([None, np.ones(3)], [kernel, bias])
    with pytest.raises(ValueError, match="No gradients provided"):
        optimizer.apply([None, None], [kernel, bias])
    with pytest.raises(ValueError, match=r"shape \(4,\), expected \(3,\)"):
        optimizer.apply([np.ones((2, 3)), np.ones(4)], [kernel, bias])


def test_get_and_config_round_trip():
    for name, cls in [("sgd", O.SGD), ("rmsprop", O.RMSprop), ("Adam", O.Adam), ("adamw", O.AdamW),
                      ("adagrad", O.Adagrad)]:
        optimizer = O.get(name)
        assert type(optimizer) is cls
        clone = cls.from_config(optimizer.get_config())
        assert clone.get_config() == optimizer.get_config()
    adam = O.Adam(0.01)
    assert O.get(adam) is adam and O.get(None) is None
    with pytest.raises(ValueError, match="valid names are .*adagrad.*sgd"):
        O.get("adamax_typo")
    with pytest.raises(ValueError, match="learning_rate=1"):
        O.SGD(learning_rate=1)
    with pytest.raises(ValueError, match="momentum"):
        O.SGD(momentum=2.0)
    with pytest.raises(ValueError, match="weight_decay=None"):
        O.AdamW(weight_decay=None)
    scheduled = O.Adam(O.schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3))
    config = scheduled.get_config()
    assert config["learning_rate"]["class_name"] == "CosineDecay"
    restored = O.get({"class_name": "Adam", "config": config})
    assert isinstance(restored._learning_rate, O.CosineDecay)
    assert restored._learning_rate.get_config() == scheduled._learning_rate.get_config()


def test_ema_and_gradient_accumulation_and_loss_scale():
    w = Variable(np.array([1.0], np.float32), name="w")
    optimizer = O.SGD(0.5, use_ema=True, ema_momentum=0.5)
    optimizer.apply([np.array([1.0], np.float32)], [w])      # w = 0.5, average = w (first step)
    optimizer.apply([np.array([1.0], np.float32)], [w])      # w = 0.0, average = 0.5*0.5 + 0.5*0 = 0.25
    assert optimizer.variables[2].name == "w_average"
    np.testing.assert_allclose(optimizer.variables[2].numpy(), [0.25])
    optimizer.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), [0.25])
    w = Variable(np.array([1.0], np.float32), name="w")
    accumulating = O.SGD(1.0, gradient_accumulation_steps=2)
    accumulating.apply([np.array([1.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [1.0])             # only accumulated
    accumulating.apply([np.array([3.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [-1.0])            # mean gradient 2
    assert accumulating.iterations == 1
    w = Variable(np.array([1.0], np.float32), name="w")
    O.SGD(1.0, loss_scale_factor=4.0).apply([np.array([2.0], np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [0.5])


def test_schedules_values():
    S = O.schedules
    assert float(S.ExponentialDecay(1.0, 2, 0.5)(2)) == 0.5
    assert float(S.ExponentialDecay(1.0, 2, 0.5, staircase=True)(3)) == 0.5
    pw = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [float(pw(s)) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, np.float32(0.1)]
    cos = S.CosineDecay(1.0, 10, alpha=0.2)
    np.testing.assert_allclose([cos(0), cos(5), cos(10), cos(50)], [1.0, 0.6, 0.2, 0.2], atol=1e-6)
    warm = S.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)
    np.testing.assert_allclose([warm(0), warm(2), warm(4), warm(14)], [0.0, 0.5, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(S.InverseTimeDecay(1.0, 1, 0.5)(2), 0.5)
    np.testing.assert_allclose(S.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(5), 0.5)
    with pytest.raises(ValueError, match="decay_steps=0"):
        S.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="1 less than"):
        S.PiecewiseConstantDecay([1, 2], [1.0])
    assert np.asarray(cos(3)).dtype == np.float32


# ------------------------------------------------------------------------------------------------
# Parity with Keras
# ------------------------------------------------------------------------------------------------
PARITY_CASES = {
    "sgd": lambda M: M.SGD(),
    "sgd_momentum": lambda M: M.SGD(0.1, momentum=0.9),
    "sgd_nesterov": lambda M: M.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda M: M.RMSprop(),
    "rmsprop_centered_momentum": lambda M: M.RMSprop(0.01, momentum=0.5, centered=True),
    "adam": lambda M: M.Adam(),
    "adam_betas": lambda M: M.Adam(0.1, beta_1=0.8, beta_2=0.99, epsilon=1e-4),
    "adam_amsgrad": lambda M: M.Adam(0.1, amsgrad=True),
    "adamw": lambda M: M.AdamW(0.1, weight_decay=0.1),
    "adagrad": lambda M: M.Adagrad(0.1, initial_accumulator_value=0.5),
    "sgd_weight_decay": lambda M: M.SGD(0.1, weight_decay=0.05),
    "adam_clipnorm": lambda M: M.Adam(0.1, clipnorm=1.0),
    "rmsprop_clipvalue": lambda M: M.RMSprop(0.01, clipvalue=0.5),
    "sgd_global_clipnorm": lambda M: M.SGD(0.1, momentum=0.5, global_clipnorm=1.5),
    "exponential_decay": lambda M: M.Adam(M.schedules.ExponentialDecay(0.1, 2, 0.5)),
    "exponential_staircase": lambda M: M.SGD(M.schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True)),
    "piecewise": lambda M: M.SGD(M.schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.05, 0.01])),
    "cosine": lambda M: M.Adam(M.schedules.CosineDecay(0.1, 3, alpha=0.1)),
    "cosine_warmup": lambda M: M.Adam(M.schedules.CosineDecay(0.01, 3, warmup_target=0.1, warmup_steps=2)),
    "inverse_time": lambda M: M.RMSprop(M.schedules.InverseTimeDecay(0.1, 2, 0.5)),
    "polynomial": lambda M: M.RMSprop(M.schedules.PolynomialDecay(0.1, 3, power=2.0)),
    "ema": lambda M: M.Adam(0.1, use_ema=True, ema_overwrite_frequency=2),
    "accumulation": lambda M: M.Adam(0.1, gradient_accumulation_steps=2),
    "loss_scale": lambda M: M.SGD(0.1, loss_scale_factor=4.0),
    "adamw_exclude": lambda M: M.AdamW(0.1, weight_decay=0.1),
    "adadelta": lambda M: M.Adadelta(1.0, rho=0.8, epsilon=1e-6),
    "adamax": lambda M: M.Adamax(0.1, beta_1=0.85, beta_2=0.95),
    "nadam": lambda M: M.Nadam(0.1),
    "nadam_accumulation": lambda M: M.Nadam(0.1, gradient_accumulation_steps=2),
    "ftrl": lambda M: M.Ftrl(0.1, learning_rate_power=-0.2, initial_accumulator_value=0.4,
                             l1_regularization_strength=0.05, l2_regularization_strength=0.15,
                             l2_shrinkage_regularization_strength=0.01, beta=0.3),
    "lion_ema": lambda M: M.Lion(0.01, use_ema=True, ema_overwrite_frequency=3),
    "adafactor": lambda M: M.Adafactor(0.5),
    "adafactor_fixed_step": lambda M: M.Adafactor(0.5, beta_2_decay=-0.65, epsilon_1=1e-15, epsilon_2=1e-4,
                                                  clip_threshold=0.9, relative_step=False),
    "lamb": lambda M: M.Lamb(0.1),
    "muon": lambda M: M.Muon(0.05),
    "schedule_free_adamw": lambda M: M.ScheduleFreeAdamW(0.1, warmup_steps=2, weight_decay=0.01),
    "cosine_restarts": lambda M: M.SGD(M.schedules.CosineDecayRestarts(0.1, 2, t_mul=2.0, m_mul=0.5, alpha=0.1)),
    "cosine_restarts_t_mul_1": lambda M: M.SGD(M.schedules.CosineDecayRestarts(0.1, 2, t_mul=1.0)),
}
# |w| <= ~4; most cases agree to one float32 ulp (<= 2.4e-7, often bit-exact). These compute norms or
# means over whole tensors (sum order differs from XLA's) and agree to a few ulps.
PARITY_TOLERANCE = {"adafactor": 1e-6, "adafactor_fixed_step": 1e-6, "lamb": 5e-7}


def run_pair(keras, factory, name, steps=4, seed=0, scale=1.0):
    import jax.numpy as jnp
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES] for _ in range(steps)]
    ours = [Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]
    theirs = [keras.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]
    ours_opt, keras_opt = factory(O), factory(keras.optimizers)
    if name == "adamw_exclude":
        ours_opt.exclude_from_weight_decay(var_names=["w1"])
        keras_opt.exclude_from_weight_decay(var_names=["w1"])
    for g in grads:
        ours_opt.apply(g, ours)
        keras_opt.apply([jnp.asarray(x) for x in g], theirs)
    weight_diff = max(float(np.max(np.abs(a.numpy() - np.asarray(b)))) for a, b in zip(ours, theirs))
    # (Nadam's scalar u_product is auto-named by Keras: "variable", "variable_1", ...)
    assert [v.name for v in ours_opt.variables] == [
        "variable" if v.name.startswith("variable") else v.name for v in keras_opt.variables]
    assert [v.shape for v in ours_opt.variables] == [tuple(v.shape) for v in keras_opt.variables]
    slot_diff = max(relative_diff(a.numpy(), np.asarray(b.value)) for a, b in zip(ours_opt.variables, keras_opt.variables))
    return weight_diff, slot_diff


@pytest.mark.keras
@pytest.mark.parametrize("name", list(PARITY_CASES))
def test_parity_with_keras(name):
    keras = import_keras()
    for scale in (1.0, 1e-4):
        weight_diff, slot_diff = run_pair(keras, PARITY_CASES[name], name, scale=scale)
        # |w| <= ~3, so one float32 ulp is <= 2.4e-7. Most cases are bit-exact (diff 0.0); the
        # others differ by one ulp through XLA's pow/cos (Adam's beta**t, schedules).
        tolerance = PARITY_TOLERANCE.get(name, 2.4e-7)
        assert weight_diff <= tolerance, (name, scale, weight_diff)
        assert slot_diff <= tolerance, (name, scale, slot_diff)
        print(f"{name} (gradient scale {scale:g}): weights max abs diff {weight_diff:.2e}, "
              f"slots max rel diff {slot_diff:.2e}")


@pytest.mark.keras
def test_every_keras_optimizer_class_exists_here():
    keras = import_keras()
    names = [n for n in dir(keras.optimizers) if isinstance(getattr(keras.optimizers, n), type)]
    assert {"Adadelta", "Lion", "LossScaleOptimizer", "MultiOptimizer", "Muon", "OptimizerMap"} <= set(names)
    missing = [n for n in names if not hasattr(O, n)]
    assert not missing, missing
    assert all(hasattr(O.schedules, n) for n in dir(keras.optimizers.schedules)
               if isinstance(getattr(keras.optimizers.schedules, n), type))


@pytest.mark.keras
def test_loss_scale_optimizer_matches_keras():
    """Dynamic loss scaling: finite steps update through the inner optimizer and the scale doubles
    every dynamic_growth_steps; a non-finite gradient skips the step and halves the scale.
    (Keras on JAX runs it through stateless_apply.)"""
    keras = import_keras()
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    grads = [rng.standard_normal((3, 2)).astype(np.float32) * 8.0 for _ in range(6)]
    grads[2] = grads[2] * np.inf
    ours_var = Variable(w0.copy(), name="w")
    theirs_var = keras.Variable(w0.copy(), name="w")
    ours = O.LossScaleOptimizer(O.Adam(0.1, name="inner"), initial_scale=8.0, dynamic_growth_steps=2, name="lso")
    theirs = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.1, name="inner"), initial_scale=8.0,
                                                 dynamic_growth_steps=2, name="lso")
    theirs.build([theirs_var])
    values, trainable = [v.value for v in theirs.variables], [theirs_var.value]
    for g in grads:
        ours.apply([g], [ours_var])
        trainable, values = theirs.stateless_apply(values, [g], trainable)
    np.testing.assert_allclose(ours_var.numpy(), np.asarray(trainable[0]), atol=2.4e-7)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    for a, b in zip(ours.variables, values):
        np.testing.assert_allclose(a.numpy(), np.asarray(b), atol=2.4e-7)
    assert ours.scale_loss(1.0) == float(np.asarray(values[3])) == 16.0   # 8 -> 16 -> 8 (inf) -> 16
    assert ours.get_config() == theirs.get_config()


@pytest.mark.keras
def test_multi_optimizer_matches_keras():
    keras = import_keras()
    rng = np.random.default_rng(4)
    w0 = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(3)]
    ours_vars = [Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]
    theirs_vars = [keras.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(w0)]

    def build(M):
        mapping = M.OptimizerMap(default_optimizer=M.Adam(0.1), optimizer_map={"w0": M.SGD(0.5, momentum=0.9),
                                                                               "w[12]": M.RMSprop(0.01)})
        return M.MultiOptimizer(mapping)

    ours, theirs = build(O), build(keras.optimizers)
    for g in grads:
        ours.apply(g, ours_vars)
        theirs.apply(g, theirs_vars)
    for a, b in zip(ours_vars, theirs_vars):
        np.testing.assert_allclose(a.numpy(), np.asarray(b), atol=2.4e-7)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    assert int(ours.iterations) == int(theirs.iterations) == 3
    assert [type(o).__name__ for o in ours.optimizers] == [type(o).__name__ for o in theirs.optimizers]


@pytest.mark.keras
def test_config_matches_keras():
    keras = import_keras()
    for name in ("SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion",
                 "Adafactor", "Lamb", "Muon", "ScheduleFreeAdamW"):
        ours = getattr(O, name)(name="x").get_config()
        theirs = getattr(keras.optimizers, name)(name="x").get_config()
        assert ours == theirs, name
        if name != "Lamb":  # (Keras 3.15 leaves Lamb out of the names keras.optimizers.get knows)
            keras_restored = keras.optimizers.get({"class_name": name, "config": ours})
            assert type(keras_restored).__name__ == name
    schedule = O.Adam(O.schedules.ExponentialDecay(0.1, 10, 0.5), name="x").get_config()
    keras_schedule = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5),
                                           name="x").get_config()
    assert schedule == keras_schedule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = O.get(keras.optimizers.serialize(keras.optimizers.RMSprop(0.02, rho=0.8, centered=True)))
    assert isinstance(restored, O.RMSprop) and restored.rho == 0.8 and restored.centered


@pytest.mark.keras
def test_slot_names_match_keras_for_a_dense_layer():
    keras = import_keras()
    dense = keras.layers.Dense(3, name="dense")
    dense.build((None, 2))
    kernel = Variable(np.zeros((2, 3), np.float32), name="kernel")
    kernel.path = "dense/kernel"
    bias = Variable(np.zeros(3, np.float32), name="bias")
    bias.path = "dense/bias"
    for factory in (lambda M: M.RMSprop(momentum=0.5, centered=True, name="o"),
                    lambda M: M.Adam(amsgrad=True, use_ema=True, name="o"),
                    lambda M: M.SGD(momentum=0.9, gradient_accumulation_steps=2, name="o"),
                    lambda M: M.Adagrad(name="o"), lambda M: M.Adadelta(name="o"), lambda M: M.Adamax(name="o"),
                    lambda M: M.Ftrl(name="o"), lambda M: M.Lion(name="o"), lambda M: M.Lamb(name="o"),
                    lambda M: M.Muon(name="o"), lambda M: M.ScheduleFreeAdamW(name="o")):
        ours, theirs = factory(O), factory(keras.optimizers)
        ours.build([kernel, bias])
        theirs.build(dense.trainable_variables)
        assert [v.path for v in ours.variables] == [v.path for v in theirs.variables]
        np.testing.assert_array_equal(ours.get_weights()[-1], theirs.variables[-1].numpy())


def test_constraints_applied_after_the_update():
    from numpy_nn import constraints
    v = Variable(np.array([1.0, -1.0], np.float32), name="w")
    v.constraint = constraints.get("non_neg")
    O.SGD(0.5).apply([np.array([3.0, -4.0], np.float32)], [v])   # [-0.5, 1.0] -> non_neg -> [0, 1]
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0])
    assert v.dtype == np.float32
