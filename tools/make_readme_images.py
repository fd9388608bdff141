"""Regenerate the README's images from the current tour, and record what made them.

    python tools/make_readme_images.py

Runs the full tour (``numpy-nn tour``, seed 0) in a temporary folder, copies the figures the
README shows into ``docs/images/`` (``IMAGES``), and writes ``docs/images/MANIFEST.json``: the
command, the SHA-256 of each image, the SHA-256 of every source file that draws them
(``SOURCES``), and what the run measured (times, accuracy, the machine's load before and after).
``tests/test_docs.py`` recomputes the source hashes and fails, naming this command, when the code
that draws the images has changed since they were made, or when an image was replaced by hand.
"""
import hashlib
import json
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGE_DIR = ROOT / "docs" / "images"
MANIFEST = IMAGE_DIR / "MANIFEST.json"
COMMAND = "python tools/make_readme_images.py"
# the code that decides what the README's figures show: the tour (data, model, training schedule,
# which figures), the synthetic data, and the viz modules that draw them
SOURCES = ["numpy_nn/tour.py", "numpy_nn/datasets.py", "numpy_nn/viz/plotting.py", "numpy_nn/viz/cam.py",
           "numpy_nn/viz/colormap.py"]
IMAGES = {"gradcam.png": "tour_gradcam.png", "learning_curves.png": "tour_learning_curves.png"}
SEED = 0


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def source_hashes(root=ROOT):
    """``{path: sha256}`` of every file in ``SOURCES`` (``"missing"`` for a file that no longer exists)."""
    return {name: sha256(root / name) if (root / name).is_file() else "missing" for name in SOURCES}


def _load():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def main():
    sys.path.insert(0, str(ROOT))
    from numpy_nn.config import tune_allocator
    from numpy_nn.tour import run_tour
    tune_allocator()  # as `numpy-nn tour` does
    load_before = _load()
    with tempfile.TemporaryDirectory() as folder:
        started, cpu_started = time.perf_counter(), time.process_time()
        numbers = run_tour(out_dir=folder, quick=False, seed=SEED)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        load_after = _load()
        IMAGE_DIR.mkdir(parents=True, exist_ok=True)
        for produced, shown in IMAGES.items():
            shutil.copyfile(pathlib.Path(folder) / produced, IMAGE_DIR / shown)
    manifest = {
        "command": COMMAND,
        "made_by": f"run_tour(quick=False, seed={SEED})",
        "images": {shown: sha256(IMAGE_DIR / shown) for shown in IMAGES.values()},
        "sources": source_hashes(),
        "measured": {
            "total_seconds": round(numbers["total_seconds"], 1),
            "train_seconds": round(numbers["train_seconds"], 1),
            "epochs_run": numbers["epochs_run"],
            "seconds_per_epoch": round(numbers["seconds_per_epoch"], 2),
            "test_accuracy": round(numbers["test_accuracy"], 4),
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {', '.join(IMAGES.values())} and {MANIFEST.relative_to(ROOT)} "
          f"(tour {wall:.0f} s, load {load_before} -> {load_after})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
