"""Child-process side of the measurements that need a fresh interpreter.

Run as ``python -m bench.worker JOB.json``; prints one line
``BENCH_RESULT {json}``. Jobs:

``compile``
    In a process whose ``NUMBA_CACHE_DIR`` is an empty directory: import the
    contestant, time its first call, then two more; compile time = first call
    minus the median of the others.
``warm``
    In a fresh process with a warm cache: import time and first-call time
    (their sum is the latency a user sees), then the peak memory of one more
    call: freed heap pages are returned to the kernel (``malloc_trim(0)``),
    the resident-set high-water mark is reset (``/proc/self/clear_refs``),
    the call runs, and peak = ``VmHWM`` after the call minus ``VmRSS``
    before it: the most memory the call added at any moment. Where the reset
    is not allowed the fallback is ``ru_maxrss`` after the call minus RSS
    before it (flagged).
``concurrent``
    :func:`bench.concurrency.measure_concurrency` in a clean process.

numpy and the data are loaded before any clock starts; only the contestant's
own import is timed.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time

import numpy as np

RESULT_PREFIX = "BENCH_RESULT "


def _proc_status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _release_free_heap():
    """Hand freed heap pages back to the kernel (glibc ``malloc_trim(0)``).

    Without it, memory freed by the earlier fit stays resident and the
    measured fit reuses it without raising the resident set: its peak would
    read as zero.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def _reset_peak_rss():
    """Reset the high-water mark; True when the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_memory_mib(call):
    """Peak resident-set growth of ``call()`` in MiB, and how it was measured.

    Parameters
    ----------
    call : callable

    Returns
    -------
    peak_mib : float
    method : str
    """
    gc.collect()
    trimmed = _release_free_heap()
    reset = _reset_peak_rss()
    before = _proc_status_kib("VmRSS")
    call()
    if reset:
        peak = _proc_status_kib("VmHWM")
        method = "VmHWM after (reset by clear_refs) - VmRSS before"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss after - VmRSS before (no reset: may undercount)"
    if trimmed:
        method += ", after malloc_trim(0)"
    return max(0, peak - before) / 1024.0, method


def _load(data_dir):
    sparse_path = os.path.join(data_dir, "X.npz")
    if os.path.exists(sparse_path):
        import scipy.sparse as sp

        X = sp.load_npz(sparse_path).tocsr()
    else:
        X = np.load(os.path.join(data_dir, "X.npy"))
    y = np.load(os.path.join(data_dir, "y.npy"))
    pred_path = os.path.join(data_dir, "X_pred.npy")
    X_pred = np.load(pred_path) if os.path.exists(pred_path) else None
    return X, y, X_pred


def _import_contestant(job):
    """Import the contestant and build one estimator; returns it and seconds."""
    start = time.perf_counter()
    from bench.contestants import get_contestant

    contestant = get_contestant(job["contestant"])
    if contestant is None:
        raise RuntimeError(f"contestant {job['contestant']} is not available")
    if contestant.name == "torch":
        import torch

        from bench.threads import blas_threads

        torch.set_num_threads(job.get("threads") or blas_threads() or 1)
    contestant.make(job["task"], job["params"])
    return contestant, time.perf_counter() - start


def _calls(job, contestant, X, y, X_pred):
    task, params = job["task"], job["params"]

    def fit():
        return contestant.make(task, params).fit(X, y)

    if job.get("action") == "predict":
        model = fit()

        def predict():
            return model.predict_proba(X_pred)

        return predict
    return fit


def run_job(job):
    """Carry out one job description and return its JSON-ready result.

    Parameters
    ----------
    job : dict
        See the module docstring.

    Returns
    -------
    dict
    """
    import warnings

    warnings.simplefilter("ignore")
    X, y, X_pred = _load(job["data_dir"])
    if job["job"] == "concurrent":
        from bench.concurrency import measure_concurrency
        from bench.contestants import get_contestant
        from bench.threads import configure_threads
        from bench.timing import freeze_heap

        contestant = get_contestant(job["contestant"])
        configure_threads(job.get("threads"), torch_too=contestant.name == "torch")
        freeze_heap()  # cheap collections before each timed call
        return measure_concurrency(
            contestant,
            job["task"],
            job["params"],
            X,
            y,
            job["reps"],
            settle=job.get("settle", 0.0),
            target_s=job.get("target_s", 0.0),
        )
    contestant, import_s = _import_contestant(job)
    call = _calls(job, contestant, X, y, X_pred)
    start = time.perf_counter()
    call()
    first_s = time.perf_counter() - start
    out = {"import_s": import_s, "first_call_s": first_s}
    if job["job"] == "compile":
        steady = []
        for _ in range(2):
            start = time.perf_counter()
            call()
            steady.append(time.perf_counter() - start)
        out["steady_s"] = float(np.median(steady))
        out["compile_s"] = first_s - out["steady_s"]
    else:
        out["peak_mib"], out["memory_method"] = peak_memory_mib(call)
    return out


def main(argv=None):
    """Entry point: ``python -m bench.worker JOB.json``.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        Exit status.
    """
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as handle:
        job = json.load(handle)
    result = run_job(job)
    # imported after the job: nothing extra in the measured import times
    from bench.results_model import to_json_value

    result = to_json_value(result)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
