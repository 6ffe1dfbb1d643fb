"""The NumPy reference (``tests/reference.py``) against scikit-learn itself."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.neural_network._base import ACTIVATIONS as SK_ACTIVATIONS
from sklearn.neural_network._base import DERIVATIVES as SK_DERIVATIVES
from sklearn.neural_network._base import LOSS_FUNCTIONS as SK_LOSSES
from sklearn.neural_network._stochastic_optimizers import (
    AdamOptimizer as SkAdam,
)
from sklearn.neural_network._stochastic_optimizers import (
    SGDOptimizer as SkSGD,
)
from sklearn.utils import shuffle as sk_shuffle

from tests import reference as ref
from tests.kernels._helpers import DTYPES, OUTPUT_SIZES, Problem, make_targets

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_activations_and_losses_are_sklearns(dtype):
    rng = np.random.default_rng(21)
    z = rng.normal(size=(6, 3)).astype(dtype)
    for name in SK_ACTIVATIONS:
        want = z.copy()
        SK_ACTIVATIONS[name](want)
        assert_array_equal(ref.activate(z, name), want)
    delta = rng.normal(size=(6, 3)).astype(dtype)
    for name in ref.SKLEARN_HIDDEN_ACTIVATIONS:
        activated = ref.activate(z, name)
        want = delta.copy()
        SK_DERIVATIVES[name](activated, want)
        assert_array_equal(ref.derivative(activated, delta, name), want)
    sample_weight = rng.uniform(0.5, 2.0, 6).astype(dtype)
    for name in ref.LOSSES:
        n_outputs = 3 if name == "log_loss" else 2
        y_pred = ref.activate(z[:, :n_outputs], ref.OUTPUT_ACTIVATION[name])
        y_true = make_targets(rng, name, 6, n_outputs, dtype)
        for weight in (None, sample_weight):
            want = SK_LOSSES[name](y_true, y_pred, weight)
            assert ref.loss(name, y_true, y_pred, weight) == want


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_reference_backprop_is_sklearns(dtype, loss_name, storage):
    problem = Problem(
        22,
        4,
        (5, 3),
        OUTPUT_SIZES[loss_name][1],
        7,
        dtype,
        hidden="tanh",
        loss_name=loss_name,
        weighted=True,
        alpha=0.2,
        sparse=storage == "csr",
    )
    estimator = MLPClassifier() if "log_loss" in loss_name else MLPRegressor()
    estimator.loss = "poisson" if loss_name == "poisson" else estimator.loss
    estimator.activation = "tanh"
    estimator.alpha = 0.2
    estimator.out_activation_ = problem.output
    estimator.coefs_, estimator.intercepts_ = problem.reference_params()
    estimator.n_layers_ = problem.layout.n_layers
    X = problem.reference_input()
    n = problem.layout.n_layers
    loss, coef_grads, intercept_grads = estimator._backprop(
        X,
        problem.Y,
        problem.sample_weight,
        [X] + [None] * (n - 1),
        [None] * (n - 1),
        [None] * (n - 1),
        [None] * (n - 1),
    )
    want = problem.backprop()
    assert want.loss == loss
    for got, expected in zip(
        want.coef_grads + want.intercept_grads,
        coef_grads + intercept_grads,
        strict=True,
    ):
        assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "sgd-plain", "adam"])
def test_reference_optimizers_are_sklearns(dtype, solver):
    rng = np.random.default_rng(23)
    start = [rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=2).astype(dtype)]
    ours = [a.copy() for a in start]
    theirs = [a.copy() for a in start]
    if solver == "adam":
        optimizer = ref.Adam(ours, 0.01, 0.9, 0.999, 1e-8)
        sk_optimizer = SkAdam(theirs, 0.01, 0.9, 0.999, 1e-8)
    else:
        nesterov = solver == "sgd"
        optimizer = ref.SGD(ours, 0.05, 0.9, nesterov)
        sk_optimizer = SkSGD(theirs, 0.05, "constant", 0.9, nesterov)
    for _ in range(4):
        grads = [rng.normal(size=a.shape).astype(dtype) for a in start]
        optimizer.update_params(ours, grads)
        sk_optimizer.update_params(theirs, grads)
        for a, b in zip(ours, theirs, strict=True):
            assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("classifier", [False, True])
def test_reference_epoch_is_sklearns(dtype, solver, classifier):
    """One epoch of a real warm-started fit equals ``ref.run_epoch``."""
    rng = np.random.default_rng(24)
    X = rng.normal(size=(23, 4)).astype(dtype)
    # In the data's dtype: sklearn keeps float64 weights with float32 X.
    sample_weight = rng.uniform(0.5, 2.0, 23).astype(dtype)
    if classifier:
        y = rng.integers(0, 3, 23)
        Estimator = MLPClassifier
    else:
        y = rng.normal(size=(23, 2))
        Estimator = MLPRegressor
    estimator = Estimator(
        hidden_layer_sizes=(5, 3),
        solver=solver,
        batch_size=5,
        max_iter=1,
        random_state=0,
        warm_start=True,
        learning_rate_init=0.01,
        alpha=0.01,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y, sample_weight=sample_weight)
        coefs = [c.copy() for c in estimator.coefs_]
        intercepts = [i.copy() for i in estimator.intercepts_]
        # The second fit starts from these weights with a new optimizer and a new
        # RandomState(0), whose first use is the epoch's shuffle.
        estimator.fit(X, y, sample_weight=sample_weight)
    order = sk_shuffle(np.arange(23), random_state=0)
    # sklearn keeps a regressor's y in float64 whatever X's dtype (so with
    # float32 X its deltas, gradients and SGD velocities are float64); the
    # reference, plain NumPy, promotes the same way when given the same y.
    Y = np.eye(3, dtype=dtype)[y] if classifier else y
    params = coefs + intercepts
    if solver == "adam":
        optimizer = ref.Adam(params, 0.01, 0.9, 0.999, 1e-8)
    else:
        optimizer = ref.SGD(params, 0.01, 0.9, True)
    accumulated = ref.run_epoch(
        X,
        Y,
        sample_weight,
        order,
        True,
        5,
        coefs,
        intercepts,
        "relu",
        estimator.out_activation_,
        "log_loss" if classifier else "squared_error",
        0.01,
        optimizer,
    )
    assert_allclose(
        accumulated / 23, estimator.loss_, rtol=1e-6 if dtype == np.float32 else 1e-15
    )
    for got, want in zip(
        coefs + intercepts, estimator.coefs_ + estimator.intercepts_, strict=True
    ):
        assert_array_equal(got, want)
