"""Reliability at run time: divergence, interrupts, threads, processes, memory.

No test here times anything for speed: concurrency is shown by the order of
events (kernel calls of two threads overlapping), never by wall time.
"""

import contextlib
import copy
import gc
import os
import pickle
import signal
import sys
import threading
import time
import warnings
import weakref

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import _multilayer_perceptron as sklearn_mlp
from threadpoolctl import threadpool_info

import fastmlp
from fastmlp import _fit_loops
from fastmlp._engine import training
from fastmlp._runtime import thread_plan
from tests._parity import assert_same_model
from tests._reliability_helpers import (
    SavedState,
    assert_bitwise_equal_models,
    assert_restored,
    assert_unfitted,
    model_arrays,
    pair,
    raised,
    run_python,
    snapshot,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

INTERRUPTED = "Training interrupted by user."
NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed."
)


def _data(n_samples=80, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    y_class = rng.randint(0, 3, n_samples)
    y_reg = X @ rng.normal(size=n_features)
    return X, y_class, y_reg


def _blas_limits():
    return [(info["filepath"], info["num_threads"]) for info in threadpool_info()]


@contextlib.contextmanager
def _blas_policy_restored():
    """Assert BLAS thread limits and fastmlp's limit count are as before."""
    before = _blas_limits()
    yield
    assert thread_plan._depth == 0
    assert _blas_limits() == before


def _all_finite(est):
    return all(np.isfinite(w).all() for w in model_arrays(est))


# ----------------------------------------------------------------------------
# Divergence: scikit-learn's error, never NaN weights returned, never a hang;
# the estimator is left as before the call (scikit-learn keeps NaN weights)
# ----------------------------------------------------------------------------
def _divergent_cases():
    X, y_class, y_reg = _data()
    return {
        "sgd_momentum": (
            "MLPRegressor",
            X,
            y_reg,
            {"solver": "sgd", "learning_rate_init": 10.0},
        ),
        "sgd_adaptive": (
            "MLPRegressor",
            X,
            y_reg,
            {"solver": "sgd", "learning_rate_init": 10.0, "learning_rate": "adaptive"},
        ),
        "sgd_invscaling_no_momentum": (
            "MLPRegressor",
            X * 1e3,
            y_reg,
            {
                "solver": "sgd",
                "learning_rate_init": 1e6,
                "momentum": 0.0,
                "learning_rate": "invscaling",
            },
        ),
        "sgd_huge_X_classifier": (
            "MLPClassifier",
            X * 1e150,
            y_class,
            {"solver": "sgd"},
        ),
        "sgd_sparse": (
            "MLPRegressor",
            sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0)),
            y_reg,
            {"solver": "sgd", "learning_rate_init": 10.0},
        ),
        "sgd_float32": (
            "MLPRegressor",
            X.astype(np.float32),
            y_reg,
            {"solver": "sgd", "learning_rate_init": 10.0},
        ),
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(_divergent_cases()))
def test_divergence_ends_with_sklearns_error(case):
    name, X, y, params = _divergent_cases()[case]
    fast, skl = pair(name, hidden_layer_sizes=(8,), max_iter=300, random_state=0)
    fast.set_params(**params)
    skl.set_params(**params)
    saved = SavedState(fast)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skl_error = raised(lambda: skl.fit(X, y))
        with _blas_policy_restored():
            fast_error = raised(lambda: fast.fit(X, y))
    assert skl_error == (ValueError, NON_FINITE)
    assert fast_error == skl_error
    # scikit-learn keeps its NaN weights, n_iter_ and curves; fastmlp's
    # estimator is as it was made, and fits from there as a new one does
    assert not _all_finite(skl)
    assert_unfitted(fast, saved)
    new = clone(fast)
    for est in (fast, new):
        est.set_params(learning_rate_init=1e-3, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        outcome = raised(lambda: new.fit(X, y))
        assert raised(lambda: fast.fit(X, y)) == outcome
    if outcome[0] is None:
        assert_bitwise_equal_models(fast, new)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_divergence_runs_out_max_iter_and_raises(monkeypatch, schedule):
    # NaN losses never count as "no improvement", so a diverged fit runs every
    # remaining epoch on NaN weights, as scikit-learn's does: it must still end
    losses = []
    run_epoch = training.Engine.run_epoch

    def counted(self, *args, **kwargs):
        losses.append(run_epoch(self, *args, **kwargs))
        return losses[-1]

    monkeypatch.setattr(training.Engine, "run_epoch", counted)
    X, _, y = _data()
    est = fastmlp.MLPRegressor(
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate=schedule,
        learning_rate_init=1e3,
        max_iter=20000,
        random_state=0,
        activation="identity",
    )
    saved = SavedState(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error = raised(lambda: est.fit(X * 1e100, y))
    assert error == (ValueError, NON_FINITE)
    assert len(losses) == 20000
    assert np.isnan(losses[-1])
    assert_unfitted(est, saved)


@pytest.mark.timeout(60)
def test_divergence_in_partial_fit_raises_sklearns_error():
    X, _, y = _data()
    fast, skl = pair(
        "MLPRegressor",
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate_init=10.0,
        random_state=0,
    )
    reference = clone(fast)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(30):
            saved, skl_before = SavedState(fast), copy.deepcopy(skl)
            skl_error = raised(lambda: skl.partial_fit(X, y))
            assert raised(lambda: fast.partial_fit(X, y)) == skl_error
            if skl_error[0] is not None:
                break
            reference.partial_fit(X, y)
        assert skl_error == (ValueError, NON_FINITE)
        assert saved.views  # diverged in a call after the first
        # scikit-learn's weights are NaN now; fastmlp's model is the one
        # before the call (its weights, optimizer, n_iter_ and t_), which is
        # scikit-learn's before the call too
        assert not _all_finite(skl)
        assert_restored(fast, saved)
        for ours, theirs in zip(model_arrays(fast), model_arrays(skl_before)):
            assert_allclose(ours, theirs, rtol=1e-6)
        # so the same call fails again from the same state
        assert raised(lambda: fast.partial_fit(X, y)) == skl_error
        assert raised(lambda: skl_before.partial_fit(X, y)) == skl_error
        assert_restored(fast, saved)
    assert_bitwise_equal_models(fast, reference)


def _continuation(est, how, X, y):
    if how == "partial_fit":
        return lambda: est.partial_fit(X, y)
    return lambda: est.fit(X, y)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("how", ["partial_fit", "warm_start", "refit"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_divergence_of_a_fitted_model_keeps_the_model(solver, how, sparse):
    # one call on hugely scaled X: NaN weights after its first epoch
    X, _, y = _data()
    X_huge = X * 1e300
    if sparse:
        X_huge = sp.csr_matrix(np.where(np.abs(X) > 0.5, X_huge, 0.0))
    fast, skl = pair(
        "MLPRegressor",
        hidden_layer_sizes=(8,),
        solver=solver,
        max_iter=5,
        random_state=0,
        warm_start=how == "warm_start",
    )
    reference = clone(fast)
    for est in (fast, skl, reference):
        est.fit(X, y)
    saved, skl_before = SavedState(fast), copy.deepcopy(skl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skl_error = raised(_continuation(skl, how, X_huge, y))
        with _blas_policy_restored():
            fast_error = raised(_continuation(fast, how, X_huge, y))
    assert skl_error == (ValueError, NON_FINITE)
    assert fast_error == skl_error
    # scikit-learn keeps NaN weights; fastmlp the model of before the call,
    # with the optimizer's moments and the curves as they were (all of them)
    assert not _all_finite(skl)
    assert_restored(fast, saved)
    if how == "refit":
        assert_same_model(fast, skl_before, X)
    # training continues as if the call never happened
    for method in ["partial_fit", "fit"]:
        for est in (fast, reference, skl_before):
            getattr(est, method)(X, y)
        assert_bitwise_equal_models(fast, reference)
        for ours, theirs in zip(model_arrays(fast), model_arrays(skl_before)):
            assert_allclose(ours, theirs, rtol=1e-6)
    assert fast.n_iter_ == reference.n_iter_ and fast.t_ == reference.t_


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_failed_continuation_leaves_the_loss_curve(how):
    X, _, y = _data()
    est = fastmlp.MLPRegressor(
        hidden_layer_sizes=(8,),
        solver="sgd",
        max_iter=5,
        random_state=0,
        warm_start=how == "warm_start",
    ).fit(X, y)
    saved = SavedState(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error = raised(_continuation(est, how, X * 1e300, y))
    assert error == (ValueError, NON_FINITE)
    assert est.loss_curve_ == saved.attributes["loss_curve_"]
    assert_restored(est, saved)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["MLPRegressor", "MLPClassifier"])
def test_divergence_with_early_stopping_keeps_the_best_finite_weights(name):
    # a NaN validation score never counts as "no improvement" in scikit-learn's
    # logic: training runs to max_iter, then the best (finite) weights return
    X, y_class, y_reg = _data(n_samples=100)
    y = y_reg if name == "MLPRegressor" else y_class
    params = {
        "hidden_layer_sizes": (8,),
        "solver": "sgd",
        "learning_rate_init": 1e3,
        "early_stopping": True,
        "max_iter": 60,
        "random_state": 0,
    }
    fast, skl = pair(name, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skl.fit(X * 1e3, y)
        fast.fit(X * 1e3, y)
    assert fast.n_iter_ == skl.n_iter_
    assert_array_equal(
        np.isnan(fast.validation_scores_), np.isnan(skl.validation_scores_)
    )
    assert _all_finite(fast)
    if name == "MLPRegressor":
        assert np.isnan(skl.validation_scores_).any()
    assert_same_model(fast, skl, X)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("scale", [1.0, 1e50, 1e300])
def test_extreme_settings_give_finite_weights_or_the_error(solver, scale):
    # whatever happens: finite weights and predictions, or the ValueError
    X, _, y = _data()
    est = fastmlp.MLPRegressor(
        hidden_layer_sizes=(6, 6),
        solver=solver,
        learning_rate_init=1e4,
        max_iter=200,
        random_state=0,
        activation="tanh",
    )
    saved = SavedState(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error = raised(lambda: est.fit(X * scale, y * scale))
    if error[0] is None:
        assert _all_finite(est)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            predictions = est.predict(X)
        assert np.isfinite(predictions).all()
    else:
        assert error == (ValueError, NON_FINITE)
        assert_unfitted(est, saved)


# ----------------------------------------------------------------------------
# KeyboardInterrupt in the middle of an epoch
# ----------------------------------------------------------------------------
def _interrupt_at_call(monkeypatch, stop_at):
    """Make the epoch kernel raise KeyboardInterrupt at call ``stop_at``.

    One batch per kernel call, so the interrupt falls between two batches of
    an epoch, as it does between two of scikit-learn's ``_backprop`` calls.
    Dense and CSR rows run the same kernel (``Engine.in_parts``).
    """
    monkeypatch.setattr(training.Engine, "batches_per_call", lambda self, size: 1)
    name = "run_epoch_parallel"
    original = getattr(training, name)
    calls = {"n": 0}

    def kernel(*args):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(training, name, kernel)
    return calls


def _interrupt_sklearn_at_batch(monkeypatch, stop_at):
    original = sklearn_mlp.BaseMultilayerPerceptron._backprop
    calls = {"n": 0}

    def backprop(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sklearn_mlp.BaseMultilayerPerceptron, "_backprop", backprop)


def _warnings_of(func):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func()
    return [(w.category, str(w.message)) for w in caught]


INTERRUPT_CASES = {
    "adam_dense": ("MLPClassifier", {"solver": "adam"}, False),
    "sgd_dense": ("MLPRegressor", {"solver": "sgd"}, False),
    "adam_sparse": ("MLPRegressor", {"solver": "adam"}, True),
    "sgd_early_stopping": (
        "MLPClassifier",
        {"solver": "sgd", "early_stopping": True},
        False,
    ),
}
# batches of 20 on 100 rows: call 13 is batch 3 of epoch 3
STOP_AT = 13


def _interrupted_pair(monkeypatch, case, stop_at=STOP_AT):
    name, params, sparse = INTERRUPT_CASES[case]
    X, y_class, y_reg = _data(n_samples=100)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    y = y_class if name == "MLPClassifier" else y_reg
    fast, skl = pair(
        name,
        hidden_layer_sizes=(6,),
        batch_size=20,
        max_iter=10,
        random_state=0,
        **params,
    )
    with monkeypatch.context() as patch:
        _interrupt_at_call(patch, stop_at)
        with _blas_policy_restored():
            fast_warnings = _warnings_of(lambda: fast.fit(X, y))
    with monkeypatch.context() as patch:
        _interrupt_sklearn_at_batch(patch, stop_at)
        skl_warnings = _warnings_of(lambda: skl.fit(X, y))
    return fast, skl, X, y, fast_warnings, skl_warnings


@pytest.mark.parametrize("stop_at", [1, STOP_AT])
@pytest.mark.parametrize("case", sorted(INTERRUPT_CASES))
def test_keyboard_interrupt_mid_epoch_gives_sklearns_model(monkeypatch, case, stop_at):
    fast, skl, X, y, fast_warnings, skl_warnings = _interrupted_pair(
        monkeypatch, case, stop_at
    )
    assert (UserWarning, INTERRUPTED) in skl_warnings
    assert fast_warnings == skl_warnings
    # whole epochs done (5 batches each); the rest of the batches before the
    # interrupt are in the weights
    assert fast.n_iter_ == skl.n_iter_ == (stop_at - 1) // 5
    assert len(fast.loss_curve_) == fast.n_iter_
    assert_same_model(fast, skl, X)
    # the estimator is usable: predicts, scores, refits
    assert np.isfinite(fast.score(X, y))
    assert_same_model(fast.fit(X, y), skl.fit(X, y), X)


@pytest.mark.parametrize(
    "case", [case for case in sorted(INTERRUPT_CASES) if "early_stopping" not in case]
)
def test_training_continues_after_keyboard_interrupt_as_sklearn(monkeypatch, case):
    # KeyboardInterrupt stops Engine.run_epoch between kernel calls: the
    # batches already run in that epoch count in Adam's step (and so in its
    # bias correction and learning_rate) as in scikit-learn's AdamOptimizer.t,
    # and partial_fit/warm_start afterwards continue scikit-learn's model
    fast, skl, X, y, _, _ = _interrupted_pair(monkeypatch, case)
    if hasattr(skl._optimizer, "t"):
        assert fast._optimizer.step == skl._optimizer.t
        assert fast._optimizer.learning_rate == skl._optimizer.learning_rate
    fast.partial_fit(X, y)
    skl.partial_fit(X, y)
    assert_same_model(fast, skl, X)


@pytest.mark.timeout(60)
def test_real_sigint_during_a_long_fit_stops_it_cleanly(monkeypatch):
    X, y, _ = _data(n_samples=200)
    started = threading.Event()
    original = training.run_epoch_parallel

    def kernel(*args):
        started.set()
        return original(*args)

    monkeypatch.setattr(training, "run_epoch_parallel", kernel)

    def send_sigint():
        if started.wait(30):
            time.sleep(0.05)  # well inside the loop over epochs
            os.kill(os.getpid(), signal.SIGINT)

    est = fastmlp.MLPClassifier(
        hidden_layer_sizes=(8,),
        max_iter=10**6,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = threading.Thread(target=send_sigint)
    try:
        sender.start()
        with _blas_policy_restored():
            caught = _warnings_of(lambda: est.fit(X, y))
    except KeyboardInterrupt:  # pragma: no cover - the failure we test for
        pytest.fail("KeyboardInterrupt escaped from fit")
    finally:
        sender.join()
        signal.signal(signal.SIGINT, previous_handler)
    assert (UserWarning, INTERRUPTED) in caught
    assert 0 < est.n_iter_ < 10**6
    assert len(est.loss_curve_) == est.n_iter_
    assert _all_finite(est)
    assert est.predict(X).shape == y.shape
    est.partial_fit(X, y)
    assert _all_finite(est)


def test_keyboard_interrupt_in_lbfgs_propagates_as_in_sklearn(monkeypatch):
    # scikit-learn's L-BFGS path has no interrupt handling: the exception
    # leaves fit; fastmlp's too, with its BLAS limits restored
    X, y, _ = _data()
    fast, skl = pair(
        "MLPClassifier", solver="lbfgs", hidden_layer_sizes=(4,), random_state=0
    )

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    saved = SavedState(fast)
    with monkeypatch.context() as patch:
        patch.setattr(training, "loss_grad_parallel", interrupted)
        with _blas_policy_restored(), pytest.raises(KeyboardInterrupt):
            fast.fit(X, y)
    with monkeypatch.context() as patch:
        patch.setattr(sklearn_mlp.BaseMultilayerPerceptron, "_backprop", interrupted)
        with pytest.raises(KeyboardInterrupt):
            skl.fit(X, y)
    # scikit-learn keeps its initial weights; fastmlp's estimator is as made
    assert hasattr(skl, "coefs_")
    assert_unfitted(fast, saved)
    fast.fit(X, y)
    skl.fit(X, y)
    assert_same_model(fast, skl, X)


@pytest.mark.parametrize("warm_start", [False, True])
def test_keyboard_interrupt_in_an_lbfgs_refit_keeps_the_model(monkeypatch, warm_start):
    # L-BFGS stopped after a few evaluations of the loss: scikit-learn keeps
    # the last point scipy evaluated, fastmlp the model of before the call
    X, y, _ = _data()
    params = {"solver": "lbfgs", "hidden_layer_sizes": (4,), "max_iter": 20}
    fast = fastmlp.MLPClassifier(random_state=0, warm_start=warm_start, **params)
    reference = clone(fast)
    fast.fit(X, y)
    reference.fit(X, y)
    saved = SavedState(fast)
    calls = {"n": 0}
    loss_grad = training.loss_grad_parallel

    def interrupted_at_call_5(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return loss_grad(*args)

    with monkeypatch.context() as patch:
        patch.setattr(training, "loss_grad_parallel", interrupted_at_call_5)
        with _blas_policy_restored(), pytest.raises(KeyboardInterrupt):
            fast.fit(X, y)
    assert calls["n"] == 5
    assert_restored(fast, saved)
    fast.fit(X, y)
    reference.fit(X, y)
    assert_bitwise_equal_models(fast, reference)


class _InterruptedEngine:
    """An Engine that is never built: Ctrl-C before the first epoch."""

    def __init__(self, *args, **kwargs):
        raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["fresh", "refit", "warm_start", "partial_fit"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_keyboard_interrupt_outside_the_epoch_loop_undoes_the_call(
    monkeypatch, solver, how
):
    # only the loop over epochs turns KeyboardInterrupt into a warning; one
    # raised before it leaves fit, after the weights were initialised (or the
    # optimizer replaced): the estimator is put back as it was
    X, _, y = _data()
    est = fastmlp.MLPRegressor(
        hidden_layer_sizes=(6,),
        solver=solver,
        max_iter=5,
        random_state=0,
        warm_start=how == "warm_start",
    )
    reference = clone(est)
    if how != "fresh":
        est.fit(X, y)
        reference.fit(X, y)
    saved = SavedState(est)
    with monkeypatch.context() as patch:
        patch.setattr(_fit_loops, "Engine", _InterruptedEngine)
        with _blas_policy_restored(), pytest.raises(KeyboardInterrupt):
            _continuation(est, how, X, y)()
    if how == "fresh":
        assert_unfitted(est, saved)
    else:
        assert_restored(est, saved)
    for method in ["partial_fit", "fit"]:
        getattr(est, method)(X, y)
        getattr(reference, method)(X, y)
        assert_bitwise_equal_models(est, reference)


# ----------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------
def _thread_estimators():
    """Four different fits: ``(estimator, X, y)``.

    The L-BFGS one has products large enough to keep BLAS's threads, while the
    others limit BLAS to one thread for the whole process as long as they run.
    """
    X, y_class, y_reg = _data(n_samples=300, n_features=8)
    X_sparse = sp.csr_matrix(np.where(np.abs(X) > 0.7, X, 0.0))
    X_large, y_large, _ = _data(n_samples=400, n_features=150)
    return [
        (
            fastmlp.MLPClassifier(
                hidden_layer_sizes=(10, 5), max_iter=15, random_state=1
            ),
            X,
            y_class,
        ),
        (
            fastmlp.MLPRegressor(
                solver="sgd", batch_size=16, max_iter=15, random_state=2
            ),
            X_sparse,
            y_reg,
        ),
        (
            fastmlp.MLPClassifier(
                solver="lbfgs", hidden_layer_sizes=(200,), max_iter=15, random_state=4
            ),
            X_large,
            y_large,
        ),
        (
            fastmlp.MLPRegressor(
                hidden_layer_sizes=(12,),
                early_stopping=True,
                max_iter=15,
                random_state=3,
            ),
            X.astype(np.float32),
            y_reg,
        ),
    ]


def _fit_in_threads(jobs):
    """Fit every ``(estimator, X, y)`` in its own thread, all released at once."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def work(est, X, y):
        try:
            barrier.wait()
            est.fit(X, y)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


@pytest.mark.timeout(120)
def test_four_concurrent_fits_equal_the_sequential_ones():
    sequential = _thread_estimators()
    for est, X, y in sequential:
        est.fit(X, y)
    for _ in range(2):
        concurrent = _thread_estimators()
        with _blas_policy_restored():
            _fit_in_threads(concurrent)
        for (ours, _, _), (reference, X, _) in zip(concurrent, sequential):
            assert_bitwise_equal_models(ours, reference)
            assert_array_equal(ours.predict(X), reference.predict(X), strict=True)


@pytest.mark.timeout(120)
def test_the_same_estimator_type_in_many_threads():
    X, y, _ = _data(n_samples=200)
    jobs = [
        (
            fastmlp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=10, random_state=0),
            X,
            y,
        )
        for _ in range(6)
    ]
    _fit_in_threads(jobs)
    for est, _, _ in jobs[1:]:
        assert_bitwise_equal_models(est, jobs[0][0])


@pytest.mark.timeout(120)
def test_one_fitted_model_predicts_from_many_threads():
    est, X, _ = _persisted_model("adam_classifier")
    expected = est.predict_proba(X)
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        results[i] = [est.predict_proba(X[i:]) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for i, outputs in enumerate(results):
        for output in outputs:
            assert_array_equal(output, expected[i:], strict=True)


def _search(n_jobs):
    X, y, _ = _data(n_samples=120)
    grid = {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-1]}
    est = fastmlp.MLPClassifier(max_iter=20, random_state=0)
    return GridSearchCV(est, grid, cv=3, n_jobs=n_jobs).fit(X, y), X


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["threading", "loky", "multiprocessing"])
def test_grid_search_with_joblib_backends(backend):
    reference, X = _search(n_jobs=1)
    try:
        with joblib.parallel_backend(backend, n_jobs=2):
            search, _ = _search(n_jobs=2)
    finally:
        if backend == "loky":  # leave no idle workers behind
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)
    for key in ["mean_test_score", "std_test_score", "rank_test_score"]:
        assert_array_equal(search.cv_results_[key], reference.cv_results_[key])
    assert search.best_params_ == reference.best_params_
    assert_bitwise_equal_models(search.best_estimator_, reference.best_estimator_)
    assert_array_equal(search.predict(X), reference.predict(X))


def _available_threading_layers():
    layers = ["workqueue"]
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:
        pass
    else:
        layers.append("omp")
    try:
        from numba.np.ufunc import tbbpool  # noqa: F401
    except ImportError:
        pass
    else:
        layers.append("tbb")
    return layers


THREADED_FITS_SCRIPT = """
import threading, warnings
import numba
import numpy as np
from numba import njit, prange

warnings.simplefilter("ignore")

@njit(parallel=True)
def parallel_sum(values):
    total = 0.0
    for i in prange(values.shape[0]):
        total += values[i]
    return total

# start the requested threading layer before fastmlp runs
parallel_sum(np.ones(1000))
layer = numba.threading_layer()
assert layer == "{layer}", layer

import joblib
from sklearn.model_selection import GridSearchCV
from tests.test_reliability_runtime import _fit_in_threads, _thread_estimators

sequential = _thread_estimators()
for est, X, y in sequential:
    est.fit(X, y)
concurrent = _thread_estimators()
_fit_in_threads(concurrent)
for (ours, _, _), (reference, _, _) in zip(concurrent, sequential):
    for a, b in zip(ours.coefs_ + ours.intercepts_,
                    reference.coefs_ + reference.intercepts_):
        assert np.array_equal(a, b)
est, X, y = _thread_estimators()[0]
with joblib.parallel_backend("threading", n_jobs=2):
    GridSearchCV(est, {{"alpha": [1e-4, 1e-2]}}, cv=2).fit(X, y)
print("OK", layer)
"""


@pytest.mark.timeout(180)
@pytest.mark.parametrize("layer", _available_threading_layers())
def test_threaded_fits_beside_each_numba_threading_layer(layer):
    """A user's own numba parallel code, on any layer, and fastmlp's threads."""
    proc = run_python(
        THREADED_FITS_SCRIPT.format(layer=layer),
        env_updates={"NUMBA_THREADING_LAYER": layer, "NUMBA_NUM_THREADS": "2"},
    )
    assert proc.stdout.strip().endswith(f"OK {layer}")


@contextlib.contextmanager
def _no_forced_gil_switches():
    """A thread holding the GIL keeps it until it blocks or releases it itself."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _recording(function, intervals):
    def wrapper(*args):
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            intervals.append((threading.get_ident(), start, time.perf_counter()))

    return wrapper


def _overlapping_pairs(intervals):
    threads = sorted({ident for ident, _, _ in intervals})
    assert len(threads) == 2
    first = [(s, e) for ident, s, e in intervals if ident == threads[0]]
    second = [(s, e) for ident, s, e in intervals if ident == threads[1]]
    return sum(1 for s1, e1 in first for s2, e2 in second if s1 < e2 and s2 < e1)


def _run_two_threads(target):
    barrier = threading.Barrier(2)

    def work(seed):
        barrier.wait()
        target(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.timeout(120)
def test_overlap_probe_sees_no_overlap_for_code_holding_the_gil():
    # the control of the next test: with forced switches off, a call that
    # keeps the GIL can never overlap another thread's call
    intervals = []

    def hold_the_gil():
        end = time.perf_counter() + 0.003
        while time.perf_counter() < end:
            pass

    probe = _recording(hold_the_gil, intervals)
    with _no_forced_gil_switches():
        _run_two_threads(lambda seed: [probe() for _ in range(10)])
    assert _overlapping_pairs(intervals) == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("n_jobs", "dropout", "kernel"),
    [(1, 0.0, "run_epoch_parallel"), (2, 0.0, "run_epoch_parallel"),
     (1, 0.1, "run_epoch_dense")],
)  # fmt: skip
def test_epoch_kernels_release_the_gil(monkeypatch, n_jobs, dropout, kernel):
    # Forced GIL switches are off, so the other thread can only record a
    # kernel call while this one's call is running if the kernel released the
    # GIL. Epoch parts of ~5000 rows take milliseconds, much longer than the
    # Python between two calls: with the GIL released the calls interleave.
    # n_jobs=1: the split kernel as one part in the calling thread; n_jobs=2:
    # both fits split their batches across threads; dropout: the serial kernel.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20000, 50))
    y = X[:, 0] - X[:, 1]
    settings = {"hidden_layer_sizes": (64,), "n_jobs": n_jobs, "dropout": dropout}
    fastmlp.MLPRegressor(max_iter=1, **settings).fit(X[:500], y[:500])
    intervals = []
    recording = _recording(getattr(training, kernel), intervals)
    monkeypatch.setattr(training, kernel, recording)
    # epochs in several calls (4 each), so that calls can interleave
    monkeypatch.setattr(training, "WORK_PER_CALL", 5e7)

    def fit(seed):
        fastmlp.MLPRegressor(
            max_iter=3, batch_size=200, random_state=seed, **settings
        ).fit(X, y)

    with _no_forced_gil_switches():
        _run_two_threads(fit)
    assert len(intervals) >= 8
    assert _overlapping_pairs(intervals) > 0


# ----------------------------------------------------------------------------
# Processes: pickle, joblib, cloudpickle; a fresh interpreter
# ----------------------------------------------------------------------------
def _round_trip(est, method, tmp_path):
    if method == "pickle":
        return pickle.loads(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
    if method == "joblib":
        path = tmp_path / "model.joblib"
        joblib.dump(est, path)
        return joblib.load(path)
    if method == "joblib_compressed":
        path = tmp_path / "model.joblib.gz"
        joblib.dump(est, path, compress=3)
        return joblib.load(path)
    if method == "deepcopy":
        return copy.deepcopy(est)
    if method == "cloudpickle":
        cloudpickle = pytest.importorskip("cloudpickle")
        return cloudpickle.loads(cloudpickle.dumps(est))
    raise ValueError(method)


PERSISTED_MODELS = {
    "adam_classifier": ("MLPClassifier", {"solver": "adam"}, False, np.float64),
    "sgd_regressor_sparse": ("MLPRegressor", {"solver": "sgd"}, True, np.float64),
    "adam_regressor_float32": ("MLPRegressor", {"solver": "adam"}, False, np.float32),
    "lbfgs_classifier": ("MLPClassifier", {"solver": "lbfgs"}, False, np.float64),
}


def _persisted_model(case):
    name, params, sparse, dtype = PERSISTED_MODELS[case]
    X, y_class, y_reg = _data(n_samples=90)
    X = X.astype(dtype)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    y = y_class if name == "MLPClassifier" else y_reg
    est = getattr(fastmlp, name)(
        hidden_layer_sizes=(7, 4), max_iter=6, random_state=0, **params
    )
    return est.fit(X, y), X, y


def _outputs(est, X):
    outputs = [est.predict(X)]
    if hasattr(est, "predict_proba"):
        outputs.append(est.predict_proba(X))
    return outputs


@pytest.mark.parametrize(
    "method", ["pickle", "joblib", "joblib_compressed", "cloudpickle", "deepcopy"]
)
@pytest.mark.parametrize("case", sorted(PERSISTED_MODELS))
def test_round_trips_predict_identically_and_continue(case, method, tmp_path):
    est, X, y = _persisted_model(case)
    loaded = _round_trip(est, method, tmp_path)
    assert type(loaded) is type(est)
    assert_bitwise_equal_models(loaded, est)
    for a, b in zip(_outputs(loaded, X), _outputs(est, X)):
        assert_array_equal(a, b, strict=True)
    if est.solver != "lbfgs":
        untouched = snapshot(est)
        loaded.partial_fit(X, y)
        # the copy trains on its own buffers: the original did not move
        for before, now in zip(untouched, model_arrays(est)):
            assert_array_equal(before, now, strict=True)
        est.partial_fit(X, y)
        assert_bitwise_equal_models(loaded, est)
    # a second round trip of the continued model still matches
    again = _round_trip(loaded, method, tmp_path)
    assert_bitwise_equal_models(again, loaded)


FRESH_PROCESS_SCRIPT = """
import pickle, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from tests.test_reliability_runtime import PERSISTED_MODELS, _outputs, _persisted_model

folder = sys.argv[1] if len(sys.argv) > 1 else {folder!r}
results = {{}}
for case in sorted(PERSISTED_MODELS):
    with open(f"{{folder}}/{{case}}.pkl", "rb") as handle:
        loaded = pickle.load(handle)
    _, X, y = _persisted_model(case)  # the same data, and a fit in this process
    fitted_here, _, _ = _persisted_model(case)
    for i, output in enumerate(_outputs(loaded, X)):
        results[f"{{case}}-loaded-output{{i}}"] = output
    if loaded.solver != "lbfgs":
        loaded.partial_fit(X, y)
    for i, w in enumerate(loaded.coefs_ + loaded.intercepts_):
        results[f"{{case}}-continued-{{i}}"] = w
    for i, w in enumerate(fitted_here.coefs_ + fitted_here.intercepts_):
        results[f"{{case}}-fitted-{{i}}"] = w
np.savez(f"{{folder}}/results.npz", **results)
print("OK")
"""


@pytest.mark.timeout(120)
def test_model_pickled_here_is_used_in_a_fresh_process(tmp_path):
    expected = {}
    for case in sorted(PERSISTED_MODELS):
        est, X, y = _persisted_model(case)
        with open(tmp_path / f"{case}.pkl", "wb") as handle:
            pickle.dump(est, handle)
        for i, w in enumerate(model_arrays(est)):
            expected[f"{case}-fitted-{i}"] = w.copy()
        for i, output in enumerate(_outputs(est, X)):
            expected[f"{case}-loaded-output{i}"] = output
        if est.solver != "lbfgs":
            est.partial_fit(X, y)
        for i, w in enumerate(model_arrays(est)):
            expected[f"{case}-continued-{i}"] = w
    proc = run_python(FRESH_PROCESS_SCRIPT.format(folder=str(tmp_path)))
    assert proc.stdout.strip() == "OK"
    with np.load(tmp_path / "results.npz") as results:
        assert sorted(results.files) == sorted(expected)
        for key, value in expected.items():
            # loaded there == here; continued there == here; and the same
            # random_state fitted there gives this process's weights bit for bit
            assert_array_equal(results[key], value, strict=True, err_msg=key)


# ----------------------------------------------------------------------------
# Determinism in one process
# ----------------------------------------------------------------------------
DETERMINISM_CASES = {
    "adam": ("MLPClassifier", {"solver": "adam"}),
    "sgd_nesterov": ("MLPRegressor", {"solver": "sgd", "momentum": 0.95}),
    "lbfgs": ("MLPRegressor", {"solver": "lbfgs"}),
    "adam_early_stopping": ("MLPClassifier", {"early_stopping": True}),
}


@pytest.mark.parametrize("case", sorted(DETERMINISM_CASES))
def test_same_random_state_gives_bit_identical_fits(case):
    name, params = DETERMINISM_CASES[case]
    X, y_class, y_reg = _data(n_samples=150)
    y = y_class if name == "MLPClassifier" else y_reg
    models = []
    for i in range(3):
        if i == 1:
            # something else in between must not leak into the next fit
            fastmlp.MLPRegressor(hidden_layer_sizes=(300,), max_iter=2).fit(X, y_reg)
        est = getattr(fastmlp, name)(
            hidden_layer_sizes=(9, 4), max_iter=12, random_state=42, **params
        )
        models.append(est.fit(X, y))
    for other in models[1:]:
        assert_bitwise_equal_models(other, models[0])
        assert other.n_iter_ == models[0].n_iter_
        if hasattr(other, "loss_curve_"):
            assert other.loss_curve_ == models[0].loss_curve_


def test_random_state_instance_is_consumed_as_in_sklearn():
    X, y, _ = _data()
    fast, skl = pair(
        "MLPClassifier", hidden_layer_sizes=(5,), max_iter=4, random_state=None
    )
    fast.set_params(random_state=np.random.RandomState(7))
    skl.set_params(random_state=np.random.RandomState(7))
    for _ in range(2):  # the second fit continues the same generator
        fast.fit(X, y)
        skl.fit(X, y)
        assert_same_model(fast, skl, X)


# ----------------------------------------------------------------------------
# Memory
# ----------------------------------------------------------------------------
def _rss():
    psutil = pytest.importorskip("psutil")
    return psutil.Process().memory_info().rss


@pytest.mark.timeout(120)
def test_many_consecutive_fits_do_not_grow_memory():
    X, y_class, y_reg = _data(n_samples=100)
    X_sparse = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))

    def one_round(i):
        solver = ["adam", "sgd", "lbfgs"][i % 3]
        clf = fastmlp.MLPClassifier(
            hidden_layer_sizes=(8,), max_iter=3, solver=solver, random_state=i
        )
        clf.fit(X_sparse if i % 2 else X, y_class).predict_proba(X)
        reg = fastmlp.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=i)
        reg.fit(X, y_reg).predict(X)

    for i in range(6):  # warm-up: compile or load every kernel used below
        one_round(i)
    gc.collect()
    before = _rss()
    for i in range(100):  # 200 fits
        one_round(i)
    gc.collect()
    grown = _rss() - before
    assert grown < 50 * 2**20, f"RSS grew by {grown / 2**20:.1f} MB"


class _TrackedEngine(training.Engine):
    """An Engine that leaves a weak reference to itself in ``instances``."""

    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).instances.append(weakref.ref(self))


def _array_bytes_held(est):
    """Bytes of the arrays an estimator holds, one level into its objects."""
    total = 0
    for value in vars(est).values():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, np.ndarray):
                total += item.nbytes
            elif hasattr(item, "__dict__") and not isinstance(item, type):
                total += sum(
                    v.nbytes for v in vars(item).values() if isinstance(v, np.ndarray)
                )
    return total


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "adam"},
        {"solver": "sgd", "early_stopping": True},
        {"solver": "lbfgs"},
        {"solver": "sgd", "learning_rate_init": 10.0},  # diverges: the error path
    ],
    ids=["adam", "sgd_early_stopping", "lbfgs", "diverging"],
)
def test_the_fit_workspace_is_freed_when_fit_returns(monkeypatch, params):
    monkeypatch.setattr(_fit_loops, "Engine", _TrackedEngine)
    _TrackedEngine.instances = []
    rng = np.random.RandomState(0)
    X = rng.normal(size=(5000, 20))
    y = X[:, 0] * 3.0
    est = fastmlp.MLPRegressor(
        hidden_layer_sizes=(16,), max_iter=4, random_state=0, **params
    )
    diverges = "learning_rate_init" in params
    saved = SavedState(est)
    error = None
    gc.collect()
    gc.disable()  # freed by reference counting alone, not by a later collection
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                est.fit(X, y)
            except ValueError as exc:
                # held, traceback and all, while the Engines are looked at:
                # the divergence error is raised after the epoch loop's frame
                # (the one holding the Engine) has returned
                error = exc
        assert _TrackedEngine.instances, "no Engine was made"
        alive = [ref for ref in _TrackedEngine.instances if ref() is not None]
        if error is not None:
            error = str(error)  # drops the exception (and its frames) first
    finally:
        gc.enable()
    assert not alive
    assert error == (NON_FINITE if diverges else None)
    if diverges:
        # nothing kept at all: the estimator is as it was made
        assert_unfitted(est, saved)
        return
    # and the estimator keeps only parameter-sized arrays (weights, optimizer
    # state), nothing the size of X or of the batch buffers
    n_params = sum(w.size for w in model_arrays(est))
    bound = 8 * n_params * X.itemsize + 2**14
    assert _array_bytes_held(est) <= bound
    assert X.nbytes > 10 * bound
