"""BatchNormalization and LayerNormalization (formulas in ``numpy_nn/ops/normalization.py``)."""
import numbers

import numpy as np

from .. import constraints, initializers, regularizers
from ..ops.normalization import batch_norm_inference, batch_norm_train, layer_norm
from .base import Layer


def _check_renorm_clipping(clipping):
    """Keras's checks of ``renorm_clipping``: keys among rmax, rmin, dmax; rmax >= rmin; dmax >= 0."""
    keys = ["rmax", "rmin", "dmax"]
    if set(clipping) - set(keys):
        raise ValueError(f"Received invalid keys for `renorm_clipping` argument: {clipping}. Supported values: {keys}.")
    rmax, rmin, dmax = clipping.get("rmax"), clipping.get("rmin"), clipping.get("dmax")
    if rmax is not None and rmin is not None and rmax < rmin:
        raise ValueError("rmax should be greater than rmin in the `renorm_clipping` argument. "
                         f"Received: rmax={rmax}, rmin={rmin}.")
    if dmax is not None and dmax < 0:
        raise ValueError(f"dmax should be non-negative in the `renorm_clipping` argument. Received: dmax={dmax}.")
    return clipping


def _sqrt_of(initializer):
    def sqrt_initializer(shape, dtype=None):
        return np.sqrt(initializer(shape, dtype=dtype))
    return sqrt_initializer


def _check_epsilon(layer_name, epsilon):
    if not isinstance(epsilon, numbers.Real) or epsilon <= 0:
        raise ValueError(f"Layer '{layer_name}': epsilon must be a positive number, received epsilon={epsilon!r}")


