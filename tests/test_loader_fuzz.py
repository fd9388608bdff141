"""Loader safety fuzzing: hostile ``.keras`` files either load or raise ``LoadError``, nothing else.

Seeds are three valid files written by ``nn.saving.save_model`` (a Functional Conv/BN/Dense model
with optimizer state, a Sequential, a model with dict inputs and a shared layer). Hypothesis
mutates them at four levels:

    bytes   flips, truncations, insertions and deletions in the zip file itself
    json    config.json edits: deleted keys, values of another type, duplicated/renamed layers,
            keras_history pointing at missing layers or making cycles, huge numbers, deep nesting
    h5      model.weights.h5 edits: datasets of another shape/dtype/rank, deleted or extra
            datasets, soft/external links, virtual and external-storage datasets
    zip     member lists: path traversal names, duplicates, lying size headers, zip bombs

For every mutated file ``attempt`` asserts: the load either succeeds (and the model then predicts
finite numbers on finite inputs, when its weights are finite) or raises ``LoadError``; no other
exception escapes; nothing is written (the working directory and the temporary directory are
swapped for empty folders during the load, and the fuzz folder is listed before and after); and
no code from the file runs (canaries: a Lambda whose bytecode would write a marker file, classes
whose ``module`` would import the stdlib module ``this``). The number of files tried per strategy
is printed at the end of the module (run with ``-s``) and recorded in docs/loader-safety.md.
"""
import base64
import collections
import contextlib
import io
import json
import marshal
import os
import sys
import tempfile
import traceback
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

h5py = pytest.importorskip("h5py")

from numpy_nn.layers.conv import Conv2D  # noqa: E402
from numpy_nn.layers.core import Dense  # noqa: E402
from numpy_nn.layers.dropout import Dropout  # noqa: E402
from numpy_nn.layers.merge import Add  # noqa: E402
from numpy_nn.layers.normalization import BatchNormalization  # noqa: E402
from numpy_nn.layers.pooling import GlobalAveragePooling2D  # noqa: E402
from numpy_nn.models import Input, Model, Sequential  # noqa: E402
from numpy_nn.saving import LoadError, load_model, load_weights, save_model  # noqa: E402

COUNTS = collections.Counter()        # files tried per strategy (printed at module teardown)
OUTCOMES = collections.Counter()      # (strategy, "loaded" | "LoadError")
FUZZ_SETTINGS = dict(suppress_health_check=list(HealthCheck), deadline=None)


# ---------------------------------------------------------------------------------------------
# Seeds: three valid files
# ---------------------------------------------------------------------------------------------
def _functional():
    image = Input((6, 6, 2), name="image")
    x = Conv2D(3, 3, padding="same", name="conv")(image)
    x = BatchNormalization(name="bn")(x)
    x = GlobalAveragePooling2D(name="gap")(x)
    x = Dense(4, activation="relu", name="hidden")(x)
    model = Model(image, Dense(2, name="out")(x), name="cnn")
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((4, 6, 6, 2)).astype("float32"), rng.standard_normal((4, 2)).astype("float32"),
              epochs=1, verbose=0)  # builds the optimizer, so optimizer/vars is in the file
    return model


def _sequential():
    return Sequential([Input((5,)), Dense(4, activation="relu", name="d1"), Dropout(0.2, name="drop"),
                       Dense(3, name="d2")], name="seq")


def _shared_dict_inputs():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = Dense(3, name="shared")
    merged = Add(name="add")([shared(a), shared(b)])
    return Model({"a": a, "b": b}, Dense(2, name="head")(merged), name="shared_net")


class SeedFiles(list):
    """``[(name, bytes)]`` with a short repr (Hypothesis prints its arguments on failure)."""

    def __repr__(self):
        return f"<seed files {[name for name, _ in self]}>"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """``[(name, bytes of the .keras file)]`` for the three seed models."""
    folder = tmp_path_factory.mktemp("seeds")
    files = SeedFiles()
    for build in (_functional, _sequential, _shared_dict_inputs):
        path = folder / f"{build.__name__.strip('_')}.keras"
        save_model(build(), path)
        files.append((path.stem, path.read_bytes()))
    return files


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    lines = [f"  {strategy:8s} {COUNTS[strategy]:5d} files  (loaded {OUTCOMES[strategy, 'loaded']}, "
             f"LoadError {OUTCOMES[strategy, 'LoadError']})" for strategy in sorted(COUNTS)]
    print("\nloader fuzzing, files tried per strategy:\n" + "\n".join(lines) + f"\n  total    {sum(COUNTS.values())}")


# ---------------------------------------------------------------------------------------------
# Zip plumbing
# ---------------------------------------------------------------------------------------------
def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip(entries, compression=zipfile.ZIP_STORED):
    """``entries``: a list of ``(name, bytes)``; duplicates are kept (zipfile warns, we silence it)."""
    buffer = io.BytesIO()
    with warnings_silenced(), zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries:
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
    return buffer.getvalue()


@contextlib.contextmanager
def warnings_silenced():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def with_member(data, name, content):
    files = members(data)
    files[name] = content
    return make_zip(list(files.items()))


