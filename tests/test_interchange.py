"""Conversion to and from scikit-learn's fitted estimators, and ONNX export.

Every round trip checks identical predictions, and that the converted model
continues training (``partial_fit``, ``warm_start``) exactly as the original
would: same weights, curves, counters and optimizer state afterwards.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sknn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import _stochastic_optimizers as sk_optimizers

import fastmlp
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._engine.solvers import AdamOptimizer as FastAdamOptimizer
from fastmlp._interchange import from_sklearn, to_sklearn
from tests._data import make_data
from tests._parity import assert_same_model

TARGETS = ["binary_str", "multiclass", "multilabel", "regression", "multioutput"]
SOLVERS = ["sgd", "adam", "lbfgs"]
FASTMLP_ONLY_ACTIVATIONS = ["leaky_relu", "elu", "gelu", "silu", "softplus"]


def _classes(target):
    _, _, is_classifier = make_data(target)
    if is_classifier:
        return fastmlp.MLPClassifier, sknn.MLPClassifier
    return fastmlp.MLPRegressor, sknn.MLPRegressor


def _params(solver, **extra):
    params = dict(
        hidden_layer_sizes=(7, 5),
        activation="tanh",
        solver=solver,
        max_iter=4,
        random_state=0,
        batch_size=16,
        learning_rate_init=0.01,
    )
    if solver == "sgd":
        # invscaling moves the learning rate every epoch: converting it matters
        params.update(learning_rate="invscaling", power_t=0.25, momentum=0.8)
    params.update(extra)
    return params


def _fit(estimator_class, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator_class(**params).fit(X, y)


def _quiet(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return method(*args, **kwargs)


def _sklearn_state(optimizer):
    """scikit-learn optimizer's numbers as one flat vector and its scalars."""
    if isinstance(optimizer, sk_optimizers.AdamOptimizer):
        arrays = optimizer.ms + optimizer.vs
        scalars = (optimizer.t, optimizer.learning_rate)
    else:
        arrays = optimizer.velocities
        scalars = (optimizer.learning_rate,)
    return np.concatenate([np.ravel(a) for a in arrays]), scalars


def _fastmlp_state(optimizer, layout):
    """fastmlp optimizer's state reordered as :func:`_sklearn_state`'s."""
    if isinstance(optimizer, FastAdamOptimizer):
        flats = [optimizer.first_moments, optimizer.second_moments]
        scalars = (optimizer.step, optimizer.learning_rate)
    else:
        flats = [optimizer.velocities]
        scalars = (optimizer.learning_rate,)
    parts = []
    for flat in flats:
        coefs, intercepts = layout.views(flat)
        parts += [a.ravel() for a in coefs + intercepts]
    return np.concatenate(parts), scalars


def _assert_same_optimizer(fast, skl, rtol=1e-6):
    assert hasattr(fast, "_optimizer") == hasattr(skl, "_optimizer")
    if not hasattr(skl, "_optimizer"):
        return
    layout = fast._current_params()[0]
    fast_arrays, fast_scalars = _fastmlp_state(fast._optimizer, layout)
    skl_arrays, skl_scalars = _sklearn_state(skl._optimizer)
    assert_allclose(fast_arrays, skl_arrays, rtol=rtol, atol=1e-12)
    assert_allclose(fast_scalars, skl_scalars, rtol=1e-12)


def _assert_exact_copy(fast, skl, X):
    """Weights and fitted attributes copied bit for bit; same predictions."""
    for a, b in zip(fast.coefs_ + fast.intercepts_, skl.coefs_ + skl.intercepts_):
        assert a.dtype == b.dtype
        assert_array_equal(a, b)
    assert_same_model(fast, skl, X, rtol=1e-12, atol=1e-15)
    for name in ["loss_curve_", "validation_scores_", "loss_", "best_loss_"]:
        assert getattr(fast, name, None) == getattr(skl, name, None), name
    if hasattr(skl, "_no_improvement_count"):
        assert fast._no_improvement_count == skl._no_improvement_count
    assert fast.n_features_in_ == skl.n_features_in_
    _assert_same_optimizer(fast, skl, rtol=0)


