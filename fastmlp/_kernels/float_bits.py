"""Bit-level work on floats for ``vecmath``: LLVM intrinsics and their kernels.

Scaling by ``2**n``, building ``2**n`` and splitting ``x = m * 2**e`` read
and write a float's bits (an LLVM bitcast in the float's own width), which
numba cannot express; :func:`float_type` and :func:`is_single` give the
compiler a float's type as a constant, so one function body serves float32
and float64. :func:`fma` is ``a * b + c`` rounded once (``llvm.fma``) where
the target CPU has fused multiply-add (:data:`FUSED`), else rounded twice.
With ``NUMBA_DISABLE_JIT=1`` NumPy versions take their place.
"""

import math
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import config, types
from numba.extending import intrinsic

from .jit import kernel
from .simd import has_vector_fma

# x * log2(e) + MAGIC rounds x / ln2 to an integer n, kept in the low bits
MAGIC64 = 6755399441055744.0  # 1.5 * 2**52
MAGIC32 = 12582912.0  # 1.5 * 2**23
SQRT_HALF = math.sqrt(0.5)
# whether fma() is fused: a compile-time constant of the kernels, like
# tiles.VECTOR_FMA (which the cache stamp includes). numba's cache index also
# keys machine code by the target CPU's features. Interpreted
# (NUMBA_DISABLE_JIT=1) the stand-ins compute as a CPU without FMA does: the
# exact fused value in Python (fractions) made the interpreted kernel tests
# 5x longer (636 s against 110 s); tests set FUSED to check the fused one.
FUSED = has_vector_fma() and not config.DISABLE_JIT


# ----------------------------------------------------------------------------
# LLVM intrinsics: bit-level work, in the width of the float type
# ----------------------------------------------------------------------------


# per float type: (integer of its width, mantissa bits, exponent bias, the
# bits of MAGIC and of sqrt(1/2) rounded to it)
_LAYOUT = {
    types.float32: (
        ir.IntType(32),
        23,
        127,
        int(np.array(MAGIC32, np.float32).view(np.uint32)),
        int(np.array(SQRT_HALF, np.float32).view(np.uint32)),
    ),
    types.float64: (
        ir.IntType(64),
        52,
        1023,
        int(np.array(MAGIC64, np.float64).view(np.uint64)),
        int(np.array(SQRT_HALF, np.float64).view(np.uint64)),
    ),
}


@intrinsic
def _float_type_ir(typingctx, x):
    if x not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.NumberClass(x)(x), codegen


@intrinsic
def _is_single_ir(typingctx, x):
    if x not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        single = signature.args[0] == types.float32
        return context.get_constant(types.boolean, single)

    return types.boolean(x), codegen


@intrinsic
def _scale_pow2_ir(typingctx, value, shifted):
    if value not in (types.float32, types.float64) or shifted != value:
        return None

    def codegen(context, builder, signature, args):
        value, shifted = args
        integer, mantissa_bits, bias, magic, _ = _LAYOUT[signature.args[0]]
        exponent = builder.sub(
            builder.bitcast(shifted, integer), ir.Constant(integer, magic)
        )
        half = builder.ashr(exponent, ir.Constant(integer, 1))
        rest = builder.sub(exponent, half)
        for part in (half, rest):
            biased = builder.add(part, ir.Constant(integer, bias))
            factor = builder.shl(biased, ir.Constant(integer, mantissa_bits))
            value = builder.fmul(value, builder.bitcast(factor, value.type))
        return value

    return value(value, shifted), codegen


@intrinsic
def _pow2_ir(typingctx, shifted):
    if shifted not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        (shifted,) = args
        integer, mantissa_bits, bias, magic, _ = _LAYOUT[signature.args[0]]
        biased = builder.add(
            builder.bitcast(shifted, integer), ir.Constant(integer, bias - magic)
        )
        factor = builder.shl(biased, ir.Constant(integer, mantissa_bits))
        return builder.bitcast(factor, shifted.type)

    return shifted(shifted), codegen


@intrinsic
def _split_exponent_ir(typingctx, x):
    if x not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        (x,) = args
        integer, mantissa_bits, _, _, sqrt_half = _LAYOUT[signature.args[0]]
        bits = builder.bitcast(x, integer)
        low = ir.Constant(integer, sqrt_half)
        exponent = builder.ashr(
            builder.sub(bits, low), ir.Constant(integer, mantissa_bits)
        )
        shifted = builder.shl(exponent, ir.Constant(integer, mantissa_bits))
        mantissa = builder.bitcast(builder.sub(bits, shifted), x.type)
        return context.make_tuple(
            builder, signature.return_type, [mantissa, builder.sitofp(exponent, x.type)]
        )

    return types.UniTuple(x, 2)(x), codegen


@intrinsic
def _fma_ir(typingctx, a, b, c):
    if a not in (types.float32, types.float64) or not a == b == c:
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)  # llvm.fma: one rounding, in vector code too

    return a(a, b, c), codegen


