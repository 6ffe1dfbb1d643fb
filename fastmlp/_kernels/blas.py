"""Direct BLAS calls for products that ``np.dot`` cannot express.

``np.dot`` in numba needs contiguous operands (it copies the others, which
allocates). A block of columns of a row-major matrix is not contiguous, but
BLAS takes it as it is: a pointer to the first element and the parent's leading
dimension. numba's own ``numba_xxgemm`` helper is what ``np.dot`` calls; it is
declared here as an external symbol (resolved by name, so kernels using it are
cached like the others) and reaches the same scipy BLAS.
"""

import numpy as np
from numba import config, types

from .._numba import kernel

_xxgemm = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(
        types.char,  # kind: 's' or 'd'
        types.char,  # transa
        types.char,  # transb
        types.intp,  # m
        types.intp,  # n
        types.intp,  # k
        types.voidptr,  # alpha
        types.voidptr,  # a
        types.intp,  # lda
        types.voidptr,  # b
        types.intp,  # ldb
        types.voidptr,  # beta
        types.voidptr,  # c
        types.intp,  # ldc
    ),
)

_NO_TRANSPOSE = 78  # ord("N")
_TRANSPOSE = 84  # ord("T")
_DOUBLE = 100  # ord("d")
_SINGLE = 115  # ord("s")


@kernel
def gemm_constants(dtype_like):
    """``[1, 0]`` in the dtype of ``dtype_like``: BLAS's alpha and beta."""
    constants = np.zeros(2, dtype=dtype_like.dtype)
    constants[0] = 1.0
    return constants


@kernel
def transpose_dot_rows(a, delta, out, start, stop, constants):
    """``out[start:stop] = a[:, start:stop].T @ delta``.

    ``a`` (n, p), ``delta`` (n, q) and ``out`` (p, q) are C-contiguous.
    Column-major BLAS sees ``out`` as the (q, p) matrix ``delta' @ a'^T``, the
    rows asked for as its columns ``start:stop`` (contiguous) and ``a``'s columns
    as a block of rows of ``a'`` with leading dimension ``p``. Every value is
    computed as in the whole product (the tests compare the two).

    ``constants`` is :func:`gemm_constants`'s array.
    """
    if stop <= start:
        return
    n_rows, fan_in = a.shape
    fan_out = delta.shape[1]
    kind = np.uint8(_DOUBLE) if a.itemsize == 8 else np.uint8(_SINGLE)
    a_flat = a.reshape(n_rows * fan_in)
    out_flat = out.reshape(fan_in * fan_out)
    _xxgemm(
        kind,
        np.uint8(_NO_TRANSPOSE),
        np.uint8(_TRANSPOSE),
        fan_out,
        stop - start,
        n_rows,
        constants[0:].ctypes,
        delta.reshape(n_rows * fan_out).ctypes,
        fan_out,
        a_flat[start:].ctypes,
        fan_in,
        constants[1:].ctypes,
        out_flat[start * fan_out :].ctypes,
        fan_out,
    )


if config.DISABLE_JIT:  # an external symbol cannot be called from Python

    def transpose_dot_rows(a, delta, out, start, stop, constants):  # noqa: F811
        """Python stand-in of the BLAS call above (``NUMBA_DISABLE_JIT=1``)."""
        np.dot(a[:, start:stop].T, delta, out[start:stop])
