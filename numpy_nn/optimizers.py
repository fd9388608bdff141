"""Optimizers and learning-rate schedules, with Keras 3's update rules, order and variable names.

One training step, ``optimizer.apply(grads, variables)``, does exactly what Keras does, in the
same order (``keras/src/optimizers/base_optimizer.py``):

1. drop ``None`` gradients (with a warning) and divide by ``loss_scale_factor`` if set;
2. clip: ``clipnorm`` (each tensor alone), else ``global_clipnorm`` (all tensors together),
   else ``clipvalue`` (element-wise);
3. decoupled weight decay on the current weights, ``w <- w - w * wd * lr`` (every trainable
   variable unless excluded with ``exclude_from_weight_decay``);
4. ``update_step(g, w, lr)`` for each variable (the optimizer's own rule, see each class);
5. variable constraints (if a variable has a ``constraint``), the EMA of the weights if
   ``use_ema``;
6. ``iterations += 1``, last. A learning-rate schedule is therefore called with the step count
   *before* the increment: the first step uses ``schedule(0)``.

Steps 2-6 run with Ctrl-C deferred (in the main thread): a KeyboardInterrupt that arrives while
the variables are being updated is raised right after the step, never halfway through it.

Everything is computed in the variables' dtype (float32 by default), with the same operation
order as Keras, so that results agree with Keras bit for bit in most cases. Two details matter:
a Python-float constant such as ``1 - beta_1`` is computed in double precision and then rounded
to float32 (NumPy and JAX both treat Python floats as "weak"), whereas ``beta_1 ** t`` is a
float32 power of float32(beta_1).

Optimizer variables, in Keras's order (``optimizer.variables``): ``iteration`` (int32 scalar),
``learning_rate`` (float32 scalar, absent when a schedule is used), the EMA ``average`` slots if
``use_ema``, the ``gradient_accumulator`` slots if ``gradient_accumulation_steps``, then the
optimizer's slots. A slot is named ``<variable path with "/" -> "_">_<slot>``, for example
``dense_kernel_momentum``.
"""
import contextlib
import math
import re
import signal
import threading
import types
import warnings

import numpy as np

from . import config
from .autograd.tensor import Tensor, Variable
from .naming import to_snake_case, unique_name


# ------------------------------------------------------------------------------------------------
# Learning-rate schedules
# ------------------------------------------------------------------------------------------------
def _floatx_scalar(value):
    return np.asarray(value, dtype=config.floatx())