# ----------------------------------------------------------------------------
# Their kernels (NumPy versions below for NUMBA_DISABLE_JIT=1)
# ----------------------------------------------------------------------------


@kernel
def float_type(x):
    """The type of float ``x`` (``np.float32`` or ``np.float64``), for constants."""
    return _float_type_ir(x)


@kernel
def is_single(x):
    """Whether ``x`` is a float32, as a constant the compiler folds."""
    return _is_single_ir(x)


@kernel
def scale_pow2(value, shifted):
    """``value * 2**n`` where ``shifted = n + MAGIC`` (``MAGIC32`` for float32).

    ``2**n`` is applied as two factors ``2**(n // 2)`` and ``2**(n - n // 2)``,
    each a normal number for ``|n| <= 2 * bias``: the product overflows to inf
    or goes down into the subnormals (rounded once, by the last factor) as
    ``value * 2**n`` does. Meaningless (but no error) for other ``shifted``.
    """
    return _scale_pow2_ir(value, shifted)


@kernel
def fma(a, b, c):
    """``a * b + c``, rounded once where the target CPU fuses (:data:`FUSED`).

    Fused, the result is exactly rounded, so it is the same on every CPU with
    FMA and in vector and scalar code; without FMA (x86-64 before Haswell,
    ``NUMBA_CPU_NAME=generic``), LLVM would call libm's software ``fma`` per
    value, so the product is rounded first instead: the bits of results then
    differ from those of CPUs with FMA (each within the accuracy bounds).
    All three of one float type.
    """
    if FUSED:
        return _fma_ir(a, b, c)
    return a * b + c


@kernel
def pow2(shifted):
    """``2**n`` where ``shifted = n + MAGIC``, for ``2**n`` a normal number."""
    return _pow2_ir(shifted)


@kernel
def split_exponent(x):
    """``(m, e)``: ``x = m * 2**e``, ``m`` in ``[sqrt(1/2), sqrt(2))``, ``e`` a float.

    For positive normal ``x`` only: other values give meaningless results.
    """
    return _split_exponent_ir(x)


if config.DISABLE_JIT:  # intrinsics cannot be called from Python

    def float_type(x):  # noqa: F811
        """NumPy stand-in of the kernel above (``NUMBA_DISABLE_JIT=1``)."""
        return type(x)

    def is_single(x):  # noqa: F811
        """NumPy stand-in of the kernel above (``NUMBA_DISABLE_JIT=1``)."""
        return isinstance(x, np.float32)

    def scale_pow2(value, shifted):  # noqa: F811
        """NumPy stand-in of the kernel above (``NUMBA_DISABLE_JIT=1``)."""
        dtype = type(value)
        if not np.isfinite(shifted):
            return dtype(value * shifted)
        magic = MAGIC32 if isinstance(shifted, np.float32) else MAGIC64
        exponent = int(np.float64(shifted) - magic)
        half = exponent >> 1
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            for part in (half, exponent - half):
                value = value * dtype(np.ldexp(1.0, part))
        return value

    def fma(a, b, c):  # noqa: F811
        """NumPy stand-in of the kernel above (``NUMBA_DISABLE_JIT=1``)."""
        dtype = type(a)
        with np.errstate(all="ignore"):
            rounded_twice = dtype(a * b + c)
        if not FUSED or not (np.isfinite(a) and np.isfinite(b) and np.isfinite(c)):
            return rounded_twice  # inf and NaN as llvm.fma
        exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
        if exact == 0:
            return rounded_twice  # the sign of zero IEEE gives
        try:
            nearest = float(exact)  # int / int: correctly rounded
        except OverflowError:
            return dtype(math.inf if exact > 0 else -math.inf)
        odd = int(np.array(nearest).view(np.int64)) % 2
        if dtype == np.float32 and Fraction(nearest) != exact and not odd:
            # rounded to odd in float64 (53 bits, more than 24 + 2), it
            # rounds to float32 as the exact value does: no double rounding
            towards = math.inf if exact > nearest else -math.inf
            nearest = math.nextafter(nearest, towards)
        with np.errstate(over="ignore", under="ignore"):
            return dtype(nearest)

    def pow2(shifted):  # noqa: F811
        """NumPy stand-in of the kernel above (``NUMBA_DISABLE_JIT=1``)."""
        if not np.isfinite(shifted):  # meaningless, as the kernel's, but no error
            return type(shifted)(np.nan)
        magic = MAGIC32 if isinstance(shifted, np.float32) else MAGIC64
        return type(shifted)(np.ldexp(1.0, int(np.float64(shifted) - magic)))

    def split_exponent(x):  # noqa: F811
        """NumPy stand-in of the kernel above (``NUMBA_DISABLE_JIT=1``)."""
        dtype = type(x)
        mantissa, exponent = np.frexp(x)
        if mantissa < dtype(SQRT_HALF):
            return dtype(mantissa * 2), dtype(exponent - 1)
        return dtype(mantissa), dtype(exponent)
