"""Write notebooks/*.ipynb (without outputs) from the cells below: python tools/make_notebooks.py

Each notebook is one topic of the course. The first code cell reads ``NUMPY_NN_QUICK=1`` (set
by tests/test_notebooks.py): tiny data and one or two epochs, every cell still runs. Without it
each notebook runs top to bottom in a few minutes on 2 cores. Edit the cells here, then rerun
this script; tests/test_notebooks.py checks the files equal what it writes.
"""
import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]

SETUP = '''import os
QUICK = os.environ.get("NUMPY_NN_QUICK") == "1"   # the test suite's quick mode: tiny data, few epochs
import numpy as np
import matplotlib
import matplotlib.pyplot as plt
import numpy_nn as nn
from numpy_nn import layers
nn.set_random_seed(0)
print("quick mode" if QUICK else "full run")'''

NOTEBOOKS = {}

NOTEBOOKS["01_inverted_dropout"] = [
    ("md", """# Inverted dropout

While training, dropout keeps each value with probability p = 1 - rate and zeroes the rest. The
original paper (Srivastava et al., 2014) then multiplies the *weights* by p at test time. Keras,
and this library, do the opposite, **inverted dropout**: kept values are divided by p while
training, so the expected activation is unchanged and inference is the identity.

    y = x * mask / p,     mask ~ Bernoulli(p),     dy/dx = mask / p

The formulas are in `numpy_nn/ops/dropout.py` (and docs/formulas.md)."""),
    ("code", SETUP),
    ("md", "## The rule, on ones\nEvery kept value becomes 1/p; the mean stays near 1; inference changes nothing."),
    ("code", """rate = 0.25
drop = layers.Dropout(rate, seed=0)
x = np.ones((1000, 20), dtype="float32")
y = drop(x, training=True).numpy()
print("distinct values:", np.unique(y))                      # 0 and 1/(1 - rate)
print("kept fraction  :", (y != 0).mean(), " (p =", 1 - rate, ")")
print("mean activation:", y.mean())
assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - rate))}
assert np.array_equal(drop(x, training=False).numpy(), x)     # inference: the identity"""),
    ("md", """## Textbook vs inverted
With textbook dropout the training-time mean is p·x and the test-time network must scale by p.
Inverted dropout keeps E[y] = x in training, so nothing is rescaled at test time."""),
    ("code", """rng = np.random.default_rng(0)
p = 1 - rate
mask = rng.random(x.shape) < p
textbook_train, textbook_test = (x * mask).mean(), (x * p).mean()
inverted_train, inverted_test = (x * mask / p).mean(), x.mean()
print(f"textbook: train mean {textbook_train:.3f}, test mean {textbook_test:.3f}")
print(f"inverted: train mean {inverted_train:.3f}, test mean {inverted_test:.3f}")"""),
    ("md", "## The gradient is the same mask, scaled\nOn the tape, `nn.grad` returns mask / p for every element:"),
    ("code", """t = nn.Tensor(np.arange(1.0, 9.0).reshape(2, 4), requires_grad=True)
out = layers.Dropout(0.5, seed=1)(t, training=True)
(dx,) = nn.grad(out.sum(), [t])
print(out.numpy()); print(dx.numpy())
assert np.allclose(dx.numpy(), (out.numpy() != 0) / 0.5)"""),
    ("md", """## Dropout against overfitting
Two MLPs on the 8x8 digits, one with dropout. Dropout narrows the gap between training and
validation accuracy (the quick mode only shows that everything runs)."""),
    ("code", """from numpy_nn.datasets import load_digits, split
x_all, y_all = load_digits(as_images=False)
(x_train, y_train), (x_val, y_val), _ = split(x_all, y_all, (0.3, 0.2, 0.5), seed=0)
if QUICK:
    x_train, y_train, x_val, y_val = x_train[:64], y_train[:64], x_val[:64], y_val[:64]
epochs, width = (1, 32) if QUICK else (60, 256)

def mlp(rate):
    model = nn.Sequential([nn.Input((64,)), layers.Dense(width, activation="relu"), layers.Dropout(rate),
                           layers.Dense(width, activation="relu"), layers.Dropout(rate),
                           layers.Dense(10, activation="softmax")])
    model.compile(nn.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

histories = {}
for r in (0.0, 0.5):
    nn.set_random_seed(0)
    histories[r] = mlp(r).fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs,
                              batch_size=32, verbose=0).history
    h = histories[r]
    print(f"rate {r}: train acc {h['accuracy'][-1]:.3f}  val acc {h['val_accuracy'][-1]:.3f}  "
          f"train loss {h['loss'][-1]:.3f}  val loss {h['val_loss'][-1]:.3f}")
if not QUICK:
    assert max(h["val_accuracy"][-1] for h in histories.values()) > 0.8   # far above chance (0.1)"""),
    ("code", """fig, ax = plt.subplots(1, 2, figsize=(9, 3))
for r, h in histories.items():
    ax[0].plot(h["loss"], label=f"train, rate {r}"); ax[0].plot(h["val_loss"], "--", label=f"val, rate {r}")
    ax[1].plot(h["accuracy"], label=f"train, rate {r}"); ax[1].plot(h["val_accuracy"], "--", label=f"val, rate {r}")
ax[0].set_title("loss"); ax[1].set_title("accuracy"); ax[1].legend(fontsize=7); plt.show()"""),
]

