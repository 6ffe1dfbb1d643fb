"""Every compiled kernel against its plain-NumPy twin in ``tests/reference.py``.

Float64 results must agree to about 1e-12 (BLAS summation order is the only
freedom), float32 results to about 1e-5. Shapes are small so that the whole
module also runs quickly with ``NUMBA_DISABLE_JIT=1``; they include one-row
batches, one output unit, no hidden layer and three hidden layers. Work and
gradient buffers start filled with NaN, so a value the kernel forgets to write
shows up, and the sample weights passed with ``has_weight=False`` are NaN, so a
kernel that reads them shows up too. CSR inputs carry explicit zeros, a
duplicated entry, empty rows and unsorted indices. Dropout masks are compared
draw for draw: numba's generator, seeded like a ``RandomState``, draws the same
numbers.

``test_every_kernel_is_tested`` lists every function of every kernel module: a
new kernel fails it until it gets a test here. The last section checks the
reference itself against scikit-learn's private functions and one real epoch of
``MLPRegressor``/``MLPClassifier``.
"""

import importlib
import inspect
import itertools
import pkgutil
import re
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import xlogy as scipy_xlogy
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

import fastmlp._kernels
from fastmlp._engine import solvers
from fastmlp._engine import training as engine_module
from fastmlp._engine.buffers import make_net, make_work, transposed_scratch_size
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels import activations as activations_kernels
from fastmlp._kernels import blas as blas_kernels
from fastmlp._kernels import epoch as epoch_kernels
from fastmlp._kernels import extra_activations
from fastmlp._kernels import layers as layer_kernels
from fastmlp._kernels import losses as losses_kernels
from fastmlp._kernels import optimizers as optimizer_kernels
from fastmlp._kernels import passes as pass_kernels
from fastmlp._kernels import predict as predict_kernels
from fastmlp._kernels import tiles as tiles_kernels
from fastmlp._kernels.activations import ACTIVATION_CODES
from fastmlp._kernels.losses import LOSS_CODES
from fastmlp._kernels.optimizers import ADAM, SGD
from tests import reference as ref

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]

DTYPES = [np.float64, np.float32]
TOLERANCE = {
    np.dtype(np.float64): (1e-12, 1e-13),
    np.dtype(np.float32): (1e-5, 1e-6),
}

# (n_features, hidden_layer_sizes, index into the loss's output sizes, batch
# rows, weighted)
SHAPES = [
    (3, (), 0, 5, True),
    (4, (5,), 1, 1, False),
    (3, (4, 3), 0, 6, False),
    (5, (3, 4, 2), 1, 1, True),
]
SHAPE_IDS = [
    "no-hidden-weighted",
    "1-hidden-1-row",
    "2-hidden",
    "3-hidden-1-row-weighted",
]
# Output units tried for each loss (log_loss is softmax's: two classes or more).
OUTPUT_SIZES = {
    "squared_error": (1, 3),
    "poisson": (1, 2),
    "log_loss": (3, 2),
    "binary_log_loss": (1, 3),
}


def assert_close(got, want, dtype, scale=None):
    """``got`` equals ``want`` to ``dtype``'s tolerance, relative to their scale."""
    rtol, atol = TOLERANCE[np.dtype(dtype)]
    want = np.asarray(want, dtype=np.float64)
    if scale is None:
        finite = np.abs(want[np.isfinite(want)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
    assert_allclose(
        np.asarray(got, dtype=np.float64), want, rtol=rtol, atol=atol * scale
    )


def nan_work(layout, max_rows, dtype, pre_activations=False, masks=False, n_parts=1):
    """``make_work`` with every buffer filled with NaN."""
    work = make_work(
        layout,
        max_rows,
        dtype,
        pre_activations=pre_activations,
        masks=masks,
        n_parts=n_parts,
    )
    for buffer in work:
        if buffer.dtype == np.dtype(dtype):
            buffer.fill(np.nan)
    return work


def seed_kernel_random(seed):
    """Seed the generator the kernels draw dropout from.

    Numba's own per-thread generator when compiled (seeded from compiled
    code), NumPy's global one when ``NUMBA_DISABLE_JIT=1``.
    """
    _seed_kernel_random(seed)


@numba.njit
def _seed_kernel_random(seed):
    np.random.seed(seed)  # noqa: NPY002 - numba's generator, as the kernels


def make_targets(rng, loss_name, n_rows, n_outputs, dtype):
    """Targets a loss accepts: one-hot rows for log_loss, 0/1 for binary, counts."""
    if loss_name == "squared_error":
        y = rng.normal(size=(n_rows, n_outputs))
    elif loss_name == "poisson":
        y = rng.poisson(1.0, size=(n_rows, n_outputs)).astype(np.float64)
        y[0, 0] = 0.0
    elif loss_name == "log_loss":
        y = np.eye(n_outputs)[rng.integers(0, n_outputs, n_rows)]
    else:
        y = rng.integers(0, 2, size=(n_rows, n_outputs)).astype(np.float64)
    return np.ascontiguousarray(y, dtype=dtype)


def make_csr(rng, n_rows, n_cols, dtype, index_dtype=np.int32):
    """A CSR matrix with explicit zeros, a duplicate, empty and unsorted rows.

    Returns ``(csr, matrix, dense)``: the kernels' ``(indptr, indices, data)``,
    the same non-canonical ``scipy.sparse.csr_matrix``, and its dense value.
    """
    indptr = [0]
    indices = []
    data = []
    for row in range(n_rows):
        if row % 4 == 2:
            indptr.append(len(indices))  # an empty row
            continue
        count = rng.integers(min(2, n_cols), n_cols + 1)
        columns = list(rng.choice(n_cols, size=count, replace=False))
        values = list(rng.normal(size=count))
        if row % 3 == 0:
            values[0] = 0.0  # an explicit zero
        if row == 1:
            columns.append(columns[0])  # a duplicate entry: summed
            values.append(0.5)
        columns = columns[::-1] if columns == sorted(columns) else columns
        indices.extend(columns)
        data.extend(values)
        indptr.append(len(indices))
    csr = (
        np.asarray(indptr, dtype=index_dtype),
        np.asarray(indices, dtype=index_dtype),
        np.asarray(data, dtype=dtype),
    )
    matrix = sp.csr_matrix((csr[2], csr[1], csr[0]), shape=(n_rows, n_cols))
    assert n_cols < 2 or not matrix.has_sorted_indices
    dense = matrix.toarray()
    return csr, matrix, dense


class Problem:
    """A network, its flat parameters, a batch and the matching kernel tuples."""

    def __init__(
        self,
        seed,
        n_features,
        hidden_sizes,
        n_outputs,
        n_rows,
        dtype,
        hidden="tanh",
        loss_name="squared_error",
        weighted=False,
        alpha=0.1,
        sparse=False,
        max_rows=None,
        param_scale=0.6,
        dropout=0.0,
        n_parts=1,
    ):
        rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        self.hidden = hidden
        self.loss_name = loss_name
        self.output = ref.OUTPUT_ACTIVATION[loss_name]
        self.alpha = alpha
        self.layout = ParameterLayout([n_features, *hidden_sizes, n_outputs])
        self.net = make_net(
            self.layout,
            ACTIVATION_CODES[hidden],
            ACTIVATION_CODES[self.output],
            LOSS_CODES[loss_name],
            alpha,
            dropout,
        )
        self.dropout = dropout
        self.params = rng.normal(0.0, param_scale, self.layout.size).astype(dtype)
        if sparse:
            self.csr, self.matrix, self.X = make_csr(rng, n_rows, n_features, dtype)
        else:
            self.X = rng.normal(size=(n_rows, n_features)).astype(dtype)
        self.Y = make_targets(rng, loss_name, n_rows, n_outputs, dtype)
        self.weighted = weighted
        if weighted:
            self.sample_weight = rng.uniform(0.2, 2.0, n_rows).astype(dtype)
            self.kernel_weight = self.sample_weight
        else:
            self.sample_weight = None
            self.kernel_weight = np.full(n_rows, np.nan, dtype=dtype)
        self.work = nan_work(
            self.layout,
            max_rows or n_rows,
            dtype,
            pre_activations=hidden in ref.NEEDS_PRE_ACTIVATION,
            masks=dropout > 0,
            n_parts=n_parts,
        )
        self.grads = np.full(self.layout.size, np.nan, dtype=dtype)

    def reference_params(self, params=None):
        """``(coefs, intercepts)`` lists, copies of ``params`` (default: ours)."""
        flat = (self.params if params is None else params).copy()
        return self.layout.views(flat)

    def reference_input(self):
        return self.matrix if hasattr(self, "matrix") else self.X

    def masks(self, n_rows):
        """The dropout masks the last forward pass left in the workspace."""
        return [
            layer_kernels.layer_view(
                self.work[4], self.net, self.work[2], layer, n_rows
            )
            for layer in range(self.layout.n_layers - 2)
        ]

    def backprop(self, X=None, Y=None, sample_weight=None, params=None, masks=None):
        coefs, intercepts = self.reference_params(params)
        return ref.backprop(
            self.reference_input() if X is None else X,
            self.Y if Y is None else Y,
            coefs,
            intercepts,
            self.hidden,
            self.output,
            self.loss_name,
            self.alpha,
            self.sample_weight if sample_weight is None else sample_weight,
            masks,
        )

    def pack(self, coefs, intercepts):
        return self.layout.pack(coefs, intercepts, self.dtype)


def shape_problem(shape, dtype, hidden, loss_name, weighted=None, seed=0, **kwargs):
    n_features, hidden_sizes, output_index, n_rows, shape_weighted = shape
    weighted = shape_weighted if weighted is None else weighted
    return Problem(
        seed,
        n_features,
        hidden_sizes,
        OUTPUT_SIZES[loss_name][output_index],
        n_rows,
        dtype,
        hidden=hidden,
        loss_name=loss_name,
        weighted=weighted,
        **kwargs,
    )


# ----------------------------------------------------------------------------
# activations.py
# ----------------------------------------------------------------------------


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (6, 4)])
def test_add_bias_activate(dtype, name, shape):
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 3.0, shape).astype(dtype)
    bias = rng.normal(0.0, 1.0, shape[1]).astype(dtype)
    want = ref.activate(z + bias, name)
    got = z.copy()
    activations_kernels.add_bias_activate(got, bias, ACTIVATION_CODES[name], got[:0])
    assert got.dtype == dtype
    assert_close(got, want, dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_add_bias_activate_extreme_values(dtype, name):
    z = np.array(
        [[-800.0, -100.0, -1.0, 0.0, 1.0, 100.0, 800.0], [0.0] * 7], dtype=np.float64
    )
    z = z.astype(dtype)
    bias = np.zeros(7, dtype=dtype)
    with np.errstate(over="ignore", under="ignore"):
        want = ref.activate(z + bias, name)
        got = z.copy()
        activations_kernels.add_bias_activate(
            got, bias, ACTIVATION_CODES[name], got[:0]
        )
    assert not np.isnan(got).any()
    assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite], dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_add_bias_activate_propagates_nan(dtype, name):
    # NaN stays NaN (np.maximum(nan, 0) is nan): fit's finiteness check sees it.
    z = np.array([[np.nan, 0.5, -0.5], [0.3, -0.2, 0.1]], dtype=dtype)
    bias = np.array([0.1, np.nan, 0.0], dtype=dtype)
    with np.errstate(invalid="ignore"):
        want = ref.activate(z + bias, name)
        got = z.copy()
        activations_kernels.add_bias_activate(
            got, bias, ACTIVATION_CODES[name], got[:0]
        )
    assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[0, 0]) and np.isnan(got[1, 1])
    finite = ~np.isnan(want)
    assert_close(got[finite], want[finite], dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_add_bias_activate_stores_the_derivative_when_asked(dtype, name):
    # the work tuple's pre-activation buffer is given only for GELU and SiLU
    # (needs_pre_activation), and receives their derivative at z + bias
    rng = np.random.default_rng(2)
    z = rng.normal(0.0, 3.0, (5, 3)).astype(dtype)
    bias = rng.normal(0.0, 1.0, 3).astype(dtype)
    got = z.copy()
    pre = np.full_like(z, np.nan)
    activations_kernels.add_bias_activate(got, bias, ACTIVATION_CODES[name], pre)
    activated = ref.activate(z + bias, name)
    assert_close(got, activated, dtype)
    if name in ref.NEEDS_PRE_ACTIVATION:
        ones = np.ones_like(z)
        derivative = ref.derivative(activated, ones, name, z + bias)
        assert_close(pre, derivative, dtype)
        # the same bits as multiplying by the derivative computed afterwards
        delta = rng.normal(size=z.shape).astype(dtype)
        stored = delta.copy()
        activations_kernels.multiply_derivative(
            got, pre, stored, ACTIVATION_CODES[name]
        )
        assert_array_equal(stored, delta * pre)
    else:  # no derivative to store: the buffer left alone
        assert np.isnan(pre).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (6, 4)])