def _continue(estimator, X, y, solver, steps=3):
    """Train on: ``partial_fit`` for stochastic solvers, else a warm start."""
    if solver == "lbfgs":
        estimator.set_params(warm_start=True, max_iter=3)
        _quiet(estimator.fit, X, y)
    else:
        for _ in range(steps):
            _quiet(estimator.partial_fit, X, y)
    return estimator


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("target", TARGETS)
def test_to_sklearn_round_trip(target, solver):
    X, y, _ = make_data(target)
    fast_class, sk_class = _classes(target)
    fast = _fit(fast_class, X, y, **_params(solver))

    skl = fast.to_sklearn()
    assert type(skl) is sk_class
    _assert_exact_copy(fast, skl, X)
    if hasattr(skl, "classes_"):
        assert_array_equal(skl.predict(X), fast.predict(X))
    assert (solver == "lbfgs") != hasattr(skl, "_optimizer")

    back = from_sklearn(skl)
    assert type(back) is fast_class
    assert back.get_params() == fast.get_params()
    assert_array_equal(back._params_flat, fast._params_flat)
    prediction = back.predict_proba if hasattr(back, "classes_") else back.predict
    assert_array_equal(
        prediction(X),
        fast.predict_proba(X) if hasattr(fast, "classes_") else fast.predict(X),
    )
    assert hasattr(back, "_optimizer") == hasattr(fast, "_optimizer")
    _assert_same_optimizer(back, skl, rtol=0)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("target", TARGETS)
def test_to_sklearn_then_both_continue(target, solver):
    X, y, _ = make_data(target)
    fast_class, _ = _classes(target)
    fast = _fit(fast_class, X, y, **_params(solver))
    skl = fast.to_sklearn()

    _continue(fast, X, y, solver)
    _continue(skl, X, y, solver)
    assert_same_model(fast, skl, X, rtol=1e-6)
    _assert_same_optimizer(fast, skl)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("target", TARGETS)
def test_from_sklearn_then_both_continue(target, solver):
    X, y, _ = make_data(target)
    fast_class, sk_class = _classes(target)
    skl = _fit(sk_class, X, y, **_params(solver))

    fast = fastmlp.from_sklearn(skl)
    assert type(fast) is fast_class
    _assert_exact_copy(fast, skl, X)
    layout = fast._current_params()[0]
    assert layout.are_views_of(fast._params_flat, fast.coefs_, fast.intercepts_)

    _continue(fast, X, y, solver)
    _continue(skl, X, y, solver)
    assert_same_model(fast, skl, X, rtol=1e-6)
    _assert_same_optimizer(fast, skl)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_continues_after_conversion(solver):
    X, y, _ = make_data("multiclass")
    fast = _fit(fastmlp.MLPClassifier, X, y, **_params(solver))
    skl = fast.to_sklearn()
    for estimator in (fast, skl):
        estimator.set_params(warm_start=True, max_iter=3)
        _quiet(estimator.fit, X, y)
    assert_same_model(fast, skl, X, rtol=1e-6)
    _assert_same_optimizer(fast, skl)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_continuation_depends_on_converted_optimizer_state(solver):
    # Guard for the tests above: without the optimizer's state, partial_fit
    # would start from zero momentum / a fresh Adam and end elsewhere.
    X, y, _ = make_data("regression")
    fast = _fit(fastmlp.MLPRegressor, X, y, **_params(solver))
    skl = fast.to_sklearn()
    del skl._optimizer
    _continue(fast, X, y, solver)
    _continue(skl, X, y, solver)
    assert not np.allclose(fast.coefs_[0], skl.coefs_[0], rtol=1e-6)


