"""The backward pass against central finite differences of the loss.

``loss_grad_dense`` and ``loss_grad_sparse`` return a loss and write its
gradient; here every parameter is nudged both ways and the kernel's own loss
differenced. This checks the backward pass against the forward pass, whatever
the reference says.

One relation is not "the gradient is the derivative": scikit-learn's squared
error loss is ``0.5 * mean over outputs of the weighted mean over rows``, but
its output delta is ``y_pred - y_true`` without the ``1 / n_outputs``. So with
``n_outputs`` outputs the data part of the gradient is ``n_outputs`` times the
derivative of the data part of the loss, while the L2 part is unscaled:

    grad = n_outputs * d(loss - penalty) + d(penalty)
         = d(n_outputs * loss - (n_outputs - 1) * penalty)

fastmlp reproduces this on purpose (parity with scikit-learn), and the tests
below check exactly that relation.

Every hidden activation is covered, scikit-learn's four and fastmlp's own;
draws keep every hidden pre-activation away from 0, where relu and leaky_relu
have kinks. With dropout the generator is reseeded before each evaluation, so
the same units are dropped and the loss is a smooth function of the parameters.
"""

import numba
import numpy as np
import pytest

from fastmlp._engine.buffers import make_net, make_work
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels.activations import ACTIVATION_CODES
from fastmlp._kernels.losses import LOSS_CODES
from fastmlp._kernels.passes import loss_grad_dense, loss_grad_sparse
from tests import reference as ref
from tests.kernels._helpers import cases_in_turn

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]

N_ROWS = 6
N_FEATURES = 3
HIDDEN = (4, 3)
ALPHA = 0.3
DROPOUT_SEED = 11
OUTPUTS = {"squared_error": 3, "poisson": 2, "log_loss": 3, "binary_log_loss": 2}
# Finite-difference step, distance every hidden pre-activation must keep from
# relu's kink at 0 (so that no step crosses it), and the largest relative error
# (max |fd - grad| / max |grad|) allowed.
SETTINGS = {
    np.dtype(np.float64): {"step": 1e-6, "margin": 1e-3, "tolerance": 1e-7},
    np.dtype(np.float32): {"step": 4e-3, "margin": 0.05, "tolerance": 1e-3},
}


def make_csr(dense):
    """``dense`` as unsorted CSR parts with an explicit zero in each non-empty row."""
    indptr, indices, data = [0], [], []
    for row in dense:
        columns = [int(c) for c in np.flatnonzero(row)][::-1]
        zeros = [c for c in range(dense.shape[1]) if c not in columns]
        values = [row[c] for c in columns]
        if zeros and columns:
            columns.insert(1, zeros[0])
            values.insert(1, 0.0)
        indices.extend(columns)
        data.extend(values)
        indptr.append(len(indices))
    return (
        np.asarray(indptr, dtype=np.int32),
        np.asarray(indices, dtype=np.int32),
        np.asarray(data, dtype=dense.dtype),
    )


def hidden_pre_activations(X, coefs, intercepts, hidden, masks=None):
    """Every hidden layer's ``z = a @ W + b``, before its activation."""
    passed = ref.forward(X, coefs, intercepts, hidden, "identity", masks)
    return passed.pre_activations[:-1]


