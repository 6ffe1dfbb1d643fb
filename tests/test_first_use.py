"""The first use on a machine: the compile notice and compiling ahead of time."""

import pytest

from tests._reliability_helpers import run_python

FIT_SCRIPT = """
import numpy as np, warnings
warnings.filterwarnings("ignore")
import fastmlp
from fastmlp._first_use import compile_counter
X = np.random.RandomState(1).normal(size=(100, 7))
fastmlp.MLPClassifier((5,), max_iter=3).fit(X, X[:, 0] > 0).predict_proba(X)
fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3).fit(X, X[:, 1]).predict(X)
print("compiles", compile_counter.compiles)
"""
NOTICE = "fastmlp is compiling its kernels for this machine"


# `python -m fastmlp compile ...`, as runpy runs it for -m
COMPILE_SCRIPT = """
import runpy, sys
sys.argv = ["fastmlp", "compile", "--dtypes", "float64", "--solvers", "adam",
            "--no-sparse", "--no-threads", "--no-extra-activations",
            "--no-dropout"]
runpy.run_module("fastmlp", run_name="__main__")
"""


@pytest.mark.timeout(900)
def test_compile_ahead_then_a_fresh_process_fits_without_compiling(tmp_path):
    cache = {"NUMBA_CACHE_DIR": str(tmp_path)}
    ahead = run_python(COMPILE_SCRIPT, cache, timeout=600)
    # said once, on the logger (stderr without logging configured), with the cache
    assert ahead.stderr.count(NOTICE) == 1
    assert str(tmp_path) in ahead.stderr
    compiled = int(ahead.stdout.split("fastmlp: ")[1].split()[0])
    assert compiled > 0
    later = run_python(FIT_SCRIPT, cache, timeout=600)
    assert later.stdout.split() == ["compiles", "0"]
    assert NOTICE not in later.stderr


def test_the_notice_is_a_log_record_not_a_warning(caplog):
    import warnings

    from fastmlp._first_use import _CompileCounter

    class Event:
        data = {"dispatcher": type("D", (), {"py_func": _CompileCounter.on_start})}

    counter = _CompileCounter()  # on_start itself stands for a fastmlp kernel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level("WARNING", logger="fastmlp"):
            counter.on_start(Event)
            counter.on_start(Event)
    assert counter.compiles == 2
    assert [r.name for r in caplog.records] == ["fastmlp"]
    assert NOTICE in caplog.records[0].getMessage()


TILES_SCRIPT = """
import runpy, sys
sys.argv = ["fastmlp", "tiles", "--summary"]
runpy.run_module("fastmlp", run_name="__main__")
"""


def test_python_m_fastmlp_tiles_reports_the_limits(tmp_path):
    # FASTMLP_TILES=builtin (the tests' pin) reaches the child: nothing measured
    done = run_python(TILES_SCRIPT, {"FASTMLP_CACHE_DIR": str(tmp_path)}, timeout=300)
    assert done.stdout.startswith("tiles up to: float64")
    assert "FASTMLP_TILES=builtin" in done.stdout
    assert "RuntimeWarning" not in done.stderr
