"""exp, log, tanh and friends, written so that a loop calling them vectorizes.

``exp``, ``expm1``, ``log``, ``log1p``, ``tanh``, ``logistic`` and ``erf`` in float64
and float32 (float32 in float32, chosen at compile time by :func:`is_single`):
within 2 ulp, NaN in giving NaN out, IEEE's results at 0, +-inf and the overflow
and underflow boundaries (``tests/kernels/test_vecmath.py``). Invariants: plain
arithmetic only, no calls, no branches (a special case is a select), so the
calling loop vectorizes; multiply-adds go through ``float_bits.fma``, fused
where the target CPU has FMA and two roundings where it has not (chosen at
compile time): a loop's vector body and scalar remainder give the same bits,
and so does every CPU with FMA. Bit manipulations are LLVM intrinsics with
NumPy twins under ``NUMBA_DISABLE_JIT=1`` (``fma``'s exact).

Why: numba compiles a scalar ``np.exp`` to a libm call per value, which keeps the
loop scalar. Methods, accuracy and timings: ``docs/design/vector_math.md``.
"""

import numpy as np

from . import float_bits
from .float_bits import (
    MAGIC32,
    MAGIC64,
    float_type,
    fma,
    is_single,
    pow2,
    scale_pow2,
    split_exponent,
)
from .jit import inlined_kernel, kernel
from .polynomials import (
    polynomial3,
    polynomial5,
    polynomial6,
    polynomial7,
    polynomial10,
    polynomial11,
    polynomial12,
    polynomial15,
)

LOG2E = 1.4426950408889634
# ln 2 = LN2_HI + LN2_LO, LN2_HI with trailing zeros: n * LN2_HI is exact
LN2_HI64 = 0.6931471803691238  # 32 significant bits
LN2_LO64 = 1.9082149292705877e-10
LN2_HI32 = 0.693145751953125  # 15 significant bits
LN2_LO32 = 1.428606765330187e-06

# e**r = 1 + r + r**2 (1/2 + r P(r)) on |r| <= 1.01 ln2 / 2 (for exp), and on
# -1.01 ln2 / 2 <= r <= 0.525 (for expm1: see there); coefficients of P from
# degree 0 up. Max error of r**3 P(r), relative to the result: 0.019 / 0.027
# ulp (exp float64 / float32), 0.026 / 0.021 ulp (expm1).
EXP_P64 = (
    0.16666666666666669,
    0.041666666666666664,
    0.008333333333329791,
    0.0013888888888886359,
    0.00019841269864391087,
    2.4801587318099616e-05,
    2.7557266402504823e-06,
    2.7557281500253747e-07,
    2.510135443993923e-08,
    2.0911928571006703e-09,
)
EXP_P32 = (
    0.1666666716337204,
    0.04166654869914055,
    0.00833332072943449,
    0.0013926932588219643,
    0.00019883530330844223,
)
EXPM1_P64 = (
    0.16666666666666666,
    0.041666666666666644,
    0.008333333333333692,
    0.001388888888891007,
    0.00019841269839250469,
    2.480158725001667e-05,
    2.755732341964216e-06,
    2.755735279883996e-07,
    2.5048400226408994e-08,
    2.0887160098562526e-09,
    1.7246885966871097e-10,
)
EXPM1_P32 = (
    0.1666666716337204,
    0.041666675359010696,
    0.008333309553563595,
    0.001388632575981319,
    0.00019888891256414354,
    2.6379304472357035e-05,
)
# float32 tanh(x) = x + x s P(s), s = x**2, below TANH_SMALL32 (P of degree 4
# fitted to (tanh(x) - x) / x**3; its error at most 0.13 ulp of tanh); above,
# 1 - 2 / (1 + e**(2 |x|)), |x| clamped to TANH_BIG32 (where tanh rounds to 1)
TANH_SMALL32 = 0.55
TANH_BIG32 = 9.1
TANH_P32 = (
    -0.3333333432674408,
    0.13333195447921753,
    -0.05391959473490715,
    0.02135423757135868,
    -0.00667544873431325,
)
# 2 atanh(s) = 2 s + s z L(z), z = s**2 <= 1.01 ((sqrt2 - 1) / (sqrt2 + 1))**2;
# coefficients of L from degree 0 up. Max error 0.048 ulp / 0.046 ulp.
LOG_L64 = (
    0.666666666666667,
    0.3999999999989322,
    0.28571428628810996,
    0.22222210674238516,
    0.18182922513515942,
    0.15330617306743305,
    0.1463003136412286,
)
LOG_L32 = (0.6666668653488159, 0.39988550543785095, 0.29590317606925964)

