"""Views built without numba's reshape (``fastmlp._kernels.views``) against NumPy's."""

import sys

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._kernels.views import borrowed, flat_view, matrix_view, typed_writable

pytestmark = pytest.mark.kernel


@numba.njit
def _matrix(flat, start, n_rows, n_cols):
    return matrix_view(flat, start, n_rows, n_cols)


@numba.njit
def _flat(matrix):
    return flat_view(matrix)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start, n_rows, n_cols", [(0, 3, 4), (5, 2, 7), (3, 0, 0)])
def test_matrix_view_is_the_reshaped_slice(dtype, start, n_rows, n_cols):
    flat = np.arange(40, dtype=dtype)
    view = _matrix(flat, np.int64(start), np.int64(n_rows), np.int64(n_cols))
    want = flat[start : start + n_rows * n_cols].reshape((n_rows, n_cols))
    assert view.dtype == dtype
    assert view.shape == want.shape
    if want.size:  # NumPy's strides of an empty reshape are its own
        assert view.strides == want.strides
    assert view.flags.c_contiguous
    assert_array_equal(view, want)


def test_matrix_view_shares_the_buffer():
    flat = np.zeros(20)
    view = _matrix(flat, np.int64(4), np.int64(2), np.int64(3))
    view[1, 2] = 7.0
    assert flat[4 + 5] == 7.0
    assert np.count_nonzero(flat) == 1


def test_views_of_read_only_arrays_stay_read_only():
    flat = np.arange(12.0)
    flat.flags.writeable = False
    assert not _matrix(flat, np.int64(0), np.int64(3), np.int64(4)).flags.writeable
    assert not _flat(flat.reshape(3, 4)).flags.writeable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_view_is_the_raveled_matrix(dtype):
    matrix = np.arange(15, dtype=dtype).reshape(3, 5)
    flat = _flat(matrix)
    assert flat.shape == (15,)
    assert flat.strides == (matrix.itemsize,)
    assert_array_equal(flat, matrix.ravel())
    flat[7] = -1
    assert matrix[1, 2] == -1


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="a typing check of compiled code")
def test_views_refuse_arrays_that_are_not_c_contiguous():
    with pytest.raises(numba.core.errors.TypingError):
        _flat(np.zeros((4, 6))[:, ::2])
    with pytest.raises(numba.core.errors.TypingError):
        _matrix(np.zeros(10)[::2], np.int64(0), np.int64(1), np.int64(1))


@numba.njit
def _borrowed_sum(array):
    view = borrowed(array)
    return view[1:].sum() + view.shape[0]


@numba.njit
def _typed_writable_sum(array):
    view = typed_writable(array)
    return view[1:].sum() + view.shape[0]


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("view_sum", [_borrowed_sum, _typed_writable_sum])
@pytest.mark.parametrize("shape", [(5,), (3, 4)])
def test_borrowed_is_the_same_array(shape, view_sum, read_only):
    """Both borrow (no reference count moves); typed_writable reads read-only
    arrays as they are."""
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    array.flags.writeable = not read_only
    before = sys.getrefcount(array)
    for _ in range(3):
        assert view_sum(array) == array[1:].sum() + array.shape[0]
    assert sys.getrefcount(array) == before
