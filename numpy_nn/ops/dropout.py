"""Dropout: randomly zero values while training (inverted dropout, as in Keras).

Inverted vs textbook dropout. The original paper (Srivastava et al., 2014) keeps each unit with
probability p = 1 - rate while training and multiplies the *weights* by p at test time, so that
expected activations agree. Keras (and every modern framework) does the opposite: it divides the
kept values by p while training,

    y = x * mask / p        mask ~ Bernoulli(p), p = 1 - rate

so E[y] = x already, and inference is the exact identity (no rescaling, nothing to remember).

Reproducibility: the masks come from a NumPy ``Generator``; Keras draws them with JAX's PRNG
(``jax.random.bernoulli``), so the two libraries can never produce the same mask, even with the
same seed. Parity tests check the rule (values in {0, x/p}, keep rate near p), not the mask.

This is the reference tier (see ``numpy_nn/config.py``). Dropout has no fast kernel: one
comparison and one ``where`` over x leave nothing to gain, so this code runs in both tiers.
"""
import numpy as np

from ..autograd.function import Function


def concrete_noise_shape(shape, noise_shape):
    """``noise_shape`` with each None replaced by the input's size on that axis (None -> ``shape``)."""
    if noise_shape is None:
        return tuple(shape)
    if len(noise_shape) != len(shape):
        raise ValueError(f"Dropout: noise_shape {tuple(noise_shape)} must have one entry per input axis; "
                         f"the input has shape {tuple(shape)}")
    concrete = tuple(n if d is None else int(d) for n, d in zip(shape, noise_shape))
    for n, d in zip(shape, concrete):
        if d not in (1, n):
            raise ValueError(f"Dropout: noise_shape {tuple(noise_shape)} does not broadcast to the input "
                             f"shape {tuple(shape)} (each entry must be None, 1 or the input's size)")
    return concrete


class Dropout(Function):
    """Inverted dropout with keep probability p = 1 - rate.

        mask ~ Bernoulli(p), of shape ``noise_shape`` (None entries take the input's size),
               broadcast to x (a noise_shape of (None, 1) drops whole rows)
        y  = x * mask / p
        dx = g * mask / p

    Both are computed as ``where(mask, x * (1/p), 0)`` with the reciprocal rounded to x's dtype
    first: Keras writes ``x / p``, but XLA compiles a division by a constant into a multiplication
    by its reciprocal, and the two differ in the last bit for about a third of the values at
    rate 0.25 (measured). Multiplying by 1/p reproduces Keras's kept values bit for bit.

    rate = 1 gives zeros (and zero gradients); rate = 0 keeps everything (y = x).
    ``rng`` is a ``numpy.random.Generator``; the mask is ``rng.random(noise_shape) < p``.
    """

    def forward(self, x, rate, noise_shape=None, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        keep_prob = 1.0 - float(rate)
        if keep_prob <= 0.0:
            self.mask = np.zeros(x.shape, dtype=bool)
            self.scale = x.dtype.type(0)
            return np.zeros_like(x)
        self.scale = x.dtype.type(1) / x.dtype.type(keep_prob)  # 1/p, rounded to x's dtype
        mask = rng.random(concrete_noise_shape(x.shape, noise_shape)) < keep_prob
        self.mask = np.broadcast_to(mask, x.shape)
        return np.where(self.mask, x * self.scale, x.dtype.type(0))

    def backward(self, g):
        return (np.where(self.mask, g * self.scale.astype(g.dtype), g.dtype.type(0)),)

    def tensor_backward(self, g, y, x):  # the mask is fixed: linear in x
        return (g * np.where(self.mask, self.scale, 0).astype(g.dtype),)
