"""Prediction kernels (``fastmlp._kernels.predict``)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._kernels import predict as predict_kernels
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    NO_FIRE,
    OUTPUT_SIZES,
    SHAPE_IDS,
    SHAPES,
    Problem,
    assert_close,
    nan_work,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


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
    assert predict_kernels.predict_dense(
        X, problem.params, problem.net, work, block_rows, out, True, NO_FIRE
    )
    coefs, intercepts = problem.reference_params()
    assert_close(out, ref.predict(X, coefs, intercepts, "logistic", "softmax"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predict_dense_reports_a_value_that_is_not_finite(dtype, bad):
    problem = Problem(19, 4, (5,), 3, 10, dtype, hidden="relu", loss_name="log_loss")
    work = nan_work(problem.layout, 4, dtype)
    out = np.full(problem.Y.shape, np.nan, dtype)
    # Interpreted (NUMBA_DISABLE_JIT) the kernels' NumPy scalars warn on the
    # inf and NaN these rows are made to produce; compiled code does not.
    with np.errstate(over="ignore", invalid="ignore"):
        for row in (0, 5, 9):  # the first, a middle and the last block of 4 rows
            X = problem.X.copy()
            X[row, 2] = bad
            args = (problem.params, problem.net, work, 4, out)
            assert not predict_kernels.predict_dense(X, *args, True, NO_FIRE)
            assert predict_kernels.predict_dense(X, *args, False, NO_FIRE)  # unchecked
        big = np.finfo(dtype).max
        X = np.full_like(problem.X, big)  # the largest finite values are finite
        assert predict_kernels.predict_dense(X, *args, True, NO_FIRE)
    assert predict_kernels.all_finite(X[:0])


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
        problem.csr, rows, problem.params, problem.net, work, block_rows, out, NO_FIRE
    )
    coefs, intercepts = problem.reference_params()
    want = ref.predict(problem.matrix[rows], coefs, intercepts, "relu", "exp")
    assert_close(out, want, dtype)