NOTEBOOKS["02_convolutions"] = [
    ("md", """# Convolutions: standard, 1x1, depthwise and separable

All four are written in `numpy_nn/ops/conv.py` as a sum over kernel taps. Here each one is
checked against a loop or against another, and their parameter counts and multiply-adds are
compared. Layout: channels_last, Keras kernels (kh, kw, C_in, C_out) and (kh, kw, C, multiplier)."""),
    ("code", SETUP),
    ("md", "## A standard convolution is a sum over taps\nCompared with a plain loop over output pixels:"),
    ("code", """rng = np.random.default_rng(0)
x = rng.standard_normal((1, 6, 6, 3)).astype("float32")
conv = layers.Conv2D(4, 3, use_bias=False)
y = conv(x).numpy()
K = conv.get_weights()[0]                       # (3, 3, 3, 4)
loop = np.zeros_like(y)
for i in range(y.shape[1]):
    for j in range(y.shape[2]):
        loop[0, i, j] = np.einsum("abc,abcf->f", x[0, i:i + 3, j:j + 3], K)
print("max |layer - loop| =", np.abs(y - loop).max())
assert np.allclose(y, loop, atol=1e-5)"""),
    ("md", "## A 1x1 convolution is a matrix product over channels\nEvery pixel's channel vector times the same (C_in, C_out) matrix:"),
    ("code", """pointwise = layers.Conv2D(5, 1, use_bias=False)
y1 = pointwise(x).numpy()
W = pointwise.get_weights()[0][0, 0]            # (3, 5)
print(y1.shape, "max |conv1x1 - x @ W| =", np.abs(y1 - x @ W).max())
assert np.allclose(y1, x @ W, atol=1e-5)"""),
    ("md", "## Depthwise: each channel with its own filters\nOutput channel c·dm + m is input channel c convolved with filter m:"),
    ("code", """depthwise = layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False)
yd = depthwise(x).numpy()                       # (1, 4, 4, 3 * 2)
D = depthwise.get_weights()[0]                  # (3, 3, 3, 2)
for c in range(3):
    for m in range(2):
        single = layers.Conv2D(1, 3, use_bias=False)
        single.build((None, 6, 6, 1)); single.set_weights([D[:, :, c:c + 1, m:m + 1]])
        assert np.allclose(yd[..., c * 2 + m], single(x[..., c:c + 1]).numpy()[..., 0], atol=1e-5)
print("depthwise output", yd.shape, "= per-channel convolutions, channel order c*dm + m")"""),
    ("md", "## Separable = depthwise, then 1x1\n`SeparableConv2D` is exactly a depthwise convolution followed by a pointwise one (no bias in between):"),
    ("code", """separable = layers.SeparableConv2D(5, 3, depth_multiplier=2)
ys = separable(x).numpy()
dk, pk, bias = separable.get_weights()
dw = layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False); dw.build(x.shape); dw.set_weights([dk])
pw = layers.Conv2D(5, 1); pw.build((None, 4, 4, 6)); pw.set_weights([pk, bias])
print("max |separable - pointwise(depthwise(x))| =", np.abs(ys - pw(dw(x)).numpy()).max())
assert np.allclose(ys, pw(dw(x)).numpy(), atol=1e-5)"""),
    ("md", "## Cost\nParameters and multiply-adds for a 32x32x64 input to 128 channels, 3x3, 'same':"),
    ("code", """H = W_ = 32; C, F, k = 64, 128, 3
rows = []
for name, layer in [("Conv2D 3x3", layers.Conv2D(F, k, padding="same")),
                    ("Conv2D 1x1", layers.Conv2D(F, 1, padding="same")),
                    ("DepthwiseConv2D 3x3", layers.DepthwiseConv2D(k, padding="same")),
                    ("SeparableConv2D 3x3", layers.SeparableConv2D(F, k, padding="same"))]:
    layer.build((None, H, W_, C))
    params = sum(int(np.prod(w.shape)) for w in layer.get_weights())
    kernels = [w for w in layer.get_weights() if w.ndim == 4]
    macs = sum(H * W_ * int(np.prod(w.shape)) for w in kernels)
    rows.append((name, params, macs))
for name, params, macs in rows:
    print(f"{name:<22} params {params:>7}   multiply-adds {macs / 1e6:7.2f} M")
assert rows[3][2] < rows[0][2] / 7           # separable: about k*k*F / (k*k + F) times cheaper"""),
    ("code", """if not QUICK:
    import time
    big = rng.standard_normal((8, 32, 32, 64)).astype("float32")
    for name, layer in [("Conv2D 3x3", layers.Conv2D(128, 3, padding="same")),
                        ("SeparableConv2D 3x3", layers.SeparableConv2D(128, 3, padding="same"))]:
        layer(big[:1]); start = time.perf_counter(); layer(big); took = time.perf_counter() - start
        print(f"{name:<22} forward on {big.shape}: {took * 1e3:.1f} ms (this machine)")"""),
]

