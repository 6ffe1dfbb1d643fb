"""Tiles or BLAS: limits measured on the machine that runs, once, then persisted.

:func:`tile_choice` settles a dtype's limits of
:func:`fastmlp._kernels.tiles.use_tiles` (writes them into
``fastmlp._kernels.limit_table``, which the kernels read at run time) before
the first kernel of that dtype compiles or loads in the process
(``jit._CompilingDispatcher``), and before Python reads them. Invariant: one
machine, one choice: each dtype's limits are measured once per
:func:`machine_description` (CPU, numba target, versions, BLAS builds), the
first time a process needs that dtype, into ``tile_limits.json``, and read
by every later process; concurrent first runs measure once; an unwritable
directory gets the built-in limits. ``import fastmlp`` measures nothing, nor
do interpreted or bounds-checked runs. ``FASTMLP_TILES`` overrides:
``auto``, ``blas``, ``tiles``, ``builtin`` or JSON.

Why: tiles and BLAS round differently; which is faster depends on the CPU and BLAS.
Its file, command line and figures: ``docs/design/tiles_calibration.md``.
"""

import datetime
import json
import os
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
from numba import config
from numba.core.compiler_lock import global_compiler_lock
from numba.core.types import Array, BaseTuple

from .._kernels.limit_table import DTYPES, limits_in_table, set_limits
from . import tile_limit_store
from .tile_limit_store import (
    ALWAYS,
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
_settled = {}  # dtype name -> its choice (see tile_choice)
_settling = set()  # dtypes being measured (by the thread holding _lock)
_combined = None  # tile_choice() of every dtype, once all are settled
_NAMES = {}  # dtype-likes seen -> dtype name


# ---------------------------------------------------------------------------
# What is in force
# ---------------------------------------------------------------------------


def tile_choice(dtype=None):
    """The tile limits in force in this process, and where they come from.

    Settles them the first time (from ``FASTMLP_TILES``, this machine's entry
    in the file, or a measurement) and writes them into
    ``fastmlp._kernels.limit_table``.

    Parameters
    ----------
    dtype : str or numpy.dtype, optional
        float32 or float64: that dtype's alone, settling no other. None:
        every dtype's.

    Returns
    -------
    choice : dict
        ``limits`` (the dtype's: ``max_macs``, ``narrow_max_macs``,
        ``max_right`` and their ``transposed_*``, -1 is never; without
        ``dtype``, a dict of those per dtype), ``mode`` (``FASTMLP_TILES``),
        ``source`` (a sentence), ``file`` (or None), ``machine``,
        ``measured_at`` and ``measure_seconds`` (of the measurement, where
        there was one; without ``dtype``, per dtype). The same object until
        the limits change.
    """
    if dtype is None:
        return _combined or _settle_all()
    name = _NAMES.get(dtype)
    if name is None:
        name = _dtype_name(dtype)
    choice = _settled.get(name)
    if choice is None:
        choice = _settle(name)
    return choice


def tile_limits():
    """The limits in force, per dtype (``tile_choice()["limits"]``)."""
    return tile_choice()["limits"]


def settle_signature(types):
    """Settle the limits of the dtype numba ``types`` (a signature's) compute in.

    What ``jit`` calls before a kernel of those argument types compiles or
    loads. That dtype is the narrowest of its float arrays (in tuples too):
    float32 kernels carry float64 arrays of sums (losses, weights), never
    float64 products, and float scalars (rates, penalties) say nothing
    (``tests/test_calibration.py`` checks that a fit in one dtype reads no
    limit of the other).
    """
    found = _array_dtypes(types, set())
    for name in reversed(DTYPES):  # float32 first
        if name in found:
            if name not in _settled:
                _settle(name)
            return


def _array_dtypes(types, found):
    for numba_type in types:
        if isinstance(numba_type, Array):
            found.add(str(numba_type.dtype))
        elif isinstance(numba_type, BaseTuple):
            _array_dtypes(numba_type.types, found)
    return found


def _dtype_name(dtype):
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise ValueError(f"no tile limits for {name}: one of {DTYPES}")
    _NAMES[dtype] = name
    return name


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


def _settle(name):
    """Settle ``name``'s limits unless this thread is measuring them already.

    numba's compiler lock first, as a compile that settles holds it already:
    one order of the two locks.
    """
    global _combined
    with global_compiler_lock, _lock:
        choice = _settled.get(name)
        if choice is not None or name in _settling:
            return choice  # None: its measurement compiles kernels of it
        _settling.add(name)
        try:
            choice = _resolve(name)
        finally:
            _settling.discard(name)
        set_limits(name, choice["limits"])
        _settled[name] = choice
        _combined = None
        return choice


def _settle_all():
    global _combined
    choices = {name: tile_choice(name) for name in DTYPES}
    with _lock:
        if _combined is None:
            sources = {choice["source"] for choice in choices.values()}
            first = choices[DTYPES[0]]
            _combined = {
                "limits": {name: choices[name]["limits"] for name in DTYPES},
                "mode": first["mode"],
                "source": sources.pop()
                if len(sources) == 1
                else "; ".join(f"{name}: {choices[name]['source']}" for name in DTYPES),
                "file": first["file"],
                "machine": first["machine"],
                "measured_at": {n: choices[n]["measured_at"] for n in DTYPES},
                "measure_seconds": {n: choices[n]["measure_seconds"] for n in DTYPES},
            }
        return _combined


def apply_limits(limits):
    """Write ``limits`` (per dtype) into the table the kernels read.

    Tests only (the settled choice stays as it was): the kernels read the
    table at run time, so this changes what they choose from the next call.
    """
    for dtype in DTYPES:
        set_limits(dtype, limits[dtype])


def limits_in_force():
    """The table's limits, per dtype (what the kernels read now)."""
    return {dtype: limits_in_table(dtype) for dtype in DTYPES}


def _resolve(name):
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
            "limits": _uniform(NEVER)[name],
            "source": "BLAS only: the target CPU has no vector FMA",
        }
    fixed = _from_environment(mode)
    if fixed is not None:
        return {**choice, "limits": fixed[name], "source": f"{ENV_MODE}={mode}"}
    machine = machine_description()
    path = limits_file()
    choice = {**choice, "mode": "auto", "machine": machine, "file": str(path)}
    key = machine_key(machine)
    entry = read_entry(path, key, name)
    if entry is not None:
        return {**choice, **_entry_fields(entry), "source": f"read from {path}"}
    if config.DISABLE_JIT or config.BOUNDSCHECK:
        return {
            **choice,
            "limits": builtin_limits()[name],
            "source": "built-in (not measured with NUMBA_DISABLE_JIT or "
            "NUMBA_BOUNDSCHECK)",
        }
    return {**choice, **_measure_once(path, key, machine, name)}


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


