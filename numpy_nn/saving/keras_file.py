"""The Keras 3 ``.keras`` file: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

    load_model(path, compile=True)     zipfile + json + h5py, all in memory, nothing executed
    save_model(model, path)            a file ``keras.saving.load_model`` opens
    save_weights(model, path)          ``*.weights.h5``: the same h5 tree as inside the zip
    load_weights(model, path)          all or nothing: a failed load leaves the model unchanged

Safety when reading (docs/loader-safety.md): members are read in memory (never extracted), each
one at most ``max_member_bytes`` (default ``MAX_MEMBER_BYTES`` = 2 GiB for the weights,
``MAX_CONFIG_BYTES`` = 64 MiB for the JSON files), checked against the zip header AND counted while
inflating (headers can lie); at most ``MAX_MEMBERS`` members, no duplicate or path-escaping names;
config.json must be strict JSON (no duplicate keys, at most ``MAX_CONFIG_DEPTH`` levels); classes are
looked up in numpy_nn's registry, never imported from the file; the rebuilt layers may allocate at
most ``MAX_WEIGHT_ELEMENTS`` weights; h5 links, virtual and external datasets are never followed;
anything else raises ``LoadError``. Writing is atomic: the file is written to a
temporary file in the same folder and moved over ``path`` with ``os.replace``, so an error
mid-write leaves any previous file intact.
"""
import contextlib
import datetime
import io
import json
import lzma
import os
import re
import struct
import tempfile
import zipfile
import zlib

from . import legacy_h5, serialization, weights_h5
from .errors import LoadError, SaveError, require_h5py

MAX_MEMBER_BYTES = 2 * 1024 ** 3   # the largest zip member (the weights) load_model will read
MAX_CONFIG_BYTES = 64 * 1024 ** 2  # the largest config.json / metadata.json
MAX_MEMBERS = 10_000               # zip members (Keras writes 3, plus assets)
_DRIVE = re.compile(r"^[A-Za-z]:")
KERAS_VERSION = "3.15.1"           # written in metadata.json: the Keras version the format follows
CONFIG_FILENAME, METADATA_FILENAME, WEIGHTS_FILENAME = "config.json", "metadata.json", "model.weights.h5"


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object; on success it replaces ``path`` at once, on error it vanishes."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------
def _check_suffix(path, suffix, what):
    name = os.fspath(path)
    if not str(name).endswith(suffix):
        raise SaveError(f"The filename must end in `{suffix}` for {what}. Received: filepath={name}")


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write ``model`` as a Keras 3 ``.keras`` zip (config + weights + optimizer state if built).

    The config and the weights are computed entirely in memory before the file is opened, so
    an unsupported layer raises ``SaveError`` without touching ``filepath``. A ``*.h5`` /
    ``*.hdf5`` path writes the legacy HDF5 layout instead (``legacy_h5.save_model``).
    """
    if legacy_h5.is_legacy_path(filepath):
        return legacy_h5.save_model(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
    _check_suffix(filepath, ".keras", "model.save()")
    if not overwrite and os.path.exists(filepath):
        raise SaveError(f"{filepath} exists and overwrite=False")
    config = serialization.serialize_model(model, include_compile=True)
    config_json = json.dumps(config)
    metadata = json.dumps({"keras_version": KERAS_VERSION,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    weights = weights_h5.h5_bytes(model, include_optimizer=include_optimizer)
    with atomic_write(filepath) as stream:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA_FILENAME, metadata)
            archive.writestr(CONFIG_FILENAME, config_json)
            archive.writestr(WEIGHTS_FILENAME, weights)


def save_weights(model, filepath, overwrite=True):
    """Write ``*.weights.h5`` (Keras's layout, the optimizer state included when it is built).

    A ``*.h5`` / ``*.hdf5`` name (not ``.weights.h5``) writes Keras 2's weights-only legacy layout,
    which Keras 3 and Keras 2 ``load_weights`` read (``legacy_h5.save_weights``).
    """
    if legacy_h5.is_legacy_path(filepath):
        return legacy_h5.save_weights(model, filepath, overwrite=overwrite)
    _check_suffix(filepath, ".weights.h5", "model.save_weights()")
    if not overwrite and os.path.exists(filepath):
        raise SaveError(f"{filepath} exists and overwrite=False")
    data = weights_h5.h5_bytes(model, include_optimizer=True)
    with atomic_write(filepath) as stream:
        stream.write(data)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _read_member(archive, name, limit):
    """The bytes of member ``name``, refused above ``limit`` by its header AND while inflating.

    The header's size can lie (a zip bomb declares a few bytes and inflates to gigabytes), so the
    read is also counted chunk by chunk and stops one chunk past the limit.
    """
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise LoadError(f"Refusing to read '{name}' from the .keras file: it is {info.file_size} bytes, above the "
                        f"limit of {limit} bytes (pass a larger max_member_bytes if you trust the file)")
    chunks, total = [], 0
    with archive.open(info) as member:
        while True:
            chunk = member.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise LoadError(f"Refusing to read '{name}': it expands beyond {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def check_member_names(infos, filepath):
    """Refuse too many members, duplicate names and names that could escape a folder if extracted.

    load_model never extracts anything, but a file with such names is hostile or broken, and two
    members with one name make "which one is the config" ambiguous (zipfile reads the last one).
    """
    if len(infos) > MAX_MEMBERS:
        raise LoadError(f"{filepath} has {len(infos)} zip members, above the limit of {MAX_MEMBERS}")
    seen = set()
    for info in infos:
        for name in {info.filename, info.orig_filename}:
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or _DRIVE.match(name) or \
                    any(ord(c) < 32 for c in name):
                raise LoadError(f"{filepath} has a zip member with an unsafe name {name!r} (absolute path, '..', "
                                "drive letter or control character); refusing the file")
        if info.filename in seen:
            raise LoadError(f"{filepath} has two zip members named {info.filename!r}; refusing the ambiguous file")
        seen.add(info.filename)


def _unique_keys(pairs):
    """``json`` object hook: a key given twice is ambiguous (parsers disagree on which one wins)."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise LoadError(f"{CONFIG_FILENAME} has the key {key!r} twice in one object")
        result[key] = value
    return result


# Everything zipfile and its decompressors raise on a damaged or hostile archive.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, NotImplementedError,
               ValueError, OverflowError, UnicodeDecodeError, struct.error, zlib.error, lzma.LZMAError)


