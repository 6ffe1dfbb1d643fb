"""Tiles or BLAS: limits measured on the machine that runs, once, then persisted.

Which products go to fastmlp's register tiles and which to BLAS
(:func:`fastmlp._kernels.tiles.use_tiles`) depends on the CPU and on the BLAS
build, so the limits are measured, not constants from the machine they were
tuned on. The two ways round their sums differently, so the choice changes
bits: it is made once per machine, written to a file, reported, and read by
every later process, which then computes the same model.

- **When.** The first time a kernel compiles or loads from numba's cache, or
  :func:`tile_choice` is called: numba looks for a kernel on disk before it
  compiles it, and the limits are part of every kernel's cache stamp and file
  names (``fastmlp._kernels.jit``), so they are settled before anything that reads
  them compiles. ``import fastmlp`` measures nothing.
- **Which machine.** A description of it (:func:`machine_description`: CPU
  model, numba's target CPU and vector width, numba/llvmlite/LLVM versions,
  the BLAS libraries with their versions and core types) keys the entry;
  another CPU, an upgrade or ``OPENBLAS_CORETYPE`` gets one of its own.
- **Where.** ``tile_limits.json`` in ``FASTMLP_CACHE_DIR``, else in numba's
  ``NUMBA_CACHE_DIR``, else in the user's cache directory
  (``~/.cache/fastmlp``). A file that cannot be read is measured again; a
  directory that cannot be written gets the built-in limits (a measurement
  that could not be kept would let two processes compute different bits).
  Concurrent first runs (joblib workers) measure once: the others wait for
  the file (a lock file beside it).
- **How.** :func:`measure` times fastmlp's own tile kernel against the same
  BLAS call the kernels make (single-threaded, as each thread of a split
  batch runs it), both through ``tiles.repeated_product``, on products of the
  shapes MLPs have, in float64 and float32, as ``a @ b``, ``a.T @ b`` and
  ``a @ b.T``; :func:`derive_limits` picks the limits that make those
  products fastest overall (never-tiles is one candidate, so the choice is
  no slower than BLAS alone on them). About a second, once per machine.
- **Not measured** where tiles are never used (a target CPU without FMA,
  ``NUMBA_CPU_NAME=generic``), and with ``NUMBA_DISABLE_JIT=1`` or
  ``NUMBA_BOUNDSCHECK=1`` (slow code gives meaningless times): a file
  already written is read, else the built-in limits hold.
- **Override.** ``FASTMLP_TILES``: ``auto`` (the default, as above),
  ``blas`` (never tiles), ``tiles`` (tiles for every product), ``builtin``
  (the built-in limits), or a JSON object of limits (the format of
  ``tiles.DEFAULT_LIMITS``; missing values are the built-in ones).
  ``python -m fastmlp._runtime.tile_calibration`` prints what is in force
  (``--summary``: the measured times; ``--products``: each product's);
  ``--again`` measures again and replaces this machine's entry.

Design and measurements: ``docs/design/tiles_calibration.md``.
"""

import contextlib
import datetime
import hashlib
import json
import os
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from numba import config

ENV_MODE = "FASTMLP_TILES"
ENV_DIR = "FASTMLP_CACHE_DIR"
FILE_NAME = "tile_limits.json"
FILE_FORMAT = 1
NEVER = -1  # a limit no product is under
ALWAYS = 1 << 62
DTYPES = ("float64", "float32")
LIMIT_NAMES = (
    "max_macs",
    "narrow_max_macs",
    "max_right",
    "transposed_max_macs",
    "transposed_narrow_max_macs",
    "transposed_max_right",
)
# How long a process waits for another one's measurement, and when a lock
# file is taken for a crashed process's
_WAIT_SECONDS = 60.0
_STALE_LOCK_SECONDS = 120.0

