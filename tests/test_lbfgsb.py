"""fastmlp's own drive of scipy's L-BFGS-B against scipy.optimize.minimize."""

import warnings

import numpy as np
import pytest
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp import _lbfgsb, _solvers
from tests._data import make_data

needs_setulb = pytest.mark.skipif(
    not _lbfgsb.AVAILABLE, reason="fastmlp drives setulb on scipy 1.15-1.17 only"
)


def counted_rosen():
    calls = []

    def fun(x):
        calls.append(x.copy())
        return scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)

    return fun, calls


@needs_setulb
@pytest.mark.parametrize(
    "maxiter, maxfun, gtol, message",
    [
        (15000, 15000, 1e-5, "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH"),
        (10, 15000, 1e-5, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"),
        (15000, 12, 0.0, "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT"),
        (15000, 15000, 10.0, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"),
    ],
)
def test_run_setulb_is_minimize_step_for_step(maxiter, maxfun, gtol, message):
    x0 = np.random.default_rng(0).normal(size=20)
    theirs, their_calls = counted_rosen()
    expected = scipy.optimize.minimize(
        theirs,
        x0.copy(),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": maxiter, "maxfun": maxfun, "gtol": gtol},
    )
    ours, our_calls = counted_rosen()
    result = _lbfgsb.run_setulb(ours, x0.copy(), maxiter, maxfun, gtol)

    assert result.message == expected.message == message
    for field in ["nit", "nfev", "njev", "status", "success", "fun"]:
        assert result[field] == expected[field], field
    np.testing.assert_array_equal(result.x, expected.x)
    np.testing.assert_array_equal(result.jac, expected.jac)
    # The same points evaluated, in the same order, each once.
    assert len(our_calls) == len(their_calls) == result.nfev
    for mine, theirs_x in zip(our_calls, their_calls):
        np.testing.assert_array_equal(mine, theirs_x)


@needs_setulb
def test_run_setulb_copies_a_reused_gradient_buffer():
    buffer = np.empty(5)

    def fun(x):
        loss, grad = scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)
        buffer[:] = grad
        return loss, buffer

    x0 = np.linspace(-1.0, 1.0, 5)
    expected = scipy.optimize.minimize(
        lambda x: (scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)),
        x0,
        method="L-BFGS-B",
        jac=True,
    )
    result = _lbfgsb.run_setulb(fun, x0, 15000, 15000, 1e-5)
    np.testing.assert_array_equal(result.x, expected.x)
    assert result.jac is not buffer


def test_setulb_is_left_alone_on_untested_scipy(monkeypatch):
    monkeypatch.setattr(scipy, "__version__", "1.14.1")
    assert _lbfgsb._load() is None
    monkeypatch.setattr(scipy, "__version__", "1.18.0")
    assert _lbfgsb._load() is None
    monkeypatch.setattr(scipy, "__version__", "1.16.0rc1")
    assert _lbfgsb._load() is not None


def fit_both_ways(monkeypatch, make, X, y):
    """Fit with fastmlp's setulb loop, then with scipy's minimize."""
    fits, caught = [], []
    for available in [True, False]:
        monkeypatch.setattr(_lbfgsb, "AVAILABLE", available)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fits.append(make().fit(X, y))
        caught.append([str(w.message) for w in record])
    return fits, caught


@needs_setulb
@pytest.mark.parametrize("max_iter", [3, 200])
@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_fit_through_setulb_equals_fit_through_minimize(monkeypatch, task, max_iter):
    X, y, _ = make_data("multiclass" if task == "classifier" else "regression")
    cls = fastmlp.MLPClassifier if task == "classifier" else fastmlp.MLPRegressor

    def make():
        return cls(
            hidden_layer_sizes=(7,), solver="lbfgs", max_iter=max_iter, random_state=0
        )

    (ours, theirs), (our_warnings, their_warnings) = fit_both_ways(
        monkeypatch, make, X, y
    )
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == theirs.loss_
    for mine, other in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_
    ):
        np.testing.assert_array_equal(mine, other)
    assert our_warnings == their_warnings
    if max_iter == 3:
        assert any("lbfgs failed to converge" in text for text in our_warnings)
        assert ours.n_iter_ == 3


def test_minimize_lbfgs_warns_from_either_path(monkeypatch):
    for available in [True, False] if _lbfgsb.AVAILABLE else [False]:
        monkeypatch.setattr(_lbfgsb, "AVAILABLE", available)
        with pytest.warns(ConvergenceWarning, match="after 2 iteration"):
            result, n_iter = _solvers.minimize_lbfgs(
                lambda x: (scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)),
                np.zeros(4),
                15000,
                2,
                0.0,
                False,
            )
        assert n_iter == 2
        assert result.status == 1
