"""Small matrix products in register tiles instead of BLAS.

A BLAS call costs a few microseconds before it multiplies anything (argument
checks, packing both operands), and OpenBLAS runs products of 10^4-10^6
multiply-adds below its peak. The tiles of ``fastmlp._simd`` need neither.
Measured on the 2-core Zen 1 machine (best of 3 runs of many calls, OpenBLAS
0.3.30 Haswell kernels, one thread), BLAS time / tile time. OpenBLAS has two
speeds here: in a process whose double-precision products have all been
small ("first") it runs them ~1.45x slower than after one deep product (e.g.
64 x 256 x 64, "later"), for the rest of the process; the tiles run at one
speed (~18 GFLOP/s in float64, ~35 in float32, near one core's FMA peak):

==================================  =====  =====  =======
product (rows x depth x cols)       f64,   f64,   float32
                                    first  later
==================================  =====  =====  =======
32 x 20 x 32 (small net)             2.41     —     1.68
64 x 64 x 64                         1.69   1.16    1.29
200 x 64 x 100 (digits, 1.3M MACs)   1.56   1.08    0.98
64 x 200 x 100, ``a.T @ b``          1.18   1.09    1.15
64 x 64 x 64, ``a @ b.T`` (*)        1.44   0.99    0.94
200 x 10 x 100, ``a @ b.T`` (*)      1.32   1.36    1.07
100 x 784 x 256                      0.79   0.71    0.72
==================================  =====  =====  =======

(*) including the copy of ``b.T`` the tiles need
(``fastmlp._kernels.passes.dot_transpose``).

Hence :func:`use_tiles`: on CPUs with FMA instructions, tiles up to
``TILE_MAX_MACS`` multiply-adds (2M: every product of the digits and 64-unit
nets, none of the 784-input ones), but only up to ``NARROW_MAX_MACS`` when
there are fewer columns than one full tile's (there the edge tiles, one
column at a time, do most of the work). In whole epochs, alternated in one
process against the 256K limit and BLAS for ``a @ b.T``: digits 1.10-1.13x
faster, 64-unit regression and multilabel nets 1.06-1.07x, L-BFGS on
breast_cancer 1.06x, float32 784-input nets unchanged.

On a 2-core Zen 5 machine (AVX-512: 8-row tiles of 512-bit vectors, see
``fastmlp._simd``; OpenBLAS 0.3.31 with its own AVX-512 kernels, one
thread), BLAS time / tile time in float64 and float32: 32 x 20 x 32 0.82
and 0.70, 64 x 64 x 64 0.98 and 0.97, 200 x 64 x 100 1.42 and 1.10, 64 x 200
x 100 1.50 and 1.31, 455 x 30 x 50 0.89 and 0.94, 200 x 784 x 256 0.80 and
1.14. OpenBLAS's small-matrix kernels win the smallest products in a loop
of identical calls, but sending products under 40K multiply-adds to them
made small-net epochs no faster (1.01x, alternated, within noise), so the
limits stay as they are, but float32 goes to tiles up to
``WIDE_FLOAT32_MAX_MACS``.

Every output is summed in order whatever the tile, so the rows or columns of
one product may be computed by several threads, part by part, and give the
same bits as one call (the callers decide from the whole product's shape).
"""

import numpy as np
from numba import config
from numpy.lib.stride_tricks import as_strided

from .._numba import inlined_kernel, kernel
from .._simd import (
    ROWS,
    VECTOR_BYTES,
    VECTORS,
    edge_tile,
    full_tile,
    has_vector_fma,
)
from .._views import flat_view
from .blas import product

TILE_MAX_MACS = 1 << 21
# float32 with AVX-512: the tiles beat single-threaded OpenBLAS (each thread of
# a split batch runs its own) at every size measured, 200 x 784 x 256
# included (334 against 380 us); 784-input float32 epochs 1.09x faster
WIDE_FLOAT32_MAX_MACS = 1 << 26
NARROW_MAX_MACS = 1 << 16
VECTOR_FMA = has_vector_fma()  # a compile-time constant of the kernels


