"""The shortcut for plain arrays (``_sklearn.plain_input``) against ``validate_data``.

On every input it takes, it must return the very objects scikit-learn's
``validate_data`` returns and leave the estimator as it leaves it, without an
error or a warning; every other input must go to ``validate_data`` (None),
with the estimator untouched, so that its errors and warnings are sklearn's.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.utils.validation import validate_data

import fastmlp
from fastmlp._sklearn import plain_input
from fastmlp._sklearn.plain_input import plain_fit_data, plain_predict_data

FIT_DTYPES = (np.float64, np.float32)
RNG = np.random.default_rng(0)
X64 = RNG.normal(size=(12, 3))
Y_INT = np.arange(12) % 3


def _with_nan(X):
    X = X.copy()
    X[4, 1] = np.nan
    return X


def _matrix(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(X)


def _states():
    """Estimators in the states validate_data looks at."""
    fresh = fastmlp.MLPClassifier()
    counted = fastmlp.MLPClassifier()
    counted.n_features_in_ = 3
    named = fastmlp.MLPClassifier()
    named.n_features_in_ = 3
    named.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
    return {"fresh": fresh, "counted": counted, "named": named}


# Inputs the shortcut takes: ndarrays that need no conversion
TAKEN_X = {
    "f64 C": X64,
    "f64 F": np.asfortranarray(X64),
    "f32": X64.astype(np.float32),
    "strided view": RNG.normal(size=(12, 6))[:, ::2],
    "read-only": np.frombuffer(X64.tobytes()).reshape(12, 3),
    # finite values whose sum overflows: validate_data looks again and keeps them
    "sum overflows": np.full((12, 3), 1e308),
}
TAKEN_Y = {
    "int": Y_INT,
    "bool": Y_INT == 1,
    "uint8": Y_INT.astype(np.uint8),
    "float": Y_INT * 0.5,
    "float32": (Y_INT * 0.5).astype(np.float32),
    "2-D float": RNG.normal(size=(12, 2)),
    "2-D one column": Y_INT.reshape(-1, 1),
    "indicator": np.eye(3, dtype=int)[Y_INT],
    "strided": np.arange(24)[::2] % 2,
    "float16 sum overflows": np.full(12, 60000, dtype=np.float16),
}
# Inputs it leaves to validate_data: converted, rejected, or warned about
LEFT_X = {
    "list": X64.tolist(),
    "int": (X64 * 10).astype(np.int64),
    "float16": X64.astype(np.float16),
    "bool": X64 > 0,
    "complex": X64 + 1j,
    "object": X64.astype(object),
    "strings": X64.astype(str),
    "NaN": _with_nan(X64),
    "inf": np.where(X64 > 1, np.inf, X64),
    "1-D": X64[:, 0],
    "3-D": X64.reshape(12, 3, 1),
    "no rows": X64[:0],
    "no features": X64[:, :0],
    "matrix": _matrix(X64),
    "memmap subclass": X64.view(np.memmap),
    "csr": sp.csr_matrix(X64),
    "dataframe": pd.DataFrame(X64, columns=["a", "b", "c"]),
}
FOUR_FEATURES = RNG.normal(size=(12, 4))
LEFT_Y = {
    "list": Y_INT.tolist(),
    "strings": np.array(["a", "b", "c"])[Y_INT],
    "object": Y_INT.astype(object),
    "complex": Y_INT + 0j,
    "NaN": np.where(Y_INT == 1, np.nan, 0.5),
    "3-D": Y_INT.reshape(12, 1, 1),
    "no columns": np.empty((12, 0)),
    "too short": Y_INT[:11],
    "series": pd.Series(Y_INT),
}


def _slow_fit(estimator, X, y, reset):
    return validate_data(
        estimator,
        X,
        y,
        accept_sparse=["csr", "csc"],
        multi_output=True,
        dtype=FIT_DTYPES,
        reset=reset,
    )


def _outcome(call):
    """What a call returns, raises and warns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = call(), None
        except Exception as exc:  # noqa: BLE001 - compared, not handled
            result, error = None, exc
    return result, error, [str(w.message) for w in caught]


def _assert_same_estimator(a, b):
    assert sorted(vars(a)) == sorted(vars(b))
    for key, value in vars(a).items():
        np.testing.assert_array_equal(value, vars(b)[key])


