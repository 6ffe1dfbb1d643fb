"""Bad, edge and awkward input: scikit-learn's errors, no partial state, same models.

Every error scikit-learn raises is compared by type and message with
``sklearn.neural_network``'s estimator on the same input. The state a failed
call leaves is fastmlp's own, stricter than scikit-learn's leftovers: a fresh
estimator stays as it was made (not even ``n_features_in_``), a fitted one keeps
its attributes, weights and optimizer state exactly, and training continues as
if the call never happened. Awkward but valid input (read-only arrays, memmaps,
Fortran order, strides, float32, DataFrames, unusual sparse matrices, extreme
magnitudes) must give the model of the plain case.
"""

import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from tests._parity import assert_same_model
from tests._reliability_helpers import (
    SavedState,
    assert_bitwise_equal_models,
    assert_partial_fit_undone,
    assert_restored,
    assert_unfitted,
    fitted_attributes,
    model_arrays,
    pair,
    raised,
    shared_attributes,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_SAMPLES = 40
N_FEATURES = 5


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y_class = rng.randint(0, 3, N_SAMPLES)
    y_reg = X @ rng.normal(size=N_FEATURES) + 0.1 * rng.normal(size=N_SAMPLES)
    return X, y_class, y_reg


def _with(array, index, value):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


def _bad_fit_cases():
    """``name -> (estimator, X, y, fit kwargs, parameters)``, shared with sklearn."""
    X, yc, yr = _data()
    C, R = "MLPClassifier", "MLPRegressor"
    X_nan_sparse = sp.csr_matrix(_with(X, (2, 3), np.nan))
    return {
        "nan_in_X": (C, _with(X, (3, 2), np.nan), yc, {}, {}),
        "nan_in_X_regressor": (R, _with(X, (0, 0), np.nan), yr, {}, {}),
        "inf_in_X": (C, _with(X, (0, 4), np.inf), yc, {}, {}),
        "minus_inf_in_X_regressor": (R, _with(X, (7, 1), -np.inf), yr, {}, {}),
        "nan_in_sparse_X": (C, X_nan_sparse, yc, {}, {}),
        "nan_in_y_regressor": (R, X, _with(yr, 5, np.nan), {}, {}),
        "inf_in_y_regressor": (R, X, _with(yr, 5, np.inf), {}, {}),
        "nan_in_y_classifier": (C, X, _with(yc, 5, np.nan), {}, {}),
        "nan_in_2d_y_regressor": (
            R,
            X,
            _with(np.c_[yr, yr], (1, 1), np.nan),
            {},
            {},
        ),
        "empty_X": (C, X[:0], yc[:0], {}, {}),
        "empty_X_regressor": (R, X[:0], yr[:0], {}, {}),
        "zero_features": (C, X[:, :0], yc, {}, {}),
        "object_X_with_text": (
            C,
            np.where(X > 1.5, "high", X.astype(str)).astype(object),
            yc,
            {},
            {},
        ),
        "string_X_with_text": (R, np.full(X.shape, "a"), yr, {}, {}),
        "complex_X": (C, X + 1j, yc, {}, {}),
        "one_d_X": (C, X[:, 0], yc, {}, {}),
        "one_d_X_regressor": (R, X[:, 0], yr, {}, {}),
        "three_d_X": (C, X.reshape(N_SAMPLES, N_FEATURES, 1), yc, {}, {}),
        "three_d_X_regressor": (R, X.reshape(N_SAMPLES, 1, N_FEATURES), yr, {}, {}),
        "more_y_than_X": (C, X[:-1], yc, {}, {}),
        "more_X_than_y_regressor": (R, X, yr[:-3], {}, {}),
        "multiclass_multioutput_y": (C, X, np.c_[yc, (yc + 1) % 3], {}, {}),
        "continuous_y_to_classifier": (C, X, yr, {}, {}),
        "short_sample_weight": (C, X, yc, {"sample_weight": np.ones(5)}, {}),
        "long_sample_weight_regressor": (
            R,
            X,
            yr,
            {"sample_weight": np.ones(N_SAMPLES + 1)},
            {},
        ),
        "two_d_sample_weight": (
            C,
            X,
            yc,
            {"sample_weight": np.ones((N_SAMPLES, 1))},
            {},
        ),
        "nan_sample_weight": (
            R,
            X,
            yr,
            {"sample_weight": _with(np.ones(N_SAMPLES), 3, np.nan)},
            {},
        ),
        "all_zero_sample_weight": (
            C,
            X,
            yc,
            {"sample_weight": np.zeros(N_SAMPLES)},
            {},
        ),
        "all_zero_sample_weight_regressor": (
            R,
            X,
            yr,
            {"sample_weight": np.zeros(N_SAMPLES)},
            {},
        ),
        "hidden_layer_of_zero_units": (C, X, yc, {}, {"hidden_layer_sizes": (3, 0)}),
        "hidden_layer_of_negative_units": (
            R,
            X,
            yr,
            {},
            {"hidden_layer_sizes": (-2,)},
        ),
        "hidden_layer_sizes_zero_scalar": (
            C,
            X,
            yc,
            {},
            {"hidden_layer_sizes": 0},
        ),
        "batch_size_zero": (C, X, yc, {}, {"batch_size": 0}),
        "validation_set_too_small": (
            R,
            X[:8],
            yr[:8],
            {},
            {"early_stopping": True},
        ),
    }


def _estimators(name, params):
    base = {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0}
    return pair(name, **{**base, **params})


def _good_data(name):
    X, yc, yr = _data()
    return X, (yc if name == "MLPClassifier" else yr)


def _assert_next_fit_unaffected(fast, name, params):
    """A fit after the failed call gives what a new estimator's fit gives."""
    X, y = _good_data(name)
    new, _ = _estimators(name, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = raised(lambda: new.fit(X, y))
        assert raised(lambda: fast.fit(X, y)) == expected
    if expected[0] is None:
        assert_bitwise_equal_models(fast, new)
        assert_array_equal(fast.predict(X), new.predict(X), strict=True)


@pytest.mark.parametrize("case", sorted(_bad_fit_cases()))
def test_bad_input_to_fresh_estimator_gets_sklearns_error_and_no_state(case):
    name, X, y, fit_kwargs, params = _bad_fit_cases()[case]
    fast, skl = _estimators(name, params)
    saved = SavedState(fast)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skl_error = raised(lambda: skl.fit(X, y, **fit_kwargs))
        fast_error = raised(lambda: fast.fit(X, y, **fit_kwargs))
    assert skl_error[0] is not None, "scikit-learn raised nothing"
    assert fast_error == skl_error
    # scikit-learn keeps n_features_in_ (and classes_; after a check that
    # follows _initialize, like the validation split's, a whole half-made
    # model); a failed fit leaves fastmlp's estimator as it was made
    assert_unfitted(fast, saved)
    _assert_next_fit_unaffected(fast, name, params)


def _bad_partial_fit_cases():
    X, yc, yr = _data()
    return {
        "nan_in_X": ("MLPClassifier", _with(X, (1, 1), np.nan), yc),
        "one_d_X": ("MLPRegressor", X[:, 0], yr),
        "mismatched_lengths": ("MLPClassifier", X, yc[:-1]),
        "empty_X": ("MLPRegressor", X[:0], yr[:0]),
        # raised in _fit_stochastic, after _initialize: scikit-learn's fresh
        # estimator keeps random weights, passes check_is_fitted and predicts
        "early_stopping": ("MLPClassifier", X, yc, {"early_stopping": True}),
        "early_stopping_regressor": ("MLPRegressor", X, yr, {"early_stopping": True}),
    }


@pytest.mark.parametrize("case", sorted(_bad_partial_fit_cases()))
def test_bad_input_to_first_partial_fit_gets_sklearns_error_and_no_state(case):
    name, X, y, *params = _bad_partial_fit_cases()[case]
    fast, skl = _estimators(name, params[0] if params else {})
    saved = SavedState(fast)
    kwargs = {"classes": [0, 1, 2]} if name == "MLPClassifier" else {}
    skl_error = raised(lambda: skl.partial_fit(X, y, **kwargs))
    assert skl_error[0] is not None
    if case.startswith("early_stopping"):
        assert skl_error == (
            ValueError,
            "partial_fit does not support early_stopping=True",
        )
    assert raised(lambda: fast.partial_fit(X, y, **kwargs)) == skl_error
    assert_partial_fit_undone(fast, saved)


@pytest.mark.parametrize("case", ["nan_in_X", "mismatched_lengths", "early_stopping"])
def test_failed_first_partial_fit_of_classifier_leaves_no_classes(case):
    # _check_partial_fit_first_call and the LabelBinarizer run in partial_fit
    # itself: they must be rolled back too, or a next partial_fit without
    # `classes` would be taken for a continuation
    name, X, y, *params = _bad_partial_fit_cases()[case]
    fast, _ = _estimators(name, params[0] if params else {})
    saved = SavedState(fast)
    with pytest.raises(ValueError):
        fast.partial_fit(X, y, classes=[0, 1, 2])
    assert_unfitted(fast, saved)


@pytest.mark.parametrize("fitted", [False, True], ids=["fresh", "fitted"])
@pytest.mark.parametrize("text", ["str", "bytes"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_text_y_to_regressor_is_refused_before_any_state(solver, text, fitted):
    # scikit-learn's y_numeric=True converts only object arrays, so a numpy
    # string y passes its validation; scikit-learn then crashes inside its loss
    # with a UFuncTypeError and keeps a half-made model. fastmlp refuses text
    # targets in its input validation.
    X, _, yr = _data()
    fast, _ = _estimators("MLPRegressor", {"solver": solver})
    if fitted:
        fast.fit(X, yr)
    saved = SavedState(fast)
    y_text = np.where(yr > 0, "a", "b").astype(text)
    message = f"Regression targets must be numeric; got y of dtype {y_text.dtype}."
    assert raised(lambda: fast.fit(X, y_text)) == (ValueError, message)
    if solver != "lbfgs":
        assert raised(lambda: fast.partial_fit(X, y_text)) == (ValueError, message)
    if fitted:
        assert_restored(fast, saved)
    else:
        assert_unfitted(fast, saved)
    _assert_next_fit_unaffected(fast, "MLPRegressor", {"solver": solver})


def _fastmlp_only_cases():
    """Input scikit-learn trains on silently (to NaN or nonsense); fastmlp refuses."""
    X, yc, yr = _data()
    return {
        "poisson_with_negative_y": (
            "MLPRegressor",
            X,
            yr - 100.0,
            {},
            {"loss": "poisson"},
            "Some value(s) of y are negative which is not allowed for loss='poisson'.",
        ),
        "poisson_with_one_negative_y": (
            "MLPRegressor",
            X,
            _with(np.abs(yr), 9, -1e-3),
            {},
            {"loss": "poisson"},
            "Some value(s) of y are negative which is not allowed for loss='poisson'.",
        ),
    }


@pytest.mark.parametrize("case", sorted(_fastmlp_only_cases()))
def test_input_sklearn_accepts_silently_raises_a_clear_error(case):
    name, X, y, fit_kwargs, params, message = _fastmlp_only_cases()[case]
    fast, _ = _estimators(name, params)
    saved = SavedState(fast)
    assert raised(lambda: fast.fit(X, y, **fit_kwargs)) == (ValueError, message)
    assert_unfitted(fast, saved)
    _assert_next_fit_unaffected(fast, name, params)


def test_poisson_with_zero_targets_is_valid_and_matches_sklearn():
    X, _, yr = _data()
    y = np.maximum(np.round(yr), 0.0)
    assert (y == 0).any()
    fast, skl = _estimators("MLPRegressor", {"loss": "poisson"})
    assert_same_model(fast.fit(X, y), skl.fit(X, y), X)


# Refit of a fitted estimator on bad input. scikit-learn keeps its old weights
# only when the check comes before it re-initialises them, and resets
# n_features_in_/classes_ for checks after the input validation; a failed call
# leaves fastmlp's estimator exactly as it was, and training continues from it.
REFIT_CASES = [
    "nan_in_X",
    "inf_in_y_regressor",
    "one_d_X",
    "empty_X_regressor",
    "more_y_than_X",
    "multiclass_multioutput_y",
    "short_sample_weight",
    "all_zero_sample_weight_regressor",
    "hidden_layer_of_zero_units",
    "validation_set_too_small",
]


def _fitted(name, params=None):
    X, y = _good_data(name)
    fast, skl = _estimators(name, params or {})
    return fast.fit(X, y), skl.fit(X, y)


def _assert_training_continues(fast, name, params):
    """``fast`` now trains on as an estimator that never saw the failed call.

    ``params`` are those of that estimator (``fast``'s are set back to them):
    partial_fit first, which continues the optimizer's state, then fit.
    """
    X, y = _good_data(name)
    reference, _ = _fitted(name, params)
    fast.set_params(**params)
    for method in ["partial_fit", "fit"]:
        getattr(fast, method)(X, y)
        getattr(reference, method)(X, y)
        assert_bitwise_equal_models(fast, reference)
        assert fast.n_iter_ == reference.n_iter_ and fast.t_ == reference.t_


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("case", REFIT_CASES)
def test_failed_refit_gets_sklearns_error_and_keeps_the_model(case, warm_start):
    name, X_bad, y_bad, fit_kwargs, params = _bad_fit_cases()[case]
    fast, skl = _fitted(name, {"warm_start": warm_start})
    X, _ = _good_data(name)
    old_params = {key: fast.get_params()[key] for key in params}
    fast.set_params(**params)
    skl.set_params(**params)
    saved = SavedState(fast)
    predictions = fast.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skl_error = raised(lambda: skl.fit(X_bad, y_bad, **fit_kwargs))
        fast_error = raised(lambda: fast.fit(X_bad, y_bad, **fit_kwargs))
    assert skl_error[0] is not None
    assert fast_error == skl_error
    assert_restored(fast, saved)
    assert_array_equal(fast.predict(X), predictions, strict=True)
    _assert_training_continues(fast, name, {**old_params, "warm_start": warm_start})


def test_failed_refit_with_new_classes_keeps_the_old_classes():
    # the labels are validated (and classes_ reset) before sample_weight is:
    # scikit-learn then holds 4 classes and a 3-output network; fastmlp keeps
    # its 3 classes and the model that predicts them
    fast, skl = _fitted("MLPClassifier")
    saved = SavedState(fast)
    y_new = np.arange(N_SAMPLES) % 4
    bad_weight = np.ones(3)
    X, _ = _good_data("MLPClassifier")
    skl_error = raised(lambda: skl.fit(X, y_new, sample_weight=bad_weight))
    assert skl_error[0] is ValueError
    assert raised(lambda: fast.fit(X, y_new, sample_weight=bad_weight)) == skl_error
    assert_array_equal(skl.classes_, [0, 1, 2, 3])
    assert_restored(fast, saved)
    assert_array_equal(fast.classes_, [0, 1, 2])
    _assert_training_continues(fast, "MLPClassifier", {})


@pytest.mark.parametrize("case", sorted(_fastmlp_only_cases()))
def test_refit_refused_by_fastmlp_keeps_the_previous_model(case):
    name, X_bad, y_bad, fit_kwargs, params, message = _fastmlp_only_cases()[case]
    X, yc, yr = _data()
    y = yc if name == "MLPClassifier" else np.abs(yr)
    fast, _ = _estimators(name, params)
    reference, _ = _estimators(name, params)
    fast.fit(X, y)
    reference.fit(X, y)
    saved = SavedState(fast)
    predictions = fast.predict(X)
    assert raised(lambda: fast.fit(X_bad, y_bad, **fit_kwargs)) == (
        ValueError,
        message,
    )
    assert_restored(fast, saved)
    assert_array_equal(fast.predict(X), predictions, strict=True)
    # and it trains on from there as if the call never happened
    fast.partial_fit(X, y)
    reference.partial_fit(X, y)
    assert_bitwise_equal_models(fast, reference)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_failed_partial_fit_keeps_the_model_and_optimizer(name):
    X, y = _good_data(name)
    fast, skl = _estimators(name, {})
    reference, _ = _estimators(name, {})
    for est in (fast, skl, reference):
        est.fit(X, y)
    bad = _with(X, (2, 2), np.inf)
    saved = SavedState(fast)
    assert raised(lambda: fast.partial_fit(bad, y)) == raised(
        lambda: skl.partial_fit(bad, y)
    )
    assert_restored(fast, saved)
    assert raised(lambda: fast.partial_fit(X[:, :3], y)) == raised(
        lambda: skl.partial_fit(X[:, :3], y)
    )
    assert_restored(fast, saved)
    # raised in _fit_stochastic, after the optimizer was picked up
    for est in (fast, skl):
        est.set_params(early_stopping=True)
    assert raised(lambda: fast.partial_fit(X, y)) == raised(
        lambda: skl.partial_fit(X, y)
    )
    for est in (fast, skl):
        est.set_params(early_stopping=False)
    assert_restored(fast, saved)
    # the failures changed nothing: continuing gives the model of an
    # estimator that never saw them, and scikit-learn's
    for est in (fast, skl, reference):
        est.partial_fit(X, y)
    assert_bitwise_equal_models(fast, reference)
    assert_same_model(fast, skl, X)


# ----------------------------------------------------------------------------
# Prediction on bad input
# ----------------------------------------------------------------------------
def _bad_predict_inputs():
    X, _, _ = _data()
    return {
        "too_few_features": X[:, :3],
        "too_many_features": np.c_[X, X[:, :1]],
        "sparse_wrong_features": sp.csr_matrix(X[:, :4]),
        "nan": _with(X, (0, 0), np.nan),
        "inf": _with(X, (1, 1), np.inf),
        "one_d": X[0],
        "three_d": X[:, :, None],
        "empty": X[:0],
        "text": np.full(X.shape, "x"),
        "complex": X.astype(complex),
        "scalar": 1.0,
    }


@pytest.mark.parametrize("case", sorted(_bad_predict_inputs()))
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_bad_input_at_predict_gets_sklearns_error(name, case):
    X, yc, yr = _data()
    fast, skl = _estimators(name, {})
    y = yc if name == "MLPClassifier" else yr
    fast.fit(X, y)
    skl.fit(X, y)
    bad = _bad_predict_inputs()[case]
    methods = ["predict"]
    if name == "MLPClassifier":
        methods += ["predict_proba", "predict_log_proba"]
    for method in methods:
        skl_error = raised(lambda m=method: getattr(skl, m)(bad))
        assert skl_error[0] is not None, method
        assert raised(lambda m=method: getattr(fast, m)(bad)) == skl_error, method
    score_error = raised(lambda: skl.score(bad, y))
    assert raised(lambda: fast.score(bad, y)) == score_error


def test_dataframe_with_other_column_names_at_predict_gets_sklearns_error():
    pd = pytest.importorskip("pandas")
    X, yc, _ = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
    fast, skl = _estimators("MLPClassifier", {})
    fast.fit(frame, yc)
    skl.fit(frame, yc)
    renamed = frame.rename(columns={"f0": "other"})
    assert raised(lambda: fast.predict(renamed)) == raised(lambda: skl.predict(renamed))
    reordered = frame[frame.columns[::-1]]
    assert raised(lambda: fast.predict(reordered)) == raised(
        lambda: skl.predict(reordered)
    )


# ----------------------------------------------------------------------------
# Edge input that is valid: the same model as scikit-learn's
# ----------------------------------------------------------------------------
def _valid_edge_cases():
    X, yc, yr = _data()
    C, R = "MLPClassifier", "MLPRegressor"
    return {
        "one_sample_classifier": (C, X[:1], yc[:1], {}),
        "one_sample_regressor": (R, X[:1], yr[:1], {}),
        "one_sample_lbfgs": (R, X[:1], yr[:1], {"solver": "lbfgs"}),
        "one_feature": (C, X[:, :1], yc, {}),
        "one_feature_regressor_sgd": (R, X[:, :1], yr, {"solver": "sgd"}),
        "single_class": (C, X, np.full(N_SAMPLES, 7), {}),
        "single_string_class_lbfgs": (
            C,
            X,
            np.full(N_SAMPLES, "only"),
            {"solver": "lbfgs"},
        ),
        "two_samples_two_classes": (C, X[:2], np.array([0, 1]), {}),
        "int_X": (C, np.round(X * 3).astype(np.int64), yc, {}),
        "int8_X_regressor": (R, np.round(X * 3).astype(np.int8), yr, {}),
        "bool_X": (C, X > 0, yc, {}),
        "object_X_of_numbers": (R, X.astype(object), yr, {}),
        "string_X_of_numbers": (C, X.astype(str), yc, {}),
        "list_X": (R, X.tolist(), yr.tolist(), {}),
        "int_y_regressor": (R, X, np.round(yr).astype(int), {}),
        "bool_y_classifier": (C, X, yc > 0, {}),
        "float_labels_classifier": (C, X, yc * 2.0, {}),
        "column_y_regressor": (R, X, yr[:, None], {}),
        "column_y_classifier": (C, X, yc[:, None], {}),
        "wide_X": (C, np.tile(X[:4], (1, 30)), yc[:4], {"solver": "lbfgs"}),
        "batch_size_one": (R, X[:10], yr[:10], {"solver": "sgd", "batch_size": 1}),
        "batch_size_equal_to_n": (C, X, yc, {"batch_size": N_SAMPLES}),
        "scalar_hidden_layer_sizes": (R, X, yr, {"hidden_layer_sizes": 3}),
        "numpy_int_hidden_layer_sizes": (
            C,
            X,
            yc,
            {"hidden_layer_sizes": np.array([3, 2])},
        ),
    }


@pytest.mark.parametrize("case", sorted(_valid_edge_cases()))
def test_valid_edge_input_gives_sklearns_model(case):
    name, X, y, params = _valid_edge_cases()[case]
    fast, skl = _estimators(name, params)
    with warnings.catch_warnings(record=True) as skl_warnings:
        warnings.simplefilter("always")
        skl.fit(X, y)
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        fast.fit(X, y)
    assert [(w.category, str(w.message)) for w in fast_warnings] == [
        (w.category, str(w.message)) for w in skl_warnings
    ]
    X_check = np.asarray(X, dtype=float)
    assert_same_model(fast, skl, X_check)
    assert shared_attributes(fast) == fitted_attributes(skl)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_batch_size_larger_than_n_warns_clips_and_matches_sklearn(name):
    X, yc, yr = _data()
    y = yc if name == "MLPClassifier" else yr
    results = []
    for est in _estimators(name, {"batch_size": 10 * N_SAMPLES}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, y)
            est.partial_fit(X, y)
        results.append([(w.category, str(w.message)) for w in caught])
    assert results[0] == results[1]
    clip = [m for c, m in results[0] if c is UserWarning and "batch_size" in m]
    assert (
        clip
        == [
            "Got `batch_size` less than 1 or larger than sample size. It is going "
            "to be clipped"
        ]
        * 2
    )
    # clipped to n: the model of batch_size=n
    fast_clipped = _estimators(name, {"batch_size": 10 * N_SAMPLES})[0]
    fast_n = _estimators(name, {"batch_size": N_SAMPLES})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fast_clipped.fit(X, y)
    fast_n.fit(X, y)
    assert_bitwise_equal_models(fast_clipped, fast_n)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_predict_with_other_dtypes_matches_sklearn(name):
    X, yc, yr = _data()
    y = yc if name == "MLPClassifier" else yr
    for dtype in [np.float64, np.float32]:
        fast, skl = _estimators(name, {})
        fast.fit(X.astype(dtype), y)
        skl.fit(X.astype(dtype), y)
        for X_other in [
            X.astype(np.float32),
            X,
            np.round(X).astype(np.int32),
            X.astype(object),
            sp.csc_matrix(np.where(X > 0, X, 0.0)).astype(np.float32),
        ]:
            fast_out = fast.predict(X_other)
            skl_out = skl.predict(X_other)
            assert fast_out.dtype == skl_out.dtype
            rtol = 1e-6 if dtype == np.float64 else 1e-4
            assert_allclose(fast_out, skl_out, rtol=rtol, atol=1e-6)
            if name == "MLPClassifier":
                fast_proba = fast.predict_proba(X_other)
                skl_proba = skl.predict_proba(X_other)
                assert fast_proba.dtype == skl_proba.dtype
                assert_allclose(fast_proba, skl_proba, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize(
    "small_dtype", [np.bool_, np.int8, np.uint8, np.int16], ids=lambda d: d.__name__
)
def test_float32_model_keeps_numpys_dtype_for_small_integer_X(small_dtype):
    # scikit-learn computes X @ coefs_ in NumPy's promotion of the two dtypes:
    # bool, int8, uint8 and int16 with float32 give float32, and so must a
    # float32 fastmlp model's predictions and probabilities
    X, yc, _ = _data()
    fast, skl = _estimators("MLPClassifier", {})
    fast.fit(X.astype(np.float32), yc)
    skl.fit(X.astype(np.float32), yc)
    X_small = np.round(X).astype(small_dtype)
    skl_proba = skl.predict_proba(X_small)
    fast_proba = fast.predict_proba(X_small)
    assert skl_proba.dtype == fast_proba.dtype == np.float32
    assert_allclose(fast_proba, skl_proba, rtol=1e-4, atol=1e-6)
    assert fast.predict(X_small).dtype == skl.predict(X_small).dtype


# ----------------------------------------------------------------------------
# Awkward but valid layouts of the same data: the same model as the plain case
# ----------------------------------------------------------------------------
def _read_only(array):
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _np_memmap(array, tmp_path, name):
    path = tmp_path / f"{name}.dat"
    writable = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
    writable[...] = array
    writable.flush()
    del writable
    return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)


def _joblib_memmap(array, tmp_path, name):
    # joblib's memmapped read-only arrays, as its workers see large inputs
    path = tmp_path / f"{name}.joblib"
    joblib.dump(array, path)
    loaded = joblib.load(path, mmap_mode="r")
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable
    return loaded


def _strided_rows(array):
    holder = np.zeros((2 * array.shape[0],) + array.shape[1:], dtype=array.dtype)
    holder[::2] = array
    view = holder[::2]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def _strided_columns(array):
    holder = np.zeros((array.shape[0], 3 * array.shape[1]), dtype=array.dtype)
    holder[:, 1::3] = array
    return holder[:, 1::3]


LAYOUTS = [
    "read_only",
    "np_memmap",
    "joblib_memmap",
    "fortran",
    "strided_rows",
    "strided_columns",
    "dataframe",
]


def _layout(X, y, weight, layout, tmp_path):
    """``(X, y, sample_weight)`` in ``layout`` holding the same values."""
    if layout == "read_only":
        return _read_only(X), _read_only(y), _read_only(weight)
    if layout == "np_memmap":
        return (
            _np_memmap(X, tmp_path, "X"),
            _np_memmap(y, tmp_path, "y"),
            _np_memmap(weight, tmp_path, "w"),
        )
    if layout == "joblib_memmap":
        return (
            _joblib_memmap(X, tmp_path, "X"),
            _joblib_memmap(y, tmp_path, "y"),
            _joblib_memmap(weight, tmp_path, "w"),
        )
    if layout == "fortran":
        return np.asfortranarray(X), y, weight
    if layout == "strided_rows":
        return _strided_rows(X), _strided_rows(y), _strided_rows(weight)
    if layout == "strided_columns":
        return _strided_columns(X), y, weight
    if layout == "dataframe":
        pd = pytest.importorskip("pandas")
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        return frame, pd.Series(y), pd.Series(weight)
    raise ValueError(layout)


SOLVER_SETTINGS = {
    "adam": {"solver": "adam"},
    "sgd_no_shuffle": {"solver": "sgd", "shuffle": False, "momentum": 0.5},
    "lbfgs": {"solver": "lbfgs"},
}


def _weights():
    return np.linspace(0.5, 1.5, N_SAMPLES)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", sorted(SOLVER_SETTINGS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_awkward_layouts_give_the_plain_model(layout, solver, dtype, tmp_path):
    X, _, yr = _data()
    X = X.astype(dtype)
    weight = _weights()
    params = {**SOLVER_SETTINGS[solver], "batch_size": 16}
    plain, _ = _estimators("MLPRegressor", params)
    plain.fit(X, yr, sample_weight=weight)

    X_odd, y_odd, weight_odd = _layout(X, yr, weight, layout, tmp_path)
    X_before = np.array(X_odd, copy=True)
    odd, _ = _estimators("MLPRegressor", params)
    odd.fit(X_odd, y_odd, sample_weight=weight_odd)

    assert_bitwise_equal_models(odd, plain)
    assert_array_equal(odd.predict(X_odd), plain.predict(X), strict=True)
    assert_array_equal(np.asarray(X_odd), X_before)  # input not written to
    # and continuing on the awkward input continues the same model
    if solver != "lbfgs":
        plain.partial_fit(X, yr, sample_weight=weight)
        odd.partial_fit(X_odd, y_odd, sample_weight=weight_odd)
        assert_bitwise_equal_models(odd, plain)


@pytest.mark.parametrize("solver", sorted(SOLVER_SETTINGS))
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_plain_and_read_only_model_matches_sklearn(name, solver):
    X, yc, yr = _data()
    y = yc if name == "MLPClassifier" else yr
    params = {**SOLVER_SETTINGS[solver], "batch_size": 16}
    fast, skl = _estimators(name, params)
    fast.fit(_read_only(X), _read_only(y), sample_weight=_read_only(_weights()))
    skl.fit(X, y, sample_weight=_weights())
    assert_same_model(fast, skl, X)


def test_dataframe_with_mixed_column_dtypes_gives_the_plain_model():
    pd = pytest.importorskip("pandas")
    X, yc, _ = _data()
    X_mixed = X.copy()
    X_mixed[:, 0] = np.round(X[:, 0] * 4)
    X_mixed[:, 1] = X[:, 1] > 0
    frame = pd.DataFrame(
        {
            "ints": X_mixed[:, 0].astype(np.int32),
            "flags": X_mixed[:, 1].astype(bool),
            "a": X_mixed[:, 2],
            "b": X_mixed[:, 3].astype(np.float32).astype(np.float64),
            "c": X_mixed[:, 4],
        }
    )
    X_mixed[:, 3] = frame["b"].to_numpy()
    labels = pd.Series(pd.Categorical(np.array(["a", "b", "c"])[yc]))
    fast, skl = _estimators("MLPClassifier", {})
    fast.fit(frame, labels)
    skl.fit(frame, labels)
    plain, _ = _estimators("MLPClassifier", {})
    plain.fit(X_mixed, np.array(["a", "b", "c"])[yc])
    assert_bitwise_equal_models(fast, plain)
    assert_same_model(fast, skl, frame)
    assert list(fast.feature_names_in_) == list(frame.columns)


def _awkward_sparse(X, fmt, index_dtype=np.int32):
    """``X`` as CSR/CSC with explicit zeros and unsorted indices (same values)."""
    dense = np.where(np.abs(X) < 0.5, 0.0, X)
    matrix = sp.csr_matrix(dense) if fmt == "csr" else sp.csc_matrix(dense)
    # store an explicit zero in every other major row/column ...
    major, minor = dense.shape if fmt == "csr" else dense.shape[::-1]
    indptr, indices, data = [0], [], []
    for i in range(major):
        start, stop = matrix.indptr[i], matrix.indptr[i + 1]
        row_indices = list(matrix.indices[start:stop])
        row_data = list(matrix.data[start:stop])
        missing = sorted(set(range(minor)) - set(row_indices))
        if i % 2 == 0 and missing:
            row_indices.append(missing[0])
            row_data.append(0.0)
        # ... and list the entries in reverse order
        indices.extend(row_indices[::-1])
        data.extend(row_data[::-1])
        indptr.append(len(indices))
    build = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    odd = build(
        (
            np.array(data, dtype=X.dtype),
            np.array(indices, dtype=index_dtype),
            np.array(indptr, dtype=index_dtype),
        ),
        shape=dense.shape,
    )
    assert not odd.has_sorted_indices
    assert (odd.data == 0).any()
    assert_array_equal(odd.toarray(), dense)
    return odd, dense


def _sparse_parts(matrix):
    return [matrix.data.copy(), matrix.indices.copy(), matrix.indptr.copy()]


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("solver", sorted(SOLVER_SETTINGS))
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_with_explicit_zeros_and_unsorted_indices(fmt, solver, index_dtype):
    X, yc, _ = _data()
    odd, dense = _awkward_sparse(X, fmt, index_dtype)
    parts = _sparse_parts(odd)
    params = {**SOLVER_SETTINGS[solver], "batch_size": 16}
    fast, skl = _estimators("MLPClassifier", params)
    fast.fit(odd, yc)
    skl.fit(odd, yc)
    assert_same_model(fast, skl, odd)
    # the dense model, and the matrix as the user gave it (no in-place sorting)
    fast_dense, _ = _estimators("MLPClassifier", params)
    fast_dense.fit(dense, yc)
    for a, b in zip(model_arrays(fast), model_arrays(fast_dense)):
        assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    for before, now in zip(parts, _sparse_parts(odd)):
        assert_array_equal(before, now, strict=True)
    assert not odd.has_sorted_indices
    assert_allclose(fast.predict_proba(odd), fast.predict_proba(dense), rtol=1e-12)


def test_sparse_with_duplicate_entries_is_the_summed_matrix():
    X, _, yr = _data()
    _, dense = _awkward_sparse(X, "csr")
    csr = sp.csr_matrix(dense)
    # every stored value split into two halves stored at the same position
    counts = np.diff(csr.indptr)
    duplicated = sp.csr_matrix(
        (
            np.repeat(csr.data * 0.5, 2),
            np.repeat(csr.indices, 2),
            np.r_[0, np.cumsum(2 * counts)],
        ),
        shape=dense.shape,
    )
    assert duplicated.nnz == 2 * csr.nnz and not duplicated.has_canonical_format
    assert_array_equal(duplicated.toarray(), dense)
    fast, skl = _estimators("MLPRegressor", {"solver": "sgd"})
    fast.fit(duplicated, yr)
    skl.fit(duplicated, yr)
    assert_same_model(fast, skl, dense)
    assert duplicated.nnz == 2 * csr.nnz  # the user's matrix as it was


def test_sparse_float32_and_coo_input():
    X, yc, _ = _data()
    _, dense = _awkward_sparse(X, "csr")
    for matrix in [
        sp.csr_matrix(dense.astype(np.float32)),
        sp.coo_matrix(dense),
        sp.csr_array(dense),
    ]:
        fast, _ = _estimators("MLPClassifier", {})
        plain, _ = _estimators("MLPClassifier", {})
        fast.fit(matrix, yc)
        plain.fit(dense.astype(matrix.dtype), yc)
        assert fast.coefs_[0].dtype == matrix.dtype
        rtol = 1e-10 if matrix.dtype == np.float64 else 1e-5
        for a, b in zip(model_arrays(fast), model_arrays(plain)):
            assert_allclose(a, b, rtol=rtol, atol=rtol)


# ----------------------------------------------------------------------------
# Extreme magnitudes: scikit-learn's model, or scikit-learn's error
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e-150, 1e-8, 1e6, 1e150])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_huge_and_tiny_magnitudes_match_sklearn(name, solver, scale):
    X, yc, yr = _data()
    X = X * scale
    y = yc if name == "MLPClassifier" else yr * min(scale, 1e6)
    fast, skl = _estimators(name, {"solver": solver})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skl_error = raised(lambda: skl.fit(X, y))
        fast_error = raised(lambda: fast.fit(X, y))
    assert fast_error == skl_error
    if skl_error[0] is None:
        assert_same_model(fast, skl, X)
        assert all(np.isfinite(w).all() for w in model_arrays(fast))
