"""Recurrent cells run over a whole sequence: SimpleRNN, LSTM and GRU, with backpropagation through time.

Keras's layout (so ``get_weights`` / ``set_weights`` and ``.keras`` files interoperate):

    x (N, T, F)   kernel (F, k*units)   recurrent_kernel (units, k*units)   bias (k*units,)

the k gate blocks side by side in Keras's order: SimpleRNN k = 1; LSTM k = 4, gates i, f, c, o
(input, forget, candidate, output); GRU k = 3, gates z, r, h (update, reset, candidate). A GRU
with ``reset_after=True`` (Keras's default) has bias (2, 3*units): row 0 is added to x W, row 1
to h U. PyTorch differs: weights (k*units, F) transposed, two biases b_ih + b_hh for every
cell, LSTM gates i, f, g, o (same order), GRU gates r, z, n (reset first) with the reset applied
after the matrix product (= Keras's reset_after=True). See docs/sequences.md.

Notation: sigma = ``recurrent_activation`` (default sigmoid), phi = ``activation`` (default
tanh); both are any elementwise activation of numpy_nn/ops/activations.py, whose derivative
``backward`` supplies (written phi'(.) below). ``g`` is the gradient arriving at the output.

Each op returns the state trajectory h_1 ... h_T (N, T, units); an LSTM asked for its carry
(``return_carry=True``) returns [h_t, c_t] concatenated on the last axis (N, T, 2*units). The
layers read their outputs from it (numpy_nn/layers/recurrent.py); the final states are the last
step, taken with ``SliceSteps`` (a slice whose gradient is written back into zeros).

Masking (``mask`` (N, T), True = use the step): a masked step leaves every state as it was,

    s_t = s_new(x_t, s_{t-1})  if m_t  else  s_{t-1}

so in the backward pass the gradient of s_t flows to s_new where m_t and straight to s_{t-1}
where not. (Keras's RNN layer; the layer chooses what the *outputs* are at masked steps.)

Dropout (Keras's DropoutRNNCell): masks drawn once per call and fixed over time, already scaled
by 1 / (1 - rate). ``input_dropout`` (G, N, F): gate block j of x_t W sees x_t * D[j];
``recurrent_dropout`` (G, N, units): gate block j of h_{t-1} U sees h_{t-1} * R[j]. With G = 1
one mask serves every gate (Keras's implementation 2, used unless recurrent_dropout > 0). So

    x W  ->  [ (x * D_j) W_j ]_j         dx = sum_j (dz_j W_j^T) * D_j,  dW_j = sum_t (x_t * D_j)^T dz_j

Backpropagation through time: one loop from t = T-1 down to 0 carries dh (and dc), the gradient
of the state. The pre-activation gradients dz_t of every step are kept, so the weight gradients
are whole-sequence sums computed once at the end, each one matrix product:

    dkernel = sum_t x_t^T dz_t        drecurrent_kernel = sum_t h_{t-1}^T dz_t
    dbias = sum_t sum_n dz_t          dx_t = dz_t kernel^T

This is the reference tier; ops/kernels/recurrent.py has the fast LSTM/GRU/SimpleRNN kernels.
"""
import numpy as np

from ..autograd.function import Function
from . import activations as A

# Keras activation name -> the elementwise Function of ops/activations.py (None: linear).
_ACTIVATION_CLASSES = {
    "linear": None, "tanh": "Tanh", "sigmoid": "Sigmoid", "hard_sigmoid": "HardSigmoid", "relu": "ReLU",
    "relu6": "ReLU6", "elu": "ELU", "selu": "SELU", "celu": "CELU", "softplus": "Softplus",
    "softsign": "Softsign", "silu": "Silu", "swish": "Silu", "gelu": "Gelu", "exponential": "Exponential",
    "mish": "Mish", "hard_silu": "HardSilu", "hard_swish": "HardSilu", "leaky_relu": "LeakyReLU",
    "log_sigmoid": "LogSigmoid", "hard_tanh": "HardTanh", "tanh_shrink": "TanhShrink",
    "sparse_sigmoid": "SparseSigmoid", "soft_shrink": "SoftShrink", "hard_shrink": "HardShrink",
    "squareplus": "Squareplus", "sparse_plus": "SparsePlus",
}
ELEMENTWISE_ACTIVATIONS = tuple(name for name, cls in _ACTIVATION_CLASSES.items()
                                if cls is None or hasattr(A, cls))


