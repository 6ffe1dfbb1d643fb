"""Whether a fit reads a dense ``X`` as CSR: the zeros of mostly-zero data skipped.

Bag-of-words counts, one-hot codes and other mostly-zero data often come as
dense arrays; the first layer's products then spend nearly all their
multiply-adds on zeros. :func:`fit_form` returns such an ``X`` as a CSR
matrix when the fit's estimated cost on CSR rows, first layer at
``CSR_MAC_COST`` per multiply-add, is at most half its dense cost (so it pays
even against a dense fit split across two threads). The choice depends on the
data and the net only, never on timing or threads: the same data and
parameters give the same model on any number of threads.
"""

import numpy as np
import scipy.sparse as sp

from .._kernels.to_csr import fill_csr, row_nonzeros
from .._kernels.tunables import CSR_MAC_COST
from .._runtime.thread_plan import forward_macs


def reads_as_csr(n_values, n_nonzero, layer_units):
    """Whether rows with ``n_nonzero`` of ``n_values`` values nonzero fit faster as CSR.

    Parameters
    ----------
    n_values : int
        Entries of ``X`` (rows times features).
    n_nonzero : int
        Nonzero entries of ``X``.
    layer_units : sequence of int
        Units of every layer, input first.

    Returns
    -------
    bool
    """
    units = [int(u) for u in layer_units]
    if n_values == 0 or len(units) < 2:
        return False
    n_features, first = units[0], units[1]
    n_rows = n_values / n_features
    # per row: forward and gradient of the first layer (its inputs need no
    # delta); forward, delta and gradient of each later layer
    rest = 3 * forward_macs(units[1:], 1)
    dense = 2 * n_features * first + rest
    sparse = 2 * CSR_MAC_COST * (n_nonzero / n_rows) * first + rest
    return 2 * sparse <= dense


def fit_form(X, layer_units):
    """``X`` as a fit should read it: CSR if :func:`reads_as_csr`, else ``X``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Validated input; sparse matrices are returned as they are.
    layer_units : sequence of int
        Units of every layer, input first.

    Returns
    -------
    ndarray or scipy.sparse.csr_matrix
    """
    if sp.issparse(X) or X.size == 0:
        return X
    # NumPy's count decides (a first dense fit compiles no CSR kernel); the
    # rows' counts only for data that goes to CSR
    if not reads_as_csr(X.size, np.count_nonzero(X), layer_units):
        return X
    n_rows, n_features = X.shape
    index_dtype = np.int32 if X.size < 2**31 - 1 else np.int64
    indptr = np.empty(n_rows + 1, dtype=index_dtype)
    n_nonzero = row_nonzeros(X, indptr)
    indices = np.empty(n_nonzero, dtype=index_dtype)
    data = np.empty(n_nonzero, dtype=X.dtype)
    if not fill_csr(X, indptr, indices, data):
        raise ValueError("X changed while it was read (another thread wrote to it?)")
    return sp.csr_matrix((data, indices, indptr), shape=X.shape)
