"""Tiles or BLAS: limits measured on the machine that runs, once, then persisted.

:func:`tile_choice` settles the limits of :func:`fastmlp._kernels.tiles.use_tiles`
before any kernel that reads them compiles or loads (they are part of every
kernel's cache stamp). Invariant: one machine, one choice: the limits are
measured once per :func:`machine_description` (CPU, numba target, versions, BLAS
builds) into ``tile_limits.json`` and read by every later process; concurrent
first runs measure once; an unwritable directory gets the built-in limits.
``import fastmlp`` measures nothing, nor do interpreted or bounds-checked runs.
``FASTMLP_TILES`` overrides: ``auto``, ``blas``, ``tiles``, ``builtin`` or JSON.

Why: tiles and BLAS round differently; which is faster depends on the CPU and BLAS.
Its file, command line and figures: ``docs/design/tiles_calibration.md``.
"""

import datetime
import hashlib
import json
import os
import sys
import threading
import warnings
from pathlib import Path

from numba import config

from . import tile_limit_store
from .tile_limit_store import (
    ALWAYS,
    DTYPES,
    LIMIT_NAMES,
    NEVER,
    _entry_fields,
    _file_lock,
    _uniform,
    _valid_limits,
    _write_entry,
    builtin_limits,
    limits_file,
    machine_description,
    machine_key,
    read_entry,
)
from .tile_measurement import measure, summary

ENV_MODE = "FASTMLP_TILES"


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
                    f"{path} for {tile_limit_store.WAIT_SECONDS:.0f} s)",
                }
            measured = measure()
            entry = {
                "limits": measured["limits"],
                "machine": machine,
                "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
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
