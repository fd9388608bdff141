"""Regenerate docs/formulas.md from the reference tier, and the kernel notes of docs/performance.md.

    python tools/make_formulas.py

docs/formulas.md: for every ``Function`` subclass in ``numpy_nn/ops/<family>.py`` (the reference
tier; ``numpy_nn/ops/kernels/`` is the fast tier and is not shown), grouped by family, its
docstring (the formula) and then its code (``forward``, ``backward`` and any other method of the
class, plus the module-level helpers they call), with a table of contents; the conventions
where the textbook, Keras and PyTorch differ, as one table and again in the section of the op
they concern; and two sections that are not one op: SeparableConv2D (a composition of two ops)
and the BatchNormalization moving averages (layer state). It works with whatever Function
subclasses exist, so it is rerun after every change to ops/.

docs/performance.md: the part between ``<!-- kernels:begin -->`` and ``<!-- kernels:end -->``
is rewritten with the fast tier's notes (each ``numpy_nn/ops/kernels/`` module docstring and the
docstring of every registered fast kernel).

tests/test_docs.py fails when either file is out of date.
"""
import importlib
import inspect
import pathlib
import pkgutil
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILY_ORDER = ["math", "activations", "conv", "pooling", "normalization", "dropout", "reshaping", "merge",
                "losses"]
FAMILY_TITLES = {"math": "Tensor arithmetic, matrix product and reductions", "activations": "Activations",
                 "conv": "Convolutions", "pooling": "Pooling", "normalization": "Normalization",
                 "dropout": "Dropout", "reshaping": "Reshaping", "merge": "Merging", "losses": "Losses"}

