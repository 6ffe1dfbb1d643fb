"""Mostly-zero dense input is read as CSR: same model as scikit-learn, as CSR given."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp._engine.input_form import fit_form, reads_as_csr
from tests._parity import assert_same_model


def mostly_zero(n_rows=150, n_features=400, density=0.02, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_rows, n_features)) < density) * rng.integers(
        1, 4, (n_rows, n_features)
    )
    return X.astype(np.float64)


def test_reads_as_csr_by_the_cost_of_the_first_layer():
    # 1000 word counts at 2% into 64 units: the first layer is most of the fit
    assert reads_as_csr(1000 * 1437, int(0.02 * 1000 * 1437), [1000, 64, 64, 10])
    assert not reads_as_csr(1000 * 1437, int(0.3 * 1000 * 1437), [1000, 64, 64, 10])
    # 100 one-hot columns (10% nonzero) into two 256-unit layers: the later
    # layers dominate, and a dense fit may split across threads where CSR cannot
    assert not reads_as_csr(100 * 500, 10 * 500, [100, 256, 256, 10])
    assert reads_as_csr(100 * 500, 0, [100, 16, 2])
    assert not reads_as_csr(0, 0, [0, 16, 2])


def test_fit_form_keeps_dense_and_sparse_data():
    X = mostly_zero()
    units = [X.shape[1], 32, 3]
    as_csr = fit_form(X, units)
    assert sp.issparse(as_csr) and as_csr.format == "csr"
    assert_array_equal(as_csr.toarray(), X)
    dense = np.random.default_rng(1).normal(size=(50, 400))
    assert fit_form(dense, units) is dense
    given = sp.csc_matrix(X)
    assert fit_form(given, units) is given


def test_dense_data_that_stays_dense_needs_no_csr_kernel(monkeypatch):
    from fastmlp._engine import input_form

    def not_called(*args):
        raise AssertionError("counted rows of data that stays dense")

    monkeypatch.setattr(input_form, "row_nonzeros", not_called)
    dense = np.random.default_rng(1).normal(size=(50, 400))
    assert fit_form(dense, [400, 32, 3]) is dense
    with pytest.raises(AssertionError, match="counted rows"):
        fit_form(mostly_zero(), [400, 32, 3])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_classifier_same_model_as_csr_and_as_sklearn(solver, early_stopping):
    X = mostly_zero()
    y = (X[:, :40].sum(axis=1) > 1).astype(int) + (X[:, 40:80].sum(axis=1) > 1)
    params = dict(
        hidden_layer_sizes=(32, 16),
        solver=solver,
        max_iter=15,
        random_state=3,
        early_stopping=early_stopping and solver != "lbfgs",
    )
    fast = MLPClassifier(**params).fit(X, y)
    from_csr = MLPClassifier(**params).fit(sp.csr_matrix(X), y)
    for a, b in zip(
        fast.coefs_ + fast.intercepts_, from_csr.coefs_ + from_csr.intercepts_
    ):
        assert_array_equal(a, b)
    skl = SkClassifier(**params).fit(X, y)
    assert_same_model(fast, skl, X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_regressor_same_model_on_any_threads(dtype, n_jobs):
    X = mostly_zero(n_rows=300, density=0.01, seed=2).astype(dtype)
    y = X[:, :50].sum(axis=1) - X[:, 50:90].sum(axis=1)
    params = dict(hidden_layer_sizes=(24,), max_iter=10, random_state=0, tol=0)
    fast = MLPRegressor(n_jobs=n_jobs, **params).fit(X, y)
    one = MLPRegressor(n_jobs=1, **params).fit(sp.csr_matrix(X), y)
    for a, b in zip(fast.coefs_ + fast.intercepts_, one.coefs_ + one.intercepts_):
        assert_array_equal(a, b)
    skl = SkRegressor(**params).fit(X, y)
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    assert_same_model(
        fast, skl, X, rtol=rtol, atol=1e-12 if dtype == np.float64 else 1e-5
    )
