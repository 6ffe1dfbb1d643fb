"""Smoke test of the benchmark harness (bench/): it runs and writes its outputs.

The suite runs at tiny sizes with ``FASTMLP_BENCH_FAKE=1`` (sklearn's classes
stand in for fastmlp), so this tests the harness, not fastmlp, and costs no
numba compile; PyTorch, when installed, is checked on its own (it trains the
very model sklearn trains) rather than inside the suite, which keeps this file
well under a minute. No timing is asserted, ever: only that every case
produced finite, positive times and that the report files exist.
"""

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("matplotlib")


def _finite_positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, FASTMLP_BENCH_FAKE="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--tiny",
            "--no-subprocess",
            "--threads",
            "1",
            "--contestants",
            "fastmlp,sklearn",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_tiny_run_writes_report_json_and_plots(tiny_run):
    out, stdout = tiny_run
    assert (out / "latest.md").is_file()
    assert (out / "latest.json").is_file()
    assert list(out.glob("*.png"))
    assert "[1/" in stdout  # a progress line per case
    markdown = (out / "latest.md").read_text()
    assert "| case |" in markdown
    assert "## Environment" in markdown


def test_tiny_run_measures_the_core_round_trip(tiny_run):
    out, _ = tiny_run
    results = json.loads((out / "latest.json").read_text())
    trips = results["run"]["core_round_trip_ns"]
    assert len(trips) == 2
    for case in results["cases"]:
        if case["kind"] != "concurrent":
            trips += case["core_round_trip_ns"]
    assert len(trips) == 2 + 2 * (len(results["cases"]) - 1)
    if len(os.sched_getaffinity(0)) > 1:
        assert all(_finite_positive(t) for t in trips), trips
        markdown = (out / "latest.md").read_text()
        assert "A cache line went from one CPU" in markdown
        assert "round trip between the two CPUs before/after each case" in markdown


def test_round_trip_line_gives_fastmlps_split_calls():
    from bench.report import round_trip_line

    def case(name, trips, ways=None):
        entry = {} if ways is None else {"split_whole_calls": ways}
        return {"name": name, "core_round_trip_ns": trips, "contestants": {
            "fastmlp": entry, "sklearn": {}}}  # fmt: skip

    results = {"cases": [
        case("a", [101.2, 99.0], [15, 3]), case("b", [400.0, 390.0], [0, 20]),
        case("c", [None, None]), case("d", [90.0, 95.0]),
    ]}  # fmt: skip
    assert round_trip_line(results).endswith(
        ": a 101/99 (split 15 of 18 calls), b 400/390, d 90/95."
    )
    assert round_trip_line({"cases": [case("c", [None, None])]}) == ""


def test_round_trip_needs_two_cpus(monkeypatch):
    from bench import handover

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert handover.round_trip_ns() is None


def test_round_trip_needs_compiled_code(monkeypatch):
    import numba

    from bench import handover

    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert handover.round_trip_ns() is None


def test_tiny_run_has_every_case_with_finite_times(tiny_run):
    from bench.cases import CASES
    from bench.sweeps import SWEEPS

    out, _ = tiny_run
    results = json.loads((out / "latest.json").read_text())
    assert {c["name"] for c in results["cases"]} == {c.name for c in CASES}
    assert {s["name"] for s in results["sweeps"]} == set(SWEEPS)
    assert "sklearn" in results["contestant_names"]
    assert "fastmlp" in results["contestant_names"]
    for case in results["cases"]:
        assert set(case["contestants"]) == set(results["contestant_names"])
        for name, entry in case["contestants"].items():
            assert "error" not in entry, (case["name"], name, entry["error"])
            if case["kind"] == "concurrent":
                times = [entry["median_sequential_s"], entry["median_concurrent_s"]]
            else:
                times = [entry["median_s"], entry["per_unit_s"], *entry["seconds"]]
                assert math.isfinite(entry["score"])
            assert all(_finite_positive(t) for t in times), (case["name"], name, times)
        if case["kind"] != "concurrent":
            assert _finite_positive(case["gemm"]["seconds"])
    for sweep in results["sweeps"]:
        for point in sweep["points"]:
            for name, entry in point["contestants"].items():
                assert _finite_positive(entry["s_per_epoch"]), (sweep["name"], name)
    calls = results["small_calls"]["calls"]
    assert len(calls) == 7
    for call in calls:
        assert set(call["median_s"]) == {"fastmlp", "sklearn"}
        assert all(_finite_positive(t) for t in call["median_s"].values()), call
        assert _finite_positive(call["speedup_vs_sklearn"]["fastmlp"])
    assert "## Small calls" in (out / "latest.md").read_text()


