"""``python -m fastmlp compile``: fill the kernel cache ahead of the first fit.

``python -m fastmlp run program.py [args]``: run a program with scikit-learn
patched (``fastmlp._run``).

``python -m fastmlp tiles [--summary] [--products] [--again]``: this machine's
tile limits, measured first where none are on file
(``fastmlp._runtime.tile_calibration``).
"""

import argparse
import sys

from ._first_use import compile_kernels


def main(argv=None):
    """Parse the command line and run it; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:  # the program's own options are not parsed here
        from ._run import run

        return run(argv[1:])
    if argv[:1] == ["tiles"]:
        from ._runtime.tile_calibration import main as tiles

        tiles(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m fastmlp")
    commands = parser.add_subparsers(dest="command", required=True)
    compile_parser = commands.add_parser(
        "compile",
        help="compile the kernels fits and predictions use into numba's cache "
        "(NUMBA_CACHE_DIR if set)",
    )
    compile_parser.add_argument(
        "--dtypes", nargs="+", default=["float64", "float32"],
        choices=["float64", "float32"],
    )  # fmt: skip
    compile_parser.add_argument(
        "--solvers", nargs="+", default=["adam", "sgd", "lbfgs"],
        choices=["adam", "sgd", "lbfgs"],
    )  # fmt: skip
    compile_parser.add_argument("--no-sparse", action="store_true")
    compile_parser.add_argument("--no-threads", action="store_true")
    compile_parser.add_argument("--no-extra-activations", action="store_true")
    compile_parser.add_argument("--no-dropout", action="store_true")
    commands.add_parser(
        "tiles",
        help="print this machine's tile limits (measured first if none are on "
        "file): tiles [--summary] [--products] [--again]",
    )
    commands.add_parser(
        "run",
        help="run a program with scikit-learn patched: "
        "run program.py [args] or run -m module [args]",
    )
    args = parser.parse_args(argv)
    summary = compile_kernels(
        dtypes=args.dtypes,
        solvers=args.solvers,
        sparse=not args.no_sparse,
        threads=not args.no_threads,
        extra_activations=not args.no_extra_activations,
        dropout=not args.no_dropout,
    )
    print(
        f"fastmlp: {summary['compiled']} kernels compiled in "
        f"{summary['seconds']:.1f} s; cache: {summary['cache']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
