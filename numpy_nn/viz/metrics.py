"""How good is an explanation? Scores against ground-truth masks, against the model, and a sanity check.

Maps M (N, h, w) >= 0 from any method are upsampled (bilinear) to the image size when compared
with masks S (N, H, W) of the object (``nn.datasets.make_shapes`` returns them):

* pointing game (Zhang et al. 2016): a hit when the map's maximum falls on the object (within
  ``tolerance`` pixels). A random point hits with probability area(S) / (H W): the baseline.
* energy inside the mask ("energy-based pointing game", Wang et al. 2020): sum(M S) / sum(M).
  A uniform map scores area(S) / (H W).
* deletion / insertion AUC (Petsiuk et al. 2018): pixels are switched in order of decreasing
  M, in ``steps`` equal chunks, and the class probability p_c is recorded after each chunk.
  Deletion replaces pixels of the image by 0 (lower AUC = better: the map found what matters);
  insertion restores pixels of the image on a blurred copy (higher = better).
  AUC = trapezoid rule of p_c over the fraction of pixels switched, in [0, 1].
* model randomization (Adebayo et al. 2018): re-initialize the weights and recompute the maps;
  a map that explains the model must change. Reported as the Spearman rank correlation between
  the maps of the trained and the randomized model (low = passes the check).
"""
import numpy as np

from ..autograd.function import no_grad
from ..ops.node import flatten, pack_like
from . import attribution, cam, tape
from .colormap import gaussian_blur, resize


# --------------------------------------------------------------------------------------------
# The methods, by name: each returns maps (N, h, w) in [0, 1] for a batch and classes
# --------------------------------------------------------------------------------------------
def _random_map(model, x, class_index, output=None, seed=0):
    return np.random.default_rng(seed).random(np.shape(_image_leaf(model, x)[1])[:3])


def _cam(cls):
    return lambda model, x, c, output=None: cls(model)(x, c, output)


def _attribution(make):
    return lambda model, x, c, output=None: make(model)(x, c, output)


METHODS = {
    **{name: _cam(cls) for name, cls in cam.CAMS.items()},
    "saliency": _attribution(attribution.Saliency),
    "smoothgrad": _attribution(lambda model: attribution.SmoothGrad(model, n_samples=16)),
    "integrated_gradients": _attribution(lambda model: attribution.IntegratedGradients(model, steps=16)),
    "guided_backprop": _attribution(attribution.GuidedBackprop),
    "guided_grad_cam": _attribution(attribution.GuidedGradCAM),
    "random": _random_map,
}


def _image_leaf(model, x, input_name=None):
    """(position in flatten order, array) of the image input (N, H, W, C) that the masks refer to.

    ``input_name``: the input's name (dict key or model input name) or position; default the
    only 4-D input.
    """
    leaves = flatten(x)
    keys = tape.input_keys(model, x)
    if input_name is not None:
        if input_name in keys:
            position = keys.index(input_name)
        elif isinstance(input_name, int) and 0 <= input_name < len(leaves):
            position = input_name
        else:
            raise ValueError(f"input_name={input_name!r} is not an input of model '{model.name}'; inputs: {keys}")
        return position, np.asarray(leaves[position])
    images = [i for i, leaf in enumerate(leaves) if np.ndim(leaf) == 4]
    if len(images) != 1:
        raise ValueError(f"model '{model.name}' has {len(images)} image inputs (N, H, W, C) among {keys}: pass "
                         "input_name= to say which one the masks and maps refer to")
    return images[0], np.asarray(leaves[images[0]])


def _with_image(x, position, image):
    """``x`` with the input at ``position`` (flatten order) replaced by ``image``."""
    leaves = list(flatten(x))
    leaves[position] = image
    return pack_like(x, leaves)


