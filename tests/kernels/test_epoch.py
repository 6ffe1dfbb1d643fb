"""Whole epochs (``fastmlp._kernels.epoch``) and the engine that runs them."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from fastmlp._engine import solvers
from fastmlp._engine import training as engine_module
from fastmlp._engine.buffers import make_net
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels import epoch as epoch_kernels
from fastmlp._kernels.activations import ACTIVATION_CODES
from fastmlp._kernels.losses import LOSS_CODES
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    OUTPUT_SIZES,
    Problem,
    adam_settings,
    assert_close,
    extra_buffers,
    pack_list,
    sgd_settings,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


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
        """The epoch kernel the engine runs for this case (``Engine.in_parts``):
        without dropout, the split kernel as one part."""
        problem = self.problem
        x = (problem.csr if self.sparse else problem.X) if X is None else X
        data = (x, problem.Y if Y is None else Y, problem.kernel_weight)
        if self.dropout:
            sparse = self.sparse
            kernel = (
                epoch_kernels.run_epoch_sparse
                if sparse
                else epoch_kernels.run_epoch_dense
            )
        else:
            kernel = self._one_part
            n_features = int(problem.layout.layer_units[0])
            rows, csr = engine_module.parts_rows(x, n_features, problem.params.dtype)
            data = ((rows, data[1], data[2]), csr)
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

    def _one_part(self, data, batches, buffers, params, grads, net, work, *step):
        extra = extra_buffers(grads, self.batch_size)
        return engine_module.run_epoch_parallel(
            *data, batches, buffers, params, grads, net, work, extra, *step, 1
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
def test_dense_epoch_read_only_input(dtype, shuffle, solver):
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
        # threads with boolean targets in float32: tests/test_n_jobs.py's
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
