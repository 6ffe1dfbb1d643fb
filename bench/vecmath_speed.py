"""Per-epoch times of a digits 64 -> 64 -> 64 -> 10 net: fastmlp against scikit-learn.

Run from the checkout: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
.venv/bin/python bench/vecmath_speed.py [rounds] [epochs]``, or with the
argument ``elements`` for nanoseconds per element of each
``fastmlp._kernels.vecmath`` function in a compiled loop, against the same
loop calling numba's libm functions and against NumPy on the whole array.
Fits are forced to ``epochs`` epochs (tol=0), alternated with scikit-learn
after a warm-up; the medians of ``rounds`` rounds are printed, per epoch,
with their ratio, and each fastmlp epoch against the relu epoch of the same
solver and dtype. Set ``PYTHONPATH`` to another tree's root to measure that
tree (the script prints which ``fastmlp`` it imported).
"""

import math
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP
from threadpoolctl import threadpool_info

import fastmlp
from fastmlp import MLPClassifier
from fastmlp._kernels.jit import kernel

try:
    from fastmlp._kernels import vecmath
except ImportError:  # a tree from before vecmath: epochs only
    vecmath = None

FUNCTIONS = () if vecmath is None else vecmath.FUNCTIONS


@kernel
def libm_loop(values, out, code):
    """The same loops with numba's own functions (a libm call per value)."""
    n = values.shape[0]
    one = values.dtype.type(1.0)
    if code == 0:
        for i in range(n):
            out[i] = np.exp(values[i])
    elif code == 1:
        for i in range(n):
            out[i] = np.expm1(values[i])
    elif code == 2:
        for i in range(n):
            out[i] = np.log(values[i])
    elif code == 3:
        for i in range(n):
            out[i] = np.log1p(values[i])
    elif code == 4:
        for i in range(n):
            out[i] = np.tanh(values[i])
    elif code == 5:
        for i in range(n):
            out[i] = one / (one + np.exp(-values[i]))
    else:
        for i in range(n):
            out[i] = math.erf(values[i])


def numpy_function(name):
    """The whole-array NumPy (or SciPy) function, writing into ``out``."""
    from scipy import special

    if name == "logistic":
        return special.expit
    if name == "erf":
        return special.erf
    return getattr(np, name)


def best_time(function, *args, repeats=200, **kwargs):
    """The fastest of ``repeats`` calls, in seconds (robust to other load)."""
    function(*args, **kwargs)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def elements(n=10_000):
    """ns per element of each function, vecmath / libm loop / NumPy."""
    rng = np.random.default_rng(0)
    print(f"n = {n}; ns per element, fastest of 200 calls")
    print("function  dtype     vecmath  libm loop  NumPy")
    for name in FUNCTIONS:
        for dtype in (np.float64, np.float32):
            values = rng.uniform(-5.0, 5.0, n).astype(dtype)
            if name in ("log", "log1p"):
                values = np.abs(values)
            out = np.empty_like(values)
            code = FUNCTIONS.index(name)
            whole = numpy_function(name)
            figures = [
                best_time(vecmath.map_values, values, out, code),
                best_time(libm_loop, values, out, code),
                best_time(whole, values, out=out),
            ]
            print(
                f"{name:9} {np.dtype(dtype).name:7}"
                + "".join(f"{t / n * 1e9:10.2f}" for t in figures),
                flush=True,
            )


def main(rounds=5, epochs=20):
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = X / 16
    print(fastmlp.__file__)
    print(
        [
            (i["internal_api"], i["num_threads"], i.get("version"))
            for i in threadpool_info()
        ]
    )
    print(
        "activation solver dtype    fastmlp ms/epoch  sklearn ms/epoch  "
        "sklearn/fastmlp  fastmlp / its relu"
    )
    activations = ("relu", "tanh", "logistic")
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        for solver in ("adam", "sgd"):
            times = {(a, key): [] for a in activations for key in ("fast", "sk")}
            # the three activations and the two estimators alternated, round
            # by round, so that load from other processes hits them alike
            for k in range(rounds + 1):
                for activation in activations:
                    params = dict(
                        hidden_layer_sizes=(64, 64),
                        activation=activation,
                        solver=solver,
                        batch_size=200,
                        max_iter=epochs,
                        tol=0.0,
                        n_iter_no_change=10**9,
                        random_state=0,
                    )
                    for key, estimator in (("fast", MLPClassifier), ("sk", SkMLP)):
                        est = estimator(**params)
                        start = time.perf_counter()
                        est.fit(Xd, y)
                        if k:  # round 0 is the warm-up
                            times[activation, key].append(time.perf_counter() - start)
            relu = np.median(times["relu", "fast"]) / epochs * 1e3
            for activation in activations:
                fast = np.median(times[activation, "fast"]) / epochs * 1e3
                sk = np.median(times[activation, "sk"]) / epochs * 1e3
                print(
                    f"{activation:10} {solver:6} {np.dtype(dtype).name:7} "
                    f"{fast:12.3f} {sk:17.3f} {sk / fast:15.2f}x {fast / relu:17.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["elements"]:
        elements(*(int(a) for a in sys.argv[2:]))
    else:
        main(*(int(a) for a in sys.argv[1:]))
