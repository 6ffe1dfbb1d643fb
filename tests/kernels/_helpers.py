"""Shared by the kernel tests: shapes, tolerances, NaN-filled buffers, problems.

Every compiled kernel is checked against its plain-NumPy twin in
``tests/reference.py``. Float64 results must agree to about 1e-12 (BLAS
summation order is the only freedom), float32 results to about 1e-5. Shapes are
small so that the kernel tests also run quickly with ``NUMBA_DISABLE_JIT=1``;
they include one-row batches, one output unit, no hidden layer and three hidden
layers. Work and gradient buffers start filled with NaN, so a value a kernel
forgets to write shows up, and the sample weights passed with
``has_weight=False`` are NaN, so a kernel that reads them shows up too. CSR
inputs carry explicit zeros, a duplicated entry, empty rows and unsorted
indices. Dropout masks are compared draw for draw: numba's generator, seeded
like a ``RandomState``, draws the same numbers.
"""

import itertools

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from fastmlp._engine.buffers import make_net, make_work
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels import layers as layer_kernels
from fastmlp._kernels.activations import ACTIVATION_CODES
from fastmlp._kernels.losses import LOSS_CODES
from fastmlp._kernels.optimizers import ADAM, SGD
from tests import reference as ref

DTYPES = [np.float64, np.float32]
# ``fire`` of a prediction kernel that no worker waits for
NO_FIRE = np.zeros(0, np.int64)
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


def cases_in_turn(axes, rotated):
    """Parameter sets for a cross product that is slow when interpreted.

    Compiled, every combination of the values in ``axes`` (a list of lists)
    meets every entry of ``rotated`` (a list of tuples). With
    ``NUMBA_DISABLE_JIT=1`` each combination meets one entry only, in turn:
    the one at the sum of its indices modulo ``len(rotated)``, so every value
    of every axis is still run, and every entry of ``rotated`` as long as the
    largest index sum reaches ``len(rotated) - 1`` (order ``rotated`` so that
    its first entries vary every axis). The test ids are the same either way.
    """
    cases = []
    for index in itertools.product(*(range(len(axis)) for axis in axes)):
        values = tuple(axis[i] for axis, i in zip(axes, index))
        turn = sum(index) % len(rotated)
        for k, extra in enumerate(rotated):
            if numba.config.DISABLE_JIT and k != turn:
                continue
            params = values + tuple(extra)
            case_id = "-".join(_case_id(value) for value in params)
            cases.append(pytest.param(*params, id=case_id))
    return cases


def _case_id(value):
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if isinstance(value, tuple):
        return "-".join(map(str, value))
    return str(value)


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
        # read-only, as the engine hands data to the kernels (one compiled
        # kernel for both; fastmlp._engine.buffers.read_only)
        data = [self.X, self.Y, self.kernel_weight, *getattr(self, "csr", ())]
        for array in data:
            array.flags.writeable = False
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


def pack_list(layout, arrays, dtype):
    """The flat buffer of a ``coefs + intercepts`` list."""
    n_coefs = layout.n_layers - 1
    return layout.pack(arrays[:n_coefs], arrays[n_coefs:], dtype)


def sgd_settings(learning_rate=0.05, momentum=0.9, nesterov=True):
    return (SGD, learning_rate, momentum, nesterov, 0.0, 0.0, 0.0)


def adam_settings(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    return (ADAM, learning_rate, 0.0, False, beta_1, beta_2, epsilon)


def extra_buffers(grads, max_rows):
    """The split kernels' ``extra``: row losses, scalars, the second chunk's
    gradient (``fastmlp._engine.training.run_epoch_parallel``), NaN-filled."""
    return (
        np.full(max_rows, np.nan),
        np.full(1, np.nan),
        np.full_like(grads, np.nan),
    )


# The split kernels' problems (test_threaded.py, test_threaded_csr.py):
# 37 -> 40 -> 33 -> k nets, a workspace for up to MAX_PARTS threads.
SPLIT_FEATURES = 37
SPLIT_HIDDEN = (40, 33)
# the most threads a test splits a batch across (rows of the workspace's
# transposed coefficients)
MAX_PARTS = 3
# (hidden activation, loss, output units): every loss, one-column outputs
# (the hand-written gradient loop) and activations that keep pre-activations.
SPLIT_NETS = [
    ("relu", "log_loss", 3),
    ("gelu", "squared_error", 2),
    ("tanh", "binary_log_loss", 1),
    ("logistic", "poisson", 1),
    ("silu", "log_loss", 20),
]


def split_problem(dtype, net, weighted, n_rows, max_rows=None, seed=5, sparse=False):
    """A :class:`Problem` of one of ``SPLIT_NETS``; CSR rows if ``sparse``."""
    hidden, loss_name, n_outputs = net
    return Problem(
        seed,
        SPLIT_FEATURES,
        SPLIT_HIDDEN,
        n_outputs,
        n_rows,
        dtype,
        hidden=hidden,
        loss_name=loss_name,
        weighted=weighted,
        alpha=0.05,
        sparse=sparse,
        max_rows=max_rows,
        param_scale=0.3,
        n_parts=MAX_PARTS,
    )
