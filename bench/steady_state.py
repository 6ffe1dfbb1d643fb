"""Per-epoch speed of two checkouts, alternated: does a compile change cost speed?

Changes to how kernels are compiled (``docs/design/cold_start.md``) change
the optimized IR the kernels run even where the bits of every result stay
the same, so each must show that a fit is no slower. Run from a checkout::

    .venv/bin/python -m bench.steady_state --old /path/to/old/checkout \\
        --new . [--rounds 7]

Each round runs one process per checkout (old, new, then new, old in the next
round), each importing its own ``fastmlp`` (checked by its path) with its own
kernel cache already compiled (``python -m fastmlp compile`` in a process that
imports that checkout). A process times every case once: a digits fit (64 ->
64 -> 10, ``n_jobs=1``, fixed epoch count) per activation, solver and dtype,
and one prediction case; the thread CPU seconds per epoch (per call for the
prediction) of the best of three runs. The report is the best over the rounds
of each checkout and their ratio, new / old.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

ACTIVATIONS = ("relu", "tanh", "gelu")
SOLVERS = ("adam", "lbfgs")
DTYPES = ("float32", "float64")
EPOCHS = 30
PREDICT_CALLS = 200


def measure(activations=ACTIVATIONS, solvers=SOLVERS, sparse=False):
    """``{case: thread CPU seconds}`` of this process's ``fastmlp``."""
    import numpy as np
    import scipy.sparse
    from sklearn.datasets import load_digits

    import fastmlp

    warnings.filterwarnings("ignore")
    X, y = load_digits(return_X_y=True)
    X = X / 16
    results = {"path": fastmlp.__file__}
    for activation in activations:
        for solver in solvers:
            for dtype in DTYPES:
                data = X.astype(dtype)
                if sparse:
                    data = scipy.sparse.csr_matrix(data)
                model = fastmlp.MLPClassifier(
                    hidden_layer_sizes=(64, 64),
                    activation=activation,
                    solver=solver,
                    max_iter=EPOCHS,
                    tol=0,
                    n_iter_no_change=10**6,
                    random_state=0,
                    n_jobs=1,
                )
                model.fit(data, y)  # warm-up: loads the kernels
                best = np.inf
                for _ in range(3):
                    started = time.thread_time()
                    model.fit(data, y)
                    best = min(best, time.thread_time() - started)
                form = "CSR " if sparse else ""
                case = f"{activation} {solver} {form}{dtype} epoch"
                results[case] = best / model.n_iter_
    data = X.astype("float32")
    model = fastmlp.MLPClassifier(
        hidden_layer_sizes=(64, 64), max_iter=5, random_state=0, n_jobs=1
    ).fit(data, y)
    model.predict_proba(data)
    best = np.inf
    for _ in range(3):
        started = time.thread_time()
        for _ in range(PREDICT_CALLS):
            model.predict_proba(data)
        best = min(best, time.thread_time() - started)
    results["predict_proba relu float32 1797 rows"] = best / PREDICT_CALLS
    return results


def run_checkout(checkout, arguments):
    """One measuring process importing ``checkout``'s fastmlp."""
    environment = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--measure", *arguments],
        env=environment,
        cwd="/",  # no checkout on sys.path but the one given
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    results = json.loads(output.splitlines()[-1])
    want = os.path.join(os.path.abspath(checkout), "fastmlp", "__init__.py")
    if results.pop("path") != want:
        raise RuntimeError(f"the process did not import {want}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old")
    parser.add_argument("--new")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS))
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS))
    parser.add_argument("--sparse", action="store_true", help="CSR input")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.measure:
        results = measure(options.activations, options.solvers, options.sparse)
        print(json.dumps(results))
        return
    arguments = ["--activations", *options.activations, "--solvers", *options.solvers]
    if options.sparse:
        arguments.append("--sparse")
    best = {"old": {}, "new": {}}
    for round_number in range(options.rounds):
        order = ("old", "new") if round_number % 2 == 0 else ("new", "old")
        for side in order:
            results = run_checkout(getattr(options, side), arguments)
            for case, seconds in results.items():
                best[side][case] = min(best[side].get(case, seconds), seconds)
        print(f"round {round_number + 1} of {options.rounds} done", file=sys.stderr)
    print(f"{'case':44s} {'old us':>9s} {'new us':>9s} {'new/old':>8s}")
    ratios = []
    for case, old in best["old"].items():
        new = best["new"][case]
        ratios.append(new / old)
        print(f"{case:44s} {old * 1e6:9.1f} {new * 1e6:9.1f} {new / old:8.3f}")
    geometric = 1.0
    for ratio in ratios:
        geometric *= ratio
    print(
        f"{'geometric mean':44s} {'':9s} {'':9s} {geometric ** (1 / len(ratios)):8.3f}"
    )


if __name__ == "__main__":
    main()
