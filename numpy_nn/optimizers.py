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
import collections.abc
import contextlib
import math
import re
import signal
import threading
import types
import warnings

import numpy as np

from . import config, initializers
from .autograd.tensor import Tensor, Variable
from .ops.kernels.updates import adam_update, parallel_update_applies
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


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    With ``f = step / first_decay_steps``, the restart index i and the fraction ``p`` of the
    current period: periods grow by ``t_mul`` (period i lasts ``t_mul**i`` first periods), so
    ``i = floor(log(1 - f (1 - t_mul)) / log(t_mul))`` and
    ``p = (f - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i`` (``i = floor(f)``, ``p = f - i`` when
    ``t_mul == 1``); each restart starts ``m_mul**i`` times lower::

        lr = initial_learning_rate * ((1 - alpha) * 0.5 * m_mul**i * (1 + cos(pi * p)) + alpha)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        if first_decay_steps <= 0:
            raise ValueError(f"Argument `first_decay_steps` must be > 0. Received: first_decay_steps={first_decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        initial = _floatx_scalar(self.initial_learning_rate)
        dtype = initial.dtype
        first_decay_steps = _cast_schedule(self.first_decay_steps, dtype)
        alpha, t_mul, m_mul = (_cast_schedule(v, dtype) for v in (self.alpha, self._t_mul, self._m_mul))
        completed_fraction = _step_array(step).astype(dtype) / first_decay_steps
        if t_mul == 1.0:
            i_restart = np.floor(completed_fraction)
            completed_fraction = completed_fraction - i_restart
        else:
            i_restart = np.floor(np.log((1.0 - completed_fraction * (1.0 - t_mul)).astype(dtype)) / np.log(t_mul))
            sum_r = (1.0 - np.power(t_mul, i_restart)) / (1.0 - t_mul)
            completed_fraction = (completed_fraction - sum_r) / np.power(t_mul, i_restart)
        m_fac = np.power(m_mul, i_restart)
        cosine_decayed = 0.5 * m_fac * (1.0 + np.cos(_cast_schedule(math.pi, dtype) * completed_fraction))
        return (initial * ((1 - alpha) * cosine_decayed + alpha))[()]

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


def _cast_schedule(value, dtype):
    return np.asarray(value, dtype=dtype)


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                             InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


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


class _ScalarVariable(Variable):
    """A 0-d optimizer variable (``iteration``, ``learning_rate``) that compares and converts like
    its value, as a Keras variable does (``optimizer.variables[0] == 1``, ``int(...)``).

    Comparisons with another Tensor stay identity comparisons, so lists of variables behave."""

    def __eq__(self, other):
        if isinstance(other, Tensor):
            return self is other
        return bool(self.data == np.asarray(other))

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = Variable.__hash__

    def __int__(self):
        return int(self.data)

    def __float__(self):
        return float(self.data)

    def __index__(self):
        return int(self.data)


class Optimizer:
    """Base class of every optimizer. Subclasses implement ``build`` (create slots) and
    ``update_step(gradient, variable, learning_rate)``; see the module docstring for the order.

    Arguments (Keras names and defaults): ``learning_rate`` (a float, a ``LearningRateSchedule``
    or a zero-argument callable), ``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm`` (at most one of the three), ``use_ema``, ``ema_momentum=0.99``,
    ``ema_overwrite_frequency``, ``loss_scale_factor``, ``gradient_accumulation_steps``, ``name``.

    - ``use_ema``: after every step ``avg <- m * avg + (1 - m) * w`` (m = ``ema_momentum``, 0 on
      the very first step); every ``ema_overwrite_frequency`` steps the weights are replaced by
      their average, and ``Model.fit`` does it once more when training ends
      (``finalize_variable_values``).
    - ``gradient_accumulation_steps=k``: gradients are summed for k calls; on the k-th the update
      uses their mean, then the sums restart. ``iterations`` counts updates (calls // k) while a
      learning-rate schedule sees every call.
    - ``loss_scale_factor=s``: ``scale_loss(loss) = loss * s`` before differentiating; the
      gradients are divided by s first thing in ``apply``.
    - A variable with ``overwrite_with_gradient = True`` is not optimized: its "gradient" is
      its new value (with accumulation: the running maximum), as in Keras.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs} ({type(self).__name__})")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
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
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.built = False
        self._variables = []              # every optimizer variable, in Keras's order
        self._trainable_variables = []    # the model variables this optimizer updates
        self._trainable_variables_indices = {}   # id(model variable) -> position
        self._exclude_ids = set()
        self._exclude_pattern = None
        self._iterations = self._track(_ScalarVariable(np.int32(0), name="iteration", trainable=False,
                                                       dtype=np.int32))
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if not isinstance(learning_rate, (float, np.floating)):
                raise ValueError("Argument `learning_rate` should be float, or an instance of LearningRateSchedule, "
                                 "or a callable (that takes in the current iteration value and returns the "
                                 f"corresponding learning rate value). Received instead: learning_rate={learning_rate}")
            self._learning_rate = self._track(self._learning_rate_variable(learning_rate))

    def _learning_rate_variable(self, value):
        return _ScalarVariable(_cast(float(value), config.floatx()), name="learning_rate", trainable=False)

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
        """Number of updates applied so far, a Python int (calls // gradient_accumulation_steps)."""
        count = int(self._iterations.data)
        return count // self.gradient_accumulation_steps if self.gradient_accumulation_steps else count

    def _var_key(self, variable):
        return id(variable)

    def _get_variable_index(self, variable):
        """Position of a model variable in the list the optimizer was built with."""
        return self._trainable_variables_indices[id(variable)]

    def _slot(self, slots, variable):
        return slots[self._get_variable_index(variable)]

    @staticmethod
    def _overwrite_variable_with_gradient(variable):
        return bool(getattr(variable, "overwrite_with_gradient", False))

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none", layout=None, name=None):
        """A new optimizer variable: ``initializer`` is a number, an initializer name or object."""
        dtype = str(np.dtype("int32" if dtype == "int" else dtype or config.floatx()))
        if isinstance(initializer, (int, float, np.number)):
            value = np.full(tuple(shape), initializer, dtype=dtype)
        else:
            value = np.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype), dtype=dtype)
        return self._track(Variable(value, name=name, trainable=False, dtype=dtype))

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A slot shaped like ``reference_variable``, named ``<its path with / -> _>_<name>``."""
        reference = getattr(reference_variable, "path", None) or getattr(reference_variable, "name", None)
        prefix = str(reference if reference is not None else "variable").replace("/", "_").replace(":", "_")
        return self.add_variable(reference_variable.shape, initializer, reference_variable.dtype,
                                 name=f"{prefix}_{name or 'var'}")

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One slot per variable for each name; with several names the slots are interleaved
        (``a_momentum, a_velocity, b_momentum, ...``) as in Keras. A variable that is overwritten
        with its gradient gets None. Returns a list, or a tuple of lists."""
        names = [name] if isinstance(name, str) else list(name)
        if isinstance(name, str) or not isinstance(initializer, (list, tuple)):
            initializer_list = [initializer] * len(names)
        else:
            initializer_list = list(initializer)
        if len(names) != len(initializer_list):
            raise ValueError("The number of provided names must match the number of provided initializers. "
                             f"Received name='{name}', initializer='{initializer}'")
        slots = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, (slot_name, slot_initializer) in enumerate(zip(names, initializer_list)):
                slots[i].append(None if self._overwrite_variable_with_gradient(variable) else
                                self.add_variable_from_reference(variable, slot_name, slot_initializer))
        return slots[0] if isinstance(name, str) else slots

    def build(self, variables):
        """Remember the model variables and create the shared slots (EMA averages, accumulators)."""
        variables = list(variables)
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = []
        for i, variable in enumerate(variables):
            self._trainable_variables_indices[id(variable)] = i
            if self.gradient_accumulation_steps:
                self._accumulated_gradients.append(self.add_variable_from_reference(variable, "gradient_accumulator"))
        self._trainable_variables = variables
        self.built = True

    def assign(self, variable, value):
        """``variable <- value`` (Keras optimizers update through these three methods)."""
        variable.assign(np.asarray(_as_array(value), dtype=variable.dtype))

    def assign_add(self, variable, value):
        variable.assign_add(_as_array(value))

    def assign_sub(self, variable, value):
        variable.assign_sub(_as_array(value))

    def get_weights(self):
        """Copies of every optimizer variable, in ``variables`` order."""
        return [np.array(v.data) for v in self.variables]

    def set_weights(self, weights):
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. "
                             "Call `optimizer.build(trainable_variables)` first.")
        own = self.variables
        weights = [_as_array(w) for w in weights]
        if len(weights) != len(own):
            raise ValueError(f"Optimizer '{self.name}' has {len(own)} variables, but received {len(weights)} weights")
        for variable, weight in zip(own, weights):
            if tuple(np.shape(weight)) != tuple(variable.shape):
                raise ValueError(f"Optimizer variable '{variable.path}' has shape {variable.shape} not compatible "
                                 f"with provided weight shape {np.shape(weight)}.")
        for variable, weight in zip(own, weights):
            variable.assign(np.asarray(weight, dtype=variable.dtype))

    def save_own_variables(self, store):
        """Write every variable into ``store`` under "0", "1", ... (Keras's ``.keras`` layout)."""
        for i, variable in enumerate(self.variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        """Read back what ``save_own_variables`` wrote; a count mismatch warns and loads nothing."""
        if len(store.keys()) != len(self.variables):
            warnings.warn(f"Skipping variable loading for optimizer '{self.name}', because it has "
                          f"{len(self.variables)} variables whereas the saved optimizer has {len(store.keys())} "
                          "variables.", stacklevel=2)
            return
        for i, variable in enumerate(self.variables):
            variable.assign(np.asarray(store[str(i)], dtype=variable.dtype))

    # -- learning rate -----------------------------------------------------------------------------
    def _current_learning_rate(self):
        """The learning rate of this step as a float32 scalar (a schedule sees ``iterations`` so far)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return np.asarray(self._learning_rate(self._iterations.data))
        if isinstance(self._learning_rate, Variable):
            return self._learning_rate.data
        return np.asarray(_as_array(self._learning_rate()))

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
            self._learning_rate = self._learning_rate_variable(value)
            self._learning_rate.path = f"{self.name}/learning_rate"
            self._variables.insert(1, self._learning_rate)
        else:
            self._learning_rate.assign(_cast(float(value), self._learning_rate.dtype))
        if previous is not None and not isinstance(self._learning_rate, Variable):
            self._variables = [v for v in self._variables if v is not previous]

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (unchanged if no factor): differentiate this, ``apply``
        divides the gradients back."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

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

    def _apply_weight_decay(self, variables):
        """Decoupled weight decay: ``w <- w - w * wd * lr`` (before the gradient update)."""
        if self.weight_decay is None:
            return
        learning_rate = self._current_learning_rate()
        for variable in variables:
            if self._use_weight_decay(variable):
                lr = _cast(learning_rate, variable.dtype)
                wd = _cast(self.weight_decay, variable.dtype)
                variable.assign(variable.data - variable.data * wd * lr)

    # -- clipping --------------------------------------------------------------------------------------
    def _clip_by_norm(self, gradient):
        """``g * c / max(||g||, c)``, i.e. rescale g to norm c if its norm is larger."""
        gradient = _as_array(gradient)
        l2sum = np.sum(np.square(gradient), keepdims=True)
        l2norm = np.sqrt(np.where(l2sum > 0, l2sum, np.ones_like(l2sum)))
        l2norm = np.where(l2sum > 0, l2norm, l2sum)
        clipnorm = _cast(self.clipnorm, gradient.dtype)
        return (gradient * clipnorm) / np.maximum(l2norm, clipnorm)

    def _clip_by_global_norm(self, gradients):
        """Every g times ``c * min(1/N, 1/c)`` with ``N = sqrt(sum of all squared entries)``;
        NaN if N is not finite (as in Keras)."""
        dtype = next(g.dtype for g in gradients if g is not None)
        norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in gradients if g is not None])))
        scale = _cast(self.global_clipnorm, dtype) * np.minimum(_cast(1.0, dtype) / norm,
                                                                _cast(1.0 / self.global_clipnorm, dtype))
        scale = scale + (norm - norm)
        return [None if g is None else g * scale for g in gradients]

    def _clip_gradients(self, gradients):
        gradients = [None if g is None else _as_array(g) for g in gradients]
        if self.clipnorm and self.clipnorm > 0:
            return [None if g is None else self._clip_by_norm(g) for g in gradients]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return self._clip_by_global_norm(gradients)
        if self.clipvalue and self.clipvalue > 0:
            return [None if g is None else np.clip(g, -_cast(self.clipvalue, g.dtype), _cast(self.clipvalue, g.dtype))
                    for g in gradients]
        return gradients

    # -- one step ------------------------------------------------------------------------------------
    def update_step(self, gradient, variable, learning_rate):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.update_step is not implemented")

    def apply_gradients(self, grads_and_vars):
        """``apply`` for a list of ``(gradient, variable)`` pairs; returns the iteration variable."""
        grads_and_vars = list(grads_and_vars)
        grads = [g for g, _ in grads_and_vars]
        variables = [v for _, v in grads_and_vars]
        self.apply(grads, variables)
        return self._iterations

    def _check_variables_are_known(self, variables):
        for v in variables:
            if id(v) not in self._trainable_variables_indices:
                raise ValueError(f"Unknown variable: {v}. This optimizer can only be called for the variables "
                                 "it was originally built with. When working with a new set of variables, "
                                 "you should recreate a new optimizer instance.")

    def _resolve_variables(self, grads, variables):
        """Build on first use, or check ``variables`` against the ones the optimizer was built with."""
        if variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built "
                                 "on a list of variables. Call `optimizer.build(trainable_variables)` first.")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(f"When passing `grads` as a list of gradient tensors, the gradients must match "
                                 f"`optimizer.variables` one-to-one. Received a list of {len(grads)} gradients, "
                                 f"but the optimizer is tracking {len(self._trainable_variables)} trainable "
                                 "variables.")
            return list(self._trainable_variables)
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"Optimizer '{self.name}': received {len(grads)} gradients for "
                             f"{len(variables)} variables")
        if not self.built:
            self.build(variables)
            self.built = True
        self._check_variables_are_known(variables)
        return variables

    @staticmethod
    def _filter_empty_gradients(grads, variables):
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        missing = [getattr(v, "path", None) or v.name for g, v in zip(grads, variables) if g is None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. "
                          "If using `model.compile()`, did you forget to provide a `loss` argument?")
        return [g for g, _ in pairs], [v for _, v in pairs]

    def _overwrite_variables_directly_with_gradients(self, grads, variables):
        """Variables flagged ``overwrite_with_gradient`` take their gradient as new value and leave
        the list (with accumulation: the running max, applied on the update step)."""
        kept_grads, kept_variables = [], []
        for g, v in zip(grads, variables):
            if not self._overwrite_variable_with_gradient(v):
                kept_grads.append(g)
                kept_variables.append(v)
                continue
            if self.gradient_accumulation_steps:
                accumulator = self._slot(self._accumulated_gradients, v)
                running_max = np.maximum(g, accumulator.data)
                if self._is_update_step():
                    v.assign(running_max.astype(v.dtype))
                    accumulator.assign(np.zeros_like(accumulator.data))
                else:
                    accumulator.assign(running_max)
            else:
                v.assign(np.asarray(g, dtype=v.dtype))
        return kept_grads, kept_variables

    def _is_update_step(self):
        return (int(self._iterations.data) + 1) % self.gradient_accumulation_steps == 0

    def apply(self, grads, variables=None):
        """Update ``variables`` in place from ``grads`` (arrays or Tensors, aligned one to one).

        The first call builds the slots. Later calls may omit ``variables`` (the ones it was built
        with are used) but must not pass new ones.
        """
        grads = list(grads)
        if len(grads) == 0:
            return
        variables = self._resolve_variables(grads, variables)
        grads, variables = self._filter_empty_gradients(grads, variables)
        grads = [_as_array(g) for g in grads]
        for g, v in zip(grads, variables):
            if g.shape != v.shape:
                raise ValueError(f"Optimizer '{self.name}': gradient for '{v.path}' has shape {g.shape}, "
                                 f"expected {v.shape}")
        with _keyboard_interrupt_deferred():
            grads, variables = self._overwrite_variables_directly_with_gradients(grads, variables)
            if grads:
                if self.loss_scale_factor is not None:
                    grads = [g / _cast(self.loss_scale_factor, g.dtype) for g in grads]
                if self.gradient_accumulation_steps:
                    self._accumulate_and_maybe_update(grads, variables)
                else:
                    self._update(grads, variables)
                if self.use_ema:
                    self._update_model_variables_moving_average(self._trainable_variables)
                    if (self.ema_overwrite_frequency is not None
                            and (self.iterations + 1) % self.ema_overwrite_frequency == 0):
                        self._overwrite_model_variables_with_average_value(self._trainable_variables)
            self._iterations.assign_add(1)

    def _update(self, grads, variables):
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(variables)
        self._backend_update_step(grads, variables, self._current_learning_rate())
        for variable in variables:
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                variable.assign(_as_array(constraint(variable.data)))

    def _backend_update_step(self, grads, variables, learning_rate):
        """``update_step`` for each (gradient, variable) pair, in the variables' dtype."""
        for gradient, variable in zip(grads, variables):
            self.update_step(gradient.astype(variable.dtype, copy=False), variable,
                             _cast(learning_rate, variable.dtype))

    def _accumulate_and_maybe_update(self, grads, variables):
        """Sum gradients for ``steps`` calls; on the last one update with their mean and reset."""
        steps = self.gradient_accumulation_steps
        accumulators = [self._slot(self._accumulated_gradients, v) for v in variables]
        if self._is_update_step():
            self._update([(g + acc.data) / _cast(steps, g.dtype) for g, acc in zip(grads, accumulators)], variables)
            for acc in accumulators:
                acc.assign(np.zeros_like(acc.data))
        else:
            for g, acc in zip(grads, accumulators):
                acc.assign(g + acc.data)

    def _update_model_variables_moving_average(self, variables):
        """EMA of the weights: ``avg <- m*avg + (1-m)*w`` with ``m = ema_momentum`` (0 on the first step)."""
        for variable, average in zip(variables, self._model_variables_moving_average):
            if average is None:
                continue
            momentum = _cast(float(self.iterations != 0), variable.dtype) * _cast(self.ema_momentum, variable.dtype)
            average.assign(momentum * average.data + (1 - momentum) * variable.data)

    def _overwrite_model_variables_with_average_value(self, variables):
        if len(variables) != len(self._model_variables_moving_average):
            raise ValueError(f"The length of model variables ({len(variables)}) to override does not match the "
                             "length of model variables stored in the optimizer "
                             f"({len(self._model_variables_moving_average)}). Please check if the optimizer was "
                             "called on your model.")
        for variable, average in zip(variables, self._model_variables_moving_average):
            if average is not None:
                variable.assign(average.data)

    def finalize_variable_values(self, var_list):
        """End of ``fit``: with ``use_ema``, replace the weights by their moving average."""
        if self.use_ema and self.built:
            self._overwrite_model_variables_with_average_value(list(var_list))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """``apply`` on given values instead of the variables' own: returns
        ``(new trainable values, new optimizer values)`` and leaves every variable as it was."""
        if not self.built:
            raise ValueError(f"To call `stateless_apply`, {type(self).__name__} must be built (i.e. its variables "
                             "must have been created). You can build it via `optimizer.build(trainable_variables)`.")
        own = self.variables
        if len(optimizer_variables) != len(own):
            raise ValueError("Argument `optimizer_variables` must be a list of tensors corresponding 1:1 to "
                             f"{type(self).__name__}().variables. Received list with length "
                             f"{len(optimizer_variables)}, but expected {len(own)} variables.")
        if len(trainable_variables) != len(self._trainable_variables):
            raise ValueError("Argument `trainable_variables` must be a list of tensors corresponding 1:1 to the "
                             "trainable variables list that the optimizer was built with. Received "
                             f"len(trainable_variables) == {len(trainable_variables)} whereas the optimizer was "
                             f"built with {len(self._trainable_variables)} variables.")
        everything = list(self._trainable_variables) + own
        saved = [np.array(v.data) for v in everything]
        try:
            for variable, value in zip(everything, list(trainable_variables) + list(optimizer_variables)):
                variable.assign(np.asarray(_as_array(value), dtype=variable.dtype))
            self.apply(grads)
            return ([np.array(v.data) for v in self._trainable_variables], [np.array(v.data) for v in own])
        finally:
            for variable, value in zip(everything, saved):
                variable.assign(value)

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
        try:
            rate = f"{self.learning_rate:g}"
        except (AttributeError, TypeError, ValueError):
            rate = "n/a"
        return f"<{type(self).__name__} name={self.name!r} learning_rate={rate}>"


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
        if parallel_update_applies(variable.data):  # large arrays: this same formula over chunks, in threads
            v_hat = self._slot(self._velocity_hats, variable).data if self.amsgrad else None
            return adam_update(variable.data, m.data, v.data, gradient, alpha, 1 - float(self.beta_1),
                               1 - float(self.beta_2), float(self.epsilon), v_hat)
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


class Adadelta(Optimizer):
    """Adadelta: a step size from the running RMS of past *updates* over that of the gradients.

    ::

        acc_g  <- rho * acc_g + (1 - rho) * g^2
        delta  = -sqrt(acc_dx + eps) * g / sqrt(acc_g + eps)
        acc_dx <- rho * acc_dx + (1 - rho) * delta^2
        w      <- w + lr * delta

    Both accumulators start at 0 (Zeiler 2012 has no ``lr``; Keras keeps one, default 0.001).
    Slots, interleaved per variable: ``<var>_accumulated_grad``, ``<var>_accumulated_delta_var``.
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            variables, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, gradient, variable, learning_rate):
        rho, epsilon = float(self.rho), float(self.epsilon)
        accumulated_grad = self._slot(self._accumulated_grads, variable)
        accumulated_delta = self._slot(self._accumulated_delta_vars, variable)
        self.assign(accumulated_grad, rho * accumulated_grad.data + (1 - rho) * np.square(gradient))
        delta = -(np.sqrt(accumulated_delta.data + epsilon) * gradient) / np.sqrt(accumulated_grad.data + epsilon)
        self.assign(accumulated_delta, rho * accumulated_delta.data + (1 - rho) * np.square(delta))
        self.assign_add(variable, learning_rate * delta)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the second moment.

    With ``t = iterations + 1`` and m, u starting at 0::

        m <- m + (g - m) * (1 - beta_1)
        u <- max(beta_2 * u, |g|)
        w <- w - lr * m / ((1 - beta_1^t) * (u + eps))

    Slots, interleaved per variable: ``<var>_momentum``, ``<var>_norm``.
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._m, self._u = self.add_optimizer_variables(variables, ["momentum", "norm"])

    def update_step(self, gradient, variable, learning_rate):
        local_step = _cast(self.iterations + 1, variable.dtype)
        beta_1_power = np.power(_cast(self.beta_1, variable.dtype), local_step)
        m, u = self._slot(self._m, variable), self._slot(self._u, variable)
        self.assign_add(m, (gradient - m.data) * (1 - float(self.beta_1)))
        self.assign(u, np.maximum(float(self.beta_2) * u.data, np.abs(gradient)))
        self.assign_sub(variable, (learning_rate * m.data) / ((1 - beta_1_power) * (u.data + float(self.epsilon))))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum and Dozat's momentum schedule.

    With ``t = iterations + 1`` and ``mu_t = beta_1 * (1 - 0.5 * 0.96^t)``; once per step (before
    the variables) the running product ``u_product <- u_product * mu_t`` (starting at 1), then
    for each variable::

        m <- m + (g - m) * (1 - beta_1);   v <- v + (g^2 - v) * (1 - beta_2)
        m_hat = mu_{t+1} * m / (1 - u_product * mu_{t+1}) + (1 - mu_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2^t)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    Slots, interleaved: ``<var>_momentum``, ``<var>_velocity``; then the scalar ``u_product``
    (Keras names it ``variable``), last in ``variables``.
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        dtype = variables[0].dtype if variables else config.floatx()
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])
        self._u_product = Variable(np.ones((), dtype=dtype), name="variable", trainable=False, dtype=dtype)
        self._variables.append(self._u_product)
        self._u_product.path = "variable"

    def _backend_update_step(self, grads, variables, learning_rate):
        dtype = self._u_product.dtype
        decay_power = np.power(0.96, _cast(self.iterations + 1, dtype))
        self.assign(self._u_product, self._u_product.data * float(self.beta_1) * (1.0 - 0.5 * decay_power))
        super()._backend_update_step(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        local_step, next_step = _cast(self.iterations + 1, dtype), _cast(self.iterations + 2, dtype)
        decay = _cast(0.96, dtype)
        beta_1, beta_2 = _cast(self.beta_1, dtype), _cast(self.beta_2, dtype)
        u_t = beta_1 * (1.0 - 0.5 * np.power(decay, local_step))
        u_t_1 = beta_1 * (1.0 - 0.5 * np.power(decay, next_step))
        u_product_t = self._u_product.data.astype(dtype)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = np.power(beta_2, local_step)
        m, v = self._slot(self._momentums, variable), self._slot(self._velocities, variable)
        self.assign_add(m, (gradient - m.data) * (1 - beta_1))
        self.assign_add(v, (np.square(gradient) - v.data) * (1 - beta_2))
        m_hat = (u_t_1 * m.data) / (1 - u_product_t_1) + ((1 - u_t) * gradient) / (1 - u_product_t)
        v_hat = v.data / (1 - beta_2_power)
        self.assign_sub(variable, (m_hat * learning_rate) / (np.sqrt(v_hat) + float(self.epsilon)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al. 2013), with L1, L2 and L2-shrinkage regularization.

    With ``p = learning_rate_power`` (-0.5 by default), ``l2 = l2_regularization_strength +
    beta / (2 lr)`` and ``n`` the accumulator (starting at ``initial_accumulator_value``)::

        g'     = g + 2 * l2_shrinkage * w
        n_new  = n + g^2
        z     <- z + g' - (n_new^(-p) - n^(-p)) / lr * w
        w     <- (clip(z, -l1, l1) - z) / (n_new^(-p) / lr + 2 * l2)
        n     <- n_new

    (``clip(z, -l1, l1) - z`` is 0 while |z| <= l1: L1 makes weights exactly zero.)
    Slots, interleaved: ``<var>_accumulator``, ``<var>_linear`` (z).
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        checks = [("initial_accumulator_value", initial_accumulator_value, "positive or zero"),
                  ("learning_rate_power", -learning_rate_power, "negative or zero"),
                  ("l1_regularization_strength", l1_regularization_strength, "positive or zero"),
                  ("l2_regularization_strength", l2_regularization_strength, "positive or zero"),
                  ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, "positive or zero")]
        for argument, value, wanted in checks:
            if value < 0.0:
                received = learning_rate_power if argument == "learning_rate_power" else value
                raise ValueError(f"`{argument}` needs to be {wanted}. Received: {argument}={received}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulators, self._linears = self.add_optimizer_variables(
            variables, ["accumulator", "linear"], initializer=[float(self.initial_accumulator_value), "zeros"])

    def update_step(self, gradient, variable, learning_rate):
        lr = learning_rate
        accumulator, linear = self._slot(self._accumulators, variable), self._slot(self._linears, variable)
        power = float(self.learning_rate_power)
        l1 = float(self.l1_regularization_strength)
        l2 = float(self.l2_regularization_strength) + float(self.beta) / (2.0 * lr)
        grad_to_use = gradient + 2 * float(self.l2_shrinkage_regularization_strength) * variable.data
        new_accumulator = accumulator.data + np.square(gradient)
        self.assign_add(linear, grad_to_use - ((np.power(new_accumulator, -power)
                                                 - np.power(accumulator.data, -power)) / lr) * variable.data)
        quadratic = np.power(new_accumulator, -power) / lr + 2 * l2
        self.assign(variable, (np.clip(linear.data, -l1, l1) - linear.data) / quadratic)
        self.assign(accumulator, new_accumulator)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Lion(Optimizer):
    """Lion (Chen et al. 2023): the sign of an interpolated momentum.

    ::

        w <- w - lr * sign(beta_1 * m + (1 - beta_1) * g)
        m <- beta_2 * m + (1 - beta_2) * g

    Every coordinate moves by exactly lr (or 0), so Lion wants a 3-10x smaller learning rate
    than Adam. ``beta_1`` must be in (0, 1]. Slot: ``<var>_momentum``.
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates "
                             f"to SignSGD. Received: beta_1={beta_1}.")

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        beta_1, beta_2 = _cast(self.beta_1, variable.dtype), _cast(self.beta_2, variable.dtype)
        m = self._slot(self._momentums, variable)
        self.assign_sub(variable, learning_rate * np.sign(m.data * beta_1 + gradient * (1.0 - beta_1)))
        self.assign(m, m.data * beta_2 + gradient * (1.0 - beta_2))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018): a factored second moment, in memory O(rows + cols).

    With ``t = iterations + 1``, ``rho_t = min(lr, 1/sqrt(t))`` (with ``relative_step`` the
    learning rate itself is also capped by 1/sqrt(t)), ``beta_2_t = 1 - t^beta_2_decay`` and
    ``G = g^2 + epsilon_1``:

    - rank >= 2 (the last two axes are factored)::

        r <- beta_2_t * r + (1 - beta_2_t) * mean(G, axis=-1)
        c <- beta_2_t * c + (1 - beta_2_t) * mean(G, axis=-2)
        v  = (r / mean(r, axis=-1))[..., None] * c[..., None, :]

    - rank < 2: ``v <- beta_2_t * v + (1 - beta_2_t) * G``;

    then ``u = g / sqrt(v)``, ``u_hat = u / max(1, rms(u) / clip_threshold)`` and
    ``w <- w - max(epsilon_2, rms(w)) * rho_t * u_hat`` (``rms(x) = sqrt(mean(x^2))``).
    Variables, per model variable: r, c (named after it; int32 placeholders for rank < 2, as in
    Keras) then ``<var>_velocity``. Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._r, self._c, self._v = [], [], []
        for variable in variables:
            name = str(variable.name)
            if len(variable.shape) < 2:  # not factored: placeholders keep Keras's variable list
                self._r.append(self.add_variable((), 0, "int32", name=name))
                self._c.append(self.add_variable((), 0, "int32", name=name))
            elif self._overwrite_variable_with_gradient(variable):
                self._r.append(None)
                self._c.append(None)
            else:
                shape = tuple(variable.shape)
                self._r.append(self.add_variable(shape[:-1], dtype=variable.dtype, name=name))
                self._c.append(self.add_variable(shape[:-2] + shape[-1:], dtype=variable.dtype, name=name))
            self._v.append(None if self._overwrite_variable_with_gradient(variable)
                           else self.add_variable_from_reference(variable, "velocity"))

    @staticmethod
    def _rms(x):
        return np.sqrt(np.mean(np.square(x)))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = learning_rate
        epsilon_2 = _cast(self.epsilon_2, dtype)
        one = _cast(1.0, dtype)
        local_step = _cast(self.iterations + 1, dtype)
        if not callable(self._learning_rate) and self.relative_step:
            lr = np.minimum(lr, 1 / np.sqrt(local_step))
        index = self._get_variable_index(variable)
        r, c, v = self._r[index], self._c[index], self._v[index]
        rho_t = np.minimum(lr, 1 / np.sqrt(local_step))
        alpha_t = np.maximum(epsilon_2, self._rms(variable.data)) * rho_t
        regulated_grad_square = np.square(gradient) + float(self.epsilon_1)
        beta_2_t = 1 - np.power(local_step, float(self.beta_2_decay))
        if len(variable.shape) >= 2:
            self.assign(r, beta_2_t * r.data + (1 - beta_2_t) * np.mean(regulated_grad_square, axis=-1))
            self.assign(c, beta_2_t * c.data + (1 - beta_2_t) * np.mean(regulated_grad_square, axis=-2))
            self.assign(v, np.expand_dims(r.data / np.mean(r.data, axis=-1, keepdims=True), -1)
                        * np.expand_dims(c.data, -2))
        else:
            self.assign(v, beta_2_t * v.data + (1 - beta_2_t) * regulated_grad_square)
        u_t = gradient / np.sqrt(v.data)
        u_t_hat = u_t / np.maximum(one, self._rms(u_t) / float(self.clip_threshold))
        self.assign_sub(variable, alpha_t * u_t_hat)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


