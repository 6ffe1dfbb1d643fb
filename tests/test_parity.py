"""Parity with scikit-learn 1.9: same data and random_state, same fitted model.

The grid covers every solver x hidden activation x target type x shuffle x
early_stopping x sample_weight x dense/sparse input, after 5 epochs (or 5 L-BFGS
iterations), in float64 (rtol 1e-6) and float32 (rtol 1e-3), plus partial_fit and
warm_start sequences.
"""

import itertools
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sknn
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp._sklearn.versions import sklearn_fails_early_stopping_on
from tests._data import TARGET_TYPES, make_data, to_sparse
from tests._parity import assert_same_model

SOLVERS = ["lbfgs", "sgd", "adam"]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def _estimators(is_classifier, target, **params):
    if is_classifier:
        return fastmlp.MLPClassifier(**params), sknn.MLPClassifier(**params)
    loss = "poisson" if target == "poisson" else "squared_error"
    return (
        fastmlp.MLPRegressor(loss=loss, **params),
        sknn.MLPRegressor(loss=loss, **params),
    )


def _grid():
    for solver, activation, target in itertools.product(
        SOLVERS, ACTIVATIONS, TARGET_TYPES
    ):
        for shuffle, early_stopping, weighted, sparse in itertools.product(
            [True, False], repeat=4
        ):
            if solver == "lbfgs" and (not shuffle or early_stopping):
                continue  # lbfgs uses neither
            yield solver, activation, target, shuffle, early_stopping, weighted, sparse


GRID = list(_grid())


def _fit_both(fast, skl, X, y, sample_weight):
    if sklearn_fails_early_stopping_on(skl, y):
        pytest.skip("scikit-learn < 1.9 raises here (fastmlp does as 1.9 does)")
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        fast.fit(X, y, sample_weight=sample_weight)
    with warnings.catch_warnings(record=True) as skl_warnings:
        warnings.simplefilter("always")
        skl.fit(X, y, sample_weight=sample_weight)
    return [w.category for w in fast_warnings], [w.category for w in skl_warnings]


@pytest.mark.parametrize(
    "solver, activation, target, shuffle, early_stopping, weighted, sparse",
    GRID,
    ids=["-".join(map(str, case)) for case in GRID],
)
def test_parity_float64(
    solver, activation, target, shuffle, early_stopping, weighted, sparse
):
    X, y, is_classifier = make_data(target, seed=len(target))
    if sparse:
        X, _ = to_sparse(X)
    rng = np.random.RandomState(1)
    sample_weight = rng.uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    params = dict(
        hidden_layer_sizes=(7, 5),
        activation=activation,
        solver=solver,
        max_iter=5,
        batch_size=16,
        shuffle=shuffle,
        early_stopping=early_stopping,
        random_state=42,
        learning_rate_init=0.01 if target != "poisson" else 0.001,
        alpha=1e-3,
    )
    fast, skl = _estimators(is_classifier, target, **params)
    fast_w, skl_w = _fit_both(fast, skl, X, y, sample_weight)
    assert fast_w == skl_w
    assert_same_model(fast, skl, X, rtol=1e-6)


FLOAT32_GRID = [
    (solver, activation, target, sparse)
    for solver in SOLVERS
    for activation in ACTIVATIONS
    for target in TARGET_TYPES
    for sparse in [False, True]
]


