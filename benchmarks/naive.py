"""Textbook loop implementations, timed against numpy_nn's vectorized ops to show what vectorization buys.

One Python iteration per output element: the window is sliced and reduced with NumPy, so the
cost is the interpreter's per-element overhead, which is exactly what im2col + one matmul
(conv) or a reshape + one max (pooling) remove. Channels_last, "valid" padding, stride 1 for
the convolution, stride = pool size for pooling (the Keras defaults).
"""
import numpy as np


def conv2d(x, kernel):
    """out[n, i, j, f] = sum_{di, dj, c} x[n, i + di, j + dj, c] * kernel[di, dj, c, f]  (valid, stride 1)."""
    batch, height, width, _ = x.shape
    kh, kw, _, filters = kernel.shape
    out = np.zeros((batch, height - kh + 1, width - kw + 1, filters), dtype=x.dtype)
    for n in range(batch):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                window = x[n, i:i + kh, j:j + kw, :]
                for f in range(filters):
                    out[n, i, j, f] = np.sum(window * kernel[:, :, :, f])
    return out


def max_pool2d(x, pool_size):
    """out[n, i, j, c] = max_{di, dj < pool_size} x[n, i*pool_size + di, j*pool_size + dj, c]  (valid)."""
    batch, height, width, channels = x.shape
    out = np.zeros((batch, height // pool_size, width // pool_size, channels), dtype=x.dtype)
    for n in range(batch):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                for c in range(channels):
                    top, left = i * pool_size, j * pool_size
                    out[n, i, j, c] = x[n, top:top + pool_size, left:left + pool_size, c].max()
    return out