def set_declared_size(data, name, size):
    """Rewrite the uncompressed size a zip's central directory declares for member ``name``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(stored_name(name))
        start = archive.start_dir
        for entry in archive.infolist():  # central directory entries are in infolist() order
            if entry is info:
                break
            start += 46 + len(entry.orig_filename.encode()) + len(entry.extra) + len(entry.comment)
    assert data[start:start + 4] == b"PK\x01\x02"
    return data[:start + 24] + (size % 2 ** 32).to_bytes(4, "little") + data[start + 28:]


def stored_name(name):
    """The name zipfile writes for ``name`` (it cuts at the first NUL)."""
    return zipfile.ZipInfo(name).filename


# ---------------------------------------------------------------------------------------------
# One attempt: load, classify, check that nothing was written and no code ran
# ---------------------------------------------------------------------------------------------
CANARY_MODULE = "this"  # stdlib; importing it prints the Zen of Python: a visible side effect


def _listing(folder):
    return sorted(os.listdir(folder))


def _sample_inputs(model):
    def one(tensor):
        batch = tensor.shape[0] if tensor.shape and tensor.shape[0] is not None else 2
        shape = (batch,) + tuple(tensor.shape[1:])
        if any(s is None or s <= 0 for s in shape[1:]) or np.prod(shape) > 10 ** 6:
            return None
        return np.random.default_rng(0).standard_normal(shape).astype("float32")
    if isinstance(model.input, dict):
        arrays = {key: one(tensor) for key, tensor in model.input.items()}
        return None if any(a is None for a in arrays.values()) else arrays
    arrays = [one(tensor) for tensor in model.inputs]
    if any(a is None for a in arrays):
        return None
    return arrays[0] if len(arrays) == 1 else arrays


def assert_loads_or_refuses(strategy, data, fuzz_root, max_member_bytes=None, expect_error=False, suffix=".keras"):
    """Load ``data`` as a .keras (or ``suffix``) file; return the model or None (LoadError). Fails on anything else."""
    COUNTS[strategy] += 1
    case = fuzz_root / f"case_{sum(COUNTS.values())}"
    sandbox_cwd, sandbox_tmp = case / "cwd", case / "tmp"
    sandbox_cwd.mkdir(parents=True)
    sandbox_tmp.mkdir()
    path = case / f"mutated{suffix}"
    path.write_bytes(data)
    before_root, before_case = _listing(fuzz_root), _listing(case)
    had_canary_module = CANARY_MODULE in sys.modules
    previous_cwd, previous_tempdir = os.getcwd(), tempfile.tempdir
    os.chdir(sandbox_cwd)
    tempfile.tempdir = str(sandbox_tmp)
    kwargs = {} if max_member_bytes is None else {"max_member_bytes": max_member_bytes}
    model = None
    try:
        with warnings_silenced():
            model = load_model(path, **kwargs)
        OUTCOMES[strategy, "loaded"] += 1
    except LoadError as error:
        OUTCOMES[strategy, "LoadError"] += 1
        assert str(error), "a LoadError must say what is wrong"
    except Exception:  # noqa: BLE001 - the point of the test
        pytest.fail(f"[{strategy}] load_model raised something other than LoadError:\n{traceback.format_exc()}")
    finally:
        os.chdir(previous_cwd)
        tempfile.tempdir = previous_tempdir
    assert _listing(sandbox_cwd) == [] and _listing(sandbox_tmp) == [], "the loader wrote a file"
    assert _listing(fuzz_root) == before_root and _listing(case) == before_case, "the loader wrote a file"
    assert not (fuzz_root / "canary").exists(), "code from the file was executed"
    assert had_canary_module or CANARY_MODULE not in sys.modules, "the loader imported a module named in the file"
    if expect_error:
        assert model is None, f"[{strategy}] this file should have been refused"
    if model is not None:
        _check_predicts(model)
    return model


def _check_predicts(model):
    batch = _sample_inputs(model)
    if batch is None:  # an input shape the fuzzer made unknown or huge: building it was the test
        return
    weights_finite = all(np.all(np.isfinite(w)) for w in model.get_weights() if w.dtype.kind == "f")
    with np.errstate(all="ignore"), warnings_silenced():
        outputs = model.predict(batch, verbose=0)
    for output in (outputs.values() if isinstance(outputs, dict) else
                   outputs if isinstance(outputs, (list, tuple)) else [outputs]):
        assert np.asarray(output).ndim >= 1
        if weights_finite and model.name in ("seq", "shared_net"):  # no BN variance the fuzzer can make < 0
            assert np.all(np.isfinite(output)), "a loaded model predicted non-finite numbers"


@pytest.fixture
def fuzz_root(tmp_path):
    return tmp_path


# ---------------------------------------------------------------------------------------------
# (a) bytes
# ---------------------------------------------------------------------------------------------
BYTE_EDIT_KINDS = ["flip", "truncate", "insert", "delete"]
byte_edits = st.lists(st.tuples(st.sampled_from(BYTE_EDIT_KINDS),
                                st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=16)),
                      min_size=0, max_size=3)


def apply_byte_edits(data, edits):
    data = bytearray(data)
    for kind, where, payload in edits:
        position = int(where * len(data)) if data else 0
        if kind == "flip" and data:
            data[position] ^= payload[0] or 1
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = payload
        elif kind == "delete":
            del data[position:position + len(payload) * 8]
    return bytes(data)


@pytest.mark.parametrize("first_kind", BYTE_EDIT_KINDS)  # every kind of edit is tried, whatever Hypothesis draws
@settings(max_examples=150, **FUZZ_SETTINGS)
@given(seed_index=st.integers(0, 2), where=st.floats(0, 1, exclude_max=True),
       payload=st.binary(min_size=1, max_size=16), edits=byte_edits)
def test_byte_mutations(seeds, tmp_path_factory, first_kind, seed_index, where, payload, edits):
    edits = [(first_kind, where, payload)] + edits
    assert_loads_or_refuses("bytes", apply_byte_edits(seeds[seed_index][1], edits), tmp_path_factory.mktemp("bytes"))


def test_every_single_byte_region_of_a_seed(seeds, tmp_path_factory):
    """A systematic sweep: one corrupted byte every 97 bytes of the Sequential seed (headers included)."""
    data = seeds[1][1]
    root = tmp_path_factory.mktemp("sweep")
    for position in range(0, len(data), 97):
        corrupted = bytearray(data)
        corrupted[position] ^= 0xFF
        assert_loads_or_refuses("bytes", bytes(corrupted), root)


# ---------------------------------------------------------------------------------------------
# (b) config.json
# ---------------------------------------------------------------------------------------------
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                         st.text(max_size=12), st.sampled_from([10 ** 12, -1, 0, 2 ** 63, 1e308, "Dense", "relu",
                                                                "__keras_tensor__", "keras.layers"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4)), max_leaves=12)


def json_paths(value):
    """Every path (tuple of keys/indices) into a JSON value, the root excluded, in document order."""
    paths, stack = [], [(value, ())]
    while stack:
        node, prefix = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        children = [(child, prefix + (key,)) for key, child in items]
        paths += [path for _, path in children]
        stack += reversed(children)
    return paths


def _parent(config, path):
    node = config
    for key in path[:-1]:
        node = node[key]
    return node


def _layers_of(config):
    return config["config"]["layers"]


def _histories(value):
    """Every keras_history list inside a value (to point them elsewhere)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            yield value["config"]["keras_history"]
        for child in value.values():
            yield from _histories(child)
    elif isinstance(value, list):
        for child in value:
            yield from _histories(child)