def test_add_bias(dtype, shape):
    rng = np.random.default_rng(25)
    z = rng.normal(size=shape).astype(dtype)
    bias = rng.normal(size=shape[1]).astype(dtype)
    got = z.copy()
    activations_kernels.add_bias(got, bias)
    want = z.copy()
    want += bias  # _forward_pass: activations[i + 1] += self.intercepts_[i]
    assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (6, 1), (6, 4)])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_softmax_rows(dtype, shape, scale):
    rng = np.random.default_rng(26)
    z = (scale * rng.normal(size=shape)).astype(dtype)
    got = z.copy()
    with np.errstate(under="ignore"):
        activations_kernels.softmax_rows(got)
        want = ref.activate(z, "softmax")
    assert not np.isnan(got).any()
    assert_close(got, want, dtype)
    assert_close(got.sum(axis=1), np.ones(shape[0]), dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (6, 4)])
def test_multiply_derivative(dtype, name, shape):
    rng = np.random.default_rng(2)
    z = rng.normal(0.0, 2.0, size=shape).astype(dtype)
    activated = ref.activate(z, name)
    delta = rng.normal(size=shape).astype(dtype)
    want = ref.derivative(activated, delta, name, z)
    got = delta.copy()
    # The stored derivative is read only by the activations that store one.
    if name in ref.NEEDS_PRE_ACTIVATION:
        pre = ref.derivative(activated, np.ones_like(z), name, z)
    else:
        pre = np.full(shape, np.nan, dtype)
    activations_kernels.multiply_derivative(activated, pre, got, ACTIVATION_CODES[name])
    assert_close(got, want, dtype)
    if name == "relu":
        assert_array_equal(got == 0, (activated == 0) | (delta == 0))


def test_activation_codes():
    assert ACTIVATION_CODES == {name: code for code, name in enumerate(ref.ACTIVATIONS)}
    for name in ref.ACTIVATIONS:
        needs = activations_kernels.needs_pre_activation(ACTIVATION_CODES[name])
        assert needs == (name in ref.NEEDS_PRE_ACTIVATION), name


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activate(dtype, name):
    rng = np.random.default_rng(27)
    z = rng.normal(0.0, 3.0, (5, 3)).astype(dtype)
    got = z.copy()
    activations_kernels.activate(got, ACTIVATION_CODES[name])
    assert_close(got, ref.activate(z, name), dtype)


EXTRA_ACTIVATIONS = [
    name
    for name in ref.HIDDEN_ACTIVATIONS
    if name not in ref.SKLEARN_HIDDEN_ACTIVATIONS
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
def test_extra_activation_and_derivative_values(dtype, name):
    # the flat loops themselves, called directly rather than through the table
    rng = np.random.default_rng(29)
    z = rng.normal(0.0, 3.0, 17).astype(dtype)
    z[:3] = [-40.0, 0.0, 40.0]
    code = ACTIVATION_CODES[name]
    activated = z.copy()
    with np.errstate(over="ignore", under="ignore"):
        extra_activations.extra_activation_values(activated, code)
        want = ref.activate(z[None], name)[0]
    assert_close(activated, want, dtype)
    # with the derivative stored: the same activation, bit for bit
    also = z.copy()
    stored = np.full_like(z, np.nan)
    with np.errstate(over="ignore", under="ignore"):
        extra_activations.extra_activation_and_derivative(also, stored, code)
    assert_array_equal(also, activated)
    delta = rng.normal(size=17).astype(dtype)
    got = delta.copy()
    with np.errstate(over="ignore", under="ignore"):
        extra_activations.extra_derivative_values(activated, stored, got, code)
        want = ref.derivative(want[None], delta[None], name, z[None])[0]
    assert_close(got, want, dtype)
    if name in ref.NEEDS_PRE_ACTIVATION:
        ones = np.ones_like(z)
        assert_close(
            stored, ref.derivative(activated[None], ones[None], name, z[None])[0], dtype
        )
    else:
        assert np.isnan(stored).all()


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
def test_apply_extra_activation_and_derivative(dtype, name):
    rng = np.random.default_rng(28)
    z = rng.normal(0.0, 3.0, (5, 3)).astype(dtype)
    z[0, :] = [-40.0, 0.0, 40.0]  # far tails and the origin
    code = ACTIVATION_CODES[name]
    activated = z.copy()
    with np.errstate(over="ignore", under="ignore"):
        activations_kernels.apply_extra_activation(activated, code)
        want = ref.activate(z, name)
    assert np.isfinite(activated).all()
    assert_close(activated, want, dtype)
    also = z.copy()
    stored = np.zeros_like(z)
    with np.errstate(over="ignore", under="ignore"):
        activations_kernels.apply_extra_activation_and_derivative(also, stored, code)
    assert_array_equal(also, activated)
    delta = rng.normal(size=z.shape).astype(dtype)
    got = delta.copy()
    with np.errstate(over="ignore", under="ignore"):
        activations_kernels.multiply_extra_derivative(activated, stored, got, code)
        want = ref.derivative(want, delta, name, z)
    assert np.isfinite(got).all()
    assert_close(got, want, dtype)


# ----------------------------------------------------------------------------
# blas.py (transpose_dot_rows is tested in tests/test_threaded.py)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_transposed", [False, True])
@pytest.mark.parametrize("y_transposed", [False, True])
@pytest.mark.parametrize(("m", "depth", "n"), [(7, 5, 3), (1, 1, 1), (40, 33, 17)])
def test_product_is_np_dot_bit_for_bit(dtype, x_transposed, y_transposed, m, depth, n):
    rng = np.random.default_rng(30)
    x = rng.normal(size=(depth, m) if x_transposed else (m, depth)).astype(dtype)
    y = rng.normal(size=(n, depth) if y_transposed else (depth, n)).astype(dtype)
    want = np.empty((m, n), dtype)
    np.dot(x.T if x_transposed else x, y.T if y_transposed else y, want)
    got = np.full((m, n), np.nan, dtype)
    blas_kernels.product(x, x_transposed, y, y_transposed, got)
    assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_product_of_empty_shapes(dtype):
    got = np.full((3, 2), np.nan, dtype)
    blas_kernels.product(
        np.ones((3, 0), dtype), False, np.ones((0, 2), dtype), False, got
    )
    assert_array_equal(got, np.zeros((3, 2)))  # an empty sum
    nothing = np.ones((0, 2), dtype)
    blas_kernels.product(
        np.ones((0, 4), dtype), False, np.ones((4, 2), dtype), False, nothing
    )
    assert_array_equal(nothing, np.ones((0, 2)))


# ----------------------------------------------------------------------------
# losses.py
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_xlogy(dtype):
    xs = [0.0, 0.5, 2.0]
    ys = [0.0, 1e-30, 0.5, 3.0, np.inf, np.nan]
    with np.errstate(divide="ignore", invalid="ignore"):
        for x, y in itertools.product(xs, ys):
            want = scipy_xlogy(dtype(x), dtype(y))
            got = losses_kernels.xlogy(dtype(x), dtype(y))
            if np.isnan(want):
                assert np.isnan(got), (x, y)
            else:
                assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("output_index", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_rows", [1, 6])
def test_loss_value(dtype, loss_name, output_index, weighted, n_rows):
    rng = np.random.default_rng(3)
    n_outputs = OUTPUT_SIZES[loss_name][output_index]
    z = rng.normal(size=(n_rows, n_outputs)).astype(dtype)
    y_pred = ref.activate(z, ref.OUTPUT_ACTIVATION[loss_name])
    y_true = make_targets(rng, loss_name, n_rows, n_outputs, dtype)
    sample_weight = rng.uniform(0.2, 2.0, n_rows).astype(dtype) if weighted else None
    kernel_weight = sample_weight if weighted else np.full(n_rows, np.nan, dtype)
    want = ref.loss(loss_name, y_true, y_pred, sample_weight)
    got = losses_kernels.loss_value(
        y_true, y_pred, kernel_weight, weighted, LOSS_CODES[loss_name]
    )
    assert np.isfinite(got)
    assert_close(got, want, dtype)


@pytest.mark.parametrize("loss_name", ref.LOSSES)
def test_loss_value_accumulates_in_float64(loss_name):
    """losses.py: "Loss values are accumulated in float64 whatever the data's
    dtype". Float32 terms summed in float64 stay within ~1e-9 of the float64
    loss of the same inputs; summed in float32 they drift by ~1e-7."""
    rng = np.random.default_rng(32)
    n_rows, n_outputs = 4000, 3
    z = rng.normal(size=(n_rows, n_outputs)).astype(np.float32)
    y_pred = ref.activate(z, ref.OUTPUT_ACTIVATION[loss_name])
    y_true = make_targets(rng, loss_name, n_rows, n_outputs, np.float32)
    sample_weight = rng.uniform(0.2, 2.0, n_rows).astype(np.float32)
    got = losses_kernels.loss_value(
        y_true, y_pred, sample_weight, True, LOSS_CODES[loss_name]
    )
    want = ref.loss(
        loss_name,
        y_true.astype(np.float64),
        y_pred.astype(np.float64),
        sample_weight.astype(np.float64),
    )
    assert isinstance(got, float), type(got)
    assert_allclose(got, want, rtol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ["log_loss", "binary_log_loss"])
def test_loss_value_clips_probabilities(dtype, loss_name):
    # Probabilities of exactly 0 and 1 are clipped to [eps, 1 - eps].
    y_pred = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype)
    y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)
    sample_weight = np.array([1.0, 2.0, 0.5], dtype)
    for weighted in (False, True):
        want = ref.loss(loss_name, y_true, y_pred, sample_weight if weighted else None)
        got = losses_kernels.loss_value(
            y_true, y_pred, sample_weight, weighted, LOSS_CODES[loss_name]
        )
        assert np.isfinite(got)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3)])
