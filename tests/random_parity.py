"""Randomized Keras parity of single layers, in both kernel tiers: the sweep and its command line.

Each configuration is drawn from a seeded ``random.Random`` over the layer families (kernel and
pool geometry, strides, dilation, padding, groups, depth multipliers, activations, axes, merge
broadcasting, ...). For each one, the Keras layer (JAX backend) and ours are built from the same
config, Keras's random weights are copied into ours with ``set_weights``, and then, in each tier:

* ``get_config`` keys, ``count_params`` and ``compute_output_shape`` (fixed and None batch) agree;
* the forward pass in inference and in training mode (inference only for the stochastic layers)
  agrees to ``FORWARD_RTOL`` relative (max |ours - keras| / max |keras|);
* the gradients of ``sum(upstream * y)`` with respect to every input and every trainable weight
  (Keras's through ``jax.grad`` of ``stateless_call``) agree to ``GRADIENT_RTOL`` relative, or to
  ``GRADIENT_ATOL`` absolute where the gradient is cancellation noise (see its comment);
* BatchNormalization's moving statistics after one training call agree to 1e-6.

A configuration Keras refuses (it raises while building) must be refused by numpy_nn too.

    python -m tests.random_parity --n 1000                 # 1000 configurations, seed 0, both tiers
    python -m tests.random_parity --n 200 --layers Conv2D,SeparableConv2D --seed 3
    python -m tests.random_parity --n 50 --tiers reference
    python -m tests.random_parity --n 300 --suite sequences   # SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed
    python -m tests.random_parity --n 300 --suite pooling     # 1-D pooling, padding, cropping, upsampling

prints one row per layer (configurations, comparisons, worst absolute and relative differences of
the forward pass and of the gradients, failures), then every failure with its configuration, and
exits with status 1 if anything failed. Configuration ``i`` of seed ``s`` is the same in every run
(``draw(s, i)``), so a failure is reproduced by its (seed, index). tests/test_random_parity.py runs
the first ``CI_CONFIGS`` configurations of seed 0 in CI.
"""
import argparse
import inspect
import os
import random
import sys
import time
import traceback

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

FORWARD_RTOL, GRADIENT_RTOL, MOVING_RTOL = 1e-5, 1e-4, 1e-6
# Inputs, weights and the upstream gradient are O(1) (standard normal, weights x 0.5), so 1e-6 absolute is
# a few float32 roundings. It only matters where a gradient is itself cancellation noise: seed 0,
# configuration 149 (BatchNormalization over a batch of two, one channel) has dL/dx = +-7.1006e-5 in
# float64; Keras gives 7.1168e-5, numpy_nn 7.1049e-5 (both tiers), 1.7e-3 apart relative, 1.2e-7 absolute.
GRADIENT_ATOL = 1e-6
CI_CONFIGS = 12
TIERS = ("fast", "reference")

ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax", "elu", "selu", "softplus", "softsign",
               "swish", "gelu", "hard_sigmoid", "leaky_relu", "relu6", "silu", "mish", "log_softmax"]
LAYERS = ["Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "LayerNormalization",
          "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Add", "Subtract",
          "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
          "Activation", "UpSampling2D", "ZeroPadding2D", "Cropping2D", "Permute", "Flatten", "Reshape", "Rescaling",
          "Dropout", "SpatialDropout2D", "GaussianNoise"]
STOCHASTIC = {"Dropout", "SpatialDropout2D", "GaussianNoise"}
# Sequence layers are a stream of their own (``--suite sequences``), so that the configurations of the
# image stream above stay what docs/keras-parity.md measured.
SEQUENCE_LAYERS = ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed"]
# 1-D pooling, padding, cropping and upsampling (both data formats where Keras has one): ``--suite pooling``.
POOLING_LAYERS = ["MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
                  "ZeroPadding1D", "Cropping1D", "UpSampling1D"]
SUITES = {"layers": LAYERS, "sequences": SEQUENCE_LAYERS, "pooling": POOLING_LAYERS}
ALL_LAYERS = LAYERS + SEQUENCE_LAYERS + POOLING_LAYERS
WRAPPERS = {"Bidirectional", "TimeDistributed"}


