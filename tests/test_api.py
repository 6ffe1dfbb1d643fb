"""The estimators as users meet them: meta-estimators, persistence, errors."""

import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sknn
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

import fastmlp
from fastmlp._engine import training
from fastmlp._sklearn.labels import binarize_labels, fitted_binarizer
from tests._data import make_data
from tests._parity import assert_same_model

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _pair(cls_name, **params):
    return getattr(fastmlp, cls_name)(**params), getattr(sknn, cls_name)(**params)


def _raised(func):
    try:
        func()
    except Exception as exc:  # noqa: BLE001 - we compare whatever is raised
        return type(exc), str(exc)
    return None, None


def assert_same_error(fast_call, skl_call):
    fast = _raised(fast_call)
    skl = _raised(skl_call)
    assert skl[0] is not None, "scikit-learn raised nothing"
    assert fast == skl


EXTRA_PARAMETERS = {
    "MLPClassifier": {"class_weight": None, "dropout": 0.0, "n_jobs": None},
    "MLPRegressor": {"dropout": 0.0, "n_jobs": None},
}


def test_public_api_matches_sklearn_signature():
    """sklearn's parameters first, same names, order, kinds and defaults; then
    fastmlp's additions, keyword-only, with defaults that keep sklearn's
    behaviour."""
    import inspect

    for name in ["MLPClassifier", "MLPRegressor"]:
        ours = list(inspect.signature(getattr(fastmlp, name)).parameters.items())
        theirs = list(inspect.signature(getattr(sknn, name)).parameters.items())
        assert ours[: len(theirs)] == theirs
        extras = dict(ours[len(theirs) :])
        assert {k: p.default for k, p in extras.items()} == EXTRA_PARAMETERS[name]
        assert all(p.kind is p.KEYWORD_ONLY for p in extras.values())
        for method in ["partial_fit", "predict", "score"]:
            assert inspect.signature(
                getattr(getattr(fastmlp, name), method)
            ) == inspect.signature(getattr(getattr(sknn, name), method))
        fit_ours = list(inspect.signature(getattr(fastmlp, name).fit).parameters)
        fit_theirs = list(inspect.signature(getattr(sknn, name).fit).parameters)
        assert fit_ours == fit_theirs + ["X_val", "y_val", "sample_weight_val"]
    for method in ["predict_proba", "predict_log_proba"]:
        assert hasattr(fastmlp.MLPClassifier, method)
    assert not hasattr(fastmlp.MLPClassifier(), "decision_function")


def test_pipeline_grid_search_cross_val_score():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(),
        fastmlp.MLPClassifier(max_iter=50, learning_rate_init=0.05, random_state=0),
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.8
    search = GridSearchCV(
        pipe, {"mlpclassifier__hidden_layer_sizes": [(5,), (10,)]}, cv=3, n_jobs=2
    )
    search.fit(X, y)
    assert search.best_score_ > 0.8
    # the same search on scikit-learn's estimator picks the same scores
    skl_pipe = make_pipeline(
        StandardScaler(),
        sknn.MLPClassifier(max_iter=50, learning_rate_init=0.05, random_state=0),
    )
    skl_search = GridSearchCV(
        skl_pipe, {"mlpclassifier__hidden_layer_sizes": [(5,), (10,)]}, cv=3, n_jobs=2
    )
    skl_search.fit(X, y)
    assert_allclose(
        search.cv_results_["mean_test_score"], skl_search.cv_results_["mean_test_score"]
    )


def test_clone_keeps_parameters_and_drops_fit():
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(3, 2), alpha=0.5, random_state=1)
    X, y, _ = make_data("regression")
    est.fit(X, y)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "coefs_")


