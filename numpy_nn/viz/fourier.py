"""A decorrelated image parameterization: the image as a sum of 2-D waves with 1/f amplitudes.

Olah, Mordvintsev & Schubert, "Feature Visualization" (Distill, 2017): gradient ascent on the
pixels of an image pushes mostly high frequencies (neighbouring pixels are strongly correlated
in natural images, independent in the pixel basis), so the result looks like noise. Ascending
on the coefficients of a Fourier basis instead, each wave scaled by 1 / frequency, makes
every direction of the parameter space about equally "natural": coarse structure appears first.

For an H x W image and one channel, with signed frequencies f_y[u] = fftfreq(H)[u],
f_x[v] = fftfreq(W)[v] (cycles per pixel) and two real coefficient arrays a, b (H, W):

    s[u, v]   = 1 / max( sqrt(f_y[u]^2 + f_x[v]^2), 1 / max(H, W) ) ** decay     (decay = 1)
    img[y, x] = (1 / sqrt(H W)) sum_uv s[u, v] ( a[u, v] cos(2 pi (f_y[u] y + f_x[v] x))
                                               + b[u, v] sin(2 pi (f_y[u] y + f_x[v] x)) )

With cos(p + q) = cos p cos q - sin p sin q and sin(p + q) = sin p cos q + cos p sin q this is
four matrix products with fixed matrices C_y[y, u] = cos(2 pi f_y[u] y), S_y, C_x, S_x:

    img = C_y A C_x^T - S_y A S_x^T + S_y B C_x^T + C_y B S_x^T,     A = s * a,  B = s * b

so it runs on the autograd tape with ``@`` alone (no FFT op is needed), and the gradient with
respect to (a, b) is the 1/f-weighted spectrum of the pixel gradient.
"""
import numpy as np

from ..autograd.tensor import Tensor


class FourierImage:
    """img = fourier(a, b) for images (1, H, W, C); ``image(params)`` on the tape, params (2, C, H, W)."""

    def __init__(self, height, width, channels, decay=1.0, dtype="float32"):
        self.shape = (height, width, channels)
        fy, fx = np.fft.fftfreq(height), np.fft.fftfreq(width)
        frequency = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
        self.scale = (1.0 / np.maximum(frequency, 1.0 / max(height, width)) ** decay).astype(dtype)   # (H, W)
        ys, xs = np.arange(height), np.arange(width)
        norm = 1.0 / np.sqrt(height * width)
        self.cos_y = Tensor((np.cos(2 * np.pi * np.outer(ys, fy)) * norm).astype(dtype))   # (H, H): [y, u]
        self.sin_y = Tensor((np.sin(2 * np.pi * np.outer(ys, fy)) * norm).astype(dtype))
        self.cos_x = Tensor(np.cos(2 * np.pi * np.outer(fx, xs)).astype(dtype))            # (W, W): [v, x]
        self.sin_x = Tensor(np.sin(2 * np.pi * np.outer(fx, xs)).astype(dtype))
        self.dtype = np.dtype(dtype)

    def initial(self, seed=None, std=0.01):
        """Small random coefficients (2, C, H, W): a near-flat start image."""
        height, width, channels = self.shape
        rng = np.random.default_rng(seed)
        return (std * rng.standard_normal((2, channels, height, width))).astype(self.dtype)

    def image(self, params):
        """The image (1, H, W, C) for coefficients ``params`` (a Tensor (2, C, H, W)), on the tape."""
        scale = Tensor(self.scale)
        a, b = params[0] * scale, params[1] * scale                                        # (C, H, W)
        img = (self.cos_y @ a @ self.cos_x - self.sin_y @ a @ self.sin_x
               + self.sin_y @ b @ self.cos_x + self.cos_y @ b @ self.sin_x)                 # (C, H, W)
        return img.transpose(1, 2, 0).reshape((1,) + self.shape)

    def to_numpy(self, params):
        return np.asarray(self.image(Tensor(np.asarray(params))).data)