def relative_diff(ours, theirs):
    """(max |ours - theirs| / max |theirs|, max |ours - theirs|); shapes must agree."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        raise AssertionError(f"shape mismatch: ours {ours.shape}, keras {theirs.shape}")
    if not theirs.size:
        return 0.0, 0.0
    absolute = float(np.max(np.abs(ours - theirs)))
    return absolute / max(float(np.max(np.abs(theirs))), 1e-12), absolute


# -- drawing configurations ------------------------------------------------------------------------------
def draw(seed, index, layers=None):
    """Configuration ``index`` of the stream ``seed``: (name, config, input shapes)."""
    r = random.Random(seed * 1_000_003 + index)
    return draw_config(r, layers or LAYERS)


def _window(r, kind):
    kernel = (r.randint(1, 3), r.randint(1, 3))
    strides, dilation = ((r.randint(1, 3), r.randint(1, 3)), (1, 1)) if r.random() < .5 else \
        ((1, 1), (r.randint(1, 2), r.randint(1, 2)))
    return kernel, strides, dilation


def draw_config(r, layers=LAYERS):
    """One random (name, config, input shapes) for a layer drawn from ``layers``."""
    kind = r.choice(list(layers))
    batch, height, width, channels = r.randint(1, 3), r.randint(1, 6), r.randint(1, 6), r.randint(1, 4)
    full = (batch, height, width, channels)
    activation = r.choice(ACTIVATIONS)
    if kind == "Dense":
        shape = (batch,) + tuple(r.randint(1, 4) for _ in range(r.randint(1, 3)))
        return kind, dict(units=r.randint(1, 4), activation=activation, use_bias=r.random() < .7), [shape]
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        kernel, strides, dilation = _window(r, kind)
        config = dict(kernel_size=kernel, strides=strides, dilation_rate=dilation,
                      padding=r.choice(["valid", "same"]), activation=activation, use_bias=r.random() < .7)
        if kind == "Conv2D":
            groups = r.choice([1, 2, 3])
            channels = groups * r.randint(1, 2)
            config.update(filters=groups * r.randint(1, 2), groups=groups)
        else:
            config.update(depth_multiplier=r.randint(1, 3))
            if kind == "SeparableConv2D":
                config.update(filters=r.randint(1, 3))
        shape = (batch, r.randint(dilation[0] * (kernel[0] - 1) + 1, 7),
                 r.randint(dilation[1] * (kernel[1] - 1) + 1, 7), channels)
        return kind, config, [shape]
    if kind == "BatchNormalization":
        shape = (r.randint(2, 4),) + tuple(r.randint(1, 3) for _ in range(r.randint(1, 3)))
        return kind, dict(axis=r.choice([-1, 1]), momentum=r.choice([0.99, 0.5]), epsilon=r.choice([1e-3, 0.1]),
                          center=r.random() < .7, scale=r.random() < .7), [shape]
    if kind == "LayerNormalization":
        shape = (batch, r.randint(2, 4), r.randint(2, 4), r.randint(2, 4))
        return kind, dict(axis=r.choice([-1, [1, 3], [1, 2, 3], -2]), center=r.random() < .7,
                          scale=r.random() < .7), [shape]
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        pool = (r.randint(1, 3), r.randint(1, 3))
        config = dict(pool_size=pool, padding=r.choice(["valid", "same"]),
                      strides=r.choice([None, (r.randint(1, 3), r.randint(1, 3))]))
        return kind, config, [(batch, r.randint(pool[0], 6), r.randint(pool[1], 6), channels)]
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return kind, dict(keepdims=r.random() < .5), [full]
    if kind in ("Add", "Multiply", "Average", "Maximum", "Minimum", "Subtract"):
        partner = r.choice([full, (batch, 1, width, channels), (batch, height, 1, 1)])
        shapes = [full, partner] if kind == "Subtract" else [full, partner] + [full] * r.randint(0, 1)
        return kind, {}, shapes
    if kind == "Concatenate":
        axis = r.choice([-1, 1, 2])
        shapes = [list(full), list(full)]
        shapes[1][axis] = r.randint(1, 3)
        return kind, dict(axis=axis), [tuple(s) for s in shapes]
    if kind == "ReLU":
        return kind, dict(max_value=r.choice([None, 1.0, 6.0]), negative_slope=r.choice([0.0, 0.2]),
                          threshold=r.choice([0.0, 0.3, -0.2])), [full]
    if kind == "LeakyReLU":
        return kind, dict(negative_slope=r.choice([0.3, 0.01, 0.5])), [full]
    if kind == "ELU":
        return kind, dict(alpha=r.choice([1.0, 0.5, 2.0])), [full]
    if kind == "PReLU":
        return kind, dict(shared_axes=r.choice([None, [1, 2], [3]])), [full]
    if kind == "Softmax":
        return kind, dict(axis=r.choice([-1, 1, [1, 2]])), [full]
    if kind == "Activation":
        return kind, dict(activation=activation), [full]
    if kind == "UpSampling2D":
        return kind, dict(size=(r.randint(1, 3), r.randint(1, 3)), interpolation=r.choice(["nearest", "bilinear"])), [full]
    if kind == "ZeroPadding2D":
        return kind, dict(padding=((r.randint(0, 2), r.randint(0, 2)), (r.randint(0, 2), r.randint(0, 2)))), [full]
    if kind == "Cropping2D":
        big = (batch, height + 3, width + 3, channels)
        return kind, dict(cropping=((r.randint(0, 2), r.randint(0, 1)), (r.randint(0, 1), r.randint(0, 2)))), [big]
    if kind == "Permute":
        return kind, dict(dims=tuple(r.sample([1, 2, 3], 3))), [full]
    if kind == "Flatten":
        return kind, {}, [full]
    if kind == "Reshape":
        return kind, dict(target_shape=r.choice([(height * width, channels), (-1,), (width, -1, height)])), [full]
    if kind == "Rescaling":
        return kind, dict(scale=r.choice([1 / 255, 2.0, -0.5]), offset=r.choice([0.0, -1.0])), [full]
    if kind in SEQUENCE_LAYERS:
        return _draw_sequence(r, kind, batch)
    if kind in POOLING_LAYERS:
        return _draw_pooling1d(r, kind, batch)
    if kind == "GaussianNoise":
        return kind, dict(stddev=r.choice([0.1, 1.0])), [full]
    return kind, dict(rate=r.choice([0.1, 0.5])), [full]   # Dropout, SpatialDropout2D


def _draw_recurrent(r, kind):
    config = dict(units=r.randint(1, 4), activation=r.choice(["tanh", "relu", "sigmoid", "linear"]),
                  use_bias=r.random() < .7, return_sequences=r.random() < .5, go_backwards=r.random() < .3)
    if kind in ("LSTM", "GRU"):
        config.update(recurrent_activation=r.choice(["sigmoid", "hard_sigmoid", "tanh"]))
    if kind == "LSTM":
        config.update(unit_forget_bias=r.random() < .5)
    if kind == "GRU":
        config.update(reset_after=r.random() < .6)
    return config


def _draw_sequence(r, kind, batch):
    """(name, config, shapes) for a sequence layer on (batch, steps, features) inputs; a wrapper's
    inner layer is given as ("Name", config) and built by ``make_layer`` in each framework."""
    shape = (batch, r.randint(1, 5), r.randint(1, 4))
    if kind == "Bidirectional":
        inner = r.choice(["SimpleRNN", "LSTM", "GRU"])
        config = _draw_recurrent(r, inner)
        config["go_backwards"] = False
        return kind, dict(layer=(inner, config), merge_mode=r.choice(["concat", "sum", "mul", "ave"])), [shape]
    if kind == "TimeDistributed":
        dense = dict(units=r.randint(1, 4), activation=r.choice(ACTIVATIONS), use_bias=r.random() < .7)
        return kind, dict(layer=("Dense", dense)), [shape]
    return kind, _draw_recurrent(r, kind), [shape]


def _draw_pooling1d(r, kind, batch):
    """(name, config, shapes) for a 1-D layer on (batch, steps, channels), or (batch, channels, steps)
    when it draws data_format="channels_first"."""
    steps, channels = r.randint(1, 7), r.randint(1, 4)
    config = {}
    if kind not in ("Cropping1D", "UpSampling1D"):
        config["data_format"] = r.choice(["channels_last", "channels_first"])
    if kind in ("MaxPooling1D", "AveragePooling1D"):
        pool = r.randint(1, 4)
        steps = max(steps, pool)
        config.update(pool_size=pool, padding=r.choice(["valid", "same"]), strides=r.choice([None, r.randint(1, 3)]))
    elif kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        config.update(keepdims=r.random() < .5)
    elif kind == "ZeroPadding1D":
        config.update(padding=(r.randint(0, 2), r.randint(0, 2)))
    elif kind == "Cropping1D":
        config.update(cropping=(r.randint(0, 2), r.randint(0, 2)))
        steps += sum(config["cropping"])
    else:
        config.update(size=r.randint(1, 3))
    shape = (batch, channels, steps) if config.get("data_format") == "channels_first" else (batch, steps, channels)
    return kind, config, [shape]


def make_layer(module, name, config):
    """``module.name(**config)``, with a wrapper's ("Inner", inner_config) built in ``module`` too."""
    if name in WRAPPERS:
        inner_name, inner_config = config["layer"]
        rest = {k: v for k, v in config.items() if k != "layer"}
        return getattr(module, name)(getattr(module, inner_name)(**inner_config), **rest)
    return getattr(module, name)(**config)


