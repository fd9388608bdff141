"""Small data sets for examples and tests: synthetic shapes with ground-truth masks, bundled digits.

``make_shapes`` draws one object per image (a circle, a square or a triangle) on a cluttered
background, and returns the object's pixel mask with it, so that saliency and Grad-CAM maps can be
scored against the truth. ``load_digits`` wraps scikit-learn's bundled 8x8 digits as images.
``split`` divides arrays into stratified, shuffled parts (train / validation / test).

Sequence tasks that need memory (docs/sequences.md): ``make_padded_sequences`` (variable-length
token sequences padded with 0, labelled by their first tokens: masking and long-range memory),
``make_adding_problem`` (sum the two marked numbers of a long sequence) and ``make_noisy_series``
(forecast the next value of noisy periodic signals).

Everything is deterministic for a given seed and uses its own ``numpy.random.Generator``; nothing
touches the library's global RNG.
"""
import numpy as np

SHAPES = ("circle", "square", "triangle")


def make_shapes(n, size=32, seed=0, classes=SHAPES, scale=(0.12, 0.24), clutter=4,
                clutter_contrast=0.12, noise=0.03, min_contrast=0.35):
    """Images of one coloured shape each, on a cluttered background, with labels and masks.

    Each image holds ONE object of its class at a random position (fully inside the image), with
    a random size, rotation and colour. The background is a random colour with a soft gradient,
    low-contrast smooth blotches (bilinearly interpolated coarse noise), ``clutter`` thin line
    segments (neither has the closed outline of a class shape) and Gaussian pixel noise. The object colour is drawn
    at least ``min_contrast`` away (Euclidean, RGB) from the local background colour, so the
    object is visible, but its colour carries no information about its class.

    Args:
        n: number of images.
        size: height and width in pixels.
        seed: seed of the generator; the same arguments give the same arrays.
        classes: shape names, a subset of ``("circle", "square", "triangle")``; the label of an
            image is the index of its shape in ``classes``.
        scale: (min, max) of the object's equivalent radius sqrt(area / pi), as a fraction of
            ``size``. Sizes are drawn the same way for every class, so the area of an object
            says nothing about its class; only the outline does. At most 0.3 (the largest
            triangle must fit in the frame).
        clutter: number of background line segments per image; 0 also turns the blotches off.
        clutter_contrast: maximum amplitude of the blotches and lines (on a 0..1 intensity scale).
        noise: standard deviation of the Gaussian pixel noise added last (then clipped to [0, 1]).
        min_contrast: minimum RGB distance between object colour and background colour.

    Returns:
        images: float32 array (n, size, size, 3) with values in [0, 1].
        labels: int64 array (n,); classes are balanced (counts differ by at most one).
        masks: bool array (n, size, size), True on the object's pixels.
    """
    classes = tuple(classes)
    unknown = [name for name in classes if name not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(f"make_shapes: classes must be distinct names from {SHAPES}, got {classes!r}")
    if int(n) != n or n < 0:
        raise ValueError(f"make_shapes: n must be a non-negative int, got {n!r}")
    if int(size) != size or size < 8:
        raise ValueError(f"make_shapes: size must be an int >= 8, got {size!r}")
    low, high = scale
    if not 0 < low <= high <= 0.3:
        raise ValueError(f"make_shapes: scale must satisfy 0 < min <= max <= 0.3, got {scale!r}")
    n, size = int(n), int(size)
    rng = np.random.default_rng(seed)

    labels = rng.permutation(np.arange(n) % len(classes))
    masks = _draw_objects(rng, [classes[k] for k in labels], size, low * size, high * size)
    background, base_colour = _draw_background(rng, n, size, clutter, clutter_contrast)
    object_colour = _contrasting_colours(rng, base_colour, min_contrast)

    # a faint multiplicative texture on the object, then pixel noise everywhere
    shading = 1 + np.float32(0.08) * rng.standard_normal((n, size, size, 1), dtype=np.float32)
    obj = object_colour.astype(np.float32)[:, None, None, :] * shading
    images = np.where(masks[..., None], obj, background)
    images += np.float32(noise) * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(images, 0.0, 1.0, out=images), labels.astype(np.int64), masks


def _pixel_grid(size):
    """Pixel-centre coordinates, each (1, size, size): rows ``yy`` and columns ``xx``."""
    coords = np.arange(size, dtype=np.float64)
    return coords[None, :, None], coords[None, None, :]


def _draw_objects(rng, names, size, r_min, r_max):
    """Boolean masks (n, size, size) of one rotated shape per image, fully inside the frame.

    With p the pixel position relative to the centre, rotated by the object's angle into
    (u, v), and R the circumradius:
        circle:   u^2 + v^2 <= R^2
        square:   max(|u|, |v|) <= R / sqrt(2)          (corners on the circle of radius R)
        triangle: p . n_k <= R / 2  for k = 0, 1, 2      (equilateral; n_k unit normals 120 deg apart)
    The equivalent radius s = sqrt(area / pi) is drawn uniformly in [r_min, r_max] for every
    class, and R follows from equal areas: circle R = s, square 2 R^2 = pi s^2,
    triangle (3 sqrt(3) / 4) R^2 = pi s^2.
    """
    n = len(names)
    names = np.asarray(names)
    circumradius_per_area_radius = {"circle": 1.0, "square": np.sqrt(np.pi / 2),
                                    "triangle": np.sqrt(4 * np.pi / (3 * np.sqrt(3)))}
    factor = np.array([circumradius_per_area_radius[name] for name in names]).reshape(n, 1, 1)
    radius = rng.uniform(r_min, r_max, n)[:, None, None] * factor
    margin = np.minimum(radius + 0.5, (size - 1) / 2)
    cy = rng.uniform(margin[:, 0, 0], size - 1 - margin[:, 0, 0])[:, None, None]
    cx = rng.uniform(margin[:, 0, 0], size - 1 - margin[:, 0, 0])[:, None, None]
    angle = rng.uniform(0.0, 2 * np.pi, n)[:, None, None]
    yy, xx = _pixel_grid(size)
    masks = np.zeros((n, size, size), dtype=bool)
    for name in SHAPES:
        chosen = np.flatnonzero(names == name)
        if chosen.size == 0:
            continue
        r, a = radius[chosen], angle[chosen]
        dy, dx = yy - cy[chosen], xx - cx[chosen]
        u = dx * np.cos(a) + dy * np.sin(a)
        v = -dx * np.sin(a) + dy * np.cos(a)
        if name == "circle":
            masks[chosen] = u**2 + v**2 <= r**2
        elif name == "square":
            masks[chosen] = np.maximum(np.abs(u), np.abs(v)) <= r / np.sqrt(2.0)
        else:
            inside = np.ones((chosen.size, size, size), dtype=bool)
            for k in range(3):
                normal_angle = 2 * np.pi * k / 3
                inside &= u * np.cos(normal_angle) + v * np.sin(normal_angle) <= r / 2
            masks[chosen] = inside
    return masks


def _draw_background(rng, n, size, clutter, contrast):
    """Background images (n, size, size, 3) float32 and their base colours (n, 3).

    base colour + linear gradient + smooth blotches + thin line segments. The blotches are value
    noise: a coarse random grid (4x4 values per channel, amplitude ``contrast``) interpolated
    bilinearly up to full size, so they have no edges or corners. Each of the ``clutter`` lines
    carries a random signed colour of at most ``contrast`` per channel.
    """
    yy, xx = _pixel_grid(size)
    base = rng.uniform(0.2, 0.8, (n, 3))
    gradient_direction = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    ramp = (np.cos(gradient_direction) * (xx - size / 2) + np.sin(gradient_direction) * (yy - size / 2)) / size
    image = (base[:, None, None, :] + 0.5 * contrast * ramp[..., None]).astype(np.float32)
    if clutter > 0:
        coarse = rng.uniform(-contrast, contrast, (n, 4, 4, 3)).astype(np.float32)
        upsample = _bilinear_matrix(4, size)                                  # (size, 4)
        image += np.einsum("ih,nhwc,jw->nijc", upsample, coarse, upsample, optimize=True)
        image += _draw_lines(rng, n, size, int(clutter), contrast)
    return image, base


def _bilinear_matrix(coarse, size):
    """Matrix (size, coarse) that interpolates ``coarse`` evenly spaced samples to ``size`` pixels."""
    position = np.linspace(0, coarse - 1, size)
    left = np.minimum(np.floor(position).astype(int), coarse - 2)
    frac = position - left
    matrix = np.zeros((size, coarse), dtype=np.float32)
    matrix[np.arange(size), left] = 1 - frac
    matrix[np.arange(size), left + 1] = frac
    return matrix


def _draw_lines(rng, n, size, count, contrast):
    """``count`` line segments per image, (n, size, size, 3) float32.

    Each segment is sampled at 2*size evenly spaced points; each point adds the segment's colour
    times (segment length / number of points) to the pixel it falls in, so a pixel crossed once
    gets roughly the segment's colour.
    """
    points = 2 * size
    start = rng.uniform(0, size - 1, (n, count, 1, 2))
    end = rng.uniform(0, size - 1, (n, count, 1, 2))
    colour = rng.uniform(-contrast, contrast, (n, count, 3))
    t = np.linspace(0.0, 1.0, points)[None, None, :, None]
    pixel = np.rint(start + t * (end - start)).astype(np.int64)              # (n, count, points, 2)
    length = np.linalg.norm(end - start, axis=-1)[..., 0]                    # (n, count)
    flat = (np.arange(n)[:, None, None] * size + pixel[..., 0]) * size + pixel[..., 1]
    weight = np.broadcast_to((length / points)[..., None], flat.shape)
    canvas = np.empty((n * size * size, 3), dtype=np.float32)
    for c in range(3):
        canvas[:, c] = np.bincount(flat.ravel(), (weight * colour[:, :, None, c]).ravel(),
                                   minlength=n * size * size)
    return canvas.reshape(n, size, size, 3)


def _contrasting_colours(rng, base, min_contrast):
    """Uniform RGB colours (n, 3), redrawn until each is >= min_contrast away from its ``base``."""
    colour = rng.uniform(0, 1, base.shape)
    for _ in range(100):
        too_close = np.linalg.norm(colour - base, axis=1) < min_contrast
        if not too_close.any():
            return colour
        colour[too_close] = rng.uniform(0, 1, (int(too_close.sum()), 3))
    raise RuntimeError(f"make_shapes: could not find colours {min_contrast} away from the background")


def load_digits(as_images=True):
    """scikit-learn's bundled handwritten digits (1797 images of 8x8, ten classes).

    Args:
        as_images: True gives images (n, 8, 8, 1); False gives flat vectors (n, 64).

    Returns:
        x: float32 array (1797, 8, 8, 1) or (1797, 64), pixel values divided by 16, in [0, 1].
        y: int64 array (1797,) of digit labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError("numpy_nn.datasets.load_digits needs scikit-learn, which ships the digits: "
                          "pip install scikit-learn  (it is part of the 'dev' extra: "
                          "pip install 'numpy_nn[dev]')") from error
    bunch = sklearn_load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    if as_images:
        x = x.reshape(-1, 8, 8, 1)
    return x, bunch.target.astype(np.int64)


def split(x, y, fractions=(0.8, 0.2), seed=0, stratify=True):
    """Shuffle and cut (x, y) into parts of the given fractions, e.g. train / validation / test.

    Args:
        x: array with samples on axis 0, or a tuple/list of such arrays (e.g. images and masks),
            which are cut identically.
        y: labels (n,) (used for stratification) or any array with samples on axis 0.
        fractions: positive numbers summing to 1, one per part.
        seed: seed of the shuffle.
        stratify: keep the class proportions of integer labels ``y`` in every part.

    Returns:
        A list with one ``(x_part, y_part)`` tuple per fraction; ``x_part`` is a tuple when ``x``
        was a tuple/list. Every sample lands in exactly one part.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) < 1 or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-6:
        raise ValueError(f"split: fractions must be positive and sum to 1, got {tuple(fractions.tolist())}")
    y = np.asarray(y)
    arrays = tuple(np.asarray(a) for a in x) if isinstance(x, (tuple, list)) else (np.asarray(x),)
    for a in arrays:
        if len(a) != len(y):
            raise ValueError(f"split: x has {len(a)} samples but y has {len(y)}")
    rng = np.random.default_rng(seed)
    if stratify and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        groups = [rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y)]
    else:
        groups = [rng.permutation(len(y))]
    parts = [[] for _ in fractions]
    for group in groups:
        cuts = np.round(np.cumsum(fractions)[:-1] * len(group)).astype(int)
        for part, chunk in zip(parts, np.split(group, cuts)):
            part.append(chunk)
    result = []
    for part in parts:
        index = rng.permutation(np.concatenate(part))
        x_part = tuple(a[index] for a in arrays)
        result.append((x_part if isinstance(x, (tuple, list)) else x_part[0], y[index]))
    return result


