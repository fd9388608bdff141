"""``numpy-nn bench [--quick] [...]``: run the ``benchmarks/`` suite of a source checkout.

The suite lives beside the package (``benchmarks/`` at the repository root, not installed with
the wheel) because it imports PyTorch and JAX, which numpy_nn itself never needs. ``main(argv)``
finds it next to this package and hands ``argv`` to ``benchmarks.harness.main``; see
``python -m benchmarks --help`` for the options and docs/performance.md for the methodology.
"""
import sys
from pathlib import Path


def main(argv=None):
    """Run the benchmarks with command-line arguments ``argv`` (a list); return the exit code."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "benchmarks" / "harness.py").is_file():
        print("numpy-nn bench: the benchmarks/ suite ships with the source repository, not with the installed "
              f"package (looked in {root / 'benchmarks'}); run it from a clone: python -m benchmarks --quick",
              file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks.harness import main as harness_main
    return harness_main(list(argv) if argv is not None else None)


if __name__ == "__main__":
    sys.exit(main())