# The shapes measured (rows, depth, columns of each product; kinds 0-2 as in
# tiles.repeated_product): all combinations up to _GRID_MAX_MACS, a fixed
# sample of _GRID_SAMPLE per dtype and kind.
_GRID_ROWS = (8, 16, 32, 64, 128, 200, 256, 512)
_GRID_DEPTHS = (10, 20, 32, 64, 100, 128, 256, 512, 784, 1024)
_GRID_COLUMNS = (2, 5, 10, 16, 24, 32, 50, 64, 100, 128, 256, 512, 1024)
_GRID_MAX_MACS = 1 << 26
_GRID_SAMPLE = 80
# and always, each as its three products, layers of common nets (batch rows,
# inputs, outputs): a sample alone may miss the sizes where one way starts
# to win (BLAS / tiles of float32 200 x 784 x 256 on Zen 4 1.20, of
# 256 x 1024 x 1024 0.3)
_ANCHOR_LAYERS = (
    (32, 20, 32),
    (64, 20, 64),
    (64, 64, 64),
    (64, 64, 5),
    (200, 64, 100),
    (200, 100, 10),
    (200, 64, 64),
    (200, 64, 10),
    (455, 30, 50),
    (200, 784, 256),
    (200, 256, 128),
    (200, 128, 10),
    (256, 512, 256),
    (128, 1024, 1024),
)
# Each timing: calls repeated for about this long, best of _ROUNDS rounds,
# the two ways alternated.
_TARGET_SECONDS = 60e-6
_ROUNDS = 3

_lock = threading.RLock()
_choice = None
_settling = False
_CALIBRATING_DIGEST = hashlib.sha256(b"measuring the tile limits").digest()


# ---------------------------------------------------------------------------
# What is in force
# ---------------------------------------------------------------------------


def tile_choice():
    """The tile limits in force in this process, and where they come from.

    Settles them the first time (from ``FASTMLP_TILES``, this machine's entry
    in the file, or a measurement) and sets them in ``fastmlp._kernels.tiles``.

    Returns
    -------
    choice : dict
        ``limits`` (per dtype: ``max_macs``, ``narrow_max_macs``,
        ``max_right``; -1 is never), ``mode`` (``FASTMLP_TILES``), ``source``
        (a sentence), ``file`` (or None), ``machine``, ``measured_at`` and
        ``measure_seconds`` (of the measurement, where there was one).
    """
    choice = _choice
    if choice is None:
        with _lock:
            if _choice is None and not _settling:
                _settle()
            choice = _choice
    return choice


def tile_limits():
    """The limits in force (``tile_choice()["limits"]``)."""
    return tile_choice()["limits"]


def tuned_digest():
    """A hash of the limits in force: part of every kernel's cache stamp.

    Of ``tiles``' globals as they are (once settled), which are what a kernel
    compiling now freezes into its code: a test that changes them cannot
    leave code compiled with them under the name of the settled ones. While
    they are being settled (measured: only kernels whose code does not read
    them run then), a digest of its own.
    """
    choice = tile_choice()
    if choice is None:  # this thread is settling them
        return _CALIBRATING_DIGEST
    return _globals_digest()


def _globals_digest():
    from .._kernels import tiles

    values = [bool(tiles.VECTOR_FMA)] + [
        int(getattr(tiles, f"{dtype.upper()}_{name.upper()}"))
        for dtype in DTYPES
        for name in LIMIT_NAMES
    ]
    return hashlib.sha256(repr(values).encode()).digest()


def describe(choice=None):
    """One line for reports: the limits in force and their source."""
    choice = tile_choice() if choice is None else choice
    parts = []
    for dtype in DTYPES:
        limits = choice["limits"][dtype]
        parts.append(
            f"{dtype} {_count(limits['max_macs'])} MACs "
            f"(right operand {_count(limits['max_right'])} values, "
            f"narrow {_count(limits['narrow_max_macs'])}; a @ b.T "
            f"{_count(limits['transposed_max_macs'])}, "
            f"{_count(limits['transposed_max_right'])}, "
            f"{_count(limits['transposed_narrow_max_macs'])})"
        )
    return f"tiles up to: {'; '.join(parts)}. {choice['source']}"


