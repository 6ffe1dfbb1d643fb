"""Timing fastmlp's tiles against BLAS on this machine, and the limits that follow.

:func:`measure` times both ways on a grid of MLP-shaped products in each
dtype and kind (``a @ b``, ``a.T @ b``, ``a @ b.T``), single-threaded BLAS as
each thread of a split batch runs it; :func:`derive_limits` picks the limits
that send each measured product the faster way.
"""

import time

import numpy as np

from .._kernels.tunables import (
    ANCHOR_LAYERS,
    GRID_COLUMNS,
    GRID_DEPTHS,
    GRID_MAX_MACS,
    GRID_ROWS,
    GRID_SAMPLE,
    LONG_CALL_SECONDS,
    LONG_ROUNDS,
    ROUNDS,
    TARGET_SECONDS,
)
from .tile_limit_store import ALWAYS, DTYPES, NEVER, builtin_limits


def measurement_grid(seed=0):
    """The products timed: ``(dtype, kind, rows, depth, columns)`` tuples."""
    rng = np.random.default_rng(seed)
    shapes = [
        (n_rows, depth, n_cols)
        for n_rows in GRID_ROWS
        for depth in GRID_DEPTHS
        for n_cols in GRID_COLUMNS
        if n_rows * depth * n_cols <= GRID_MAX_MACS
    ]
    grid = []
    for dtype in DTYPES:
        for kind in (0, 1, 2):
            chosen = rng.choice(len(shapes), size=GRID_SAMPLE, replace=False)
            grid.extend((dtype, kind, *shapes[i]) for i in sorted(chosen))
        for batch, inputs, outputs in ANCHOR_LAYERS:
            grid.append((dtype, 0, batch, inputs, outputs))  # forward
            grid.append((dtype, 1, inputs, batch, outputs))  # gradient
            grid.append((dtype, 2, batch, outputs, inputs))  # back-propagation
    return grid


def _value_pools(grid, rng):
    """Per dtype, two arrays of standard normal values, each as long as the
    largest left or right operand of ``grid``: operands are views of them.

    Drawing each product's operands anew took ~0.4 s of a ~0.85 s
    measurement (Zen 5); the timings do not depend on the values.
    """
    size = max(n_rows * depth + depth * n_cols for _, _, n_rows, depth, n_cols in grid)
    pools = {}
    for dtype in {entry[0] for entry in grid}:
        values = rng.standard_normal(2 * size).astype(dtype)
        pools[dtype] = (values[:size], values[size:])
    return pools


def _operands(kind, n_rows, depth, n_cols, dtype, pools):
    left = (depth, n_rows) if kind == 1 else (n_rows, depth)
    right = (n_cols, depth) if kind == 2 else (depth, n_cols)
    left_values, right_values = pools[dtype]
    a = left_values[: left[0] * left[1]].reshape(left)
    b = right_values[: right[0] * right[1]].reshape(right)
    out = np.empty((n_rows, n_cols), dtype=dtype)
    scratch = np.empty(depth * n_cols, dtype=dtype)
    return a, b, out, scratch


def _seconds_per_product(operands, kind, tiles, repeats):
    from .._kernels.tiles import repeated_product

    a, b, out, scratch = operands
    start = _clock()
    repeated_product(a, b, out, scratch, kind, tiles, repeats)
    return (_clock() - start) / repeats


def _clock():
    # The CPU time of this thread (BLAS runs in it: one thread), which other
    # processes on the machine do not add to, where it is precise enough
    # (not on Windows: 15.6 ms); else the wall clock.
    return time.thread_time() if _PRECISE_THREAD_TIME else time.perf_counter()


_PRECISE_THREAD_TIME = time.get_clock_info("thread_time").resolution <= 1e-6


def time_product(dtype, kind, n_rows, depth, n_cols, pools):
    """Seconds per product ``(tiles, blas)``: best of rounds, ways alternated.

    ``pools``: from :func:`_value_pools` of a grid holding this product.
    """
    operands = _operands(kind, n_rows, depth, n_cols, dtype, pools)
    tiles = _seconds_per_product(operands, kind, True, 1)
    blas = _seconds_per_product(operands, kind, False, 1)
    repeats = max(1, int(TARGET_SECONDS / max(tiles, blas, 1e-7)))
    # the first calls count when repeated once
    rounds = (LONG_ROUNDS if max(tiles, blas) >= LONG_CALL_SECONDS else ROUNDS) - 1
    if repeats > 1:
        tiles = blas = np.inf
        rounds = ROUNDS
    for _ in range(rounds):
        tiles = min(tiles, _seconds_per_product(operands, kind, True, repeats))
        blas = min(blas, _seconds_per_product(operands, kind, False, repeats))
    return tiles, blas


def measure(grid=None, dtypes=DTYPES):
    """Time tiles against single-threaded BLAS on ``grid``; derive the limits.

    ``grid``: :func:`measurement_grid`'s products of ``dtypes`` by default
    (the limits of the others are the built-in ones).

    Returns
    -------
    result : dict
        ``limits``, ``seconds`` (the timing), ``compile_seconds`` (loading
        or compiling the kernel that is timed) and ``products``: one
        ``[dtype, kind, rows, depth, columns, tiles_us, blas_us]`` per product.
    """
    from .thread_plan import blas_threads_held

    if grid is None:
        grid = [entry for entry in measurement_grid() if entry[0] in dtypes]
    rng = np.random.default_rng(1)
    warm_ups = [(dtype, 0, 8, 8, 32) for dtype in dtypes]
    pools = _value_pools(list(grid) + warm_ups, rng)
    start = time.perf_counter()
    for dtype, kind, n_rows, depth, n_cols in warm_ups:  # compile or load, warm up
        operands = _operands(kind, n_rows, depth, n_cols, dtype, pools)
        _seconds_per_product(operands, 0, True, 1)
    compiled = time.perf_counter()
    products = []
    with blas_threads_held(1):
        # one deep product first: OpenBLAS runs small ones slower in a
        # process that has not run a deep one (measured on Zen 1)
        deep = rng.standard_normal((256, 1024))
        np.dot(deep, deep.T)
        for dtype, kind, n_rows, depth, n_cols in grid:
            tiles, blas = time_product(dtype, kind, n_rows, depth, n_cols, pools)
            products.append([dtype, kind, n_rows, depth, n_cols, tiles, blas])
    done = time.perf_counter()
    return {
        "limits": derive_limits(products),
        "seconds": round(done - compiled, 3),
        "compile_seconds": round(compiled - start, 3),
        "products": [
            [*p[:5], round(p[5] * 1e6, 3), round(p[6] * 1e6, 3)] for p in products
        ],
    }


