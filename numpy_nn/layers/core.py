"""Core layers: Dense, Activation, Identity, Embedding (Keras ``layers/core``).

Dense, on the last axis of an input of any rank >= 2 (Keras's ``kernel`` is (in, units)):

    y = activation(x @ kernel + bias)
    dx = g_z @ kernel^T,  dkernel = sum over leading axes of x^T g_z,  dbias = sum of g_z,
    with g_z the gradient at z = x @ kernel + bias (the ops in ``ops/math.py`` and
    ``ops/activations.py`` carry these formulas).

With ``lora_rank=r`` (Keras's LoRA), the kernel is frozen and the layer learns a low-rank
update: kernel_eff = kernel + (lora_alpha / r) * lora_kernel_a @ lora_kernel_b, with
lora_kernel_a (in, r) ~ he_uniform and lora_kernel_b (r, units) = 0 at the start.
"""
import numpy as np

from .. import activations, constraints, initializers, regularizers
from ..autograd.tensor import Tensor
from ..ops.math import MatMul
from .base import Layer


def _positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def serialize_constraint(constraint):
    """Keras-style config of a weight constraint (None stays None)."""
    if constraint is None:
        return None
    config = constraint.get_config() if hasattr(constraint, "get_config") else {}
    return {"module": "keras.constraints", "class_name": type(constraint).__name__, "config": config,
            "registered_name": None}


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)`` on the last axis."""

    input_min_ndim = 2
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        if not _positive_int(units):
            raise ValueError(f"Layer '{self.name}' (Dense): received an invalid value for `units`, "
                             f"expected a positive integer. Received: units={units!r}")
        if lora_rank is not None and not _positive_int(lora_rank):
            raise ValueError(f"Layer '{self.name}' (Dense): `lora_rank` must be a positive integer or None. "
                             f"Received: lora_rank={lora_rank!r}")
        if lora_rank and kernel_constraint is not None:
            raise ValueError(f"Layer '{self.name}' (Dense): LoRA is incompatible with kernel constraints; "
                             f"received lora_rank={lora_rank} and kernel_constraint={kernel_constraint!r}")
        if quantization_config is not None:
            raise NotImplementedError(f"Layer '{self.name}' (Dense): quantization is not supported; "
                                      f"received quantization_config={quantization_config!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self._activity_losses = []

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"Layer '{self.name}' (Dense): the last axis of the input must be known; "
                             f"received input_shape={tuple(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_dim, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint) if self.use_bias else None)
        if self.lora_rank:
            self.enable_lora(self.lora_rank, self.lora_alpha)
        self.built = True

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freeze ``kernel`` and add the trainable low-rank factors lora_kernel_a, lora_kernel_b."""
        if self.lora_enabled:
            raise ValueError(f"Layer '{self.name}' (Dense): LoRA is already enabled")
        self.kernel.trainable = self.kernel.requires_grad = False
        self.lora_kernel_a = self.add_weight("lora_kernel_a", (self.kernel.shape[0], rank), a_initializer)
        self.lora_kernel_b = self.add_weight("lora_kernel_b", (rank, self.units), b_initializer)
        self.lora_rank, self.lora_alpha = rank, lora_alpha if lora_alpha is not None else rank
        self.lora_enabled = True

    @property
    def weights(self):
        if self.lora_enabled:  # Keras keeps creation order here: kernel, bias, lora_kernel_a, lora_kernel_b
            return list(self._own_variables)
        return super().weights

    def effective_kernel(self):
        if not self.lora_enabled:
            return self.kernel
        return self.kernel + (self.lora_alpha / self.lora_rank) * (self.lora_kernel_a @ self.lora_kernel_b)

    def call(self, inputs, training=None):
        if inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Layer '{self.name}' (Dense) expects inputs with last axis {self.kernel.shape[0]}; "
                             f"received shape {tuple(inputs.shape)}")
        outputs = MatMul.apply(inputs, self.effective_kernel())
        if self.use_bias:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        if self.activity_regularizer is not None:  # Keras: penalty(outputs) / batch size, per call
            self._activity_losses = [self.activity_regularizer(outputs) / float(max(outputs.shape[0], 1))]
        return outputs

    @property
    def losses(self):
        return super().losses + list(self._activity_losses)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": serialize_constraint(self.kernel_constraint),
            "bias_constraint": serialize_constraint(self.bias_constraint),
            "quantization_config": None,
        })
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self.lora_rank:
            config["lora_rank"], config["lora_alpha"] = self.lora_rank, self.lora_alpha
        return config


