import numpy as np

from .conv2d import pads


def backward(x, kernel, bias, g, strides, padding):
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    channels, multiplier = kernel.shape[2:]
    oh, top, bottom = pads(x.shape[1], kh, sh, padding)
    ow, left, right = pads(x.shape[2], kw, sw, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    g5 = g.reshape(g.shape[:3] + (channels, multiplier))
    dxp, dkernel = np.zeros_like(xp), np.zeros_like(kernel)
    for a in range(kh):
        for b in range(kw):
            tap = (slice(None), slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw))
            dkernel[a, b] = np.einsum("nijc,nijcm->cm", xp[tap], g5)
            dxp[tap] += np.einsum("nijcm,cm->nijc", g5, kernel[a, b])
    dx = dxp[:, top:top + x.shape[1], left:left + x.shape[2]]
    return dx, dkernel, g.sum(axis=(0, 1, 2))
