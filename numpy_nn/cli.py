"""The ``numpy-nn`` command.

    numpy-nn tour [--out DIR] [--quick]           train, evaluate, draw, report (the main job)
    numpy-nn compare model.keras [--input FILE]   per-layer differences vs Keras (needs keras); FILE is
                                                  x.npy, or x.npz with one array per input name
    numpy-nn summary model.keras                  the model summary (no Keras needed)
    numpy-nn bench [--quick] [...]                the benchmarks/ suite, ratios side by side
    numpy-nn bench --compare OLD.json NEW.json    two runs: ratio per workload with a bootstrap confidence interval
    numpy-nn exercise list | show NAME | check NAME FILE.py
                                                  write an op's backward pass yourself and check it
    numpy-nn explain LAYER --shape 2,3 [--seed S] [--training] [--units 3 ...]
                                                  every number of one layer's forward and backward pass
"""
import argparse
import sys


def _tour(args):
    from .config import tune_allocator
    from .tour import run_tour
    tune_allocator()  # this process only trains: reuse freed memory for large temporaries (docs/performance.md)
    run_tour(out_dir=args.out, quick=args.quick, seed=args.seed)
    return 0


def _summary(args):
    from .saving import load_model
    model = load_model(args.path, compile=False)
    model.summary()
    return 0


def load_inputs(path):
    """``--input``: a ``.npy`` file (one array) or an ``.npz`` file (a dict keyed by input name)."""
    import os
    import numpy as np
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such input file: {path!r}")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    raise ValueError(f"--input must be a .npy file (one input) or a .npz file keyed by input name; received {path!r}")


def _compare(args):
    from .interop import compare_file
    x = load_inputs(args.input) if args.input else None
    compare_file(args.path, x, seed=args.seed, training=False)
    return 0


def _bench(args, rest):
    from .bench import main as bench_main
    return bench_main(rest + (["--quick"] if args.quick else []))


def _exercise(args):
    from . import exercises
    if args.action == "list":
        for name in exercises.list_exercises():
            e = exercises.get(name)
            print(f"{name:<22} {e.signature}")
        return 0
    if not args.name:
        raise ValueError(f"exercise {args.action} needs an exercise name; one of: "
                         f"{', '.join(exercises.list_exercises())}")
    if args.action == "show":
        print(exercises.show(args.name))
        return 0
    if not args.file:
        raise ValueError(f"usage: numpy-nn exercise check {args.name} FILE.py (a file defining backward)")
    backward = _load_backward(args.file)
    report = exercises.check(args.name, backward, seed=args.seed, keras=False if args.no_keras else None)
    print(report)
    return 0 if report.passed else 1


def _load_backward(path):
    """The ``backward`` function defined in the Python file ``path``."""
    import importlib.util
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    spec = importlib.util.spec_from_file_location("exercise_solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "backward", None)):
        raise ValueError(f"{path} must define a function called backward")
    return module.backward


def _explain(args, rest):
    from .explain import explain, parse_layer_arguments
    try:
        shape = tuple(int(n) for n in args.shape.split(","))
    except ValueError:
        raise ValueError(f"--shape takes sizes separated by commas, batch first (e.g. 2,3); "
                         f"received {args.shape!r}") from None
    print(explain(args.layer, shape, seed=args.seed, training=args.training, keras=False if args.no_keras else None,
                  **parse_layer_arguments(rest)))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="numpy-nn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="train a small CNN and write figures and a report")
    tour.add_argument("--out", default="tour_output", help="output folder (default: tour_output)")
    tour.add_argument("--quick", action="store_true",
                      help="a smoke run: every step, a tiny model, chance-level accuracy (used by the tests)")
    tour.add_argument("--seed", type=int, default=0)
    compare = sub.add_parser("compare", help="per-layer differences between Keras and numpy_nn")
    compare.add_argument("path", help="a .keras file")
    compare.add_argument("--input", help="a .npy file with a batch of inputs, or a .npz file with one array per "
                                         "input name (models with several inputs); random inputs if omitted")
    compare.add_argument("--seed", type=int, default=0, help="seed of the random inputs used without --input")
    summary = sub.add_parser("summary", help="print the summary of a .keras file (no Keras needed)")
    summary.add_argument("path")
    bench = sub.add_parser("bench", help="run the benchmarks side by side with PyTorch and JAX; "
                                         "bench --compare OLD.json NEW.json compares two runs")
    bench.add_argument("--quick", action="store_true")
    exercise = sub.add_parser("exercise", help="write an op's backward pass yourself and check it")
    exercise.add_argument("action", choices=["list", "show", "check"])
    exercise.add_argument("name", nargs="?", help="the exercise (see: numpy-nn exercise list)")
    exercise.add_argument("file", nargs="?", help="check: a Python file defining backward(...)")
    exercise.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    exercise.add_argument("--no-keras", action="store_true", help="skip the comparison with Keras")
    explain = sub.add_parser("explain", help="every number of one layer's forward and backward pass",
                             description="Layer arguments follow as --name value (e.g. --units 3).")
    explain.add_argument("layer", help="a layer name of numpy_nn.layers (BatchNormalization, Dense, ...)")
    explain.add_argument("--shape", required=True, help="input shape, batch first, e.g. 2,3")
    explain.add_argument("--seed", type=int, default=0)
    explain.add_argument("--training", action="store_true", help="call the layer with training=True")
    explain.add_argument("--no-keras", action="store_true", help="skip the comparison with Keras")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(args, rest)
    if rest and args.command != "explain":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    handler = {"tour": _tour, "summary": _summary, "compare": _compare, "exercise": _exercise,
               "explain": lambda a: _explain(a, rest)}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"numpy-nn {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
