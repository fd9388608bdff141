"""The exercises: for each op, the learner's signature, the formula of every gradient term, tiny
float64 inputs, the library's reference-tier forward, the naive-loop oracle and the Keras version.

An exercise is an op ``y = f(inputs; params)``. The learner writes ``backward``, which receives the
op's inputs, the gradient ``g = dL/dy`` and the op's parameters, in the order ``arguments`` lists,
and returns one gradient per differentiable input, in the order ``terms`` lists. Conventions are
Keras's (channels_last, Keras kernel layouts, biased batch variance, inverted dropout): the
formulas of docs/formulas.md.
"""
from dataclasses import dataclass, field

import numpy as np

from ..ops import activations, conv, dropout, losses, math as math_ops, normalization, pooling, recurrent
from . import oracles


@dataclass(frozen=True)
class Exercise:
    """One op to differentiate by hand (see the module docstring)."""
    name: str
    title: str
    arguments: tuple                 # the learner's positional arguments, in order
    terms: dict                      # term name ("dx") -> (input name, formula the term must satisfy)
    forward_formula: str
    make: object                     # rng -> (inputs {name: float64 array}, params {name: value})
    reference: object                # (tensors {name: Tensor}, params) -> Tensor, reference-tier ops
    oracle: object                   # (inputs, params, upstream) -> {term: array}, naive loops
    keras: object = None             # (keras, inputs, params) -> callable of the differentiable inputs
    upstream_names: tuple = ("g",)   # how the gradient of the output is handed to the learner
    notes: str = ""
    split_upstream: object = field(default=None)  # g -> {name: part} when the output has several parts

    @property
    def signature(self):
        outputs = ", ".join(self.terms)
        return f"backward({', '.join(self.arguments)}) -> ({outputs}{',' if len(self.terms) == 1 else ''})"

    @property
    def differentiable(self):
        """Input names, one per term, in the order of the terms."""
        return tuple(source for source, _ in self.terms.values())

    def upstream(self, g):
        return self.split_upstream(g) if self.split_upstream else {"g": g}


def _normal(rng, *shape):
    return rng.standard_normal(shape)


# -- dense ------------------------------------------------------------------------------------------------
def _dense_make(rng):
    return {"x": _normal(rng, 3, 4), "kernel": _normal(rng, 4, 2), "bias": _normal(rng, 2)}, {}


def _dense_keras(keras, inputs, params):
    return lambda x, kernel, bias: keras.ops.matmul(x, kernel) + bias


DENSE = Exercise(
    "dense", "Dense layer: y = x @ kernel + bias",
    arguments=("x", "kernel", "bias", "g"),
    terms={"dx": ("x", "dx = g @ kernel.T                  dx[n,i] = sum_j g[n,j] kernel[i,j]"),
           "dkernel": ("kernel", "dkernel = x.T @ g                dkernel[i,j] = sum_n x[n,i] g[n,j]"),
           "dbias": ("bias", "dbias = sum over the batch of g    dbias[j] = sum_n g[n,j]")},
    forward_formula="y[n,j] = sum_i x[n,i] kernel[i,j] + bias[j]     x (N, F), kernel (F, U), bias (U,)",
    make=_dense_make,
    reference=lambda t, p: math_ops.MatMul.apply(t["x"], t["kernel"]) + t["bias"],
    oracle=lambda i, p, u: oracles.dense(i["x"], i["kernel"], i["bias"], u["g"]),
    keras=_dense_keras)

# -- relu -------------------------------------------------------------------------------------------------
RELU = Exercise(
    "relu", "ReLU activation: y = max(x, 0)",
    arguments=("x", "g"),
    terms={"dx": ("x", "dx = g * [x > 0]      (the gradient at x = 0 is 0, as in Keras)")},
    forward_formula="y = max(x, 0), elementwise",
    make=lambda rng: ({"x": _normal(rng, 3, 5)}, {}),
    reference=lambda t, p: activations.ReLU.apply(t["x"]),
    oracle=lambda i, p, u: oracles.relu(i["x"], u["g"]),
    keras=lambda keras, i, p: (lambda x: keras.ops.relu(x)))


# -- softmax + categorical crossentropy ---------------------------------------------------------------------
def _softmax_ce_make(rng):
    labels = np.eye(4)[rng.integers(0, 4, size=3)]
    return {"logits": _normal(rng, 3, 4)}, {"labels": labels}