def activation_function(name):
    """The elementwise Function class for a Keras activation name (None for "linear").

    Raises ValueError for anything else (softmax is not elementwise; custom callables have no
    formula here)."""
    if name not in ELEMENTWISE_ACTIVATIONS:
        raise ValueError(f"recurrent activation {name!r} is not supported; use one of {list(ELEMENTWISE_ACTIVATIONS)}")
    cls = _ACTIVATION_CLASSES[name]
    return None if cls is None else getattr(A, cls)


class _Elementwise:
    """phi applied once, remembering what phi'(.) needs: ``phi(z)`` then ``phi.grad(g)``."""

    def __init__(self, name):
        cls = activation_function(name)
        self.function = None if cls is None else cls.implementation()()

    def __call__(self, z):
        return z if self.function is None else self.function.forward(z)

    def grad(self, g):
        return g if self.function is None else self.function.backward(g)[0]


# -- the input/recurrent projections, with per-gate dropout masks ----------------------------------------
def _dropped(a, masks, j):
    """a * masks[j] (masks[0] when one mask serves every gate); ``a`` is (N, F) or (N, T, F)."""
    mask = masks[j if len(masks) > 1 else 0]
    return a * (mask[:, None, :] if a.ndim == 3 else mask)


def project(a, weight, masks, gates):
    """[ (a * masks[j]) @ weight_j ]_j over the gate blocks; ``a @ weight`` without dropout."""
    if masks is None:
        return a @ weight
    blocks = np.split(weight, gates, axis=-1)
    return np.concatenate([_dropped(a, masks, j) @ blocks[j] for j in range(gates)], axis=-1)


def project_input_grad(dz, weight, masks, gates):
    """d a = sum_j (dz_j @ weight_j^T) * masks[j]."""
    if masks is None:
        return dz @ weight.T
    dz_blocks, w_blocks = np.split(dz, gates, axis=-1), np.split(weight, gates, axis=-1)
    return sum(_dropped(dz_blocks[j] @ w_blocks[j].T, masks, j) for j in range(gates))


def project_weight_grad(a, dz, masks, gates):
    """d weight_j = sum over batch and time of (a * masks[j])^T dz_j; a (N, T, F), dz (N, T, k*u)."""
    def contract(left, right):
        return left.reshape(-1, left.shape[-1]).T @ right.reshape(-1, right.shape[-1])
    if masks is None:
        return contract(a, dz)
    dz_blocks = np.split(dz, gates, axis=-1)
    return np.concatenate([contract(_dropped(a, masks, j), dz_blocks[j]) for j in range(gates)], axis=-1)


def _sum_over_batch_and_time(dz):
    return np.sum(dz, axis=(0, 1), dtype=np.float64).astype(dz.dtype)


def _split_by_mask(d, keep):
    """(d where the step is used, d where it is masked): the two paths of s_t = m ? s_new : s_{t-1}."""
    if keep is None:
        return d, 0.0
    return np.where(keep, d, 0.0).astype(d.dtype), np.where(keep, 0.0, d).astype(d.dtype)


def _keep(mask, t):
    return None if mask is None else mask[:, t, None]


def _carry(keep, new, old):
    return new if keep is None else np.where(keep, new, old)


class SimpleRNN(Function):
    """Elman RNN over a sequence. Inputs: x (N, T, F), h0 (N, u), kernel W (F, u),
    recurrent_kernel U (u, u)[, bias b (u,)]. Output: h_1..h_T (N, T, u).

        z_t = x_t W + b + h_{t-1} U          h_t = phi(z_t)        (masked step: h_t = h_{t-1})

    Backward, t = T-1 .. 0, with dh = g_t + (gradient from step t+1):

        dz_t = phi'(z_t) * dh                 dh_{t-1} = dz_t U^T
        dW = sum_t x_t^T dz_t   dU = sum_t h_{t-1}^T dz_t   db = sum_t dz_t   dx_t = dz_t W^T
        dh0 = the dh left after step 0
    """

    def forward(self, x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                input_dropout=None, recurrent_dropout=None):
        self.x, self.mask, self.kernel, self.recurrent_kernel = x, mask, kernel, recurrent_kernel
        self.input_dropout, self.recurrent_dropout, self.has_bias = input_dropout, recurrent_dropout, bias is not None
        xw = project(x, kernel, input_dropout, 1) + (0.0 if bias is None else bias)
        h, self.h_prev, self.phi = h0, [], []
        trajectory = np.empty(x.shape[:2] + h0.shape[-1:], dtype=x.dtype)
        for t in range(x.shape[1]):
            phi = _Elementwise(activation)
            h_new = phi(xw[:, t] + project(h, recurrent_kernel, recurrent_dropout, 1))
            self.h_prev.append(h)
            self.phi.append(phi)
            h = trajectory[:, t] = _carry(_keep(mask, t), h_new, h)
        return trajectory

    def backward(self, g):
        dh = np.zeros_like(self.h_prev[0])
        dz = np.zeros(g.shape, dtype=g.dtype)
        for t in reversed(range(g.shape[1])):
            dh_new, dh_old = _split_by_mask(dh + g[:, t], _keep(self.mask, t))
            dz[:, t] = self.phi[t].grad(dh_new)
            dh = dh_old + project_input_grad(dz[:, t], self.recurrent_kernel, self.recurrent_dropout, 1)
        return _weight_grads(self, dz, dh, gates=1)


