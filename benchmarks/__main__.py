"""``python -m benchmarks``: run the suite (see benchmarks/harness.py)."""
import sys

from .harness import main

if __name__ == "__main__":
    sys.exit(main())