def read_keras_file(filepath, max_member_bytes=MAX_MEMBER_BYTES):
    """``(config dict, weights bytes)`` from a ``.keras`` zip, read in memory with size limits."""
    try:
        with zipfile.ZipFile(filepath, "r") as archive:
            check_member_names(archive.infolist(), filepath)
            names = set(archive.namelist())
            if CONFIG_FILENAME not in names:
                raise LoadError(f"{filepath} is not a Keras 3 .keras file: it has no {CONFIG_FILENAME} "
                                f"(members: {sorted(names)[:10]})")
            config_bytes = _read_member(archive, CONFIG_FILENAME, min(MAX_CONFIG_BYTES, max_member_bytes))
            if WEIGHTS_FILENAME not in names:
                other = " (the .npz weights format is not supported)" if "model.weights.npz" in names else ""
                raise LoadError(f"{filepath} has no {WEIGHTS_FILENAME}{other}")
            weights = _read_member(archive, WEIGHTS_FILENAME, max_member_bytes)
    except LoadError:
        raise
    except FileNotFoundError:
        raise
    except zipfile.BadZipFile as error:
        raise LoadError(f"{filepath} is not a valid .keras file (a zip archive): {error}") from error
    except _ZIP_ERRORS as error:
        raise LoadError(f"{filepath} could not be read as a zip archive ({type(error).__name__}: {error})") from error
    try:
        config = json.loads(config_bytes.decode("utf-8"), object_pairs_hook=_unique_keys)
    except LoadError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise LoadError(f"{filepath}: {CONFIG_FILENAME} is not valid JSON ({type(error).__name__}: "
                        f"{str(error)[:200]})") from None
    if not isinstance(config, dict):
        raise LoadError(f"{filepath}: {CONFIG_FILENAME} should hold a JSON object, found {type(config).__name__}")
    serialization.check_depth(config)
    return config, weights