NOTEBOOKS["03_what_convnets_learn"] = [
    ("md", """# What convnets learn: activations, filters, Grad-CAM

A small CNN learns to tell circles, squares and triangles apart (`nn.datasets.make_shapes`: a
random colour and position on a cluttered background). Then, all on the autograd tape:
its intermediate activations, the input patterns its filters respond to (gradient ascent on
the input), and Grad-CAM heatmaps of where it looks."""),
    ("code", SETUP),
    ("code", """from numpy_nn.datasets import SHAPES, make_shapes
from numpy_nn.tour import build_cnn
size = 16 if QUICK else 32
images, labels, masks = make_shapes(96 if QUICK else 2000, size=size, seed=0)
test_images, test_labels, test_masks = make_shapes(32 if QUICK else 200, size=size, seed=1)
model = build_cnn(size, len(SHAPES), width=8 if QUICK else 32, dropout=0.0)
model.compile(nn.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(images, labels, epochs=1 if QUICK else 10, batch_size=32, verbose=0,
                    validation_data=(test_images, test_labels))
loss, accuracy = model.evaluate(test_images, test_labels, verbose=0)
print(f"test accuracy {accuracy:.3f} (chance {1 / len(SHAPES):.3f})")
if not QUICK:
    assert accuracy > 0.6
print([layer.name for layer in model.layers])"""),
    ("md", "## Intermediate activations\nEvery channel of the first convolution block, for one test image:"),
    ("code", """acts = nn.viz.activations(model, test_images[:1])
first = [name for name in acts if acts[name].ndim == 4][0]
a = acts[first][0]
columns = 8
rows = int(np.ceil(a.shape[-1] / columns))
fig, ax = plt.subplots(rows, columns + 1, figsize=(columns + 1, rows * 1.1), squeeze=False)
ax[0, 0].imshow(test_images[0]); ax[0, 0].set_title(SHAPES[test_labels[0]], fontsize=7)
for k in range(rows * columns):
    r, c = divmod(k, columns)
    if k < a.shape[-1]:
        ax[r, c + 1].imshow(a[..., k], cmap="viridis")
for axis in ax.ravel(): axis.axis("off")
plt.suptitle(f"layer {first}: {a.shape[-1]} channels"); plt.show()"""),
    ("md", "## Filters, by gradient ascent on the input\nStart from a grey image with a little noise and climb the mean activation of one filter:"),
    ("code", """conv_names = [layer.name for layer in model.layers if layer.__class__.__name__.startswith("Conv2D")]
last_conv = conv_names[-1]
n_filters = 4 if QUICK else 8
patterns = [nn.viz.visualize_filter(model, last_conv, i, steps=5 if QUICK else 30, step_size=1.0, seed=0)
            for i in range(n_filters)]
fig, ax = plt.subplots(1, n_filters, figsize=(n_filters * 1.5, 1.8))
for i, pattern in enumerate(patterns):   # .image: uint8, deprocessed for display (keras.io's transform)
    ax[i].imshow(pattern.image)
    ax[i].set_title(f"filter {i}" + ("" if pattern.excited else " (dead)"), fontsize=7); ax[i].axis("off")
plt.show()
print("final losses:", [round(float(p.loss), 4) for p in patterns])"""),
    ("md", "## Grad-CAM\nThe gradient of the predicted class's logit with respect to the last convolution's activations, averaged per channel, weights those channels:"),
    ("code", """x = test_images[:6]
heatmaps = nn.viz.grad_cam(model, x, layer_name=last_conv)
predicted = model.predict(x, verbose=0).argmax(axis=1)
fig, ax = plt.subplots(2, len(x), figsize=(len(x) * 1.6, 3.4))
for i in range(len(x)):
    ax[0, i].imshow(x[i]); ax[0, i].set_title(f"{SHAPES[test_labels[i]]} -> {SHAPES[predicted[i]]}", fontsize=7)
    ax[1, i].imshow(nn.viz.overlay(x[i], heatmaps[i]))
for axis in ax.ravel(): axis.axis("off")
plt.show()
assert heatmaps.shape[0] == len(x) and heatmaps.min() >= 0 and heatmaps.max() <= 1"""),
    ("md", "How much of each heatmap falls on the object (its ground-truth mask), compared with the object's share of the image:"),
    ("code", """factor = size // heatmaps.shape[1]                 # the heatmap has the last convolution's resolution
heatmaps = heatmaps.repeat(factor, axis=1).repeat(factor, axis=2)
energy = (heatmaps * test_masks[:6]).sum(axis=(1, 2)) / (heatmaps.sum(axis=(1, 2)) + 1e-8)
print("heatmap energy on the object:", np.round(energy, 2))
print("object area fraction       :", np.round(test_masks[:6].mean(axis=(1, 2)), 2))"""),
]

