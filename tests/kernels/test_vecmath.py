"""Accuracy of ``fastmlp._kernels.vecmath`` against a high-precision reference.

The reference is NumPy's ``longdouble`` (80-bit on x86-64: 64-bit mantissa,
11 bits beyond float64), itself checked against mpmath on a sample; NumPy has
no erf, so :func:`erf_longdouble` computes it in longdouble from a series and
a continued fraction. Errors
are in ulps of the correctly rounded result. The million-point tests are
ordinary tests; the ``kernel`` ones (also run interpreted and with bounds
checks) cover the special values and a small sample.
"""

import numba
import numpy as np
import pytest

from fastmlp._kernels import float_bits, polynomials, vecmath

DTYPES = [np.float64, np.float32]
MAX_ULP = 2.0


CODES = {name: code for code, name in enumerate(vecmath.FUNCTIONS)}
PI = np.longdouble("3.14159265358979323846264338327950288")


def _logistic(x):
    return np.where(x < 0, np.exp(x) / (1 + np.exp(x)), 1 / (1 + np.exp(-x)))


def erf_longdouble(x):
    """erf in longdouble (relative error below 2**-60, checked against mpmath).

    Below 3, ``2 / sqrt(pi) e**(-x**2)`` times the series of positive terms
    ``sum 2**n x**(2n + 1) / (1 3 5 ... (2n + 1))`` (no cancellation); from 3 to
    8, ``1 - erfc`` with erfc from its continued fraction; beyond, +-1.
    """
    out = np.where(np.isnan(x), x, np.sign(x)).astype(np.longdouble)
    size = np.abs(x)
    low = size < 3
    s = size[low]
    term = s.copy()
    total = s.copy()
    for n in range(1, 140):
        term = term * (2 * s * s) / (2 * n + 1)
        total = total + term
    out[low] = np.sign(x[low]) * (2 / np.sqrt(PI)) * np.exp(-s * s) * total
    high = (size >= 3) & (size < 8)
    s = size[high]
    # erfc(s) = e**(-s**2) / sqrt(pi) / (s + (1/2) / (s + 1 / (s + (3/2) / ...)))
    fraction = s.copy()
    for n in range(160, 0, -1):
        fraction = s + np.longdouble(n) / 2 / fraction
    out[high] = np.sign(x[high]) * (1 - np.exp(-s * s) / np.sqrt(PI) / fraction)
    return out


REFERENCE = {
    "exp": np.exp,
    "expm1": np.expm1,
    "log": np.log,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "logistic": _logistic,
    "erf": erf_longdouble,
}


def reference(name, x):
    with np.errstate(all="ignore"):
        return REFERENCE[name](x.astype(np.longdouble))


def run(name, x):
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        vecmath.map_values(x, out, CODES[name])
    return out


def ulp_errors(got, want, dtype):
    """|got - want| in ulps of ``want`` rounded to ``dtype`` (NaN, inf: 0 or inf)."""
    info = np.finfo(dtype)
    with np.errstate(all="ignore"):
        rounded = want.astype(dtype)
        # the ulp below a power of two is the smaller one: never flatter
        ulp = np.spacing(np.abs(rounded)).astype(np.longdouble)
        ulp = np.maximum(ulp, np.longdouble(info.smallest_subnormal))
        error = np.abs(got.astype(np.longdouble) - want) / ulp
    same_special = (np.isnan(got) & np.isnan(rounded)) | (
        np.isinf(got) & (got == rounded)
    )
    error = np.where(same_special, 0.0, error)
    return np.where(np.isnan(error), np.inf, error)


def special_points(name, dtype):
    """±0, subnormals, the overflow/underflow boundaries, ±inf, NaN."""
    info = np.finfo(dtype)
    tiny = info.smallest_subnormal
    values = [0.0, -0.0, tiny, -tiny, 2 * tiny, info.tiny, -info.tiny, info.tiny / 3]
    values += [1.0, -1.0, 0.5, -0.5, info.eps, -info.eps, info.max, -info.max]
    values += [np.inf, -np.inf, np.nan, 2.0**-30, -(2.0**-30), 2.0**-60]
    if dtype == np.float64:
        values += [709.782712893384, 709.7827128933841, 709.78, 710.0]
        values += [-745.1332191019411, -745.1332191019412, -745.0, -708.39, -746.0]
        values += [36.0, 36.5, 37.0, 19.06, 20.0, 18.0, -40.0, -37.5]
    else:
        values += [88.72283, 88.72284, 88.7, 89.0, -103.97208, -103.972084]
        values += [-103.0, -87.33, -104.0, 16.0, 16.5, 9.0, 9.5, -17.0, -20.0]
    values += [0.3466, 0.3467, -0.3466, 0.52, 0.55, -0.55, 0.5493, 0.7, -1.0 + 1e-7]
    values += [0.9, -0.9, 0.8999999, 3.92, 4.0, -4.0, 5.92, 6.0, -6.0, 2.5]
    return np.array(values, dtype=dtype)