@pytest.mark.parametrize("direction", ["to_sklearn", "from_sklearn"])
def test_adaptive_learning_rate_is_carried_over(direction):
    X, y, _ = make_data("regression")
    params = _params("sgd", learning_rate="adaptive", tol=1e3, n_iter_no_change=1)
    params["max_iter"] = 6
    if direction == "to_sklearn":
        source = _fit(fastmlp.MLPRegressor, X, y, **params)
        converted = to_sklearn(source)
    else:
        source = _fit(sknn.MLPRegressor, X, y, **params)
        converted = from_sklearn(source)
    assert source._optimizer.learning_rate < params["learning_rate_init"]
    assert converted._optimizer.learning_rate == source._optimizer.learning_rate
    _continue(source, X, y, "sgd")
    _continue(converted, X, y, "sgd")
    fast, skl = (
        (source, converted) if direction == "to_sklearn" else (converted, source)
    )
    assert_same_model(fast, skl, X, rtol=1e-6)
    _assert_same_optimizer(fast, skl)


@pytest.mark.parametrize("direction", ["to_sklearn", "from_sklearn"])
def test_early_stopping_state(direction):
    X, y, _ = make_data("multiclass", n_samples=120)
    params = _params("adam", early_stopping=True, max_iter=8, n_iter_no_change=2)
    if direction == "to_sklearn":
        fast = _fit(fastmlp.MLPClassifier, X, y, **params)
        skl = to_sklearn(fast)
    else:
        skl = _fit(sknn.MLPClassifier, X, y, **params)
        fast = from_sklearn(skl)
    # after an early-stopping fit the best weights are the live ones
    assert skl._best_coefs is skl.coefs_
    assert skl._best_intercepts is skl.intercepts_
    assert fast._best_params is None
    assert skl.validation_scores_ == fast.validation_scores_
    assert skl.best_validation_score_ == fast.best_validation_score_
    for estimator in (fast, skl):
        estimator.set_params(warm_start=True, max_iter=5)
        _quiet(estimator.fit, X, y)
    assert_same_model(fast, skl, X, rtol=1e-6)


def test_best_weights_copies_without_early_stopping():
    X, y, _ = make_data("regression")
    fast = _fit(fastmlp.MLPRegressor, X, y, **_params("adam"))
    skl = to_sklearn(fast)
    assert skl._best_coefs is not skl.coefs_
    layout = fast._current_params()[0]
    best_coefs, best_intercepts = layout.views(fast._best_params)
    for a, b in zip(
        best_coefs + best_intercepts, skl._best_coefs + skl._best_intercepts
    ):
        assert_array_equal(a, b)
    back = from_sklearn(skl)
    assert_array_equal(back._best_params, fast._best_params)


@pytest.mark.parametrize("direction", ["to_sklearn", "from_sklearn"])
def test_float32(direction):
    X, y, _ = make_data("multiclass", dtype=np.float32)
    if direction == "to_sklearn":
        fast = _fit(fastmlp.MLPClassifier, X, y, **_params("adam"))
        skl = to_sklearn(fast)
    else:
        skl = _fit(sknn.MLPClassifier, X, y, **_params("adam"))
        fast = from_sklearn(skl)
    assert fast._params_flat.dtype == np.float32
    assert all(c.dtype == np.float32 for c in skl.coefs_ + skl._optimizer.ms)
    assert fast._optimizer.first_moments.dtype == np.float32
    assert_array_equal(fast.predict(X), skl.predict(X))
    _continue(fast, X, y, "adam")
    _continue(skl, X, y, "adam")
    assert_same_model(fast, skl, X, rtol=1e-4, atol=1e-6)


def test_converted_models_share_no_memory():
    X, y, _ = make_data("multiclass")
    fast = _fit(fastmlp.MLPClassifier, X, y, **_params("sgd"))
    skl = to_sklearn(fast)
    back = from_sklearn(skl)
    for one, other in [(fast, skl), (skl, back)]:
        for a in one.coefs_ + one.intercepts_:
            for b in other.coefs_ + other.intercepts_:
                assert not np.shares_memory(a, b)
        assert not np.shares_memory(one.classes_, other.classes_)
        assert one._label_binarizer is not other._label_binarizer
        assert one.loss_curve_ is not other.loss_curve_
    before = [c.copy() for c in skl.coefs_]
    _continue(fast, X, y, "sgd")
    for a, b in zip(before, skl.coefs_):
        assert_array_equal(a, b)