# (topic, textbook, Keras = numpy_nn, PyTorch, (family, op class or None for the family section)).
# Facts about Keras: docs/keras-conventions.md (measured on Keras 3.15.1); PyTorch 2.13 defaults.
CONVENTIONS = [
    ("convolution", "true convolution: the kernel is flipped",
     "**cross-correlation**: no flip; kernel (kh, kw, C_in/groups, F), channels_last",
     "cross-correlation too; weight (F, C_in/groups, kh, kw), channels_first", ("conv", "Conv2D")),
    ('"same" padding', "symmetric, (k - 1) / 2 on each side (odd k)",
     "out = ceil(n / s); total = max((out-1)s + k_eff - n, 0); **before = total // 2**, the extra pixel "
     "goes bottom/right, at any stride",
     '`padding="same"` only at stride 1, the extra pixel also after (right/bottom); at stride 2 people '
     "write the symmetric `padding=k//2`, which pads more than Keras", ("conv", None)),
    ("depthwise output channels", "-", "input channel c, multiplier m -> output channel **c·dm + m**; "
     "kernel (kh, kw, C, dm)", "a grouped conv with groups = C: output channel c·dm + m too; weight "
     "(C·dm, 1, kh, kw)", ("conv", "DepthwiseConv2D")),
    ("average pooling with padding", "-", '"same" divides by the number of **real** (unpadded) '
     "values in each window", "`AvgPool2d(count_include_pad=True)` by default: the padded zeros count",
     ("pooling", "AvgPool2D")),
    ("batch-norm variance", "Ioffe & Szegedy: the unbiased (m - 1) variance for the inference statistics",
     "**biased** variance (divide by m) for normalising *and* for `moving_variance`; no Bessel correction",
     "normalises with the biased variance, but `running_var` takes the **unbiased** one",
     ("normalization", "BatchNormTrain")),
    ("batch-norm momentum", "a running average, no fixed convention",
     "`moving = moving·momentum + batch·(1 − momentum)`, **momentum = 0.99** = the weight of the old value",
     "`running = (1 − momentum)·running + momentum·batch`, **momentum = 0.1** = the weight of the new batch "
     "(PyTorch's 0.1 is Keras's 0.9)", ("normalization", "BatchNormTrain")),
    ("batch-norm ε", "a small constant", "**ε = 1e-3** (BatchNormalization and LayerNormalization)",
     "eps = 1e-5 (BatchNorm2d and LayerNorm)", ("normalization", None)),
    ("batch-norm: which statistics", "training: batch; inference: population",
     "batch statistics only when `training` is true **and** the layer is trainable (a frozen layer "
     "uses its moving averages even inside `fit`)", "only `module.training` decides (`requires_grad` "
     "does not)", ("normalization", "BatchNormTrain")),
    ("batch-norm op order", "(x - mean) / sqrt(var + ε) · γ + β",
     "`inv = rsqrt(var + ε)·γ`; `y = x·inv + (β − mean·inv)` (same value, different float32 rounding)",
     "fused kernel; order not specified", ("normalization", None)),
    ("dropout", "multiply by a Bernoulli(p) mask in training, scale the activations by p at test time",
     "**inverted dropout**: keep with p = 1 − rate and divide the kept units by p in training; "
     "inference is the exact identity", "inverted dropout too (`p` is the drop rate, like Keras's `rate`)",
     ("dropout", "Dropout")),
    ("leaky ReLU slope", "0.01 in the original paper", "`LeakyReLU` layer: **0.3**; "
     "`leaky_relu` function: **0.2**", "0.01", ("activations", "LeakyReLU")),
    ("hard sigmoid", "0.2x + 0.5, clipped (Keras 2)", "**relu6(x + 3) / 6** (Keras 3)", "relu6(x + 3) / 6",
     ("activations", "HardSigmoid")),
    ("GELU", "exact, x·Φ(x)", "exact erf form by default (`approximate=False`)", "exact by default "
     "(`approximate='none'`)", ("activations", "Gelu")),
    ("crossentropy on probabilities", "-Σ y log p",
     "p is **renormalised** (p / Σp) and **clipped** to [1e-7, 1 − 1e-7] first (binary: clipped in "
     "float32, so p = 1 with y = 0 costs 15.942)", "`CrossEntropyLoss` takes logits; `BCELoss` clamps "
     "each log at −100", ("losses", None)),
    ("loss reduction", "mean over the batch", "`sum_over_batch_size`: Σ(w·loss) / **number of elements**, "
     "not / Σw", "`reduction='mean'`; with class weights, divides by Σw", ("losses", None)),
    ("flatten order", "-", "channels_last, C order: the **channel index runs fastest**",
     "channels_first: the width index runs fastest (porting a Dense after Flatten needs a permutation)",
     ("reshaping", None)),
    ("Adam", "m̂ / (sqrt(v̂) + ε)", "**ε-hat** form: `lr_t = lr·sqrt(1 − β2^t)/(1 − β1^t)`, "
     "`w -= m·lr_t / (sqrt(v) + ε)`, ε = 1e-7", "the textbook form, eps = 1e-8", ("optimizers", None)),
    ("RMSprop / Adagrad ε", "outside the square root", "**inside**: `g / sqrt(v + ε)`, ε = 1e-7; RMSprop ρ = 0.9",
     "outside: `g / (sqrt(v) + eps)`, eps = 1e-8; RMSprop alpha = 0.99", ("optimizers", None)),
    ("L2 regularisation", "(λ / 2) Σ w²", "`l2·Σ w²`, no 1/2, added once per batch",
     "`weight_decay` in the optimizer: adds wd·w to the gradient, i.e. (wd / 2)·Σ w²", ("optimizers", None)),
]

SEPARABLE = """\
Not one op but two, chained on the tape (Keras's ``SeparableConv2D`` layer computes the same):
a depthwise convolution, then a 1x1 ("pointwise") convolution, **no bias in between**, then the
bias and the activation. Weights, in Keras's order: ``depthwise_kernel`` (kh, kw, C, dm),
``pointwise_kernel`` (1, 1, C·dm, F), ``bias`` (F,).

    hidden[n, i, j, c·dm + m] = sum_{a, b} xp[n, i·sh + a·dh, j·sw + b·dw, c] · D[a, b, c, m]
    y[n, i, j, f]             = bias[f] + sum_k hidden[n, i, j, k] · P[0, 0, k, f]      (k = c·dm + m)

Strides, padding and dilation apply **only to the depthwise step**; the pointwise step is a
1x1 convolution with stride 1 and "valid" padding. The pointwise sum runs over k = c·dm + m,
the depthwise output channels in Keras's order (input channel c, multiplier m).

Gradients are those of the two ops chained (G = dL/dy, dH = dL/d hidden):

    dP[0, 0, k, f] = sum_{n,i,j} hidden[n, i, j, k] · G[n, i, j, f]        dbias = sum_{n,i,j} G
    dH[n, i, j, k] = sum_f G[n, i, j, f] · P[0, 0, k, f]
    dD, dx         = the DepthwiseConv2D gradients with dH as the incoming gradient

PyTorch has no separable layer: it is written as a ``Conv2d(groups=C, out_channels=C·dm,
bias=False)`` followed by a 1x1 ``Conv2d``, with the same channel order c·dm + m.
"""

