"""Layer views, products and small pieces (``layers``, ``passes``, ``activations``)."""

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._kernels import activations as activations_kernels
from fastmlp._kernels import layers as layer_kernels
from fastmlp._kernels import passes as pass_kernels
from fastmlp._kernels import tiles as tiles_kernels
from fastmlp._kernels.activations import ACTIVATION_CODES
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    SHAPE_IDS,
    SHAPES,
    Problem,
    assert_close,
    make_csr,
    shape_problem,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


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


# 4 columns: rows of up to 4 nonzeros; 23: groups of four and remainders
@pytest.mark.parametrize("n_cols", [4, 23])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("rows_kind", ["all", "permuted-repeats", "one", "none"])
def test_sparse_rows_dot(dtype, index_dtype, n_out, rows_kind, n_cols):
    rng = np.random.default_rng(5)
    csr, _, dense = make_csr(rng, 9, n_cols, dtype, index_dtype)
    rows = {
        "all": np.arange(9),
        "permuted-repeats": np.array([8, 1, 4, 1, 0, 2, 7]),
        "one": np.array([1]),
        "none": np.array([], dtype=np.int64),
    }[rows_kind].astype(np.int64)
    weights = rng.normal(size=(n_cols, n_out)).astype(dtype)
    out = np.full((rows.shape[0], n_out), np.nan, dtype)
    layer_kernels.sparse_rows_dot(*csr, rows, weights, out)
    assert_close(out, dense[rows] @ weights, dtype)


# 4 columns: rows of up to 4 nonzeros; 23: groups of four and remainders
@pytest.mark.parametrize("n_cols", [4, 23])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("rows_kind", ["all", "permuted-repeats", "one"])
def test_sparse_rows_transpose_dot(dtype, index_dtype, n_out, rows_kind, n_cols):
    rng = np.random.default_rng(6)
    csr, _, dense = make_csr(rng, 9, n_cols, dtype, index_dtype)
    rows = {
        "all": np.arange(9),
        "permuted-repeats": np.array([8, 1, 4, 1, 0, 2, 7]),
        "one": np.array([1]),
    }[rows_kind].astype(np.int64)
    delta = rng.normal(size=(rows.shape[0], n_out)).astype(dtype)
    out = np.full((n_cols, n_out), np.nan, dtype)
    layer_kernels.sparse_rows_transpose_dot(*csr, rows, delta, out, 0, n_cols)
    assert_close(out, dense[rows].T @ delta, dtype)
    # blocks of columns computed apart: the whole product's bits, the rest kept
    blocks = np.full((n_cols, n_out), np.nan, dtype)
    cut = n_cols // 3
    layer_kernels.sparse_rows_transpose_dot(*csr, rows, delta, blocks, 0, cut)
    assert np.isnan(blocks[cut:]).all()
    layer_kernels.sparse_rows_transpose_dot(*csr, rows, delta, blocks, cut, n_cols)
    assert_array_equal(blocks, out)


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