def test_output_delta(dtype, weighted, shape):
    rng = np.random.default_rng(4)
    y_true = rng.normal(size=shape).astype(dtype)
    y_pred = rng.normal(size=shape).astype(dtype)
    sample_weight = rng.uniform(0.2, 2.0, shape[0]).astype(dtype)
    want = ref.output_delta(y_true, y_pred, sample_weight if weighted else None)
    got = np.full(shape, np.nan, dtype)
    kernel_weight = sample_weight if weighted else np.full(shape[0], np.nan, dtype)
    losses_kernels.output_delta(y_true, y_pred, kernel_weight, weighted, got)
    assert_array_equal(got, want)


# ----------------------------------------------------------------------------
# passes.py: views, products, small pieces
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_parameter_and_layer_views(dtype, shape):
    problem = shape_problem(shape, dtype, "tanh", "squared_error", False)
    coefs, intercepts = problem.layout.views(problem.params)
    n_rows = shape[3]
    activations, deltas, layer_starts = problem.work[:3]
    units = problem.layout.layer_units
    for layer in range(len(coefs)):
        coef = layer_kernels.coef_view(problem.params, problem.net, layer)
        intercept = layer_kernels.intercept_view(problem.params, problem.net, layer)
        assert_array_equal(coef, coefs[layer])
        assert_array_equal(intercept, intercepts[layer])
        assert np.shares_memory(coef, problem.params)
        assert np.shares_memory(intercept, problem.params)
        for buffer in (activations, deltas):
            view = layer_kernels.layer_view(
                buffer, problem.net, layer_starts, layer, n_rows
            )
            start = layer_starts[layer]
            size = n_rows * units[layer + 1]
            assert view.shape == (n_rows, units[layer + 1])
            assert np.shares_memory(view, buffer[start : start + size])
            view[...] = layer + 1
            assert (buffer[start : start + size] == layer + 1).all()
    # Layers do not overlap and tile the buffer exactly.
    assert np.isin(activations, np.arange(1, len(coefs) + 1)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n_rows", "n_cols", "n_out"), [(1, 1, 1), (5, 3, 1), (5, 3, 4)]
)
def test_transpose_dot_and_dot_transpose(dtype, n_rows, n_cols, n_out):
    # The backward pass's two products (a loop for one output column).
    rng = np.random.default_rng(36)
    a = rng.normal(size=(n_rows, n_cols)).astype(dtype)
    delta = rng.normal(size=(n_rows, n_out)).astype(dtype)
    coef = rng.normal(size=(n_cols, n_out)).astype(dtype)
    out = np.full((n_cols, n_out), np.nan, dtype)
    layer_kernels.transpose_dot(a, delta, out)
    assert_close(out, a.T @ delta, dtype)
    out = np.full((n_rows, n_cols), np.nan, dtype)
    scratch = np.full(n_cols * n_out, np.nan, dtype)
    layer_kernels.dot_transpose(delta, coef, out, 0, n_rows, scratch)
    assert_close(out, delta @ coef.T, dtype)
    # a range of rows only, as a thread computes its part
    out = np.full((n_rows, n_cols), np.nan, dtype)
    layer_kernels.dot_transpose(delta, coef, out, n_rows // 2, n_rows, scratch)
    assert_close(out[n_rows // 2 :], (delta @ coef.T)[n_rows // 2 :], dtype)
    assert np.isnan(out[: n_rows // 2]).all()


def test_borrowed_net_and_work_are_the_same_arrays():
    # what the epoch kernels take at their entry (fastmlp._kernels.views.borrowed)
    problem = Problem(0, 4, [5, 3], 2, 6, np.float64)
    net = layer_kernels.borrow_net(problem.net)
    work = layer_kernels.borrow_work(problem.work)
    assert net[3:] == problem.net[3:]
    for got, want in zip(net[:3] + work, problem.net[:3] + problem.work, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        assert got.ctypes.data == want.ctypes.data


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_cols", [1, 7, 8, 9, 17, 33])
def test_transpose_dot_column_sums_each_output_in_row_order(dtype, n_cols):
    # eight outputs at a time and the rest one by one, over any range of
    # outputs (a thread's share): each is the plain running sum over rows
    rng = np.random.default_rng(37)
    n_rows = 13
    a = rng.normal(size=(n_rows, n_cols)).astype(dtype)
    delta = rng.normal(size=(n_rows, 1)).astype(dtype)
    for start, stop in [(0, n_cols), (1, n_cols), (0, n_cols // 2)]:
        out = np.full((n_cols, 1), np.nan, dtype)
        layer_kernels.transpose_dot_column(a, delta, out, start, stop)
        for p in range(start, stop):
            assert out[p, 0] == ref.sum_in_order(a[:, p], delta[:, 0])
        assert np.isnan(out[:start]).all() and np.isnan(out[stop:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_cols", [1, 8, 9, 17])
def test_column_sums_without_scale_are_the_plain_sums_in_row_order(dtype, n_cols):
    # the intercepts' gradient: no factor at all, not even 1.0 (the same bits)
    rng = np.random.default_rng(38)
    a = rng.normal(size=(11, n_cols)).astype(dtype)
    out = np.full(n_cols, np.nan, dtype)
    layer_kernels.column_sums(a, out[:0], out, 0, n_cols)
    for p in range(n_cols):
        assert out[p] == ref.sum_in_order(a[:, p])


def _dot_transpose_operands(rng, n_rows, depth, n_cols, dtype):
    """``(delta, coef, out, scratch)`` for ``out = delta @ coef.T``; NaN buffers."""
    delta = rng.normal(size=(n_rows, depth)).astype(dtype)
    coef = rng.normal(size=(n_cols, depth)).astype(dtype)
    out = np.full((n_rows, n_cols), np.nan, dtype=dtype)
    return delta, coef, out, np.full(depth * n_cols, np.nan, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(9, 7, 17), (32, 20, 32), (64, 64, 64), (200, 10, 100), (300, 200, 256)]
)
def test_dot_transpose_tiles_a_copy_of_the_transposed_coefficients(dtype, shape):
    # tiles on coef.T copied into scratch; BLAS for 300 x 200 x 256
    n_rows, depth, n_cols = shape
    delta, coef, out, scratch = _dot_transpose_operands(
        np.random.default_rng(6), *shape, dtype
    )
    start, stop = 2, n_rows - 1
    layer_kernels.dot_transpose(delta, coef, out, start, stop, scratch)
    want = delta[start:stop].astype(np.float64) @ coef.T.astype(np.float64)
    assert_close(out[start:stop], want, dtype)
    assert np.isnan(out[:start]).all() and np.isnan(out[stop:]).all()
    if tiles_kernels.use_tiles(n_rows, depth, n_cols, delta.itemsize):
        assert_array_equal(scratch, coef.T.ravel())
    else:
        assert np.isnan(scratch).all()


@pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="the tiles are compiled code; NumPy stands in"
)
def test_dot_transpose_sums_in_order_with_fused_multiply_adds():
    # as the BLAS call it stands for (OpenBLAS's Haswell kernel) sums
    delta, coef, out, scratch = _dot_transpose_operands(
        np.random.default_rng(7), 6, 7, 11, np.float64
    )
    layer_kernels.dot_transpose(delta, coef, out, 0, 6, scratch)
    want = [
        [ref.fused_sum_in_order(delta[i], coef[j]) for j in range(11)] for i in range(6)
    ]
    assert_array_equal(out, np.array(want))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dot_transpose_gives_the_same_bits_however_its_rows_are_split(dtype):
    # each thread makes its own copy of coef.T and computes its rows
    delta, coef, whole, scratch = _dot_transpose_operands(
        np.random.default_rng(8), 37, 20, 19, dtype
    )
    layer_kernels.dot_transpose(delta, coef, whole, 0, 37, scratch)
    parts = np.full_like(whole, np.nan)
    for start, stop in [(0, 16), (16, 32), (32, 37)]:
        copy = np.empty_like(scratch)
        layer_kernels.dot_transpose(delta, coef, parts, start, stop, copy)
    assert_array_equal(parts, whole)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dot_transpose_without_room_for_the_copy_is_blas(dtype):
    delta, coef, out, scratch = _dot_transpose_operands(
        np.random.default_rng(9), 12, 20, 19, dtype
    )
    too_small = scratch[:-1]
    layer_kernels.dot_transpose(delta, coef, out, 3, 12, too_small)
    assert np.isnan(too_small).all()
    assert np.isnan(out[:3]).all()
    assert_array_equal(out[3:], np.dot(delta[3:], coef.T))  # the same BLAS call


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n_rows", "n_cols", "n_out", "small"),
    [(7, 5, 1, True), (40, 20, 32, True), (200, 784, 16, False)],
)
def test_small_transpose_dot_leaves_large_products_to_blas(
    dtype, n_rows, n_cols, n_out, small
):
    # one output column: the loop; 20 x 40 x 32: tiles; 784 x 200 x 16: BLAS
    rng = np.random.default_rng(37)
    a = rng.normal(size=(n_rows, n_cols)).astype(dtype)
    delta = rng.normal(size=(n_rows, n_out)).astype(dtype)
    out = np.full((n_cols, n_out), np.nan, dtype)
    start, stop = 1, n_cols - 1
    done = layer_kernels.small_transpose_dot(a, delta, out, start, stop)
    assert done == small
    if small:
        assert_close(out[start:stop], a[:, start:stop].T @ delta, dtype)
        assert np.isnan(out[:start]).all() and np.isnan(out[stop:]).all()
    else:
        assert np.isnan(out).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("rows_kind", ["all", "permuted-repeats", "one", "none"])
def test_sparse_rows_dot(dtype, index_dtype, n_out, rows_kind):
    rng = np.random.default_rng(5)
    csr, _, dense = make_csr(rng, 9, 4, dtype, index_dtype)
    rows = {
        "all": np.arange(9),
        "permuted-repeats": np.array([8, 1, 4, 1, 0, 2, 7]),
        "one": np.array([1]),
        "none": np.array([], dtype=np.int64),
    }[rows_kind].astype(np.int64)
    weights = rng.normal(size=(4, n_out)).astype(dtype)
    out = np.full((rows.shape[0], n_out), np.nan, dtype)
    layer_kernels.sparse_rows_dot(*csr, rows, weights, out)
    assert_close(out, dense[rows] @ weights, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("rows_kind", ["all", "permuted-repeats", "one"])
def test_sparse_rows_transpose_dot(dtype, index_dtype, n_out, rows_kind):
    rng = np.random.default_rng(6)
    csr, _, dense = make_csr(rng, 9, 4, dtype, index_dtype)
    rows = {
        "all": np.arange(9),
        "permuted-repeats": np.array([8, 1, 4, 1, 0, 2, 7]),
        "one": np.array([1]),
    }[rows_kind].astype(np.int64)
    delta = rng.normal(size=(rows.shape[0], n_out)).astype(dtype)
    out = np.full((4, n_out), np.nan, dtype)
    layer_kernels.sparse_rows_transpose_dot(*csr, rows, delta, out)
    assert_close(out, dense[rows].T @ delta, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("sw_sum", [1, 7, 2.75])
def test_finish_coef_grad(dtype, alpha, sw_sum):
    rng = np.random.default_rng(7)
    activation = rng.normal(size=(5, 3)).astype(dtype)
    delta = rng.normal(size=(5, 4)).astype(dtype)
    coef = rng.normal(size=(3, 4)).astype(dtype)
    sw = sw_sum if isinstance(sw_sum, int) else dtype(sw_sum)
    want = ref.coef_grad(activation, delta, coef, alpha, sw)
    got = activation.T @ delta
    pass_kernels.finish_coef_grad(got, coef, alpha, dtype(sw_sum))
    assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (6, 3)])
def test_intercept_grad(dtype, shape):
    rng = np.random.default_rng(8)
    delta = rng.normal(size=shape).astype(dtype)
    sw_sum = dtype(2.5)
    got = np.full(shape[1], np.nan, dtype)
    pass_kernels.intercept_grad(delta, got, sw_sum, 0, shape[1])
    assert_close(got, ref.intercept_grad(delta, sw_sum), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_intercept_grad_of_a_column_range(dtype):
    rng = np.random.default_rng(9)
    delta = rng.normal(size=(6, 5)).astype(dtype)
    sw_sum = dtype(2.5)
    got = np.full(5, np.nan, dtype)
    pass_kernels.intercept_grad(delta, got, sw_sum, 1, 4)
    assert np.isnan(got[[0, 4]]).all()  # only the range asked for is written
    assert_close(got[1:4], ref.intercept_grad(delta[:, 1:4], sw_sum), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["exp", "logistic", "tanh"])
def test_apply_element_map(dtype, name):
    rng = np.random.default_rng(3)
    z = rng.normal(scale=4, size=(5, 7)).astype(dtype)
    got = z.copy()
    activations_kernels.apply_element_map(got, ACTIVATION_CODES[name])
    expected = ref.activate(z.copy(), name)
    assert_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_values(dtype):
    source = np.arange(12, dtype=dtype).reshape(3, 4)
    target = np.asfortranarray(np.zeros((3, 4), dtype))
    activations_kernels.copy_values(source, target)
    np.testing.assert_array_equal(target, source)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fill_nan(dtype):
    got = np.zeros((3, 2), dtype)
    activations_kernels.fill_nan(got)
    assert np.isnan(got).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_squared_coef_sum(dtype, shape):
    problem = shape_problem(shape, dtype, "tanh", "squared_error", False)
    coefs, _ = problem.reference_params()
    got = pass_kernels.squared_coef_sum(problem.params, problem.net)
    assert_close(got, ref.squared_coef_sum(coefs), dtype)


# ----------------------------------------------------------------------------
# passes.py: forward and backward over all layers
# ----------------------------------------------------------------------------


def check_layers(problem, want, n_rows):
    """The workspace holds the reference's layers (and GELU/SiLU derivatives).

    For GELU and SiLU the forward pass stores each hidden layer's derivative
    at its input in the pre-activation buffer (``work[3]``).
    """
    for layer, expected in enumerate(want.activations[1:]):
        got = layer_kernels.layer_view(
            problem.work[0], problem.net, problem.work[2], layer, n_rows
        )
        assert_close(got, expected, problem.dtype)
    if problem.hidden in ref.NEEDS_PRE_ACTIVATION:
        for layer, pre in enumerate(want.pre_activations[:-1]):
            activated = want.activations[layer + 1]
            ones = np.ones_like(activated)
            expected = ref.derivative(activated, ones, problem.hidden, pre)
            got = layer_kernels.layer_view(
                problem.work[3], problem.net, problem.work[2], layer, n_rows
            )
            assert_close(got, expected, problem.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_forward_dense(dtype, hidden, loss_name, shape):
    problem = shape_problem(shape, dtype, hidden, loss_name, max_rows=7)
    coefs, intercepts = problem.reference_params()
    want = ref.forward(problem.X, coefs, intercepts, hidden, problem.output)
    out = pass_kernels.forward_dense(
        problem.X, problem.params, problem.net, problem.work
    )
    assert out.shape == want.activations[-1].shape
    assert np.shares_memory(out, problem.work[0])
    assert_close(out, want.activations[-1], dtype)
    check_layers(problem, want, shape[3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_forward_sparse(dtype, hidden, loss_name, shape):
    problem = shape_problem(shape, dtype, hidden, loss_name, sparse=True)
    n_rows = shape[3]
    # Rows in an order of their own, one of them twice when there are several.
    rows = np.arange(n_rows, dtype=np.int64)[::-1].copy()
    if n_rows > 2:
        rows[1] = rows[0]
    coefs, intercepts = problem.reference_params()
    want = ref.forward(problem.matrix[rows], coefs, intercepts, hidden, problem.output)
    out = pass_kernels.forward_sparse(
        problem.csr, rows, problem.params, problem.net, problem.work
    )
    assert_close(out, want.activations[-1], dtype)
    check_layers(problem, want, n_rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("hidden", ["relu", "silu"])
def test_finish_forward(dtype, shape, hidden):
    # With the first product already in place, finish_forward does the rest.
    problem = shape_problem(shape, dtype, hidden, "log_loss")
    coefs, intercepts = problem.reference_params()
    want = ref.forward(problem.X, coefs, intercepts, hidden, "softmax")
    n_rows = shape[3]
    first = layer_kernels.layer_view(
        problem.work[0], problem.net, problem.work[2], 0, n_rows
    )
    first[...] = problem.X @ coefs[0]
    out = pass_kernels.finish_forward(problem.params, problem.net, problem.work, n_rows)
    assert_close(out, want.activations[-1], dtype)
    check_layers(problem, want, n_rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
def test_drop_units(dtype, rate):
    rng = np.random.default_rng(29)
    z = rng.normal(size=(40, 7)).astype(dtype)
    if rate == 0.0:
        rate = 1e-300  # the smallest positive rate: nothing dropped in practice
    seed_kernel_random(31)
    got = z.copy()
    mask = np.full(z.shape, np.nan, dtype)
    pass_kernels.drop_units(got, mask, rate)
    (want_mask,) = ref.dropout_masks(np.random.RandomState(31), [z.shape], rate, dtype)
    assert_array_equal(mask, want_mask)
    assert_array_equal(got, z * want_mask)
    # The same seed draws the same units again.
    seed_kernel_random(31)
    again = z.copy()
    pass_kernels.drop_units(again, mask, rate)
    assert_array_equal(again, got)
    # Roughly ``rate`` of the units are dropped (280 draws).
    dropped = np.mean(mask == 0)
    assert abs(dropped - rate) < 0.15


@pytest.mark.parametrize("dtype", DTYPES)
def test_undo_dropout(dtype):
    rng = np.random.default_rng(30)
    output = rng.uniform(0.1, 1.0, size=(6, 4)).astype(dtype)
    mask = np.where(rng.random((6, 4)) < 0.4, 0.0, 1.0 / 0.6).astype(dtype)
    activated = output * mask
    delta = rng.normal(size=(6, 4)).astype(dtype)
    got = delta.copy()
    pass_kernels.undo_dropout(activated, mask, got)
    assert_array_equal(got, delta * mask)
    kept = mask != 0
    # Kept units are back to the activation's output, dropped ones stay zero.
    assert_close(activated[kept], output[kept], dtype)
    assert (activated[~kept] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_and_deltas_and_backward_hidden(dtype, hidden, loss_name, weighted):
    shape = SHAPES[3] if loss_name in ("poisson", "log_loss") else SHAPES[2]
    problem = shape_problem(shape, dtype, hidden, loss_name, weighted, max_rows=9)
    n_rows = shape[3]
    want = problem.backprop()
    net, work = problem.net, problem.work
    pass_kernels.forward_dense(problem.X, problem.params, net, work)
    loss, weight_sum = pass_kernels.loss_and_deltas(
        problem.Y, problem.kernel_weight, weighted, problem.params, net, work, n_rows
    )
    assert_close(loss, want.loss, dtype)
    assert_close(weight_sum, want.sw_sum, dtype)
    last = len(want.deltas) - 1
    output_delta = layer_kernels.layer_view(work[1], net, work[2], last, n_rows)
    assert_close(output_delta, want.deltas[last], dtype)

    first_delta = pass_kernels.backward_hidden(
        problem.params, problem.grads, net, work, n_rows, weight_sum
    )
    for layer, delta in enumerate(want.deltas):
        got = layer_kernels.layer_view(work[1], net, work[2], layer, n_rows)
        assert_close(got, delta, dtype)
    assert_close(first_delta, want.deltas[0], dtype)
    coef_grads, intercept_grads = problem.layout.views(problem.grads)
    # The first layer's coefficient gradient is the caller's job.
    assert np.isnan(coef_grads[0]).all()
    for layer in range(1, len(coef_grads)):
        assert_close(coef_grads[layer], want.coef_grads[layer], dtype)
    for layer, intercept in enumerate(intercept_grads):
        assert_close(intercept, want.intercept_grads[layer], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_loss_grad_dense(dtype, hidden, loss_name, shape):
    problem = shape_problem(shape, dtype, hidden, loss_name, max_rows=8)
    want = problem.backprop()
    loss = pass_kernels.loss_grad_dense(
        problem.X,
        problem.Y,
        problem.kernel_weight,
        problem.weighted,
        problem.params,
        problem.grads,
        problem.net,
        problem.work,
    )
    assert_close(loss, want.loss, dtype)
    assert_close(
        problem.grads, problem.pack(want.coef_grads, want.intercept_grads), dtype
    )


def sparse_batch_problem(shape, dtype, hidden, loss_name, **kwargs):
    """A CSR problem with 4 more rows than ``shape``'s batch, and a batch of rows."""
    n_features, hidden_sizes, output_index, n_rows, weighted = shape
    n_total = n_rows + 4
    problem = Problem(
        9,
        n_features,
        hidden_sizes,
        OUTPUT_SIZES[loss_name][output_index],
        n_total,
        dtype,
        hidden=hidden,
        loss_name=loss_name,
        weighted=weighted,
        sparse=True,
        max_rows=n_rows,
        **kwargs,
    )
    # A batch of rows of the CSR matrix, as an epoch would take them.
    rows = np.random.default_rng(10).permutation(n_total)[:n_rows].astype(np.int64)
    return problem, rows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_loss_grad_sparse(dtype, hidden, loss_name, shape):
    problem, rows = sparse_batch_problem(shape, dtype, hidden, loss_name)
    y = np.ascontiguousarray(problem.Y[rows])
    sample_weight = problem.kernel_weight[rows].copy()
    want = problem.backprop(
        X=problem.matrix[rows],
        Y=y,
        sample_weight=sample_weight if problem.weighted else None,
    )
    loss = pass_kernels.loss_grad_sparse(
        problem.csr,
        rows,
        y,
        sample_weight,
        problem.weighted,
        problem.params,
        problem.grads,
        problem.net,
        problem.work,
    )
    assert_close(loss, want.loss, dtype)
    assert_close(
        problem.grads, problem.pack(want.coef_grads, want.intercept_grads), dtype
    )


DROPOUT_CASES = [
    ("relu", "squared_error", 0.5),
    ("tanh", "log_loss", 0.2),
    ("gelu", "binary_log_loss", 0.3),
    ("silu", "poisson", 0.1),
    ("softplus", "squared_error", 0.95),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("hidden", "loss_name", "rate"), DROPOUT_CASES)
@pytest.mark.parametrize("shape", SHAPES[1:], ids=SHAPE_IDS[1:])
@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_loss_grad_with_dropout(dtype, hidden, loss_name, rate, shape, storage):
    """Dropout masks are the reference's draws; the gradient is the masked one."""
    if storage == "csr":
        problem, rows = sparse_batch_problem(
            shape, dtype, hidden, loss_name, dropout=rate
        )
        X = problem.matrix[rows]
        y = np.ascontiguousarray(problem.Y[rows])
        sample_weight = problem.kernel_weight[rows].copy()
    else:
        problem = shape_problem(shape, dtype, hidden, loss_name, dropout=rate)
        X, y, sample_weight = problem.X, problem.Y, problem.kernel_weight
    n_rows = X.shape[0]
    seed_kernel_random(5)
    if storage == "csr":
        loss = pass_kernels.loss_grad_sparse(
            problem.csr,
            rows,
            y,
            sample_weight,
            problem.weighted,
            problem.params,
            problem.grads,
            problem.net,
            problem.work,
        )
    else:
        loss = pass_kernels.loss_grad_dense(
            X,
            y,
            sample_weight,
            problem.weighted,
            problem.params,
            problem.grads,
            problem.net,
            problem.work,
        )
    masks = problem.masks(n_rows)
    coefs, _ = problem.reference_params()
    shapes = [(n_rows, c.shape[1]) for c in coefs[:-1]]
    want_masks = ref.dropout_masks(np.random.RandomState(5), shapes, rate, dtype)
    for got_mask, want_mask in zip(masks, want_masks, strict=True):
        assert_array_equal(got_mask, want_mask)
    want = problem.backprop(
        X=X,
        Y=y,
        sample_weight=sample_weight if problem.weighted else None,
        masks=want_masks,
    )
    assert_close(loss, want.loss, dtype)
    assert_close(
        problem.grads, problem.pack(want.coef_grads, want.intercept_grads), dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_without_masks_never_drops(dtype):
    # Prediction workspaces have no mask buffer: a dropout net predicts in full.
    problem = Problem(12, 4, (5, 3), 2, 6, dtype, hidden="relu", dropout=0.5)
    work = nan_work(problem.layout, 6, dtype)
    assert work[4].shape == (0,)
    out = pass_kernels.forward_dense(problem.X, problem.params, problem.net, work)
    coefs, intercepts = problem.reference_params()
    want = ref.predict(problem.X, coefs, intercepts, "relu", "identity")
    assert_close(out, want, dtype)


def test_workspace_has_a_row_of_room_for_transposed_coefficients_per_part():
    # layers after the first: 5 x 3 and 3 x 2 coefficients, the larger one
    layout = ParameterLayout([4, 5, 3, 2])
    for n_parts in (1, 3):
        work = make_work(layout, 6, np.float64, n_parts=n_parts)
        assert work[5].shape == (n_parts, 15)
    # prediction has no backward pass
    assert make_work(layout, 6, np.float32, n_parts=0)[5].shape == (0, 0)
    # one output unit is an outer product, without a copy
    assert make_work(ParameterLayout([4, 5, 1]), 6, np.float64)[5].shape == (1, 0)


def test_transposed_copies_only_where_tiles_may_take_the_product(monkeypatch):
    # 2000 x 2000: BLAS even for one row; 2000 x 3: tiles for short batches
    assert transposed_scratch_size([10, 2000, 2000, 3], 8) == 6000
    assert transposed_scratch_size([10, 300, 400, 2], 4) == 120_000
    monkeypatch.setattr(tiles_kernels, "VECTOR_FMA", False)  # no tiles at all
    assert transposed_scratch_size([10, 300, 400, 2], 8) == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_grad_reuses_a_larger_workspace(dtype):
    # Batches of different sizes share one workspace sized for the largest.
    problem = Problem(11, 4, (5, 3), 2, 9, dtype, loss_name="log_loss", weighted=True)
    for n_rows in (9, 1, 4, 9):
        X = problem.X[:n_rows]
        Y = problem.Y[:n_rows]
        sample_weight = problem.sample_weight[:n_rows]
        want = problem.backprop(X=X, Y=Y, sample_weight=sample_weight)
        loss = pass_kernels.loss_grad_dense(
            X,
            Y,
            sample_weight,
            True,
            problem.params,
            problem.grads,
            problem.net,
            problem.work,
        )
        assert_close(loss, want.loss, dtype)
        want_grads = problem.pack(want.coef_grads, want.intercept_grads)
        assert_close(problem.grads, want_grads, dtype)


# ----------------------------------------------------------------------------
# optimizers.py
# ----------------------------------------------------------------------------


def split(layout, flat):
    """``coefs + intercepts`` views of ``flat``, the list the optimizers take."""
    coefs, intercepts = layout.views(flat)
    return coefs + intercepts


def pack_list(layout, arrays, dtype):
    """The flat buffer of a ``coefs + intercepts`` list."""
    n_coefs = layout.n_layers - 1
    return layout.pack(arrays[:n_coefs], arrays[n_coefs:], dtype)


def random_grads(rng, layout, dtype, n_steps):
    return [rng.normal(size=layout.size).astype(dtype) for _ in range(n_steps)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_step(dtype, momentum, nesterov):
    rng = np.random.default_rng(12)
    layout = ParameterLayout([3, 4, 2])
    params = rng.normal(size=layout.size).astype(dtype)
    reference_params = split(layout, params.copy())
    optimizer = ref.SGD(reference_params, 0.05, momentum, nesterov)
    velocities = np.zeros(layout.size, dtype)
    for grads in random_grads(rng, layout, dtype, 4):
        optimizer.update_params(reference_params, split(layout, grads))
        optimizer_kernels.sgd_step(params, grads, velocities, 0.05, momentum, nesterov)
        assert_close(params, pack_list(layout, reference_params, dtype), dtype)
        assert_close(velocities, pack_list(layout, optimizer.velocities, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("learning_rate", [0.001, 0.1])
def test_adam_step(dtype, learning_rate):
    rng = np.random.default_rng(13)
    layout = ParameterLayout([3, 4, 2])
    params = rng.normal(size=layout.size).astype(dtype)
    reference_params = split(layout, params.copy())
    optimizer = ref.Adam(reference_params, learning_rate, 0.9, 0.999, 1e-8)
    first = np.zeros(layout.size, dtype)
    second = np.zeros(layout.size, dtype)
    for step, grads in enumerate(random_grads(rng, layout, dtype, 5), start=1):
        optimizer.update_params(reference_params, split(layout, grads))
        optimizer_kernels.adam_step(
            params, grads, first, second, step, learning_rate, 0.9, 0.999, 1e-8
        )
        assert optimizer.t == step
        assert_close(params, pack_list(layout, reference_params, dtype), dtype)
        assert_close(first, pack_list(layout, optimizer.ms, dtype), dtype)
        assert_close(second, pack_list(layout, optimizer.vs, dtype), dtype)


def sgd_settings(learning_rate=0.05, momentum=0.9, nesterov=True):
    return (SGD, learning_rate, momentum, nesterov, 0.0, 0.0, 0.0)


def adam_settings(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    return (ADAM, learning_rate, 0.0, False, beta_1, beta_2, epsilon)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_optimizer_step(dtype, solver):
    rng = np.random.default_rng(14)
    size = 7
    params = rng.normal(size=size).astype(dtype)
    want_params = params.copy()
    state = (np.zeros(size, dtype), np.zeros(size, dtype))
    want_state = (np.zeros(size, dtype), np.zeros(size, dtype))
    step = 3
    for _ in range(3):
        grads = rng.normal(size=size).astype(dtype)
        if solver == "sgd":
            new_step = optimizer_kernels.optimizer_step(
                params, grads, sgd_settings(0.05, 0.8, False), state, step
            )
            assert new_step == step
            optimizer_kernels.sgd_step(
                want_params, grads, want_state[0], 0.05, 0.8, False
            )
            assert (state[1] == 0).all()
        else:
            new_step = optimizer_kernels.optimizer_step(
                params, grads, adam_settings(0.01, 0.8, 0.99, 1e-7), state, step
            )
            assert new_step == step + 1
            optimizer_kernels.adam_step(
                want_params, grads, *want_state, step + 1, 0.01, 0.8, 0.99, 1e-7
            )
        step = new_step
        assert_array_equal(params, want_params)
        assert_array_equal(state[0], want_state[0])
        assert_array_equal(state[1], want_state[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "sgd-nesterov", "adam"])
def test_optimizer_steps_match_sklearn_bit_for_bit(dtype, solver):
    """optimizers.py promises sklearn's arithmetic "element by element, in the same
    order": with no BLAS involved, the results must be identical."""
    rng = np.random.default_rng(15)
    size = 400
    params = rng.normal(size=size).astype(dtype)
    sk_params = [params.copy()]
    if solver == "adam":
        optimizer = SkAdam(sk_params, 0.01, 0.9, 0.999, 1e-8)
    else:
        optimizer = SkSGD(sk_params, 0.05, "constant", 0.9, solver == "sgd-nesterov")
    first = np.zeros(size, dtype)
    second = np.zeros(size, dtype)
    for step in range(1, 6):
        grads = rng.normal(size=size).astype(dtype)
        optimizer.update_params(sk_params, [grads])
        if solver == "adam":
            optimizer_kernels.adam_step(
                params, grads, first, second, step, 0.01, 0.9, 0.999, 1e-8
            )
        else:
            optimizer_kernels.sgd_step(
                params, grads, first, 0.05, 0.9, solver == "sgd-nesterov"
            )
        mismatched = np.flatnonzero(params != sk_params[0])
        assert mismatched.size == 0, (
            f"step {step}: {mismatched.size} of {size} parameters differ from "
            f"sklearn's, by up to {np.abs(params - sk_params[0]).max():.3g}"
        )


# ----------------------------------------------------------------------------
# epoch.py
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_rows_and_values(dtype):
    rng = np.random.default_rng(16)
    source = rng.normal(size=(6, 3)).astype(dtype)
    values = rng.normal(size=6).astype(dtype)
    rows = np.array([5, 0, 2, 2], dtype=np.int64)
    target = np.full(5 * 3, np.nan, dtype)
    got = epoch_kernels.gather_rows(source, rows, target)
    assert_array_equal(got, source[rows])
    assert np.shares_memory(got, target)
    assert np.isnan(target[rows.shape[0] * 3 :]).all()
    target = np.full(5, np.nan, dtype)
    got = epoch_kernels.gather_values(values, rows, target)
    assert_array_equal(got, values[rows])
    assert np.shares_memory(got, target)
    assert np.isnan(target[4])
    # the batch's weights: gathered with weights, else the slots untouched
    # (an unweighted fit's sample_weight is one 1.0: never read)
    target = np.full(5, np.nan, dtype)
    got = epoch_kernels.batch_weights(values, True, rows, target)
    assert_array_equal(got, values[rows])
    target = np.full(5, np.nan, dtype)
    got = epoch_kernels.batch_weights(np.ones(1, dtype), False, rows, target)
    assert got.shape == (4,) and np.shares_memory(got, target)
    assert np.isnan(target).all()


class EpochCase:
    """One epoch's data, network and optimizer, for the kernels and the reference."""

    def __init__(
        self,
        dtype,
        hidden,
        loss_name,
        solver,
        shuffle,
        weighted,
        batch_size,
        sparse=False,
        n_samples=11,
        seed=17,
        dropout=0.0,
    ):
        self.problem = Problem(
            seed,
            4,
            (5, 3),
            OUTPUT_SIZES[loss_name][1],
            n_samples,
            dtype,
            hidden=hidden,
            loss_name=loss_name,
            weighted=weighted,
            alpha=0.05,
            sparse=sparse,
            max_rows=batch_size,
            param_scale=0.3,
            dropout=dropout,
        )
        self.dropout = dropout
        self.dropout_seed = seed + 2
        self.random_state = None
        self.dtype = np.dtype(dtype)
        self.sparse = sparse
        self.solver = solver
        self.shuffle = shuffle
        self.batch_size = batch_size
        self.n_batches = -(-n_samples // batch_size)
        rng = np.random.default_rng(seed + 1)
        self.order = rng.permutation(n_samples).astype(np.int64)
        if not shuffle:
            self.order = np.arange(n_samples, dtype=np.int64)
        if solver == "adam":
            self.settings = adam_settings(0.01)
        else:
            self.settings = sgd_settings(0.01, 0.9, solver == "sgd-nesterov")
        size = self.problem.layout.size
        self.state = (np.zeros(size, dtype), np.zeros(size, dtype))
        layout = self.problem.layout
        n_features = int(layout.layer_units[0])
        n_outputs = int(layout.layer_units[-1])
        self.buffers = (
            np.full(0 if sparse else batch_size * n_features, np.nan, dtype),
            np.full(batch_size * n_outputs, np.nan, dtype),
            np.full(batch_size, np.nan, dtype),
        )
        # The reference's own copy of the starting point.
        self.start_params = self.problem.params.copy()
        self.coefs, self.intercepts = self.problem.reference_params()
        params = self.coefs + self.intercepts
        if solver == "adam":
            self.optimizer = ref.Adam(params, 0.01, 0.9, 0.999, 1e-8)
        else:
            self.optimizer = ref.SGD(params, 0.01, 0.9, solver == "sgd-nesterov")

    def run_kernel(self, first_batch, stop_batch, step, X=None, Y=None):
        problem = self.problem
        if self.sparse:
            kernel = epoch_kernels.run_epoch_sparse
            x = problem.csr if X is None else X
        else:
            kernel = epoch_kernels.run_epoch_dense
            x = problem.X if X is None else X
        data = (x, problem.Y if Y is None else Y, problem.kernel_weight)
        # Without shuffling, ``order`` is an arange (epoch.py's contract).
        batches = (
            self.order,
            first_batch,
            stop_batch,
            self.batch_size,
            problem.weighted,
            self.dropout_seed,
        )
        return kernel(
            data,
            batches,
            self.buffers,
            problem.params,
            problem.grads,
            problem.net,
            problem.work,
            self.settings,
            self.state,
            step,
        )

    def run_reference(self, first_batch=0, stop_batch=None):
        problem = self.problem
        if first_batch == 0:
            # The kernels seed their generator at an epoch's first batch.
            self.random_state = np.random.RandomState(self.dropout_seed)
        return ref.run_epoch(
            problem.reference_input(),
            problem.Y,
            problem.sample_weight,
            self.order,
            self.shuffle,
            self.batch_size,
            self.coefs,
            self.intercepts,
            problem.hidden,
            problem.output,
            problem.loss_name,
            problem.alpha,
            self.optimizer,
            first_batch,
            stop_batch,
            self.dropout,
            self.random_state,
        )

    def reference_state(self):
        layout, dtype = self.problem.layout, self.dtype
        if self.solver == "adam":
            return (
                pack_list(layout, self.optimizer.ms, dtype),
                pack_list(layout, self.optimizer.vs, dtype),
            )
        return (pack_list(layout, self.optimizer.velocities, dtype),)

    def check_against_reference(self):
        problem = self.problem
        want_params = problem.pack(self.coefs, self.intercepts)
        # A diverged run would compare NaN with NaN and prove nothing.
        assert np.isfinite(want_params).all()
        assert np.abs(want_params - self.start_params).max() > 1e-4
        assert_close(problem.params, want_params, self.dtype)
        for got, want in zip(self.state, self.reference_state(), strict=False):
            assert_close(got, want, self.dtype)


# Every hidden activation and every loss, each with its own batch size for
# 11 samples: a short last batch, one-row batches, one full batch, four batches.
EPOCH_NETS = [
    ("relu", "squared_error", 4, 0.0),
    ("tanh", "log_loss", 1, 0.0),
    ("logistic", "binary_log_loss", 11, 0.0),
    ("identity", "poisson", 3, 0.0),
    ("gelu", "squared_error", 3, 0.3),
    ("leaky_relu", "log_loss", 4, 0.2),
    ("silu", "binary_log_loss", 5, 0.0),
    ("elu", "poisson", 2, 0.0),
    ("softplus", "squared_error", 11, 0.5),
]
EPOCH_NET_IDS = [f"{h}-{loss}-batch{b}-dropout{d}" for h, loss, b, d in EPOCH_NETS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net_case", EPOCH_NETS, ids=EPOCH_NET_IDS)
@pytest.mark.parametrize("solver", ["sgd", "sgd-nesterov", "adam"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_run_epoch(dtype, net_case, solver, shuffle, weighted, storage):
    hidden, loss_name, batch_size, dropout = net_case
    case = EpochCase(
        dtype,
        hidden,
        loss_name,
        solver,
        shuffle,
        weighted,
        batch_size,
        sparse=storage == "csr",
        dropout=dropout,
    )
    # Adam's bias correction continues from step 5 (as after earlier epochs).
    if solver == "adam":
        case.optimizer.t = 5
    want_loss = case.run_reference()
    accumulated, step = case.run_kernel(0, case.n_batches, 5)
    assert_close(accumulated, want_loss, dtype)
    assert step == (5 + case.n_batches if solver == "adam" else 5)
    case.check_against_reference()
    # A second epoch continues from the state the first one left.
    if shuffle:
        case.order = case.order[::-1].copy()
    want_loss = case.run_reference()
    accumulated, step = case.run_kernel(0, case.n_batches, step)
    assert_close(accumulated, want_loss, dtype)
    assert step == (5 + 2 * case.n_batches if solver == "adam" else 5)
    case.check_against_reference()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd-nesterov", "adam"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("storage", ["dense", "csr"])
@pytest.mark.parametrize(("hidden", "dropout"), [("tanh", 0.0), ("gelu", 0.25)])
def test_run_epoch_in_parts_equals_whole_epoch(
    dtype, solver, shuffle, storage, hidden, dropout
):
    # With dropout, only an epoch's first part seeds the generator: the later
    # parts continue its stream, as one call over the whole epoch would.
    def make():
        return EpochCase(
            dtype,
            hidden,
            "squared_error",
            solver,
            shuffle,
            True,
            2,
            sparse=storage == "csr",
            n_samples=13,
            dropout=dropout,
        )

    whole = make()
    assert whole.n_batches == 7
    whole_loss, whole_step = whole.run_kernel(0, 7, 0)
    parts = make()
    total, step = 0.0, 0
    part_losses = []
    for first, stop in [(0, 1), (1, 1), (1, 4), (4, 6), (6, 7)]:
        part, step = parts.run_kernel(first, stop, step)
        part_losses.append(part)
        total += part
    assert part_losses[1] == 0.0  # an empty range does nothing
    assert step == whole_step == (7 if solver == "adam" else 0)
    assert_close(total, whole_loss, dtype)
    assert_array_equal(parts.problem.params, whole.problem.params)
    assert_array_equal(parts.state[0], whole.state[0])
    assert_array_equal(parts.state[1], whole.state[1])
    # And the reference, run in the same parts, agrees with both.
    reference_total = sum(
        parts.run_reference(first, stop)
        for first, stop in [(0, 1), (1, 4), (4, 6), (6, 7)]
    )
    assert_close(reference_total, whole_loss, dtype)
    parts.check_against_reference()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_run_epoch_dense_read_only_input(dtype, shuffle, solver):
    # Read-only X (and Y), as from a memmap: same result as writable arrays.
    results = []
    for read_only in (False, True):
        case = EpochCase(dtype, "relu", "log_loss", solver, shuffle, True, 4)
        X = case.problem.X.copy()
        Y = case.problem.Y.copy()
        if read_only:
            X.setflags(write=False)
            Y.setflags(write=False)
        loss, step = case.run_kernel(0, case.n_batches, 0, X=X, Y=Y)
        results.append((loss, step, case.problem.params, case.state[0]))
        if read_only:
            case.run_reference()
            case.check_against_reference()
    (loss_a, step_a, params_a, state_a), (loss_b, step_b, params_b, state_b) = results
    assert loss_a == loss_b
    assert step_a == step_b
    assert_array_equal(params_a, params_b)
    assert_array_equal(state_a, state_b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("storage", ["dense-read-only", "csr", "csc"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_engine_runs_the_kernels_as_the_reference(dtype, storage, solver, monkeypatch):
    """Engine, the kernels' caller: data packing, buffers, epochs in parts."""
    # One batch per kernel call, so the epoch runs in parts.
    monkeypatch.setattr(engine_module, "WORK_PER_CALL", 1.0)
    problem = Problem(
        33,
        4,
        (5, 3),
        3,
        11,
        dtype,
        hidden="gelu",
        loss_name="log_loss",
        weighted=True,
        sparse=storage != "dense-read-only",
        param_scale=0.3,
        dropout=0.2,
    )
    if storage == "dense-read-only":
        X = problem.X.copy()
        X.setflags(write=False)
    else:
        X = problem.matrix if storage == "csr" else problem.matrix.tocsc()
    engine = engine_module.Engine(
        X, problem.Y, problem.sample_weight, problem.layout, problem.net, dtype, 4
    )
    assert engine.batches_per_call(4) == 1
    coefs, intercepts = problem.reference_params()
    order = np.random.default_rng(34).permutation(11)
    size = problem.layout.size
    if solver == "adam":
        engine_optimizer = solvers.AdamOptimizer(size, dtype, 0.01, 0.9, 0.999, 1e-8)
        optimizer = ref.Adam(coefs + intercepts, 0.01, 0.9, 0.999, 1e-8)
    else:
        engine_optimizer = solvers.SGDOptimizer(
            size, dtype, 0.01, "constant", 0.9, True
        )
        optimizer = ref.SGD(coefs + intercepts, 0.01, 0.9, True)
    accumulated = engine.run_epoch(
        problem.params, order, 4, engine_optimizer, dropout_seed=35
    )
    step = engine_optimizer.step
    want = ref.run_epoch(
        problem.reference_input(),
        problem.Y,
        problem.sample_weight,
        order,
        True,
        4,
        coefs,
        intercepts,
        "gelu",
        "softmax",
        "log_loss",
        problem.alpha,
        optimizer,
        dropout=0.2,
        random_state=np.random.RandomState(35),
    )
    assert step == (3 if solver == "adam" else 0)
    assert_close(accumulated, want, dtype)
    assert_close(problem.params, problem.pack(coefs, intercepts), dtype)
    # The full-batch loss and gradient (L-BFGS's), without dropout.
    engine = engine_module.Engine(
        X,
        problem.Y,
        problem.sample_weight,
        problem.layout,
        make_net(
            problem.layout,
            ACTIVATION_CODES["gelu"],
            ACTIVATION_CODES["softmax"],
            LOSS_CODES["log_loss"],
            problem.alpha,
        ),
        dtype,
        11,
    )
    loss, grads = engine.loss_grad(problem.params)
    want = problem.backprop()
    assert_close(loss, want.loss, dtype)
    assert_close(grads, problem.pack(want.coef_grads, want.intercept_grads), dtype)


@pytest.mark.parametrize(
    ("storage", "n_parts", "dtype"),
    [
        ("dense", 1, np.float32),
        ("dense", 1, np.float64),
        ("csr", 1, np.float32),
        ("csr", 1, np.float64),
        # threads with boolean targets in float32: tests/test_threads.py's
        # classifiers (threaded fit == serial fit)
        ("dense", 2, np.float64),
    ],
)
def test_engine_keeps_boolean_targets_and_trains_as_with_floats(
    dtype, storage, n_parts
):
    """Classifiers' targets stay 1 byte a value; the fit is the same bits."""
    rng = np.random.default_rng(36)
    X = rng.normal(size=(50, 6)).astype(dtype)
    if storage == "csr":
        X[X < 0.5] = 0.0
        X = sp.csr_matrix(X)
    Y = np.eye(3, dtype=bool)[rng.integers(0, 3, 50)]
    layout = ParameterLayout([6, 40, 3])
    net = make_net(
        layout, ACTIVATION_CODES["relu"], ACTIVATION_CODES["softmax"],
        LOSS_CODES["log_loss"], 1e-4,
    )  # fmt: skip
    start = rng.uniform(-0.3, 0.3, layout.size).astype(dtype)
    order = rng.permutation(50)
    results = []
    for targets in (Y, Y.astype(dtype)):
        engine = engine_module.Engine(X, targets, None, layout, net, dtype, 16, n_parts)
        assert engine.y.dtype == targets.dtype  # booleans are not widened
        params = start.copy()
        optimizer = solvers.AdamOptimizer(layout.size, dtype, 0.01, 0.9, 0.999, 1e-8)
        loss = engine.run_epoch(params, order, 16, optimizer)
        engine = engine_module.Engine(X, targets, None, layout, net, dtype, 50, n_parts)
        full_loss, grads = engine.loss_grad(params)
        assert engine.y.dtype == dtype  # L-BFGS's whole batch takes them converted
        results.append((loss, params, full_loss, grads.copy()))
    for got, want in zip(results[0], results[1], strict=True):
        assert_array_equal(got, want)


# ----------------------------------------------------------------------------
# predict.py
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_block(dtype):
    source = np.arange(6, dtype=dtype).reshape(2, 3)
    target = np.full((5, 3), np.nan, dtype)
    predict_kernels.copy_block(source, target, 2)
    assert_array_equal(target[2:4], source)
    assert np.isnan(target[[0, 1, 4]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("block_rows", [1, 4, 10, 64])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("read_only", [False, True])
def test_predict_dense(dtype, block_rows, shape, read_only):
    n_features, hidden_sizes, output_index, _, _ = shape
    problem = Problem(
        19,
        n_features,
        hidden_sizes,
        OUTPUT_SIZES["log_loss"][output_index],
        10,
        dtype,
        hidden="logistic",
        loss_name="log_loss",
    )
    work = nan_work(problem.layout, block_rows, dtype)
    out = np.full(problem.Y.shape, np.nan, dtype)
    X = problem.X
    if read_only:
        X.setflags(write=False)
    predict_kernels.predict_dense(X, problem.params, problem.net, work, block_rows, out)
    coefs, intercepts = problem.reference_params()
    assert_close(out, ref.predict(X, coefs, intercepts, "logistic", "softmax"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("block_rows", [1, 4, 64])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("rows_kind", ["all", "subset"])
def test_predict_sparse(dtype, block_rows, shape, rows_kind):
    n_features, hidden_sizes, output_index, _, _ = shape
    problem = Problem(
        20,
        n_features,
        hidden_sizes,
        OUTPUT_SIZES["poisson"][output_index],
        10,
        dtype,
        hidden="relu",
        loss_name="poisson",
        sparse=True,
    )
    if rows_kind == "all":
        rows = np.arange(10, dtype=np.int64)
    else:
        rows = np.array([9, 3, 3, 0, 6, 2, 7], dtype=np.int64)
    work = nan_work(problem.layout, block_rows, dtype)
    out = np.full((rows.shape[0], problem.Y.shape[1]), np.nan, dtype)
    predict_kernels.predict_sparse(
        problem.csr, rows, problem.params, problem.net, work, block_rows, out
    )
    coefs, intercepts = problem.reference_params()
    want = ref.predict(problem.matrix[rows], coefs, intercepts, "relu", "exp")
    assert_close(out, want, dtype)


# ----------------------------------------------------------------------------
# Every kernel has a test here
# ----------------------------------------------------------------------------

TESTED_KERNELS = {
    # tested in tests/test_vecmath.py
    "float_bits": {
        "float_type",
        "is_single",
        "pow2",
        "scale_pow2",
        "split_exponent",
    },
    "polynomials": {
        "polynomial3",
        "polynomial5",
        "polynomial6",
        "polynomial7",
        "polynomial10",
        "polynomial11",
        "polynomial12",
        "polynomial15",
    },
    "vecmath": {
        "exp",
        "erf",
        "exp_parts",
        "expm1",
        "log",
        "log1p",
        "log_reduced",
        "logistic",
        "map_values",
        "reduce_exp",
        "tanh",
    },
    "activations": {
        "add_bias",
        "softmax_rows",
        "needs_pre_activation",
        "add_bias_activate",
        "activate",
        "apply_extra_activation",
        "apply_element_map",
        "apply_extra_activation_and_derivative",
        "copy_values",
        "fill_nan",
        "multiply_derivative",
        "multiply_extra_derivative",
    },
    "losses": {
        "xlogy",
        "row_loss",
        "finish_loss",
        "loss_value",
        "weighted_row_losses",
        "output_delta",
    },
    "layers": {
        "borrow_net",
        "borrow_work",
        "coef_view",
        "intercept_view",
        "layer_view",
        "transpose_dot",
        "small_transpose_dot",
        "transpose_dot_column",
        "column_sums",
        "dot_transpose",
        "sparse_rows_dot",
        "sparse_rows_transpose_dot",
    },
    "passes": {
        "finish_forward",
        "forward_rows",
        "drop_units",
        "undo_dropout",
        "forward_dense",
        "forward_sparse",
        "finish_coef_grad",
        "intercept_grad",
        "squared_coef_sum",
        "loss_and_deltas",
        "backward_hidden",
        "propagate_delta",
        "loss_grad_dense",
        "loss_grad_sparse",
    },
    "optimizers": {
        "sgd_step",
        "adam_rate",
        "adam_update",
        "adam_step",
        "optimizer_step",
        "step_rate",
        "step_range",
    },
    "epoch": {
        "gather_rows",
        "gather_values",
        "batch_weights",
        "run_epoch_dense",
        "run_epoch_sparse",
    },
    "predict": {"copy_block", "predict_dense", "predict_sparse"},
    # tested in tests/test_threaded.py
    "blas": {"transpose_dot_rows", "product"},
    "threaded": {
        "chunk",
        "_bound",
        "gather_part",
        "rows_part",
        "columns_part",
        "_step",
        "batch_loss",
        "epoch_part",
        "gradient_part",
    },
    "sync": {"barrier"},
    # tested in tests/test_lbfgsb.py
    "line_search": {
        "_cubic",
        "_cubic_from_trial",
        "interpolate_step",
        "start_line_search",
        "search_line",
    },
    "lbfgs": {
        "two_loop_direction",
        "_dot",
        "_max_abs",
        "_norm",
        "_begin_iteration",
        "_restore_start",
        "_next_trial",
        "lbfgs_step",
        "_store_pair",
        "_forget_pairs",
    },
    # tested in tests/test_shuffle.py
    "shuffle": {"_twist", "refill", "temper", "shuffle_in_place"},
    "extra_activations": {
        "extra_activation_values",
        "extra_activation_and_derivative",
        "extra_derivative_values",
    },
    # tested in tests/test_tiles.py
    "tiles": {
        "use_tiles",
        "tiled_product",
        "product_rows",
        "column_product",
        "repeated_product",
        "use_tiles_transposed",
    },
}


# Kernels no test calls by name, and the function whose tests run them
TESTED_THROUGH = {
    "logistic": "map_values",  # test_vecmath runs every FUNCTIONS name through it
    "adam_update": "adam_step",
    "_bound": "chunk",
    "gather_part": "epoch_part",
    "rows_part": "epoch_part",
    "columns_part": "epoch_part",
    "batch_loss": "epoch_part",
    "gradient_part": "loss_grad_parallel",
    "_cubic": "interpolate_step",
    "_cubic_from_trial": "interpolate_step",
    "_begin_iteration": "minimize",
    "_next_trial": "minimize",
    "_forget_pairs": "minimize",
    "_store_pair": "minimize",
    # lbfgs_step and its helpers: through fastmlp._engine.lbfgsb.minimize, its caller
    "lbfgs_step": "minimize",
    "_twist": "refill",
}


def _called_in_tests(name):
    """Whether a test module names ``name`` other than in a string (the lists)."""
    pattern = re.compile(rf'(?<!["\w]){re.escape(name)}(?!["\w])')
    return any(
        pattern.search(path.read_text())
        for path in Path(__file__).parent.glob("test_*.py")
    )


def test_every_kernel_is_tested():
    found = {}
    for info in pkgutil.iter_modules(fastmlp._kernels.__path__):
        if info.name in fastmlp._kernels.SUPPORT_MODULES:
            continue
        module = importlib.import_module(f"fastmlp._kernels.{info.name}")
        names = set()
        for name, obj in vars(module).items():
            function = getattr(obj, "py_func", obj)
            if inspect.isfunction(function) and function.__module__ == module.__name__:
                names.add(name)
        found[info.name] = names
    assert found == TESTED_KERNELS
    untested = [
        f"{module}.{name}"
        for module, names in TESTED_KERNELS.items()
        for name in names
        if not _called_in_tests(TESTED_THROUGH.get(name, name))
    ]
    assert not untested, f"no test calls {untested}"


# ----------------------------------------------------------------------------
# The reference itself, against scikit-learn
# ----------------------------------------------------------------------------


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