MOVING_AVERAGES = """\
BatchNormalization keeps two non-trainable weights, ``moving_mean`` and ``moving_variance``
(initialised to 0 and 1). A call that normalises with batch statistics — ``training`` true
**and** the layer trainable — then updates them in place, outside the tape:

    moving_mean     = moving_mean · momentum + batch_mean · (1 − momentum)
    moving_variance = moving_variance · momentum + batch_variance · (1 − momentum)

with ``batch_variance`` the **biased** variance (divide by m), the same one the batch was
normalised with. Every other call — inference, ``predict``, ``evaluate``, a plain
``model(x)``, and any call of a layer with ``trainable = False``, even inside ``fit`` — uses
the moving statistics and leaves them unchanged. Keras's defaults: ``momentum = 0.99`` (the
weight of the *old* value), ``epsilon = 1e-3``.

PyTorch writes ``running = (1 − momentum)·running + momentum·batch`` with ``momentum = 0.1``,
the weight of the *new* batch (so PyTorch's 0.1 is Keras's 0.9), ``eps = 1e-5``, and stores the
**unbiased** variance (times m / (m − 1)) in ``running_var`` while normalising with the biased
one. The textbook (Ioffe & Szegedy) uses the unbiased variance for inference too. Converting a
PyTorch model: Keras ``momentum = 1 − torch_momentum``, and copy ``running_var`` as it is (it is
only used at inference, where both normalise by it).

The code (``BatchNormalization.call`` in ``numpy_nn/layers/normalization.py``):
"""

INTRO = """\
# Formulas: every op, forward and backward, and the code that computes it

This page is generated from the **reference tier**, the code in `numpy_nn/ops/<family>.py`, by
`python tools/make_formulas.py` (a test fails when it is out of date), so it shows exactly what
runs with `nn.config.set_kernels("reference")`: for every op its docstring (the forward formula
and every gradient formula) and then its `forward` and `backward`, which read like that
formula. The fast tier (`numpy_nn/ops/kernels/`, the default) computes the same numbers with
chunks, threads and blocked sums; it is tested against this code and described in
[performance.md](performance.md#the-fast-tier-kernel-by-kernel).

Conventions: channels_last tensors (N, H, W, C); `g` (or `dy`, `G`) is the gradient arriving from
above, `dL/d(output)`; gradients of broadcast inputs are summed back to the input's shape in one
place (`numpy_nn.autograd.function.unbroadcast`). The Keras facts the code relies on, with the
command that measures each, are in [keras-conventions.md](keras-conventions.md).

Every gradient formula here is checked in float64 against central finite differences by
`nn.gradcheck` (`numpy_nn/autograd/gradcheck.py`, the one checker the tests use), in both tiers.
Check one yourself, or an op you wrote:

```python
import numpy as np
import numpy_nn as nn
from numpy_nn.ops.normalization import BatchNormTrain

rng = np.random.default_rng(0)
x, gamma, beta = rng.standard_normal((3, 4, 2)), rng.uniform(0.5, 2, 2), rng.standard_normal(2)
nn.gradcheck(lambda x, g, b: BatchNormTrain.apply(x, g, b), [x, gamma, beta], names=["x", "gamma", "beta"])
# True, or GradcheckError: "x (shape (3, 4, 2)): 2 of 24 elements disagree; worst at index ..."
# wrt=[0] checks only some inputs; upstream=w fixes the weights of L = sum(w * output); seed=...
# float64 Tensors that require grad (a layer's weights) are perturbed in place:
#     nn.gradcheck(lambda *_: layer(x), [x, layer.kernel, layer.bias])
```
"""


def _anchor(*parts):
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)


def _source(obj):
    return textwrap.dedent(inspect.getsource(obj)).rstrip() + "\n"


def _own_doc(obj):
    """The docstring written on ``obj`` itself (classes do not inherit ``__doc__``)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    return inspect.cleandoc(doc) if doc else ""


def _code_without_docstring(cls):
    """The methods of ``cls`` defined in its own body, in source order (the docstring is shown above)."""
    methods = [m for m in cls.__dict__.values() if inspect.isfunction(m) and m.__qualname__.startswith(cls.__name__)]
    methods.sort(key=lambda m: inspect.getsourcelines(m)[1])
    return "\n".join(_source(m) for m in methods)


def _inherited_note(cls):
    """'forward is inherited from Base' for a reference op that reuses another op's code."""
    notes = []
    for method in ("forward", "backward"):
        if method not in cls.__dict__:
            owner = next(k for k in cls.__mro__ if method in k.__dict__)
            family = owner.__module__.rsplit(".", 1)[1]
            notes.append(f"`{method}` is inherited from [{owner.__name__}](#{_anchor(family, owner.__name__)}).")
    return " ".join(notes) + "\n\n" if notes else ""