class GradientCase:
    """A small network and batch whose loss is smooth around its parameters."""

    def __init__(
        self,
        dtype,
        hidden,
        loss_name,
        weighted,
        storage,
        n_outputs=None,
        seed=0,
        dropout=0.0,
    ):
        self.dtype = np.dtype(dtype)
        settings = SETTINGS[self.dtype]
        n_outputs = n_outputs or OUTPUTS[loss_name]
        self.n_outputs = n_outputs
        self.layout = ParameterLayout([N_FEATURES, *HIDDEN, n_outputs])
        output = ref.OUTPUT_ACTIVATION[loss_name]
        self.net = make_net(
            self.layout,
            ACTIVATION_CODES[hidden],
            ACTIVATION_CODES[output],
            LOSS_CODES[loss_name],
            ALPHA,
            dropout,
        )
        self.dropout = dropout
        # Draw until every hidden pre-activation of the batch, as the kernel
        # sees it (rows in batch order, dropout masks applied), is far from 0,
        # where relu and leaky_relu have kinks (and elu one in its curvature).
        masks = None
        if dropout > 0:
            # numba's generator, seeded alike, draws what RandomState draws.
            shapes = [(N_ROWS, units) for units in HIDDEN]
            masks = ref.dropout_masks(
                np.random.RandomState(DROPOUT_SEED), shapes, dropout, np.float64
            )
        for attempt in range(500):
            rng = np.random.default_rng(1000 * seed + attempt)
            X = rng.normal(size=(N_ROWS, N_FEATURES))
            if storage == "csr":
                X[rng.random(X.shape) < 0.3] = 0.0
            X = X.astype(dtype)
            params = rng.normal(0.0, 0.5, self.layout.size).astype(dtype)
            # CSR: the batch is rows 3.. of a larger matrix, taken in an order
            # of their own.
            rows = (3 + rng.permutation(N_ROWS)).astype(np.int64)
            full = np.vstack([rng.normal(size=(3, N_FEATURES)).astype(dtype), X])
            batch = full[rows] if storage == "csr" else X
            coefs, intercepts = self.layout.views(params.astype(np.float64))
            z = hidden_pre_activations(
                batch.astype(np.float64), coefs, intercepts, hidden, masks
            )
            if min(np.abs(layer).min() for layer in z) > settings["margin"]:
                break
        else:
            raise AssertionError("no draw kept away from relu's kink")
        self.params = params
        self.X = batch
        if storage == "csr":
            self.rows = rows
            self.csr = make_csr(full)
        if loss_name == "squared_error":
            Y = rng.normal(size=(N_ROWS, n_outputs))
        elif loss_name == "poisson":
            Y = rng.poisson(1.0, size=(N_ROWS, n_outputs)).astype(float)
            Y[0, 0] = 0.0
        elif loss_name == "log_loss":
            Y = np.eye(n_outputs)[rng.integers(0, n_outputs, N_ROWS)]
        else:
            Y = rng.integers(0, 2, size=(N_ROWS, n_outputs)).astype(float)
        self.Y = Y.astype(dtype)
        self.weighted = weighted
        self.sample_weight = (
            rng.uniform(0.2, 2.0, N_ROWS) if weighted else np.ones(N_ROWS)
        ).astype(dtype)
        self.storage = storage
        self.work = make_work(
            self.layout,
            N_ROWS,
            dtype,
            pre_activations=hidden in ref.NEEDS_PRE_ACTIVATION,
            masks=dropout > 0,
        )
        self.grads = np.empty(self.layout.size, dtype=dtype)

    def loss_grad(self, params):
        """The kernel's loss at ``params``; the gradient lands in ``self.grads``.

        With dropout, the generator is seeded first, so that every call drops
        the same units and the loss is a smooth function of ``params``.
        """
        if self.dropout > 0:
            seed_kernel_random(DROPOUT_SEED)
        if self.storage == "csr":
            return loss_grad_sparse(
                self.csr,
                self.rows,
                self.Y,
                self.sample_weight,
                self.weighted,
                params,
                self.grads,
                self.net,
                self.work,
            )
        return loss_grad_dense(
            self.X,
            self.Y,
            self.sample_weight,
            self.weighted,
            params,
            self.grads,
            self.net,
            self.work,
        )

    def penalty(self, params):
        """The L2 term of the loss, in float64."""
        coefs, _ = self.layout.views(params.astype(np.float64))
        weight_sum = float(self.sample_weight.astype(np.float64).sum())
        return ref.l2_penalty(coefs, ALPHA, weight_sum)

    def finite_differences(self, objective):
        """Central differences of ``objective(params)`` for every parameter."""
        step = SETTINGS[self.dtype]["step"]
        result = np.empty(self.layout.size)
        for k in range(self.layout.size):
            plus = self.params.copy()
            minus = self.params.copy()
            plus[k] += step
            minus[k] -= step
            # The step actually taken, after rounding to the dtype.
            taken = float(plus[k]) - float(minus[k])
            result[k] = (objective(plus) - objective(minus)) / taken
        return result