# erf(x) = x + x A(x**2) on |x| < ERF_SMALL (A of degree 11, 6 in float32; max
# error of A relative to erf(x) / x 2**-56 / 2**-29); above, erf(|x|) = 1 -
# e**(-x**2) C(v), v = k / (k + |x|) - ERF_MID, |x| clamped to ERF_BIG
# (where erf rounds to 1), C of degree 14 / 6 fitted to erfc(x) e**(x**2)
# (max error of e**(-x**2) C: 0.16 / 0.12 ulp of erf). Coefficients from degree 0 up.
ERF_SMALL = 0.9
ERF_K64, ERF_MID64, ERF_BIG64 = 3.0, 0.5512820512820513, 6.0
ERF_K32, ERF_MID32, ERF_BIG32 = 2.0, 0.5114942789077759, 4.0
ERF_A64 = (
    0.1283791670955126,
    -0.3761263890318373,
    0.11283791670953794,
    -0.02686617064482373,
    0.0052239776217703725,
    -0.0008548326764466543,
    0.00012055321382481122,
    -1.492530753550859e-05,
    1.6455328747938096e-06,
    -1.6276526722586205e-07,
    1.4051482766989913e-08,
    -8.493998797080943e-10,
)
ERF_A32 = (
    0.12837916612625122,
    -0.37612634897232056,
    0.11283718049526215,
    -0.026860665529966354,
    0.0052042268216609955,
    -0.0008179632131941617,
    8.529401384294033e-05,
)
ERF_C64 = (
    0.21521478095914087,
    0.7633485573932298,
    1.1863467190358465,
    1.4573779631629644,
    1.3570726855916078,
    0.858457542071181,
    0.22928613147449534,
    -0.1543800056661395,
    -0.1553118636609363,
    0.013235632346336982,
    0.07425367140505787,
    0.003768736936859605,
    -0.038787404899279954,
    -0.0015965105422985717,
    0.020627284701750823,
)
ERF_C32 = (
    0.2653447389602661,
    0.8768444061279297,
    0.9884639382362366,
    0.6341697573661804,
    0.04675326868891716,
    -0.2204778492450714,
    -0.04388510808348656,
)


# ----------------------------------------------------------------------------
# The functions
# ----------------------------------------------------------------------------


@inlined_kernel
def reduce_exp(x, shift):
    """``(r, r_low, n + MAGIC)``: ``x = n ln2 + r + r_low``, ``n ~ x / ln2 - shift``.

    ``n`` is ``x / ln2 - shift`` rounded to an integer; ``r_low`` is the
    rounding error of ``r`` (0 where ``n == 0``). For
    ``|x / ln2| < 2**22`` (float32) or ``2**51`` (float64).
    """
    typ = float_type(x)
    magic = typ(MAGIC32) if is_single(x) else typ(MAGIC64)
    return reduce_exp_from(x, fma(x, typ(LOG2E), -shift) + magic)


@inlined_kernel
def reduce_exp_nearest(x):
    """:func:`reduce_exp` with no shift: ``n`` is ``x / ln2`` rounded (one fma)."""
    typ = float_type(x)
    magic = typ(MAGIC32) if is_single(x) else typ(MAGIC64)
    return reduce_exp_from(x, fma(x, typ(LOG2E), magic))


@inlined_kernel
def reduce_exp_from(x, shifted):
    """``(r, r_low, shifted)``: ``x = n ln2 + r + r_low``, ``shifted = n + MAGIC``."""
    typ = float_type(x)
    if is_single(x):
        magic, high, low = typ(MAGIC32), typ(LN2_HI32), typ(LN2_LO32)
    else:
        magic, high, low = typ(MAGIC64), typ(LN2_HI64), typ(LN2_LO64)
    n = shifted - magic
    exact = fma(-n, high, x)  # n * high is exact, and so is the difference
    r = fma(-n, low, exact)  # exact - n * low
    # unfused, (exact - r) - n * low: the rounding error of r but for that
    # of n * low; fused, exactly that of r
    return r, fma(-n, low, exact - r), shifted


