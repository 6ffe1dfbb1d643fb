"""The tile limits measured on the machine (``fastmlp._runtime.tile_calibration``).

Most tests settle a dtype's choice with :func:`tile_calibration._resolve`, which
returns it without writing it into the kernels' table: the session's own
limits (pinned by ``tests/conftest.py``) stay in force.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest
from numba.core import types

from fastmlp._kernels import jit, limit_table, simd, tiles
from fastmlp._runtime import tile_calibration, tile_limit_store, tile_measurement

ROOT = Path(__file__).resolve().parents[1]
FAKE_LIMITS = {
    "float64": {
        "max_macs": 12345,
        "narrow_max_macs": 678,
        "max_right": 910,
        "transposed_max_macs": 1234,
        "transposed_narrow_max_macs": 67,
        "transposed_max_right": 91,
    },
    "float32": {
        "max_macs": 23456,
        "narrow_max_macs": -1,
        "max_right": 1 << 62,
        "transposed_max_macs": -1,
        "transposed_narrow_max_macs": -1,
        "transposed_max_right": -1,
    },
}


@pytest.fixture
def auto(monkeypatch, tmp_path):
    """``FASTMLP_TILES=auto`` with the file in ``tmp_path``; ``measure`` faked.

    Returns the list of the fake measurement's calls.
    """
    calls = []

    def fake_measure(grid=None, dtypes=tile_limit_store.DTYPES):
        calls.append(dtypes)
        return {
            "limits": json.loads(json.dumps(FAKE_LIMITS)),
            "seconds": 0.5,
            "compile_seconds": 0.25,
            "products": [["float64", 0, 8, 10, 10, 1.0, 2.0]],
        }

    monkeypatch.setenv("FASTMLP_TILES", "auto")
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tile_calibration, "measure", fake_measure)
    monkeypatch.setattr(simd, "has_vector_fma", lambda: True)
    monkeypatch.setattr(numba.config, "DISABLE_JIT", False)
    monkeypatch.setattr(numba.config, "BOUNDSCHECK", None)
    return calls


def _entries(tmp_path):
    content = json.loads((tmp_path / tile_limit_store.FILE_NAME).read_text())
    assert content["format"] == tile_limit_store.FILE_FORMAT
    return content["machines"]


def test_each_dtype_is_measured_once_when_first_needed_then_read(auto, tmp_path):
    first = tile_calibration._resolve("float64")
    assert first["limits"] == FAKE_LIMITS["float64"]
    assert first["source"].startswith("measured")
    assert auto == [("float64",)]  # float32 is not measured for it
    path = tmp_path / tile_limit_store.FILE_NAME
    assert first["file"] == str(path)
    (machine,) = _entries(tmp_path).values()
    assert machine["machine"] == tile_calibration.machine_description()
    assert set(machine["dtypes"]) == {"float64"}
    assert machine["dtypes"]["float64"]["limits"] == FAKE_LIMITS["float64"]
    assert machine["dtypes"]["float64"]["measure_seconds"] == 0.5
    assert not path.with_name(path.name + ".lock").exists()
    second = tile_calibration._resolve("float64")
    assert second["limits"] == FAKE_LIMITS["float64"]
    assert second["source"] == f"read from {path}"
    assert second["measured_at"] == first["measured_at"]
    assert len(auto) == 1  # measured once
    single = tile_calibration._resolve("float32")
    assert single["limits"] == FAKE_LIMITS["float32"]
    assert auto == [("float64",), ("float32",)]
    (machine,) = _entries(tmp_path).values()  # float64's kept
    assert machine["dtypes"]["float64"]["measured_at"] == first["measured_at"]
    assert set(machine["dtypes"]) == {"float64", "float32"}
    assert tile_calibration._resolve("float32")["source"].startswith("read from")
    assert len(auto) == 2


def test_another_machine_gets_an_entry_of_its_own(auto, tmp_path, monkeypatch):
    tile_calibration._resolve("float64")
    machine = tile_calibration.machine_description()
    monkeypatch.setattr(
        tile_calibration, "machine_description", lambda: {**machine, "cpu": "another"}
    )
    tile_calibration._resolve("float64")
    assert len(_entries(tmp_path)) == 2
    assert len(auto) == 2


@pytest.mark.parametrize(
    "garbage",
    [
        "{not json",
        "[]",
        json.dumps({"format": 99, "machines": {}}),
        "KEY",  # this machine's entry, with limits of the wrong type
        "FORMAT 1",  # both dtypes in one entry, as until 2026-12-05
    ],
)
def test_a_damaged_file_is_measured_again_and_replaced(auto, tmp_path, garbage):
    path = tmp_path / tile_limit_store.FILE_NAME
    key = tile_limit_store.machine_key(tile_calibration.machine_description())
    if garbage == "KEY":
        limits = {"max_macs": "1", "narrow_max_macs": 1, "max_right": 1}
        entry = {"dtypes": {"float64": {"limits": limits}}}
        garbage = json.dumps({"format": 2, "machines": {key: entry}})
    elif garbage == "FORMAT 1":
        garbage = json.dumps({"format": 1, "machines": {key: {"limits": FAKE_LIMITS}}})
    path.write_text(garbage)
    choice = tile_calibration._resolve("float64")
    assert choice["limits"] == FAKE_LIMITS["float64"] and len(auto) == 1
    assert tile_calibration._resolve("float64")["source"].startswith("read from")
    assert len(auto) == 1


def test_an_unwritable_directory_gets_the_builtin_limits(auto, monkeypatch, tmp_path):
    # a file where the directory should be: no directory can be made there
    # (permissions would not stop root)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(blocker / "cache"))
    choice = tile_calibration._resolve("float32")
    assert choice["limits"] == tile_limit_store.builtin_limits()["float32"]
    assert "could not be written" in choice["source"]
    assert auto == []  # not measured: it could not be kept


def test_a_lock_held_by_another_process_waits_for_its_entry(auto, tmp_path):
    path = tmp_path / tile_limit_store.FILE_NAME
    lock = path.with_name(path.name + ".lock")
    lock.write_text("")
    key = tile_limit_store.machine_key(tile_calibration.machine_description())

    def the_other_process():
        time.sleep(0.3)
        entry = {"limits": FAKE_LIMITS["float64"]}
        tile_limit_store._write_entry(path, key, {}, "float64", entry)
        lock.unlink()

    other = threading.Thread(target=the_other_process)
    other.start()
    choice = tile_calibration._resolve("float64")
    other.join()
    assert choice["limits"] == FAKE_LIMITS["float64"]
    assert choice["source"] == f"read from {path}"
    assert auto == []


def test_a_stale_lock_is_taken_over(auto, tmp_path):
    path = tmp_path / tile_limit_store.FILE_NAME
    lock = path.with_name(path.name + ".lock")
    lock.write_text("")
    old = time.time() - 2 * tile_limit_store.STALE_LOCK_SECONDS
    os.utime(lock, (old, old))
    assert tile_calibration._resolve("float64")["source"].startswith("measured")
    assert not lock.exists()


def test_a_lock_never_released_gives_the_builtin_limits(auto, tmp_path, monkeypatch):
    monkeypatch.setattr(tile_limit_store, "WAIT_SECONDS", 0.2)
    path = tmp_path / tile_limit_store.FILE_NAME
    path.with_name(path.name + ".lock").write_text("")
    choice = tile_calibration._resolve("float64")
    assert choice["limits"] == tile_limit_store.builtin_limits()["float64"]
    assert auto == []


@pytest.mark.parametrize(
    ("mode", "want"),
    [
        ("blas", tile_limit_store._uniform(-1)),
        ("tiles", tile_limit_store._uniform(1 << 62)),
        ("builtin", None),
        (" BLAS ", tile_limit_store._uniform(-1)),
    ],
)
def test_the_environment_overrides(auto, monkeypatch, mode, want):
    monkeypatch.setenv("FASTMLP_TILES", mode)
    want = tile_limit_store.builtin_limits() if want is None else want
    for dtype in tile_limit_store.DTYPES:
        choice = tile_calibration._resolve(dtype)
        assert choice["limits"] == want[dtype]
        assert choice["source"] == f"FASTMLP_TILES={mode.strip()}"
    assert auto == []


def test_the_environment_gives_limits_as_json(auto, monkeypatch):
    monkeypatch.setenv("FASTMLP_TILES", json.dumps({"float32": {"max_macs": 99}}))
    want = tile_limit_store.builtin_limits()
    want["float32"]["max_macs"] = 99
    assert tile_calibration._resolve("float32")["limits"] == want["float32"]
    assert tile_calibration._resolve("float64")["limits"] == want["float64"]


@pytest.mark.parametrize(
    "mode", ["fast", '{"float16": {}}', '{"float64": {"max_macs": "x"}}']
)
def test_an_unknown_override_warns_and_measures(auto, monkeypatch, mode):
    monkeypatch.setenv("FASTMLP_TILES", mode)
    with pytest.warns(RuntimeWarning, match="FASTMLP_TILES"):
        choice = tile_calibration._resolve("float64")
    assert choice["limits"] == FAKE_LIMITS["float64"] and len(auto) == 1


def test_no_measurement_without_vector_fma(auto, monkeypatch):
    monkeypatch.setattr(simd, "has_vector_fma", lambda: False)
    monkeypatch.setenv("FASTMLP_TILES", "tiles")  # cannot ask for tiles either
    choice = tile_calibration._resolve("float32")
    assert choice["limits"] == tile_limit_store._uniform(-1)["float32"]
    assert "no vector FMA" in choice["source"]
    assert auto == []


@pytest.mark.parametrize("flag", ["DISABLE_JIT", "BOUNDSCHECK"])
def test_no_measurement_of_interpreted_or_checked_code(auto, monkeypatch, flag):
    monkeypatch.setattr(numba.config, flag, True)
    choice = tile_calibration._resolve("float64")
    assert choice["limits"] == tile_limit_store.builtin_limits()["float64"]
    assert auto == []


def test_the_file_follows_the_cache_directories(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path / "a"))
    assert tile_limit_store.limits_file() == tmp_path / "a" / "tile_limits.json"
    monkeypatch.delenv("FASTMLP_CACHE_DIR")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "b"))
    assert tile_limit_store.limits_file() == tmp_path / "b" / "tile_limits.json"
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    if sys.platform.startswith("linux"):
        want = tmp_path / "c" / "fastmlp" / "tile_limits.json"
        assert tile_limit_store.limits_file() == want


def _products(dtype, shapes, tiles_faster):
    """Fake measurements: tiles 1 us and BLAS 2 us where ``tiles_faster``."""
    return [
        [dtype, 0, n, d, c, 1.0, 2.0]
        if tiles_faster(n, d, c)
        else [dtype, 0, n, d, c, 2.0, 1.0]
        for n, d, c in shapes
    ]


def test_derived_limits_lie_between_the_last_win_and_the_first_loss():
    wide = 64  # wider than any full tile
    shapes = [(n, 10, wide) for n in (1, 2, 4, 8, 16, 32)]
    narrow = [(n, 10, 2) for n in (1, 2, 4)]
    products = _products("float64", shapes, lambda n, d, c: n <= 4)
    products += _products("float64", narrow, lambda n, d, c: False)
    products += _products("float32", shapes + narrow, lambda n, d, c: True)
    limits = tile_measurement.derive_limits(products)
    assert 4 * 10 * wide < limits["float64"]["max_macs"] < 8 * 10 * wide
    assert limits["float64"]["narrow_max_macs"] == -1
    assert limits["float64"]["max_right"] == 1 << 62
    # no a @ b.T measured: never in tiles
    assert limits["float64"]["transposed_max_macs"] == -1
    # tiles win everywhere: up to twice the largest measured
    assert limits["float32"]["max_macs"] == 2 * 32 * 10 * wide
    assert limits["float32"]["narrow_max_macs"] == 2 * 4 * 10 * 2


def test_derived_limits_bound_the_right_operand_where_it_matters():
    # 512 x 100 x 64 (tiles) has more multiply-adds than 8 x 1000 x 64 (BLAS)
    shapes = [(n, d, 64) for n in (8, 512) for d in (10, 100, 1000)]
    products = _products("float64", shapes, lambda n, d, c: d <= 100)
    limits = tile_measurement.derive_limits(products)["float64"]
    assert 100 * 64 < limits["max_right"] < 1000 * 64
    assert limits["max_macs"] >= 64 * 100 * 64


def test_derived_limits_of_a_times_b_transposed_are_their_own():
    shapes = [(n, 10, 64) for n in (1, 2, 4, 8, 16, 32)]
    products = _products("float64", shapes, lambda n, d, c: True)
    products += [
        [*p[:1], 2, *p[2:]]
        for p in _products("float64", shapes, lambda n, d, c: n <= 2)
    ]
    limits = tile_measurement.derive_limits(products)["float64"]
    assert limits["max_macs"] == 2 * 32 * 10 * 64
    assert 2 * 10 * 64 < limits["transposed_max_macs"] < 4 * 10 * 64


def test_derived_limits_never_lose_to_blas_alone_in_sum():
    rng = np.random.default_rng(0)
    shapes = [tuple(int(v) for v in rng.integers(1, 300, 3)) for _ in range(200)]
    products = [
        ["float64", 0, n, d, c, *rng.uniform(0.5, 2.0, 2)] for n, d, c in shapes
    ]
    limits = tile_measurement.derive_limits(products)["float64"]
    total = blas_total = 0.0
    for _, _, n, d, c, tiles_time, blas_time in products:
        narrow = c < simd.VECTORS * simd.VECTOR_BYTES // 8
        macs = n * d * c
        chosen = (
            macs <= limits["narrow_max_macs"]
            if narrow
            else macs <= limits["max_macs"] and d * c <= limits["max_right"]
        )
        best = min(tiles_time, blas_time)
        total += (tiles_time if chosen else blas_time) / best
        blas_total += blas_time / best
    assert total <= blas_total


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compiled code only")
def test_compiled_kernels_read_the_limits_at_run_time(tile_table):
    # the same machine code and cache stamp whatever the limits: a kernel
    # compiled or loaded before a dtype is settled chooses as settled after
    stamp = jit.kernels_source_stamp()
    twin = tiles.use_tiles.python_twin()
    shape = (200, 64, 100)
    for dtype, itemsize in (("float64", 8), ("float32", 4)):
        settled = tile_calibration.tile_choice(dtype)["limits"]
        assert tiles.use_tiles(*shape, itemsize) == tiles.use_tiles.py_func(
            *shape, itemsize
        )
        compiled = len(twin.overloads)
        generation = limit_table.generation()
        limit_table.set_limits(dtype, dict.fromkeys(settled, -1))
        assert not tiles.use_tiles(*shape, itemsize)
        assert not tiles.use_tiles(1, 1, 1, itemsize)
        assert limit_table.generation() > generation
        limit_table.set_limits(dtype, dict.fromkeys(settled, 1 << 62))
        assert tiles.use_tiles(*shape, itemsize)
        assert tiles.use_tiles_transposed(*shape, itemsize) == simd.has_vector_fma()
        limit_table.set_limits(dtype, settled)
        assert len(twin.overloads) == compiled  # nothing compiled again
    assert jit.kernels_source_stamp() == stamp


def test_a_signature_settles_its_float_dtypes_alone(monkeypatch):
    settled = []

    def resolve(name):
        settled.append(name)
        return {"limits": tile_limit_store.builtin_limits()[name], "source": "x"}

    monkeypatch.setattr(tile_calibration, "_settled", {})
    monkeypatch.setattr(tile_calibration, "_combined", None)
    monkeypatch.setattr(tile_calibration, "_resolve", resolve)
    monkeypatch.setattr(tile_calibration, "set_limits", lambda name, limits: None)
    scalars = (types.int64, types.float32, types.UniTuple(types.float64, 2))
    tile_calibration.settle_signature(scalars)
    assert settled == []  # float scalars (rates, penalties) settle nothing
    matrix = types.Array(types.float64, 2, "C")
    net = types.Tuple((types.Array(types.int64, 1, "C"), types.float64))
    tile_calibration.settle_signature((matrix, net, types.int64))
    assert settled == ["float64"]
    tile_calibration.settle_signature((matrix,))  # once
    assert settled == ["float64"]
    # float64 sums beside float32 products: float32's alone
    monkeypatch.setattr(tile_calibration, "_settled", {})
    tile_calibration.settle_signature((types.Tuple((types.float32[:, :], net)), matrix))
    assert settled == ["float64", "float32"]
    assert tile_calibration.tile_choice(np.float32)["source"] == "x"
    assert settled == ["float64", "float32"]
    assert tile_calibration.tile_choice("float64")["source"] == "x"
    assert settled == ["float64", "float32", "float64"]
    with pytest.raises(ValueError, match="float16"):
        tile_calibration.tile_choice(np.float16)


def test_the_settled_limits_are_the_kernels_and_are_reported():
    choice = tile_calibration.tile_choice()
    assert choice is tile_calibration.tile_choice()  # settled once
    assert tile_calibration.limits_in_force() == choice["limits"]
    for dtype in tile_limit_store.DTYPES:
        assert tile_calibration.tile_choice(dtype)["limits"] == choice["limits"][dtype]
    line = tile_calibration.describe()
    assert line.startswith("tiles up to: float64") and choice["source"] in line
    if os.environ.get("FASTMLP_TILES") == "builtin":  # the tests' pin
        assert choice["limits"] == tile_limit_store.builtin_limits()


def _child(code, cache_dir, mode="auto", **extra):
    env = {
        **os.environ,
        "FASTMLP_TILES": mode,
        "FASTMLP_CACHE_DIR": str(cache_dir),
        **extra,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


REPORT = """
import json
from fastmlp._runtime.tile_calibration import tile_choice
choice = tile_choice()
print(json.dumps({k: choice[k] for k in ("limits", "source", "measured_at")}))
"""


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is measured then")
@pytest.mark.skipif(not simd.has_vector_fma(), reason="no tiles on this CPU")
def test_a_second_process_reads_what_the_first_measured(tmp_path):
    # the real measurement, once (~2 s), in a process of its own
    first = _child(REPORT, tmp_path)
    assert first["source"].startswith("measured")
    second = _child(REPORT, tmp_path)
    assert second["source"].startswith("read from")
    assert second["limits"] == first["limits"]
    assert second["measured_at"] == first["measured_at"]
    (machine,) = _entries(tmp_path).values()
    grid = tile_measurement.measurement_grid()
    for dtype in tile_limit_store.DTYPES:
        products = machine["dtypes"][dtype]["products"]
        assert len(products) == sum(entry[0] == dtype for entry in grid)
        assert all(p[0] == dtype and p[5] > 0 and p[6] > 0 for p in products)


FIRST_FIT = """
import json, sys
import numpy as np
from fastmlp._runtime import tile_calibration
settled, resolve = [], tile_calibration._resolve
tile_calibration._resolve = lambda name: settled.append(name) or resolve(name)
import fastmlp
X = np.random.default_rng(0).random((60, 4)).astype(sys.argv[1])
y = (X[:, 0] > 0.5).astype(int)
model = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
model.fit(X, y).predict_proba(X)
print(json.dumps(settled))
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_first_fit_settles_the_limits_of_its_dtype_alone(tmp_path, dtype):
    # kernels loaded from the tests' cache or compiled: settled before either
    code = FIRST_FIT.replace("sys.argv[1]", repr(dtype))
    assert _child(code, tmp_path, mode="builtin") == [dtype]


