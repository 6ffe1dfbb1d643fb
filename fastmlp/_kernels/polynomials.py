"""Polynomials by Estrin's scheme, for ``vecmath``'s approximations.

Pairs, then pairs of pairs with ``r**2``, ``r**4``, ...: the operations of
Horner's rule with a dependency chain of ``log2`` their length, since the
loops calling them are bound by latency. Coefficients from degree 0 up,
evaluated in ``r``'s type.
"""

from .float_bits import float_type
from .jit import inlined_kernel


@inlined_kernel
def polynomial3(r, c):
    """``c[0] + c[1] r + ... + c[2] r**2`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    r2 = r * r
    q1_0 = p0_1 + typ(c[2]) * r2
    return q1_0


@inlined_kernel
def polynomial5(r, c):
    """``c[0] + c[1] r + ... + c[4] r**4`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    r4 = r2 * r2
    q2_0 = q1_0 + typ(c[4]) * r4
    return q2_0


@inlined_kernel
def polynomial6(r, c):
    """``c[0] + c[1] r + ... + c[5] r**5`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    p4_5 = typ(c[4]) + typ(c[5]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    r4 = r2 * r2
    q2_0 = q1_0 + p4_5 * r4
    return q2_0


@inlined_kernel
def polynomial7(r, c):
    """``c[0] + c[1] r + ... + c[6] r**6`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    p4_5 = typ(c[4]) + typ(c[5]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    q1_1 = p4_5 + typ(c[6]) * r2
    r4 = r2 * r2
    q2_0 = q1_0 + q1_1 * r4
    return q2_0


@inlined_kernel
def polynomial10(r, c):
    """``c[0] + c[1] r + ... + c[9] r**9`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    p4_5 = typ(c[4]) + typ(c[5]) * r
    p6_7 = typ(c[6]) + typ(c[7]) * r
    p8_9 = typ(c[8]) + typ(c[9]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    q1_1 = p4_5 + p6_7 * r2
    r4 = r2 * r2
    q2_0 = q1_0 + q1_1 * r4
    r8 = r4 * r4
    q3_0 = q2_0 + p8_9 * r8
    return q3_0


@inlined_kernel
def polynomial11(r, c):
    """``c[0] + c[1] r + ... + c[10] r**10`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    p4_5 = typ(c[4]) + typ(c[5]) * r
    p6_7 = typ(c[6]) + typ(c[7]) * r
    p8_9 = typ(c[8]) + typ(c[9]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    q1_1 = p4_5 + p6_7 * r2
    q1_2 = p8_9 + typ(c[10]) * r2
    r4 = r2 * r2
    q2_0 = q1_0 + q1_1 * r4
    r8 = r4 * r4
    q3_0 = q2_0 + q1_2 * r8
    return q3_0


@inlined_kernel
def polynomial12(r, c):
    """``c[0] + c[1] r + ... + c[11] r**11`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    p4_5 = typ(c[4]) + typ(c[5]) * r
    p6_7 = typ(c[6]) + typ(c[7]) * r
    p8_9 = typ(c[8]) + typ(c[9]) * r
    p10_11 = typ(c[10]) + typ(c[11]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    q1_1 = p4_5 + p6_7 * r2
    q1_2 = p8_9 + p10_11 * r2
    r4 = r2 * r2
    q2_0 = q1_0 + q1_1 * r4
    r8 = r4 * r4
    q3_0 = q2_0 + q1_2 * r8
    return q3_0


@inlined_kernel
def polynomial15(r, c):
    """``c[0] + c[1] r + ... + c[14] r**14`` (Estrin), in ``r``'s type."""
    typ = float_type(r)
    p0_1 = typ(c[0]) + typ(c[1]) * r
    p2_3 = typ(c[2]) + typ(c[3]) * r
    p4_5 = typ(c[4]) + typ(c[5]) * r
    p6_7 = typ(c[6]) + typ(c[7]) * r
    p8_9 = typ(c[8]) + typ(c[9]) * r
    p10_11 = typ(c[10]) + typ(c[11]) * r
    p12_13 = typ(c[12]) + typ(c[13]) * r
    r2 = r * r
    q1_0 = p0_1 + p2_3 * r2
    q1_1 = p4_5 + p6_7 * r2
    q1_2 = p8_9 + p10_11 * r2
    q1_3 = p12_13 + typ(c[14]) * r2
    r4 = r2 * r2
    q2_0 = q1_0 + q1_1 * r4
    q2_1 = q1_2 + q1_3 * r4
    r8 = r4 * r4
    q3_0 = q2_0 + q2_1 * r8
    return q3_0