@inlined_kernel
def exp_series(x):
    """``(r, small, n + MAGIC)``: ``e**x = 2**n (1 + r + small)``, ``|r| <= ln2 / 2``.

    ``small = r_low + r**2 (1/2 + r P(r))`` (see :func:`reduce_exp`), for
    ``|x|`` within the range of :func:`clamp_exp_input`.
    """
    typ = float_type(x)
    r, r_low, shifted = reduce_exp_nearest(x)
    if is_single(x):
        p = polynomial5(r, EXP_P32)
    else:
        p = polynomial10(r, EXP_P64)
    return r, fma(r * r, fma(r, p, typ(0.5)), r_low), shifted


@inlined_kernel
def clamp_exp_input(x):
    """``x`` clamped to where ``e**x`` is not yet 0 or inf (NaN passes)."""
    typ = float_type(x)
    low, high = (typ(-104.0), typ(89.0)) if is_single(x) else (typ(-746.0), typ(710.0))
    x = low if x < low else x
    return high if x > high else x


@inlined_kernel
def exp_parts(x):
    """``(high, low)``: ``e**x = high + low`` to about 2**-70 relative.

    ``high`` is ``e**x`` rounded, within 0.75 ulp (:func:`exp` is within 0.84).
    """
    typ = float_type(x)
    one = typ(1.0)
    r, small, shifted = exp_series(clamp_exp_input(x))
    # 1 + r + small with the rounding errors kept (Fast2Sum, twice)
    one_r = one + r
    rest = ((one - one_r) + r) + small
    total = one_r + rest
    return scale_pow2(total, shifted), scale_pow2((one_r - total) + rest, shifted)


@inlined_kernel
def exp(x):
    """``e**x``: ``2**n (1 + (r + small))``, no low part (6-10 % faster)."""
    r, small, shifted = exp_series(clamp_exp_input(x))
    return scale_pow2(float_type(x)(1.0) + (r + small), shifted)


@inlined_kernel
def expm1(x):
    """``e**x - 1``, accurate near 0."""
    typ = float_type(x)
    one = typ(1.0)
    if is_single(x):
        low, high, large, tiny = typ(-20.0), typ(89.0), typ(16.0), typ(2.0**-25)
    else:
        low, high, large, tiny = typ(-40.0), typ(710.0), typ(36.0), typ(2.0**-54)
    clamped = low if x < low else x
    clamped = high if clamped > high else clamped
    # for x > 0, r in [-0.17, 0.52]: then 2 q + 1 (n = 1) does not cancel
    shift = typ(0.25) if x > typ(0.0) else typ(0.0)
    r, r_low, shifted = reduce_exp(clamped, shift)
    if is_single(x):
        p = polynomial6(r, EXPM1_P32)
    else:
        p = polynomial11(r, EXPM1_P64)
    q = r + fma(r * r, fma(r, p, typ(0.5)), r_low)
    # 2**n q and 2**n - 1 are exact for n <= 53 (24): one rounding
    power = scale_pow2(one, shifted)
    moderate = fma(power, q, power - one)
    result = scale_pow2(q + one, shifted) - one if clamped > large else moderate
    # tiny x (and -0.0, NaN): expm1(x) rounds to x
    return result if abs(x) >= tiny else x


