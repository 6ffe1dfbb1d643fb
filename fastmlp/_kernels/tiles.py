"""Small matrix products in register tiles instead of BLAS.

:func:`use_tiles` (and :func:`use_tiles_transposed` for ``a @ b.T``) choose from a
product's shape and dtype, against the limits in ``limit_table``, which
``fastmlp._runtime.tile_calibration`` measures on the machine that runs and
writes there, per dtype, before the first kernel of that dtype runs. The
values below are the built-in ones, in force where nothing was measured.
Invariant: every output is summed in order whatever the tile, so rows or
columns of one product split among threads give the same bits as one call
(callers choose from the whole product's shape).

Why: a BLAS call costs microseconds before it multiplies anything, and which way
is faster depends on the CPU and the BLAS build: ``docs/design/tiles_calibration.md``.
"""

import numpy as np
from numba import config
from numpy.lib.stride_tricks import as_strided

from .blas import product
from .jit import inlined_kernel, kernel
from .limit_table import (
    DTYPES,
    MAX_MACS,
    MAX_RIGHT,
    NARROW_MAX_MACS,
    TRANSPOSED_MAX_MACS,
    TRANSPOSED_MAX_RIGHT,
    TRANSPOSED_NARROW_MAX_MACS,
    set_limits,
    tile_limit,
)
from .simd import (
    ROW_VECTORS,
    ROWS,
    TAIL_ROWS,
    VECTOR_BYTES,
    VECTORS,
    edge_tile,
    full_tile,
    has_vector_fma,
    row_edge_tile,
    row_pair_tile,
    row_tile,
)
from .tunables import AVX512_FLOAT32_MAX_MACS, BUILTIN_TILE_LIMITS
from .views import flat_view, matrix_view

# The limits, per dtype: tiles for products of at most ``max_macs``
# multiply-adds whose right operand has at most ``max_right`` values, or at
# most ``narrow_max_macs`` when there are fewer columns than one full tile's;
# ``transposed_*`` further limit ``a @ b.T``, whose tiles copy ``b.T`` first.
# -1: never. The limits in force are in ``limit_table``, set by
# ``fastmlp._runtime.tile_calibration``; these are the built-in ones.
DEFAULT_LIMITS = {
    "float64": {
        **BUILTIN_TILE_LIMITS,
        **{f"transposed_{name}": value for name, value in BUILTIN_TILE_LIMITS.items()},
    },
    "float32": {
        **BUILTIN_TILE_LIMITS,
        **{f"transposed_{name}": value for name, value in BUILTIN_TILE_LIMITS.items()},
        **(
            {
                "max_macs": AVX512_FLOAT32_MAX_MACS,
                "transposed_max_macs": AVX512_FLOAT32_MAX_MACS,
            }
            if VECTOR_BYTES == 64
            else {}
        ),
    },
}
for _dtype in DTYPES:  # until fastmlp._runtime.tile_calibration settles them
    set_limits(_dtype, DEFAULT_LIMITS[_dtype])
VECTOR_FMA = has_vector_fma()  # a compile-time constant of the kernels