def many_points(name, dtype, count, seed=0):
    """Log-uniform over the whole range, uniform where busy, dense at the edges."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    quarter = count // 4
    exponent_low = np.log2(float(info.smallest_subnormal))
    exponent_high = np.log2(float(info.max))
    magnitude = 2.0 ** rng.uniform(exponent_low, exponent_high, 2 * quarter)
    signs = rng.choice([-1.0, 1.0], 2 * quarter)
    spread = magnitude * signs
    busy = rng.uniform(-40.0, 40.0, quarter)
    if name == "erf":  # erf is 1 from 6 up
        busy = rng.uniform(-7.0, 7.0, quarter)
    if dtype == np.float64:
        edges = [709.7827, -745.1332, -708.3964, 0.0, 0.3466, -0.3466, 0.55, 36.0]
    else:
        edges = [88.7228, -103.9721, -87.3365, 0.0, 0.3466, -0.3466, 0.55, 16.0]
    edges += [-1.0, 1.0, 19.06, 9.01]
    if name == "erf":
        edges = [0.0, 0.9, -0.9, 1.0, 2.0, 3.92, -3.92, 4.0, 5.92, 6.0, -6.0]
    near = rng.choice(edges, count - 3 * quarter) + rng.normal(
        0.0, 1e-3, count - 3 * quarter
    ) * rng.choice([1.0, 1e-4, 1e-9], count - 3 * quarter)
    values = np.concatenate([spread, busy, near])
    if name == "log":
        values = np.abs(values)
    elif name == "log1p":
        values = np.where(values < -1, -values / (1 + np.abs(values)), values)
    return values.astype(dtype)


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CODES))
def test_special_values(name, dtype):
    x = special_points(name, dtype)
    got = run(name, x)
    assert got.dtype == dtype
    want = reference(name, x)
    errors = ulp_errors(got, want, dtype)
    assert errors.max() <= MAX_ULP, (x[errors.argmax()], got[errors.argmax()])
    assert np.isnan(got[np.isnan(x)]).all()
    # odd functions keep the sign of zero; even the others give IEEE's values
    zeros = x == 0
    if name in ("expm1", "log1p", "tanh", "erf"):
        assert_equal_bits(got[zeros], x[zeros])
    if name == "log":
        assert (got[zeros] == -np.inf).all()


def assert_equal_bits(got, want):
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(got, want)


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CODES))
def test_sample_within_two_ulp(name, dtype):
    x = many_points(name, dtype, 400, seed=1)
    errors = ulp_errors(run(name, x), reference(name, x), dtype)
    assert errors.max() <= MAX_ULP, x[errors.argmax()]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CODES))
def test_million_points_within_two_ulp(name, dtype):
    x = many_points(name, dtype, 1_000_000)
    errors = ulp_errors(run(name, x), reference(name, x), dtype)
    assert errors.max() <= MAX_ULP, (x[errors.argmax()], errors.max())


def test_float32_tanh_at_every_value_where_its_two_formulas_meet():
    # tanh_single switches formula at TANH_SMALL32: every float32 from 0.45
    # to 0.65, both signs (all 2**31 non-negative ones gave 1.42 ulp at most
    # when it was written, a 62 s check kept out of the suite)
    bits = np.arange(
        np.float32(0.45).view(np.uint32), np.float32(0.65).view(np.uint32) + 1
    ).astype(np.uint32)
    x = bits.view(np.float32)
    x = np.concatenate([x, -x])
    assert np.any(np.abs(x) == np.float32(vecmath.TANH_SMALL32))
    errors = ulp_errors(run("tanh", x), reference("tanh", x), np.float32)
    assert errors.max() <= 1.5, (x[errors.argmax()], errors.max())


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
def test_helpers(dtype):
    x = dtype(3.0)
    assert np.dtype(float_bits.float_type(x)) == dtype
    assert float_bits.is_single(x) == (dtype == np.float32)
    magic = dtype(float_bits.MAGIC32 if dtype == np.float32 else float_bits.MAGIC64)
    for n in (-150, -3, 0, 5, 127):
        assert float_bits.scale_pow2(dtype(1.5), dtype(magic + dtype(n))) == np.ldexp(
            dtype(1.5), n
        ).astype(dtype)
    m, e = float_bits.split_exponent(dtype(10.0))
    assert (m, e) == (dtype(1.25), dtype(3.0))
    r, r_low, shifted = vecmath.reduce_exp(dtype(2.0), dtype(0.0))
    assert shifted - magic == 3 and abs(r + r_low - (2 - 3 * np.log(2))) < 1e-6
    assert vecmath.reduce_exp_nearest(dtype(2.0)) == (r, r_low, shifted)
    assert vecmath.reduce_exp_from(dtype(2.0), dtype(shifted)) == (r, r_low, shifted)
    high, low = vecmath.exp_parts(dtype(1.0))
    assert high == dtype(np.e) and abs(low) <= np.spacing(dtype(np.e))
    r, small, shifted = vecmath.exp_series(dtype(1.0))
    assert abs(np.ldexp(1 + r + small, int(shifted - magic)) - np.e) < 1e-6
    assert vecmath.clamp_exp_input(dtype(1e30)) == (89 if dtype == np.float32 else 710)
    assert vecmath.clamp_exp_input(dtype(-1e30)) < -100
    for n in (-126, -3, 0, 5, 127):
        assert float_bits.pow2(dtype(magic + dtype(n))) == np.ldexp(dtype(1.0), n)
    assert vecmath.log_reduced(dtype(1.0), dtype(2.0), dtype(0.0)) == dtype(
        2 * np.log(2.0)
    )
    coefficients = tuple(float(k + 1) for k in range(15))
    for count, function in (
        (3, polynomials.polynomial3),
        (5, polynomials.polynomial5),
        (6, polynomials.polynomial6),
        (7, polynomials.polynomial7),
        (10, polynomials.polynomial10),
        (11, polynomials.polynomial11),
        (12, polynomials.polynomial12),
        (15, polynomials.polynomial15),
    ):
        want = sum((k + 1) * 2**k for k in range(count))
        assert function(dtype(2.0), coefficients[:count]) == want


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
def test_fma(dtype):
    eps = dtype(np.finfo(dtype).eps)
    # (1 + eps) (1 - eps) eps / 2 + (1 + eps) lies just below the midpoint
    # between 1 + eps and 1 + 2 eps; the product rounded first (to eps / 2)
    # lands on it, and so does the exact value rounded to float64 (float32)
    a, b, c = 1 + eps, (1 - eps) * (eps / 2), 1 + eps
    assert float_bits.fma(a, b, c) == (1 + eps if float_bits.FUSED else 1 + 2 * eps)
    # (1 + eps)(1 - eps) - 1 = -eps**2 exactly; rounded first, 1 - 1
    want = -(eps * eps) if float_bits.FUSED else dtype(0.0)
    assert float_bits.fma(1 + eps, 1 - eps, dtype(-1.0)) == want
    assert float_bits.fma(dtype(2.0), dtype(3.0), dtype(1.0)) == 7
    assert np.isnan(float_bits.fma(dtype(np.inf), dtype(0.0), dtype(1.0)))
    big = dtype(np.finfo(dtype).max)
    with np.errstate(over="ignore", invalid="ignore"):
        # 2 big overflows only when rounded
        want = big if float_bits.FUSED else dtype(np.inf)
        assert float_bits.fma(big, dtype(2.0), -big) == want
        assert float_bits.fma(big, dtype(4.0), -big) == np.inf


@pytest.mark.kernel
@pytest.mark.skipif(not numba.config.DISABLE_JIT, reason="the stand-ins only")
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_within_two_ulp_fused_or_not(dtype, fused, monkeypatch):
    # compiled, fma() is fused or not as the CPU has FMA; the NumPy stand-ins
    # check both ways on this one
    monkeypatch.setattr(float_bits, "FUSED", fused)
    for name in CODES:
        x = many_points(name, dtype, 60, seed=2)
        errors = ulp_errors(run(name, x), reference(name, x), dtype)
        assert errors.max() <= MAX_ULP, (name, x[errors.argmax()])


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_and_vector_paths_agree(dtype):
    # the same values at vector-body and remainder positions give the same bits
    rng = np.random.default_rng(5)
    x = rng.uniform(-30, 30, 37).astype(dtype)
    for name in CODES:
        values = np.abs(x) if name == "log" else x
        once = run(name, values)
        for start in range(1, 9):
            shifted = run(name, np.concatenate([values[start:], values[:start]]))
            np.testing.assert_array_equal(
                shifted, np.concatenate([once[start:], once[:start]])
            )


def test_longdouble_reference_against_mpmath():
    mpmath = pytest.importorskip("mpmath")
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("longdouble is not the x87 80-bit format here")
    mpmath.mp.dps = 40
    functions = {
        "exp": mpmath.exp,
        "expm1": mpmath.expm1,
        "log": mpmath.log,
        "log1p": mpmath.log1p,
        "tanh": mpmath.tanh,
        "logistic": lambda v: 1 / (1 + mpmath.exp(-v)),
        "erf": mpmath.erf,
    }
    for name, function in functions.items():
        x = many_points(name, np.float64, 400, seed=3)
        x = x[np.isfinite(x) & (np.abs(x) < 700) & ((x > 0) | (name != "log"))]
        want = reference(name, x)
        exact = np.array(
            [float(function(mpmath.mpf(float(v)))) for v in x], dtype=np.float64
        )
        # the float64 roundings of both agree within an ulp
        errors = ulp_errors(want.astype(np.float64), np.longdouble(exact), np.float64)
        assert errors.max() <= 1.0, name