@inlined_kernel
def logistic(x):
    """``1 / (1 + e**-x)``, also where ``e**-x`` overflows.

    ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` below, ``e = e**-|x|``
    (exact down to the subnormals, where ``1 / (1 + e**-x)`` would give 0 once
    ``e**-x`` overflows): one division, corrected to first order (``1 / (1 +
    e)`` is the quotient itself or one minus it). With FMA
    (``float_bits.FUSED``), for the rounding of ``1 + e`` and of the division
    itself (its remainder is exact), ``e`` rounded (:func:`exp`, 0.84 ulp):
    1.43 ulp, 16 % faster. Without, the remainder is not exact: for the
    rounding of ``1 + e`` and the low part of ``e`` (:func:`exp_parts`).
    """
    typ = float_type(x)
    one = typ(1.0)
    zero = typ(0.0)
    negative = x < zero
    if float_bits.FUSED:
        high, low = exp(-abs(x)), zero
    else:
        high, low = exp_parts(-abs(x))
    # 1 + e = total + rest exactly (Fast2Sum: e <= 1)
    total = one + high
    rest = ((one - total) + high) + low
    numerator = high if negative else one
    quotient = numerator / total
    inverse = one - quotient if negative else quotient
    if float_bits.FUSED:
        # numerator - quotient (total + rest), the first product exact
        error = fma(-quotient, rest, fma(-quotient, total, numerator))
    else:
        error = fma(-quotient, rest, low if negative else zero)
    return fma(error, inverse, quotient)


@inlined_kernel
def tanh(x):
    """Hyperbolic tangent: ``-t / (2 + t)``, ``t = e**(-2 |x|) - 1``, sign put back.

    float64: one formula for every ``x`` (no polynomial near 0 beside it, so
    a vector lane computes one branch, not two): ``t`` is carried as ``t +
    t_low`` (``expm1``'s reduction with the rounding errors of its sums
    kept), and the quotient corrected to first order with ``1 / (2 + t) = (1
    + q) / 2``. float32: :func:`tanh_single`.
    """
    if is_single(x):
        return tanh_single(x)
    typ = float_type(x)
    one = typ(1.0)
    two = typ(2.0)
    size = abs(x)
    tiny, big = typ(2.0**-27), typ(20.0)  # tanh rounds to 1 from 19.06
    u = -two * (size if size < big else big)
    r, small, shifted = exp_series(u)
    power = pow2(shifted)  # 2**n, n <= 0
    # t = (2**n - 1) + 2**n r + 2**n small, the first two sums with their
    # rounding errors (Fast2Sum: the first term is larger); 2**n r is exact,
    # so fused or not, s and s_low are the same
    a = power - one
    a_low = (-one - a) + power
    s = fma(power, r, a)
    s_low = fma(power, r, a - s)
    rest = fma(power, small, s_low + a_low)
    t = s + rest
    t_low = (s - t) + rest
    d = two + t  # in (1, 2]: d + d_low = 2 + t exactly
    d_low = (two - d) + t
    q = -t / d
    error = fma(q, d_low + t_low, t_low) * (one + q)
    result = fma(-error, typ(0.5), q)
    result = -result if x < typ(0.0) else result
    # tiny x (and -0.0, NaN): tanh(x) rounds to x
    return result if size >= tiny else x


@inlined_kernel
def tanh_single(x):
    """float32 tanh: ``x + x s P(s)``, ``s = x**2``, below ``TANH_SMALL32``, else
    ``1 - 2 / (1 + e**(2 |x|))`` with the sign put back.

    Both computed, one selected (a vector lane runs no branch). Above
    ``TANH_SMALL32`` the quotient is below 1/2, so ``1 - q`` loses nothing:
    ``e`` within 0.84 ulp (:func:`exp`), ``1 + e`` and the quotient rounded
    once each; at most 1.42 ulp over every float32 (all of them, both signs,
    checked against float64's tanh). Fewer operations than the float64
    formula's carried low parts, in a shorter chain.
    """
    typ = float_type(x)
    one = typ(1.0)
    size = abs(x)
    s = x * x
    near_zero = fma(x, s * polynomial5(s, TANH_P32), x)
    big_x = typ(TANH_BIG32)
    clamped = big_x if size > big_x else size  # NaN passes
    # e**(2 |x|) = 2**n (1 + r + small), 2**n normal for |x| <= TANH_BIG32
    r, rest, shifted = exp_series(clamped + clamped)
    quotient = typ(2.0) / (one + (one + (r + rest)) * pow2(shifted))
    large = one - quotient
    large = -large if x < typ(0.0) else large
    result = near_zero if size < typ(TANH_SMALL32) else large
    # tiny x (and -0.0, NaN): tanh(x) rounds to x
    return result if size >= typ(2.0**-12) else x


