"""Small products in register tiles (``fastmlp._kernels.tiles``) against NumPy."""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from llvmlite import binding
from numpy.testing import assert_allclose, assert_array_equal

from fastmlp._kernels import tiles
from fastmlp._kernels.blas import product
from fastmlp._kernels.limit_table import DTYPES as LIMIT_DTYPES
from fastmlp._kernels.limit_table import set_limits
from fastmlp._kernels.simd import ROWS, VECTOR_BYTES, VECTORS
from fastmlp._kernels.tiles import (
    column_product,
    in_blas,
    product_rows,
    repeated_product,
    tiled_product,
    transposed_in_blas,
    use_tiles,
    use_tiles_transposed,
)
from fastmlp._runtime.tile_calibration import limits_in_force, tile_limits
from tests import reference as ref

HOST_FEATURES = dict(binding.get_host_cpu_features())

pytestmark = pytest.mark.kernel

DTYPES = (np.float32, np.float64)
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-13}
# rows and columns around the tile sizes: 4 rows (8 with AVX-512); 4, 8 or 16
# lanes, 2 vectors
ROW_COUNTS = (1, 3, 4, 5, 7, 8, 9, 17, 32)
COLUMN_COUNTS = (1, 2, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 64, 129, 200)


def _operands(rng, n_rows, depth, n_cols, transposed, dtype):
    """``(a, strides, b)`` for ``A @ b`` with ``A = a`` or ``a.T``."""
    shape = (depth, n_rows) if transposed else (n_rows, depth)
    a = rng.normal(size=shape).astype(dtype)
    b = rng.normal(size=(depth, n_cols)).astype(dtype)
    strides = (1, n_rows) if transposed else (depth, 1)
    return a, strides, b


def _product(a, strides, b, n_rows, start=0, stop=None):
    out = np.full((n_rows, b.shape[1]), np.nan, dtype=a.dtype)
    stop = n_rows if stop is None else stop
    tiled_product(a, strides, b.shape[0], b, out, start, stop)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", [False, True])
def test_tiled_product_is_the_matrix_product(dtype, transposed):
    rng = np.random.default_rng(0)
    for n_rows in ROW_COUNTS:
        for n_cols in COLUMN_COUNTS:
            for depth in (1, 3, 20):
                a, strides, b = _operands(rng, n_rows, depth, n_cols, transposed, dtype)
                left = a.T if transposed else a
                want = left.astype(np.float64) @ b.astype(np.float64)
                got = _product(a, strides, b, n_rows)
                assert got.dtype == dtype
                tol = TOLERANCE[dtype] * max(depth, 1)
                assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", [False, True])
