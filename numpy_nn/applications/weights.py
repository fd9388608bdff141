"""Keras's published ImageNet weight files: their addresses and hashes, the local cache, the download.

    get_file(fname, origin, file_hash=None)    the cached path of ``origin``, downloaded if needed
    cache_dir()                                $NUMPY_NN_HOME/models, default ~/.numpy_nn/models
    load_weights(model, weights, family, include_top, **keys)
                                               weights=None | "imagenet" | a path -> model.load_weights

``weights="imagenet"`` fetches the very file ``keras.applications`` fetches (the same URL, named
in ``PUBLISHED``) and checks it against the hash Keras checks it against (MD5; Keras publishes no
hash for the MobileNet and MobileNetV2 files, so those are only checked to be HDF5 files). The
file is written to a temporary file in the cache folder and moved into place only once complete
and verified (``os.replace``), so an interrupted download never leaves a partial file under the
final name. A cached file whose hash no longer matches is downloaded again. Without a network the
error names the URL and the cache path, so the file can be fetched elsewhere and copied there.
``origin`` may be an ``https://``, ``http://`` or ``file://`` URL.
"""
import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request

CACHE_ENV = "NUMPY_NN_HOME"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_TOP, _NOTOP = "_weights_tf_dim_ordering_tf_kernels.h5", "_weights_tf_dim_ordering_tf_kernels_notop.h5"

# (family, include_top) -> (URL, MD5) exactly as keras/src/applications/<family>.py lists them
PUBLISHED = {
    ("vgg16", True): (f"{_KERAS}vgg16/vgg16{_TOP}", "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): (f"{_KERAS}vgg16/vgg16{_NOTOP}", "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): (f"{_KERAS}vgg19/vgg19{_TOP}", "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): (f"{_KERAS}vgg19/vgg19{_NOTOP}", "253f8cb515780f3b799900260a226db6"),
    ("resnet50", True): (f"{_KERAS}resnet/resnet50{_TOP}", "2cb95161c43110f7111970584f804107"),
    ("resnet50", False): (f"{_KERAS}resnet/resnet50{_NOTOP}", "4d473c1dd8becc155b73f8504c6f6626"),
    ("resnet50v2", True): (f"{_KERAS}resnet/resnet50v2{_TOP}", "3ef43a0b657b3be2300d5770ece849e0"),
    ("resnet50v2", False): (f"{_KERAS}resnet/resnet50v2{_NOTOP}", "fac2f116257151a9d068a22e544a4917"),
    ("xception", True): (f"{_KERAS}xception/xception{_TOP}", "0a58e3b7378bc2990ea3b43d5981f1f6"),
    ("xception", False): (f"{_KERAS}xception/xception{_NOTOP}", "b0042744bf5b25fce3cb969f33bebb97"),
    ("inception_v3", True): (f"{_KERAS}inception_v3/inception_v3{_TOP}", "9a0d58056eeedaa3f26cb7ebd46da564"),
    ("inception_v3", False): (f"{_KERAS}inception_v3/inception_v3{_NOTOP}", "bcbd6486424b2319ff4ef7d526e38f63"),
    ("densenet121", True): (f"{_KERAS}densenet/densenet121{_TOP}", "9d60b8095a5708f2dcce2bca79d332c7"),
    ("densenet121", False): (f"{_KERAS}densenet/densenet121{_NOTOP}", "30ee3e1110167f948a6b9946edeeb738"),
    ("efficientnetb0", True): ("https://storage.googleapis.com/keras-applications/efficientnetb0.h5",
                               "902e53a9f72be733fc0bcb005b3ebbac"),
    ("efficientnetb0", False): ("https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
                                "50bc09e76180e00e4465e1a485ddc09d"),
    # MobileNet / MobileNetV2: one file per (alpha, size); Keras gives no hash. Filled in by published().
    ("mobilenet", True): (f"{_KERAS}mobilenet/mobilenet_{{alpha}}_{{rows}}_tf.h5", None),
    ("mobilenet", False): (f"{_KERAS}mobilenet/mobilenet_{{alpha}}_{{rows}}_tf_no_top.h5", None),
    ("mobilenet_v2", True): (f"{_KERAS}mobilenet_v2/mobilenet_v2{_TOP[:-3]}_{{alpha}}_{{rows}}.h5", None),
    ("mobilenet_v2", False): (f"{_KERAS}mobilenet_v2/mobilenet_v2{_TOP[:-3]}_{{alpha}}_{{rows}}_no_top.h5", None),
}


class DownloadError(OSError):
    """A weight (or class index) file could not be downloaded or did not pass its hash check."""


def cache_dir():
    """Where downloads are kept: ``$NUMPY_NN_HOME/models``, default ``~/.numpy_nn/models``."""
    home = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".numpy_nn")
    return os.path.join(home, "models")


