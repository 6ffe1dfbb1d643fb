"""A shortcut through scikit-learn's ``validate_data`` for plain NumPy arrays.

These functions accept only inputs for which ``validate_data`` would return the
very same objects and raise and warn nothing: a C- or Fortran-ordered ndarray of a
dtype it keeps (for predictions also a CSR or CSC matrix), finite, of the right
shape and feature count, outside array-API mode. For those they return what it
returns and make the same changes to the estimator (``n_features_in_``,
``feature_names_in_``); for anything else, None, and
the caller runs ``validate_data``, so every error and warning is scikit-learn's
own (``tests/test_plain_input.py`` compares both, input by input).

Why: ``validate_data`` costs ~150-250 us a call whatever the size of the data.
Measurements: ``docs/design/call_overhead.md``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn import get_config

# dtype kinds check_array(dtype="numeric") and check_array(dtype=None) keep as
# they are: booleans, signed and unsigned integers, reals
_NUMERIC_KINDS = "biuf"
# up to this many values, _finite tests each value rather than their sum
_ELEMENTWISE_FINITE_SIZE = 8192


def plain_fit_data(estimator, X, y, *, reset, dtypes):
    """``validate_data(estimator, X, y, multi_output=True, dtype=dtypes, ...)``.

    For the arguments fastmlp's ``fit`` and ``partial_fit`` pass (sparse CSR and
    CSC accepted, ``y_numeric`` or not): ``(X, y)`` when both are plain
    arrays that need no conversion, else None.

    Parameters
    ----------
    estimator : estimator instance
    X, y : object
        As given to ``fit``.
    reset : bool
        Whether the call sets ``n_features_in_`` (``fit``, first
        ``partial_fit``) or checks it.
    dtypes : tuple of numpy dtypes
        The dtypes ``X`` is kept in.

    Returns
    -------
    tuple of (ndarray, ndarray) or None
    """
    config = get_config()
    if not (
        _plain(X, (2,), config) and X.dtype in dtypes and _plain(y, (1, 2), config)
    ):
        return None
    if y.shape[0] != X.shape[0] or not _same_features(estimator, X, reset):
        return None
    if not (_finite(X, config) and _finite(y, config)):
        return None
    _set_features(estimator, X, reset)
    return X, y


def plain_predict_data(estimator, X, check_finite=True):
    """``validate_data(estimator, X, accept_sparse=..., reset=False)``, or None.

    Parameters
    ----------
    estimator : fitted estimator instance
    X : object
        As given to ``predict`` and the like.
    check_finite : bool, default=True
        False for a caller that tests the values itself and validates ``X``
        in full if one is not finite.

    Returns
    -------
    ndarray or None
    """
    config = get_config()
    if _plain_sparse(X, config):
        values = X.data
    elif _plain(X, (2,), config):
        values = X
    else:
        return None
    if not _same_features(estimator, X, reset=False):
        return None
    return X if not check_finite or _finite(values, config) else None


def _plain(array, ndims, config):
    """An ndarray (not a subclass) of a kept dtype, ``ndim`` in ``ndims``, not empty."""
    return (
        type(array) is np.ndarray
        and array.ndim in ndims
        and array.dtype.kind in _NUMERIC_KINDS
        and 0 not in array.shape
        and not config["array_api_dispatch"]
    )


def _plain_sparse(matrix, config):
    """A 2-D CSR or CSC matrix (or array) of a kept dtype, with rows and columns.

    ``validate_data(..., accept_sparse=["csr", "csc"])`` returns such a
    matrix itself once its stored values are finite: it converts other
    formats and dtypes, and tests nothing else of it.
    """
    return (
        sp.issparse(matrix)
        and matrix.format in ("csr", "csc")
        and len(matrix.shape) == 2
        and matrix.dtype.kind in _NUMERIC_KINDS
        and 0 not in matrix.shape
        and not config["array_api_dispatch"]
    )


def _finite(array, config):
    """check_array's first finiteness pass: a finite sum (false: let it look)."""
    if array.dtype.kind != "f" or config["assume_finite"]:
        return True
    if array.size <= _ELEMENTWISE_FINITE_SIZE:
        # what the sum tells, for less than np.errstate costs (a sum that
        # overflows sends validate_data to this very test)
        return bool(np.isfinite(array).all())
    with np.errstate(over="ignore"):
        return bool(np.isfinite(array.sum()))


def _same_features(estimator, X, reset):
    """Whether a check of ``X``'s feature count and names would pass quietly."""
    if reset:
        return True
    if hasattr(estimator, "feature_names_in_"):
        return False  # fitted with names: validate_data warns about X
    expected = getattr(estimator, "n_features_in_", None)
    return expected is None or expected == X.shape[1]


def _set_features(estimator, X, reset):
    """What validate_data records about ``X`` (an array without names)."""
    if reset:
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.n_features_in_ = X.shape[1]