def test_a_generic_target_cpu_measures_nothing(tmp_path):
    # NUMBA_CPU_NAME=generic (a portable cache) has no FMA: BLAS only
    choice = _child(
        REPORT, tmp_path, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path)
    )
    assert choice["limits"] == tile_limit_store._uniform(-1)
    assert not (tmp_path / "tile_limits.json").exists()


def _fits_and_predictions(dtype):
    """Hashes of fits of ``dtype`` through every epoch and gradient kernel:
    dense adam (split batches too), L-BFGS, CSR, dropout, early stopping's
    validation scores, and their predictions in it."""
    import hashlib

    import scipy.sparse
    from sklearn.datasets import load_digits

    import fastmlp

    X, y = load_digits(return_X_y=True)
    X = (X[:600] / 16).astype(dtype)
    y = y[:600]
    digest = hashlib.sha256()
    for solver, data, n_jobs, extra in [
        ("adam", X, 2, {}),
        ("adam", X, 1, {}),
        ("lbfgs", X, 1, {}),
        ("adam", scipy.sparse.csr_matrix(X), 1, {}),
        ("adam", X, 1, {"dropout": 0.2}),  # the serial dropout kernel
        ("sgd", X, 2, {"early_stopping": True}),  # validation scores
    ]:
        model = fastmlp.MLPClassifier(
            hidden_layer_sizes=(48, 24), solver=solver, max_iter=4,
            batch_size=200, random_state=0, n_jobs=n_jobs, **extra,
        )  # fmt: skip
        with pytest.warns(Warning):  # not converged
            model.fit(data, y)
        arrays = [*model.coefs_, *model.intercepts_]
        if model.coefs_[0].dtype == dtype:  # L-BFGS leaves float64 ones (sklearn)
            arrays.append(model.predict_proba(data))
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_fit_reads_no_limit_of_the_other_dtype(tile_table, dtype):
    # what lets each dtype be measured when first needed (settle_signature)
    (other,) = set(tile_limit_store.DTYPES) - {dtype}
    limits = tile_calibration.limits_in_force()
    hashes = {}
    for changed in (other, dtype):
        for value in (-1, 1 << 62):  # never tiles, always tiles
            given = {**limits, changed: dict.fromkeys(limits[changed], value)}
            tile_calibration.apply_limits(given)
            hashes[changed, value] = _fits_and_predictions(dtype)
    assert hashes[other, -1] == hashes[other, 1 << 62]
    if simd.has_vector_fma():  # and its own limits do change its bits
        assert hashes[dtype, -1] != hashes[dtype, 1 << 62]
