"""Register-blocked multiply-add tiles, written as LLVM vector code.

A tile keeps ``ROWS x vectors`` accumulators in registers and computes each output
as ``fma(a[r, p], b[p, c], acc)`` for ``p = 0, 1, ..`` in order: the sum OpenBLAS's
Haswell dgemm kernel takes (bit for bit in float64, tested), so any split of rows
or columns among threads computes what one call does. Two tiles per dtype
(:func:`_make_tile`, where operands are described); :func:`_make_column_sums`
multiplies then adds, unfused: the scalar loop's bits. These are intrinsics: only
compiled code calls them, and the callers (``tiles``, ``layers``) check bounds.

Why: numba has no vector types and LLVM does not vectorize an in-order sum.
Rows, vector width and their measurements: ``docs/design/tiles_calibration.md``.
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
    return _target_has("fma")


def has_512_bit_vectors():
    """Whether numba's target CPU has AVX-512 (512-bit registers and FMA).

    The tiles then use vectors of 8 doubles (16 floats): twice the
    multiply-adds per instruction. Each output is still summed in order, so
    the bits are those of the 256-bit tiles.
    """
    return _target_has("avx512f")


def _target_has(feature):
    """Whether numba's target CPU has LLVM feature ``feature`` (``"fma"``...)."""
    if config.CPU_NAME is not None:  # numba compiles for this CPU, not the host
        return f"+{feature}" in (config.CPU_FEATURES or "")
    try:
        return bool(binding.get_host_cpu_features().get(feature, False))
    except RuntimeError:  # features unknown on this platform
        return False


# One vector: an AVX-512 register (8 doubles or 16 floats) where there is one,
# else an AVX2 register (4 doubles or 8 floats).
VECTOR_BYTES = 64 if has_512_bit_vectors() else 32


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


def _vector_at(builder, vector, data, position):
    """A pointer to ``data[position:]`` as a ``vector``."""
    return builder.bitcast(builder.gep(data, [position]), vector.as_pointer())


def _lane_mask(builder, lanes, count):
    """``<lanes x i1>``: true for the lanes below ``count``."""
    index = count.type
    vector_index = ir.VectorType(index, lanes)
    counts = _splat(builder, vector_index, count)
    positions = _constant(vector_index, [_constant(index, k) for k in range(lanes)])
    return builder.icmp_signed("<", positions, counts)


def _masked(builder, name, vector, arguments):
    """Call LLVM's ``llvm.masked.<name>`` on ``vector``s of values."""
    pointer = vector.as_pointer()
    mask = ir.VectorType(ir.IntType(1), vector.count)
    bits = 64 if isinstance(vector.element, ir.DoubleType) else 32
    suffix = f"v{vector.count}f{bits}"
    if name == "load":
        signature = ir.FunctionType(vector, [pointer, _LANE, mask, vector])
    else:
        signature = ir.FunctionType(ir.VoidType(), [vector, pointer, _LANE, mask])
    function = cgutils.get_or_insert_function(
        builder.module, signature, f"llvm.masked.{name}.{suffix}.p0"
    )
    return builder.call(function, arguments)


def _load_edge(builder, vector, data, row, mask):
    """The lanes of ``data[row:]`` that ``mask`` selects, as a vector.

    A masked load reads nothing past the selected lanes (the others are
    zero, and their sums are never stored).
    """
    pointer = _vector_at(builder, vector, data, row)
    zero = _constant(vector, [_constant(vector.element, 0.0)] * vector.count)
    return _masked(builder, "load", vector, [pointer, _constant(_LANE, 1), mask, zero])


def _store_edge(builder, values, data, row, mask):
    """Store the lanes of ``values`` that ``mask`` selects from ``data[row]``."""
    pointer = _vector_at(builder, values.type, data, row)
    _masked(builder, "store", values.type, [values, pointer, _constant(_LANE, 1), mask])