def _count(value):
    if value < 0:
        return "never"
    if value >= ALWAYS:
        return "any"
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def _settle():
    global _choice, _settling
    _settling = True
    try:
        choice = _resolve()
    finally:
        _settling = False
    apply_limits(choice["limits"])
    choice["digest"] = _globals_digest()
    _choice = choice


def apply_limits(limits):
    """Set ``limits`` as ``fastmlp._kernels.tiles``' globals.

    Only before any kernel that reads them has compiled (numba freezes
    globals into machine code): :func:`tile_choice` does it, and tests.
    """
    from .._kernels import tiles

    for dtype in DTYPES:
        prefix = dtype.upper()
        for name in LIMIT_NAMES:
            setattr(tiles, f"{prefix}_{name.upper()}", int(limits[dtype][name]))


def builtin_limits():
    """The limits of ``tiles.DEFAULT_LIMITS`` (measured on Zen 1 and Zen 5)."""
    from .._kernels.tiles import DEFAULT_LIMITS

    return json.loads(json.dumps(DEFAULT_LIMITS))


def _uniform(value):
    return {dtype: dict.fromkeys(LIMIT_NAMES, value) for dtype in DTYPES}


def _resolve():
    from .._kernels.simd import has_vector_fma

    mode = os.environ.get(ENV_MODE, "").strip() or "auto"
    choice = {
        "mode": mode,
        "file": None,
        "machine": None,
        "measured_at": None,
        "measure_seconds": None,
    }
    if not has_vector_fma():
        return {
            **choice,
            "limits": _uniform(NEVER),
            "source": "BLAS only: the target CPU has no vector FMA",
        }
    fixed = _from_environment(mode)
    if fixed is not None:
        return {**choice, "limits": fixed, "source": f"{ENV_MODE}={mode}"}
    machine = machine_description()
    path = limits_file()
    choice = {**choice, "mode": "auto", "machine": machine, "file": str(path)}
    key = machine_key(machine)
    entry = read_entry(path, key)
    if entry is not None:
        return {**choice, **_entry_fields(entry), "source": f"read from {path}"}
    if config.DISABLE_JIT or config.BOUNDSCHECK:
        return {
            **choice,
            "limits": builtin_limits(),
            "source": "built-in (not measured with NUMBA_DISABLE_JIT or "
            "NUMBA_BOUNDSCHECK)",
        }
    return {**choice, **_measure_once(path, key, machine)}


def _from_environment(mode):
    lowered = mode.lower()
    if lowered == "auto":
        return None
    if lowered == "blas":
        return _uniform(NEVER)
    if lowered == "tiles":
        return _uniform(ALWAYS)
    if lowered == "builtin":
        return builtin_limits()
    if mode.startswith("{"):
        try:
            given = json.loads(mode)
            limits = builtin_limits()
            for dtype, values in given.items():
                if dtype not in limits or not isinstance(values, dict):
                    raise ValueError(dtype)
                limits[dtype].update(values)
            if _valid_limits(limits):
                return limits
        except ValueError:
            pass
    warnings.warn(
        f"{ENV_MODE}={mode!r} is not one of auto, blas, tiles, builtin or a "
        "JSON object of limits: measured limits are used",
        RuntimeWarning,
        stacklevel=2,
    )
    return None


# ---------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------


def limits_file():
    """Where this machine's limits are kept (see the module's docstring)."""
    directory = os.environ.get(ENV_DIR) or config.CACHE_DIR
    if directory:
        return Path(directory) / FILE_NAME
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastmlp" / FILE_NAME