DEEP_MARKER = "__deeply_nested_value__"


def config_text(config):
    """``config`` as JSON text, each ``DEEP_MARKER`` replaced by a value nested 3000 lists deep."""
    return json.dumps(config).replace(json.dumps(DEEP_MARKER), "[" * 3000 + "1" + "]" * 3000)


def mutate_config(config, kind, choice, value, find_histories=None):
    """Apply one JSON-level mutation in place (``choice`` is a float in [0, 1) picking the target)."""
    paths = list(json_paths(config))
    target = paths[int(choice * len(paths))]
    parent, key = _parent(config, target), target[-1]
    layers = _layers_of(config)
    layer_index = int(choice * len(layers))
    histories = list((find_histories or _histories)(config["config"]))
    if kind == "delete":
        del parent[key]
    elif kind == "replace":
        parent[key] = value
    elif kind == "huge":
        parent[key] = [10 ** 12, -(10 ** 12), 2 ** 31, 0, -1, 1e300, float("inf")][layer_index % 7]
    elif kind == "deep":  # written into the JSON text by ``config_text`` (json.dumps itself would recurse)
        parent[key] = DEEP_MARKER
    elif kind == "duplicate_layer":
        layers.append(json.loads(json.dumps(layers[layer_index])))
    elif kind == "rename_layer":
        layers[layer_index]["name"] = f"renamed_{layer_index}"
        if isinstance(layers[layer_index].get("config"), dict):
            layers[layer_index]["config"]["name"] = f"renamed_{layer_index}"
    elif kind == "missing_history" and histories:
        histories[layer_index % len(histories)][0] = "no_such_layer"
    elif kind == "cycle" and histories:  # an early call reads the output of the last layer
        histories[0][:] = [layers[-1].get("name"), 0, 0]
    elif kind == "self_loop" and histories:
        history = histories[layer_index % len(histories)]
        owner = next((layer for layer in layers if any(h is history for h in _histories(layer))), None)
        if owner is not None:
            history[:] = [owner.get("name"), 0, 0]
    elif kind == "bad_index" and histories:
        histories[layer_index % len(histories)][1:] = [[10 ** 9, -1, "0", 1.5][layer_index % 4], -5]
    elif kind == "class_name":
        layers[layer_index]["class_name"] = ["Lambda", "Model", "Functional", "Sequential", "InputLayer", "Dense",
                                             "Conv2D", "__lambda__"][layer_index % 8]


JSON_KINDS = ["delete", "replace", "huge", "deep", "duplicate_layer", "rename_layer", "missing_history", "cycle",
              "self_loop", "bad_index", "class_name"]
json_kinds = st.sampled_from(JSON_KINDS + ["replace", "replace"])  # later edits: replacements weighted up


@pytest.mark.parametrize("first_kind", JSON_KINDS)  # every kind of edit is tried, whatever Hypothesis draws
@settings(max_examples=55, **FUZZ_SETTINGS)
@given(seed_index=st.integers(0, 2), choice=st.floats(0, 1, exclude_max=True), value=json_values,
       mutations=st.lists(st.tuples(json_kinds, st.floats(0, 1, exclude_max=True), json_values), max_size=2))
def test_config_mutations(seeds, tmp_path_factory, first_kind, seed_index, choice, value, mutations):
    data = seeds[seed_index][1]
    config = json.loads(members(data)["config.json"])
    for kind, choice, value in [(first_kind, choice, value)] + mutations:
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):  # target gone under an earlier edit
            mutate_config(config, kind, choice, value)
    assert_loads_or_refuses("json", with_member(data, "config.json", config_text(config).encode()), tmp_path_factory.mktemp("json"))


RAW_CONFIGS = {
    "deep_array": b"[" * 200000 + b"]" * 200000,
    "deep_object": b'{"a":' * 100000 + b"1" + b"}" * 100000,
    "deep_but_parsable": ('{"class_name": "Sequential", "config": {"layers": ' + "[" * 900 + "]" * 900 + "}}").encode(),
    "not_utf8": b'{"class_name": "\xff\xfe"}',
    "huge_integer": b'{"class_name": "Sequential", "config": {"layers": [], "x": ' + b"9" * 5000 + b"}}",
    "nan": b'{"class_name": "Sequential", "config": {"name": NaN, "layers": [Infinity]}}',
    "duplicate_keys": b'{"class_name": "Functional", "class_name": "Sequential", "config": {"layers": []}}',
    "top_level_list": b"[1, 2, 3]",
    "empty": b"",
    "bom": b"\xef\xbb\xbf{}",
    "nul": b'{"class_name": "Seq\x00uential"}',
}


@pytest.mark.parametrize("name", sorted(RAW_CONFIGS))
def test_raw_config_text(seeds, tmp_path, name):
    data = with_member(seeds[1][1], "config.json", RAW_CONFIGS[name])
    assert_loads_or_refuses("json", data, tmp_path, expect_error=name != "deep_but_parsable")


def _sequential_config(seeds):
    return json.loads(members(seeds[1][1])["config.json"])


def _dense_entry(config, **changes):
    layer = next(entry for entry in config["config"]["layers"] if entry["class_name"] == "Dense")
    layer["config"].update(changes)
    return config


def _without_input(config, build_input_shape):
    """A Sequential without an InputLayer, built from ``build_input_shape`` (as Keras writes it)."""
    config["config"]["layers"].pop(0)
    config["config"]["build_input_shape"] = build_input_shape
    return config


