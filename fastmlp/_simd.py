"""Register-blocked multiply-add tiles, written as LLVM vector code.

numba has no vector types, and LLVM does not vectorize a product whose every
output is a sum taken in order (reordering the sum would change its rounding),
so a plain loop runs one scalar FMA at a time. A tile here keeps ``rows x
vectors`` accumulators of 4 doubles (8 floats) in registers; each step of the
sum broadcasts one value of ``a`` per row and adds its products with one row of
``b`` (contiguous) with vector FMAs. Each output is still
``fma(a[.., p], b[p, ..], acc)`` for ``p = 0, 1, ..`` from zero, in order: the
sum OpenBLAS's Haswell dgemm kernel takes (bit for bit in float64, checked in
the tests), independent of where a tile sits, so any split of the rows or
columns among threads computes what one call does.

A tile's arguments (all positions are flat indices):

- ``a, a_start, a_strides``: value ``(r, p)`` of the tile's left operand is
  ``a[a_start + r * a_strides[0] + p * a_strides[1]]``;
- ``b, b_start``: row ``p`` of the tile's block of ``b`` starts at
  ``b[b_start + p * n_cols]``;
- ``out, out_start``: the tile's row ``r`` goes to ``out[out_start + r *
  n_cols :]``;
- ``depth``: the length of the sums;
- ``count``: for an edge tile, how many of its one vector's columns exist
  (the other lanes repeat the last column and are not stored); ignored by the
  full tile;
- ``row_count``: how many of the tile's rows exist (the others repeat the
  last row and are not stored).

Two tiles only, each compiled once per dtype: 4 rows by 2 vectors, and 4
rows by one vector of at most ``count`` columns for the right edge. Edge
rows and columns reuse them rather than adding variants, since each variant
is more code for LLVM in every kernel that links it (six variants cost a
first fit ~2 s more compile time).

These are intrinsics: only compiled code can call them, and nothing checks
bounds inside them (the caller, ``fastmlp._kernels.tiles``, does).
"""

import platform

from llvmlite import binding, ir
from numba import config
from numba.core import cgutils, types
from numba.extending import intrinsic

_LANE = ir.IntType(32)


def has_vector_fma():
    """Whether numba's target CPU has fused multiply-add instructions.

    Without them (x86-64 before Haswell, or ``NUMBA_CPU_NAME=generic`` for a
    portable cache) LLVM computes ``llvm.fma`` with a libm call per value,
    many times slower than BLAS: the tiles are then not used.
    """
    if platform.machine().lower() in ("arm64", "aarch64"):
        return True  # every 64-bit ARM CPU has FMA
    if config.CPU_NAME is not None:  # numba compiles for this CPU, not the host
        return "+fma" in (config.CPU_FEATURES or "")
    try:
        return bool(binding.get_host_cpu_features().get("fma", False))
    except RuntimeError:  # features unknown on this platform
        return False


VECTOR_BYTES = 32  # one vector: an AVX2 register, 4 doubles or 8 floats


def _lanes(dtype):
    return VECTOR_BYTES * 8 // dtype.bitwidth


def _constant(value_type, value):
    return ir.Constant(value_type, value)


def _splat(builder, vector, value):
    """``value`` in every lane of a ``vector``."""
    lanes = vector.count
    undefined = _constant(vector, ir.Undefined)
    single = builder.insert_element(undefined, value, _constant(_LANE, 0))
    return builder.shuffle_vector(
        single, undefined, _constant(ir.VectorType(_LANE, lanes), [0] * lanes)
    )


def _load_edge(builder, vector, data, row, count):
    """The first ``count`` values from ``data[row]`` as a vector.

    Lanes past ``count`` read the last of them again, so every read is in
    bounds; their sums are never stored.
    """
    index = row.type
    last = builder.sub(count, _constant(index, 1))
    values = _constant(vector, ir.Undefined)
    for lane in range(vector.count):
        lane_index = _constant(index, lane)
        inside = builder.icmp_signed("<", lane_index, count)
        column = builder.add(row, builder.select(inside, lane_index, last))
        value = builder.load(builder.gep(data, [column]))
        values = builder.insert_element(values, value, _constant(_LANE, lane))
    return values


