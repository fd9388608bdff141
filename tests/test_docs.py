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


def test_every_op_has_a_formula_entry_with_forward_and_gradient():
    make_formulas = _render()
    text = (ROOT / "docs" / "formulas.md").read_text()
    count = 0
    for family, module, classes in make_formulas.function_classes():
        for cls in classes:
            count += 1
            assert f"### {cls.__name__}\n" in text, f"{family}.{cls.__name__} has no entry in docs/formulas.md"
            doc = (cls.__doc__ or "").strip()
            assert doc, f"{family}.{cls.__name__} has no docstring"
    assert count >= 40


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
