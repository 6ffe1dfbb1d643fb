"""The first fit on a machine: saying that it compiles, or compiling ahead.

fastmlp's kernels are compiled by numba the first time each is needed and
cached on disk for later processes. With an empty cache (a new machine,
container or Dask worker) the first fits spend seconds compiling and print
nothing, which a user cannot tell from a hang. So the first compile of a
fastmlp kernel in a process is announced once on the ``fastmlp`` logger, at
WARNING level so that it shows without logging configured (a log record, not
a Python warning: scikit-learn's checks treat warnings in ``fit`` as
failures). :func:`compile_kernels` (``python -m fastmlp compile``) fills the
cache ahead of time, for an image, a CI cache or each worker of a cluster.
"""

import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
from numba import config
from numba.core import event

logger = logging.getLogger("fastmlp")


def cache_location():
    """Where numba caches fastmlp's machine code (``NUMBA_CACHE_DIR`` if set)."""
    if config.CACHE_DIR:
        return str(Path(config.CACHE_DIR))
    return str(Path(__file__).parent / "_kernels" / "__pycache__")


class _CompileCounter(event.Listener):
    """Counts compiles of fastmlp kernels; announces the first one once."""

    def __init__(self):
        self.compiles = 0
        self.announced = False

    def on_start(self, ev):
        function = getattr(ev.data["dispatcher"], "py_func", None)
        if not getattr(function, "__module__", "").startswith("fastmlp."):
            return
        self.compiles += 1
        if not self.announced:
            self.announced = True
            logger.warning(
                "fastmlp is compiling its kernels for this machine (starting with "
                "%s): the first fits of each kind take seconds to tens of seconds. "
                "The machine code is cached in %s, so later processes load it; "
                "`python -m fastmlp compile` does this ahead of time.",
                function.__name__,
                cache_location(),
            )

    def on_end(self, ev):
        pass


compile_counter = _CompileCounter()


def install():
    """Listen to numba's compile events (once per process)."""
    if not getattr(install, "done", False):
        event.register("numba:compile", compile_counter)
        install.done = True


def compile_kernels(
    dtypes=("float64", "float32"),
    solvers=("adam", "sgd", "lbfgs"),
    sparse=True,
    threads=True,
    extra_activations=True,
    dropout=True,
):
    """Compile (or load) the kernels that fits and predictions use, into the cache.

    Runs tiny fits and predictions of both estimators for each solver and
    dtype (activations, losses and target types share their kernels), on
    dense and, if ``sparse``, CSR input, and split across two threads if
    ``threads``. With ``NUMBA_CACHE_DIR`` set the cache goes there. Suitable
    for Dask's ``client.run(fastmlp.compile_kernels)``.

    Parameters
    ----------
    dtypes : sequence of {"float64", "float32"}, default=("float64", "float32")
    solvers : sequence of {"adam", "sgd", "lbfgs"}, default=all three
    sparse : bool, default=True
    threads : bool, default=True
        Also the kernels of batches split across threads.
    extra_activations : bool, default=True
        Also the activations scikit-learn does not have (compiled apart).
    dropout : bool, default=True
        Also the epoch kernels of fits with ``dropout > 0`` (sgd or adam),
        which never split.

    Returns
    -------
    summary : dict
        ``{"compiled": kernels compiled, "seconds": time taken, "cache": cache
        location}``.
    """
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    from ._classes import MLPClassifier, MLPRegressor
    from ._engine.input_form import fit_form

    install()
    before = compile_counter.compiles
    started = time.perf_counter()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 4))
    labels = rng.randint(0, 3, 64)
    inputs = [X] + ([sp.csr_matrix(np.where(X > 0.5, X, 0.0))] if sparse else [])
    # n_jobs=2 splits even a tiny batch: the split kernels compile
    ways = [1] + ([2] if threads and (os.cpu_count() or 1) > 1 else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for dtype in dtypes:
            for data in inputs:
                data = data.astype(dtype)
                for solver, n_jobs in [(s, j) for s in solvers for j in ways]:
                    params = {"solver": solver, "max_iter": 2, "n_jobs": n_jobs}
                    params.update(hidden_layer_sizes=(8,), batch_size=16)
                    clf = MLPClassifier(**params).fit(data, labels)
                    clf.predict_proba(data)
                    reg = MLPRegressor(**params).fit(data, X[:, 0])
                    reg.predict(data)
                    if solver != "lbfgs":
                        clf.partial_fit(data, labels)
            stochastic = [solver for solver in solvers if solver != "lbfgs"]
            if dropout and stochastic:  # one kernel whatever the solver
                params = {"solver": stochastic[0], "max_iter": 2, "dropout": 0.1}
                for data in inputs:
                    MLPClassifier((8,), **params).fit(data.astype(dtype), labels)
                MLPRegressor(hidden_layer_sizes=(8,), **params).fit(
                    X.astype(dtype), X[:, 0]
                )
            if extra_activations:
                MLPClassifier((8,), activation="gelu", max_iter=2).fit(
                    X.astype(dtype), labels
                )
            if sparse:  # mostly-zero dense rows, read as CSR
                fit_form(np.eye(64, dtype=dtype), [64, 8, 3])
    return {
        "compiled": compile_counter.compiles - before,
        "seconds": time.perf_counter() - started,
        "cache": cache_location(),
    }