HOSTILE_LAYER_CONFIGS = {
    "dense_units_1e12": lambda c: _dense_entry(c, units=10 ** 12),
    "dense_units_1e5": lambda c: _dense_entry(c, units=10 ** 5) or _dense_entry(c, units=10 ** 5),
    "dense_units_negative": lambda c: _dense_entry(c, units=-3),
    "dense_units_zero": lambda c: _dense_entry(c, units=0),
    "dense_units_string": lambda c: _dense_entry(c, units="4"),
    "dense_units_float": lambda c: _dense_entry(c, units=4.5),
    "dense_units_bool": lambda c: _dense_entry(c, units=True),
    "dense_units_list": lambda c: _dense_entry(c, units=[4]),
    "dense_units_2e63": lambda c: _dense_entry(c, units=2 ** 63),
    "activation_list": lambda c: _dense_entry(c, activation=["relu"]),
    "activation_unknown": lambda c: _dense_entry(c, activation="os.system"),
    "activation_module": lambda c: _dense_entry(c, activation={"module": CANARY_MODULE, "class_name": "function",
                                                               "config": "s", "registered_name": None}),
    "initializer_custom": lambda c: _dense_entry(c, kernel_initializer={"module": CANARY_MODULE,
                                                                        "class_name": "Evil", "config": {}}),
    "initializer_string_config": lambda c: _dense_entry(c, kernel_initializer={"class_name": "GlorotUniform",
                                                                               "config": "seed"}),
    "regularizer_custom": lambda c: _dense_entry(c, kernel_regularizer={"class_name": "L2",
                                                                        "config": {"l2": "x"}}),
    "dtype_huge_void": lambda c: _dense_entry(c, dtype="V1000000000"),
    "dtype_object": lambda c: _dense_entry(c, dtype={"class_name": "DTypePolicy", "config": {"name": "object"}}),
    "dtype_list": lambda c: _dense_entry(c, dtype=["float32"]),
    "numpy_void_huge": lambda c: _dense_entry(c, bias_initializer={
        "class_name": "Constant", "config": {"value": {"class_name": "__numpy__",
                                                       "config": {"value": [1], "dtype": "V2000000000"}}}}),
    "numpy_object": lambda c: _dense_entry(c, name={"class_name": "__numpy__",
                                                    "config": {"value": [1], "dtype": "O"}}),
    "tuple_without_config": lambda c: _dense_entry(c, units={"class_name": "__tuple__"}),
    "bytes_value": lambda c: _dense_entry(c, name={"class_name": "__bytes__", "config": {"value": 5}}),
    "name_list": lambda c: _dense_entry(c, name=["d1"]),
    "input_shape_huge": lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[None, 10 ** 9]) or c,
    "input_shape_negative": lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[None, -5]) or c,
    "input_shape_string": lambda c: c["config"]["layers"][0]["config"].update(batch_shape="abc") or c,
    "input_shape_deep": lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[[[[5]]]]) or c,
    "layers_string": lambda c: c["config"].update(layers="Dense") or c,
    "layers_dict": lambda c: c["config"].update(layers={"a": 1}) or c,
    "layers_null": lambda c: c["config"].update(layers=None) or c,
    "config_string": lambda c: c.update(config="layers") or c,
    "config_list": lambda c: c.update(config=[]) or c,
    "build_input_shape_huge": lambda c: _without_input(c, [None, 10 ** 12]),
    "build_input_shape_string": lambda c: _without_input(c, "x"),
    "build_input_shape_nested": lambda c: _without_input(c, [[None, 5], [None, 5]]),
    "build_input_shape_valid": lambda c: _without_input(c, [None, 5]),
    "class_subclassed": lambda c: c.update(class_name="MyModel", module="my_package.models",
                                           registered_name="Custom>MyModel") or c,
    "module_import": lambda c: _dense_entry(c) and c["config"]["layers"][1].update(
        module=CANARY_MODULE, registered_name=f"{CANARY_MODULE}>Dense") or c,
    "registered_name_import": lambda c: c["config"]["layers"][1].update(registered_name=f"{CANARY_MODULE}.Zen") or c,
    "compile_loss_custom": lambda c: c.update(compile_config={
        "optimizer": "adam", "loss": {"module": CANARY_MODULE, "class_name": "Evil", "config": {}}}) or c,
    "compile_optimizer_custom": lambda c: c.update(compile_config={
        "optimizer": {"module": CANARY_MODULE, "class_name": "Evil", "config": {}, "registered_name": "Evil"},
        "loss": "mse"}) or c,
    "compile_config_list": lambda c: c.update(compile_config=[1, 2]) or c,
    "compile_lr_string": lambda c: c.update(compile_config={
        "optimizer": {"class_name": "Adam", "config": {"learning_rate": "fast"}}, "loss": "mse"}) or c,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LAYER_CONFIGS))
def test_hostile_config_fields(seeds, tmp_path, name):
    """Wrong types and sizes in the fields a loader reads (a Dense with units=10**12 must not allocate)."""
    config = HOSTILE_LAYER_CONFIGS[name](_sequential_config(seeds))
    data = with_member(seeds[1][1], "config.json", json.dumps(config).encode())
    benign = {"compile_loss_custom", "compile_optimizer_custom", "compile_lr_string", "build_input_shape_valid"}
    model = assert_loads_or_refuses("json", data, tmp_path, expect_error=name not in benign and not name.startswith("compile"))
    if model is not None and name.startswith("compile"):
        assert model.get_weights()  # the weights loaded even though the compile config was refused


def _lambda_payload(marker):
    def evil(x):
        open(marker, "w").write("ran")
        return x
    code = base64.b64encode(marshal.dumps(evil.__code__)).decode("ascii")
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "name": "evil",
            "config": {"name": "evil", "trainable": True, "dtype": "float32",
                       "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None,
                                                                           "closure": None}},
                       "function_type": "lambda", "arguments": {}, "output_shape": None},
            "inbound_nodes": []}


@pytest.mark.parametrize("where", ["sequential", "functional", "nested_in_config", "compile_config"])
def test_code_carrying_payloads_never_run(seeds, tmp_path, where):
    """Canary: Keras-format bytecode that would write ``<fuzz root>/canary`` if anything executed it."""
    payload = _lambda_payload(str(tmp_path / "canary"))
    if where == "sequential":
        config = _sequential_config(seeds)
        config["config"]["layers"].insert(1, payload)
        data = with_member(seeds[1][1], "config.json", json.dumps(config).encode())
    elif where == "functional":
        config = json.loads(members(seeds[2][1])["config.json"])
        history = next(_histories(config["config"]["layers"][2]))
        payload["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__",
                                               "config": {"shape": [None, 4], "dtype": "float32",
                                                          "keras_history": list(history)}}], "kwargs": {}}]
        config["config"]["layers"].insert(2, payload)
        history[:] = ["evil", 0, 0]
        data = with_member(seeds[2][1], "config.json", json.dumps(config).encode())
    elif where == "nested_in_config":
        config = _dense_entry(_sequential_config(seeds), activation=payload["config"]["function"])
        data = with_member(seeds[1][1], "config.json", json.dumps(config).encode())
    else:
        config = _sequential_config(seeds)
        config["compile_config"] = {"optimizer": "adam", "loss": payload["config"]["function"]}
        data = with_member(seeds[1][1], "config.json", json.dumps(config).encode())
    assert_loads_or_refuses("json", data, tmp_path, expect_error=True)


