"""The docs that are generated from code stay in sync with it."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _render():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_formulas
        return make_formulas
    finally:
        sys.path.pop(0)


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
