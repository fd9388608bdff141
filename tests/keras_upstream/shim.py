"""A thin stand-in for the ``keras`` package, built on numpy_nn's public API.

Keras's own unit tests (``keras/src/<family>/*_test.py`` in site-packages) import
``keras.src.backend``, ``keras.src.ops``, ``keras.src.testing``, ``keras.src.optimizers`` ...
``install()`` puts modules with those names into ``sys.modules`` so that the test files run
unchanged, against numpy_nn:

- ``optimizers``, ``losses``, ``metrics``, ``layers``, ``models``, ``callbacks``,
  ``initializers``, ``constraints``, ``regularizers`` (and any of their submodules, e.g.
  ``keras.src.optimizers.adam`` or ``keras.src.metrics.confusion_metrics``) are numpy_nn's;
- ``backend`` and ``ops`` are small NumPy translations (what a test needs to build inputs:
  ``ops.array``, ``ops.ones``, ``backend.Variable``, ``backend.convert_to_numpy`` ...), with
  Keras's dtype rule (Python floats become float32);
- ``testing.TestCase`` has Keras's assertion helpers and ``run_class_serialization_test``.

Anything else (KerasTensor, sparse tensors, mixed-precision policies, symbolic specs) is left
out on purpose: a test that needs it errors with ``ModuleNotFoundError``/``AttributeError``,
which the harness reports as "cannot run", never as a pass.

Only ever install this in a process of its own (``run.py`` does): it replaces ``keras``.
"""
import contextlib
import importlib.abc
import importlib.machinery
import json
import sys
import types
import numpy as np
from absl.testing import parameterized

import numpy_nn as nn
from numpy_nn.autograd.tensor import Tensor, Variable as NNVariable


def _to_numpy(x):
    if isinstance(x, Tensor):
        return np.array(x.data)
    if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in x):
        return np.array([_to_numpy(v) for v in x])
    return np.asarray(x)


def _standardize_dtype(dtype):
    if dtype is None:
        return nn.floatx()
    if dtype == "int":
        return "int32"
    if str(dtype) == "bfloat16":
        return "bfloat16"
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int32"
    if dtype is bool:
        return "bool"
    if hasattr(dtype, "name") and not isinstance(dtype, np.dtype) and not isinstance(dtype, type):
        dtype = dtype.name
    return str(np.dtype(dtype))


class _KerasArray(np.ndarray):
    """An ndarray that can carry a Keras mask (``backend.set_keras_mask``)."""


def _standardize_dtype_object(dtype):
    return nn.losses.resolve_dtype(_standardize_dtype(dtype))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """Keras's conversion rule on NumPy arrays: Python floats -> floatx, Python ints -> int32."""
    if isinstance(x, Tensor):
        array = x.data
    elif isinstance(x, np.ndarray) or np.isscalar(x) and isinstance(x, np.generic):
        array = np.asarray(x)
    else:
        array = _to_numpy(x)
        if array.dtype == np.float64:
            array = array.astype(nn.floatx())
        elif array.dtype == np.int64:
            array = array.astype("int32")
    if dtype is not None:
        array = array.astype(_standardize_dtype_object(dtype))
    return np.asarray(array).view(_KerasArray)


# ------------------------------------------------------------------------------------------------
# keras.backend
# ------------------------------------------------------------------------------------------------
class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, NNVariable)


class Variable(metaclass=_VariableMeta):
    """``keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)`` -> nn.Variable."""

    def __new__(cls, initializer=None, shape=None, dtype=None, trainable=True, autocast=True,
                aggregation="none", synchronization="auto", name=None, **kwargs):
        dtype = _standardize_dtype(dtype)
        if isinstance(initializer, str) or isinstance(initializer, nn.initializers.Initializer):
            value = nn.initializers.get(initializer)(tuple(shape), dtype=dtype)
        elif callable(initializer) and not isinstance(initializer, (np.ndarray, Tensor)):
            value = initializer(tuple(shape), dtype=dtype)
        else:
            value = _to_numpy(initializer)
        variable = NNVariable(np.array(value, dtype=dtype), name=name, trainable=trainable, dtype=dtype)
        variable.path = "/".join(_scopes + [str(name or "variable")])
        return variable