SOFTMAX_CROSSENTROPY = Exercise(
    "softmax_crossentropy", "Softmax followed by categorical crossentropy, per sample (from_logits=True)",
    arguments=("logits", "labels", "g"),
    terms={"dlogits": ("logits", "dlogits[n,k] = g[n] * (softmax(logits[n])_k * sum_j labels[n,j] - labels[n,k])")},
    forward_formula="L[n] = -sum_k labels[n,k] log softmax(logits[n])_k     logits (N, K), labels (N, K), L (N,)",
    make=_softmax_ce_make,
    reference=lambda t, p: losses.CategoricalCrossentropy.apply(t["logits"], target=p["labels"], from_logits=True),
    oracle=lambda i, p, u: oracles.softmax_crossentropy(i["logits"], p["labels"], u["g"]),
    keras=lambda keras, i, p: (lambda logits: keras.ops.categorical_crossentropy(p["labels"], logits,
                                                                                 from_logits=True)),
    notes="g has one entry per sample (the loss is per sample, before the batch mean).")


# -- conv2d -----------------------------------------------------------------------------------------------
def _conv_make(rng):
    return ({"x": _normal(rng, 2, 5, 5, 2), "kernel": _normal(rng, 3, 3, 2, 3), "bias": _normal(rng, 3)},
            {"strides": (2, 1), "padding": "same"})


CONV2D = Exercise(
    "conv2d", "2-D convolution (cross-correlation), channels_last, Keras's 'same'/'valid' padding",
    arguments=("x", "kernel", "bias", "g", "strides", "padding"),
    terms={"dx": ("x", "dxp[n, i*sh+a, j*sw+b, c] += sum_f g[n,i,j,f] kernel[a,b,c,f];  dx = dxp without the padding"),
           "dkernel": ("kernel", "dkernel[a,b,c,f] = sum_{n,i,j} xp[n, i*sh+a, j*sw+b, c] g[n,i,j,f]"),
           "dbias": ("bias", "dbias[f] = sum_{n,i,j} g[n,i,j,f]")},
    forward_formula=("y[n,i,j,f] = bias[f] + sum_{a,b,c} xp[n, i*sh+a, j*sw+b, c] kernel[a,b,c,f]     x (N, H, W, C), "
                     "kernel (kh, kw, C, F); xp = x zero-padded ('same': out = ceil(n / s), the odd pixel "
                     "at the bottom/right)"),
    make=_conv_make,
    reference=lambda t, p: conv.Conv2D.apply(t["x"], t["kernel"], t["bias"], strides=p["strides"],
                                             padding=p["padding"]),
    oracle=lambda i, p, u: oracles.conv2d(i["x"], i["kernel"], i["bias"], u["g"], p["strides"], p["padding"]),
    keras=lambda keras, i, p: (lambda x, kernel, bias: keras.ops.conv(x, kernel, strides=p["strides"],
                                                                      padding=p["padding"]) + bias),
    notes="strides is a pair (sh, sw); padding is 'valid' or 'same'.")


# -- depthwise conv2d --------------------------------------------------------------------------------------
def _depthwise_make(rng):
    return ({"x": _normal(rng, 2, 4, 4, 2), "kernel": _normal(rng, 3, 3, 2, 2), "bias": _normal(rng, 4)},
            {"strides": (1, 1), "padding": "same"})


DEPTHWISE_CONV2D = Exercise(
    "depthwise_conv2d", "Depthwise 2-D convolution: each input channel c convolved with its own dm filters",
    arguments=("x", "kernel", "bias", "g", "strides", "padding"),
    terms={"dx": ("x", "dxp[n, i*sh+a, j*sw+b, c] += sum_m g[n,i,j,c*dm+m] kernel[a,b,c,m];  "
                       "dx = dxp without the padding"),
           "dkernel": ("kernel", "dkernel[a,b,c,m] = sum_{n,i,j} xp[n, i*sh+a, j*sw+b, c] g[n,i,j,c*dm+m]"),
           "dbias": ("bias", "dbias[k] = sum_{n,i,j} g[n,i,j,k]")},
    forward_formula=("y[n,i,j,c*dm+m] = bias[c*dm+m] + sum_{a,b} xp[n, i*sh+a, j*sw+b, c] kernel[a,b,c,m]     "
                     "kernel (kh, kw, C, dm), output channels C*dm"),
    make=_depthwise_make,
    reference=lambda t, p: conv.DepthwiseConv2D.apply(t["x"], t["kernel"], t["bias"], strides=p["strides"],
                                                      padding=p["padding"]),
    oracle=lambda i, p, u: oracles.depthwise_conv2d(i["x"], i["kernel"], i["bias"], u["g"], p["strides"],
                                                    p["padding"]),
    keras=lambda keras, i, p: (lambda x, kernel, bias: keras.ops.depthwise_conv(
        x, kernel, strides=p["strides"], padding=p["padding"]) + bias))