@inlined_kernel
def log_reduced(m, e, correction):
    """``log(m * 2**e) + correction`` for ``m`` in ``[sqrt(1/2), sqrt(2))``.

    ``correction`` is small against the result's last bit: it is added last.
    """
    typ = float_type(m)
    f = m - typ(1.0)
    s = f / (typ(2.0) + f)
    z = s * s
    if is_single(m):
        high, low, p = typ(LN2_HI32), typ(LN2_LO32), polynomial3(z, LOG_L32)
    else:
        high, low, p = typ(LN2_HI64), typ(LN2_LO64), polynomial7(z, LOG_L64)
    half_square = typ(0.5) * f * f
    tail = fma(s, fma(z, p, half_square), fma(e, low, correction))
    return fma(e, high, f - (half_square - tail))


@inlined_kernel
def log(x):
    """Natural logarithm: -inf at +-0, NaN below 0."""
    typ = float_type(x)
    if is_single(x):
        smallest_normal, up, shift = typ(2.0**-126), typ(2.0**25), typ(25.0)
    else:
        smallest_normal, up, shift = typ(2.0**-1022), typ(2.0**54), typ(54.0)
    subnormal = x < smallest_normal
    m, e = split_exponent(x * up if subnormal else x)
    result = log_reduced(m, e - shift if subnormal else e, typ(0.0))
    result = typ(-np.inf) if x == typ(0.0) else result
    result = typ(np.nan) if x < typ(0.0) else result
    return x if x == typ(np.inf) or x != x else result


@inlined_kernel
def log1p(x):
    """``log(1 + x)``, accurate near 0: -inf at -1, NaN below."""
    typ = float_type(x)
    one = typ(1.0)
    tiny = typ(2.0**-24) if is_single(x) else typ(2.0**-53)
    u = one + x
    m, e = split_exponent(u)
    # the rounding error of 1 + x, relative to u
    result = log_reduced(m, e, (x - (u - one)) / u)
    result = result if abs(x) >= tiny else x  # log1p(x) rounds to x (and -0.0)
    result = typ(-np.inf) if x == -one else result
    result = typ(np.nan) if x < -one else result
    return x if x == typ(np.inf) or x != x else result


@inlined_kernel
def erf(x):
    """The error function, ``2 / sqrt(pi)`` times the integral of ``e**(-t**2)``."""
    typ = float_type(x)
    size = abs(x)
    if is_single(x):
        near_zero = fma(x, polynomial7(x * x, ERF_A32), x)
        k, mid, big = typ(ERF_K32), typ(ERF_MID32), typ(ERF_BIG32)
    else:
        near_zero = fma(x, polynomial12(x * x, ERF_A64), x)
        k, mid, big = typ(ERF_K64), typ(ERF_MID64), typ(ERF_BIG64)
    # erfc |x| = e**(-x**2) C(v); beyond big, erf rounds to 1 (and NaN is
    # clamped too, but then near_zero is chosen below)
    clamped = size if size < big else big
    v = k / (k + clamped) - mid
    if is_single(x):
        c = polynomial7(v, ERF_C32)
    else:
        c = polynomial15(v, ERF_C64)
    far = fma(-exp(-(clamped * clamped)), c, typ(1.0))
    far = -far if x < typ(0.0) else far
    # small |x|, -0.0 and NaN: the polynomial
    return far if size >= typ(ERF_SMALL) else near_zero


# the element functions by the code map_values takes
FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "logistic", "erf")


@kernel
def map_values(values, out, code):
    """``out[i] = f(values[i])`` for ``f = FUNCTIONS[code]``, a loop per function.

    The whole-array form of the element functions, for their tests and speed
    measurements: each loop is the vectorized loop the kernels run.
    """
    n = values.shape[0]
    if code == 0:
        for i in range(n):
            out[i] = exp(values[i])
    elif code == 1:
        for i in range(n):
            out[i] = expm1(values[i])
    elif code == 2:
        for i in range(n):
            out[i] = log(values[i])
    elif code == 3:
        for i in range(n):
            out[i] = log1p(values[i])
    elif code == 4:
        for i in range(n):
            out[i] = tanh(values[i])
    elif code == 5:
        for i in range(n):
            out[i] = logistic(values[i])
    else:
        for i in range(n):
            out[i] = erf(values[i])