@kernel
def use_tiles(n_rows, depth, n_cols, itemsize):
    """Whether an ``(n_rows, depth) @ (depth, n_cols)`` product goes to tiles.

    Never on a CPU without fused multiply-add (:func:`has_vector_fma`).
    """
    if not VECTOR_FMA:
        return False
    macs = n_rows * depth * n_cols
    full_tile_cols = VECTORS * (VECTOR_BYTES // itemsize)
    if n_cols >= full_tile_cols:
        if itemsize == 4 and VECTOR_BYTES == 64:
            return macs <= WIDE_FLOAT32_MAX_MACS
        return macs <= TILE_MAX_MACS
    return macs <= NARROW_MAX_MACS


@kernel
def tiled_product(a, strides, depth, b, out, start, stop):
    """Rows ``start:stop`` of ``out = A @ b``, ``A`` a strided view of ``a``.

    ``A[i, p]`` is ``a.flat[i * strides[0] + p * strides[1]]`` for ``p <
    depth``: ``(a.shape[1], 1)`` for ``a`` itself, ``(1, a.shape[1])`` for
    ``a.T``. ``a``, ``b`` and ``out`` are C-contiguous; ``out`` has all the
    product's rows (only ``start:stop`` are written). Strides rather than a
    flag, so that one compiled version serves both (a literal flag compiled
    one per value, ~0.7 s each).
    """
    n_cols = b.shape[1]
    lanes = VECTOR_BYTES // a.itemsize
    a_flat = flat_view(a)
    b_flat = flat_view(b)
    out_flat = flat_view(out)
    wide_stop = n_cols - n_cols % (VECTORS * lanes)
    for i in range(start, stop, ROWS):
        rows = min(ROWS, stop - i)
        out_row = i * n_cols
        for j in range(0, wide_stop, VECTORS * lanes):
            full_tile(a_flat, i * strides[0], strides, b_flat, j, out_flat, out_row + j,
                      n_cols, depth, lanes, rows)  # fmt: skip
        for j in range(wide_stop, n_cols, lanes):
            edge_tile(a_flat, i * strides[0], strides, b_flat, j, out_flat, out_row + j,
                      n_cols, depth, min(lanes, n_cols - j), rows)  # fmt: skip


@inlined_kernel
def product_rows(a, b, out, start, stop):
    """Rows ``start:stop`` of ``out = a @ b``: tiles if the whole product is small.

    The choice depends on the whole product's shape, not on the rows asked
    for, so threads that share a product's rows compute what one call does.
    One output column (binary classification, single-output regression) is a
    dot product per row: 0.35 us for 32 x 32 @ 32 x 1 against 1.15 us in edge
    tiles and ~2 us through BLAS (measured).
    """
    depth = a.shape[1]
    if b.shape[1] == 1:
        column_product(a, b, out, start, stop)
    elif use_tiles(a.shape[0], depth, b.shape[1], a.itemsize):
        tiled_product(a, (depth, np.int64(1)), depth, b, out, start, stop)
    else:
        product(a[start:stop], False, b, False, out[start:stop])


@kernel
def column_product(a, b, out, start, stop):
    """Rows ``start:stop`` of ``out = a @ b`` when ``b`` has one column.

    Each row's sum runs over ``a``'s columns in order, whatever the rows.
    Four rows at a time: each sum is a chain of dependent additions, and four
    independent chains keep the adders busy where one waits for each result.
    """
    depth = a.shape[1]
    zero = out.dtype.type(0.0)
    i = start
    while i + 4 <= stop:
        total_0 = total_1 = total_2 = total_3 = zero
        for p in range(depth):
            weight = b[p, 0]
            total_0 += a[i, p] * weight
            total_1 += a[i + 1, p] * weight
            total_2 += a[i + 2, p] * weight
            total_3 += a[i + 3, p] * weight
        out[i, 0] = total_0
        out[i + 1, 0] = total_1
        out[i + 2, 0] = total_2
        out[i + 3, 0] = total_3
        i += 4
    for row in range(i, stop):
        total = zero
        for p in range(depth):
            total += a[row, p] * b[p, 0]
        out[row, 0] = total


if config.DISABLE_JIT:  # intrinsics cannot be called from Python

    def tiled_product(a, strides, depth, b, out, start, stop):  # noqa: F811
        """Python stand-in of the tiles above (``NUMBA_DISABLE_JIT=1``)."""
        step = a.itemsize
        shape = (out.shape[0], depth)
        left = as_strided(a, shape, (strides[0] * step, strides[1] * step))
        for i in range(start, stop):  # row by row: the same bits however split
            out[i] = left[i] @ b