@numba.njit
def seed_kernel_random(seed):
    """Seed the generator dropout draws from (numba's, or NumPy's when interpreted)."""
    np.random.seed(seed)  # noqa: NPY002 - numba's generator, as the kernels


def relative_error(approximation, exact):
    return np.abs(approximation - exact).max() / np.abs(exact).max()


@pytest.mark.parametrize(
    ("hidden", "loss_name", "dtype", "weighted", "storage"),
    # interpreted, each activation and loss meets one of the eight in turn
    cases_in_turn(
        [ref.HIDDEN_ACTIVATIONS, ref.LOSSES],
        [
            (
                [np.float64, np.float32][k % 2],
                bool(k // 2 % 2),
                ["dense", "csr"][k // 4],
            )
            for k in range(8)
        ],
    ),
)
def test_gradient_is_derivative_of_loss(dtype, hidden, loss_name, weighted, storage):
    case = GradientCase(dtype, hidden, loss_name, weighted, storage)
    case.loss_grad(case.params)
    grad = case.grads.astype(np.float64)
    assert np.isfinite(grad).all()

    if loss_name == "squared_error":
        # sklearn's quirk: the data term's gradient is n_outputs times its
        # derivative (see the module docstring).
        n = case.n_outputs

        def objective(params):
            return n * case.loss_grad(params) - (n - 1) * case.penalty(params)
    else:
        objective = case.loss_grad

    numeric = case.finite_differences(objective)
    tolerance = SETTINGS[np.dtype(dtype)]["tolerance"]
    assert relative_error(numeric, grad) < tolerance


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("hidden", "loss_name", "rate"),
    [
        ("relu", "log_loss", 0.3),
        ("gelu", "squared_error", 0.5),
        ("silu", "binary_log_loss", 0.2),
        ("tanh", "poisson", 0.4),
    ],
)
@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_gradient_with_dropout(dtype, hidden, loss_name, rate, storage):
    # The same units dropped at every evaluation: the gradient of the thinned
    # network is the derivative of its loss.
    case = GradientCase(dtype, hidden, loss_name, True, storage, dropout=rate)
    case.loss_grad(case.params)
    grad = case.grads.astype(np.float64)
    masks = case.work[4][: N_ROWS * sum(HIDDEN)]
    assert (masks == 0).any() and (masks != 0).any()
    if loss_name == "squared_error":
        n = case.n_outputs

        def objective(params):
            return n * case.loss_grad(params) - (n - 1) * case.penalty(params)
    else:
        objective = case.loss_grad
    numeric = case.finite_differences(objective)
    assert relative_error(numeric, grad) < SETTINGS[np.dtype(dtype)]["tolerance"]


@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_multi_output_squared_error_gradient_is_not_its_loss_derivative(storage):
    """The quirk is real: with 3 outputs the plain derivative is off by ~3x."""
    case = GradientCase(np.float64, "tanh", "squared_error", True, storage)
    assert case.n_outputs == 3
    case.loss_grad(case.params)
    grad = case.grads.copy()
    derivative = case.finite_differences(case.loss_grad)
    penalty = case.finite_differences(case.penalty)
    # Not the derivative of the loss ...
    assert relative_error(derivative, grad) > 0.1
    # ... but n_outputs times the data term's derivative plus the penalty's.
    assert relative_error(3 * (derivative - penalty) + penalty, grad) < 1e-6


@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_single_output_squared_error_gradient_is_its_loss_derivative(storage):
    case = GradientCase(np.float64, "logistic", "squared_error", True, storage, 1)
    case.loss_grad(case.params)
    grad = case.grads.copy()
    assert relative_error(case.finite_differences(case.loss_grad), grad) < 1e-6
