"""The ``numpy-nn`` command.

    numpy-nn tour [--out DIR] [--quick]           train, evaluate, draw, report (the main job)
    numpy-nn compare model.keras [--input FILE]   per-layer differences vs Keras (needs keras); FILE is
                                                  x.npy, or x.npz with one array per input name
    numpy-nn summary model.keras                  the model summary (no Keras needed)
    numpy-nn bench [--quick] [...]                the benchmarks/ suite, ratios side by side
    numpy-nn bench --compare OLD.json NEW.json    two runs: ratio per workload with a bootstrap confidence interval
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
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    handler = {"tour": _tour, "summary": _summary, "compare": _compare}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"numpy-nn {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
