"""Where a cold first fit's compile time goes, kernel by kernel.

Run from the checkout, in a fresh process with an empty cache::

    NUMBA_CACHE_DIR=$(mktemp -d) FASTMLP_TILES=builtin \
        .venv/bin/python -m bench.compile_profile [--solver adam] [--dtype float64]

(``--grid``: the 12-fit grid, one line a fit; ``--mixed``: small nets that
never split, then digits nets that do.)

It imports fastmlp, fits one digits net (64 -> 100 -> 10, 5 epochs) and
predicts, and prints the CPU seconds of each step, then numba's compile
events as a tree: every kernel compiled, with the CPU seconds its compile
took *including* the kernels it compiled beneath it (numba compiles a
callee when its caller is typed). CPU time, not wall time, so that a busy
machine inflates the figures less. ``FASTMLP_TILES=builtin`` leaves the
tile calibration (its own timing kernel and measurements) out; without it a
machine's first run measures it too. See ``docs/design/cold_start.md``.
"""

import argparse
import time
import warnings

from numba.core import event


class CompileRecorder(event.Listener):
    """Keeps ``(order, depth, name, argument types, cpu seconds)`` per compile.

    ``order`` is the order the compiles started in: sorted by it, each
    kernel comes before the kernels compiled beneath it.
    """

    def __init__(self):
        self.records = []
        self._open = []
        self._started = 0

    def on_start(self, ev):
        data = ev.data
        started = time.process_time()
        self._open.append((self._started, data["dispatcher"], data["args"], started))
        self._started += 1

    def on_end(self, ev):
        order, dispatcher, args, started = self._open.pop()
        function = dispatcher.py_func
        name = f"{function.__module__}.{function.__qualname__}"
        seconds = time.process_time() - started
        self.records.append((order, len(self._open), name, str(args), seconds))


class PhaseTimer:
    """Exclusive thread CPU seconds of numba's passes and LLVM's steps.

    Wraps numba's ``PassManager._runPass`` and the optimize, emit and parse
    methods of ``JITCodeLibrary`` (numba internals: a profiler only).
    Compiles nest (a callee compiles while its caller is typed), so each
    entry is the time of its own work without the entries inside it.
    """

    LIBRARY_STEPS = {
        "_optimize_functions": "llvm function passes",
        "_optimize_final_module": "llvm module passes",
        "_finalize_specific": "llvm emission",
        "add_ir_module": "llvm parse IR",
        "finalize": "llvm link and finalize",
    }

    def __init__(self):
        import collections
        import threading

        from numba.core import codegen, compiler_machinery

        self.seconds = collections.Counter()
        self.calls = collections.Counter()
        self._local = threading.local()
        run_pass = compiler_machinery.PassManager._runPass

        def timed_pass(manager, index, pss, state):
            return self._timed(
                "numba " + pss.name(), run_pass, manager, index, pss, state
            )

        compiler_machinery.PassManager._runPass = timed_pass
        for method, label in self.LIBRARY_STEPS.items():
            original = getattr(codegen.JITCodeLibrary, method)

            def timed_step(library, *args, _original=original, _label=label):
                return self._timed(_label, _original, library, *args)

            setattr(codegen.JITCodeLibrary, method, timed_step)

    def _timed(self, label, function, *args):
        stack = self._local.__dict__.setdefault("stack", [])
        started = time.thread_time()
        stack.append(0.0)
        try:
            return function(*args)
        finally:
            inner = stack.pop()
            seconds = time.thread_time() - started
            self.seconds[label] += seconds - inner
            self.calls[label] += 1
            if stack:
                stack[-1] += seconds

    def report(self, min_seconds):
        print("exclusive CPU seconds by phase (calls):")
        for label, seconds in self.seconds.most_common():
            if seconds >= min_seconds:
                print(f"{seconds:7.2f}  {label} ({self.calls[label]})")
        print(f"{sum(self.seconds.values()):7.2f}  in all")


def grid():
    """The 12 digits fits: solver x dtype x dense/CSR, default net, 3 epochs."""
    import scipy.sparse
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    fits = []
    for solver in ("adam", "sgd", "lbfgs"):
        for dtype in ("float64", "float32"):
            for sparse in (False, True):
                data = X.astype(dtype)
                if sparse:
                    data = scipy.sparse.csr_matrix(data)
                name = f"{solver} {dtype} {'CSR' if sparse else 'dense'}"
                fits.append((name, data, y, {"solver": solver, "max_iter": 3}))
    return fits


def mixed():
    """Small nets that never split, then digits nets that do (float64, 5 epochs).

    A process that meets both kinds of fit compiles one epoch kernel and one
    gradient kernel for them (``Engine.in_parts``).
    """
    from sklearn.datasets import load_digits, load_iris

    iris, digits = load_iris(return_X_y=True), load_digits(return_X_y=True)
    fits = []
    for solver in ("adam", "lbfgs"):
        small = {"solver": solver, "max_iter": 5, "hidden_layer_sizes": (10,)}
        fits.append((f"iris 4-10-3 {solver}", *iris, small))
        large = {"solver": solver, "max_iter": 5}
        fits.append((f"digits 64-100-10 {solver}", digits[0] / 16, digits[1], large))
    return fits


def fit_in_turn(make_fits):
    """CPU seconds of import and of each fit (and its predict), in turn."""
    started = time.process_time()
    import fastmlp

    rows = [("import", time.process_time() - started)]
    for name, data, y, params in make_fits():
        started = time.process_time()
        model = fastmlp.MLPClassifier(random_state=0, **params).fit(data, y)
        model.predict(data)
        rows.append((name, time.process_time() - started))
    for name, seconds in rows:
        print(f"{name:22s} {seconds:6.2f}")
    print(f"{'total':22s} {sum(seconds for _, seconds in rows):6.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", default="adam")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--min-seconds", type=float, default=0.1)
    parser.add_argument("--grid", action="store_true", help="the 12-fit grid")
    parser.add_argument(
        "--mixed", action="store_true", help="iris then digits fits (adam, lbfgs)"
    )
    parser.add_argument("--phases", action="store_true", help="time by phase")
    options = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    phases = PhaseTimer() if options.phases else None
    if options.grid or options.mixed:
        fit_in_turn(grid if options.grid else mixed)
        if phases:
            phases.report(options.min_seconds)
        return
    recorder = CompileRecorder()
    event.register("numba:compile", recorder)
    started = time.process_time()
    from sklearn.datasets import load_digits

    import fastmlp

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(options.dtype)
    imported = time.process_time()
    model = fastmlp.MLPClassifier(
        hidden_layer_sizes=(100,), solver=options.solver, max_iter=5, random_state=0
    )
    model.fit(X, y)
    fitted = time.process_time()
    model.predict(X)
    predicted = time.process_time()
    print(
        f"CPU seconds: import {imported - started:.2f}, fit {fitted - imported:.2f}, "
        f"predict {predicted - fitted:.2f}, total {predicted - started:.2f}"
    )
    print(f"compile events at least {options.min_seconds} s (nested ones indented):")
    for _, depth, name, args, seconds in sorted(recorder.records):
        if seconds >= options.min_seconds:
            print(f"{'  ' * depth}{seconds:6.2f}  {name}  {args[:60]}")
    if phases:
        phases.report(options.min_seconds)


if __name__ == "__main__":
    main()