def _store_edge(builder, values, data, row, count):
    """Store the first ``count`` lanes of ``values`` from ``data[row]``."""
    for lane in range(values.type.count):
        lane_index = _constant(row.type, lane)
        with builder.if_then(builder.icmp_signed("<", lane_index, count)):
            value = builder.extract_element(values, _constant(_LANE, lane))
            builder.store(value, builder.gep(data, [builder.add(row, lane_index)]))


def _make_tile(n_rows, n_vectors, edge=False):
    """A tile intrinsic of ``n_rows`` rows and ``n_vectors`` vectors per row.

    ``edge=True`` (one vector) takes only ``count`` columns.
    """

    def codegen(context, builder, signature, args):
        (a, a_start, a_strides, b, b_start, out, out_start, n_cols, depth, count,
         row_count) = args  # fmt: skip
        dtype = signature.args[0].dtype
        lanes = _lanes(dtype)
        scalar = context.get_value_type(dtype)
        vector = ir.VectorType(scalar, lanes)
        fma = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vector, [vector] * 3),
            f"llvm.fma.v{lanes}f{dtype.bitwidth}",
        )
        a_data, b_data, out_data = (
            context.make_array(signature.args[k])(context, builder, args[k]).data
            for k in (0, 3, 5)
        )
        index = n_cols.type
        row_stride = builder.extract_value(a_strides, 0)
        depth_stride = builder.extract_value(a_strides, 1)
        zero = _constant(vector, [_constant(scalar, 0.0)] * lanes)
        sums = [
            [cgutils.alloca_once_value(builder, zero) for _ in range(n_vectors)]
            for _ in range(n_rows)
        ]

        def vector_at(data, position):
            pointer = builder.gep(data, [position])
            return builder.bitcast(pointer, vector.as_pointer())

        def offset(position, k, stride):
            """``position + k * stride``; ``stride`` a value or a Python int."""
            if isinstance(stride, int):
                return builder.add(position, _constant(index, k * stride))
            return builder.add(position, builder.mul(_constant(index, k), stride))

        # rows past row_count read the last row again (in bounds), unstored
        last_row = builder.sub(row_count, _constant(index, 1))
        a_rows = []
        for r in range(n_rows):
            inside = builder.icmp_signed("<", _constant(index, r), row_count)
            row = builder.select(inside, _constant(index, r), last_row)
            a_rows.append(builder.add(a_start, builder.mul(row, row_stride)))

        with cgutils.for_range(builder, depth) as loop:
            b_row = builder.add(b_start, builder.mul(loop.index, n_cols))
            if edge:
                columns = [_load_edge(builder, vector, b_data, b_row, count)]
            else:
                columns = [
                    builder.load(vector_at(b_data, offset(b_row, v, lanes)), align=1)
                    for v in range(n_vectors)
                ]
            a_column = builder.mul(loop.index, depth_stride)
            for r in range(n_rows):
                position = builder.add(a_rows[r], a_column)
                value = builder.load(builder.gep(a_data, [position]))
                broadcast = _splat(builder, vector, value)
                for v in range(n_vectors):
                    total = builder.load(sums[r][v])
                    total = builder.call(fma, [broadcast, columns[v], total])
                    builder.store(total, sums[r][v])

        for r in range(n_rows):
            row = offset(out_start, r, n_cols)
            inside = builder.icmp_signed("<", _constant(index, r), row_count)
            with builder.if_then(inside):
                if edge:
                    total = builder.load(sums[r][0])
                    _store_edge(builder, total, out_data, row, count)
                else:
                    for v in range(n_vectors):
                        pointer = vector_at(out_data, offset(row, v, lanes))
                        builder.store(builder.load(sums[r][v]), pointer, align=1)
        return context.get_dummy_value()

    def tile(typingctx, a, a_start, a_strides, b, b_start, out, out_start, n_cols,
             depth, count, row_count):  # fmt: skip
        arguments = (a, a_start, a_strides, b, b_start, out, out_start)
        return types.none(*arguments, n_cols, depth, count, row_count), codegen

    tile.__name__ = f"tile_{n_rows}x{n_vectors}{'_edge' if edge else ''}"
    return intrinsic(tile)


ROWS = 4  # rows of a full tile; 4 x 2 vectors keep 8 accumulators in registers
VECTORS = 2

full_tile = _make_tile(ROWS, VECTORS)
edge_tile = _make_tile(ROWS, 1, edge=True)
