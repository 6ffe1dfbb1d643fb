"""fastmlp on a real Dask cluster: joblib's dask backend, dask-ml, numba's cache.

One ``LocalCluster`` of two worker processes on localhost serves the module.
Searches run under ``joblib.parallel_backend("dask")`` must give exactly what
the default backend gives; ``dask_ml.wrappers.Incremental`` must train as a
plain ``partial_fit`` loop over the same chunks; and the workers must load the
compiled kernels from numba's on-disk cache instead of compiling them again.
"""

import importlib
import logging
import pkgutil
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

import fastmlp

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:900] / 16.0, y[:900]


def _numba_cache_report():
    """Fit and predict a tiny model; count dispatchers' cache hits and misses.

    A miss means numba compiled a specialisation anew in this process; a hit
    means it loaded machine code from the on-disk cache.
    """
    import numpy as np
    from numba.core.registry import CPUDispatcher

    import fastmlp
    import fastmlp._kernels

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastmlp.MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y).predict(X)

    hits = misses = 0
    for info in pkgutil.iter_modules(fastmlp._kernels.__path__):
        module = importlib.import_module(f"fastmlp._kernels.{info.name}")
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                # a kernel, and the twin that runs it when called from Python
                for dispatcher in (value, getattr(value, "_twin", None)):
                    if dispatcher is not None:
                        stats = dispatcher.stats
                        hits += sum(stats.cache_hits.values())
                        misses += sum(stats.cache_misses.values())
    return {"hits": hits, "misses": misses}


def test_workers_load_kernels_from_numba_cache(client):
    # The main process compiles (or loads) the kernels first, which leaves
    # them in the on-disk cache; fresh worker processes must only load them.
    versions = client.get_versions(check=True, packages=["fastmlp", "numba"])
    for worker in versions["workers"].values():
        assert worker["packages"]["fastmlp"] == fastmlp.__version__
    _numba_cache_report()
    reports = client.run(_numba_cache_report)
    assert len(reports) == 2
    for worker, report in reports.items():
        assert report["hits"] > 0, (worker, report)
        assert report["misses"] == 0, (worker, report)


def _grid_search(X, y):
    search = GridSearchCV(
        fastmlp.MLPClassifier(max_iter=15, learning_rate_init=0.01, random_state=0),
        {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-1]},
        cv=StratifiedKFold(3),
        n_jobs=-1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return search.fit(X, y)


def test_grid_search_under_joblib_dask_backend(client, digits):
    X, y = digits
    reference = _grid_search(X, y)  # joblib's default backend (loky)
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            on_dask = _grid_search(X, y)
    assert len(tasks.data) > 0  # the fits really ran on the cluster
    for key in ["mean_test_score", "std_test_score", "rank_test_score"]:
        assert_array_equal(on_dask.cv_results_[key], reference.cv_results_[key])
    assert np.isfinite(on_dask.cv_results_["mean_test_score"]).all()
    assert on_dask.best_params_ == reference.best_params_
    assert_array_equal(
        on_dask.best_estimator_.predict_proba(X),
        reference.best_estimator_.predict_proba(X),
    )


def test_cross_val_score_under_joblib_dask_backend(client, digits):
    X, y = digits
    model = fastmlp.MLPClassifier(
        (24,), max_iter=15, learning_rate_init=0.01, random_state=0
    )

    def scores():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cross_val_score(model, X, y, cv=4, n_jobs=-1)

    reference = scores()
    with joblib.parallel_backend("dask"):
        on_dask = scores()
    assert_array_equal(on_dask, reference)
    assert on_dask.mean() > 0.8


def test_dask_ml_incremental(client, digits):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = digits
    classes = np.unique(y)
    chunk = 150
    dX = da.from_array(X, chunks=(chunk, X.shape[1]))
    dy = da.from_array(y, chunks=chunk)
    assert dX.numblocks[0] == 6

    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    incremental = wrappers.Incremental(
        fastmlp.MLPClassifier(**params), shuffle_blocks=False
    )
    incremental.fit(dX, dy, classes=classes)

    # the same chunks, in the same order, through a plain partial_fit loop
    local = fastmlp.MLPClassifier(**params)
    for start in range(0, len(X), chunk):
        stop = start + chunk
        local.partial_fit(X[start:stop], y[start:stop], classes=classes)

    fitted = incremental.estimator_
    assert fitted.t_ == local.t_ == len(X)
    for a, b in zip(
        fitted.coefs_ + fitted.intercepts_, local.coefs_ + local.intercepts_
    ):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # a second pass continues from the fitted model, as partial_fit does
    incremental.partial_fit(dX, dy)
    for start in range(0, len(X), chunk):
        local.partial_fit(X[start : start + chunk], y[start : start + chunk])
    fitted = incremental.estimator_
    assert fitted.t_ == local.t_ == 2 * len(X)
    for a, b in zip(
        fitted.coefs_ + fitted.intercepts_, local.coefs_ + local.intercepts_
    ):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)

    score = incremental.score(dX, dy)
    assert score == pytest.approx(local.score(X, y))
    assert score > 0.5  # two passes over 900 digits; chance is 0.1
    assert_array_equal(incremental.predict(dX).compute(), local.predict(X))
