"""What fastmlp adds to scikit-learn: every addition is off by default."""

import numpy as np
import pytest
from numba import njit
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neural_network._base import LOSS_FUNCTIONS
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_info

import fastmlp
from fastmlp._engine.buffers import make_net, make_work
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels.activations import ACTIVATION_CODES, IDENTITY
from fastmlp._kernels.losses import SQUARED_ERROR
from fastmlp._kernels.passes import loss_grad_dense
from tests._data import make_data

EXTRA_ACTIVATIONS = ["leaky_relu", "elu", "gelu", "silu", "softplus"]


# ----------------------------------------------------------------------------
# class_weight
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["binary_str", "multiclass"])
def test_class_weight_dict_equals_sample_weight(target):
    X, y, _ = make_data(target, n_samples=80)
    classes = np.unique(y)
    weights = {c: 1.0 + i for i, c in enumerate(classes)}
    params = dict(hidden_layer_sizes=(5,), max_iter=4, random_state=0, solver="sgd")
    weighted = fastmlp.MLPClassifier(class_weight=weights, **params).fit(X, y)
    sample_weight = np.array([weights[label] for label in y])
    reference = fastmlp.MLPClassifier(**params).fit(X, y, sample_weight=sample_weight)
    for a, b in zip(weighted.coefs_, reference.coefs_):
        assert_array_equal(a, b)


def test_class_weight_equals_repeated_samples_with_lbfgs():
    # the full-batch objective of weight 2 is that of the sample seen twice
    X, y, _ = make_data("multiclass", n_samples=60)
    params = dict(hidden_layer_sizes=(4,), max_iter=20, random_state=0, solver="lbfgs")
    weighted = fastmlp.MLPClassifier(class_weight={0: 2.0}, **params).fit(X, y)
    repeat = np.where(y == 0, 2, 1)
    repeated = fastmlp.MLPClassifier(**params).fit(
        np.repeat(X, repeat, axis=0), np.repeat(y, repeat)
    )
    for a, b in zip(weighted.coefs_, repeated.coefs_):
        assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_class_weight_balanced_multiplies_sample_weight():
    X, y, _ = make_data("multiclass", n_samples=90)
    y = np.where(np.arange(90) < 60, 0, y)  # imbalanced
    sample_weight = np.random.RandomState(0).uniform(0.5, 2, size=90)
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=1)
    balanced = fastmlp.MLPClassifier(class_weight="balanced", **params)
    balanced.fit(X, y, sample_weight=sample_weight)
    combined = sample_weight * compute_sample_weight("balanced", y)
    reference = fastmlp.MLPClassifier(**params).fit(X, y, sample_weight=combined)
    for a, b in zip(balanced.coefs_, reference.coefs_):
        assert_array_equal(a, b)


def test_class_weight_errors():
    X, y, _ = make_data("multilabel")
    with pytest.raises(ValueError, match="multilabel"):
        fastmlp.MLPClassifier(class_weight="balanced", max_iter=2).fit(X, y)
    X, y, _ = make_data("multiclass")
    est = fastmlp.MLPClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="partial_fit"):
        est.partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="class_weight"):
        fastmlp.MLPClassifier(class_weight="auto").fit(X, y)


# ----------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------
def _reference_activation(name, x):
    from scipy.special import erf, expit

    return {
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "elu": np.where(x > 0, x, np.expm1(x)),
        "gelu": 0.5 * x * (1 + erf(x / np.sqrt(2))),
        "silu": x * expit(x),
        "softplus": np.logaddexp(0, x),
    }[name]


@pytest.mark.kernel
@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.usefixtures("extra_activations_ready")
def test_extra_activation_forward_matches_reference(name, dtype):
    from fastmlp._kernels.activations import activate

    x = np.linspace(-6, 6, 97).reshape(1, -1).astype(dtype)
    z = x.copy()
    activate(z, ACTIVATION_CODES[name])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(
        z, _reference_activation(name, x.astype(np.float64)), rtol=rtol, atol=rtol
    )


