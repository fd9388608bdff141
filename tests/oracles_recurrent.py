"""Naive loop recurrent cells, the test oracle for numpy_nn/ops/recurrent.py.

Written straight from the cell equations, one sample and one time step at a time, each gate
with its own slice of the weights and its own dropout mask (Keras's implementation 1), with
NumPy only (no import from the code under test). A masked step copies the previous states.
Returns the state trajectory (N, T, u) and, for the LSTM, the cell states (N, T, u) too.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda z: np.maximum(z, 0.0),
               "linear": lambda z: z, "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0)}


def _gate_mask(masks, n, gate, width):
    """Dropout mask row for one sample and gate (ones when there is no dropout)."""
    if masks is None:
        return np.ones(width)
    return masks[gate if len(masks) > 1 else 0][n]


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh", input_dropout=None,
               recurrent_dropout=None):
    phi = ACTIVATIONS[activation]
    N, T, F = x.shape
    u = h0.shape[1]
    b = np.zeros(u) if bias is None else bias
    out = np.zeros((N, T, u))
    for n in range(N):
        h = h0[n].copy()
        for t in range(T):
            xd = x[n, t] * _gate_mask(input_dropout, n, 0, F)
            hd = h * _gate_mask(recurrent_dropout, n, 0, u)
            new = phi(xd @ kernel + b + hd @ recurrent_kernel)
            if mask is None or mask[n, t]:
                h = new
            out[n, t] = h
    return out


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
         recurrent_activation="sigmoid", input_dropout=None, recurrent_dropout=None):
    phi, sigma = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    N, T, F = x.shape
    u = h0.shape[1]
    b = np.zeros(4 * u) if bias is None else bias
    hs, cs = np.zeros((N, T, u)), np.zeros((N, T, u))
    for n in range(N):
        h, c = h0[n].copy(), c0[n].copy()
        for t in range(T):
            pre = []
            for g in range(4):  # i, f, c, o
                block = slice(g * u, (g + 1) * u)
                xg = (x[n, t] * _gate_mask(input_dropout, n, g, F)) @ kernel[:, block]
                hg = (h * _gate_mask(recurrent_dropout, n, g, u)) @ recurrent_kernel[:, block]
                pre.append(xg + hg + b[block])
            i, f, cand, o = sigma(pre[0]), sigma(pre[1]), phi(pre[2]), sigma(pre[3])
            c_new = f * c + i * cand
            h_new = o * phi(c_new)
            if mask is None or mask[n, t]:
                h, c = h_new, c_new
            hs[n, t], cs[n, t] = h, c
    return hs, cs


def gru(x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh", recurrent_activation="sigmoid",
        reset_after=True, input_dropout=None, recurrent_dropout=None):
    phi, sigma = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    N, T, F = x.shape
    u = h0.shape[1]
    if bias is None:
        b_in, b_rec = np.zeros(3 * u), np.zeros(3 * u)
    elif reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, np.zeros(3 * u)
    out = np.zeros((N, T, u))
    for n in range(N):
        h = h0[n].copy()
        for t in range(T):
            xs, hs = [], []
            for g in range(3):  # z, r, h
                block = slice(g * u, (g + 1) * u)
                xs.append((x[n, t] * _gate_mask(input_dropout, n, g, F)) @ kernel[:, block] + b_in[block])
                hs.append(h * _gate_mask(recurrent_dropout, n, g, u))
            z = sigma(xs[0] + hs[0] @ recurrent_kernel[:, :u] + b_rec[:u])
            r = sigma(xs[1] + hs[1] @ recurrent_kernel[:, u:2 * u] + b_rec[u:2 * u])
            if reset_after:
                cand = phi(xs[2] + r * (hs[2] @ recurrent_kernel[:, 2 * u:] + b_rec[2 * u:]))
            else:
                cand = phi(xs[2] + (r * hs[2]) @ recurrent_kernel[:, 2 * u:])
            new = z * h + (1.0 - z) * cand
            if mask is None or mask[n, t]:
                h = new
            out[n, t] = h
    return out