def _module(name, doc=None, parent=None, **attributes):
    """A package-like module; unknown attributes are looked up on ``parent`` (a numpy_nn module)."""
    module = types.ModuleType(name, doc)
    module.__path__ = []
    module.__dict__.update(attributes)
    if parent is not None:
        def lookup(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return getattr(parent, attr)
        module.__getattr__ = lookup
    return module


_scopes = []


@contextlib.contextmanager
def _name_scope(name, caller=None, **kwargs):
    """Keras's name scopes, for the paths of variables created inside (``dense/kernel``)."""
    _scopes.append(name)
    try:
        yield
    finally:
        _scopes.pop()


backend = _module(
    "keras.src.backend",
    Variable=Variable, KerasVariable=Variable, convert_to_tensor=convert_to_tensor,
    convert_to_numpy=_to_numpy, floatx=nn.floatx, set_floatx=nn.set_floatx, epsilon=lambda: 1e-7,
    image_data_format=nn.config.image_data_format, set_image_data_format=nn.config.set_image_data_format,
    config=nn.config,
    backend=lambda: "numpy", standardize_dtype=_standardize_dtype, name_scope=_name_scope,
    is_tensor=lambda x: isinstance(x, (Tensor, np.ndarray)), shape=lambda x: tuple(np.shape(x)),
    SUPPORTS_SPARSE_TENSORS=False, SUPPORTS_RAGGED_TENSORS=False,
    set_keras_mask=lambda x, mask: setattr(x, "_keras_mask", mask), numpy=np,
    result_type=lambda *dtypes: str(np.result_type(*[np.dtype(d) for d in dtypes])),
)
class KerasTensor:
    """Symbolic tensors are not part of the shim: numpy_nn's graph uses ``nn.Input`` instead."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("KerasTensor (symbolic shape inference) is not part of the numpy_nn shim")


backend_common = _module("keras.src.backend.common", standardize_dtype=_standardize_dtype,
                         keras_tensor=_module("keras.src.backend.common.keras_tensor", KerasTensor=KerasTensor))
backend.common = backend_common


# ------------------------------------------------------------------------------------------------
# keras.ops: NumPy, with Keras's default dtypes for constructors
# ------------------------------------------------------------------------------------------------
def _float_constructor(fn):
    def make(*args, dtype=None, **kwargs):
        return fn(*args, dtype=_standardize_dtype(dtype), **kwargs)
    return make


def _numpy_wrapper(fn):
    def call(*args, **kwargs):
        args = [v.data if isinstance(v, Tensor) else v for v in args]
        kwargs = {k: (v.data if isinstance(v, Tensor) else v) for k, v in kwargs.items()}
        if "axis" in kwargs and isinstance(kwargs["axis"], list):
            kwargs["axis"] = tuple(kwargs["axis"])
        return fn(*args, **kwargs)
    return call


def _arange(start, stop=None, step=1, dtype=None):
    if dtype is None:
        dtype = "int32" if all(isinstance(v, int) for v in (start, stop, step) if v is not None) else nn.floatx()
    return np.arange(start, stop, step).astype(_standardize_dtype(dtype))


def _one_hot(x, num_classes, axis=-1, dtype=None):
    x = np.asarray(_to_numpy(x)).astype(int)
    out = (x[..., None] == np.arange(num_classes)).astype(_standardize_dtype(dtype))
    return np.moveaxis(out, -1, axis)


class _Ops(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if hasattr(np, name) and callable(getattr(np, name)):
            return _numpy_wrapper(getattr(np, name))
        raise AttributeError(f"keras.ops.{name} is not part of the numpy_nn test shim")


ops = _Ops("keras.src.ops")
ops.__dict__.update(
    array=lambda x, dtype=None: convert_to_tensor(x, dtype), convert_to_tensor=convert_to_tensor,
    convert_to_numpy=_to_numpy, cast=lambda x, dtype: convert_to_tensor(x, dtype),
    zeros=_float_constructor(np.zeros), ones=_float_constructor(np.ones),
    full=lambda shape, value, dtype=None: np.full(shape, value, dtype=_standardize_dtype(dtype)),
    arange=_arange, one_hot=_one_hot, shape=lambda x: tuple(np.shape(x)),
    zeros_like=_numpy_wrapper(np.zeros_like), ones_like=_numpy_wrapper(np.ones_like),
    sigmoid=lambda x: 1.0 / (1.0 + np.exp(-_to_numpy(x))),
)


# ------------------------------------------------------------------------------------------------
# keras.saving: serialize / deserialize through each family's own functions
# ------------------------------------------------------------------------------------------------
_FAMILIES = {"keras.optimizers": nn.optimizers, "keras.optimizers.schedules": None, "keras.losses": nn.losses,
             "keras.metrics": nn.metrics, "keras.layers": nn.layers}
_custom_objects = {}


def serialize_keras_object(obj):
    for family in (nn.optimizers, nn.losses, nn.metrics):
        base = {nn.optimizers: nn.optimizers.Optimizer, nn.losses: nn.losses.Loss,
                nn.metrics: nn.metrics.Metric}[family]
        if isinstance(obj, base):
            return family.serialize(obj)
    if isinstance(obj, nn.optimizers.LearningRateSchedule):
        return nn.optimizers.schedules.serialize(obj)
    if isinstance(obj, nn.layers.Layer):
        return {"module": "keras.layers", "class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": None}
    raise TypeError(f"The numpy_nn test shim cannot serialize {obj!r}")


def deserialize_keras_object(config, custom_objects=None):
    module = config.get("module", "")
    name = config.get("class_name")
    custom = {**_custom_objects, **(custom_objects or {})}
    if name in custom:
        return custom[name].from_config(config["config"])
    if module == "keras.optimizers.schedules":
        return nn.optimizers.schedules.deserialize(config)
    if module.startswith("keras.optimizers"):
        return nn.optimizers.deserialize(config)
    if module.startswith("keras.losses"):
        return nn.losses.deserialize(config) if hasattr(nn.losses, "deserialize") else nn.losses.get(config)
    if module.startswith("keras.metrics"):
        return nn.metrics.deserialize(config) if hasattr(nn.metrics, "deserialize") else nn.metrics.get(config)
    if module.startswith("keras.layers"):
        return getattr(nn.layers, name).from_config(config["config"])
    raise TypeError(f"The numpy_nn test shim cannot deserialize {config!r}")


@contextlib.contextmanager
def custom_object_scope(objects):
    previous = dict(_custom_objects)
    _custom_objects.update(objects or {})
    try:
        yield
    finally:
        _custom_objects.clear()
        _custom_objects.update(previous)


def register_keras_serializable(package="Custom", name=None):
    def decorate(cls):
        _custom_objects[name or cls.__name__] = cls
        return cls
    return decorate


saving = _module("keras.src.saving", serialize_keras_object=serialize_keras_object,
                 deserialize_keras_object=deserialize_keras_object, custom_object_scope=custom_object_scope,
                 register_keras_serializable=register_keras_serializable)


# ------------------------------------------------------------------------------------------------
# keras.testing.TestCase
# ------------------------------------------------------------------------------------------------
def _json_with_tuples(value):
    def encode(obj):
        if isinstance(obj, tuple):
            return {"__tuple__": [encode(v) for v in obj]}
        if isinstance(obj, list):
            return [encode(v) for v in obj]
        if isinstance(obj, dict):
            return {k: encode(v) for k, v in obj.items()}
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
        return obj
    return json.dumps(encode(value), sort_keys=True, indent=2, default=repr)


class TestCase(parameterized.TestCase):
    """Keras's ``testing.TestCase`` assertions (tolerances and defaults as in Keras)."""
    maxDiff = None

    def setUp(self):
        nn.layers.clear_session()
        super().setUp()

    def get_temp_dir(self):
        import shutil
        import tempfile
        path = tempfile.mkdtemp()
        self.addCleanup(lambda: shutil.rmtree(path, ignore_errors=True))
        return path

    def assertAllClose(self, actual, desired, atol=1e-6, rtol=1e-6, tpu_atol=None, tpu_rtol=None, msg=None):
        np.testing.assert_allclose(_to_numpy(actual), _to_numpy(desired), atol=atol, rtol=rtol, err_msg=msg or "")

    def assertNotAllClose(self, x1, x2, atol=1e-6, rtol=1e-6, msg=None):
        try:
            self.assertAllClose(x1, x2, atol=atol, rtol=rtol)
        except AssertionError:
            return
        raise AssertionError(f"The two values are close at all elements. {msg or ''} Values: {x1}")

    def assertAlmostEqual(self, actual, desired, decimal=3, tpu_decimal=None, msg=None, **kwargs):
        np.testing.assert_almost_equal(_to_numpy(actual), _to_numpy(desired), decimal=decimal, err_msg=msg or "")

    def assertAllEqual(self, actual, desired, msg=None):
        np.testing.assert_array_equal(_to_numpy(actual), _to_numpy(desired), err_msg=msg or "")

    def assertLen(self, iterable, expected_len, msg=None):
        self.assertEqual(len(iterable), expected_len, msg=msg)

    def assertDType(self, x, dtype, msg=None):
        x_dtype = _standardize_dtype(x.dtype if hasattr(x, "dtype") else type(x))
        self.assertEqual(x_dtype, _standardize_dtype(dtype), msg=msg)

    def run_class_serialization_test(self, instance, custom_objects=None):
        cls = type(instance)
        config = instance.get_config()
        config_json = _json_with_tuples(config)
        ref_dir = set(dir(instance))
        with custom_object_scope(custom_objects):
            revived = cls.from_config(config)
        self.assertEqual(config_json, _json_with_tuples(revived.get_config()))
        self.assertEqual(ref_dir, set(dir(revived)))
        serialized = json.loads(json.dumps(serialize_keras_object(instance), default=repr))
        with custom_object_scope(custom_objects):
            revived = deserialize_keras_object(serialized)
        self.assertEqual(config_json, _json_with_tuples(revived.get_config()))
        self.assertEqual(ref_dir - {"__annotations__"}, set(dir(revived)) - {"__annotations__"})
        return revived

    def run_layer_test(self, layer_cls, init_kwargs, input_shape=None, input_dtype=None, input_data=None,
                       call_kwargs=None, expected_output_shape=None, expected_output_dtype=None,
                       expected_output=None, expected_num_trainable_weights=None,
                       expected_num_non_trainable_weights=None, expected_num_non_trainable_variables=None,
                       expected_num_seed_generators=None, expected_num_losses=None, supports_masking=None,
                       run_training_check=True, run_mixed_precision_check=True, assert_built_after_instantiation=False,
                       **kwargs):
        """The eager part of Keras's layer test: config round trip, one call, shapes and counts."""
        layer = layer_cls(**init_kwargs)
        self.run_class_serialization_test(layer)
        if input_data is None:
            input_data = np.random.random(input_shape).astype(input_dtype or nn.floatx())
        output = layer(input_data, **(call_kwargs or {}))
        if expected_output_shape is not None:
            self.assertEqual(tuple(output.shape), tuple(expected_output_shape))
        if expected_output is not None:
            self.assertAllClose(output, expected_output)
        if expected_num_trainable_weights is not None:
            self.assertLen(layer.trainable_weights, expected_num_trainable_weights)
        if expected_num_non_trainable_weights is not None:
            self.assertLen(layer.non_trainable_weights, expected_num_non_trainable_weights)
        if expected_num_losses is not None:
            self.assertLen(layer.losses, expected_num_losses)
        if supports_masking is not None and hasattr(layer, "supports_masking"):
            self.assertEqual(bool(layer.supports_masking), supports_masking)


testing = _module("keras.src.testing", TestCase=TestCase)


# ------------------------------------------------------------------------------------------------
# The package tree
# ------------------------------------------------------------------------------------------------
def _random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return np.random.normal(mean, stddev, size=shape).astype(_standardize_dtype(dtype))


def _models():
    return _module("keras.src.models", Model=nn.Model, Sequential=nn.Sequential)


def _layers():
    return _module("keras.src.layers", parent=nn.layers, Input=nn.Input)


def _dtype_policies():
    """Only the float32 policy exists in numpy_nn (no mixed precision)."""
    current = "float32"

    def set_dtype_policy(policy):
        if policy != current:
            raise NotImplementedError(f"dtype policy {policy!r}: numpy_nn has no mixed precision")

    def policy(name):
        raise NotImplementedError(f"DTypePolicy({name!r}): numpy_nn has no mixed precision")

    inner = _module("keras.src.dtype_policies.dtype_policy", dtype_policy=lambda: current,
                    set_dtype_policy=set_dtype_policy)
    return _module("keras.src.dtype_policies", dtype_policy=inner, DTypePolicy=policy)


def _build_tree():
    utils = _module("keras.src.utils", set_random_seed=nn.set_random_seed)
    random = _module("keras.src.random", normal=_random_normal)
    src = _module("keras.src", backend=backend, ops=ops, testing=testing, saving=saving, utils=utils,
                  random=random, optimizers=nn.optimizers, losses=nn.losses, metrics=nn.metrics,
                  layers=_layers(), models=_models(), callbacks=nn.callbacks, initializers=nn.initializers,
                  constraints=nn.constraints, regularizers=nn.regularizers, dtype_policies=_dtype_policies())
    top = _module("keras", src=src, backend=backend, ops=ops, optimizers=nn.optimizers, losses=nn.losses,
                  metrics=nn.metrics, layers=src.layers, callbacks=nn.callbacks, initializers=nn.initializers,
                  Model=nn.Model, Sequential=nn.Sequential, Input=nn.Input, Variable=Variable,
                  utils=utils, random=random, saving=saving)
    return top, src


# numpy_nn modules standing for every submodule of these Keras packages
_FAMILY_MODULES = {"optimizers": nn.optimizers, "losses": nn.losses, "metrics": nn.metrics,
                   "callbacks": nn.callbacks, "initializers": nn.initializers}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self):
        self.top, self.src = _build_tree()
        self.fixed = {"keras": self.top, "keras.src": self.src, "keras.src.backend": backend,
                      "keras.src.backend.common": backend_common, "keras.src.ops": ops,
                      "keras.src.backend.common.keras_tensor": backend_common.keras_tensor,
                      "keras.src.testing": testing, "keras.src.saving": saving, "keras.src.utils": self.src.utils,
                      "keras.src.random": self.src.random, "keras.src.layers": self.src.layers,
                      "keras.src.models": self.src.models, "keras.ops": ops, "keras.backend": backend,
                      "keras.src.optimizers.schedules": nn.optimizers.schedules,
                      "keras.optimizers.schedules": nn.optimizers.schedules}

    def _resolve(self, fullname):
        if fullname in self.fixed:
            return self.fixed[fullname]
        parts = fullname.split(".")
        family = parts[2] if parts[:2] == ["keras", "src"] and len(parts) >= 3 else (
            parts[1] if len(parts) >= 2 else None)
        if family in _FAMILY_MODULES:
            # every submodule (keras.src.optimizers.adam, keras.src.metrics.confusion_metrics...)
            # is a view of the one numpy_nn module of that family
            self.fixed[fullname] = _module(fullname, parent=_FAMILY_MODULES[family])
            return self.fixed[fullname]
        if parts[:3] in (["keras", "src", "layers"], ["keras", "src", "models"]):
            self.fixed[fullname] = _module(fullname, parent=self.fixed["keras.src." + parts[2]])
            return self.fixed[fullname]
        if parts[:3] == ["keras", "src", "dtype_policies"]:
            return self.src.dtype_policies if len(parts) == 3 else self.src.dtype_policies.dtype_policy
        return None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith("keras."):
            return None
        if self._resolve(fullname) is None:
            return None  # -> ModuleNotFoundError: the test cannot run here
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = self._resolve(spec.name)
        if module in _FAMILY_MODULES.values():  # never let importlib write into numpy_nn's modules
            module = self.fixed[spec.name] = _module(spec.name, parent=module)
        return module

    def exec_module(self, module):
        pass


def install():
    """Replace ``keras`` in this process by the numpy_nn shim (idempotent)."""
    for name in list(sys.modules):
        if name == "keras" or name.startswith("keras."):
            del sys.modules[name]
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
