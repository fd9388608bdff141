import numpy as np

from .conv2d import pads


def backward(x, g, pool_size, strides, padding):
    (kh, kw), (sh, sw) = pool_size, strides
    oh, top, bottom = pads(x.shape[1], kh, sh, padding)
    ow, left, right = pads(x.shape[2], kw, sw, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
    taps = [(slice(None), slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw))
            for a in range(kh) for b in range(kw)]
    windows = np.stack([xp[tap] for tap in taps])        # (taps, N, OH, OW, C)
    winner = np.argmax(windows, axis=0)                   # the first maximum
    dxp = np.zeros_like(xp)
    for t, tap in enumerate(taps):
        dxp[tap] += g * (winner == t)
    return (dxp[:, top:top + x.shape[1], left:left + x.shape[2]],)