NOTEBOOKS["04_functional_and_subclassed_models"] = [
    ("md", """# Functional models with named inputs and outputs; a subclassed model

A functional model is a graph of layers from `nn.Input`s to outputs. With **named** inputs and
outputs, data, losses, loss weights and metrics are all dicts keyed by those names, and the
History keys carry them (`score_loss`, `kind_accuracy`, ...). A **subclassed** model builds its
graph in `__init__` and hands it to `super().__init__(inputs, outputs)`: it is then a functional
model with its own constructor arguments."""),
    ("code", SETUP),
    ("code", """def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 8)).astype("float32")
    b = rng.standard_normal((n, 6)).astype("float32")
    score = (a[:, :4].sum(axis=1) > 0).astype("float32")[:, None]     # depends on branch a only
    kind = np.digitize(a[:, 4] + b[:, 0], [-0.5, 0.5])                  # 0, 1 or 2: needs both
    return {"sensors": a, "profile": b}, {"score": score, "kind": kind}

sensors = nn.Input((8,), name="sensors")
profile = nn.Input((6,), name="profile")
ha = layers.Dense(16, activation="relu", name="sensors_hidden")(sensors)
hb = layers.Dense(16, activation="relu", name="profile_hidden")(profile)
joined = layers.Concatenate(name="join")([ha, hb])
score = layers.Dense(1, activation="sigmoid", name="score")(ha)
kind = layers.Dense(3, activation="softmax", name="kind")(layers.Dense(16, activation="relu", name="mix")(joined))
model = nn.Model({"sensors": sensors, "profile": profile}, {"score": score, "kind": kind}, name="two_branch")
model.summary()"""),
    ("code", """x, y = make_data(300 if QUICK else 2000)
x_test, y_test = make_data(500, seed=1)
model.compile(optimizer=nn.optimizers.Adam(0.01),
              loss={"score": "binary_crossentropy", "kind": "sparse_categorical_crossentropy"},
              loss_weights={"score": 1.0, "kind": 0.5},
              metrics={"score": ["accuracy"], "kind": ["accuracy"]})
history = model.fit(x, y, batch_size=32, epochs=2 if QUICK else 20, validation_split=0.2, verbose=0)
print("History keys:", sorted(history.history))
results = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
print({k: round(float(v), 3) for k, v in results.items()})
assert {"score_loss", "kind_loss", "score_accuracy", "kind_accuracy"} <= set(history.history)
if not QUICK:
    assert results["score_accuracy"] > 0.8 and results["kind_accuracy"] > 0.6"""),
    ("md", "Predictions come back keyed by output name; the loss is the weighted sum of the per-output losses:"),
    ("code", """p = model.predict(x_test, verbose=0)
print({name: value.shape for name, value in p.items()})
weighted = results["score_loss"] * 1.0 + results["kind_loss"] * 0.5
print(f"loss {results['loss']:.5f} = score_loss + 0.5 * kind_loss = {weighted:.5f}")
assert abs(results["loss"] - weighted) < 1e-4"""),
    ("md", "An inner activation by name, as `keras.backend.function` would give it:"),
    ("code", """hidden = nn.function(model.inputs, model.get_layer("mix").output)
print(hidden({"sensors": x_test["sensors"][:2], "profile": x_test["profile"][:2]}).shape)"""),
    ("md", "## A subclassed model that builds its graph in `__init__`"),
    ("code", """class ResidualMLP(nn.Model):
    def __init__(self, n_features, width=16, blocks=2, name="residual_mlp"):
        inputs = nn.Input((n_features,), name="features")
        h = layers.Dense(width, activation="relu", name="stem")(inputs)
        for i in range(blocks):
            branch = layers.Dense(width, activation="relu", name=f"block{i}_a")(h)
            branch = layers.Dense(width, name=f"block{i}_b")(branch)
            h = layers.Add(name=f"block{i}_add")([h, branch])
        outputs = layers.Dense(1, name="head")(h)
        super().__init__(inputs, outputs, name=name)
        self.width, self.blocks = width, blocks

rng = np.random.default_rng(0)
xr = rng.uniform(-2, 2, (400 if QUICK else 2000, 3)).astype("float32")
yr = (np.sin(xr[:, :1]) * xr[:, 1:2] + 0.5 * xr[:, 2:3] ** 2).astype("float32")
net = ResidualMLP(3, width=16, blocks=2)
net.summary()
net.compile(nn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
h = net.fit(xr, yr, batch_size=32, epochs=3 if QUICK else 40, validation_split=0.2, verbose=0).history
print(f"val_loss: first epoch {h['val_loss'][0]:.4f}, last {h['val_loss'][-1]:.4f}")
print([layer.name for layer in net.layers][:6], "...")
assert net.get_layer("block1_add") is not None
if not QUICK:
    assert h["val_loss"][-1] < 0.5 * h["val_loss"][0]"""),
]

