"""Exercise lstm_cell: One LSTM step (Keras's gate order i, f, c, o; sigmoid gates, tanh).

Forward (what the library computes; Keras's conventions):

    z = x @ kernel + h @ recurrent_kernel + bias = [z_i, z_f, z_c, z_o] (u columns each); i, f, o =
    sigmoid(z_i, z_f, z_o), c~ = tanh(z_c); c_new = f c + i c~; h_new = o tanh(c_new)

Write ``backward`` below: it receives float64 NumPy arrays and returns, in this order,

    dx                 dx = dz @ kernel.T
    dh                 dh = dz @ recurrent_kernel.T
    dc                 dc = (dc_next + dh_next * o * (1 - tanh(c_new)^2)) * f
    dkernel            dkernel = x.T @ dz
    drecurrent_kernel  drecurrent_kernel = h.T @ dz
    dbias              dbias = sum over the batch of dz,   dz = [di i(1-i), df f(1-f), dc~ (1-c~^2),
                       do o(1-o)] with dC = dc_next + dh_next o (1 - tanh(c_new)^2), di = dC c~, df
                       = dC c, dc~ = dC i, do = dh_next tanh(c_new)

The op's output is [h_new, c_new]; dh_next and dc_next are the gradients arriving at each.

Check it (every term against a naive-loop oracle, finite differences, and Keras when installed):

    numpy-nn exercise check lstm_cell lstm_cell.py
    # or, in Python:  nn.exercises.check("lstm_cell", backward)
"""
import numpy as np


def backward(x, h, c, kernel, recurrent_kernel, bias, dh_next, dc_next):
    # Your code here: compute dx, dh, dc, dkernel, drecurrent_kernel, dbias and return them as a tuple.
    raise NotImplementedError("exercise lstm_cell: write the backward pass")
