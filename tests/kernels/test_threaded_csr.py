"""The split kernels on CSR rows (``fastmlp._kernels.threaded``).

A CSR batch's first layer is ``layers.sparse_rows_dot`` forward and, in the
columns phase, ``threaded.sparse_first_gradient`` by blocks of input units over
all the batch's rows; every other layer is computed as for dense rows. So a
CSR fit gives the same bits in any number of parts, its first layer's
gradient is the serial kernels' (``passes.loss_grad_sparse``), and the rest
differs from the serial and dense kernels only by the order of sums.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._engine import training as engine_module
from fastmlp._kernels import passes as pass_kernels
from fastmlp._kernels import threaded
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    SPLIT_FEATURES,
    SPLIT_NETS,
    adam_settings,
    assert_close,
    cases_in_turn,
    extra_buffers,
    sgd_settings,
    split_problem,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]

# test_threaded.py's nets but the 20-output one (test time)
NETS = SPLIT_NETS[:4]


def csr_problem(dtype, net, n_rows, max_rows=None):
    """A weighted problem whose rows are CSR (``.csr``; ``.X``: their values)."""
    return split_problem(dtype, net, True, n_rows, max_rows, sparse=True)


def run_epoch(problem, solver, batch_size, n_parts, dense=False):
    """One epoch of ``problem``'s rows (CSR, or their values if ``dense``)."""
    dtype = problem.dtype
    units = problem.layout.layer_units
    n_samples = problem.Y.shape[0]
    if solver == "adam":
        settings = adam_settings(0.01)
    else:
        settings = sgd_settings(0.01, 0.9, solver == "sgd-nesterov")
    state = (np.zeros(problem.layout.size, dtype), np.zeros(problem.layout.size, dtype))
    x = problem.X if dense else problem.csr
    rows, csr = engine_module.parts_rows(x, int(units[0]), dtype)
    buffers = (
        np.full(batch_size * int(units[0]) if dense else 0, np.nan, dtype),
        np.full(batch_size * int(units[-1]), np.nan, dtype),
        np.full(batch_size, np.nan, dtype),
    )
    order = np.random.default_rng(8).permutation(n_samples).astype(np.int64)
    batches = (order, 0, -(-n_samples // batch_size), batch_size, True, 0)
    result = engine_module.run_epoch_parallel(
        (rows, problem.Y, problem.kernel_weight), csr, batches, buffers,
        problem.params, problem.grads, problem.net, problem.work,
        extra_buffers(problem.grads, batch_size), settings, state, 2, n_parts,
    )  # fmt: skip
    return result, state


@pytest.mark.parametrize(
    ("dtype", "net", "solver", "batch_size", "n_parts"),
    # 40 rows: the first layer by blocks of units (37 of them) and the others
    # by rows; 7: under 8 rows a part; 3 parts: every layer by units
    cases_in_turn(
        [DTYPES, NETS],
        [("adam", 40, 2), ("sgd", 32, 3), ("adam", 7, 2), ("sgd-nesterov", 70, 2)],
    ),
)
def test_csr_epoch_same_bits_in_any_number_of_parts(
    dtype, net, solver, batch_size, n_parts
):
    one, split, dense = (csr_problem(dtype, net, 90, batch_size) for _ in "abc")
    start = one.params.copy()
    got_one, state_one = run_epoch(one, solver, batch_size, 1)
    got_split, state_split = run_epoch(split, solver, batch_size, n_parts)
    assert got_split == got_one
    assert_array_equal(split.params, one.params)
    for got, want in zip(state_split, state_one, strict=True):
        assert_array_equal(got, want)
    assert np.abs(one.params - start).max() > 1e-3
    # the same rows dense: the first layer's sums in another order
    got_dense, _ = run_epoch(dense, solver, batch_size, n_parts, dense=True)
    assert got_dense[1] == got_one[1]
    assert_close(got_one[0], got_dense[0], dtype)
    typical, worst = (1e-6, 1e-3) if dtype == np.float32 else (1e-14, 1e-9)
    difference = np.abs(one.params.astype(np.float64) - dense.params)
    assert np.median(difference) < typical
    assert difference.max() < worst


def _serial_gradient(dtype, net, n_rows):
    """A CSR problem after the serial kernels' loss and gradient, all rows."""
    problem = csr_problem(dtype, net, n_rows)
    rows = np.arange(n_rows, dtype=np.int64)
    loss = pass_kernels.loss_grad_sparse(
        problem.csr, rows, problem.Y, problem.kernel_weight, True, problem.params,
        problem.grads, problem.net, problem.work,
    )  # fmt: skip
    return problem, rows, loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "blocks", [[(0, 37)], [(0, 16), (16, 37)], [(16, 37), (0, 16)]]
)
def test_sparse_first_gradient_blocks_are_the_serial_gradient(dtype, blocks):
    problem, rows, _ = _serial_gradient(dtype, NETS[0], 41)
    # the weights' sum as the kernels make it: float64, in row order
    total = 0.0
    for w in problem.kernel_weight:
        total += float(w)
    weight_sum = problem.dtype.type(total)
    grads = np.full_like(problem.grads, np.nan)
    for start, stop in blocks:
        threaded.sparse_first_gradient(
            problem.csr, rows, np.int64(41), problem.params, grads, problem.net,
            problem.work, weight_sum, np.int64(start), np.int64(stop),
        )  # fmt: skip
    got = problem.layout.views(grads)[0][0]
    assert_array_equal(got, problem.layout.views(problem.grads)[0][0])
    assert np.isnan(problem.layout.views(grads)[1][0]).all()  # intercepts left


@pytest.mark.parametrize(
    ("dtype", "net", "n_parts"),
    cases_in_turn([DTYPES, NETS], [(1,), (2,), (3,)]),
)
def test_csr_loss_grad_in_parts_equals_serial_and_reference(dtype, net, n_parts):
    serial, rows, want_loss = _serial_gradient(dtype, net, 69)
    parts = csr_problem(dtype, net, 69)
    x, csr = engine_module.parts_rows(parts.csr, SPLIT_FEATURES, parts.dtype)
    got_loss = engine_module.loss_grad_parallel(
        x, csr, rows, parts.Y, parts.kernel_weight, True, parts.params, parts.grads,
        parts.net, parts.work, extra_buffers(parts.grads, 69), n_parts,
    )  # fmt: skip
    assert_close(got_loss, want_loss, dtype)
    got_coefs, got_intercepts = parts.layout.views(parts.grads)
    want_coefs, want_intercepts = serial.layout.views(serial.grads)
    assert_array_equal(got_coefs[0], want_coefs[0])  # the serial kernels' sums
    assert_close(parts.grads, serial.grads, dtype)
    one = csr_problem(dtype, net, 69)
    engine_module.loss_grad_parallel(
        x, csr, rows, one.Y, one.kernel_weight, True, one.params, one.grads, one.net,
        one.work, extra_buffers(one.grads, 69), 1,
    )  # fmt: skip
    assert_array_equal(parts.grads, one.grads)
    coefs, intercepts = parts.reference_params()
    ref_loss, ref_coef_grads, ref_intercept_grads = ref.loss_grad(
        parts.X, parts.Y, coefs, intercepts, net[0],
        ref.OUTPUT_ACTIVATION[net[1]], net[1], 0.05, parts.sample_weight,
    )  # fmt: skip
    assert_close(got_loss, ref_loss, dtype)
    assert_close(parts.grads, parts.pack(ref_coef_grads, ref_intercept_grads), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csr_epoch_with_64_bit_indices_equals_32_bit(dtype):
    # CSR matrices of 2**31 values or more keep 64-bit indices
    # (fastmlp._engine.buffers.as_kernel_input): a kernel of their own
    narrow, wide = (csr_problem(dtype, NETS[0], 90, 40) for _ in "ab")
    indptr, indices, values = wide.csr
    wide.csr = (indptr.astype(np.int64), indices.astype(np.int64), values)
    for array in wide.csr[:2]:
        array.flags.writeable = False
    got_narrow = run_epoch(narrow, "adam", 40, 2)
    got_wide = run_epoch(wide, "adam", 40, 2)
    assert got_wide[0] == got_narrow[0]
    assert_array_equal(wide.params, narrow.params)