def test_fresh_process_measurements_report_compile_latency_memory(monkeypatch):
    from bench import datasets
    from bench.cases import FORCED
    from bench.contestants import get_contestant
    from bench.subproc import fresh_process_measurements

    monkeypatch.setenv("FASTMLP_BENCH_FAKE", "1")
    data = datasets.classification(200, 8, 2)
    params = {**FORCED, "hidden_layer_sizes": (8,), "batch_size": 32, "max_iter": 1}
    contestants = [get_contestant("fastmlp"), get_contestant("sklearn")]
    out = fresh_process_measurements(
        data.task, params, data.X_train, data.y_train, contestants, threads=1
    )
    assert math.isfinite(out["fastmlp"]["compile_s"])
    for name in ("fastmlp", "sklearn"):
        entry = out[name]
        assert "warm_error" not in entry, entry
        assert _finite_positive(entry["import_s"] + entry["first_call_s"])
        assert entry["peak_mib"] >= 0


@pytest.mark.parametrize(
    "task, params",
    [
        ("binary", {"solver": "adam", "hidden_layer_sizes": (8,)}),
        ("multiclass", {"solver": "sgd", "hidden_layer_sizes": (8, 6)}),
        ("multilabel", {"solver": "adam", "hidden_layer_sizes": (8,)}),
        ("regression", {"solver": "sgd", "hidden_layer_sizes": (8,)}),
        ("binary", {"solver": "lbfgs", "hidden_layer_sizes": (8,)}),
    ],
)
def test_torch_contestant_trains_the_model_sklearn_trains(task, params):
    pytest.importorskip("torch")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from bench import datasets
    from bench.cases import FORCED
    from bench.torch_mlp import TorchMLP

    if task == "multilabel":
        data = datasets.multilabel(120, 6, 3)
    elif task == "regression":
        data = datasets.regression(120, 6)
    else:
        data = datasets.classification(120, 6, 2 if task == "binary" else 3)
    full = {**FORCED, **params, "batch_size": 16, "max_iter": 3, "alpha": 0.01}
    if params["solver"] == "sgd":
        full["learning_rate_init"] = 0.01
    reference_cls = MLPRegressor if task == "regression" else MLPClassifier
    with warnings.catch_warnings():  # ConvergenceWarning: the epochs are forced
        warnings.simplefilter("ignore")
        reference = reference_cls(**full).fit(data.X_train, data.y_train)
    model = TorchMLP(task, **full).fit(data.X_train, data.y_train)
    assert model.n_iter_ == reference.n_iter_
    # Same initial weights, batches and optimizer: the same loss up to rounding
    # (and torch's Adam placing epsilon after the bias correction).
    assert model.loss_ == pytest.approx(reference.loss_, rel=1e-3)
    assert model.predict(data.X_test).shape == reference.predict(data.X_test).shape
    if task != "regression":
        expected = reference.predict_proba(data.X_test)
        assert model.predict_proba(data.X_test).shape == expected.shape


def test_a_contestant_that_declines_a_case_is_reported_not_timed():
    from bench.cases import CASES
    from bench.contestants import Contestant, get_contestant
    from bench.measure import measure_case
    from bench.report import _failures, summary_table

    case = next(c for c in CASES if c.name == "early_stopping_adam")
    sklearn = get_contestant("sklearn")
    declining = Contestant(
        "torch", "0", sklearn.make, declines=lambda params: "not implemented here"
    )
    result = measure_case(case, "tiny", [sklearn, declining], 1, settle=0.0)
    assert result["contestants"]["torch"] == {"declined": "not implemented here"}
    assert _finite_positive(result["contestants"]["sklearn"]["per_unit_s"])
    results = {"cases": [result], "contestant_names": ["sklearn", "torch"]}
    row = next(line for line in summary_table(results).splitlines() if "early" in line)
    assert "| n/a |" in row
    assert _failures(results) == [
        "- `early_stopping_adam` torch (declined): `not implemented here`"
    ]


def test_torch_declines_what_it_does_not_implement():
    from bench.torch_mlp import unsupported

    assert unsupported({"early_stopping": False, "learning_rate": "constant"}) is None
    assert "early_stopping=True" in unsupported({"early_stopping": True})
    assert "learning_rate='adaptive'" in unsupported({"learning_rate": "adaptive"})


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.9996, "1 s"),
        (0.9994, "999 ms"),
        (0.0009996, "1 ms"),
        (0.0009994, "999 us"),
        (1.234e-5, "12.3 us"),
        (12.345, "12.3 s"),
        (None, "-"),
        (float("nan"), "-"),
    ],
)
def test_seconds_are_written_in_the_unit_they_round_to(seconds, text):
    from bench.report import fmt_seconds

    assert fmt_seconds(seconds) == text
