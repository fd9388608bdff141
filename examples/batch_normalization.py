"""BatchNormalization: batch statistics while training, moving averages at inference.

For each channel, with a batch of m values x_1..x_m (all axes but the channel axis):

    training:   y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta,
                mean_B = (1/m) sum x_i,   var_B = (1/m) sum (x_i - mean_B)^2     (biased: 1/m, not 1/(m-1))
                moving_mean     <- momentum * moving_mean     + (1 - momentum) * mean_B
                moving_variance <- momentum * moving_variance + (1 - momentum) * var_B
    inference:  y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta

Keras defaults: momentum 0.99, eps 1e-3, moving_mean starts at 0 and moving_variance at 1. The
moving averages are exponential averages: if every batch had the same mean, after t steps

    mm_t = momentum^t * mm_0 + (1 - momentum^t) * mean,

so the distance to the data's mean shrinks like momentum^t: with momentum 0.99 it takes
ln(0.01) / ln(0.99) = 458 steps to close 99% of the gap (44 steps with momentum 0.9). Until then the
same network gives different outputs in training and inference mode, which is why a model
evaluated after a few steps can look much worse than its training loss says. A smaller momentum
converges faster but stays noisier: it averages over about 1 / (1 - momentum) batches.

Because var_B is biased, E[var_B] = (m - 1)/m * sigma^2: with small batches the moving variance
settles *below* the data's variance (Keras applies no Bessel correction anywhere).

``trainable = False`` (how Keras freezes BN for fine-tuning) makes the layer run in inference
mode even when called with ``training=True``: it normalizes with the moving statistics and
leaves them alone, and gamma/beta are not trained.

Parts: (1) training vs inference output on a fresh layer; (2) the moving averages converging,
step by step, with the closed form checked exactly on a repeated batch; (3) the biased variance;
(4) trainable=False, on a layer and during ``fit``. Writes ``moving_averages.png`` to ``out_dir``.

Run:  python examples/batch_normalization.py [--quick] [--out DIR]
"""
import argparse
import os

import numpy as np

from numpy_nn import optimizers
from numpy_nn.config import set_random_seed
from numpy_nn.layers.core import Dense
from numpy_nn.layers.normalization import BatchNormalization
from numpy_nn.models import Input, Sequential

MEAN = np.array([3.0, -1.0, 0.5, 10.0], dtype="float32")  # the data's per-channel mean ...
STD = np.array([2.0, 0.5, 1.0, 4.0], dtype="float32")     # ... and standard deviation


def sample(rng, batch, mean=MEAN, std=STD):
    return (mean + std * rng.standard_normal((batch, len(mean)))).astype("float32")


def training_vs_inference(rng, batch=32):
    """A fresh layer (moving mean 0, moving variance 1) on one batch, in both modes."""
    layer = BatchNormalization()
    x = sample(rng, batch)
    inference = layer(x, training=False).numpy()  # first: the training call below moves the statistics
    training = layer(x, training=True).numpy()
    result = {"training_mean": training.mean(axis=0), "training_std": training.std(axis=0),
              "inference_mean": inference.mean(axis=0), "inference_std": inference.std(axis=0),
              "max_abs_difference": float(np.abs(training - inference).max()),
              "moving_mean_after_one_step": layer.moving_mean.numpy(), "batch_mean": x.mean(axis=0)}
    print("Part 1: a fresh BatchNormalization, one batch of 32, channels with mean", MEAN, "and std", STD)
    print("  training mode  (batch statistics):  output mean", np.round(result["training_mean"], 3),
          " std", np.round(result["training_std"], 3))
    print("  inference mode (moving mean 0, var 1): output mean", np.round(result["inference_mean"], 3),
          " std", np.round(result["inference_std"], 3))
    print(f"  max |training - inference| = {result['max_abs_difference']:.3f}; after one training step "
          f"moving_mean = 0.01 * batch mean = {np.round(result['moving_mean_after_one_step'], 4)}")
    return result


