"""``n_jobs`` splits batches across threads: the same models as serial fits.

``n_jobs=1`` runs the serial kernels; ``n_jobs=2`` splits every batch (and
L-BFGS's gradient, and predictions) across two threads. The models must be the
same bit for bit, in every way of fitting, whether the tiles or BLAS compute
the products, and the default (``n_jobs=None``) splits only batches large
enough to gain.
"""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_limits

import fastmlp
from fastmlp._engine.buffers import _use_tiles_in_python
from fastmlp._runtime import thread_plan
from fastmlp._runtime.split_chooser import FasterPath
from tests._split_helpers import (
    assert_same_bits,
    assert_same_model,
    data,
    n_parts_used,
    needs_threads,
)

NO_LAYER_SCRIPT = """
import numba, numpy as np, fastmlp
from fastmlp._engine import training
X = np.random.default_rng(0).normal(size=(300, 40))
y = (X[:, 0] > 0).astype(int)
seen = []
original = training.Engine.__init__
def record(self, *args, **kwargs):
    original(self, *args, **kwargs)
    seen.append(self.n_parts)
training.Engine.__init__ = record
fastmlp.MLPClassifier((64,), batch_size=64, max_iter=2, n_jobs=2).fit(X, y)
assert seen == [2], seen
try:
    numba.threading_layer()
except ValueError:
    print("no layer")
"""


@needs_threads
@pytest.mark.timeout(300)
def test_threaded_fits_start_no_numba_threading_layer():
    """Parts are Python threads: numba's thread pool is never started."""
    proc = subprocess.run(
        [sys.executable, "-c", NO_LAYER_SCRIPT],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("no layer")


CASES = [
    ("classification", {"solver": "adam", "batch_size": 64}),
    ("classification", {"solver": "sgd", "batch_size": 50, "early_stopping": True}),
    ("classification", {"solver": "lbfgs"}),
    ("regression", {"solver": "adam", "activation": "gelu", "batch_size": 40}),
    ("regression", {"solver": "sgd", "batch_size": 33, "shuffle": False}),
    ("regression", {"solver": "lbfgs", "activation": "tanh"}),
]


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("task", "params"), CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("form", ["dense", "csr"])
def test_threaded_fit_equals_serial_fit(task, params, dtype, form, monkeypatch):
    X, y = data(task)
    X = X.astype(dtype)
    if form == "csr":  # a third of the values stored
        X = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    cls = fastmlp.MLPClassifier if task == "classification" else fastmlp.MLPRegressor
    kwargs = {"hidden_layer_sizes": (48, 32), "max_iter": 8, "random_state": 0}
    seen = n_parts_used(monkeypatch)
    serial = cls(**kwargs, **params, n_jobs=1).fit(X, y)
    threaded = cls(**kwargs, **params, n_jobs=2).fit(X, y)
    assert seen == [1, 2]
    assert_same_bits(threaded, serial)
    assert threaded.coefs_[0].dtype == serial.coefs_[0].dtype
    Xp = sp.vstack([X] * 20, format="csr") if form == "csr" else np.tile(X, (20, 1))
    predict = "predict_proba" if task == "classification" else "predict"
    want = getattr(serial.set_params(n_jobs=1), predict)(Xp)
    assert_array_equal(getattr(threaded, predict)(Xp), want)


# One hidden layer of 1024 units on 300 features: the output layer's products
# (and in float64 every product) exceed the built-in tile limits, so BLAS
# computes them; OpenBLAS's float32 Haswell kernel sums rows in groups of 12.
BLAS_NET = {"hidden_layer_sizes": (1024,), "max_iter": 2, "random_state": 0}


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_fits_and_predictions_through_blas_give_the_same_bits(dtype, monkeypatch):
    """Parts of a product BLAS computes start where its row groups start.

    Batches of 64, 160 and 256 rows split at rows 32, 80 and 128, and the
    1024 units' gradient at unit 512, none a multiple of 12: before parts of
    BLAS's products were aligned for it, float32 split fits and predictions
    differed from whole ones in the last bits on AVX2 CPUs.
    """
    X, y = data("classification", n_samples=512, n_features=300)
    X = X.astype(dtype)
    itemsize = np.dtype(dtype).itemsize
    if _use_tiles_in_python(itemsize)(64, 1024, 3, itemsize):
        pytest.skip("the tile limits in force keep these products in the tiles")
    for batch_size in (64, 160, 256):
        models = [
            fastmlp.MLPClassifier(**BLAS_NET, batch_size=batch_size, n_jobs=n_jobs).fit(
                X, y
            )
            for n_jobs in (1, 2)
        ]
        assert_same_bits(models[1], models[0])
    model = models[0]
    Xp = np.tile(X, (4, 1))  # 2,048 rows
    for rows in (Xp, sp.csr_matrix(Xp)):
        want = model.set_params(n_jobs=1).predict_proba(rows)
        assert_array_equal(model.set_params(n_jobs=2).predict_proba(rows), want)
        model.set_params(n_jobs=None)
        for split in (False, True):  # the chooser's answer, made certain
            monkeypatch.setattr(FasterPath, "split", lambda self, split=split: split)
            assert_array_equal(model.predict_proba(rows), want)


@needs_threads
def test_threaded_partial_fit_and_warm_start_equal_serial():
    X, y = data("classification")
    models = []
    for n_jobs in (1, 2):
        model = fastmlp.MLPClassifier(
            (48,), batch_size=64, random_state=1, n_jobs=n_jobs
        )
        for start in range(0, 300, 100):
            model.partial_fit(
                X[start : start + 100], y[start : start + 100], classes=[0, 1, 2]
            )
        model.set_params(warm_start=True, max_iter=3).fit(X, y)
        models.append(model)
    assert_same_model(models[1], models[0])


@needs_threads
def test_default_splits_large_batches_only(monkeypatch):
    seen = n_parts_used(monkeypatch)
    X, y = data("classification", n_samples=400, n_features=64)
    with threadpool_limits(2, user_api="blas"):
        # 64 -> 100 -> 3 at batch 200: 1.3M multiply-adds per batch: split
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2).fit(X, y)
        # 64 -> 8 -> 3 at batch 16: 8k multiply-adds: serial
        fastmlp.MLPClassifier((8,), batch_size=16, max_iter=2).fit(X, y)
        # sparse input, priced by its stored values (64 a row here): split
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2).fit(
            sp.csr_matrix(X), y
        )
        # ~2 stored values a row (priced as 4): 200 x (4 x 8 + 8 x 3): serial
        fastmlp.MLPClassifier((8,), batch_size=200, max_iter=2).fit(
            sp.csr_matrix(np.where(np.abs(X) > 2.1, X, 0.0)), y
        )
        # dropout: serial
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2, dropout=0.2).fit(X, y)
    # BLAS limited to one thread (as in joblib's workers): serial
    with threadpool_limits(1, user_api="blas"):
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2).fit(X, y)
    expected = [2, 1, 2, 1, 1, 1]
    assert seen == expected


