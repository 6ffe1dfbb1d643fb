"""Forward and backward passes over all layers (``fastmlp._kernels.passes``)."""

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._engine.buffers import make_work, transposed_scratch_size
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels import layers as layer_kernels
from fastmlp._kernels import passes as pass_kernels
from fastmlp._kernels import predict as predict_kernels
from fastmlp._kernels import threaded as threaded_kernels
from fastmlp._kernels import tiles as tiles_kernels
from fastmlp._kernels.sync import SYNC_SIZE
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    NO_FIRE,
    OUTPUT_SIZES,
    SHAPE_IDS,
    SHAPES,
    Problem,
    assert_close,
    extra_buffers,
    nan_work,
    seed_kernel_random,
    shape_problem,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


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


def _kernel_calls(kernel, *args):
    """``(callee, signature)`` of each kernel call in a fresh compile of
    ``kernel``'s body for ``args`` (run once): the signatures it needs, whether
    the callees were compiled in this process or loaded from the cache."""
    fresh = numba.njit(kernel.py_func)
    fresh(*args)
    result = fresh.overloads[fresh.signatures[0]]
    typemap = result.type_annotation.typemap
    for expr, signature in result.type_annotation.calltypes.items():
        if isinstance(expr, numba.core.ir.Expr) and expr.op == "call":
            callee = typemap[expr.func.name]
            if isinstance(callee, numba.types.Dispatcher):
                yield callee.dispatcher.py_func.__name__, signature


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compiled signatures")
@pytest.mark.parametrize("dtype", DTYPES)
def test_read_only_rows_share_the_passes_of_writable_batches(dtype):
    """Predictions and L-BFGS hand the passes read-only rows and targets; the
    kernels beneath run as compiled for the epoch's writable batch buffers (one
    compile of each, not two), compute what writable rows give, and leave
    their inputs as they were."""
    problem = Problem(0, 6, (5, 4), 3, 9, dtype, loss_name="log_loss")
    X, Y = problem.X, problem.Y
    assert not X.flags.writeable and not Y.flags.writeable
    weights, params, net, work = (
        problem.kernel_weight,
        problem.params,
        problem.net,
        problem.work,
    )
    grads = np.empty_like(problem.grads)
    out = np.empty((9, 3), dtype)
    sync = np.zeros(SYNC_SIZE, np.int64)
    extra = extra_buffers(grads, 9)
    calls = {
        "gradient": list(
            _kernel_calls(
                pass_kernels.loss_grad_dense,
                *(X, Y, weights, False, params, grads, net, work),
            )
        ),
        "prediction": list(
            _kernel_calls(
                predict_kernels.predict_dense,
                *(X, params, net, work, np.int64(4), out, True, NO_FIRE),
            )
        ),
        "threads' gradient": list(
            _kernel_calls(
                threaded_kernels.gradient_part,
                *(np.int64(0), np.int64(1), sync, X, None, np.empty(0, np.int64)),
                *(Y, weights, False),
                *(params, grads, net, work, extra),
            )
        ),
    }
    for kind, kernel_calls in calls.items():
        names = {name for name, _ in kernel_calls}
        assert "forward_rows" in names, kind
        for name, signature in kernel_calls:
            arrays = [a for a in signature.args if isinstance(a, numba.types.Array)]
            if name in ("sparse_rows_dot", "sparse_rows_transpose_dot"):
                arrays = arrays[3:]  # a CSR's arrays: read-only in every fit
            assert all(a.mutable for a in arrays), (kind, name, signature)
    assert {"transpose_dot", "loss_value"} <= {name for name, _ in calls["gradient"]}
    loss = pass_kernels.loss_grad_dense(X, Y, weights, False, params, grads, net, work)
    X_copy, Y_copy = X.copy(), Y.copy()
    writable_grads = np.empty_like(grads)
    writable = pass_kernels.loss_grad_dense(
        X_copy, Y_copy, weights, False, params, writable_grads, net, work
    )
    assert loss == writable
    assert_array_equal(writable_grads, grads)
    predict_kernels.predict_dense(
        X_copy, params, net, work, np.int64(4), out, True, NO_FIRE
    )
    assert_array_equal(X_copy, X)
    assert_array_equal(Y_copy, Y)