def machine_description():
    """What the limits depend on: CPU, code generator, vector width, BLAS."""
    import llvmlite
    import numba
    from llvmlite import binding

    from .._kernels.simd import ROWS, VECTOR_BYTES
    from .thread_plan import _get_controller

    blas = sorted(
        " ".join(
            str(info.get(field))
            for field in ("internal_api", "version", "architecture")
        )
        for info in _get_controller().info()
        if info.get("user_api") == "blas"
    )
    return {
        "cpu": _cpu_model(),
        "target_cpu": config.CPU_NAME or binding.get_host_cpu_name(),
        "target_features": config.CPU_FEATURES if config.CPU_NAME else "host",
        "machine": platform.machine(),
        "vector_bytes": VECTOR_BYTES,
        "tile_rows": ROWS,
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "llvm": ".".join(str(v) for v in binding.llvm_version_info),
        "blas": blas,
    }


def machine_key(machine):
    """The file's key for ``machine`` (a hash of its description)."""
    text = json.dumps(machine, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        import subprocess

        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
    return platform.processor() or platform.machine()


def read_entry(path, key):
    """This machine's entry of the file, or None (also if unreadable)."""
    entry = _read_file(path).get("machines", {}).get(key)
    if isinstance(entry, dict) and _valid_limits(entry.get("limits")):
        return entry
    return None


def _read_file(path):
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(content, dict) or content.get("format") != FILE_FORMAT:
        return {}
    if not isinstance(content.get("machines"), dict):
        return {}
    return content


def _valid_limits(limits):
    if not isinstance(limits, dict) or set(limits) != set(DTYPES):
        return False
    for values in limits.values():
        if not isinstance(values, dict) or set(values) != set(LIMIT_NAMES):
            return False
        for value in values.values():
            if type(value) is not int or value < NEVER:
                return False
    return True


def _entry_fields(entry):
    return {
        "limits": entry["limits"],
        "measured_at": entry.get("measured_at"),
        "measure_seconds": entry.get("measure_seconds"),
    }


def _write_entry(path, key, entry):
    content = _read_file(path) or {"format": FILE_FORMAT, "machines": {}}
    content["machines"][key] = entry
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(content, indent=1, sort_keys=True))
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


