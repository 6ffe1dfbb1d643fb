"""
==============================================
A grid search on a Dask cluster
==============================================

fastmlp's estimators are ordinary scikit-learn estimators, so Dask spreads
their searches as it does scikit-learn's: inside ``joblib.parallel_backend(
"dask")``, each fit of a :class:`~sklearn.model_selection.GridSearchCV` with
``n_jobs=-1`` becomes a task on the cluster. Here the cluster is a
:class:`~dask.distributed.LocalCluster` of two single-threaded worker
processes; against a real cluster only the ``Client`` changes. The results are
those of the default backend, score for score.

Each worker process loads the compiled kernels from numba's disk cache (the
client's warm-up fit fills it); on a fresh cluster
``client.run(fastmlp.compile_kernels)`` compiles them ahead on every worker.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import time
import warnings

import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from fastmlp import MLPClassifier

QUICK = os.environ.get("FASTMLP_EXAMPLE_QUICK") == "1"  # small sizes for the tests


def search():
    """The search, a new one each time (fits quietly: short max_iter)."""
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    grid = {
        "hidden_layer_sizes": [(16,)] if QUICK else [(32,), (64,), (64, 32)],
        "alpha": [1e-4, 1e-2],
    }
    return GridSearchCV(
        MLPClassifier(max_iter=5 if QUICK else 50, random_state=0),
        grid,
        cv=3,
        n_jobs=-1,
    )


if __name__ == "__main__":  # worker processes import this module
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if QUICK:
        X, y = X[:300], y[:300]
    search().fit(X[:60], y[:60])  # warm-up: kernels compiled or loaded

    start = time.perf_counter()
    local = search().fit(X, y)
    print(f"default backend: {time.perf_counter() - start:.2f} s")

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            distributed = search().fit(X, y)
        print(
            f"dask backend, {len(client.scheduler_info()['workers'])} workers: "
            f"{time.perf_counter() - start:.2f} s (first tasks load the kernels)"
        )

    print(f"best: {distributed.best_params_}, accuracy {distributed.best_score_:.3f}")
    same = np.allclose(
        local.cv_results_["mean_test_score"],
        distributed.cv_results_["mean_test_score"],
    )
    print("same CV scores as the default backend:", same)
