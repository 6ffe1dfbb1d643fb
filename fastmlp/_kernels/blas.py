"""Matrix products in BLAS, called directly rather than through ``np.dot``.

numba's ``np.dot`` compiles its own checks and helpers at each call site
(~0.3 s of a cold first fit each) and needs contiguous operands, where a
block of columns of a row-major matrix is not. BLAS takes such a block as it
is: a pointer to its first element and the parent's leading dimension. Both
kernels here make the call ``np.dot`` makes (``fastmlp._kernels.gemm.xxgemm``), so
they compute the same bits; the tests compare them.
"""

import numpy as np
from numba import config

from .gemm import xxgemm
from .jit import kernel


@kernel
def product(x, x_transposed, y, y_transposed, out):
    """``out = op(x) @ op(y)``, ``op`` transposing where asked.

    ``x``, ``y`` and ``out`` are C-contiguous: what ``np.dot(x.T, y, out)``
    (and the other three) computes, by the same BLAS call (row-major ``out``
    is column-major ``out.T = op(y).T @ op(x).T``).
    """
    m, n = out.shape
    depth = x.shape[0] if x_transposed else x.shape[1]
    if m == 0 or n == 0:
        return
    if depth == 0:  # an empty sum; BLAS wants leading dimensions >= 1
        for i in range(m):
            for j in range(n):
                out[i, j] = 0.0
        return
    zero = np.int64(0)
    xxgemm(y_transposed, x_transposed, n, m, depth, y, zero, y.shape[1], x, zero,
           x.shape[1], out, zero, n)  # fmt: skip


@kernel
def transpose_dot_rows(a, delta, out, start, stop):
    """``out[start:stop] = a[:, start:stop].T @ delta``.

    ``a`` (n, p), ``delta`` (n, q) and ``out`` (p, q) are C-contiguous.
    Column-major BLAS sees ``out`` as the (q, p) matrix ``delta' @ a'^T``, the
    rows asked for as its columns ``start:stop`` (contiguous) and ``a``'s columns
    as a block of rows of ``a'`` with leading dimension ``p``. Every value is
    computed as in the whole product (the tests compare the two).
    """
    if stop <= start:
        return
    n_rows, fan_in = a.shape
    fan_out = delta.shape[1]
    zero = np.int64(0)
    xxgemm(False, True, fan_out, stop - start, n_rows, delta, zero, fan_out, a,
           start, fan_in, out, start * fan_out, fan_out)  # fmt: skip


if config.DISABLE_JIT:  # an intrinsic cannot be called from Python

    def product(x, x_transposed, y, y_transposed, out):  # noqa: F811
        """Python stand-in of the BLAS call above (``NUMBA_DISABLE_JIT=1``)."""
        np.dot(x.T if x_transposed else x, y.T if y_transposed else y, out)

    def transpose_dot_rows(a, delta, out, start, stop):  # noqa: F811
        """Python stand-in of the BLAS call above (``NUMBA_DISABLE_JIT=1``)."""
        np.dot(a[:, start:stop].T, delta, out[start:stop])
