"""Estimators splitting batches across threads: same models, safe to combine.

``n_jobs=1`` runs the serial kernels; ``n_jobs=2`` splits every batch (and
L-BFGS's gradient, and predictions) across two threads. The models must be the
same (to the last bits BLAS may tile differently), in every way of fitting.
"""

import functools
import math
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
from fastmlp._engine import training
from fastmlp._runtime import split_chooser, thread_plan, worker_threads

needs_threads = pytest.mark.skipif(
    thread_plan.usable_cpus() < 2, reason="this process may use one CPU only"
)


def data(task, n_samples=300, n_features=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    w = rng.normal(size=(n_features, 3))
    if task == "classification":
        return X, np.argmax(X @ w + rng.normal(size=(n_samples, 3)), axis=1)
    return X, X @ w[:, :2] + 0.1 * rng.normal(size=(n_samples, 2))


def assert_same_model(a, b):
    for got, want in zip(
        a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True
    ):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if hasattr(a, "loss_curve_"):
        assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    assert a.n_iter_ == b.n_iter_


def n_parts_used(monkeypatch):
    """Record the ``n_parts`` of every Engine built."""
    seen = []
    original = training.Engine.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.n_parts)

    monkeypatch.setattr(training.Engine, "__init__", record)
    return seen


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
def test_threaded_fit_equals_serial_fit(task, params, dtype, monkeypatch):
    X, y = data(task)
    X = X.astype(dtype)
    cls = fastmlp.MLPClassifier if task == "classification" else fastmlp.MLPRegressor
    kwargs = {"hidden_layer_sizes": (48, 32), "max_iter": 8, "random_state": 0}
    seen = n_parts_used(monkeypatch)
    serial = cls(**kwargs, **params, n_jobs=1).fit(X, y)
    threaded = cls(**kwargs, **params, n_jobs=2).fit(X, y)
    assert seen == [1, 2]
    if dtype == np.float64:
        assert_same_model(threaded, serial)
    else:
        for got, want in zip(threaded.coefs_, serial.coefs_, strict=True):
            assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    assert threaded.coefs_[0].dtype == serial.coefs_[0].dtype
    Xp = np.tile(X, (20, 1))
    got = threaded.predict(Xp)
    want = serial.set_params(n_jobs=1).predict(Xp)
    if task == "classification":
        assert (got == want).mean() > 0.999
        assert_allclose(threaded.predict_proba(Xp), serial.predict_proba(Xp), atol=1e-5)
    else:
        assert_allclose(got, want, rtol=1e-4, atol=1e-5)


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
        # sparse input and dropout: serial
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2).fit(
            sp.csr_matrix(X), y
        )
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2, dropout=0.2).fit(X, y)
    # BLAS limited to one thread (as in joblib's workers): serial
    with threadpool_limits(1, user_api="blas"):
        fastmlp.MLPClassifier((100,), batch_size=200, max_iter=2).fit(X, y)
    expected = [2, 1, 1, 1, 1]
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