@pytest.mark.kernel
@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
def test_extra_activation_gradients_by_finite_differences(name):
    rng = np.random.RandomState(0)
    layout = ParameterLayout([4, 5, 3, 1])
    net = make_net(layout, ACTIVATION_CODES[name], IDENTITY, SQUARED_ERROR, 0.01)
    work = make_work(layout, 7, np.float64, pre_activations=True)
    x = rng.normal(size=(7, 4))
    y = rng.normal(size=(7, 1))
    sw = rng.uniform(0.5, 2, size=7)
    params = rng.uniform(-1, 1, size=layout.size)
    grads = np.zeros_like(params)
    loss_grad_dense(x, y, sw, True, params, grads, net, work)
    numeric = np.empty_like(params)
    step = 1e-6
    for k in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[k] += step
        minus[k] -= step
        scratch = np.zeros_like(params)
        numeric[k] = (
            loss_grad_dense(x, y, sw, True, plus, scratch, net, work)
            - loss_grad_dense(x, y, sw, True, minus, scratch, net, work)
        ) / (2 * step)
    assert_allclose(grads, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
def test_extra_activations_train(name):
    X, y, _ = make_data("multiclass", n_samples=120)
    est = fastmlp.MLPClassifier(
        hidden_layer_sizes=(16,),
        activation=name,
        max_iter=60,
        random_state=0,
        learning_rate_init=0.01,
    ).fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert est.score(X, y) > 0.8


def test_sklearn_activations_still_validated():
    X, y, _ = make_data("multiclass")
    with pytest.raises(ValueError, match="activation"):
        fastmlp.MLPClassifier(activation="swish").fit(X, y)


# ----------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------
def test_dropout_is_reproducible_and_off_at_predict():
    X, y, _ = make_data("multiclass", n_samples=100)
    params = dict(hidden_layer_sizes=(20, 10), dropout=0.3, max_iter=5, random_state=0)
    first = fastmlp.MLPClassifier(**params).fit(X, y)
    second = fastmlp.MLPClassifier(**params).fit(X, y)
    for a, b in zip(first.coefs_, second.coefs_):
        assert_array_equal(a, b)
    plain = fastmlp.MLPClassifier(**{**params, "dropout": 0.0}).fit(X, y)
    assert not np.allclose(first.coefs_[0], plain.coefs_[0])
    assert_array_equal(first.predict_proba(X), first.predict_proba(X))


def test_dropout_rejected_with_lbfgs():
    X, y, _ = make_data("multiclass")
    with pytest.raises(ValueError, match="dropout"):
        fastmlp.MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)