def explain(method, model, x, class_index=None, output=None, input_name=None):
    """Maps (N, h, w) from ``method`` (a name in ``METHODS`` or a callable(model, x, class_index)).

    For a model with several inputs, an attribution's map of the image input (``input_name``)
    is returned; a CAM's map is on its layer's grid.
    """
    if isinstance(method, str):
        maps = METHODS[method](model, x, class_index, output)
    else:
        maps = method(model, x, class_index) if output is None else method(model, x, class_index, output=output)
    if isinstance(maps, (list, tuple, dict)):
        position, _ = _image_leaf(model, x, input_name)
        maps = flatten(maps)[position]
    maps = np.asarray(maps)
    return maps[None] if maps.ndim == 2 else maps


def _upsample(maps, size):
    maps = np.asarray(maps, dtype=np.float64)
    if maps.shape[1:] == tuple(size):
        return maps
    return np.stack([resize(m, size) for m in maps])


# --------------------------------------------------------------------------------------------
# Against the ground truth
# --------------------------------------------------------------------------------------------
def _dilate(masks, tolerance):
    """Masks grown by ``tolerance`` pixels (Euclidean disk)."""
    if tolerance <= 0:
        return np.asarray(masks, dtype=bool)
    masks = np.asarray(masks, dtype=bool)
    grown = masks.copy()
    r = int(np.ceil(tolerance))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= tolerance * tolerance:
                grown |= np.roll(np.roll(masks, dy, axis=1), dx, axis=2) & _inside(masks.shape, dy, dx)
    return grown


def _inside(shape, dy, dx):
    valid = np.ones(shape[1:], dtype=bool)  # rolled pixels that wrapped around are not neighbours
    if dy > 0:
        valid[:dy] = False
    elif dy < 0:
        valid[dy:] = False
    if dx > 0:
        valid[:, :dx] = False
    elif dx < 0:
        valid[:, dx:] = False
    return valid


def pointing_game(maps, masks, tolerance=0):
    """Hits (N,) bool: the map's (first) maximum, upsampled to the mask size, lies on the object."""
    masks = np.asarray(masks, dtype=bool)
    up = _upsample(maps, masks.shape[1:])
    flat = up.reshape(len(up), -1).argmax(axis=1)
    rows, cols = np.unravel_index(flat, masks.shape[1:])
    return _dilate(masks, tolerance)[np.arange(len(masks)), rows, cols]


def pointing_baseline(masks, tolerance=0):
    """Expected pointing-game accuracy of a uniformly random point: mean area fraction of the mask."""
    return float(_dilate(masks, tolerance).mean())


def energy_inside(maps, masks):
    """(N,) sum(M S) / sum(M) with M upsampled to the mask size (0 for an all-zero map)."""
    masks = np.asarray(masks, dtype=np.float64)
    up = np.maximum(_upsample(maps, masks.shape[1:]), 0)
    total = up.sum(axis=(1, 2))
    inside = (up * masks).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1), 0.0)


# --------------------------------------------------------------------------------------------
# Against the model
# --------------------------------------------------------------------------------------------
def class_probabilities(model, x, output=None):
    """Softmax probabilities (N, classes) of one output: the output if it ends in a softmax, else softmax(it)."""
    with no_grad():
        _, outputs, found = tape.forward(model, x)
    view = tape.ModelOutputs(model, outputs, found)
    index = view.index(output)
    if not view.has_logits(index) and not tape.ends_in_softmax(tape.output_layers(model)[index]):
        scores = view.output(index).data.astype(np.float64)
        if scores.ndim != 2:
            raise ValueError(f"class probabilities need a (batch, classes) output; output '{view.names[index]}' has "
                             f"shape {scores.shape}")
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)
    return np.asarray(view.output(index).data, dtype=np.float64)