def derive_limits(products):
    """The limits that make the measured ``products`` fastest overall.

    Per dtype, apart for products narrower than a full tile, and apart for
    ``a @ b.T`` (kind 2, the ``transposed_*`` limits): each product's time
    with the candidate limits relative to its faster way, summed over the
    products, is made smallest. Candidates are the measured sizes and
    never-tiles (so the limits lose to BLAS alone nowhere in sum); a limit
    goes halfway (geometrically) to the next measured size above it.
    """
    from .._kernels.simd import VECTOR_BYTES, VECTORS

    limits = {}
    for dtype in DTYPES:
        full_tile = VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize
        rows = np.array([p[1:7] for p in products if p[0] == dtype], dtype=float)
        if rows.size == 0:
            limits[dtype] = builtin_limits()[dtype]
            continue
        limits[dtype] = {}
        for prefix, selected in (
            ("", rows[:, 0] != 2),
            ("transposed_", rows[:, 0] == 2),
        ):
            n_rows, depth, n_cols, tiles, blas = rows[selected, 1:].T
            macs, right = n_rows * depth * n_cols, depth * n_cols
            best = np.minimum(tiles, blas)
            tiles_cost, blas_cost = tiles / best, blas / best
            narrow = n_cols < full_tile
            max_macs, max_right = _best_limits(
                macs[~narrow], right[~narrow], tiles_cost[~narrow], blas_cost[~narrow]
            )
            narrow_max_macs, _ = _best_limits(
                macs[narrow], None, tiles_cost[narrow], blas_cost[narrow]
            )
            limits[dtype][prefix + "max_macs"] = max_macs
            limits[dtype][prefix + "narrow_max_macs"] = narrow_max_macs
            limits[dtype][prefix + "max_right"] = max_right
    return limits


def _best_limits(macs, right, tiles_cost, blas_cost):
    """``(max_macs, max_right)`` minimizing the summed relative time."""
    if macs.size == 0:
        return NEVER, ALWAYS
    mac_candidates = np.concatenate([[NEVER], np.unique(macs)])
    right_candidates = np.unique(right) if right is not None else np.array([np.inf])
    best = (np.inf, NEVER, np.inf)
    for max_right in right_candidates[::-1]:  # ties: the larger right limit
        fits = right <= max_right if right is not None else np.ones(macs.size, bool)
        # cost of each mac candidate: tiles for fits & macs <= candidate
        chosen = (macs[None, :] <= mac_candidates[:, None]) & fits[None, :]
        cost = np.where(chosen, tiles_cost, blas_cost).sum(axis=1)
        i = int(np.argmin(cost))  # ties: the smaller mac limit
        if cost[i] < best[0] - 1e-9:
            best = (cost[i], mac_candidates[i], max_right)
    _, max_macs, max_right = best
    max_macs = _between(max_macs, macs, beyond=2 * int(max_macs))
    if right is None:
        return max_macs, ALWAYS
    return max_macs, _between(max_right, right, beyond=ALWAYS)


def _between(limit, measured, beyond):
    """``limit`` moved halfway (geometrically) to the next measured value.

    ``beyond`` if ``limit`` is the largest measured.
    """
    if limit < 0:
        return NEVER
    above = measured[measured > limit]
    if above.size == 0:
        return beyond
    return int(np.sqrt(float(limit) * float(above.min())))


def summary(products):
    """Markdown: BLAS time / tile time of ``products``, by size and shape class.

    Median (and range) per dtype, product (``a @ b`` and ``a.T @ b``, or
    ``a @ b.T``), narrow or not, and multiply-adds by factors of 4; above 1,
    tiles are faster.
    """
    from .._kernels.simd import VECTOR_BYTES, VECTORS

    lines = [
        "| dtype | product | columns | multiply-adds | products "
        "| BLAS / tiles: median (min-max) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for dtype in DTYPES:
        full_tile = VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize
        for transposed in (False, True):
            for narrow in (True, False):
                groups = {}
                for p in products:
                    if (
                        p[0] != dtype
                        or (p[1] == 2) != transposed
                        or (p[4] < full_tile) != narrow
                    ):
                        continue
                    bucket = int(np.log2(p[2] * p[3] * p[4])) // 2 * 2
                    groups.setdefault(bucket, []).append(p[6] / p[5])
                kind = "a @ b.T" if transposed else "a @ b, a.T @ b"
                columns = f"< {full_tile}" if narrow else f">= {full_tile}"
                for bucket, ratios in sorted(groups.items()):
                    ratios = np.array(ratios)
                    lines.append(
                        f"| {dtype} | {kind} | {columns} | 2^{bucket}-2^{bucket + 2} "
                        f"| {ratios.size} | {np.median(ratios):.2f} "
                        f"({ratios.min():.2f}-{ratios.max():.2f}) |"
                    )
    return "\n".join(lines)