# ---------------------------------------------------------------------------------------------
# (c) model.weights.h5
# ---------------------------------------------------------------------------------------------
def _datasets(h5file):
    names = []
    h5file.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def _replacement(kind, shape, rng):
    """A dataset payload of another shape/dtype/rank (``None`` for kinds created specially)."""
    if kind == "other_shape":
        return rng.standard_normal(tuple(s + 1 for s in shape) or (2,)).astype("float32")
    if kind == "other_rank":
        return rng.standard_normal(shape + (1,)).astype("float32")
    if kind == "scalar":
        return np.float32(1.5)
    if kind == "int_same_shape":
        return rng.integers(-3, 3, shape).astype("int64")
    if kind == "bool_same_shape":
        return np.ones(shape, bool)
    if kind == "float16_same_shape":
        return rng.standard_normal(shape).astype("float16")
    if kind == "complex":
        return np.ones(shape, complex)
    if kind == "strings":
        return np.array([b"abc"] * max(1, int(np.prod(shape))))
    if kind == "compound":
        return np.zeros(shape, dtype=[("a", "f4"), ("b", "i4")])
    return None


H5_KINDS = ["other_shape", "other_rank", "scalar", "int_same_shape", "bool_same_shape", "float16_same_shape",
            "complex", "strings", "compound", "vlen", "object_ref", "empty", "delete", "extra_dataset",
            "extra_group", "soft_link", "dangling_soft_link", "external_link", "virtual", "external_storage",
            "group_instead", "huge_chunked", "nan", "attribute"]


def mutate_h5(data, kind, choice, scratch):
    """``(bytes, edited dataset path, its original shape)``: ``data`` (an h5 file) edited as ``kind`` says."""
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as h5file:
        names = _datasets(h5file)
        target = names[int(choice * len(names))]
        original = h5file[target]
        shape, parent, leaf = tuple(original.shape), original.parent, target.split("/")[-1]
        payload = _replacement(kind, shape, np.random.default_rng(int(choice * 1000)))
        if payload is not None:
            del parent[leaf]
            parent.create_dataset(leaf, data=payload)
        elif kind == "vlen":
            del parent[leaf]
            parent.create_dataset(leaf, shape=(2,), dtype=h5py.vlen_dtype("f4"))
        elif kind == "object_ref":
            del parent[leaf]
            dataset = parent.create_dataset(leaf, shape=(1,), dtype=h5py.ref_dtype)
            dataset[0] = h5file.ref
        elif kind == "empty":
            del parent[leaf]
            parent.create_dataset(leaf, data=h5py.Empty("f4"))
        elif kind == "delete":
            del parent[leaf]
        elif kind == "extra_dataset":
            parent.create_dataset(str(len(parent)), data=np.zeros(3, "f4"))
        elif kind == "extra_group":
            h5file.create_dataset("layers/intruder/vars/0", data=np.zeros(3, "f4"))
        elif kind in ("soft_link", "dangling_soft_link"):
            other = names[(names.index(target) + 1) % len(names)]
            del parent[leaf]
            parent[leaf] = h5py.SoftLink("/" + other if kind == "soft_link" else "/nowhere/at/all")
        elif kind == "external_link":
            outside = scratch / "outside.h5"
            with h5py.File(outside, "w") as other:
                other.create_dataset("x", data=np.zeros(shape, "f4"))
            del parent[leaf]
            parent[leaf] = h5py.ExternalLink(str(outside), "/x")
        elif kind == "virtual":
            outside = scratch / "outside_vds.h5"
            with h5py.File(outside, "w") as other:
                other.create_dataset("x", data=np.ones(shape or (1,), "f4"))
            layout = h5py.VirtualLayout(shape=shape or (1,), dtype="f4")
            layout[...] = h5py.VirtualSource(str(outside), "x", shape=shape or (1,))
            del parent[leaf]
            parent.create_virtual_dataset(leaf, layout)
        elif kind == "external_storage":
            raw = scratch / "raw.bin"
            raw.write_bytes(np.ones(shape, "f4").tobytes())
            del parent[leaf]
            parent.create_dataset(leaf, shape=shape, dtype="f4", external=[(str(raw), 0, h5py.h5f.UNLIMITED)])
        elif kind == "group_instead":
            del parent[leaf]
            parent.create_group(leaf)
        elif kind == "huge_chunked":  # declares 10**12 elements, stores almost nothing
            del parent[leaf]
            parent.create_dataset(leaf, shape=(10 ** 6, 10 ** 6), dtype="f4", chunks=(1, 1024))
        elif kind == "nan":
            values = np.full(shape, np.nan, "f4")
            del parent[leaf]
            parent.create_dataset(leaf, data=values)
        elif kind == "attribute":
            parent.attrs["name"] = np.zeros(10, "f4")
    return buffer.getvalue(), target, shape


@pytest.mark.parametrize("kind", H5_KINDS)
@settings(max_examples=12, **FUZZ_SETTINGS)
@given(seed_index=st.integers(0, 2), choice=st.floats(0, 1, exclude_max=True))
def test_h5_mutations(seeds, tmp_path_factory, kind, seed_index, choice):
    data = seeds[seed_index][1]
    scratch = tmp_path_factory.mktemp("h5_scratch")
    weights, target, shape = mutate_h5(members(data)["model.weights.h5"], kind, choice, scratch)
    refused = {"other_shape", "other_rank", "scalar", "complex", "strings", "compound", "vlen", "object_ref",
               "empty", "delete", "extra_dataset", "extra_group", "soft_link", "dangling_soft_link",
               "external_link", "virtual", "external_storage", "group_instead", "huge_chunked"}
    # optimizer state that does not fit is skipped with a warning, as Keras does; a scalar for a scalar is fine
    benign = target.startswith("optimizer/") or (kind == "scalar" and shape == ())
    assert_loads_or_refuses("h5", with_member(data, "model.weights.h5", weights), tmp_path_factory.mktemp("h5"),
            expect_error=kind in refused and not benign)


