"""Run Keras's own unit tests (from the installed ``keras`` package) through numpy_nn.

    python -m tests.keras_upstream.run [--json out.json] [--list] [FILE_GLOB ...]

The test files are copied unchanged from ``keras/src/`` in site-packages into a temporary
folder and run by pytest in a subprocess whose ``keras`` is the shim in ``shim.py`` (numpy_nn
underneath). Each case ends up in one of:

- ``passed``;
- ``failed``: an assertion of the test failed (a wrong value, shape, dtype or config);
- ``wording``: only the text of an expected error message differs (``assertRaisesRegex``);
- ``error``: the test could not run (a Keras feature the shim or numpy_nn does not have,
  e.g. KerasTensor, sparse tensors, mixed-precision policies, stateless JAX training);
- ``skipped``: skipped by the test itself (e.g. TensorFlow-only cases).

The installed Keras must be importable (only to locate its source files); it is never imported
in the subprocess that runs the tests.
"""
import argparse
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

# The families of issue 13 (optimizers, schedules, losses, metrics, BatchNormalization) and of
# issue 12 (pooling 1-D/2-D, global pooling, and the 1-D/2-D padding, cropping, upsampling layers).
DEFAULT_FILES = ["optimizers/*_test.py", "optimizers/schedules/*_test.py", "losses/*_test.py",
                 "metrics/*_test.py", "layers/normalization/batch_normalization_test.py",
                 "layers/pooling/max_pooling_test.py", "layers/pooling/average_pooling_test.py",
                 "layers/pooling/global_*_pooling_test.py", "layers/reshaping/zero_padding[12]d_test.py",
                 "layers/reshaping/cropping[12]d_test.py", "layers/reshaping/up_sampling[12]d_test.py"]


def keras_source_dir():
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("keras is not installed: pip install -e '.[keras]'")
    return os.path.join(list(spec.submodule_search_locations)[0], "src")


def _classify(case):
    for tag in ("failure", "error"):
        node = case.find(tag)
        if node is not None:
            text = (node.get("message") or "") + (node.text or "")
            if tag == "failure" and ("does not match" in text or "not raised" in text
                                     and "Regex" in text):
                return "wording", text
            if tag == "failure" and "AssertionError" in text.split("\n")[0] + (node.get("message") or ""):
                return "failed", text
            if tag == "failure" and ("assert" in text.lower() and "Error" not in (node.get("message") or "")):
                return "failed", text
            return "error", text
    if case.find("skipped") is not None:
        return "skipped", case.find("skipped").get("message") or ""
    return "passed", ""


def run(patterns=None, timeout=900):
    """Run the upstream files matching ``patterns``; returns ``{case_id: (outcome, detail)}``."""
    source = keras_source_dir()
    files = sorted({f for p in (patterns or DEFAULT_FILES) for f in glob.glob(os.path.join(source, p))})
    workdir = tempfile.mkdtemp(prefix="keras_upstream_")
    try:
        copied = []
        for path in files:
            relative = os.path.relpath(path, source).replace(os.sep, "__")
            target = os.path.join(workdir, relative)
            shutil.copy(path, target)
            copied.append(target)
        report = os.path.join(workdir, "report.xml")
        repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=repo_root + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   KERAS_BACKEND="numpy")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                   "tests.keras_upstream.plugin", "--rootdir", workdir, "-o", "addopts=",
                   "--continue-on-collection-errors", "--junitxml", report, *copied]
        subprocess.run(command, cwd=workdir, env=env, timeout=timeout, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
        results = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            module = case.get("classname", "").split(".")[0].replace("__", "/")
            name = f"{module}::{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
            results[name] = _classify(case)
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def summarize(results):
    counts = {}
    for outcome, _ in results.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("patterns", nargs="*", help="globs relative to keras/src (default: issue 13's families)")
    parser.add_argument("--json", help="write {case: [outcome, detail]} here")
    parser.add_argument("--list", choices=["passed", "failed", "wording", "error", "skipped"],
                        help="print the cases with this outcome")
    parser.add_argument("--detail", action="store_true", help="with --list, print the first line of the reason")
    args = parser.parse_args(argv)
    results = run(args.patterns or None)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1, sort_keys=True)
    if args.list:
        for name, (outcome, detail) in sorted(results.items()):
            if outcome == args.list:
                reason = detail.strip().split("\n")[-1][:200] if args.detail else ""
                print(name, reason)
    per_file = {}
    for name, (outcome, _) in results.items():
        per_file.setdefault(name.split("::")[0], {}).setdefault(outcome, 0)
        per_file[name.split("::")[0]][outcome] += 1
    for name, counts in sorted(per_file.items()):
        print(f"{name:60s} " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print("total", len(results), summarize(results))


if __name__ == "__main__":
    main()
