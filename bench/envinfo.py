"""What the numbers were measured on: CPU, versions, thread pools."""

from __future__ import annotations

import os
import platform
import sys


def cpu_model():
    """CPU model name from /proc/cpuinfo (or the platform module).

    Returns
    -------
    str
    """
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_snapshot():
    """Machine-wide busy CPU seconds, this run's own CPU seconds, wall clock.

    Two snapshots give the CPU time other processes used in between (see
    :func:`other_cpu_load`).

    Returns
    -------
    dict or None
        None where ``/proc/stat`` is not available.
    """
    import time

    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    own = os.times()
    return {
        "busy_s": (sum(fields) - idle) / ticks,
        "own_s": own.user + own.system + own.children_user + own.children_system,
        "wall_s": time.monotonic(),
    }


def other_cpu_load(start, end):
    """Average number of CPUs that other processes kept busy between snapshots.

    Machine-wide busy time (``/proc/stat``, hypervisor steal included) minus
    the CPU time of this process and of the children it waited for.

    Parameters
    ----------
    start, end : dict or None
        From :func:`cpu_snapshot`.

    Returns
    -------
    float or None
    """
    if not start or not end or end["wall_s"] <= start["wall_s"]:
        return None
    others = (end["busy_s"] - start["busy_s"]) - (end["own_s"] - start["own_s"])
    return max(0.0, others / (end["wall_s"] - start["wall_s"]))


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = ("avx2", "fma", "avx512f")
                    return [f for f in wanted if f in flags]
    except OSError:
        pass
    return []


def _version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    return getattr(module, "__version__", "unknown")


def collect(threads, contestants):
    """Everything the report's environment block shows.

    Call it after the run, so numba's threading layer (chosen when the first
    parallel kernel runs) can be read.

    Parameters
    ----------
    threads : dict
        What :func:`bench.threads.configure_threads` returned.
    contestants : list of Contestant

    Returns
    -------
    dict
    """
    import numba
    from threadpoolctl import threadpool_info

    from bench.contestants import FAKE_ENV, fastmlp_is_faked
    from bench.threads import numba_threading_layer, numba_threads

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = None
    return {
        "cpu": cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            "numpy": _version("numpy"),
            "scipy": _version("scipy"),
            "numba": _version("numba"),
            "sklearn": _version("sklearn"),
            "torch": _version("torch") if "torch" in sys.modules else None,
        },
        "contestants": {c.name: c.version for c in contestants},
        "contestant_notes": {c.name: c.note for c in contestants if c.note},
        "fastmlp_faked": fastmlp_is_faked(),
        "fake_env_var": FAKE_ENV,
        "threads": threads,
        "numba_threads": numba_threads(),
        "numba_threading_layer": numba_threading_layer(),
        "numba_num_threads_config": numba.config.NUMBA_NUM_THREADS,
        "threadpool_info": threadpool_info(),
        "tile_limits": __import__(
            "fastmlp._runtime.tile_calibration", fromlist=["_"]
        ).describe(),
        "env": {
            var: os.environ.get(var)
            for var in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS",
                "NUMBA_THREADING_LAYER",
                "NUMBA_CACHE_DIR",
                "OMP_WAIT_POLICY",
            )
        },
        "openblas_coretype_set": "OPENBLAS_CORETYPE" in os.environ,
    }