class Lamb(Optimizer):
    """LAMB (You et al. 2019): Adam's direction, rescaled per variable by a trust ratio.

    With ``t = iterations + 1``::

        m <- m + (g - m) * (1 - beta_1);   v <- v + (g^2 - v) * (1 - beta_2)
        update = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + eps)
        ratio  = ||w|| / ||update||   (1 if either norm is 0)
        w <- w - ratio * lr * update

    Slots, interleaved: ``<var>_momentum``, ``<var>_velocity``.
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        local_step = _cast(self.iterations + 1, dtype)
        beta_1_power = np.power(_cast(self.beta_1, dtype), local_step)
        beta_2_power = np.power(_cast(self.beta_2, dtype), local_step)
        m, v = self._slot(self._momentums, variable), self._slot(self._velocities, variable)
        self.assign_add(m, (gradient - m.data) * (1 - float(self.beta_1)))
        self.assign_add(v, (np.square(gradient) - v.data) * (1 - float(self.beta_2)))
        m_t_hat = m.data / (1.0 - beta_1_power)
        v_sqrt = np.sqrt(v.data / (1.0 - beta_2_power)) + float(self.epsilon)
        update = m_t_hat / v_sqrt
        w_norm = np.sqrt(np.sum(np.power(variable.data, 2)))
        g_norm = np.sqrt(np.sum(np.power(update, 2)))
        ratio = np.where(w_norm > 0, np.where(g_norm > 0, w_norm / np.where(g_norm > 0, g_norm, 1), 1.0), 1.0)
        self.assign_sub(variable, ratio.astype(dtype) * learning_rate * update)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Muon(Optimizer):
    """Muon (Jordan et al. 2024): orthogonalized momentum for 2-D weights, AdamW for the rest.

    A variable of rank != 2, or whose path contains "embedding" (``exclude_embeddings``) or
    matches a regex of ``exclude_layers``, gets an AdamW step (betas ``adam_beta_*``, rate
    ``lr * adam_lr_ratio``, decay ``adam_weight_decay``). The others::

        m <- m + g + m * (momentum - 1)            (= momentum * m + g)
        G  = g + momentum * m  (nesterov)  or  m
        O  = NewtonSchulz5(G)                       (~ U V^T of G's SVD, 5 quintic steps)
        w <- w - lr * O * sqrt(max(rows, cols)) * rms_rate     (no rescaling if rms_rate is None)

    Newton-Schulz: ``X = G / (||G||_F + 1e-7)`` (transposed if tall), then ``ns_steps`` times
    ``A = X X^T;  X <- a X + (b A + c A A) X`` with (a, b, c) = (muon_a, muon_b, muon_c).
    Slots, per variable: ``<var>_momentum`` and, for AdamW variables, ``<var>_velocity``.
    Other arguments: those of :class:`Optimizer` (``weight_decay`` defaults to 0.004 here).
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
                 muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = exclude_layers or []
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    def _should_use_adamw(self, variable):
        if len(variable.shape) != 2:
            return True
        path = str(getattr(variable, "path", None) or variable.name)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        super().build(variables)
        self.momentums = [None] * len(variables)
        self.adam_velocities = [None] * len(variables)
        for variable in variables:
            if self._overwrite_variable_with_gradient(variable):
                continue
            index = self._get_variable_index(variable)
            self.momentums[index] = self.add_variable_from_reference(variable, "momentum")
            if self._should_use_adamw(variable):
                self.adam_velocities[index] = self.add_variable_from_reference(variable, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self.momentums[index], self.adam_velocities[index]
        gradient = np.asarray(_as_array(gradient), dtype=variable.dtype)
        learning_rate = _cast(learning_rate, variable.dtype)
        if v is not None:
            self._adamw_update_step(gradient, variable, learning_rate * self.adam_lr_ratio, m, v)
        else:
            self._muon_update_step(gradient, variable, learning_rate, m)

    def _muon_update_step(self, gradient, variable, lr, m):
        self.assign_add(m, gradient + m.data * (self.momentum - 1))
        g = gradient + self.momentum * m.data if self.nesterov else m.data
        update = self.zeropower_via_newtonschulz5(g, self.ns_steps)
        self.assign_sub(variable, self.lr_adjust(lr * update))

    def _adamw_update_step(self, gradient, variable, learning_rate, m, v):
        dtype = variable.dtype
        local_step = _cast(self.iterations + 1, dtype)
        beta_1_power = np.power(_cast(self.adam_beta_1, dtype), local_step)
        beta_2_power = np.power(_cast(self.adam_beta_2, dtype), local_step)
        alpha = learning_rate * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, (gradient - m.data) * (1 - self.adam_beta_1))
        self.assign_add(v, (np.square(gradient) - v.data) * (1 - self.adam_beta_2))
        self.assign_sub(variable, (m.data * alpha) / (np.sqrt(v.data) + self.epsilon))

    @staticmethod
    def transpose_last_axis(x):
        return np.swapaxes(_as_array(x), -1, -2)

    def lr_adjust(self, x):
        """``x * sqrt(max(rows, cols)) * rms_rate`` (Moonlight's scaling); ``x`` if rms_rate is None."""
        x = _as_array(x)
        if self.rms_rate is None:
            return x
        return x * np.sqrt(np.maximum(x.shape[0], x.shape[1])).astype(x.dtype) * self.rms_rate

    def zeropower_via_newtonschulz5(self, x, steps):
        """The quintic Newton-Schulz iteration (see the class docstring) on the last two axes."""
        x = _as_array(x)
        if x.ndim < 2:
            raise ValueError(f"Expected gradient or momentum to have at least 2 dimensions. Received: shape={x.shape}")
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = self.transpose_last_axis(x)
        x = x / (np.sqrt(np.sum(np.square(x), axis=(-2, -1), keepdims=True)) + 1e-7)
        for _ in range(steps):
            gram = x @ self.transpose_last_axis(x)
            x = a * x + (b * gram + c * gram @ gram) @ x
        return self.transpose_last_axis(x) if tall else x

    def _apply_weight_decay(self, variables):
        """``w <- w - w * wd * lr`` with ``wd = adam_weight_decay`` for AdamW variables,
        ``weight_decay`` for the others."""
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            decay = self.adam_weight_decay if self._should_use_adamw(variable) else self.weight_decay
            if decay is None:
                continue
            wd, lr = _cast(decay, variable.dtype), _cast(self._current_learning_rate(), variable.dtype)
            variable.assign(variable.data - variable.data * wd * lr)

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al. 2024): no learning-rate schedule, an average instead.

    The model weights y are an interpolation of a fast sequence z (the ``momentum`` slot, starting
    at the initial weights) and its running average x. With ``t = iterations + 1`` and
    ``lr_t = lr * min(t / warmup_steps, 1)`` (no warmup if ``warmup_steps`` is 0)::

        v <- v + (g^2 - v) * (1 - beta_2)
        z_new = z - lr_t * g / (sqrt(v / (1 - beta_2^t)) + eps)
        x_old = (y - (1 - beta_1) * z) / beta_1
        x_new = (1 - 1/t) * x_old + (1/t) * z_new
        y    <- (1 - beta_1) * z_new + beta_1 * x_new

    Slots, interleaved: ``<var>_momentum`` (z), ``<var>_velocity``.
    Other arguments: those of :class:`Optimizer`.
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])
        for momentum, variable in zip(self._momentums, variables):
            if momentum is not None:
                self.assign(momentum, variable.data)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = learning_rate
        local_step = _cast(self.iterations + 1, dtype)
        beta_1, beta_2, epsilon = _cast(self.beta_1, dtype), _cast(self.beta_2, dtype), _cast(self.epsilon, dtype)
        if self.warmup_steps > 0:
            lr = lr * np.minimum(local_step / _cast(self.warmup_steps, dtype), 1.0)
        momentum, velocity = self._slot(self._momentums, variable), self._slot(self._velocities, variable)
        momentum_old = np.array(momentum.data)
        bias_correction_2 = 1 - np.power(beta_2, local_step)
        self.assign_add(velocity, (np.square(gradient) - velocity.data) * (1 - beta_2))
        denominator = np.sqrt(velocity.data / bias_correction_2) + epsilon
        self.assign_sub(momentum, (lr * gradient) / denominator)
        weight = 1.0 / local_step
        x_old = (variable.data - (1 - beta_1) * momentum_old) / beta_1
        x_new = (1 - weight) * x_old + weight * momentum.data
        self.assign(variable, (1 - beta_1) * momentum.data + beta_1 * x_new)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around an ``inner_optimizer`` (Keras's mixed-precision helper).

    ``scale_loss(loss) = loss * scale``; ``apply`` divides the gradients by ``scale`` and:

    - if every gradient is finite: the inner optimizer steps, and after ``dynamic_growth_steps``
      finite steps in a row the scale doubles;
    - otherwise the step is skipped and the scale halves.

    numpy_nn computes in float32/float64, where the scale changes nothing but the skipped
    non-finite steps; it is here so that Keras models and configs that use it load and train.
    Variables: its own ``iteration``, ``learning_rate`` (unused, 0), ``step_counter``,
    ``dynamic_scale``, then the inner optimizer's. Config keys: ``name``, ``inner_optimizer``,
    ``initial_scale``, ``dynamic_growth_steps``.
    """

    _BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                      "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                      "loss_scale_factor": None, "gradient_accumulation_steps": None}

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for argument, default in self._BASE_DEFAULTS.items():
            if argument in kwargs and kwargs.pop(argument) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{argument}`. Instead, set `{argument}` on "
                                 "the `inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs.keys())}`.")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = get(inner_optimizer)
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = dynamic_growth_steps
        self.inner_optimizer.loss_scale_factor = None

    def build(self, variables):
        if self.built:
            return
        self.step_counter = self.add_variable((), 0, "int32", name="step_counter")
        self.dynamic_scale = self.add_variable((), float(self.initial_scale), "float32", name="dynamic_scale")
        self.inner_optimizer.build(variables)
        super().build(variables)

    @property
    def variables(self):
        return self._variables[:] + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "inner_optimizer"):
            self.inner_optimizer.learning_rate = value

    def scale_loss(self, loss):
        scale = float(self.dynamic_scale.data) if self.built else self.initial_scale
        return loss * scale

    @staticmethod
    def check_finite(grads):
        return all(np.all(np.isfinite(_as_array(g))) for g in grads if g is not None)

    def apply(self, grads, variables=None):
        grads = list(grads)
        if not self.built:
            self.build(variables)
            self.built = True
        tracked = list(variables) if variables is not None else self._trainable_variables
        if self.check_finite(grads):
            scale = self.dynamic_scale.data
            unscaled = [g if g is None or self._overwrite_variable_with_gradient(v) else _as_array(g) / scale
                        for g, v in zip(grads, tracked)]
            self.inner_optimizer.apply(unscaled, variables)
            if int(self.step_counter.data) == self.dynamic_growth_steps - 1:
                self.step_counter.assign(np.int32(0))
                self.dynamic_scale.assign(self.dynamic_scale.data * 2.0)
            else:
                self.step_counter.assign_add(1)
        else:
            self.step_counter.assign(np.int32(0))
            self.dynamic_scale.assign(self.dynamic_scale.data * 0.5)

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        own = self.variables
        saved = [np.array(v.data) for v in list(self._trainable_variables) + own]
        try:
            for variable, value in zip(list(self._trainable_variables) + own,
                                       list(trainable_variables) + list(optimizer_variables)):
                variable.assign(np.asarray(_as_array(value), dtype=variable.dtype))
            self.apply(grads)
            return [np.array(v.data) for v in self._trainable_variables], [np.array(v.data) for v in own]
        finally:
            for variable, value in zip(list(self._trainable_variables) + own, saved):
                variable.assign(value)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config_dict, custom_objects=None):
        config_dict = dict(config_dict)
        config_dict["inner_optimizer"] = deserialize(config_dict["inner_optimizer"])
        return cls(**config_dict)


class OptimizerMap(collections.abc.MutableMapping):
    """Which optimizer updates which variable, by variable path: ``map[path]`` is the exact key's
    optimizer, else the one key matching ``path`` as a regex (``re.fullmatch``), else
    ``default_optimizer``. Calling it on a variable looks up ``variable.path``."""

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"default_optimizer must be a Keras Optimizer instance. Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value {self._optimizer_map[key]}. "
                             "Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a Keras Optimizer instance. Received: {optimizer}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[str(getattr(variable, "path", None) or variable.name)]

    def get_config(self):
        return {"default_optimizer": serialize(self._default_optimizer),
                "optimizer_map": {key: serialize(opt) for key, opt in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config_dict, custom_objects=None):
        optimizer_map = config_dict.get("optimizer_map") or {}
        if isinstance(optimizer_map, dict) and optimizer_map.get("class_name") == "__dict__":
            optimizer_map = optimizer_map.get("config", {})
        return cls(deserialize(config_dict["default_optimizer"]),
                   {key: deserialize(value) for key, value in optimizer_map.items()})


class MultiOptimizer(Optimizer):
    """Several optimizers in one: ``optimizer_map`` (an :class:`OptimizerMap` or a callable
    ``variable -> optimizer``) picks the optimizer of each variable; each inner optimizer is
    built on, and steps, its own variables. ``variables`` lists its own ``iteration`` and
    ``learning_rate`` (unused) then every inner optimizer's. ``loss_scale_factor`` is passed
    down to every inner optimizer."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        self._inner_optimizers = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        inner = list(optimizer_map.values()) if hasattr(optimizer_map, "values") else []
        default = getattr(optimizer_map, "default_optimizer", None)
        for optimizer in inner + ([default] if default is not None else []):
            if not any(optimizer is o for o in self._inner_optimizers):
                optimizer.loss_scale_factor = loss_scale_factor
                self._inner_optimizers.append(optimizer)

    @property
    def loss_scale_factor(self):
        return getattr(self, "_loss_scale_factor", None)

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for optimizer in getattr(self, "_inner_optimizers", []):
            optimizer.loss_scale_factor = value

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        self._var_to_optimizer_idx = {}
        per_optimizer = [[] for _ in self._inner_optimizers]
        for variable in variables:
            optimizer = self._optimizer_map(variable)
            if not isinstance(optimizer, Optimizer):
                raise ValueError(f"Optimizer for variable {variable} is not an Optimizer instance.")
            if isinstance(optimizer, LossScaleOptimizer):
                raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
            if isinstance(optimizer, MultiOptimizer):
                raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
            if not any(optimizer is o for o in self._inner_optimizers):
                optimizer.loss_scale_factor = self.loss_scale_factor
                self._inner_optimizers.append(optimizer)
                per_optimizer.append([])
            index = next(i for i, o in enumerate(self._inner_optimizers) if o is optimizer)
            self._var_to_optimizer_idx[id(variable)] = index
            per_optimizer[index].append(variable)
        for optimizer, own in zip(self._inner_optimizers, per_optimizer):
            if own:
                optimizer.build(own)
        super().build(variables)

    @property
    def optimizers(self):
        return self._inner_optimizers

    @property
    def variables(self):
        return self._variables[:] + [v for optimizer in self._inner_optimizers for v in optimizer.variables]

    @property
    def learning_rate(self):
        raise AttributeError("Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate on "
                             "the individual sub-optimizers instead.")

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "_optimizer_map"):
            raise AttributeError("Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the "
                                 "individual sub-optimizers instead.")

    def apply(self, grads, variables=None):
        grads = list(grads)
        if len(grads) == 0:
            return
        if variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built "
                                 "on a list of variables. Call `optimizer.build(trainable_variables)` first.")
            variables = self._trainable_variables
        variables = list(variables)
        if not self.built:
            self.build(variables)
        if len(grads) != len(self._trainable_variables):
            raise ValueError(f"Gradients must match trainable variables one-to-one. Received {len(grads)} "
                             f"gradients and {len(self._trainable_variables)} variables.")
        groups = [([], []) for _ in self._inner_optimizers]
        for g, v in zip(grads, variables):
            group = groups[self._var_to_optimizer_idx[id(v)]]
            group[0].append(g)
            group[1].append(v)
        for optimizer, (own_grads, own_variables) in zip(self._inner_optimizers, groups):
            if own_grads:
                optimizer.apply(own_grads, own_variables)
        self._iterations.assign_add(1)

    def finalize_variable_values(self, var_list):
        if not self.built:
            return
        groups = [[] for _ in self._inner_optimizers]
        for variable in var_list:
            groups[self._var_to_optimizer_idx[id(variable)]].append(variable)
        for optimizer, own in zip(self._inner_optimizers, groups):
            if own:
                optimizer.finalize_variable_values(own)

    def get_config(self):
        optimizer_map = self._optimizer_map
        serialized = ({"module": "keras.optimizers", "class_name": "OptimizerMap",
                       "config": optimizer_map.get_config(), "registered_name": None}
                      if isinstance(optimizer_map, OptimizerMap) else optimizer_map)
        return {"optimizer_map": serialized, "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config_dict, custom_objects=None):
        config_dict = dict(config_dict)
        optimizer_map = config_dict["optimizer_map"]
        if isinstance(optimizer_map, dict):
            config_dict["optimizer_map"] = OptimizerMap.from_config(optimizer_map.get("config", optimizer_map))
        return cls(**config_dict)


# ------------------------------------------------------------------------------------------------
# Lookup
# ------------------------------------------------------------------------------------------------
_OPTIMIZERS = {cls.__name__.lower(): cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Ftrl, Lion, Adafactor, Lamb, Muon,
    ScheduleFreeAdamW, LossScaleOptimizer, MultiOptimizer, OptimizerMap)}