@pytest.mark.parametrize("state", ["fresh", "counted", "named"])
@pytest.mark.parametrize("reset", [True, False])
@pytest.mark.parametrize("x_name", TAKEN_X)
@pytest.mark.parametrize("y_name", ["int", "2-D float"])
def test_fit_shortcut_returns_what_validate_data_returns(state, reset, x_name, y_name):
    X, y = TAKEN_X[x_name], TAKEN_Y[y_name]
    fast_est, slow_est = _states()[state], _states()[state]
    fast = plain_fit_data(fast_est, X, y, reset=reset, dtypes=FIT_DTYPES)
    slow, error, caught = _outcome(lambda: _slow_fit(slow_est, X, y, reset))
    if fast is None:
        # only a later call's check of fitted feature names is left to sklearn
        assert state == "named" and not reset
        assert caught, "validate_data warns here; the shortcut must not take it"
        return
    assert error is None and caught == []
    assert fast[0] is slow[0] is X
    assert fast[1] is slow[1] is y
    _assert_same_estimator(fast_est, slow_est)


@pytest.mark.parametrize("y_name", TAKEN_Y)
def test_fit_shortcut_takes_every_kind_of_plain_target(y_name):
    X, y = X64, TAKEN_Y[y_name]
    fast_est, slow_est = _states()["named"], _states()["named"]
    fast = plain_fit_data(fast_est, X, y, reset=True, dtypes=FIT_DTYPES)
    slow, error, caught = _outcome(lambda: _slow_fit(slow_est, X, y, True))
    assert error is None and caught == []
    assert fast[0] is slow[0] and fast[1] is slow[1] is y
    assert not hasattr(fast_est, "feature_names_in_")
    _assert_same_estimator(fast_est, slow_est)


@pytest.mark.parametrize("reset", [True, False])
@pytest.mark.parametrize(
    "x_name, y_name",
    [(name, "int") for name in LEFT_X] + [("f64 C", name) for name in LEFT_Y],
)
def test_fit_shortcut_leaves_the_rest_to_validate_data(reset, x_name, y_name):
    X = TAKEN_X.get(x_name, LEFT_X.get(x_name))
    y = TAKEN_Y.get(y_name, LEFT_Y.get(y_name))
    estimator = _states()["counted"]
    untouched = copy.deepcopy(estimator)
    assert plain_fit_data(estimator, X, y, reset=reset, dtypes=FIT_DTYPES) is None
    _assert_same_estimator(estimator, untouched)


def test_fit_shortcut_leaves_another_feature_count_to_validate_data():
    estimator = _states()["counted"]
    assert (
        plain_fit_data(estimator, FOUR_FEATURES, Y_INT, reset=False, dtypes=FIT_DTYPES)
        is None
    )
    assert estimator.n_features_in_ == 3
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier"):
        _slow_fit(estimator, FOUR_FEATURES, Y_INT, False)
    taken = plain_fit_data(
        estimator, FOUR_FEATURES, Y_INT, reset=True, dtypes=FIT_DTYPES
    )
    assert taken[0] is FOUR_FEATURES and estimator.n_features_in_ == 4


@pytest.mark.parametrize("x_name", TAKEN_X)
@pytest.mark.parametrize("state", ["fresh", "counted"])
def test_predict_shortcut_returns_what_validate_data_returns(x_name, state):
    X = TAKEN_X[x_name]
    estimator = _states()[state]
    slow = validate_data(estimator, X, accept_sparse=["csr", "csc"], reset=False)
    assert plain_predict_data(estimator, X) is slow is X


@pytest.mark.parametrize("kind", ["int", "bool", "float16"])
def test_predict_shortcut_takes_numeric_dtypes_kept_as_they_are(kind):
    X = LEFT_X[kind]
    estimator = _states()["counted"]
    slow, error, caught = _outcome(
        lambda: validate_data(estimator, X, accept_sparse=["csr", "csc"], reset=False)
    )
    assert error is None and caught == [] and slow is X
    assert plain_predict_data(estimator, X) is X


@pytest.mark.parametrize(
    "x_name", [n for n in LEFT_X if n not in ("int", "bool", "float16", "csr")]
)
def test_predict_shortcut_leaves_the_rest_to_validate_data(x_name):
    assert plain_predict_data(_states()["counted"], LEFT_X[x_name]) is None
    assert plain_predict_data(_states()["counted"], FOUR_FEATURES) is None


def _sparse_with(matrix, value):
    matrix = matrix.copy()
    matrix.data[0] = value
    return matrix


def _int64_indices(matrix):
    matrix = matrix.copy()
    matrix.indices = matrix.indices.astype(np.int64)
    matrix.indptr = matrix.indptr.astype(np.int64)
    return matrix