@kernel
def use_tiles(n_rows, depth, n_cols, itemsize):
    """Whether an ``(n_rows, depth) @ (depth, n_cols)`` product goes to tiles.

    Never on a CPU without fused multiply-add (:func:`has_vector_fma`). A
    product with fewer rows never needs more: what ``n_rows=1`` allows, the
    callers may prepare for (``fastmlp._engine.training.transposed_scratch_size``).
    """
    if not VECTOR_FMA:
        return False
    macs = n_rows * depth * n_cols
    if n_cols < VECTORS * (VECTOR_BYTES // itemsize):  # narrower than a full tile
        return macs <= tile_limit(itemsize, NARROW_MAX_MACS)
    return macs <= tile_limit(itemsize, MAX_MACS) and depth * n_cols <= tile_limit(
        itemsize, MAX_RIGHT
    )


@kernel
def use_tiles_transposed(n_rows, depth, n_cols, itemsize):
    """Whether ``(n_rows, depth) @ b.T``, ``b`` of ``n_cols`` rows, goes to tiles.

    The tiles first copy ``b.T`` (``passes.dot_transpose``), which costs more
    the larger ``b`` is: limits of its own, and only where :func:`use_tiles`
    allows too (so a copy sized by it for one row always fits).
    """
    if not use_tiles(n_rows, depth, n_cols, itemsize):
        return False
    macs = n_rows * depth * n_cols
    if n_cols < VECTORS * (VECTOR_BYTES // itemsize):
        return macs <= tile_limit(itemsize, TRANSPOSED_NARROW_MAX_MACS)
    return macs <= tile_limit(
        itemsize, TRANSPOSED_MAX_MACS
    ) and depth * n_cols <= tile_limit(itemsize, TRANSPOSED_MAX_RIGHT)


@inlined_kernel
def in_blas(n_rows, depth, n_cols, itemsize):
    """Whether BLAS computes an ``(n_rows, depth) @ (depth, n_cols)`` product.

    ``a @ b`` (:func:`product_rows`) and ``a.T @ b``
    (``layers.small_transpose_dot``): neither one output column (a loop of
    its own) nor small enough for the tiles. The one predicate of both, and
    of ``threaded.rows_align``, which must agree with them.
    """
    return n_cols != 1 and not use_tiles(n_rows, depth, n_cols, itemsize)


@inlined_kernel
def transposed_in_blas(n_rows, depth, n_cols, room, itemsize):
    """Whether BLAS computes ``(n_rows, depth) @ b.T``, ``b`` of ``n_cols`` rows.

    ``layers.dot_transpose``'s: neither an outer product (``depth`` 1) nor
    small enough for the tiles with ``b.T`` copied into ``room`` values.
    """
    return depth != 1 and not (
        depth * n_cols <= room and use_tiles_transposed(n_rows, depth, n_cols, itemsize)
    )


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
    # The last rows, fewer than a tile's: up to TAIL_ROWS (2 of 8 with
    # AVX-512, 1 of 4 with AVX2) in one tail tile, more in one more full
    # tile that stores only them (the same sums either way): two tail tiles
    # for 3-4 rows cost as much as the full tile or more, a row one at a
    # time 1/2-1/2.5 of it (300 -> 256 -> 128 -> 10 predictions, Zen 5).
    tail = (stop - start) % ROWS
    tiled_stop = stop if tail > TAIL_ROWS else stop - tail
    for i in range(start, tiled_stop, ROWS):
        a_row, out_row, rows = i * strides[0], i * n_cols, min(ROWS, stop - i)
        for j in range(0, wide_stop, VECTORS * lanes):
            full_tile(a_flat, a_row, strides, b_flat, j, out_flat, out_row + j,
                      n_cols, depth, lanes, rows)  # fmt: skip
        for j in range(wide_stop, n_cols, lanes):
            edge_tile(a_flat, a_row, strides, b_flat, j, out_flat, out_row + j,
                      n_cols, depth, min(lanes, n_cols - j), rows)  # fmt: skip
    long_stop = n_cols - n_cols % (ROW_VECTORS * lanes)
    for i in range(tiled_stop, stop, TAIL_ROWS):
        a_row, out_row, rows = i * strides[0], i * n_cols, min(TAIL_ROWS, stop - i)
        for j in range(0, long_stop, ROW_VECTORS * lanes):
            row_tile(a_flat, a_row, strides, b_flat, j, out_flat, out_row + j,
                     n_cols, depth, lanes, rows)  # fmt: skip
        for j in range(long_stop, wide_stop, VECTORS * lanes):
            row_pair_tile(a_flat, a_row, strides, b_flat, j, out_flat,
                          out_row + j, n_cols, depth, lanes, rows)  # fmt: skip
        for j in range(wide_stop, n_cols, lanes):
            count = min(lanes, n_cols - j)
            row_edge_tile(a_flat, a_row, strides, b_flat, j, out_flat,
                          out_row + j, n_cols, depth, count, rows)  # fmt: skip


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
    elif in_blas(a.shape[0], depth, b.shape[1], a.itemsize):
        product(a[start:stop], False, b, False, out[start:stop])
    else:
        tiled_product(a, (depth, np.int64(1)), depth, b, out, start, stop)


@kernel
def repeated_product(a, b, out, scratch, kind, tiles, repeats):
    """``out = A @ B`` ``repeats`` times, in tiles or BLAS as told (calibration).

    What the passes compute, each way: ``kind`` 0 is ``a @ b``
    (:func:`product_rows`), 1 ``a.T @ b`` (``passes.small_transpose_dot``),
    2 ``a @ b.T`` (``passes.dot_transpose``, whose tiles first copy ``b.T``
    into ``scratch``). ``fastmlp._runtime.tile_calibration`` times the two
    ways with it.
    """
    n_rows, n_cols = out.shape
    zero = np.int64(0)
    a_transposed, b_transposed = kind == 1, kind == 2
    depth = a.shape[0] if a_transposed else a.shape[1]
    strides = (np.int64(1), n_rows) if a_transposed else (depth, np.int64(1))
    right = matrix_view(scratch, zero, depth, n_cols) if b_transposed else b
    for _ in range(repeats):
        if not tiles:
            product(a, a_transposed, b, b_transposed, out)
            continue
        if b_transposed:  # the copy dot_transpose's tiles make first
            for j in range(depth):
                for i in range(n_cols):
                    right[j, i] = b[i, j]
        tiled_product(a, strides, depth, right, out, zero, n_rows)


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