# -- comparing one configuration ---------------------------------------------------------------------------
def _one(values):
    return values if len(values) > 1 else values[0]


def _keras_grads(keras_layer, xs, upstream, training):
    """jax.grad of sum(upstream * layer(xs)) w.r.t. every input and trainable weight."""
    import jax
    import jax.numpy as jnp
    trainable = [v.value for v in keras_layer.trainable_variables]
    non_trainable = [v.value for v in keras_layer.non_trainable_variables]
    kwargs = {"training": training} if "training" in inspect.signature(keras_layer.call).parameters else {}

    def loss(xs_, tv):
        out, _ = keras_layer.stateless_call(tv, non_trainable, _one(xs_), **kwargs)
        return jnp.sum(out * upstream)

    gx, gw = jax.grad(loss, argnums=(0, 1))([jnp.asarray(x) for x in xs], trainable)
    return [np.asarray(g) for g in gx + gw]


class Mismatch(AssertionError):
    """numpy_nn and Keras disagree on a configuration (the message says where and by how much)."""


def compare(keras, name, config, shapes, seed, tiers=None):
    """Compare our layer ``name(**config)`` with Keras's on inputs of ``shapes``, in each tier.

    Returns a list of measurement dicts (tier, training, forward/gradient abs and rel diffs);
    raises ``Mismatch`` at the first disagreement beyond the tolerances. ``tiers=None`` compares
    in the current tier only. ``None`` is returned when Keras refuses the configuration and so
    does numpy_nn.
    """
    import numpy_nn as nn
    from numpy_nn import layers as ours_layers
    where = f"{name}({config}) on {shapes}"
    stochastic = name in STOCHASTIC
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    try:
        theirs = make_layer(keras.layers, name, config)
        theirs(_one(xs))
    except Exception as keras_error:  # Keras refuses: numpy_nn must refuse too
        try:
            make_layer(ours_layers, name, config)(_one(xs))
        except Exception:
            return None
        raise Mismatch(f"{where}: Keras refuses it ({type(keras_error).__name__}: {keras_error}), numpy_nn accepts it")
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in theirs.get_weights()]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, theirs.weights)]
    theirs.set_weights(weights)
    ours = make_layer(ours_layers, name, config)
    ours(_one(xs))
    initial = theirs.get_weights()
    ours.set_weights(initial)

    def check(condition, message):
        if not condition:
            raise Mismatch(f"{where}: {message}")

    check(set(ours.get_config()) == set(theirs.get_config()),
          f"get_config keys differ: {sorted(set(ours.get_config()) ^ set(theirs.get_config()))}")
    check(ours.count_params() == theirs.count_params(), f"count_params {ours.count_params()} vs {theirs.count_params()}")
    for batch in ([tuple(s) for s in shapes], [(None,) + tuple(s[1:]) for s in shapes]):
        a, b = tuple(ours.compute_output_shape(_one(batch))), tuple(theirs.compute_output_shape(_one(batch)))
        check(a == b, f"compute_output_shape({_one(batch)}): {a} vs {b}")

    modes = [False] if stochastic else [False, True]
    expected, keras_grads, upstream = {}, {}, {}
    for training in modes:
        expected[training] = np.asarray(theirs(_one(xs), training=training))
        upstream[training] = rng.standard_normal(expected[training].shape).astype("float32")
        keras_grads[training] = _keras_grads(theirs, xs, upstream[training], training)

    rows = []
    for tier in (tiers or [nn.config.kernels()]):
        with nn.config.use_kernels(tier):
            ours.set_weights(initial)  # a training call of the previous tier moved BN's statistics
            if name == "BatchNormalization":  # moving statistics after one training call
                a, b = ours_layers.BatchNormalization(**config), keras.layers.BatchNormalization(**config)
                a(xs[0]), b(xs[0])
                a.set_weights(weights), b.set_weights(weights)
                a(xs[0], training=True), b(xs[0], training=True)
                for wa, wb in zip(a.get_weights(), b.get_weights()):
                    rel, _ = relative_diff(wa, wb)
                    check(rel <= MOVING_RTOL, f"[{tier}] moving statistics differ by {rel:.2e} relative")
            for training in modes:
                inputs = [nn.Tensor(x, requires_grad=True) for x in xs]
                out = ours(_one(inputs), training=training)
                check(out.dtype == np.float32, f"[{tier}] output dtype {out.dtype}")
                forward_rel, forward_abs = relative_diff(out.data, expected[training])
                check(forward_rel <= FORWARD_RTOL,
                      f"[{tier}] training={training}: forward differs by {forward_rel:.2e} relative ({forward_abs:.2e} abs)")
                grads = nn.grad(out, inputs + list(ours.trainable_weights), grad_output=upstream[training])
                check(len(grads) == len(keras_grads[training]),
                      f"[{tier}] {len(grads)} gradients vs Keras's {len(keras_grads[training])}")
                gradient_rel = gradient_abs = 0.0
                for i, (g, k) in enumerate(zip(grads, keras_grads[training])):
                    rel, absolute = relative_diff(np.asarray(g), k)
                    check(rel <= GRADIENT_RTOL or absolute <= GRADIENT_ATOL,
                          f"[{tier}] training={training}: gradient {i} differs by {rel:.2e} relative ({absolute:.2e} abs)")
                    gradient_rel, gradient_abs = max(gradient_rel, rel), max(gradient_abs, absolute)
                rows.append(dict(tier=tier, training=training, forward_abs=forward_abs, forward_rel=forward_rel,
                                 gradient_abs=gradient_abs, gradient_rel=gradient_rel))
    return rows