def test_split_parts_policy():
    units = np.array([64, 100, 10])
    assert thread_plan.forward_macs(units, 200) == 200 * (6400 + 1000)
    assert thread_plan.split_parts(units, 200, n_jobs=1) == 1
    assert thread_plan.split_parts(np.array([20, 8, 1]), 16) == 1
    with thread_plan.thread_plan(units, 200, None, splittable=False) as parts:
        assert parts == 1


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_splits_only_large_gradients(monkeypatch):
    """Each L-BFGS gradient wakes the worker again: small ones stay whole."""
    seen = n_parts_used(monkeypatch)
    with threadpool_limits(2, user_api="blas"):
        # 300 x (40 * 30 + 30 * 3): 387k multiply-adds
        X, y = data("classification")
        fastmlp.MLPClassifier((30,), solver="lbfgs", max_iter=3).fit(X, y)
        # 1000 x (64 * 64 + 64 * 3): 4.3M multiply-adds
        X, y = data("classification", n_samples=1000, n_features=64)
        fastmlp.MLPClassifier((64,), solver="lbfgs", max_iter=3).fit(X, y)
    assert seen == [1, 2]


def test_negative_n_jobs_count_back_from_the_cpus(monkeypatch):
    assert thread_plan.threads_asked(None) is None
    assert thread_plan.threads_asked(3) == 3
    monkeypatch.setattr(thread_plan, "usable_cpus", lambda: 4)
    assert thread_plan.threads_asked(-1) == 4
    assert thread_plan.threads_asked(-2) == 3
    assert thread_plan.threads_asked(-9) == 1


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_n_jobs_minus_one_splits_across_every_cpu(monkeypatch):
    """joblib's ``n_jobs=-1``, as scikit-learn users write it: every CPU."""
    seen = n_parts_used(monkeypatch)
    X, y = data("classification")
    kwargs = {"hidden_layer_sizes": (48, 32), "max_iter": 3, "random_state": 0}
    every = fastmlp.MLPClassifier(**kwargs, batch_size=64, n_jobs=-1).fit(X, y)
    one = fastmlp.MLPClassifier(**kwargs, batch_size=64, n_jobs=1).fit(X, y)
    assert seen == [thread_plan.usable_cpus(), 1]
    assert_same_bits(every, one)
    Xp = np.tile(X, (20, 1))
    assert_array_equal(every.predict_proba(Xp), one.predict_proba(Xp))


def test_n_jobs_zero_is_refused():
    X, y = data("classification")
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        fastmlp.MLPClassifier(n_jobs=0, max_iter=1).fit(X, y)