@needs_threads
def test_concurrent_threaded_fits_in_python_threads():
    """Two fits splitting their batches, at once in two Python threads."""
    X, y = data("classification")
    kwargs = {"hidden_layer_sizes": (64,), "batch_size": 64, "max_iter": 5}
    want = [
        fastmlp.MLPClassifier(**kwargs, random_state=seed, n_jobs=2).fit(X, y)
        for seed in (0, 1)
    ]
    got = [None, None]
    errors = []

    def fit(index):
        try:
            model = fastmlp.MLPClassifier(**kwargs, random_state=index, n_jobs=2)
            got[index] = model.fit(X, y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for model, reference in zip(got, want, strict=True):
        assert_same_model(model, reference)


def _fit_in_child(queue):
    X, y = data("classification")
    model = fastmlp.MLPClassifier((64,), batch_size=64, max_iter=3, random_state=0)
    queue.put(model.fit(X, y).coefs_[0].sum())


@needs_threads
@pytest.mark.timeout(120)
def test_fit_in_a_forked_child_after_threaded_fit():
    """A forked child splits batches too: no thread pool is inherited.

    (numba's GNU OpenMP pool, which fastmlp's parallel loops once used, hangs
    in a forked child.)
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    X, y = data("classification")
    parent = fastmlp.MLPClassifier((64,), batch_size=64, max_iter=3, random_state=0)
    parent.set_params(n_jobs=2).fit(X, y)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,))
    child.start()
    child.join(timeout=90)
    assert child.exitcode == 0
    assert_allclose(queue.get(timeout=5), parent.coefs_[0].sum(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_blas_limit_holds_in_worker_threads(monkeypatch):
    """threadpoolctl 3.8 ignores limits set from a thread other than the first."""
    X, y = data("classification")
    seen = []
    original = training.Engine.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        info = threadpool_info()
        seen.append({lib["num_threads"] for lib in info if lib["user_api"] == "blas"})

    monkeypatch.setattr(training.Engine, "__init__", record)

    def fit():
        fastmlp.MLPClassifier((8,), batch_size=16, max_iter=2).fit(X, y)

    with threadpool_limits(2, user_api="blas"):
        fit()  # in this thread, which threadpoolctl then lets control BLAS
        worker = threading.Thread(target=fit)
        worker.start()
        worker.join()
        assert {lib["num_threads"] for lib in threadpool_info()} >= {2}
    assert seen == [{1}, {1}]


needs_affinity = pytest.mark.skipif(
    worker_threads._current_cpu is None, reason="no CPU affinity calls here"
)


@needs_threads
@needs_affinity
def test_workers_run_off_the_callers_cpu_within_its_mask(monkeypatch):
    # Linux may wake a worker on its waker's CPU, where the two parts would
    # take turns (fastmlp._runtime.worker_threads): each call keeps workers off it. The
    # caller's CPU is fixed here, since the scheduler may move the caller.
    seen = {}
    current_cpu = worker_threads._current_cpu

    def part(index):
        seen[index] = (current_cpu(), frozenset(os.sched_getaffinity(0)))
        return index

    caller_mask = frozenset(os.sched_getaffinity(0))
    for caller_cpu in sorted(caller_mask)[:2]:
        monkeypatch.setattr(worker_threads, "_current_cpu", lambda cpu=caller_cpu: cpu)
        assert worker_threads.in_threads(part, 2) == 0
        worker_cpu, worker_mask = seen[1]
        assert worker_mask == caller_mask - {caller_cpu}
        assert worker_cpu in worker_mask


@needs_threads
@needs_affinity
def test_a_caller_with_one_cpu_leaves_its_workers_alone():
    masks = []
    original = os.sched_getaffinity(0)
    worker = worker_threads._take_workers(1)[0]
    before = frozenset(os.sched_getaffinity(worker.thread_id))
    os.sched_setaffinity(0, {worker_threads._current_cpu()})
    try:
        worker_threads._keep_off_caller([worker])
        masks.append(frozenset(os.sched_getaffinity(worker.thread_id)))
    finally:
        os.sched_setaffinity(0, original)
        with worker_threads._idle_lock:
            worker_threads._idle.append(worker)
    assert masks == [before]


class _SwitchingPath(split_chooser.FasterPath):
    """Changes way at nearly every call."""

    def __init__(self, split, choosing, key=None):
        super().__init__(split, choosing, trials=2, margin=math.inf, recheck_seconds=0)


SWITCHING_CASES = [
    ("classification", {"solver": "adam", "batch_size": 64}),
    ("classification", {"solver": "sgd", "batch_size": 50}),
    ("regression", {"solver": "lbfgs", "max_iter": 12}),
]


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("task", "params"), SWITCHING_CASES)
def test_a_fit_that_changes_way_between_calls_equals_serial(task, params, monkeypatch):
    """``n_jobs=None`` may split some calls and not others: the same model."""
    X, y = data(task, n_samples=1000, n_features=64)
    cls = fastmlp.MLPClassifier if task == "classification" else fastmlp.MLPRegressor
    kwargs = {"hidden_layer_sizes": (64,), "max_iter": 4, "random_state": 0, **params}
    serial = cls(**kwargs, n_jobs=1).fit(X, y)
    monkeypatch.setattr(training, "FasterPath", _SwitchingPath)
    monkeypatch.setattr(training, "TRIAL_WORK", 1.0)  # one batch a call
    seen = n_parts_used(monkeypatch)
    with threadpool_limits(2, user_api="blas"):
        chosen = cls(**kwargs).fit(X, y)
    assert seen == [2]
    assert min(chosen._split_whole_calls) >= 4, chosen._split_whole_calls
    assert_same_model(chosen, serial)


def _slowed(function, slow_way, seconds):
    """``function``, the epoch kernel of a split fit, slowed in one way."""

    def slow(*args):
        if (args[-1] > 1) is (slow_way == "split"):  # the last is n_parts
            time.sleep(seconds)
        return function(*args)

    return slow


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("slow_way", ["split", "whole"])
def test_calls_go_the_faster_way(slow_way, monkeypatch):
    engines = []
    original = training.Engine.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        engines.append(self)

    monkeypatch.setattr(training.Engine, "__init__", keep)
    slowed = _slowed(training.run_epoch_parallel, slow_way, 0.05)
    monkeypatch.setattr(training, "run_epoch_parallel", slowed)
    # no tripwire: on a loaded machine a split call can run 2x its best and
    # send the next calls whole for a while; what is tested is the choice
    no_tripwire = functools.partial(training.FasterPath, tripwire=float("inf"))
    monkeypatch.setattr(training, "FasterPath", no_tripwire)
    X, y = data("classification", n_samples=400, n_features=64)
    model = fastmlp.MLPClassifier((100,), batch_size=200, max_iter=6, tol=0.0)
    with threadpool_limits(2, user_api="blas"):
        model.fit(X, y)
    (engine,) = engines
    assert engine.n_parts == 2
    assert not engine.path.deciding
    assert engine.path.split() is (slow_way == "whole")
    # an explicit n_jobs is obeyed however slow its way
    engines.clear()
    model.set_params(n_jobs=2, max_iter=2).fit(X, y)
    assert not engines[0].path.deciding
    assert engines[0].path.split() is True


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_counts_its_calls_by_way():
    X, y = data("classification", n_samples=400, n_features=64)
    kwargs = {"hidden_layer_sizes": (100,), "batch_size": 200, "max_iter": 6}

    def ways(**params):
        return fastmlp.MLPClassifier(**params).fit(X, y)._split_whole_calls

    with threadpool_limits(2, user_api="blas"):
        split, whole = ways(**kwargs)
        assert split >= 2 and whole >= 2  # the trials, at least
        assert ways(**kwargs, n_jobs=2) == (6, 0)  # an epoch a call
    assert ways(**kwargs, n_jobs=1) == (0, 6)
    model = fastmlp.MLPClassifier((8,), solver="lbfgs", max_iter=5, n_jobs=1)
    split, whole = model.fit(X, y)._split_whole_calls
    assert split == 0 and whole >= model.n_iter_
