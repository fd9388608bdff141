import math

import numpy as np


def pads(n, k, s, padding):
    if padding == "valid":
        return (n - k) // s + 1, 0, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def backward(x, kernel, bias, g, strides, padding):
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    oh, top, bottom = pads(x.shape[1], kh, sh, padding)
    ow, left, right = pads(x.shape[2], kw, sw, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    dxp, dkernel = np.zeros_like(xp), np.zeros_like(kernel)
    rows = g.reshape(-1, g.shape[-1])
    for a in range(kh):
        for b in range(kw):
            tap = (slice(None), slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw))
            dkernel[a, b] = xp[tap].reshape(-1, x.shape[-1]).T @ rows
            dxp[tap] += g @ kernel[a, b].T
    dx = dxp[:, top:top + x.shape[1], left:left + x.shape[2]]
    return dx, dkernel, g.sum(axis=(0, 1, 2))