def _weight_grads(op, dz, dh0, gates, dc0=None, recurrent_dz=None, recurrent_kernel_grad=None):
    """(dx, dh0[, dc0], dkernel, drecurrent_kernel[, dbias]): the whole-sequence sums of the docstrings."""
    dx = project_input_grad(dz, op.kernel, op.input_dropout, gates) if op.needs_input_grad[0] else None
    dkernel = project_weight_grad(op.x, dz, op.input_dropout, gates)
    if recurrent_kernel_grad is None:
        h_prev = np.stack(op.h_prev, axis=1)
        recurrent_kernel_grad = project_weight_grad(h_prev, dz if recurrent_dz is None else recurrent_dz,
                                                    op.recurrent_dropout, gates)
    states = (dh0,) if dc0 is None else (dh0, dc0)
    grads = (dx,) + states + (dkernel, recurrent_kernel_grad)
    return grads + ((_sum_over_batch_and_time(dz),) if op.has_bias else ())


class LSTM(Function):
    """Long short-term memory over a sequence. Inputs: x (N, T, F), h0 (N, u), c0 (N, u), kernel W
    (F, 4u), recurrent_kernel U (u, 4u)[, bias b (4u,)], gates in Keras's order i, f, c, o.
    Output: [h_t, c_t] for t = 1..T, (N, T, 2u).

        z = x_t W + h_{t-1} U + b = [z_i, z_f, z_c, z_o]
        i = sigma(z_i)   f = sigma(z_f)   c~ = phi(z_c)   o = sigma(z_o)
        c_t = f * c_{t-1} + i * c~          h_t = o * phi(c_t)        (masked step: h, c unchanged)

    Backward, t = T-1 .. 0, dh and dc the gradients of h_t and c_t (g_t plus those from t+1):

        do = dh * phi(c_t)             dc <- dc + dh * o * phi'(c_t)
        di = dc * c~     df = dc * c_{t-1}     dc~ = dc * i
        dz = [sigma'(z_i) di, sigma'(z_f) df, phi'(z_c) dc~, sigma'(z_o) do]
        dh_{t-1} = dz U^T              dc_{t-1} = dc * f
        dW = sum_t x_t^T dz_t   dU = sum_t h_{t-1}^T dz_t   db = sum_t dz_t   dx_t = dz_t W^T
    """

    def forward(self, x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                recurrent_activation="sigmoid", input_dropout=None, recurrent_dropout=None, return_carry=False):
        self.x, self.mask, self.kernel, self.recurrent_kernel = x, mask, kernel, recurrent_kernel
        self.return_carry = return_carry
        self.input_dropout, self.recurrent_dropout, self.has_bias = input_dropout, recurrent_dropout, bias is not None
        u = h0.shape[-1]
        xw = project(x, kernel, input_dropout, 4) + (0.0 if bias is None else bias)
        h, c, self.h_prev, self.steps = h0, c0, [], []
        trajectory = np.empty(x.shape[:2] + ((2 if return_carry else 1) * u,), dtype=x.dtype)
        for t in range(x.shape[1]):
            z = xw[:, t] + project(h, recurrent_kernel, recurrent_dropout, 4)
            sigma_i, sigma_f, sigma_o = (_Elementwise(recurrent_activation) for _ in range(3))
            phi_c, phi_h = _Elementwise(activation), _Elementwise(activation)
            i, f, c_bar, o = sigma_i(z[:, :u]), sigma_f(z[:, u:2 * u]), phi_c(z[:, 2 * u:3 * u]), sigma_o(z[:, 3 * u:])
            c_new = f * c + i * c_bar
            phi_of_c = phi_h(c_new)
            h_new = o * phi_of_c
            self.h_prev.append(h)
            self.steps.append((c, i, f, c_bar, o, phi_of_c, (sigma_i, sigma_f, phi_c, sigma_o, phi_h)))
            keep = _keep(mask, t)
            h = trajectory[:, t, :u] = _carry(keep, h_new, h)
            c = _carry(keep, c_new, c)
            if return_carry:
                trajectory[:, t, u:] = c
        return trajectory

    def backward(self, g):
        u = self.h_prev[0].shape[-1]
        dh, dc = np.zeros_like(self.h_prev[0]), np.zeros_like(self.h_prev[0])
        dz = np.zeros(g.shape[:2] + (4 * u,), dtype=g.dtype)
        for t in reversed(range(g.shape[1])):
            c_prev, i, f, c_bar, o, phi_of_c, (sigma_i, sigma_f, phi_c, sigma_o, phi_h) = self.steps[t]
            keep = _keep(self.mask, t)
            dh_new, dh_old = _split_by_mask(dh + g[:, t, :u], keep)
            dc_new, dc_old = _split_by_mask(dc + g[:, t, u:] if self.return_carry else dc, keep)
            do = dh_new * phi_of_c
            dc_new = dc_new + phi_h.grad(dh_new * o)
            dz[:, t] = np.concatenate([sigma_i.grad(dc_new * c_bar), sigma_f.grad(dc_new * c_prev),
                                       phi_c.grad(dc_new * i), sigma_o.grad(do)], axis=-1)
            dh = dh_old + project_input_grad(dz[:, t], self.recurrent_kernel, self.recurrent_dropout, 4)
            dc = dc_old + dc_new * f
        return _weight_grads(self, dz, dh, gates=4, dc0=dc)


