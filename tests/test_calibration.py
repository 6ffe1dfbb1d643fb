"""The tile limits measured on the machine (``fastmlp._runtime.tile_calibration``).

Most tests settle a choice with :func:`tile_calibration._resolve`, which returns
it without setting it in the kernels: the session's own limits (pinned by
``tests/conftest.py``) stay in force, and nothing compiles with others.
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

from fastmlp._kernels import jit, simd, tiles
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

    def fake_measure(grid=None):
        calls.append(grid)
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


def test_the_file_is_written_once_and_read_after(auto, tmp_path):
    first = tile_calibration._resolve()
    assert first["limits"] == FAKE_LIMITS
    assert first["source"].startswith("measured")
    path = tmp_path / tile_limit_store.FILE_NAME
    assert first["file"] == str(path)
    content = json.loads(path.read_text())
    (entry,) = content["machines"].values()
    assert entry["limits"] == FAKE_LIMITS
    assert entry["machine"] == tile_calibration.machine_description()
    assert entry["measure_seconds"] == 0.5
    assert not path.with_name(path.name + ".lock").exists()
    second = tile_calibration._resolve()
    assert second["limits"] == FAKE_LIMITS
    assert second["source"] == f"read from {path}"
    assert second["measured_at"] == first["measured_at"]
    assert len(auto) == 1  # measured once


def test_another_machine_gets_an_entry_of_its_own(auto, tmp_path, monkeypatch):
    tile_calibration._resolve()
    machine = tile_calibration.machine_description()
    monkeypatch.setattr(
        tile_calibration, "machine_description", lambda: {**machine, "cpu": "another"}
    )
    tile_calibration._resolve()
    content = json.loads((tmp_path / tile_limit_store.FILE_NAME).read_text())
    assert len(content["machines"]) == 2
    assert len(auto) == 2


@pytest.mark.parametrize(
    "garbage",
    [
        "{not json",
        "[]",
        json.dumps({"format": 99, "machines": {}}),
        "KEY",  # this machine's entry, with limits of the wrong type
    ],
)
def test_a_damaged_file_is_measured_again_and_replaced(auto, tmp_path, garbage):
    path = tmp_path / tile_limit_store.FILE_NAME
    if garbage == "KEY":
        key = tile_limit_store.machine_key(tile_calibration.machine_description())
        limits = {
            d: {"max_macs": "1", "narrow_max_macs": 1, "max_right": 1}
            for d in FAKE_LIMITS
        }
        garbage = json.dumps({"format": 1, "machines": {key: {"limits": limits}}})
    path.write_text(garbage)
    choice = tile_calibration._resolve()
    assert choice["limits"] == FAKE_LIMITS and len(auto) == 1
    assert tile_calibration._resolve()["source"].startswith("read from")
    assert len(auto) == 1


def test_an_unwritable_directory_gets_the_builtin_limits(auto, monkeypatch, tmp_path):
    # a file where the directory should be: no directory can be made there
    # (permissions would not stop root)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(blocker / "cache"))
    choice = tile_calibration._resolve()
    assert choice["limits"] == tile_limit_store.builtin_limits()
    assert "could not be written" in choice["source"]
    assert auto == []  # not measured: it could not be kept


def test_a_lock_held_by_another_process_waits_for_its_entry(auto, tmp_path):
    path = tmp_path / tile_limit_store.FILE_NAME
    lock = path.with_name(path.name + ".lock")
    lock.write_text("")
    key = tile_limit_store.machine_key(tile_calibration.machine_description())

    def the_other_process():
        time.sleep(0.3)
        tile_limit_store._write_entry(path, key, {"limits": FAKE_LIMITS})
        lock.unlink()

    other = threading.Thread(target=the_other_process)
    other.start()
    choice = tile_calibration._resolve()
    other.join()
    assert choice["limits"] == FAKE_LIMITS
    assert choice["source"] == f"read from {path}"
    assert auto == []


def test_a_stale_lock_is_taken_over(auto, tmp_path):
    path = tmp_path / tile_limit_store.FILE_NAME
    lock = path.with_name(path.name + ".lock")
    lock.write_text("")
    old = time.time() - 2 * tile_limit_store.STALE_LOCK_SECONDS
    os.utime(lock, (old, old))
    assert tile_calibration._resolve()["source"].startswith("measured")
    assert not lock.exists()


def test_a_lock_never_released_gives_the_builtin_limits(auto, tmp_path, monkeypatch):
    monkeypatch.setattr(tile_limit_store, "WAIT_SECONDS", 0.2)
    path = tmp_path / tile_limit_store.FILE_NAME
    path.with_name(path.name + ".lock").write_text("")
    choice = tile_calibration._resolve()
    assert choice["limits"] == tile_limit_store.builtin_limits()
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
    choice = tile_calibration._resolve()
    want = tile_limit_store.builtin_limits() if want is None else want
    assert choice["limits"] == want
    assert choice["source"] == f"FASTMLP_TILES={mode.strip()}"
    assert auto == []


def test_the_environment_gives_limits_as_json(auto, monkeypatch):
    monkeypatch.setenv("FASTMLP_TILES", json.dumps({"float32": {"max_macs": 99}}))
    limits = tile_calibration._resolve()["limits"]
    want = tile_limit_store.builtin_limits()
    want["float32"]["max_macs"] = 99
    assert limits == want


@pytest.mark.parametrize(
    "mode", ["fast", '{"float16": {}}', '{"float64": {"max_macs": "x"}}']
)
def test_an_unknown_override_warns_and_measures(auto, monkeypatch, mode):
    monkeypatch.setenv("FASTMLP_TILES", mode)
    with pytest.warns(RuntimeWarning, match="FASTMLP_TILES"):
        choice = tile_calibration._resolve()
    assert choice["limits"] == FAKE_LIMITS and len(auto) == 1


def test_no_measurement_without_vector_fma(auto, monkeypatch):
    monkeypatch.setattr(simd, "has_vector_fma", lambda: False)
    monkeypatch.setenv("FASTMLP_TILES", "tiles")  # cannot ask for tiles either
    choice = tile_calibration._resolve()
    assert choice["limits"] == tile_limit_store._uniform(-1)
    assert "no vector FMA" in choice["source"]
    assert auto == []


@pytest.mark.parametrize("flag", ["DISABLE_JIT", "BOUNDSCHECK"])
def test_no_measurement_of_interpreted_or_checked_code(auto, monkeypatch, flag):
    monkeypatch.setattr(numba.config, flag, True)
    choice = tile_calibration._resolve()
    assert choice["limits"] == tile_limit_store.builtin_limits()
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


def test_the_stamp_and_file_names_change_with_the_limits(monkeypatch):
    if numba.config.DISABLE_JIT:
        pytest.skip("no cache without the JIT")
    settled = tile_calibration.tile_choice()
    cache_file = tiles.use_tiles._cache._cache_file
    stamp, index = jit.kernels_source_stamp(), cache_file._index_path
    data = cache_file._data_name(1)
    assert cache_file._source_stamp == stamp
    assert settled["digest"].hex()[:8] in index
    # what a kernel compiled now would freeze: other limits, other names
    monkeypatch.setattr(tiles, "FLOAT32_MAX_RIGHT", tiles.FLOAT32_MAX_RIGHT + 1)
    assert jit.kernels_source_stamp() != stamp
    assert cache_file._source_stamp == jit.kernels_source_stamp()
    assert cache_file._index_path != index
    assert cache_file._data_name(1) != data
    monkeypatch.undo()
    assert jit.kernels_source_stamp() == stamp
    assert cache_file._index_path == index


def test_the_digest_is_every_limit_and_fused_multiply_add(monkeypatch):
    tile_calibration.tile_choice()
    digests = {tile_calibration.tuned_digest()}
    for dtype in ("FLOAT64", "FLOAT32"):
        for name in tile_limit_store.LIMIT_NAMES:
            attribute = f"{dtype}_{name.upper()}"
            monkeypatch.setattr(tiles, attribute, getattr(tiles, attribute) + 1)
            digests.add(tile_calibration.tuned_digest())
    monkeypatch.setattr(tiles, "VECTOR_FMA", not tiles.VECTOR_FMA)
    digests.add(tile_calibration.tuned_digest())
    assert len(digests) == 2 + 2 * len(tile_limit_store.LIMIT_NAMES)


def test_while_settling_the_digest_is_its_own(monkeypatch):
    seen = []

    def resolve():
        seen.append(tile_calibration.tuned_digest())  # as a kernel measured would
        return {"limits": tile_limit_store.builtin_limits()}

    monkeypatch.setattr(tile_calibration, "_choice", None)
    monkeypatch.setattr(tile_calibration, "_resolve", resolve)
    monkeypatch.setattr(tile_calibration, "apply_limits", lambda limits: None)
    settled = tile_calibration.tuned_digest()
    assert seen == [tile_calibration._CALIBRATING_DIGEST] != [settled]


def test_the_settled_limits_are_the_kernels_and_are_reported():
    choice = tile_calibration.tile_choice()
    assert choice is tile_calibration.tile_choice()  # settled once
    for dtype in ("float64", "float32"):
        prefix = dtype.upper()
        for name in tile_limit_store.LIMIT_NAMES:
            attribute = f"{prefix}_{name.upper()}"
            assert getattr(tiles, attribute) == choice["limits"][dtype][name]
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
    entry = next(
        iter(
            json.loads((tmp_path / "tile_limits.json").read_text())["machines"].values()
        )
    )
    assert len(entry["products"]) == len(tile_measurement.measurement_grid())
    assert all(p[5] > 0 and p[6] > 0 for p in entry["products"])


def test_a_generic_target_cpu_measures_nothing(tmp_path):
    # NUMBA_CPU_NAME=generic (a portable cache) has no FMA: BLAS only
    choice = _child(
        REPORT, tmp_path, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path)
    )
    assert choice["limits"] == tile_limit_store._uniform(-1)
    assert not (tmp_path / "tile_limits.json").exists()