# -- the command line --------------------------------------------------------------------------------------
def run(n, seed=0, layers=None, tiers=TIERS, out=sys.stdout, progress=True):
    """Compare ``n`` configurations; returns (per-layer summary dict, failures list)."""
    import jax
    import keras
    if keras.backend.backend() != "jax":
        raise SystemExit("random_parity needs KERAS_BACKEND=jax")
    summary, failures = {}, []
    started = time.time()
    for index in range(n):
        name, config, shapes = draw(seed, index, layers)
        row = summary.setdefault(name, dict(configs=0, refused=0, comparisons=0, forward_abs=0.0, forward_rel=0.0,
                                            gradient_abs=0.0, gradient_rel=0.0, failures=0))
        row["configs"] += 1
        keras.utils.set_random_seed(seed * 1_000_003 + index)
        try:
            measured = compare(keras, name, config, shapes, seed * 1_000_003 + index, tiers=list(tiers))
        except Exception as error:  # a Mismatch, or numpy_nn raising where Keras did not
            row["failures"] += 1
            message = str(error) if isinstance(error, Mismatch) else \
                f"{name}({config}) on {shapes}: {type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"
            failures.append((index, message))
            measured = []
        if measured is None:
            row["refused"] += 1
            continue
        row["comparisons"] += len(measured)
        for m in measured:
            for key in ("forward_abs", "forward_rel", "gradient_abs", "gradient_rel"):
                row[key] = max(row[key], m[key])
        if (index + 1) % 50 == 0:  # JAX keeps every op it compiled for every shape: a long sweep would grow to GBs
            keras.backend.clear_session()
            jax.clear_caches()
        if progress and (index + 1) % 50 == 0:
            print(f"  {index + 1}/{n} configurations, {len(failures)} failures, {time.time() - started:.0f} s",
                  file=sys.stderr)
    return summary, failures


