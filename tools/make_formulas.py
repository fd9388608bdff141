"""Regenerate docs/formulas.md from the op docstrings (the docstrings are the source of truth).

    python tools/make_formulas.py

Every ``Function`` subclass in ``numpy_nn/ops/*.py`` gets a section with its docstring, grouped
by family file; ``tests/test_docs.py`` checks that the file is up to date.
"""
import importlib
import inspect
import pathlib
import pkgutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INTRO = """# Formulas: every op, forward and backward

This page is generated from the docstrings in `numpy_nn/ops/` by `python tools/make_formulas.py`
(a test fails when it is out of date), so it says exactly what the code says. Conventions:
channels_last tensors (N, H, W, C); `g` (or `dy`) is the gradient arriving from above,
`dL/d(output)`; gradients of broadcast inputs are summed back to the input's shape in one place
(`numpy_nn.autograd.function.unbroadcast`).

## Where Keras and the textbook differ (numpy_nn follows Keras)

| topic | textbook | Keras (and numpy_nn) |
|---|---|---|
| dropout | multiply by a Bernoulli(p) mask at train time, scale activations by p at test time | **inverted dropout**: divide kept units by p = 1 - rate at train time; inference is the exact identity |
| batch-norm variance | often the unbiased (n-1) variance for the running estimate | **biased** variance (divide by n) for normalising *and* for the moving variance; no Bessel correction |
| batch-norm op order | (x - mean) / sqrt(var + eps) * gamma + beta | `inv = rsqrt(var + eps) * gamma`; `y = x * inv + (beta - mean * inv)` (same value, different float32 rounding) |
| convolution | flips the kernel (true convolution) | **cross-correlation**: no flip |
| "same" padding | symmetric | total = max((out-1)s + k_eff - n, 0); **before = total // 2**, the extra pixel goes bottom/right |
| Adam | m_hat / (sqrt(v_hat) + eps) | **epsilon-hat** form: `lr_t = lr sqrt(1-b2^t)/(1-b1^t)`, `w -= m lr_t / (sqrt(v) + eps)`, eps = 1e-7 |
| RMSprop / Adagrad eps | outside the square root | **inside**: `g / sqrt(v + eps)` |
| crossentropy on probabilities | -sum y log p | p is **renormalised** (p / sum p) and **clipped** to [1e-7, 1 - 1e-7] first |
| L2 regularisation | (lambda / 2) sum w^2 | `l2 * sum(w^2)`, no 1/2, added once per batch |
"""


def function_classes():
    import numpy_nn.ops as ops
    from numpy_nn.autograd.function import Function
    families = []
    for info in sorted(pkgutil.iter_modules(ops.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"numpy_nn.ops.{info.name}")
        classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                   if issubclass(obj, Function) and obj is not Function and obj.__module__ == module.__name__]
        classes.sort(key=lambda c: inspect.getsourcelines(c)[1])
        families.append((info.name, module, classes))
    return families


def render():
    parts = [INTRO]
    for name, module, classes in function_classes():
        parts.append(f"\n## `numpy_nn/ops/{name}.py`\n")
        doc = inspect.getdoc(module)
        if doc:
            parts.append(doc + "\n")
        for cls in classes:
            parts.append(f"\n### {cls.__name__}\n\n```text\n{inspect.getdoc(cls) or ''}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    target = ROOT / "docs" / "formulas.md"
    target.write_text(render())
    print(f"wrote {target}")
