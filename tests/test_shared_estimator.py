"""One estimator used by several threads at once: never a crash, a mixture or NaN.

A fit works on a private copy of the fitted state and publishes it whole
(``BaseMultilayerPerceptron._transaction``); a prediction reads one consistent
model (``_model_snapshot``); every entry into compiled code checks the sizes
it is given (``fastmlp._engine.entry_checks``). The races run in a child process
with a tiny switch interval, so that a crash fails the test instead of
killing the test run; interrupts are raised at every line of the hand-over of
a split call (``fastmlp._runtime.worker_threads.in_threads``).
"""

import inspect
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp._engine import buffers, entry_checks, prediction, training
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._runtime import thread_plan, worker_threads
from tests._reliability_helpers import run_python

needs_threads = pytest.mark.skipif(
    thread_plan.usable_cpus() < 2, reason="this process may use one CPU only"
)


# The reproducer: two threads refit one estimator with different
# shapes (before the fix: free(): invalid next size, in about one run in three).
REFIT_SCRIPT = """
import sys, threading, numpy as np, scipy.sparse as sp, warnings
from fastmlp import MLPClassifier, MLPRegressor
warnings.filterwarnings("ignore"); sys.setswitchinterval(1e-5)
rng = np.random.RandomState(0)
Xa, Xb, y = rng.randn(400, 3), rng.randn(400, 150), rng.randint(0, 3, 400)
sparse = {{id(X): sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0)) for X in (Xa, Xb)}}
failures = []
for cls, solver, mode in {cases!r}:
    cls = {{"c": MLPClassifier, "r": MLPRegressor}}[cls]
    est = cls(max_iter=3, batch_size=64, solver=solver)
    target = y if cls is MLPClassifier else y.astype(float)
    def loop(X, h):
        for i in range({rounds}):
            try:
                est.set_params(hidden_layer_sizes=h)
                if mode == "fit":
                    est.fit(X, target)
                elif mode == "csr":  # split CSR fits (n_jobs=2)
                    est.set_params(n_jobs=2)
                    est.fit(sparse[id(X)], target)
                elif mode == "partial_fit":
                    if cls is MLPClassifier:
                        est.partial_fit(X, target, classes=[0, 1, 2])
                    else:
                        est.partial_fit(X, target)
                elif mode == "warm_start":
                    est.set_params(warm_start=i % 2 == 1)
                    est.fit(X, target)
                out = est.predict(X)
                if np.issubdtype(out.dtype, np.floating) and np.isnan(out).any():
                    failures.append((cls.__name__, solver, mode, "NaN"))
            except (ValueError, AttributeError) as error:
                # another thread's model may have other features or no
                # partial_fit: scikit-learn's errors, never a crash
                pass
    ts = [threading.Thread(target=loop, args=a) for a in [(Xa, (2,)), (Xb, (300,))]]
    [t.start() for t in ts]; [t.join() for t in ts]
assert not failures, failures
print("survived")
"""


@needs_threads
@pytest.mark.timeout(300)
@pytest.mark.parametrize("cls", ["c", "r"])
def test_racing_refits_of_one_estimator_never_crash(cls):
    cases = [(cls, solver, "fit") for solver in ("adam", "sgd", "lbfgs")]
    cases += [(cls, solver, "partial_fit") for solver in ("adam", "sgd")]
    cases += [(cls, solver, "warm_start") for solver in ("adam", "lbfgs")]
    cases += [(cls, solver, "csr") for solver in ("adam", "lbfgs")]
    out = run_python(REFIT_SCRIPT.format(cases=cases, rounds=40)).stdout
    assert out.strip() == "survived"


# A prediction racing refits sees the old model or the new one, whole: each
# output equals one of the two models' outputs computed alone.
PREDICT_SCRIPT = """
import sys, threading, numpy as np, warnings
from fastmlp import MLPClassifier, MLPRegressor
warnings.filterwarnings("ignore"); sys.setswitchinterval(1e-5)
rng = np.random.RandomState(1)
X = rng.randn(300, 6)
y = rng.randint(0, 3, 300)
for cls, solver in {cases!r}:
    cls = {{"c": MLPClassifier, "r": MLPRegressor}}[cls]
    target = y if cls is MLPClassifier else y.astype(float)
    shapes = [(4,), (40, 8)]
    def model(i):
        return cls(hidden_layer_sizes=shapes[i], random_state=i, max_iter=4,
                   solver=solver, batch_size=50)
    def out(est):
        return est.predict_proba(X) if cls is MLPClassifier else est.predict(X)
    wanted = [out(model(i).fit(X, target)) for i in (0, 1)]
    shared = model(0).fit(X, target)
    stop = threading.Event()
    def refit():
        for i in range({rounds}):
            shared.set_params(hidden_layer_sizes=shapes[i % 2], random_state=i % 2)
            shared.fit(X, target)
        stop.set()
    bad = []
    def predict():
        while not stop.is_set():
            got = out(shared)
            if not any(got.shape == w.shape and np.array_equal(got, w)
                       for w in wanted):
                bad.append(got)
    ts = [threading.Thread(target=refit), threading.Thread(target=predict),
          threading.Thread(target=predict)]
    [t.start() for t in ts]; [t.join() for t in ts]
    assert not bad, (cls.__name__, solver, len(bad), bad[0])
print("whole")
"""