@contextlib.contextmanager
def _file_lock(path):
    """Hold ``path.lock`` (created exclusively) while measuring.

    Yields True when held; False when another process kept it past
    ``_WAIT_SECONDS``. Raises OSError when the directory cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + _WAIT_SECONDS
    held = False
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - lock.stat().st_mtime > _STALE_LOCK_SECONDS:
                    lock.unlink()  # left by a process that died measuring
                    continue
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
            continue
        os.close(descriptor)
        held = True
        break
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(OSError):
                lock.unlink()


def _measure_once(path, key, machine, again=False):
    """Measure, unless another process did meanwhile; persist; or built-in."""
    try:
        with _file_lock(path) as held:
            entry = None if again else read_entry(path, key)
            if entry is not None:  # written while this process waited
                return {**_entry_fields(entry), "source": f"read from {path}"}
            if not held:
                return {
                    "limits": builtin_limits(),
                    "source": "built-in (another process held the lock on "
                    f"{path} for {_WAIT_SECONDS:.0f} s)",
                }
            measured = measure()
            entry = {
                "limits": measured["limits"],
                "machine": machine,
                "measured_at": datetime.datetime.now(datetime.UTC).isoformat(
                    timespec="seconds"
                ),
                "measure_seconds": measured["seconds"],
                "compile_seconds": measured["compile_seconds"],
                "products": measured["products"],
            }
            _write_entry(path, key, entry)
    except OSError as error:
        return {
            "limits": builtin_limits(),
            "source": f"built-in ({path} could not be written: {error})",
        }
    return {**_entry_fields(entry), "source": f"measured, written to {path}"}


def recalibrate():
    """Measure again and replace this machine's entry (``--again``).

    The new limits hold from the next process on (this one's kernels may
    have compiled with the old ones).
    """
    tile_choice()  # this process's, settled first
    path = limits_file()
    machine = machine_description()
    return _measure_once(path, machine_key(machine), machine, again=True)


# ---------------------------------------------------------------------------
# The measurement
# ---------------------------------------------------------------------------


def measurement_grid(seed=0):
    """The products timed: ``(dtype, kind, rows, depth, columns)`` tuples."""
    rng = np.random.default_rng(seed)
    shapes = [
        (n_rows, depth, n_cols)
        for n_rows in _GRID_ROWS
        for depth in _GRID_DEPTHS
        for n_cols in _GRID_COLUMNS
        if n_rows * depth * n_cols <= _GRID_MAX_MACS
    ]
    grid = []
    for dtype in DTYPES:
        for kind in (0, 1, 2):
            chosen = rng.choice(len(shapes), size=_GRID_SAMPLE, replace=False)
            grid.extend((dtype, kind, *shapes[i]) for i in sorted(chosen))
        for batch, inputs, outputs in _ANCHOR_LAYERS:
            grid.append((dtype, 0, batch, inputs, outputs))  # forward
            grid.append((dtype, 1, inputs, batch, outputs))  # gradient
            grid.append((dtype, 2, batch, outputs, inputs))  # back-propagation
    return grid


def _operands(kind, n_rows, depth, n_cols, dtype, rng):
    left = (depth, n_rows) if kind == 1 else (n_rows, depth)
    right = (n_cols, depth) if kind == 2 else (depth, n_cols)
    a = rng.standard_normal(left).astype(dtype)
    b = rng.standard_normal(right).astype(dtype)
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


def time_product(dtype, kind, n_rows, depth, n_cols, rng):
    """Seconds per product ``(tiles, blas)``: best of rounds, ways alternated."""
    operands = _operands(kind, n_rows, depth, n_cols, dtype, rng)
    tiles = _seconds_per_product(operands, kind, True, 1)
    blas = _seconds_per_product(operands, kind, False, 1)
    repeats = max(1, int(_TARGET_SECONDS / max(tiles, blas, 1e-7)))
    rounds = _ROUNDS - 1  # the first calls count when repeated once
    if repeats > 1:
        tiles = blas = np.inf
        rounds = _ROUNDS
    for _ in range(rounds):
        tiles = min(tiles, _seconds_per_product(operands, kind, True, repeats))
        blas = min(blas, _seconds_per_product(operands, kind, False, repeats))
    return tiles, blas


def measure(grid=None):
    """Time tiles against single-threaded BLAS on ``grid``; derive the limits.

    Returns
    -------
    result : dict
        ``limits``, ``seconds`` (the timing), ``compile_seconds`` (loading
        or compiling the kernel that is timed) and ``products``: one
        ``[dtype, kind, rows, depth, columns, tiles_us, blas_us]`` per product.
    """
    from .thread_plan import _limited

    grid = measurement_grid() if grid is None else grid
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for dtype in DTYPES:  # compile or load, and warm up
        operands = _operands(0, 8, 8, 32, dtype, rng)
        _seconds_per_product(operands, 0, True, 1)
    compiled = time.perf_counter()
    products = []
    with _limited(1):
        # one deep product first: OpenBLAS runs small ones slower in a
        # process that has not run a deep one (measured on Zen 1)
        deep = rng.standard_normal((256, 1024))
        np.dot(deep, deep.T)
        for dtype, kind, n_rows, depth, n_cols in grid:
            tiles, blas = time_product(dtype, kind, n_rows, depth, n_cols, rng)
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


def main(argv=None):
    """The command line: ``python -m fastmlp._runtime.tile_calibration``."""
    argv = sys.argv[1:] if argv is None else argv
    if "--again" in argv:
        print("measured again, in force from the next process on:")
        print(describe(recalibrate()))
    choice = tile_choice()
    shown = {k: v for k, v in choice.items() if k != "digest"}
    print(describe(choice))
    print(json.dumps(shown, indent=1))
    entry = None
    if choice["file"]:
        entry = read_entry(Path(choice["file"]), machine_key(choice["machine"]))
    products = (entry or {}).get("products", [])
    if "--summary" in argv and products:
        print(summary(products))
    if "--products" in argv:
        print("dtype\tkind\trows\tdepth\tcolumns\ttiles_us\tblas_us")
        for product in products:
            print(*product, sep="\t")


if __name__ == "__main__":
    main()
