"""Fast LSTM, GRU and SimpleRNN kernels: the same numbers as numpy_nn/ops/recurrent.py, with less overhead.

Each class subclasses its reference and must equal it (tests/test_kernels_recurrent.py: float64
to ~1e-12, float32 to float32 rounding). The fast path covers Keras's default activations
(tanh, and sigmoid for the gates), no dropout masks, with or without a padding mask, and for the
GRU ``reset_after=True``; anything else runs the reference (``super()``).

Speed tricks, none of which changes the formulas:

* the input projection x W + b of all T steps is one matrix product; every step then adds
  h_{t-1} U into a reused (N, k*units) buffer (``np.dot(..., out=)``);
* the activations are written straight into one (N, T, k*units) array of gate values, batch-major,
  so the backward pass reads them without copies, and sigmoid is computed as
  0.5 * tanh(0.5 z) + 0.5 (the same function; NumPy's tanh is several times faster than exp and
  a division, and the absolute error stays at float rounding);
* derivatives use the stored outputs (sigma' = s (1 - s), tanh' = 1 - t^2) and in-place updates;
* the pre-activation gradients of every step land in one (N, T, k*units) array, so dx, dkernel and
  drecurrent_kernel are three large matrix products after the loop, and dbias a product with ones.
"""
import numpy as np

from ...autograd.function import fast_kernel_for
from .. import recurrent as reference