NOTEBOOKS["05_callbacks_and_batch_norm"] = [
    ("md", """# Callbacks, and batch normalization's moving averages

**BatchNormalization** normalizes with the batch's statistics while training and with its moving
averages at inference. After each training call (Keras's order, momentum = 0.99 by default):

    moving_mean     = moving_mean * momentum + batch_mean * (1 - momentum)
    moving_variance = moving_variance * momentum + batch_variance * (1 - momentum)     (biased variance)

`numpy-nn explain BatchNormalization --shape 2,3 --training` prints these numbers for one call.
**Callbacks** hook into `fit`: here EarlyStopping, ReduceLROnPlateau, a LambdaCallback that
records the moving mean after every epoch, and CSVLogger."""),
    ("code", SETUP),
    ("code", """bn = layers.BatchNormalization()
rng = np.random.default_rng(0)
batch = (rng.standard_normal((64, 3)) * [1.0, 2.0, 0.5] + [3.0, -1.0, 0.0]).astype("float32")
bn(batch, training=True)
mean, variance = batch.mean(axis=0), batch.var(axis=0)
print("batch mean     ", mean)
print("moving_mean    ", bn.moving_mean.numpy(), "= 0.01 * batch mean")
print("moving_variance", bn.moving_variance.numpy(), "= 0.99 + 0.01 * batch variance")
assert np.allclose(bn.moving_mean.numpy(), 0.01 * mean, atol=1e-6)
assert np.allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * variance, atol=1e-5)"""),
    ("md", "After k calls on the same batch the moving mean is (1 − 0.99^k) · mean: it converges slowly, which is why an early model predicts badly in inference mode."),
    ("code", """steps = 50 if QUICK else 500
trace = []
for k in range(2, steps + 1):
    bn(batch, training=True)
    trace.append(bn.moving_mean.numpy()[0])
k = np.arange(2, steps + 1)
assert np.allclose(trace, (1 - 0.99 ** k) * mean[0], rtol=1e-4)
gap = np.abs(bn(batch, training=True).numpy() - bn(batch, training=False).numpy()).max()
print(f"after {steps} steps: moving_mean[0] = {trace[-1]:.4f} (batch mean {mean[0]:.4f}); "
      f"max |training output - inference output| = {gap:.4f}")
plt.plot(k, trace, label="moving_mean[0]"); plt.axhline(mean[0], ls="--", label="batch mean")
plt.xlabel("training calls"); plt.legend(); plt.show()"""),
    ("md", "## Callbacks during `fit`\nA small CNN with batch normalization on the digits; the LambdaCallback records the first BN layer's moving mean after every epoch."),
    ("code", """import tempfile
from numpy_nn.datasets import load_digits, split
images, digits = load_digits(as_images=True)
(x_train, y_train), (x_val, y_val), _ = split(images, digits, (0.6, 0.2, 0.2), seed=0)
if QUICK:
    x_train, y_train = x_train[:128], y_train[:128]
model = nn.Sequential([nn.Input(x_train.shape[1:]), layers.Conv2D(8, 3, padding="same", use_bias=False),
                       layers.BatchNormalization(momentum=0.9, name="bn"), layers.ReLU(),
                       layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10, activation="softmax")])
model.compile(nn.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
moving = []
record = nn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: moving.append(
    model.get_layer("bn").moving_mean.numpy().copy()))
stopper = nn.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
reducer = nn.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
log_path = os.path.join(tempfile.mkdtemp(), "training.csv")
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2 if QUICK else 30, batch_size=32,
                    callbacks=[record, stopper, reducer, nn.callbacks.CSVLogger(log_path)], verbose=0)
print(f"{len(history.epoch)} epochs; val accuracy {history.history['val_accuracy'][-1]:.3f}")
print(open(log_path).read().splitlines()[0])
print("learning rates:", [round(float(lr), 5) for lr in history.history.get("learning_rate", [])])
assert len(moving) == len(history.epoch)
if not QUICK:
    assert max(history.history["val_accuracy"]) > 0.9"""),
    ("code", """moving = np.array(moving)
plt.plot(moving); plt.xlabel("epoch"); plt.title("moving_mean of each channel (momentum 0.9)"); plt.show()"""),
]