class BatchNormalization(Layer):
    """Normalize each channel with batch statistics while training, moving averages otherwise.

    Training mode (``training`` truthy *and* ``layer.trainable``): y uses the batch mean and the
    biased batch variance, and the moving statistics are updated in place (not on the tape)::

        moving_mean     <- moving_mean * momentum + mean_B * (1 - momentum)
        moving_variance <- moving_variance * momentum + var_B * (1 - momentum)   (biased var_B)

    (momentum weighs the *old* value; PyTorch's momentum=0.1 weighs the new batch and equals 0.9
    here; the conventions side by side: ``numpy_nn.ops.normalization.BatchNormTrain``).

    Inference mode (everything else, including any call of a ``trainable=False`` layer, which
    is how Keras freezes BN for fine-tuning): y uses the moving statistics.
    With a mask (a padded sequence, numpy_nn/layers/masking.py) the training statistics are
    Keras's masked ones (``_masked_batch_norm``); the mask is passed on unchanged.
    Weights, in Keras order: gamma, beta (trainable; absent if ``scale``/``center`` is False),
    moving_mean, moving_variance (non-trainable), each of shape (C,), C = input.shape[axis].

    ``renorm=True`` (batch renormalization, Ioffe 2017; see ``_renorm_call``): training corrects
    the batch statistics towards running ones by factors r and d (clipped by ``renorm_clipping``
    keys ``rmin``, ``rmax``, ``dmax``; updated with ``renorm_momentum``), and three more
    non-trainable weights follow: moving_stddev, renorm_mean, renorm_stddev. Inference is the
    same as without renorm.
    """

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"Layer '{self.name}': axis must be an int, received axis={axis!r}")
        if not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError(f"Layer '{self.name}': momentum must be in [0, 1], received momentum={momentum!r}")
        _check_epsilon(self.name, epsilon)
        if synchronized:
            raise ValueError(f"Layer '{self.name}': synchronized=True needs several devices (TensorFlow only); "
                             f"numpy_nn runs on one. Received synchronized={synchronized!r}")
        self.renorm = bool(renorm)
        if renorm:
            renorm_clipping = _check_renorm_clipping(renorm_clipping or {})
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.renorm_clipping, self.renorm_momentum = renorm_clipping, renorm_momentum
        self.synchronized = bool(synchronized)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"Layer '{self.name}': axis={self.axis} is out of bounds for an input of shape "
                             f"{tuple(input_shape)}")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"Layer '{self.name}': the normalized axis {self.axis} must have a known size; "
                             f"received input shape {tuple(input_shape)}")
        self.input_ndim = ndim
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        if self.renorm:  # Keras tracks the moving stddev, initialized as sqrt of the variance initializer
            stddev_initializer = _sqrt_of(self.moving_variance_initializer)
            self.moving_stddev = self.add_weight("moving_stddev", shape, stddev_initializer, trainable=False)
            self.renorm_mean = self.add_weight("renorm_mean", shape, self.moving_mean_initializer, trainable=False)
            self.renorm_stddev = self.add_weight("renorm_stddev", shape, stddev_initializer, trainable=False)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        channels = self.moving_mean.shape[0]
        if inputs.shape[self.axis] != channels:
            raise ValueError(f"Layer '{self.name}' expects {channels} channels on axis {self.axis}, but received "
                             f"an input of shape {tuple(inputs.shape)}")
        if mask is not None and np.ndim(mask) != inputs.ndim - 1:
            raise ValueError(f"Layer '{self.name}': the mask must have one axis less than the inputs; received "
                             f"mask.shape={np.shape(mask)}, inputs.shape={tuple(inputs.shape)}")
        if training and self.trainable:
            if inputs.size == 0:  # Keras would average nothing and write NaN into the moving statistics
                raise ValueError(f"Layer '{self.name}' cannot compute batch statistics in training mode from an "
                                 f"empty batch; received an input of shape {tuple(inputs.shape)}")
            if self.renorm:
                return self._renorm_call(inputs)
            if mask is not None:
                outputs, mean, variance = self._masked_batch_norm(inputs, mask)
            else:
                outputs, mean, variance = batch_norm_train(inputs, self.gamma, self.beta, axis=self.axis,
                                                           epsilon=self.epsilon)
            self.update_moving_statistics(mean, variance)
            return outputs
        return batch_norm_inference(inputs, self.gamma, self.beta, self.moving_mean.data,
                                    self.moving_variance.data, axis=self.axis, epsilon=self.epsilon)

    def update_moving_statistics(self, mean, variance):
        """moving <- moving * momentum + batch * (1 - momentum), Keras's order, for mean and variance."""
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean.data * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance.data * momentum + variance * (1.0 - momentum))

    def _renorm_call(self, inputs):
        """Batch renormalization (Ioffe 2017), training mode, as Keras computes it:

            sigma_B = sqrt(var_B + eps)
            r = clip(sigma_B / max(renorm_stddev, sqrt(eps)), rmin, rmax)      (no gradient)
            d = clip((mean_B - renorm_mean) / max(renorm_stddev, sqrt(eps)), -dmax, dmax)   (no gradient)
            y = ((x - mean_B) / sigma_B * r + d) * gamma + beta
              = batch_norm_train(x, gamma * r, gamma * d + beta)

        then renorm_mean/renorm_stddev move with ``renorm_momentum``, moving_mean/moving_stddev
        with ``momentum``, and moving_variance = max(moving_stddev^2 - eps, 0).
        """
        x = inputs.data
        axes = tuple(d for d in range(x.ndim) if d != self.axis % x.ndim)
        mean, variance = np.mean(x, axis=axes), np.var(x, axis=axes)
        stddev = np.sqrt(variance + self.epsilon)
        renorm_stddev = np.maximum(self.renorm_stddev.data, np.sqrt(np.asarray(self.epsilon, x.dtype)))
        r = stddev / renorm_stddev
        d = (mean - self.renorm_mean.data) / renorm_stddev
        clipping = self.renorm_clipping
        if clipping.get("rmin") is not None:
            r = np.maximum(r, clipping["rmin"])
        if clipping.get("rmax") is not None:
            r = np.minimum(r, clipping["rmax"])
        if clipping.get("dmax") is not None:
            d = np.clip(d, -clipping["dmax"], clipping["dmax"])
        r, d = r.astype(x.dtype), d.astype(x.dtype)
        gamma = self.gamma * r if self.gamma is not None else r
        beta = self.gamma * d if self.gamma is not None else d
        if self.beta is not None:
            beta = beta + self.beta
        outputs, _, _ = batch_norm_train(inputs, gamma, beta, axis=self.axis, epsilon=self.epsilon)
        renorm_momentum, momentum = self.renorm_momentum, self.momentum
        self.renorm_mean.assign(self.renorm_mean.data * renorm_momentum + mean * (1.0 - renorm_momentum))
        self.renorm_stddev.assign(self.renorm_stddev.data * renorm_momentum + stddev * (1.0 - renorm_momentum))
        self.moving_mean.assign(self.moving_mean.data * momentum + mean * (1.0 - momentum))
        moving_stddev = self.moving_stddev.data * momentum + stddev * (1.0 - momentum)
        self.moving_stddev.assign(moving_stddev)
        self.moving_variance.assign(np.maximum(moving_stddev * moving_stddev - self.epsilon, 0))
        return outputs

    def _masked_batch_norm(self, inputs, mask):
        """Keras's masked statistics (a sequence mask (N, T) from Embedding/Masking), on the tape:
        mean = sum(m x) / (sum(m) + 1e-7), var = sum((m (x - mean))^2) / (sum(m) + 1e-7), over every
        axis but the channels; every position is then normalized with them."""
        axes = tuple(d for d in range(inputs.ndim) if d != self.axis % inputs.ndim)
        keep = np.broadcast_to(np.asarray(getattr(mask, "data", mask), dtype=bool)[..., None], inputs.shape)
        keep = keep.astype(inputs.dtype)
        count = np.sum(keep, axis=axes, keepdims=True) + np.asarray(1e-7, dtype=inputs.dtype)
        mean = (inputs * keep).sum(axis=axes, keepdims=True) / count
        centered = (inputs - mean) * keep
        variance = (centered * centered).sum(axis=axes, keepdims=True) / count
        inv = 1.0 / (variance + self.epsilon).sqrt()
        shape = [1] * inputs.ndim
        shape[self.axis] = -1
        if self.scale:
            inv = inv * self.gamma.reshape(shape)
        offset = -(mean * inv) + (self.beta.reshape(shape) if self.center else 0.0)
        return inputs * inv + offset, mean.data.reshape(-1), variance.data.reshape(-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint), "synchronized": self.synchronized,
                "renorm": self.renorm, "renorm_clipping": self.renorm_clipping,
                "renorm_momentum": self.renorm_momentum}


