"""``fastmlp._kernels.blas.product`` (``transpose_dot_rows``: test_threaded.py)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._kernels import blas as blas_kernels
from tests.kernels._helpers import DTYPES

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


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
