"""Checks of what Python hands to compiled code, at every entry into it.

The kernels index borrowed arrays without bounds checks, trusting that their
sizes agree with the parameter layout they are told. These checks make that
trust hold whatever a Python program does (arrays replaced by the user, one
estimator fitted from several threads): every array a kernel will index is
compared, in O(1) (O(rows + nonzeros) for CSR indices, which a kernel follows
as addresses), with the layout, and a mismatch raises ``ValueError`` before
any compiled code runs. Each costs well under a microsecond per array, paid
once per kernel call.
"""

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class KernelInputError(ValueError):
    """Arrays handed to compiled code disagree with the network's layout."""


def _fail(message):
    raise KernelInputError(
        message + " (the model or its arrays changed while this call used them?)"
    )


def check_array(array, name, size=None, dtype=None, ndim=1):
    """``array`` is a C-contiguous ndarray of ``ndim`` dims, ``size`` values."""
    if not isinstance(array, np.ndarray):
        _fail(f"{name} is a {type(array).__name__}, not an ndarray")
    if array.ndim != ndim or not array.flags.c_contiguous:
        _fail(f"{name} must be a C-contiguous {ndim}-D array")
    if size is not None and array.size != size:
        _fail(f"{name} has {array.size} values where {size} are expected")
    if dtype is not None and array.dtype is not dtype and array.dtype != dtype:
        _fail(f"{name} is {array.dtype} where {np.dtype(dtype)} is expected")


def check_params(params, layout, dtype=None):
    """The flat parameter buffer fits ``layout`` (float32 or float64)."""
    check_array(params, "the parameter buffer", layout.size, dtype)
    if params.dtype not in _FLOATS:
        _fail(f"the parameter buffer is {params.dtype}")


def check_rows_input(data, layout, dtype, n_rows=None):
    """Dense rows or CSR parts (``training.as_kernel_input``) fit ``layout``.

    A CSR matrix's column indices must lie in ``[0, n_features)`` and its row
    pointers rise from 0 to the number of values: the kernels read weight
    rows at those indices.
    """
    n_features = int(layout.layer_units[0])
    if isinstance(data, tuple):
        indptr, indices, values = data
        check_array(values, "the sparse input's values", dtype=dtype)
        check_array(indices, "the sparse input's indices", values.size)
        check_array(indptr, "the sparse input's row pointers")
        rows = indptr.size - 1
        if rows < 0 or (n_rows is not None and rows != n_rows):
            _fail(f"the sparse input has {rows} rows where {n_rows} are expected")
        if indptr[0] != 0 or indptr[-1] != values.size:
            _fail("the sparse input's row pointers do not span its values")
        if rows > 0 and np.any(indptr[1:] < indptr[:-1]):
            _fail("the sparse input's row pointers decrease")
        if indices.size and (indices.min() < 0 or indices.max() >= n_features):
            _fail(f"the sparse input has column indices outside 0..{n_features - 1}")
        return
    check_array(data, "the input", dtype=dtype, ndim=2)
    if data.shape[1] != n_features:
        _fail(
            f"the input has {data.shape[1]} features where the network's first "
            f"layer has {n_features}"
        )
    if n_rows is not None and data.shape[0] != n_rows:
        _fail(f"the input has {data.shape[0]} rows where {n_rows} are expected")


def check_state(arrays, n_params, dtype):
    """An optimizer's state arrays each have one value per parameter."""
    for array in arrays:
        check_array(array, "the optimizer's state", n_params, dtype)


def check_output(out, n_rows, layout, dtype):
    """``out`` has a row of the output layer for each of ``n_rows`` rows."""
    check_array(out, "the output", dtype=dtype, ndim=2)
    if out.shape != (n_rows, int(layout.layer_units[-1])):
        _fail(f"the output has shape {out.shape}")