@njit
def _seeded_loss_grad(seed, x, y, sw, params, grads, net, work):
    np.random.seed(seed)  # noqa: NPY002 - the same mask for every evaluation
    return loss_grad_dense(x, y, sw, False, params, grads, net, work)


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "gelu"])
def test_dropout_gradient_by_finite_differences(activation):
    rng = np.random.RandomState(1)
    layout = ParameterLayout([3, 6, 5, 2])
    net = make_net(
        layout, ACTIVATION_CODES[activation], IDENTITY, SQUARED_ERROR, 0.0, dropout=0.4
    )
    work = make_work(layout, 5, np.float64, pre_activations=True, masks=True)
    x = rng.normal(size=(5, 3))
    y = rng.normal(size=(5, 2))
    sw = np.ones(5)
    params = rng.uniform(-1, 1, size=layout.size)
    grads = np.zeros_like(params)
    _seeded_loss_grad(7, x, y, sw, params, grads, net, work)
    assert np.any(work[4] == 0.0), "some units must be dropped"
    numeric = np.empty_like(params)
    scratch = np.zeros_like(params)
    for k in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[k] += 1e-6
        minus[k] -= 1e-6
        numeric[k] = (
            _seeded_loss_grad(7, x, y, sw, plus, scratch, net, work)
            - _seeded_loss_grad(7, x, y, sw, minus, scratch, net, work)
        ) / 2e-6
    # alpha = 0 and 2 outputs: sklearn's squared_error gradient is n_outputs times
    # the derivative of its loss (a quirk fastmlp reproduces)
    assert_allclose(grads, 2 * numeric, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------
# a validation set of one's own, validation_loss_curve_
# ----------------------------------------------------------------------------
def _manual_loss(est, X, y_binarized, alpha):
    output = est._forward_pass_fast(X)
    name = "binary_log_loss" if est.out_activation_ == "logistic" else "log_loss"
    if est.out_activation_ == "identity":
        name = "squared_error"
    loss = LOSS_FUNCTIONS[name](y_binarized, output)
    penalty = sum(np.sum(c * c) for c in est.coefs_)
    return loss + 0.5 * alpha * penalty / X.shape[0]


@pytest.mark.parametrize("target", ["multiclass", "binary_str", "regression"])
def test_validation_loss_curve_matches_manual_computation(target):
    X, y, is_classifier = make_data(target, n_samples=120)
    X_val, y_val, _ = make_data(target, n_samples=40, seed=9)
    cls = fastmlp.MLPClassifier if is_classifier else fastmlp.MLPRegressor
    est = cls(hidden_layer_sizes=(6,), max_iter=4, random_state=0, alpha=0.01)
    est.fit(X, y, X_val=X_val, y_val=y_val)
    assert len(est.validation_loss_curve_) == est.n_iter_ == 4
    if is_classifier:
        Y_val = est._label_binarizer.transform(y_val)
    else:
        Y_val = y_val.reshape(-1, 1)
    assert_allclose(
        est.validation_loss_curve_[-1],
        _manual_loss(est, X_val, Y_val, 0.01),
        rtol=1e-10,
    )
    # without early stopping the user's set changes nothing but the curve
    plain = cls(hidden_layer_sizes=(6,), max_iter=4, random_state=0, alpha=0.01)
    plain.fit(X, y)
    for a, b in zip(est.coefs_, plain.coefs_):
        assert_array_equal(a, b)
    assert plain.validation_loss_curve_ == []


def test_user_validation_set_drives_early_stopping():
    X, y, _ = make_data("multiclass", n_samples=150)
    X_val, y_val, _ = make_data("multiclass", n_samples=50, seed=5)
    est = fastmlp.MLPClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        max_iter=30,
        random_state=0,
        n_iter_no_change=3,
        learning_rate_init=0.05,
    ).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(est.validation_scores_) == est.n_iter_
    # the best score is the accuracy of the kept weights on the user's set
    assert est.best_validation_score_ == pytest.approx(est.score(X_val, y_val))
    assert len(est.validation_loss_curve_) == est.n_iter_


def test_validation_curve_with_random_split():
    X, y, _ = make_data("regression", n_samples=100)
    est = fastmlp.MLPRegressor(
        hidden_layer_sizes=(5,), early_stopping=True, max_iter=6, random_state=0
    ).fit(X, y)
    assert len(est.validation_loss_curve_) == est.n_iter_
    assert np.all(np.isfinite(est.validation_loss_curve_))


def test_validation_set_errors():
    X, y, _ = make_data("multiclass", n_samples=60)
    est = fastmlp.MLPClassifier(max_iter=2)
    with pytest.raises(ValueError, match="together"):
        est.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="features"):
        est.fit(X, y, X_val=X[:, :3], y_val=y)
    with pytest.raises(ValueError, match="classes"):
        est.fit(X, y, X_val=X, y_val=y + 10)


# ----------------------------------------------------------------------------
# n_jobs
# ----------------------------------------------------------------------------
def test_n_jobs_restores_blas_threads():
    before = [(p["filepath"], p["num_threads"]) for p in threadpool_info()]
    X, y, _ = make_data("multiclass")
    fastmlp.MLPClassifier(max_iter=2, n_jobs=1).fit(X, y).predict(X)
    after = [(p["filepath"], p["num_threads"]) for p in threadpool_info()]
    assert before == after