def function_classes():
    """[(family, module, [Function subclasses defined there, in source order])] for numpy_nn/ops/*.py."""
    import numpy_nn.ops as ops
    from numpy_nn.autograd.function import Function
    families = []
    for info in pkgutil.iter_modules(ops.__path__):
        if info.ispkg:  # ops/kernels/: the fast tier
            continue
        module = importlib.import_module(f"numpy_nn.ops.{info.name}")
        classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                   if issubclass(obj, Function) and obj is not Function and obj.__module__ == module.__name__]
        if classes:
            classes.sort(key=lambda c: inspect.getsourcelines(c)[1])
            families.append((info.name, module, classes))
    rank = {name: i for i, name in enumerate(FAMILY_ORDER)}
    families.sort(key=lambda f: (rank.get(f[0], len(rank)), f[0]))
    return families


def _helpers(module, classes):
    """Module-level functions of numpy_nn.ops that the classes' code calls by name (not the fast tier)."""
    code = "\n".join(_code_without_docstring(c) for c in classes)
    found = []
    for name, obj in vars(module).items():
        if (inspect.isfunction(obj) and obj.__module__.startswith("numpy_nn.ops.")
                and not obj.__module__.startswith("numpy_nn.ops.kernels")
                and re.search(rf"(?<![\w.]){re.escape(name)}\(", code)):
            found.append(obj)
    found.sort(key=lambda f: (f.__module__ != module.__name__, f.__module__, inspect.getsourcelines(f)[1]))
    return found


def _title(family):
    return FAMILY_TITLES.get(family, family.replace("_", " ").capitalize())


def _conventions_for(family, op, present):
    rows = [r for r in CONVENTIONS if r[4][0] == family and (r[4][1] == op or (op is None and r[4][1] not in present))]
    if not rows:
        return ""
    lines = ["| | textbook | Keras (and numpy_nn) | PyTorch |", "|---|---|---|---|"]
    lines += [f"| {topic} | {textbook} | {keras} | {torch} |" for topic, textbook, keras, torch, _ in rows]
    return "Where the textbook, Keras and PyTorch differ here:\n\n" + "\n".join(lines) + "\n"


def _extra_sections(family):
    """Sections that are not one Function: (anchor, heading, body) after the family's ops."""
    extra = []
    if family == "conv":
        conv = importlib.import_module("numpy_nn.ops.conv")
        body = SEPARABLE
        if hasattr(conv, "separable_conv2d"):
            body += "\nThe code (``separable_conv2d`` in ``numpy_nn/ops/conv.py``):\n\n```python\n" + \
                    _source(conv.separable_conv2d) + "```\n"
        extra.append((_anchor("conv", "SeparableConv2D"), "SeparableConv2D: depthwise, then pointwise", body))
    if family == "normalization":
        layers = importlib.import_module("numpy_nn.layers.normalization")
        code = _source(layers.BatchNormalization.call)
        if hasattr(layers.BatchNormalization, "update_moving_statistics"):
            code += "\n" + _source(layers.BatchNormalization.update_moving_statistics)
        body = MOVING_AVERAGES + "\n```python\n" + code + "```\n"
        extra.append((_anchor("normalization", "moving averages"),
                      "BatchNormalization: the moving averages (momentum, moving_mean, moving_variance)", body))
    return extra


def _convention_table(families):
    present = {f for f, _, _ in families}
    lines = ["| topic | textbook | Keras (and numpy_nn) | PyTorch | section |", "|---|---|---|---|---|"]
    for topic, textbook, keras, torch, (family, op) in CONVENTIONS:
        if family in present:
            target = f"[{op or _title(family)}](#{_anchor(family, op) if op else _anchor(family)})"
        else:
            target = f"`numpy_nn/{family}.py`"
        lines.append(f"| {topic} | {textbook} | {keras} | {torch} | {target} |")
    return "\n".join(lines) + "\n"