class Activation(Layer):
    """Applies an activation function: ``Activation("relu")``, ``Activation(callable)``."""

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=None):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Identity(Layer):
    """Returns its input unchanged (a placeholder layer)."""

    single_input = True
    supports_masking = True  # passes its input's mask on (Keras)

    def call(self, inputs, training=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class Embedding(Layer):
    """Turns integer indices into dense vectors: ``outputs[..., :] = embeddings[inputs[...]]``.

    Weight ``embeddings`` of shape (input_dim, output_dim), RandomUniform(-0.05, 0.05) by default.
    d embeddings[i] = sum of g over the positions where the index is i (the GetItem op's scatter-add).
    Indices may come as integers or as whole-number floats (Keras's float32 ``Input`` default);
    a fractional or non-finite index is an error (Keras would truncate it silently).
    ``mask_zero=True``: index 0 is padding; the output carries the mask ``inputs != 0``
    (numpy_nn/layers/masking.py), and row 0 of ``embeddings`` is still looked up and learned.
    """

    single_input = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, activity_regularizer=None,
                 quantization_config=None, **kwargs):
        kwargs.pop("input_length", None)  # Keras 2 argument, ignored by Keras 3 as well
        super().__init__(**kwargs)
        if quantization_config is not None:
            raise NotImplementedError(f"Layer '{self.name}' (Embedding): quantization is not supported; "
                                      f"received quantization_config={quantization_config!r}")
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not _positive_int(value):
                raise ValueError(f"Layer '{self.name}' (Embedding): `{arg}` must be a positive integer. "
                                 f"Received: {arg}={value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        if embeddings_initializer == "uniform":  # Keras's alias of RandomUniform(-0.05, 0.05)
            embeddings_initializer = initializers.RandomUniform()
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_losses = []

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def _to_tensor(self, value):
        """Integer indices stay integers (float32 would round ids above 2**24); floats must be whole."""
        array = np.asarray(value.data if isinstance(value, Tensor) else value)  # an ndarray's .data is a buffer
        if array.dtype.kind in "iub":
            return Tensor(array, _copy=False)
        tensor = super()._to_tensor(value)
        data = tensor.data
        if data.size and not np.all(np.isfinite(data) & (data == np.round(data))):
            bad = data[~(np.isfinite(data) & (data == np.round(data)))].flat[0]
            raise ValueError(f"Layer '{self.name}' (Embedding) expects integer token indices; received "
                             f"{data.dtype} input of shape {tuple(data.shape)} holding the non-integer value {bad!r}")
        return tensor

    def call(self, inputs, training=None):
        indices = np.asarray(inputs.data).astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.input_dim):
            bad = indices[(indices < 0) | (indices >= self.input_dim)].flat[0]
            raise ValueError(f"Layer '{self.name}' (Embedding): index {bad} is out of range [0, {self.input_dim})")
        outputs = self.embeddings[indices]
        if self.activity_regularizer is not None:  # Keras: penalty(outputs) / batch size, per call
            self._activity_losses = [self.activity_regularizer(outputs) / float(max(outputs.shape[0], 1))]
        return outputs

    @property
    def losses(self):
        return super().losses + list(self._activity_losses)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        if getattr(inputs, "_is_symbolic", False):  # Keras records ops.not_equal(inputs, 0) in the graph
            from .masking import symbolic_mask
            return symbolic_mask(inputs.shape, [inputs], "NotEqual")
        return np.asarray(inputs.data if hasattr(inputs, "data") else inputs) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": serialize_constraint(self.embeddings_constraint),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        })
        return config