# -- max pooling ------------------------------------------------------------------------------------------
MAX_POOL2D = Exercise(
    "max_pool2d", "2-D max pooling, channels_last",
    arguments=("x", "g", "pool_size", "strides", "padding"),
    terms={"dx": ("x", "dx[n, i*sh+a*, j*sw+b*, c] += g[n,i,j,c],  (a*, b*) = the first maximum of window (i, j)")},
    forward_formula="y[n,i,j,c] = max_{a,b} xp[n, i*sh+a, j*sw+b, c]     ('same' pads with -inf)",
    make=lambda rng: ({"x": _normal(rng, 2, 4, 5, 2)}, {"pool_size": (2, 2), "strides": (2, 2), "padding": "same"}),
    reference=lambda t, p: pooling.MaxPool2D.apply(t["x"], pool_size=p["pool_size"], strides=p["strides"],
                                                   padding=p["padding"]),
    oracle=lambda i, p, u: oracles.max_pool2d(i["x"], u["g"], p["pool_size"], p["strides"], p["padding"]),
    keras=lambda keras, i, p: (lambda x: keras.ops.max_pool(x, p["pool_size"], p["strides"], p["padding"])),
    notes="Overlapping windows (strides < pool_size) add their contributions.")


# -- batch normalization ----------------------------------------------------------------------------------
def _keras_batch_norm(keras, i, p):
    def forward(x, gamma, beta):
        mean, variance = keras.ops.moments(x, axes=tuple(range(x.ndim - 1)))
        return keras.ops.batch_normalization(x, mean, variance, axis=-1, offset=beta, scale=gamma,
                                             epsilon=p["epsilon"])
    return forward


BATCH_NORM = Exercise(
    "batch_norm", "Batch normalization in training mode (statistics over every axis but the last)",
    arguments=("x", "gamma", "beta", "g", "epsilon"),
    terms={"dx": ("x", "dx = d_x_hat * r + d_var * 2 (x - mean) / m + d_mean / m,  with d_x_hat = g * gamma, "
                       "d_var = sum(d_x_hat (x - mean)) * (-1/2) r^3, d_mean = -sum(d_x_hat) r;  "
                       "= gamma r / m (m g - sum(g) - x_hat sum(g x_hat))"),
           "dgamma": ("gamma", "dgamma = sum(g * x_hat)      (summed over every axis but the last)"),
           "dbeta": ("beta", "dbeta = sum(g)")},
    forward_formula=("mean = mean(x), var = mean((x - mean)^2) (biased), r = 1 / sqrt(var + epsilon), "
                     "x_hat = (x - mean) r, y = gamma x_hat + beta;  means and sums over every axis but the "
                     "last, m values each"),
    make=lambda rng: ({"x": _normal(rng, 4, 2, 3) * 2.0 + 1.0, "gamma": _normal(rng, 3), "beta": _normal(rng, 3)},
                      {"epsilon": 1e-3}),
    reference=lambda t, p: normalization.BatchNormTrain.apply(t["x"], t["gamma"], t["beta"], axis=-1,
                                                              epsilon=p["epsilon"]),
    oracle=lambda i, p, u: oracles.batch_norm(i["x"], i["gamma"], i["beta"], u["g"], p["epsilon"]),
    keras=_keras_batch_norm,
    notes="mean and var depend on x: forgetting the d_var or d_mean path is the classic mistake.")


# -- dropout ----------------------------------------------------------------------------------------------
class _ReplayMask:
    """Stands in for the Generator the dropout op draws from: ``random(shape) < 1 - rate`` is ``mask``."""

    def __init__(self, mask):
        self.mask = mask

    def random(self, shape):
        return np.where(np.broadcast_to(self.mask, shape), 0.0, 1.0)


def _dropout_make(rng):
    return {"x": _normal(rng, 3, 4)}, {"mask": rng.random((3, 4)) < 0.75, "rate": 0.25}