def render():
    families = function_classes()
    parts = [INTRO, "\n## Contents\n\n",
             "- [Where the textbook, Keras and PyTorch differ](#conventions)\n",
             "- [Window geometry (`numpy_nn/ops/geometry.py`)](#geometry)\n"]
    for family, _, classes in families:
        ops = [f"[{c.__name__}](#{_anchor(family, c.__name__)})" for c in classes]
        ops += [f"[{heading.split(':')[0]}](#{anchor})" for anchor, heading, _ in _extra_sections(family)]
        parts.append(f"- [{_title(family)}](#{_anchor(family)}): {', '.join(ops)}\n")

    parts.append('\n<a id="conventions"></a>\n## Where the textbook, Keras and PyTorch differ (numpy_nn follows Keras)\n\n')
    parts.append(_convention_table(families))

    geometry = importlib.import_module("numpy_nn.ops.geometry")
    parts.append('\n<a id="geometry"></a>\n## Window geometry (`numpy_nn/ops/geometry.py`)\n\n')
    parts.append((inspect.getdoc(geometry) or "") + "\n")

    for family, module, classes in families:
        parts.append(f'\n<a id="{_anchor(family)}"></a>\n## {_title(family)} (`numpy_nn/ops/{family}.py`)\n\n')
        parts.append((inspect.getdoc(module) or "") + "\n")
        present = {c.__name__ for c in classes}
        family_notes = _conventions_for(family, None, present)
        if family_notes:
            parts.append("\n" + family_notes)
        helpers = _helpers(module, classes)
        if helpers:
            parts.append("\nHelpers the code below calls:\n\n```python\n")
            parts.append("\n\n".join(_source(h).rstrip() for h in helpers) + "\n```\n")
        for cls in classes:
            parts.append(f'\n<a id="{_anchor(family, cls.__name__)}"></a>\n### {cls.__name__}\n\n')
            parts.append(f"```text\n{_own_doc(cls)}\n```\n\n")
            notes = _conventions_for(family, cls.__name__, present)
            if notes:
                parts.append(notes + "\n")
            parts.append(_inherited_note(cls))
            code = _code_without_docstring(cls)
            if code:
                parts.append(f"```python\n{code}```\n")
        for anchor, heading, body in _extra_sections(family):
            parts.append(f'\n<a id="{anchor}"></a>\n### {heading}\n\n{body}')
    return "".join(parts)


# -- docs/performance.md: the fast tier's notes ----------------------------------------------------------
KERNELS_BEGIN, KERNELS_END = "<!-- kernels:begin -->", "<!-- kernels:end -->"


def render_kernel_notes():
    """Markdown for the fast tier: each kernels module's docstring, then each registered kernel's own notes."""
    import numpy_nn.ops.kernels as kernels
    from numpy_nn.autograd.function import fast_kernels
    registered = fast_kernels()
    parts = [KERNELS_BEGIN, "\n*Generated from the docstrings in `numpy_nn/ops/kernels/` by "
             "`python tools/make_formulas.py`.*\n"]
    for info in sorted(pkgutil.iter_modules(kernels.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"numpy_nn.ops.kernels.{info.name}")
        parts.append(f"\n#### `numpy_nn/ops/kernels/{info.name}.py`\n\n{inspect.getdoc(module) or ''}\n")
        fast = sorted((k for k in registered.values() if k.__module__ == module.__name__),
                      key=lambda k: inspect.getsourcelines(k)[1])
        for kernel in fast:
            reference = kernel.reference
            parts.append(f"\n**{kernel.__name__}** — must equal `{reference.__module__}.{reference.__name__}`"
                         f" ([its formula](formulas.md#{_anchor(reference.__module__.rsplit('.', 1)[1], reference.__name__)})).\n")
            doc = _own_doc(kernel)
            if doc:
                parts.append(f"\n```text\n{doc}\n```\n")
    parts.append(KERNELS_END)
    return "".join(parts)


def update_performance(text):
    """``text`` (docs/performance.md) with the generated kernel notes replaced."""
    if KERNELS_BEGIN not in text or KERNELS_END not in text:
        raise ValueError(f"docs/performance.md has no {KERNELS_BEGIN} ... {KERNELS_END} section")
    head, rest = text.split(KERNELS_BEGIN, 1)
    tail = rest.split(KERNELS_END, 1)[1]
    return head + render_kernel_notes() + tail


if __name__ == "__main__":
    target = ROOT / "docs" / "formulas.md"
    target.write_text(render())
    print(f"wrote {target}")
    performance = ROOT / "docs" / "performance.md"
    performance.write_text(update_performance(performance.read_text()))
    print(f"updated the kernel notes in {performance}")