def test_random_state_instance_is_copied():
    X, y, _ = make_data("regression")
    rng = np.random.RandomState(3)
    fast = _fit(fastmlp.MLPRegressor, X, y, **_params("adam", random_state=rng))
    skl = to_sklearn(fast)
    assert skl.random_state is not rng
    assert_array_equal(skl.random_state.get_state()[1], rng.get_state()[1])
    assert from_sklearn(skl).random_state is not skl.random_state


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_fastmlp_only_training_options_are_dropped(solver):
    X, y, _ = make_data("multiclass")
    extra = dict(class_weight="balanced", dropout=0.2, n_jobs=1, alpha=0.01)
    fast = _fit(fastmlp.MLPClassifier, X, y, **_params(solver, **extra))
    skl = to_sklearn(fast)
    sk_names = set(sknn.MLPClassifier().get_params())
    fast_params = fast.get_params()
    assert set(skl.get_params()) == sk_names
    assert skl.get_params() == {name: fast_params[name] for name in sk_names}
    assert {"class_weight", "dropout", "n_jobs"} <= set(fast_params) - sk_names
    # they only shape training: the trained network predicts the same
    assert_array_equal(skl.predict(X), fast.predict(X))
    assert_allclose(skl.predict_proba(X), fast.predict_proba(X), rtol=1e-12)
    # back in fastmlp they are at their defaults
    back = from_sklearn(skl)
    defaults = fastmlp.MLPClassifier().get_params()
    for name in ["class_weight", "dropout", "n_jobs"]:
        assert back.get_params()[name] == defaults[name]
    assert_array_equal(back.predict_proba(X), fast.predict_proba(X))


def test_regressor_parameters_carried_over():
    X, y, _ = make_data("poisson")
    fast = _fit(fastmlp.MLPRegressor, X, y, **_params("adam", loss="poisson"))
    skl = to_sklearn(fast)
    assert skl.loss == "poisson" and skl.out_activation_ == "exp"
    assert_allclose(skl.predict(X), fast.predict(X), rtol=1e-12)
    _continue(fast, X, y, "adam")
    _continue(skl, X, y, "adam")
    assert_same_model(fast, skl, X, rtol=1e-6)


@pytest.mark.parametrize("activation", FASTMLP_ONLY_ACTIVATIONS)
def test_activation_sklearn_cannot_compute_raises(activation):
    X, y, _ = make_data("multiclass")
    fast = _fit(fastmlp.MLPClassifier, X, y, **_params("adam", activation=activation))
    with pytest.raises(ValueError, match=f"activation='{activation}'"):
        fast.to_sklearn()


def test_unfitted_raises_not_fitted_error():
    with pytest.raises(NotFittedError):
        to_sklearn(fastmlp.MLPClassifier())
    with pytest.raises(NotFittedError):
        fastmlp.MLPRegressor().to_sklearn()
    with pytest.raises(NotFittedError):
        from_sklearn(sknn.MLPClassifier())
    with pytest.raises(NotFittedError):
        from_sklearn(sknn.MLPRegressor())


def test_wrong_estimator_type_raises():
    with pytest.raises(TypeError, match="from_sklearn expects"):
        from_sklearn(fastmlp.MLPClassifier())
    with pytest.raises(TypeError, match="to_sklearn expects"):
        to_sklearn(sknn.MLPRegressor())


def test_stale_sklearn_optimizer_is_not_converted():
    # scikit-learn keeps an old optimizer through an L-BFGS fit of another
    # shape; fastmlp would make a new one at the next partial_fit anyway.
    X, y, _ = make_data("regression")
    skl = _fit(sknn.MLPRegressor, X, y, **_params("adam"))
    skl.set_params(solver="lbfgs", hidden_layer_sizes=(3,))
    _quiet(skl.fit, X, y)
    fast = from_sklearn(skl)
    assert not hasattr(fast, "_optimizer")
    assert_allclose(fast.predict(X), skl.predict(X), rtol=1e-12)