class GRU(Function):
    """Gated recurrent unit over a sequence. Inputs: x (N, T, F), h0 (N, u), kernel W (F, 3u),
    recurrent_kernel U (u, 3u)[, bias], gates in Keras's order z, r, h. Output: h_1..h_T (N, T, u).

    reset_after=True (Keras's default, cuDNN's and PyTorch's form), bias (2, 3u) = [b_x; b_h]:

        [x_z, x_r, x_h] = x_t W + b_x          [h_z, h_r, h_h] = h_{t-1} U + b_h
        z = sigma(x_z + h_z)    r = sigma(x_r + h_r)    h~ = phi(x_h + r * h_h)
        h_t = z * h_{t-1} + (1 - z) * h~                       (masked step: h_t = h_{t-1})

    reset_after=False (the original GRU), bias (3u,) added to x W only:

        [h_z, h_r] = h_{t-1} U[:, :2u]         h~ = phi(x_h + (r * h_{t-1}) U[:, 2u:])

    Backward, t = T-1 .. 0, dh the gradient of h_t (g_t plus the one from t+1), a = the argument of phi:

        dz = sigma'(.) * dh * (h_{t-1} - h~)      da = phi'(a) * dh * (1 - z)
        reset_after:  dr = sigma'(.) * da * h_h     d[h_z, h_r, h_h] = [dz, dr, da * r]
                      dh_{t-1} = dh * z + d[h_z, h_r, h_h] U^T
        reset_before: d(r h) = da U_h^T      dr = sigma'(.) * d(r h) * h_{t-1}
                      dh_{t-1} = dh * z + [dz, dr] U_zr^T + d(r h) * r      dU_h = sum_t (r h_{t-1})^T da
        d[x_z, x_r, x_h] = [dz, dr, da]: dW = sum_t x_t^T d[x_z, x_r, x_h], db_x = its sum over n and t,
        db_h = sum of d[h_z, h_r, h_h];  dU (reset_after) = sum_t h_{t-1}^T d[h_z, h_r, h_h]
    """

    def forward(self, x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, input_dropout=None, recurrent_dropout=None):
        self.x, self.mask, self.kernel, self.recurrent_kernel = x, mask, kernel, recurrent_kernel
        self.input_dropout, self.recurrent_dropout, self.has_bias = input_dropout, recurrent_dropout, bias is not None
        self.reset_after, u = reset_after, h0.shape[-1]
        input_bias = 0.0 if bias is None else bias[0] if reset_after else bias
        recurrent_bias = 0.0 if bias is None or not reset_after else bias[1]
        xw = project(x, kernel, input_dropout, 3) + input_bias
        h, self.h_prev, self.steps = h0, [], []
        trajectory = np.empty(x.shape[:2] + (u,), dtype=x.dtype)
        for t in range(x.shape[1]):
            sigma_z, sigma_r, phi = _Elementwise(recurrent_activation), _Elementwise(recurrent_activation), \
                _Elementwise(activation)
            x_z, x_r, x_h = np.split(xw[:, t], 3, axis=-1)
            if reset_after:
                hu = project(h, recurrent_kernel, recurrent_dropout, 3) + recurrent_bias
                h_z, h_r, h_h = np.split(hu, 3, axis=-1)
                z, r = sigma_z(x_z + h_z), sigma_r(x_r + h_r)
                h_bar = phi(x_h + r * h_h)
            else:
                hu = project(h, recurrent_kernel[:, :2 * u], _first(recurrent_dropout, 2), 2)
                h_z, h_r = np.split(hu, 2, axis=-1)
                z, r = sigma_z(x_z + h_z), sigma_r(x_r + h_r)
                h_h = h if recurrent_dropout is None else _dropped(h, recurrent_dropout, 2)  # the h the h-gate sees
                h_bar = phi(x_h + (r * h_h) @ recurrent_kernel[:, 2 * u:])
            self.h_prev.append(h)
            self.steps.append((z, r, h_h, h_bar, (sigma_z, sigma_r, phi)))
            h = trajectory[:, t] = _carry(_keep(mask, t), z * h + (1.0 - z) * h_bar, h)
        return trajectory

    def backward(self, g):
        u, U = g.shape[-1], self.recurrent_kernel
        dh = np.zeros_like(self.h_prev[0])
        dx_gates = np.zeros(g.shape[:2] + (3 * u,), dtype=g.dtype)   # d[x_z, x_r, x_h]
        dh_gates = np.zeros_like(dx_gates)                             # d[h_z, h_r, h_h] (reset_after)
        d_candidate_u = np.zeros((u, u), dtype=g.dtype)                # dU_h (reset_before)
        for t in reversed(range(g.shape[1])):
            z, r, h_h, h_bar, (sigma_z, sigma_r, phi) = self.steps[t]
            h_prev = self.h_prev[t]
            dh_new, dh_old = _split_by_mask(dh + g[:, t], _keep(self.mask, t))
            dz = sigma_z.grad(dh_new * (h_prev - h_bar))
            da = phi.grad(dh_new * (1.0 - z))
            if self.reset_after:
                dr = sigma_r.grad(da * h_h)
                dh_gates[:, t] = np.concatenate([dz, dr, da * r], axis=-1)
                dh = dh_old + dh_new * z + project_input_grad(dh_gates[:, t], U, self.recurrent_dropout, 3)
            else:
                d_rh = da @ U[:, 2 * u:].T
                dr = sigma_r.grad(d_rh * h_h)
                d_candidate_u += (r * h_h).T @ da
                d_h_h = d_rh * r if self.recurrent_dropout is None else _dropped(d_rh * r, self.recurrent_dropout, 2)
                dh_gates[:, t, :2 * u] = np.concatenate([dz, dr], axis=-1)
                dh = dh_old + dh_new * z + d_h_h + project_input_grad(
                    dh_gates[:, t, :2 * u], U[:, :2 * u], _first(self.recurrent_dropout, 2), 2)
            dx_gates[:, t] = np.concatenate([dz, dr, da], axis=-1)
        h_prev = np.stack(self.h_prev, axis=1)
        if self.reset_after:
            d_recurrent = project_weight_grad(h_prev, dh_gates, self.recurrent_dropout, 3)
        else:
            d_recurrent = np.concatenate([project_weight_grad(h_prev, dh_gates[..., :2 * u],
                                                              _first(self.recurrent_dropout, 2), 2),
                                          d_candidate_u], axis=-1)
        grads = _weight_grads(self, dx_gates, dh, gates=3, recurrent_kernel_grad=d_recurrent)
        if self.has_bias and self.reset_after:  # bias (2, 3u): [db_x; db_h]
            grads = grads[:-1] + (np.stack([grads[-1], _sum_over_batch_and_time(dh_gates)]),)
        return grads


class SliceSteps(Function):
    """y = x[index] for a basic index (integers and slices: a time step ``(slice(None), -1)``, the
    reversed sequence ``(slice(None), slice(None, None, -1))``, a block of units);
    dx = zeros like x with dx[index] = g (a basic index never repeats an element)."""

    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return np.array(x[index])

    def backward(self, g):
        dx = np.zeros(self.shape, dtype=g.dtype)
        dx[self.index] = g
        return (dx,)


def _first(masks, count):
    """The masks of the first ``count`` gates (a shared single mask stays shared)."""
    return masks if masks is None or len(masks) == 1 else masks[:count]