@pytest.mark.parametrize("kind", ["external_link", "virtual", "external_storage", "strings", "other_shape"])
def test_load_weights_is_all_or_nothing(seeds, tmp_path, kind):
    """``load_weights`` on a hostile .weights.h5: LoadError and the model's weights are untouched."""
    model = _sequential()
    weights = mutate_h5(members(seeds[1][1])["model.weights.h5"], kind, 0.6, tmp_path)[0]
    path = tmp_path / "bad.weights.h5"
    path.write_bytes(weights)
    before = model.get_weights()
    COUNTS["h5"] += 1
    with pytest.raises(LoadError):
        load_weights(model, path)
    OUTCOMES["h5", "LoadError"] += 1
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)


# ---------------------------------------------------------------------------------------------
# (d) zip members
# ---------------------------------------------------------------------------------------------
HOSTILE_NAMES = ["../escaped.txt", "../../escaped.txt", "/tmp/absolute_escape.txt", "assets/../../escaped.txt",
                 "..\\escaped.txt", "C:\\escaped.txt", "C:/escaped.txt", "assets/", "assets/vocab.txt",
                 "config.json/", "./config.json", "config.json\x00.txt", "ｃonfig.json", "\u202econfig.json"]


class MemberList(list):
    """``[(name, bytes)]`` whose repr shows names and sizes only (Hypothesis prints failing draws)."""

    def __repr__(self):
        return repr([(name, f"<{len(content)} bytes>") for name, content in self])


@st.composite
def member_lists(draw, seed_members):
    names = st.sampled_from(sorted(seed_members) + HOSTILE_NAMES)
    entries = []
    for _ in range(draw(st.integers(1, 6))):
        name = draw(names)
        content = seed_members.get(name) if draw(st.booleans()) else None
        if content is None:
            content = draw(st.sampled_from(list(seed_members.values()) + [b"", b"{}", b"x" * 100]))
        entries.append((name, content))
    if draw(st.booleans()):  # keep the real members, so the hostile ones are the only problem
        entries = list(seed_members.items()) + entries
    return MemberList(entries)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
@settings(max_examples=150, **FUZZ_SETTINGS)
@given(data=st.data(), seed_index=st.integers(0, 2))
def test_zip_member_mutations(seeds, tmp_path_factory, compression, data, seed_index):
    seed_members = members(seeds[seed_index][1])
    entries = data.draw(member_lists(seed_members))
    archive = make_zip(entries, compression)
    names = [name for name, _ in entries]
    if data.draw(st.booleans()):  # lie about a member's size in the central directory
        archive = set_declared_size(archive, data.draw(st.sampled_from(names)),
                                    data.draw(st.sampled_from([0, 1, 100, 2 ** 31, 2 ** 32 - 1])))
    root = tmp_path_factory.mktemp("zip")
    stored = [stored_name(name) for name in names]
    hostile = any(name.startswith(("/", "..", "C:")) or "/.." in name or "\\" in name
                  for name in stored)
    duplicated = len(set(stored)) != len(stored)
    assert_loads_or_refuses("zip", archive, root, expect_error=hostile or duplicated)


