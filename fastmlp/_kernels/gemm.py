"""BLAS's gemm, called from compiled code the way numba's ``np.dot`` calls it.

numba implements ``np.dot(a, b, out)`` by calling its helper ``numba_xxgemm``
(scipy's BLAS) with alpha 1 and beta 0. Each ``np.dot`` call site compiles
numba's checks and helpers for its layouts (~0.3 s per site on a cold cache),
and a strided block of a matrix cannot be passed at all. :func:`xxgemm` makes
the same call directly: the same BLAS routine with the same arguments, hence
the same bits, from any part of a C-contiguous array.

This is an intrinsic: only compiled code can call it, and nothing checks
bounds (the caller, ``fastmlp._kernels.blas``, does).
"""

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

_CHAR = ir.IntType(8)


@intrinsic
def xxgemm(
    typingctx,
    transa,
    transb,
    m,
    n,
    k,
    a,
    a_start,
    lda,
    b,
    b_start,
    ldb,
    c,
    c_start,
    ldc,
):
    """Column-major ``c = op(a) @ op(b)``, BLAS's ``?gemm`` with alpha 1, beta 0.

    ``transa``/``transb`` are booleans; ``a``, ``b`` and ``c`` are arrays of one
    float dtype whose data from flat position ``*_start`` is the matrix, with
    leading dimension ``ld*``. Returns BLAS's status (0 when it ran).
    """
    arrays = (a, b, c)
    if not all(isinstance(x, types.Array) for x in arrays):
        return None
    dtype = a.dtype
    if dtype not in (types.float32, types.float64) or any(
        x.dtype != dtype for x in arrays
    ):
        return None
    integers = (m, n, k, a_start, lda, b_start, ldb, c_start, ldc)
    if not all(isinstance(x, types.Integer) for x in integers):
        return None

    def codegen(context, builder, signature, args):
        (transa_value, transb_value, m_value, n_value, k_value, a_value, a_offset,
         lda_value, b_value, b_offset, ldb_value, c_value, c_offset,
         ldc_value) = args  # fmt: skip
        intp = context.get_value_type(types.intp)
        void_pointer = cgutils.voidptr_t
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(
                ir.IntType(32),
                [_CHAR, _CHAR, _CHAR, intp, intp, intp, void_pointer, void_pointer]
                + [intp, void_pointer, intp, void_pointer, void_pointer, intp],
            ),
            "numba_xxgemm",
        )
        types_of = signature.args

        def integer(position, value):
            return context.cast(builder, value, types_of[position], types.intp)

        def pointer(position, value, offset_position, offset):
            data = context.make_array(types_of[position])(context, builder, value).data
            at = builder.gep(data, [integer(offset_position, offset)])
            return builder.bitcast(at, void_pointer)

        def trans(flag):
            return builder.select(
                flag, ir.Constant(_CHAR, ord("t")), ir.Constant(_CHAR, ord("n"))
            )

        scalar = context.get_value_type(dtype)
        alpha = cgutils.alloca_once_value(builder, ir.Constant(scalar, 1.0))
        beta = cgutils.alloca_once_value(builder, ir.Constant(scalar, 0.0))
        kind = ir.Constant(_CHAR, ord("d" if dtype == types.float64 else "s"))
        return builder.call(
            function,
            [
                kind,
                trans(transa_value),
                trans(transb_value),
                integer(2, m_value),
                integer(3, n_value),
                integer(4, k_value),
                builder.bitcast(alpha, void_pointer),
                pointer(5, a_value, 6, a_offset),
                integer(7, lda_value),
                pointer(8, b_value, 9, b_offset),
                integer(10, ldb_value),
                builder.bitcast(beta, void_pointer),
                pointer(11, c_value, 12, c_offset),
                integer(13, ldc_value),
            ],
        )

    signature = types.int32(
        types.boolean, types.boolean, m, n, k, a, a_start, lda, b, b_start, ldb,
        c, c_start, ldc,
    )  # fmt: skip
    return signature, codegen