class LayerNormalization(Layer):
    """Normalize each example over ``axis`` (an int or a list), then scale by gamma and shift by beta.

    y = gamma * (x - mean) / sqrt(var + eps) + beta, mean and biased var over ``axis`` per
    example; the same in training and inference. Weights: gamma, then beta, each of shape
    ``[input_shape[d] for d in sorted(axis)]``. ``rms_scaling=True`` is Keras's deprecated
    flag (y = x / sqrt(var + eps) * gamma, no beta), accepted so old configs load.
    """

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        rms_scaling = kwargs.pop("rms_scaling", False)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and all(isinstance(a, numbers.Integral) for a in axis) and axis:
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise TypeError(f"Layer '{self.name}': expected an int or a non-empty list/tuple of ints for "
                            f"the argument 'axis', but received: {axis!r}")
        _check_epsilon(self.name, epsilon)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = None

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"Layer '{self.name}': axis {a} is out of bounds for input shape "
                                 f"{tuple(input_shape)}. Received: axis={self.axis}")
            if input_shape[a] is None:
                raise ValueError(f"Layer '{self.name}': normalized axis {a} must have a known size; "
                                 f"received input shape {tuple(input_shape)}")
        self.axis = axes  # as Keras: a sorted list once built
        self.input_ndim = ndim
        shape = self._normalized_shape = tuple(input_shape[a] for a in axes)
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.built = True

    def call(self, inputs, training=None):
        expected = self._normalized_shape
        received = tuple(inputs.shape[a] for a in self.axis)
        if received != expected:
            raise ValueError(f"Layer '{self.name}' was built for size(s) {expected} on axis {self.axis}, but "
                             f"received an input of shape {tuple(inputs.shape)}")
        return layer_norm(inputs, self.gamma, self.beta, axes=self.axis, epsilon=self.epsilon,
                          rms_scaling=self.rms_scaling)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}