def _step_array(step):
    """A step count as Keras sees it: int32 if integral, float32 (floatx) otherwise."""
    step = np.asarray(step.data if isinstance(step, Tensor) else step)
    return step.astype(np.int32) if step.dtype.kind in "biu" else step.astype(config.floatx())


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate`` (a float32 scalar), plus ``get_config``.

    ``step`` is the optimizer's ``iterations`` before the current update (0 on the first step).
    Every schedule computes in floatx (float32), like Keras.
    """

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config()")

    @classmethod
    def from_config(cls, config_dict):
        return cls(**config_dict)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_decay_steps(value, argument="decay_steps"):
    if value <= 0:
        raise ValueError(f"Argument `{argument}` must be > 0. Received: {argument}={value}")


class ExponentialDecay(LearningRateSchedule):
    """``lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)`` (a step function).
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        initial = _floatx_scalar(self.initial_learning_rate)
        p = _step_array(step).astype(initial.dtype) / _floatx_scalar(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return (initial * np.power(_floatx_scalar(self.decay_rate), p))[()]

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after ``boundaries[-1]``."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError("The length of boundaries should be 1 less than the length of values. "
                             f"Received: boundaries={boundaries} of length {len(boundaries)}, "
                             f"and values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = _step_array(step)
        # as in Keras, boundaries are cast to the step's dtype (float boundaries truncate for int steps)
        boundaries = [np.asarray(b).astype(step.dtype) for b in self.boundaries]
        values = [_step_array(v) if isinstance(v, (int, np.integer)) else _floatx_scalar(v) for v in self.values]
        if step <= boundaries[0]:
            return values[0][()]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
            if low < step <= high:
                return value[()]
        return values[-1][()]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``lr = (initial - end) * (1 - step / decay_steps) ** power + end``, with step capped at
    ``decay_steps``; with ``cycle=True`` decay_steps is multiplied by ``ceil(step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        initial = _floatx_scalar(self.initial_learning_rate)
        end = _floatx_scalar(self.end_learning_rate)
        step = _step_array(step).astype(initial.dtype)
        decay_steps = _floatx_scalar(self.decay_steps)
        if self.cycle:
            multiplier = _floatx_scalar(1.0) if step == 0 else np.ceil(step / self.decay_steps)
            decay_steps = decay_steps * multiplier
        else:
            step = np.minimum(step, decay_steps)
        p = step / decay_steps
        return ((initial - end) * np.power(1 - p, _floatx_scalar(self.power)) + end)[()]

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``lr = initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored ratio if staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        initial = _floatx_scalar(self.initial_learning_rate)
        p = _step_array(step).astype(initial.dtype) / _floatx_scalar(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return (initial / (_floatx_scalar(1) + _floatx_scalar(self.decay_rate) * p))[()]

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay, optionally after a linear warmup (SGDR without restarts).

    Without warmup (``warmup_target=None``), with ``s = min(step, decay_steps)``::

        lr = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)

    With warmup, for ``step < warmup_steps`` the rate rises linearly from
    ``initial_learning_rate`` to ``warmup_target``; afterwards the cosine above decays from
    ``warmup_target`` over ``step - warmup_steps`` (capped at ``decay_steps``).
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_steps, decay_from_lr):
        completed_fraction = step / decay_steps
        cosine_decayed = 0.5 * (1.0 + np.cos(_floatx_scalar(math.pi) * completed_fraction))
        decayed = (1 - self.alpha) * cosine_decayed + self.alpha
        return decay_from_lr * decayed

    def __call__(self, step):
        initial = _floatx_scalar(self.initial_learning_rate)
        decay_steps = _floatx_scalar(self.decay_steps)
        step = _step_array(step).astype(initial.dtype)
        if self.warmup_target is None:
            return self._decay(np.minimum(step, decay_steps), decay_steps, initial)[()]
        warmup_target = _floatx_scalar(self.warmup_target)
        warmup_steps = _floatx_scalar(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return ((warmup_target - initial) * (step / warmup_steps) + initial)[()]
        return self._decay(step - warmup_steps, decay_steps, warmup_target)[()]

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                             InverseTimeDecay, CosineDecay)}


def serialize_schedule(schedule):
    """A Keras-style config dict: ``{"module", "class_name", "config", "registered_name"}``."""
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize_schedule(config_dict):
    """The inverse of :func:`serialize_schedule` (also accepts a bare ``{"class_name", "config"}``)."""
    name = config_dict.get("class_name")
    if name not in _SCHEDULES:
        raise ValueError(f"Unknown learning rate schedule {name!r}; expected one of {sorted(_SCHEDULES)}")
    return _SCHEDULES[name].from_config(dict(config_dict.get("config", {})))


schedules = types.SimpleNamespace(LearningRateSchedule=LearningRateSchedule, serialize=serialize_schedule,
                                  deserialize=deserialize_schedule, **_SCHEDULES)


# ------------------------------------------------------------------------------------------------
# Optimizer base
# ------------------------------------------------------------------------------------------------
def _as_array(gradient):
    return gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)


def _cast(value, dtype):
    """A constant as a 0-d array of ``dtype`` (keeps float32 arithmetic in float32)."""
    return np.asarray(value, dtype=dtype)