@pytest.mark.parametrize(
    "dumps, loads", [(pickle.dumps, pickle.loads), ("joblib", None)]
)
def test_pickle_round_trip_then_partial_fit(tmp_path, dumps, loads):
    X, y, _ = make_data("multiclass", n_samples=80)
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(6,), random_state=0, max_iter=5)
    est.fit(X, y)
    if dumps == "joblib":
        path = tmp_path / "model.joblib"
        joblib.dump(est, path)
        loaded = joblib.load(path)
    else:
        loaded = loads(dumps(est))
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    # continuing from the copy and from the original gives the same model
    est.partial_fit(X, y)
    loaded.partial_fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_):
        assert_array_equal(a, b)
    # the loaded model's public arrays are live views again
    loaded.coefs_[0][...] = 0.0
    assert np.all(loaded._params_flat[: loaded.coefs_[0].size] == 0.0)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_writing_coefs_in_place_is_honoured(solver):
    X, y, _ = make_data("multiclass", n_samples=80)
    fast, skl = _pair(
        "MLPClassifier",
        hidden_layer_sizes=(6,),
        solver=solver,
        random_state=0,
        max_iter=3,
    )
    fast.fit(X, y)
    skl.fit(X, y)
    for est in (fast, skl):
        est.coefs_[0][:2] = 0.25
        est.intercepts_[1][...] *= -1.0
    assert_same_model(fast, skl, X)
    fast.partial_fit(X, y)
    skl.partial_fit(X, y)
    assert_same_model(fast, skl, X)


def test_replacing_coef_arrays_is_honoured():
    X, y, _ = make_data("regression", n_samples=80)
    fast, skl = _pair(
        "MLPRegressor", hidden_layer_sizes=(4,), random_state=0, max_iter=3
    )
    fast.fit(X, y)
    skl.fit(X, y)
    new = np.full_like(skl.coefs_[1], 0.1)
    fast.coefs_[1] = new.copy()
    skl.coefs_[1] = new.copy()
    assert_allclose(fast.predict(X), skl.predict(X))
    # sklearn's optimizer would keep updating the old array; fastmlp trains the
    # array the user put in place
    fast.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert np.shares_memory(fast.coefs_[1], fast._params_flat)
    assert np.all(np.isfinite(fast.predict(X)))


def test_float32_is_kept_for_stochastic_solvers():
    X, y, _ = make_data("multiclass", dtype=np.float32)
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3).fit(X, y)
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert est.predict_proba(X).dtype == np.float32


def test_sparse_csr_and_csc_give_the_dense_model():
    X, y, _ = make_data("multiclass", n_samples=80)
    X_sparse = sp.random(80, 6, density=0.4, random_state=0, format="csr")
    dense = X_sparse.toarray()
    models = []
    for data in (dense, X_sparse, X_sparse.tocsc()):
        est = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=4, random_state=0)
        models.append(est.fit(data, y))
    for other in models[1:]:
        for a, b in zip(models[0].coefs_, other.coefs_):
            assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        assert_allclose(other.predict_proba(X_sparse), models[0].predict_proba(dense))


def test_multilabel_sparse_indicator_target():
    X, y, _ = make_data("multilabel", n_samples=80)
    fast, skl = _pair(
        "MLPClassifier", hidden_layer_sizes=(5,), random_state=0, max_iter=4
    )
    fast.fit(X, sp.csr_matrix(y))
    skl.fit(X, sp.csr_matrix(y))
    assert sp.issparse(fast.predict(X)) and sp.issparse(skl.predict(X))
    assert_array_equal(fast.predict(X).toarray(), skl.predict(X).toarray())
    assert_allclose(fast.predict_proba(X), skl.predict_proba(X), rtol=1e-6)
    for a, b in zip(fast.coefs_, skl.coefs_):
        assert_allclose(a, b, rtol=1e-6, atol=1e-12)