def _measure_once(path, key, machine, name, again=False):
    """Measure ``name``, unless another process did meanwhile; persist; or built-in."""
    try:
        with _file_lock(path) as held:
            entry = None if again else read_entry(path, key, name)
            if entry is not None:  # written while this process waited
                return {**_entry_fields(entry), "source": f"read from {path}"}
            if not held:
                return {
                    "limits": builtin_limits()[name],
                    "source": "built-in (another process held the lock on "
                    f"{path} for {tile_limit_store.WAIT_SECONDS:.0f} s)",
                }
            measured = measure(dtypes=(name,))
            entry = {
                "limits": measured["limits"][name],
                "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "measure_seconds": measured["seconds"],
                "compile_seconds": measured["compile_seconds"],
                "products": measured["products"],
            }
            _write_entry(path, key, machine, name, entry)
    except OSError as error:
        return {
            "limits": builtin_limits()[name],
            "source": f"built-in ({path} could not be written: {error})",
        }
    return {**_entry_fields(entry), "source": f"measured, written to {path}"}


def recalibrate():
    """Measure every dtype again and replace this machine's entries (``--again``).

    The new limits hold from the next process on (this one's kernels may
    already have run with the old ones).
    """
    tile_choice()  # this process's, settled first
    path = limits_file()
    machine = machine_description()
    key = machine_key(machine)
    choices = {
        name: _measure_once(path, key, machine, name, again=True) for name in DTYPES
    }
    return {
        "limits": {name: choices[name]["limits"] for name in DTYPES},
        "source": "; ".join(f"{n}: {choices[n]['source']}" for n in DTYPES),
    }


def main(argv=None):
    """``python -m fastmlp tiles [--summary] [--products] [--again]``."""
    argv = sys.argv[1:] if argv is None else argv
    if "--again" in argv:
        print("measured again, in force from the next process on:")
        print(describe(recalibrate()))
    choice = tile_choice()
    print(describe(choice))
    print(json.dumps(choice, indent=1))
    products = []
    if choice["file"]:
        key = machine_key(choice["machine"])
        for name in DTYPES:
            entry = read_entry(Path(choice["file"]), key, name)
            products += (entry or {}).get("products", [])
    if "--summary" in argv and products:
        print(summary(products))
    if "--products" in argv:
        print("dtype\tkind\trows\tdepth\tcolumns\ttiles_us\tblas_us")
        for product in products:
            print(*product, sep="\t")


if __name__ == "__main__":
    main()