@contextlib.contextmanager
def _keyboard_interrupt_deferred():
    """Hold back SIGINT (Ctrl-C) until the block ends, so an update is applied whole or not at all."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and callable(previous):
        previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt here
    elif received and previous == signal.SIG_DFL:
        raise KeyboardInterrupt


class Optimizer:
    """Base class of every optimizer. Subclasses implement ``build`` (create slots) and
    ``update_step(gradient, variable, learning_rate)``; see the module docstring for the order.

    Arguments (Keras names and defaults): ``learning_rate`` (a float, a ``LearningRateSchedule``
    or a zero-argument callable), ``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm`` (at most one of the three), ``use_ema``, ``ema_momentum=0.99``,
    ``ema_overwrite_frequency``, ``loss_scale_factor``, ``gradient_accumulation_steps``, ``name``.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"{type(self).__name__}: argument(s) not recognized: {kwargs}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. "
                             f"Received: gradient_accumulation_steps={gradient_accumulation_steps}")
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. "
                                 f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.built = False
        self._variables = []              # every optimizer variable, in Keras's order
        self._trainable_variables = []    # the model variables this optimizer updates
        self._variable_index = {}         # id(model variable) -> position
        self._exclude_ids = set()
        self._exclude_pattern = None
        self._iterations = self._track(Variable(np.int32(0), name="iteration", trainable=False, dtype=np.int32))
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if not isinstance(learning_rate, (float, np.floating)):
                raise ValueError("Argument `learning_rate` should be float, or an instance of LearningRateSchedule, "
                                 "or a callable (that takes in the current iteration value and returns the "
                                 f"corresponding learning rate value). Received instead: learning_rate={learning_rate}")
            self._learning_rate = self._track(Variable(_cast(learning_rate, config.floatx()), name="learning_rate",
                                                       trainable=False))

    # -- variables ---------------------------------------------------------------------------------
    def _track(self, variable):
        variable.path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        return variable

    @property
    def variables(self):
        """Every optimizer variable (iteration, learning_rate, slots), in Keras's order."""
        return self._variables[:]

    @property
    def iterations(self):
        """Number of updates applied so far, a Python int (divided by gradient_accumulation_steps)."""
        count = int(self._iterations.data)
        return count // self.gradient_accumulation_steps if self.gradient_accumulation_steps else count

    def add_variable(self, shape, initializer=0.0, dtype=None, name=None):
        """A new optimizer variable filled with the constant ``initializer``."""
        dtype = dtype or config.floatx()
        return self._track(Variable(np.full(tuple(shape), initializer, dtype=dtype), name=name, trainable=False))

    def add_variable_from_reference(self, reference_variable, name=None, initializer=0.0):
        """A slot shaped like ``reference_variable``, named ``<its path with / -> _>_<name>``."""
        reference = getattr(reference_variable, "path", None) or getattr(reference_variable, "name", None)
        prefix = str(reference if reference is not None else "variable").replace("/", "_").replace(":", "_")
        return self.add_variable(reference_variable.shape, initializer, reference_variable.dtype,
                                 f"{prefix}_{name or 'var'}")

    def add_optimizer_variables(self, trainable_variables, name, initializer=0.0):
        """One slot per variable for each name; with several names the slots are interleaved
        (``a_momentum, a_velocity, b_momentum, ...``) as in Keras. Returns a list, or a tuple of lists."""
        names = [name] if isinstance(name, str) else list(name)
        slots = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, slot_name in enumerate(names):
                slots[i].append(self.add_variable_from_reference(variable, slot_name, initializer))
        return slots[0] if isinstance(name, str) else slots

    def build(self, variables):
        """Remember the model variables and create the shared slots (EMA averages, accumulators)."""
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = self.add_optimizer_variables(variables, "gradient_accumulator")
        self._variable_index = {id(v): i for i, v in enumerate(variables)}
        self._trainable_variables = list(variables)
        self.built = True

    def _slot(self, slots, variable):
        return slots[self._variable_index[id(variable)]]

    def get_weights(self):
        """Copies of every optimizer variable, in ``variables`` order."""
        return [np.array(v.data) for v in self._variables]

    def set_weights(self, weights):
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. "
                             "Call `optimizer.build(trainable_variables)` first.")
        weights = list(weights)
        if len(weights) != len(self._variables):
            raise ValueError(f"Optimizer '{self.name}' has {len(self._variables)} variables, "
                             f"but received {len(weights)} weights")
        for variable, weight in zip(self._variables, weights):
            if tuple(np.shape(weight)) != tuple(variable.shape):
                raise ValueError(f"Optimizer variable '{variable.path}' has shape {variable.shape} not compatible "
                                 f"with provided weight shape {np.shape(weight)}.")
        for variable, weight in zip(self._variables, weights):
            variable.assign(np.asarray(weight, dtype=variable.dtype))

    # -- learning rate -----------------------------------------------------------------------------
    def _current_learning_rate(self):
        """The learning rate of this step as a float32 scalar (a schedule sees ``iterations`` so far)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return np.asarray(self._learning_rate(self._iterations.data))
        if isinstance(self._learning_rate, Variable):
            return self._learning_rate.data
        return np.asarray(self._learning_rate())

    @property
    def learning_rate(self):
        """The current learning rate as a Python float (the float32 value, e.g. 0.0010000000474974513)."""
        return float(self._current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value):
        previous = self._learning_rate if isinstance(self._learning_rate, Variable) else None
        if isinstance(value, LearningRateSchedule) or callable(value):
            self._learning_rate = value
        elif isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                            "`learning_rate` constructor argument, hence its learning rate is not settable. "
                            "If you need the learning rate to be settable, you should instantiate the "
                            "optimizer with a float `learning_rate` argument.")
        elif previous is None:  # it was a plain callable: make it a variable again
            self._learning_rate = Variable(_cast(float(value), config.floatx()), name="learning_rate",
                                           trainable=False)
            self._learning_rate.path = f"{self.name}/learning_rate"
            self._variables.insert(1, self._learning_rate)
        else:
            self._learning_rate.assign(_cast(float(value), self._learning_rate.dtype))
        if previous is not None and not isinstance(self._learning_rate, Variable):
            self._variables = [v for v in self._variables if v is not previous]

    # -- weight decay --------------------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Skip weight decay for the variables in ``var_list`` and for every variable whose name
        contains one of the strings in ``var_names`` (e.g. ``["bias"]``). Call before building."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list} if var_list else set()
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        if self._exclude_pattern is not None and self._exclude_pattern.search(str(variable.name)) is not None:
            return False
        return True

    def _apply_weight_decay(self, variables, learning_rate):
        """Decoupled weight decay: ``w <- w - w * wd * lr`` (before the gradient update)."""
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                lr = _cast(learning_rate, variable.dtype)
                wd = _cast(self.weight_decay, variable.dtype)
                variable.assign(variable.data - variable.data * wd * lr)

    # -- clipping --------------------------------------------------------------------------------------
    def _clip_by_norm(self, gradient):
        """``g * c / max(||g||, c)``, i.e. rescale g to norm c if its norm is larger."""
        l2sum = np.sum(np.square(gradient), keepdims=True)
        l2norm = np.sqrt(np.where(l2sum > 0, l2sum, np.ones_like(l2sum)))
        l2norm = np.where(l2sum > 0, l2norm, l2sum)
        clipnorm = _cast(self.clipnorm, gradient.dtype)
        return (gradient * clipnorm) / np.maximum(l2norm, clipnorm)

    def _clip_by_global_norm(self, gradients):
        """Every g times ``c * min(1/N, 1/c)`` with ``N = sqrt(sum of all squared entries)``;
        NaN if N is not finite (as in Keras)."""
        dtype = gradients[0].dtype
        norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in gradients])))
        scale = _cast(self.global_clipnorm, dtype) * np.minimum(_cast(1.0, dtype) / norm,
                                                                _cast(1.0 / self.global_clipnorm, dtype))
        scale = scale + (norm - norm)
        return [g * scale for g in gradients]

    def _clip_gradients(self, gradients):
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in gradients]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return self._clip_by_global_norm(gradients)
        if self.clipvalue and self.clipvalue > 0:
            value = _cast(self.clipvalue, gradients[0].dtype)
            return [np.clip(g, -value, value) for g in gradients]
        return gradients

    # -- one step ------------------------------------------------------------------------------------
    def update_step(self, gradient, variable, learning_rate):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.update_step is not implemented")

    def apply_gradients(self, grads_and_vars):
        """``apply`` for a list of ``(gradient, variable)`` pairs; returns ``iterations``."""
        grads_and_vars = list(grads_and_vars)
        grads = [g for g, _ in grads_and_vars]
        variables = [v for _, v in grads_and_vars]
        self.apply(grads, variables)
        return self.iterations

    def apply(self, grads, variables=None):
        """Update ``variables`` in place from ``grads`` (arrays or Tensors, aligned one to one).

        The first call builds the slots. Later calls may omit ``variables`` (the ones it was built
        with are used) but must not pass new ones.
        """
        grads = list(grads)
        if len(grads) == 0:
            return
        if variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built "
                                 "on a list of variables. Call `optimizer.build(trainable_variables)` first.")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(f"Received {len(grads)} gradients, but the optimizer is tracking "
                                 f"{len(self._trainable_variables)} trainable variables.")
            variables = self._trainable_variables
        else:
            variables = list(variables)
            if len(grads) != len(variables):
                raise ValueError(f"Optimizer '{self.name}': received {len(grads)} gradients "
                                 f"for {len(variables)} variables")
            if not self.built:
                self.build(variables)
            for v in variables:
                if id(v) not in self._variable_index:
                    raise ValueError(f"Unknown variable: {v}. This optimizer can only be called for the variables "
                                     "it was originally built with. When working with a new set of variables, "
                                     "you should recreate a new optimizer instance.")
        pairs = [(_as_array(g), v) for g, v in zip(grads, variables) if g is not None]
        missing = [getattr(v, "path", None) or v.name for g, v in zip(grads, variables) if g is None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. "
                          "If using `model.compile()`, did you forget to provide a `loss` argument?")
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        for g, v in pairs:
            if g.shape != v.shape:
                raise ValueError(f"Optimizer '{self.name}': gradient for '{v.path}' has shape {g.shape}, "
                                 f"expected {v.shape}")
        if self.loss_scale_factor is not None:
            grads = [g / _cast(self.loss_scale_factor, g.dtype) for g in grads]
        with _keyboard_interrupt_deferred():
            if self.gradient_accumulation_steps:
                self._accumulate_and_maybe_update(grads, variables)
            else:
                self._update(grads, variables)
            if self.use_ema:
                self._update_moving_average()
            self._iterations.assign_add(1)

    def _update(self, grads, variables):
        grads = self._clip_gradients(grads)
        learning_rate = self._current_learning_rate()
        self._apply_weight_decay(variables, learning_rate)
        for gradient, variable in zip(grads, variables):
            self.update_step(gradient.astype(variable.dtype, copy=False), variable,
                             _cast(learning_rate, variable.dtype))
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                variable.assign(_as_array(constraint(variable.data)))

    def _accumulate_and_maybe_update(self, grads, variables):
        """Sum gradients for ``steps`` calls; on the last one update with their mean and reset."""
        steps = self.gradient_accumulation_steps
        accumulators = [self._slot(self._accumulated_gradients, v) for v in variables]
        if (int(self._iterations.data) + 1) % steps == 0:
            self._update([(g + acc.data) / _cast(steps, g.dtype) for g, acc in zip(grads, accumulators)], variables)
            for acc in accumulators:
                acc.assign(np.zeros_like(acc.data))
        else:
            for g, acc in zip(grads, accumulators):
                acc.assign(g + acc.data)

    def _update_moving_average(self):
        """EMA of the weights: ``avg <- m*avg + (1-m)*w`` with ``m = ema_momentum`` (0 on the first step)."""
        for variable, average in zip(self._trainable_variables, self._model_variables_moving_average):
            momentum = _cast(float(self.iterations != 0), variable.dtype) * _cast(self.ema_momentum, variable.dtype)
            average.assign(momentum * average.data + (1 - momentum) * variable.data)
        if self.ema_overwrite_frequency is not None and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            self._overwrite_model_variables_with_average_value(self._trainable_variables)

    def _overwrite_model_variables_with_average_value(self, variables):
        for variable, average in zip(variables, self._model_variables_moving_average):
            variable.assign(average.data)

    def finalize_variable_values(self, var_list):
        """End of ``fit``: with ``use_ema``, replace the weights by their moving average."""
        if self.use_ema:
            self._overwrite_model_variables_with_average_value(var_list)

    # -- config ----------------------------------------------------------------------------------------
    def get_config(self):
        if isinstance(self._learning_rate, LearningRateSchedule):
            learning_rate = serialize_schedule(self._learning_rate)
        elif isinstance(self._learning_rate, Variable):
            learning_rate = float(self._learning_rate.data)
        else:
            learning_rate = self._learning_rate
        return {"name": self.name, "learning_rate": learning_rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config_dict, custom_objects=None):
        config_dict = dict(config_dict)
        if isinstance(config_dict.get("learning_rate"), dict):
            config_dict["learning_rate"] = deserialize_schedule(config_dict["learning_rate"])
        return cls(**config_dict)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate:g}>"


# ------------------------------------------------------------------------------------------------
# The optimizers
# ------------------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Plain: ``w <- w - lr * g``.
    With momentum mu (m starts at 0)::

        m <- mu * m - lr * g
        w <- w + m                      (nesterov=False)
        w <- w + mu * m - lr * g        (nesterov=True, with the new m)

    Keras keeps the *velocity* m already multiplied by lr (the "PyTorch" form would keep
    ``b <- mu*b + g`` and step ``w <- w - lr*b``; they agree while lr is constant).
    Slot: ``<var>_momentum`` (only when momentum > 0).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if not isinstance(momentum, (float, np.floating)) or momentum < 0 or momentum > 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum != 0 else []

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0:
            variable.assign_sub(gradient * learning_rate)
            return
        m = self._slot(self.momentums, variable)
        mu = _cast(self.momentum, variable.dtype)
        m.assign(m.data * mu - gradient * learning_rate)
        if self.nesterov:
            variable.assign_add(m.data * mu - gradient * learning_rate)
        else:
            variable.assign_add(m.data)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root-mean-square of the gradient.

    ::

        v <- rho * v + (1 - rho) * g^2
        a <- rho * a + (1 - rho) * g                 (centered only)
        inc = lr * g / sqrt(v + eps)                 (plain)
        inc = lr * g / sqrt(v - a^2 + eps)           (centered)
        w <- w - inc                                 (momentum == 0)
        m <- momentum * m + inc;  w <- w - m         (momentum > 0)

    Keras puts eps **inside** the square root (the textbook puts it outside:
    ``g / (sqrt(v) + eps)``); it matters when gradients are tiny. v, a and m start at 0.
    Slots, in Keras's order: every ``<var>_velocity``, then every ``<var>_momentum``
    (momentum > 0), then every ``<var>_average_gradient`` (centered) -- grouped, not interleaved.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        self._momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum > 0 else []
        self._average_gradients = (self.add_optimizer_variables(variables, "average_gradient")
                                   if self.centered else [])

    def update_step(self, gradient, variable, learning_rate):
        rho, epsilon = float(self.rho), float(self.epsilon)
        velocity = self._slot(self._velocities, variable)
        velocity.assign(rho * velocity.data + (1 - rho) * np.square(gradient))
        if self.centered:
            average_gradient = self._slot(self._average_gradients, variable)
            average_gradient.assign(rho * average_gradient.data + (1 - rho) * gradient)
            denominator = velocity.data - np.square(average_gradient.data) + epsilon
        else:
            denominator = velocity.data + epsilon
        increment = (learning_rate * gradient) / np.sqrt(denominator)
        if self.momentum > 0:
            momentum = self._slot(self._momentums, variable)
            momentum.assign(float(self.momentum) * momentum.data + increment)
            variable.assign_sub(momentum.data)
        else:
            variable.assign_sub(increment)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam, in Keras's "epsilon-hat" form.

    With ``t = iterations + 1`` (t = 1 on the first step) and m, v starting at 0::

        alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m <- m + (g - m) * (1 - beta_1)            (= beta_1*m + (1-beta_1)*g)
        v <- v + (g^2 - v) * (1 - beta_2)
        v_hat <- max(v_hat, v);  v := v_hat        (amsgrad only)
        w <- w - m * alpha / (sqrt(v) + eps)

    The textbook (Kingma & Ba, Algorithm 1) writes ``w <- w - lr * m_hat / (sqrt(v_hat) + eps)``
    with bias-corrected ``m_hat = m/(1-beta_1^t)``, ``v_hat = v/(1-beta_2^t)``; the two agree except
    for where eps sits (here eps is not bias-corrected), which shows when gradients are small.
    Slots: ``<var>_momentum``, ``<var>_velocity`` interleaved per variable, then every
    ``<var>_velocity_hat`` (amsgrad).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])
        self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat") if self.amsgrad else []

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        local_step = _cast(self.iterations + 1, dtype)
        beta_1_power = np.power(_cast(self.beta_1, dtype), local_step)   # float32 power, as in Keras
        beta_2_power = np.power(_cast(self.beta_2, dtype), local_step)
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        alpha = learning_rate * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m.assign_add((gradient - m.data) * (1 - float(self.beta_1)))             # (1 - beta) in double, then float32
        v.assign_add((np.square(gradient) - v.data) * (1 - float(self.beta_2)))
        if self.amsgrad:
            v_hat = self._slot(self._velocity_hats, variable)
            v_hat.assign(np.maximum(v_hat.data, v.data))
            v = v_hat
        variable.assign_sub((m.data * alpha) / (np.sqrt(v.data) + float(self.epsilon)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): before each Adam step,
    ``w <- w - w * weight_decay * lr``. ``weight_decay`` defaults to 0.004 and cannot be None.
    (Every optimizer accepts ``weight_decay=`` and applies the same rule; AdamW only changes the
    default.) Biases are decayed too unless excluded with ``exclude_from_weight_decay``.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps shrinking with the sum of squared gradients.

    ::

        acc <- acc + g^2                       (acc starts at initial_accumulator_value)
        w   <- w - lr * g / sqrt(acc + eps)

    eps sits **inside** the square root (the textbook writes ``sqrt(acc) + eps``).
    Slot: ``<var>_accumulator``.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulators = self.add_optimizer_variables(variables, "accumulator",
                                                          initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self._slot(self._accumulators, variable)
        accumulator.assign_add(np.square(gradient))
        variable.assign_sub((learning_rate * gradient) / np.sqrt(accumulator.data + float(self.epsilon)))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


# ------------------------------------------------------------------------------------------------
# Lookup
# ------------------------------------------------------------------------------------------------
_OPTIMIZERS = {cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adam, AdamW, Adagrad)}


def serialize(optimizer):
    """A Keras-style config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config_dict):
    """An optimizer from ``{"class_name": "Adam", "config": {...}}`` (class name case-insensitive)."""
    name = str(config_dict.get("class_name", ""))
    if name.lower() not in _OPTIMIZERS:
        from .naming import did_you_mean
        raise ValueError(f"Unknown optimizer {name!r}; valid names are {sorted(_OPTIMIZERS)}."
                         f"{did_you_mean(name, _OPTIMIZERS)}")
    return _OPTIMIZERS[name.lower()].from_config(dict(config_dict.get("config") or {}))


def get(identifier):
    """An optimizer from a name (``"sgd"``, ``"rmsprop"``, ``"adam"``, ``"adamw"``, ``"adagrad"``,
    any case), a Keras config dict, or an ``Optimizer`` (returned unchanged). ``None`` gives None."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r} "
                     f"(expected a name among {sorted(_OPTIMIZERS)}, a config dict or an Optimizer)")


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "LearningRateSchedule",
           "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay", "InverseTimeDecay", "CosineDecay",
           "schedules", "serialize", "deserialize", "get"]
