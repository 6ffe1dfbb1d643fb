"""Dense rows to CSR parts (``fastmlp._kernels.to_csr``) against scipy."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from fastmlp._kernels import to_csr

pytestmark = pytest.mark.kernel

DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_dense_rows_to_csr_parts(dtype, order):
    rng = np.random.default_rng(8)
    X = (rng.random((7, 13)) < 0.3) * rng.normal(size=(7, 13))
    X[2] = 0.0  # an empty row
    X[4, 5] = -0.0  # a zero of the other sign is no value
    X = np.asarray(X, dtype=dtype, order=order)
    indptr = np.empty(8, dtype=np.int32)
    n_nonzero = to_csr.row_nonzeros(X, indptr)
    expected = sp.csr_matrix(X)
    assert n_nonzero == expected.nnz
    assert_array_equal(indptr, expected.indptr)
    indices = np.empty(n_nonzero, dtype=np.int32)
    data = np.empty(n_nonzero, dtype=dtype)
    assert to_csr.fill_csr(X, indptr, indices, data)
    assert_array_equal(indices, expected.indices)
    assert_array_equal(data, expected.data)
    # counts that no longer match the rows: no write past a row's count
    short = indptr.copy()
    short[1:] = np.maximum(short[1:] - 1, 0)
    indices[:] = -1
    assert not to_csr.fill_csr(X, short, indices, data)