@pytest.fixture(scope="module")
def bomb_member():
    """64 MiB of zeros deflated to ~64 KiB (a zip bomb at a scale a test can afford)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    body = b"".join(compressor.compress(chunk) for _ in range(64)) + compressor.flush()
    return body, 64 << 20, zlib.crc32(bytes(64 << 20))


def _deflated_zip(seed_members, name, body, size, crc):
    """A zip whose member ``name`` is the raw deflate stream ``body`` (written through zipfile, then patched)."""
    entries = [(n, c) for n, c in seed_members.items() if n != name]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, c in entries:
            archive.writestr(n, c)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        # write the member through the low-level API: precompressed body, declared CRC and size
        info.CRC, info.compress_size, info.file_size = crc, len(body), size
        info.header_offset = buffer.tell()
        info._compresslevel = None
        buffer.write(info.FileHeader(zip64=False))
        buffer.write(body)
        archive.filelist.append(info)
        archive.NameToInfo[name] = info
        archive.start_dir = buffer.tell()
    return buffer.getvalue()


@pytest.mark.parametrize("declared", ["honest", "tiny", "just_under_limit"])
@pytest.mark.parametrize("name", ["config.json", "model.weights.h5"])
def test_zip_bomb(seeds, tmp_path, bomb_member, declared, name):
    """A member that inflates to 64 MiB, loaded with a 1 MiB limit: refused whatever its header says."""
    body, size, crc = bomb_member
    limit = 1 << 20
    declared_size = {"honest": size, "tiny": 1000, "just_under_limit": limit - 1}[declared]
    archive = _deflated_zip(members(seeds[1][1]), name, body, declared_size, crc)
    assert_loads_or_refuses("zip", archive, tmp_path, max_member_bytes=limit, expect_error=True)


def test_zip_bomb_above_the_default_limit_is_refused_from_its_header(seeds, tmp_path):
    """A member declaring 3 GiB (the data is not there: the header alone must stop the read)."""
    archive = set_declared_size(make_zip(list(members(seeds[1][1]).items())), "model.weights.h5", 3 * 2 ** 30)
    assert_loads_or_refuses("zip", archive, tmp_path, expect_error=True)


def test_not_a_zip_at_all(tmp_path):
    for content in (b"", b"PK", b"\x89HDF\r\n\x1a\n" + bytes(100), b"PK\x05\x06" + bytes(18), os.urandom(4096)):
        assert_loads_or_refuses("zip", content, tmp_path, expect_error=True)


def test_seeds_load_and_predict(seeds, tmp_path):
    """The unmutated seeds load (the fuzzing starts from valid files)."""
    for _, data in seeds:
        model = assert_loads_or_refuses("seed", data, tmp_path)
        assert model is not None
        for layer in model.layers:  # the allocation guard is gone once the model is loaded
            assert "add_weight" not in vars(layer) and "compute_output_shape" not in vars(layer)


def test_weight_budget_counts_the_whole_model(seeds, tmp_path, monkeypatch):
    """Many layers each under the limit, together above it: refused, naming MAX_WEIGHT_ELEMENTS."""
    from numpy_nn.saving import serialization
    monkeypatch.setattr(serialization, "MAX_WEIGHT_ELEMENTS", 40)
    monkeypatch.setattr(serialization.LoadGuard.__init__, "__defaults__", (40,))
    path = tmp_path / "seq.keras"
    path.write_bytes(seeds[1][1])  # 5*4+4 + 4*3+3 = 39 weights: fits
    assert load_model(path) is not None
    config = _sequential_config(seeds)
    config["config"]["layers"][-1]["config"]["units"] = 4  # 44 weights: over
    with pytest.raises(LoadError, match="MAX_WEIGHT_ELEMENTS"):
        load_model(_write(tmp_path, with_member(seeds[1][1], "config.json", json.dumps(config).encode())))


def _write(folder, data):
    path = folder / "edited.keras"
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# (e) legacy .h5 model files (Keras 2 layout and numpy_nn's / Keras 3's legacy writer)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def h5_seeds(tmp_path_factory):
    """``[(name, bytes of a legacy .h5 file)]``: a TF 2.4-layout convnet with training config and Keras 2
    optimizer slots, and the functional and Sequential seeds written by ``model.save("x.h5")``."""
    from tests import legacy_h5_files as legacy
    folder = tmp_path_factory.mktemp("h5_seeds")
    files = SeedFiles()
    path = legacy.write_model_file(folder / "keras24.h5", legacy.keras24_convnet_config(),
                                   legacy.keras24_convnet_weights(), legacy.KERAS24_TRAINING_CONFIG,
                                   legacy.KERAS24_OPTIMIZER_WEIGHTS)
    files.append(("keras24", path.read_bytes()))
    for build in (_functional, _sequential):
        path = folder / f"{build.__name__.strip('_')}.h5"
        build().save(path)
        files.append((path.stem, path.read_bytes()))
    return files


def assert_h5_loads_or_refuses(strategy, data, root, expect_error=False):
    return assert_loads_or_refuses(strategy, data, root, expect_error=expect_error, suffix=".h5")


def _edit_h5(data, edit):
    """``data`` (an h5 file's bytes) after ``edit(h5file)`` ran on it."""
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as h5file:
        edit(h5file)
    return buffer.getvalue()


def _legacy_histories(value):
    """Keras 2 inbound-node entries ``[name, node_index, tensor_index, kwargs]`` (and Keras 3 histories)."""
    yield from _histories(value)
    layers = value.get("layers") if isinstance(value, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        nodes = layer.get("inbound_nodes") if isinstance(layer, dict) else None
        for node in nodes if isinstance(nodes, list) else []:
            for entry in node if isinstance(node, list) else []:
                if isinstance(entry, list) and len(entry) >= 3:
                    yield entry


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(seed_index=st.integers(0, 2), edits=byte_edits)
def test_h5_file_byte_mutations(h5_seeds, tmp_path_factory, seed_index, edits):
    assert_h5_loads_or_refuses("legacy", apply_byte_edits(h5_seeds[seed_index][1], edits),
                               tmp_path_factory.mktemp("legacy_bytes"))


@settings(max_examples=300, **FUZZ_SETTINGS)
@given(seed_index=st.integers(0, 2), which=st.sampled_from(["model_config", "training_config"]),
       mutations=st.lists(st.tuples(json_kinds, st.floats(0, 1, exclude_max=True), json_values), min_size=1,
                          max_size=3))
def test_h5_config_mutations(h5_seeds, tmp_path_factory, seed_index, which, mutations):
    data = h5_seeds[seed_index][1]
    with h5py.File(io.BytesIO(data), "r") as h5file:
        config = json.loads(h5file.attrs["model_config"])
        training = json.loads(h5file.attrs["training_config"]) if "training_config" in h5file.attrs else None
    if which == "training_config" and training is not None:
        for kind, choice, value in mutations:
            paths = json_paths(training)
            if paths:
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    target = paths[int(choice * len(paths))]
                    _parent(training, target)[target[-1]] = value if kind != "delete" else None
        text, name = json.dumps(training), "training_config"
    else:
        for kind, choice, value in mutations:
            with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
                mutate_config(config, kind, choice, value, find_histories=_legacy_histories)
        text, name = config_text(config), "model_config"
    mutated = _edit_h5(data, lambda h5file: h5file.attrs.__setitem__(name, text.encode()))
    assert_h5_loads_or_refuses("legacy", mutated, tmp_path_factory.mktemp("legacy_json"))


@settings(max_examples=200, **FUZZ_SETTINGS)
@given(seed_index=st.integers(0, 2), kind=st.sampled_from(H5_KINDS), choice=st.floats(0, 1, exclude_max=True))
def test_h5_dataset_mutations(h5_seeds, tmp_path_factory, seed_index, kind, choice):
    data = h5_seeds[seed_index][1]
    scratch = tmp_path_factory.mktemp("legacy_scratch")
    mutated, target, shape = mutate_h5(data, kind, choice, scratch)
    refused = {"other_shape", "other_rank", "complex", "strings", "compound", "vlen", "object_ref", "empty",
               "delete", "soft_link", "dangling_soft_link", "external_link", "virtual", "external_storage",
               "group_instead", "huge_chunked"}
    # optimizer slots of another shape are skipped with a warning (Keras 3 does the same); "scalar" is
    # benign for a scalar; an extra dataset is never listed in weight_names, so it is never read
    benign = target.startswith("optimizer_weights/") or (kind == "scalar" and shape == ())
    assert_h5_loads_or_refuses("legacy", mutated, tmp_path_factory.mktemp("legacy_h5"),
                               expect_error=kind in refused and not benign)


def _names_attribute(group_path, attribute, value):
    def edit(h5file):
        group = h5file[group_path] if group_path else h5file
        if value is None:
            del group.attrs[attribute]
        else:
            group.attrs[attribute] = value
    return edit


HOSTILE_NAME_ATTRIBUTES = {  # (group, attribute, new value, must be refused)
    "layer_names_missing": ("model_weights", "layer_names", None, True),
    "layer_names_integers": ("model_weights", "layer_names", np.arange(5), True),
    "layer_names_2d": ("model_weights", "layer_names", np.array([[b"conv1", b"bn1"]]), True),
    "layer_names_unknown_group": ("model_weights", "layer_names", np.array([b"nowhere"]), True),
    "layer_names_dot_dot": ("model_weights", "layer_names", np.array([b".."]), True),
    "layer_names_absolute": ("model_weights", "layer_names", np.array([b"/model_weights/conv1"]), True),
    "layer_names_empty_string": ("model_weights", "layer_names", np.array([b""]), True),
    "layer_names_not_utf8": ("model_weights", "layer_names", np.array([b"\xff\xfe"]), True),
    "layer_names_duplicated": ("model_weights", "layer_names", np.array([b"conv1", b"conv1"]), True),
    "weight_names_absolute": ("model_weights/conv1", "weight_names",
                              np.array([b"/model_weights/skip/skip/kernel:0", b"conv1/bias:0"]), True),
    "weight_names_empty_component": ("model_weights/conv1", "weight_names",
                                     np.array([b"conv1//kernel:0", b"conv1/bias:0"]), True),
    "weight_names_dot": ("model_weights/conv1", "weight_names", np.array([b"./kernel:0", b"conv1/bias:0"]), True),
    "weight_names_missing_dataset": ("model_weights/conv1", "weight_names", np.array([b"x:0", b"y:0"]), True),
    "weight_names_group": ("model_weights/conv1", "weight_names", np.array([b"conv1", b"conv1/bias:0"]), True),
    "weight_names_one_only": ("model_weights/conv1", "weight_names", np.array([b"conv1/kernel:0"]), True),
    "weight_names_swapped": ("model_weights/conv1", "weight_names",
                             np.array([b"conv1/bias:0", b"conv1/kernel:0"]), True),
    "weight_names_floats": ("model_weights/conv1", "weight_names", np.ones(2), True),
    "model_config_array": ("", "model_config", np.arange(3), True),
    "model_config_empty": ("", "model_config", b"", True),
    "model_config_list": ("", "model_config", b"[1, 2]", True),
    "model_config_huge_number": ("", "model_config", b"9" * 5000, True),
    "model_config_duplicate_keys": ("", "model_config", b'{"class_name": "Functional", "class_name": "Sequential"}',
                                    True),
    "training_config_list": ("", "training_config", b"[1]", False),
    "training_config_not_json": ("", "training_config", b"{oops", True),
    "training_config_unknown_optimizer": ("", "training_config",
                                          b'{"optimizer_config": {"class_name": "os.system", "config": {}}}', False),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NAME_ATTRIBUTES))
def test_h5_hostile_attributes(h5_seeds, tmp_path, case):
    group, attribute, value, refused = HOSTILE_NAME_ATTRIBUTES[case]
    if isinstance(value, bytes) and not value:
        value = np.bytes_(b"")
    data = _edit_h5(h5_seeds[0][1], _names_attribute(group, attribute, value))
    assert_h5_loads_or_refuses("legacy", data, tmp_path, expect_error=refused)


def test_h5_chunked_names_are_bounded(h5_seeds, tmp_path, monkeypatch):
    """weight_names split in more chunks than MAX_NAME_CHUNKS: refused without reading them all."""
    from numpy_nn.saving import legacy_h5
    monkeypatch.setattr(legacy_h5, "MAX_NAME_CHUNKS", 3)

    def edit(h5file):
        group = h5file["model_weights/conv1"]
        del group.attrs["weight_names"]
        for index in range(5):
            group.attrs[f"weight_names{index}"] = np.array([b"conv1/kernel:0"])
    assert_h5_loads_or_refuses("legacy", _edit_h5(h5_seeds[0][1], edit), tmp_path, expect_error=True)


def test_h5_config_size_limit(h5_seeds, tmp_path, monkeypatch):
    from numpy_nn.saving import legacy_h5
    monkeypatch.setattr(legacy_h5, "MAX_CONFIG_BYTES", 1000)
    assert_h5_loads_or_refuses("legacy", h5_seeds[0][1], tmp_path, expect_error=True)


@pytest.mark.parametrize("where", ["functional", "nested_in_config", "training_config"])
def test_h5_code_carrying_payloads_never_run(h5_seeds, tmp_path, where):
    """The Keras-format Lambda canary, inside a legacy file: refused, and it never runs."""
    payload = _lambda_payload(str(tmp_path / "canary"))
    with h5py.File(io.BytesIO(h5_seeds[0][1]), "r") as h5file:
        config = json.loads(h5file.attrs["model_config"])
        training = json.loads(h5file.attrs["training_config"])
    if where == "functional":  # Keras 2's Lambda form: "function": [base64 bytecode, defaults, closure]
        payload["config"]["function"] = [payload["config"]["function"]["config"]["code"], None, None]
        payload["inbound_nodes"] = [[["image", 0, 0, {}]]]
        config["config"]["layers"].insert(1, payload)
        config["config"]["layers"][2]["inbound_nodes"] = [[[payload["name"], 0, 0, {}]]]
    elif where == "nested_in_config":
        config["config"]["layers"][1]["config"]["activation"] = payload["config"]["function"]
    else:
        training["loss"] = payload["config"]["function"]

    def edit(h5file):
        h5file.attrs["model_config"] = json.dumps(config).encode()
        h5file.attrs["training_config"] = json.dumps(training).encode()
    assert_h5_loads_or_refuses("legacy", _edit_h5(h5_seeds[0][1], edit), tmp_path, expect_error=True)


def test_h5_seeds_load(h5_seeds, tmp_path):
    for _, data in h5_seeds:
        assert assert_h5_loads_or_refuses("seed", data, tmp_path) is not None


@pytest.mark.parametrize("kind", ["external_link", "virtual", "external_storage", "strings", "other_shape"])
def test_legacy_load_weights_is_all_or_nothing(h5_seeds, tmp_path, kind):
    """``load_weights`` on a hostile legacy weights file: LoadError and the model's weights are untouched."""
    model = _sequential()
    path = tmp_path / "weights.h5"
    model.save_weights(path)
    mutated = mutate_h5(path.read_bytes(), kind, 0.6, tmp_path)[0]
    path.write_bytes(mutated)
    before = model.get_weights()
    COUNTS["legacy"] += 1
    with pytest.raises(LoadError):
        model.load_weights(str(path))
    OUTCOMES["legacy", "LoadError"] += 1
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)
