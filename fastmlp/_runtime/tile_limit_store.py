"""The tile limits as data: their names and sentinels, the built-in ones, their file.

A machine's measured limits live in one JSON file (``FILE_NAME``), an entry per
machine description holding one per dtype (each measured when that dtype is
first needed), written under a lock file so that concurrent first runs measure
once. A dtype's entry that does not validate is ignored (measured again).
"""

import contextlib
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from numba import config

from .._kernels.limit_table import DTYPES, LIMIT_NAMES
from .._kernels.tunables import STALE_LOCK_SECONDS, WAIT_SECONDS

ENV_DIR = "FASTMLP_CACHE_DIR"

FILE_NAME = "tile_limits.json"

FILE_FORMAT = 2  # 1 (until 2026-12-05): both dtypes' limits in one entry

NEVER = -1  # a limit no product is under

ALWAYS = 1 << 62


def builtin_limits():
    """The limits of ``tiles.DEFAULT_LIMITS`` (measured on Zen 1 and Zen 5)."""
    from .._kernels.tiles import DEFAULT_LIMITS

    return json.loads(json.dumps(DEFAULT_LIMITS))


def _uniform(value):
    return {dtype: dict.fromkeys(LIMIT_NAMES, value) for dtype in DTYPES}


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


def read_entry(path, key, dtype):
    """This machine's entry for ``dtype`` in the file, or None (also if unreadable).

    A dict of ``limits`` (``dtype``'s), ``measured_at``, ``measure_seconds``,
    ``compile_seconds`` and ``products``.
    """
    machine = _read_file(path).get("machines", {}).get(key)
    entry = machine.get("dtypes", {}).get(dtype) if isinstance(machine, dict) else None
    if isinstance(entry, dict) and _valid_dtype_limits(entry.get("limits")):
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
    return (
        isinstance(limits, dict)
        and set(limits) == set(DTYPES)
        and all(_valid_dtype_limits(values) for values in limits.values())
    )


def _valid_dtype_limits(values):
    if not isinstance(values, dict) or set(values) != set(LIMIT_NAMES):
        return False
    return all(type(value) is int and value >= NEVER for value in values.values())


def _entry_fields(entry):
    return {
        "limits": entry["limits"],
        "measured_at": entry.get("measured_at"),
        "measure_seconds": entry.get("measure_seconds"),
    }


def _write_entry(path, key, machine, dtype, entry):
    """Set ``dtype``'s entry of ``machine`` (keyed ``key``), keeping the others."""
    content = _read_file(path) or {"format": FILE_FORMAT, "machines": {}}
    kept = content["machines"].get(key)
    if not isinstance(kept, dict) or not isinstance(kept.get("dtypes"), dict):
        kept = {"machine": machine, "dtypes": {}}
    kept["dtypes"][dtype] = entry
    content["machines"][key] = kept
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
    ``WAIT_SECONDS``. Raises OSError when the directory cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + WAIT_SECONDS
    held = False
    while True:
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
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
