"""Small matrix products in register tiles instead of BLAS.

A BLAS call costs a few microseconds before it multiplies anything (argument
checks, packing both operands), and OpenBLAS runs products of 10^4-10^5
multiply-adds far below its peak. The tiles of ``fastmlp._simd`` need neither.
Measured on the 2-core Zen 1 machine (median of 7 runs of many calls, OpenBLAS
0.3.31 Haswell kernels, one thread), BLAS time / tile time:

============================  =======  =======
product (rows x depth x cols)  float64  float32
============================  =======  =======
32 x 20 x 32 (small net)         2.50     1.80
20 x 32 x 32, ``a.T @ b``        2.72     2.08
64 x 64 x 64                     1.18     1.29
200 x 100 x 10                   1.09     0.59
100 x 200 x 10, ``a.T @ b``      1.41     0.84
200 x 64 x 100 (1.3M MACs)       0.69     0.58
============================  =======  =======

Hence :func:`use_tiles`: on CPUs with FMA instructions, tiles up to
``TILE_MAX_MACS`` multiply-adds, but only up to ``NARROW_MAX_MACS`` when there
are fewer columns than one full tile's (there the edge tiles, one column at a
time, do most of the work).

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
from .blas import product

TILE_MAX_MACS = 1 << 18
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
    a_flat = a.reshape(a.size)
    b_flat = b.reshape(b.size)
    out_flat = out.reshape(out.size)
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
    """
    depth = a.shape[1]
    for i in range(start, stop):
        total = out.dtype.type(0.0)
        for p in range(depth):
            total += a[i, p] * b[p, 0]
        out[i, 0] = total


if config.DISABLE_JIT:  # intrinsics cannot be called from Python

    def tiled_product(a, strides, depth, b, out, start, stop):  # noqa: F811
        """Python stand-in of the tiles above (``NUMBA_DISABLE_JIT=1``)."""
        step = a.itemsize
        shape = (out.shape[0], depth)
        left = as_strided(a, shape, (strides[0] * step, strides[1] * step))
        for i in range(start, stop):  # row by row: the same bits however split
            out[i] = left[i] @ b