def serialize(optimizer):
    """A Keras-style config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config_dict, custom_objects=None):
    """An optimizer from ``{"class_name": "Adam", "config": {...}}`` (class name case-insensitive)."""
    name = str(config_dict.get("class_name", ""))
    if name.lower() not in _OPTIMIZERS:
        from .naming import did_you_mean
        raise ValueError(f"Unknown optimizer {name!r}; valid names are {sorted(_OPTIMIZERS)}."
                         f"{did_you_mean(name, _OPTIMIZERS)}")
    return _OPTIMIZERS[name.lower()].from_config(dict(config_dict.get("config") or {}))


def get(identifier):
    """An optimizer from a class name in any case (``"sgd"``, ``"adam"``, ``"nadam"``, ``"Lion"``
    ...), a Keras config dict, or an ``Optimizer`` (returned unchanged). ``None`` gives None."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, (dict, str)):
        config_dict = identifier if isinstance(identifier, dict) else {"class_name": identifier, "config": {}}
        optimizer = deserialize(config_dict)
        if isinstance(optimizer, Optimizer):
            return optimizer
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r} "
                     f"(expected a name among {sorted(_OPTIMIZERS)}, a config dict or an Optimizer)")


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl",
           "Lion", "Adafactor", "Lamb", "Muon", "ScheduleFreeAdamW", "LossScaleOptimizer", "MultiOptimizer",
           "OptimizerMap", "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "schedules", "serialize", "deserialize", "get"]