def test_feature_names_carried_over():
    pd = pytest.importorskip("pandas")
    X, y, _ = make_data("multiclass")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    fast = _fit(fastmlp.MLPClassifier, frame, y, **_params("adam"))
    skl = to_sklearn(fast)
    assert_array_equal(skl.feature_names_in_, fast.feature_names_in_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(skl.predict(frame), fast.predict(frame))
        assert_array_equal(from_sklearn(skl).predict(frame), fast.predict(frame))


def test_converted_model_pickles_and_clones():
    X, y, _ = make_data("multioutput")
    skl = _fit(sknn.MLPRegressor, X, y, **_params("sgd"))
    fast = from_sklearn(skl)
    loaded = pickle.loads(pickle.dumps(fast))
    assert_array_equal(loaded.predict(X), fast.predict(X))
    assert isinstance(loaded.to_sklearn(), sknn.MLPRegressor)
    assert clone(fast).get_params() == fast.get_params()
    deep = copy.deepcopy(fast)
    assert ParameterLayout([6, 7, 5, 2]).are_views_of(
        deep._params_flat, deep.coefs_, deep.intercepts_
    )


# ----------------------------------------------------------------------
# ONNX export through scikit-learn's class (skl2onnx + onnxruntime)
# ----------------------------------------------------------------------
def _onnx_run(estimator, X, options=None):
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = skl2onnx.to_onnx(estimator.to_sklearn(), X32[:1], options=options)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X32})))


@pytest.mark.parametrize("target", ["binary_str", "multiclass", "multilabel"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_onnx_classifier(target, solver):
    X, y, _ = make_data(target)
    fast = _fit(fastmlp.MLPClassifier, X, y, **_params(solver, activation="relu"))
    outputs = _onnx_run(fast, X, options={"zipmap": False})
    probabilities = fast.predict_proba(X)
    assert_allclose(outputs["probabilities"], probabilities, rtol=1e-4, atol=1e-5)
    labels = outputs["label"]
    # float32 may flip a label only where two classes are within rounding
    if target == "multilabel":
        undecided = np.abs(probabilities - 0.5) < 1e-5
        assert_array_equal(labels[~undecided], fast.predict(X)[~undecided])
    else:
        top2 = np.sort(probabilities, axis=1)[:, -2:]
        decided = top2[:, 1] - top2[:, 0] > 1e-5
        assert_array_equal(labels[decided], fast.predict(X)[decided])


@pytest.mark.parametrize("target", ["regression", "multioutput"])
def test_onnx_regressor(target):
    X, y, _ = make_data(target)
    fast = _fit(fastmlp.MLPRegressor, X, y, **_params("adam", activation="logistic"))
    outputs = _onnx_run(fast, X)
    (prediction,) = outputs.values()
    # skl2onnx's MLPRegressor converter (1.20) reshapes its output to (-1, 1)
    # whatever n_outputs_ is: multi-output rows come out one after another.
    assert prediction.shape == (len(X) * fast.n_outputs_, 1)
    expected = fast.predict(X).reshape(len(X), -1)
    assert_allclose(prediction.reshape(len(X), -1), expected, rtol=1e-4, atol=1e-5)


def test_onnx_default_zipmap_output():
    # the plain call, as users write it: probabilities come as one dict per row
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    X, y, _ = make_data("binary_str")
    fast = _fit(fastmlp.MLPClassifier, X, y, **_params("adam"))
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = skl2onnx.to_onnx(fast.to_sklearn(), X32[:1])
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, rows = session.run(None, {session.get_inputs()[0].name: X32})
    probabilities = np.array([[row[c] for c in fast.classes_] for row in rows])
    assert_allclose(probabilities, fast.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert set(labels) <= set(fast.classes_)