def convergence(rng, steps, momentum, batch=32, probe_size=256):
    """Train-mode calls on fresh batches; per step: the distance of the moving statistics to the data's,
    and the mean |training - inference| output gap on a fixed probe batch."""
    layer = BatchNormalization(momentum=momentum)
    probe = sample(rng, probe_size)
    layer(probe)  # build (inference mode: nothing moves)
    start_distance = float(np.abs(layer.moving_mean.numpy() - MEAN).max())
    mean_distance, variance_distance, output_gap = [], [], []
    for _ in range(steps):
        layer(sample(rng, batch), training=True)
        moving_mean, moving_variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
        mean_distance.append(float(np.abs(moving_mean - MEAN).max()))
        variance_distance.append(float(np.abs(moving_variance / STD ** 2 - 1).max()))
        # training mode on the probe would move the averages, so compute its output by the formula
        probe_train = (probe - probe.mean(axis=0)) / np.sqrt(probe.var(axis=0) + layer.epsilon)
        output_gap.append(float(np.abs(probe_train - layer(probe).numpy()).mean()))
    predicted = [start_distance * momentum ** t for t in range(1, steps + 1)]
    return {"momentum": momentum, "mean_distance": mean_distance, "variance_distance": variance_distance,
            "output_gap": output_gap, "predicted_mean_distance": predicted,
            "steps_to_1_percent": float(np.log(0.01) / np.log(momentum))}


def closed_form_check(rng, steps, momentum=0.99):
    """Feed the SAME batch every step: moving_mean_t must equal momentum^t mm_0 + (1 - momentum^t) mean_B."""
    layer = BatchNormalization(momentum=momentum)
    x = sample(rng, 32)
    errors = []
    for t in range(1, steps + 1):
        layer(x, training=True)
        closed_form = (1 - momentum ** t) * x.astype("float64").mean(axis=0)  # mm_0 = 0
        errors.append(float(np.abs(layer.moving_mean.numpy() - closed_form).max()))
    return max(errors)


def print_convergence(slow, fast, closed_form_error, checkpoints):
    print(f"\nPart 2: moving averages on fresh batches of 32 (distance = max over channels)")
    print(f"  {'step':>5s} | {'momentum 0.99: |mm - mean|':>26s} {'d0*m^t':>8s} {'|mv/var - 1|':>12s} "
          f"{'train-infer gap':>15s} | {'momentum 0.9: |mm - mean|':>25s} {'gap':>6s}")
    for t in checkpoints:
        i = t - 1
        print(f"  {t:5d} | {slow['mean_distance'][i]:26.4f} {slow['predicted_mean_distance'][i]:8.4f} "
              f"{slow['variance_distance'][i]:12.4f} {slow['output_gap'][i]:15.4f} | "
              f"{fast['mean_distance'][i]:25.4f} {fast['output_gap'][i]:6.4f}")
    print(f"  99% of the gap closed after ln(0.01)/ln(momentum) = {slow['steps_to_1_percent']:.0f} steps (0.99), "
          f"{fast['steps_to_1_percent']:.0f} steps (0.9)")
    print(f"  repeated batch: max |moving_mean_t - (momentum^t mm_0 + (1 - momentum^t) mean_B)| = "
          f"{closed_form_error:.2e}")


def biased_variance(rng, batch=4, channels=64, steps=1500):
    """Training output uses the biased batch variance; the moving variance settles at (m-1)/m sigma^2."""
    layer = BatchNormalization()
    x = sample(rng, batch)
    output = layer(x, training=True).numpy()
    with_biased = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + layer.epsilon)
    with_unbiased = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + layer.epsilon)
    wide = BatchNormalization()  # many channels of unit variance, to average the noise away
    ratios = []
    for _ in range(steps):
        wide(rng.standard_normal((batch, channels)).astype("float32"), training=True)
        ratios.append(float(wide.moving_variance.numpy().mean()))
    settled = float(np.mean(ratios[-500:]))  # average the last steps (the EMA still jitters)
    result = {"batch": batch, "vs_biased": float(np.abs(output - with_biased).max()),
              "vs_unbiased": float(np.abs(output - with_unbiased).max()),
              "moving_variance_over_sigma2": settled, "expected": (batch - 1) / batch}
    print(f"\nPart 3: biased variance, batches of m = {batch}")
    print(f"  training output vs formula with the biased var_B: {result['vs_biased']:.2e}; "
          f"with the unbiased one: {result['vs_unbiased']:.3f}")
    print(f"  moving variance / true variance after {steps} steps: {settled:.3f} "
          f"((m-1)/m = {result['expected']:.3f}, not 1)")
    return result


