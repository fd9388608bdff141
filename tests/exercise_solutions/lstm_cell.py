import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def backward(x, h, c, kernel, recurrent_kernel, bias, dh_next, dc_next):
    z = x @ kernel + h @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    i, f, o, c_bar = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o), np.tanh(z_c)
    c_new = f * c + i * c_bar
    dC = dc_next + dh_next * o * (1.0 - np.tanh(c_new) ** 2)
    dz = np.concatenate([dC * c_bar * i * (1 - i), dC * c * f * (1 - f), dC * i * (1 - c_bar ** 2),
                         dh_next * np.tanh(c_new) * o * (1 - o)], axis=-1)
    return dz @ kernel.T, dz @ recurrent_kernel.T, dC * f, x.T @ dz, h.T @ dz, dz.sum(axis=0)