NEGATIVE_WEIGHT_CASES = [
    ("MLPClassifier", "multiclass", {"solver": "adam"}),
    ("MLPClassifier", "binary_str", {"solver": "sgd", "early_stopping": True}),
    ("MLPClassifier", "multiclass", {"solver": "lbfgs"}),
    ("MLPClassifier", "multiclass", {"solver": "sgd", "class_weight": "balanced"}),
    ("MLPClassifier", "multilabel", {"solver": "adam"}),
    ("MLPRegressor", "regression", {"solver": "sgd"}),
    ("MLPRegressor", "regression", {"solver": "adam", "early_stopping": True}),
    ("MLPRegressor", "regression", {"solver": "lbfgs"}),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("cls_name", "task", "params"), NEGATIVE_WEIGHT_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_negative_sample_weights_train_as_in_sklearn(cls_name, task, params, dtype):
    params = dict(params)
    X, y, _ = make_data(task, n_samples=80)
    X = X.astype(dtype)
    weights = np.random.default_rng(1).uniform(-0.5, 2.0, size=len(X))
    class_weight = params.pop("class_weight", None)
    fast, skl = _pair(
        cls_name, hidden_layer_sizes=(6,), random_state=0, max_iter=5, **params
    )
    fast.set_params(**({} if class_weight is None else {"class_weight": class_weight}))
    fast.fit(X, y, sample_weight=weights)
    if class_weight is not None:  # scikit-learn's MLP has no class_weight
        weights = weights * compute_sample_weight(class_weight, y)
    skl.fit(X, y, sample_weight=weights)
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    assert_same_model(fast, skl, X, rtol=rtol, atol=1e-6 if rtol > 1e-6 else 1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("cls_name", ["MLPClassifier", "MLPRegressor"])
def test_weights_summing_to_zero_raise_sklearns_errors(cls_name, solver):
    X, y, _ = make_data("binary_str", n_samples=40)
    target = y if cls_name == "MLPClassifier" else X[:, 0] - X[:, 1]
    params = {"hidden_layer_sizes": (4,), "solver": solver, "max_iter": 3}
    params.update(batch_size=10, shuffle=False, random_state=0)
    for weights in (np.zeros(40), np.tile([1.0, -1.0], 20)):
        fast, skl = _pair(cls_name, **params)
        want = _raised(lambda w=weights, e=skl: e.fit(X, target, sample_weight=w))
        got = _raised(lambda w=weights, e=fast: e.fit(X, target, sample_weight=w))
        assert want is not None and got == want
        assert not hasattr(fast, "coefs_")  # nothing half-made is left behind


def test_a_later_batch_summing_to_zero_raises_and_leaves_the_model():
    X, yr, _ = make_data("regression", n_samples=40)
    weights = np.ones(40)
    # the fourth batch's weights sum to zero; the first three train
    weights[30:40] = [1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 0.0, 0.0, 0.0, 0.0]
    params = {"hidden_layer_sizes": (4,), "max_iter": 3, "batch_size": 10}
    params.update(shuffle=False, random_state=0)
    fast, skl = _pair("MLPRegressor", **params)
    fitted = fast.fit(X, yr).coefs_[0].copy()
    want = _raised(lambda: skl.fit(X, yr, sample_weight=weights))
    assert want == (ZeroDivisionError, "Weights sum to zero, can't be normalized")
    assert _raised(lambda: fast.fit(X, yr, sample_weight=weights)) == want
    assert_array_equal(fast.coefs_[0], fitted)


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    X, y, _ = make_data("regression")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(frame, y)
    assert list(est.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X)


def test_partial_fit_not_available_for_lbfgs_classifier():
    assert not hasattr(fastmlp.MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(fastmlp.MLPClassifier(solver="adam"), "partial_fit")
    # scikit-learn's regressor keeps partial_fit for every solver; so do we
    assert hasattr(fastmlp.MLPRegressor(solver="lbfgs"), "partial_fit")


def _bad_input_cases():
    X, y, _ = make_data("multiclass", n_samples=40)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    return {
        "nan_in_X": ("fit", (X_nan, y), {}),
        "inf_in_X": ("fit", (X_inf, y), {}),
        "bad_param": ("fit", (X, y), {"params": {"alpha": -1.0}}),
        "bad_solver": ("fit", (X, y), {"params": {"solver": "newton"}}),
        "bad_hidden": ("fit", (X, y), {"params": {"hidden_layer_sizes": (3, 0)}}),
        "bad_batch": ("fit", (X, y), {"params": {"batch_size": 0}}),
        "short_sample_weight": ("fit", (X, y), {"sample_weight": np.ones(5)}),
        "continuous_labels": ("fit", (X, X[:, 0]), {}),
        "mismatched_lengths": ("fit", (X, y[:-1]), {}),
        "empty_X": ("fit", (X[:0], y[:0]), {}),
        "one_d_X": ("fit", (X[:, 0], y), {}),
    }


@pytest.mark.parametrize("case", sorted(_bad_input_cases()))
def test_bad_input_gets_sklearns_error(case):
    method, args, extra = _bad_input_cases()[case]
    params = {"hidden_layer_sizes": (4,), "max_iter": 2, **extra.get("params", {})}
    fast, skl = _pair("MLPClassifier", **params)
    kwargs = {}
    if "sample_weight" in extra:
        kwargs["sample_weight"] = extra["sample_weight"]
    assert_same_error(
        lambda: getattr(fast, method)(*args, **kwargs),
        lambda: getattr(skl, method)(*args, **kwargs),
    )


def test_predict_errors_match_sklearn():
    X, y, _ = make_data("regression", n_samples=40)
    fast, skl = _pair("MLPRegressor", hidden_layer_sizes=(4,), max_iter=2)
    assert_same_error(lambda: fast.predict(X), lambda: skl.predict(X))
    fast.fit(X, y)
    skl.fit(X, y)
    assert_same_error(lambda: fast.predict(X[:, :3]), lambda: skl.predict(X[:, :3]))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    assert_same_error(lambda: fast.predict(X_nan), lambda: skl.predict(X_nan))
    with pytest.raises(NotFittedError):
        fastmlp.MLPClassifier().predict_proba(X)


def test_partial_fit_errors_match_sklearn():
    X, y, _ = make_data("multiclass", n_samples=40)
    fast, skl = _pair("MLPClassifier", hidden_layer_sizes=(4,))
    assert_same_error(lambda: fast.partial_fit(X, y), lambda: skl.partial_fit(X, y))
    fast.partial_fit(X, y, classes=[0, 1, 2])
    skl.partial_fit(X, y, classes=[0, 1, 2])
    assert_same_error(
        lambda: fast.partial_fit(X, y + 5), lambda: skl.partial_fit(X, y + 5)
    )
    fast_es, skl_es = _pair("MLPClassifier", early_stopping=True)
    assert_same_error(
        lambda: fast_es.partial_fit(X, y, classes=[0, 1, 2]),
        lambda: skl_es.partial_fit(X, y, classes=[0, 1, 2]),
    )
    warm_fast, warm_skl = _pair("MLPClassifier", warm_start=True, max_iter=2)
    warm_fast.fit(X, y)
    warm_skl.fit(X, y)
    assert_same_error(lambda: warm_fast.fit(X, y % 2), lambda: warm_skl.fit(X, y % 2))


def test_validation_set_too_small_error_matches():
    X, y, _ = make_data("regression", n_samples=8)
    fast, skl = _pair("MLPRegressor", early_stopping=True, validation_fraction=0.1)
    assert_same_error(lambda: fast.fit(X, y), lambda: skl.fit(X, y))


def test_batch_size_larger_than_n_warns_and_clips():
    X, y, _ = make_data("regression", n_samples=30)
    fast, skl = _pair("MLPRegressor", batch_size=100, max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="batch_size"):
        fast.fit(X, y)
    with pytest.warns(UserWarning, match="batch_size"):
        skl.fit(X, y)
    assert_same_model(fast, skl, X)


def test_convergence_warning_messages_match():
    X, y, _ = make_data("multiclass", n_samples=40)
    for solver in ["adam", "lbfgs"]:
        messages = []
        for est in _pair("MLPClassifier", solver=solver, max_iter=2, random_state=0):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est.fit(X, y)
            messages.append(
                [str(w.message) for w in caught if w.category is ConvergenceWarning]
            )
        assert messages[0] == messages[1] and messages[0]


def test_keyboard_interrupt_leaves_usable_model(monkeypatch):
    X, y, _ = make_data("multiclass", n_samples=60)
    calls = {"n": 0}
    original = training.Engine.run_epoch

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(training.Engine, "run_epoch", interrupted)
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        est.fit(X, y)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == 2
    assert est.predict(X).shape == (60,)


def test_poisson_with_negative_target_raises():
    X, y, _ = make_data("regression")
    with pytest.raises(ValueError, match="negative"):
        fastmlp.MLPRegressor(loss="poisson").fit(X, y - 100.0)


def test_non_finite_weights_raise_sklearns_error():
    X, y, _ = make_data("regression", n_samples=50)
    params = dict(
        solver="sgd", learning_rate_init=1e6, max_iter=20, random_state=0, momentum=0.0
    )
    fast, skl = _pair("MLPRegressor", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same_error(lambda: fast.fit(X * 1e3, y), lambda: skl.fit(X * 1e3, y))


def test_fast_shuffle_draws_sklearns_permutations():
    from sklearn.utils import check_random_state, shuffle

    from fastmlp._engine.randomness import shuffled

    ours, theirs = check_random_state(3), check_random_state(3)
    idx_ours = idx_theirs = np.arange(257)
    for _ in range(5):
        idx_ours = shuffled(idx_ours, ours)
        idx_theirs = shuffle(idx_theirs, random_state=theirs)
        assert_array_equal(idx_ours, idx_theirs)


@pytest.mark.parametrize(
    "fit_labels, labels",
    [
        ([0, 1, 1, 0], [1, 0, 0, 1]),
        ([2, 0, 1, 2], [0, 2, 1, 1]),
        (["b", "a", "c"], ["c", "a", "a"]),
        ([1.0, 2.0], [2.0, 2.0, 1.0]),
        ([True, False], [False, True]),
        (np.array(["x", "y"], dtype=object), np.array(["y", "y"], dtype=object)),
        ([0, 1, 2], [0, 2, 2]),  # partial_fit: some of the classes only
        ([0, 1, 2], [0, 3]),  # a label not among the classes: transform's result
        ([0, 1], [[0, 1], [1, 1]]),  # not 1-D: transform's result or error
        # multilabel indicators: the same result, or transform's error
        ([[0, 1], [1, 0]], [[1, 1], [0, 0]]),
        ([[0, 1], [1, 0]], np.array([[True, False], [True, True]])),
        ([[0, 1, 1], [1, 0, 0]], np.array([[0, 2, 2], [2, 0, 0]], dtype=np.uint8)),
        ([[0, 1], [1, 0]], [[-1, 1], [1, 1]]),
        ([[0, 1], [1, 0]], [[3, 3], [3, 3]]),
        ([[0, 1], [1, 0]], [[0, 1, 1], [1, 0, 0]]),  # more columns
        ([[0, 1], [1, 0]], [[0, 1], [2, 0]]),  # three values
        ([[0, 1], [1, 0]], [1, 0]),  # 1-D
        ([[0, 1], [1, 0]], [[0.0, 1.0], [1.0, 0.0]]),  # floats: transform's
    ],
)
def test_binarized_labels_are_the_label_binarizers(fit_labels, labels):
    binarizer = LabelBinarizer().fit(fit_labels)
    labels = np.asarray(labels)
    try:
        want = binarizer.transform(labels).astype(bool)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error))):
            binarize_labels(binarizer, labels)
        return
    got = binarize_labels(binarizer, labels)
    assert got.dtype == want.dtype
    assert_array_equal(got, want)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([0, 1, 1, 0]),
        np.array([3, 3, 3], dtype=np.int32),
        np.array([2, 0, 1, 2], dtype=np.uint8),
        np.array([-5, 7, 7, 100, -5], dtype=np.int16),
        np.array([4, 0, 9, 4], dtype=np.uint64),  # not counted: no safe cast
        np.array([3, 10**9, 3]),  # too sparse to count
        np.array([0, 1, 1], dtype=np.int8),
        np.array(["b", "a", "c"]),
        np.array([1.0, 2.0, 2.0]),
        np.array([True, False]),
        np.array([0.5, 1.5]),  # continuous: fit's error
        np.array([], dtype=np.int64),  # empty: fit's error
        np.array([[0, 1], [1, 1]]),  # multilabel
        np.array([[True, False, True]]),
        np.array([[0, 2], [2, 2]], dtype=np.uint8),
        np.array([[4, 4], [4, 4]], dtype=np.int32),
        np.array([[-1, 1], [1, -1]], dtype=np.int8),
        np.array([[0, 1], [1, 2]]),  # three values: multiclass-multioutput error
        np.array([[0], [1]]),  # one column
        np.array([[0.0, 1.0], [1.0, 1.0]]),  # floats: fit's
        np.zeros((0, 3), dtype=np.int64),  # no rows: fit's error
    ],
)
def test_fitted_binarizer_is_the_label_binarizers_fit(labels):
    try:
        want = LabelBinarizer().fit(labels)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error))):
            fitted_binarizer(labels)
        return
    got = fitted_binarizer(labels)
    assert sorted(vars(got)) == sorted(vars(want))
    for name, value in vars(want).items():
        if isinstance(value, np.ndarray):
            assert got.__dict__[name].dtype == value.dtype
            assert_array_equal(got.__dict__[name], value)
        else:
            assert got.__dict__[name] == value