@needs_threads
@pytest.mark.timeout(300)
def test_predictions_during_refits_are_one_models_whole():
    cases = [("c", "adam"), ("c", "lbfgs"), ("r", "sgd"), ("r", "lbfgs")]
    out = run_python(PREDICT_SCRIPT.format(cases=cases, rounds=30)).stdout
    assert out.strip() == "whole"


def _fits():
    X = np.random.default_rng(3).normal(size=(240, 12))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    ys = X[:, :2] @ np.array([[1.0, -2.0], [0.5, 1.0]])
    csr = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    return [
        (
            fastmlp.MLPClassifier(
                hidden_layer_sizes=(16,), solver="adam", max_iter=5, random_state=0
            ),
            X,
            y,
        ),
        (
            fastmlp.MLPClassifier(
                hidden_layer_sizes=(8, 8), solver="sgd", max_iter=5, random_state=1
            ),
            X,
            y,
        ),
        (
            fastmlp.MLPRegressor(
                hidden_layer_sizes=(16,), solver="lbfgs", max_iter=20, random_state=2
            ),
            X,
            ys,
        ),
        (
            fastmlp.MLPRegressor(
                hidden_layer_sizes=(64, 64),
                solver="adam",
                max_iter=3,
                batch_size=64,
                n_jobs=2,
                random_state=3,
            ),
            X,
            ys,
        ),
        # CSR rows, split across threads too
        (
            fastmlp.MLPClassifier(
                hidden_layer_sizes=(32,),
                max_iter=4,
                batch_size=64,
                n_jobs=2,
                random_state=4,
            ),
            csr,
            y,
        ),  # fmt: skip
        (
            fastmlp.MLPRegressor(
                hidden_layer_sizes=(16,),
                solver="lbfgs",
                max_iter=10,
                n_jobs=2,
                random_state=5,
            ),
            csr,
            ys,
        ),  # fmt: skip
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_fits_of_different_estimators_equal_fits_alone():
    alone = [est.fit(X, y) for est, X, y in _fits()]
    together = _fits()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            threads = [
                threading.Thread(target=est.fit, args=(X, y)) for est, X, y in together
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
    for one, (other, _, _) in zip(alone, together, strict=True):
        for a, b in zip(one.coefs_ + one.intercepts_, other.coefs_ + other.intercepts_):
            assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Interrupts at every step of a split call's hand-over
# ---------------------------------------------------------------------------
def _hand_over_lines(function):
    """``function``'s code objects, and its lines up to its ``finally:``.

    The lines after it are the clean-up that an exception raised in the
    hand-over runs; an exception raised inside the clean-up itself is not
    covered (nor could Python code cover it).
    """
    codes = [function.__code__]
    codes += [c for c in function.__code__.co_consts if hasattr(c, "co_lines")]
    source, first = inspect.getsourcelines(function)
    clean_up = first + next(
        i for i, text in enumerate(source) if text.strip() == "finally:"
    )
    lines = {line for code in codes for _, _, line in code.co_lines() if line}
    return codes, sorted(line for line in lines if line < clean_up)


class _RaiseAtLine:
    """A trace function raising KeyboardInterrupt the first time ``line`` runs."""

    def __init__(self, codes, line):
        self.codes = codes
        self.line = line
        self.raised = False

    def __call__(self, frame, event, arg):
        if frame.f_code in self.codes:
            return self.local
        return None

    def local(self, frame, event, arg):
        if event == "line" and frame.f_lineno == self.line and not self.raised:
            self.raised = True
            raise KeyboardInterrupt
        return self.local


def _workers_all_idle(timeout=10.0):
    """Whether every worker thread is idle, once: none busy, lost or listed twice."""
    workers = [t.native_id for t in threading.enumerate() if t.name == "fastmlp-part"]
    for _ in range(int(timeout / 0.01)):
        with worker_threads._idle_lock:
            idle = [worker.thread_id for worker in worker_threads._idle]
        if sorted(idle) == sorted(workers):
            return True
        time.sleep(0.01)
    return False


@needs_threads
@pytest.mark.timeout(300)
def test_interrupt_at_every_line_of_a_split_call_leaves_no_worker_busy():
    X = np.random.default_rng(0).normal(size=(256, 40))
    y = X[:, :2] @ np.array([[1.0, 2.0], [-1.0, 0.5]])
    settings = {"hidden_layer_sizes": (64, 64), "batch_size": 64, "random_state": 0}
    reference = fastmlp.MLPRegressor(max_iter=2, n_jobs=1, **settings).fit(X, y)
    codes, lines = _hand_over_lines(worker_threads.in_threads)
    raised_at = []
    for line in lines:
        tracer = _RaiseAtLine(codes, line)
        est = fastmlp.MLPRegressor(max_iter=2, n_jobs=2, **settings)
        sys.settrace(tracer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X, y)  # the interrupt ends training, as in sklearn
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        if tracer.raised:
            raised_at.append(line)
        assert _workers_all_idle(), f"a worker stayed busy after line {line}"
        # and the next split fit runs, and gives the serial fit's model
        again = fastmlp.MLPRegressor(max_iter=2, n_jobs=2, **settings).fit(X, y)
        for a, b in zip(again.coefs_, reference.coefs_, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # the hand-over (taking workers, handing parts, running part 0) was hit
    assert len(raised_at) >= 10, raised_at


@needs_threads
def test_interrupt_while_waiting_for_parts_waits_for_them():
    started = threading.Event()
    release = threading.Event()
    finished = []

    def part(index):
        if index == 1:
            started.set()
            release.wait(5)
            finished.append(index)
            return None
        started.wait(5)
        # the caller is "interrupted" while part 1 still runs
        threading.Timer(0.05, release.set).start()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        worker_threads.in_threads(part, 2)
    assert finished == [1]  # in_threads returned only after part 1 ended
    assert _workers_all_idle()


# ---------------------------------------------------------------------------
# Entry checks: wrong sizes never reach compiled code
# ---------------------------------------------------------------------------
def test_forward_refuses_parameters_of_another_layout():
    layout = ParameterLayout([3, 4, 2])
    net = buffers.make_net(layout, 3, 4, 2, 0.0)
    X = np.zeros((5, 3))
    with pytest.raises(entry_checks.KernelInputError, match="parameter buffer"):
        prediction.forward(X, np.zeros(layout.size - 1), layout, net)
    with pytest.raises(ValueError, match="X has 4 features, but Net is expecting 3"):
        prediction.forward(
            np.zeros((5, 4)), np.zeros(layout.size), layout, net, 1, "Net"
        )


def test_sparse_input_with_bad_indices_is_refused():
    import scipy.sparse as sp

    layout = ParameterLayout([3, 4, 2])
    net = buffers.make_net(layout, 3, 4, 2, 0.0)
    csr = sp.csr_matrix(
        (np.ones(2), np.array([0, 7]), np.array([0, 1, 2])), shape=(2, 3)
    )
    with pytest.raises(entry_checks.KernelInputError, match="column indices"):
        prediction.forward(csr, np.zeros(layout.size), layout, net)


def test_engine_refuses_parameters_and_state_of_another_size():
    layout = ParameterLayout([3, 4, 2])
    X = np.zeros((10, 3))
    Y = np.zeros((10, 2))
    net = buffers.make_net(layout, 3, 0, 0, 0.0)
    engine = training.Engine(X, Y, None, layout, net, np.float64, 5)
    from fastmlp._engine.solvers import AdamOptimizer

    order = np.arange(10)
    good = AdamOptimizer(layout.size, np.float64, 0.001, 0.9, 0.999, 1e-8)
    bad = AdamOptimizer(layout.size + 3, np.float64, 0.001, 0.9, 0.999, 1e-8)
    params = np.zeros(layout.size)
    engine.run_epoch(params, order, 5, good)
    with pytest.raises(entry_checks.KernelInputError, match="parameter buffer"):
        engine.run_epoch(np.zeros(layout.size + 1), order, 5, good)
    with pytest.raises(entry_checks.KernelInputError, match="optimizer"):
        engine.run_epoch(params, order, 5, bad)
    with pytest.raises(ValueError, match="batches of"):
        engine.run_epoch(params, order, 6, good)
    with pytest.raises(ValueError, match="features"):
        training.Engine(np.zeros((10, 4)), Y, None, layout, net, np.float64, 5)
    with pytest.raises(ValueError, match="targets"):
        training.Engine(X, np.zeros((10, 3)), None, layout, net, np.float64, 5)


def test_user_arrays_of_wrong_shape_give_an_error_not_a_crash():
    X = np.random.default_rng(0).normal(size=(50, 4))
    y = (X[:, 0] > 0).astype(int)
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(X, y)
    est.coefs_ = [np.zeros((4, 9)), est.coefs_[1]]
    with pytest.raises(ValueError):
        est.predict(X)
    with pytest.raises(ValueError):
        est.set_params(warm_start=True).fit(X, y)


def test_pickle_and_clone_keep_working_after_transactions():
    import pickle

    from sklearn.base import clone

    X = np.random.default_rng(0).normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y).partial_fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert "_params_views" not in pickle.loads(pickle.dumps(est)).__getstate__()
    assert clone(est).get_params() == est.get_params()