SPARSE = sp.csr_matrix(np.where(X64 > 0.3, X64, 0.0))
# Sparse inputs the predict shortcut takes: validate_data returns them as given
TAKEN_SPARSE = {
    "csr": SPARSE,
    "csc": SPARSE.tocsc(),
    "csr float32": SPARSE.astype(np.float32),
    "csr int": (SPARSE * 10).astype(np.int64),
    "csr bool": SPARSE > 0,
    "csr_array": sp.csr_array(SPARSE),
    "csc_array": sp.csc_array(SPARSE),
    "nothing stored": sp.csr_matrix((12, 3)),
    "64-bit indices": _int64_indices(SPARSE),
    "unsorted indices": sp.csr_matrix(
        (SPARSE.data[::-1].copy(), SPARSE.indices[::-1].copy(), SPARSE.indptr),
        shape=SPARSE.shape,
    ),
}
# ... and those it leaves to validate_data: converted, rejected or warned about
LEFT_SPARSE = {
    "coo": SPARSE.tocoo(),
    "lil": SPARSE.tolil(),
    "dok": SPARSE.todok(),
    "bsr": SPARSE.tobsr(),
    "dia": sp.dia_matrix(SPARSE.toarray()),
    "NaN stored": _sparse_with(SPARSE, np.nan),
    "inf stored": _sparse_with(SPARSE, np.inf),
    "complex": SPARSE.astype(complex),
    "no rows": SPARSE[:0],
    "no features": SPARSE[:, :0],
    "four features": sp.csr_matrix(FOUR_FEATURES),
}


@pytest.mark.parametrize("x_name", TAKEN_SPARSE)
@pytest.mark.parametrize("state", ["fresh", "counted"])
def test_predict_shortcut_returns_sparse_input_as_validate_data_does(x_name, state):
    X = TAKEN_SPARSE[x_name]
    estimator = _states()[state]
    slow, error, caught = _outcome(
        lambda: validate_data(estimator, X, accept_sparse=["csr", "csc"], reset=False)
    )
    assert error is None and caught == [] and slow is X
    assert plain_predict_data(estimator, X) is X


@pytest.mark.parametrize("x_name", LEFT_SPARSE)
def test_predict_shortcut_leaves_other_sparse_input_to_validate_data(x_name):
    X = LEFT_SPARSE[x_name]
    estimator = _states()["counted"]
    assert plain_predict_data(estimator, X) is None
    slow, error, caught = _outcome(
        lambda: validate_data(estimator, X, accept_sparse=["csr", "csc"], reset=False)
    )
    assert error is not None or caught != [] or slow is not X


def test_predict_shortcut_leaves_fitted_feature_names_to_validate_data():
    estimator = _states()["named"]
    assert plain_predict_data(estimator, X64) is None
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        validate_data(estimator, X64, reset=False)


def test_assume_finite_is_honoured_as_sklearn_does():
    X = _with_nan(X64)
    with config_context(assume_finite=True):
        slow = _slow_fit(_states()["fresh"], X, Y_INT, True)
        fast = plain_fit_data(
            _states()["fresh"], X, Y_INT, reset=True, dtypes=FIT_DTYPES
        )
        assert fast[0] is slow[0] is X
        assert plain_predict_data(_states()["counted"], X) is X
    assert plain_predict_data(_states()["counted"], X) is None


def test_array_api_mode_is_left_to_validate_data():
    # scikit-learn's array-API mode needs SciPy's, set before SciPy is imported
    config = {"array_api_dispatch": True, "assume_finite": False}
    assert not plain_input._plain(X64, (2,), config)
    assert plain_input._plain(X64, (2,), {**config, "array_api_dispatch": False})


def test_estimators_give_sklearns_errors_and_attributes_through_either_path():
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    frame = pd.DataFrame(X64, columns=["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(frame, Y_INT)
        assert list(clf.feature_names_in_) == ["a", "b", "c"]
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            clf.predict(X64)
        clf.fit(X64, Y_INT)  # a refit on an array forgets the names
    assert not hasattr(clf, "feature_names_in_") and clf.n_features_in_ == 3
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier"):
        clf.predict(FOUR_FEATURES)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict(_with_nan(X64))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(_with_nan(X64), Y_INT)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X64, Y_INT[:11])
    assert clf.predict(np.full((2, 3), 1e308)).shape == (2,)  # finite, sum overflows