def make_padded_sequences(n, max_length=20, vocab_size=20, classes=2, min_length=5, padding="post",
                          label="first", seed=0):
    """Variable-length token sequences, padded with 0, whose label depends on their first tokens.

    Each sequence has a length drawn in [min_length, max_length] and tokens drawn uniformly from
    1..vocab_size-1; the rest is the padding token 0 (after the tokens for ``padding="post"``, before
    them for ``"pre"``). ``label="first"``: y = first token mod ``classes`` (the model must remember
    the first step until the end); ``label="first_last"``: y = (first + last real token) mod
    ``classes`` (one end is far for a forward RNN, the other for a backward one). Chance accuracy
    is 1 / classes.

    Returns:
        x: int64 (n, max_length) tokens, 0 = padding (``Embedding(mask_zero=True)`` masks it).
        y: int64 (n,) labels in 0..classes-1.
        lengths: int64 (n,) number of real tokens.
    """
    if not 1 <= min_length <= max_length or vocab_size < 2 or classes < 2 or padding not in ("pre", "post") \
            or label not in ("first", "first_last"):
        raise ValueError(f"make_padded_sequences: invalid arguments min_length={min_length}, max_length={max_length}, "
                         f"vocab_size={vocab_size}, classes={classes}, padding={padding!r}, label={label!r}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    tokens = rng.integers(1, vocab_size, size=(n, max_length))
    steps = np.arange(max_length)
    real = steps < lengths[:, None] if padding == "post" else steps >= (max_length - lengths)[:, None]
    x = np.where(real, tokens, 0)
    first = x[np.arange(n), np.argmax(real, axis=1)]
    last = x[np.arange(n), max_length - 1 - np.argmax(real[:, ::-1], axis=1)]
    y = first % classes if label == "first" else (first + last) % classes
    return x.astype(np.int64), y.astype(np.int64), lengths.astype(np.int64)


def make_adding_problem(n, length=30, seed=0):
    """Hochreiter and Schmidhuber's adding problem: add the two marked numbers of a sequence.

    x (n, length, 2) float32: channel 0 holds uniform [0, 1) numbers, channel 1 marks two steps
    with 1 (one in each half of the sequence); y (n, 1) = the sum of the two marked numbers.
    Predicting the mean, 1.0, gives a mean squared error of 1/6 (the variance of the sum of two
    uniforms): a model that beats it clearly has carried the first number across the sequence.
    """
    if length < 2:
        raise ValueError(f"make_adding_problem: length must be at least 2, got {length}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, length))
    half = length // 2
    first, second = rng.integers(0, half, size=n), rng.integers(half, length, size=n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = markers[np.arange(n), second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[np.arange(n), first] + values[np.arange(n), second])[:, None].astype(np.float32)
    return x, y


def make_noisy_series(n, length=40, noise=0.1, seed=0):
    """Noisy periodic signals; the task is to forecast the next clean value.

    Each series is s(t) = a1 sin(w1 t + p1) + a2 sin(w2 t + p2) with random amplitudes, periods of
    6 to 20 steps and phases; x (n, length, 1) float32 is s(0..length-1) plus Gaussian noise of
    standard deviation ``noise``; y (n, 1) is the clean s(length). The persistence baseline
    (predict the last observed value) is the number to beat.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length + 1)[None, :]
    signal = np.zeros((n, length + 1))
    for _ in range(2):
        amplitude = rng.uniform(0.3, 1.0, size=(n, 1))
        omega = 2 * np.pi / rng.uniform(6.0, 20.0, size=(n, 1))
        signal += amplitude * np.sin(omega * t + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    x = signal[:, :length] + rng.normal(0.0, noise, size=(n, length))
    return x[..., None].astype(np.float32), signal[:, length:].astype(np.float32)
