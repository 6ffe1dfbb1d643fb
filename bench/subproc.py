"""Parent side of the fresh-process measurements (see :mod:`bench.worker`).

Per case: the case's arrays are written once as ``.npy`` files; a ``compile``
job runs fastmlp with ``NUMBA_CACHE_DIR`` pointing at a new empty directory;
then one ``warm`` job per contestant runs with that same, now filled, cache
directory (first-call latency with a warm cache, peak memory). Children get
the parent's environment plus the thread-count variables of ``--threads``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from bench.measure import jsonable_params
from bench.results_model import ConcurrencyTiming, FreshProcess
from bench.threads import subprocess_thread_env
from bench.worker import RESULT_PREFIX

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_arrays(directory, X, y, X_pred=None):
    """Write the arrays a worker loads.

    Parameters
    ----------
    directory : str
    X : ndarray or sparse matrix
        Sparse as ``X.npz``, else ``X.npy``.
    y : ndarray
    X_pred : ndarray, optional

    Returns
    -------
    str
        ``directory``.
    """
    if sp.issparse(X):
        sp.save_npz(os.path.join(directory, "X.npz"), X)
    else:
        np.save(os.path.join(directory, "X.npy"), X)
    np.save(os.path.join(directory, "y.npy"), y)
    if X_pred is not None:
        np.save(os.path.join(directory, "X_pred.npy"), X_pred)
    return directory


def run_worker(job, extra_env=None, timeout=900):
    """Run one job in a fresh ``python -m bench.worker`` and parse its result.

    Parameters
    ----------
    job : dict
    extra_env : dict, optional
        Added to (or overriding) the parent's environment.
    timeout : float, default=900
        Seconds before the child is killed.

    Returns
    -------
    dict
        The worker's result, or ``{"error": ...}`` when it failed.
    """
    env = dict(os.environ)
    env.update(subprocess_thread_env(job.get("threads")))
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(job, handle)
        job_path = handle.name
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.worker", job_path],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout} s"}
    finally:
        os.unlink(job_path)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)[-800:]}


def fresh_process_measurements(
    task,
    params,
    X,
    y,
    contestants,
    threads,
    X_pred=None,
    measure_compile=True,
    params_by_name=None,
):
    """Compile time, first-call latency and peak memory, each in a new process.

    Parameters
    ----------
    task : str
    params : dict
    X, y : ndarray
        Training data (already in the case's dtype).
    contestants : list of Contestant
    threads : int or None
        ``--threads``.
    X_pred : ndarray, optional
        When given, the measured call is ``predict_proba(X_pred)`` after an
        (unmeasured) fit, instead of a fit.
    measure_compile : bool, default=True
        Run the cold-cache compile job (fastmlp). Without it the warm jobs
        use the cache this (parent) process filled while it timed the case.
    params_by_name : dict of str to dict, optional
        Hyperparameters of the contestants that get others than ``params``
        (scikit-learn's nearest network in a custom run).

    Returns
    -------
    dict of str to FreshProcess
        Per contestant: ``compile_s`` (fastmlp only, or ``compile_error``),
        ``import_s``, ``first_call_s``, ``peak_mib``, ``memory_method`` (or
        ``warm_error``).
    """
    base = {
        "task": task,
        "params": jsonable_params(params),
        "threads": threads,
        "action": "predict" if X_pred is not None else "fit",
    }
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        save_arrays(data_dir, X, y, X_pred)
        base["data_dir"] = data_dir
        cache_dir = tempfile.mkdtemp(prefix="bench-numba-cache-")
        cache_env = {"NUMBA_CACHE_DIR": cache_dir} if measure_compile else {}
        try:
            names = [c.name for c in contestants]
            if "fastmlp" in names and measure_compile:
                job = {**base, "job": "compile", "contestant": "fastmlp"}
                cold = run_worker(job, cache_env)
                entry = out.setdefault("fastmlp", FreshProcess())
                if "error" in cold:
                    entry.compile_error = cold["error"]
                else:
                    entry.compile_s = cold["compile_s"]
                    entry.cold_first_call_s = cold["first_call_s"]
                    entry.cold_import_s = cold["import_s"]
            for name in names:
                job = {**base, "job": "warm", "contestant": name}
                if name in (params_by_name or {}):
                    job["params"] = jsonable_params(params_by_name[name])
                warm = run_worker(job, cache_env)
                if "error" in warm:
                    warm = {"warm_error": warm.pop("error")}
                out[name] = replace(out.get(name, FreshProcess()), **warm)
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return out


def concurrency_in_subprocess(
    contestant_name, task, params, X, y, threads, reps, settle=0.0, target_s=0.0
):
    """Run :func:`bench.concurrency.measure_concurrency` in a fresh process.

    A crash there (e.g. a threading layer that is not thread-safe aborting
    the process) then costs one result, not the whole run.

    Parameters
    ----------
    contestant_name : str
    task : str
    params : dict
    X, y : ndarray
    threads : int or None
    reps : int
    settle : float, default=0.0
    target_s : float, default=0.0

    Returns
    -------
    ConcurrencyTiming
    """
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        save_arrays(data_dir, X, y)
        job = {
            "job": "concurrent",
            "contestant": contestant_name,
            "task": task,
            "params": jsonable_params(params),
            "threads": threads,
            "data_dir": data_dir,
            "reps": reps,
            "settle": settle,
            "target_s": target_s,
        }
        return ConcurrencyTiming.from_json(run_worker(job))