def load_model(filepath, compile=True, max_member_bytes=MAX_MEMBER_BYTES):
    """Rebuild a model from a Keras 3 ``.keras`` file, without Keras.

    Rebuilds Functional models (dict/list inputs and outputs, shared layers, nested Functional and
    Sequential models) and Sequential models, their weights, and with ``compile=True`` the compile
    config (optimizer, losses, metrics) and the optimizer state, so training resumes where it
    stopped. Raises ``LoadError`` (nothing is returned, nothing written) for unsupported or
    code-carrying classes (``Lambda``), a damaged zip, or missing/mis-shaped weights.

    A ``*.h5`` / ``*.hdf5`` path is read as a legacy Keras 2 (or Keras 3 legacy) HDF5 model file
    (``numpy_nn/saving/legacy_h5.py``), with the same safety rules.
    """
    require_h5py()
    path = os.fspath(filepath) if not hasattr(filepath, "read") else filepath
    if isinstance(path, str) and path.endswith(".weights.h5"):
        raise LoadError(f"{path} is a weights-only file: build the model, then call model.load_weights()")
    if isinstance(path, str) and legacy_h5.is_legacy_path(path):
        return legacy_h5.load_model(path, compile=compile)
    config, weights = read_keras_file(path, max_member_bytes)
    model = serialization.deserialize_model(config, compile=compile)
    weights_h5.read_h5_bytes(weights, model, include_optimizer=compile, where=f"{path} ({WEIGHTS_FILENAME})")
    return model


def load_weights(model, filepath, max_member_bytes=MAX_MEMBER_BYTES, skip_mismatch=False, by_name=None):
    """Load ``*.weights.h5`` (or the weights inside a ``.keras`` zip) into ``model``, all or nothing.

    The optimizer state is restored too when the file has it and the model is compiled (the
    optimizer is built on ``model.trainable_weights`` first if needed). A legacy ``*.h5`` /
    ``*.hdf5`` file (Keras 2 ``save_weights`` or a whole legacy model) loads in topological order,
    or with ``by_name=True`` by layer name; ``skip_mismatch=True`` skips weights whose shapes
    differ, with a warning (``numpy_nn/saving/legacy_h5.py``).
    """
    require_h5py()
    name = os.fspath(filepath)
    if legacy_h5.is_legacy_path(name):
        return legacy_h5.load_weights(model, name, by_name=bool(by_name), skip_mismatch=skip_mismatch)
    if by_name is not None:
        raise ValueError(f"`by_name` only supports loading legacy '.h5' or '.hdf5' files. Received: {name}")
    if skip_mismatch:
        raise ValueError(f"`skip_mismatch=True` is supported for legacy '.h5' / '.hdf5' files only in numpy_nn. "
                         f"Received: {name}")
    if name.endswith(".keras"):
        _, data = read_keras_file(name, max_member_bytes)
    elif name.endswith(".weights.h5"):
        size = os.path.getsize(name)
        if size > max_member_bytes:
            raise LoadError(f"Refusing to read {name}: {size} bytes is above the limit of {max_member_bytes}")
        with open(name, "rb") as stream:
            data = stream.read()
    else:
        raise LoadError(f"Invalid filename for load_weights(): expected a name ending in `.weights.h5`, "
                        f"`.keras`, `.h5` or `.hdf5`, received {name}")
    weights_h5.read_h5_bytes(data, model, include_optimizer=True, where=name)


def h5_tree(filepath):
    """``{dataset path: shape}`` of a ``.weights.h5`` file or of the weights inside a ``.keras`` zip."""
    h5py = require_h5py()
    name = os.fspath(filepath)
    data = read_keras_file(name)[1] if name.endswith(".keras") else open(name, "rb").read()
    tree = {}
    with h5py.File(io.BytesIO(data), "r") as h5file:
        h5file.visititems(lambda key, obj: tree.__setitem__(key, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return tree