def format_table(summary, n, seed, tiers, seconds):
    lines = [f"Random Keras parity: {n} configurations (seed {seed}), tiers {', '.join(tiers)}, {seconds:.0f} s. "
             f"Tolerances: forward {FORWARD_RTOL:g} relative, gradients {GRADIENT_RTOL:g} relative or "
             f"{GRADIENT_ATOL:g} absolute (relative = max |ours - keras| / max |keras|).", "",
             "| layer | configs | refused by both | comparisons | forward max abs | forward max rel "
             "| gradient max abs | gradient max rel | failures |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(summary):
        r = summary[name]
        lines.append(f"| {name} | {r['configs']} | {r['refused']} | {r['comparisons']} | {r['forward_abs']:.1e} | "
                     f"{r['forward_rel']:.1e} | {r['gradient_abs']:.1e} | {r['gradient_rel']:.1e} | {r['failures']} |")
    total = {k: sum(r[k] for r in summary.values()) for k in ("configs", "refused", "comparisons", "failures")}
    lines.append(f"| **all** | {total['configs']} | {total['refused']} | {total['comparisons']} | "
                 f"{max((r['forward_abs'] for r in summary.values()), default=0):.1e} | "
                 f"{max((r['forward_rel'] for r in summary.values()), default=0):.1e} | "
                 f"{max((r['gradient_abs'] for r in summary.values()), default=0):.1e} | "
                 f"{max((r['gradient_rel'] for r in summary.values()), default=0):.1e} | {total['failures']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.random_parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="number of random configurations (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the configuration stream (default 0)")
    parser.add_argument("--suite", default="layers", choices=sorted(SUITES),
                        help="the stream of layers to draw from (default layers: the image stream)")
    parser.add_argument("--layers", default="", help=f"comma-separated subset of: {', '.join(ALL_LAYERS)}")
    parser.add_argument("--tiers", default=",".join(TIERS), help="comma-separated kernel tiers (default fast,reference)")
    args = parser.parse_args(argv)
    layers = [name.strip() for name in args.layers.split(",") if name.strip()] or SUITES[args.suite]
    unknown = sorted(set(layers) - set(ALL_LAYERS))
    if unknown:
        parser.error(f"unknown layers {unknown}; choose from {', '.join(ALL_LAYERS)}")
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if not tiers or set(tiers) - set(TIERS):
        parser.error(f"--tiers: choose from {', '.join(TIERS)}")
    started = time.time()
    summary, failures = run(args.n, args.seed, layers, tiers)
    print(format_table(summary, args.n, args.seed, tiers, time.time() - started))
    if failures:
        print(f"\n{len(failures)} failures (reproduce one with draw({args.seed}, index, layers)):")
        for index, message in failures:
            print(f"- [{index}] {message}")
    else:
        print("\nno failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