def frozen(rng, quick):
    """trainable=False: inference mode even with training=True, on a layer and inside fit()."""
    layer = BatchNormalization(momentum=0.9)
    for _ in range(100):
        layer(sample(rng, 32), training=True)
    before = [w.copy() for w in layer.get_weights()]
    layer.trainable = False
    x = sample(rng, 32)
    as_training = layer(x, training=True).numpy()
    as_inference = layer(x, training=False).numpy()
    result = {"training_equals_inference": bool(np.array_equal(as_training, as_inference)),
              "layer_weights_unchanged": all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights())),
              "trainable_weights": len(layer.trainable_weights)}

    set_random_seed(0)
    model = Sequential([Input((4,)), Dense(8, name="dense"), BatchNormalization(name="bn"), Dense(1, name="head")])
    x_train = sample(rng, 256)
    y_train = (x_train @ np.array([0.5, -1.0, 2.0, 0.1], dtype="float32"))[:, None]
    model.compile(optimizers.Adam(0.01), "mse")
    model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)  # unfrozen: BN learns its statistics
    bn = model.get_layer("bn")
    bn.trainable = False
    model.compile(optimizers.Adam(0.01), "mse")  # recompile after changing trainable, as in Keras
    bn_before, dense_before = bn.get_weights(), model.get_layer("dense").get_weights()
    model.fit(x_train, y_train, epochs=1 if quick else 3, batch_size=32, verbose=0)
    result["fit_bn_unchanged"] = all(np.array_equal(a, b) for a, b in zip(bn_before, bn.get_weights()))
    result["fit_dense_changed"] = not np.array_equal(dense_before[0], model.get_layer("dense").get_weights()[0])
    print("\nPart 4: trainable = False")
    print(f"  layer(x, training=True) == layer(x, training=False): {result['training_equals_inference']}; "
          f"gamma, beta, moving statistics unchanged: {result['layer_weights_unchanged']}; "
          f"trainable weights: {result['trainable_weights']}")
    print(f"  fit() with the BN layer frozen: BN weights unchanged {result['fit_bn_unchanged']}, "
          f"Dense kernel changed {result['fit_dense_changed']}")
    return result


def plot(slow, fast, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(figure)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for run, colour in ((slow, "tab:blue"), (fast, "tab:orange")):
        steps = np.arange(1, len(run["mean_distance"]) + 1)
        left.semilogy(steps, run["mean_distance"], color=colour, label=f"measured, momentum {run['momentum']}")
        left.semilogy(steps, run["predicted_mean_distance"], ":", color=colour,
                      label=f"d_0 * {run['momentum']}^t")
        right.plot(steps, run["output_gap"], color=colour, label=f"momentum {run['momentum']}")
    left.set_ylim(1e-3, 30)  # below ~0.05 the measured distance is batch noise, not the formula
    left.set(xlabel="training step", ylabel="max |moving_mean - mean|", title="moving mean -> data mean")
    right.set(xlabel="training step", ylabel="mean |y_train - y_inference|", title="training vs inference output")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(quick=False, out_dir="examples_output/batch_normalization"):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    steps = 500 if quick else 1000
    part1 = training_vs_inference(rng)
    slow = convergence(rng, steps, momentum=0.99)
    fast = convergence(rng, steps, momentum=0.9)
    closed_form_error = closed_form_check(rng, steps)
    checkpoints = [t for t in (1, 10, 44, 100, 200, 300, 458, 700, 1000) if t <= steps]
    print_convergence(slow, fast, closed_form_error, checkpoints)
    part3 = biased_variance(rng, steps=800 if quick else 3000)
    part4 = frozen(rng, quick)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "moving_averages.png")
    plot(slow, fast, path)
    print(f"\nwrote {path}")
    return {"training_vs_inference": part1, "momentum_0.99": slow, "momentum_0.9": fast,
            "closed_form_error": closed_form_error, "biased_variance": part3, "frozen": part4, "figure": path}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="examples_output/batch_normalization")
    arguments = parser.parse_args()
    main(quick=arguments.quick, out_dir=arguments.out)
