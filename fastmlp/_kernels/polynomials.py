"""Polynomials by Estrin's scheme, for ``vecmath``'s approximations.

Pairs, then pairs of pairs with ``r**2``, ``r**4``, ...: the operations of
Horner's rule with a dependency chain of ``log2`` their length. Each step is
one :func:`~fastmlp._kernels.float_bits.fma` (fused where the CPU has FMA:
half the instructions, and each step rounded once). The longest add their
last terms to a shorter one that reads the first coefficients of the same
tuple. (Built from shorter ones on slices of the coefficients instead, erf's
loop had its loads and stores turned into gathers and scatters: LLVM no
longer proved the index non-negative, and it ran 2.1x slower.) Coefficients
from degree 0 up, evaluated in ``r``'s type.
"""

from .float_bits import float_type, fma
from .jit import inlined_kernel


@inlined_kernel
def polynomial3(r, c):
    """``c[0] + c[1] r + ... + c[2] r**2`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = fma(typ(c[1]), r, typ(c[0]))
    r2 = r * r
    q1_0 = fma(typ(c[2]), r2, p0_1)
    return q1_0


@inlined_kernel
def polynomial5(r, c):
    """``c[0] + c[1] r + ... + c[4] r**4`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = fma(typ(c[1]), r, typ(c[0]))
    p2_3 = fma(typ(c[3]), r, typ(c[2]))
    r2 = r * r
    q1_0 = fma(p2_3, r2, p0_1)
    r4 = r2 * r2
    q2_0 = fma(typ(c[4]), r4, q1_0)
    return q2_0


@inlined_kernel
def polynomial6(r, c):
    """``c[0] + c[1] r + ... + c[5] r**5`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = fma(typ(c[1]), r, typ(c[0]))
    p2_3 = fma(typ(c[3]), r, typ(c[2]))
    p4_5 = fma(typ(c[5]), r, typ(c[4]))
    r2 = r * r
    q1_0 = fma(p2_3, r2, p0_1)
    r4 = r2 * r2
    q2_0 = fma(p4_5, r4, q1_0)
    return q2_0


@inlined_kernel
def polynomial7(r, c):
    """``c[0] + c[1] r + ... + c[6] r**6`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = fma(typ(c[1]), r, typ(c[0]))
    p2_3 = fma(typ(c[3]), r, typ(c[2]))
    p4_5 = fma(typ(c[5]), r, typ(c[4]))
    r2 = r * r
    q1_0 = fma(p2_3, r2, p0_1)
    q1_1 = fma(typ(c[6]), r2, p4_5)
    r4 = r2 * r2
    q2_0 = fma(q1_1, r4, q1_0)
    return q2_0


@inlined_kernel
def polynomial10(r, c):
    """``c[0] + c[1] r + ... + c[9] r**9`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = fma(typ(c[1]), r, typ(c[0]))
    p2_3 = fma(typ(c[3]), r, typ(c[2]))
    p4_5 = fma(typ(c[5]), r, typ(c[4]))
    p6_7 = fma(typ(c[7]), r, typ(c[6]))
    p8_9 = fma(typ(c[9]), r, typ(c[8]))
    r2 = r * r
    q1_0 = fma(p2_3, r2, p0_1)
    q1_1 = fma(p6_7, r2, p4_5)
    r4 = r2 * r2
    q2_0 = fma(q1_1, r4, q1_0)
    r8 = r4 * r4
    q3_0 = fma(p8_9, r8, q2_0)
    return q3_0


@inlined_kernel
def polynomial11(r, c):
    """``c[0] + c[1] r + ... + c[10] r**10``: :func:`polynomial10` and one term."""
    typ = float_type(r)
    r2 = r * r
    r8 = (r2 * r2) * (r2 * r2)
    return fma(typ(c[10]), r8 * r2, polynomial10(r, c))


@inlined_kernel
def polynomial12(r, c):
    """``c[0] + c[1] r + ... + c[11] r**11``: :func:`polynomial10` and a pair."""
    typ = float_type(r)
    r2 = r * r
    r8 = (r2 * r2) * (r2 * r2)
    return fma(fma(typ(c[11]), r, typ(c[10])), r8 * r2, polynomial10(r, c))


@inlined_kernel
def polynomial15(r, c):
    """``c[0] + c[1] r + ... + c[14] r**14``: :func:`polynomial12` and three terms."""
    typ = float_type(r)
    r2 = r * r
    r4 = r2 * r2
    last = fma(typ(c[14]), r2, fma(typ(c[13]), r, typ(c[12])))
    return fma(last, (r4 * r4) * r4, polynomial12(r, c))