def _sigmoid(z, out):
    """out = sigmoid(z) = 0.5 * tanh(0.5 z) + 0.5, in place on ``out``."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _keep(mask, t):
    """(N, 1) booleans of step t, or None when every sample uses the step."""
    if mask is None:
        return None
    keep = mask[:, t, None]
    return None if keep.all() else keep


def _split(d, keep):
    """The gradient of s_t = keep ? s_new : s_{t-1}: (part for s_new, part for s_{t-1})."""
    if keep is None:
        return d, None
    return np.where(keep, d, 0.0).astype(d.dtype), np.where(keep, 0.0, d).astype(d.dtype)


def _column_sum(d):
    """sum over batch and time of d (N, T, k) as a product with ones (BLAS)."""
    flat = d.reshape(-1, d.shape[-1])
    return np.ones(flat.shape[0], dtype=d.dtype) @ flat


def _previous_states(h0, trajectory):
    """h_{t-1} for t = 1..T: h0, then the trajectory shifted by one step (N, T, u)."""
    return np.concatenate([h0[:, None, :], trajectory[:, :-1]], axis=1)


def _fast(activation, recurrent_activation, input_dropout, recurrent_dropout):
    return activation == "tanh" and recurrent_activation in ("sigmoid", None) \
        and input_dropout is None and recurrent_dropout is None


@fast_kernel_for(reference.LSTM)
class LSTM(reference.LSTM):
    """Fast LSTM (equals ops.recurrent.LSTM); see the module docstring for what it changes."""

    def forward(self, x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                recurrent_activation="sigmoid", input_dropout=None, recurrent_dropout=None, return_carry=False):
        self.fast = _fast(activation, recurrent_activation, input_dropout, recurrent_dropout)
        if not self.fast:
            return super().forward(x, h0, c0, kernel, recurrent_kernel, bias, mask, activation, recurrent_activation,
                                   input_dropout, recurrent_dropout, return_carry)
        n, steps, _ = x.shape
        u = h0.shape[-1]
        self.x, self.h0, self.c0, self.mask = x, h0, c0, mask
        self.kernel, self.recurrent_kernel, self.has_bias, self.return_carry = kernel, recurrent_kernel, \
            bias is not None, return_carry
        xw = (x.reshape(-1, x.shape[-1]) @ kernel).reshape(n, steps, 4 * u)
        if bias is not None:
            xw += bias
        self.gates = gates = np.empty((n, steps, 4 * u), dtype=x.dtype)   # i, f, c~, o after activation
        self.cells = cells = np.empty((n, steps, u), dtype=x.dtype)       # c_t (carried)
        self.tanh_cells = tanh_cells = np.empty((n, steps, u), dtype=x.dtype)
        self.hidden = hidden = np.empty((n, steps, u), dtype=x.dtype)    # h_t (carried)
        z = np.empty((n, 4 * u), dtype=x.dtype)
        h, c = h0, c0
        for t in range(steps):
            np.dot(h, recurrent_kernel, out=z)
            z += xw[:, t]
            a = gates[:, t]
            _sigmoid(z[:, :2 * u], a[:, :2 * u])
            np.tanh(z[:, 2 * u:3 * u], out=a[:, 2 * u:3 * u])
            _sigmoid(z[:, 3 * u:], a[:, 3 * u:])
            c_new, h_new = cells[:, t], hidden[:, t]
            np.multiply(a[:, u:2 * u], c, out=c_new)
            c_new += a[:, :u] * a[:, 2 * u:3 * u]
            np.tanh(c_new, out=tanh_cells[:, t])
            np.multiply(a[:, 3 * u:], tanh_cells[:, t], out=h_new)
            keep = _keep(mask, t)
            if keep is not None:
                np.copyto(h_new, h, where=~keep)
                np.copyto(c_new, c, where=~keep)
            h, c = h_new, c_new
        return np.concatenate([hidden, cells], axis=-1) if return_carry else hidden

    def backward(self, g):
        if not self.fast:
            return super().backward(g)
        u = self.h0.shape[-1]
        gates, cells, tanh_cells = self.gates, self.cells, self.tanh_cells
        dz = np.empty_like(gates)
        dh, dc = np.zeros_like(self.h0), np.zeros_like(self.c0)
        for t in reversed(range(g.shape[1])):
            keep = _keep(self.mask, t)
            dh_new, dh_old = _split(dh + g[:, t, :u], keep)
            dc_new, dc_old = _split(dc + g[:, t, u:] if self.return_carry else dc, keep)
            a = gates[:, t]
            i, f, c_bar, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
            tanh_c = tanh_cells[:, t]
            c_prev = cells[:, t - 1] if t else self.c0
            dc_new = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
            d = dz[:, t]
            np.multiply(dc_new * c_bar, i * (1.0 - i), out=d[:, :u])
            np.multiply(dc_new * c_prev, f * (1.0 - f), out=d[:, u:2 * u])
            np.multiply(dc_new * i, 1.0 - c_bar * c_bar, out=d[:, 2 * u:3 * u])
            np.multiply(dh_new * tanh_c, o * (1.0 - o), out=d[:, 3 * u:])
            dh = d @ self.recurrent_kernel.T
            dc = dc_new * f
            if keep is not None:
                dh += dh_old
                dc += dc_old
        return _grads(self, dz, dh, dc)


def _grads(op, dz, dh0, dc0=None, recurrent_dz=None, recurrent_kernel_grad=None):
    """(dx, dh0[, dc0], dkernel, drecurrent_kernel[, dbias]) as three large products after the loop."""
    flat = dz.reshape(-1, dz.shape[-1])
    dx = (flat @ op.kernel.T).reshape(op.x.shape) if op.needs_input_grad[0] else None
    dkernel = op.x.reshape(-1, op.x.shape[-1]).T @ flat
    if recurrent_kernel_grad is None:
        h_prev = _previous_states(op.h0, op.hidden)
        rdz = flat if recurrent_dz is None else recurrent_dz.reshape(-1, recurrent_dz.shape[-1])
        recurrent_kernel_grad = h_prev.reshape(-1, h_prev.shape[-1]).T @ rdz
    states = (dh0,) if dc0 is None else (dh0, dc0)
    grads = (dx,) + states + (dkernel, recurrent_kernel_grad)
    return grads + ((_column_sum(dz),) if op.has_bias else ())


@fast_kernel_for(reference.GRU)
class GRU(reference.GRU):
    """Fast GRU with reset_after=True (equals ops.recurrent.GRU); see the module docstring."""

    def forward(self, x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, input_dropout=None, recurrent_dropout=None):
        self.fast = reset_after and _fast(activation, recurrent_activation, input_dropout, recurrent_dropout)
        if not self.fast:
            return super().forward(x, h0, kernel, recurrent_kernel, bias, mask, activation, recurrent_activation,
                                   reset_after, input_dropout, recurrent_dropout)
        n, steps, _ = x.shape
        u = h0.shape[-1]
        self.x, self.h0, self.mask, self.kernel, self.recurrent_kernel = x, h0, mask, kernel, recurrent_kernel
        self.has_bias = bias is not None
        xw = (x.reshape(-1, x.shape[-1]) @ kernel).reshape(n, steps, 3 * u)
        if bias is not None:
            xw += bias[0]
        self.gates = gates = np.empty((n, steps, 3 * u), dtype=x.dtype)  # z, r, h~
        self.recurrent_h = recurrent_h = np.empty((n, steps, u), dtype=x.dtype)  # h_{t-1} U_h + b_hh
        self.hidden = hidden = np.empty((n, steps, u), dtype=x.dtype)
        hu = np.empty((n, 3 * u), dtype=x.dtype)
        h = h0
        for t in range(steps):
            np.dot(h, recurrent_kernel, out=hu)
            if bias is not None:
                hu += bias[1]
            a, xt = gates[:, t], xw[:, t]
            hu[:, :2 * u] += xt[:, :2 * u]
            _sigmoid(hu[:, :2 * u], a[:, :2 * u])
            recurrent_h[:, t] = hu[:, 2 * u:]
            np.multiply(a[:, u:2 * u], hu[:, 2 * u:], out=a[:, 2 * u:])
            a[:, 2 * u:] += xt[:, 2 * u:]
            np.tanh(a[:, 2 * u:], out=a[:, 2 * u:])
            h_new = hidden[:, t]
            np.subtract(h, a[:, 2 * u:], out=h_new)       # h_t = h~ + z (h_{t-1} - h~)
            h_new *= a[:, :u]
            h_new += a[:, 2 * u:]
            keep = _keep(mask, t)
            if keep is not None:
                np.copyto(h_new, h, where=~keep)
            h = h_new
        return hidden

    def backward(self, g):
        if not self.fast:
            return super().backward(g)
        u = self.h0.shape[-1]
        dx_gates = np.empty_like(self.gates)
        dh_gates = np.empty_like(self.gates)
        dh = np.zeros_like(self.h0)
        for t in reversed(range(g.shape[1])):
            keep = _keep(self.mask, t)
            dh_new, dh_old = _split(dh + g[:, t], keep)
            a = self.gates[:, t]
            z, r, h_bar = a[:, :u], a[:, u:2 * u], a[:, 2 * u:]
            h_prev = self.hidden[:, t - 1] if t else self.h0
            dxg, dhg = dx_gates[:, t], dh_gates[:, t]
            np.multiply(dh_new * (h_prev - h_bar), z * (1.0 - z), out=dxg[:, :u])
            np.multiply(dh_new * (1.0 - z), 1.0 - h_bar * h_bar, out=dxg[:, 2 * u:])
            np.multiply(dxg[:, 2 * u:] * self.recurrent_h[:, t], r * (1.0 - r), out=dxg[:, u:2 * u])
            dhg[:, :2 * u] = dxg[:, :2 * u]
            np.multiply(dxg[:, 2 * u:], r, out=dhg[:, 2 * u:])
            dh = dhg @ self.recurrent_kernel.T
            dh += dh_new * z
            if dh_old is not None:
                dh += dh_old
        grads = _grads(self, dx_gates, dh, recurrent_dz=dh_gates)
        if self.has_bias:  # bias (2, 3u): [db_x; db_h]
            grads = grads[:-1] + (np.stack([grads[-1], _column_sum(dh_gates)]),)
        return grads


@fast_kernel_for(reference.SimpleRNN)
class SimpleRNN(reference.SimpleRNN):
    """Fast tanh SimpleRNN (equals ops.recurrent.SimpleRNN); see the module docstring."""

    def forward(self, x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                input_dropout=None, recurrent_dropout=None):
        self.fast = _fast(activation, None, input_dropout, recurrent_dropout)
        if not self.fast:
            return super().forward(x, h0, kernel, recurrent_kernel, bias, mask, activation, input_dropout,
                                   recurrent_dropout)
        n, steps, _ = x.shape
        self.x, self.h0, self.mask, self.kernel, self.recurrent_kernel = x, h0, mask, kernel, recurrent_kernel
        self.has_bias = bias is not None
        xw = (x.reshape(-1, x.shape[-1]) @ kernel).reshape(n, steps, -1)
        if bias is not None:
            xw += bias
        self.hidden = hidden = np.empty(xw.shape, dtype=x.dtype)
        h = h0
        for t in range(steps):
            z = h @ recurrent_kernel
            z += xw[:, t]
            h_new = hidden[:, t]
            np.tanh(z, out=h_new)
            keep = _keep(mask, t)
            if keep is not None:
                np.copyto(h_new, h, where=~keep)
            h = h_new
        return hidden

    def backward(self, g):
        if not self.fast:
            return super().backward(g)
        dz = np.empty_like(self.hidden)
        dh = np.zeros_like(self.h0)
        for t in reversed(range(g.shape[1])):
            keep = _keep(self.mask, t)
            dh_new, dh_old = _split(dh + g[:, t], keep)
            h_t = self.hidden[:, t]
            np.multiply(dh_new, 1.0 - h_t * h_t, out=dz[:, t])
            dh = dz[:, t] @ self.recurrent_kernel.T
            if dh_old is not None:
                dh += dh_old
        return _grads(self, dz, dh)
