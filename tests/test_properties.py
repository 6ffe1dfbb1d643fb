"""Property-based tests: random problems, architectures and settings.

Whatever hypothesis draws, a fit ends in one of two ways: finite weights and
finite predictions, or scikit-learn's error (the non-finite-weights ValueError
after divergence, or the error scikit-learn raises on the same input) with the
estimator left as it was before the call. On a tamer subset (float64,
scikit-learn's activations, moderate learning rates, 3 epochs) fastmlp's fitted
model equals scikit-learn's to rtol 1e-6.

The examples are derandomized (the same ones every run) so that the suite
never flakes; run with ``--hypothesis-seed=N`` and a larger ``max_examples`` to
explore further.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import fastmlp
from fastmlp import _base
from tests._parity import assert_same_model
from tests._reliability_helpers import (
    SavedState,
    assert_partial_fit_undone,
    assert_unfitted,
    model_arrays,
    pair,
    raised,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NON_FINITE = (
    ValueError,
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed.",
)
SKLEARN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
FASTMLP_ACTIVATIONS = list(getattr(_base, "HIDDEN_ACTIVATIONS", SKLEARN_ACTIVATIONS))
TARGETS = ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def problems(draw, tame):
    """``(estimator name, parameters, X, y, sample_weight)``."""
    n_samples = draw(st.integers(1 if not tame else 2, 60))
    n_features = draw(st.integers(1, 8))
    dtype = np.float64 if tame else draw(st.sampled_from([np.float32, np.float64]))
    sparse = draw(st.sampled_from([None, "csr", "csc"]))
    target = draw(st.sampled_from(TARGETS))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)

    scale = 1.0 if tame else draw(st.sampled_from([1e-6, 1.0, 1e3, 1e8]))
    X = rng.normal(size=(n_samples, n_features)) * scale
    if sparse:
        X[rng.uniform(size=X.shape) < 0.5] = 0.0
    w = rng.normal(size=(n_features, 3))
    score = (X / scale) @ w
    if target == "binary":
        y = np.where(score[:, 0] > 0, "yes", "no")
    elif target == "multiclass":
        y = np.argmax(score, axis=1)
    elif target == "multilabel":
        y = (score > 0).astype(int)
    elif target == "regression":
        y = score[:, 0] + 0.1 * rng.normal(size=n_samples)
    elif target == "multioutput":
        y = score[:, :2]
    else:
        y = rng.poisson(np.exp(0.3 * np.clip(score[:, 0], -5, 5))).astype(float)
    X = X.astype(dtype)
    if sparse:
        X = sp.csr_matrix(X) if sparse == "csr" else sp.csc_matrix(X)

    name = (
        "MLPClassifier"
        if target in ("binary", "multiclass", "multilabel")
        else ("MLPRegressor")
    )
    n_layers = draw(st.integers(1, 3))
    hidden = tuple(draw(st.integers(1, 20)) for _ in range(n_layers))
    solver = draw(st.sampled_from(["sgd", "adam", "lbfgs"]))
    activations = SKLEARN_ACTIVATIONS if tame else FASTMLP_ACTIVATIONS
    rates = [1e-3, 1e-2, 0.1] if tame else [1e-3, 0.1, 1.0, 10.0]
    params = {
        "hidden_layer_sizes": hidden,
        "activation": draw(st.sampled_from(activations)),
        "solver": solver,
        "alpha": draw(st.sampled_from([0.0, 1e-4, 0.1, 10.0])),
        "batch_size": draw(st.one_of(st.just("auto"), st.integers(1, n_samples + 5))),
        "learning_rate_init": draw(st.sampled_from(rates)),
        "learning_rate": draw(st.sampled_from(["constant", "invscaling", "adaptive"])),
        "momentum": draw(st.sampled_from([0.0, 0.9])),
        "nesterovs_momentum": draw(st.booleans()),
        "shuffle": draw(st.booleans()),
        "early_stopping": solver != "lbfgs" and draw(st.booleans()),
        "max_iter": 3 if tame else draw(st.integers(1, 6)),
        "random_state": seed,
    }
    if target == "poisson":
        params["loss"] = "poisson"
    sample_weight = None
    if draw(st.booleans()):
        sample_weight = rng.uniform(0.1, 2.0, size=n_samples)
    return name, params, X, y, sample_weight


def _fit(est, X, y, sample_weight):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return raised(lambda: est.fit(X, y, sample_weight=sample_weight))


def _outputs(est, X):
    """The numbers an estimator predicts: probabilities, or regression values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        labels_or_values = est.predict(X)
        if hasattr(est, "predict_proba"):
            return [est.predict_proba(X)]
    return [np.asarray(labels_or_values)]