DROPOUT = Exercise(
    "dropout", "Inverted dropout (Keras): kept values are divided by the keep probability",
    arguments=("x", "mask", "rate", "g"),
    terms={"dx": ("x", "dx = g * mask / (1 - rate)")},
    forward_formula="y = x * mask / (1 - rate)     mask: booleans, True = kept (drawn with probability 1 - rate)",
    make=_dropout_make,
    reference=lambda t, p: dropout.Dropout.apply(t["x"], rate=p["rate"], rng=_ReplayMask(p["mask"])),
    oracle=lambda i, p, u: oracles.dropout(i["x"], p["mask"], p["rate"], u["g"]),
    keras=lambda keras, i, p: (lambda x: keras.ops.where(p["mask"], x / (1.0 - p["rate"]), 0.0)),
    notes="The textbook (Srivastava et al.) scales at test time instead; Keras scales while training.")


# -- one LSTM step ------------------------------------------------------------------------------------------
def _lstm_make(rng):
    return ({"x": _normal(rng, 2, 3), "h": _normal(rng, 2, 2), "c": _normal(rng, 2, 2),
             "kernel": _normal(rng, 3, 8) * 0.5, "recurrent_kernel": _normal(rng, 2, 8) * 0.5,
             "bias": _normal(rng, 8) * 0.5}, {})


def _lstm_reference(t, p):
    x = t["x"].reshape(t["x"].shape[0], 1, t["x"].shape[1])
    out = recurrent.LSTM.apply(x, t["h"], t["c"], t["kernel"], t["recurrent_kernel"], t["bias"], return_carry=True)
    return out.reshape(out.shape[0], out.shape[2])  # [h_new, c_new]


def _keras_lstm(keras, i, p):
    ops = keras.ops

    def forward(x, h, c, kernel, recurrent_kernel, bias):
        z = ops.matmul(x, kernel) + ops.matmul(h, recurrent_kernel) + bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        c_new = ops.sigmoid(z_f) * c + ops.sigmoid(z_i) * ops.tanh(z_c)
        return ops.concatenate([ops.sigmoid(z_o) * ops.tanh(c_new), c_new], axis=-1)
    return forward


def _split_h_c(g):
    units = g.shape[-1] // 2
    return {"dh_next": g[:, :units], "dc_next": g[:, units:]}


LSTM_CELL = Exercise(
    "lstm_cell", "One LSTM step (Keras's gate order i, f, c, o; sigmoid gates, tanh)",
    arguments=("x", "h", "c", "kernel", "recurrent_kernel", "bias", "dh_next", "dc_next"),
    terms={"dx": ("x", "dx = dz @ kernel.T"),
           "dh": ("h", "dh = dz @ recurrent_kernel.T"),
           "dc": ("c", "dc = (dc_next + dh_next * o * (1 - tanh(c_new)^2)) * f"),
           "dkernel": ("kernel", "dkernel = x.T @ dz"),
           "drecurrent_kernel": ("recurrent_kernel", "drecurrent_kernel = h.T @ dz"),
           "dbias": ("bias", "dbias = sum over the batch of dz,   dz = [di i(1-i), df f(1-f), dc~ (1-c~^2), "
                             "do o(1-o)] with dC = dc_next + dh_next o (1 - tanh(c_new)^2), di = dC c~, "
                             "df = dC c, dc~ = dC i, do = dh_next tanh(c_new)")},
    forward_formula=("z = x @ kernel + h @ recurrent_kernel + bias = [z_i, z_f, z_c, z_o] (u columns each); "
                     "i, f, o = sigmoid(z_i, z_f, z_o), c~ = tanh(z_c); c_new = f c + i c~; h_new = o tanh(c_new)"),
    make=_lstm_make,
    reference=_lstm_reference,
    oracle=lambda i, p, u: oracles.lstm_cell(i["x"], i["h"], i["c"], i["kernel"], i["recurrent_kernel"],
                                             i["bias"], u["dh_next"], u["dc_next"]),
    keras=_keras_lstm,
    upstream_names=("dh_next", "dc_next"),
    split_upstream=_split_h_c,
    notes="The op's output is [h_new, c_new]; dh_next and dc_next are the gradients arriving at each.")


EXERCISES = {e.name: e for e in (DENSE, RELU, SOFTMAX_CROSSENTROPY, CONV2D, MAX_POOL2D, BATCH_NORM, DROPOUT,
                                 DEPTHWISE_CONV2D, LSTM_CELL)}
