"""Batches split across threads (``fastmlp._kernels.threaded``) and their parts.

The threaded kernels must compute what the serial kernels compute (which the
other modules of ``tests/kernels/`` check against the NumPy reference): they
are compared with them to the last bits (the threads sum a batch's gradient in
two chunks of rows, the serial kernels in one), and the L-BFGS gradient with
the reference too. Whatever the number of parts, the threaded kernels give
the same bits (``GRADIENT_CHUNKS``): a split chosen by timing must not change
the model.

Networks here are wider than ``ALIGN`` (16) so that products really are split.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastmlp._engine import prediction
from fastmlp._engine import training as engine_module
from fastmlp._kernels import blas as blas_kernels
from fastmlp._kernels import epoch as epoch_kernels
from fastmlp._kernels import layers as layer_kernels
from fastmlp._kernels import losses as losses_kernels
from fastmlp._kernels import optimizers as optimizer_kernels
from fastmlp._kernels import passes as pass_kernels
from fastmlp._kernels import predict as predict_kernels
from fastmlp._kernels import threaded
from fastmlp._kernels.threaded import ALIGN
from fastmlp._kernels.tiles import use_tiles
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    MAX_PARTS,
    NO_FIRE,
    SPLIT_NETS,
    Problem,
    adam_settings,
    assert_close,
    cases_in_turn,
    extra_buffers,
    nan_work,
    sgd_settings,
    split_problem,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]

NET_IDS = [f"{h}-{loss}-{k}" for h, loss, k in SPLIT_NETS]


NO_ROWS = np.empty(0, np.int64)  # dense rows' row indices, L-BFGS's split kernel


# ----------------------------------------------------------------------------
# Pieces
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("n_parts", [1, 2, 3, 5])
@pytest.mark.parametrize("total", [0, 1, 15, 16, 17, 40, 100, 569])
@pytest.mark.parametrize("align", [threaded.ALIGN, threaded.BLAS_ALIGN])
def test_chunk_covers_range_in_aligned_parts(total, n_parts, align):
    bounds = [
        threaded.aligned_chunk(total, part, n_parts, align) for part in range(n_parts)
    ]
    if align == threaded.ALIGN:
        assert bounds == [threaded.chunk(total, p, n_parts) for p in range(n_parts)]
    assert bounds[0][0] == 0
    assert bounds[-1][1] == total
    for (_, stop), (start, _) in zip(bounds[:-1], bounds[1:], strict=True):
        assert stop == start
    for start, stop in bounds:
        assert start <= stop
        assert start % align == 0 or start == total
    sizes = [stop - start for start, stop in bounds]
    # as even as alignment allows
    assert max(sizes) - min(sizes) <= align + total // n_parts + 1
    if total >= 2 * align * n_parts:
        assert max(sizes) <= total / n_parts + align


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_and_units_split_where_blas_groups_start(dtype):
    """Parts of the products BLAS computes start at multiples of BLAS_ALIGN.

    And of ALIGN where the tiles compute every product (the tests' small
    nets); decided from the whole batch, so whatever the number of parts.
    """
    decide = getattr(use_tiles, "py_func", use_tiles)
    itemsize = np.dtype(dtype).itemsize
    small = split_problem(dtype, SPLIT_NETS[0], False, 40)
    units = [int(u) for u in small.layout.layer_units]
    if all(decide(40, a, b, itemsize) for a, b in zip(units, units[1:])):
        assert threaded.rows_align(small.net, small.work, 40, itemsize, 0) == ALIGN
    n_rows = 64
    big = Problem(5, 300, (1024,), 3, n_rows, dtype, hidden="relu",
                  loss_name="log_loss")  # fmt: skip
    if decide(n_rows, 1024, 3, itemsize):
        pytest.skip("the tile limits in force keep these products in the tiles")
    row_align = threaded.rows_align(big.net, big.work, n_rows, itemsize, 0)
    assert row_align == threaded.BLAS_ALIGN
    # the output layer's gradient: 1024 units by 48 rows by 3, BLAS's too
    start, stop = threaded.units_block(big.net, 1, n_rows, row_align, itemsize, 1, 2)
    assert (start, stop) == (528, 1024)
    assert threaded.units_block(big.net, 1, n_rows, row_align, itemsize, 0, 1) == (
        0,
        1024,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n_rows", "fan_in", "fan_out"), [(40, 37, 33), (1, 20, 3), (7, 64, 2)]
)
def test_transpose_dot_rows(dtype, n_rows, fan_in, fan_out):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(n_rows, fan_in)).astype(dtype)
    delta = rng.normal(size=(n_rows, fan_out)).astype(dtype)
    want = a.astype(np.float64).T @ delta.astype(np.float64)
    whole = np.full((fan_in, fan_out), np.nan, dtype)
    layer_kernels.transpose_dot(a, delta, whole)
    out = np.full((fan_in, fan_out), np.nan, dtype)
    bounds = [0, 0, min(16, fan_in), min(32, fan_in), fan_in]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        blas_kernels.transpose_dot_rows(a, delta, out, start, stop)
        assert not np.isnan(out[:stop]).any()
        assert np.isnan(out[stop:]).all()  # nothing outside the block
    assert out.dtype == dtype
    assert_close(out, want, dtype)
    assert_close(out, whole, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_dot_column_ranges_equal_whole(dtype):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(9, 37)).astype(dtype)
    delta = rng.normal(size=(9, 1)).astype(dtype)
    whole = np.full((37, 1), np.nan, dtype)
    layer_kernels.transpose_dot_column(a, delta, whole, 0, 37)
    assert_close(whole, a.T.astype(np.float64) @ delta, dtype)
    parts = np.full((37, 1), np.nan, dtype)
    for start, stop in [(0, 16), (16, 16), (16, 37)]:
        layer_kernels.transpose_dot_column(a, delta, parts, start, stop)
    assert_array_equal(parts, whole)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ["squared_error", "poisson", "log_loss"])
@pytest.mark.parametrize("weighted", [False, True])
def test_row_losses_sum_to_loss_value(dtype, loss_name, weighted):
    problem = split_problem(dtype, ("relu", loss_name, 3), weighted, 11)
    pred = ref.activate(
        np.random.default_rng(0).normal(size=problem.Y.shape).astype(dtype),
        ref.OUTPUT_ACTIVATION[loss_name],
    )
    code = problem.net[5]
    want = losses_kernels.loss_value(
        problem.Y, pred, problem.kernel_weight, weighted, code
    )
    rows = np.full(11, np.nan)
    losses_kernels.weighted_row_losses(
        problem.Y[:4], pred[:4], problem.kernel_weight[:4], weighted, code, rows
    )
    losses_kernels.weighted_row_losses(
        problem.Y[4:], pred[4:], problem.kernel_weight[4:], weighted, code, rows[4:]
    )
    total, weight_sum = 0.0, 0.0
    for i in range(11):
        total += rows[i]
        weight_sum += float(problem.sample_weight[i]) if weighted else 1.0
    got = losses_kernels.finish_loss(total, weight_sum, code, problem.Y.shape[1])
    assert got == want
    reference = ref.loss(loss_name, problem.Y, pred, problem.sample_weight)
    assert_close(got, reference, dtype)
    for i in range(11):
        assert rows[i] == pytest.approx(
            (problem.sample_weight[i] if weighted else 1.0)
            * losses_kernels.row_loss(problem.Y, pred, i, code)
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_step_ranges_equal_one_step(dtype, solver):
    rng = np.random.default_rng(6)
    settings = adam_settings(0.01) if solver == "adam" else sgd_settings()
    params = rng.normal(size=50).astype(dtype)
    grads = rng.normal(size=50).astype(dtype)
    state = (rng.normal(size=50).astype(dtype), rng.uniform(size=50).astype(dtype))
    whole_params, whole_state = params.copy(), (state[0].copy(), state[1].copy())
    step = optimizer_kernels.optimizer_step(
        whole_params, grads, settings, whole_state, 3
    )
    assert step == (4 if solver == "adam" else 3)
    rate = optimizer_kernels.step_rate(settings, step)
    if solver == "adam":
        assert rate == optimizer_kernels.adam_rate(4, 0.01, 0.9, 0.999)
        assert rate == pytest.approx(0.01 * np.sqrt(1 - 0.999**4) / (1 - 0.9**4))
    else:
        assert rate == settings[1]
    for start, stop in [(0, 16), (16, 16), (16, 33), (33, 50)]:
        optimizer_kernels.step_range(params, grads, settings, state, rate, start, stop)
    assert_array_equal(params, whole_params)
    assert_array_equal(state[0], whole_state[0])
    if solver == "adam":
        assert_array_equal(state[1], whole_state[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", SPLIT_NETS, ids=NET_IDS)
def test_forward_and_deltas_by_row_ranges_equal_whole(dtype, net):
    n_rows = 40
    whole = split_problem(dtype, net, True, n_rows)
    parts = split_problem(dtype, net, True, n_rows)
    pass_kernels.forward_dense(whole.X, whole.params, whole.net, whole.work)
    _, weight_sum = pass_kernels.loss_and_deltas(
        whole.Y, whole.kernel_weight, True, whole.params, whole.net, whole.work, 40
    )
    pass_kernels.backward_hidden(
        whole.params, whole.grads, whole.net, whole.work, 40, weight_sum
    )
    last = parts.layout.n_layers - 2
    for start, stop in [(0, 16), (16, 40)]:
        pass_kernels.forward_rows(
            parts.X, parts.params, parts.net, parts.work, n_rows, start, stop
        )
    output = layer_kernels.layer_view(parts.work[0], parts.net, parts.work[2], last, 40)
    delta = layer_kernels.layer_view(parts.work[1], parts.net, parts.work[2], last, 40)
    losses_kernels.output_delta(parts.Y, output, parts.kernel_weight, True, delta)
    for part, (start, stop) in enumerate([(0, 16), (16, 40)]):
        for layer in range(last, 0, -1):
            pass_kernels.propagate_delta(
                parts.params, parts.net, parts.work, layer, n_rows, start, stop, part
            )
    # layer buffers; not the transposed copies, one per part
    for got, want in zip(parts.work[:5], whole.work[:5], strict=True):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_part_without_a_transposed_copy_propagates_deltas_through_blas(dtype):
    # a workspace made for fewer threads than the parts: no read past it
    problems = [split_problem(dtype, SPLIT_NETS[0], False, 40) for _ in range(2)]
    for problem in problems:
        pass_kernels.forward_dense(problem.X, problem.params, problem.net, problem.work)
        pass_kernels.loss_and_deltas(
            problem.Y, problem.kernel_weight, False, problem.params, problem.net,
            problem.work, 40,
        )  # fmt: skip
    last = problems[0].layout.n_layers - 2
    for part, problem in zip([0, MAX_PARTS], problems, strict=True):
        for layer in range(last, 0, -1):
            pass_kernels.propagate_delta(
                problem.params, problem.net, problem.work, layer, 40, 0, 40, part
            )
    assert np.isnan(problems[1].work[5]).all()  # no copy made
    assert not np.isnan(problems[0].work[5]).all()
    assert_close(problems[1].work[1], problems[0].work[1], dtype)


# ----------------------------------------------------------------------------
# Whole threaded kernels against the serial ones
# ----------------------------------------------------------------------------


class Twins:
    """Two copies of one epoch problem: serial kernels on one, threaded on the other."""

    def __init__(self, dtype, net, solver, weighted, batch_size, n_samples=90):
        self.dtype = np.dtype(dtype)
        self.batch_size = batch_size
        self.n_batches = -(-n_samples // batch_size)
        self.serial = split_problem(dtype, net, weighted, n_samples, batch_size)
        self.threaded = split_problem(dtype, net, weighted, n_samples, batch_size)
        self.order = np.random.default_rng(8).permutation(n_samples).astype(np.int64)
        if solver == "adam":
            self.settings = adam_settings(0.01)
        else:
            self.settings = sgd_settings(0.001, 0.9, solver == "sgd-nesterov")
        size = self.serial.layout.size
        self.states = [(np.zeros(size, dtype), np.zeros(size, dtype)) for _ in "ab"]
        units = self.serial.layout.layer_units
        self.buffers = [
            (
                np.full(batch_size * int(units[0]), np.nan, dtype),
                np.full(batch_size * int(units[-1]), np.nan, dtype),
                np.full(batch_size, np.nan, dtype),
            )
            for _ in "ab"
        ]
        self.extra = extra_buffers(self.threaded.grads, batch_size)

    def batches(self, first, stop):
        return (self.order, first, stop, self.batch_size, self.serial.weighted, 0)

    def run(self, first, stop, step, n_parts):
        s, t = self.serial, self.threaded
        serial = epoch_kernels.run_epoch_dense(
            (s.X, s.Y, s.kernel_weight),
            self.batches(first, stop),
            self.buffers[0],
            s.params,
            s.grads,
            s.net,
            s.work,
            self.settings,
            self.states[0],
            step,
        )
        parallel = engine_module.run_epoch_parallel(
            (t.X, t.Y, t.kernel_weight),
            None,
            self.batches(first, stop),
            self.buffers[1],
            t.params,
            t.grads,
            t.net,
            t.work,
            self.extra,
            self.settings,
            self.states[1],
            step,
            n_parts,
        )
        return serial, parallel

    def check(self, serial, parallel):
        assert parallel[1] == serial[1]  # Adam's step
        assert_close(parallel[0], serial[0], self.dtype)
        assert np.isfinite(self.threaded.params).all()
        pairs = [(self.threaded.params, self.serial.params)]
        pairs += list(zip(self.states[1], self.states[0], strict=True))
        # last-bit differences (the gradient's two chunks; float32 BLAS may
        # tile a block of rows differently from the whole product), which
        # Adam's scale-free step lifts up to ~1e-4 (float32) on near-zero
        # gradients
        typical, worst = (1e-6, 1e-3) if self.dtype == np.float32 else (1e-14, 1e-9)
        for got, want in pairs:
            difference = np.abs(got.astype(np.float64) - want)
            assert np.median(difference) < typical
            assert difference.max() < worst


# (batch_size, n_parts, n_samples); one part: a split fit's whole calls
# (fastmlp._engine.training.Engine.whole_parts)
EPOCH_SHAPES = [(40, 2, 90), (32, 3, 70), (7, 2, 30), (1, 2, 5), (40, 1, 90)]
SOLVERS = ["sgd", "sgd-nesterov", "adam"]


# Interpreted, each dtype and net meets one (solver, weighted, shape) in turn;
# the first six entries vary all three (every solver, both weightings, every
# shape): the full 300 cases took 217 of the interpreted run's 305 CPU seconds.
EPOCH_ROTATION = [
    (SOLVERS[k % 3], bool(k % 2), *EPOCH_SHAPES[k % 5]) for k in range(30)
]


@pytest.mark.parametrize(
    ("dtype", "net", "solver", "weighted", "batch_size", "n_parts", "n_samples"),
    cases_in_turn([DTYPES, SPLIT_NETS], EPOCH_ROTATION),
)
def test_threaded_epoch_equals_serial(
    dtype, net, solver, weighted, batch_size, n_parts, n_samples
):
    # short last batches; batches of fewer rows than parts
    twins = Twins(dtype, net, solver, weighted, batch_size, n_samples)
    start = twins.threaded.params.copy()
    step = 5 if solver == "adam" else 0
    for _ in range(2):  # the second epoch continues the first one's state
        serial, parallel = twins.run(0, twins.n_batches, step, n_parts)
        twins.check(serial, parallel)
        step = serial[1]
    assert np.abs(twins.threaded.params - start).max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_epoch_in_parts_equals_whole(dtype):
    whole = Twins(dtype, SPLIT_NETS[0], "adam", True, 16)
    parts = Twins(dtype, SPLIT_NETS[0], "adam", True, 16)
    whole_result = whole.run(0, whole.n_batches, 0, 2)[1]
    total, step = 0.0, 0
    for first, stop in [(0, 2), (2, 2), (2, whole.n_batches)]:
        loss, step = parts.run(first, stop, step, 2)[1]
        total += loss
    assert step == whole_result[1] == whole.n_batches
    assert_close(total, whole_result[0], dtype)
    assert_array_equal(parts.threaded.params, whole.threaded.params)


@pytest.mark.parametrize(
    ("dtype", "net", "solver", "batch_size", "n_parts"),
    cases_in_turn(
        [DTYPES, SPLIT_NETS],
        [("adam", 40, 2), ("sgd", 32, 3), ("adam", 7, 2), ("sgd", 70, 2)],
    ),
)
def test_threaded_epoch_same_bits_in_any_number_of_parts(
    dtype, net, solver, batch_size, n_parts
):
    # batches of 7 rows, and the 20-row last batch of 70-row ones: layers
    # whose gradient each part computes for its own rows (threaded.by_rows)
    # and layers split by units in one batch; 40 rows: all by rows; 3 parts:
    # all by units
    one, split = (Twins(dtype, net, solver, True, batch_size) for _ in "ab")
    step = 3 if solver == "adam" else 0
    got_one = one.run(0, one.n_batches, step, 1)[1]
    got_split = split.run(0, split.n_batches, step, n_parts)[1]
    assert got_one == got_split
    assert_array_equal(split.threaded.params, one.threaded.params)
    for got, want in zip(split.states[1], one.states[1], strict=True):
        assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_finish_chunked_grads_add_then_scale(dtype):
    rng = np.random.default_rng(3)
    grad, partial, coef = (rng.normal(size=(5, 7)).astype(dtype) for _ in "abc")
    weight_sum = dtype(3.5)
    want = ((grad + partial) + dtype(0.25) * coef) / weight_sum
    threaded.finish_chunked_coef_grad(grad, partial, coef, 0.25, weight_sum)
    assert_array_equal(grad, want)
    flat, flat_partial = rng.normal(size=(2, 9)).astype(dtype)
    want = flat.copy()
    want[2:6] = (flat[2:6] + flat_partial[2:6]) / weight_sum
    threaded.finish_chunked_intercept_grad(
        flat, flat_partial, weight_sum, np.int64(2), np.int64(6)
    )
    assert_array_equal(flat, want)


def test_by_rows_only_up_to_two_parts():
    problem = split_problem(np.float64, SPLIT_NETS[0], False, 8)
    net = problem.net  # 37 -> 40 -> 33 -> 3
    for layer in range(3):
        assert threaded.by_rows(net, np.int64(layer), np.int64(8), np.int64(1))
        assert not threaded.by_rows(net, np.int64(layer), np.int64(200), np.int64(3))
    # 37 * 40 values against 200 / 2 * (18 + 40) rows' values: by rows
    assert threaded.by_rows(net, np.int64(0), np.int64(200), np.int64(2))
    assert not threaded.by_rows(net, np.int64(0), np.int64(8), np.int64(2))


def _problem_with_deltas(dtype, n_rows):
    """A problem of ``n_rows`` rows after its forward pass and deltas."""
    problem = split_problem(dtype, SPLIT_NETS[0], False, n_rows)
    pass_kernels.forward_dense(problem.X, problem.params, problem.net, problem.work)
    pass_kernels.loss_and_deltas(
        problem.Y, problem.kernel_weight, False, problem.params, problem.net,
        problem.work, n_rows,
    )  # fmt: skip
    return problem


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [(0, 0), (0, 5), (16, 41)])
@pytest.mark.parametrize(("block", "n_blocks"), [(0, 1), (1, 2), (2, 3)])
def test_chunk_gradient_is_the_rows_product(dtype, rows, block, n_blocks):
    problem = _problem_with_deltas(dtype, 41)
    n_rows = 41
    units = problem.layout.layer_units
    for layer in range(len(units) - 1):
        target = np.full_like(problem.grads, np.nan)
        threaded.chunk_gradient(
            problem.X, problem.net, problem.work, np.int64(layer), n_rows, ALIGN,
            target, *(np.int64(r) for r in rows), np.int64(block),
            np.int64(n_blocks),
        )  # fmt: skip
        work, net = problem.work, problem.net
        a = problem.X
        if layer > 0:
            a = layer_kernels.layer_view(work[0], net, work[2], layer - 1, n_rows)
        delta = layer_kernels.layer_view(work[1], net, work[2], layer, n_rows)
        coefs, intercepts = problem.layout.views(target)
        begin, end = rows
        start, stop = threaded.units_block(
            problem.net, np.int64(layer), n_rows, ALIGN, problem.X.itemsize,
            np.int64(block), np.int64(n_blocks),
        )  # fmt: skip
        assert (start, stop) == threaded.chunk(int(units[layer]), block, n_blocks)
        want = a[begin:end, start:stop].T.astype(np.float64) @ delta[begin:end]
        got = coefs[layer][start:stop]
        assert_close(got, want, dtype)
        start, stop = threaded.chunk(int(units[layer + 1]), block, n_blocks)
        want = delta[begin:end, start:stop].astype(np.float64).sum(axis=0)
        got = intercepts[layer][start:stop]
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("first", "step"), [(0, 1), (0, 2), (1, 2)])
def test_chunk_gradients_put_each_chunk_in_its_buffer(dtype, first, step):
    problem = _problem_with_deltas(dtype, 41)
    n_rows = 41
    layer, block, n_blocks = 1, 1, 2
    buffers = [np.full_like(problem.grads, np.nan) for _ in range(2)]
    threaded.chunk_gradients(
        problem.X, problem.net, problem.work, np.int64(layer), n_rows, ALIGN, *buffers,
        np.int64(first), np.int64(step), np.int64(block), np.int64(n_blocks),
    )  # fmt: skip
    for c, buffer in enumerate(buffers):
        want = np.full_like(problem.grads, np.nan)
        if c in range(first, threaded.GRADIENT_CHUNKS, step):
            begin, end = threaded.chunk(n_rows, c, threaded.GRADIENT_CHUNKS)
            threaded.chunk_gradient(
                problem.X, problem.net, problem.work, np.int64(layer), n_rows,
                ALIGN, want, np.int64(begin), np.int64(end), np.int64(block),
                np.int64(n_blocks),
            )  # fmt: skip
        np.testing.assert_array_equal(buffer, want)  # NaN where left alone


@pytest.mark.parametrize(
    ("dtype", "net", "weighted", "n_parts"),
    # interpreted, each dtype and net meets one (weighted, n_parts) in turn
    cases_in_turn([DTYPES, SPLIT_NETS], [(bool(k % 2), 1 + k % 3) for k in range(6)]),
)
def test_threaded_loss_grad_equals_serial_and_reference(dtype, net, weighted, n_parts):
    serial = split_problem(dtype, net, weighted, 69)
    parallel = split_problem(dtype, net, weighted, 69)
    want_loss = pass_kernels.loss_grad_dense(
        serial.X,
        serial.Y,
        serial.kernel_weight,
        weighted,
        serial.params,
        serial.grads,
        serial.net,
        serial.work,
    )
    got_loss = engine_module.loss_grad_parallel(
        parallel.X,
        None,
        NO_ROWS,
        parallel.Y,
        parallel.kernel_weight,
        weighted,
        parallel.params,
        parallel.grads,
        parallel.net,
        parallel.work,
        extra_buffers(parallel.grads, 69),
        n_parts,
    )
    assert_close(got_loss, want_loss, dtype)
    assert_close(parallel.grads, serial.grads, dtype)
    assert_array_equal(parallel.params, serial.params)  # no optimizer step
    one = split_problem(dtype, net, weighted, 69)
    engine_module.loss_grad_parallel(
        one.X, None, NO_ROWS, one.Y, one.kernel_weight, weighted, one.params,
        one.grads, one.net, one.work, extra_buffers(one.grads, 69), 1,
    )  # fmt: skip
    assert_array_equal(parallel.grads, one.grads)
    coefs, intercepts = parallel.reference_params()
    ref_loss, ref_coef_grads, ref_intercept_grads = ref.loss_grad(
        parallel.X,
        parallel.Y,
        coefs,
        intercepts,
        net[0],
        ref.OUTPUT_ACTIVATION[net[1]],
        net[1],
        0.05,
        parallel.sample_weight,
    )
    assert_close(got_loss, ref_loss, dtype)
    want = parallel.pack(ref_coef_grads, ref_intercept_grads)
    assert_close(parallel.grads, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_rows", "block_rows"), [(100, 16), (100, 48), (5, 32)])
@pytest.mark.parametrize("n_parts", [2, 3])
def test_threaded_predict_equals_serial(dtype, n_rows, block_rows, n_parts):
    problem = split_problem(dtype, SPLIT_NETS[0], False, n_rows)
    want = np.full((n_rows, 3), np.nan, dtype)
    predict_kernels.predict_dense(
        problem.X,
        problem.params,
        problem.net,
        nan_work(problem.layout, block_rows, dtype),
        block_rows,
        want,
        False,
        NO_FIRE,
    )
    got = np.full((n_rows, 3), np.nan, dtype)
    prediction.predict_in_threads(
        problem.X, problem.params, problem.layout, problem.net, got, n_parts,
        block_rows,
    )  # fmt: skip
    assert_array_equal(got, want)  # the same blocks, split or not
    coefs, intercepts = problem.reference_params()
    assert_close(
        got, ref.predict(problem.X, coefs, intercepts, "relu", "softmax"), dtype
    )


@pytest.mark.parametrize("n_rows", [0, 1, 15, 16, 100, 569])
@pytest.mark.parametrize("block_rows", [1, 16, 48])
@pytest.mark.parametrize("n_parts", [1, 2, 3])
def test_prediction_parts_are_runs_of_whole_blocks(n_rows, block_rows, n_parts):
    bounds = prediction.part_bounds(n_rows, n_parts, block_rows)
    assert [start for start, _ in bounds[1:]] == [stop for _, stop in bounds[:-1]]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    for start, _ in bounds:
        assert start % block_rows == 0 or start == n_rows
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= block_rows + n_rows // n_parts + 1


def test_threaded_predict_raises_what_a_part_raises(monkeypatch):
    """Not a half-written output: a worker thread's error reaches the caller."""
    problem = split_problem(np.float64, SPLIT_NETS[0], False, 100)
    calls = []
    original = prediction.thread_workspace

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("no workspace for this part")
        return original(*args, **kwargs)

    monkeypatch.setattr(prediction, "thread_workspace", failing)
    out = np.empty((100, 3))
    with pytest.raises(MemoryError, match="no workspace"):
        prediction.predict_in_threads(
            problem.X, problem.params, problem.layout, problem.net, out, 2, 16
        )


@pytest.mark.timeout(120)
def test_threaded_epoch_does_not_hang_when_a_part_fails(monkeypatch):
    twins = Twins(np.float64, SPLIT_NETS[0], "adam", False, 64, 2)
    original = threaded.epoch_part

    def failing(part, *args):
        if part == 1:
            raise MemoryError("no memory for part 1")
        return original(part, *args)

    monkeypatch.setattr(threaded, "epoch_part", failing)
    with pytest.raises(MemoryError):
        twins.run(0, twins.n_batches, 0, 2)


def test_gradient_only_leaves_params_alone():
    problem = split_problem(np.float64, SPLIT_NETS[2], False, 20)
    before = problem.params.copy()
    settings = (threaded.GRADIENT_ONLY, 0.0, 0.0, False, 0.0, 0.0, 0.0)
    grads = np.arange(problem.layout.size, dtype=np.float64)
    threaded._step(problem.params, grads, (settings, (grads, grads), 1.0), 0, 10)
    assert_array_equal(problem.params, before)
    assert_allclose(grads, np.arange(problem.layout.size))