@pytest.mark.timeout(300)
@PROPERTY_SETTINGS
@given(problem=problems(tame=False))
def test_any_fit_gives_finite_weights_or_sklearns_error(problem):
    name, params, X, y, sample_weight = problem
    fast = getattr(fastmlp, name)(**params)
    saved = SavedState(fast)
    error = _fit(fast, X, y, sample_weight)
    if error[0] is not None:
        # nothing kept of a failed fit: no NaN weights, no input bookkeeping
        assert_unfitted(fast, saved)
    if error == NON_FINITE:
        return
    if error[0] is not None:
        # an input error: scikit-learn's, on the same input and parameters
        # (with one of its activations in place of fastmlp's own)
        skl_params = dict(params)
        if skl_params["activation"] not in SKLEARN_ACTIVATIONS:
            skl_params["activation"] = "relu"
        _, skl = pair(name, **skl_params)
        assert _fit(skl, X, y, sample_weight) == error
        return
    weights = model_arrays(fast)
    assert all(np.isfinite(w).all() for w in weights)
    assert all(w.dtype == weights[0].dtype for w in weights)
    outputs = _outputs(fast, X)
    if all(np.isfinite(o).all() for o in outputs):
        if name == "MLPClassifier" and np.ndim(y) == 1:
            np.testing.assert_allclose(outputs[0].sum(axis=1), 1.0, rtol=1e-4)
        return
    # finite weights can still overflow at the output (exp of the Poisson
    # loss, huge inputs): then scikit-learn's model must overflow the same way
    # (fastmlp's own activations have no scikit-learn model to compare with)
    if params["activation"] not in SKLEARN_ACTIVATIONS:
        return
    _, skl = pair(name, **params)
    assert _fit(skl, X, y, sample_weight) == (None, None)
    for ours, theirs in zip(outputs, _outputs(skl, X)):
        assert_array_equal(np.isfinite(ours), np.isfinite(theirs))


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@PROPERTY_SETTINGS
@given(problem=problems(tame=True))
def test_tame_fits_equal_sklearns_model(problem):
    name, params, X, y, sample_weight = problem
    fast, skl = pair(name, **params)
    saved = SavedState(fast)
    skl_error = _fit(skl, X, y, sample_weight)
    assert _fit(fast, X, y, sample_weight) == skl_error
    if skl_error[0] is None:
        X_dense = X.toarray() if sp.issparse(X) else X
        assert_same_model(fast, skl, X_dense, rtol=1e-6)
    else:
        assert_unfitted(fast, saved)


def _partial_fit(est, X, y, sample_weight, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return raised(
            lambda: est.partial_fit(X, y, sample_weight=sample_weight, **kwargs)
        )


@pytest.mark.timeout(300)
@PROPERTY_SETTINGS
@given(problem=problems(tame=True), data=st.data())
def test_partial_fit_sequences_equal_sklearns_model(problem, data):
    name, params, X, y, sample_weight = problem
    if params["solver"] == "lbfgs":
        params["solver"] = "adam"
    params["early_stopping"] = False
    n_samples = X.shape[0]
    cuts = sorted(data.draw(st.sets(st.integers(1, n_samples - 1), max_size=2)))
    chunks = np.split(np.arange(n_samples), cuts)
    kwargs = {"classes": np.unique(y)} if name == "MLPClassifier" else {}
    fast, skl = pair(name, **params)
    for rows in chunks:
        weight = None if sample_weight is None else sample_weight[rows]
        saved = SavedState(fast)
        results = [
            _partial_fit(est, X[rows], y[rows], weight, kwargs) for est in (skl, fast)
        ]
        assert results[1] == results[0]
        if results[0][0] is not None:
            # the failed call is undone, curves included
            assert_partial_fit_undone(fast, saved)
            return
        kwargs = {}
    X_dense = X.toarray() if sp.issparse(X) else X
    with warnings.catch_warnings():
        # as in _partial_fit: scikit-learn's logistic overflows np.exp on some
        # generated models when it predicts (its RuntimeWarning, not ours)
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same_model(fast, skl, X_dense, rtol=1e-6)


def _relaid(X, layout):
    if layout == "fortran":
        return np.asfortranarray(X)
    if layout == "read_only":
        X = X.copy()
        X.setflags(write=False)
        return X
    if layout == "strided":
        holder = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
        holder[:, ::2] = X
        return holder[:, ::2]
    return sp.csr_matrix(X) if layout == "csr" else sp.csc_matrix(X)


@pytest.mark.timeout(300)
@PROPERTY_SETTINGS
@given(
    problem=problems(tame=False),
    layout=st.sampled_from(["fortran", "read_only", "strided", "csr", "csc"]),
)
def test_layout_of_X_does_not_change_the_model(problem, layout):
    name, params, X, y, sample_weight = problem
    X = X.toarray() if sp.issparse(X) else X
    plain = getattr(fastmlp, name)(**params)
    other = getattr(fastmlp, name)(**params)
    plain_error = _fit(plain, X, y, sample_weight)
    other_error = _fit(other, _relaid(X, layout), y, sample_weight)
    for est, error in [(plain, plain_error), (other, other_error)]:
        if error[0] is not None:
            assert_unfitted(est)
    if layout in ("csr", "csc"):
        # another summation order: the same model to rounding, unless it diverged
        if NON_FINITE in (plain_error, other_error) or plain_error[0] is not None:
            return
        assert other_error == (None, None)
        rtol = 1e-4 if X.dtype == np.float32 else 1e-9
        for a, b in zip(model_arrays(other), model_arrays(plain)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        return
    assert other_error == plain_error
    if plain_error[0] is None:
        for a, b in zip(model_arrays(other), model_arrays(plain)):
            assert_array_equal(a, b, strict=True)