def deletion_insertion(model, images, maps, class_index, steps=16, blur_sigma=None, seed=0, output=None,
                       input_name=None):
    """(deletion AUC (N,), insertion AUC (N,)) of p_c when pixels are switched in map order.

    Deletion: image -> pixels set to 0, most salient first. Insertion: a blurred image (Gaussian,
    ``blur_sigma`` default H / 8) -> pixels of the image restored, most salient first. Ties in the
    map are broken at random (seeded), so a flat map behaves like a random order. ``images`` may
    be the inputs of a model with several (a list or dict): only the image input
    (``input_name``) is changed; ``output`` picks the output whose p_c is read.
    """
    position, images_only = _image_leaf(model, images, input_name)
    n, height, width = images_only.shape[:3]
    class_index = np.broadcast_to(np.asarray(class_index), (n,))
    up = _upsample(maps, (height, width)).reshape(n, -1)
    tie_break = np.random.default_rng(seed).random(up.shape)
    order = np.lexsort((tie_break, -up), axis=-1)  # most salient first
    sigma = height / 8 if blur_sigma is None else blur_sigma
    blurred = np.stack([gaussian_blur(image, sigma) for image in images_only]).astype(images_only.dtype)
    counts = np.round(np.linspace(0, height * width, steps + 1)).astype(int)
    deletion, insertion = np.zeros((n, steps + 1)), np.zeros((n, steps + 1))
    for t, count in enumerate(counts):
        switched = np.zeros((n, height * width), dtype=bool)
        np.put_along_axis(switched, order[:, :count], True, axis=1)
        switched = switched.reshape(n, height, width, 1)
        deleted = np.where(switched, 0, images_only).astype(images_only.dtype)
        inserted = np.where(switched, images_only, blurred).astype(images_only.dtype)
        deletion[:, t] = class_probabilities(model, _with_image(images, position, deleted),
                                             output)[np.arange(n), class_index]
        insertion[:, t] = class_probabilities(model, _with_image(images, position, inserted),
                                              output)[np.arange(n), class_index]
    return _auc(deletion), _auc(insertion)


def _auc(curves):
    """Trapezoid rule on an evenly spaced grid over [0, 1]."""
    return (curves.sum(axis=1) - 0.5 * (curves[:, 0] + curves[:, -1])) / (curves.shape[1] - 1)