def test_tiled_product_writes_only_the_rows_asked_for(dtype, transposed):
    rng = np.random.default_rng(1)
    a, strides, b = _operands(rng, 13, 6, 11, transposed, dtype)
    got = _product(a, strides, b, 13, start=3, stop=10)
    assert np.isnan(got[:3]).all() and np.isnan(got[10:]).all()
    assert not np.isnan(got[3:10]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", [False, True])
def test_tiled_product_gives_the_same_bits_however_its_rows_are_split(
    dtype, transposed
):
    # what lets threads share one product's rows (or a gradient's columns)
    rng = np.random.default_rng(2)
    for n_rows, n_cols in [(32, 32), (13, 17), (9, 1), (64, 10), (11, 150)]:
        a, strides, b = _operands(rng, n_rows, 20, n_cols, transposed, dtype)
        whole = _product(a, strides, b, n_rows)
        for cuts in ([0, 1, n_rows], [0, 5, 6, n_rows], [0, n_rows // 2, n_rows]):
            parts = np.full_like(whole, np.nan)
            for start, stop in zip(cuts[:-1], cuts[1:], strict=False):
                tiled_product(a, strides, 20, b, parts, start, stop)
            assert_array_equal(parts, whole)


@pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="the tiles are compiled code; NumPy stands in"
)
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("n_rows", [14, *range(ROWS + 1, 2 * ROWS)])
def test_tiled_product_sums_in_order_with_fused_multiply_adds(transposed, n_rows):
    # the order of OpenBLAS's Haswell dgemm kernel: each value is what one
    # running sum of fused multiply-adds gives, wherever it sits in a tile;
    # every count of last rows (one at a time, or a full tile storing them)
    rng = np.random.default_rng(3)
    depth, n_cols = 7, 139
    a, strides, b = _operands(rng, n_rows, depth, n_cols, transposed, np.float64)
    left = a.T if transposed else a
    got = _product(a, strides, b, n_rows)
    want = [
        [ref.fused_sum_in_order(left[i], b[:, j]) for j in range(n_cols)]
        for i in range(n_rows)
    ]
    assert_array_equal(got, np.array(want))


def _set_limits(macs, narrow, right, **transposed):
    """The same limits for both dtypes (``transposed``: ``a @ b.T``'s apart)."""
    for dtype in LIMIT_DTYPES:
        limits = {}
        for prefix in ("", "transposed_"):
            limits[prefix + "max_macs"] = macs
            limits[prefix + "narrow_max_macs"] = narrow
            limits[prefix + "max_right"] = right
        limits.update({f"transposed_{k}": v for k, v in transposed.items()})
        set_limits(dtype, limits)


def _both(kernel):
    """Its Python function and, with the JIT, the compiled kernel itself."""
    python = getattr(kernel, "py_func", kernel)
    if python is kernel:
        return (python,)
    return python, kernel


@pytest.mark.parametrize("itemsize", [4, 8])
def test_use_tiles_follows_the_limits(monkeypatch, tile_table, itemsize):
    # the compiled kernel too: it reads the table at run time
    monkeypatch.setattr(tiles, "VECTOR_FMA", True)  # Python's alone
    for decide in _both(use_tiles)[: 1 if not tiles.VECTOR_FMA else 2]:
        wide = VECTORS * VECTOR_BYTES // itemsize  # the columns of one full tile
        _set_limits(64 * 64 * wide, 64 * 64, 64 * 2 * wide)
        assert decide(64, 64, wide, itemsize)
        assert not decide(65, 64, wide, itemsize)  # more multiply-adds
        assert decide(32, 64, 2 * wide, itemsize)
        assert not decide(16, 65, 2 * wide, itemsize)  # a larger right operand
        # fewer columns than a full tile: the narrow limit
        assert decide(64, 64, 1, itemsize)
        assert not decide(65, 64, 1, itemsize)
        assert decide(64, 64, wide - 1, itemsize) == (64 * (wide - 1) <= 64)
        _set_limits(-1, -1, -1)  # FASTMLP_TILES=blas
        assert not decide(1, 1, wide, itemsize) and not decide(1, 1, 1, itemsize)
        assert not decide(0, 5, wide, itemsize)  # empty products too
        _set_limits(1 << 62, 1 << 62, 1 << 62)  # FASTMLP_TILES=tiles
        assert decide(512, 1024, 1024, itemsize) and decide(512, 1024, 1, itemsize)


@pytest.mark.parametrize("itemsize", [4, 8])
def test_a_times_b_transposed_has_limits_of_its_own(monkeypatch, tile_table, itemsize):
    decide = getattr(use_tiles_transposed, "py_func", use_tiles_transposed)
    # the Python function of use_tiles too, which reads the patched VECTOR_FMA
    monkeypatch.setattr(tiles, "use_tiles", getattr(use_tiles, "py_func", use_tiles))
    monkeypatch.setattr(tiles, "VECTOR_FMA", True)
    wide = VECTORS * VECTOR_BYTES // itemsize
    _set_limits(64 * 64 * wide, 64 * 64, 64 * 2 * wide)
    assert decide(64, 64, wide, itemsize) and decide(64, 64, 1, itemsize)
    own = {"max_macs": 32 * 32 * wide, "max_right": 32 * wide}
    _set_limits(64 * 64 * wide, 64 * 64, 64 * 2 * wide, **own, narrow_max_macs=32 * 64)
    assert decide(32, 32, wide, itemsize)
    assert not decide(33, 32, wide, itemsize)  # more multiply-adds
    assert not decide(1, 33, wide, itemsize)  # a larger right operand
    assert decide(32, 64, 1, itemsize) and not decide(33, 64, 1, itemsize)
    # never beyond use_tiles' limits, whatever its own
    own = {"max_macs": 1 << 62, "max_right": 1 << 62}
    _set_limits(64 * 64 * wide, 64 * 64, 64 * 2 * wide, **own)
    assert not decide(65, 64, wide, itemsize)
    monkeypatch.setattr(tiles, "VECTOR_FMA", False)
    assert not decide(1, 1, wide, itemsize)


@pytest.mark.parametrize("itemsize", [4, 8])
def test_in_blas_is_what_the_products_choose(tile_table, itemsize):
    # product_rows, small_transpose_dot, dot_transpose and rows_align ask these
    for limit in (-1, 1 << 62, None):  # never tiles, always, the session's
        if limit is not None:
            _set_limits(limit, limit, limit)
        tiles_ok = getattr(use_tiles, "py_func", use_tiles)
        transposed_ok = getattr(use_tiles_transposed, "py_func", use_tiles_transposed)
        for n_rows, depth, n_cols in [
            (200, 64, 100),
            (8, 1, 64),
            (64, 64, 1),
            (1, 5, 3),
        ]:
            for room in (0, depth * n_cols, 1 << 20):
                shape = (n_rows, depth, n_cols)
                want = n_cols != 1 and not tiles_ok(*shape, itemsize)
                assert in_blas(*shape, itemsize) == want, shape
                want = depth != 1 and not (
                    depth * n_cols <= room and transposed_ok(*shape, itemsize)
                )
                assert transposed_in_blas(*shape, room, itemsize) == want, shape
        if limit == -1:  # BLAS for all but the one-column and outer products
            assert in_blas(200, 64, 100, itemsize) and not in_blas(64, 64, 1, itemsize)
            assert not transposed_in_blas(8, 1, 64, 1 << 20, itemsize)
        if limit == 1 << 62 and tiles.VECTOR_FMA:  # the copy must fit
            assert transposed_in_blas(200, 64, 100, 64 * 100 - 1, itemsize)
            assert not transposed_in_blas(200, 64, 100, 64 * 100, itemsize)


@pytest.mark.parametrize("itemsize", [4, 8])
def test_use_tiles_is_monotone_in_the_rows(itemsize):
    # what n_rows=1 refuses, no batch gets (transposed_scratch_size)
    decide = getattr(use_tiles, "py_func", use_tiles)
    for depth in (1, 10, 64, 784):
        for n_cols in (2, 10, 64, 256, 1024):
            chosen = [decide(n, depth, n_cols, itemsize) for n in (1, 8, 200, 4096)]
            assert chosen == sorted(chosen, reverse=True)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compiled code only")
@pytest.mark.parametrize("itemsize", [4, 8])
def test_compiled_use_tiles_has_the_limits_in_force(itemsize):
    # the session's limits (tests pin FASTMLP_TILES=builtin unless set)
    dtype = "float32" if itemsize == 4 else "float64"
    assert limits_in_force()[dtype] == tile_limits()[dtype]
    decide = getattr(use_tiles, "py_func", use_tiles)
    transposed = getattr(use_tiles_transposed, "py_func", use_tiles_transposed)
    for shape in [(32, 20, 32), (200, 64, 100), (200, 784, 256), (100, 100, 10)]:
        assert use_tiles(*shape, itemsize) == decide(*shape, itemsize), shape
        want = transposed(*shape, itemsize)
        assert use_tiles_transposed(*shape, itemsize) == want, shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [
        (32, 20, 32),
        (200, 64, 100),
        (300, 40, 5),
        (32, 32, 1),
        (900, 50, 1),
        (100, 784, 64),
    ],
)
def test_product_rows_is_the_product_of_those_rows(dtype, shape):
    # one column goes to column_product, (100, 784, 64) to BLAS, others to tiles
    n_rows, depth, n_cols = shape
    rng = np.random.default_rng(4)
    a = rng.normal(size=(n_rows, depth)).astype(dtype)
    b = rng.normal(size=(depth, n_cols)).astype(dtype)
    out = np.full((n_rows, n_cols), np.nan, dtype=dtype)
    start, stop = 3, n_rows - 2
    product_rows(a, b, out, start, stop)
    want = a[start:stop].astype(np.float64) @ b.astype(np.float64)
    tol = TOLERANCE[dtype] * depth
    assert_allclose(out[start:stop], want, rtol=tol, atol=tol)
    assert np.isnan(out[:start]).all() and np.isnan(out[stop:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [0, 1, 2])
def test_repeated_product_is_the_product_either_way(dtype, kind):
    # what the calibration times: the passes' three products, tiles or BLAS
    rng = np.random.default_rng(6)
    n_rows, depth, n_cols = 13, 7, 21
    left = (depth, n_rows) if kind == 1 else (n_rows, depth)
    right = (n_cols, depth) if kind == 2 else (depth, n_cols)
    a = rng.normal(size=left).astype(dtype)
    b = rng.normal(size=right).astype(dtype)
    want = (a.T if kind == 1 else a).astype(np.float64) @ (
        b.T if kind == 2 else b
    ).astype(np.float64)
    scratch = np.full(depth * n_cols, np.nan, dtype=dtype)
    got = {}
    for way in (True, False):
        out = np.full((n_rows, n_cols), np.nan, dtype=dtype)
        repeated_product(a, b, out, scratch, kind, way, 3)
        assert_allclose(out, want, rtol=TOLERANCE[dtype] * depth, atol=1e-5)
        got[way] = out
    # BLAS's way is the kernels' BLAS call, bit for bit
    blas = np.empty_like(got[False])
    product(a, kind == 1, b, kind == 2, blas)
    assert_array_equal(got[False], blas)


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_product_sums_each_row_in_order(dtype):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(9, 6)).astype(dtype)
    b = rng.normal(size=(6, 1)).astype(dtype)
    out = np.full((9, 1), np.nan, dtype=dtype)
    column_product(a, b, out, 2, 9)
    for i in range(2, 9):
        assert out[i, 0] == ref.sum_in_order(a[i], b[:, 0])
    assert np.isnan(out[:2]).all()


def test_no_tiles_without_fused_multiply_add(monkeypatch):
    # llvm.fma would be a libm call per value there: BLAS instead
    decide = getattr(use_tiles, "py_func", use_tiles)
    monkeypatch.setattr(tiles, "VECTOR_FMA", True)
    assert decide(32, 20, 32, 8)
    monkeypatch.setattr(tiles, "VECTOR_FMA", False)
    assert not decide(32, 20, 32, 8)


AVX2_CHECK = """
import numpy as np
from fastmlp._kernels import simd
from fastmlp._kernels.layers import column_sums
from fastmlp._kernels.tiles import tiled_product
from tests.reference import sum_in_order
assert (simd.VECTOR_BYTES, simd.ROWS) == (32, 4), (simd.VECTOR_BYTES, simd.ROWS)
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    for n_rows, depth, n_cols in [(1, 3, 1), (5, 20, 7), (9, 20, 17), (32, 20, 33)]:
        a = rng.normal(size=(n_rows, depth)).astype(dtype)
        b = rng.normal(size=(depth, n_cols)).astype(dtype)
        out = np.full((n_rows, n_cols), np.nan, dtype=dtype)
        tiled_product(a, (depth, 1), depth, b, out, 0, n_rows)
        want = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
        # the column sums' vectors: each lane the scalar sum of its column
        scale = rng.normal(size=n_rows).astype(dtype)
        sums = np.full(n_cols, np.nan, dtype=dtype)
        a_rows = rng.normal(size=(n_rows, n_cols)).astype(dtype)
        column_sums(a_rows, scale, sums, 0, n_cols)
        for p in range(n_cols):
            assert sums[p] == sum_in_order(a_rows[:, p], scale)
print("ok")
"""


@pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="the tiles are compiled code; NumPy stands in"
)
@pytest.mark.skipif(
    not all(HOST_FEATURES.get(f) for f in ("avx2", "fma")), reason="needs AVX2 and FMA"
)
def test_avx2_tiles_where_the_cpu_has_no_avx512(tmp_path):
    # the 256-bit tiles of CPUs without AVX-512, compiled for Haswell in a
    # child process (its own cache), on whatever CPU runs the tests
    env = {
        **os.environ,
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": "+avx,+avx2,+fma,+sse4.2,+popcnt,+f16c,+bmi,+bmi2",
        "NUMBA_CACHE_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", AVX2_CHECK],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],  # imports tests.reference
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