def published(family, include_top, **keys):
    """``(URL, MD5 or None)`` of Keras's ImageNet weights for ``family`` (``keys``: alpha, rows)."""
    url, file_hash = PUBLISHED[(family, bool(include_top))]
    return url.format(**keys), file_hash


def file_hash(path, algorithm="md5", chunk_size=1 << 20):
    """The hex digest of a file (``"md5"`` or ``"sha256"``)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _algorithm(expected):
    """Keras's "auto" rule: a 64-character hash is SHA-256, anything else MD5."""
    return "sha256" if expected is not None and len(expected) == 64 else "md5"


def _valid(path, expected):
    if expected is not None:
        return file_hash(path, _algorithm(expected)) == expected.lower()
    if path.endswith((".h5", ".hdf5")):
        with open(path, "rb") as stream:
            return stream.read(8) == HDF5_SIGNATURE
    return True


def get_file(fname, origin, file_hash=None, cache_subdir=None, cache_folder=None, what=None):
    """Return the local path of ``origin`` (cached as ``fname``), downloading and verifying it if needed.

    ``cache_folder`` defaults to :func:`cache_dir` (``cache_subdir`` is appended when given).
    Raises ``DownloadError`` naming the URL and the cache path when the file cannot be fetched or
    does not match ``file_hash`` (MD5, or SHA-256 for a 64-character hash).
    """
    folder = cache_folder or cache_dir()
    if cache_subdir:
        folder = os.path.join(folder, cache_subdir)
    path = os.path.join(folder, fname)
    what = what or fname
    if os.path.exists(path):
        if _valid(path, file_hash):
            return path
        print(f"The cached file {path} does not match its expected hash; downloading it again.")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"Cannot create the cache folder {folder} for {what} ({error}). Set {CACHE_ENV} to a "
                            "writable folder, or download the file yourself and pass its path.") from error
    print(f"Downloading data from {origin}")
    _download(origin, path, file_hash, what)
    return path


def _download(origin, path, expected, what):
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part",
                                         dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as target:
            try:
                with urllib.request.urlopen(origin, timeout=60) as response:
                    shutil.copyfileobj(response, target, 1 << 20)
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = getattr(error, "reason", None) or error
                raise DownloadError(
                    f"Could not download {what} from {origin} ({reason}). numpy_nn caches it at {path}: without "
                    "network access, download that URL on another machine and copy the file there (or pass the "
                    f"file's path as weights=...). Set {CACHE_ENV} to use another cache folder.") from error
        if not _valid(temporary, expected):
            detail = f"its {_algorithm(expected).upper()} is not {expected}" if expected else "it is not an HDF5 file"
            raise DownloadError(f"The file downloaded from {origin} failed verification ({detail}); it was not "
                                f"saved to {path}. Try again, or download it yourself and check it.")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# ---------------------------------------------------------------------------------------------
# weights=None | "imagenet" | path
# ---------------------------------------------------------------------------------------------
def check_weights_argument(weights, include_top, classes):
    """Keras's argument checks, before anything is built."""
    if not (weights in {"imagenet", None} or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random initialization), 'imagenet' "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded.  Received: "
                         f"weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
                         f"Received classes={classes}")


def load_weights(model, weights, family, include_top, **keys):
    """Load ``weights`` into a freshly built application ``model`` (None: keep the initializers)."""
    if weights is None:
        return model
    if weights == "imagenet":
        url, expected = published(family, include_top, **keys)
        path = get_file(url.rsplit("/", 1)[-1], url, file_hash=expected,
                        what=f"the ImageNet weights of {model.name}")
    else:
        path = os.fspath(weights)
    model.load_weights(path)
    return model