def _make_tile(n_rows, n_vectors, edge=False):
    """A tile intrinsic of ``n_rows`` rows and ``n_vectors`` vectors per row.

    Positions are flat: value ``(r, p)`` of ``a`` is ``a[a_start + r *
    a_strides[0] + p * a_strides[1]]``, row ``p`` of ``b`` starts at ``b[b_start +
    p * n_cols]``, row ``r`` goes to ``out[out_start + r * n_cols :]``, and
    ``depth`` is the sums' length. Only ``row_count`` rows are stored (the others
    repeat the last row). ``edge=True`` (one vector, loaded and stored with a
    mask) takes only ``count`` columns: the right edge.
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

        mask = _lane_mask(builder, lanes, count) if edge else None
        with cgutils.for_range(builder, depth) as loop:
            b_row = builder.add(b_start, builder.mul(loop.index, n_cols))
            if edge:
                columns = [_load_edge(builder, vector, b_data, b_row, mask)]
            else:
                columns = [
                    builder.load(
                        _vector_at(builder, vector, b_data, offset(b_row, v, lanes)),
                        align=1,
                    )
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
                    _store_edge(builder, total, out_data, row, mask)
                else:
                    for v in range(n_vectors):
                        pointer = _vector_at(
                            builder, vector, out_data, offset(row, v, lanes)
                        )
                        builder.store(builder.load(sums[r][v]), pointer, align=1)
        return context.get_dummy_value()

    def tile(typingctx, a, a_start, a_strides, b, b_start, out, out_start, n_cols,
             depth, count, row_count):  # fmt: skip
        arguments = (a, a_start, a_strides, b, b_start, out, out_start)
        return types.none(*arguments, n_cols, depth, count, row_count), codegen

    tile.__name__ = f"tile_{n_rows}x{n_vectors}{'_edge' if edge else ''}"
    return intrinsic(tile)


def _make_column_sums(n_vectors, edge=False):
    """Column sums of a block of columns: ``n_vectors`` vectors of them.

    ``out[column + k] = sum(a[i * n_cols + column + k] * factor_i for i in
    range(n_rows))``, where ``factor_i`` is ``scale[i]``, or 1.0 when
    ``scaled`` is false (``scale`` is then not read). Each sum is a
    multiply, then an add, row after row: in vectors, the same operations in
    the same order as one scalar sum per column, so the bits are a scalar
    loop's (``fastmlp._kernels.layers.column_sums``). ``edge=True`` (one
    vector) takes only ``count`` columns.
    """

    def codegen(context, builder, signature, args):
        a, scale, scaled, out, column, n_cols, n_rows, count = args
        dtype = signature.args[0].dtype
        lanes = _lanes(dtype)
        scalar = context.get_value_type(dtype)
        vector = ir.VectorType(scalar, lanes)
        a_data, scale_data, out_data = (
            context.make_array(signature.args[k])(context, builder, args[k]).data
            for k in (0, 1, 3)
        )
        index = n_cols.type
        zero = _constant(vector, [_constant(scalar, 0.0)] * lanes)
        sums = [cgutils.alloca_once_value(builder, zero) for _ in range(n_vectors)]
        # without a scale, the factor is read from a slot holding 1.0
        one = cgutils.alloca_once_value(builder, _constant(scalar, 1.0))
        mask = _lane_mask(builder, lanes, count) if edge else None
        with cgutils.for_range(builder, n_rows) as loop:
            factor_at = builder.select(
                scaled, builder.gep(scale_data, [loop.index]), one
            )
            factor = _splat(builder, vector, builder.load(factor_at))
            row = builder.add(builder.mul(loop.index, n_cols), column)
            for v in range(n_vectors):
                position = builder.add(row, _constant(index, v * lanes))
                if edge:
                    values = _load_edge(builder, vector, a_data, position, mask)
                else:
                    pointer = _vector_at(builder, vector, a_data, position)
                    values = builder.load(pointer, align=1)
                total = builder.fadd(
                    builder.load(sums[v]), builder.fmul(values, factor)
                )
                builder.store(total, sums[v])
        for v in range(n_vectors):
            position = builder.add(column, _constant(index, v * lanes))
            total = builder.load(sums[v])
            if edge:
                _store_edge(builder, total, out_data, position, mask)
            else:
                pointer = _vector_at(builder, vector, out_data, position)
                builder.store(total, pointer, align=1)
        return context.get_dummy_value()

    def sums(typingctx, a, scale, scaled, out, column, n_cols, n_rows, count):
        arguments = (a, scale, scaled, out, column, n_cols, n_rows, count)
        return types.none(*arguments), codegen

    sums.__name__ = f"column_sums_{n_vectors}{'_edge' if edge else ''}"
    return intrinsic(sums)


# rows of a full tile: accumulators, two vectors of b and a broadcast fit in
# the 32 AVX-512 registers (8 rows) or the 16 AVX2 ones (4 rows)
ROWS = 8 if VECTOR_BYTES == 64 else 4
VECTORS = 2

full_tile = _make_tile(ROWS, VECTORS)
edge_tile = _make_tile(ROWS, 1, edge=True)
# rows past the last full tile, up to TAIL_ROWS of them, go in a tail tile
# (a full tile computes all its rows whatever the count; tiles.tiled_product)
# of eight vectors a row: eight independent sums a row keep two FMA pipes of
# 4-cycle latency busy, and b streams in 8 contiguous vectors a step (four
# kept up less well from L3: one-row predictions of 784 -> 512 -> 256 -> 10
# up to 1.2x slower, Zen 5). Two rows with AVX-512, each vector of b loaded
# feeding both (16 sums in 32 registers); one with AVX2, whose 16 registers
# hold no more (two rows of four vectors ran 1-row predictions 1.2x slower,
# compiled for Haswell on Zen 5)
TAIL_ROWS = 2 if VECTOR_BYTES == 64 else 1
ROW_VECTORS = 8
row_tile = _make_tile(TAIL_ROWS, ROW_VECTORS)
row_pair_tile = _make_tile(TAIL_ROWS, VECTORS)
row_edge_tile = _make_tile(TAIL_ROWS, 1, edge=True)
full_column_sums = _make_column_sums(VECTORS)
edge_column_sums = _make_column_sums(1, edge=True)