NOTEBOOKS["06_search_and_ensembles"] = [
    ("md", """# Hyperparameter search on a validation split, and ensembles with member scores

The digits are split once: train / validation / test. The search (Hyperopt's TPE, through
`nn.tuning.hyperopt_search`) trains every trial on the training split and scores it on the
validation split; an ensemble of trials is chosen on the validation split too (Caruana's greedy
selection, `nn.ensemble.from_search`). The test split is used once, at the end."""),
    ("code", SETUP),
    ("code", """from hyperopt import hp
from numpy_nn.datasets import load_digits, split
from numpy_nn.ensemble import accuracy, from_search, log_loss
from numpy_nn.tuning import hyperopt_search, refit

x, y = load_digits(as_images=False)
(x_train, y_train), (x_val, y_val), (x_test, y_test) = split(x, y, (0.6, 0.2, 0.2), seed=0)
if QUICK:
    x_train, y_train = x_train[:200], y_train[:200]

space = {"learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(3e-2)),
         "width": hp.choice("width", [16, 32, 64]),
         "dropout": hp.uniform("dropout", 0.0, 0.5)}

def build_model(params):
    model = nn.Sequential([nn.Input((64,)), layers.Dense(params["width"], activation="relu"),
                           layers.Dropout(params["dropout"]), layers.Dense(10, activation="softmax")])
    model.compile(nn.optimizers.Adam(params["learning_rate"]), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model

fit_kwargs = {"epochs": 2 if QUICK else 25, "batch_size": 32}
result = hyperopt_search(build_model, space, x_train, y_train, validation_data=(x_val, y_val),
                         max_evals=3 if QUICK else 20, seed=0, fit_kwargs=fit_kwargs, metric="val_loss",
                         mode="min", verbose=0, keep_val_predictions=True)
print(result.to_markdown())
print("best:", result.best_params, f"val_loss {result.best_score:.4f}")"""),
    ("md", "## The ensemble, with every member's score\nGreedy selection with replacement on the validation predictions the search kept:"),
    ("code", """ensemble = from_search(result, method="greedy")
print(ensemble.to_markdown())
members = {trial: refit(result, build_model, x_train, y_train, trial=trial, validation_data=(x_val, y_val),
                        fit_kwargs=fit_kwargs) for trial in ensemble.trials}
test_probas = {trial: m.predict(x_test, verbose=0) for trial, m in members.items()}
print(f"{'member':<12} {'test accuracy':>14} {'test log loss':>14}")
for trial, p in test_probas.items():
    print(f"trial {trial:<6} {accuracy(p, y_test):>14.3f} {log_loss(p, y_test):>14.4f}")
p_ensemble = ensemble.predict_proba(test_probas)
print(f"{'ensemble':<12} {accuracy(p_ensemble, y_test):>14.3f} {log_loss(p_ensemble, y_test):>14.4f}  "
      f"weights {ensemble.weights}")
if not QUICK:
    assert accuracy(p_ensemble, y_test) > 0.9"""),
    ("md", "## Averaging members of different kinds\n`nn.ensemble.report` puts members and their mean side by side on validation and test data:"),
    ("code", """from numpy_nn.ensemble import report
def fit(builder, seed):
    nn.set_random_seed(seed)
    model = builder()
    model.fit(x_train, y_train, epochs=2 if QUICK else 20, batch_size=32, verbose=0)
    return model
builders = {"relu_mlp": lambda: build_model({"width": 64, "dropout": 0.1, "learning_rate": 3e-3}),
            "narrow_mlp": lambda: build_model({"width": 16, "dropout": 0.0, "learning_rate": 1e-2})}
trained = {name: fit(builder, seed) for seed, (name, builder) in enumerate(builders.items())}
table = report({name: (m.predict(x_val, verbose=0), m.predict(x_test, verbose=0)) for name, m in trained.items()},
               y_val, y_test)
print(table.to_markdown())"""),
]


def build(name):
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in NOTEBOOKS[name]]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    return nb


def render(name):
    return nbformat.writes(build(name)) + "\n"


def main():
    folder = ROOT / "notebooks"
    folder.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        (folder / f"{name}.ipynb").write_text(render(name))
        print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    main()