@pytest.mark.parametrize(
    "solver, activation, target, sparse",
    FLOAT32_GRID,
    ids=["-".join(map(str, case)) for case in FLOAT32_GRID],
)
def test_parity_float32(solver, activation, target, sparse):
    X, y, is_classifier = make_data(target, seed=3, dtype=np.float32)
    if sparse:
        X, _ = to_sparse(X)
    params = dict(
        hidden_layer_sizes=(8,),
        activation=activation,
        solver=solver,
        max_iter=5,
        batch_size=20,
        random_state=0,
        learning_rate_init=0.01 if target != "poisson" else 0.001,
    )
    fast, skl = _estimators(is_classifier, target, **params)
    _fit_both(fast, skl, X, y, None)
    # float32 X stays float32 for sgd/adam; lbfgs runs (and ends) in float64.
    assert fast.coefs_[0].dtype == skl.coefs_[0].dtype
    assert_same_model(fast, skl, X, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", TARGET_TYPES)
def test_parity_partial_fit_sequence(solver, target):
    X, y, is_classifier = make_data(target, n_samples=90, seed=7)
    params = dict(hidden_layer_sizes=(6,), solver=solver, random_state=3, batch_size=10)
    fast, skl = _estimators(is_classifier, target, **params)
    extra = {}
    if is_classifier:
        multilabel = target == "multilabel"
        extra["classes"] = np.arange(y.shape[1]) if multilabel else np.unique(y)
    for chunk in np.array_split(np.arange(len(X)), 3):
        fast.partial_fit(X[chunk], y[chunk], **extra)
        skl.partial_fit(X[chunk], y[chunk], **extra)
        assert_same_model(fast, skl, X)
    # partial_fit after fit keeps the optimizer's state, as in scikit-learn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast.set_params(max_iter=3).fit(X, y)
        skl.set_params(max_iter=3).fit(X, y)
    fast.partial_fit(X[:30], y[:30])
    skl.partial_fit(X[:30], y[:30])
    assert_same_model(fast, skl, X)


WARM_START_GRID = [
    (solver, early_stopping, target)
    for solver in SOLVERS
    for early_stopping in [False, True]
    for target in ["binary_str", "multiclass", "regression"]
    if not (solver == "lbfgs" and early_stopping)  # lbfgs has no early stopping
]


@pytest.mark.parametrize("solver, early_stopping, target", WARM_START_GRID)
def test_parity_warm_start_sequence(solver, early_stopping, target):
    X, y, is_classifier = make_data(target, n_samples=80, seed=11)
    params = dict(
        hidden_layer_sizes=(6,),
        solver=solver,
        random_state=5,
        warm_start=True,
        max_iter=4,
        early_stopping=early_stopping,
        learning_rate_init=0.01,
        n_iter_no_change=2,
    )
    fast, skl = _estimators(is_classifier, target, **params)
    for max_iter in [4, 3, 6]:
        fast.set_params(max_iter=max_iter)
        skl.set_params(max_iter=max_iter)
        _fit_both(fast, skl, X, y, None)
        assert_same_model(fast, skl, X)


@pytest.mark.parametrize(
    "learning_rate, momentum, nesterov",
    [("constant", 0.9, True), ("invscaling", 0.5, False), ("adaptive", 0.0, True)],
)
def test_parity_sgd_schedules_until_convergence(learning_rate, momentum, nesterov):
    X, y, _ = make_data("multiclass", n_samples=120, seed=2)
    params = dict(
        hidden_layer_sizes=(10,),
        solver="sgd",
        learning_rate=learning_rate,
        momentum=momentum,
        nesterovs_momentum=nesterov,
        learning_rate_init=0.05,
        max_iter=200,
        n_iter_no_change=3,
        tol=1e-3,
        random_state=0,
    )
    fast, skl = _estimators(True, "multiclass", **params)
    _fit_both(fast, skl, X, y, None)
    assert_same_model(fast, skl, X)
    assert fast._optimizer.learning_rate == pytest.approx(skl._optimizer.learning_rate)


def test_parity_verbose_output(capsys):
    X, y, _ = make_data("multiclass", seed=4)
    params = dict(
        hidden_layer_sizes=(5,),
        max_iter=4,
        verbose=True,
        random_state=0,
        early_stopping=True,
        solver="sgd",
        learning_rate_init=0.1,
    )
    fast, skl = _estimators(True, "multiclass", **params)
    fast.fit(X, y)
    fast_out = capsys.readouterr().out
    skl.fit(X, y)
    skl_out = capsys.readouterr().out
    assert "Iteration 1, loss = " in fast_out
    assert "Validation score: " in fast_out
    assert fast_out == skl_out


def test_parity_digits_default_parameters():
    """The defaults, 200 epochs with convergence checks, on a real data set."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:500] / 16.0
    y = y[:500]
    fast, skl = _estimators(True, "multiclass", random_state=0, max_iter=30)
    _fit_both(fast, skl, X, y, None)
    assert_same_model(fast, skl, X, rtol=1e-6, atol=1e-10)