def rank_correlation(a, b):
    """Spearman rank correlation of two arrays (average ranks for ties); 0 if either is constant."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def _ranks(values):
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average = ends - (counts - 1) / 2.0  # average 1-based rank of each distinct value
    return average[inverse]


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.trainable_weights]


def randomize_weights(layers, seed=0):
    """Re-initialize the trainable weights of ``layers`` in place.

    Kernels (2-D and more) get Glorot-uniform values (Keras's default kernel initializer:
    U(-l, l), l = sqrt(6 / (fan_in + fan_out)), fans including the receptive field); 1-D weights
    (biases, BatchNorm gamma/beta) are permuted, which keeps their scale and destroys their
    assignment to channels. Non-trainable state (moving statistics) is kept.
    """
    rng = np.random.default_rng(seed)
    for layer in layers:
        for variable in layer.trainable_weights:
            shape = variable.shape
            if len(shape) >= 2:
                receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
                limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
                variable.assign(rng.uniform(-limit, limit, shape).astype(variable.dtype))
            else:
                variable.assign(rng.permutation(variable.data.ravel()).reshape(shape))


def randomization_check(model, images, class_index, method="grad_cam", stages=None, seed=0, output=None,
                        input_name=None):
    """Model-randomization sanity check: [(stage name, mean Spearman correlation per image)].

    ``stages``: a list of (name, [layers]) re-initialized cumulatively (a cascade); default one
    stage per weighted layer, from the output layer down. The model's weights are restored
    afterwards, whatever happens. The maps are compared at their own resolution.
    """
    reference = explain(method, model, images, class_index, output, input_name)
    if stages is None:
        stages = [(layer.name, [layer]) for layer in reversed(_weighted_layers(model))]
    saved = model.get_weights()
    results = []
    try:
        randomized = []
        for k, (name, layers) in enumerate(stages):
            randomized.extend(layers)
            randomize_weights(layers, seed=seed + k)
            maps = explain(method, model, images, class_index, output, input_name)
            correlations = [rank_correlation(a, b) for a, b in zip(reference, maps)]
            results.append((name, float(np.mean(correlations))))
    finally:
        model.set_weights(saved)
    return results


# --------------------------------------------------------------------------------------------
# All together
# --------------------------------------------------------------------------------------------
DEFAULT_METHODS = ("grad_cam", "grad_cam++", "layer_cam", "xgrad_cam", "score_cam", "ablation_cam", "eigen_cam",
                   "saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "guided_grad_cam", "random")


def evaluate_explanations(model, images, labels, masks, methods=DEFAULT_METHODS, tolerance=0, steps=16,
                          randomization=True, print_fn=print, output=None, input_name=None):
    """Score each method on (images, labels, masks); print a table and return {method: {metric: value}}.

    The class explained is the true label of each image. Columns: pointing-game accuracy,
    energy inside the mask, deletion AUC (lower is better), insertion AUC (higher is better),
    and the rank correlation with the maps of the model with its top layer (the layer producing
    the explained output) re-initialized, then with every weighted layer re-initialized (lower =
    the map depends on the learned weights).
    A ``random`` method scores like chance; the pointing baseline is printed underneath.
    ``images`` may be the inputs of a model with several (a list or a dict): ``input_name``
    names the image input the masks belong to, ``output`` the classification output explained.
    """
    labels, masks = np.asarray(labels), np.asarray(masks)
    images = images if isinstance(images, (list, tuple, dict)) else np.asarray(images)
    count = len(_image_leaf(model, images, input_name)[1])
    table = {}
    weighted = _weighted_layers(model)
    top = _explained_head(model, output, weighted)
    stages = [("top", [top]), ("all", [layer for layer in weighted[::-1] if layer is not top])]
    for method in methods:
        maps = explain(method, model, images, labels, output, input_name)
        deletion, insertion = deletion_insertion(model, images, maps, labels, steps=steps, output=output,
                                                 input_name=input_name)
        row = {"pointing_game": float(pointing_game(maps, masks, tolerance).mean()),
               "energy_inside": float(energy_inside(maps, masks).mean()),
               "deletion_auc": float(deletion.mean()), "insertion_auc": float(insertion.mean())}
        if randomization and method != "random":
            (_, top), (_, every) = randomization_check(model, images, labels, method, stages=stages, output=output,
                                                       input_name=input_name)
            row.update({"rank_corr_top": top, "rank_corr_all": every})
        table[method] = row
    if print_fn is not None:
        print_fn(format_table(table, pointing_baseline(masks, tolerance), count))
    return table


def _explained_head(model, output, weighted):
    """The weighted layer that produces the explained output (for the "top" randomization stage).

    With several outputs, the last weighted layer in model order may belong to another output,
    and re-initializing it would not touch the explained score at all.
    """
    names = list(getattr(model, "output_names", None) or [])
    index = names.index(output) if isinstance(output, str) and output in names else \
        (output if isinstance(output, int) else 0)
    try:
        head = tape.output_layers(model)[index]
    except (IndexError, ValueError):
        head = None
    return head if any(head is layer for layer in weighted) else weighted[-1]


def format_table(table, baseline=None, count=None):
    """The table ``evaluate_explanations`` prints."""
    columns = [("pointing_game", "pointing"), ("energy_inside", "energy"), ("deletion_auc", "deletion v"),
               ("insertion_auc", "insertion ^"), ("rank_corr_top", "rand top"), ("rank_corr_all", "rand all")]
    width = max(len(name) for name in table) + 2
    lines = ["method".ljust(width) + "".join(f"{title:>12}" for _, title in columns)]
    for method, row in table.items():
        cells = "".join(f"{row[key]:12.3f}" if key in row else f"{'-':>12}" for key, _ in columns)
        lines.append(method.ljust(width) + cells)
    if baseline is not None:
        lines.append(f"random-point pointing baseline (mean mask area): {baseline:.3f}"
                     + (f"   images: {count}" if count else ""))
    return "\n".join(lines)
