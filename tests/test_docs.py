"""The docs that are generated from code stay in sync with it."""
import hashlib
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tool(name):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def _render():
    return _tool("make_formulas")


def test_formulas_doc_is_generated_from_current_docstrings():
    make_formulas = _render()
    current = (ROOT / "docs" / "formulas.md").read_text()
    assert current == make_formulas.render(), "docs/formulas.md is stale: run python tools/make_formulas.py"


def test_every_reference_op_has_its_formula_then_its_forward_and_backward_code():
    import inspect
    import textwrap
    make_formulas = _render()
    text = (ROOT / "docs" / "formulas.md").read_text()
    count = 0
    for family, module, classes in make_formulas.function_classes():
        assert "kernels" not in module.__name__, "the fast tier does not belong in docs/formulas.md"
        for cls in classes:
            count += 1
            doc = (cls.__dict__.get("__doc__") or "").strip()
            assert doc, f"{family}.{cls.__name__} has no docstring"
            section = text.split(f"### {cls.__name__}\n", 1)[1].split("\n### ", 1)[0]
            assert inspect.cleandoc(doc) in section, f"{family}.{cls.__name__}: formula missing"
            for method in ("forward", "backward"):
                if method not in cls.__dict__:
                    assert f"`{method}` is inherited from" in section
                    continue
                code = textwrap.dedent(inspect.getsource(getattr(cls, method)))
                assert code.strip() in section, f"{family}.{cls.__name__}.{method}: code missing"
            assert section.index(inspect.cleandoc(doc)) < section.index("```python"), "formula above the code"
    assert count >= 40
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    assert contents.count("](#") >= count


def test_formulas_has_the_separable_and_moving_average_sections():
    text = (ROOT / "docs" / "formulas.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    separable = [h for h in headings if "SeparableConv2D" in h]
    assert separable, "no SeparableConv2D heading"
    section = text.split(separable[0], 1)[1].split("\n## ", 1)[0]
    for words in ("no bias in between", "c·dm + m", "depthwise_kernel", "pointwise_kernel", "only to the depthwise"):
        assert words in section, words
    moving = [h for h in headings if "moving averages" in h]
    assert moving, "no heading for the batch-norm moving averages"
    section = text.split(moving[0], 1)[1].split("\n## ", 1)[0]
    for words in ("moving_mean · momentum + batch_mean · (1 − momentum)", "moving_variance", "momentum = 0.99",
                  "momentum = 0.1", "epsilon = 1e-3", "biased", "trainable", "self.moving_mean.assign"):
        assert words in section, words


def test_performance_kernel_notes_are_generated_from_the_fast_tier():
    from numpy_nn.autograd.function import fast_kernels
    make_formulas = _render()
    current = (ROOT / "docs" / "performance.md").read_text()
    assert current == make_formulas.update_performance(current), \
        "docs/performance.md kernel notes are stale: run python tools/make_formulas.py"
    for reference, kernel in fast_kernels().items():
        assert f"**{kernel.__name__}** — must equal `{reference.__module__}.{reference.__name__}`" in current


def test_readme_quickstart_has_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert "numpy-nn tour" in commands[0] and "pytest" in commands[1]


def test_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "numpy_nn.cli", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    for command in ("tour", "compare", "summary", "bench"):
        assert command in out


def test_keras_conventions_page_names_only_tests_that_exist_and_every_test_is_named():
    import re
    text = (ROOT / "docs" / "keras-conventions.md").read_text()
    named = set(re.findall(r"`(test_\w+)`", text))
    source = (ROOT / "tests" / "test_keras_conventions.py").read_text()
    defined = set(re.findall(r"^def (test_\w+)\(", source, flags=re.M))
    assert named == defined, f"named but missing: {named - defined}; tests not named on the page: {defined - named}"
    readme = (ROOT / "README.md").read_text()
    assert "(docs/keras-conventions.md)" in readme


def test_readme_images_are_made_from_the_current_sources():
    tool = _tool("make_readme_images")
    manifest = json.loads((ROOT / "docs" / "images" / "MANIFEST.json").read_text())
    command = manifest["command"]
    assert command == tool.COMMAND
    changed = [path for path, digest in tool.source_hashes().items() if manifest["sources"].get(path) != digest]
    assert not changed, f"README images are stale ({', '.join(changed)} changed since they were drawn): run {command}"
    readme = (ROOT / "README.md").read_text()
    for image, digest in manifest["images"].items():
        path = ROOT / "docs" / "images" / image
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{image} was not made by {command}"
    assert any(f"docs/images/{image}" in readme for image in manifest["images"]), "the README shows no tour image"
    assert command in readme, "the README names the command that regenerates its images"


def test_package_docstring_cites_files_that_exist():
    import numpy_nn
    cited = set(re.findall(r"\b[\w./-]+\.(?:md|py)\b", numpy_nn.__doc__))
    assert cited, "the package docstring points the reader somewhere"
    missing = [name for name in cited if not (ROOT / name).exists()]
    assert not missing, f"numpy_nn.__doc__ cites files that do not exist: {missing}"


def test_getting_started_compares_the_file_it_saved():
    text = (ROOT / "docs" / "getting-started.md").read_text()
    saving = text.split("## 4.", 1)[1].split("## 5.", 1)[0]
    checking = text.split("## 5.", 1)[1].split("## 6.", 1)[0]
    saved = re.findall(r'save_model\(model, "([^"]+\.keras)"\)', saving)
    compared = re.findall(r"numpy-nn (?:compare|summary) (\S+\.keras)", checking)
    assert saved and compared and set(compared) == set(saved), (saved, compared)
    assert 'pip install -e ".[keras]"' in text


def test_keras_parity_page_documents_the_large_random_sweep():
    from tests import random_parity
    text = (ROOT / "docs" / "keras-parity.md").read_text()
    assert "python -m tests.random_parity --n 1000" in text
    assert f"first {random_parity.CI_CONFIGS} configurations of seed 0" in text
    assert all(f"| {name} |" in text for name in random_parity.LAYERS), "the sweep's table lists every layer kind"


def test_the_kernel_switch_is_documented_in_performance_and_readme():
    text = (ROOT / "docs" / "performance.md").read_text()
    section = text.split("## Two tiers: reference and fast", 1)[1].split("\n## ", 1)[0]
    for words in ('set_kernels("reference")', "use_kernels", "kernels()", "NUMPY_NN_KERNELS=reference",
                  "python -m benchmarks.profile_ops", "reference / fast"):
        assert words in section, words
    readme = (ROOT / "README.md").read_text()
    inside = readme.split("## What is inside", 1)[1].split("\n## ", 1)[0]
    assert "NUMPY_NN_KERNELS=reference" in inside and "use_kernels" in inside
